# %% [markdown]
# # 02 · Pesos amarrados: a mesma matriz na entrada e na saída
#
# Um modelo de linguagem começa transformando cada token num vetor (a matriz de
# *embedding* $W_E$) e termina transformando um vetor de volta em uma nota para cada
# token do vocabulário (a matriz de desembedding, em inglês *unembedding*, $W_U$). Muitos modelos usam **a mesma
# matriz** nas duas pontas: $W_U = W_E^\top$. Isso se chama *weight tying* — amarração
# de pesos, ou pesos amarrados. Nesta lição vamos medir o que se ganha e o que se perde com isso.
#
# **O que você vai aprender**
#
# - como a "cabeça" de modelagem de linguagem transforma o último vetor em logits e
#   probabilidades, com os formatos de cada tensor;
# - quantos parâmetros o amarramento economiza, contados por código (no exemplo do
#   texto-fonte e nos modelos do curso);
# - a leitura dos logits como produtos escalares com os embeddings dos tokens, e por que
#   produto escalar não é o mesmo que similaridade de cosseno;
# - a refazer, por código, o exemplo numérico do texto-fonte (e a corrigi-lo);
# - a comparar um modelo amarrado com um não amarrado treinados do mesmo jeito;
# - por que o caminho direto $W_E W_E^\top$ é simétrico, e que tipo de regra da língua
#   ele não consegue expressar ("o → gato", mas não "gato → o").
#
# **Tempo estimado:** ~35 min
#
# **Pré-requisitos:** multiplicação de matrizes e softmax; saber o que são embedding,
# fluxo residual e LayerNorm num transformer (a lição 01 cobre isso).

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import PtGrammar, load_metadata, load_pretrained
from course_lib.lens import logit_lens
from course_lib.plots import plot_circuit
from course_lib.recipes import EVAL_SEED, lm_eval_tokens

# %% [markdown]
# ## 1. A cabeça de modelagem de linguagem
#
# Depois do último bloco, o transformer tem, em cada posição, um vetor do fluxo residual
# com `d_model` números. A cabeça de modelagem de linguagem faz duas coisas:
#
# 1. aplica a LayerNorm final e projeta com $W_U$ (formato `[d_model, d_vocab]`), somando
#    um viés $b_U$ (formato `[d_vocab]`): são os **logits**, uma nota por token;
# 2. o softmax transforma os logits em probabilidades do próximo token.
#
# Chamando de $h$ o vetor que sai da LayerNorm final (formato `[d_model]`):
#
# $$\text{logits} = h\,W_U + b_U, \qquad p = \operatorname{softmax}(\text{logits}).$$
#
# Com pesos amarrados, $W_U$ não é um parâmetro novo: é a transposta de $W_E$
# (formato `[d_vocab, d_model]`). Vamos conferir no modelo `lm_tied` do curso.

# %%
tied = load_pretrained("lm_tied")
untied = load_pretrained("lm_untied")
tokenizer = tied.tokenizer

print("W_E do modelo amarrado:", tuple(tied.W_E.shape), " [d_vocab, d_model]")
print("W_U do modelo amarrado:", tuple(tied.W_U.shape), " [d_model, d_vocab]")
print("W_U é exatamente W_Eᵀ?", torch.equal(tied.W_U, tied.W_E.T))
print("mesma memória (um único parâmetro)?", tied.W_U.data_ptr() == tied.W_E.data_ptr())
print("W_U do modelo NÃO amarrado é outro tensor?", untied.W_U.data_ptr() != untied.W_E.data_ptr())

# %% [markdown]
# Vamos refazer a cabeça à mão no modelo amarrado. Pegamos o vetor $h$ que o próprio
# modelo entrega à cabeça (o gancho `unembed.hook_in`, saída da LayerNorm final), usamos
# $W_E^\top$ no lugar de $W_U$ e comparamos com os logits do modelo.

# %%
prompt = "o menino que as meninas viram"
tokens = tied.to_tokens(prompt)
logits, cache = tied.run_with_cache(tokens, names_filter=lambda name: name == "unembed.hook_in")
h = cache["unembed.hook_in"][0, -1]  # [d_model], última posição

logits_by_hand = h @ tied.W_E.T + tied.b_U  # [d_vocab]
print("formato de h:", tuple(h.shape), "-> logits:", tuple(logits_by_hand.shape))
error = (logits_by_hand - logits[0, -1]).abs().max().item()
print("igual aos logits do modelo (erro < 1e-4):", "✅" if error < 1e-4 else "❌")

