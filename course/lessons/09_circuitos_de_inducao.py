# %% [markdown]
# # 09 · Circuitos de indução: engenharia reversa de um transformer de duas camadas
#
# Um transformer que já viu `[A][B]` no contexto costuma prever `[B]` quando `[A]`
# aparece de novo. Neste notebook abrimos um modelo minúsculo que aprendeu exatamente
# isso e descobrimos **como** ele faz, lendo os pesos e mexendo nas ativações.
#
# **O que você vai aprender**
#
# - reconhecer o par *cabeça de token anterior* + *cabeça de indução* nos padrões de atenção;
# - medir a composição Q, K e V entre cabeças de camadas diferentes e compará-la com o acaso;
# - ler o circuito OV completo de uma cabeça ($W_E W_V W_O W_U$) e reconhecer uma cabeça que **copia**;
# - montar o circuito QK que passa pela cabeça de token anterior (composição K) e ver a indução nos pesos;
# - decompor um logit em contribuições diretas de cada cabeça, com soma exata;
# - decompor as pontuações de atenção da cabeça de indução por par (componente da consulta,
#   componente da chave);
# - quebrar o circuito com ablação (por zero e pela média) e seguir o caminho dos valores.
#
# **Tempo estimado:** ~60 min.
#
# **Pré-requisitos:** atenção multi-cabeça (matrizes $W_Q, W_K, W_V, W_O$), fluxo residual,
# ganchos e cache (`run_with_cache`, `run_with_hooks`) e os circuitos QK/OV com
# `FactoredMatrix`, vistos nos notebooks anteriores.

# %%
from course_lib.notebook import setup

setup()

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib import ablation, attribution, circuits, detectors, plots, widgets
from course_lib import load_metadata, load_pretrained
from course_lib.induction import make_repeated_batch, per_position_loss

# %% [markdown]
# ## 1. O modelo
#
# O checkpoint `induction` é um transformer **só de atenção** (sem MLP) e **sem LayerNorm**,
# treinado em trechos aleatórios de tokens que se repetem. Sem MLP e sem LayerNorm, tudo o que
# acontece entre o embedding e os logits é linear, exceto o softmax da atenção: é o
# cenário ideal para engenharia reversa.
#
# Os metadados do checkpoint dizem quais cabeças o treino produziu; vamos conferir cada
# afirmação por conta própria. Daqui em diante, `PREV` é a cabeça de token anterior e `IND` a
# cabeça de indução.

# %%
model = load_pretrained("induction")
meta = load_metadata("induction")
cfg = model.cfg
print(f"camadas: {cfg.n_layers} | cabeças por camada: {cfg.n_heads} | d_model: {cfg.d_model} | "
      f"d_head: {cfg.d_head} | d_vocab: {cfg.d_vocab} | n_ctx: {cfg.n_ctx}")
print(f"só atenção: {cfg.attn_only} | normalização: {cfg.normalization}")
print(f"número de parâmetros: {sum(p.numel() for p in model.parameters())}")


def parse_head(name: str) -> tuple[int, int]:
    """'1.2' -> (1, 2): camada e cabeça."""
    layer, head = name.split(".")
    return int(layer), int(head)


def head_name(head: tuple[int, int]) -> str:
    return f"L{head[0]}H{head[1]}"


PREV = parse_head(meta["metrics"]["prev_token_head"])
IND = parse_head(meta["metrics"]["induction_head"])
print(f"PREV, cabeça de token anterior (metadados): {head_name(PREV)}")
print(f"IND, cabeça de indução (metadados):         {head_name(IND)}")
assert PREV[0] == 0 and IND[0] == 1

# %% [markdown]
# O vocabulário são só números: o token 0 é o BOS (início de sequência) e os demais não
# significam nada. O único jeito de prever bem é olhar para trás no contexto.

# %% [markdown]
# ## 2. A tarefa: uma sequência aleatória repetida
#
# O teste clássico é `[BOS, x_1, …, x_n, x_1, …, x_n]`, com os $x_i$ sorteados entre os tokens
# que não são o BOS. Na primeira cópia nada é previsível: o melhor possível é chutar
# uniformemente, com perda $\log(d_\text{vocab} - 1)$. Na segunda cópia, quem tem indução
# acerta quase tudo.
#
# Convenção: a perda na posição $t$ é a da previsão de `tokens[t+1]`. O primeiro token da
# segunda cópia ($x_1$, previsto na posição $n$) continua imprevisível, porque a transição
# $x_n \to x_1$ nunca apareceu antes; por isso a "perda da 2ª cópia" abaixo começa em $x_2$.

# %%
SEQ_LEN = 25
tokens = make_repeated_batch(model, batch=16, seq_len=SEQ_LEN, seed=0)  # [batch, 1 + 2·SEQ_LEN]
print("formato de tokens:", tuple(tokens.shape))
print("início do exemplo 0:", tokens[0, :8].tolist(), "...")
assert torch.equal(tokens[:, 1:SEQ_LEN + 1], tokens[:, SEQ_LEN + 1:])  # as duas cópias são iguais

loss_clean = per_position_loss(model, tokens)  # [2·SEQ_LEN], média no lote


def halves(loss_per_pos: torch.Tensor) -> tuple[float, float]:
    """(perda média na 1ª cópia, perda média na 2ª cópia sem o x_1)."""
    return float(loss_per_pos[:SEQ_LEN].mean()), float(loss_per_pos[SEQ_LEN + 1:].mean())


clean_first, clean_second = halves(loss_clean)
print(f"perda na 1ª cópia: {clean_first:.3f}   (chute uniforme: log {cfg.d_vocab - 1} = "
      f"{math.log(cfg.d_vocab - 1):.3f})")
print(f"perda na 2ª cópia: {clean_second:.3f}")

# %%
plots.plot_per_position_loss(loss_clean, seq_len=SEQ_LEN, title="Perda por posição, modelo intacto")

# %% [markdown]
# A linha tracejada vermelha do gráfico faz a média da 2ª cópia **incluindo** o pico em $x_1$;
# o número impresso acima o exclui. Fora esse pico, a perda cai para perto de zero assim que a
# repetição começa.
#
# ### Quando a indução apareceu no treino?
#
# O texto-fonte diz que as cabeças de indução surgem "conforme aumentamos a escala do modelo",
# entre 2 e 4 bilhões de tokens de treino. Olsson et al. (2022) descrevem outra coisa: em todos
# os modelos com duas camadas ou mais, pequenos ou grandes, a indução aparece numa **mudança
# de fase** no início do treino (nos modelos deles, depois de alguns bilhões de tokens).
# O nosso modelo minúsculo (o número de parâmetros está na seção 1) mostra a mesma mudança de
# fase na curva de treino guardada nos metadados:

