# %% [markdown]
# # 10 · Patching de ativações: onde a informação passa
#
# A ablação do notebook 09 pergunta "o que quebra se eu desligar esta cabeça?". O
# **patching de ativações** faz a pergunta inversa, e mais precisa: rodamos o modelo num
# prompt **corrompido** (em que a informação que queremos rastrear foi trocada) e
# restauramos UMA ativação da rodada **limpa**. Se o comportamento limpo volta, aquela
# ativação (aquela camada, aquela posição, aquela cabeça) carrega a informação que faltava.
#
# **O que você vai aprender**
#
# - montar um par limpo/corrompido e uma métrica normalizada (0 no corrompido, 1 no limpo);
# - por que a escolha da corrupção decide o que o patching consegue ver;
# - varrer o fluxo residual (camada × posição) e as saídas das cabeças (cabeça, cabeça × posição);
# - o **patching de caminho**: da saída de uma cabeça só para a chave (ou a consulta, ou o
#   valor) de outra; com ele, confirmar a composição K do circuito de indução;
# - achar por onde o **número do sujeito** viaja até o verbo numa frase em português, e
#   conferir com a gramática;
# - o **patching por atribuição** (a aproximação pelo gradiente): onde acerta, onde erra e
#   quanto economiza.
#
# **Tempo estimado:** ~50 min.
#
# **Pré-requisitos:** ganchos e cache (05–06), cabeças de token anterior e de indução (07–08),
# composição e ablação (09).

# %%
from course_lib.notebook import setup

setup()

import time

import torch

from course_lib import ablation, circuits, load_metadata, load_pretrained, patching, plots, widgets
from course_lib.data import repeated_tokens


def r2(x) -> float:
    """Arredonda a 2 casas sem '-0.00' (o sinal de um zero de float32 muda de CPU para CPU)."""
    return round(float(x), 2) + 0.0


def row(values) -> str:
    return "  ".join(f"{r2(v):5.2f}" for v in values)


def show(grid, prefix: str = "") -> None:
    """Uma linha por camada de uma varredura [n_layers, pos]."""
    print("\n".join(f"{prefix}L{i}: {row(values)}" for i, values in enumerate(grid)))


# %% [markdown]
# ## 1. Limpo, corrompido e uma métrica de 0 a 1
#
# Começamos pelo modelo `induction` (2 camadas, só atenção, sem LayerNorm) do notebook 09.
# Cada exemplo do lote é `[BOS, x_1 … x_10, x_1 … x_4]`: na última posição o token é $x_4$ e
# um modelo com indução prevê $x_5$, que veio depois de $x_4$ na 1ª cópia.
#
# - **limpo**: esse prompt;
# - **corrompido**: o mesmo, com **um** token trocado, o $x_4$ da 1ª cópia (posição 4). A
#   consulta continua sendo $x_4$, mas agora não há $x_4$ antes: a indução não tem o que copiar.
#
# A métrica é a diferença de logits na última posição, $\mathrm{LD} = \text{logit}(x_5) -
# \text{logit}(\text{errada})$ (a errada é o token que a rodada corrompida mais prevê), e a
# normalizamos:
#
# $$ \text{métrica} = \frac{\mathrm{LD}_{\text{patch}} - \mathrm{LD}_{\text{corrompido}}}{\mathrm{LD}_{\text{limpo}} - \mathrm{LD}_{\text{corrompido}}} $$
#
# que dá **0** na rodada corrompida e **1** na limpa (`patching.normalized_metric`).

# %%
ind_model = load_pretrained("induction")
meta = load_metadata("induction")["metrics"]
N, J, BATCH = 10, 4, 16


