# %% [markdown]
# # 02 · Exercícios: pesos amarrados
#
# Você vai escrever, em funções pequenas, as peças da lição 02: a conta de parâmetros, a
# cabeça amarrada, a tabela do caminho direto, uma medida de assimetria e os escores de
# cosseno. Cada exercício tem uma célula de verificação logo depois: rode-a para ver se a
# sua função está certa (e, se não estiver, qual é o erro provável).
#
# **O que você vai praticar**
#
# - contar parâmetros de embedding e unembedding, com e sem amarramento;
# - implementar `logits = h @ W_Eᵀ + b_U` com os formatos certos;
# - montar a tabela de bigramas do caminho direto, $W_E W_U + b_U$;
# - medir o quanto uma matriz foge da simetria;
# - separar produto escalar de cosseno.
#
# **Tempo estimado:** ~45 min
#
# **Pré-requisitos:** a lição `02_weight_tying`.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import load_pretrained
from course_lib.checks import check

tied = load_pretrained("lm_tied")
untied = load_pretrained("lm_untied")
tokenizer = tied.tokenizer
print("d_vocab =", tied.cfg.d_vocab, "| d_model =", tied.cfg.d_model)

# %% [markdown]
# ## Exercício 02.count_params · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** contar os parâmetros da interface com o vocabulário ($W_E$, $W_U$ e $b_U$)
# de um modelo, com e sem pesos amarrados.
#
# - $W_E$ tem formato `[d_vocab, d_model]` e sempre existe.
# - Sem amarrar (`tie_embeddings=False`), há um $W_U$ próprio, `[d_model, d_vocab]`.
#   Amarrando, $W_U = W_E^\top$ é o mesmo tensor e não conta de novo.
# - Com `use_bias=True` há também o viés $b_U$, com formato `[d_vocab]`.
#
# O resultado é um `int` do Python.

# %% tags=["exercise"] exercise="02.count_params" points=1
def count_embed_unembed_params(d_vocab: int, d_model: int, tie_embeddings: bool, use_bias: bool) -> int:
    """Número de parâmetros de W_E, W_U (se não amarrado) e b_U (se use_bias).

    d_vocab: tamanho do vocabulário; d_model: dimensão do fluxo residual.
    Devolve um int.
    """
    # BEGIN SOLUCAO
    n = d_vocab * d_model
    if not tie_embeddings:
        n += d_model * d_vocab
    if use_bias:
        n += d_vocab
    return n
    # END SOLUCAO


# %% tags=["check"]
check("02.count_params", count_embed_unembed_params)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Some as partes: `d_vocab * d_model` para $W_E$; mais `d_model * d_vocab` só se **não**
# estiver amarrado; mais `d_vocab` se houver viés.
#
# </details>

# %% tags=["solution_only"]
n_tied = count_embed_unembed_params(260, 64, True, True)
n_untied = count_embed_unembed_params(260, 64, False, True)
real_tied = sum(p.numel() for n, p in tied.named_parameters() if n in ("embed.W_E", "unembed.W_U", "unembed.b_U"))
real_untied = sum(p.numel() for n, p in untied.named_parameters() if n in ("embed.W_E", "unembed.W_U", "unembed.b_U"))
print(f"amarrado:     fórmula {n_tied}, modelo {real_tied}")
print(f"não amarrado: fórmula {n_untied}, modelo {real_untied}")

# %% [markdown]
# ## Exercício 02.tied_logits · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular os logits de uma cabeça amarrada, `h @ W_Eᵀ + b_U`.
#
# `h` pode ter qualquer número de eixos na frente (`[d_model]`, `[pos, d_model]`,
# `[batch, pos, d_model]`...); a saída troca o último eixo `d_model` por `d_vocab`.
# Devolva **logits** (não aplique softmax).

