# %% [markdown]
# # 07 · Tipos de cabeças: token anterior, token atual e primeiro token
#
# Cada cabeça de atenção decide, a cada posição, **de onde** ler. Algumas cabeças
# tomam essa decisão de um jeito tão regular que dá para resumi-las numa frase:
# "esta olha sempre para o token anterior", "esta olha para o começo do texto".
# Neste notebook damos nome a esses comportamentos, medimos cada um com um número
# e depois abrimos os pesos para ver **onde** o comportamento está escrito.
#
# **O que você vai aprender**
#
# - os três padrões de atenção mais simples: cabeça de *token anterior*, de *token atual*
#   e de *primeiro token* (o BOS);
# - como transformar cada padrão num escore entre 0 e 1 e por que a posição 0 fica de fora;
# - como detectar esses tipos nos dois modelos do curso (`induction` e `lm`), com mapas de
#   calor, rótulos automáticos e padrões feitos sob medida (`detect_pattern`);
# - os circuitos de uma cabeça como matrizes: $W_{QK} = W_Q W_K^\top$ (para onde olhar) e
#   $W_{OV} = W_V W_O$ (o que copiar), seus formatos e por que o posto é no máximo $d_{head}$;
# - o circuito QK completo sobre tokens ($W_E W_{QK} W_E^\top$) e o circuito QK posicional
#   ($W_{pos} W_{QK} W_{pos}^\top$), onde a cabeça de token anterior aparece como uma faixa
#   logo abaixo da diagonal.
#
# **Tempo estimado:** ~45 min
#
# **Pré-requisitos:** atenção multi-cabeça ($W_Q, W_K, W_V, W_O$, máscara causal, softmax),
# padrões de atenção no cache (`cache["pattern", camada]`, formato `[batch, head, query_pos, key_pos]`)
# e `run_with_cache`.

# %%
from course_lib.notebook import setup

setup()

import math

import torch

from course_lib import circuits, detectors, plots, widgets
from course_lib import load_metadata, load_pretrained
from course_lib.induction import make_repeated_batch

# %% [markdown]
# ## 1. Três comportamentos simples
#
# Um padrão de atenção é uma matriz `[query_pos, key_pos]`: a linha $q$ diz como a
# posição $q$ (a **consulta**, o destino) divide sua atenção entre as posições
# $k \le q$ (as **chaves**, as origens). Cada linha soma 1 e, por causa da máscara
# causal, tudo acima da diagonal é zero.
#
# Três formas são tão comuns que ganharam nome:
#
# | Tipo | Para onde a consulta $q$ olha | Onde aparece na matriz |
# |---|---|---|
# | token anterior | chave $q-1$ | a diagonal logo **abaixo** da principal |
# | token atual | chave $q$ (ela mesma) | a diagonal **principal** |
# | primeiro token | chave $0$, o BOS | a **primeira coluna** |
#
# Vamos construir as três versões "ideais" à mão, numa frase da gramática do curso.

# %%
lm = load_pretrained("lm")
sentence = "o gato procurou os professores ."
str_tokens = lm.to_str_tokens(sentence)
pos = len(str_tokens)
print(f"{pos} tokens: {str_tokens}")

q_idx = torch.arange(pos)
prev_ideal = torch.zeros(pos, pos)
prev_ideal[q_idx, (q_idx - 1).clamp(min=0)] = 1.0  # a posição 0 não tem anterior: fica em si mesma
current_ideal = torch.eye(pos)
first_ideal = torch.zeros(pos, pos)
first_ideal[:, 0] = 1.0
ideal = torch.stack([prev_ideal, current_ideal, first_ideal])  # [3, pos, pos]

# São padrões válidos? Linhas somam 1 e nada acima da diagonal.
assert torch.allclose(ideal.sum(-1), torch.ones(3, pos))
assert (ideal.triu(diagonal=1) == 0).all()
print("formato:", tuple(ideal.shape), "| linhas somam 1 e nada no futuro: ok")

# %%
ideal_names = ["(I) token anterior", "(II) token atual", "(III) primeiro token"]
fig = plots.plot_attention_grid(ideal, [f"{i}:{t}" for i, t in enumerate(str_tokens)], title="Três padrões ideais")
for ax, name in zip(fig.axes, ideal_names):
    ax.set_title(name)
fig

