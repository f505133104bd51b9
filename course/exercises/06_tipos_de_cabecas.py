# %% [markdown]
# # 06 · Exercícios: tipos de cabeças e circuitos QK/OV
#
# Você vai reescrever, com as próprias mãos, as ferramentas da lição: os placares de
# token anterior e de primeiro token, o rótulo de uma cabeça e os circuitos
# $W_{QK}$, $W_{OV}$ e QK posicional.
#
# **O que você vai praticar**
#
# - ler um padrão de atenção `[batch, head, query_pos, key_pos]` com `torch.diagonal` e fatias;
# - lembrar por que a consulta 0 fica fora dos placares;
# - montar $W_{QK} = W_Q W_K^\top$ e $W_{OV} = W_V W_O$ com os formatos certos;
# - montar o circuito QK posicional $W_{pos} W_Q W_K^\top W_{pos}^\top$ de uma cabeça de verdade.
#
# **Tempo estimado:** ~35 min
#
# **Pré-requisitos:** a lição `notebooks/06_tipos_de_cabecas.ipynb`.
#
# Cada exercício tem uma célula para você completar (troque o `raise NotImplementedError`
# pelo seu código) e, logo depois, uma célula de verificação que roda sua função em
# vários casos e diz o que deu errado.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import circuits, detectors, load_metadata, load_pretrained, plots
from course_lib.checks import check
from course_lib.induction import make_repeated_batch

model = load_pretrained("induction")
tokens = make_repeated_batch(model, batch=8, seq_len=20)
_, cache = model.run_with_cache(tokens)
patterns_0 = cache["pattern", 0]  # padrões da camada 0
print("padrões da camada 0:", tuple(patterns_0.shape), "= [batch, head, query_pos, key_pos]")

# %% [markdown]
# ## Exercício 06.previous_token_score · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular o placar de token anterior de cada cabeça a partir dos padrões de atenção.
#
# Para cada cabeça, é a média de `pattern[b, h, q, q-1]` sobre o batch e sobre as
# consultas `q = 1, ..., pos-1`. A consulta 0 não tem token anterior (e é obrigada a
# olhar para si mesma), então fica de fora.
#
# <details><summary>💡 Dica</summary>
#
# `torch.diagonal(pattern, offset=..., dim1=-2, dim2=-1)` pega uma diagonal das duas
# últimas dimensões e a põe no fim: formato `[batch, head, comprimento_da_diagonal]`.
# Com `offset` negativo a diagonal fica **abaixo** da principal. Qual offset liga `q` a
# `q-1`? Depois é só tirar a média nos eixos certos.
#
# </details>

# %% tags=["exercise"] exercise="06.previous_token_score" points=1
def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Placar de token anterior de cada cabeça.

    pattern: [batch, n_heads, pos, pos], padrões de atenção (linha = consulta, coluna = chave).
    Devolve [n_heads]: média de pattern[b, h, q, q-1] sobre b e sobre q = 1..pos-1.
    """
    # BEGIN SOLUCAO
    diag = torch.diagonal(pattern, offset=-1, dim1=-2, dim2=-1)  # [batch, heads, pos-1]
    return diag.mean(dim=(0, -1))
    # END SOLUCAO


# %% tags=["check"]
check("06.previous_token_score", previous_token_score)

# %% tags=["solution_only"]
mine = previous_token_score(patterns_0)
print("sua função, camada 0:  ", [round(v, 3) for v in mine.tolist()])
print("detectors, camada 0:   ", [round(v, 3) for v in detectors.previous_token_scores(cache)[0].tolist()])

# %% [markdown]
# ## Exercício 06.first_token_score · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular o placar de primeiro token (atenção no BOS) de cada cabeça.
#
# Para cada cabeça, é a média de `pattern[b, h, q, 0]` sobre o batch e sobre as consultas
# `q = 1, ..., pos-1`.
#
# <details><summary>💡 Dica</summary>
#
# A atenção que cada consulta dá ao BOS é a **coluna** 0: `pattern[..., :, 0]`. Pense em
# quais linhas dessa coluna entram na média: o que vale `pattern[b, h, 0, 0]` em qualquer
# cabeça?
#
# </details>

# %% tags=["exercise"] exercise="06.first_token_score" points=1
def first_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Placar de primeiro token de cada cabeça.

    pattern: [batch, n_heads, pos, pos].
    Devolve [n_heads]: média de pattern[b, h, q, 0] sobre b e sobre q = 1..pos-1.
    """
    # BEGIN SOLUCAO
    return pattern[..., 1:, 0].mean(dim=(0, -1))
    # END SOLUCAO


