# %% [markdown]
# # 09 · Exercícios: circuitos de indução
#
# A lição mostrou **o que** cada medida diz sobre o circuito de indução do modelo `induction`;
# aqui você escreve **como** medir, e as suas funções refazem as descobertas no modelo de verdade.
#
# **O que você vai praticar**
#
# - o escore de composição, a matriz que **lê** a saída da cabeça anterior em cada porta
#   (Q, K, V) e a linha de base do acaso;
# - o circuito OV completo de uma cabeça, a acurácia top-1 da sua diagonal e o circuito QK
#   composto através da cabeça de token anterior (composição K);
# - a atribuição direta de cada cabeça ao logit de um token;
# - a ablação de uma cabeça com um gancho em `hook_z`, medindo a perda na parte repetida;
# - três investigações: com quem a cabeça de indução compõe, quais cabeças copiam, e qual
#   cabeça faz mais falta à 2ª cópia.
#
# **Tempo estimado:** ~80 min.
#
# **Pré-requisitos:** a lição 09 (circuitos de indução).
#
# Cada exercício tem uma célula de verificação logo depois: rode-a para receber um retorno.
# Só as células de verificação falham enquanto o exercício não estiver resolvido.

# %%
from course_lib.notebook import setup

setup()

import torch
import torch.nn.functional as F

from course_lib import attribution, circuits, load_metadata, load_pretrained
from course_lib.checks import check, when_solved
from course_lib.data import repeated_tokens

model = load_pretrained("induction")
cfg = model.cfg
metrics = load_metadata("induction")["metrics"]
PREV = tuple(int(i) for i in metrics["prev_token_head"].split("."))  # cabeça de token anterior
IND = tuple(int(i) for i in metrics["induction_head"].split("."))  # cabeça de indução
print(f"d_vocab={cfg.d_vocab}, d_model={cfg.d_model}, d_head={cfg.d_head}, "
      f"camadas={cfg.n_layers}, cabeças={cfg.n_heads}")

# %% [markdown]
# ## Exercício 09.composition_score · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular o escore de composição
# $\lVert W_A W_B \rVert_F \,/\, (\lVert W_A \rVert_F \, \lVert W_B \rVert_F)$ entre a matriz
# $W_A$ que uma cabeça anterior usa para escrever e a matriz $W_B$ que a posterior usa para ler.
#
# $W_A$ fica à esquerda (no resíduo em vetores-linha, $x\,W_A$ é o que foi escrito, e
# $(x\,W_A)\,W_B$ é o que foi lido). Devolva um `float`.

# %% tags=["exercise"] exercise="09.composition_score" points=1
def composition_score(W_A: torch.Tensor, W_B: torch.Tensor) -> float:
    """Escore de composição entre W_A [d, k] (escreve) e W_B [k, e] (lê).

    Devolve ‖W_A W_B‖_F / (‖W_A‖_F · ‖W_B‖_F) como float.
    """
    # BEGIN SOLUCAO
    return ((W_A @ W_B).norm() / (W_A.norm() * W_B.norm())).item()
    # END SOLUCAO


# %% tags=["check"]
check("09.composition_score", composition_score)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Sem a divisão pelas normas, o escore mudaria só de multiplicar os pesos por 10. O que você
# quer medir é a **direção**: quanto do que $W_A$ escreve cai no que $W_B$ lê.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `M.norm()` de um tensor 2-D já é a norma de Frobenius (raiz da soma dos quadrados de todas
# as entradas). `.item()` transforma um tensor de 1 elemento em `float`.
#
# </details>