# %% [markdown]
# Repare na **primeira linha**: nos três padrões ela é igual. Não é coincidência. A
# consulta 0 só enxerga uma chave (ela mesma), então o softmax é obrigado a pôr toda a
# atenção ali. Vamos conferir num modelo de verdade: em **todas** as cabeças, a linha 0
# do padrão é exatamente `[1, 0, 0, ...]`.

# %%
_, lm_cache = lm.run_with_cache(lm.to_tokens(sentence))
row0 = torch.stack([lm_cache["pattern", l][0, :, 0, :] for l in range(lm.cfg.n_layers)])  # [layer, head, key]
expected_row0 = torch.zeros(pos)
expected_row0[0] = 1.0
print("linha 0 é [1, 0, ..., 0] em todas as", row0.shape[0] * row0.shape[1], "cabeças:",
      torch.allclose(row0, expected_row0.expand_as(row0)))

# %% [markdown]
# A consequência prática: a posição 0 não diz nada sobre a cabeça. Por isso os escores
# abaixo usam só as consultas $q \ge 1$.
#
# ## 2. Um escore para cada tipo
#
# Para um padrão $A$ de formato `[batch, head, q, k]`, o escore de cada tipo é a atenção
# média na chave "certa", na média do lote e das consultas $q = 1, \dots, \text{pos}-1$:
#
# $$\text{anterior} = \operatorname{média}_{b,\,q\ge1} A[b, q, q-1] \qquad
# \text{atual} = \operatorname{média}_{b,\,q\ge1} A[b, q, q] \qquad
# \text{primeiro} = \operatorname{média}_{b,\,q\ge1} A[b, q, 0]$$
#
# Cada escore fica entre 0 e 1: é a fração da atenção que cai no lugar esperado.
# O módulo `course_lib.detectors` faz essas contas: `previous_token_scores`,
# `current_token_scores` e `first_token_scores` recebem um cache (ou os padrões
# `[layer, batch, head, q, k]`) e devolvem um escore `[n_layers, n_heads]`. (No caderno de
# exercícios você escreve os seus.) Nos três padrões ideais:

# %%
as_one_layer = ideal[None, None]  # [layer=1, batch=1, "cabeça"=3, q, k]: os 3 padrões ideais como cabeças
table = torch.cat([
    detectors.previous_token_scores(as_one_layer),
    detectors.current_token_scores(as_one_layer),
    detectors.first_token_scores(as_one_layer),
])  # [3 escores, 3 padrões]
print(f"{'padrão / escore':<22}{'anterior':>9}{'atual':>9}{'primeiro':>9}")
for name, column in zip(ideal_names, table.T):
    print(f"{name:<22}" + "".join(f"{v:9.3f}" for v in column.tolist()))

# %% [markdown]
# A diagonal da tabela é 1, como esperado. Há um detalhe fora da diagonal: o padrão
# ideal de token anterior tem escore de primeiro token maior que zero. Na consulta
# $q = 1$ o token anterior **é** o primeiro token, então essa consulta conta para os
# dois (e, pelo mesmo motivo, o padrão ideal de primeiro token ganha um pouco de escore de
# token anterior). Com `pos` posições, isso vale $1/(\text{pos}-1)$:

# %%
print(f"1/(pos-1) = 1/{pos - 1} = {1 / (pos - 1):.3f}  | na tabela: {table[2, 0].item():.3f}")

# %% [markdown]
# ## 3. O modelo de indução
#
# O checkpoint `induction` é um transformer de 2 camadas, 4 cabeças por camada, só de
# atenção, treinado em sequências de tokens aleatórios que se repetem. Vamos alimentá-lo
# com o tipo de dado que ele conhece: `[BOS, x_1..x_n, x_1..x_n]`.

# %%
model = load_pretrained("induction")
meta = load_metadata("induction")
cfg = model.cfg
print(f"camadas={cfg.n_layers}  cabeças={cfg.n_heads}  d_model={cfg.d_model}  d_head={cfg.d_head}  "
      f"d_vocab={cfg.d_vocab}  n_ctx={cfg.n_ctx}")

tokens = make_repeated_batch(model, batch=8, seq_len=20)
print("tokens:", tuple(tokens.shape), "| primeira linha começa com", tokens[0, :6].tolist())
_, cache = model.run_with_cache(tokens)

prev_scores = detectors.previous_token_scores(cache)
current_scores = detectors.current_token_scores(cache)
first_scores = detectors.first_token_scores(cache)

# %%
plots.plot_head_scores(prev_scores, title="Modelo de indução: escore de token anterior", colorbar_label="escore")

