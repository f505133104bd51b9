# %% [markdown]
# # 06 · Cabeças de atenção movem informação
#
# Cada posição de um transformer tem o seu **fluxo residual**: um vetor de `d_model`
# números que atravessa o modelo de baixo para cima. As camadas não substituem esse
# vetor: elas **somam** algo a ele. As cabeças de atenção são as únicas peças que
# leem o fluxo de **outras** posições: elas movem informação de um token para outro.
# No notebook 04 você escreveu a conta de uma cabeça; neste vamos medir quanto ela
# move — e se o que ela move importa.
#
# **O que você vai aprender**
#
# - o fluxo residual como canal compartilhado: `resid_pre`, `resid_mid`, `resid_post` e
#   as somas exatas que os ligam (e um erro comum na fórmula do bloco);
# - por que as pontuações de atenção são divididas por √d_head;
# - a saída da atenção como soma de um termo por cabeça (mais o viés b_O);
# - quanto cada cabeça move de cada origem (`info = A · ‖v W_O‖`) e por que o padrão de
#   atenção sozinho não diz isso;
# - ablação: quais cabeças dá para podar, e por que os efeitos não se somam;
# - quem leva o número do sujeito até o verbo: atenção, ablação e especificidade medidas
#   lado a lado.
#
# **Tempo estimado:** ~45 min.
#
# **Pré-requisitos:** o notebook 04 (cada peça do transformer, e os ganchos de uma cabeça
# de atenção) e a lição 05 (padrões de atenção no cache); multiplicação de matrizes em
# PyTorch (`@`, `einsum`).

# %%
from course_lib.notebook import setup

setup()

import math

import torch

from course_lib import PtGrammar, load_pretrained
from course_lib import ablation, movement, plots
from course_lib.model import lm_cross_entropy_loss

torch.set_grad_enabled(False)  # só vamos olhar: nada de gradientes (mais rápido)
model = load_pretrained("lm")
cfg = model.cfg
print(f"n_layers={cfg.n_layers}, n_heads={cfg.n_heads}, d_model={cfg.d_model}, d_head={cfg.d_head}, d_mlp={cfg.d_mlp}")

prompt = "os gatos que o menino viu dormem."
tokens = model.to_tokens(prompt)
str_tokens = model.to_str_tokens(tokens)
logits, cache = model.run_with_cache(tokens)
print(str_tokens)

# %% [markdown]
# Escolhemos uma frase em que o modelo **precisa** mover informação: para prever
# "dormem" (plural) depois de "viu", ele precisa saber que o sujeito lá atrás é
# "gatos", e não "menino". Essa informação está em outra posição; só a atenção traz.
#
# ## 1. O fluxo residual: um canal onde todos escrevem
#
# O cache guarda o fluxo em três pontos de cada bloco: antes (`resid_pre`), entre a
# atenção e o MLP (`resid_mid`) e depois (`resid_post`). Todos têm o mesmo formato.

# %%
for name in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"):
    print(f"cache['{name}', 0]: {tuple(cache[name, 0].shape)}   [batch, pos, d_model]")

# %% [markdown]
# Num bloco **pré-LN** (o deste modelo, do GPT-2 e do TransformerLens), a LayerNorm
# fica na **entrada** de cada subcamada, e a saída de cada subcamada é somada ao fluxo:
#
# $$\text{resid\_mid} = \text{resid\_pre} + \text{Attn}(\text{LN}_1(\text{resid\_pre}))$$
# $$\text{resid\_post} = \text{resid\_mid} + \text{MLP}(\text{LN}_2(\text{resid\_mid}))$$
#
# e o `resid_post` de uma camada é o `resid_pre` da seguinte. Não acredite na fórmula:
# confira no cache.

# %%
def max_err(a, b) -> float:
    return (a - b).abs().max().item()


def verdict(err: float, tol: float = 1e-5) -> str:
    """Exatidão como veredito contra uma tolerância (o erro em si é ruído de float32, muda de CPU para CPU)."""
    return f"erro < {tol:g}: {'✅' if err < tol else '❌'}"


