# %% [markdown]
# # 01 · Softmax e a cabeça do modelo de linguagem
#
# No fim de um transformer, cada posição tem um vetor de `d_model` números. A
# **cabeça do modelo de linguagem** (a *LM head*) transforma esse vetor numa
# distribuição de probabilidade sobre todo o vocabulário: o que o modelo acha
# que vem a seguir. Esta lição abre essa última etapa.
#
# **O que você vai aprender**
#
# - a cabeça LM: LayerNorm final, `W_U` e `b_U`, e os formatos de cada tensor;
# - o softmax: por que a fórmula ingênua estoura e como subtrair o máximo resolve;
# - log-softmax e entropia cruzada, e como calcular à mão a perda do modelo;
# - temperatura e decodificação: gulosa, amostragem com gerador semeado e top-k;
# - pesos amarrados (*weight tying*) entre a entrada e a saída;
# - variações da cabeça (camada escondida extra, mistura de softmaxes) e o "gargalo do softmax".
#
# **Tempo estimado:** ~50 min
#
# **Pré-requisitos:** o notebook 00 (o modelo `"lm"`, tokens, `run_with_cache`).
#
# Esta lição também confere, com código, as contas de dois textos-fonte em
# português sobre a cabeça LM usados na preparação do curso. Onde eles erram um
# número ou um formato, o código mostra o valor certo.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import PtGrammar, load_metadata, load_pretrained
from course_lib.notebook import setup
from course_lib.widgets import softmax_temperature_explorer

setup()
model = load_pretrained("lm")
cfg = model.cfg
vocab = model.tokenizer.vocab

# %% [markdown]
# ## 1. Do último vetor aos logits
#
# A cabeça LM do nosso modelo (a mesma do TransformerLens) faz três coisas com o
# fluxo residual final `resid_final`, de formato `[batch, pos, d_model]`:
#
# 1. aplica a LayerNorm final (`ln_final`);
# 2. multiplica pela matriz de desembedding (*unembedding*) `W_U`, de formato `[d_model, d_vocab]`;
# 3. soma o viés `b_U`, de formato `[d_vocab]`.
#
# O resultado são os **logits**, `[batch, pos, d_vocab]`: um número por token do
# vocabulário, em cada posição. Livros costumam escrever a mesma conta como
# `u = h Eᵀ`, com `h` um vetor-linha `1 × d`; `W_U` faz o papel de `Eᵀ`.
#
# Nem todo modelo tem o passo 3: o GPT-2 **não tem** viés no desembedding (sua cabeça é
# `nn.Linear(..., bias=False)`, com pesos amarrados a `W_E`); o TransformerLens cria um
# `b_U` de zeros ao carregá-lo, para que todos os modelos tenham a mesma forma.

# %%
print("W_E (embeddings): ", tuple(model.W_E.shape), "= [d_vocab, d_model]")
print("W_U (desembedding):", tuple(model.W_U.shape), "= [d_model, d_vocab]")
print("b_U:              ", tuple(model.b_U.shape), "= [d_vocab]")

# %% [markdown]
# Vamos refazer a cabeça a partir do cache e comparar com os logits que o modelo
# devolve. A LayerNorm centra o vetor (subtrai a média), divide pelo desvio padrão e
# aplica um ganho `w` e um viés `b` aprendidos. Três ganchos contam essa história, e vale
# saber o que cada um guarda:
#
# - `ln_final.hook_scale`: a escala, $\sqrt{\operatorname{var}(x) + \varepsilon}$, `[batch, pos, 1]`;
# - `ln_final.hook_normalized`: o vetor centrado e dividido pela escala, **antes** de `w` e
#   `b` (assim no `course_lib` e no TransformerLens 3.x);
# - `unembed.hook_in`: o que `W_U` lê de fato, `hook_normalized * w + b`.
#
# No TransformerLens 2.x, que o ARENA usa, `w` e `b` ficavam **dentro** de
# `hook_normalized`; código copiado de lá que lê esse gancho como "a entrada de `W_U`"
# esquece `w` e `b` aqui. Quando quiser a entrada da cabeça, leia `unembed.hook_in`.

# %%
tokens = model.to_tokens("o menino come um bolo")
logits, cache = model.run_with_cache(tokens)

resid_final = cache["resid_post", cfg.n_layers - 1]  # [batch, pos, d_model]
ln_out = cache["unembed.hook_in"]  # [batch, pos, d_model] = LN final(resid_final), com w e b
normalized = cache["ln_final.hook_normalized"]  # antes de w e b
print("unembed.hook_in == ln_final(resid_final):", torch.allclose(ln_out, model.ln_final(resid_final), atol=1e-5))
print("unembed.hook_in == hook_normalized * w + b:",
      torch.allclose(ln_out, normalized * model.ln_final.w + model.ln_final.b, atol=1e-5))
print("unembed.hook_in == hook_normalized (sem w e b):", torch.allclose(ln_out, normalized, atol=1e-5))

logits_by_hand = torch.einsum("bpd,dv->bpv", ln_out, model.W_U) + model.b_U  # [batch, pos, d_vocab]
print("resid_final:", tuple(resid_final.shape), "→ logits:", tuple(logits_by_hand.shape))
print("iguais aos do modelo:", torch.allclose(logits_by_hand, logits, atol=1e-5))

