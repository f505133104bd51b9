# %% [markdown]
# # 03 · A lente de logits: o que o modelo "pensa" no meio do caminho
#
# O fluxo residual de um transformer é um vetor de `d_model` números que cada camada lê e
# ao qual cada camada soma alguma coisa. Só no fim ele passa pela LayerNorm final e por
# $W_U$ para virar logits. Mas nada impede de fazer essa mesma conversão **antes**: pegar o
# resíduo depois da camada 0, ou da camada 1, e perguntar "se o modelo parasse aqui, que
# palavra ele preveria?". Essa é a **lente de logits** (*logit lens*, nostalgebraist, 2020).
#
# **O que você vai aprender**
#
# - a implementar a lente passo a passo: resíduo acumulado → LayerNorm final (com a escala
#   recalculada) → $W_U$ + $b_U$ → softmax;
# - a ler a figura da lente camada por camada no modelo `lm` do curso (3 camadas);
# - por que a LayerNorm final não pode ficar de fora (e o que o trecho de código do
#   texto-fonte faz de errado);
# - a acompanhar, camada a camada, a concordância verbal em orações relativas
#   ("o gato que os meninos viram" → "dorme") e achar onde o modelo se corrige;
# - por que a lente é imperfeita, medindo a divergência KL até a saída final.
#
# **Tempo estimado:** ~40 min
#
# **Pré-requisitos:** lição 02 (a cabeça de modelagem de linguagem e $W_U$); saber o que
# são o fluxo residual, a LayerNorm e o cache de ativações (`run_with_cache`).

# %%
from course_lib.notebook import setup

setup()

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib import AGREEMENT_TESTS, PtGrammar, load_pretrained
from course_lib.lens import lens_top_k, logit_lens, target_rank_per_layer
from course_lib.plots import plot_logit_lens
from course_lib.recipes import lm_eval_tokens
from course_lib.widgets import logit_lens_explorer

model = load_pretrained("lm")
tokenizer = model.tokenizer
print(f"camadas: {model.cfg.n_layers} | d_model: {model.cfg.d_model} | d_vocab: {model.cfg.d_vocab} "
      f"| pesos amarrados: {model.cfg.tie_embeddings}")

# %% [markdown]
# ## 1. Os resíduos acumulados
#
# Rodamos o modelo com cache e empilhamos o fluxo residual em cada ponto de leitura. Os
# rótulos seguem o TransformerLens: `k_pre` é o resíduo **antes** da camada `k` (isto é,
# depois das camadas `0..k-1`); `final_post` é o resíduo depois da última camada, o que
# vai para a cabeça. Com 3 camadas, são 4 pontos de leitura.

# %%
prompt = "o gato que os meninos viram"
tokens = model.to_tokens(prompt)
str_tokens = model.to_str_tokens(tokens)
model_logits, cache = model.run_with_cache(tokens)

resid_stack, labels = cache.accumulated_resid(return_labels=True)
print("tokens:", str_tokens)
print("rótulos:", labels)
print("formato da pilha:", tuple(resid_stack.shape), " [ponto de leitura, batch, pos, d_model]")

# %% [markdown]
# ## 2. A lente, passo a passo
#
# O modelo transforma o resíduo final $x$ em logits assim:
#
# $$\operatorname{LN}(x) = w \odot \frac{x - \bar{x}}{\sqrt{\operatorname{var}(x) + \varepsilon}} + b,
# \qquad \text{logits} = \operatorname{LN}(x)\,W_U + b_U,$$
#
# com média e variância (a enviesada, dividindo por `d_model`) calculadas sobre o eixo
# `d_model` de cada vetor. A lente aplica **exatamente essa função** a cada resíduo
# intermediário, recalculando a média e a escala de cada um como se ele fosse o final.
# Escrever essa conta é o primeiro exercício deste tema; aqui usamos a versão da
# biblioteca, `course_lib.lens.logit_lens`, que devolve os logits da lente em cada ponto
# de leitura.

# %%
with torch.no_grad():
    lens_logits, lens_labels = logit_lens(model, cache)  # [ponto, batch, pos, d_vocab]
lens_probs = torch.softmax(lens_logits, -1)
print("formato dos logits da lente:", tuple(lens_logits.shape), "| rótulos:", lens_labels)

