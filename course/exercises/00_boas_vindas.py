# %% [markdown]
# # 00 · Exercícios: primeiros passos com o modelo
#
# Três exercícios curtos para praticar o que a lição `notebooks/00_boas_vindas.ipynb`
# mostrou: tokens, parâmetros e o cache de ativações.
#
# **O que você vai praticar**
#
# - converter ids de tokens em strings com um vocabulário;
# - contar os parâmetros de um transformer a partir do `Config`, por fórmula;
# - tirar do cache o padrão de atenção de uma cabeça.
#
# **Tempo estimado:** ~20 min
#
# **Pré-requisitos:** a lição 00.
#
# **Como funciona:** complete cada função no lugar de `# SEU CÓDIGO AQUI` e rode
# a célula de verificação logo abaixo. Para conferir o notebook inteiro de uma vez:
# `pytest --nbval-lax --nbval-current-env exercises/00_boas_vindas.ipynb`.

# %%
import torch

from course_lib import load_pretrained
from course_lib.checks import check
from course_lib.notebook import setup
from course_lib.plots import plot_attention

setup()
model = load_pretrained("lm")

# %% [markdown]
# ## Exercício 00.tokens_to_strings · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** transformar uma sequência de ids de tokens na lista das strings
# correspondentes, usando um vocabulário dado.
#
# O id `i` é simplesmente a posição `i` da lista `vocab`. Por exemplo, com
# `vocab = ["<bos>", "o", "gato", "dorme", "."]`, os ids `[0, 1, 2, 3, 4]`
# viram `["<bos>", "o", "gato", "dorme", "."]`. É o que `model.to_str_tokens`
# faz por dentro.
#
# <details><summary>💡 Dica</summary>
#
# `tokens.tolist()` dá uma lista de inteiros do Python; depois, uma list
# comprehension com `vocab[i]`. Não descarte o `<bos>`: ele também é um token.
#
# </details>

# %% tags=["exercise"] exercise="00.tokens_to_strings" points=1
def tokens_to_strings(tokens: torch.Tensor, vocab: list[str]) -> list[str]:
    """Converte ids em strings.

    tokens: tensor de inteiros [pos] (ids de 0 a len(vocab) - 1).
    vocab: lista de strings; vocab[i] é o token de id i.
    Devolve: lista com len(tokens) strings, uma por posição (o <bos> incluído).
    """
    # BEGIN SOLUCAO
    return [vocab[i] for i in tokens.tolist()]
    # END SOLUCAO


# %% tags=["check"]
check("00.tokens_to_strings", tokens_to_strings)

# %% tags=["solution_only"]
# Com a função pronta, ela deve concordar com o tokenizador do modelo:
example = model.to_tokens("a menina bonita lê o livro")
print(tokens_to_strings(example[0], model.tokenizer.vocab))
print(tokens_to_strings(example[0], model.tokenizer.vocab) == model.to_str_tokens(example))

# %% [markdown]
# ## Exercício 00.count_params · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular o número total de parâmetros de um transformer a partir
# da sua configuração, por fórmula (sem criar o modelo).
#
# A função recebe o `Config` como dicionário (`cfg.to_dict()`), com as chaves
# `n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, normalization,
# tie_embeddings` (e outras que não importam aqui). A lista de parâmetros
# impressa na lição é o seu guia. Atenção aos casos especiais:
#
# - `d_mlp=None`: modelo **só de atenção**, sem MLP (e sem `ln2`);
# - `normalization=None`: **nenhuma** LayerNorm (nem `ln1`, nem `ln2`, nem `ln_final`);
# - `tie_embeddings=True`: não existe `W_U` separado; a cabeça usa `W_Eᵀ` (só `b_U` continua);
# - `d_head` nem sempre é `d_model // n_heads`: use `cfg["d_head"]`.
#
# A verificação compara a sua fórmula com modelos construídos de verdade.
#
# <details><summary>💡 Dica</summary>
#
# Some por partes. Embeddings: `d_vocab·d_model + n_ctx·d_model`. Atenção de
# uma camada: `W_Q, W_K, W_V, W_O` têm `n_heads·d_model·d_head` elementos cada;
# os vieses `b_Q, b_K, b_V` têm `n_heads·d_head` e `b_O` tem `d_model`. Cada
# LayerNorm tem `w` e `b`, `2·d_model`. MLP: `W_in, W_out` com `d_model·d_mlp`
# cada, mais `b_in` (`d_mlp`) e `b_out` (`d_model`). No fim: `ln_final`, `W_U`
# (`d_model·d_vocab`, se não estiver amarrada) e `b_U` (`d_vocab`).
#
# </details>