probs = logits_by_hand.softmax(-1)
top = probs.topk(5)
print(f"depois de '{prompt}', os 5 próximos tokens mais prováveis:")
for p, i in zip(top.values, top.indices):
    print(f"  {tokenizer.to_str_tokens([int(i)])[0]:>10}  {p.item():.3f}")

# %% [markdown]
# ## 2. Quantos parâmetros o amarramento economiza?
#
# Sem amarrar, há duas matrizes do tamanho do vocabulário: $W_E$ com
# `d_vocab × d_model` números e $W_U$ com `d_model × d_vocab`. Amarrando, sobra uma.
# O texto-fonte usa um vocabulário de 10 000 palavras com `d_model = 512`:

# %%
d_vocab_ex, d_model_ex = 10_000, 512
n_W_E = d_vocab_ex * d_model_ex
n_W_U = d_model_ex * d_vocab_ex
print(f"W_E: {n_W_E:,}".replace(",", "."))
print(f"W_E + W_U (sem amarrar): {n_W_E + n_W_U:,}".replace(",", "."))
print(f"só W_E (amarrado):       {n_W_E:,}".replace(",", "."))
print(f"economia: {n_W_U:,} parâmetros".replace(",", "."))

# %% [markdown]
# Os números do texto-fonte (5.120.000 por matriz, 10.240.000 no total) conferem.
#
# Agora os modelos do curso. `lm_tied` e `lm_untied` têm a mesma configuração (2 camadas,
# `d_model = 64`, vocabulário de 260 palavras) e foram treinados com os mesmos dados e a
# mesma semente; só muda `tie_embeddings`. Contamos os parâmetros de cada um, separando
# os da "interface com o vocabulário" ($W_E$, $W_U$, $b_U$) do resto.

# %%
def count(model):
    vocab_part = {n: p.numel() for n, p in model.named_parameters() if n in ("embed.W_E", "unembed.W_U", "unembed.b_U")}
    total = sum(p.numel() for p in model.parameters())
    return vocab_part, total


def fmt(n):
    return f"{n:,}".replace(",", ".")


for name, model in (("lm_tied", tied), ("lm_untied", untied)):
    vocab_part, total = count(model)
    meta = load_metadata(name)["metrics"]["n_params"]
    parts = ", ".join(f"{k} {fmt(v)}" for k, v in vocab_part.items())
    print(f"{name:>10}: total {fmt(total)} (metadados: {fmt(meta)})  | {parts}")

diff = count(untied)[1] - count(tied)[1]
print(f"diferença: {fmt(diff)} = {tied.cfg.d_vocab} × {tied.cfg.d_model} = {fmt(tied.cfg.d_vocab * tied.cfg.d_model)}")

# %% [markdown]
# A diferença é exatamente uma matriz `d_vocab × d_model`. Num modelo tão pequeno ela é
# uma fatia grande do total:

# %%
n_matrix = tied.cfg.d_vocab * tied.cfg.d_model
print(f"fração do modelo NÃO amarrado ocupada por W_E e W_U: {2 * n_matrix / count(untied)[1]:.1%}")
print(f"fração do modelo amarrado ocupada por W_E:          {n_matrix / count(tied)[1]:.1%}")
print(f"parâmetros economizados, em fração do modelo não amarrado: {n_matrix / count(untied)[1]:.1%}")

# %% [markdown]
# ## 3. O exemplo numérico do texto-fonte, refeito por código
#
# O texto-fonte propõe $h_N = [0{,}2;\ -0{,}1;\ 0{,}5;\ 0{,}3;\ -0{,}2]$ (cinco dimensões) e um
# vocabulário de três palavras, com a matriz $E$ escrita com **uma linha por palavra**.
# Vamos digitar exatamente o que está lá e deixar o computador fazer as contas.

# %%
h_N = torch.tensor([0.2, -0.1, 0.5, 0.3, -0.2])
E = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5],
                  [0.6, 0.7, 0.8, 0.9, 1.0],
                  [1.1, 1.2, 1.3, 1.4, 1.5]])
print("formato de h_N:", tuple(h_N.shape))
print("formato de E:  ", tuple(E.shape), " -> [|V|, d] = [3 palavras, 5 dimensões]")
print("formato de Eᵀ: ", tuple(E.T.shape))