print(f"resid_pre[0] = embed + pos_embed:          {verdict(max_err(cache['resid_pre', 0], cache['embed'] + cache['pos_embed']))}")
for l in range(cfg.n_layers):
    block = model.blocks[l]
    attn_out = block.attn(block.ln1(cache["resid_pre", l]))  # recalculado a partir do resid_pre
    mlp_out = block.mlp(block.ln2(cache["resid_mid", l]))
    print(f"camada {l}: resid_mid = resid_pre + Attn(LN1(resid_pre)):  {verdict(max_err(cache['resid_mid', l], cache['resid_pre', l] + attn_out))}")
    print(f"         resid_post = resid_mid + MLP(LN2(resid_mid)):  {verdict(max_err(cache['resid_post', l], cache['resid_mid', l] + mlp_out))}")
    if l + 1 < cfg.n_layers:
        print(f"         resid_pre[{l + 1}] = resid_post[{l}]:               {verdict(max_err(cache['resid_pre', l + 1], cache['resid_post', l]))}")

# %% [markdown]
# ### Um erro na fórmula do texto-fonte
#
# O texto-fonte deste notebook escreve o bloco assim:
#
# $$h_i^{l+1} = h_i^l + \text{MLP}\big(\text{LayerNorm}(h_i^l + \textstyle\sum_j \alpha_{ij} v_j)\big)$$
#
# Há dois problemas, e os dois aparecem em código:
#
# 1. $\sum_j \alpha_{ij} v_j$ vive no espaço da cabeça (`d_head`), não no do fluxo
#    (`d_model`): falta a projeção de saída `W_O` (e a soma das cabeças, e `b_O`);
# 2. mesmo usando a saída verdadeira da atenção, a fórmula só a põe **dentro** do MLP:
#    ela some do fluxo. No modelo, ela fica no fluxo para sempre.

# %%
v = cache["v", 0]  # [batch, pos, head, d_head]
print("formato de v:", tuple(v.shape), " formato do fluxo:", tuple(cache["resid_pre", 0].shape))
print(f"d_head = {v.shape[-1]} ≠ d_model = {cache['resid_pre', 0].shape[-1]}: Σ α v não pode ser somado ao fluxo sem W_O")

l = 0
block = model.blocks[l]
source_formula = cache["resid_pre", l] + block.mlp(block.ln2(cache["resid_pre", l] + cache["attn_out", l]))
missing = cache["resid_post", l] - source_formula
print(f"resid_post do modelo − fórmula do texto = attn_out?  {verdict(max_err(missing, cache['attn_out', l]))}")

# %% [markdown]
# A diferença entre o modelo e a fórmula do texto é **exatamente** a saída da atenção
# — o termo que a fórmula esqueceu de deixar no fluxo. Isso importa? Podemos rodar o
# modelo **como a fórmula manda**, com dois ganchos por camada: um guarda o `attn_out`
# e o outro o subtrai do `resid_post` (o MLP continua vendo a atenção, como na fórmula).

# %%
grammar = PtGrammar()
data = grammar.make_dataset(32, cfg.n_ctx, seed=7)  # [32, 32]: texto para medir perdas
saved = {}


def save_attn_out(act, hook):  # hook.name é "blocks.L.hook_attn_out"
    saved[hook.name.split(".")[1]] = act


def drop_attn_out(act, hook):  # hook.name é "blocks.L.hook_resid_post"
    return act - saved[hook.name.split(".")[1]]


source_block = []
for l in range(cfg.n_layers):
    source_block += [(f"blocks.{l}.hook_attn_out", save_attn_out), (f"blocks.{l}.hook_resid_post", drop_attn_out)]
clean_loss = lm_cross_entropy_loss(model(data), data).item()
source_loss = model.run_with_hooks(data, return_type="loss", fwd_hooks=source_block).item()
print(f"perda do modelo: {clean_loss:.3f}   com o bloco da fórmula do texto: {source_loss:.3f}   "
      f"(chutar uniforme: {math.log(cfg.d_vocab):.3f})")