# %%
plots.plot_head_scores(current_scores, title="Modelo de indução: escore de token atual", colorbar_label="escore")

# %%
plots.plot_head_scores(first_scores, title="Modelo de indução: escore de primeiro token", colorbar_label="escore")

# %% [markdown]
# O que os números dizem (todos impressos abaixo):
#
# - na camada 0 há uma cabeça de token anterior quase perfeita;
# - nenhuma cabeça deste modelo é de token atual: o maior escore é pequeno;
# - uma cabeça da camada 0 põe boa parte da atenção no BOS, e as cabeças da camada 1 também.

# %%
def head_name(flat_index: int, n_heads: int) -> str:
    """Índice no escore achatado -> 'camada.cabeça'."""
    layer, head = divmod(flat_index, n_heads)
    return f"{layer}.{head}"


best_prev = head_name(int(prev_scores.argmax()), cfg.n_heads)
print(f"melhor cabeça de token anterior: {best_prev} (escore {prev_scores.max().item():.3f})")
print(f"escores de token anterior na camada 0: {[round(v, 2) for v in prev_scores[0].tolist()]}")
print(f"maior escore de token atual: {current_scores.max().item():.3f}")
best_first_0 = int(first_scores[0].argmax())
print(f"maior escore de primeiro token na camada 0: cabeça 0.{best_first_0} ({first_scores[0, best_first_0].item():.3f})")
print(f"escores de primeiro token na camada 1: {[round(v, 2) for v in first_scores[1].tolist()]}")
print("cabeça de token anterior segundo os metadados do checkpoint:", meta["metrics"]["prev_token_head"])
# As frases acima valem para este checkpoint; se ele mudar, estas conferências avisam.
assert meta["metrics"]["prev_token_head"] == best_prev and prev_scores.max() > 0.95
assert current_scores.max() < 0.1

# %% [markdown]
# `detectors.label_heads(model, tokens)` junta tudo: dá a cada cabeça o tipo de maior
# escore, se ele passar de um limiar (0,5 por padrão), e "sem tipo claro" caso contrário.
# Como os nossos tokens têm o formato `[BOS, x, x]`, ele também mede **indução**, o tipo
# do próximo notebook.

# %%
labels_here = detectors.label_heads(model, tokens)
for head, label in labels_here.items():
    print(f"cabeça {head}: {label}")

# %% [markdown]
# Os rótulos dependem dos dados. Sem `tokens`, `label_heads` usa um lote próprio, com
# sequências mais longas (o maior $n$ que cabe no contexto). Compare a cabeça de primeiro
# token da camada 0 nos dois casos:

# %%
default_batch = make_repeated_batch(model)
_, default_cache = model.run_with_cache(default_batch)
head_0 = f"0.{best_first_0}"
print(f"nossos tokens {tuple(tokens.shape)}: escore de primeiro token "
      f"{first_scores[0, best_first_0].item():.2f} -> {labels_here[head_0]}")
print(f"lote padrão {tuple(default_batch.shape)}: escore de primeiro token "
      f"{detectors.first_token_scores(default_cache)[0, best_first_0].item():.2f} -> "
      f"{detectors.label_heads(model)[head_0]}")
assert detectors.first_token_scores(default_cache)[0, best_first_0] < 0.5 <= first_scores[0, best_first_0]

# %% [markdown]
# Nas sequências mais longas a cabeça põe menos atenção no BOS e fica abaixo do limiar.
# Um escore sempre vale "nestes dados": ao comparar cabeças, use os mesmos tokens para
# todas.

# %% [markdown]
# Números são bons, mas vale olhar os padrões. O explorador abaixo mostra uma sequência
# curta (8 tokens repetidos). Ao rodar no Jupyter você pode trocar camada e cabeça; aqui
# aparece a grade da camada 0.

# %%
short = make_repeated_batch(model, batch=1, seq_len=8, seed=1)
widgets.attention_explorer(model, short[0], layer=0, head=None)

# %% [markdown]
# A 0.0 é a faixa limpa logo abaixo da diagonal. Mas a 0.2 também parece uma faixa, e o
# rótulo dela foi "sem tipo claro"! Olhe com cuidado: a faixa dela está **duas** posições
# abaixo da diagonal. Nenhum dos três tipos da lista descreve isso.
#
# É para esses casos que existe `detectors.detect_pattern`: passamos uma máscara
# `[pos, pos]` com 1 nas chaves "certas" de cada consulta e ele devolve, para cada
# cabeça, a fração média da atenção que cai nelas (nas consultas cuja linha da máscara
# não é toda zero). Vamos medir "olhar $j$ tokens para trás" para $j = 0, 1, 2, 3$.