def induction_pair(corrupt_positions, seed=0):
    """Lote limpo, lote corrompido (tokens de `corrupt_positions` trocados), resposta e errada."""
    toks = repeated_tokens(BATCH, N, ind_model.cfg.d_vocab, seed=seed)
    clean = toks[:, : N + 1 + J]
    corrupted = clean.clone()
    gen = torch.Generator().manual_seed(seed + 1)
    for p in corrupt_positions:
        shift = torch.randint(1, ind_model.cfg.d_vocab - 1, (BATCH,), generator=gen)
        corrupted[:, p] = (clean[:, p] - 1 + shift) % (ind_model.cfg.d_vocab - 1) + 1
    answer = toks[:, J + 1]
    with torch.no_grad():
        last = ind_model(corrupted)[:, -1].clone()
    last[torch.arange(BATCH), answer] = -float("inf")
    return clean, corrupted, answer, last.argmax(-1)


clean, corrupted, answer, wrong = induction_pair([J])
with torch.no_grad():
    clean_logits, corr_logits = ind_model(clean), ind_model(corrupted)
ld_clean = patching.logit_diff(clean_logits, answer, wrong).mean().item()
ld_corr = patching.logit_diff(corr_logits, answer, wrong).mean().item()
p_clean = clean_logits[:, -1].softmax(-1)[torch.arange(BATCH), answer].mean().item()
p_corr = corr_logits[:, -1].softmax(-1)[torch.arange(BATCH), answer].mean().item()
print(f"LD limpo: {ld_clean:.1f} | LD corrompido: {ld_corr:.1f}")
print(f"p(x_5) limpo: {p_clean:.2f} | corrompido: {p_corr:.2f}")
for name, logits in [("limpo", clean_logits), ("corrompido", corr_logits)]:
    print(f"métrica no {name}: {r2(patching.normalized_metric(logits, answer, wrong, ld_clean, ld_corr)):.2f}")

# %% [markdown]
# Um token trocado basta: o modelo deixa de prever $x_5$ (p cai de 0,99 para 0,05).
#
# ## 2. A varredura do fluxo residual: camada × posição
#
# Para cada camada $l$ e posição $p$: rodamos o corrompido e trocamos `blocks.{l}.hook_resid_pre`
# na posição $p$ pelo valor da rodada limpa (`patching.patch_resid_pre`; nos exercícios você
# escreve o gancho e a varredura).
#
# ✍️ **Preveja:** em que posições da camada 0 e da camada 1 restaurar o resíduo devolve a
# previsão? (Dica: o que a cabeça de token anterior escreve, e onde?)

# %%
def pos_labels(tokens, other=None):
    a = [str(t) for t in tokens[0].tolist()]
    b = a if other is None else [str(t) for t in other[0].tolist()]
    return [f"{i}:{x}" if x == y else f"{i}:{x}/{y}" for i, (x, y) in enumerate(zip(a, b))]


resid_ind = patching.patch_resid_pre(ind_model, clean, corrupted, answer, wrong)
show(resid_ind)
plots.plot_patching(resid_ind, ["L0", "L1"], pos_labels(clean, corrupted),
                    title="Indução: patching do resíduo (1º exemplo nos rótulos, limpo/corrompido)")

# %% [markdown]
# Exatamente duas células valem 1: o resíduo da **camada 0 na posição 4** (o próprio token
# corrompido: restaurá-lo desfaz a corrupção) e o da **camada 1 na posição 5**. A posição 5
# não foi corrompida; ela só fica diferente porque uma cabeça da camada 0 copiou para lá a
# identidade do token anterior. Todo o resto é 0: a informação passa por esse único caminho.
#
# ## 3. Por que a escolha da corrupção importa
#
# O patching só enxerga o que a corrupção muda. Troquemos outro token da 1ª cópia: em vez de
# $x_4$ (a "chave" que a consulta procura), o $x_5$ (o token a ser copiado, posição 5). A
# métrica continua indo de 0 a 1 (agora a errada é o token novo, que o modelo copia com a
# mesma confiança), mas a pergunta mudou:

# %%
answer_pair = induction_pair([J + 1])
resid_answer = patching.patch_resid_pre(ind_model, *answer_pair)
heads_answer = patching.patch_head_z(ind_model, *answer_pair)
print("corrompendo x_5 (posição 5):")
show(resid_answer, "  resíduo ")
print(f"  L0H0 (todas as posições): {r2(heads_answer[0, 0]):.2f}")
print(f"  caminho L0H0 → chaves de L1H2: {r2(patching.path_patch(ind_model, *answer_pair, (0, 0), (1, 2), 'k')):.2f}")

