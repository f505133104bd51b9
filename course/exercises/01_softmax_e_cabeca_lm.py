# %% [markdown]
# # 01 · Exercícios: softmax, perda, decodificação e a cabeça LM
#
# Aqui você implementa, peça por peça, o que a lição
# `notebooks/01_softmax_e_cabeca_lm.ipynb` mostrou.
#
# **O que você vai praticar**
#
# - softmax e log-softmax numericamente estáveis;
# - entropia cruzada, e a perda do próximo token com o deslocamento certo;
# - temperatura, escolha gulosa, amostragem reproduzível e top-k;
# - a cabeça LM (`resid @ W_U + b_U`) e uma mistura de softmaxes;
# - duas investigações com as suas funções: que temperatura dá uma entropia pedida, e qual
#   temperatura faz o modelo prever melhor a gramática.
#
# **Tempo estimado:** ~90 min
#
# **Pré-requisitos:** a lição 01.
#
# Complete cada função no lugar de `# SEU CÓDIGO AQUI` e rode a verificação
# logo abaixo. Os casos de teste incluem casos de borda (logits enormes,
# lote de 1, uma só posição, logits `-inf`), e o retorno aponta erros comuns
# quando os reconhece.

# %%
import torch

from course_lib import load_pretrained
from course_lib.checks import check, when_solved
from course_lib.notebook import setup

setup()
model = load_pretrained("lm")

# %% [markdown]
# ## Exercício 01.softmax · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** implementar o softmax no último eixo, de forma numericamente estável.
#
# A entrada pode ter qualquer número de eixos (`[d_vocab]`, `[batch, d_vocab]`,
# `[batch, pos, d_vocab]`...); o softmax é sempre sobre o **último**. Não use
# `torch.softmax`, `F.softmax` nem `Tensor.softmax` (a verificação detecta a chamada). A verificação inclui logits de escala 10⁴ e
# logits `-inf` (tokens proibidos, que devem receber probabilidade 0).

# %% tags=["exercise"] exercise="01.softmax" points=2
def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax estável no último eixo.

    logits: tensor [..., d_vocab].
    Devolve: probabilidades com o mesmo formato; cada linha (último eixo) soma 1.
    """
    # BEGIN SOLUCAO
    m = logits.amax(-1, keepdim=True)  # o máximo de cada linha
    e = (logits - m).exp()  # o maior expoente é e^0 = 1: nada estoura
    return e / e.sum(-1, keepdim=True)
    # END SOLUCAO


# %% tags=["check"]
check("01.softmax", softmax)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Só as diferenças entre logits importam: somar a mesma constante a uma linha inteira não muda o softmax. Que constante deixa o maior expoente igual a 0?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# O máximo de cada linha, com o eixo mantido para o broadcasting: `amax(-1, keepdim=True)` (ou `.max(dim=-1, keepdim=True).values`). Exponencie e divida pela soma no mesmo eixo.
#
# </details>

# %% [markdown]
# ## Exercício 01.log_softmax · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** implementar o log-softmax no último eixo, estável inclusive
# quando uma probabilidade é pequena demais para o `float32`.
#
# Use a identidade `log softmax(u)_i = (u_i - m) - log Σ_j exp(u_j - m)`, com
# `m` o máximo da linha. Não use `torch.log_softmax`, `F.log_softmax`, `torch.logsumexp`
# nem um softmax pronto (a verificação detecta essas chamadas). Calcular `log(softmax(u))` não serve: com `u = [0, -200, 3]`,
# a probabilidade do meio vira 0 e o log dá `-inf` em vez de ≈ -203.

# %% tags=["exercise"] exercise="01.log_softmax" points=2
def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Log-softmax estável no último eixo.

    logits: tensor [..., d_vocab].
    Devolve: log-probabilidades com o mesmo formato (todas <= 0).
    """
    # BEGIN SOLUCAO
    m = logits.amax(-1, keepdim=True)
    log_sum = (logits - m).exp().sum(-1, keepdim=True).log()  # >= log(1) = 0: nunca -inf
    return logits - m - log_sum
    # END SOLUCAO