# %%
curve = torch.tensor(meta["loss_curve_every_50"])
steps = [50 * i for i in range(len(curve))]
drops = curve[:-1] - curve[1:]  # queda da perda entre registros vizinhos (50 passos)
jump = int(drops.argmax())
phase_step = (steps[jump] + steps[jump + 1]) / 2  # marcador: no meio do trecho mais íngreme
later = drops[jump + 1:].abs()  # o controle: quanto a curva oscila depois, já sem mudança de fase
print(f"maior queda entre registros: {drops[jump]:.2f} nats, entre os passos {steps[jump]} e {steps[jump + 1]} "
      f"(≈ {steps[jump + 1] * meta['train_args']['batch_size'] * cfg.n_ctx} tokens de treino vistos)")
print(f"controle, maior variação entre registros depois disso: {later.max():.2f} nats")
assert drops[jump] > 2.5 * later.max()
plots.plot_loss_curve({"step": steps, "loss": curve.tolist()}, phase_step=phase_step,
                      title="Treino do modelo de indução: a queda brusca é a mudança de fase")

# %% [markdown]
# O marcador não é um limiar escolhido na própria curva: fica no meio do trecho de 50 passos em
# que a perda mais cai (1,18 nat), e essa queda é quase o triplo da maior oscilação que a
# curva tem depois (0,40 nat, o controle impresso acima). Com um registro a cada 50 passos, é o que dá para afirmar;
# o notebook 08 mede a mesma transição de perto. Não é preciso escala para ter indução; bastam
# duas camadas e dados em que copiar o contexto compensa. (Os dados de treino daqui são feitos só de repetições, o que provavelmente explica
# por que a fase chega tão cedo.)

# %% [markdown]
# ## 3. As duas cabeças nos padrões de atenção
#
# Vamos olhar uma sequência curta (10 tokens repetidos) para enxergar as posições.
# Nos gráficos, a linha é a posição de destino (a consulta, quem olha) e a coluna é a posição
# de origem (a chave, para onde olha).

# %%
short = make_repeated_batch(model, batch=1, seq_len=10, seed=1)
short_labels = ["0:BOS"] + [f"{i}:{t}" for i, t in enumerate(short[0].tolist()) if i > 0]  # rótulos pos:token
_, short_cache = model.run_with_cache(short)
plots.plot_attention(short_cache["pattern", PREV[0]][0, PREV[1]], short_labels,
                     title=f"{head_name(PREV)}: cabeça de token anterior")

# %% [markdown]
# A cabeça de indução aparece no explorador abaixo (no Jupyter, os menus trocam a camada e a
# cabeça; fora dele, você vê a figura da cabeça de indução):

# %%
widgets.attention_explorer(model, short[0], layer=IND[0], head=IND[1])

# %% [markdown]
# - A **cabeça de token anterior** forma uma diagonal logo abaixo da principal: cada posição
#   olha para a anterior.
# - A **cabeça de indução**, na segunda cópia, olha para uma diagonal deslocada: a posição de
#   um token na 2ª cópia olha para o token **seguinte** à ocorrência anterior desse mesmo
#   token, que é exatamente o que ela precisa prever. Na primeira cópia não há o que achar, e
#   a atenção vai quase toda para o BOS, que serve de "lugar neutro".
#
# Conferindo com números, nas 16 sequências de 25 tokens repetidos: se a posição $q$ está na
# 2ª cópia, o token dela apareceu antes na posição $q - n$, e o token seguinte está em
# $q - n + 1$.

# %%
_, cache = model.run_with_cache(tokens)
pat_prev = cache["pattern", PREV[0]][:, PREV[1]]  # [batch, query_pos, key_pos]
pat_ind = cache["pattern", IND[0]][:, IND[1]]
q_all = torch.arange(1, tokens.shape[1])
q_second = torch.arange(SEQ_LEN + 1, 2 * SEQ_LEN + 1)
att_prev = pat_prev[:, q_all, q_all - 1].mean()
att_ind = pat_ind[:, q_second, q_second - SEQ_LEN + 1].mean()
print(f"{head_name(PREV)}: atenção média no token anterior: {att_prev:.3f}")
print(f"{head_name(IND)}: atenção média na chave q - n + 1 (2ª cópia): {att_ind:.3f}")
print(f"{head_name(IND)}: atenção média no BOS durante a 1ª cópia: {pat_ind[:, 1:SEQ_LEN + 1, 0].mean():.3f}")

prev_scores = detectors.previous_token_scores(cache)
ind_scores = detectors.induction_scores(model, cache, SEQ_LEN)
assert abs(prev_scores[PREV] - att_prev) < 1e-5 and abs(ind_scores[IND] - att_ind) < 1e-5
print("os detectores do course_lib dão os mesmos números ✓")

# %% [markdown]
# E as outras seis cabeças? A grade mostra todas de uma vez, e os detectores resumem cada uma
# em números.

# %%
all_patterns = torch.stack([short_cache["pattern", l][0] for l in range(cfg.n_layers)])
plots.plot_attention_grid(all_patterns, short_labels, title="Todas as cabeças na sequência curta")

# %%
first_scores = detectors.first_token_scores(cache)
pat0 = cache["pattern", 0]  # [batch, head, q, k]
q2 = torch.arange(2, tokens.shape[1])
two_back = pat0[:, :, q2, q2 - 2].mean((0, 2))  # atenção no token de duas posições atrás
ov_norm = circuits.W_OV(model).norm()  # [n_layers, n_heads]: tamanho do que cada cabeça escreve
print("camada 0: onde cada cabeça põe a atenção, em média, e ‖W_OV‖_F")
for h in range(cfg.n_heads):
    print(f"  L0H{h}: token anterior {prev_scores[0, h]:.3f} | dois atrás {two_back[h]:.3f} | "
          f"BOS {first_scores[0, h]:.3f} | ‖W_OV‖ {ov_norm[0, h]:.2f}")
print("camada 1: escore de indução")
print("  " + " | ".join(f"L1H{h} {ind_scores[1, h]:.3f}" for h in range(cfg.n_heads)))

# os papéis das outras cabeças da camada 0, decididos pelos números acima
others = [(0, h) for h in range(cfg.n_heads) if (0, h) != PREV]
TWO_BACK = max(others, key=lambda hd: two_back[hd[1]])
BOS_HEAD = max((hd for hd in others if hd != TWO_BACK), key=lambda hd: first_scores[hd])
REST = [hd for hd in others if hd not in (TWO_BACK, BOS_HEAD)]
assert two_back[TWO_BACK[1]] > 0.5 and len(REST) == 1
REST = REST[0]
assert ov_norm[0].argmin().item() == REST[1]  # a restante é a que menos escreve
print(f"dois atrás: {head_name(TWO_BACK)} | BOS: {head_name(BOS_HEAD)} | restante: {head_name(REST)}")

