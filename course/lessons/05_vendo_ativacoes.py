# %% [markdown]
# # 05 · Vendo ativações: atenção, PCA e neurônios
#
# Um transformer treinado é um monte de números. Neste notebook vamos **olhar**
# para esses números de três jeitos clássicos — mapas de calor da atenção,
# projeções por PCA e os tokens que mais ativam um neurônio — e, principalmente,
# aprender a **medir** o que as figuras parecem dizer antes de acreditar nelas.
#
# **O que você vai aprender**
#
# - ler um padrão de atenção (`cache["pattern", camada]`): quem é consulta, quem é chave,
#   o que é a diagonal e o que é a "subdiagonal";
# - projetar embeddings e o fluxo residual com PCA e testar se gênero e número
#   aparecem — com um número, não só com os olhos, e dentro de cada subgrupo (uma média
#   pode cancelar dois efeitos fortes);
# - o que guarda cada gancho perto da LN final (`ln_final.hook_normalized` ×
#   `unembed.hook_in`);
# - encontrar um neurônio do MLP que parece um "detector" e testar a hipótese
#   em dados que não foram usados para formulá-la;
# - por que figuras enganam: um modelo **com pesos aleatórios** também "mostra estrutura".
#
# **Tempo estimado:** ~45 min.
#
# **Pré-requisitos:** o notebook 04 (o que são atenção, fluxo residual e MLP, e o que
# guarda cada gancho); ter usado `model.run_with_cache` e o `cache`; PyTorch básico.

# %%
from course_lib.notebook import setup

setup()

import math

import torch

from course_lib import PtGrammar, load_pretrained
from course_lib import activations, plots, widgets
from course_lib.data import NOUNS

model = load_pretrained("lm")
print(model.cfg.n_layers, "camadas,", model.cfg.n_heads, "cabeças por camada,",
      model.cfg.d_model, "= d_model,", model.cfg.d_mlp, "= d_mlp,", model.cfg.d_vocab, "= d_vocab")

# %% [markdown]
# O modelo `lm` foi treinado em frases geradas por uma gramática do português
# (`PtGrammar`): sujeito, oração relativa opcional, verbo, objeto, advérbio... com
# concordância de gênero e número. É pequeno o bastante para rodar tudo aqui em segundos.
#
# ## 1. Mapas de calor da atenção
#
# Vamos rodar uma frase que exige concordância a distância: o verbo "dormem"
# concorda com "gatos", e não com "menino", que está mais perto.

# %%
prompt = "os gatos que o menino viu dormem."
tokens = model.to_tokens(prompt)
str_tokens = model.to_str_tokens(tokens)
with torch.no_grad():
    logits, cache = model.run_with_cache(tokens)
print(str_tokens)
print("formato de cache['pattern', 0]:", tuple(cache["pattern", 0].shape), "= [batch, head, query_pos, key_pos]")

# %% [markdown]
# `cache["pattern", camada]` guarda, para cada cabeça, uma matriz
# `[query_pos, key_pos]`: a linha *q* diz como a posição *q* (a **consulta**, o
# destino da informação) distribui a sua atenção entre as posições *k* (as
# **chaves**, as origens). Duas propriedades que dá para conferir por código:
# cada linha soma 1 (é um softmax) e nada acima da diagonal (o futuro) recebe atenção.

# %%
pattern = cache["pattern", 0][0, 2]  # camada 0, cabeça 2, primeiro (e único) exemplo
print("somas das linhas:", pattern.sum(-1).round(decimals=4).tolist())
print("maior atenção ao futuro:", pattern.triu(diagonal=1).max().item())
pos_labels = [f"{i}:{t}" for i, t in enumerate(str_tokens)]  # os eixos são posições: rótulos pos:token
plots.plot_attention(pattern, pos_labels, title="L0H2: quem olha para quem")

# %% [markdown]
# Todas as 12 cabeças de uma vez (uma linha por camada):

# %%
all_patterns = torch.stack([cache["pattern", l][0] for l in range(model.cfg.n_layers)])
plots.plot_attention_grid(all_patterns, pos_labels, title="Padrões de atenção de todas as cabeças")

# %% [markdown]
# ### Diagonal não é "tokens próximos"
#
# O texto-fonte deste notebook diz que uma "atenção diagonal forte" indica "foco em
# tokens próximos". Cuidado: a **diagonal** (q = k) é a posição olhando para **si mesma**.
# Olhar para o token **anterior** aparece na **subdiagonal** (k = q − 1). Vamos medir,
# para cada cabeça, a atenção média em três lugares: em si mesma, no token anterior e
# no BOS (o primeiro token; em muitos modelos, cabeças sem nada útil a fazer
# "descansam" nele).
# Para a medida não depender de uma frase só, usamos 64 sequências da gramática.

