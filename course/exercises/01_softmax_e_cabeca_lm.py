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
# - a cabeça LM (`resid @ W_U + b_U`) e uma mistura de softmaxes.
#
# **Tempo estimado:** ~70 min
#
# **Pré-requisitos:** a lição 01.
#
# Complete cada função no lugar de `# SEU CÓDIGO AQUI` e rode a verificação
# logo abaixo. Os casos de teste incluem casos de borda (logits enormes,
# batch de 1, uma só posição, logits `-inf`), e o retorno aponta erros comuns
# quando os reconhece.

# %%
import torch

from course_lib import load_pretrained
from course_lib.checks import check
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
# `torch.softmax` nem `F.softmax`. A verificação inclui logits de escala 10⁴ e
# logits `-inf` (tokens proibidos, que devem receber probabilidade 0).
#
# <details><summary>💡 Dica</summary>
#
# `logits.max(dim=-1, keepdim=True).values` dá o máximo de cada linha, com um
# eixo de tamanho 1 que se alinha com `logits` na subtração. Subtraia, aplique
# `.exp()` e divida pela soma no mesmo eixo (também com `keepdim=True`).
#
# </details>

# %% tags=["exercise"] exercise="01.softmax" points=2
def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax estável no último eixo.

    logits: tensor [..., d_vocab].
    Devolve: probabilidades com o mesmo formato; cada linha (último eixo) soma 1.
    """
    # BEGIN SOLUCAO
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=-1, keepdim=True)
    # END SOLUCAO


# %% tags=["check"]
check("01.softmax", softmax)

# %% [markdown]
# ## Exercício 01.log_softmax · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** implementar o log-softmax no último eixo, estável inclusive
# quando uma probabilidade é pequena demais para o `float32`.
#
# Use a identidade `log softmax(u)_i = (u_i - m) - log Σ_j exp(u_j - m)`, com
# `m` o máximo da linha. Não use `torch.log_softmax`, `F.log_softmax` nem
# `torch.logsumexp`. Calcular `log(softmax(u))` não serve: com `u = [0, -200, 3]`,
# a probabilidade do meio vira 0 e o log dá `-inf` em vez de ≈ -203.
#
# <details><summary>💡 Dica</summary>
#
# `shifted = logits - max`; depois `shifted - shifted.exp().sum(dim=-1, keepdim=True).log()`.
# Como o maior elemento de `shifted` é 0, a soma é pelo menos 1 e o log nunca dá `-inf`.
#
# </details>

# %% tags=["exercise"] exercise="01.log_softmax" points=2
def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Log-softmax estável no último eixo.

    logits: tensor [..., d_vocab].
    Devolve: log-probabilidades com o mesmo formato (todas <= 0).
    """
    # BEGIN SOLUCAO
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    # END SOLUCAO


# %% tags=["check"]
check("01.log_softmax", log_softmax)

# %% [markdown]
# ## Exercício 01.cross_entropy · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** calcular a entropia cruzada média de um batch de previsões,
# a partir dos logits e dos ids dos tokens certos.
#
# Para cada linha `b`, a perda é `-log p_b(targets[b])`; a saída é a **média**
# sobre o batch, um tensor escalar (0 eixos). Daqui em diante você pode usar
# `torch.log_softmax` à vontade.
#
# <details><summary>💡 Dica</summary>
#
# `log_probs = torch.log_softmax(logits, dim=-1)`; para pegar em cada linha a
# coluna do alvo: `log_probs.gather(-1, targets[:, None])[:, 0]` (ou
# `log_probs[torch.arange(batch), targets]`). Não esqueça o sinal de menos e a média.
#
# </details>