# %%
n_pos = tokens.shape[1]
for j in range(4):
    mask = torch.zeros(n_pos, n_pos)
    q_rows = torch.arange(max(j, 1), n_pos)
    mask[q_rows, q_rows - j] = 1.0  # consulta q -> chave q - j
    scores_j = detectors.detect_pattern(model, tokens, mask, cache=cache)
    print(f"{j} token(s) para trás: camada 0 = {[round(v, 2) for v in scores_j[0].tolist()]}")
    if j == 2:
        two_back = scores_j[0]
best_two_back = int(two_back.argmax())
print(f"cabeça de 'dois tokens atrás': 0.{best_two_back} (escore {two_back.max().item():.2f})")
assert two_back.max() > 0.8 and best_two_back == 2  # o texto acima fala da 0.2

# %% [markdown]
# ### Por que a camada 1 olha tanto para o BOS?
#
# As cabeças da camada 1 são cabeças de indução: na segunda cópia elas olham para o
# token que veio depois da ocorrência anterior do token atual. Mas na **primeira**
# cópia não há ocorrência anterior; não há nada útil para ler. A hipótese: elas
# "estacionam" a atenção no BOS quando não têm o que fazer.
#
# Outra vez `detect_pattern`: separamos a coluna do BOS em duas máscaras, uma com as
# consultas da 1ª cópia e outra com as da 2ª.

# %%
seq_len = (tokens.shape[1] - 1) // 2
bos_first_copy = torch.zeros(n_pos, n_pos)
bos_first_copy[1:seq_len + 1, 0] = 1.0  # consultas x_1..x_n da 1ª cópia
bos_second_copy = torch.zeros(n_pos, n_pos)
bos_second_copy[seq_len + 1:, 0] = 1.0  # consultas da 2ª cópia

on_bos_1 = detectors.detect_pattern(model, tokens, bos_first_copy, cache=cache)
on_bos_2 = detectors.detect_pattern(model, tokens, bos_second_copy, cache=cache)
for h in range(cfg.n_heads):
    print(f"cabeça 1.{h}: atenção no BOS na 1ª cópia = {on_bos_1[1, h].item():.2f}  |  "
          f"na 2ª cópia = {on_bos_2[1, h].item():.2f}")

# %% [markdown]
# A hipótese se confirma: na primeira cópia as cabeças da camada 1 descansam no BOS;
# na segunda, quando há o que copiar, quase abandonam o BOS. Esse é o papel típico de
# uma cabeça de primeiro token: o BOS funciona como uma posição "neutra", um lugar
# para pôr a atenção quando a cabeça não deve fazer nada. Por isso um único escore
# médio às vezes engana: ele mistura situações diferentes.
#
# ## 4. O modelo de linguagem
#
# Agora o modelo `lm`: 3 camadas, com MLP e LayerNorm, treinado em frases da gramática
# do português do curso. Medimos os mesmos três escores num lote de textos: vinte
# frases no estilo da gramática, cortadas em linhas de `n_ctx` tokens, cada uma com o
# BOS na frente.

# %%
sentences = [
    "a menina come o bolo .", "os cachorros pretos correm no parque .", "o professor lê uma carta hoje .",
    "as gatas dormem juntas .", "um rei velho abre a porta .", "a tartaruga nada devagar .",
    "os alunos que cantaram compram uns livros .", "o pássaro pula na praia .",
    "uma vizinha feliz chama o cachorro .", "os leões comeram uns peixes ontem .", "a rainha escreve um poema .",
    "o menino que a girafa viu chora .", "as professoras encontraram a chave .", "um coelho branco pega a maçã .",
    "os irmãos trabalham na escola sempre .", "a pata canta com o pato .", "uns homens cansados leem o jornal .",
    "a aluna abriu a janela ontem .", "o leão grande dorme agora .", "as meninas amam os gatos .",
]
stream = lm.to_tokens(" ".join(sentences), prepend_bos=False)[0]
row_len = lm.cfg.n_ctx - 1
n_rows = len(stream) // row_len
bos = lm.to_tokens("", prepend_bos=True)[0, :1]
text_tokens = torch.cat([bos.expand(n_rows, 1), stream[: n_rows * row_len].reshape(n_rows, row_len)], dim=1)
print("lote:", tuple(text_tokens.shape), "| começo:", " ".join(lm.to_str_tokens(text_tokens[0])[:12]))
_, text_cache = lm.run_with_cache(text_tokens)
lm_scores = torch.stack([
    detectors.previous_token_scores(text_cache),
    detectors.current_token_scores(text_cache),
    detectors.first_token_scores(text_cache),
])  # [3, layer, head]