# %% tags=["exercise"] exercise="00.count_params" points=2
def count_params(cfg: dict) -> int:
    """Número total de parâmetros de um HookedTransformer com a configuração `cfg`.

    cfg: dicionário de Config.to_dict() (chaves n_layers, d_model, n_heads, d_head,
        d_mlp, d_vocab, n_ctx, normalization, tie_embeddings, ...).
    Devolve: um int.
    """
    # BEGIN SOLUCAO
    d, n_heads, d_head, d_vocab = cfg["d_model"], cfg["n_heads"], cfg["d_head"], cfg["d_vocab"]
    ln = 2 * d if cfg["normalization"] == "LN" else 0  # w e b de uma LayerNorm
    total = d_vocab * d + cfg["n_ctx"] * d  # W_E e W_pos
    attn = 4 * n_heads * d * d_head + 3 * n_heads * d_head + d  # W_Q, W_K, W_V, W_O + vieses
    per_layer = ln + attn
    if cfg["d_mlp"] is not None:
        d_mlp = cfg["d_mlp"]
        per_layer += ln + 2 * d * d_mlp + d_mlp + d  # ln2, W_in, W_out, b_in, b_out
    total += cfg["n_layers"] * per_layer
    total += ln  # ln_final
    if not cfg["tie_embeddings"]:
        total += d * d_vocab  # W_U
    return total + d_vocab  # b_U
    # END SOLUCAO


# %% tags=["check"]
check("00.count_params", count_params)

# %% tags=["solution_only"]
# Conferindo com o modelo da lição, e vendo quanto cada escolha do Config custa:
print("fórmula:", count_params(model.cfg.to_dict()), "| modelo:", sum(p.numel() for p in model.parameters()))
base = model.cfg.to_dict()
for change in [{"tie_embeddings": True}, {"d_mlp": None}, {"normalization": None}, {"n_layers": 6}]:
    print(f"{str(change):<28} {count_params({**base, **change}):>8}")

# %% [markdown]
# ## Exercício 00.head_pattern · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** rodar o modelo com cache e devolver o padrão de atenção da
# cabeça `head` da camada `layer`, para o primeiro (e único) exemplo do batch.
#
# Lembre o formato de `cache["pattern", layer]`: `[batch, n_heads, query_pos,
# key_pos]`. A saída deve ser `[query_pos, key_pos]`: a linha `q` diz quanto a
# posição `q` presta atenção em cada posição `k`.
#
# <details><summary>💡 Dica</summary>
#
# `_, cache = model.run_with_cache(tokens)` e depois indexe
# `cache["pattern", layer]` no batch 0 e na cabeça `head`, nessa ordem.
#
# </details>

# %% tags=["exercise"] exercise="00.head_pattern" points=1
def head_pattern(model, tokens: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    """Padrão de atenção da cabeça `head` da camada `layer`.

    model: um HookedTransformer.
    tokens: ids [1, pos].
    Devolve: tensor [query_pos, key_pos] (cada linha soma 1).
    """
    # BEGIN SOLUCAO
    _, cache = model.run_with_cache(tokens)
    return cache["pattern", layer][0, head]
    # END SOLUCAO


# %% tags=["check"]
check("00.head_pattern", head_pattern)

# %% tags=["solution_only"]
# Uma cabeça da camada 1, na frase da lição:
tokens = model.to_tokens("os gatos que o menino viu dormem.")
plot_attention(head_pattern(model, tokens, 1, 2), model.to_str_tokens(tokens), title="Camada 1, cabeça 2")

# %% [markdown]
# Pronto! Siga para `notebooks/01_softmax_e_cabeca_lm.ipynb`.