# %% [markdown]
# O modelo tem **redundância** e divisão de tarefas:
#
# - as quatro cabeças da camada 1 fazem indução (os metadados escolheram a de maior escore);
# - na camada 0, além da cabeça de token anterior há uma cabeça que olha **dois** tokens para
#   trás (`TWO_BACK`), uma que passa boa parte do tempo no BOS (`BOS_HEAD`) e uma restante sem
#   padrão limpo, que escreve pouco no resíduo (o menor $\lVert W_{OV} \rVert_F$ da camada).
#
# Guarde esses papéis: eles vão reaparecer na composição e na ablação.

# %% [markdown]
# ## 4. A hipótese: como as duas cabeças se combinam
#
# Daqui em diante falamos de **circuito** no sentido de Olah et al. (2020) e Elhage et al.
# (2021): um subgrafo do modelo (algumas cabeças e os caminhos entre elas) que implementa um
# comportamento e que se pode **testar com intervenções**: se o circuito é esse, quebrá-lo tem
# de quebrar o comportamento, e quebrar o resto não. A hipótese abaixo é um circuito candidato;
# as seções 5 a 10 o testam nos pesos e nas ativações.
#
# Sequência `… [A][B] … [A]`, e queremos prever `[B]` depois do segundo `[A]`.
#
# 1. **Cabeça de token anterior (camada 0).** Na posição do primeiro `[B]` ela olha para o
#    `[A]` logo antes e escreve no resíduo dessa posição uma informação do tipo
#    "o token antes de mim era A".
# 2. **Cabeça de indução (camada 1), lado QK.** Na posição do segundo `[A]` a consulta
#    carrega "sou A"; a chave do primeiro `[B]` carrega "antes de mim veio A" (escrita pelo
#    passo 1). Elas combinam, e a atenção vai para o primeiro `[B]`. Como a chave é lida
#    **através** da saída de outra cabeça, isso se chama **composição K**.
# 3. **Cabeça de indução, lado OV.** O que ela move do primeiro `[B]` é a identidade de `B`, e
#    o caminho $W_V W_O$ seguido de $W_U$ transforma isso em "aumente o logit de B": uma cabeça
#    que **copia**.
#
# Cada passo vira um teste nos pesos: QK posicional da cabeça de token anterior (seção 5),
# composição K (seção 6), circuito OV de cópia (seção 7) e circuito QK composto (seção 8).
# Depois medimos os efeitos nas ativações (seções 9 e 10).

# %% [markdown]
# ## 5. Notação, e duas correções no texto-fonte
#
# Por cabeça (convenção de vetores-linha do TransformerLens: o resíduo $x$ multiplica pela
# esquerda): $W_Q, W_K, W_V \in \mathbb{R}^{d_\text{model} \times d_\text{head}}$,
# $W_O \in \mathbb{R}^{d_\text{head} \times d_\text{model}}$. Já $W_E$ ($d_\text{vocab} \times
# d_\text{model}$), $W_\text{pos}$ e $W_U$ ($d_\text{model} \times d_\text{vocab}$) são do modelo
# inteiro: o texto-fonte os escreve com índice de cabeça ($W^h_E$, $W^h_U$), mas eles não
# dependem da cabeça.
#
# O texto-fonte define o circuito QK como $W_Q W_K$. As formas mostram que esse produto nem
# existe; o certo é $W_{QK} = W_Q W_K^\top$, uma matriz $d_\text{model} \times d_\text{model}$.

# %%
W_Q, W_K = model.W_Q[PREV].detach(), model.W_K[PREV].detach()
print("W_Q:", tuple(W_Q.shape), "| W_K:", tuple(W_K.shape), "| W_E:", tuple(model.W_E.shape),
      "| W_U:", tuple(model.W_U.shape))
print("W_Q @ W_K é possível?", W_Q.shape[1] == W_K.shape[0])
print("W_Q @ W_K.T tem formato", tuple((W_Q @ W_K.T).shape))

# %% [markdown]
# O texto-fonte também diz que as pontuações de atenção são o produto das consultas e chaves
# "escalado por $d_k$". A divisão é por $\sqrt{d_\text{head}}$. Conferimos contra o que o
# modelo calcula de fato (o gancho `attn_scores`), na cabeça de token anterior, exemplo 0:

# %%
x0 = cache["resid_pre", 0][0]  # [pos, d_model]: entrada da camada 0
q = x0 @ W_Q + model.b_Q[PREV].detach()
k = x0 @ W_K + model.b_K[PREV].detach()
real = cache["attn_scores", 0][0, PREV[1]]  # [query_pos, key_pos], futuro = -inf
causal = torch.ones_like(real, dtype=torch.bool).tril()
err_sqrt = ((q @ k.T) / math.sqrt(cfg.d_head) - real)[causal].abs().max()
err_d = ((q @ k.T) / cfg.d_head - real)[causal].abs().max()
print(f"dividindo por √d_head: erro máximo < 1e-4: {'✅' if err_sqrt < 1e-4 else '❌'}")
print(f"dividindo por d_head:  erro máximo {err_d:.1f} (não bate)")
assert err_sqrt < 1e-4 < err_d

# %% [markdown]
# ### O QK posicional da cabeça de token anterior
#
# Como a cabeça de token anterior decide para onde olhar? Pelas **posições**: o circuito
# $W_\text{pos} W_{QK} W_\text{pos}^\top$ ($n_\text{ctx} \times n_\text{ctx}$; linha = posição
# da consulta, coluna = posição da chave) deveria ter o máximo de cada linha logo abaixo da
# diagonal. (Entradas acima da diagonal são o futuro, que a máscara causal nunca deixa usar:
# apagamos.)

# %%
pos_qk = circuits.positional_QK_circuit(model, *PREV).AB  # [n_ctx, n_ctx]
future = torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).triu(1)
pos_qk = pos_qk.masked_fill(future, float("nan"))
best_key = pos_qk[1:].nan_to_num(float("-inf")).argmax(-1)  # a linha 0 só tem a própria posição
hit = (best_key == torch.arange(cfg.n_ctx - 1)).float().mean()
print(f"formato: {tuple(pos_qk.shape)}; linhas cujo máximo é a posição anterior: {hit:.3f}")
print("consultas em que o máximo cai em outro lugar:",
      [i + 1 for i in range(cfg.n_ctx - 1) if best_key[i] != i])
ticks = [str(i) for i in range(16)]
plots.plot_circuit(pos_qk[:16, :16], ticks, ticks,
                   title=f"QK posicional de {head_name(PREV)} (16 primeiras posições)",
                   ylabel="posição da consulta", xlabel="posição da chave")

# %% [markdown]
# Quase todas as linhas acertam. As exceções não são um defeito do modelo: este circuito
# usa só $W_\text{pos}$ e ignora o conteúdo dos tokens e os vieses, que também entram nas
# pontuações de verdade (e a atenção real no token anterior, medida na seção 3, é quase 1).