# %% [markdown]
# Primeiro teste de sanidade: na última linha (`final_post`) a lente **é** o modelo. A
# diferença para os logits de verdade tem de ser só arredondamento de float32.

# %%
final_error = (lens_logits[-1] - model_logits).abs().max().item()
print("final_post = logits do modelo (erro < 1e-4):", "✅" if final_error < 1e-4 else "❌")

# %% [markdown]
# Agora a leitura: para a **última** posição ("viram"), o que cada ponto do modelo
# preveria como próxima palavra?
#
# ✍️ **Preveja:** depois de uma só camada (`1_pre`), a lente já prevê um verbo depois de
# "viram"?

# %%
for label, probs in zip(labels, lens_probs[:, 0, -1]):
    top = probs.topk(4)
    words = ", ".join(f"{tokenizer.to_str_tokens([int(i)])[0]} {p:.2f}" for p, i in zip(top.values, top.indices))
    print(f"{label:>10}: {words}")

# %% [markdown]
# ## 3. A figura da lente
#
# Fazendo isso para todas as posições, temos uma grade: cada coluna é uma posição da
# entrada, cada linha um ponto de leitura, e cada célula mostra o token mais provável
# **para a posição seguinte**, com a cor dando a sua probabilidade. Usamos uma frase
# completa da gramática.

# %%
sentence = "o gato que os meninos viram dorme sozinho ."
probs_top, ids_top, lens_labels = lens_top_k(model, model.to_tokens(sentence), k=1)
top_words = [[tokenizer.to_str_tokens([int(i)])[0] for i in row[:, 0]] for row in ids_top]
pos_labels = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(sentence))]  # rótulos pos:token
plot_logit_lens(probs_top[:, :, 0], top_words, pos_labels, layer_labels=lens_labels,
                title="Lente de logits do modelo lm")

# %% [markdown]
# Algumas coisas para reparar:
#
# - Em `0_pre` (só embedding + posição, nenhuma camada ainda) a previsão é fraca e muitas
#   vezes sem sentido: o resíduo ainda não foi escrito para ser lido por $W_U$.
# - Já em `1_pre`, depois de uma única camada, a maioria das posições prevê a **classe**
#   certa da próxima palavra (substantivo depois de artigo, artigo depois de "que", ponto
#   depois de "sozinho").
# - A exceção instrutiva é a posição "viram": em `1_pre` a lente prevê um artigo, como se
#   "viram" abrisse um objeto ("os meninos viram **o** gato"). Só em `2_pre` aparece um
#   verbo: a camada 1 "percebeu" que "viram" fecha uma oração relativa cujo objeto é
#   "gato", e que agora vem o verbo principal.
# - As camadas finais mudam menos: refinam probabilidades e às vezes a escolha.
#
# Explore outras frases com o explorador interativo (no Jupyter, digite no campo de texto;
# ao rodar os testes ele vira uma figura estática):

# %%
logit_lens_explorer(model, "a menina que os gatos amam canta")

# %% [markdown]
# ## 4. E sem a LayerNorm final?
#
# O trecho de código do texto-fonte calcula a lente assim:
# `logits = F.linear(layer_output, model.embed_tokens.weight)`, ou seja
# `resíduo @ W_Eᵀ`. Há dois problemas:
#
# 1. **Falta a LayerNorm final.** O modelo nunca aplica $W_U$ ao resíduo cru; ele aplica
#    à saída da LayerNorm.
# 2. **Usa a matriz de embedding.** Isso só é o desembedding em modelos com pesos
#    amarrados (lição 02). O `lm` do curso não é amarrado: o certo é $W_U$ (e $b_U$).
#
# Vejamos o que dá errado sem a LayerNorm. Primeiro, as normas dos resíduos crescem muito
# de um ponto de leitura para o outro:

# %%
norms = resid_stack[:, 0].norm(dim=-1)  # [ponto, pos]
for label, row in zip(labels, norms):
    print(f"{label:>10}: norma média do resíduo {row.mean():6.2f}  (mín {row.min():5.2f}, máx {row.max():5.2f})")

# %% [markdown]
# Sem normalizar, os logits herdam essa escala: o resíduo de `0_pre` dá logits quase
# planos, os outros, logits enormes. E a média do vetor, que a LayerNorm removeria, fica lá
# empurrando sempre os mesmos tokens. Comparamos três versões na última posição:

# %%
with torch.no_grad():
    no_ln = resid_stack @ model.W_U + model.b_U
    seed_code = resid_stack @ model.W_E.T  # o trecho do texto-fonte

for name, logits in (("com LN final", lens_logits), ("sem LN final", no_ln), ("código do texto-fonte", seed_code)):
    print(f"{name}:")
    for label, row in zip(labels, logits[:, 0, -1]):
        top = row.softmax(-1).topk(3)
        words = ", ".join(f"{tokenizer.to_str_tokens([int(i)])[0]} {p:.3f}" for p, i in zip(top.values, top.indices))
        print(f"   {label:>10}: {words}")
    print(f"   diferença máxima para o modelo em final_post: {(logits[-1] - model_logits).abs().max().item():.2f}")

# %% [markdown]
# Sem a LayerNorm:
#
# - em `0_pre` o resíduo tem norma ~1, os logits são minúsculos e a distribuição é quase
#   uniforme (1/260 ≈ 0,004): a lente "não vê nada", embora o resíduo já tenha informação;
# - nas outras linhas a ordem dos tokens até lembra a certa, mas as probabilidades não:
#   em `final_post` ela dá a "dorme" mais que o dobro da probabilidade que o modelo dá, e
#   a última linha já não coincide com o modelo (logits diferentes em quase 30).
#
# O código do texto-fonte, com $W_E$, produz distribuições sem relação com a saída do
# modelo ("leoa" como próxima palavra). A lente que vale a pena é a que usa **a mesma
# cabeça** que o modelo usa: LayerNorm final, $W_U$ e $b_U$.

# %% [markdown]
# ## 5. Onde o modelo "decide" a concordância?
#
# `AGREEMENT_TESTS` traz frases incompletas com a palavra certa e uma errada. As mais
# interessantes são as orações relativas: em "o gato que os meninos viram ___", o verbo
# tem de concordar com "gato" (singular), embora o substantivo mais próximo, "meninos",
# esteja no plural. Um atalho preguiçoso — concordar com o substantivo mais perto —
# erraria.
#
# Para cada frase, medimos em cada ponto de leitura a **diferença de logits** da lente
# entre a forma certa e a errada: positiva quando a lente prefere a certa, negativa quando
# prefere a errada. (Uma diferença $d$ quer dizer que a razão entre as duas
# probabilidades é $e^d$; o softmax dos outros tokens não interfere nessa razão.)

# %%
relative = [t for t in AGREEMENT_TESTS if " que " in f" {t[0]} " and len(t[0].split()) >= 5]
print(f"{'frase':<38}{'certa/errada':<19}" + "".join(f"{l:>11}" for l in labels) + "   P(certa)/P(errada) no fim")
for prompt_i, good_i, bad_i in relative:
    toks = model.to_tokens(prompt_i)
    logit_good = target_rank_per_layer(model, toks, good_i)["logit"]
    logit_bad = target_rank_per_layer(model, toks, bad_i)["logit"]
    diff = logit_good - logit_bad
    cells = "".join(f"{d:>10.2f}" + ("*" if d < 0 else " ") for d in diff.tolist())
    print(f"{prompt_i:<38}{good_i + '/' + bad_i:<19}{cells}   {diff[-1].exp().item():>10.0f}")
print("\n* = neste ponto a lente prefere a forma ERRADA")

# %% [markdown]
# O padrão procurado aparece em três das cinco relativas com verbo. No ponto `1_pre`
# (depois da camada 0) a lente prefere a forma que concorda com o substantivo **mais
# próximo** em "o gato que os meninos viram" (−0,66), em "a professora que leu os livros"
# (−1,98) e, por um fio, em "a menina que os gatos amam" (−0,09). Em `2_pre` (depois da
# camada 1) as três já estão positivas, e na saída a forma certa é de centenas a
# milhares de vezes mais provável nas duas primeiras; "a professora..." termina com uma
# margem bem menor (a razão da última coluna).
#
# Em "os meninos que comeram o bolo" a forma errada só está na frente em `0_pre`, onde
# ainda não há contexto nenhum: é o embedding de "bolo" (singular) somado à sua posição.
# As frases com "sozinho(s)" não mostram inversão.
#
# Vamos ver "o gato que os meninos viram" em detalhe, com o posto (1 = o token mais
# provável de todo o vocabulário) além da probabilidade.