# %% [markdown]
# Cada posição ganha seus próprios logits: a posição `p` prevê o token `p + 1`.
# Para gerar texto só precisamos da última posição, mas no treino todas as
# posições são usadas ao mesmo tempo.

# %% [markdown]
# ### Conferindo o exemplo numérico de um texto-fonte
#
# Um dos textos-fonte faz um exemplo com `d = 5` e um vocabulário de 3 palavras:
# `h = [0.2, -0.1, 0.5, 0.3, -0.2]` e a matriz `E` abaixo, uma linha por
# palavra. Vamos refazer a conta.

# %%
h = torch.tensor([0.2, -0.1, 0.5, 0.3, -0.2])
E = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5],
                  [0.6, 0.7, 0.8, 0.9, 1.0],
                  [1.1, 1.2, 1.3, 1.4, 1.5]])
print("formato de E: ", tuple(E.shape), "= [|V|, d]")
print("formato de Eᵀ:", tuple(E.T.shape), "= [d, |V|]")

u = h @ E.T  # u_i = h · (linha i de E)
print("u = h Eᵀ =", [round(x, 2) for x in u.tolist()])

u_fonte = torch.tensor([0.55, 0.64, 0.73])  # o que o texto-fonte obtém
u1_fonte = 0.2 * 0.1 + (-0.1) * 0.6 + 0.5 * 1.1 + 0.3 * 0.4 + (-0.2) * 0.5  # a soma escrita para u_1
u3_fonte = 0.2 * 0.3 + (-0.1) * 0.8 + 0.5 * 1.3 + 0.3 * 1.4 + (-0.2) * 1.5  # a soma escrita para u_3
print(f"a soma escrita para u_1 dá {u1_fonte:.2f}; a escrita para u_3 dá {u3_fonte:.2f}")
print("softmax dos logits do texto:", [round(x, 3) for x in torch.softmax(u_fonte, -1).tolist()])
print("softmax dos logits corretos:", [round(x, 3) for x in torch.softmax(u, -1).tolist()])

# %% [markdown]
# O que o código mostra:
#
# - o texto diz que `E` tem dimensão 5×3 e `Eᵀ` 3×5; a matriz escrita tem 3
#   linhas (uma por palavra) e 5 colunas, então é o contrário: `E` é `[|V|, d]`
#   = 3×5 e `Eᵀ` é 5×3;
# - o texto obtém `u = [0.55, 0.64, 0.73]`, mas `h Eᵀ` dá `[0.17, 0.52, 0.87]`.
#   As somas do texto misturam entradas de linhas diferentes de `E` (a de `u_1`
#   usa 0,1; 0,6; 1,1; 0,4 e 0,5) e, mesmo assim, duas delas estão somadas
#   errado (veja os valores impressos);
# - o softmax que o texto aplica aos seus logits está certo; com os logits
#   corretos, porém, a terceira palavra fica bem mais provável.
#
# Moral: cada logit é o produto escalar de `h` com **uma linha** de `E` (o
# embedding daquela palavra).

# %% [markdown]
# ## 2. Softmax
#
# O softmax transforma um vetor de logits `u` em probabilidades:
#
# $$\mathrm{softmax}(u)_i = \frac{e^{u_i}}{\sum_j e^{u_j}}.$$
#
# A exponencial deixa tudo positivo e a divisão faz a soma dar 1.

# %%
def naive_softmax(u: torch.Tensor) -> torch.Tensor:
    """Softmax direto da fórmula, no último eixo (instável!)."""
    return u.exp() / u.exp().sum(dim=-1, keepdim=True)


u = torch.tensor([2.0, 1.0, 0.1])
p = naive_softmax(u)
print("probabilidades:", p)
print("soma:", round(p.sum().item(), 6), "| todas positivas:", bool((p > 0).all()))
print("somar 10 a todos os logits não muda nada:", torch.allclose(naive_softmax(u + 10), p))

# %% [markdown]
# A última linha é a propriedade mais importante: **somar a mesma constante a
# todos os logits não muda o softmax**, porque o fator `e^c` aparece em cima e
# embaixo e se cancela. Só as diferenças entre logits importam.
#
# Na matemática, vale para qualquer constante. No computador, não:

# %%
print("somando 100:", naive_softmax(u + 100))

# %% [markdown]
# ### O problema: overflow
#
# Um `float32` vai só até cerca de 3,4·10³⁸, e a exponencial passa disso já
# entre 88 e 89:

# %%
print("maior float32:", f"{torch.finfo(torch.float32).max:.3e}")
for x in [88.0, 89.0, 102.0]:
    print(f"exp({x:g}) em float32: {torch.exp(torch.tensor(x)).item():.3e}")

big = torch.tensor([1000.0, 999.0, 998.0])
print("softmax ingênuo de [1000, 999, 998]:", naive_softmax(big))

