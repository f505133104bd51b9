# %% [markdown]
# # 07 · Exercícios: tipos de cabeças e circuitos QK/OV
#
# Você vai reescrever, com as próprias mãos, as ferramentas da lição: os escores de
# token anterior e de primeiro token, o rótulo de uma cabeça e os circuitos
# $W_{QK}$, $W_{OV}$ e QK posicional. Duas **investigações** usam os seus escores para
# descobrir, em cada modelo do curso, a cabeça de token anterior e a cabeça que mais
# descansa no BOS.
#
# **O que você vai praticar**
#
# - ler um padrão de atenção `[batch, head, query_pos, key_pos]` com `torch.diagonal` e fatias;
# - lembrar por que a consulta 0 fica fora dos escores;
# - montar $W_{QK} = W_Q W_K^\top$ e $W_{OV} = W_V W_O$ com os formatos certos;
# - montar o circuito QK posicional $W_{pos} W_Q W_K^\top W_{pos}^\top$ de uma cabeça de verdade.
#
# **Tempo estimado:** ~55 min
#
# **Pré-requisitos:** a lição `notebooks/07_tipos_de_cabecas.ipynb`.
#
# Cada exercício tem uma célula para você completar (troque o `raise NotImplementedError`
# pelo seu código) e, logo depois, uma célula de verificação que roda sua função em
# vários casos e diz o que deu errado. As dicas (em níveis) ficam logo depois da
# verificação; as células com ⏳ rodam a **sua** função no modelo de verdade.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import PtGrammar, circuits, detectors, load_metadata, load_pretrained, plots
from course_lib.checks import check, when_solved
from course_lib.induction import make_repeated_batch

model = load_pretrained("induction")
tokens = make_repeated_batch(model, batch=8, seq_len=20)
_, cache = model.run_with_cache(tokens)
patterns_0 = cache["pattern", 0]  # padrões da camada 0
print("padrões da camada 0:", tuple(patterns_0.shape), "= [batch, head, query_pos, key_pos]")

# %% [markdown]
# ## Exercício 07.previous_token_score · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular o escore de token anterior de cada cabeça a partir dos padrões de atenção.
#
# Para cada cabeça, é a média de `pattern[b, h, q, q-1]` sobre o lote e sobre as
# consultas `q = 1, ..., pos-1`. A consulta 0 não tem token anterior (e é obrigada a
# olhar para si mesma), então fica de fora. Não use `detectors.previous_token_scores`
# (é a que você vai reproduzir).

# %% tags=["exercise"] exercise="07.previous_token_score" points=1
def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Escore de token anterior de cada cabeça.

    pattern: [batch, n_heads, pos, pos], padrões de atenção (linha = consulta, coluna = chave).
    Devolve [n_heads]: média de pattern[b, h, q, q-1] sobre b e sobre q = 1..pos-1.
    """
    # BEGIN SOLUCAO
    diag = torch.diagonal(pattern, offset=-1, dim1=-2, dim2=-1)  # [batch, heads, pos-1]
    return diag.mean(dim=(0, -1))
    # END SOLUCAO


# %% tags=["check"]
check("07.previous_token_score", previous_token_score)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Para cada consulta `q ≥ 1` há exatamente uma chave "anterior", a `q-1`. Numa matriz
# `[q, k]`, onde ficam as entradas `(q, q-1)`? E quantas consultas entram na média?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.diagonal(pattern, offset=..., dim1=-2, dim2=-1)` pega uma diagonal das duas últimas
# dimensões e a põe no fim. Offset negativo é **abaixo** da principal; essa diagonal começa
# em `(q=1, k=0)` e por isso já deixa a consulta 0 de fora.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `torch.diagonal(pattern, offset=-1, dim1=-2, dim2=-1)` tem formato `[batch, head, pos-1]`;
# tire a média nos eixos do lote e da diagonal (`dim=(0, -1)`). Cuidado com
# `(q-1).clamp(min=0)`: ele põe a consulta 0 de volta, com escore 1 de graça.
#
# </details>

# %%
with when_solved("os seus escores de token anterior no modelo de indução"):
    mine = previous_token_score(patterns_0)
    print("sua função, camada 0:  ", [round(v, 3) for v in mine.tolist()])
    print("detectors, camada 0:   ", [round(v, 3) for v in detectors.previous_token_scores(cache)[0].tolist()])

# %% [markdown]
# ## Exercício 07.first_token_score · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular o escore de primeiro token (atenção no BOS) de cada cabeça.
#
# Para cada cabeça, é a média de `pattern[b, h, q, 0]` sobre o lote e sobre as consultas
# `q = 1, ..., pos-1`. Não use `detectors.first_token_scores`.

# %% tags=["exercise"] exercise="07.first_token_score" points=1
def first_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Escore de primeiro token de cada cabeça.

    pattern: [batch, n_heads, pos, pos].
    Devolve [n_heads]: média de pattern[b, h, q, 0] sobre b e sobre q = 1..pos-1.
    """
    # BEGIN SOLUCAO
    return pattern[..., 1:, 0].mean(dim=(0, -1))
    # END SOLUCAO