# %% [markdown]
# Com $x_5$ corrompido, a cabeça de token anterior **some** do mapa (0,00): a chave que a
# consulta procura (a posição 5, "depois de $x_4$") é a mesma nas duas rodadas; o que muda é
# o **valor** copiado, que é o embedding do próprio token da posição 5 (resíduo da posição 5
# nas duas camadas). Cada corrupção responde a uma pergunta: "de onde vem o endereço?"
# (corromper $x_4$) ou "de onde vem o conteúdo?" (corromper $x_5$). Regra prática: troque só a
# informação que você quer rastrear, mantenha o resto (comprimento, posições, tipos de token)
# igual, e meça a decisão que essa informação controla. Daqui em diante, corrompemos $x_4$.
#
# ## 4. Cabeças: quem escreve e quem lê
#
# Restauramos agora a saída de UMA cabeça (`hook_z` da cabeça $h$), em todas as posições e
# depois posição por posição (`patching.patch_head_z`).

# %%
heads_ind = patching.patch_head_z(ind_model, clean, corrupted, answer, wrong)
heads_pos = patching.patch_head_z(ind_model, clean, corrupted, answer, wrong, per_position=True)
for layer in range(2):
    print(f"L{layer}: " + "  ".join(f"H{h} {r2(heads_ind[layer, h]):.2f}" for h in range(4)))
plots.plot_patching(heads_pos.flatten(0, 1), [f"L{l}H{h}" for l in range(2) for h in range(4)],
                    pos_labels(clean, corrupted), ylabel="cabeça",
                    title="Indução: patching de cada cabeça em cada posição")

# %% [markdown]
# - **L0H0** sozinha devolve tudo (1,00), e só na **posição 5**: é a cabeça de token anterior,
#   escrevendo em 5 a identidade do token da posição 4;
# - na camada 1 o efeito fica **só na última posição** (a consulta) e se divide entre as
#   quatro cabeças: L1H2 0,40, L1H1 0,26, L1H3 0,23 e até L1H0 0,11. Nenhuma sozinha passa
#   de 0,4: neste modelo a indução está repartida, e o notebook 09, que olhou só a L1H2
#   (a de maior escore de indução), contava só parte da história.
#
# ## 5. Patching de caminho: a emissora chega pela chave?
#
# O patching de uma cabeça inteira não diz **por onde** a informação entra na cabeça
# seguinte. No patching de caminho, a saída limpa da emissora L0H0 chega **só** à entrada
# $K$ (ou $Q$, ou $V$) da receptora; todo o resto do modelo continua vendo a rodada corrompida:
#
# $$ k^{\text{novo}}_{h} = \mathrm{LN}\big(\text{resid}^{\text{corr}} + \text{saída}^{\text{limpa}}_{\text{L0H0}} - \text{saída}^{\text{corr}}_{\text{L0H0}}\big)\,W_K^{h} + b_K^{h} $$
#
# ✍️ **Preveja:** de L0H0 para L1H2, qual dos três caminhos (Q, K ou V) devolve a métrica?

# %%
paths = {(r, w): patching.path_patch(ind_model, clean, corrupted, answer, wrong, (0, 0), (1, r), w)
         for r in (1, 2, 3) for w in "qkv"}
for r in (1, 2, 3):
    print(f"L0H0 → L1H{r}:  " + "  ".join(f"{w.upper()} {r2(paths[r, w]):.2f}" for w in "qkv")
          + f"   (a cabeça inteira: {r2(heads_ind[1, r]):.2f})")
assert all(paths[r, "k"] > 0.2 and abs(paths[r, "q"]) < 0.02 and abs(paths[r, "v"]) < 0.02 for r in (1, 2, 3))
print("composição K (não Q, não V) nas três cabeças de indução: ✅")

