# %% [markdown]
# # 05 · Exercícios: cabeças de atenção movem informação
#
# Você vai montar, peça por peça, uma cabeça de atenção — scores, máscara causal,
# padrão, saída — e depois usar as peças para decompor a saída da atenção, medir
# quanto cada cabeça move de cada origem e quanto a perda piora sem ela.
#
# **O que você vai praticar**
#
# - os eixos `[batch, pos, head, d_head]` e `[batch, head, query_pos, key_pos]`;
# - a ordem certa: scores → máscara → softmax (nas chaves);
# - a saída da atenção como soma de termos por cabeça mais `b_O`;
# - medir movimento (`A · ‖v W_O‖`) e importância (ablação).
#
# **Tempo estimado:** ~60 min.
#
# **Pré-requisitos:** a lição `05_cabecas_movem_informacao`.

# %%
from course_lib.notebook import setup

setup()

import math

import torch

from course_lib import load_pretrained
from course_lib.checks import check

model = load_pretrained("lm")
tokens = model.to_tokens("os gatos que o menino viu dormem.")
_, cache = model.run_with_cache(tokens)
print("d_head =", model.cfg.d_head, "| formato de cache['q', 0]:", tuple(cache["q", 0].shape))

# %% [markdown]
# ## Exercício 05.attention_scores · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular os scores de atenção de todas as cabeças, já divididos por √d_head.
#
# `q` e `k` têm o formato do cache, `[batch, pos, head, d_head]`. O score da consulta
# `i` com a chave `j` na cabeça `h` é `q[b, i, h] · k[b, j, h] / √d_head`. Devolva
# `[batch, head, query_pos, key_pos]`. (Sem máscara: ela é o próximo exercício.)
#
# <details><summary>💡 Dica</summary>
#
# Com `torch.einsum` os nomes dos eixos fazem o trabalho:
# `torch.einsum("bqhe,bkhe->bhqk", q, k)`. O `d_head` é `q.shape[-1]`; divida por
# `math.sqrt(d_head)`, não por `d_head`.
#
# </details>