# %%
grammar = PtGrammar()
data = grammar.make_dataset(64, model.cfg.n_ctx, seed=1)  # [64, 32]
with torch.no_grad():
    _, data_cache = model.run_with_cache(data, names_filter=lambda name: name.endswith("hook_pattern"))

print("cabeça   si mesma   anterior   BOS")
for l in range(model.cfg.n_layers):
    p = data_cache["pattern", l]  # [batch, head, q, k]
    self_att = p.diagonal(offset=0, dim1=-2, dim2=-1)[..., 1:].mean((0, 2))  # k = q (sem a consulta 0)
    prev_att = p.diagonal(offset=-1, dim1=-2, dim2=-1).mean((0, 2))  # k = q - 1: a subdiagonal
    bos_att = p[:, :, 1:, 0].mean((0, 2))  # k = 0 (sem a consulta 0)
    for h in range(model.cfg.n_heads):
        print(f"L{l}H{h}    {self_att[h]:.2f}       {prev_att[h]:.2f}       {bos_att[h]:.2f}")

# %% [markdown]
# Ignoramos a consulta 0 nas três medidas: ela só pode olhar para si mesma (que é o
# BOS), então daria 1 de graça. `diagonal(offset=-1)` pega a subdiagonal (k = q − 1).
# Índices de diagonal são fáceis de errar; vale conferir a conta vetorizada contra um
# laço explícito, bem devagar, para uma cabeça:

# %%
p = data_cache["pattern", 0][:, 2]  # L0H2: [batch, q, k]
n_ctx = p.shape[-1]
slow = sum(p[:, q, q - 1].mean() for q in range(1, n_ctx)) / (n_ctx - 1)
fast = p.diagonal(offset=-1, dim1=-2, dim2=-1).mean()
same = abs(slow - fast).item() < 1e-6
print(f"L0H2, atenção no token anterior: {fast:.2f}; laço = vetorizado (diferença < 1e-6): {'✅' if same else '❌'}")

# %% [markdown]
# Neste modelo pequeno as cabeças são bem "espalhadas": nenhuma é uma cabeça de token
# anterior pura. A que mais olha para o anterior é a L0H2. Para explorar outras frases,
# camadas e cabeças, use o explorador (num Jupyter com widgets ele tem controles;
# aqui no teste automático ele vira uma figura estática).

# %%
widgets.attention_explorer(model, "a menina que os gatos amam canta.", layer=0, head=None)

# %% [markdown]
# ## 2. PCA das embeddings: gênero e número aparecem?
#
# A matriz de embedding `W_E` tem uma linha de 64 números por token. Para "ver" 64
# dimensões em 2, a PCA procura as direções de **maior variância**: centramos os
# pontos (subtraímos a média) e fazemos a SVD `Xc = U S Vᵀ`; as linhas de `Vᵀ` são as
# direções e `S²/ΣS²` é a fração da variância que cada uma explica.
# (`activations.pca` faz isso; no caderno de exercícios você vai escrever a sua.)
#
# Vamos olhar só para os substantivos da gramática, cada um no singular e no plural.

# %%
noun_rows = []  # (palavra, gênero, número, classe)
for singular, plural, gender, classes in NOUNS:
    noun_rows.append((singular, gender, "singular", classes[0]))
    noun_rows.append((plural, gender, "plural", classes[0]))
noun_ids = torch.tensor([model.tokenizer.to_single_token(w) for w, *_ in noun_rows])
is_fem = torch.tensor([g == "f" for _, g, _, _ in noun_rows])
is_plural = torch.tensor([n == "plural" for _, _, n, _ in noun_rows])
lemma = torch.arange(len(noun_rows)) // 2  # o mesmo número para "gato" e "gatos"

coords, components, ratio = activations.embedding_pca(model, noun_ids, k=6)
print(len(noun_rows), "formas de substantivos; coords:", tuple(coords.shape), "components:", tuple(components.shape))
print("fração da variância explicada por PC1..PC6:", [round(r, 3) for r in ratio.tolist()])


# %% [markdown]
# Para **medir** se um grupo se separa ao longo de um eixo, usamos o tamanho de efeito
# (o *d* de Cohen): diferença das médias dos dois grupos dividida pelo desvio padrão
# típico. Quanto dois grupos se sobrepõem para um dado *d*? Para duas normais de mesma
# variância, a área comum às duas curvas é `2 Φ(−|d|/2)` (Φ: a distribuição normal
# acumulada). Calculando:

# %%
def cohens_d(values: torch.Tensor, group: torch.Tensor) -> float:
    """(média do grupo True - média do grupo False) / desvio padrão combinado."""
    a, b = values[group], values[~group]
    return ((a.mean() - b.mean()) / ((a.var() + b.var()) / 2).sqrt()).item()


def overlap(d: float) -> float:
    """Área comum a duas normais de variância 1 cujas médias distam d."""
    return math.erfc(abs(d) / 2 / math.sqrt(2))  # = 2 Φ(−|d|/2)


print("  d    sobreposição")
for d in (0.5, 1.0, 2.0, 3.0, 4.0):
    print(f"{d:4.1f}    {overlap(d):.0%}")

# %% [markdown]
# Com *d* = 2 os grupos ainda dividem um terço da área: "separados" de verdade só lá
# por *d* ≈ 4. Guarde a escala e meça, eixo por eixo, o *d* do número e do gênero.
#
# ✍️ **Preveja:** o gênero (masculino/feminino) aparece em algum dos seis eixos? Com que *d*?

# %%
print("eixo    d(número)   d(gênero)")
for j in range(6):
    print(f"PC{j + 1}    {cohens_d(coords[:, j], is_plural):+.2f}       {cohens_d(coords[:, j], is_fem):+.2f}")

# %% [markdown]
# O número aparece forte num eixo (a PC3). O gênero parece não aparecer em nenhum: |d|
# abaixo de 0,7 nos seis. Mas a média de todos os substantivos pode esconder uma
# **interação**. Medindo o gênero **dentro** de cada número:

# %%
sing, plur = ~is_plural, is_plural
print("eixo    d(gênero) nos singulares   nos plurais   todos juntos")
for j in range(6):
    print(f"PC{j + 1}    {cohens_d(coords[sing, j], is_fem[sing]):+.2f}                     "
          f"{cohens_d(coords[plur, j], is_fem[plur]):+.2f}         {cohens_d(coords[:, j], is_fem):+.2f}")
d_sing, d_plur = cohens_d(coords[sing, 0], is_fem[sing]), cohens_d(coords[plur, 0], is_fem[plur])
assert d_sing < -2 and d_plur > 2 and abs(cohens_d(coords[:, 0], is_fem)) < 0.3  # o texto abaixo depende disto

# %% [markdown]
# A PC1, o eixo de **maior** variância, é o gênero — com o sinal trocado conforme o
# número: nos singulares os femininos ficam de um lado (*d* ≈ −2,5), nos plurais do
# outro (*d* ≈ +3,0), e misturando os dois os efeitos se cancelam (*d* ≈ +0,1). A PC1
# é o produto **gênero × número**: "feminino singular" e "masculino plural" de um lado,
# "masculino singular" e "feminino plural" do outro. A tabela anterior, que só olhava a
# média de todos, lia o achado principal ao contrário. Na figura (PC1 × PC3, o eixo do
# número), as quatro combinações:

# %%
best = max(range(6), key=lambda j: abs(cohens_d(coords[:, j], is_plural)))
print(f"componente que mais separa o número: PC{best + 1}")
four = [f"{'fem.' if f else 'masc.'} {'plural' if p else 'singular'}" for f, p in zip(is_fem.tolist(), is_plural.tolist())]
plots.plot_pca(coords[:, [0, best]], [w for w, *_ in noun_rows], groups=four,
               title="Embeddings dos substantivos: gênero × número",
               explained_variance=ratio[[0, best]], axis_names=("PC1", f"PC{best + 1}"))

# %% [markdown]
# (Nem todo rótulo aparece: `plot_pca` pula os que cairiam em cima de outro; todos os
# pontos estão lá.)
#
# ### Medindo com dados de fora: um classificador linear simples
#
# "Os pontos parecem separados" não é uma medida. Uma medida honesta: escolher uma
# direção com **metade das palavras** e testar nas **outras** (palavras que a regra
# nunca viu). A regra mais simples é a diferença de médias: direção
# `w = μ₁ − μ₀` (as médias dos dois grupos) e limiar no ponto médio entre as duas médias
# (`activations.diff_of_means_accuracy`; no caderno de exercícios você escreve a sua).
# Separamos por lema (gato/gatos ficam juntos) para que o teste não veja a outra
# forma da mesma palavra.
#
# ✍️ **Preveja:** a regra acerta o gênero de palavras novas melhor dentro de cada número
# ou com todos os substantivos juntos?