# %% [markdown]
# `inf / inf` é `NaN` ("not a number"). Um só `NaN` na perda estraga o treino
# inteiro. A solução usa a propriedade acima com uma constante esperta: subtrair o
# **maior logit** $m$ de cada linha antes de exponenciar,
#
# $$\mathrm{softmax}(u)_i = \frac{e^{u_i - m}}{\sum_j e^{u_j - m}}, \qquad m = \max_j u_j.$$
#
# O resultado é o mesmo, mas agora o maior expoente é `e⁰ = 1` e nada estoura. O
# `torch.softmax` faz exatamente isso por dentro:
#
# ✍️ **Preveja:** o que `torch.softmax` dá para `[1000, 999, 998]`? (Dica: só as
# diferenças importam.)

# %%
print("torch.softmax de [1000, 999, 998]:", torch.softmax(big, dim=-1))
print("igual ao de [2, 1, 0] (mesmas diferenças):", torch.allclose(torch.softmax(big, -1), torch.softmax(big - 998, -1)))

# %% [markdown]
# Com um lote `[batch, d_vocab]`, cada **linha** tem o seu máximo, e o eixo do
# vocabulário é o último (`dim=-1`). Escrever essa versão estável (sem `torch.softmax`)
# é o primeiro exercício deste tema.

# %% [markdown]
# ## 3. Log-softmax e entropia cruzada
#
# Para treinar, o que interessa é o **logaritmo** da probabilidade do token
# certo. Calcular `log(softmax(u))` em dois passos tem outro problema
# numérico: uma probabilidade muito pequena vira exatamente 0 em `float32`, e
# `log(0) = -inf`.

# %%
u = torch.tensor([0.0, -200.0, 3.0])
print("log(softmax(u)):", torch.softmax(u, -1).log())

# %% [markdown]
# A saída é fazer a conta no espaço dos logs:
#
# $$\log \mathrm{softmax}(u)_i = u_i - \log \sum_j e^{u_j} = (u_i - m) - \log \sum_j e^{u_j - m},
# \quad m = \max_j u_j.$$
#
# O termo `log Σ exp` se chama **log-soma-exp** (`torch.logsumexp`). Como o maior
# termo da soma é $e^0 = 1$, o log nunca vê um 0. O `torch.log_softmax` faz essa conta
# (e você a escreve no exercício `01.log_softmax`):

# %%
print("torch.log_softmax(u):", torch.log_softmax(u, -1))

# %% [markdown]
# A **entropia cruzada** de uma previsão é `-log p(token certo)`: zero se o
# modelo deu probabilidade 1 ao token certo, e cresce sem limite quando a
# probabilidade vai a 0. Um modelo que chuta uniformemente entre `d_vocab`
# tokens tem perda `ln(d_vocab)` em toda posição:

# %%
print(f"ln(d_vocab) = ln({cfg.d_vocab}) = {math.log(cfg.d_vocab):.3f}")
print(f"-log(0.5) = {-math.log(0.5):.3f}   -log(0.01) = {-math.log(0.01):.3f}")

# %% [markdown]
# ### A perda do modelo, à mão
#
# O modelo foi treinado com texto da gramática do português do curso
# (`PtGrammar`). Vamos sortear 4 sequências de `n_ctx` tokens, com uma semente
# diferente da usada no treino, e calcular a perda média.
#
# O detalhe que mais confunde: **a posição `p` prevê o token `p + 1`**. Então
# os logits das posições `0 … pos-2` são comparados com os tokens `1 … pos-1`;
# a última posição não tem alvo.

# %%
grammar = PtGrammar()
data_tokens = grammar.make_dataset(4, cfg.n_ctx, seed=2026)  # [batch=4, pos=32]
print("primeira sequência:", model.to_string(data_tokens[0]))

logits, data_cache = model.run_with_cache(data_tokens)  # logits: [batch, pos, d_vocab]
per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), data_tokens[:, 1:], reduction="none")  # [batch, pos-1]
loss_model = model(data_tokens, return_type="loss")
print(f"F.cross_entropy (logits[:, :-1] contra tokens[:, 1:]): {per_token.mean().item():.4f}")
print(f"model(..., return_type='loss'):                       {loss_model.item():.4f}")

# %% [markdown]
# As duas contas coincidem (a versão "à mão", com `log_softmax` e a escolha do token certo
# em cada posição, é o exercício `01.lm_loss`). E se esquecermos o deslocamento?

# %%
wrong = F.cross_entropy(logits.transpose(1, 2), data_tokens)
print(f"sem deslocar (cada posição 'prevendo' a si mesma): {wrong.item():.3f}")

# %% [markdown]
# Muito pior, e faz sentido: o modelo aprendeu a prever o **próximo** token,
# não a repetir o atual.
#
# Como a gramática é conhecida, sabemos a probabilidade **verdadeira** de cada
# próximo token e, portanto, a menor perda possível nesses dados
# (`grammar.optimal_loss`). A **perplexidade** `e^perda` é uma leitura
# intuitiva: "em média, é como escolher entre tantas palavras igualmente
# prováveis".

# %%
optimal = grammar.optimal_loss(data_tokens)
print(f"perda do modelo: {loss_model.item():.3f}  (perplexidade {math.exp(loss_model.item()):.1f})")
print(f"perda ótima:     {optimal:.3f}  (perplexidade {math.exp(optimal):.1f})")
print(f"chute uniforme:  {math.log(cfg.d_vocab):.3f}  (perplexidade {cfg.d_vocab})")