# %% [markdown]
# Primeira correção: o texto diz que $E$ "tem dimensão 5x3", mas a matriz escrita é
# 3 × 5 — uma linha (um embedding de 5 números) para cada uma das 3 palavras, como manda
# a convenção `[d_vocab, d_model]`. Agora os logits $u = h_N E^\top$:

# %%
u = h_N @ E.T
print("u = h_N @ Eᵀ =", [round(x, 2) for x in u.tolist()])
for i in range(3):
    terms = " + ".join(f"({h_N[j]:.1f})({E[i, j]:.1f})" for j in range(5))
    print(f"  u_{i + 1} = {terms} = {u[i]:.2f}")

# %% [markdown]
# O texto-fonte chega a $u = [0{,}55;\ 0{,}64;\ 0{,}73]$. O código mostra
# $u = [0{,}17;\ 0{,}52;\ 0{,}87]$. De onde veio a diferença? Nas contas do texto, cada
# $u_i$ pega números de linhas diferentes de $E$ (por exemplo, $u_1$ usa 0,1, 0,6 e 1,1,
# que são a primeira coluna). Além disso, algumas somas estão erradas mesmo com os números
# escolhidos. Vamos avaliar as três expressões exatamente como foram escritas:

# %%
seed_steps = [
    0.2 * 0.1 + (-0.1 * 0.6) + 0.5 * 1.1 + 0.3 * 0.4 + (-0.2 * 0.5),
    0.2 * 0.2 + (-0.1 * 0.7) + 0.5 * 1.2 + 0.3 * 0.9 + (-0.2 * 1.0),
    0.2 * 0.3 + (-0.1 * 0.8) + 0.5 * 1.3 + 0.3 * 1.4 + (-0.2 * 1.5),
]
seed_claim = [0.55, 0.64, 0.73]
for i, (value, claim) in enumerate(zip(seed_steps, seed_claim), start=1):
    print(f"passo {i} do texto: a expressão vale {value:.2f}; o texto afirma {claim:.2f}")

# %% [markdown]
# Ou seja: as expressões misturam linhas e colunas, e mesmo assim o passo 1 vale 0,53
# (não 0,55) e o passo 3 vale 0,75 (não 0,73). Os logits corretos são os do
# `h_N @ E.T`. Seguindo para o softmax:

# %%
y = u.softmax(-1)
y_seed = torch.tensor(seed_claim).softmax(-1)
print("softmax dos logits corretos:", [f"{x:.3f}" for x in y.tolist()], " soma =", f"{y.sum():.3f}")
print("softmax dos logits do texto:", [f"{x:.3f}" for x in y_seed.tolist()])

# %% [markdown]
# A aritmética do softmax no texto está certa *para os logits que ele usou*
# ([0,304; 0,332; 0,364]), mas como os logits estavam errados a distribuição verdadeira é
# outra: a terceira palavra continua a mais provável, agora com bem mais folga.

# %% [markdown]
# ## 4. Logits são produtos escalares com os embeddings
#
# Com pesos amarrados, o logit do token $i$ é
#
# $$u_i = h \cdot W_E[i] \;(+\, b_U[i]),$$
#
# o produto escalar de $h$ com a **linha** $i$ de $W_E$, o embedding do token $i$. (O
# texto-fonte diz "a i-ésima coluna de E"; com $E$ no formato `[|V|, d]`, o embedding de
# uma palavra é uma linha.) Conferindo no exemplo:

# %%
for i in range(3):
    print(f"u_{i + 1} = h_N · E[{i}] = {torch.dot(h_N, E[i]):.2f}")

# %% [markdown]
# É tentador dizer que o logit mede a "similaridade" entre $h$ e a palavra. Cuidado: o
# produto escalar é $\|h\|\,\|W_E[i]\|\cos\theta_i$. O cosseno mede só o ângulo; o
# produto escalar também premia embeddings **compridos**. No exemplo do texto:

# %%
norms = E.norm(dim=-1)
cosines = (h_N / h_N.norm()) @ (E / norms[:, None]).T
for i in range(3):
    print(f"palavra {i + 1}: ‖E[{i}]‖ = {norms[i]:.2f}   cos = {cosines[i]:.3f}   produto escalar = {u[i]:.2f}")

# %% [markdown]
# %%
print(f"cosseno:          o maior é {cosines.max() / cosines.min():.1f} vezes o menor")
print(f"produto escalar:  o maior é {u.max() / u.min():.1f} vezes o menor")

