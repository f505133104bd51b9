# %% [markdown]
# # 05 · Exercícios: vendo ativações
#
# Quatro ferramentas pequenas que a lição 05 usou prontas, agora escritas por você —
# pegar um padrão de atenção do cache, fazer uma PCA com SVD, achar as posições que
# mais ativam um neurônio e medir uma separação linear em dados novos — e duas
# **investigações** em que as suas ferramentas descobrem algo sobre o modelo: qual
# neurônio detecta substantivos no plural e onde o gênero se deixa ler nas embeddings.
#
# **O que você vai praticar**
#
# - índices e eixos do cache (`[batch, head, query_pos, key_pos]`);
# - PCA "na mão": centrar, SVD, projetar;
# - transformar um índice achatado em (exemplo, posição);
# - separar dados de treino e de teste ao medir uma hipótese.
#
# **Tempo estimado:** ~55 min.
#
# **Pré-requisitos:** a lição `05_vendo_ativacoes`.
#
# Cada exercício tem uma célula de verificação logo depois: rode-a para conferir a
# sua função. Se algo der errado, a mensagem diz qual caso falhou e, quando reconhece,
# qual é o erro comum. As dicas (em níveis) ficam logo depois da verificação. As
# células marcadas com ⏳ rodam a **sua** função no modelo de verdade assim que o
# exercício estiver resolvido.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import PtGrammar, activations, load_pretrained, plots
from course_lib.checks import check, when_solved
from course_lib.data import NOUNS

model = load_pretrained("lm")
grammar = PtGrammar()

# %% [markdown]
# ## Exercício 05.get_pattern · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** devolver o padrão de atenção `[query_pos, key_pos]` de uma cabeça para um texto.
#
# Rode o modelo com cache no texto (`model.to_tokens(text)` já põe o BOS no começo) e
# tire do cache a matriz da cabeça `head` da camada `layer`, do único exemplo do lote.
# Linha = posição de destino (a consulta), coluna = posição de origem (a chave).

# %% tags=["exercise"] exercise="05.get_pattern" points=1
def get_pattern(model, text: str, layer: int, head: int) -> torch.Tensor:
    """Padrão de atenção da cabeça `layer`.`head` sobre `text`.

    Devolve um tensor [query_pos, key_pos] (pos inclui o BOS); cada linha soma 1.
    """
    # BEGIN SOLUCAO
    _, cache = model.run_with_cache(model.to_tokens(text))
    return cache["pattern", layer][0, head]
    # END SOLUCAO


# %% tags=["check"]
check("05.get_pattern", get_pattern)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# O cache guarda o padrão de todas as cabeças de uma camada, para todos os exemplos do
# lote. Você só precisa escolher o exemplo e a cabeça certos — e nada de transpor.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `cache["pattern", layer]` tem formato `[batch, head, query_pos, key_pos]`; o lote aqui
# tem um exemplo só.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `_, cache = model.run_with_cache(model.to_tokens(text))` e depois dois índices, na
# ordem (exemplo, cabeça).
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** na frase abaixo, a L0H2 (a cabeça que mais olha para o token anterior
# na lição) põe mais peso na diagonal ou logo abaixo dela?

# %%
with when_solved("o padrão da L0H2 calculado pela sua função"):
    text = "as gatas dormem juntas."
    labels = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(text))]
    mine = get_pattern(model, text, 0, 2)
    print(f"atenção média no token anterior: {mine.diagonal(-1).mean():.2f} | em si mesma: {mine.diagonal()[1:].mean():.2f}")
    display(plots.plot_attention(mine, labels, title="L0H2 (sua get_pattern)"))

# %% [markdown]
# ## Exercício 05.pca · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** projetar os pontos `X` nas `k` primeiras componentes principais, usando SVD.
#
# Centre cada **coluna** de `X` (subtraia a média dos pontos), faça a SVD
# `Xc = U S Vᵀ` com `torch.linalg.svd(Xc, full_matrices=False)` (que devolve `U, S, Vh`,
# com `Vh = Vᵀ`) e projete `Xc` nas `k` primeiras direções principais. Devolva
# `[n, k]`. Não use `activations.pca` (é a que você vai reproduzir).
#
# O sinal de cada componente é arbitrário (se `v` é uma direção principal, `−v`
# também é); a verificação aceita qualquer sinal.

# %% tags=["exercise"] exercise="05.pca" points=2
def pca(X: torch.Tensor, k: int) -> torch.Tensor:
    """Coordenadas de X [n, d] nas k primeiras componentes principais: tensor [n, k]."""
    # BEGIN SOLUCAO
    Xc = X - X.mean(0, keepdim=True)
    _, _, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vh[:k].T
    # END SOLUCAO