# %% tags=["exercise"] exercise="01.cross_entropy" points=2
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Entropia cruzada média.

    logits: [batch, d_vocab].
    targets: ids inteiros [batch], valores em 0..d_vocab-1.
    Devolve: tensor escalar (formato ()), a média de -log p(alvo).
    """
    # BEGIN SOLUCAO
    log_probs = torch.log_softmax(logits, dim=-1)
    return -log_probs.gather(-1, targets[:, None])[:, 0].mean()
    # END SOLUCAO


# %% tags=["check"]
check("01.cross_entropy", cross_entropy)

# %% [markdown]
# ## Exercício 01.lm_loss · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** calcular a perda do próximo token de um modelo de linguagem,
# a mesma que `model(tokens, return_type="loss")` devolve.
#
# Os logits da posição `p` preveem o token `p + 1`. Então compare
# `logits[:, :-1]` (todas as posições menos a última, que não tem alvo) com
# `tokens[:, 1:]` (todos os tokens menos o primeiro, que ninguém previu) e tire
# a média sobre batch **e** posições.
#
# <details><summary>💡 Dica</summary>
#
# `log_probs = torch.log_softmax(logits[:, :-1], dim=-1)` tem formato
# `[batch, pos-1, d_vocab]`; `log_probs.gather(-1, tokens[:, 1:, None])[..., 0]`
# tem formato `[batch, pos-1]`. Depois, `-(...).mean()`.
#
# </details>

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

# %% tags=["solution_only"]
# A sua perda, no modelo de verdade, com um texto da gramática:
data_tokens = model.to_tokens("o menino come um bolo. a menina bonita lê o livro. os gatos dormem juntos.")
with torch.no_grad():
    print(f"lm_loss:                       {lm_loss(model(data_tokens), data_tokens).item():.4f}")
    print(f"model(..., return_type='loss'): {model(data_tokens, return_type='loss').item():.4f}")

# %% [markdown]
# ## Exercício 01.softmax_with_temperature · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** calcular `softmax(logits / T)` no último eixo.
#
# A temperatura age **nos logits, antes** do softmax. Pode usar `torch.softmax`
# (ele já é estável, o que importa quando `T` é pequeno e `logits / T` é enorme).
#
# <details><summary>💡 Dica</summary>
#
# Uma linha: `torch.softmax(logits / temperature, dim=-1)`.
#
# </details>

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
# ## Exercício 01.greedy_next_token · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** escolher, para cada sequência do batch, o token de maior logit
# na **última** posição (decodificação gulosa).
#
# <details><summary>💡 Dica</summary>
#
# `logits[:, -1]` tem formato `[batch, d_vocab]`; `argmax(dim=-1)` devolve os
# índices (ids), em `torch.long`.
#
# </details>

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
#
# <details><summary>💡 Dica</summary>
#
# `probs = torch.softmax(logits / temperature, dim=-1)`; o resultado de
# `torch.multinomial` tem um eixo a mais no fim: tire-o com `[:, 0]`.
#
# </details>

# %% tags=["exercise"] exercise="01.sample_next_token" points=2
def sample_next_token(logits: torch.Tensor, temperature: float, seed: int) -> torch.Tensor:
    """Sorteia um token por linha de softmax(logits / temperature).

    logits: [batch, d_vocab] (os logits da última posição).
    temperature: número > 0. seed: semente do torch.Generator.
    Devolve: ids [batch] (dtype torch.long).
    """
    # BEGIN SOLUCAO
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]
    # END SOLUCAO


# %% tags=["check"]
check("01.sample_next_token", sample_next_token)

# %% tags=["solution_only"]
# Gerando texto com as suas funções: um token por vez, cada passo com a sua semente.
def generate(prompt: str, n_new_tokens: int, temperature: float, seed: int) -> str:
    tokens = model.to_tokens(prompt)
    for step in range(n_new_tokens):
        with torch.no_grad():
            last = model(tokens)[:, -1]
        next_token = sample_next_token(last, temperature, seed + step)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return model.to_string(tokens[0])


for t in [0.5, 1.0]:
    print(f"T = {t}:", generate("o rei", 10, t, seed=0))

# %% [markdown]
# ## Exercício 01.top_k_logits · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** manter só os `k` maiores logits de cada linha e pôr `-inf` em todos os outros.
#
# Depois de um softmax, os logits `-inf` viram probabilidade exatamente 0: é o
# filtro **top-k** usado antes de sortear. (Os casos de teste não têm empates.)
#
# <details><summary>💡 Dica</summary>
#
# `logits.topk(k, dim=-1).values` vem em ordem decrescente; o k-ésimo maior de
# cada linha é `[..., -1:]` (com o eixo mantido). Depois,
# `logits.masked_fill(logits < kth, float("-inf"))`.
#
# </details>

# %% tags=["exercise"] exercise="01.top_k_logits" points=2
def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Filtro top-k no último eixo.

    logits: [..., d_vocab]; k: inteiro entre 1 e d_vocab.
    Devolve: tensor com o formato de logits; os k maiores de cada linha
    ficam como estão, o resto vira -inf.
    """
    # BEGIN SOLUCAO
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
    # END SOLUCAO


# %% tags=["check"]
check("01.top_k_logits", top_k_logits)

# %% [markdown]
# ## Exercício 01.lm_head · Dificuldade ★☆☆ · ~4 min
#
# **Objetivo:** aplicar a cabeça LM: `logits = resid @ W_U + b_U`.
#
# Use os formatos do TransformerLens: `W_U` é `[d_model, d_vocab]` (não
# transponha!) e `b_U` é `[d_vocab]`. Confira os formatos com `assert` antes da
# conta: é o hábito que evita a maioria dos erros silenciosos.
#
# <details><summary>💡 Dica</summary>
#
# `assert resid.shape[-1] == W_U.shape[0]` e `assert b_U.shape == (W_U.shape[1],)`;
# depois, uma linha. O `@` multiplica o último eixo de `resid` pelo primeiro de `W_U`.
#
# </details>