# %%
plots.plot_head_scores(lm_scores[0], title="Modelo de linguagem: escore de token anterior", colorbar_label="escore")

# %%
for head, label in detectors.label_heads(lm, text_tokens).items():
    print(f"cabeça {head}: {label}")

# %% [markdown]
# Nenhuma cabeça passa do limiar de 0,5. O escore máximo de cada tipo no modelo inteiro:

# %%
type_names = ["token anterior", "token atual", "primeiro token"]
for name, scores in zip(type_names, lm_scores):
    l, h = divmod(int(scores.argmax()), lm.cfg.n_heads)
    print(f"{name:<15}: máximo {scores.max().item():.2f} na cabeça {l}.{h}")

# %%
assert lm_scores.max() < 0.5

# %% [markdown]
# As cabeças deste modelo **misturam** comportamentos: espalham a atenção por várias
# palavras da frase em vez de seguir uma regra fixa. É o que se espera: para prever a próxima
# palavra de uma frase em português é útil olhar para o sujeito, o verbo, o artigo...
# posições que mudam de frase para frase. No modelo de indução, ao contrário, os tokens
# são aleatórios e a **posição** é a única pista confiável, e aí as cabeças ficam limpas.
#
# Os tipos "puros" são idealizações úteis: nos modelos reais alguns casos são nítidos
# e muitos ficam no meio do caminho. Veja a cabeça mais parecida com token anterior numa
# frase curta, e os escores dela só nessa frase:

# %%
l_best, h_best = divmod(int(lm_scores[0].argmax()), lm.cfg.n_heads)
example = "a mulher feia dorme nos jardins agora ."
_, example_cache = lm.run_with_cache(lm.to_tokens(example))
for name, fn in zip(type_names, [detectors.previous_token_scores, detectors.current_token_scores,
                                 detectors.first_token_scores]):
    print(f"cabeça {l_best}.{h_best}, escore de {name} nesta frase: {fn(example_cache)[l_best, h_best].item():.2f}")
widgets.attention_explorer(lm, example, layer=l_best, head=h_best)

# %% [markdown]
# ## 5. Onde o comportamento está escrito: os circuitos QK e OV
#
# Até aqui olhamos ativações (padrões calculados para uma entrada). Agora vamos aos
# **pesos**, que valem para qualquer entrada. (O nome "circuito QK/OV" vem de Elhage et al.
# (2021) e designa matrizes de **uma** cabeça; o sentido geral de circuito, um pedaço do
# modelo que implementa um comportamento e se testa com intervenções, chega na lição 08.)
#
# ### 5.1 De onde vem a pontuação de atenção
#
# Para a cabeça $h$, com vetores-linha (a convenção do TransformerLens), a consulta e a
# chave são $q = x_q W_Q + b_Q$ e $k = x_k W_K + b_K$, com $W_Q, W_K$ de formato
# `[d_model, d_head]`. A pontuação de atenção (antes do softmax) é
#
# $$s(q, k) = \frac{(x_q W_Q + b_Q)(x_k W_K + b_K)^\top}{\sqrt{d_{head}}} .$$
#
# O texto-fonte deste tema diz que as pontuações são o produto "escalado por $d_k$". O
# código abaixo mostra que a escala é $1/\sqrt{d_{head}}$, e não $1/d_{head}$: recalculamos
# as pontuações da camada 0 a partir de `q` e `k` do cache.

# %%
q_act = cache["q", 0][0]  # [pos, head, d_head]
k_act = cache["k", 0][0]
qk = torch.einsum("qhd,khd->hqk", q_act, k_act)  # produto escalar, sem escala
stored = cache["attn_scores", 0][0]  # [head, q, k], já com -inf no futuro
past = torch.tril(torch.ones(n_pos, n_pos, dtype=torch.bool))
for name, scale in [("1/sqrt(d_head)", 1 / math.sqrt(cfg.d_head)), ("1/d_head", 1 / cfg.d_head)]:
    ok = torch.allclose((qk * scale)[:, past], stored[:, past], atol=1e-4)
    print(f"escala {name:<15} = {scale:.4f} reproduz as pontuações do modelo? {ok}")