# %% [markdown]
# Posição por posição, na primeira sequência, a perda do modelo e a perda
# ótima (a da gramática verdadeira):

# %%
model_loss_0 = per_token[0].detach()
optimal_loss_0 = grammar.optimal_loss_per_token(data_tokens[:1])[0]
targets = model.to_str_tokens(data_tokens[0])[1:]  # o token previsto em cada posição

fig, ax = plt.subplots(figsize=(11, 3.4))
ax.plot(model_loss_0, marker="o", markersize=3, label="modelo")
ax.plot(optimal_loss_0, marker="x", markersize=4, linestyle="--", label="ótimo (gramática)")
ax.set_xticks(range(len(targets)), targets, rotation=90)
ax.set_xlabel("token a prever")
ax.set_ylabel("perda (nats)")
ax.set_title("Perda por posição: modelo e ótimo")
ax.legend()
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# As duas curvas andam juntas: a perda é alta onde a própria gramática tem
# muitas opções (que verbo vem depois do sujeito?) e perto de 0 onde a resposta
# é forçada (depois de um advérbio como "ontem" ou "devagar", só pode vir o
# ponto final). Onde a curva do modelo fica acima da ótima, ele ainda não
# aprendeu tudo o que a gramática permite saber.
#
# Mas repare: em algumas posições a curva do modelo fica **abaixo** da ótima. O "ótimo"
# é um piso só **em média**: a perda ótima de uma posição é $-\log P_{\text{verdadeira}}$
# do token que de fato saiu, e um modelo que exagera a probabilidade de um token ganha
# quando esse token sai (e perde mais quando não sai). Em média sobre o que a gramática
# sorteia, ninguém vence a distribuição verdadeira (desigualdade de Gibbs). Contando:

# %%
all_optimal = grammar.optimal_loss_per_token(data_tokens)  # [batch, pos-1], float64
beats = per_token.detach().double() < all_optimal
print(f"o modelo bate o ótimo em {int(beats[0].sum())} de {beats.shape[1]} posições da primeira sequência "
      f"e em {int(beats.sum())} de {beats.numel()} no lote")
print(f"mas em média não: modelo {per_token.mean().item():.3f} ≥ ótimo {all_optimal.mean().item():.3f}:",
      per_token.mean().item() >= all_optimal.mean().item())

# %% [markdown]
# ## 4. Temperatura
#
# Dividir os logits por uma **temperatura** `T > 0` antes do softmax muda o
# quão "confiante" fica a distribuição:
#
# $$p_i(T) = \mathrm{softmax}(u / T)_i.$$
#
# `T < 1` aumenta as diferenças entre logits (a distribuição se concentra);
# `T > 1` as diminui (a distribuição se espalha). Vejamos nos 10 tokens mais
# prováveis depois de "o menino" (para caber na figura, o softmax é refeito só
# sobre esses 10 logits). No Jupyter, arraste o controle da temperatura; fora
# dele, aparecem três painéis fixos.

# %%
prompt_tokens = model.to_tokens("o menino")
last_logits = model(prompt_tokens)[0, -1].detach()  # [d_vocab]
top10 = last_logits.topk(10)
top10_words = [vocab[i] for i in top10.indices]
softmax_temperature_explorer(top10.values, top10_words, temperature=1.0, static_temperatures=(0.5, 1.0, 2.0))

# %% [markdown]
# A **entropia** `H = -Σ p log p` mede o quão espalhada está a distribuição:
# 0 quando toda a probabilidade está num token, `ln(d_vocab)` quando é
# uniforme. Sobre o vocabulário inteiro:

# %%
def entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * probs.clamp_min(1e-30).log()).sum(-1)


temperatures = torch.logspace(-1.5, 1.5, 61)
entropies = torch.stack([entropy(torch.softmax(last_logits / t, -1)) for t in temperatures])
max_probs = torch.stack([torch.softmax(last_logits / t, -1).max() for t in temperatures])

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(temperatures, entropies, label="entropia (nats)")
ax.plot(temperatures, max_probs, label="probabilidade do token mais provável")
ax.axhline(math.log(cfg.d_vocab), color="gray", linestyle=":", label="ln(d_vocab): uniforme")
ax.axvline(1.0, color="black", linewidth=0.8)
ax.set_xscale("log")
ax.set_xlabel("temperatura T")
ax.set_title('Temperatura e espalhamento, depois de "o menino"')
ax.legend(fontsize=8)
fig.tight_layout()
plt.close(fig)
fig

# %%
for t in [0.05, 1.0, 100.0]:
    q = torch.softmax(last_logits / t, -1)
    print(f"T = {t:>6}: maior probabilidade {q.max():.3f}, entropia {entropy(q):.3f}")
print(f"ln(d_vocab) = {math.log(cfg.d_vocab):.3f}")
same_argmax = all(bool((last_logits / t).argmax() == last_logits.argmax()) for t in temperatures)
print("o token mais provável é o mesmo em todas as temperaturas:", same_argmax)