# %% tags=["exercise"] exercise="01.lm_head" points=1
def lm_head(resid: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Logits a partir do fluxo residual final (já normalizado pela ln_final).

    resid: [batch, pos, d_model]; W_U: [d_model, d_vocab]; b_U: [d_vocab].
    Devolve: logits [batch, pos, d_vocab].
    """
    # BEGIN SOLUCAO
    assert resid.shape[-1] == W_U.shape[0], f"d_model diferente: {resid.shape} e {W_U.shape}"
    assert b_U.shape == (W_U.shape[1],), f"b_U deve ser [d_vocab]; veio {tuple(b_U.shape)}"
    return resid @ W_U + b_U
    # END SOLUCAO


# %% tags=["check"]
check("01.lm_head", lm_head)

# %% tags=["solution_only"]
# No modelo de verdade: a saída da ln_final passa pela sua cabeça e dá os logits do modelo.
tokens = model.to_tokens("a menina lê o livro")
logits, cache = model.run_with_cache(tokens)
ln_out = cache["ln_final.hook_normalized"] * model.ln_final.w + model.ln_final.b
print("iguais aos logits do modelo:", torch.allclose(lm_head(ln_out, model.W_U, model.b_U), logits, atol=1e-5))

# %% [markdown]
# ## Exercício 01.mos_probs · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** implementar a cabeça de mistura de softmaxes (Yang et al., 2018).
#
# Para cada contexto `h` (uma linha do batch):
#
# 1. pesos da mistura, que dependem do contexto: `π = softmax(h @ W_prior)`, formato `[K]`;
# 2. um vetor por componente: `h_k = tanh(h @ W_proj[k])`, formato `[d_model]`;
# 3. uma distribuição por componente: `p_k = softmax(h_k @ W_U)`, formato `[d_vocab]`;
# 4. a mistura das **probabilidades**: `p = Σ_k π_k · p_k`.
#
# Sem laços em Python, se conseguir (use `einsum` ou broadcasting). Os casos
# incluem `W_U` grande (logits ~100), então use um softmax estável.
#
# <details><summary>💡 Dica</summary>
#
# `prior = torch.softmax(h @ W_prior, dim=-1)` → `[batch, K]`.
# `h_k = torch.tanh(torch.einsum("bd,kde->bke", h, W_proj))` → `[batch, K, d_model]`.
# `probs_k = torch.softmax(h_k @ W_U, dim=-1)` → `[batch, K, d_vocab]`.
# Por fim, `(prior[:, :, None] * probs_k).sum(dim=1)`.
#
# </details>

# %% tags=["exercise"] exercise="01.mos_probs" points=3
def mos_probs(h: torch.Tensor, W_prior: torch.Tensor, W_proj: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    """Mistura de K softmaxes.

    h: [batch, d_model]; W_prior: [d_model, K]; W_proj: [K, d_model, d_model];
    W_U: [d_model, d_vocab].
    Devolve: probabilidades [batch, d_vocab] (cada linha soma 1).
    """
    # BEGIN SOLUCAO
    prior = torch.softmax(h @ W_prior, dim=-1)  # [batch, K]
    h_k = torch.tanh(torch.einsum("bd,kde->bke", h, W_proj))  # [batch, K, d_model]
    probs_k = torch.softmax(h_k @ W_U, dim=-1)  # [batch, K, d_vocab]
    return (prior[:, :, None] * probs_k).sum(dim=1)
    # END SOLUCAO


# %% tags=["check"]
check("01.mos_probs", mos_probs)

# %% tags=["solution_only"]
# O posto de log P: com d_model = 4, uma cabeça linear chegaria no máximo a 4 + 2 = 6.
gen = torch.Generator().manual_seed(0)
d, K, V, N = 4, 3, 30, 100
probs = mos_probs(*(torch.randn(*shape, generator=gen, dtype=torch.float64)
                    for shape in [(N, d), (d, K), (K, d, d), (d, V)]))
print("posto de log P da mistura:", torch.linalg.matrix_rank(probs.log()).item(), "de", V, "possíveis")

# %% [markdown]
# Pronto! Você escreveu todas as peças do fim de um modelo de linguagem. Nos
# próximos temas, a própria `W_U` vira uma lente para olhar **dentro** do
# modelo (a lente de logits).