# %% [markdown]
# Sem os vieses, $x_q W_Q (x_k W_K)^\top = x_q \, (W_Q W_K^\top) \, x_k^\top$. A matriz do
# meio é o **circuito QK** da cabeça:
#
# $$W_{QK} = W_Q W_K^\top \quad \text{formato } [d_{model}, d_{model}] .$$
#
# Ela responde "quanto um resíduo na consulta quer ler um resíduo na chave". Atenção à
# transposta: o texto-fonte escreve $W_Q W_K$, mas com $W_Q$ e $W_K$ ambos
# `[d_model, d_head]` esse produto nem existe (a não ser que $d_{head} = d_{model}$):

# %%
W_Q = model.W_Q[0, 0].detach()  # cabeça 0.0
W_K = model.W_K[0, 0].detach()
print("W_Q:", tuple(W_Q.shape), " W_K:", tuple(W_K.shape))
try:
    W_Q @ W_K
except RuntimeError as err:
    print("W_Q @ W_K falha:", str(err).split(" (")[0])
W_QK_manual = W_Q @ W_K.T
print("W_Q @ W_K.T:", tuple(W_QK_manual.shape))

# %% [markdown]
# A biblioteca guarda esse produto **fatorado** (`circuits.W_QK` devolve uma
# `FactoredMatrix` com os fatores $A = W_Q$ e $B = W_K^\top$), porque o produto cheio é
# maior e tem uma estrutura escondida: como passa por um gargalo de $d_{head}$
# dimensões, seu **posto** é no máximo $d_{head}$.

# %%
W_QK_fact = circuits.W_QK(model, 0, 0)
print(W_QK_fact)
print("igual à conta manual:", torch.allclose(W_QK_fact.AB, W_QK_manual, atol=1e-5))
rank = torch.linalg.matrix_rank(W_QK_fact.AB).item()
print(f"posto de W_QK = {rank}  (d_model = {cfg.d_model}, d_head = {cfg.d_head})")
singular = torch.linalg.svdvals(W_QK_fact.AB)
tiny = singular[cfg.d_head] < 1e-5 * singular[0]  # o que sobra depois do 16º é arredondamento de float32
print(f"valores singulares: o {cfg.d_head}º vale {singular[cfg.d_head - 1].item():.3f}; "
      f"do {cfg.d_head + 1}º em diante, < 1e-5 · o 1º: {'✅' if tiny else '❌'}")

# %% [markdown]
# ### 5.2 O circuito OV: o que a cabeça copia
#
# Depois de decidir para onde olhar, a cabeça lê o resíduo da chave $x_k$ e escreve no
# resíduo da consulta $x_k W_V W_O$ (vezes a atenção). A matriz
#
# $$W_{OV} = W_V W_O \quad \text{formato } [d_{model}, d_{model}]$$
#
# é o **circuito OV**: "se eu olhar para este resíduo, o que escrevo". Aqui não há
# transposta: $W_V$ é `[d_model, d_head]` e $W_O$ é `[d_head, d_model]`.

# %%
W_V = model.W_V[0, 0].detach()
W_O = model.W_O[0, 0].detach()
W_OV_fact = circuits.W_OV(model, 0, 0)
print("W_V:", tuple(W_V.shape), " W_O:", tuple(W_O.shape), " W_OV:", tuple(W_OV_fact.shape))
print("igual a W_V @ W_O:", torch.allclose(W_OV_fact.AB, W_V @ W_O, atol=1e-5))
print("posto de W_OV =", torch.linalg.matrix_rank(W_OV_fact.AB).item())

# %% [markdown]
# Posto igual a $d_{head}$ numa matriz $d_{model} \times d_{model}$: uma cabeça só consegue ler e escrever num subespaço de
# $d_{head}$ dimensões do resíduo. Isso vale para todas as cabeças dos dois modelos:

# %%
for name, m in [("induction", model), ("lm", lm)]:
    ranks_qk = torch.linalg.matrix_rank(circuits.W_QK(m).AB)  # [n_layers, n_heads]
    ranks_ov = torch.linalg.matrix_rank(circuits.W_OV(m).AB)
    print(f"{name:<9}: d_head={m.cfg.d_head}, postos de W_QK ∈ {sorted(set(ranks_qk.flatten().tolist()))}, "
          f"de W_OV ∈ {sorted(set(ranks_ov.flatten().tolist()))}")