# %% tags=["check"]
check("06.first_token_score", first_token_score)

# %% tags=["solution_only"]
print("sua função, camada 1:", [round(v, 3) for v in first_token_score(cache["pattern", 1]).tolist()])
print("detectors, camada 1: ", [round(v, 3) for v in detectors.first_token_scores(cache)[1].tolist()])

# %% [markdown]
# ## Exercício 06.classify_head · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** dar um rótulo a uma cabeça a partir dos seus três placares.
#
# Regras: o rótulo é o tipo de **maior** placar, desde que esse placar seja pelo menos o
# limiar (`>= threshold`); se nenhum chegar lá, o rótulo é `"sem tipo claro"`. Use
# exatamente estes textos: `"token anterior"`, `"token atual"`, `"primeiro token (BOS)"`
# e `"sem tipo claro"` (os mesmos de `detectors.label_heads`). Os casos de teste não têm
# empates.
#
# <details><summary>💡 Dica</summary>
#
# Guarde os placares e os rótulos em duas listas na mesma ordem; `max(range(3), key=...)`
# dá o índice do maior placar.
#
# </details>

# %% tags=["exercise"] exercise="06.classify_head" points=1
def classify_head(prev: float, current: float, first: float, threshold: float = 0.5) -> str:
    """Rótulo da cabeça a partir dos placares (números entre 0 e 1).

    prev, current, first: placares de token anterior, token atual e primeiro token.
    Devolve "token anterior", "token atual", "primeiro token (BOS)" ou "sem tipo claro".
    """
    # BEGIN SOLUCAO
    labels = ["token anterior", "token atual", "primeiro token (BOS)"]
    scores = [prev, current, first]
    best = max(range(3), key=lambda i: scores[i])
    return labels[best] if scores[best] >= threshold else "sem tipo claro"
    # END SOLUCAO


# %% tags=["check"]
check("06.classify_head", classify_head)

# %% tags=["solution_only"]
prev_s = detectors.previous_token_scores(cache)
cur_s = detectors.current_token_scores(cache)
first_s = detectors.first_token_scores(cache)
for l in range(model.cfg.n_layers):
    for h in range(model.cfg.n_heads):
        label = classify_head(prev_s[l, h].item(), cur_s[l, h].item(), first_s[l, h].item())
        print(f"cabeça {l}.{h}: {label}")

# %% [markdown] tags=["solution_only"]
# Na lição, `label_heads` deu "indução" às cabeças da camada 1. Sem o placar de indução,
# que só vem no notebook 07, o seu classificador conhece apenas os três tipos; por isso
# cabeças da camada 1 que descansam no BOS durante a 1ª cópia podem sair como "primeiro
# token".

# %% [markdown]
# ## Exercício 06.W_QK · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** montar o circuito QK de uma cabeça, $W_{QK} = W_Q W_K^\top$.
#
# Com vetores-linha, o placar (sem vieses e sem a escala $1/\sqrt{d_{head}}$) entre um
# resíduo na consulta $x_q$ e um na chave $x_k$ é $x_q W_Q (x_k W_K)^\top = x_q W_{QK} x_k^\top$.
#
# <details><summary>💡 Dica</summary>
#
# $W_Q$ e $W_K$ têm os dois formato `[d_model, d_head]`. Para o resultado ser
# `[d_model, d_model]`, com as linhas do lado da consulta, um deles precisa ser
# transposto: $(x_k W_K)^\top = W_K^\top x_k^\top$. Em PyTorch, `.T`.
#
# </details>

# %% tags=["exercise"] exercise="06.W_QK" points=1
def W_QK(W_Q: torch.Tensor, W_K: torch.Tensor) -> torch.Tensor:
    """Circuito QK de uma cabeça.

    W_Q, W_K: [d_model, d_head].
    Devolve [d_model, d_model] = W_Q W_Kᵀ (linha: lado da consulta; coluna: lado da chave),
    sem dividir por √d_head.
    """
    # BEGIN SOLUCAO
    return W_Q @ W_K.T
    # END SOLUCAO


# %% tags=["check"]
check("06.W_QK", W_QK)

