# %% [markdown]
# # 06 · Exercícios: cabeças de atenção movem informação
#
# A camada de atenção você já escreveu no notebook 04 (pontuações, máscara causal, padrão,
# `z`, `W_O` e `b_O`, conferidos contra os ganchos). Aqui você a abre em termos: decompõe a
# saída da atenção em uma parcela por cabeça, mede quanto cada cabeça move de cada origem e
# quanto a perda piora sem ela. Duas
# **investigações** usam as suas funções para descobrir, em modelos do curso, qual
# cabeça mais faz falta e qual mais traz informação para uma posição.
#
# **O que você vai praticar**
#
# - os eixos `[batch, pos, head, d_head]` e `[batch, head, query_pos, key_pos]`;
# - a saída da atenção como soma de termos por cabeça mais `b_O`;
# - medir movimento (`A · ‖v W_O‖`) e importância (ablação).
#
# **Tempo estimado:** ~50 min.
#
# **Pré-requisitos:** a lição `06_cabecas_movem_informacao` e os exercícios do notebook 04
# (a atenção escrita por você).
#
# As dicas (em níveis) ficam logo depois de cada verificação. As células com ⏳ rodam a
# **sua** função no modelo de verdade assim que o exercício estiver resolvido.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import PtGrammar, load_pretrained
from course_lib.checks import check, when_solved

model = load_pretrained("lm")
tokens = model.to_tokens("os gatos que o menino viu dormem.")
_, cache = model.run_with_cache(tokens)
print("d_head =", model.cfg.d_head, "| formato de cache['q', 0]:", tuple(cache["q", 0].shape))

# %% [markdown]
# ## Exercício 06.decompose_attn_out · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** separar a saída da atenção em um termo por cabeça mais um termo para `b_O`, que somados a reconstroem exatamente.
#
# - `z`: `[batch, pos, head, d_head]` (as médias pesadas dos valores, uma por cabeça);
# - `W_O`: `[head, d_head, d_model]`; `b_O`: `[d_model]`.
#
# Devolva `[head + 1, batch, pos, d_model]`: os `head` primeiros termos são
# `z[:, :, h] @ W_O[h]` (sem viés) e o último é `b_O` repetido em todas as posições. A soma
# no eixo 0 deve dar a saída da atenção, `Σ_h z[:, :, h] @ W_O[h] + b_O` (o `hook_attn_out`
# da sua `attention` do notebook 04).