# %% [markdown]
# Nos extremos: `T → 0` vira a escolha gulosa (tudo no maior logit) e `T → ∞`
# vira a distribuição uniforme. Dividir por um número positivo não muda a
# ordem dos logits, então o `argmax` nunca muda.
#
# Um dos textos-fonte lista a temperatura entre as "variações arquiteturais" da
# cabeça. Vale a ressalva: ela não tem parâmetro nenhum e não muda o modelo; é
# uma escolha na hora de **decodificar**. O treino usa `T = 1`.

# %% [markdown]
# ## 5. Decodificação: gulosa, amostragem e top-k
#
# Para gerar texto repetimos: forward, escolher o próximo token a partir dos
# logits da última posição, acrescentar. As estratégias diferem só na escolha:
#
# - **gulosa**: o `argmax`, determinística;
# - **amostragem**: sorteia de `softmax(logits / T)`, com uma semente fixa para que o
#   sorteio seja reproduzível;
# - **top-k**: sorteia só entre os `k` maiores logits (é o mesmo que pôr `-inf` nos outros:
#   depois do softmax, eles têm probabilidade exatamente 0).
#
# Aqui usamos `torch.distributions.Categorical`, que faz o softmax e o sorteio de uma vez.
# Nos exercícios você escreve cada peça à mão (`01.sample_next_token` com um
# `torch.Generator`, `01.top_k_logits` com `-inf`) e gera texto com elas.

# %%
def generate(model, prompt: str, n_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             seed: int = 0, n_samples: int = 1) -> torch.Tensor:
    """Gera `n_samples` continuações em paralelo (um lote). temperature=0 é a gulosa.

    Devolve ids [n_samples, pos_do_prompt + n_new_tokens].
    """
    torch.manual_seed(seed)  # o sorteio do Categorical usa o gerador global
    tokens = model.to_tokens(prompt).repeat(n_samples, 1)  # [n_samples, pos]
    for _ in range(n_new_tokens):
        with torch.no_grad():
            last = model(tokens[:, -model.cfg.n_ctx:])[:, -1]  # [n_samples, d_vocab]
        if temperature == 0:
            chosen = last.argmax(dim=-1)
        elif top_k is None:
            chosen = torch.distributions.Categorical(logits=last / temperature).sample()
        else:
            best = torch.topk(last, top_k)  # só os k maiores entram no sorteio
            pick = torch.distributions.Categorical(logits=best.values / temperature).sample()
            chosen = best.indices.gather(-1, pick[:, None])[:, 0]
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
    return tokens


print("gulosa:", model.to_string(generate(model, "a rainha", 12, temperature=0)[0]))
for t in [0.7, 1.0, 1.5]:
    out = generate(model, "a rainha", 12, temperature=t, seed=0)
    print(f"T = {t}:", model.to_string(out[0]))

# %% [markdown]
# Com a mesma semente, o mesmo texto; com outra semente, outro texto:

# %%
def sample_text(seed: int) -> str:
    out = generate(model, "a rainha", 12, seed=seed)
    return model.to_string(out[0])


print("semente 1, duas vezes, mesmo texto:", sample_text(1) == sample_text(1))
print("semente 1:", sample_text(1))
print("semente 2:", sample_text(2))
print("top-k=3:  ", model.to_string(generate(model, "a rainha", 12, top_k=3, seed=1)[0]))

# %% [markdown]
# ### O preço da temperatura alta
#
# Como a gramática é conhecida, podemos conferir se um texto gerado é
# gramatical: `grammar.optimal_loss_per_token` dá erro quando algum token tem
# probabilidade 0 na gramática. Geramos 32 continuações de 20 tokens em cada
# temperatura e contamos quantas são gramaticais do começo ao fim.

# %%
def is_grammatical(ids: torch.Tensor) -> bool:
    try:
        grammar.optimal_loss_per_token(ids[None])
        return True
    except ValueError:
        return False


for t in [0.5, 1.0, 2.0, 4.0]:
    samples = generate(model, "o menino", 20, temperature=t, seed=0, n_samples=32)
    n_ok = sum(is_grammatical(s) for s in samples)
    print(f"T = {t}: {n_ok:>2}/32 continuações gramaticais")

# %% [markdown]
# Temperatura baixa dá textos corretos e pouco variados; alta dá variedade e,
# a partir de algum ponto, erros, porque tokens que o modelo considera quase
# impossíveis passam a ser sorteados. O top-k e o top-p (*nucleus sampling*)
# existem justamente para cortar essa cauda.

# %% [markdown]
# ## 6. Pesos amarrados (*weight tying*)
#
# O embedding de entrada `W_E` tem formato `[d_vocab, d_model]` e o desembedding
# `W_U` tem `[d_model, d_vocab]`: os formatos são transpostos um do outro.
# **Amarrar os pesos** é usar `W_U = W_Eᵀ`, o mesmo parâmetro nos dois
# lugares. O curso traz dois modelos iguais exceto por isso: `"lm_tied"` e
# `"lm_untied"`. O notebook 02 é todo sobre eles; aqui fica o essencial.

# %%
tied = load_pretrained("lm_tied")
untied = load_pretrained("lm_untied")
for name, m in [("lm_tied", tied), ("lm_untied", untied)]:
    emb_names = [n for n, _ in m.named_parameters() if "W_E" in n or "W_U" in n]
    total = sum(p.numel() for p in m.parameters())
    print(f"{name:<10} tie_embeddings={m.cfg.tie_embeddings!s:<5}  parâmetros={total}  {emb_names}")