# %% [markdown]
# ## Exercício 09.composition_reader · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar a matriz $[d_\text{model}, d_\text{model}]$ pela qual uma cabeça
# posterior **lê** a saída de uma anterior, para cada porta: `kind` = `"Q"` (a saída anterior
# entra na consulta), `"K"` (entra na chave) ou `"V"` (entra no valor).
#
# A pontuação de atenção (antes de $1/\sqrt{d_\text{head}}$) é $x_q\,W_Q W_K^\top\,x_k^\top$,
# e o que a cabeça escreve é $x_{\text{origem}}\,W_V W_O$. Em cada caso, a saída anterior
# $x\,W_A$ tem de ficar **à esquerda** da matriz que você devolver. É a escolha conceitual do
# tema: a verificação usa cabeças em que as três respostas são diferentes.
#
# ✍️ **Preveja:** na composição K, a matriz que lê é $W_Q W_K^\top$ ou a transposta dela? Por quê?

# %% tags=["exercise"] exercise="09.composition_reader" points=1
def composition_reader(W_Q: torch.Tensor, W_K: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor,
                       kind: str) -> torch.Tensor:
    """Matriz [d_model, d_model] pela qual a cabeça (W_Q, W_K, W_V [d_model, d_head]; W_O [d_head, d_model])
    lê a saída de uma cabeça anterior pela porta `kind` ("Q", "K" ou "V")."""
    # BEGIN SOLUCAO
    W_QK = W_Q @ W_K.T
    if kind == "Q":
        return W_QK
    if kind == "K":
        return W_QK.T
    if kind == "V":
        return W_V @ W_O
    raise ValueError(f"`kind`: esperado 'Q', 'K' ou 'V'; veio {kind!r}")
    # END SOLUCAO