# %% [markdown]
# A perda piora, mas pouco: na fórmula do texto o MLP ainda **lê** a saída da atenção
# e pode reescrever no fluxo parte do que ela trouxe. Mesmo assim é outro modelo: com
# ela, o fluxo deixaria de ser a soma de todas as saídas, e as decomposições exatas da
# seção 4 não fechariam. (O texto cita ainda a versão "pós-LN" do transformer original,
# `LayerNorm(X + SelfAttention(X))`, em que a LN vem depois da soma; este modelo, o
# GPT-2 e os do TransformerLens usam a versão pré-LN.)
#
# ## 2. Uma cabeça por dentro: veja o notebook 04
#
# O que cada gancho de uma cabeça guarda — `hook_q`, `hook_k`, `hook_v` (`x W + b`, a partir
# da saída da LN1), as pontuações `q·k/√d_head` já com −∞ no futuro (`hook_attn_scores`), o
# padrão (`hook_pattern`, softmax nas chaves), `z` (`hook_z`) e a saída por `W_O` mais o
# `b_O` da camada — está explicado na seção 4 da lição 04, e no caderno de exercícios 04
# você escreveu a camada inteira e a conferiu contra esses ganchos. Aqui usamos o que eles
# guardam. Só os formatos, neste prompt:

# %%
for name in ("q", "attn_scores", "pattern", "z", "attn_out"):
    print(f"cache['{name}', 0]: {tuple(cache[name, 0].shape)}")

# %% [markdown]
# ## 3. Por que dividir por √d_head?
#
# Se as coordenadas de `q` e `k` têm média 0 e variância 1 e são independentes, então
# `q · k` é uma soma de `d_head` termos de variância 1: **variância `d_head`**. Dividir
# por √d_head traz de volta a variância 1, qualquer que seja o tamanho da cabeça.
# Medindo:

# %%
gen = torch.Generator().manual_seed(0)
print("d_head   var(q·k)   var(q·k/√d_head)")
for d in (4, 16, 64, 256):
    qs, ks = torch.randn(20000, d, generator=gen), torch.randn(20000, d, generator=gen)
    dots = (qs * ks).sum(-1)
    print(f"{d:6d}   {dots.var():8.1f}   {(dots / math.sqrt(d)).var():8.2f}")

# %% [markdown]
# Pontuações com variância grande **saturam** o softmax: quase toda a probabilidade vai
# para uma chave só, e o gradiente que volta pelo softmax quase some (o modelo mal
# consegue aprender a mudar a atenção). Medimos, com 16 chaves aleatórias, a maior
# probabilidade média e o tamanho médio do gradiente que atravessa o softmax:

# %%
print("d_head   máx. prob. (sem / com √)   ‖gradiente‖ (sem / com √)")
for d in (4, 16, 64, 256):
    qs, ks = torch.randn(2000, 1, d, generator=gen), torch.randn(2000, 16, d, generator=gen)
    upstream = torch.randn(2000, 16, generator=gen)  # um gradiente qualquer vindo de cima
    row = []
    for s in ((qs * ks).sum(-1), (qs * ks).sum(-1) / math.sqrt(d)):
        with torch.enable_grad():
            s = s.clone().requires_grad_(True)
            p = s.softmax(-1)
            (p * upstream).sum().backward()
        row.append((p.max(-1).values.mean().item(), s.grad.norm(dim=-1).mean().item()))
    print(f"{d:6d}   {row[0][0]:.2f} / {row[1][0]:.2f}                {row[0][1]:.3f} / {row[1][1]:.3f}")

# %% [markdown]
# Sem a divisão, quanto maior a cabeça, mais o softmax vira um "argmax" e menor o
# gradiente; com a divisão, nada muda com `d_head`. E o modelo treinado depende da
# escala que aprendeu: se tirarmos a divisão dele (multiplicando as pontuações por
# √d_head = 4 com um gancho), a perda piora.

# %%
undo_scale = [(f"blocks.{l}.attn.hook_attn_scores", lambda s, hook: s * math.sqrt(cfg.d_head))
              for l in range(cfg.n_layers)]
print(f"perda normal: {clean_loss:.3f}   sem dividir por √d_head: "
      f"{model.run_with_hooks(data, return_type='loss', fwd_hooks=undo_scale).item():.3f}")