# %% tags=["check"]
check("05.pca", pca)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A PCA procura direções que passam pelo **centro** da nuvem de pontos; sem centrar, a
# primeira direção aponta para a média, não para onde os pontos variam.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# A média é por coluna (`mean(0)`). As direções são **linhas** de `Vh`, formato `[k, d]`
# para as `k` primeiras; as coordenadas têm formato `[n, k]`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Coordenadas = `Xc @ Vh[:k].T`. Conferência: isso é igual a `U[:, :k] * S[:k]`.
#
# </details>

# %% [markdown]
# A sua PCA nas embeddings dos substantivos, com o *d* de Cohen do gênero em cada
# número (o achado da lição):

# %%
noun_ids = torch.tensor([model.tokenizer.to_single_token(w) for sg, pl, _, _ in NOUNS for w in (sg, pl)])
is_fem = torch.tensor([g == "f" for _, _, g, _ in NOUNS for _ in range(2)])
is_plural = torch.arange(len(noun_ids)) % 2 == 1  # singular, plural, singular, plural...


def cohens_d(values, group):
    a, b = values[group], values[~group]
    return ((a.mean() - b.mean()) / ((a.var() + b.var()) / 2).sqrt()).item()


with when_solved("a sua PCA nas embeddings"):
    mine = pca(model.W_E.detach()[noun_ids], 3)
    lib, _, _ = activations.embedding_pca(model, noun_ids, k=3)
    same = torch.allclose(mine.abs(), lib.abs(), atol=1e-4)
    print("mesmas coordenadas que activations.pca (a menos do sinal):", "✅" if same else "❌")
    print(f"|d| do gênero na sua PC1: singulares {abs(cohens_d(mine[~is_plural, 0], is_fem[~is_plural])):.2f}, "
          f"plurais {abs(cohens_d(mine[is_plural, 0], is_fem[is_plural])):.2f}, "
          f"todos {abs(cohens_d(mine[:, 0], is_fem)):.2f}")

# %% [markdown]
# ## Exercício 05.top_k_positions · Dificuldade ★☆☆ · ~8 min
#
# **Objetivo:** achar as `k` posições (exemplo, posição) com as maiores ativações de um neurônio.
#
# `acts` tem formato `[batch, pos]`: a ativação de um neurônio em cada posição de cada
# exemplo. Devolva um tensor de inteiros `[k, 2]` cuja linha `i` é `(exemplo, posição)`
# da i-ésima maior ativação (a maior primeiro).