# %% tags=["check"]
check("01.log_softmax", log_softmax)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Trabalhe no espaço dos logs do começo ao fim: nunca calcule uma probabilidade e depois o log dela.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Com `m` o máximo da linha, a soma `Σ exp(u_j − m)` é pelo menos 1 (o termo do máximo), então o seu log nunca é `-inf`. O resultado é `u − m − log Σ exp(u − m)`.
#
# </details>

# %% [markdown]
# ## Exercício 01.cross_entropy · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** calcular a entropia cruzada média de um lote de previsões,
# a partir dos logits e dos ids dos tokens certos.
#
# Para cada linha `b`, a perda é `-log p_b(targets[b])`; a saída é a **média**
# sobre o lote, um tensor escalar (0 eixos). Daqui em diante você pode usar
# `torch.log_softmax` à vontade.

# %% tags=["exercise"] exercise="01.cross_entropy" points=2
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Entropia cruzada média.

    logits: [batch, d_vocab].
    targets: ids inteiros [batch], valores em 0..d_vocab-1.
    Devolve: tensor escalar (formato ()), a média de -log p(alvo).
    """
    # BEGIN SOLUCAO
    log_probs = logits.log_softmax(-1)  # [batch, d_vocab]
    rows = torch.arange(len(targets))
    return -log_probs[rows, targets].mean()
    # END SOLUCAO


# %% tags=["check"]
check("01.cross_entropy", cross_entropy)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A perda de uma linha usa só UMA log-probabilidade: a do token certo. Depois, a média do lote.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.log_softmax(..., dim=-1)` dá as log-probabilidades; para escolher uma coluna por linha, `gather` no último eixo ou indexação com `torch.arange(batch)`.
#
# </details>

# %% [markdown]
# ## Exercício 01.lm_loss · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** calcular a perda do próximo token de um modelo de linguagem,
# a mesma que `model(tokens, return_type="loss")` devolve.
#
# Os logits da posição `p` preveem o token `p + 1`. Então compare
# `logits[:, :-1]` (todas as posições menos a última, que não tem alvo) com
# `tokens[:, 1:]` (todos os tokens menos o primeiro, que ninguém previu) e tire
# a média sobre o lote **e** as posições.

# %% tags=["exercise"] exercise="01.lm_loss" points=2
def lm_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Entropia cruzada média do próximo token.

    logits: [batch, pos, d_vocab], a saída do modelo.
    tokens: ids [batch, pos], a entrada do modelo.
    Devolve: tensor escalar (formato ()).
    """
    # BEGIN SOLUCAO
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    return -log_probs.gather(-1, tokens[:, 1:, None])[..., 0].mean()
    # END SOLUCAO


# %% tags=["check"]
check("01.lm_loss", lm_loss)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Quem prevê o quê? A posição `p` prevê o token `p + 1`: a última posição não tem alvo e o primeiro token não foi previsto por ninguém.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Corte `logits[:, :-1]` e `tokens[:, 1:]`; escolha em cada posição a log-probabilidade do alvo (com `gather` e um eixo extra no índice) e tire a média de tudo.
#
# </details>

# %%
# A sua perda, no modelo de verdade, com um texto da gramática:
data_tokens = model.to_tokens("o menino come um bolo. a menina bonita lê o livro. os gatos dormem juntos.")
with when_solved("a sua perda no modelo 'lm'"), torch.no_grad():
    mine, reference = lm_loss(model(data_tokens), data_tokens), model(data_tokens, return_type="loss")
    print(f"lm_loss: {mine.item():.3f} | model(..., return_type='loss'): {reference.item():.3f}")
    print("iguais (erro < 1e-5):", "✅" if (mine - reference).abs() < 1e-5 else "❌")

# %% [markdown]
# ## Exercício 01.softmax_with_temperature · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** calcular `softmax(logits / T)` no último eixo.
#
# A temperatura age **nos logits, antes** do softmax. Pode usar `torch.softmax`
# (ele já é estável, o que importa quando `T` é pequeno e `logits / T` é enorme).