# %% [markdown]
# ## 6. Composição entre cabeças
#
# A camada 1 lê o resíduo, e o resíduo contém o que as cabeças da camada 0 escreveram:
# $x\,W^{0.h}_{OV}$. Uma cabeça da camada 1 pode ler essa saída por três portas:
#
# | composição | a saída da camada 0 entra em | matriz que "lê" |
# |---|---|---|
# | Q | consultas | $W_{QK}$ |
# | K | chaves | $W_{QK}^\top$ |
# | V | valores | $W_{OV}$ |
#
# O **escore de composição** (Elhage et al., 2021) mede quanto da saída da cabeça anterior
# cai no espaço que a posterior lê:
#
# $$\text{comp}(W_A, W_B) = \frac{\lVert W_A W_B \rVert_F}{\lVert W_A \rVert_F\,\lVert W_B \rVert_F},
# \qquad W_A = W^{0.h}_{OV}.$$
#
# Dividir pelas normas deixa o escore imune à escala dos pesos. Nos exercícios você escreve o
# escore, a matriz que lê em cada porta e a linha de base; aqui usamos
# `circuits.composition_scores(model, kind)`, que devolve todos os pares
# `[camada, cabeça, camada, cabeça]`.
#
# ### Quanto daria o acaso?
#
# Todos os escores são pequenos, e isso não diz nada sozinho: precisamos de uma linha de base.
# `circuits.random_composition_baseline` sorteia pares de matrizes gaussianas com **as mesmas
# formas** de uma cabeça (produtos $[d_\text{model}, d_\text{head}] \cdot [d_\text{head},
# d_\text{model}]$, posto $d_\text{head}$) e calcula o mesmo escore. Como o escore não depende
# da escala, sortear com a norma dos pesos reais daria o mesmo.
#
# ✍️ **Preveja:** qual das três portas (Q, K ou V) a cabeça de token anterior usa para falar
# com a cabeça de indução, e quais ficam abaixo do acaso?

# %%
comp = {kind: circuits.composition_scores(model, kind) for kind in "QKV"}
print("formato:", tuple(comp["K"].shape))
baseline = circuits.random_composition_baseline(cfg.d_model, cfg.d_head, n_samples=500, seed=0)  # [500]
base_mean, base_std = baseline.mean().item(), baseline.std().item()
p99 = baseline.quantile(0.99).item()
print(f"acaso: média {base_mean:.3f}, desvio padrão {base_std:.4f}, percentil 99: {p99:.3f} "
      f"(1/√d_model = {1 / math.sqrt(cfg.d_model):.3f})")
plots.plot_composition_vs_baseline({kind: comp[kind][0, :, 1, :] for kind in "QKV"}, base_mean, base_std)

# %% [markdown]
# As três portas lado a lado, cada célula colorida em desvios padrão do acaso (azul: acima;
# vermelho: abaixo). Em números (é uma régua aproximada: matrizes treinadas não são
# gaussianas, então leia a ordem de grandeza e o sinal):

# %%
for kind in "QKV":
    z = (comp[kind][0, :, 1, :] - base_mean) / base_std  # [cabeça da camada 0, cabeça da camada 1]
    print(f"composição {kind}, em desvios padrão acima do acaso (colunas L1H0..L1H{cfg.n_heads - 1}):")
    for h in range(cfg.n_heads):
        print(f"  L0H{h}: " + "  ".join(f"{v:+6.1f}" for v in z[h].tolist()))

# para cada cabeça da camada 1, quem mais compõe por K é a cabeça de token anterior:
assert (comp["K"][0, :, 1, :].argmax(0) == PREV[1]).all()
# nenhuma composição V acima do acaso:
assert comp["V"][0, :, 1, :].max() < base_mean
# composição Q da cabeça de token anterior e composição K da de dois atrás: acima do percentil 99
assert comp["Q"][0, PREV[1], 1].mean() > p99 and (comp["K"][0, TWO_BACK[1], 1] > p99).all()
assert (comp["K"][0, BOS_HEAD[1], 1] > base_mean).all()

# %% [markdown]
# Como ler:
#
# - **K:** para cada cabeça da camada 1, a maior composição K vem da **cabeça de token
#   anterior**, bem acima do acaso. É a assinatura do passo 2 da hipótese.
# - **V:** tudo abaixo do acaso. A cabeça de indução copia o token **direto do embedding**,
#   sem usar o que a camada 0 escreveu. Faz sentido: o que ela precisa mover é a identidade
#   do token. (Isso é uma hipótese dos pesos; a seção 10 a testa nas ativações.)
# - **Q:** a cabeça de token anterior também fica acima do acaso, e a cabeça de dois atrás
#   aparece na composição K. A hipótese simples não explica isso; voltaremos a esse ponto na
#   seção 8.
# - A cabeça do BOS também fica um pouco acima do acaso em K, mas a ablação da seção 10 mostra
#   que o modelo não depende dela.
#
# O escore de composição é uma medida grosseira (usa o espaço inteiro de $d_\text{model}$,
# inclusive as direções de posição). Os circuitos completos e a ablação respondem melhor.

# %% [markdown]
# ## 7. O circuito OV completo da cabeça de indução: cópia
#
# Se a cabeça olha para um token $s$ (na posição de origem), quanto isso muda o logit de cada
# token de saída? Pelo caminho direto, a resposta é a linha $s$ de
#
# $$W_E\, W_V W_O\, W_U \in \mathbb{R}^{d_\text{vocab} \times d_\text{vocab}}
# \quad\text{(linha = token da origem, coluna = token de saída).}$$
#
# Uma cabeça que **copia** tem diagonal forte: olhar para `B` aumenta principalmente o logit de `B`.

# %%
full_ov = circuits.full_OV_circuit(model, *IND)  # FactoredMatrix
print(full_ov)
ov = full_ov.AB  # [d_vocab, d_vocab]
labels = [str(i) for i in range(cfg.d_vocab)]
plots.plot_circuit(ov, labels, labels, title=f"Circuito OV completo de {head_name(IND)}",
                   ylabel="token da origem", xlabel="logit de saída")

# %% [markdown]
# Duas medidas da diagonal, cada uma com a sua linha de base:
#
# - **acurácia top-1 da diagonal** (`circuits.top1_diagonal_accuracy`): a fração de linhas cujo
#   máximo está na própria coluna. Uma matriz sorteada acerta cerca de $1/d_\text{vocab}$;
# - **escore de cópia** (`circuits.copying_score`, Elhage et al.):
#   $\sum_i \lambda_i / \sum_i |\lambda_i|$ sobre os autovalores $\lambda_i$ da matriz; vai de
#   −1 a 1 e vale 1 quando todos os autovalores são reais positivos.
#
# A linha de base das duas: o mesmo OV completo com $W_V$ e $W_O$ sorteados (as formas da
# cabeça; $W_E$ e $W_U$ do modelo).