# %%
case_prompt, good, bad = "o gato que os meninos viram", "dorme", "dormem"
case_tokens = model.to_tokens(case_prompt)
infos = {w: target_rank_per_layer(model, case_tokens, w) for w in (good, bad)}
for w, info in infos.items():
    ranks = ", ".join(f"{l} {r}" for l, r in zip(info["labels"], info["rank"].tolist()))
    print(f"posto de '{w}': {ranks}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
x = range(len(labels))
for w, style in ((good, "o-"), (bad, "s--")):
    axes[0].plot(x, infos[w]["prob"], style, label=f"'{w}'" + (" (certa)" if w == good else " (errada)"))
    axes[1].plot(x, infos[w]["rank"], style, label=f"'{w}'")
axes[0].set_ylabel("probabilidade na lente")
axes[1].set_ylabel("posto (1 = mais provável)")
axes[1].set_yscale("log")
axes[1].invert_yaxis()
for ax in axes:
    ax.set_xticks(list(x), labels)
    ax.set_xlabel("ponto de leitura")
axes[0].legend()
fig.suptitle(f"'{case_prompt} ___': concordância camada a camada")
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# Uma leitura cuidadosa desse resultado: em `1_pre` o token mais provável ainda é um
# artigo (seção 2), mas, entre as duas formas do verbo, o plural "dormem" (posto 6) está
# bem à frente do singular "dorme" (posto 14) — o número de "meninos", o substantivo mais
# recente. Depois da camada 1, "dorme" passa a ser o token mais provável de todos e
# "dormem" cai para longe. A lente sugere que a camada 1 corrige o número para o do
# sujeito, "gato". Mas ela só mostra o que $W_U$ consegue ler do resíduo; não diz **qual**
# componente fez a correção. Para isso servem as técnicas de atribuição e de ablação das
# próximas lições.

# %% [markdown]
# ## 6. Por que a lente é imperfeita
#
# Nada no treino pede que o resíduo do meio seja legível pela cabeça final: a rede só foi
# otimizada para que o resíduo **final** o seja. As camadas do meio podem guardar
# informação em direções que $W_U$ ignora, ou numa escala diferente. Por isso a lente é
# um instrumento aproximado.
#
# Uma forma de medir o quanto cada ponto de leitura se afasta da saída: a divergência
# KL da distribuição final $P_{\text{final}}$ (a do modelo) para a distribuição da lente
# $P_k$ naquele ponto, em média sobre muitas posições de texto de avaliação:
#
# $$\operatorname{KL}(P_{\text{final}} \,\|\, P_k) = \sum_t P_{\text{final}}(t)\,
# \bigl[\log P_{\text{final}}(t) - \log P_k(t)\bigr].$$
#
# Ela vale exatamente 0 na última linha e é maior quanto mais a lente diverge.

# %%
grammar = PtGrammar()
eval_tokens = lm_eval_tokens(grammar, model.cfg.n_ctx, n=64)
with torch.no_grad():
    eval_lens, eval_labels = logit_lens(model, eval_tokens)  # [ponto, batch, pos, d_vocab]
    eval_no_ln, _ = logit_lens(model, eval_tokens, no_ln=True)


def kl_from_final(lens):
    """KL(P_final ‖ P_k) média nas posições, com a função pronta do PyTorch."""
    log_p_final = eval_lens[-1].log_softmax(-1).expand_as(lens)
    kl = F.kl_div(lens.log_softmax(-1), log_p_final, log_target=True, reduction="none")
    return kl.sum(-1).mean(dim=(1, 2))


kl_ln, kl_no_ln = kl_from_final(eval_lens), kl_from_final(eval_no_ln)
same_top1 = (eval_lens.argmax(-1) == eval_lens[-1].argmax(-1)).float().mean(dim=(1, 2))
loss = [torch.nn.functional.cross_entropy(l[:, :-1].reshape(-1, l.shape[-1]), eval_tokens[:, 1:].reshape(-1)).item()
        for l in eval_lens]
print(f"{eval_tokens.numel()} posições de avaliação; perda ótima da gramática: {grammar.optimal_loss(eval_tokens):.3f}")
print(f"{'ponto':>10} {'KL (com LN)':>12} {'KL (sem LN)':>12} {'top-1 = final':>14} {'perda da lente':>15}")
for i, label in enumerate(eval_labels):
    print(f"{label:>10} {kl_ln[i]:12.3f} {kl_no_ln[i]:12.3f} {same_top1[i]:14.1%} {loss[i]:15.3f}")

# %% [markdown]
# A KL cai camada a camada e chega a 0 em `final_post`, onde a lente é o modelo. A maior
# queda está na camada 0: depois dela, a lente já concorda com o top-1 final em boa parte
# das posições e a perda da lente cai muito. Sem a LayerNorm, a KL fica alta em **todas**
# as linhas, inclusive na última, porque aquela "lente" não é a cabeça do modelo.
#
# Duas ressalvas honestas:
#
# - Num modelo de 3 camadas treinado numa gramática simples, a lente funciona bem cedo.
#   Em modelos grandes as primeiras camadas costumam ser bem menos legíveis, e versões
#   treinadas da lente (a *tuned lens*, que aprende uma transformação afim por camada)
#   corrigem parte do problema.
# - "A lente mostra X na camada k" quer dizer "$W_U$ lê X no resíduo da camada k". O
#   modelo pode ter a informação antes, numa forma que $W_U$ não lê.

# %% [markdown]
# ## 7. A variante do TransformerLens: a escala do resíduo final para todos
#
# Quem segue para o TransformerLens (e para o ARENA) vai encontrar
# `cache.accumulated_resid(apply_ln=True)`. Lá, essa chamada **não** recalcula a escala
# de cada resíduo: ela divide todos pela escala do resíduo **final** (a guardada em
# `ln_final.hook_scale`). É a versão linear da lente: a soma das lentes de dois
# componentes é a lente da soma, o que serve para atribuir logits a componentes (seção 8).
# Mas é outra pergunta, e a verificação do exercício `03.logit_lens` a recusa como
# resposta para a lente de nostalgebraist. (No `course_lib`, `accumulated_resid(apply_ln=True)`
# recalcula a escala; a versão linear é `logit_lens(..., recompute_ln=False)`.)
#
# ✍️ **Preveja:** com a escala final, a KL de `0_pre` sobe ou desce? (A norma do resíduo
# cresce camada a camada; a seção 4 mostrou quanto.)

# %%
with torch.no_grad():
    eval_frozen, _ = logit_lens(model, eval_tokens, recompute_ln=False)
kl_frozen = kl_from_final(eval_frozen)
print(f"{'ponto':>10} {'KL, escala própria':>19} {'KL, escala final (TL)':>22}")
for i, label in enumerate(eval_labels):
    print(f"{label:>10} {kl_ln[i]:19.3f} {kl_frozen[i]:22.3f}")

# %% [markdown]
# As duas coincidem na última linha (lá a escala própria **é** a final) e quase coincidem
# em `2_pre`; em `0_pre`, onde o resíduo é bem mais curto que o final, dividir pela escala
# final achata os logits e a KL mais que dobra. Ao comparar números deste curso com os de
# um notebook do TransformerLens, confira qual das duas lentes está em jogo.

# %% [markdown]
# ## 8. A lente por componente: o que cada atenção e cada MLP escreve
#
# O resíduo final é uma soma: embedding, embedding posicional e a saída de cada atenção e
# de cada MLP (`cache.decompose_resid`). Com a escala final congelada, a cabeça do modelo
# é afim, então cada parcela tem a sua contribuição para os logits, e elas somam
# exatamente aos logits do modelo (menos uma constante, `cache.logit_offset()`). Medimos,
# em "o gato que os meninos viram", quanto cada componente empurra a diferença
# logit(dorme) − logit(dormem), e que tokens cada um mais promove; como controle, a mesma
# conta em "o menino", onde não há substantivo de outro número no caminho.
#
# ✍️ **Preveja:** que componente empurra para o lado **errado** (o plural de "meninos")
# na frase relativa? Um da camada 0, 1 ou 2?

# %%
def component_table(prompt_c, good_c, bad_c):
    toks = model.to_tokens(prompt_c)
    with torch.no_grad():
        logits_c, cache_c = model.run_with_cache(toks)
    parts, part_labels = cache_c.decompose_resid(return_labels=True)  # [componente, batch, pos, d_model]
    g, b = tokenizer.to_single_token(good_c), tokenizer.to_single_token(bad_c)
    attrs = cache_c.logit_attrs(parts, g, b)[:, 0, -1]  # [componente]
    offset = cache_c.logit_offset()[g] - cache_c.logit_offset()[b]
    model_diff = logits_c[0, -1, g] - logits_c[0, -1, b]
    pushed = cache_c.apply_ln_to_stack(parts)[:, 0, -1] @ model.W_U  # [componente, d_vocab]
    return part_labels, attrs, pushed, (attrs.sum() + offset - model_diff).abs().item(), model_diff.item()


tables = {p_: component_table(p_, "dorme", "dormem") for p_ in ("o gato que os meninos viram", "o menino")}
for p_, (part_labels, attrs, pushed, error, model_diff) in tables.items():
    print(f"'{p_} ___': logit(dorme) − logit(dormem) do modelo = {model_diff:.2f}; "
          f"soma das parcelas + constante = modelo (erro < 1e-4): {'✅' if error < 1e-4 else '❌'}")
    for label, a, row in zip(part_labels, attrs.tolist(), pushed):
        print(f"   {label:>12} {a:+6.2f}   promove: {', '.join(tokenizer.to_str_tokens(row.topk(3).indices.tolist()))}")

# %% [markdown]
# Na frase relativa, o MLP da camada 0 é a única parcela que empurra para "dormem"
# (−0,37) e promove artigos ("a", "as", "os"): ele ainda lê "viram" como um verbo que abre
# um objeto. A virada vem da camada 1 (atenção +1,35 e MLP +2,35), e o MLP da camada 2
# soma mais +3,92. No controle "o menino", o mesmo MLP 0 dá a maior parcela a favor de
# "dorme" (+3,37) e a atenção da camada 1 quase não contribui (+0,08): a atenção da camada
# 1 só trabalha quando o sujeito está longe. É o que a lente da seção 5 sugeria ("a camada
# 1 corrige o número"), agora com a parcela de cada componente. Ainda não é uma prova
# causal: uma parcela grande pode ser compensada por outra, e só uma intervenção (ablação,
# patching; lições 06 e 09) diz o que acontece sem ela.

# %% [markdown]
# ## Resumo
#
# - Lente de logits = aplicar a cabeça do modelo (LayerNorm final com a escala de cada
#   resíduo, $W_U$, $b_U$, softmax) ao resíduo acumulado de cada camada.
# - Na última linha ela coincide com o modelo; antes, é uma aproximação que melhora
#   camada a camada (KL para a saída final: 1,123 → 0,135 → 0,024 → 0 neste modelo).
# - Sem a LayerNorm final a lente não funciona, nem na última linha.
# - No `lm`, a lente mostra a concordância em orações relativas sendo **corrigida** na
#   camada 1, depois de a camada 0 favorecer o número do substantivo mais próximo
#   (em três das cinco relativas com verbo; numa delas por pouco).
# - A variante do TransformerLens (`accumulated_resid(apply_ln=True)`) usa a escala do
#   resíduo final em todas as linhas: é linear, boa para atribuir, mas em `0_pre` dá KL
#   2,690 contra 1,123 da lente de escala própria.
# - A lente por componente separa o resíduo em parcelas que somam aos logits: na frase
#   relativa, o MLP 0 puxa para o plural (−0,37) e a camada 1 (+1,35 e +2,35) vira o jogo.
#
# **Correções ao texto-fonte** (verificadas acima por código):
#
# | O texto diz | O código mostra |
# |---|---|
# | a lente faz `F.linear(layer_output, embed_tokens.weight)` | falta a LayerNorm final; e $W_E^\top$ só é o desembedding em modelos amarrados — o `lm` usa $W_U$ e $b_U$ |
# | $u = h_N^L E^\top$ | no modelo, $u = \operatorname{LN}(h)\,W_U + b_U$ (LayerNorm final e viés incluídos) |
# | camadas baixas "sintáticas", médias "semânticas", altas "da tarefa" | é uma hipótese sobre modelos grandes; aqui, com 3 camadas, a primeira já faz quase todo o trabalho |
#
# No notebook de exercícios você vai implementar a LayerNorm final, a lente, o token mais
# provável por camada, o posto de um alvo e a KL por camada.