# %% [markdown]
# Só o caminho pela **chave** devolve a métrica, e quase tanto quanto restaurar a cabeça
# inteira: é a composição K. Pela consulta e pelo valor, nada (|efeito| < 0,02).
#
# ### Lado a lado com o notebook 09
#
# O notebook 09 chegou ao mesmo circuito por outros caminhos: os escores de composição K
# (pesos, sem rodar o modelo) e a ablação (a perda na 2ª cópia com a cabeça zerada). Calculamos
# os dois aqui, com `course_lib.circuits` e `course_lib.ablation`, para as mesmas cabeças:

# %%
comp = {kind: circuits.composition_scores(ind_model, kind) for kind in "QKV"}
rep = repeated_tokens(64, 20, ind_model.cfg.d_vocab, seed=123)


def second_copy_loss(logits):
    lp = logits[:, :-1].log_softmax(-1).gather(-1, rep[:, 1:, None])[..., 0]
    return -lp[:, 21:].mean().item()


with torch.no_grad():
    base_loss = second_copy_loss(ind_model(rep))
print(f"perda na 2ª cópia sem ablação: {base_loss:.2f} nats\n")
print("cabeça | patching (todas as pos.) | caminho K de L0H0 | composição K com L0H0 | perda com a cabeça zerada")
for layer, head in [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3)]:
    abl = second_copy_loss(ablation.ablate_heads(ind_model, rep, [(layer, head)]))
    path_k = f"{r2(paths[head, 'k']):.2f}" if layer == 1 and head in (1, 2, 3) else "  — "
    kscore = f"{comp['K'][0, 0, 1, head].item():.2f}" if layer == 1 else "  — "
    print(f"L{layer}H{head}   | {r2(heads_ind[layer, head]):5.2f}                    | {path_k}              "
          f"| {kscore}                  | {abl:.2f}")
print(f"\nnotebook 09 (metadados): token anterior = L{meta['prev_token_head']}, indução = L{meta['induction_head']}")

# %% [markdown]
# Onde as medidas concordam e onde não:
#
# - **L0H0**: patching 1,00 e zerá-la leva a perda da 2ª cópia de 0,02 a 4,61 nats (o nível
#   do acaso): as duas dizem que é a única cabeça da camada 0 que importa;
# - **camada 1**: patching e ablação ordenam as cabeças do mesmo jeito (L1H2 no topo, L1H0
#   por último), e zerar UMA delas quase não dói (≤ 0,14 nats), porque as outras cobrem: é o
#   mesmo "repartido" que o patching mostrou;
# - os **escores de composição K** quase não separam as cabeças (0,19 a 0,23): olhando só os
#   pesos não se vê que L1H0 faz pouco. O patching de caminho responde o que o escore não
#   responde: a informação de L0H0 entra **pela chave** (0,23 a 0,39) e por nenhum outro lugar.
#
# O que o patching acrescenta ao notebook 09: a **posição** (5, logo depois do token
# corrompido, e a consulta) e o **caminho** (chave, e não consulta nem valor).
#
# ## 6. Concordância em português: por onde o número do sujeito viaja?
#
# Agora o modelo `lm` (3 camadas, MLP, LayerNorm) na gramática do curso. Em
# "o gato que os meninos viram …" o verbo principal tem de concordar com **o gato** (singular),
# não com o substantivo mais perto, **os meninos**. Corrompemos só o número do sujeito:
#
# - limpo: `o gato que os meninos viram` → resposta **dorme**;
# - corrompido: `os gatos que os meninos viram` → errada **dormem**.
#
# ✍️ **Preveja:** o número chega ao verbo pela posição de "gato", de "o", ou de "meninos"?

# %%
lm = load_pretrained("lm")
PAIRS = {
    "o gato / os gatos (que os meninos viram)": ("o gato que os meninos viram", "os gatos que os meninos viram", "dorme", "dormem"),
    "a menina / as meninas (que os gatos amam)": ("a menina que os gatos amam", "as meninas que os gatos amam", "canta", "cantam"),
    "controle: os meninos / o menino (objeto da relativa)": ("o gato que os meninos viram", "o gato que o menino viu", "dorme", "dormem"),
}