# %%
acc_all = circuits.top1_diagonal_accuracy(circuits.full_OV_circuit(model).AB)  # [n_layers, n_heads]
copy_all = circuits.copying_score(model)  # [n_layers, n_heads]
for layer in range(cfg.n_layers):
    print(f"camada {layer}: acurácia top-1 | escore de cópia: " +
          " | ".join(f"H{h} {acc_all[layer, h]:.3f} {copy_all[layer, h]:+.2f}" for h in range(cfg.n_heads)))

gen = torch.Generator()
gen.manual_seed(0)
rand_ov = (model.W_E.detach() @ torch.randn(200, cfg.d_model, cfg.d_head, generator=gen)
           @ torch.randn(200, cfg.d_head, cfg.d_model, generator=gen) @ model.W_U.detach())  # [200, vocab, vocab]
rand_eig = torch.linalg.eigvals(rand_ov)
rand_copy = rand_eig.real.sum(-1) / rand_eig.abs().sum(-1)
rand_acc = circuits.top1_diagonal_accuracy(rand_ov)
print(f"acaso (200 sorteios): acurácia top-1 média {rand_acc.mean():.3f}, percentil 99 {rand_acc.quantile(0.99):.3f} "
      f"| escore de cópia {rand_copy.mean():+.2f} ± {rand_copy.std():.2f}")
assert (acc_all[1] > 0.9).all() and (acc_all[0] < 0.1).all()

# %% [markdown]
# As quatro cabeças da camada 1 copiam: acurácia top-1 perto de 1 (o acaso dá ~0,015) e escore
# de cópia perto de 1. Na camada 0 a história tem uma nuance, e os números a contam: **L0H1 tem
# escore de cópia +0,55**, uns quatro desvios acima do acaso, mas a diagonal dela vence só em
# 0,06 das linhas (o percentil 99 do acaso fica perto de 0,05). Ela empurra um pouco o próprio
# token, sem que esse token vire o mais provável; e a seção 10 mostra que zerá-la não muda a
# perda da 2ª cópia. As outras três cabeças da camada 0 têm escore de cópia ≤ 0,03 e acurácia
# ≤ 0,02. Então: **a camada 0 não copia de forma útil**; o que ela escreve é para a camada 1 ler.
#
# ### O circuito OV efetivo das quatro cabeças de indução juntas
#
# As cabeças da camada 1 são redundantes (seção 3). Quando as quatro olham para a mesma origem,
# o que chega aos logits é a **soma** dos quatro circuitos OV:
# $W_E \big(\sum_h W^{1.h}_V W^{1.h}_O\big) W_U$.

# %%
ov_layer1 = circuits.full_OV_circuit(model, 1).AB.sum(0)  # [d_vocab, d_vocab]
acc_layer1 = circuits.top1_diagonal_accuracy(ov_layer1)
print(f"OV efetivo da camada 1: acurácia top-1 da diagonal {acc_layer1:.3f} "
      f"(cada cabeça sozinha: {acc_all[1].min():.3f} a {acc_all[1].max():.3f}; acaso ~{rand_acc.mean():.3f})")
print(f"sem a linha do BOS: {circuits.top1_diagonal_accuracy(ov_layer1[1:, 1:]):.3f}")
assert acc_layer1 >= acc_all[1].max()

# %% [markdown]
# Juntas, as quatro acertam todas as linhas menos a do BOS (63 de 64), mais do que a melhor
# sozinha: os erros de uma são compensados pelas outras. O BOS, um token que o modelo nunca
# precisou copiar, é a exceção em todas.
#
# **Uma correção no texto-fonte.** Ele conclui que a diagonal forte do OV completo faz da
# cabeça uma "head de token atual". São coisas diferentes: o circuito OV diz **o que** a cabeça
# move; "token atual" é um padrão de atenção (**para onde** ela olha). A cabeça de indução
# copia, mas quase nunca olha para a própria posição:

# %%
current = detectors.current_token_scores(cache)
print(f"{head_name(IND)}: atenção média na própria posição = {current[IND]:.3f}")
print(f"{head_name(IND)}: escore de cópia = {copy_all[IND]:.3f}")

# %% [markdown]
# **Outra, no texto-fonte sobre "cabeças como movimentadoras de informação".** Ele escreve a
# saída da atenção como $\sum_j \alpha_{ij} v_j$, sem $W_O$. Os valores $v_j$ vivem em
# $d_\text{head}$ dimensões; o que entra no resíduo é $z\,W_O$ (mais o viés $b_O$), por isso o
# circuito OV é $W_V W_O$. Confirmamos na camada 1:

# %%
z1 = cache["z", 1]  # [batch, pos, head, d_head] = Σ_j α_ij v_j de cada cabeça
print("z (Σ α v):", tuple(z1.shape), "| attn_out:", tuple(cache["attn_out", 1].shape))
# a saída de cada cabeça da camada 1, z_h W_O^h (o cache calcula de hook_z e W_O), somada
per_head = cache.stack_head_results(layer=2)[model.cfg.n_heads:]  # [n_heads, batch, pos, d_model]
rebuilt = per_head.sum(0) + model.b_O[1].detach()
err = (rebuilt - cache['attn_out', 1]).abs().max()
print(f"Σ_h z_h W_O^h + b_O contra attn_out: erro máximo < 1e-4: {'✅' if err < 1e-4 else '❌'}")
assert err < 1e-4

# %% [markdown]
# ## 8. O circuito QK composto: a indução aparece nos pesos
#
# O passo 2 da hipótese diz que a consulta "sou A" casa com a chave "antes de mim veio A".
# Vamos escrever esse caminho como uma matriz $d_\text{vocab} \times d_\text{vocab}$:
#
# - lado da consulta: o embedding do token atual, $W_E$;
# - lado da chave: o que a cabeça de token anterior escreveu nessa posição. Como ela olha quase
#   só para o token anterior, isso é $W_E W^{\text{ant}}_{OV}$ aplicado ao token **anterior**
#   da chave.
#
# $$\text{QK composto} = W_E\; W^{\text{ind}}_{QK}\; \big(W_E W^{\text{ant}}_{OV}\big)^\top
# \qquad\text{(linha = token da consulta, coluna = token anterior à chave).}$$
#
# Se a hipótese vale, o máximo de cada linha está na diagonal: a consulta `A` prefere a chave
# cujo token anterior é `A`. Simplificações: ignoramos vieses e posições, e supomos que a
# cabeça de token anterior põe toda a atenção no token anterior (a seção 3 mediu quase isso).

# %%
W_E = model.W_E.detach()
W_QK_ind = circuits.W_QK(model, *IND).AB  # [d_model, d_model]


def diag_acc(matrix: torch.Tensor) -> float:
    """Acurácia top-1 da diagonal sem a linha e a coluna do BOS."""
    return circuits.top1_diagonal_accuracy(matrix[1:, 1:]).item()


def written_by(head: tuple[int, int]) -> torch.Tensor:
    """W_E W_OV de uma cabeça: o que ela escreve quando olha para cada token. [d_vocab, d_model]"""
    return W_E @ circuits.W_OV(model, *head).AB