# %% tags=["exercise"] exercise="02.tied_logits" points=1
def tied_logits(h: torch.Tensor, W_E: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Logits de uma cabeça com pesos amarrados.

    h: [..., d_model] (saída da LayerNorm final); W_E: [d_vocab, d_model]; b_U: [d_vocab].
    Devolve [..., d_vocab].
    """
    # BEGIN SOLUCAO
    return h @ W_E.T + b_U
    # END SOLUCAO


# %% tags=["check"]
check("02.tied_logits", tied_logits)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Escreva os formatos: `[..., d_model] @ [d_model, d_vocab]`. Qual das duas, `W_E` ou
# `W_E.T`, tem formato `[d_model, d_vocab]`? Cuidado: se `d_vocab == d_model`, esquecer a
# transposta não dá erro de formato, só valores errados.
#
# </details>

# %% tags=["solution_only"]
tokens = tied.to_tokens("os meninos que comeram o bolo")
model_logits, cache = tied.run_with_cache(tokens, names_filter=lambda name: name == "unembed.hook_in")
mine = tied_logits(cache["unembed.hook_in"], tied.W_E, tied.b_U)
print("formato:", tuple(mine.shape), "| maior diferença para o modelo:", f"{(mine - model_logits).abs().max().item():.1e}")

# %% [markdown]
# ## Exercício 02.direct_path · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar a tabela de bigramas do caminho direto, em que a linha é o token
# atual $a$ e a coluna é o próximo token $b$:
#
# $$T[a, b] = W_E[a] \cdot W_U[:, b] + b_U[b].$$
#
# (É o que o modelo preveria se o token atual fosse direto do embedding para a cabeça,
# sem camadas e sem a LayerNorm final.)

# %% tags=["exercise"] exercise="02.direct_path" points=1
def direct_path_logits(W_E: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Tabela do caminho direto: [d_vocab (token atual), d_vocab (próximo token)].

    W_E: [d_vocab, d_model]; W_U: [d_model, d_vocab]; b_U: [d_vocab].
    """
    # BEGIN SOLUCAO
    return W_E @ W_U + b_U
    # END SOLUCAO


# %% tags=["check"]
check("02.direct_path", direct_path_logits)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# `W_E @ W_U` já tem formato `[d_vocab, d_vocab]` com a linha sendo o token de entrada.
# O viés pertence ao token de **saída**: ele deve variar ao longo das colunas, e o
# broadcasting de um tensor `[d_vocab]` faz exatamente isso.
#
# </details>

# %% tags=["solution_only"]
o_id, gato_id = tokenizer.to_single_token("o"), tokenizer.to_single_token("gato")
with torch.no_grad():
    for name, model in (("amarrado", tied), ("não amarrado", untied)):
        T = direct_path_logits(model.W_E, model.W_U, model.b_U)
        print(f"{name:>13}: T[o, gato] = {T[o_id, gato_id]:.3f}, T[gato, o] = {T[gato_id, o_id]:.3f}")

# %% [markdown]
# ## Exercício 02.asymmetry · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** medir que fração de uma matriz quadrada está na sua parte antissimétrica.
#
# Toda matriz se escreve como $M = S + A$, com $S = (M + M^\top)/2$ simétrica e
# $A = (M - M^\top)/2$ antissimétrica. Use a norma de Frobenius (`tensor.norm()`):
#
# $$\text{assimetria}(M) = \frac{\|A\|}{\|M\|}.$$
#
# Vale 0 para matriz simétrica e 1 para antissimétrica. Devolva um `float` do Python.

# %% tags=["exercise"] exercise="02.asymmetry" points=2
def asymmetry(M: torch.Tensor) -> float:
    """Fração da norma de M [n, n] que está na parte antissimétrica (M - Mᵀ)/2. Devolve float."""
    # BEGIN SOLUCAO
    antisym = (M - M.T) / 2
    return float(antisym.norm() / M.norm())
    # END SOLUCAO


# %% tags=["check"]
check("02.asymmetry", asymmetry)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Calcule `A = (M - M.T) / 2` e divida a norma de `A` pela norma de `M`. Para passar de um
# tensor de 0 eixos para um número, use `float(...)` ou `.item()`.
#
# </details>

# %% tags=["solution_only"]
with torch.no_grad():
    for name, model in (("amarrado", tied), ("não amarrado", untied)):
        print(f"{name:>13}: assimetria de W_E W_U = {asymmetry(model.W_E @ model.W_U):.3f}")

# %% [markdown]
# ## Exercício 02.cosine_scores · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular o cosseno entre um vetor `h` e o embedding de cada token.
#
# $$\cos\theta_i = \frac{h \cdot W_E[i]}{\|h\|\,\|W_E[i]\|}.$$
#
# `h` pode ter eixos na frente (`[..., d_model]`); a saída é `[..., d_vocab]`. Compare com
# o logit amarrado sem viés, que é só o numerador.

# %% tags=["exercise"] exercise="02.cosine_scores" points=2
def cosine_scores(h: torch.Tensor, W_E: torch.Tensor) -> torch.Tensor:
    """Cosseno entre h [..., d_model] e cada linha de W_E [d_vocab, d_model]. Devolve [..., d_vocab]."""
    # BEGIN SOLUCAO
    h_unit = h / h.norm(dim=-1, keepdim=True)
    E_unit = W_E / W_E.norm(dim=-1, keepdim=True)
    return h_unit @ E_unit.T
    # END SOLUCAO


# %% tags=["check"]
check("02.cosine_scores", cosine_scores)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Normalize os dois lados antes do produto: `h / h.norm(dim=-1, keepdim=True)` e, para os
# embeddings, a norma de cada **linha** (`dim=-1`). Depois é o mesmo produto do exercício
# `tied_logits`, sem viés.
#
# </details>

# %% tags=["solution_only"]
h_last = cache["unembed.hook_in"][0, -1]
with torch.no_grad():
    by_dot = (h_last @ tied.W_E.T).topk(5).indices.tolist()
    by_cos = cosine_scores(h_last, tied.W_E).topk(5).indices.tolist()
print("top-5 pelo produto escalar:", tokenizer.to_str_tokens(by_dot))
print("top-5 pelo cosseno:        ", tokenizer.to_str_tokens(by_cos))

# %% [markdown]
# ## Para ir além
#
# - Use `direct_path_logits` e `asymmetry` para comparar o caminho direto com a tabela de
#   bigramas que o **modelo inteiro** usa (rode o modelo em todas as sequências
#   "`<bos>` a", como na lição).
# - Mostre que, para qualquer $W_E$ e $b_U$, `T[a, b] - T[b, a] == b_U[b] - b_U[a]`
#   quando $W_U = W_E^\top$. Que tipo de preferência esse termo consegue expressar?