# %% tags=["exercise"] exercise="01.softmax_with_temperature" points=1
def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax de logits / temperature no último eixo.

    logits: [..., d_vocab]; temperature: número > 0.
    Devolve: probabilidades com o mesmo formato de logits.
    """
    # BEGIN SOLUCAO
    return torch.softmax(logits / temperature, dim=-1)
    # END SOLUCAO


# %% tags=["check"]
check("01.softmax_with_temperature", softmax_with_temperature)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A temperatura muda a distância entre os logits; só depois o softmax transforma essas distâncias em probabilidades.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.softmax` já é estável, o que importa quando `T` é pequeno e os logits divididos ficam enormes. A ordem das duas operações é o exercício inteiro.
#
# </details>


# %% [markdown]
# ## Exercício 01.find_temperature_for_entropy · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir a temperatura em que a distribuição do próximo token tem uma
# entropia pedida.
#
# A entropia `H = −Σ p log p` (em nats, com log natural) mede o quão espalhada está a
# distribuição; na lição você viu que ela cresce com `T`. Com a sua
# `softmax_with_temperature`, nos logits da **última** posição de `prompt`, ache um `T`
# com `|H(T) − target_entropy| ≤ 0,01` e devolva-o como `float`.
#
# ✍️ **Preveja:** depois de "o menino", para chegar a 2 nats (um pouco mais de 7 escolhas
# "igualmente prováveis", e^2 ≈ 7,4), `T` fica abaixo ou acima de 1?

# %% tags=["exercise"] exercise="01.find_temperature_for_entropy" points=2 kind="investigation"
def find_temperature_for_entropy(model, prompt: str, target_entropy: float) -> float:
    """Temperatura T em que a entropia (nats) do próximo token depois de `prompt` vale target_entropy."""
    # BEGIN SOLUCAO
    with torch.no_grad():
        last = model(model.to_tokens(prompt))[0, -1]

    def entropy(t):
        p = softmax_with_temperature(last.double(), t)
        return -(p * p.clamp_min(1e-300).log()).sum().item()

    low, high = 1e-2, 1e2  # H cresce com T: busca binária (em escala log)
    for _ in range(60):
        mid = (low * high) ** 0.5
        low, high = (mid, high) if entropy(mid) < target_entropy else (low, mid)
    return float(mid)
    # END SOLUCAO


# %% tags=["check"]
check("01.find_temperature_for_entropy", find_temperature_for_entropy)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Se a entropia cresce com a temperatura, dá para "cercar" a resposta: um `T` baixo demais,
# um alto demais, e ir cortando o intervalo ao meio.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Os logits da última posição são `model(model.to_tokens(prompt))[0, -1]`. Para a
# entropia, cuidado com `0 · log 0`: use `p.clamp_min(...)` dentro do log. Uns 50 cortes
# ao meio entre 0,01 e 100 bastam (meça o meio em escala log, `sqrt(baixo · alto)`).
#
# </details>

# %%
with when_solved("a temperatura de cada entropia"):
    for target in (1.0, 2.0, 4.0):
        print(f"entropia {target} nats depois de 'o menino': T ≈ {find_temperature_for_entropy(model, 'o menino', target):.2f}")

# %% [markdown]
# ## Exercício 01.find_best_temperature · Investigação · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** descobrir, numa lista de temperaturas, a que faz o modelo prever melhor
# texto da gramática, medida com a sua `lm_loss`.
#
# Divida os logits do modelo por cada `T` da lista, meça `lm_loss(logits / T, tokens)` e
# devolva o `T` (um dos valores da lista) de menor perda. Temperaturas a até 0,003 nats da
# melhor também são aceitas.
#
# ✍️ **Preveja:** um modelo treinado com `T = 1` pode ter a melhor perda em outra
# temperatura? Se sim, abaixo ou acima de 1?

# %% tags=["exercise"] exercise="01.find_best_temperature" points=2 kind="investigation"
def find_best_temperature(model, tokens: torch.Tensor, temperatures: list[float]) -> float:
    """O T da lista com a menor lm_loss(model(tokens) / T, tokens)."""
    # BEGIN SOLUCAO
    with torch.no_grad():
        logits = model(tokens)
    losses = [lm_loss(logits / t, tokens).item() for t in temperatures]
    return temperatures[losses.index(min(losses))]
    # END SOLUCAO


# %% tags=["check"]
check("01.find_best_temperature", find_best_temperature)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Uma perda por temperatura; fique com a temperatura da menor.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Rode o modelo uma vez só (`with torch.no_grad()`), divida os logits por cada `T` e passe
# para a sua `lm_loss`. `lista.index(min(lista))` dá a posição do menor.
#
# </details>

# %%
from course_lib import PtGrammar

held_out = PtGrammar().make_dataset(16, model.cfg.n_ctx, seed=99)
temperatures = [0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 2.0]
with when_solved("a temperatura mais bem calibrada"), torch.no_grad():
    print("melhor temperatura:", find_best_temperature(model, held_out, temperatures))
    held_logits = model(held_out)
    print("controle, perda em cada T:", {t: round(lm_loss(held_logits / t, held_out).item(), 3) for t in temperatures})

# %% [markdown]
# ## Exercício 01.greedy_next_token · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** escolher, para cada sequência do lote, o token de maior logit
# na **última** posição (decodificação gulosa).

# %% tags=["exercise"] exercise="01.greedy_next_token" points=1
def greedy_next_token(logits: torch.Tensor) -> torch.Tensor:
    """Próximo token guloso.

    logits: [batch, pos, d_vocab].
    Devolve: ids [batch] (dtype torch.long).
    """
    # BEGIN SOLUCAO
    return logits[:, -1].argmax(dim=-1)
    # END SOLUCAO


# %% tags=["check"]
check("01.greedy_next_token", greedy_next_token)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Só a última posição prevê o próximo token; entre os logits dela, o guloso quer o ÍNDICE do maior.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `logits[:, -1]` tem formato `[batch, d_vocab]`; `argmax` no último eixo devolve ids `torch.long`.
#
# </details>

# %% [markdown]
# ## Exercício 01.sample_next_token · Dificuldade ★★☆ · ~6 min
#
# **Objetivo:** sortear o próximo token de `softmax(logits / T)`, de forma
# reproduzível a partir de uma semente.
#
# Para que a verificação possa comparar sorteios, siga exatamente este
# procedimento: crie `generator = torch.Generator().manual_seed(seed)`, calcule
# as probabilidades com a temperatura e chame
# `torch.multinomial(probs, num_samples=1, generator=generator)` uma única vez
# (ela devolve `[batch, 1]`).

# %% tags=["exercise"] exercise="01.sample_next_token" points=2
def sample_next_token(logits: torch.Tensor, temperature: float, seed: int) -> torch.Tensor:
    """Sorteia um token por linha de softmax(logits / temperature).

    logits: [batch, d_vocab] (os logits da última posição).
    temperature: número > 0. seed: semente do torch.Generator.
    Devolve: ids [batch] (dtype torch.long).
    """
    # BEGIN SOLUCAO
    generator = torch.Generator().manual_seed(seed)
    probs = (logits / temperature).softmax(-1)  # a temperatura age nos LOGITS
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]
    # END SOLUCAO


# %% tags=["check"]
check("01.sample_next_token", sample_next_token)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um sorteio reproduzível precisa de um gerador com semente, criado dentro da função; e a temperatura tem de agir antes de as probabilidades existirem.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.multinomial(probs, num_samples=1, generator=...)` devolve `[batch, 1]`; tire o último eixo. Ele normaliza os pesos que recebe: dividir as probabilidades por `T` não muda nada.
#
# </details>

# %%
# Gerando texto com as suas funções: um token por vez, cada passo com a sua semente.
def generate(prompt: str, n_new_tokens: int, temperature: float, seed: int, top_k: int | None = None) -> str:
    tokens = model.to_tokens(prompt)
    for step in range(n_new_tokens):
        with torch.no_grad():
            last = model(tokens)[:, -1]
        if top_k is not None:
            last = top_k_logits(last, top_k)
        next_token = sample_next_token(last, temperature, seed + step)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return model.to_string(tokens[0])


with when_solved("texto gerado com o seu sorteio"):
    for t in [0.5, 1.0, 3.0]:
        print(f"T = {t}:", generate("o rei", 10, t, seed=0))

# %% [markdown]
# ## Exercício 01.top_k_logits · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** manter só os `k` maiores logits de cada linha e pôr `-inf` em todos os outros.
#
# Depois de um softmax, os logits `-inf` viram probabilidade exatamente 0: é o
# filtro **top-k** usado antes de sortear. (Os casos de teste não têm empates.) Use
# `float("-inf")` de verdade: um número finito como `-1e9` é recusado.

# %% tags=["exercise"] exercise="01.top_k_logits" points=2
def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Filtro top-k no último eixo.

    logits: [..., d_vocab]; k: inteiro entre 1 e d_vocab.
    Devolve: tensor com o formato de logits; os k maiores de cada linha
    ficam como estão, o resto vira -inf.
    """
    # BEGIN SOLUCAO
    kth = logits.topk(k).values[..., -1:]  # o k-ésimo maior de cada linha (eixo mantido)
    return logits.masked_fill(logits < kth, float("-inf"))
    # END SOLUCAO