k_composed = circuits.k_composition_circuit(model, writer=PREV, reader=IND)  # [d_vocab, d_vocab]
direct = circuits.full_QK_circuit(model, *IND).AB  # W_E W_QK W_Eᵀ: sem passar pela camada 0
print(f"QK composto via {head_name(PREV)}: acurácia top-1 da diagonal = {diag_acc(k_composed):.3f}")
print(f"QK direto (W_E W_QK W_Eᵀ): acurácia top-1 da diagonal = {diag_acc(direct):.3f}")
for head in others:
    print(f"  controle, composto via {head_name(head)}: "
          f"{diag_acc(circuits.k_composition_circuit(model, writer=head, reader=IND)):.3f}")
print(f"acaso: cerca de 1/{cfg.d_vocab - 1} = {1 / (cfg.d_vocab - 1):.3f}")

# %%
plots.plot_circuit(k_composed, labels, labels,
                   title=f"QK de {head_name(IND)} composto através de {head_name(PREV)}",
                   ylabel="token da consulta", xlabel="token anterior à chave")

# %% [markdown]
# A diagonal é nítida pelo caminho que passa pela cabeça de token anterior, e some pelo
# caminho direto (que é tudo o que um modelo de uma camada só de atenção teria): sozinha, a
# cabeça de indução não sabe comparar tokens; ela precisa da informação trazida pela camada 0.
# É por isso que indução exige pelo menos duas camadas.
#
# ### Bônus: o modelo compara **pares** de tokens
#
# Lembra da composição Q da cabeça de token anterior e da composição K da cabeça de dois
# atrás, acima do acaso? Uma explicação: além de "meu token = token anterior da chave", a
# cabeça de indução compara também "meu token anterior (escrito pela cabeça de token anterior
# na consulta) = o token de dois atrás da chave (escrito pela cabeça de dois atrás na chave)".
# Em `… [Z][A][B] … [Z][A]`, as duas comparações apontam para o mesmo `[B]`. O circuito
# correspondente é $(W_E W^{\text{ant}}_{OV})\, W^{\text{ind}}_{QK}\, (W_E W^{\text{2 atrás}}_{OV})^\top$:

# %%
pair = written_by(PREV) @ W_QK_ind @ written_by(TWO_BACK).T
print(f"(anterior da consulta) × (dois atrás da chave): acurácia top-1 da diagonal = {diag_acc(pair):.3f}")
print(f"controle, (anterior da consulta) × (anterior da chave): "
      f"{diag_acc(written_by(PREV) @ W_QK_ind @ written_by(PREV).T):.3f}")

# %% [markdown]
# A segunda comparação também está escrita nos pesos. Na seção 10, a ablação por posição vai
# mostrar que o modelo a usa.
#
# ### As pontuações de atenção, decompostas nas ativações
#
# Os circuitos acima simplificam (sem posições, sem vieses, atenção perfeita da camada 0). Sem
# LayerNorm dá para fazer a conta exata nas ativações, como no ARENA 1.2: a entrada da camada 1
# é a soma embed + pos_embed + a saída de cada cabeça da camada 0 + os vieses, e consulta e chave
# são lineares nela. Então a pontuação de atenção de `IND` é uma soma sobre **pares**
# (componente da consulta, componente da chave), e `attribution.decompose_attn_scores` devolve
# cada parcela. Para medir o que faz a cabeça escolher a chave certa, tomamos em cada posição de
# destino da 2ª cópia a parcela na origem certa ($q - n + 1$) **menos** a média da parcela nas
# outras origens: quanto cada par favorece a origem da indução.
#
# ✍️ **Preveja:** qual par domina? (Pela hipótese: consulta = embedding do token atual, chave =
# saída da cabeça de token anterior.)

# %%
def induction_contrast(scores: torch.Tensor) -> torch.Tensor:
    """[..., batch, q, k] -> [...]: parcela na origem q - n + 1 menos a média nas outras origens (2ª cópia)."""
    out = []
    for q_pos in range(SEQ_LEN + 1, 2 * SEQ_LEN + 1):
        row = scores[..., q_pos, :q_pos + 1]
        right = row[..., q_pos - SEQ_LEN + 1]
        out.append(right - (row.sum(-1) - right) / q_pos)
    return torch.stack(out, -1).mean((-2, -1))


parts, part_labels = attribution.decompose_attn_scores(model, cache, *IND)  # [comp_q, comp_k, batch, q, k]
real_scores = cache["attn_scores", IND[0]][:, IND[1]]
mask = torch.ones(parts.shape[-1], parts.shape[-1], dtype=torch.bool).tril()
assert (parts.sum((0, 1)) - real_scores)[:, mask].abs().max() < 1e-3  # a soma é exata
contrast = induction_contrast(parts)  # [comp_q, comp_k]
plots.plot_circuit(contrast, part_labels, part_labels,
                   title=f"{head_name(IND)}: quanto cada par favorece a origem da indução",
                   ylabel="componente da consulta", xlabel="componente da chave")

# %%
order = contrast.flatten().argsort(descending=True)
for idx in order[:3].tolist():
    i, j = divmod(idx, len(part_labels))
    print(f"consulta {part_labels[i]:9s} × chave {part_labels[j]:9s}: {contrast[i, j]:+.2f}")
print(f"soma de todos os pares: {contrast.sum():+.2f}")

# controle: as mesmas posições numa sequência SEM repetição (a 2ª metade sorteada de novo)
control_tokens = tokens.clone()
control_tokens[:, SEQ_LEN + 1:] = make_repeated_batch(model, batch=16, seq_len=SEQ_LEN, seed=7)[:, 1:SEQ_LEN + 1]
_, control_cache = model.run_with_cache(control_tokens)
control = induction_contrast(attribution.decompose_attn_scores(model, control_cache, *IND)[0])
e, p = part_labels.index("embed"), part_labels.index(head_name(PREV))
print(f"controle sem repetição, consulta embed × chave {head_name(PREV)}: {control[e, p]:+.2f}")
assert contrast[e, p] == contrast.max() and abs(control[e, p]) < 0.2 * contrast[e, p]

# %% [markdown]
# O par dominante é o da hipótese: **consulta = embedding do token atual, chave = saída da
# cabeça de token anterior**. O segundo é o par do bônus (consulta = cabeça de token anterior,
# chave = cabeça de dois atrás), e o terceiro é posição × posição, que sozinho não sabe qual
# origem tem o token certo. No controle, com as mesmas posições mas sem repetição, o par
# dominante cai para perto de zero: ele responde ao **conteúdo** repetido, não à posição.