def lm_pair(key):
    c, k, a, w = PAIRS[key]
    ids = [lm.to_tokens(x, prepend_bos=False)[0, :1] for x in (a, w)]
    return lm.to_tokens(c), lm.to_tokens(k), *ids


def lm_labels(c, k):
    return [f"{i}:{a}" if a == b else f"{i}:{a}/{b}" for i, (a, b) in enumerate(zip(lm.to_str_tokens(c), lm.to_str_tokens(k)))]


agree = lm_pair("o gato / os gatos (que os meninos viram)")
with torch.no_grad():
    lds = [patching.logit_diff(lm(t), *agree[2:]).item() for t in agree[:2]]
print(f"LD = logit(dorme) - logit(dormem): limpo {lds[0]:.1f} | corrompido {lds[1]:.1f}")
resid_lm = patching.patch_resid_pre(lm, *agree)
show(resid_lm)
widgets.patching_explorer(lm, PAIRS)

# %% [markdown]
# A figura é o explorador de patching (com um frontend de widgets, escolha o par no menu;
# aqui, no modo estático, o primeiro par). O que os números dizem:
#
# - **camada 0**: o número entra pelo **artigo** "o/os" (posição 1, 0,80), não pelo
#   substantivo "gato/gatos" (posição 2, 0,07): restaurar "gato" sozinho não adianta, porque o
#   artigo ainda diz plural. Na gramática do curso, o artigo já decide o número;
# - **camada 1**: a informação está em **duas** posições, a do "que" (3, 0,46) e a do próprio
#   verbo, a última (6, 0,51); **nenhuma** nas posições de "os meninos" (4 e 5: |efeito| ≤ 0,01);
# - **camada 2**: tudo na última posição (1,00).
#
# Então, entre a camada 0 e a 1, alguma cabeça leva o número do artigo para o "que" e para
# o fim. Quais cabeças?

# %%
heads_lm = patching.patch_head_z(lm, *agree, per_position=True)
names = [f"L{l}H{h}" for l in range(3) for h in range(4)]
plots.plot_patching(heads_lm.flatten(0, 1), names, lm_labels(*agree[:2]), ylabel="cabeça",
                    title="Concordância: patching de cada cabeça em cada posição")

# %%
full = patching.patch_head_z(lm, *agree)
top = sorted(((full[l, h].item(), l, h) for l in range(3) for h in range(4)), reverse=True)[:3]
print("cabeças com maior efeito (todas as posições): " + ", ".join(f"L{l}H{h} {r2(v):.2f}" for v, l, h in top))
print(f"L0H2 por posição: {row(heads_lm[0, 2])}")
print(f"L1H1 por posição: {row(heads_lm[1, 1])}")
print(f"L1H2 por posição: {row(heads_lm[1, 2])}")
near = heads_lm[:, :, 4:6].abs().max().item()
print(f"maior |efeito| de qualquer cabeça nas posições de 'os meninos': {'< 0,05 ✅' if near < 0.05 else near}")

# %% [markdown]
# O que está medido até aqui:
#
# 1. **L0H2** lê o artigo e escreve o número em duas posições: no "que" (0,43) e no verbo
#    (0,23); sozinha, em todas as posições, ela devolve 0,89;
# 2. na última posição, **L1H1** (0,12) e **L1H2** (0,08) completam;
# 3. nenhuma cabeça da camada 2 faz diferença (|efeito| ≤ 0,01).
#
# ✍️ **Preveja:** L1H1 e L1H2 leem o número direto da saída de L0H2 (pela consulta, chave ou valor)?

# %%
for r in (1, 2):
    got = {w: patching.path_patch(lm, *agree, (0, 2), (1, r), w) for w in "qkv"}
    print(f"L0H2 → L1H{r} direto: " + "  ".join(f"{w.upper()} {r2(v):.2f}" for w, v in got.items()))
    assert max(abs(v) for v in got.values()) < 0.02