# %% [markdown]
# A ordem das três palavras é a mesma pelos dois critérios, mas os cossenos são parecidos
# (as três linhas de $E$ apontam quase para o mesmo lado): quem abre a distância entre os
# logits é a norma. No modelo treinado as normas dos embeddings também variam bastante, e
# aí a ordem pelo produto escalar (a que o modelo usa de verdade) já não é a ordem pelo
# cosseno.

# %%
emb_norms = tied.W_E.detach().norm(dim=-1)
print(f"normas das linhas de W_E no modelo amarrado: mín {emb_norms.min():.2f}, "
      f"mediana {emb_norms.median():.2f}, máx {emb_norms.max():.2f}")

h_det = h.detach()
dot = h_det @ tied.W_E.detach().T
cos = (h_det / h_det.norm()) @ (tied.W_E.detach() / emb_norms[:, None]).T
print(f"depois de '{prompt}':")
print("  top-5 pelo produto escalar:", tokenizer.to_str_tokens(dot.topk(5).indices.tolist()))
print("  top-5 pelo cosseno:        ", tokenizer.to_str_tokens(cos.topk(5).indices.tolist()))

# %% [markdown]
# ## 5. Amarrado contra não amarrado: a perda
#
# Economizar parâmetros só vale se o modelo continua bom. Medimos a entropia cruzada dos
# dois modelos nos **mesmos** dados de avaliação, que o treino nunca viu
# (`lm_eval_tokens`). Como os dados vêm de uma gramática probabilística conhecida,
# `PtGrammar().optimal_loss` dá a menor perda possível (a entropia verdadeira); e
# $\ln(\text{d\_vocab})$ é a perda de quem chuta uniforme.

# %%
grammar = PtGrammar()
eval_tokens = lm_eval_tokens(grammar, tied.cfg.n_ctx)
optimal = grammar.optimal_loss(eval_tokens)
print("dados de avaliação:", tuple(eval_tokens.shape), "[sequências, posições]")
print(f"perda ótima (gramática): {optimal:.4f}")
print(f"perda uniforme ln(260):  {torch.log(torch.tensor(260.0)):.4f}")
with torch.no_grad():
    for name, model in (("lm_tied", tied), ("lm_untied", untied)):
        loss = model(eval_tokens, return_type="loss").item()
        meta = load_metadata(name)["metrics"]
        print(f"{name:>10}: perda {loss:.4f} (metadados: {meta['eval_loss']:.4f}), "
              f"distância ao ótimo {loss - optimal:.4f}, concordância {meta['agreement_accuracy']:.0%}")

# %% [markdown]
# Os dois ficam praticamente empatados, a uns 0,04 nat da perda ótima, e acertam todos os
# testes de concordância. O modelo amarrado chegou lá com 16.640 parâmetros a menos.
#
# O texto-fonte atribui ao amarramento um efeito de **regularização** que melhora a
# generalização. Neste experimento pequeno (dados abundantes, treino curto) essa vantagem
# não aparece: a diferença de perda está na quarta casa decimal. Ela pode existir em
# outros regimes; aqui o ganho medido é só de memória.

# %% [markdown]
# ## 6. O caminho direto e a simetria
#
# Imagine o atalho mais curto do modelo: o token atual $a$ entra pelo embedding e vai
# direto para a cabeça, sem passar por atenção nem MLP (no fluxo residual, é a parte
# que as camadas não tocam). Ignorando a LayerNorm final, o logit que esse caminho dá ao
# próximo token $b$ é
#
# $$\text{logit}(b \mid a) = W_E[a]\cdot W_U[:, b] + b_U[b], \qquad
# \text{ou, para todos os pares: } W_E W_U + b_U \;\; [\text{d\_vocab}, \text{d\_vocab}].$$
#
# Num modelo **sem camadas** esse é o modelo inteiro: uma tabela de bigramas. Com pesos
# amarrados, $W_E W_U = W_E W_E^\top$, e essa matriz é **simétrica**:
# $(W_E W_E^\top)^\top = W_E W_E^\top$. Sem o viés, logit(b | a) = logit(a | b).

# %%
direct_tied = tied.W_E.detach() @ tied.W_U.detach()  # [d_vocab, d_vocab]
direct_untied = untied.W_E.detach() @ untied.W_U.detach()
print("modelo amarrado:     max |M − Mᵀ| < 1e-6:", "✅" if (direct_tied - direct_tied.T).abs().max() < 1e-6 else "❌")
print("modelo não amarrado: max |M − Mᵀ| =", f"{(direct_untied - direct_untied.T).abs().max().item():.2f}")

