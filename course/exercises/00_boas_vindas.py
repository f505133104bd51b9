# %% [markdown]
# # 00 · Exercícios: primeiros passos com o modelo
#
# Três exercícios curtos para praticar o que a lição `notebooks/00_boas_vindas.ipynb`
# mostrou (tokens, parâmetros e o cache de ativações) e duas **investigações**: com a sua
# própria função, você descobre que cabeça de um modelo de verdade olha para o token
# anterior e qual olha para o `<bos>`.
#
# **O que você vai praticar**
#
# - converter ids de tokens em strings com um vocabulário;
# - contar os parâmetros de um transformer a partir do `Config`, por fórmula;
# - tirar do cache o padrão de atenção de uma cabeça;
# - medir um comportamento de TODAS as cabeças e achar a que mais o faz (investigação).
#
# **Tempo estimado:** ~35 min
#
# **Pré-requisitos:** a lição 00.
#
# **Como funciona:** complete cada função no lugar de `# SEU CÓDIGO AQUI` e rode
# a célula de verificação logo abaixo. Para conferir o notebook inteiro de uma vez:
# `pytest --nbval-lax --nbval-current-env exercises/00_boas_vindas.ipynb`.

# %%
import torch

from course_lib import load_pretrained
from course_lib.checks import check, when_solved
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

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Cada id é um índice da lista `vocab`. Quantas strings a saída tem? Uma por posição,
# inclusive a do `<bos>`.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Um tensor não indexa uma lista do Python diretamente: `tokens.tolist()` dá os ids como
# inteiros do Python.
#
# </details>

# %%
# A sua função no tokenizador do modelo: deve dar o mesmo que model.to_str_tokens.
example = model.to_tokens("a menina bonita lê o livro")
with when_solved("a sua função no vocabulário do modelo"):
    print(tokens_to_strings(example[0], model.tokenizer.vocab))
    print("igual a model.to_str_tokens:", tokens_to_strings(example[0], model.tokenizer.vocab) == model.to_str_tokens(example))

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
# A verificação compara a sua fórmula com modelos construídos de verdade. O resultado é
# um `int` do Python (um `float` como `4.0e5` é recusado).

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

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Some por partes, na ordem do forward: embeddings, cada bloco (atenção, LayerNorms,
# MLP), e a cabeça no fim. A lista de parâmetros da lição mostra a forma de cada tensor;
# o número de elementos é o produto da forma.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Uma camada de atenção tem quatro matrizes `[n_heads, d_model, d_head]` (ou
# `[n_heads, d_head, d_model]`), três vieses `[n_heads, d_head]` e `b_O` `[d_model]`.
# Cada LayerNorm tem `w` e `b` de `d_model`. Os casos especiais da lista acima tiram
# partes inteiras da soma.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Embeddings: `d_vocab·d_model + n_ctx·d_model`. Por camada: `4·n_heads·d_model·d_head +
# 3·n_heads·d_head + d_model` (atenção), `2·d_model` por LayerNorm, e o MLP
# `2·d_model·d_mlp + d_mlp + d_model`. No fim: `ln_final`, `W_U` (`d_model·d_vocab`, se
# não amarrada) e `b_U` (`d_vocab`).
#
# </details>

# %%
# A sua fórmula no modelo da lição, e quanto cada escolha do Config custa:
with when_solved("a sua contagem no modelo 'lm'"):
    print("fórmula:", count_params(model.cfg.to_dict()), "| modelo:", sum(p.numel() for p in model.parameters()))
    base = model.cfg.to_dict()
    for change in [{"tie_embeddings": True}, {"d_mlp": None}, {"normalization": None}, {"n_layers": 6}]:
        print(f"{str(change):<28} {count_params({**base, **change}):>8}")

# %% [markdown]
# ## Exercício 00.head_pattern · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** rodar o modelo com cache e devolver o padrão de atenção da
# cabeça `head` da camada `layer`, para o primeiro (e único) exemplo do lote.
#
# Lembre o formato de `cache["pattern", layer]`: `[batch, n_heads, query_pos,
# key_pos]`. A saída deve ser `[query_pos, key_pos]`: a linha `q` diz quanto a
# posição de destino `q` presta atenção em cada posição de origem `k`.

# %% tags=["exercise"] exercise="00.head_pattern" points=1
def head_pattern(model, tokens: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    """Padrão de atenção da cabeça `head` da camada `layer`.

    model: um HookedTransformer.
    tokens: ids [1, pos].
    Devolve: tensor [query_pos, key_pos] (cada linha soma 1).
    """
    # BEGIN SOLUCAO
    name = f"blocks.{layer}.attn.hook_pattern"
    _, cache = model.run_with_cache(tokens, names_filter=name)  # guarda só o padrão desta camada
    return cache[name][0, head]
    # END SOLUCAO


# %% tags=["check"]
check("00.head_pattern", head_pattern)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# O padrão de todas as cabeças de uma camada já está guardado no cache; falta só escolher
# o exemplo do lote e a cabeça certa.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `model.run_with_cache(tokens)` devolve `(logits, cache)`. O padrão de uma camada tem
# formato `[batch, n_heads, query_pos, key_pos]`: indexe os dois primeiros eixos.
#
# </details>

# %%
# Uma cabeça da camada 0, desenhada com a sua função:
tokens = model.to_tokens("os gatos que o menino viu dormem.")
str_tokens = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(tokens))]
with when_solved("o padrão da cabeça 0.2"):
    plot_attention(head_pattern(model, tokens, 0, 2), str_tokens, title="Camada 0, cabeça 2 (com a sua head_pattern)")

