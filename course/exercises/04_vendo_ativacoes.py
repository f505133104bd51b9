# %% [markdown]
# # 04 · Exercícios: vendo ativações
#
# Quatro ferramentas pequenas que você usou (prontas) na lição 04, agora escritas por
# você: pegar um padrão de atenção do cache, fazer uma PCA com SVD, achar as posições
# que mais ativam um neurônio e medir uma separação linear em dados novos.
#
# **O que você vai praticar**
#
# - índices e eixos do cache (`[batch, head, query_pos, key_pos]`);
# - PCA "na mão": centrar, SVD, projetar;
# - transformar um índice achatado em (exemplo, posição);
# - separar dados de treino e de teste ao medir uma hipótese.
#
# **Tempo estimado:** ~35 min.
#
# **Pré-requisitos:** a lição `04_vendo_ativacoes`.
#
# Cada exercício tem uma célula de verificação logo depois: rode-a para conferir a
# sua função. Se algo der errado, a mensagem diz qual caso falhou e, quando reconhece,
# qual é o erro comum.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import load_pretrained
from course_lib.checks import check

model = load_pretrained("lm")

# %% [markdown]
# ## Exercício 04.get_pattern · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** devolver o padrão de atenção `[query_pos, key_pos]` de uma cabeça para um texto.
#
# Rode o modelo com cache no texto (`model.to_tokens(text)` já põe o BOS no começo) e
# tire do cache a matriz da cabeça `head` da camada `layer`, do único exemplo do batch.
# Linha = posição da consulta (destino), coluna = posição da chave (origem).
#
# <details><summary>💡 Dica</summary>
#
# `cache["pattern", layer]` tem formato `[batch, head, query_pos, key_pos]`. Você quer
# o exemplo 0 e a cabeça `head`: dois índices, nessa ordem. Nada de transpor.
#
# </details>

# %% tags=["exercise"] exercise="04.get_pattern" points=1
def get_pattern(model, text: str, layer: int, head: int) -> torch.Tensor:
    """Padrão de atenção da cabeça `layer`.`head` sobre `text`.

    Devolve um tensor [query_pos, key_pos] (pos inclui o BOS); cada linha soma 1.
    """
    # BEGIN SOLUCAO
    _, cache = model.run_with_cache(model.to_tokens(text))
    return cache["pattern", layer][0, head]
    # END SOLUCAO


# %% tags=["check"]
check("04.get_pattern", get_pattern)

# %% tags=["solution_only"]
from course_lib import plots

text = "as gatas dormem juntas."
plots.plot_attention(get_pattern(model, text, 0, 2), model.to_str_tokens(text), title="L0H2")

# %% [markdown]
# ## Exercício 04.pca · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** projetar os pontos `X` nas `k` primeiras componentes principais, usando SVD.
#
# Passos: centre cada **coluna** de `X` (subtraia a média dos pontos), faça a SVD
# `Xc = U S Vᵀ` com `torch.linalg.svd(Xc, full_matrices=False)` (que devolve `U, S, Vh`,
# com `Vh = Vᵀ`) e projete `Xc` nas `k` primeiras direções (as **linhas** de `Vh`).
#
# O sinal de cada componente é arbitrário (se `v` é uma direção principal, `−v`
# também é); a verificação aceita qualquer sinal.
#
# <details><summary>💡 Dica</summary>
#
# `Xc = X - X.mean(0, keepdim=True)`. As direções são `Vh[:k]`, formato `[k, d]`;
# as coordenadas são `Xc @ Vh[:k].T`, formato `[n, k]`. Conferência: isso é igual a
# `U[:, :k] * S[:k]`.
#
# </details>

# %% tags=["exercise"] exercise="04.pca" points=2
def pca(X: torch.Tensor, k: int) -> torch.Tensor:
    """Coordenadas de X [n, d] nas k primeiras componentes principais: tensor [n, k]."""
    # BEGIN SOLUCAO
    Xc = X - X.mean(0, keepdim=True)
    _, _, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vh[:k].T
    # END SOLUCAO


# %% tags=["check"]
check("04.pca", pca)

# %% [markdown] tags=["solution_only"]
# A sua PCA bate com a da biblioteca (a menos do sinal) nas embeddings do modelo:

# %% tags=["solution_only"]
from course_lib import activations

mine = pca(model.W_E.detach(), 3)
lib, _, _ = activations.embedding_pca(model, k=3)
print("mesmas coordenadas (a menos do sinal):", torch.allclose(mine.abs(), lib.abs(), atol=1e-4))