diff = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters())
print("diferença:", diff, "= d_vocab × d_model =", tied.cfg.d_vocab * tied.cfg.d_model)
print("no modelo amarrado, W_U é W_Eᵀ (mesma memória):", tied.W_U.data_ptr() == tied.W_E.data_ptr())

# %% [markdown]
# O texto-fonte sobre *weight tying* dá um exemplo com vocabulário de 10 000
# palavras e `d = 512`; as contas dele estão certas:

# %%
def br(n: int) -> str:
    """Inteiro com ponto separando os milhares, como se escreve em português."""
    return f"{n:,}".replace(",", ".")


V, d = 10_000, 512
print(f"E: {br(V * d)} parâmetros; E e W separados: {br(2 * V * d)}; amarrados: {br(V * d)}")
print(f"no GPT-2 pequeno (d_vocab = 50257, d_model = 768), amarrar economiza {br(50257 * 768)}")

# %% [markdown]
# O mesmo texto afirma que amarrar **melhora a generalização**. Nos nossos
# dois modelos, treinados do mesmo jeito, a diferença na perda de avaliação
# (medida em sequências sorteadas com uma semente que o treino não usa) é
# desprezível:

# %%
for name in ["lm_tied", "lm_untied"]:
    m = load_metadata(name)["metrics"]
    print(f"{name:<10} perda de avaliação {m['eval_loss']:.4f}   (ótimo: {m['optimal_loss']:.4f})")

# %% [markdown]
# Economizar `d_vocab × d_model` parâmetros é um ganho certo (no GPT-2
# pequeno, dezenas de milhões, como vimos acima); melhor generalização pode ou
# não acontecer, e aqui não aparece.
#
# O texto também diz que, amarrados, o logit do token `i` mede a
# "similaridade" entre o vetor final e o embedding de `i`. Conferindo: o
# logit é o **produto escalar** (não normalizado, não é um cosseno) entre a
# saída da LayerNorm final e a linha `i` de `W_E`, mais o viés `b_U[i]`.

# %%
tokens = tied.to_tokens("a menina bonita")
tied_logits, tied_cache = tied.run_with_cache(tokens)
x = tied_cache["unembed.hook_in"][0, -1]  # [d_model]: a saída da LN final, com w e b (seção 1)
i = vocab.index("lê")
print(f"logit de 'lê':            {tied_logits[0, -1, i].item():.4f}")
print(f"x · W_E['lê'] + b_U['lê']: {(x @ tied.W_E[i] + tied.b_U[i]).item():.4f}")

# %% [markdown]
# Uma ressalva de formatos sobre esse texto: ele define `W = Eᵀ` e escreve
# `u = h Wᵀ`, o que daria `u = h E`. Com `h` de formato `[1, d]` e `E` de
# formato `[|V|, d]`, esse produto nem existe (a não ser que `d = |V|`). A
# conta certa é `u = h Eᵀ = h W`:

# %%
h_row = h[None]  # [1, d] (o h do exemplo da seção 1)
print("h:", tuple(h_row.shape), " E:", tuple(E.shape))
print("h @ E é possível?", h_row.shape[-1] == E.shape[0])
print("h @ Eᵀ é possível?", h_row.shape[-1] == E.T.shape[0], "→ formato", tuple((h_row @ E.T).shape))

# %% [markdown]
# ### O código PyTorch de um texto-fonte
#
# O outro texto-fonte implementa a cabeça com `nn.Linear(hidden_size,
# vocab_size, bias=False)`. Atenção ao formato: o `nn.Linear` guarda o peso
# como `[saída, entrada]` e calcula `x @ weightᵀ`. Ou seja, `weight` tem o
# formato de `W_Uᵀ`:

# %%
linear = nn.Linear(cfg.d_model, cfg.d_vocab, bias=False)
print("nn.Linear.weight:", tuple(linear.weight.shape), "  W_U:", tuple(model.W_U.shape))
with torch.no_grad():
    linear.weight.copy_(model.W_U.T)
print("linear(x) == x @ W_U:", torch.allclose(linear(ln_out), ln_out @ model.W_U, atol=1e-5))

# %% [markdown]
# O método `loss` desse código faz `cross_entropy(logits.view(-1, V),
# labels.view(-1))`, sem deslocar nada: só está certo se `labels` já for a
# sequência deslocada de uma posição. Passar os próprios tokens de entrada
# como `labels` dá a perda "sem deslocar" que calculamos na seção 3.

# %% [markdown]
# ## 7. Variações da cabeça
#
# ### Uma camada escondida antes da projeção
#
# Uma variação citada num dos textos-fonte põe uma camada escondida com ReLU antes
# da projeção: `h₁ = ReLU(h W₁ + b₁)`, `u = h₁ W₂ + b₂`. Ela custa parâmetros
# a mais:

