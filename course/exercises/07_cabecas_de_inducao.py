# %% [markdown]
# # 07 · Exercícios: cabeças de indução
#
# Você vai montar, peça por peça, a sonda de indução da lição: os tokens repetidos, a
# log-probabilidade do token correto em cada posição, as perdas das duas cópias, o placar
# de indução e, por fim, uma máscara de indução que funciona em **qualquer** sequência.
#
# **O que você vai praticar**
#
# - montar `[BOS, x_1..x_n, x_1..x_n]` com `torch.cat`;
# - alinhar logits e alvos (a posição $t$ prevê o token $t+1$);
# - achar a diagonal certa de um padrão de atenção, $-(n-1)$, e as consultas certas;
# - escrever com operações vetorizadas a regra "a chave é o token seguinte a uma ocorrência
#   anterior do token atual".
#
# **Tempo estimado:** ~45 min
#
# **Pré-requisitos:** a lição `notebooks/07_cabecas_de_inducao.ipynb`. Aqui não há treino:
# usamos só o checkpoint `induction`.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import detectors, induction, load_pretrained
from course_lib.checks import check
from course_lib.data import repeated_tokens

model = load_pretrained("induction")
seq_len = 20
tokens = repeated_tokens(8, seq_len, model.cfg.d_vocab, seed=1)
logits, cache = model.run_with_cache(tokens)
print("tokens:", tuple(tokens.shape), "| logits:", tuple(logits.shape), "| padrão da camada 1:",
      tuple(cache["pattern", 1].shape))

# %% [markdown]
# ## Exercício 07.make_repeated_tokens · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** montar o lote `[BOS, x_1..x_n, x_1..x_n]` a partir dos tokens aleatórios `x`.
#
# O sorteio já vem pronto (é o argumento `random_tokens`); sua função só monta o formato.
# O resultado tem formato `[batch, 1 + 2n]` e o mesmo `dtype` de `random_tokens`.
#
# <details><summary>💡 Dica</summary>
#
# `torch.full((batch, 1), bos, dtype=random_tokens.dtype)` cria a coluna do BOS;
# `torch.cat([...], dim=1)` junta as peças lado a lado.
#
# </details>

# %% tags=["exercise"] exercise="07.make_repeated_tokens" points=1
def make_repeated_tokens(random_tokens: torch.Tensor, bos: int) -> torch.Tensor:
    """Sequências repetidas para a sonda de indução.

    random_tokens: [batch, n] ids sorteados (sem o BOS).
    bos: id do token BOS.
    Devolve [batch, 1 + 2n] = [BOS, x_1..x_n, x_1..x_n] em cada linha.
    """
    # BEGIN SOLUCAO
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([bos_col, random_tokens, random_tokens], dim=1)
    # END SOLUCAO


# %% tags=["check"]
check("07.make_repeated_tokens", make_repeated_tokens)

# %% tags=["solution_only"]
mine = make_repeated_tokens(tokens[:, 1:seq_len + 1], 0)
print("igual ao lote de repeated_tokens:", torch.equal(mine, tokens))

# %% [markdown]
# ## Exercício 07.logprob_correct · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular, em cada posição, a log-probabilidade que o modelo dá ao token que de fato vem a seguir.
#
# Os logits da posição $t$ são a previsão do token $t+1$. Então a saída tem `pos - 1`
# colunas: a coluna $t$ é $\log p(\text{tokens}[:, t+1] \mid \text{tokens}[:, :t+1])$.
#
# <details><summary>💡 Dica</summary>
#
# 1. `torch.log_softmax(..., dim=-1)` transforma logits em log-probabilidades de forma
#    estável (não use `softmax` seguido de `log`: com logits grandes dá `-inf`).
# 2. Descarte os logits da última posição e o primeiro token: `logits[:, :-1]` com `tokens[:, 1:]`.
# 3. `x.gather(-1, idx[..., None])[..., 0]` escolhe, em cada posição, a entrada do vocabulário
#    indicada por `idx`.
#
# </details>