# %% [markdown]
# ## 4. Cada cabeça é um termo somado ao fluxo
#
# Como a saída da atenção é `Σ_h z_h W_O[h] + b_O`, cada cabeça escreve o **seu**
# termo no fluxo residual. `cache.stack_head_results(layer)` empilha os termos de todas
# as cabeças das camadas `0..layer-1` (sem `b_O`). Conferindo, camada por camada:

# %%
heads, labels = cache.stack_head_results(layer=cfg.n_layers, return_labels=True)
print("pilha:", tuple(heads.shape), "= [cabeça, batch, pos, d_model];", labels[:4], "...")
for l in range(cfg.n_layers):
    layer_sum = heads[l * cfg.n_heads:(l + 1) * cfg.n_heads].sum(0) + model.blocks[l].attn.b_O
    err = max_err(layer_sum, cache["attn_out", l])
    assert err < 1e-5
    print(f"camada {l}: Σ cabeças + b_O = attn_out   ({verdict(err)})")

# %% [markdown]
# Indo até o fim: o fluxo residual final é **exatamente** a soma de embed, pos_embed,
# as 12 cabeças, os 3 MLPs e a soma dos `b_O` (`get_full_resid_decomposition`).

# %%
parts, part_labels = cache.get_full_resid_decomposition(return_labels=True)
err = max_err(parts.sum(0), cache["resid_post", cfg.n_layers - 1])
assert err < 1e-4
print(len(part_labels), "termos:", part_labels)
print(f"Σ termos = resíduo final ({verdict(err, 1e-4)})")

# %% [markdown]
# Quanto cada termo escreve na posição de "viu", de onde o modelo prevê "dormem"?

# %%
q_pos = str_tokens.index("viu")
norms = parts[:, 0, q_pos].norm(dim=-1)
plots.plot_attribution(norms, part_labels, title=f"Tamanho de cada termo na posição '{str_tokens[q_pos]}'",
                       xlabel="norma do vetor escrito no fluxo")

# %% [markdown]
# ## 5. Quanto cada cabeça move, e de onde
#
# Abrindo a soma que dá `z` ($z_q = \sum_k A[q,k]\, v_k$, lição 04), o que uma cabeça escreve na posição *q* é uma soma de
# parcelas, uma por posição de origem *k*:
#
# $$\text{resultado}[q] = \sum_k A[q,k]\; (v_k W_O)$$
#
# A parcela de *k* é o que a cabeça **traz** de *k* para *q*. Uma medida natural de
# quanto é trazido: o tamanho da parcela, `info[q, k] = A[q, k] · ‖v_k W_O‖`
# (`movement.info_moved`). Primeiro, as parcelas somam mesmo o resultado da cabeça:

# %%
layer, head = 2, 2
W_O = model.blocks[layer].attn.W_O[head]
A = cache["pattern", layer][0, head]  # [q, k]
vWO = cache["v", layer][0, :, head] @ W_O  # [k, d_model]: o que cada origem "oferece"
pieces = A[:, :, None] * vWO[None, :, :]  # [q, k, d_model]
print(f"Σ_k parcelas = resultado da cabeça L{layer}H{head}: {verdict(max_err(pieces.sum(1), cache['z', layer][0, :, head] @ W_O))}")
info = movement.info_moved(model, cache, layer, head)[0]  # [q, k]
print(f"info_moved = A · ‖v W_O‖: {verdict(max_err(info, pieces.norm(dim=-1)))}")

# %% [markdown]
# O texto-fonte diz que a quantidade de informação movida de *j* para *i* é
# "proporcional ao peso de atenção α_ij". Não é: ela é α_ij **vezes** o tamanho do que
# a origem oferece, e esse tamanho varia muito de token para token. Lado a lado:

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, matrix, title in ((axes[0], A, "padrão A[q, k]"), (axes[1], info, "info[q, k] = A · ‖v W_O‖")):
    im = ax.imshow(matrix, cmap="Blues")
    ax.grid(False)
    ax.set_xticks(range(len(str_tokens)), str_tokens, rotation=90)
    ax.set_yticks(range(len(str_tokens)), str_tokens)
    ax.set_xlabel("origem (chave)")
    ax.set_title(f"L{layer}H{head}: {title}")
    fig.colorbar(im, ax=ax, fraction=0.046)
