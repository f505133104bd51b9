# %% [markdown]
# # 05 · Cabeças de atenção movem informação
#
# Cada posição de um transformer tem o seu **fluxo residual**: um vetor de `d_model`
# números que atravessa o modelo de baixo para cima. As camadas não substituem esse
# vetor: elas **somam** algo a ele. As cabeças de atenção são as únicas peças que
# leem o fluxo de **outras** posições: elas movem informação de um token para outro.
# Neste notebook vamos abrir uma cabeça, refazer a conta dela à mão e medir quanto ela
# move — e se o que ela move importa.
#
# **O que você vai aprender**
#
# - o fluxo residual como canal compartilhado: `resid_pre`, `resid_mid`, `resid_post` e
#   as somas exatas que os ligam (e um erro comum na fórmula do bloco);
# - uma cabeça de atenção escrita do zero (q, k, v, scores, máscara, softmax, z, W_O),
#   conferida passo a passo contra o cache do modelo;
# - por que os scores são divididos por √d_head;
# - a saída da atenção como soma de um termo por cabeça (mais o viés b_O);
# - quanto cada cabeça move de cada origem (`info = A · ‖v W_O‖`) e por que o padrão de
#   atenção sozinho não diz isso;
# - ablação: quais cabeças dá para podar, e por que os efeitos não se somam.
#
# **Tempo estimado:** ~50 min.
#
# **Pré-requisitos:** a lição 04 (padrões de atenção no cache); saber o que é
# LayerNorm e softmax; multiplicação de matrizes em PyTorch (`@`, `einsum`).

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


print(f"resid_pre[0] = embed + pos_embed:          erro {max_err(cache['resid_pre', 0], cache['embed'] + cache['pos_embed']):.1e}")
for l in range(cfg.n_layers):
    block = model.blocks[l]
    attn_out = block.attn(block.ln1(cache["resid_pre", l]))  # recalculado a partir do resid_pre
    mlp_out = block.mlp(block.ln2(cache["resid_mid", l]))
    print(f"camada {l}: resid_mid = resid_pre + Attn(LN1(resid_pre)):  erro {max_err(cache['resid_mid', l], cache['resid_pre', l] + attn_out):.1e}")
    print(f"         resid_post = resid_mid + MLP(LN2(resid_mid)):  erro {max_err(cache['resid_post', l], cache['resid_mid', l] + mlp_out):.1e}")
    if l + 1 < cfg.n_layers:
        print(f"         resid_pre[{l + 1}] = resid_post[{l}]:               erro {max_err(cache['resid_pre', l + 1], cache['resid_post', l]):.1e}")

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
print(f"resid_post do modelo − fórmula do texto = attn_out?  erro {max_err(missing, cache['attn_out', l]):.1e}")

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
clean_loss = model(data, return_type="loss").item()
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
# ## 2. Uma cabeça, passo a passo
#
# Vamos refazer a cabeça 2 da camada 0 (a L0H2, que na lição 04 era a que mais olhava
# para o token anterior) com as nossas próprias contas, e comparar cada passo com o
# gancho correspondente do cache. Pesos dessa cabeça:
# `W_Q, W_K, W_V`: `[d_model, d_head]`; `b_Q, b_K, b_V`: `[d_head]`; `W_O`: `[d_head, d_model]`.
#
# **Passo 0: a entrada.** A cabeça não lê o `resid_pre` cru, e sim a saída da LN1. O
# gancho `ln1.hook_normalized` guarda o vetor normalizado **antes** de `w` e `b` da LN
# (como no TransformerLens), então a entrada é `normalized * w + b`.

# %%
layer, head = 0, 2
attn = model.blocks[layer].attn
ln1 = model.blocks[layer].ln1
x = cache[f"blocks.{layer}.ln1.hook_normalized"] * ln1.w + ln1.b  # [batch, pos, d_model]
print("x:", tuple(x.shape), f"  erro contra ln1(resid_pre): {max_err(x, ln1(cache['resid_pre', layer])):.1e}")

# %% [markdown]
# **Passo 1: consultas, chaves e valores.** Uma multiplicação de matriz e um viés cada.

# %%
q = x @ attn.W_Q[head] + attn.b_Q[head]  # [batch, pos, d_head]
k = x @ attn.W_K[head] + attn.b_K[head]
v = x @ attn.W_V[head] + attn.b_V[head]
print("q:", tuple(q.shape))
print(f"erro q: {max_err(q, cache['q', layer][:, :, head]):.1e}   k: {max_err(k, cache['k', layer][:, :, head]):.1e}"
      f"   v: {max_err(v, cache['v', layer][:, :, head]):.1e}")

# %% [markdown]
# **Passo 2: scores.** O score da consulta *q* com a chave *k* é o produto escalar,
# dividido por √d_head: uma matriz `[batch, query_pos, key_pos]`.

# %%
scores = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)  # [batch, q, k]
print("scores:", tuple(scores.shape))

# %% [markdown]
# **Passo 3: máscara causal.** A posição *q* não pode ver o futuro: pomos −∞ em todo
# *k > q* (acima da diagonal; a diagonal fica, cada token pode olhar para si). Com −∞,
# o softmax dá exatamente 0 ali. O gancho `hook_attn_scores` guarda os scores já
# mascarados. (O código de exemplo do texto-fonte não tem máscara: ele descreve uma
# atenção bidirecional, que num modelo de linguagem veria a resposta.)