# %% [markdown]
# ## Exercício 00.find_previous_token_head · Investigação · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** descobrir qual cabeça de um modelo mais olha para o **token anterior**.
#
# Uma cabeça de token anterior, em cada posição de destino `q`, põe muito peso na
# posição de origem `q − 1`. Meça isso para cada cabeça com a sua `head_pattern`: o
# **escore de token anterior** é a média de `pattern[q, q − 1]` sobre `q = 1, 2, ...`
# (a posição 0 não tem anterior). Devolva a cabeça de maior escore como uma tupla de
# dois `int`, `(camada, cabeça)`.
#
# A verificação roda a sua função no modelo `lm` com um texto da gramática (e o corretor,
# em outros modelos e textos). Qualquer cabeça com escore a até 0,03 do maior é aceita.
#
# ✍️ **Preveja:** numa língua com artigo antes do substantivo ("o gato"), em que camada
# você espera a cabeça de token anterior: na primeira ou na última? Anote antes de rodar.

# %% tags=["exercise"] exercise="00.find_previous_token_head" points=2 kind="investigation"
def find_previous_token_head(model, tokens: torch.Tensor) -> tuple[int, int]:
    """(camada, cabeça) com o maior escore de token anterior em `tokens` [1, pos]."""
    # BEGIN SOLUCAO
    n_pos = tokens.shape[1]
    best, best_score = (0, 0), -1.0
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            pattern = head_pattern(model, tokens, layer, head)
            score = pattern[torch.arange(1, n_pos), torch.arange(0, n_pos - 1)].mean().item()
            if score > best_score:
                best, best_score = (layer, head), score
    return best
    # END SOLUCAO


# %% tags=["check"]
check("00.find_previous_token_head", find_previous_token_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# São dois laços, camadas e cabeças; em cada cabeça, um número. Guarde o maior e de quem
# ele é.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Os valores `pattern[q, q − 1]` formam a diagonal logo abaixo da principal:
# `pattern.diagonal(-1)` (ou indexe com dois `torch.arange`). Converta o resultado com
# `int(...)` / `.item()` para devolver números do Python.
#
# </details>

# %%
# Os escores de todas as cabeças, com a sua head_pattern, num texto da gramática:
from course_lib import PtGrammar

text = PtGrammar().make_dataset(1, model.cfg.n_ctx, seed=7)
with when_solved("a cabeça de token anterior do 'lm'"):
    layer, head = find_previous_token_head(model, text)
    print(f"cabeça de token anterior do 'lm': {layer}.{head}")
    pattern = head_pattern(model, text, layer, head)
    controle = head_pattern(model, text, (layer + 1) % model.cfg.n_layers, head)
    print(f"escore dela: {pattern.diagonal(-1).mean():.2f}; "
          f"controle (mesma cabeça, outra camada): {controle.diagonal(-1).mean():.2f}; "
          f"atenção uniforme sobre o passado daria ~{(1 / torch.arange(2, text.shape[1] + 1)).mean():.2f}")

# %% [markdown]
# ## Exercício 00.find_bos_head · Investigação · Dificuldade ★★☆ · ~6 min
#
# **Objetivo:** descobrir qual cabeça mais olha para o `<bos>` (a posição 0).
#
# Muitas cabeças usam o `<bos>` como um "lugar para não olhar nada": quando não têm o que
# buscar, põem o peso lá. O **escore de BOS** de uma cabeça é a média de `pattern[q, 0]`
# sobre `q = 1, 2, ...` (na posição 0 o peso é sempre 1, não conta). Devolva a cabeça de
# maior escore como `(camada, cabeça)`.
#
# A verificação usa o modelo `lm_tied` (o corretor, outros modelos). Aceita qualquer
# cabeça a até 0,03 do maior escore.
#
# ✍️ **Preveja:** o escore de BOS da cabeça campeã passa de 0,5 (mais da metade da
# atenção num token sem conteúdo)? Anote antes de rodar.

# %% tags=["exercise"] exercise="00.find_bos_head" points=2 kind="investigation"
def find_bos_head(model, tokens: torch.Tensor) -> tuple[int, int]:
    """(camada, cabeça) com o maior escore de BOS em `tokens` [1, pos]."""
    # BEGIN SOLUCAO
    scores = torch.tensor([[head_pattern(model, tokens, layer, head)[1:, 0].mean().item()
                            for head in range(model.cfg.n_heads)] for layer in range(model.cfg.n_layers)])
    layer, head = divmod(int(scores.argmax()), model.cfg.n_heads)
    return layer, head
    # END SOLUCAO


# %% tags=["check"]
check("00.find_bos_head", find_bos_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É a mesma receita da investigação anterior; só muda o número que você mede em cada
# cabeça.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# A atenção na posição 0 é a **coluna** 0 do padrão. Deixe a linha 0 de fora (ela só pode
# olhar para si mesma).
#
# </details>

# %%
# A cabeça de BOS do 'lm_tied', medida com as suas funções, e um controle:
tied = load_pretrained("lm_tied")
with when_solved("a cabeça de BOS do 'lm_tied'"):
    layer, head = find_bos_head(tied, text)
    scores = torch.tensor([[head_pattern(tied, text, l, h)[1:, 0].mean().item() for h in range(tied.cfg.n_heads)]
                           for l in range(tied.cfg.n_layers)])
    print(f"cabeça de BOS do 'lm_tied': {layer}.{head}, escore {scores[layer, head]:.2f}; "
          f"mediana das outras cabeças: {scores.flatten().sort().values[:-1].median():.2f}")

# %% [markdown]
# Pronto! Siga para `notebooks/01_softmax_e_cabeca_lm.ipynb`.