axes[0].set_ylabel("destino (consulta)")
fig.tight_layout()
plt.close(fig)
print("‖v W_O‖ por origem:", [f"{t}:{n:.1f}" for t, n in zip(str_tokens, vWO.norm(dim=-1).tolist())])
fig

# %% [markdown]
# Em muitas linhas, a origem que recebe **mais atenção** não é a que **manda mais**.
# Medindo isso em 32 sequências, para cada cabeça: em que fração das consultas o
# máximo de `A` e o máximo de `info` caem em origens diferentes?
#
# O texto-fonte também diz que, como cada linha do softmax soma 1, a "quantidade total
# de informação movida" se conserva. Também não: a soma de cada linha de `info` varia
# muito de uma posição para outra (a coluna "Σ info").

# %%
_, data_cache = model.run_with_cache(data)
print("cabeça   máx. de A ≠ máx. de info   Σ_k info[q, k]: mín – máx")
for l in range(cfg.n_layers):
    for h in range(cfg.n_heads):
        A_all = data_cache["pattern", l][:, h, 1:]  # consultas q >= 1
        info_all = movement.info_moved(model, data_cache, l, h)[:, 1:]
        differ = (A_all.argmax(-1) != info_all.argmax(-1)).float().mean()
        row_sum = info_all.sum(-1)
        print(f"L{l}H{h}     {differ:.2f}                        {row_sum.min():.2f} – {row_sum.max():.2f}")

# %% [markdown]
# (O código de exemplo do texto-fonte mede o "fluxo de informação" somando as colunas
# do padrão, `weights.sum(dim=-2)`: isso é só quanta atenção cada origem **recebe**, com
# o mesmo problema — ignora o que a origem tem para oferecer.)
#
# `movement.head_movement_summary` resume cada cabeça em dois números, sobre o lote:
# quanto ela traz de **outras** posições (`moved_from_others`, em norma) e de quão longe,
# em média (`mean_distance`, ponderada por `info`).

# %%
summary = movement.head_movement_summary(model, data_cache)
closest = int(summary["mean_distance"].flatten().argmin())
print(f"cabeça que traz de mais perto: {labels[closest]} "
      f"(distância média {summary['mean_distance'].flatten()[closest]:.1f} posições; "
      f"média de todas: {summary['mean_distance'].mean():.1f})")
plots.plot_head_scores(summary["moved_from_others"], title="Quanto cada cabeça traz de outras posições",
                       colorbar_label="Σ_{k≠q} info[q, k] (média)")

# %% [markdown]
# ## 6. Podar cabeças: o que acontece se desligarmos cada uma?
#
# "Mover muita informação" não quer dizer "ser importante". A medida direta de
# importância: **desligar** a cabeça (zerar o seu `z`; `b_O` continua) e ver quanto a
# perda piora. `ablation.head_ablation_table` faz isso para cada cabeça, sozinha.

# %%
delta = ablation.head_ablation_table(model, data)  # [n_layers, n_heads]: perda(sem a cabeça) − perda
order = delta.flatten().argsort(descending=True)
print(f"perda limpa: {clean_loss:.3f}; as que mais fazem falta:",
      ", ".join(f"{labels[i]} (+{delta.flatten()[i]:.3f})" for i in order[:3].tolist()))
plots.plot_head_scores(delta, title="Aumento da perda ao zerar cada cabeça", fmt=".3f",
                       colorbar_label="Δ perda (nats/token)")

# %% [markdown]
# Uma definição só, a de todo o curso: a cabeça é desligada em **todas** as posições, e
# a medida é a perda média do próximo token em **todas** as posições do texto (a mesma
# média de `model(tokens, return_type="loss")` e do exercício 06.zero_ablation_loss_delta).
# O argumento `loss_positions` mede a perda só em algumas posições; o notebook 09 usa a
# 2ª cópia de uma sequência repetida, onde a indução atua (a medida do ARENA). A escolha
# muda o número, então ela sempre vem dita. No modelo de indução:

# %%
from course_lib.induction import make_repeated_batch

induction_model = load_pretrained("induction")
repeated = make_repeated_batch(induction_model, batch=8, seq_len=20)  # [BOS, x_1..x_20, x_1..x_20]
everywhere = ablation.head_ablation_table(induction_model, repeated)[0, 0]
second_copy = ablation.head_ablation_table(induction_model, repeated, loss_positions=range(21, 40))[0, 0]
print(f"cabeça 0.0 do modelo de indução: Δ perda {everywhere:.2f} na média de todas as posições, "
      f"{second_copy:.2f} só na 2ª cópia")

# %% [markdown]
# De volta ao `lm` (tabela acima): algumas cabeças fazem muita falta; outras quase nenhuma. Candidatas à poda: as que
# pioram a perda em menos de 0,01 nat/token. Mas cuidado: a tabela mede uma cabeça de
# cada vez. Desligando **todas** as candidatas juntas:

# %%
candidates = [(l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads) if delta[l, h] < 0.01]
print("candidatas:", [f"L{l}H{h}" for l, h in candidates])
together = lm_cross_entropy_loss(ablation.ablate_heads(model, data, candidates), data).item() - clean_loss
alone = sum(delta[l, h].item() for l, h in candidates)
print(f"soma dos efeitos individuais: {alone:.3f}   efeito de desligar todas juntas: {together:.3f}")

# %% [markdown]
# Os efeitos **não se somam**: cabeças que sozinhas parecem dispensáveis podem estar
# cobrindo umas às outras (redundância). A decisão de poda tem que ser testada com o
# conjunto final — e em texto novo, não o mesmo usado para escolher:

# %%
fresh = grammar.make_dataset(32, cfg.n_ctx, seed=8)
fresh_clean = lm_cross_entropy_loss(model(fresh), fresh).item()
fresh_pruned = lm_cross_entropy_loss(ablation.ablate_heads(model, fresh, candidates), fresh).item()
print(f"texto novo: perda {fresh_clean:.3f} → {fresh_pruned:.3f} sem as {len(candidates)} candidatas "
      f"(de {cfg.n_layers * cfg.n_heads} cabeças)")

# %% [markdown]
# E o "quanto move" da seção 5 prevê a importância? Comparando as ordens (correlação de
# Spearman entre `moved_from_others` e `Δ perda`, pelas 12 cabeças):

# %%
def ranks(x: torch.Tensor) -> torch.Tensor:
    return x.flatten().argsort().argsort().float()


r_moved, r_delta = ranks(summary["moved_from_others"]), ranks(delta)
spearman = torch.corrcoef(torch.stack([r_moved, r_delta]))[0, 1].item()
print(f"Spearman(quanto move, quanto faz falta) = {spearman:.2f}")
top_mover = labels[int(summary["moved_from_others"].flatten().argmax())]
print(f"a cabeça que mais move é a {top_mover}; o seu Δ perda é {delta.flatten()[summary['moved_from_others'].flatten().argmax()]:.3f}")

# %% [markdown]
# Mover muito não é o mesmo que fazer falta. `info` mede o **tamanho** do que é
# movido; a ablação mede se o resto do modelo **usa** isso. As duas perguntas são
# boas; só não são a mesma pergunta.

# %% [markdown]
# ## 7. Quem leva o número do sujeito até o verbo?
#
# Em "os gatos que o menino viu ___", o verbo tem de concordar com "gatos" (plural), e
# não com "menino", o substantivo mais próximo. Alguma cabeça leva o número do sujeito
# até a posição onde o verbo é previsto? Uma cabeça "sintática" faria isso: olharia para
# o **sujeito**, não para o substantivo mais próximo. Montamos 64 frases desse tipo, com
# o sujeito e o substantivo da oração relativa sempre em números diferentes, e
# conferimos na gramática que só o verbo no número do sujeito é possível.

# %%
import random

from course_lib.data import DEFINITE, NOUNS, VERBS

rng = random.Random(0)
animate = [n for n in NOUNS if n[3][0] in ("humano", "animal")]
relative_verbs = [v for v in VERBS if v[0] in ("vê", "ama", "procura", "encontra")]
main_verbs = [(v[0], v[1]) for v in VERBS if v[5] is None and v[4] == ("humano", "animal")]  # intransitivos