# %% tags=["exercise"] exercise="05.top_k_positions" points=1
def top_k_positions(acts: torch.Tensor, k: int) -> torch.Tensor:
    """Posições das k maiores ativações de acts [batch, pos]: LongTensor [k, 2] com (exemplo, posição)."""
    # BEGIN SOLUCAO
    idx = acts.flatten().topk(k).indices
    pos_len = acts.shape[1]
    return torch.stack([idx // pos_len, idx % pos_len], dim=1)
    # END SOLUCAO


# %% tags=["check"]
check("05.top_k_positions", top_k_positions)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# As k maiores são do conjunto **todo**, não de cada exemplo: pense no tensor como uma
# lista comprida de números, ache os k maiores e depois descubra de que linha e coluna
# cada um veio.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `flatten()` e `topk(k)` (que já devolve em ordem decrescente). Num tensor `[batch, pos]`
# achatado, o índice `i` está na linha `i // pos` e na coluna `i % pos`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Com `idx = acts.flatten().topk(k).indices`, junte as duas colunas com
# `torch.stack([..., ...], dim=1)`, dividindo pelo número de **posições** (`acts.shape[1]`).
#
# </details>

# %%
with when_solved("os tokens do neurônio 177 pela sua função"):
    tokens = grammar.make_dataset(100, model.cfg.n_ctx, seed=3)
    acts = activations.neuron_acts(model, tokens, layer=0, neurons=[177])[..., 0]  # [100, 32]
    print([model.tokenizer.vocab[int(tokens[b, p])] for b, p in top_k_positions(acts, 8)])

# %% [markdown]
# ## Exercício 05.find_plural_neuron · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir qual neurônio de uma camada do MLP é o detector mais seletivo de substantivos no plural.
#
# Uma lista de exemplos só é evidência se dissermos antes **como** vamos medir. A
# medida aqui: para um neurônio, pegue as `k` posições de maior ativação em `tokens`
# (com a sua `top_k_positions`), com `k` = o número de posições de `tokens` que têm um
# substantivo no plural (um token de `plural_ids`). A **seletividade** é a fração
# dessas `k` posições que são, de fato, substantivos no plural (1 = um detector perfeito).
# Devolva o índice (`int`) do neurônio mais seletivo da camada `layer`.
#
# As ativações de todos os neurônios: `activations.neuron_acts(model, tokens, layer,
# range(model.cfg.d_mlp))`, formato `[batch, pos, d_mlp]`. A verificação aceita qualquer
# neurônio a menos de 0,05 da melhor seletividade, e roda também em outros checkpoints
# (`lm_tied`, `lm_untied`).

# %% tags=["exercise"] exercise="05.find_plural_neuron" points=2 kind="investigation"
def find_plural_neuron(model, tokens: torch.Tensor, plural_ids: torch.Tensor, layer: int) -> int:
    """O neurônio da camada `layer` cujas k maiores ativações mais caem em substantivos no plural."""
    # BEGIN SOLUCAO
    plural = torch.isin(tokens, plural_ids)  # [batch, pos]
    acts = activations.neuron_acts(model, tokens, layer, range(model.cfg.d_mlp))  # [batch, pos, d_mlp]
    selectivity = []
    for neuron in range(acts.shape[-1]):
        top = top_k_positions(acts[..., neuron], int(plural.sum()))
        selectivity.append(plural[top[:, 0], top[:, 1]].float().mean())
    return int(torch.stack(selectivity).argmax())
    # END SOLUCAO


# %% tags=["check"]
check("05.find_plural_neuron", find_plural_neuron)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É um laço sobre os neurônios: para cada um, uma seletividade; no fim, o melhor. Por
# que `k` igual ao número de plurais? Com `k` pequeno, muitos neurônios empatam em 100%;
# com `k` igual ao tamanho da categoria, só um detector perfeito chega a 1.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.isin(tokens, plural_ids)` dá a máscara `[batch, pos]` dos plurais; a soma dela é
# `k`. `acts[..., n]` é `[batch, pos]`, a entrada de `top_k_positions`; as linhas
# `(exemplo, posição)` que ela devolve indexam a máscara.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `top = top_k_positions(acts[..., n], k)` e
# `score = mascara[top[:, 0], top[:, 1]].float().mean()`; guarde o `n` de maior `score`
# e devolva `int(n)`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** o melhor detector de plurais da camada 0 vai ser perfeito (seletividade
# 1) ou vai errar boa parte das vezes? E o melhor da camada 2?

# %%
with when_solved("o detector de plurais que você encontrou"):
    plural_ids = torch.tensor(sorted({model.tokenizer.to_single_token(pl) for _, pl, _, _ in NOUNS}))
    discovery = grammar.make_dataset(40, model.cfg.n_ctx, seed=20)
    fresh = grammar.make_dataset(40, model.cfg.n_ctx, seed=21)  # texto novo: para medir sem garimpar
    for layer in range(model.cfg.n_layers):
        n = find_plural_neuron(model, discovery, plural_ids, layer)
        acts = activations.neuron_acts(model, fresh, layer, [n])[..., 0]
        mask = torch.isin(fresh, plural_ids)
        top = top_k_positions(acts, int(mask.sum()))
        print(f"camada {layer}: neurônio {n}, seletividade em texto novo {mask[top[:, 0], top[:, 1]].float().mean():.2f} "
              f"(acaso: {mask.float().mean():.2f})")

# %% [markdown]
# ## Exercício 05.diff_of_means_accuracy · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** ajustar um classificador pela diferença de médias nos dados de treino e devolver a sua acurácia nos dados de teste.
#
# A regra, ajustada **só** com `X_train` `[n_train, d]` e `y_train` `[n_train]` (bool):
# direção `w = μ₁ − μ₀` (μ₁: média das linhas com `y_train` verdadeiro; μ₀: das outras);
# um ponto `x` é classificado como verdadeiro quando está do lado de μ₁ do hiperplano
# que passa pelo ponto médio `(μ₁ + μ₀)/2`, perpendicular a `w`.
#
# Devolva a fração de acertos em `X_test` `[n_test, d]`, `y_test` `[n_test]`, como um
# `float` do Python. Não use `activations.diff_of_means_accuracy` (é a que você vai
# reproduzir).

# %% tags=["exercise"] exercise="05.diff_of_means_accuracy" points=2
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
check("05.diff_of_means_accuracy", diff_of_means_accuracy)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# "Do lado de μ₁" quer dizer: a projeção de `x` na direção `w` passa da projeção do
# ponto médio. O limiar não é 0, porque os dados não estão centrados na origem.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Indexar com a máscara booleana (`X_train[y_train]`, `X_train[~y_train]`) separa os
# grupos; `@` projeta. A acurácia é a média de `previsão == y_test`, convertida para
# `float` com `.item()`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `limiar = ((mu1 + mu0) / 2) @ w` e previsão `X_test @ w > limiar`; a resposta é
# `(previsão == y_test).float().mean().item()`.
#
# </details>

# %%
with when_solved("treino × palavras novas com a sua regra"):
    lemma = torch.arange(len(noun_ids)) // 2
    test = lemma % 2 == 1  # lemas alternados: metade para testar
    X = model.W_E.detach()[noun_ids]
    for name, y in (("número", is_plural), ("gênero", is_fem)):
        train_acc = diff_of_means_accuracy(X[~test], y[~test], X[~test], y[~test])
        test_acc = diff_of_means_accuracy(X[~test], y[~test], X[test], y[test])
        print(f"{name}: treino {train_acc:.2f}, palavras novas {test_acc:.2f}")

# %% [markdown]
# ## Exercício 05.find_gender_groups · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir em quais grupos de substantivos ("singular", "plural", "todos") o gênero se lê nas embeddings, em palavras novas.
#
# Para cada grupo — só os singulares, só os plurais, todos juntos — ajuste a sua
# `diff_of_means_accuracy` nos lemas de **treino** do grupo (as linhas com `test` falso) e
# meça a acurácia do gênero (`is_fem`) nos lemas de **teste** do mesmo grupo. Devolva a
# lista dos grupos cuja acurácia em palavras novas é `>= threshold`. As linhas de
# `model.W_E[noun_ids]` são os pontos; `noun_ids`, `is_fem`, `is_plural` e `test` têm uma
# entrada por forma de substantivo.
#
# A verificação aceita qualquer decisão para um grupo a menos de 0,05 do limiar e roda
# em outros checkpoints: o achado pode mudar de modelo para modelo.

# %% tags=["exercise"] exercise="05.find_gender_groups" points=2 kind="investigation"
def find_gender_groups(model, noun_ids: torch.Tensor, is_fem: torch.Tensor, is_plural: torch.Tensor,
                       test: torch.Tensor, threshold: float = 0.8) -> list:
    """Os grupos ("singular", "plural", "todos") em que o gênero se decodifica em lemas novos."""
    # BEGIN SOLUCAO
    E = model.W_E.detach()[noun_ids]
    found = []
    for group, members in (("singular", ~is_plural), ("plural", is_plural), ("todos", is_plural | ~is_plural)):
        train, new = members & ~test, members & test
        if diff_of_means_accuracy(E[train], is_fem[train], E[new], is_fem[new]) >= threshold:
            found.append(group)
    return found
    # END SOLUCAO


# %% tags=["check"]
check("05.find_gender_groups", find_gender_groups)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É a mesma medida três vezes, cada vez com um subconjunto das linhas. Treino e teste
# vêm do mesmo grupo; a acurácia que decide é a de teste.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Máscaras booleanas se combinam com `&` e `~`: as linhas de treino do grupo são
# `grupo & ~test`. O grupo "todos" é uma máscara toda verdadeira.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Para cada `(nome, linhas)`: `fit, new = linhas & ~test, linhas & test` e
# `diff_of_means_accuracy(X[fit], is_fem[fit], X[new], is_fem[new]) >= threshold`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** os três checkpoints de linguagem do curso (`lm`, `lm_tied`, `lm_untied`)
# guardam o gênero do mesmo jeito?

# %%
with when_solved("onde cada modelo guarda o gênero"):
    lemma = torch.arange(len(noun_ids)) // 2
    perm = torch.randperm(len(NOUNS), generator=torch.Generator().manual_seed(0))
    test = torch.isin(lemma, perm[: len(NOUNS) // 2])
    for name in ("lm", "lm_tied", "lm_untied"):
        print(f"{name:9s}: gênero decodificável em {find_gender_groups(load_pretrained(name), noun_ids, is_fem, is_plural, test)}")

# %% [markdown]
# ## Fechando
#
# Essas peças — índices do cache, PCA, top-k e um teste em dados novos — são o
# esqueleto de quase toda análise "visual" de um modelo. A última é a mais importante:
# uma hipótese tirada de uma figura só vale depois de medida em dados que não a
# inspiraram, e uma média de todos os dados pode esconder o que cada subgrupo mostra.