# %% [markdown]
# ### 5.3 O circuito QK completo, sobre tokens
#
# $W_{QK}$ fala de vetores do resíduo, que não são fáceis de ler. No modelo de indução,
# sem LayerNorm, o resíduo que entra na camada 0 é exatamente embedding do token +
# embedding da posição: $x = W_E[t] + W_{pos}[p]$. Trocando $x$ só pela parte do token,
# chegamos ao **circuito QK completo**:
#
# $$W_E \, W_{QK} \, W_E^\top \quad \text{formato } [d_{vocab}, d_{vocab}]$$
#
# A entrada $(i, j)$ diz o quanto um token $i$ na consulta quer olhar para um token $j$
# na chave.
#
# Uma observação de notação: o texto-fonte escreve $W_E^h$ e $W_U^h$, com o índice da
# cabeça, mas o embedding, o embedding de posição e o desembedding são do modelo inteiro,
# os mesmos para todas as cabeças. Só $W_Q, W_K, W_V, W_O$ são por cabeça:

# %%
print("W_E:", tuple(model.W_E.shape), "= [d_vocab, d_model]  | W_pos:", tuple(model.W_pos.shape),
      "= [n_ctx, d_model]  | W_U:", tuple(model.W_U.shape), "= [d_model, d_vocab]")
print("W_Q:", tuple(model.W_Q.shape), "= [n_layers, n_heads, d_model, d_head]  | W_O:", tuple(model.W_O.shape))
print(f"d_head = d_model / n_heads: {cfg.d_model} / {cfg.n_heads} = {cfg.d_model // cfg.n_heads} "
      f"(config: d_head = {cfg.d_head})")

# %% [markdown]
# Para a cabeça de token anterior:

# %%
prev_head = meta["metrics"]["prev_token_head"]
L_prev, H_prev = (int(x) for x in prev_head.split("."))
full_qk = circuits.full_QK_circuit(model, L_prev, H_prev)
print(f"cabeça {prev_head}: circuito QK completo {tuple(full_qk.shape)}")

# %% [markdown]
# Antes de desenhar, um detalhe: o softmax de cada consulta não muda se somarmos a mesma
# constante a todas as pontuações daquela linha. Então só importam as diferenças **dentro**
# de cada linha, e subtraímos a média de cada linha para não nos distrairmos com faixas
# horizontais que o modelo ignora.

# %%
full_qk_centered = full_qk.AB - full_qk.AB.mean(dim=-1, keepdim=True)
plots.plot_circuit(full_qk_centered, title=f"QK completo (tokens) da cabeça {prev_head}, linhas centradas",
                   ylabel="token da consulta", xlabel="token da chave")

# %% [markdown]
# Um tapete de ruído. A única coluna que chama a atenção é a primeira, a do BOS (id 0),
# que nunca aparece fora da posição 0 e por isso o treino trata de um jeito próprio.
# Fora ela, nenhum token-chave se destaca de forma consistente. Faz sentido, porque a
# cabeça de token anterior não se importa com **qual** token está antes, só com **onde**
# ele está. A informação deve estar na posição.
#
# ### 5.4 O circuito QK posicional: a faixa abaixo da diagonal
#
# Trocando $x$ só pela parte da posição, temos o **circuito QK posicional**:
#
# $$W_{pos} \, W_{QK} \, W_{pos}^\top \quad \text{formato } [n_{ctx}, n_{ctx}]$$
#
# A entrada $(i, j)$ diz o quanto a posição $i$ (consulta) quer olhar para a posição $j$
# (chave). Se a cabeça é de token anterior, esperamos valores altos em $(i, i-1)$: a faixa
# logo abaixo da diagonal. Acima da diagonal os valores existem na matriz, mas o modelo
# nunca os usa (máscara causal); vamos apagá-los para o desenho.

# %%
pos_qk = circuits.positional_QK_circuit(model, L_prev, H_prev).AB  # [n_ctx, n_ctx]
print(f"circuito QK posicional: {tuple(pos_qk.shape)}")
causal = torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool))
pos_qk_causal = pos_qk.masked_fill(~causal, float("nan"))
zoom = 20
labels = [str(i) for i in range(zoom)]
plots.plot_circuit(pos_qk_causal[:zoom, :zoom], labels, labels,
                   title=f"QK posicional da cabeça {prev_head} (primeiras {zoom} posições)",
                   ylabel="posição da consulta", xlabel="posição da chave")