def noun_phrase(noun, number):
    singular, plural, gender, _ = noun
    return f"{DEFINITE[gender, number]} {singular if number == 'sg' else plural}"


prompts, subject_plural = [], []
while len(prompts) < 64:
    number = rng.choice(["sg", "pl"])
    other = "pl" if number == "sg" else "sg"
    verb = rng.choice(relative_verbs)
    prompt = (f"{noun_phrase(rng.choice(animate), number)} que {noun_phrase(rng.choice(animate), other)} "
              f"{verb[2] if other == 'sg' else verb[3]}")
    if prompt not in prompts:
        prompts.append(prompt)
        subject_plural.append(number == "pl")
agree = torch.stack([model.to_tokens(p)[0] for p in prompts])  # [64, 7]
subject_plural = torch.tensor(subject_plural)
SUBJ, NEAR = 2, 5  # posições: 0:<bos> 1:artigo 2:SUJEITO 3:que 4:artigo 5:SUBSTANTIVO PRÓXIMO 6:verbo
sg_ids = torch.tensor([model.tokenizer.to_single_token(s) for s, _ in main_verbs])
pl_ids = torch.tensor([model.tokenizer.to_single_token(p) for _, p in main_verbs])
p_next = torch.stack([grammar.next_token_probs(t)[-1] for t in agree])  # [64, d_vocab], distribuição exata
right = torch.where(subject_plural[:, None], p_next[:, pl_ids], p_next[:, sg_ids])
wrong = torch.where(subject_plural[:, None], p_next[:, sg_ids], p_next[:, pl_ids])
print(len(main_verbs), "verbos principais:", [s for s, _ in main_verbs])
print("na gramática, o verbo no número do sujeito é possível em todas as frases:", bool((right.sum(-1) > 0).all()),
      "| no número do substantivo próximo, nunca:", bool((wrong == 0).all()))
print("exemplo:", prompts[0], "→", main_verbs[0][subject_plural[0].long()])


def signed(x: float, digits: int) -> str:
    """x com sinal e `digits` casas, sem "-0.00" (o sinal de um zero arredondado é ruído de float32)."""
    return f"{round(x, digits) + 0.0:+.{digits}f}"


def agreement(logits: torch.Tensor) -> torch.Tensor:
    """Por frase: logit(verbo no número do sujeito) − logit(no outro número), média dos verbos."""
    last = logits[:, -1]
    diff = (last[:, pl_ids] - last[:, sg_ids]).mean(-1)
    return torch.where(subject_plural, diff, -diff)


clean_agree = agreement(model(agree))
print(f"modelo limpo: acerta o número em {(clean_agree > 0).float().mean():.0%} das frases; "
      f"diferença de logits média {clean_agree.mean():.2f}")

# %% [markdown]
# ✍️ **Preveja:** a cabeça que mais olha para o sujeito é a que o modelo precisa para
# acertar a concordância?
#
# Para cada cabeça, três medidas na posição do verbo da oração relativa (onde o verbo
# principal é previsto): a atenção no sujeito e no substantivo próximo (o controle), e o
# quanto a concordância piora sem a cabeça (ablação pela média, que tira a informação
# específica da cabeça sem tirar o seu nível médio), comparado com o quanto a perda
# piora no texto comum (o `delta` da seção 6): a **especificidade**.

# %%
_, agree_cache = model.run_with_cache(agree)
print("cabeça   atenção: sujeito  próximo   Δ concordância  acerto   Δ perda no texto")
rows = []
for l in range(cfg.n_layers):
    pattern_last = agree_cache["pattern", l][:, :, -1]  # [batch, head, key_pos]
    for h in range(cfg.n_heads):
        ablated = agreement(ablation.ablate_heads(model, agree, [(l, h)], mode="mean"))
        drop = (ablated - clean_agree).mean().item()
        rows.append((f"L{l}H{h}", pattern_last[:, h, SUBJ].mean().item(), pattern_last[:, h, NEAR].mean().item(), drop,
                     delta[l, h].item()))
        print(f"{rows[-1][0]}     {rows[-1][1]:.2f}     {rows[-1][2]:.2f}      {signed(drop, 2)}          "
              f"{(ablated > 0).float().mean():4.0%}     {signed(delta[l, h].item(), 3)}")