# %% tags=["check"]
check("07.first_token_score", first_token_score)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A atenção que cada consulta dá ao BOS é uma **coluna** da matriz, não uma linha. E o que
# vale `pattern[b, h, 0, 0]` em qualquer cabeça? Deve entrar na média?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Fatiar com `...` mantém os eixos da frente: `pattern[..., linhas, coluna]`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `pattern[..., 1:, 0]` tem formato `[batch, head, pos-1]`; média em `dim=(0, -1)`.
#
# </details>

# %%
with when_solved("os seus escores de primeiro token no modelo de indução"):
    print("sua função, camada 1:", [round(v, 3) for v in first_token_score(cache["pattern", 1]).tolist()])
    print("detectors, camada 1: ", [round(v, 3) for v in detectors.first_token_scores(cache)[1].tolist()])

# %% [markdown]
# ## Exercício 07.find_previous_token_head · Investigação · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** descobrir qual cabeça de um modelo é a de token anterior, com o seu escore.
#
# Rode o modelo com cache em `tokens`, calcule com a sua `previous_token_score` o escore
# de todas as cabeças de todas as camadas e devolva a de maior escore como uma tupla de
# ints `(camada, cabeça)`. A verificação aceita qualquer cabeça a menos de 0,03 do maior
# escore, em vários modelos: no `lm` (texto da gramática), no `induction` (sequências
# repetidas) e nos outros checkpoints.