with torch.no_grad():
    _, lm_cache = lm.run_with_cache(agree[0], names_filter="blocks.1.attn.hook_pattern")
print(f"atenção de L1H1 na última posição (limpo): {row(lm_cache['pattern', 1][0, 1, -1])}")

# %% [markdown]
# Não diretamente: o caminho de L0H2 para a consulta, a chave ou o valor de L1H1 e L1H2 dá
# |efeito| < 0,02. O patching de caminho daqui só mede o caminho **direto** pelo resíduo;
# o que elas leem passa antes pela MLP da camada 0, que recebe o número de L0H2. E L1H1 põe
# 98% da atenção em "meninos" (posição 5), mas restaurar o resíduo ali não muda nada (−0,01):
# a diferença entra pela consulta dela, na posição do verbo (o resíduo da camada 1 ali vale 0,51).
#
# Não é um circuito limpo de uma cabeça só: parte do número vai direto (L0H2 → verbo), parte
# faz escala no "que", e parte passa pela MLP 0. E as somas não fecham (0,43 + 0,23 ≠ 0,89;
# 0,12 + 0,08 < 0,46): com LayerNorm e MLPs no caminho, os efeitos de peças isoladas não se somam.
#
# ### O controle e o segundo modelo de frase
#
# A gramática diz que o número do substantivo mais perto (o objeto da relativa, "meninos")
# não deve importar para o verbo principal. **Controle:** corromper só o objeto
# ("que o menino viu") e medir o quanto a diferença de logits muda, comparado com corromper o
# sujeito. E o mesmo mapa num segundo modelo de frase, com outro verbo.

# %%
ctrl = lm_pair("controle: os meninos / o menino (objeto da relativa)")
with torch.no_grad():
    ld_ctrl = patching.logit_diff(lm(ctrl[1]), *ctrl[2:]).item()
print(f"LD limpo {lds[0]:.1f} | sujeito corrompido {lds[1]:.1f} | só o objeto corrompido {ld_ctrl:.1f}")
print(f"trocar o número do sujeito move a LD em {lds[0] - lds[1]:.1f}; trocar o do objeto, em {lds[0] - ld_ctrl:.1f}")
assert abs(lds[0] - ld_ctrl) < 0.1 * abs(lds[0] - lds[1])
second = lm_pair("a menina / as meninas (que os gatos amam)")
resid_2 = patching.patch_resid_pre(lm, *second)
heads_2 = patching.patch_head_z(lm, *second)
print("\n2º modelo: 'a menina que os gatos amam' × 'as meninas ...', logit(canta) - logit(cantam)")
show(resid_2)
print(f"L0H2 (todas as posições): {r2(heads_2[0, 2]):.2f} | L1H1: {r2(heads_2[1, 1]):.2f} | L1H2: {r2(heads_2[1, 2]):.2f}")

# %% [markdown]
# - **Controle:** trocar o número do objeto move a diferença de logits em menos de 1/10 do que
#   a troca do sujeito move. O modelo segue a gramática: o verbo escuta o sujeito.
# - **Segundo modelo de frase:** o mesmo desenho (artigo na camada 0 com ~0,98; "que" e verbo
#   na camada 1; L0H2 com ~0,88). O caminho não é uma coincidência de um prompt.
#
# ## 7. Patching por atribuição: a aproximação pelo gradiente
#
# Cada célula de uma varredura custa um forward. O **patching por atribuição** troca tudo
# isso por um forward e um backward na rodada corrompida, usando a aproximação de 1ª ordem:
#
# $$ \text{métrica}(\text{patch em } a) \approx \text{métrica}(\text{corr}) + (a^{\text{limpa}} - a^{\text{corr}}) \cdot \frac{\partial\, \text{métrica}}{\partial a}\Big|_{\text{corr}} $$
#
# (somando sobre `d_model`; `patching.attribution_patch_resid`). É exata quando a métrica é
# linear na ativação e erra quando há um softmax ou uma LayerNorm no meio que satura.
#
# ✍️ **Preveja:** em qual das células que valiam 1 na varredura de indução a aproximação vai errar mais?

