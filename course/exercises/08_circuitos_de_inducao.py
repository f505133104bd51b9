# %% [markdown]
# # 08 · Exercícios: circuitos de indução
#
# Você vai reescrever, em poucas linhas cada, as ferramentas que usamos na lição para
# desmontar o circuito de indução do modelo `induction`.
#
# **O que você vai praticar**
#
# - a pontuação de composição entre duas matrizes;
# - o circuito OV completo de uma cabeça e a acurácia top-1 da sua diagonal;
# - a atribuição direta de cada cabeça ao logit de um token;
# - a ablação de uma cabeça com um gancho em `hook_z`, medindo a perda na parte repetida.
#
# **Tempo estimado:** ~45 min.
#
# **Pré-requisitos:** a lição 08 (circuitos de indução).
#
# Cada exercício tem uma célula de verificação logo depois: rode-a para receber um retorno.
# Só as células de verificação falham enquanto o exercício não estiver resolvido.

# %%
from course_lib.notebook import setup

setup()

import torch
import torch.nn.functional as F

from course_lib import attribution, circuits, load_metadata, load_pretrained
from course_lib.checks import check
from course_lib.data import repeated_tokens

model = load_pretrained("induction")
cfg = model.cfg
print(f"d_vocab={cfg.d_vocab}, d_model={cfg.d_model}, d_head={cfg.d_head}, "
      f"camadas={cfg.n_layers}, cabeças={cfg.n_heads}")

# %% [markdown]
# ## Exercício 08.composition_score · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular a pontuação de composição
# $\lVert W_A W_B \rVert_F \,/\, (\lVert W_A \rVert_F \, \lVert W_B \rVert_F)$ entre a matriz
# $W_A$ que uma cabeça anterior usa para escrever e a matriz $W_B$ que a posterior usa para ler.
#
# $W_A$ fica à esquerda (no resíduo em vetores-linha, $x\,W_A$ é o que foi escrito, e
# $(x\,W_A)\,W_B$ é o que foi lido). Devolva um `float` (use `.item()`).
#
# <details><summary>💡 Dica</summary>
#
# `M.norm()` de um tensor 2-D já é a norma de Frobenius: a raiz da soma dos quadrados de
# todas as entradas. Sem a divisão pelas normas, a pontuação mudaria só de multiplicar os
# pesos por 10.
#
# </details>

# %% tags=["exercise"] exercise="08.composition_score" points=1
def composition_score(W_A: torch.Tensor, W_B: torch.Tensor) -> float:
    """Pontuação de composição entre W_A [d, k] (escreve) e W_B [k, e] (lê).

    Devolve ‖W_A W_B‖_F / (‖W_A‖_F · ‖W_B‖_F) como float.
    """
    # BEGIN SOLUCAO
    return ((W_A @ W_B).norm() / (W_A.norm() * W_B.norm())).item()
    # END SOLUCAO


# %% tags=["check"]
check("08.composition_score", composition_score)

# %% [markdown] tags=["solution_only"]
# Com a sua função, a composição K entre a cabeça de token anterior e a cabeça de indução do
# modelo de verdade (a matriz que lê pela chave é $W_{QK}^\top$), comparada com a do `course_lib`:

# %% tags=["solution_only"]
metrics = load_metadata("induction")["metrics"]
PREV = tuple(int(i) for i in metrics["prev_token_head"].split("."))
IND = tuple(int(i) for i in metrics["induction_head"].split("."))
W_OV_prev = model.W_V[PREV].detach() @ model.W_O[PREV].detach()  # [d_model, d_model]
W_QK_ind = model.W_Q[IND].detach() @ model.W_K[IND].detach().T  # [d_model, d_model]
print(f"L{PREV[0]}H{PREV[1]} -> L{IND[0]}H{IND[1]}, composição K")
print(f"sua função:  {composition_score(W_OV_prev, W_QK_ind.T):.4f}")
print(f"course_lib:  {circuits.head_composition_score(model, *PREV, *IND, 'K').item():.4f}")