# %% tags=["solution_only"]
mine = W_QK(model.W_Q[0, 0].detach(), model.W_K[0, 0].detach())
print("igual a circuits.W_QK(model, 0, 0).AB:", torch.allclose(mine, circuits.W_QK(model, 0, 0).AB, atol=1e-5))
print("posto:", torch.linalg.matrix_rank(mine).item(), "| d_head:", model.cfg.d_head)

# %% [markdown]
# ## Exercício 06.W_OV · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** montar o circuito OV de uma cabeça, $W_{OV} = W_V W_O$.
#
# Se a cabeça põe toda a atenção numa chave com resíduo $x_k$, ela escreve
# $x_k W_V W_O$ no resíduo da consulta (sem vieses).
#
# <details><summary>💡 Dica</summary>
#
# Confira os formatos: $W_V$ é `[d_model, d_head]` e $W_O$ é `[d_head, d_model]`. Aqui
# não há transposta.
#
# </details>

# %% tags=["exercise"] exercise="06.W_OV" points=1
def W_OV(W_V: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """Circuito OV de uma cabeça.

    W_V: [d_model, d_head]; W_O: [d_head, d_model].
    Devolve [d_model, d_model] = W_V W_O (linha: resíduo da fonte; coluna: o que é escrito).
    """
    # BEGIN SOLUCAO
    return W_V @ W_O
    # END SOLUCAO


# %% tags=["check"]
check("06.W_OV", W_OV)

# %% [markdown]
# ## Exercício 06.positional_QK · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar o circuito QK posicional $W_{pos} W_Q W_K^\top W_{pos}^\top$ da cabeça `layer.head` de um modelo.
#
# A entrada `[i, j]` do resultado diz o quanto a posição `i` (consulta) quer olhar para a
# posição `j` (chave), levando em conta só o embedding de posição: sem tokens, sem
# vieses $b_Q, b_K$ e sem a escala $1/\sqrt{d_{head}}$.
#
# <details><summary>💡 Dica</summary>
#
# Os pesos estão no modelo: `model.W_pos` é `[n_ctx, d_model]`, e `model.W_Q` e
# `model.W_K` são `[n_layers, n_heads, d_model, d_head]`. Use `.detach()` para trabalhar
# com tensores comuns. Escreva a conta como "posições na consulta" @ W_Q @ (posições na
# chave @ W_K)ᵀ e expanda a transposta.
#
# </details>

# %% tags=["exercise"] exercise="06.positional_QK" points=2
def positional_QK(model, layer: int, head: int) -> torch.Tensor:
    """Circuito QK posicional da cabeça `layer.head`.

    Devolve [n_ctx, n_ctx] = W_pos W_Q W_Kᵀ W_posᵀ (linha: posição da consulta;
    coluna: posição da chave), sem vieses e sem dividir por √d_head.
    """
    # BEGIN SOLUCAO
    W_pos = model.W_pos.detach()
    W_Q = model.W_Q[layer, head].detach()
    W_K = model.W_K[layer, head].detach()
    return W_pos @ W_Q @ W_K.T @ W_pos.T
    # END SOLUCAO


# %% tags=["check"]
check("06.positional_QK", positional_QK)

# %% tags=["solution_only"]
prev_head = load_metadata("induction")["metrics"]["prev_token_head"]
layer, head = (int(x) for x in prev_head.split("."))
circuit = positional_QK(model, layer, head)
n_ctx = model.cfg.n_ctx
causal = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))
best_key = circuit.masked_fill(~causal, float("-inf")).argmax(-1)
print(f"cabeça {prev_head}: máximo em k = q-1 em "
      f"{(best_key[1:] == torch.arange(n_ctx - 1)).float().mean().item():.0%} das linhas")
labels = [str(i) for i in range(16)]
plots.plot_circuit(circuit.masked_fill(~causal, float("nan"))[:16, :16], labels, labels,
                   title=f"Seu circuito QK posicional da cabeça {prev_head}",
                   ylabel="posição da consulta", xlabel="posição da chave")

# %% [markdown]
# ## Para ir além (sem verificação)
#
# - Escreva `current_token_score` (a diagonal principal, sem a consulta 0) e confira com
#   `detectors.current_token_scores`.
# - No circuito posicional de cada cabeça da camada 0, conte em quantas linhas o máximo
#   está em `k = q-2`. Qual cabeça é a de "dois tokens atrás"?
# - Troque `W_pos` por `W_E` no exercício 06.positional_QK e compare a amplitude das
#   linhas: quem decide mais, a posição ou o token?

# %%
print("fim dos exercícios do notebook 06")