# %%
class HiddenLayerHead(nn.Module):
    """h [..., d_model] → ReLU(h W_1 + b_1) [..., d_hidden] → logits [..., d_vocab]."""

    def __init__(self, d_model: int, d_hidden: int, d_vocab: int):
        super().__init__()
        self.W_1 = nn.Parameter(torch.randn(d_model, d_hidden) / math.sqrt(d_model))
        self.b_1 = nn.Parameter(torch.zeros(d_hidden))
        self.W_2 = nn.Parameter(torch.randn(d_hidden, d_vocab) / math.sqrt(d_hidden))
        self.b_2 = nn.Parameter(torch.zeros(d_vocab))

    def forward(self, h):
        return torch.relu(h @ self.W_1 + self.b_1) @ self.W_2 + self.b_2


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


d_model, d_vocab = cfg.d_model, cfg.d_vocab
hidden_head = HiddenLayerHead(d_model, d_model, d_vocab)
print("cabeça linear (W_U + b_U):       ", d_model * d_vocab + d_vocab)
print("com camada escondida de 64:      ", n_params(hidden_head),
      "=", f"{d_model}·{d_model} + {d_model} + {d_model}·{d_vocab} + {d_vocab}")

# %% [markdown]
# ### Mistura de softmaxes
#
# A outra variação é a **mistura de softmaxes** (*mixture of softmaxes*, MoS;
# Yang et al., 2018, "Breaking the Softmax Bottleneck"). Em vez de um softmax,
# a cabeça calcula `K` distribuições e faz uma média ponderada delas:
#
# $$p(\cdot \mid h) = \sum_{k=1}^{K} \pi_k(h)\, \mathrm{softmax}(h_k W_U + b_U),
# \qquad h_k = \tanh(h\, W^{(k)}_{\text{proj}}),\qquad \pi(h) = \mathrm{softmax}(h W_{\text{prior}}).$$
#
# Dois detalhes que o texto-fonte deixa de fora: os pesos `π_k` **dependem do
# contexto** `h` (não são constantes), e cada componente usa o seu próprio
# vetor `h_k`, com a mesma `W_U`. A fórmula do texto, `Σ α_i softmax(u W_i)`,
# aplica `W_i` aos **logits** `u` (de tamanho `|V|`), o que exigiria matrizes
# `|V| × |V|`:

# %%
print(f"W_i de |V|×|V| no nosso vocabulário: {d_vocab}² = {d_vocab ** 2} parâmetros por componente")
print(f"projeção de Yang et al. (d_model×d_model): {d_model}² = {d_model ** 2} parâmetros por componente")

# %%
class MixtureOfSoftmaxesHead(nn.Module):
    """h [batch, d_model] → log-probabilidades [batch, d_vocab] de uma mistura de K softmaxes."""

    def __init__(self, d_model: int, d_vocab: int, n_components: int):
        super().__init__()
        self.W_prior = nn.Parameter(torch.randn(d_model, n_components) / math.sqrt(d_model))
        self.W_proj = nn.Parameter(torch.randn(n_components, d_model, d_model) / math.sqrt(d_model))
        self.W_U = nn.Parameter(torch.randn(d_model, d_vocab) / math.sqrt(d_model))
        self.b_U = nn.Parameter(torch.zeros(d_vocab))

    def forward(self, h):
        # No espaço dos logs: log p = log Σ_k exp(log π_k + log p_k), estável com logsumexp.
        log_prior = torch.log_softmax(h @ self.W_prior, dim=-1)  # [batch, K]
        h_k = torch.tanh(torch.stack([h @ W for W in self.W_proj], dim=-2))  # [batch, K, d_model]
        log_p_k = torch.log_softmax(h_k @ self.W_U + self.b_U, dim=-1)  # [batch, K, d_vocab]
        return torch.logsumexp(log_prior.unsqueeze(-1) + log_p_k, dim=-2)  # [batch, d_vocab]


mos_head = MixtureOfSoftmaxesHead(d_model, d_vocab, n_components=3)
mos_out = mos_head(torch.randn(5, d_model)).exp()
print("parâmetros da MoS com K=3:", n_params(mos_head))
print("saída:", tuple(mos_out.shape), "| cada linha soma 1:", torch.allclose(mos_out.sum(-1), torch.ones(5)))

# %% [markdown]
# Note que a MoS devolve **probabilidades**, não logits: a mistura é feita
# depois dos softmaxes. Misturar os logits e aplicar um softmax só seria, de
# novo, um softmax comum.

# %% [markdown]
# ### O gargalo do softmax
#
# Por que misturar? Empilhe as log-probabilidades de `N` contextos numa matriz
# `[N, d_vocab]`. Com uma cabeça linear, os logits são `X W_U + b_U` com `X`
# de formato `[N, d_model]`: uma matriz de posto no máximo `d_model + 1` (o `+ 1` é o
# viés, uma linha igual para todos). Subtrair o log-soma-exp de cada linha soma no
# máximo mais 1: $\operatorname{posto}(\log P) \le d_{\text{model}} + 2$, não importa
# quantos contextos, nem o tamanho do vocabulário.
#
# No nosso modelo o limite é ainda 1 menor. `X` sai da LayerNorm final: antes de `w` e
# `b`, cada linha foi centrada (soma 0), então as linhas vivem num subespaço de dimensão
# `d_model − 1`; `* w + b` só move esse subespaço. Com isso, `X W_U + b_U` tem posto no
# máximo `(d_model − 1) + 1`, e
#
# $$\operatorname{posto}(\log P) \le d_{\text{model}} + 1 = 65.$$
#
# ✍️ **Preveja:** com 128 contextos e 260 tokens, o posto medido fica em 65, ou passa?
#
# Para medir um posto é preciso separar zero de ruído: refazemos a LN final em float64 (a
# partir do resíduo guardado) e contamos os valores singulares acima de uma tolerância
# relativa de 1e-10. Em float32 o ruído de arredondamento da LN (~1e-7 relativo) ficaria
# acima dessa tolerância e "criaria" uma direção a mais.