# %% [markdown]
# Duas ressalvas sobre esse "caminho direto". Primeiro, ele também tem a posição: o que
# entra no fluxo residual na posição $p$ é $W_E[a] + W_{pos}[p]$, então o caminho direto
# de verdade soma $W_{pos}[p]\,W_U$, um termo que depende da posição mas não do token
# atual (um viés por posição). Ele não mexe na simetria de $W_E W_E^\top$. Qual o tamanho
# dele perto do termo do token?

# %%
with torch.no_grad():
    token_part = tied.W_E @ tied.W_U  # [d_vocab, d_vocab]
    pos_part = tied.W_pos @ tied.W_U  # [n_ctx, d_vocab]: o que cada posição soma aos logits
print(f"desvio padrão dos logits do termo do token  W_E W_U:   {token_part.std():.2f}")
print(f"desvio padrão dos logits do termo da posição W_pos W_U: {pos_part.std():.2f}")

# %% [markdown]
# Neste modelo o termo da posição é cerca de um quinto do termo do token (desvio padrão
# 0,05 contra 0,28): pequeno, mas não zero. Daqui em diante o "caminho direto" é só o do
# token, $W_E W_U + b_U$, e vale lembrar que ele deixa esse termo de fora.
#
# Segundo, uma leitura comum (e a de um dos textos-fonte) é que, amarrado, o desembedding
# é "o inverso" do embedding: ler $W_E^\top$ desfaria $W_E$. Se fosse, $W_E W_E^\top$ seria a
# identidade e o caminho direto preveria sempre o próprio token com folga. Medindo (em
# float64, para o posto não contar ruído de float32):

# %%
with torch.no_grad():
    G = tied.W_E.double() @ tied.W_E.double().T  # [d_vocab, d_vocab]
    identity = torch.eye(G.shape[0], dtype=torch.float64)
    off_diag = G - torch.diag(G.diag())
print(f"diagonal (‖W_E[a]‖²): mín {G.diag().min():.2f}, máx {G.diag().max():.2f} (na identidade: 1)")
print(f"fora da diagonal: média de |G[a, b]| = {off_diag.abs().mean():.2f} (na identidade: 0)")
print(f"‖G − I‖ / ‖I‖ = {(G - identity).norm() / identity.norm():.2f}")
print(f"posto de G: {torch.linalg.matrix_rank(G).item()} de {G.shape[0]} (no máximo d_model = {tied.cfg.d_model})")
print(f"linhas em que o maior valor é o da diagonal: {(G.argmax(-1) == torch.arange(G.shape[0])).double().mean():.0%}")

# %% [markdown]
# $W_E$ tem 260 linhas em 64 dimensões: não há como ser inversível, e $W_E W_E^\top$ tem
# posto 64, longe da identidade 260 × 260. O que vale é mais fraco: cada token tem um
# produto escalar grande consigo mesmo, mas outros tokens parecidos também.
#
# E com o viés? $b_U[b]$ depende só do token de saída, então a diferença entre as duas
# direções fica $\text{logit}(b\mid a) - \text{logit}(a\mid b) = b_U[b] - b_U[a]$: uma
# "popularidade" de cada token, a mesma depois de qualquer palavra. Conferindo para
# "o" e "gato":

# %%
o_id, gato_id = tokenizer.to_single_token("o"), tokenizer.to_single_token("gato")
b_U = tied.b_U.detach()
with_bias = direct_tied + b_U
lhs = with_bias[o_id, gato_id] - with_bias[gato_id, o_id]
rhs = b_U[gato_id] - b_U[o_id]
print(f"logit(gato | o) − logit(o | gato) = {lhs:.4f}")
print(f"b_U[gato] − b_U[o]               = {rhs:.4f}")

# %% [markdown]
# Agora o que a língua quer. Contamos bigramas num texto grande gerado pela gramática:
# $P(b \mid a)$ = quantas vezes $b$ vem logo depois de $a$, dividido por quantas vezes $a$
# aparece (com um próximo token).

# %%
bigram_data = grammar.make_dataset(2000, 32, seed=EVAL_SEED)
V = grammar.d_vocab
current, nxt = bigram_data[:, :-1].flatten(), bigram_data[:, 1:].flatten()
counts = torch.zeros(V, V)
counts.index_put_((current, nxt), torch.ones(current.shape), accumulate=True)
bigram = counts / counts.sum(-1, keepdim=True).clamp(min=1)