# %% [markdown]
# Lá está a faixa vermelha logo abaixo da diagonal. Dois números confirmam, no contexto
# inteiro de 64 posições: em quantas linhas o maior valor permitido está exatamente em
# $k = q-1$, e a amplitude típica de uma linha (máximo menos mínimo, só nas chaves
# permitidas) no circuito posicional e no circuito sobre tokens.

# %%
best_key = pos_qk.masked_fill(~causal, float("-inf")).argmax(-1)  # [n_ctx]
is_prev = (best_key[1:] == torch.arange(cfg.n_ctx - 1)).float().mean().item()
print(f"linhas (q >= 1) cujo máximo está em k = q-1: {is_prev:.0%}")

pos_range = (pos_qk.masked_fill(~causal, float("-inf")).amax(-1)
             - pos_qk.masked_fill(~causal, float("inf")).amin(-1))[1:].mean()
tok_range = (full_qk.AB.amax(-1) - full_qk.AB.amin(-1)).mean()
print(f"amplitude média de uma linha: posicional {pos_range.item():.1f} | tokens {tok_range.item():.1f}")

# %% [markdown]
# As diferenças posicionais são muito maiores que as de token: na camada 0 deste modelo,
# a cabeça de token anterior decide praticamente **só pela posição**. O mesmo teste
# ajuda a ler as outras cabeças da camada 0. Para cada uma, em que fração das linhas o
# máximo do circuito posicional cai 1 ou 2 posições atrás da consulta?

# %%
for h in range(cfg.n_heads):
    m = circuits.positional_QK_circuit(model, 0, h).AB.masked_fill(~causal, float("-inf"))
    best = m.argmax(-1)
    back1 = (best[1:] == torch.arange(cfg.n_ctx - 1)).float().mean().item()
    back2 = (best[2:] == torch.arange(cfg.n_ctx - 2)).float().mean().item()
    print(f"cabeça 0.{h}: máximo em k = q-1 em {back1:4.0%} | em k = q-2 em {back2:4.0%} das linhas "
          f"| escore de token anterior {prev_scores[0, h].item():.2f}")

# %% [markdown]
# Os pesos (circuito posicional) concordam com as ativações (escores): a 0.0 aponta para
# $q-1$ e a cabeça de "dois tokens atrás" encontrada com `detect_pattern` aponta para $q-2$.
#
# Dois cuidados ao ler esses circuitos (as mesmas simplificações do TransformerLens):
# eles ignoram os vieses $b_Q, b_K$ e a escala $1/\sqrt{d_{head}}$, e separam token e posição.
# O resíduo real é $x = e + p$, e
# $x_q W_{QK} x_k^\top = e_q W_{QK} e_k^\top + e_q W_{QK} p_k^\top + p_q W_{QK} e_k^\top + p_q W_{QK} p_k^\top$:
# o circuito completo é o primeiro termo, o posicional é o último, e os termos cruzados
# ficam de fora. Nas camadas seguintes ainda entram as saídas das camadas anteriores,
# que é onde mora a composição entre cabeças (notebook 09).
#
# ## Resumo
#
# - Cabeças de **token anterior**, **token atual** e **primeiro token** olham,
#   respectivamente, para $q-1$, $q$ e $0$; o escore de cada tipo é a atenção média
#   nessa chave, nas consultas $q \ge 1$.
# - No modelo de indução, 0.0 é uma cabeça de token anterior quase perfeita, e
#   `detect_pattern` revelou uma cabeça de "dois tokens atrás", um tipo fora da lista; as
#   cabeças da camada 1 usam o BOS como posição neutra quando não há o que copiar.
#   Nenhuma cabeça é de token atual.
# - No modelo de linguagem as cabeças misturam comportamentos e nenhuma passa do limiar.
# - $W_{QK} = W_Q W_K^\top$ e $W_{OV} = W_V W_O$ são `[d_model, d_model]` com posto
#   $\le d_{head}$.
# - O circuito QK posicional $W_{pos} W_{QK} W_{pos}^\top$ da cabeça 0.0 tem a faixa logo
#   abaixo da diagonal; o circuito QK sobre tokens não tem estrutura.
#
# **Próximo passo:** `exercises/07_tipos_de_cabecas.ipynb`. Depois, o notebook 08 mostra o
# tipo de cabeça que falta: a cabeça de **indução**.