# %% tags=["exercise"] exercise="07.logprob_correct" points=2
def logprob_correct(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probabilidade do token correto em cada posição.

    logits: [batch, pos, d_vocab]; tokens: [batch, pos] (ids).
    Devolve [batch, pos - 1]: a coluna t é log p(tokens[:, t+1]) segundo logits[:, t].
    """
    # BEGIN SOLUCAO
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    return log_probs.gather(-1, tokens[:, 1:, None])[..., 0]
    # END SOLUCAO


# %% tags=["check"]
check("07.logprob_correct", logprob_correct)

# %% tags=["solution_only"]
mine = logprob_correct(logits, tokens)
print("igual a induction.per_position_logprob_correct:",
      torch.allclose(mine, induction.per_position_logprob_correct(model, tokens), atol=1e-5))
print(f"log-prob média na 1ª cópia: {mine[:, :seq_len].mean().item():.2f} | "
      f"no resto da 2ª cópia: {mine[:, seq_len + 1:].mean().item():.2f}")

# %% [markdown]
# ## Exercício 07.half_losses · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** a partir das log-probabilidades por posição, calcular a perda média na 1ª cópia e no resto da 2ª cópia.
#
# A entrada é a saída do exercício anterior para tokens `[BOS, x_1..x_n, x_1..x_n]`:
# formato `[batch, 2n]`, com a coluna $t$ prevendo o token $t+1$. Então:
#
# - 1ª cópia: colunas $0..n-1$ (prevendo $x_1..x_n$);
# - a coluna $n$ prevê o $x_1$ da 2ª cópia, que nem a indução acerta (a transição
#   $x_n \to x_1$ nunca apareceu): fica de fora;
# - resto da 2ª cópia: colunas $n+1..2n-1$.
#
# A perda é $-\log p$, na média do batch e das colunas. Devolva as duas perdas num tensor `[2]`.
#
# <details><summary>💡 Dica</summary>
#
# Duas fatias, `logprobs[:, :seq_len]` e `logprobs[:, seq_len + 1:]`, o sinal de menos e
# `torch.stack([perda_1, perda_2])`.
#
# </details>

# %% tags=["exercise"] exercise="07.half_losses" points=1
def half_losses(logprobs: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Perdas médias nas duas cópias de [BOS, x_1..x_n, x_1..x_n] (n = seq_len).

    logprobs: [batch, 2n], log p do token correto por posição (coluna t prevê o token t+1).
    Devolve [2]: (perda na 1ª cópia, perda na 2ª cópia sem o seu primeiro token).
    """
    # BEGIN SOLUCAO
    first = -logprobs[:, :seq_len].mean()
    second = -logprobs[:, seq_len + 1:].mean()
    return torch.stack([first, second])
    # END SOLUCAO


# %% tags=["check"]
check("07.half_losses", half_losses)

# %% tags=["solution_only"]
mine = half_losses(induction.per_position_logprob_correct(model, tokens), seq_len)
print("sua função:                  ", [round(v, 3) for v in mine.tolist()])
print("induction.repeated_half_loss:", [round(v, 3) for v in induction.repeated_half_loss(model, tokens, seq_len)])

# %% [markdown]
# ## Exercício 07.induction_score · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular o placar de indução de cada cabeça a partir dos padrões de atenção em tokens repetidos.
#
# Para tokens `[BOS, x_1..x_n, x_1..x_n]`, a consulta $q$ da 2ª cópia ($q \ge n+1$) deve
# olhar para a chave $q - (n-1)$: o token **seguinte** à ocorrência anterior do token atual.
# O placar é a média de `pattern[b, h, q, q-(n-1)]` sobre o batch e sobre
# $q = n+1, \dots, 2n$.
#
# <details><summary>💡 Dica</summary>
#
# `torch.diagonal(pattern, offset=-(seq_len - 1), dim1=-2, dim2=-1)` devolve as entradas
# $(q, q-(n-1))$ para $q = n-1, n, n+1, \dots, 2n$, nessa ordem. Quais dessas consultas
# estão na 2ª cópia? E por que $-(n-1)$ e não $-n$? Desenhe uma sequência com $n = 3$
# num papel.
#
# </details>

# %% tags=["exercise"] exercise="07.induction_score" points=2
def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Placar de indução de cada cabeça.

    pattern: [batch, n_heads, pos, pos] com pos = 1 + 2·seq_len (tokens [BOS, x, x]).
    Devolve [n_heads]: média de pattern[b, h, q, q-(seq_len-1)] sobre b e q = seq_len+1..2·seq_len.
    """
    # BEGIN SOLUCAO
    diag = torch.diagonal(pattern, offset=-(seq_len - 1), dim1=-2, dim2=-1)
    return diag[..., 2:].mean(dim=(0, -1))
    # END SOLUCAO


# %% tags=["check"]
check("07.induction_score", induction_score)

# %% tags=["solution_only"]
for layer in range(model.cfg.n_layers):
    print(f"camada {layer}: sua função {[round(v, 3) for v in induction_score(cache['pattern', layer], seq_len).tolist()]}")
print("detectors:          ", [[round(v, 3) for v in row] for row in detectors.induction_scores(model, cache, seq_len).tolist()])

# %% [markdown]
# ## Exercício 07.induction_mask · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** para uma sequência qualquer de tokens, marcar com 1 as chaves para onde uma cabeça de indução ideal deveria olhar.
#
# A regra vale para qualquer texto, não só para `[BOS, x, x]`: a consulta $q$ marca a
# chave $k$ quando o token **antes** de $k$ é igual ao token da consulta,
# `tokens[k-1] == tokens[q]`, com $1 \le k \le q$ (nada no futuro; $k = q$ é permitido,
# quando `tokens[q-1] == tokens[q]`). Resultado: `[pos, pos]` de `float` com 0 e 1. Uma
# consulta pode marcar várias chaves (se o token apareceu várias vezes) ou nenhuma.
#
# Com essa máscara, `detectors.detect_pattern` mede indução em qualquer sequência.
#
# <details><summary>💡 Dica</summary>
#
# Comece por `same = tokens[None, :-1] == tokens[:, None]`, de formato `[pos, pos-1]`:
# `same[q, j]` diz se `tokens[j] == tokens[q]`. A chave correspondente é `k = j + 1`,
# então `same` vai nas colunas `1:` da máscara. Falta impor `k <= q`: compare
# `torch.arange(1, pos)[None, :]` com `torch.arange(pos)[:, None]`. Um laço duplo em
# Python também é aceito, se você preferir começar por ele.
#
# </details>

# %% tags=["exercise"] exercise="07.induction_mask" points=3
def induction_mask(tokens: torch.Tensor) -> torch.Tensor:
    """Máscara de indução de uma sequência.

    tokens: [pos] ids.
    Devolve [pos, pos] float: 1 em (q, k) se 1 <= k <= q e tokens[k-1] == tokens[q]; 0 no resto.
    """
    # BEGIN SOLUCAO
    pos = tokens.shape[0]
    same = tokens[None, :-1] == tokens[:, None]  # [q, j]: tokens[j] == tokens[q], chave k = j + 1
    q_idx = torch.arange(pos)[:, None]
    k_idx = torch.arange(1, pos)[None, :]
    mask = torch.zeros(pos, pos)
    mask[:, 1:] = (same & (k_idx <= q_idx)).float()
    return mask
    # END SOLUCAO


# %% tags=["check"]
check("07.induction_mask", induction_mask)

# %% [markdown] tags=["solution_only"]
# Com a máscara pronta, dá para medir indução em sequências que não são `[BOS, x, x]`.
# Abaixo, quatro cópias de um trecho de 15 tokens: na 3ª e na 4ª cópias, cada consulta tem
# duas ou três chaves certas (uma depois de cada ocorrência anterior).

# %% tags=["solution_only"]
segment = repeated_tokens(4, 15, model.cfg.d_vocab, seed=5)[:, 1:16]
four_copies = torch.cat([torch.zeros(4, 1, dtype=torch.long)] + [segment] * 4, dim=1)  # [4, 61]
masks = torch.stack([induction_mask(row) for row in four_copies])  # [batch, pos, pos]
scores = detectors.detect_pattern(model, four_copies, masks)
print("tokens:", tuple(four_copies.shape), "| máscaras:", tuple(masks.shape))
print("placar de indução com a sua máscara, camada 1:", [round(v, 3) for v in scores[1].tolist()])

# %%
print("fim dos exercícios do notebook 07")