print(f"P(gato | o) = {bigram[o_id, gato_id]:.4f}   (em {int(counts[o_id].sum())} ocorrências de 'o')")
print(f"P(o | gato) = {bigram[gato_id, o_id]:.4f}   (em {int(counts[gato_id].sum())} ocorrências de 'gato')")

# %% [markdown]
# Depois de "o" vem um substantivo masculino (às vezes "gato"); depois de "gato" vem
# adjetivo, "que", verbo ou ponto, mas nunca "o". É uma relação de mão única. Uma medida
# simples de assimetria de uma matriz $M$: a fração da sua norma que está na parte
# antissimétrica $(M - M^\top)/2$,
#
# $$\text{assimetria}(M) = \frac{\|(M - M^\top)/2\|}{\|M\|} \in [0, 1],$$
#
# que vale 0 para uma matriz simétrica e 1 para uma antissimétrica.

# %%
def asymmetry(M):
    return ((M - M.T) / 2).norm().item() / M.norm().item()


print(f"bigramas verdadeiros P(b | a):     {asymmetry(bigram):.3f}")
print(f"caminho direto amarrado W_E W_Eᵀ:  {asymmetry(direct_tied):.3f}")
print(f"caminho direto não amarrado W_E W_U: {asymmetry(direct_untied):.3f}")

# %% [markdown]
# Vejamos as matrizes num punhado de palavras. À esquerda de cada figura está o token atual
# $a$ (linha); embaixo, o candidato a próximo token $b$ (coluna). A matriz amarrada é um
# espelho em torno da diagonal; a não amarrada, não.

# %%
words = ["o", "os", "a", "menino", "meninos", "gato", "menina", "que", "dorme", "dormem", "bonito", "."]
ids = [tokenizer.to_single_token(w) for w in words]
sub = torch.tensor(ids)
plot_circuit(direct_tied[sub][:, sub], words, words,
             title="Caminho direto amarrado: W_E W_Eᵀ (simétrico)",
             ylabel="token atual a", xlabel="próximo token b")

# %%
plot_circuit(direct_untied[sub][:, sub], words, words,
             title="Caminho direto não amarrado: W_E W_U",
             ylabel="token atual a", xlabel="próximo token b")

# %% [markdown]
# Repare na diagonal da matriz amarrada: $W_E[a]\cdot W_E[a] = \|W_E[a]\|^2$ é sempre
# positivo e muitas vezes é o maior valor da linha. O caminho direto amarrado tende a
# prever **o próprio token de novo** — algo que quase nunca acontece nesta língua
# ("o o", "menino menino"). Contando em quantas linhas o maior logit do caminho direto
# (com o viés) é o próprio token:

# %%
arange = torch.arange(V)
for name, model, M in (("amarrado", tied, direct_tied), ("não amarrado", untied, direct_untied)):
    repeats = ((M + model.b_U.detach()).argmax(-1) == arange).float().mean().item()
    after_o = tokenizer.to_str_tokens((M[o_id] + model.b_U.detach()).topk(5).indices.tolist())
    print(f"{name:>13}: prevê repetir o token em {repeats:.0%} das linhas; top-5 depois de 'o': {after_o}")
print(f"{'gramática':>13}: repete o token em {(counts.argmax(-1) == arange)[counts.sum(-1) > 0].float().mean().item():.0%} das linhas")

# %% [markdown]
# O caminho direto não amarrado aprendeu a tabela de bigramas ("o" → substantivos
# masculinos). O amarrado não consegue: depois de "o" ele aposta em outros artigos, que são
# os embeddings mais parecidos com o de "o".
#
# ## 7. Então como o modelo amarrado acerta?
#
# Ele não é só o caminho direto: tem 2 camadas de atenção e MLP. Rodando o modelo inteiro
# em todas as sequências de dois tokens "`<bos>` a" obtemos a tabela de bigramas que ele
# realmente usa:

# %%
pairs = torch.stack([torch.zeros(V, dtype=torch.long), arange], dim=1)  # [d_vocab, 2]
with torch.no_grad():
    full_tied = tied(pairs)[:, -1]  # [d_vocab (token atual), d_vocab (próximo)]
    full_untied = untied(pairs)[:, -1]
for name, full in (("amarrado", full_tied), ("não amarrado", full_untied)):
    p = full.softmax(-1)
    print(f"{name:>13} (modelo inteiro): assimetria {asymmetry(full):.3f}, "
          f"P(gato | o) = {p[o_id, gato_id]:.4f}, P(o | gato) = {p[gato_id, o_id]:.4f}, "
          f"top-3 depois de 'o': {tokenizer.to_str_tokens(full[o_id].topk(3).indices.tolist())}")