# %% [markdown]
# ## 9. Atribuição direta aos logits
#
# Sem LayerNorm, o resíduo final é literalmente uma soma: embedding + embedding de posição +
# saída de cada cabeça + vieses $b_O$. Os logits são esse resíduo vezes $W_U$, mais $b_U$.
# Então o logit do token correto se decompõe **exatamente** em uma parcela por componente:
#
# $$\text{logit}[t] = \sum_{c} r_c \cdot W_U[:, t] \;+\; b_U[t].$$
#
# Note que é a **coluna** $t$ de $W_U$ (a direção de saída do token), não a linha $t$ de $W_E$
# (a direção de entrada). Escolhemos uma posição da 2ª cópia; o alvo é o próximo token.
#
# A última barra, `offset`, é o termo que não vem de componente nenhum: $b_U[t]$, o viés do
# desembedding no token alvo (num modelo com LayerNorm final, somaria também o termo constante
# $b_\text{LN} \cdot W_U[:, t]$; este modelo não tem LN). A barra `bias` é a soma dos $b_O$
# das camadas, projetada em $W_U[:, t]$.

# %%
POS = SEQ_LEN + 5  # posição na 2ª cópia; o alvo é tokens[:, POS + 1]
values, comp_labels = attribution.direct_logit_attribution(model, cache, tokens, pos=POS)
logits = model(tokens)
target_logit = logits[torch.arange(tokens.shape[0]), POS, tokens[:, POS + 1]].mean()
print(f"logit médio do token correto: {target_logit:.3f} | soma das contribuições: {values.sum():.3f}")
assert torch.allclose(values.sum(), target_logit, atol=1e-4)
offset_by_hand = model.b_U.detach()[tokens[:, POS + 1]].mean()
assert torch.allclose(values[comp_labels.index("offset")], offset_by_hand, atol=1e-5)
print(f"offset = b_U[alvo] (média no lote): {offset_by_hand:.3f} ✅")
plots.plot_attribution(values, comp_labels, title=f"Contribuição direta ao logit correto (posição {POS})")

# %% [markdown]
# Para a cabeça de indução, a barra é $z^{\text{ind}}\, W^{\text{ind}}_O\, W_U[:, t]$: a saída da
# cabeça projetada na coluna de $W_U$ do token certo. Escrever essa conta é o exercício
# `09.head_logit_attribution`; aqui lemos o valor que o `course_lib` calcula.

# %%
print(f"{head_name(IND)} (indução), contribuição direta: {values[comp_labels.index(head_name(IND))]:.3f}")
prev_direct = values[comp_labels.index(head_name(PREV))]
print(f"{head_name(PREV)} (token anterior), contribuição direta: {prev_direct:.3f}")

# %% [markdown]
# As cabeças da camada 1 empurram o logit correto para cima. A **cabeça de token anterior
# quase não contribui diretamente**, embora seja peça central da hipótese: a atribuição direta
# só enxerga o caminho cabeça → $W_U$, e o efeito dela passa pela camada 1. Para ver efeitos
# indiretos, precisamos de ablação.

# %% [markdown]
# ## 10. Ablação: quebrando o circuito
#
# Zeramos a saída de uma cabeça (o `hook_z`, antes de $W_O$) e medimos a perda de novo.
# `ablation.ablate_heads` faz isso com um gancho; nos exercícios você escreve o gancho.
# Zerar é a intervenção mais simples, mas põe o modelo **fora da distribuição**: a camada 1
# nunca viu um resíduo sem a contribuição média de uma cabeça. Por isso, no fim da seção,
# comparamos com a ablação **pela média** (a saída da cabeça vira a sua média no lote e nas
# posições).