by_subject = max(rows, key=lambda r: r[1])
by_drop = min(rows, key=lambda r: r[3])
by_loss = max(rows, key=lambda r: r[4])
print(f"mais atenção no sujeito: {by_subject[0]} ({by_subject[1]:.2f} contra {by_subject[2]:.2f} no próximo); "
      f"sem ela a concordância muda {by_subject[3]:+.2f}")
print(f"maior queda da concordância: {by_drop[0]} ({by_drop[3]:+.2f}); é também a que mais piora a perda no texto: "
      f"{by_drop[0] == by_loss[0]}")
specific = min((r for r in rows if r[4] < 0.01), key=lambda r: r[3])
print(f"maior queda entre as cabeças que quase não mexem na perda do texto (< 0,01): {specific[0]} ({specific[3]:+.2f}), "
      f"que olha {specific[1]:.2f} para o sujeito e {specific[2]:.2f} para o substantivo próximo")
assert by_subject[3] > -0.5 and by_drop[0] == by_loss[0] and specific[2] > specific[1]  # o texto abaixo depende disto

# %% [markdown]
# Três leituras, cada uma com o seu controle:
#
# - **Olhar para o sujeito não é levar o número.** A L2H1 é a que mais olha para o
#   sujeito (e quase nada para o substantivo próximo, o controle): parece a cabeça
#   "sintática" que procurávamos. Sem ela, a concordância praticamente não muda.
# - **Fazer falta não é ser específica.** A L0H2 é a que mais derruba a concordância
#   (cerca de −3 da diferença de logits de 7,5, e passa a errar 2% das frases), mas é também a
#   cabeça cuja ablação mais piora a perda em todo o texto (seção 6): ela é importante
#   para tudo, não para a concordância em particular.
# - **O efeito específico vem de onde não se esperava.** Entre as cabeças que quase não
#   mexem na perda do texto, a L1H1 é a que mais tira da concordância (cerca de −1), e
#   ela olha para o substantivo **próximo**, não para o sujeito. O que ela lê ali (o
#   substantivo próximo pode já trazer informação do sujeito, escrita por cabeças da
#   camada 0) é uma hipótese para testar com patching, não uma conclusão.
#
# Nenhuma cabeça sozinha é "a" cabeça sintática: com qualquer uma desligada, o modelo
# ainda acerta o número em pelo menos 98% das frases. A pergunta "quem leva o número?" pede as
# ferramentas dos próximos notebooks (composição, patching), e cada resposta vale só
# quando vem com a sua medida de especificidade.

# %% [markdown]
# ## Resumo
#
# - O fluxo residual é uma soma: `resid_mid = resid_pre + Attn(LN1(resid_pre))`,
#   `resid_post = resid_mid + MLP(LN2(resid_mid))`. A saída da atenção fica no fluxo.
# - Uma cabeça (notebook 04): `q, k, v = x W + b`; `pontuações = q kᵀ / √d_head`; máscara
#   causal (−∞ acima da diagonal) **antes** do softmax; `A = softmax` nas chaves; `z = A v`; `z W_O`.
# - √d_head mantém a variância das pontuações em 1 e o softmax longe da saturação.
# - A atenção de uma camada = Σ das cabeças + `b_O`; o fluxo final = soma exata de todos os termos.
# - O que uma cabeça move de *k* para *q* é `A[q, k] · ‖v_k W_O‖`, não só `A[q, k]`.
# - Para podar, meça com ablação (uma definição: todas as posições, salvo `loss_positions`
#   dito), teste o conjunto junto e em dados novos.
# - Na concordância a distância, a cabeça que mais olha para o sujeito (L2H1) não faz falta;
#   a que mais faz falta (L0H2) faz falta para tudo; a mais específica (L1H1) olha para o
#   substantivo próximo. Atenção, necessidade e especificidade são três medidas diferentes.