# %% tags=["exercise"] exercise="07.find_previous_token_head" points=2 kind="investigation"
def find_previous_token_head(model, tokens: torch.Tensor) -> tuple:
    """(camada, cabeça) de maior escore de token anterior em `tokens`."""
    # BEGIN SOLUCAO
    patterns = model.run_with_cache(tokens)[1]
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    table = torch.zeros(n_layers, n_heads)
    for layer in range(n_layers):
        table[layer] = previous_token_score(patterns["pattern", layer])
    best = int(table.argmax())
    return (best // n_heads, best % n_heads)
    # END SOLUCAO


# %% tags=["check"]
check("07.find_previous_token_head", find_previous_token_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um escore por cabeça, `[n_layers, n_heads]`, e a posição do maior. O seu
# `previous_token_score` já faz uma camada inteira de uma vez.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `cache["pattern", l]` é `[batch, head, q, k]`, a entrada da sua função. Guarde cada camada
# numa linha de uma tabela `[n_layers, n_heads]`; `argmax` de um tensor 2-D devolve o
# índice achatado.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Com o índice achatado `i = int(tabela.argmax())`, a camada é `i // n_heads` e a cabeça
# `i % n_heads`; devolva uma tupla de dois ints.
#
# </details>

# %% [markdown]
# ## Exercício 07.find_bos_head · Investigação · Dificuldade ★★☆ · ~5 min
#
# **Objetivo:** descobrir qual cabeça de um modelo mais descansa no BOS (a de maior escore de primeiro token).
#
# Igual ao anterior, com a sua `first_token_score`. Devolva `(camada, cabeça)`; a
# verificação aceita qualquer cabeça a menos de 0,03 do maior escore.

# %% tags=["exercise"] exercise="07.find_bos_head" points=1 kind="investigation"
def find_bos_head(model, tokens: torch.Tensor) -> tuple:
    """(camada, cabeça) de maior escore de primeiro token em `tokens`."""
    # BEGIN SOLUCAO
    _, cache = model.run_with_cache(tokens)
    best, best_score = None, -1.0
    for layer in range(model.cfg.n_layers):
        for head, score in enumerate(first_token_score(cache["pattern", layer]).tolist()):
            if score > best_score:
                best, best_score = (layer, head), score
    return best
    # END SOLUCAO


# %% tags=["check"]
check("07.find_bos_head", find_bos_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É a mesma busca do exercício anterior, com outro escore.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# A sua `first_token_score(cache["pattern", l])` dá os escores `[n_heads]` da camada `l`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** o `lm` tem uma cabeça de token anterior tão nítida quanto a 0.0 do
# modelo de indução? Em que camada ela está? E a cabeça que mais descansa no BOS?

# %%
with when_solved("as cabeças de token anterior e de BOS de cada modelo"):
    text = PtGrammar().make_dataset(16, 32, seed=5)
    for name, toks in (("induction", tokens), ("lm", text), ("lm_tied", text), ("lm_untied", text)):
        m = load_pretrained(name)
        _, c = m.run_with_cache(toks)
        (pl, ph), (bl, bh) = find_previous_token_head(m, toks), find_bos_head(m, toks)
        print(f"{name:9s}: token anterior {pl}.{ph} (escore {previous_token_score(c['pattern', pl])[ph]:.2f}), "
              f"BOS {bl}.{bh} (escore {first_token_score(c['pattern', bl])[bh]:.2f})")

# %% [markdown]
# ## Exercício 07.classify_head · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** dar um rótulo a uma cabeça a partir dos seus três escores.
#
# Regras: o rótulo é o tipo de **maior** escore, desde que esse escore seja pelo menos o
# limiar (`>= threshold`); se nenhum chegar lá, o rótulo é `"sem tipo claro"`. Use
# exatamente estes textos: `"token anterior"`, `"token atual"`, `"primeiro token (BOS)"`
# e `"sem tipo claro"` (os mesmos de `detectors.label_heads`). Os casos de teste não têm
# empates.

# %% tags=["exercise"] exercise="07.classify_head" points=1
def classify_head(prev: float, current: float, first: float, threshold: float = 0.5) -> str:
    """Rótulo da cabeça a partir dos escores (números entre 0 e 1).

    prev, current, first: escores de token anterior, token atual e primeiro token.
    Devolve "token anterior", "token atual", "primeiro token (BOS)" ou "sem tipo claro".
    """
    # BEGIN SOLUCAO
    labels = ["token anterior", "token atual", "primeiro token (BOS)"]
    scores = [prev, current, first]
    best = max(range(3), key=lambda i: scores[i])
    return labels[best] if scores[best] >= threshold else "sem tipo claro"
    # END SOLUCAO


# %% tags=["check"]
check("07.classify_head", classify_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Duas decisões em sequência: qual tipo tem o maior escore, e se esse escore chega ao limiar.
# "Chega" inclui o empate com o limiar.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Guarde os escores e os rótulos em duas listas na mesma ordem; `max(range(3), key=...)` dá o
# índice do maior escore.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** sem um escore de indução, que rótulo o seu classificador dará às cabeças
# da camada 1 do modelo de indução (que na lição `label_heads` chamou de "indução")?

# %%
with when_solved("os rótulos do seu classificador no modelo de indução"):
    prev_s = detectors.previous_token_scores(cache)
    cur_s = detectors.current_token_scores(cache)
    first_s = detectors.first_token_scores(cache)
    for l in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            label = classify_head(prev_s[l, h].item(), cur_s[l, h].item(), first_s[l, h].item())
            print(f"cabeça {l}.{h}: {label}")

# %% [markdown]
# O seu classificador conhece apenas os três tipos; por isso cabeças da camada 1 que
# descansam no BOS durante a 1ª cópia podem sair como "primeiro token" (o escore de
# indução vem no notebook 08).

# %% [markdown]
# ## Exercício 07.W_QK · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** montar o circuito QK de uma cabeça, $W_{QK} = W_Q W_K^\top$.
#
# Com vetores-linha, o escore (sem vieses e sem a escala $1/\sqrt{d_{head}}$) entre um
# resíduo na consulta $x_q$ e um na chave $x_k$ é $x_q W_Q (x_k W_K)^\top = x_q W_{QK} x_k^\top$.

# %% tags=["exercise"] exercise="07.W_QK" points=1
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
check("07.W_QK", W_QK)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Escreva a pontuação sem vieses, $x_q W_Q (x_k W_K)^\top$, e abra a transposta do produto.
# O que sobra entre $x_q$ e $x_k^\top$ é a resposta.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Confira os formatos: a resposta é `[d_model, d_model]`, as linhas do lado da consulta.
# $(AB)^\top = B^\top A^\top$.
#
# </details>

# %%
with when_solved("o seu W_QK da cabeça 0.0"):
    mine = W_QK(model.W_Q[0, 0].detach(), model.W_K[0, 0].detach())
    print("igual a circuits.W_QK(model, 0, 0).AB:", torch.allclose(mine, circuits.W_QK(model, 0, 0).AB, atol=1e-5))
    print("posto:", torch.linalg.matrix_rank(mine).item(), "| d_head:", model.cfg.d_head)

# %% [markdown]
# ## Exercício 07.W_OV · Dificuldade ★☆☆ · ~3 min
#
# **Objetivo:** montar o circuito OV de uma cabeça, $W_{OV} = W_V W_O$.
#
# Se a cabeça põe toda a atenção numa chave com resíduo $x_k$, ela escreve
# $x_k W_V W_O$ no resíduo da consulta (sem vieses).

# %% tags=["exercise"] exercise="07.W_OV" points=1
def W_OV(W_V: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """Circuito OV de uma cabeça.

    W_V: [d_model, d_head]; W_O: [d_head, d_model].
    Devolve [d_model, d_model] = W_V W_O (linha: resíduo da fonte; coluna: o que é escrito).
    """
    # BEGIN SOLUCAO
    return W_V @ W_O
    # END SOLUCAO


# %% tags=["check"]
check("07.W_OV", W_OV)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A cabeça lê o resíduo da origem com $W_V$ e escreve no destino com $W_O$: a ordem do produto
# segue a ordem em que o vetor-linha passa por eles.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# $W_V$ é `[d_model, d_head]` e $W_O$ é `[d_head, d_model]`: só uma ordem dá
# `[d_model, d_model]` com as linhas do lado da origem.
#
# </details>

# %%
with when_solved("o seu W_OV da cabeça 0.0"):
    mine = W_OV(model.W_V[0, 0].detach(), model.W_O[0, 0].detach())
    print("igual a circuits.W_OV(model, 0, 0).AB:", torch.allclose(mine, circuits.W_OV(model, 0, 0).AB, atol=1e-5))

# %% [markdown]
# ## Exercício 07.positional_QK · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar o circuito QK posicional $W_{pos} W_Q W_K^\top W_{pos}^\top$ da cabeça `layer.head` de um modelo.
#
# A entrada `[i, j]` do resultado diz o quanto a posição `i` (consulta) quer olhar para a
# posição `j` (chave), levando em conta só o embedding de posição: sem tokens, sem
# vieses $b_Q, b_K$ e sem a escala $1/\sqrt{d_{head}}$. São pontuações (antes do softmax):
# não aplique máscara nem softmax.

# %% tags=["exercise"] exercise="07.positional_QK" points=2
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
check("07.positional_QK", positional_QK)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Troque, na pontuação sem vieses, o resíduo $x$ pela parte de posição dele: $W_{pos}$ do lado
# da consulta e do lado da chave. O resultado tem uma linha por posição de consulta.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `model.W_pos` é `[n_ctx, d_model]`; `model.W_Q` e `model.W_K` são
# `[n_layers, n_heads, d_model, d_head]`. Use `.detach()` para trabalhar com tensores comuns.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `W_pos @ W_Q[layer, head] @ W_K[layer, head].T @ W_pos.T`, sem dividir, sem máscara e sem
# softmax (o "padrão posicional" do ARENA aplica os dois; aqui são as pontuações cruas).
#
# </details>

# %%
with when_solved("o seu circuito QK posicional da cabeça de token anterior"):
    prev_head = load_metadata("induction")["metrics"]["prev_token_head"]
    layer, head = (int(x) for x in prev_head.split("."))
    circuit = positional_QK(model, layer, head)
    n_ctx = model.cfg.n_ctx
    causal = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))
    best_key = circuit.masked_fill(~causal, float("-inf")).argmax(-1)
    print(f"cabeça {prev_head}: máximo em k = q-1 em "
          f"{(best_key[1:] == torch.arange(n_ctx - 1)).float().mean().item():.0%} das linhas")
    labels = [str(i) for i in range(16)]
    display(plots.plot_circuit(circuit.masked_fill(~causal, float("nan"))[:16, :16], labels, labels,
                               title=f"Seu circuito QK posicional da cabeça {prev_head}",
                               ylabel="posição da consulta", xlabel="posição da chave"))

# %% [markdown]
# ## Para ir além (sem verificação)
#
# - Escreva `current_token_score` (a diagonal principal, sem a consulta 0) e confira com
#   `detectors.current_token_scores`.
# - No circuito posicional de cada cabeça da camada 0, conte em quantas linhas o máximo
#   está em `k = q-2`. Qual cabeça é a de "dois tokens atrás"?
# - Troque `W_pos` por `W_E` no exercício 07.positional_QK e compare a amplitude das
#   linhas: quem decide mais, a posição ou o token?

# %%
print("fim dos exercícios do notebook 07")
