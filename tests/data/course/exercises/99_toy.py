# %% [markdown]
# # 99 · Exercícios de teste do pipeline
#
# Notebook mínimo usado pelos testes do pipeline de exercícios.

# %%
import torch

from course_lib.checks import check

# %% [markdown]
# ## Exercício 99.add · Dificuldade ★☆☆ · ~2 min
#
# **Objetivo:** somar dois tensores elemento a elemento.

# %% tags=["exercise"] exercise="99.add" points=1
def add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Soma `a` e `b` elemento a elemento."""
    # BEGIN SOLUCAO
    result = a + b
    # END SOLUCAO
    return result


# %% tags=["check"]
check("99.add", add)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Em PyTorch, `a + b` já soma elemento a elemento.
#
# </details>

# %% [markdown]
# ## Exercício 99.softmax · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** implementar o softmax no último eixo, de forma numericamente estável.

# %% tags=["exercise"] exercise="99.softmax" points=2
def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax no último eixo de `logits` (formato [batch, d_vocab])."""
    # BEGIN SOLUCAO
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=-1, keepdim=True)
    # END SOLUCAO


# %% tags=["check"]
check("99.softmax", softmax)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Subtraia o máximo de cada linha antes de exponenciar: o resultado não muda,
# mas evita overflow.
#
# </details>

# %% tags=["solution_only"]
print(softmax(torch.tensor([[1.0, 2.0, 3.0]])))

# %%
print("fim do notebook")