# %% tags=["exercise"] exercise="05.attention_scores" points=1
def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scores q·k/√d_head. q, k: [batch, pos, head, d_head] -> [batch, head, query_pos, key_pos]."""
    # BEGIN SOLUCAO
    return torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    # END SOLUCAO


# %% tags=["check"]
check("05.attention_scores", attention_scores)

# %% [markdown]
# ## Exercício 05.apply_causal_mask · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** pôr −∞ em todos os scores do futuro (chave depois da consulta).
#
# `scores` tem formato `[..., query_pos, key_pos]` (as duas últimas dimensões iguais).
# A posição `(q, k)` é futuro quando `k > q`: acima da diagonal. A diagonal (o token
# olhando para si) **fica**. Devolva um tensor novo (não altere a entrada).
#
# <details><summary>💡 Dica</summary>
#
# `torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)` é `True` exatamente
# acima da diagonal. Depois, `scores.masked_fill(mascara, float("-inf"))` (a máscara
# `[n, n]` se estende sozinha às dimensões da frente).
#
# </details>

# %% tags=["exercise"] exercise="05.apply_causal_mask" points=1
def apply_causal_mask(scores: torch.Tensor) -> torch.Tensor:
    """Scores [..., query_pos, key_pos] com −inf onde key_pos > query_pos."""
    # BEGIN SOLUCAO
    n = scores.shape[-1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), diagonal=1)
    return scores.masked_fill(future, float("-inf"))
    # END SOLUCAO


# %% tags=["check"]
check("05.apply_causal_mask", apply_causal_mask)

# %% [markdown]
# ## Exercício 05.attention_pattern · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** transformar scores crus (sem máscara) no padrão de atenção.
#
# Entrada e saída `[batch, head, query_pos, key_pos]`. Aplique a máscara causal e depois
# o softmax sobre as **chaves**. Cada linha do resultado soma 1 e é zero no futuro.
#
# <details><summary>💡 Dica</summary>
#
# A ordem importa: máscara **antes** do softmax (com −inf, o softmax já dá 0 no futuro e
# renormaliza o resto). O eixo das chaves é o último: `softmax(dim=-1)`. Pode usar a sua
# `apply_causal_mask`.
#
# </details>

# %% tags=["exercise"] exercise="05.attention_pattern" points=2
def attention_pattern(scores: torch.Tensor) -> torch.Tensor:
    """Padrão de atenção: softmax nas chaves dos scores mascarados. [batch, head, q, k] -> igual."""
    # BEGIN SOLUCAO
    return apply_causal_mask(scores).softmax(dim=-1)
    # END SOLUCAO


# %% tags=["check"]
check("05.attention_pattern", attention_pattern)

# %% [markdown] tags=["solution_only"]
# As três peças juntas refazem o padrão do cache do modelo:

# %% tags=["solution_only"]
mine = attention_pattern(attention_scores(cache["q", 1], cache["k", 1]))
print("igual a cache['pattern', 1]:", torch.allclose(mine, cache["pattern", 1], atol=1e-6))

# %% [markdown]
# ## Exercício 05.attn_out_from_z · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular a saída da camada de atenção a partir de `z`, `W_O` e `b_O`.
#
# - `z`: `[batch, pos, head, d_head]` (as médias pesadas dos valores, uma por cabeça);
# - `W_O`: `[head, d_head, d_model]`; `b_O`: `[d_model]`.
#
# A saída é `Σ_h z[:, :, h] @ W_O[h] + b_O`, formato `[batch, pos, d_model]`.
#
# <details><summary>💡 Dica</summary>
#
# `torch.einsum("bphe,hed->bpd", z, W_O)` já soma sobre as cabeças (`h`) e sobre
# `d_head` (`e`). `b_O` entra **uma** vez.
#
# </details>

# %% tags=["exercise"] exercise="05.attn_out_from_z" points=1
def attn_out_from_z(z: torch.Tensor, W_O: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    """Σ_h z_h W_O[h] + b_O. z [batch, pos, head, d_head], W_O [head, d_head, d_model] -> [batch, pos, d_model]."""
    # BEGIN SOLUCAO
    return torch.einsum("bphe,hed->bpd", z, W_O) + b_O
    # END SOLUCAO


# %% tags=["check"]
check("05.attn_out_from_z", attn_out_from_z)

# %% [markdown]
# ## Exercício 05.single_head_forward · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** calcular, do zero, o que uma cabeça escreve no fluxo residual, a partir do `resid_pre` da camada.
#
# Passos (para a cabeça `head` da camada `layer`):
#
# 1. `x = model.blocks[layer].ln1(resid_pre)` — a LN de entrada (no modelo `induction`,
#    que não tem LN, isso é a identidade; pode usar assim mesmo);
# 2. `q = x @ W_Q[head] + b_Q[head]`, idem `k` e `v` (os pesos estão em
#    `model.blocks[layer].attn`);
# 3. scores `q kᵀ / √d_head`, máscara causal, softmax nas chaves;
# 4. `z = padrão @ v` e o resultado `z @ W_O[head]`, formato `[batch, pos, d_model]`.
#
# **Sem** `b_O`: ele é da camada, não da cabeça.
#
# <details><summary>💡 Dica</summary>
#
# Com uma cabeça só, `q` e `k` são `[batch, pos, d_head]` e os scores são
# `q @ k.transpose(-1, -2)`, `[batch, pos, pos]`. Sua `apply_causal_mask` funciona aqui
# também. `d_head` é `model.cfg.d_head`.
#
# </details>

# %% tags=["exercise"] exercise="05.single_head_forward" points=3
def single_head_forward(model, resid_pre: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    """O que a cabeça `layer`.`head` escreve no fluxo: resid_pre [batch, pos, d_model] -> [batch, pos, d_model]."""
    # BEGIN SOLUCAO
    block = model.blocks[layer]
    attn = block.attn
    x = block.ln1(resid_pre)
    q = x @ attn.W_Q[head] + attn.b_Q[head]
    k = x @ attn.W_K[head] + attn.b_K[head]
    v = x @ attn.W_V[head] + attn.b_V[head]
    scores = q @ k.transpose(-1, -2) / math.sqrt(model.cfg.d_head)
    pattern = apply_causal_mask(scores).softmax(dim=-1)
    return (pattern @ v) @ attn.W_O[head]
    # END SOLUCAO


# %% tags=["check"]
check("05.single_head_forward", single_head_forward)

# %% [markdown] tags=["solution_only"]
# A sua cabeça, somada às outras três e a `b_O`, dá o `attn_out` do cache em todas as camadas:

# %% tags=["solution_only"]
for layer in range(model.cfg.n_layers):
    heads = sum(single_head_forward(model, cache["resid_pre", layer], layer, h) for h in range(model.cfg.n_heads))
    err = (heads + model.blocks[layer].attn.b_O - cache["attn_out", layer]).abs().max().item()
    print(f"camada {layer}: erro {err:.1e}")

# %% [markdown]
# ## Exercício 05.decompose_attn_out · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** separar a saída da atenção em um termo por cabeça mais um termo para `b_O`, que somados a reconstroem exatamente.
#
# Mesmas entradas do `attn_out_from_z`. Devolva `[head + 1, batch, pos, d_model]`: os
# `head` primeiros termos são `z[:, :, h] @ W_O[h]` (sem viés) e o último é `b_O`
# repetido em todas as posições. A soma no eixo 0 deve dar `attn_out_from_z(z, W_O, b_O)`.
#
# <details><summary>💡 Dica</summary>
#
# `torch.einsum("bphe,hed->hbpd", z, W_O)` dá os termos das cabeças já com o eixo da
# cabeça na frente. Para o último: `b_O.expand(batch, pos, d_model)[None]`, e junte
# com `torch.cat([...], dim=0)`. Não divida `b_O` entre as cabeças: a soma fecharia,
# mas cada termo deixaria de ser "o que aquela cabeça escreve".
#
# </details>

# %% tags=["exercise"] exercise="05.decompose_attn_out" points=2
def decompose_attn_out(z: torch.Tensor, W_O: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    """Termos da saída da atenção: [head + 1, batch, pos, d_model] (cabeças, depois b_O)."""
    # BEGIN SOLUCAO
    heads = torch.einsum("bphe,hed->hbpd", z, W_O)
    bias = b_O.expand_as(heads[0])[None]
    return torch.cat([heads, bias])
    # END SOLUCAO


# %% tags=["check"]
check("05.decompose_attn_out", decompose_attn_out)

# %% tags=["solution_only"]
terms = decompose_attn_out(cache["z", 2], model.blocks[2].attn.W_O, model.blocks[2].attn.b_O)
print("formato:", tuple(terms.shape), "| soma = attn_out da camada 2:",
      torch.allclose(terms.sum(0), cache["attn_out", 2], atol=1e-5))

# %% [markdown]
# ## Exercício 05.info_moved · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** medir quanto uma cabeça traz de cada origem `k` para cada destino `q`: `info[b, q, k] = A[b, q, k] · ‖v[b, k] W_O‖`.
#
# - `pattern`: `[batch, query_pos, key_pos]` (uma cabeça);
# - `v`: `[batch, key_pos, d_head]` (os valores dessa cabeça, já com `b_V`);
# - `W_O`: `[d_head, d_model]` (dessa cabeça).
#
# Devolva `[batch, query_pos, key_pos]`.
#
# <details><summary>💡 Dica</summary>
#
# `(v @ W_O).norm(dim=-1)` dá o tamanho do que cada origem oferece, `[batch, key_pos]`.
# Para multiplicar cada **coluna** (origem) do padrão, ponha um eixo novo no lugar das
# consultas: `[:, None, :]`.
#
# </details>

# %% tags=["exercise"] exercise="05.info_moved" points=2
def info_moved(pattern: torch.Tensor, v: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """info[b, q, k] = pattern[b, q, k] · ‖v[b, k] @ W_O‖: [batch, query_pos, key_pos]."""
    # BEGIN SOLUCAO
    written = (v @ W_O).norm(dim=-1)
    return pattern * written[:, None, :]
    # END SOLUCAO


# %% tags=["check"]
check("05.info_moved", info_moved)

# %% tags=["solution_only"]
from course_lib import movement

mine = info_moved(cache["pattern", 2][:, 2], cache["v", 2][:, :, 2], model.blocks[2].attn.W_O[2])
print("igual a movement.info_moved:", torch.allclose(mine, movement.info_moved(model, cache, 2, 2), atol=1e-5))

# %% [markdown]
# ## Exercício 05.zero_ablation_loss_delta · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** medir quanto a perda do modelo aumenta quando uma cabeça é desligada (seu `z` zerado).
#
# Calcule a perda média do próximo token com o modelo normal
# (`model(tokens, return_type="loss")`) e com a cabeça `head` da camada `layer`
# desligada: um gancho em `blocks.{layer}.attn.hook_z` (formato
# `[batch, pos, head, d_head]`) que zera a fatia dessa cabeça. Devolva
# `perda_sem_a_cabeça − perda_normal` como `float`.
#
# <details><summary>💡 Dica</summary>
#
# Um gancho é uma função `(ativação, hook)` que devolve a ativação nova. Copie antes de
# mudar: `z = z.clone(); z[:, :, head] = 0.0; return z`. Rode com
# `model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(nome, gancho)])` e use
# `.item()` para virar `float`. Zerar `z` desliga só a cabeça; `b_O` continua.
#
# </details>

# %% tags=["exercise"] exercise="05.zero_ablation_loss_delta" points=2
def zero_ablation_loss_delta(model, tokens: torch.Tensor, layer: int, head: int) -> float:
    """perda(cabeça layer.head com z = 0) − perda(modelo normal), em nats por token."""
    # BEGIN SOLUCAO
    def zero_head(z, hook):
        z = z.clone()
        z[:, :, head] = 0.0
        return z

    with torch.no_grad():
        clean = model(tokens, return_type="loss")
        ablated = model.run_with_hooks(tokens, return_type="loss",
                                       fwd_hooks=[(f"blocks.{layer}.attn.hook_z", zero_head)])
    return (ablated - clean).item()
    # END SOLUCAO


# %% tags=["check"]
check("05.zero_ablation_loss_delta", zero_ablation_loss_delta)

# %% tags=["solution_only"]
from course_lib import PtGrammar, ablation

data = PtGrammar().make_dataset(16, model.cfg.n_ctx, seed=7)
table = ablation.head_ablation_table(model, data)
print(f"L0H2: a sua função {zero_ablation_loss_delta(model, data, 0, 2):.4f}, a da biblioteca {table[0, 2]:.4f}")

# %% [markdown]
# ## Fechando
#
# Com essas oito funções você tem uma cabeça de atenção inteira, a decomposição exata
# da saída da atenção e duas medidas diferentes do papel de uma cabeça: quanto ela
# **move** (`info`) e quanto ela **faz falta** (ablação). A lição mostrou que as duas
# nem sempre concordam — vale sempre olhar as duas.