# %% tags=["check"]
check("01.top_k_logits", top_k_logits)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Para cada linha, qual é o menor logit que ainda fica? Tudo abaixo dele sai. E "sair" tem de virar probabilidade exatamente 0 depois do softmax.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `topk(k)` devolve os valores em ordem decrescente: o último deles é o corte (mantenha o eixo). `masked_fill` troca os de baixo por `float("-inf")` (um número finito como -1e9 não é infinito).
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** com `T = 3` o texto da célula do sorteio saiu agramatical? Com top-k = 3
# e a mesma temperatura, fica melhor ou pior?

# %%
with when_solved("texto gerado com o seu top-k"):
    print("T = 3, sem top-k: ", generate("o rei", 10, 3.0, seed=0))
    print("T = 3, top-k = 3: ", generate("o rei", 10, 3.0, seed=0, top_k=3))

# %% [markdown]
# ## Exercício 01.lm_head · Dificuldade ★☆☆ · ~4 min
#
# **Objetivo:** aplicar a cabeça LM: `logits = resid @ W_U + b_U`.
#
# Use os formatos do TransformerLens: `W_U` é `[d_model, d_vocab]` (não
# transponha!) e `b_U` é `[d_vocab]`. Confira os formatos com `assert` antes da
# conta: é o hábito que evita a maioria dos erros silenciosos.