# %%
def ablated_loss_per_pos(heads, positions=None) -> torch.Tensor:
    """Perda por posição [2·SEQ_LEN] (média no lote) com as cabeças `heads` zeradas em hook_z."""
    abl_logits = ablation.ablate_heads(model, tokens, heads, mode="zero", positions=positions)
    return F.cross_entropy(abl_logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none").mean(0)


experiments = {
    "intacto": None,
    f"sem {head_name(PREV)} (token anterior)": [PREV],
    f"sem {head_name(IND)} (indução)": [IND],
    f"sem as {cfg.n_heads} cabeças da camada 1": [(1, h) for h in range(cfg.n_heads)],
    f"sem {head_name(BOS_HEAD)} (não relacionada)": [BOS_HEAD],
}
curves = {}
for name, heads in experiments.items():
    curves[name] = loss_clean if heads is None else ablated_loss_per_pos(heads)
    first_half, second_half = halves(curves[name])
    print(f"{name:34s} 1ª cópia {first_half:.3f} | 2ª cópia {second_half:.3f}")

second = {name: halves(curve_)[1] for name, curve_ in curves.items()}
names = list(experiments)
assert second[names[1]] > clean_first - 0.5  # sem a cabeça de token anterior: volta ao nível da 1ª cópia
assert second[names[2]] < 0.5  # sem UMA cabeça de indução: a redundância segura
assert second[names[3]] > clean_first - 0.5  # sem as quatro: volta ao nível da 1ª cópia
assert second[names[4]] < clean_second + 0.1  # cabeça não relacionada: nada muda

# %%
fig, ax = plt.subplots(figsize=(9, 3.8))
for name, curve_ in curves.items():
    ax.plot(curve_.numpy(), marker="o", markersize=2.5, linewidth=1.2, label=name)
ax.axvline(SEQ_LEN - 0.5, color="black", linestyle=":", linewidth=1, label="início da repetição")
ax.axhline(math.log(cfg.d_vocab - 1), color="gray", linestyle="--", linewidth=1,
           label=f"log {cfg.d_vocab - 1} (chute uniforme)")
ax.set_xlabel("posição")
ax.set_ylabel("perda (nats)")
ax.set_title("Perda por posição com cabeças zeradas")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# - Sem a **cabeça de token anterior**, a perda da 2ª cópia volta ao nível da 1ª: sem a
#   informação "quem veio antes", nenhuma cabeça de indução acha para onde olhar. Uma cabeça
#   quase sem atribuição direta é indispensável.
# - Sem **a cabeça de indução** sozinha, pouco muda: as outras três cabeças de indução fazem o
#   mesmo trabalho (redundância). Só zerando **as quatro** a indução desaparece.
# - A **cabeça do BOS** não participa: a curva fica sobre a do modelo intacto.
#
# A perda da 2ª cópia após zerar cada cabeça sozinha:

# %%
print(f"modelo intacto: {clean_second:.3f}")
for layer in range(cfg.n_layers):
    row = [f"H{h} {halves(ablated_loss_per_pos([(layer, h)]))[1]:.3f}" for h in range(cfg.n_heads)]
    print(f"camada {layer}, perda na 2ª cópia com a cabeça zerada: " + " | ".join(row))
assert halves(ablated_loss_per_pos([REST]))[1] < clean_second + 0.1
assert halves(ablated_loss_per_pos([TWO_BACK]))[1] > 0.5

# %% [markdown]
# A cabeça restante da camada 0, que escreve pouco, não faz falta: ter um padrão de atenção
# não garante que alguém use o que a cabeça escreve. A cabeça de dois atrás faz diferença: é
# a segunda comparação do bônus da seção 8.
#
# ### Lado da chave ou lado da consulta?
#
# `ablate_heads` aceita `positions`. Zerando uma cabeça da camada 0 só na 1ª cópia, tiramos a
# informação das **chaves** que a indução procura; só na 2ª cópia, tiramos a das
# **consultas**.

# %%
first_copy = list(range(1, SEQ_LEN + 1))
second_copy = list(range(SEQ_LEN + 1, 2 * SEQ_LEN + 1))
for head in (PREV, TWO_BACK):
    for where, positions in (("1ª cópia (chaves)", first_copy), ("2ª cópia (consultas)", second_copy)):
        loss_here = halves(ablated_loss_per_pos([head], positions))[1]
        print(f"{head_name(head)} zerada só na {where:21s}: perda na 2ª cópia {loss_here:.3f}")
        if head == PREV or positions is first_copy:
            assert 0.5 < loss_here < clean_first - 1  # faz diferença, mas não quebra tudo
        else:
            assert loss_here < clean_second + 0.1  # a cabeça de dois atrás não importa nas consultas

# %% [markdown]
# - A cabeça de token anterior pesa dos **dois** lados: na chave (composição K, o mecanismo
#   clássico) e na consulta (composição Q, "meu token anterior").
# - A cabeça de dois atrás só pesa do lado da chave ("o token de dois atrás da chave").
#
# Isso é o par de comparações do bônus da seção 8, agora visto nas ativações. Cada comparação
# sozinha ainda funciona em parte, por isso nenhuma destas ablações parciais leva a perda até
# o nível do acaso.

# %% [markdown]
# ### Zero ou média?
#
# A ablação pela média tira a informação específica de cada token e mantém o "nível" médio que a
# camada 1 espera. Se as duas discordassem, o efeito medido com zero poderia ser só o choque de
# estar fora da distribuição.

# %%
def ablated_second(heads, mode: str) -> float:
    abl_logits = ablation.ablate_heads(model, tokens, heads, mode=mode)
    per_pos = F.cross_entropy(abl_logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none").mean(0)
    return halves(per_pos)[1]


print(f"{'perda na 2ª cópia':34s} {'zero':>7s} {'média':>7s}")
for name, heads in list(experiments.items())[1:] + [(f"sem {head_name(TWO_BACK)} (dois atrás)", [TWO_BACK])]:
    zero_loss, mean_loss = ablated_second(heads, "zero"), ablated_second(heads, "mean")
    print(f"{name:34s} {zero_loss:7.3f} {mean_loss:7.3f}")
    assert abs(zero_loss - mean_loss) < 0.1
print(f"{'intacto (controle)':34s} {clean_second:7.3f}")

# %% [markdown]
# Aqui as duas ablações concordam em todas as linhas (diferença abaixo de 0,1 nat): sem
# LayerNorm, e com cabeças cuja saída média é pequena, zerar quase não tira o modelo da
# distribuição. Em modelos com LayerNorm e cabeças de saída média grande (a cabeça do BOS de
# um modelo de linguagem, por exemplo), zero e média podem divergir muito; nesses casos, prefira
# a média, ou o *patching* da próxima seção.
#
# ### O caminho dos valores: de onde vem o que a indução copia?
#
# A composição V ficou abaixo do acaso (seção 6): a hipótese é que a camada 1 copia a
# identidade do token **direto do embedding**. Teste por intervenção: recalculamos os valores
# das quatro cabeças da camada 1 ($v = x\,W_V + b_V$) a partir de **um só** componente do resíduo,
# e deixamos consultas, chaves e padrões de atenção intactos. É o primeiro passo de um
# *patching de caminho*: trocar a entrada de um único caminho e ver o que resta do comportamento.

# %%
def values_from(source: torch.Tensor):
    """Gancho em hook_v da camada 1: os valores de todas as cabeças vêm só de `source` [batch, pos, d_model]."""
    def hook(v, hook):
        return torch.einsum("bpm,hmd->bphd", source, model.W_V[1].detach()) + model.b_V[1].detach()
    return hook


sources = {
    "só o embedding do token": cache["embed"],
    "só o embedding posicional": cache["pos_embed"],
    "só a saída da camada 0": cache["attn_out", 0],
}
value_path = {}
for name, source in sources.items():
    with torch.no_grad():
        path_logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_v", values_from(source))])
    per_pos = F.cross_entropy(path_logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none").mean(0)
    value_path[name] = halves(per_pos)[1]
    print(f"valores da camada 1 {name:27s}: perda na 2ª cópia {value_path[name]:.3f}")
print(f"controles: intacto {clean_second:.3f} | 1ª cópia (sem indução) {clean_first:.3f}")
assert value_path["só o embedding do token"] < clean_second + 0.05
assert value_path["só a saída da camada 0"] > clean_first - 0.5

# %% [markdown]
# Com os valores feitos só do embedding do token, a 2ª cópia continua quase perfeita (a perda
# fica no nível do modelo intacto); feitos só da saída da camada 0 (ou só da posição), a
# perda volta ao nível da 1ª cópia. O que a indução move é a identidade do token, lida do
# embedding: a camada 0 entra pelo lado **QK** (composição K e Q), não pelo **OV**. O circuito
# passa no teste que a definição da seção 4 pede: quebrar o caminho previsto quebra o
# comportamento, e trocar o que não faz parte dele não muda nada.

# %% [markdown]
# ## Resumo
#
# | passo | evidência nos pesos | evidência nas ativações |
# |---|---|---|
# | a cabeça de token anterior olha para trás | QK posicional com máximo logo abaixo da diagonal | padrão de atenção; detector de token anterior |
# | a camada 1 lê essa cabeça nas chaves | composição K acima do acaso; QK composto com diagonal | pontuações de atenção decompostas: par embed × token anterior; ablação só nas chaves |
# | a camada 1 copia o token da origem | OV completo com diagonal (0,984 com as quatro juntas); composição V abaixo do acaso | atribuição direta positiva; ablação da camada 1; valores feitos só do embedding bastam |
#
# **Correções ao texto-fonte, todas conferidas por código acima:** $W_{QK} = W_Q W_K^\top$ (e não
# $W_Q W_K$); as pontuações dividem por $\sqrt{d_\text{head}}$ (e não por $d_k$); $W_E$ e $W_U$ não
# dependem da cabeça; diagonal forte no OV completo significa **cópia**, não "token atual"; a
# saída da atenção passa por $W_O$; e a indução não depende de escala: apareceu num modelo
# minúsculo de duas camadas, numa mudança de fase do treino.
#
# **Referências:** Elhage et al. (2021), *A Mathematical Framework for Transformer Circuits*;
# Olsson et al. (2022), *In-context Learning and Induction Heads*.