# %%
def lemma_split(lemma: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Máscara de teste: metade dos lemas, sorteada com `seed`."""
    lemmas = lemma.unique()
    perm = torch.randperm(len(lemmas), generator=torch.Generator().manual_seed(seed))
    return torch.isin(lemma, lemmas[perm[: len(lemmas) // 2]])


def heldout(X: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, n_splits: int = 5) -> tuple[float, float]:
    """Acurácias médias (treino, palavras novas) da diferença de médias nas linhas `rows`, em `n_splits` sorteios."""
    Xg, yg, lemma_g = X[rows], y[rows], lemma[rows]  # só o subgrupo
    accs = torch.zeros(n_splits, 2)
    for seed in range(n_splits):
        is_test = lemma_split(lemma_g, seed)
        accs[seed, 0] = activations.diff_of_means_accuracy(Xg[~is_test], yg[~is_test], Xg[~is_test], yg[~is_test])
        accs[seed, 1] = activations.diff_of_means_accuracy(Xg[~is_test], yg[~is_test], Xg[is_test], yg[is_test])
    return tuple(accs.mean(0).tolist())


every = torch.ones_like(is_fem)


def embedding_scores(W_E_rows: torch.Tensor) -> dict:
    """{nome: (treino, palavras novas)} para o número e para o gênero (junto e dentro de cada número)."""
    return {
        "número": heldout(W_E_rows, is_plural, every),
        "gênero, todos juntos": heldout(W_E_rows, is_fem, every),
        "gênero nos singulares": heldout(W_E_rows, is_fem, sing),
        "gênero nos plurais": heldout(W_E_rows, is_fem, plur),
    }


trained_scores = embedding_scores(model.W_E[noun_ids].detach())
for name, (train_acc, test_acc) in trained_scores.items():
    print(f"{name:22s} acurácia no treino {train_acc:.2f}, em palavras novas {test_acc:.2f} (acaso = 0.50)")
assert min(trained_scores["gênero nos singulares"][1], trained_scores["gênero nos plurais"][1]) > 0.85
assert trained_scores["gênero, todos juntos"][1] < 0.75

# %% [markdown]
# O gênero **está** nas embeddings, e de um jeito que generaliza para substantivos
# novos: a regra acerta em torno de 0,94 das palavras novas dentro de cada número. Com
# todos juntos, a mesma regra cai para perto de 0,64, porque a diferença de médias
# procura **uma** direção com o mesmo sinal para todos, e na PC1 o sinal do gênero
# depende do número. Moral: antes de dizer "o atributo não está lá", meça dentro dos
# subgrupos; uma média pode cancelar dois efeitos fortes. Guarde também a diferença
# entre treino e teste: ela vai importar na seção 5.
#
# **Por que não t-SNE ou UMAP?** São as projeções "bonitas" mais usadas, mas não entram
# no curso: seriam uma dependência nova (nenhuma das duas está no `requirements.txt`), o
# desenho muda com a semente e com a CPU (não daria uma saída guardada reproduzível) e as
# distâncias entre aglomerados no plano não querem dizer nada. A PCA é uma projeção
# linear: cada eixo é uma direção do espaço que podemos medir (o *d* acima) e as
# distâncias no plano seguem as de verdade, na medida em que a variância coberta deixa:

# %%
X_nouns = model.W_E[noun_ids].detach()
plane = coords[:, [0, best]]
far = torch.pdist(X_nouns - X_nouns.mean(0))
near = torch.pdist(plane)
corr = torch.corrcoef(torch.stack([far, near]))[0, 1].item()
print(f"variância no plano PC1 × PC{best + 1}: {ratio[[0, best]].sum():.0%}; "
      f"correlação entre as distâncias no plano e em 64 dimensões: {corr:.2f}")

# %% [markdown]
# ## 3. PCA do fluxo residual
#
# As embeddings são só o começo do fluxo residual. Vamos pegar o resíduo **final**
# (depois das 3 camadas e da LN final), que é o que o desembedding lê, nas posições em
# que aparece um substantivo, em 200 sequências de texto.
#
# Qual gancho guarda isso? Dois ganchos ficam perto da LN final, e não guardam a mesma
# coisa:
#
# - `ln_final.hook_normalized`: `(x − média) / desvio`, **antes** do ganho `w` e do viés
#   `b` da LN (como no TransformerLens 3.x; no TransformerLens 2.x, o do ARENA, este gancho
#   já incluía `w` e `b`);
# - `unembed.hook_in`: a saída inteira da LN final, `normalized · w + b`: é isto que
#   multiplica `W_U`.

# %%
text = grammar.make_dataset(200, model.cfg.n_ctx, seed=2)  # [200, 32]
with torch.no_grad():
    _, text_cache = model.run_with_cache(text, names_filter=["ln_final.hook_normalized", "unembed.hook_in"])
resid = text_cache["unembed.hook_in"]  # [200, 32, 64]: o que W_U lê
normalized = text_cache["ln_final.hook_normalized"]
err = (normalized * model.ln_final.w + model.ln_final.b - resid).abs().max().item()
print(f"unembed.hook_in = ln_final.hook_normalized · w + b   (erro < 1e-5: {'✅' if err < 1e-5 else '❌'})")
print(f"e sem w e b eles diferem: maior diferença {(normalized - resid).abs().max():.1f}")

position_of = {int(i): n for n, i in enumerate(noun_ids)}  # id do token -> linha de noun_rows
is_noun = torch.isin(text, noun_ids)
row_of_pos = torch.tensor([position_of[int(t)] for t in text[is_noun]])
X_resid = resid[is_noun]  # [n_posições, 64]
print("posições com substantivo:", X_resid.shape[0])

coords_r, _, ratio_r = activations.pca(X_resid, k=4)
print("variância explicada:", [round(r, 2) for r in ratio_r.tolist()])
print("eixo    d(número)   d(gênero)")
for j in range(4):
    print(f"PC{j + 1}    {cohens_d(coords_r[:, j], is_plural[row_of_pos]):+.2f}       "
          f"{cohens_d(coords_r[:, j], is_fem[row_of_pos]):+.2f}")

# %%
best_r = max(range(4), key=lambda j: abs(cohens_d(coords_r[:, j], is_plural[row_of_pos])))
print(f"componente do resíduo final que mais separa o número: PC{best_r + 1} "
      f"({100 * ratio_r[best_r]:.0f}% da variância)")

# %% [markdown]
# No fim do modelo, o **número** é a direção de maior variância (a PC1, *d* ≈ −3,7). Faz
# sentido: logo depois de um substantivo vem um adjetivo, "que" ou o verbo, e todos
# concordam em número. O gênero não aparece em nenhuma das quatro primeiras
# componentes (|d| ≤ 0,12), nem com a média de todos.

# %%
show = torch.arange(0, X_resid.shape[0], 12)  # uma em cada 12 posições, para a figura ficar legível
show = show[is_plural[row_of_pos[show]].argsort(stable=True)]  # singulares primeiro: mesmas cores de antes
plots.plot_pca(coords_r[show, :2], [""] * len(show),
               groups=[noun_rows[r][2] for r in row_of_pos[show]],
               title="Resíduo final nas posições de substantivos", explained_variance=ratio_r[:2],
               axis_names=("PC1", "PC2"))

# %% [markdown]
# ### Invisível na PCA não quer dizer ausente
#
# A PCA mostra as direções de **maior variância**, não as que o modelo **usa**. Uma
# direção com pouca variância pode carregar um atributo inteiro. A diferença de médias
# sofre do mesmo problema: ela aponta na direção das médias, mas é puxada pelas
# direções de muita variância. O discriminante de Fisher corrige isso "branqueando"
# os dados: `d = Σ⁻¹ (μ₁ − μ₀)`, com Σ a covariância dentro dos grupos (mais um
# pouquinho da identidade, para a matriz ser inversível). Testamos em lemas novos.

# %%
def fisher_accuracy(X, y, test, ridge: float = 1e-2) -> float:
    """Acurácia, nas linhas `test`, do discriminante de Fisher ajustado nas outras linhas."""
    Xtr, ytr = X[~test], y[~test]
    means = torch.stack([Xtr[ytr == group].mean(0) for group in (False, True)])  # [2, d]
    within = Xtr - means[ytr.long()]  # cada ponto menos a média do seu grupo
    cov = within.T @ within / (len(within) - 1) + ridge * torch.eye(X.shape[1])
    w = torch.linalg.solve(cov, means[1] - means[0])
    predicted = (X[test] - means.mean(0)) @ w > 0
    return (predicted == y[test]).double().mean().item()


test_pos = lemma_split(lemma[row_of_pos], seed=0)
for name, y in (("número", is_plural[row_of_pos]), ("gênero", is_fem[row_of_pos])):
    mean_acc = activations.diff_of_means_accuracy(X_resid[~test_pos], y[~test_pos], X_resid[test_pos], y[test_pos])
    print(f"{name}: diferença de médias {mean_acc:.2f}   Fisher {fisher_accuracy(X_resid, y, test_pos):.2f}   (lemas novos)")

# %% [markdown]
# A diferença de médias ingênua fica **abaixo** do acaso para o gênero (0,39). Mas o
# gênero **está** no resíduo final, linearmente, e generaliza para substantivos novos
# (Fisher: 0,95) — só não está numa direção de muita variância. Moral: a PCA é ótima
# para levantar hipóteses, péssima para descartá-las.
#
# ## 4. Neurônios: quais tokens mais ativam cada um?
#
# Cada camada tem `d_mlp = 256` neurônios; a ativação de um neurônio é um número por
# posição (`blocks.L.mlp.hook_post`, depois da GELU). A "saliência" mais simples:
# listar as posições do texto que mais o ativam. `activations.top_activating_tokens`
# devolve `(valor, exemplo, posição, token)`.
#
# Vamos separar os dados desde já: um texto para **levantar** hipóteses e outros,
# nunca vistos, para **testá-las**.

# %%
discovery = grammar.make_dataset(100, model.cfg.n_ctx, seed=3)  # para levantar hipóteses
test_a = grammar.make_dataset(100, model.cfg.n_ctx, seed=4)  # para testar a 1ª hipótese
test_b = grammar.make_dataset(100, model.cfg.n_ctx, seed=5)  # para testar a hipótese refinada

top = activations.top_activating_tokens(model, discovery, layer=0, neuron=177, k=12)
for value, b, p, token_id in top[:5]:
    context = model.to_str_tokens(discovery[b, max(0, p - 3): p + 1])
    print(f"{value:.2f}  ...{' '.join(context)}")
print("os 12 tokens:", [model.tokenizer.vocab[t] for *_, t in top])

# %% [markdown]
# (Escolhemos o neurônio 177 da camada 0 depois de olhar as listas de vários neurônios —
# exatamente o tipo de garimpo que a seção 5 vai pôr à prova.)
#
# Todos femininos e no plural. Parece um **detector de "feminino plural"**. A tabela
# de `neuron_top_tokens_table` mostra alguns neurônios lado a lado (uma coluna por
# neurônio):

# %%
import pandas as pd

table = pd.DataFrame(activations.neuron_top_tokens_table(model, discovery, layer=0, neurons=[177, 22, 4], k=6))
table.pivot(index="rank", columns="neuron", values="token")

# %% [markdown]
# O 22 parece gostar de verbos; o 4, de substantivos. Mas 6 ou 12 exemplos são pouca
# evidência. Vamos transformar a hipótese do neurônio 177 num teste:
#
# 1. definir a categoria **antes** de olhar os dados de teste: as palavras femininas no
#    plural do léxico (substantivos, adjetivos, artigos "as/umas", "nas", "sozinhas", "juntas");
# 2. medir em texto novo se o neurônio separa a categoria do resto. Medida: a **AUC**,
#    a chance de uma posição da categoria, sorteada, ativar mais que uma posição de
#    fora. 0,5 = acaso, 1,0 = separação perfeita.

# %%
from course_lib.data import ADJECTIVES, ALONE, DEFINITE, IN_THE, INDEFINITE, TOGETHER


def ids_of(words) -> torch.Tensor:
    return torch.tensor(sorted({model.tokenizer.to_single_token(w) for w in words}))


fem_plural = ids_of([pl for _, pl, g, _ in NOUNS if g == "f"]
                    + [fp for _, fs, _, fp, _ in ADJECTIVES if fs.endswith("a")]  # "bonitas", não "grandes"
                    + [DEFINITE["f", "pl"], INDEFINITE["f", "pl"], IN_THE["f", "pl"], ALONE["f", "pl"], TOGETHER["f"]])
print(len(fem_plural), "palavras na categoria")


def auc(acts: torch.Tensor, in_category: torch.Tensor) -> float:
    """P(ativação de uma posição da categoria > ativação de uma posição de fora)."""
    pos, neg = acts[in_category], acts[~in_category]
    return (pos[:, None] > neg[None, :]).float().mean().item()


acts_a = activations.neuron_acts(model, test_a, layer=0, neurons=[177])[..., 0]  # [100, 32]
print(f"AUC de L0N177 para 'feminino plural' (texto de teste A): {auc(acts_a, torch.isin(test_a, fem_plural)):.2f}")

# %% [markdown]
# Bem acima do acaso, mas longe de perfeito. Onde a hipótese falha? Quebrando a
# categoria em pedaços (ainda no texto A):

# %%
animate = ("humano", "animal")
groups = {
    "subst. fem. plural, ser animado": ids_of([pl for _, pl, g, c in NOUNS if g == "f" and c[0] in animate]),
    "subst. fem. plural, coisa/lugar": ids_of([pl for _, pl, g, c in NOUNS if g == "f" and c[0] not in animate]),
    "adjetivo fem. plural": ids_of([fp for _, fs, _, fp, _ in ADJECTIVES if fs.endswith("a")]),
    "artigos 'as/umas'": ids_of(["as", "umas"]),
    "subst. masc. plural, ser animado": ids_of([pl for _, pl, g, c in NOUNS if g == "m" and c[0] in animate]),
    "subst. singular": ids_of([sg for sg, *_ in NOUNS]),
}
for name, ids in groups.items():
    mask = torch.isin(test_a, ids)
    print(f"{name:34s} ativação média {acts_a[mask].mean():+.2f}  ({int(mask.sum())} posições)")

# %% [markdown]
# O neurônio responde a **seres animados** femininos no plural ("gatas", "meninas"),
# não a coisas e lugares femininos no plural (como "casas" e "bananas"), nem aos
# artigos; os adjetivos ficam no meio do caminho. Olhando de
# novo o top-12: todos eram pessoas ou animais — a pista estava lá, mas a primeira
# história que contamos era maior do que os dados.
#
# A hipótese refinada foi escolhida **olhando o texto A**, então testá-la no texto A
# seria trapacear. Testamos no texto B, e também só em palavras que **não** estavam no
# top-12 (para ver se generaliza além dos exemplos que a inspiraram).

# %%
refined = groups["subst. fem. plural, ser animado"]
acts_b = activations.neuron_acts(model, test_b, layer=0, neurons=[177])[..., 0]
print(f"AUC para 'ser animado feminino plural' no texto B: {auc(acts_b, torch.isin(test_b, refined)):.2f}")
seen = torch.tensor(sorted({t for *_, t in top}))
new_words = ~torch.isin(test_b, seen)
unseen = [model.tokenizer.vocab[int(i)] for i in refined if int(i) not in seen]
print("palavras da categoria que não estavam no top-12:", unseen)
print(f"AUC só com palavras fora do top-12: {auc(acts_b[new_words], torch.isin(test_b[new_words], refined)):.2f}")

# %% [markdown]
# ## 5. Cuidado: figuras (e listas) enganam
#
# Um modelo com **pesos aleatórios** (mesma arquitetura, nenhum treino) não sabe nada
# de português. Vamos repetir nele as análises acima.

# %%
from course_lib import HookedTransformer

random_model = HookedTransformer(model.cfg, tokenizer=model.tokenizer)  # inicialização aleatória (semente 0)
random_scores = embedding_scores(random_model.W_E[noun_ids].detach())
print(f"{'':22s}    treinado (treino / novas)   aleatório (treino / novas)")
for name in trained_scores:
    (a, b), (c, d) = trained_scores[name], random_scores[name]
    print(f"{name:22s}    {a:.2f} / {b:.2f}                 {c:.2f} / {d:.2f}")

# %% [markdown]
# Olhe a coluna **treino** do modelo aleatório: bem acima de 0,5 (até 0,96)! Com 56
# pontos de treino em 64 dimensões (28 dentro de um número), quase qualquer divisão em
# dois grupos tem alguma direção que a separa razoavelmente — a regra "aprende" ruído.
# Só a coluna **palavras novas** mostra a verdade: acaso para o aleatório (0,46 a 0,51),
# inclusive nas linhas "dentro de cada número", onde o treinado acerta 0,94. É este
# controle que faz do 0,94 uma descoberta.
#
# A PCA do modelo aleatório também "mostra estrutura". Vamos projetar o resíduo final
# dele em todas as posições do texto da seção 3, pintando cada ponto pela posição na
# sequência.

# %%
with torch.no_grad():
    _, random_cache = random_model.run_with_cache(text, names_filter="unembed.hook_in")
X_rand = random_cache["unembed.hook_in"].flatten(0, 1)  # [200 * 32, 64]
position = torch.arange(text.shape[1]).repeat(text.shape[0])  # posição de cada linha de X_rand
coords_rr, _, ratio_rr = activations.pca(X_rand, k=2)
show = torch.arange(0, len(X_rand), 13)  # passo 13: pega todas as posições
bucket = ["posição 0-3" if p < 4 else "posição 4-15" if p < 16 else "posição 16-31" for p in position[show].tolist()]
plots.plot_pca(coords_rr[show], [""] * len(show), groups=bucket,
               title="Modelo ALEATÓRIO: resíduo final", explained_variance=ratio_rr)

# %% [markdown]
# Aglomerados, caudas, os começos de sequência reunidos num canto... num modelo que
# não aprendeu nada. De onde vem isso? Medimos quanto da variância do resíduo é explicada
# só por saber **a posição**, ou só por saber **qual é o token**:
# `1 − (variância dentro dos grupos) / (variância total)`.

# %%
def explained_by(X: torch.Tensor, labels: torch.Tensor) -> float:
    """Fração da variância de X [n, d] explicada pela média de cada grupo de `labels` [n]."""
    total = (X - X.mean(0)).pow(2).sum()
    within = sum((X[labels == g] - X[labels == g].mean(0)).pow(2).sum() for g in labels.unique())
    return (1 - within / total).item()


with torch.no_grad():
    _, trained_cache = model.run_with_cache(text, names_filter="unembed.hook_in")
X_trained = trained_cache["unembed.hook_in"].flatten(0, 1)
print("             explicada pela posição   explicada pelo token")
for label, X in (("treinado", X_trained), ("aleatório", X_rand)):
    print(f"{label:9s}    {explained_by(X, position):.2f}                     {explained_by(X, text.flatten()):.2f}")

# %% [markdown]
# No modelo aleatório, cerca de metade da variância é **posição** (as embeddings
# posicionais aleatórias atravessam as camadas) e cerca de metade é o **token atual**.
# Os desenhos da PCA são marcas da arquitetura e da entrada, não de algo aprendido.
# (No modelo treinado o retrato é outro: a posição quase não aparece no resíduo final.)
# Uma figura só vira evidência quando é comparada com um controle e medida.
#
# Com neurônios acontece o mesmo. Imagine olhar neurônio por neurônio, num texto
# pequeno, e anotar todo neurônio cujo top-10 tem pelo menos 80% de uma categoria
# (com pelo menos 4 palavras diferentes). Vamos fazer exatamente isso nos dois modelos
# e depois medir cada "detector" anotado em texto novo, só com palavras que não
# estavam no seu top-10.

# %%
categories = {
    "substantivo": ids_of([w for sg, pl, _, _ in NOUNS for w in (sg, pl)]),
    "plural": ids_of([pl for _, pl, _, _ in NOUNS] + ["os", "as", "uns", "umas"]),
    "feminino plural": fem_plural,
}
small = grammar.make_dataset(20, model.cfg.n_ctx, seed=6)  # texto pequeno para "olhar"


def neuron_stories(m) -> list[float]:
    """AUC em texto novo (só palavras fora do top-10) de cada 'detector' achado no texto pequeno."""
    every_neuron = list(range(m.cfg.d_mlp))
    acts_small = activations.neuron_acts(m, small, 0, every_neuron).flatten(0, 1)  # [posições, neurônios]
    acts_new = activations.neuron_acts(m, test_b, 0, every_neuron).flatten(0, 1)
    small_flat, new_flat = small.flatten(), test_b.flatten()
    aucs = []
    for n in range(m.cfg.d_mlp):
        top10 = small_flat[acts_small[:, n].topk(10).indices]
        if len(top10.unique()) < 4:
            continue
        keep = ~torch.isin(new_flat, top10)
        for ids in categories.values():
            if torch.isin(top10, ids).float().mean() >= 0.8:
                aucs.append(auc(acts_new[keep, n], torch.isin(new_flat[keep], ids)))
    return aucs


print("modelo      detectores   AUC ≥ 0.8   AUC < 0.6   AUC média")
for label, m in (("treinado", model), ("aleatório", random_model)):
    aucs = torch.tensor(neuron_stories(m))
    print(f"{label:9s}   {len(aucs):6d}       {int((aucs >= 0.8).sum()):5d}       "
          f"{int((aucs < 0.6).sum()):5d}       {aucs.mean():.2f}")

# %% [markdown]
# Duas lições na mesma tabela. No modelo aleatório também aparecem "detectores" com
# top-10 convincente — e nenhum sobrevive ao teste. E mesmo no modelo treinado boa
# parte das histórias que uma lista de 10 exemplos sugere **não** generaliza. Só a
# medida em dados novos separa um detector de uma coincidência.
#
# ## Resumo
#
# - Padrão de atenção: linha = consulta (destino), coluna = chave (origem); a diagonal é
#   o próprio token, a subdiagonal é o anterior.
# - A PCA mostra direções de muita variância. Nas embeddings, a PC1 é gênero × número
#   (*d* do gênero −2,5 nos singulares, +3,0 nos plurais, +0,1 misturando): a média de
#   todos escondia o gênero, que a diferença de médias decodifica em 0,94 de palavras
#   novas dentro de cada número (0,64 misturando). No resíduo final, o gênero não está
#   nas direções de muita variância, mas um classificador de Fisher o encontra (0,95).
# - `ln_final.hook_normalized` é antes de `w` e `b`; o desembedding lê `unembed.hook_in`.
# - Os tokens do topo de um neurônio geram hipóteses; a AUC em dados novos as testa.
# - Compare sempre com um controle (um modelo aleatório) e meça em dados que não foram
#   usados para escolher o que olhar.