# %%
n_pos = scores.shape[-1]
future = torch.triu(torch.ones(n_pos, n_pos, dtype=torch.bool), diagonal=1)
masked = scores.masked_fill(future, float("-inf"))
print("scores mascarados iguais ao cache (incluindo os −∞):", torch.equal(masked, cache["attn_scores", layer][:, head]))

# %% [markdown]
# **Passo 4: padrão.** Softmax sobre as **chaves** (o último eixo): cada linha soma 1.

# %%
pattern = masked.softmax(dim=-1)
print(f"erro pattern: {max_err(pattern, cache['pattern', layer][:, head]):.1e}   somas das linhas: "
      f"{pattern.sum(-1).min():.4f} a {pattern.sum(-1).max():.4f}")
no_mask = scores.softmax(dim=-1)
print(f"sem a máscara, a atenção média dada ao futuro seria {no_mask.masked_fill(~future, 0).sum(-1).mean():.2f}")

# %% [markdown]
# **Passo 5: z.** Média dos valores pesada pelo padrão: `z[q] = Σ_k A[q, k] v[k]`.

# %%
z = pattern @ v  # [batch, q, d_head]
print("z:", tuple(z.shape), f"  erro: {max_err(z, cache['z', layer][:, :, head]):.1e}")

# %% [markdown]
# **Passo 6: de volta ao fluxo.** `W_O` leva `z` de `d_head` para `d_model`. A saída da
# camada de atenção é a soma das saídas das 4 cabeças **mais** o viés `b_O` (um só por
# camada, que não pertence a cabeça nenhuma).

# %%
result = z @ attn.W_O[head]  # [batch, pos, d_model]: o que ESTA cabeça escreve no fluxo
all_results = torch.einsum("bphe,hed->bphd", cache["z", layer], attn.W_O)  # [batch, pos, head, d_model]
print(f"nossa cabeça contra a do einsum: erro {max_err(result, all_results[:, :, head]):.1e}")
print(f"Σ cabeças + b_O contra hook_attn_out: erro {max_err(all_results.sum(2) + attn.b_O, cache['attn_out', layer]):.1e}")
plots.plot_attention(pattern[0], str_tokens, title=f"L{layer}H{head}, calculado à mão")

# %% [markdown]
# Cada passo bateu com o cache. Essa cabeça inteira cabe em 8 linhas — e é tudo o que
# uma cabeça de atenção faz.
#
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
# Scores com variância grande **saturam** o softmax: quase toda a probabilidade vai
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
# escala que aprendeu: se tirarmos a divisão dele (multiplicando os scores por
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
    print(f"camada {l}: Σ cabeças + b_O = attn_out   (erro {err:.1e})")

# %% [markdown]
# Indo até o fim: o fluxo residual final é **exatamente** a soma de embed, pos_embed,
# as 12 cabeças, os 3 MLPs e a soma dos `b_O` (`get_full_resid_decomposition`).

# %%
parts, part_labels = cache.get_full_resid_decomposition(return_labels=True)
err = max_err(parts.sum(0), cache["resid_post", cfg.n_layers - 1])
assert err < 1e-4
print(len(part_labels), "termos:", part_labels)
print(f"Σ termos = resíduo final (erro {err:.1e})")

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
# Abrindo a soma do passo 5, o que uma cabeça escreve na posição *q* é uma soma de
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
print(f"Σ_k parcelas = resultado da cabeça L{layer}H{head}: erro {max_err(pieces.sum(1), cache['z', layer][0, :, head] @ W_O):.1e}")
info = movement.info_moved(model, cache, layer, head)[0]  # [q, k]
print(f"info_moved = A · ‖v W_O‖: erro {max_err(info, pieces.norm(dim=-1)):.1e}")

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
# `movement.head_movement_summary` resume cada cabeça em dois números, sobre o batch:
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
# Algumas cabeças fazem muita falta; outras quase nenhuma. Candidatas à poda: as que
# pioram a perda em menos de 0.01 nat/token. Mas cuidado: a tabela mede uma cabeça de
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
fresh_clean = model(fresh, return_type="loss").item()
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
print(f"a cabeça que mais move é a {top_mover}; o seu Δ perda é {delta.flatten()[summary['moved_from_others'].flatten().argmax()]:.4f}")

# %% [markdown]
# Mover muito não é o mesmo que fazer falta. `info` mede o **tamanho** do que é
# movido; a ablação mede se o resto do modelo **usa** isso. As duas perguntas são
# boas; só não são a mesma pergunta.
#
# ## Resumo
#
# - O fluxo residual é uma soma: `resid_mid = resid_pre + Attn(LN1(resid_pre))`,
#   `resid_post = resid_mid + MLP(LN2(resid_mid))`. A saída da atenção fica no fluxo.
# - Uma cabeça: `q, k, v = x W + b`; `scores = q kᵀ / √d_head`; máscara causal (−∞ acima
#   da diagonal) **antes** do softmax; `A = softmax` nas chaves; `z = A v`; `z W_O`.
# - √d_head mantém a variância dos scores em 1 e o softmax longe da saturação.
# - A atenção de uma camada = Σ das cabeças + `b_O`; o fluxo final = soma exata de todos os termos.
# - O que uma cabeça move de *k* para *q* é `A[q, k] · ‖v_k W_O‖`, não só `A[q, k]`.
# - Para podar, meça com ablação, teste o conjunto junto e em dados novos.