# %% tags=["check"]
check("09.composition_reader", composition_reader)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Escreva a pontuação $x_q W_{QK} x_k^\top$ como um número e transponha-a (um número é igual
# ao seu transposto). Em qual das duas formas $x_k$ aparece à esquerda?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# $x_q W_{QK} x_k^\top = x_k\, W_{QK}^\top\, x_q^\top$. Pela consulta lê $W_{QK}$; pela chave,
# $W_{QK}^\top$; pelo valor, $W_{OV} = W_V W_O$ (sem transpor).
#
# </details>

# %% [markdown]
# Com as suas duas funções, as três portas entre a cabeça de token anterior e a cabeça de
# indução, comparadas com o `course_lib`:

# %%
def head_reader(layer: int, head: int, kind: str) -> torch.Tensor:
    """A sua composition_reader aplicada aos pesos de uma cabeça do modelo."""
    weights = (model.W_Q, model.W_K, model.W_V, model.W_O)
    return composition_reader(*(w[layer, head].detach() for w in weights), kind)


def head_writer(layer: int, head: int) -> torch.Tensor:
    """W_OV = W_V W_O de uma cabeça: o que ela escreve. [d_model, d_model]"""
    return model.W_V[layer, head].detach() @ model.W_O[layer, head].detach()


with when_solved("as três composições entre PREV e IND"):
    for kind in "QKV":
        mine = composition_score(head_writer(*PREV), head_reader(*IND, kind))
        lib = circuits.head_composition_score(model, *PREV, *IND, kind).item()
        print(f"composição {kind}: sua {mine:.3f} | course_lib {lib:.3f}")
        assert abs(mine - lib) < 1e-3

# %% [markdown]
# ## Exercício 09.random_composition_baseline · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** estimar quanto o escore de composição daria **por acaso**, com as mesmas formas
# de uma cabeça. Sorteie `n_samples` pares $W_A = A_1 A_2$ e $W_B = B_1 B_2$, com
# $A_1, B_1 \in \mathbb{R}^{d_\text{model} \times d_\text{head}}$ e
# $A_2, B_2 \in \mathbb{R}^{d_\text{head} \times d_\text{model}}$ gaussianos (use
# `torch.Generator().manual_seed(seed)`), calcule o escore de cada par com a sua
# `composition_score` e devolva `(média, desvio padrão)` como dois `float`.
#
# O escore não depende da escala, então sortear com a mesma norma dos pesos reais não muda
# nada; o que importa é a **forma** (e o posto $d_\text{head}$). A verificação aceita qualquer
# sorteio: a tolerância é de 5 erros-padrão para `n_samples` amostras.

# %% tags=["exercise"] exercise="09.random_composition_baseline" points=2
def random_composition_baseline(d_model: int, d_head: int, n_samples: int, seed: int) -> tuple[float, float]:
    """(média, desvio padrão) do escore de composição entre pares sorteados de posto d_head."""
    # BEGIN SOLUCAO
    gen = torch.Generator().manual_seed(seed)

    def draw():
        return torch.randn(d_model, d_head, generator=gen) @ torch.randn(d_head, d_model, generator=gen)

    scores = torch.tensor([composition_score(draw(), draw()) for _ in range(n_samples)])
    return float(scores.mean()), float(scores.std())
    # END SOLUCAO


# %% tags=["check"]
check("09.random_composition_baseline", random_composition_baseline)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um $W_{OV}$ de verdade é o produto de duas matrizes finas, por isso tem posto $d_\text{head}$.
# Uma matriz cheia sorteada teria a mesma média, mas um desvio bem menor: a régua ficaria errada.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.randn(d_model, d_head, generator=gen) @ torch.randn(d_head, d_model, generator=gen)`
# sorteia uma matriz; faça isso duas vezes por par, chame a sua `composition_score` e junte os
# escores num tensor para usar `.mean()` e `.std()`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** a média do acaso fica perto de $1/\sqrt{d_\text{model}}$ ou de
# $1/\sqrt{d_\text{head}}$?

# %%
with when_solved("a linha de base do acaso no modelo"):
    base_mean, base_std = random_composition_baseline(cfg.d_model, cfg.d_head, 500, 0)
    print(f"acaso (formas do modelo): média {base_mean:.3f}, desvio {base_std:.3f} | "
          f"1/√d_model = {cfg.d_model ** -0.5:.3f}, 1/√d_head = {cfg.d_head ** -0.5:.3f}")
    assert abs(base_mean - cfg.d_model ** -0.5) < 0.005

# %% [markdown]
# ## Exercício 09.find_composition_partner · investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir com qual cabeça da camada 0 a cabeça `layer.head` compõe pela porta
# `kind`. Devolva o índice (int) da cabeça da camada 0 de **maior** escore de composição, **se**
# ele passar do acaso (média + 3 desvios da sua `random_composition_baseline`, com 500 amostras);
# se nenhuma passar, devolva `None`. Use as suas funções.
#
# A verificação aceita qualquer resposta correta (empates a até 0,01 do maior escore valem) e
# o corretor usa outras cabeças de indução e outras portas.

# %% tags=["exercise"] exercise="09.find_composition_partner" points=2 kind="investigation"
def find_composition_partner(model, layer: int, head: int, kind: str) -> int | None:
    """Índice da cabeça da camada 0 com que layer.head mais compõe pela porta `kind`, ou None."""
    # BEGIN SOLUCAO
    reader = composition_reader(*(w[layer, head].detach() for w in (model.W_Q, model.W_K, model.W_V, model.W_O)), kind)
    scores = [composition_score(model.W_V[0, h].detach() @ model.W_O[0, h].detach(), reader)
              for h in range(model.cfg.n_heads)]
    mean, std = random_composition_baseline(model.cfg.d_model, model.cfg.d_head, 500, 0)
    best = max(range(len(scores)), key=lambda h: scores[h])
    return best if scores[best] > mean + 3 * std else None
    # END SOLUCAO


# %% tags=["check"]
check("09.find_composition_partner", find_composition_partner)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# "A maior" não basta: quatro números pequenos sempre têm um maior. A pergunta é se ele é
# maior do que o acaso daria com as mesmas formas.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Quem escreve é o $W_{OV}$ de cada cabeça `0.h`; quem lê é `composition_reader(...)` da cabeça
# `layer.head`. Compare o maior escore com `média + 3 * desvio` da sua linha de base.
#
# </details>

# %% [markdown]
# A sua função nas quatro cabeças da camada 1, pelas três portas:

# %%
with when_solved("os parceiros de composição de cada cabeça da camada 1"):
    for kind in "QKV":
        found = [find_composition_partner(model, 1, h, kind) for h in range(cfg.n_heads)]
        print(f"composição {kind}: " + " | ".join(f"L1H{h} ← {'nenhuma' if f is None else f'L0H{f}'}"
                                                   for h, f in enumerate(found)))
    assert find_composition_partner(model, *IND, "K") == PREV[1]

# %% [markdown]
# ## Exercício 09.full_ov_circuit · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** montar o circuito OV completo $W_E\,W_V\,W_O\,W_U$ de uma cabeça, uma matriz
# `[d_vocab, d_vocab]` com linha = token da posição de origem e coluna = logit de saída.

# %% tags=["exercise"] exercise="09.full_ov_circuit" points=1
def full_ov_circuit(W_E: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    """Circuito OV completo de UMA cabeça.

    W_E [d_vocab, d_model], W_V [d_model, d_head], W_O [d_head, d_model], W_U [d_model, d_vocab].
    Devolve [d_vocab, d_vocab]: linha = token da origem, coluna = token de saída.
    """
    # BEGIN SOLUCAO
    return W_E @ W_V @ W_O @ W_U
    # END SOLUCAO


# %% tags=["check"]
check("09.full_ov_circuit", full_ov_circuit)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Siga o caminho de um token: one-hot → embedding → valor → saída da cabeça → logits. No
# resíduo em vetores-linha, cada passo multiplica pela **direita**.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Confira as formas a cada passo: `[d_vocab, d_model]`, `[d_model, d_head]`, `[d_head, d_model]`,
# `[d_model, d_vocab]`. Nenhuma delas precisa de transposição.
#
# </details>

# %% [markdown]
# ## Exercício 09.diagonal_top1_accuracy · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** medir a fração das linhas de uma matriz quadrada cujo maior valor está na
# diagonal (para o OV completo: "ler o token $s$ faz de $s$ o logit mais aumentado").
# Devolva um `float` entre 0 e 1.

# %% tags=["exercise"] exercise="09.diagonal_top1_accuracy" points=1
def diagonal_top1_accuracy(M: torch.Tensor) -> float:
    """Fração das linhas i de M [n, n] em que argmax(M[i]) == i, como float."""
    # BEGIN SOLUCAO
    n = M.shape[0]
    hits = M.argmax(dim=-1) == torch.arange(n, device=M.device)
    return hits.sum().item() / n
    # END SOLUCAO


# %% tags=["check"]
check("09.diagonal_top1_accuracy", diagonal_top1_accuracy)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Para cada linha, pergunte "em qual coluna está o máximo?" e compare com o número da linha.
# É a linha (o token da origem) que fixa o que a cabeça lê.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `M.argmax(dim=-1)` dá a coluna do máximo de cada linha; compare com `torch.arange(n)` e tire a
# média dos booleanos convertidos para float.
#
# </details>

# %% [markdown]
# ## Exercício 09.find_copying_heads · investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir quais cabeças do modelo **copiam**: devolva a lista de pares
# `(camada, cabeça)` cuja acurácia top-1 da diagonal do OV completo passa de `threshold`.
# Use as suas `full_ov_circuit` e `diagonal_top1_accuracy` (a da biblioteca está proibida aqui).
#
# O corretor também roda a sua função nos modelos de linguagem `lm` e `lm_untied`.
#
# ✍️ **Preveja:** quantas cabeças do modelo `induction` copiam? Alguma da camada 0?

# %% tags=["exercise"] exercise="09.find_copying_heads" points=2 kind="investigation"
def find_copying_heads(model, threshold: float) -> list[tuple[int, int]]:
    """[(camada, cabeça), ...] cujo OV completo tem acurácia top-1 da diagonal > threshold."""
    # BEGIN SOLUCAO
    W_E, W_U = model.W_E.detach(), model.W_U.detach()
    found = []
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            ov = full_ov_circuit(W_E, model.W_V[layer, head].detach(), model.W_O[layer, head].detach(), W_U)
            if diagonal_top1_accuracy(ov) > threshold:
                found.append((layer, head))
    return found
    # END SOLUCAO


# %% tags=["check"]
check("09.find_copying_heads", find_copying_heads)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# O escore de cópia da lição (autovalores) e a acurácia top-1 podem discordar: use a que o
# enunciado pede, em **todas** as camadas.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Dois laços (`model.cfg.n_layers`, `model.cfg.n_heads`); os pesos de uma cabeça são
# `model.W_V[layer, head]` e `model.W_O[layer, head]`; `model.W_E` e `model.W_U` são do modelo inteiro.
#
# </details>

# %% [markdown]
# A sua função contra a linha de base: uma matriz sorteada acerta cerca de $1/d_\text{vocab}$
# das linhas.

# %%
with when_solved("as cabeças que copiam"):
    copying = find_copying_heads(model, 0.5)
    print("cabeças que copiam (acurácia top-1 > 0,5):", [f"L{l}H{h}" for l, h in copying])
    print(f"acaso: cerca de 1/d_vocab = {1 / cfg.d_vocab:.3f}")
    assert sorted(copying) == [(1, h) for h in range(cfg.n_heads)]

# %% [markdown]
# ## Exercício 09.k_composition_circuit · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar o circuito QK da cabeça de indução com a chave lida **através** da
# cabeça de token anterior:
# $W_E\, W^{\text{ind}}_{QK}\, \big(W_E W^{\text{ant}}_{OV}\big)^\top$, uma matriz
# `[d_vocab, d_vocab]` com linha = token da consulta e coluna = token que a cabeça anterior leu
# na posição de origem (o token **anterior** à chave).

# %% tags=["exercise"] exercise="09.k_composition_circuit" points=2
def k_composition_circuit(W_E: torch.Tensor, W_QK: torch.Tensor, W_OV: torch.Tensor) -> torch.Tensor:
    """W_E [d_vocab, d_model], W_QK [d_model, d_model] (da cabeça posterior), W_OV [d_model, d_model]
    (da anterior). Devolve [d_vocab, d_vocab]."""
    # BEGIN SOLUCAO
    key_side = W_E @ W_OV  # [d_vocab, d_model]: o que a cabeça anterior escreve ao ler cada token
    return W_E @ W_QK @ key_side.T
    # END SOLUCAO


# %% tags=["check"]
check("09.k_composition_circuit", k_composition_circuit)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Escreva os dois lados da pontuação: a consulta é o embedding do token atual; a chave é o que
# a cabeça anterior escreveu na posição de origem. Cada lado é um vetor-linha por token.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Lado da chave: `W_E @ W_OV`, formato `[d_vocab, d_model]`. A pontuação é consulta · W_QK · chaveᵀ.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** a diagonal deste circuito vence em quase todas as linhas pelo caminho que passa
# por `PREV`. E pelas outras cabeças da camada 0?

# %%
with when_solved("o QK composto por cada cabeça da camada 0"):
    W_E = model.W_E.detach()
    W_QK_ind = model.W_Q[IND].detach() @ model.W_K[IND].detach().T
    for h in range(cfg.n_heads):
        acc = diagonal_top1_accuracy(k_composition_circuit(W_E, W_QK_ind, head_writer(0, h))[1:, 1:])
        print(f"QK de L{IND[0]}H{IND[1]} composto via L0H{h}: acurácia top-1 da diagonal (sem o BOS) = {acc:.3f}")
    print(f"acaso: cerca de 1/(d_vocab − 1) = {1 / (cfg.d_vocab - 1):.3f}")
    assert diagonal_top1_accuracy(k_composition_circuit(W_E, W_QK_ind, head_writer(*PREV))[1:, 1:]) > 0.9

# %% [markdown]
# ## Exercício 09.head_logit_attribution · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular quanto a saída de cada cabeça de uma camada soma, diretamente, ao logit
# do token alvo, em uma posição.
#
# A saída da cabeça $h$ no resíduo é $z_h W_O^h$ (vetor de `d_model`). Como o modelo não tem
# LayerNorm, a contribuição dela ao logit do token $t$ é o produto escalar desse vetor com a
# direção de saída de $t$.

# %% tags=["exercise"] exercise="09.head_logit_attribution" points=2
def head_logit_attribution(z: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Contribuição direta de cada cabeça ao logit do alvo.

    z [batch, n_heads, d_head]: saída das cabeças (antes de W_O) numa posição.
    W_O [n_heads, d_head, d_model]; W_U [d_model, d_vocab]; target [batch]: id do alvo de cada exemplo.
    Devolve [batch, n_heads].
    """
    # BEGIN SOLUCAO
    direction = W_U[:, target]  # [d_model, batch]: a coluna do alvo de cada exemplo
    return torch.einsum("bhd,hdm,mb->bh", z, W_O, direction)  # W_O de cada cabeça, depois o produto escalar
    # END SOLUCAO


# %% tags=["check"]
check("09.head_logit_attribution", head_logit_attribution)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A direção de saída do token $t$ é a que, multiplicada pelo resíduo, dá o logit de $t$: pense
# em qual eixo de $W_U$ corre o vocabulário.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# É a **coluna** `W_U[:, t]` (formato `[d_model]`), não a linha `W_U[t]` nem `W_E[t]`. Com um alvo
# por exemplo, `W_U[:, target].T` tem formato `[batch, d_model]`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `torch.einsum("bhd,hdm->bhm", z, W_O)` aplica o `W_O` de cada cabeça; depois, um produto escalar
# por exemplo e cabeça com a direção do alvo.
#
# </details>

# %% [markdown]
# A sua função contra `attribution.direct_logit_attribution`, numa posição da 2ª cópia:

# %%
with when_solved("a atribuição direta das cabeças da camada 1"):
    tokens = repeated_tokens(4, 10, cfg.d_vocab, seed=3)
    _, cache = model.run_with_cache(tokens)
    pos = 15
    mine = head_logit_attribution(cache["z", 1][:, pos], model.W_O[1].detach(), model.W_U.detach(), tokens[:, pos + 1])
    values, labels = attribution.direct_logit_attribution(model, cache, tokens, pos=pos, per_example=True)
    ref = torch.stack([values[labels.index(f"L1H{h}")] for h in range(cfg.n_heads)], dim=-1)
    print("média no lote, por cabeça da camada 1:", [round(v, 2) for v in mine.mean(0).tolist()])
    ok = torch.allclose(mine, ref, atol=1e-3)
    print("igual ao course_lib (atol 1e-3):", "✅" if ok else "❌")
    assert ok

# %% [markdown]
# ## Exercício 09.ablated_repeated_loss · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** zerar a saída de uma cabeça com um gancho em `blocks.{layer}.attn.hook_z` e
# devolver a perda média na 2ª cópia de uma sequência repetida.
#
# Os tokens têm o formato `[BOS, x_1, …, x_n, x_1, …, x_n]` (com `n = seq_len`). A perda na
# posição `t` é $-\log p(\text{tokens}[t+1])$, então há `2n` perdas por sequência. A "2ª cópia"
# aqui são as previsões de $x_2, \dots, x_n$ da segunda cópia: as perdas das posições `n + 1`
# em diante. A previsão de $x_1$ (posição `n`) fica de fora, porque nenhum modelo a acerta.
# Faça a média sobre o lote e essas posições.

# %% tags=["exercise"] exercise="09.ablated_repeated_loss" points=3
def ablated_repeated_loss(model, tokens: torch.Tensor, seq_len: int, layer: int, head: int) -> float:
    """Perda média na 2ª cópia (previsões de x_2..x_n) com a cabeça layer.head zerada em hook_z.

    tokens [batch, 1 + 2·seq_len] = [BOS, x_1..x_n, x_1..x_n]. Devolve um float.
    """
    # BEGIN SOLUCAO
    def zero_head(z, hook):
        z = z.clone()
        z[:, :, head] = 0.0
        return z

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", zero_head)])
    log_probs = F.log_softmax(logits[:, :-1], dim=-1)
    loss = -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]  # [batch, 2·seq_len]
    return loss[:, seq_len + 1:].mean().item()
    # END SOLUCAO


# %% tags=["check"]
check("09.ablated_repeated_loss", ablated_repeated_loss)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um gancho recebe a ativação e devolve a versão modificada; não altere o tensor original no
# lugar. Depois é só a perda de sempre, recortada nas posições certas.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# O `hook_z` tem formato `[batch, pos, head, d_head]`. `model.run_with_hooks(tokens,
# fwd_hooks=[(nome, fn)])` remove o gancho ao terminar. Para a perda: `F.log_softmax` dos logits
# sem a última posição e `.gather` nos `tokens[:, 1:]`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# No gancho: `z = z.clone()`, zere `z[:, :, head]` e devolva `z`. Na perda, as posições da 2ª
# cópia sem o $x_1$ começam no índice `seq_len + 1`.
#
# </details>

# %% [markdown]
# ## Exercício 09.find_most_harmful_head · investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir qual cabeça da camada `layer` faz mais falta à 2ª cópia: devolva o
# índice (int) da cabeça cuja ablação (com a sua `ablated_repeated_loss`) deixa a perda da 2ª
# cópia mais alta. Empates a até 0,02 nats da maior perda valem; o corretor usa outras
# sequências (mais curtas e mais longas).
#
# ✍️ **Preveja:** na camada 1, com quatro cabeças de indução redundantes, alguma faz mais falta
# que as outras? E na camada 0?

# %% tags=["exercise"] exercise="09.find_most_harmful_head" points=2 kind="investigation"
def find_most_harmful_head(model, tokens: torch.Tensor, seq_len: int, layer: int) -> int:
    """Índice da cabeça da camada `layer` cuja ablação mais aumenta a perda da 2ª cópia."""
    # BEGIN SOLUCAO
    losses = [ablated_repeated_loss(model, tokens, seq_len, layer, h) for h in range(model.cfg.n_heads)]
    return int(torch.tensor(losses).argmax())
    # END SOLUCAO


# %% tags=["check"]
check("09.find_most_harmful_head", find_most_harmful_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Uma ablação de cada vez, sempre contra as mesmas sequências; a 1ª cópia é imprevisível de
# qualquer jeito e não diz nada sobre indução.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Chame a sua `ablated_repeated_loss(model, tokens, seq_len, layer, h)` para cada `h` em
# `range(model.cfg.n_heads)` e devolva o índice da maior perda como `int`.
#
# </details>

# %% [markdown]
# A sua função, com a tabela de perdas que a sustenta e o modelo intacto como controle:

# %%
with when_solved("a cabeça que mais faz falta em cada camada"):
    tokens = repeated_tokens(16, 25, cfg.d_vocab, seed=0)
    with torch.no_grad():
        logits = model(tokens)
    clean = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")[:, 26:].mean().item()
    print(f"modelo intacto: perda na 2ª cópia {clean:.3f}")
    for layer in range(cfg.n_layers):
        row = [ablated_repeated_loss(model, tokens, 25, layer, h) for h in range(cfg.n_heads)]
        worst = find_most_harmful_head(model, tokens, 25, layer)
        print(f"camada {layer}: " + " | ".join(f"H{h} {v:.3f}" for h, v in enumerate(row)) + f"  → mais falta: H{worst}")
    assert find_most_harmful_head(model, tokens, 25, 0) == PREV[1]

# %%
print("Fim dos exercícios do notebook 09.")
