# %% [markdown]
# # 99 · Lição de teste do pipeline
#
# Lição mínima usada pelos testes: texto, tensores, uma figura, um endereço de
# memória e uma barra de progresso (saídas que o nbval precisa tolerar).

# %%
import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

torch.manual_seed(0)
x = torch.arange(6.0).reshape(2, 3)
x

# %%
print("soma:", x.sum().item())
print(object())  # endereço de memória muda a cada execução

# %%
total = 0
for i in tqdm(range(3)):
    total += i
total

# %%
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([0, 1, 2], [0, 1, 4])
plt.show()