# %% [markdown]
# ## Exercício 08.full_ov_circuit · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** montar o circuito OV completo $W_E\,W_V\,W_O\,W_U$ de uma cabeça, uma matriz
# `[d_vocab, d_vocab]` com linha = token atendido (fonte) e coluna = logit de saída.
#
# <details><summary>💡 Dica</summary>
#
# Siga o caminho de um token: one-hot → embedding ($W_E$) → valor ($W_V$) → saída da cabeça
# ($W_O$) → logits ($W_U$). Confira as formas a cada passo: `[d_vocab, d_model]`,
# `[d_model, d_head]`, `[d_head, d_model]`, `[d_model, d_vocab]`.
#
# </details>

# %% tags=["exercise"] exercise="08.full_ov_circuit" points=1
def full_ov_circuit(W_E: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    """Circuito OV completo de UMA cabeça.

    W_E [d_vocab, d_model], W_V [d_model, d_head], W_O [d_head, d_model], W_U [d_model, d_vocab].
    Devolve [d_vocab, d_vocab]: linha = token da fonte, coluna = token de saída.
    """
    # BEGIN SOLUCAO
    return W_E @ W_V @ W_O @ W_U
    # END SOLUCAO


# %% tags=["check"]
check("08.full_ov_circuit", full_ov_circuit)

# %% tags=["solution_only"]
mine = full_ov_circuit(model.W_E.detach(), model.W_V[1, 2].detach(), model.W_O[1, 2].detach(), model.W_U.detach())
ref = circuits.full_OV_circuit(model, 1, 2).AB
print("formato:", tuple(mine.shape), "| igual ao course_lib:", torch.allclose(mine, ref, atol=1e-4))

# %% [markdown]
# ## Exercício 08.diagonal_top1_accuracy · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** medir a fração das linhas de uma matriz quadrada cujo maior valor está na
# diagonal (para o OV completo: "atender ao token $s$ faz de $s$ o logit mais aumentado").
#
# Devolva um `float` entre 0 e 1.
#
# <details><summary>💡 Dica</summary>
#
# `M.argmax(dim=-1)` dá, para cada linha, a coluna do máximo. Compare com
# `torch.arange(n)` e tire a média de um tensor de booleanos convertido para float.
#
# </details>

# %% tags=["exercise"] exercise="08.diagonal_top1_accuracy" points=1
def diagonal_top1_accuracy(M: torch.Tensor) -> float:
    """Fração das linhas i de M [n, n] em que argmax(M[i]) == i, como float."""
    # BEGIN SOLUCAO
    n = M.shape[0]
    return (M.argmax(dim=-1) == torch.arange(n, device=M.device)).float().mean().item()
    # END SOLUCAO


# %% tags=["check"]
check("08.diagonal_top1_accuracy", diagonal_top1_accuracy)

# %% [markdown] tags=["solution_only"]
# As duas funções juntas, em todas as cabeças do modelo:

# %% tags=["solution_only"]
for layer in range(cfg.n_layers):
    accs = []
    for head in range(cfg.n_heads):
        ov = full_ov_circuit(model.W_E.detach(), model.W_V[layer, head].detach(),
                             model.W_O[layer, head].detach(), model.W_U.detach())
        accs.append(f"H{head}: {diagonal_top1_accuracy(ov):.3f}")
    print(f"camada {layer}: " + " | ".join(accs))

# %% [markdown]
# ## Exercício 08.head_logit_attribution · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular quanto a saída de cada cabeça de uma camada soma, diretamente, ao logit
# do token alvo, em uma posição.
#
# A saída da cabeça $h$ no resíduo é $z_h W_O^h$ (vetor de `d_model`). Como o modelo não tem
# LayerNorm, a contribuição dela ao logit do token $t$ é o produto escalar desse vetor com a
# direção de saída de $t$.
#
# <details><summary>💡 Dica</summary>
#
# A direção de saída do token $t$ é a **coluna** `W_U[:, t]` (formato `[d_model]`), e não a
# linha `W_U[t]` nem o embedding `W_E[t]`. Com um alvo por exemplo, `W_U[:, target].T` tem
# formato `[batch, d_model]`. Um `torch.einsum("bhd,hdm->bhm", z, W_O)` aplica o `W_O` de cada
# cabeça.
#
# </details>

# %% tags=["exercise"] exercise="08.head_logit_attribution" points=2
def head_logit_attribution(z: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Contribuição direta de cada cabeça ao logit do alvo.

    z [batch, n_heads, d_head]: saída das cabeças (antes de W_O) numa posição.
    W_O [n_heads, d_head, d_model]; W_U [d_model, d_vocab]; target [batch]: id do alvo de cada exemplo.
    Devolve [batch, n_heads].
    """
    # BEGIN SOLUCAO
    head_out = torch.einsum("bhd,hdm->bhm", z, W_O)  # [batch, n_heads, d_model]
    direction = W_U[:, target].T  # [batch, d_model]
    return torch.einsum("bhm,bm->bh", head_out, direction)
    # END SOLUCAO


# %% tags=["check"]
check("08.head_logit_attribution", head_logit_attribution)

# %% [markdown] tags=["solution_only"]
# Conferindo contra `attribution.direct_logit_attribution` numa posição da 2ª cópia de uma
# sequência repetida:

# %% tags=["solution_only"]
tokens = repeated_tokens(4, 10, cfg.d_vocab, seed=3)
_, cache = model.run_with_cache(tokens)
pos = 15
mine = head_logit_attribution(cache["z", 1][:, pos], model.W_O[1].detach(), model.W_U.detach(), tokens[:, pos + 1])
values, labels = attribution.direct_logit_attribution(model, cache, tokens, pos=pos, per_example=True)
ref = torch.stack([values[labels.index(f"L1H{h}")] for h in range(cfg.n_heads)], dim=-1)
print("média no batch, por cabeça da camada 1:", [round(v, 3) for v in mine.mean(0).tolist()])
print("igual ao course_lib:", torch.allclose(mine, ref, atol=1e-4))

# %% [markdown]
# ## Exercício 08.ablated_repeated_loss · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** zerar a saída de uma cabeça com um gancho em `blocks.{layer}.attn.hook_z` e
# devolver a perda média na 2ª cópia de uma sequência repetida.
#
# Os tokens têm o formato `[BOS, x_1, …, x_n, x_1, …, x_n]` (com `n = seq_len`). A perda na
# posição `t` é $-\log p(\text{tokens}[t+1])$, então há `2n` perdas por sequência. A "2ª cópia"
# aqui são as previsões de $x_2, \dots, x_n$ da segunda cópia: as perdas das posições `n + 1`
# em diante. A previsão de $x_1$ (posição `n`) fica de fora, porque nenhum modelo a acerta.
# Faça a média sobre o batch e essas posições.
#
# <details><summary>💡 Dica</summary>
#
# O `hook_z` tem formato `[batch, pos, head, d_head]`. Um gancho é uma função
# `fn(z, hook)` que devolve o tensor modificado: copie (`z = z.clone()`), zere
# `z[:, :, head]` e devolva. Use `model.run_with_hooks(tokens, fwd_hooks=[(nome, fn)])`, que
# remove o gancho ao terminar. Para a perda: `F.log_softmax(logits[:, :-1], dim=-1)` e
# `.gather(-1, tokens[:, 1:, None])`.
#
# </details>

# %% tags=["exercise"] exercise="08.ablated_repeated_loss" points=3
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
check("08.ablated_repeated_loss", ablated_repeated_loss)

# %% [markdown] tags=["solution_only"]
# Com a função pronta, uma cabeça de cada vez (compare com a tabela da seção 10 da lição):

# %% tags=["solution_only"]
tokens = repeated_tokens(16, 25, cfg.d_vocab, seed=0)
for layer in range(cfg.n_layers):
    row = [f"H{h}: {ablated_repeated_loss(model, tokens, 25, layer, h):.3f}" for h in range(cfg.n_heads)]
    print(f"camada {layer}: " + " | ".join(row))

# %%
print("Fim dos exercícios do notebook 08.")