# %% [markdown]
# O modelo amarrado inteiro é bem assimétrico e acerta o bigrama "o → substantivo": as
# camadas fazem o papel que o caminho direto não pode fazer. Onde? Um palpite natural é o
# primeiro MLP, que vê o token atual e escreve de volta no fluxo residual. Três cuidados
# para que o teste seja uma medida e não uma anedota:
#
# 1. **Ablação pela média**, não por zero: zerar uma saída põe o resíduo num lugar onde o
#    modelo nunca esteve; trocar pela média (no texto de avaliação) tira só a informação
#    que varia de token para token.
# 2. **Especificidade**: o bigrama "artigo → substantivo" mora nas posições cujo token atual
#    é um artigo. Medimos o aumento da perda nelas **e** no resto; um componente "do
#    bigrama" deveria pesar muito mais nas primeiras.
# 3. **Controle**: a mesma ablação no modelo **não** amarrado. Se o MLP 0 só importa por
#    causa do amarramento, o não amarrado (cujo caminho direto já sabe o bigrama) deveria
#    sofrer bem menos.
#
# ✍️ **Preveja:** no modelo não amarrado, ablar o MLP 0 pela média dói menos que no
# amarrado?

# %%
articles = torch.tensor([tokenizer.to_single_token(w) for w in ["o", "a", "os", "as", "um", "uma", "uns", "umas"]])
after_article = torch.isin(eval_tokens[:, :-1], articles)  # [seq, pos-1]: o token atual é um artigo


def per_token_loss(model, hooks=()):
    with torch.no_grad(), model.hooks(list(hooks)):
        log_probs = model(eval_tokens).log_softmax(-1)
    return -log_probs[:, :-1].gather(-1, eval_tokens[:, 1:, None])[..., 0]  # [seq, pos-1]


print(f"{after_article.float().mean():.0%} das posições têm um artigo como token atual")
print(f"{'modelo':>13} {'componente':>22} {'ablação':>8} {'Δ perda após artigo':>20} {'Δ perda no resto':>17}")
for name, model in (("amarrado", tied), ("não amarrado", untied)):
    _, eval_cache = model.run_with_cache(eval_tokens)
    base = per_token_loss(model)
    for hook_name in ("blocks.0.hook_mlp_out", "blocks.0.hook_attn_out", "blocks.1.hook_mlp_out"):
        mean = eval_cache[hook_name].mean(dim=(0, 1))
        for kind, fn in (("média", lambda x, hook, m=mean: m.expand_as(x)), ("zero", lambda x, hook: torch.zeros_like(x))):
            delta = per_token_loss(model, [(hook_name, fn)]) - base
            print(f"{name:>13} {hook_name:>22} {kind:>8} {delta[after_article].mean():>20.2f} {delta[~after_article].mean():>17.2f}")
print(f"referência: a perda uniforme é ln(260) = {torch.log(torch.tensor(260.0)):.2f}")

# %% [markdown]
# O que a tabela mostra, e só isso:
#
# - Ablar o MLP 0 pela média destrói o modelo **inteiro**, nos dois modelos: a perda sobe
#   uns 8 nats depois de artigos e uns 4 a 5 no resto, e termina pior que o chute
#   uniforme. Não é um efeito específico do bigrama.
# - O controle não amarrado sofre **o mesmo** (8,09 depois de artigos contra 8,18 no
#   amarrado). O MLP 0 é essencial nos dois; o amarramento não é o que o torna
#   essencial. (A ablação por zero até "salva" o não amarrado depois de artigos, 2,00:
#   mais uma razão para não confiar em ablação por zero.)
# - Os outros componentes da tabela pesam uma fração de nat.
#
# Então a frase "o amarramento obriga o MLP 0 a fazer o bigrama" não se sustenta com esta
# medida. Uma medida mais direta de **onde** o bigrama aparece é a lente de logits (lição
# 03) nas sequências "`<bos>` a": a entropia cruzada da previsão contra a tabela de
# bigramas verdadeira, lida antes do bloco 0 (`0_pre`, o embedding) e depois dele
# (`1_pre`).

# %%
weights = counts.sum(-1) / counts.sum()  # quanto cada token atual aparece
for name, model in (("amarrado", tied), ("não amarrado", untied)):
    lens_logits, lens_labels = logit_lens(model, pairs)
    ce = [(weights * -(bigram * lens_logits[k, :, -1].log_softmax(-1)).sum(-1)).sum().item()
          for k in range(len(lens_labels))]
    print(f"{name:>13}: " + ", ".join(f"{label} {value:.2f}" for label, value in zip(lens_labels, ce)))