# %% tags=["exercise"] exercise="06.decompose_attn_out" points=2
def decompose_attn_out(z: torch.Tensor, W_O: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    """Termos da saída da atenção: [head + 1, batch, pos, d_model] (cabeças, depois b_O)."""
    # BEGIN SOLUCAO
    heads = torch.einsum("bphe,hed->hbpd", z, W_O)
    bias = b_O.expand_as(heads[0])[None]
    return torch.cat([heads, bias])
    # END SOLUCAO


# %% tags=["check"]
check("06.decompose_attn_out", decompose_attn_out)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É a última conta da sua atenção do notebook 04 sem fazer a soma das cabeças: cada cabeça
# vira um termo separado, e o viés vira um termo a mais. Por que não dividir `b_O` entre as cabeças, se a soma também
# fecharia?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Em `torch.einsum`, manter a letra da cabeça na saída (e na frente) dá os termos das
# cabeças. O termo de `b_O` precisa do formato `[batch, pos, d_model]`: `expand`. Junte tudo
# no eixo 0 com `torch.cat`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `heads = torch.einsum("bphe,hed->hbpd", z, W_O)`, `bias = b_O.expand_as(heads[0])[None]` e
# `torch.cat([heads, bias])`.
#
# </details>

# %%
with when_solved("a decomposição da camada 2"):
    terms = decompose_attn_out(cache["z", 2], model.blocks[2].attn.W_O, model.blocks[2].attn.b_O)
    print("formato:", tuple(terms.shape), "| soma = attn_out da camada 2 (erro < 1e-5):",
          "✅" if torch.allclose(terms.sum(0), cache["attn_out", 2], atol=1e-5) else "❌")
    print("norma de cada termo na última posição:", [round(v, 1) for v in terms[:, 0, -1].norm(dim=-1).tolist()])

# %% [markdown]
# ## Exercício 06.info_moved · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** medir quanto uma cabeça traz de cada origem `k` para cada destino `q`: `info[b, q, k] = A[b, q, k] · ‖v[b, k] W_O‖`.
#
# - `pattern`: `[batch, query_pos, key_pos]` (uma cabeça);
# - `v`: `[batch, key_pos, d_head]` (os valores dessa cabeça, já com `b_V`);
# - `W_O`: `[d_head, d_model]` (dessa cabeça).
#
# Devolva `[batch, query_pos, key_pos]`.

# %% tags=["exercise"] exercise="06.info_moved" points=2
def info_moved(pattern: torch.Tensor, v: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """info[b, q, k] = pattern[b, q, k] · ‖v[b, k] @ W_O‖: [batch, query_pos, key_pos]."""
    # BEGIN SOLUCAO
    written = (v @ W_O).norm(dim=-1)
    return pattern * written[:, None, :]
    # END SOLUCAO


# %% tags=["check"]
check("06.info_moved", info_moved)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Duas peças: quanto a consulta olha para cada origem (o padrão) e quanto cada origem tem para
# oferecer (o tamanho do que ela escreveria no fluxo). O tamanho depende só da origem, não
# da consulta.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `v @ W_O` é o que cada origem escreveria, `[batch, key_pos, d_model]`; `.norm(dim=-1)` dá o
# tamanho. Para multiplicar cada **coluna** do padrão, o tamanho precisa de um eixo novo no
# lugar das consultas.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `written = (v @ W_O).norm(dim=-1)` e `pattern * written[:, None, :]`.
#
# </details>

# %%
with when_solved("a sua info_moved na cabeça L2H2"):
    from course_lib import movement

    mine = info_moved(cache["pattern", 2][:, 2], cache["v", 2][:, :, 2], model.blocks[2].attn.W_O[2])
    same = torch.allclose(mine, movement.info_moved(model, cache, 2, 2), atol=1e-5)
    print("igual a movement.info_moved (erro < 1e-5):", "✅" if same else "❌")

# %% [markdown]
# ## Exercício 06.find_info_mover · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir qual cabeça traz mais informação de outras posições para uma posição de destino.
#
# Rode o modelo com cache em `tokens` e, para cada cabeça, use a sua `info_moved` para
# medir quanto ela traz para a posição de destino `position` a partir das **outras**
# posições: `Σ_{k ≠ position} info[b, position, k]`, na média do lote. Devolva a cabeça
# de maior valor como uma tupla de ints `(camada, cabeça)`.
#
# Os padrões estão em `cache["pattern", l]` `[batch, head, q, k]`, os valores em
# `cache["v", l]` `[batch, pos, head, d_head]` e `W_O` em `model.blocks[l].attn.W_O`
# `[head, d_head, d_model]`. A verificação aceita qualquer cabeça a menos de 10% da maior
# e roda também em outros checkpoints e prompts.

# %% tags=["exercise"] exercise="06.find_info_mover" points=2 kind="investigation"
def find_info_mover(model, tokens: torch.Tensor, position: int) -> tuple:
    """(camada, cabeça) que mais traz informação das outras posições para `position`."""
    # BEGIN SOLUCAO
    _, cache = model.run_with_cache(tokens)
    best, best_amount = None, -1.0
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            info = info_moved(cache["pattern", layer][:, head], cache["v", layer][:, :, head],
                              model.blocks[layer].attn.W_O[head])[:, position]  # [batch, key_pos]
            others = torch.ones(info.shape[-1], dtype=torch.bool)
            others[position] = False
            amount = info[:, others].sum(-1).mean().item()
            if amount > best_amount:
                best, best_amount = (layer, head), amount
    return best
    # END SOLUCAO


# %% tags=["check"]
check("06.find_info_mover", find_info_mover)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um laço sobre todas as cabeças, uma medida para cada uma, e fica a maior. A medida é uma
# linha da matriz `info` (a da posição de destino), sem a coluna dela mesma (o que a cabeça
# lê do próprio token não foi "movido").
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Para a cabeça `(l, h)`: `cache["pattern", l][:, h]` é `[batch, q, k]`, `cache["v", l][:, :, h]`
# é `[batch, k, d_head]` e `W_O[h]` é `[d_head, d_model]`, as entradas da sua `info_moved`.
# A linha do destino é `[:, position]`; cuidado com `position` negativo.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Tire a coluna `position` com uma máscara booleana (ou some tudo e subtraia a diagonal),
# `sum(-1).mean()`, e guarde a tupla `(l, h)` de maior valor.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** em "os gatos que o menino viu", a cabeça que mais traz informação para
# a posição de "viu" (onde o verbo principal é previsto) traz do sujeito "gatos" ou do
# substantivo mais próximo, "menino"?

# %%
with when_solved("a cabeça que mais traz informação para o verbo"):
    from course_lib import movement

    prompts = ["os gatos que o menino viu", "a menina que os gatos amam", "o rei que as rainhas veem",
               "as alunas que o professor procurou"]
    agree = torch.stack([model.to_tokens(p)[0] for p in prompts])  # [4, 7]: 2 = sujeito, 5 = substantivo próximo
    layer, head = find_info_mover(model, agree, -1)
    _, agree_cache = model.run_with_cache(agree)
    info = movement.info_moved(model, agree_cache, layer, head)[:, -1].mean(0)
    print(f"cabeça L{layer}H{head}: traz {info[2]:.2f} do sujeito e {info[5]:.2f} do substantivo próximo")

# %% [markdown]
# ## Exercício 06.zero_ablation_loss_delta · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** medir quanto a perda do modelo aumenta quando uma cabeça é desligada (seu `z` zerado).
#
# Calcule a perda média do próximo token com o modelo normal
# (`model(tokens, return_type="loss")`) e com a cabeça `head` da camada `layer`
# desligada: um gancho em `blocks.{layer}.attn.hook_z` (formato
# `[batch, pos, head, d_head]`) que zera a fatia dessa cabeça. Devolva
# `perda_sem_a_cabeça − perda_normal` como `float`. É ablação **por zero**: o `z` da
# cabeça vira 0 em todas as posições (não a média dele).

# %% tags=["exercise"] exercise="06.zero_ablation_loss_delta" points=2
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
check("06.zero_ablation_loss_delta", zero_ablation_loss_delta)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Duas perdas no mesmo texto: a do modelo normal e a do modelo com a cabeça desligada. O
# gancho é o que desliga: ele recebe o `z` de todas as cabeças e devolve outro, igual exceto
# na fatia da cabeça pedida.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `hook_z` tem formato `[batch, pos, head, d_head]`. Um gancho é `(ativação, hook) ->
# ativação nova`; copie antes de mudar (`clone`). `model.run_with_hooks(tokens,
# return_type="loss", fwd_hooks=[(nome, gancho)])` devolve a perda.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# No gancho: `z = z.clone(); z[:, :, head] = 0.0; return z`, com o nome
# `f"blocks.{layer}.attn.hook_z"`. Devolva `(perda_com_gancho - perda_normal).item()`.
#
# </details>

# %%
with when_solved("a sua ablação comparada com a da biblioteca"):
    from course_lib import ablation

    data = PtGrammar().make_dataset(16, model.cfg.n_ctx, seed=7)
    table = ablation.head_ablation_table(model, data)
    mine = zero_ablation_loss_delta(model, data, 0, 2)
    print(f"L0H2: a sua função {mine:.3f}, a da biblioteca {table[0, 2]:.3f} (iguais a 1e-4:",
          "✅)" if abs(mine - table[0, 2].item()) < 1e-4 else "❌)")

# %% [markdown]
# ## Exercício 06.find_most_harmful_head · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir qual cabeça, desligada sozinha, mais aumenta a perda do modelo num texto.
#
# Com a sua `zero_ablation_loss_delta`, meça o aumento da perda ao desligar cada cabeça do
# modelo, uma de cada vez, em `tokens`, e devolva a cabeça de maior aumento como uma tupla
# de ints `(camada, cabeça)`. A verificação aceita qualquer cabeça a menos de 10% do maior
# aumento e roda em outros checkpoints (o modelo de indução, o `lm_untied`).

# %% tags=["exercise"] exercise="06.find_most_harmful_head" points=2 kind="investigation"
def find_most_harmful_head(model, tokens: torch.Tensor) -> tuple:
    """(camada, cabeça) cuja ablação por zero mais aumenta a perda em `tokens`."""
    # BEGIN SOLUCAO
    table = torch.tensor([[zero_ablation_loss_delta(model, tokens, layer, head) for head in range(model.cfg.n_heads)]
                          for layer in range(model.cfg.n_layers)])
    layer, head = divmod(int(table.argmax()), model.cfg.n_heads)
    return (layer, head)
    # END SOLUCAO


# %% tags=["check"]
check("06.find_most_harmful_head", find_most_harmful_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Não há atalho: cada cabeça é um experimento separado. Você já tem a função que faz um
# experimento; falta fazer todos e escolher.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# As cabeças são os pares `(l, h)` com `l` em `range(model.cfg.n_layers)` e `h` em
# `range(model.cfg.n_heads)`. Guarde os valores numa tabela e ache a posição do maior.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Monte a tabela `[n_layers, n_heads]` dos aumentos; `divmod(int(tabela.argmax()), n_heads)`
# dá `(camada, cabeça)`. Devolva uma tupla de dois ints.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** no modelo de indução, em sequências repetidas, a cabeça que mais faz falta
# é uma da camada 0 (a de token anterior) ou da camada 1 (as de indução)?

# %%
with when_solved("a cabeça que mais faz falta em dois modelos"):
    from course_lib.induction import make_repeated_batch

    induction = load_pretrained("induction")
    text = PtGrammar().make_dataset(16, model.cfg.n_ctx, seed=7)
    for name, m, toks in (("lm, texto da gramática", model, text),
                          ("induction, sequências repetidas", induction, make_repeated_batch(induction, batch=8, seq_len=20))):
        layer, head = find_most_harmful_head(m, toks)
        print(f"{name}: L{layer}H{head} (+{zero_ablation_loss_delta(m, toks, layer, head):.2f} nats/token)")

# %% [markdown]
# ## Fechando
#
# Com essas funções você tem uma cabeça de atenção inteira, a decomposição exata
# da saída da atenção e duas medidas diferentes do papel de uma cabeça: quanto ela
# **move** (`info`) e quanto ela **faz falta** (ablação). A lição mostrou que as duas
# nem sempre concordam — vale sempre olhar as duas.