# %% [markdown]
# ## Exercício 04.top_k_positions · Dificuldade ★☆☆ · ~8 min
#
# **Objetivo:** achar as `k` posições (exemplo, posição) com as maiores ativações de um neurônio.
#
# `acts` tem formato `[batch, pos]`: a ativação de um neurônio em cada posição de cada
# exemplo. Devolva um tensor de inteiros `[k, 2]` cuja linha `i` é `(exemplo, posição)`
# da i-ésima maior ativação (a maior primeiro).
#
# <details><summary>💡 Dica</summary>
#
# Achate com `acts.flatten()` e use `.topk(k).indices`. O índice achatado `i` de um
# tensor `[batch, pos]` corresponde a `exemplo = i // pos` e `posição = i % pos`
# (divida pelo número de **posições**, `acts.shape[1]`). Junte as duas colunas com
# `torch.stack([...], dim=1)`.
#
# </details>

# %% tags=["exercise"] exercise="04.top_k_positions" points=1
def top_k_positions(acts: torch.Tensor, k: int) -> torch.Tensor:
    """Posições das k maiores ativações de acts [batch, pos]: LongTensor [k, 2] com (exemplo, posição)."""
    # BEGIN SOLUCAO
    idx = acts.flatten().topk(k).indices
    pos_len = acts.shape[1]
    return torch.stack([idx // pos_len, idx % pos_len], dim=1)
    # END SOLUCAO


# %% tags=["check"]
check("04.top_k_positions", top_k_positions)

# %% [markdown] tags=["solution_only"]
# Com ela dá para refazer a lista de tokens do neurônio 177 da camada 0 da lição:

# %% tags=["solution_only"]
from course_lib import PtGrammar

tokens = PtGrammar().make_dataset(100, model.cfg.n_ctx, seed=3)
acts = activations.neuron_acts(model, tokens, layer=0, neurons=[177])[..., 0]  # [100, 32]
print([model.tokenizer.vocab[int(tokens[b, p])] for b, p in top_k_positions(acts, 8)])

# %% [markdown]
# ## Exercício 04.diff_of_means_accuracy · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** ajustar um classificador pela diferença de médias nos dados de treino e devolver a sua acurácia nos dados de teste.
#
# A regra, ajustada **só** com `X_train` `[n_train, d]` e `y_train` `[n_train]` (bool):
#
# - `mu1` = média das linhas com `y_train` verdadeiro, `mu0` = média das outras;
# - direção `d = mu1 − mu0`; limiar = projeção do ponto médio, `((mu1 + mu0) / 2) · d`;
# - previsão para um ponto `x`: verdadeiro se `x · d > limiar`.
#
# Devolva a fração de acertos em `X_test` `[n_test, d]`, `y_test` `[n_test]`, como um
# `float` do Python.
#
# <details><summary>💡 Dica</summary>
#
# `X_train[y_train].mean(0)` e `X_train[~y_train].mean(0)` dão as duas médias. O limiar
# não é 0: os dados não estão centrados na origem. Para o float:
# `((X_test @ d > limiar) == y_test).float().mean().item()`.
#
# </details>

# %% tags=["exercise"] exercise="04.diff_of_means_accuracy" points=2
def diff_of_means_accuracy(X_train: torch.Tensor, y_train: torch.Tensor,
                           X_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Acurácia em (X_test, y_test) da regra da diferença de médias ajustada em (X_train, y_train)."""
    # BEGIN SOLUCAO
    mu1, mu0 = X_train[y_train].mean(0), X_train[~y_train].mean(0)
    direction = mu1 - mu0
    threshold = (mu1 + mu0) / 2 @ direction
    return ((X_test @ direction > threshold) == y_test).float().mean().item()
    # END SOLUCAO


# %% tags=["check"]
check("04.diff_of_means_accuracy", diff_of_means_accuracy)

# %% [markdown] tags=["solution_only"]
# Treino contra teste nas embeddings dos substantivos (como na lição): compare a
# distância entre as duas colunas para número e para gênero.

# %% tags=["solution_only"]
from course_lib.data import NOUNS

ids = torch.tensor([model.tokenizer.to_single_token(w) for sg, pl, _, _ in NOUNS for w in (sg, pl)])
X = model.W_E.detach()[ids]
labels = {
    "número": torch.arange(len(ids)) % 2 == 1,  # singular, plural, singular, plural...
    "gênero": torch.tensor([g == "f" for _, _, g, _ in NOUNS for _ in range(2)]),
}
test = (torch.arange(len(ids)) // 2) % 2 == 1  # lemas alternados: metade para testar
for name, y in labels.items():
    train_acc = diff_of_means_accuracy(X[~test], y[~test], X[~test], y[~test])
    test_acc = diff_of_means_accuracy(X[~test], y[~test], X[test], y[test])
    print(f"{name}: treino {train_acc:.2f}, palavras novas {test_acc:.2f}")

# %% [markdown]
# ## Fechando
#
# Essas quatro peças — índices do cache, PCA, top-k e um teste em dados novos — são o
# esqueleto de quase toda análise "visual" de um modelo. A última é a mais importante:
# uma hipótese tirada de uma figura só vale depois de medida em dados que não a inspiraram.