entropy = (weights * -(bigram * bigram.clamp_min(1e-30).log()).sum(-1)).sum().item()
print(f"piso (a entropia da própria tabela de bigramas): {entropy:.2f}")

# %% [markdown]
# Lido direto do embedding (`0_pre`), o modelo amarrado está longe do bigrama (10,76
# nats, a simetria de $W_E W_E^\top$), e o não amarrado já está a meio caminho (5,07).
# Depois do bloco 0 os dois chegam perto do que têm no fim. Isto é compatível com "o bloco
# 0 escreve o bigrama no modelo amarrado", mas não separa atenção de MLP nem prova causa:
# para isso faltaria uma intervenção específica, como a das lições 06 e 09.
#
# Um detalhe: entre o fluxo residual e $W_U$ há a LayerNorm final, que centra e reescala o
# vetor (e multiplica por um peso por dimensão). Ela faz parte do caminho direto de
# verdade e quebra um pouco a simetria exata. Refazendo as contas com ela:

# %%
with torch.no_grad():
    for name, model in (("amarrado", tied), ("não amarrado", untied)):
        with_ln = model.ln_final(model.W_E) @ model.W_U + model.b_U  # [d_vocab, d_vocab]
        repeats = (with_ln.argmax(-1) == arange).float().mean().item()
        print(f"{name:>13}, com a LN final: assimetria {asymmetry(with_ln):.3f}, repete o token em {repeats:.0%}, "
              f"top-3 depois de 'o': {tokenizer.to_str_tokens(with_ln[o_id].topk(3).indices.tolist())}")

# %% [markdown]
# A conclusão não muda: com ou sem a LN, o caminho direto amarrado é quase simétrico, não
# conhece o bigrama "o → substantivo" e prefere repetir tokens.

# %% [markdown]
# ## Resumo
#
# - A cabeça de linguagem faz `logits = h @ W_U + b_U` e depois softmax; com pesos
#   amarrados, `W_U = W_E.T` — o mesmo tensor, não uma cópia.
# - Amarrar economiza `d_vocab × d_model` parâmetros: 5.120.000 no exemplo do texto,
#   16.640 (12,3% do modelo não amarrado) nos modelos do curso, sem piorar a perda aqui.
# - Cada logit é o produto escalar de $h$ com o embedding de um token: depende do ângulo
#   **e** do comprimento do embedding.
# - O caminho direto amarrado $W_E W_E^\top$ é simétrico; ele não representa regras de
#   mão única como "o → gato" e tende a prever a repetição do token; $W_E W_E^\top$ também
#   não é a identidade (posto 64 de 260). O modelo amarrado inteiro aprende o bigrama: a
#   lente mostra-o depois do bloco 0. O MLP 0 é essencial nos **dois** modelos (ablação pela
#   média: +8 nats depois de artigos, +4 a 5 no resto), então ela não diz que o amarramento
#   "obriga" o MLP 0 a nada.
#
# **Correções ao texto-fonte** (todas verificadas acima por código):
#
# | O texto diz | O código mostra |
# |---|---|
# | $E$ "tem dimensão 5x3" | a matriz escrita é 3 × 5: `[|V|, d]` |
# | $u = [0{,}55;\ 0{,}64;\ 0{,}73]$ | $u = h_N E^\top = [0{,}17;\ 0{,}52;\ 0{,}87]$ (as contas misturam linhas e colunas, e dois passos têm erro de soma) |
# | $y \approx [0{,}304;\ 0{,}332;\ 0{,}364]$ | com os logits corretos, $y \approx [0{,}226;\ 0{,}320;\ 0{,}454]$ |
# | $E_i$ é "a i-ésima coluna de E" | é a $i$-ésima **linha** |
# | o logit "mede a similaridade" | é um produto escalar: cosseno × normas |
# | o amarramento regulariza e melhora a generalização | neste experimento, perdas iguais até a 4ª casa |
# | o desembedding amarrado é "o inverso" do embedding | $W_E W_E^\top$ tem posto 64 de 260 e está longe da identidade |
#
# No notebook de exercícios você vai implementar a contagem de parâmetros, a cabeça
# amarrada, a matriz do caminho direto, a medida de assimetria e os escores de cosseno.