# %% tags=["exercise"] exercise="01.lm_head" points=1
def lm_head(resid: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Logits a partir do fluxo residual final (já normalizado pela ln_final).

    resid: [batch, pos, d_model]; W_U: [d_model, d_vocab]; b_U: [d_vocab].
    Devolve: logits [batch, pos, d_vocab].
    """
    # BEGIN SOLUCAO
    d_model, d_vocab = W_U.shape
    assert resid.shape[-1] == d_model, f"d_model diferente: {resid.shape} e {W_U.shape}"
    assert b_U.shape == (d_vocab,), f"b_U deve ser [d_vocab]; veio {tuple(b_U.shape)}"
    return resid @ W_U + b_U
    # END SOLUCAO


# %% tags=["check"]
check("01.lm_head", lm_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Escreva os formatos antes: `[batch, pos, d_model]` vezes `[d_model, d_vocab]`. Nada precisa ser transposto.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# O `@` multiplica o último eixo da esquerda pelo primeiro da direita. Os `assert` conferem `resid.shape[-1]` contra `W_U.shape[0]` e `b_U.shape` contra `(W_U.shape[1],)`.
#
# </details>

# %%
# No modelo de verdade: a entrada da cabeça (unembed.hook_in, a saída da LN final JÁ com w e b;
# ln_final.hook_normalized é o mesmo vetor antes de w e b) passa pela sua cabeça.
tokens = model.to_tokens("a menina lê o livro")
logits, cache = model.run_with_cache(tokens)
with when_solved("a sua cabeça no modelo 'lm'"):
    mine = lm_head(cache["unembed.hook_in"], model.W_U, model.b_U)
    print("iguais aos logits do modelo (erro < 1e-4):", "✅" if (mine - logits).abs().max() < 1e-4 else "❌")

# %% [markdown]
# ## Exercício 01.mos_probs · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** implementar a cabeça de mistura de softmaxes (Yang et al., 2018).
#
# Para cada contexto `h` (uma linha do lote):
#
# 1. pesos da mistura, que dependem do contexto: `π = softmax(h @ W_prior)`, formato `[K]`;
# 2. um vetor por componente: `h_k = tanh(h @ W_proj[k])`, formato `[d_model]`;
# 3. uma distribuição por componente: `p_k = softmax(h_k @ W_U)`, formato `[d_vocab]`;
# 4. a mistura das **probabilidades**: `p = Σ_k π_k · p_k`.
#
# Sem laços em Python, se conseguir (use `einsum` ou broadcasting). Os casos
# incluem `W_U` grande (logits ~100), então use um softmax estável.

# %% tags=["exercise"] exercise="01.mos_probs" points=3
def mos_probs(h: torch.Tensor, W_prior: torch.Tensor, W_proj: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    """Mistura de K softmaxes.

    h: [batch, d_model]; W_prior: [d_model, K]; W_proj: [K, d_model, d_model];
    W_U: [d_model, d_vocab].
    Devolve: probabilidades [batch, d_vocab] (cada linha soma 1).
    """
    # BEGIN SOLUCAO
    prior = (h @ W_prior).softmax(-1)  # [batch, K]
    h_k = torch.einsum("bd,kde->bke", h, W_proj).tanh()  # [batch, K, d_model]
    probs_k = (h_k @ W_U).softmax(-1)  # [batch, K, d_vocab]
    return torch.einsum("bk,bkv->bv", prior, probs_k)
    # END SOLUCAO


# %% tags=["check"]
check("01.mos_probs", mos_probs)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# São três peças e uma soma ponderada; a mistura é das PROBABILIDADES (depois dos softmaxes), nunca dos logits.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Formatos: `π` `[batch, K]`, `h_k` `[batch, K, d_model]`, `p_k` `[batch, K, d_vocab]`. `torch.einsum("bd,kde->bke", h, W_proj)` aplica cada `W_proj[k]` a cada `h`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** uma cabeça linear sem viés com `d_model = 4` limita o posto de `log P` a
# `d + 1 = 5` (os logits `H W_U` têm posto ≤ 4; o log-soma-exp de cada linha soma 1). A sua
# mistura de 3 softmaxes, no mesmo tamanho, passa de 5?

# %%
gen = torch.Generator().manual_seed(0)
d, K, V, N = 4, 3, 30, 100
H, W_prior, W_proj, W_U = (torch.randn(*shape, generator=gen, dtype=torch.float64)
                           for shape in [(N, d), (d, K), (K, d, d), (d, V)])


def log_rank(log_p):  # valores singulares acima de 1e-10·σ_max (float64: sem ruído de float32)
    sv = torch.linalg.svdvals(log_p)
    return int((sv > 1e-10 * sv[0]).sum())


print("controle, cabeça linear sem viés: posto", log_rank(torch.log_softmax(H @ W_U, -1)), "(limite d + 1 = 5)")
with when_solved("o posto da sua mistura"):
    print("a sua mistura de 3 softmaxes: posto", log_rank(mos_probs(H, W_prior, W_proj, W_U).log()), "de", V, "possíveis")

# %% [markdown]
# Pronto! Você escreveu todas as peças do fim de um modelo de linguagem. Nos
# próximos temas, a própria `W_U` vira uma lente para olhar **dentro** do
# modelo (a lente de logits).