# %%
def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


exact = patching.patch_resid_pre(ind_model, clean, corrupted, answer, wrong)
approx = patching.attribution_patch_resid(ind_model, clean, corrupted, answer, wrong)
for layer in range(2):
    print(f"L{layer} patching:   {row(exact[layer])}")
    print(f"L{layer} atribuição: {row(approx[layer])}")
heads_exact, t_exact = timed(lambda: patching.patch_head_z(ind_model, clean, corrupted, answer, wrong, per_position=True))
heads_approx, t_approx = timed(lambda: patching.attribution_patch_heads(ind_model, clean, corrupted, answer, wrong))
print(f"L0H0 na posição 5: patching {r2(heads_exact[0, 0, 5]):.2f} | atribuição {r2(heads_approx[0, 0, 5]):.2f}")
last = clean.shape[1] - 1
for h in (1, 2, 3):
    err = (heads_exact[1, h, last] - heads_approx[1, h, last]).abs().item()
    print(f"L1H{h} na consulta: patching {r2(heads_exact[1, h, last]):.2f} | atribuição "
          f"{r2(heads_approx[1, h, last]):.2f} | |diferença| < 1e-3: {'✅' if err < 1e-3 else '❌'}")
n_cells = heads_exact.numel()
speedup = t_exact / t_approx
print(f"\ncabeça × posição: {n_cells} células; o patching roda o lote corrompido uma vez por célula "
      f"({n_cells} × {BATCH} sequências), a atribuição roda 1 forward + 1 backward")
assert speedup > 3, speedup
print("atribuição pelo menos 3× mais rápida nesta varredura (melhor de 3 medidas): ✅")

# %% [markdown]
# - **Onde acerta:** nas cabeças da **última camada** a atribuição é exata (diferença < 0,001).
#   Neste modelo sem LayerNorm e sem MLP, a saída de uma cabeça da camada 1 chega aos logits
#   por um caminho linear ($z\,W_O\,W_U$), e a aproximação de 1ª ordem de uma função linear é
#   a própria função.
# - **Onde falha:** nas células que mais importam, o resíduo da camada 0 na posição 4 e
#   L0H0 na posição 5, a atribuição dá 0,19 no lugar de 1,00. Entre elas e os logits há o
#   softmax da atenção da camada 1: a chave limpa faz a cabeça de indução **mudar de
#   posição de origem**, uma mudança grande e não linear que o gradiente no ponto corrompido
#   (onde ela ainda olha para outro lugar) não vê.
# - **Quanto economiza:** a varredura por atribuição é uma conta só; a real, uma por célula. A
#   razão cresce com o número de células da varredura.
#
# Uso prático: a atribuição serve para **triar** uma varredura grande e escolher onde
# olhar; a conclusão se confirma com o patching de verdade nas poucas células escolhidas.
#
# ## Resumo
#
# - Patching = rodar o corrompido e restaurar uma ativação limpa; a métrica normalizada diz
#   quanto do comportamento limpo volta (0 a 1).
# - A corrupção escolhe a pergunta: troque só a informação que você quer rastrear.
# - Indução: L0H0 na posição depois do token corrompido, as cabeças da camada 1 na consulta,
#   e o caminho é pela **chave** (composição K), de acordo com os escores de composição e a
#   ablação do notebook 09.
# - Concordância: o número do sujeito sai do **artigo**, passa por **L0H2** até o "que" e o
#   verbo, e L1H1/L1H2 completam (pela MLP 0, não direto de L0H2); "meninos" não participa
#   (controle: trocar o número dele move a LD menos de 1/10 do que trocar o do sujeito).
# - O patching por atribuição é uma conta só e acerta perto da saída, mas erra onde um
#   softmax muda de decisão: confirme com o patching de verdade.
#
# Nos exercícios você escreve cada uma dessas ferramentas e refaz as duas descobertas.