# %%
resid64 = data_cache["resid_post", cfg.n_layers - 1].reshape(-1, d_model).double()  # [128, d_model]
ln = model.ln_final
X = F.layer_norm(resid64, (d_model,), ln.w.double(), ln.b.double(), ln.eps)
log_P = torch.log_softmax(X @ model.W_U.double() + model.b_U.double(), dim=-1)  # [128, d_vocab]
sv = torch.linalg.svdvals(log_P)
rank = int((sv > 1e-10 * sv[0]).sum())
print("log P:", tuple(log_P.shape), "| posto (tolerância 1e-10·σ_max):", rank)
print("posto = d_model + 1 = 65:", "✅" if rank == d_model + 1 else "❌")
print("o 66º valor singular é ruído (< 1e-12·σ_max):", "✅" if sv[d_model + 1] < 1e-12 * sv[0] else "❌",
      "| o 65º é de verdade (> 1e-6·σ_max):", "✅" if sv[d_model] > 1e-6 * sv[0] else "❌")

# %% [markdown]
# 128 contextos, 260 tokens, e mesmo assim posto 65. Se as distribuições
# verdadeiras de muitos contextos precisarem de posto maior (a hipótese de
# Yang et al. para a língua natural), uma cabeça linear **não consegue**
# representá-las exatamente, por maior que seja o resto da rede.
#
# E as variações? Com cabeças pequenas e pesos aleatórios (`d = 4`,
# vocabulário de 30, 100 contextos):

# %%
torch.manual_seed(0)
small_d, small_vocab, n_contexts = 4, 30, 100
H = torch.randn(n_contexts, small_d, dtype=torch.float64)  # float64: o posto numérico fica limpo


def log_rank(probs: torch.Tensor) -> int:
    return torch.linalg.matrix_rank(probs.log()).item()


with torch.no_grad():
    W, b = torch.randn(small_d, small_vocab, dtype=torch.float64), torch.randn(small_vocab, dtype=torch.float64)
    linear_probs = torch.softmax(H @ W + b, dim=-1)
    hidden_probs = torch.softmax(HiddenLayerHead(small_d, small_d, small_vocab).double()(H), dim=-1)
    mixture_probs = MixtureOfSoftmaxesHead(small_d, small_vocab, n_components=3).double()(H).exp()

print(f"limite de uma cabeça linear com viés (sem LayerNorm): d + 2 = {small_d + 2}")
print("posto de log P, cabeça linear:                 ", log_rank(linear_probs))
print("posto de log P, camada escondida de largura 4: ", log_rank(hidden_probs))
print("posto de log P, mistura de 3 softmaxes:        ", log_rank(mixture_probs))

# %% [markdown]
# A camada escondida não ajuda com o gargalo: o que limita o posto é a largura
# do último vetor antes da projeção (aqui, 4). Já a mistura escapa do limite:
# o log de uma **soma** de softmaxes não se escreve como "matriz de posto baixo
# menos uma constante por linha", e o posto chega ao máximo possível (30).
#
# O preço: `K` softmaxes sobre o vocabulário inteiro a cada posição, o que em
# modelos grandes (vocabulários de dezenas de milhares de tokens) pesa em
# memória e em tempo. Por isso quase todos os modelos atuais usam a cabeça
# linear simples.

# %% [markdown]
# ## Resumo
#
# - A cabeça LM é `ln_final` → `@ W_U` (`[d_model, d_vocab]`) → `+ b_U`: logits `[batch, pos, d_vocab]`.
# - Softmax estável: subtraia o máximo **de cada linha** (`dim=-1, keepdim=True`); log-softmax com log-soma-exp.
# - Entropia cruzada = `-log p(token certo)`; a posição `p` prevê o token `p + 1`.
# - Temperatura divide os logits **antes** do softmax; não muda o `argmax`.
# - Gulosa = `argmax`; amostragem com semente fixa é reproduzível; top-k corta a cauda com `-inf`.
# - Pesos amarrados: `W_U = W_Eᵀ`, economizam `d_vocab × d_model` parâmetros.
# - Uma cabeça linear limita o posto de `log P` a `d_model + 2` (com viés), `d_model + 1 = 65` depois da
#   LayerNorm final (medido em float64); a mistura de softmaxes não tem esse limite.
# - O "ótimo" da gramática é um piso só em média: numa posição, o modelo pode ganhar dele.
#
# **Próximo passo:** `exercises/01_softmax_e_cabeca_lm.ipynb`, onde você
# implementa cada uma dessas peças. Depois, o notebook 02 aprofunda os pesos
# amarrados e o 03 usa a própria `W_U` como lente para olhar dentro do modelo.
