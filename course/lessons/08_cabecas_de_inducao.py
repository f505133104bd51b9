# %% [markdown]
# # 08 · Cabeças de indução
#
# Se um texto já mostrou `[A][B]` e mais adiante aparece `[A]` de novo, um bom palpite
# para o próximo token é `[B]`. Um transformer pode aprender esse truque com duas cabeças
# de atenção trabalhando juntas, e o nome do resultado é **cabeça de indução**. Neste
# notebook medimos a indução num modelo pronto e depois **treinamos um modelo na sua
# frente** para ver a capacidade aparecer de repente.
#
# **O que você vai aprender**
#
# - a sonda clássica: sequências aleatórias repetidas `[BOS, x_1..x_n, x_1..x_n]`;
# - a log-probabilidade do token correto em cada posição e o salto quando a repetição começa;
# - o escore de indução: a diagonal com deslocamento $-(n-1)$ e por que não $-n$;
# - o circuito por trás (cabeça de token anterior + cabeça de indução), numa primeira olhada;
# - a **mudança de fase** no treino de um modelo de 2 camadas, e por que 1 camada não basta;
# - o escore de aprendizado em contexto (ICL) de Olsson et al. (2022), e onde ele mede algo.
# - cabeças de indução num modelo de linguagem (`lm_icl`): formação no treino e ablação com controle.
#
# **Tempo estimado:** ~50 min
#
# **Pré-requisitos:** o notebook 07 (tipos de cabeças, escores a partir de padrões de
# atenção, `detectors`), entropia cruzada e log-probabilidades.

# %%
from course_lib.notebook import setup

setup()

import json
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import display

from course_lib import ablation, circuits, detectors, induction, plots, recipes
from course_lib import Config, HookedTransformer, PtGrammar, load_metadata, load_pretrained
from course_lib.data import PtPassages, induction_training_batch, repeated_tokens
from course_lib.pretrained import CHECKPOINT_DIR

# %% [markdown]
# ## 1. Sequências aleatórias repetidas
#
# Para medir indução e nada mais, usamos tokens **sorteados**: na primeira cópia não há
# gramática, nem frequência, nem nada que ajude a prever o próximo token. Na segunda cópia,
# quem lembra da primeira acerta tudo (menos o primeiro token dela, como veremos).
#
# `course_lib.data.repeated_tokens(batch, seq_len, d_vocab, seed)` monta
# `[BOS, x_1..x_n, x_1..x_n]`, com os $x_i$ sorteados entre os ids que não são o BOS.

# %%
batch, seq_len, d_vocab = 4, 10, 64
demo = repeated_tokens(batch, seq_len, d_vocab, seed=0)
print("formato:", tuple(demo.shape), "= [batch, 1 + 2·seq_len] =", (batch, 1 + 2 * seq_len))
assert demo.shape == (batch, 1 + 2 * seq_len)
assert (demo[:, 0] == 0).all(), "BOS (id 0) na posição 0"
assert torch.equal(demo[:, 1:seq_len + 1], demo[:, seq_len + 1:]), "a 2ª cópia repete a 1ª"
assert (demo[:, 1:] != 0).all(), "o BOS não aparece no meio"
row = demo[0].tolist()
print("BOS:", row[0], "| 1ª cópia:", row[1:seq_len + 1], "| 2ª cópia:", row[seq_len + 1:])

# %% [markdown]
# Na primeira cópia, cada token é um sorteio uniforme entre `d_vocab - 1` ids. O melhor
# que um modelo pode fazer ali é dar a mesma probabilidade a todos, e a perda (entropia
# cruzada) mínima é $\log(d_{vocab} - 1)$:

# %%
chance_loss = math.log(d_vocab - 1)
print(f"perda do acaso na 1ª cópia: log({d_vocab - 1}) = {chance_loss:.3f} nats")

# %% [markdown]
# ## 2. O modelo de indução prevê a segunda cópia
#
# Pegamos o checkpoint `induction` (2 camadas, só atenção) e medimos, em cada posição, a
# log-probabilidade que ele dá ao token que **de fato** vem a seguir.
#
# Cuidado com o alinhamento: os logits da posição $t$ são a previsão do token $t+1$.
# Então a log-probabilidade do token correto na coluna $t$ é
#
# $$\ell_{b,t} = \log \operatorname{softmax}(\text{logits}_{b,t})[\text{tokens}_{b,t+1}], \qquad t = 0, \dots, \text{pos}-2:$$
#
# não há o que prever depois do último token, e ninguém prevê o BOS. O resultado tem
# `pos - 1` colunas. `induction.per_position_logprob_correct` faz essa conta (no exercício
# 08.logprob_correct você a escreve).

# %%
model = load_pretrained("induction")
meta = load_metadata("induction")
seq_len = 20
tokens = repeated_tokens(16, seq_len, model.cfg.d_vocab, seed=1)

logits = model(tokens)  # [batch, pos, d_vocab]
logprob_correct = induction.per_position_logprob_correct(model, tokens)  # [batch, pos-1]
print("tokens:", tuple(tokens.shape), "| logits:", tuple(logits.shape),
      "-> log-prob do token correto:", tuple(logprob_correct.shape))

# %% [markdown]
# A perda por posição é $-\log p(\text{token correto})$. O gráfico abaixo usa
# `induction.per_position_loss` (a média do lote) e marca onde começa a segunda cópia.

# %%
loss_per_pos = induction.per_position_loss(model, tokens)  # [pos-1]
assert torch.allclose(loss_per_pos, -logprob_correct.mean(0), atol=1e-5)
plots.plot_per_position_loss(loss_per_pos, seq_len=seq_len,
                             title="Modelo de indução: perda por posição em tokens repetidos")

# %% [markdown]
# Os números por trás do gráfico, separando três trechos (o índice $t$ prevê o token $t+1$):
#
# - índices $0..n-1$: a primeira cópia, $x_1..x_n$;
# - índice $n$: o $x_1$ da segunda cópia. Antes dele veio $x_n$, e a transição $x_n \to x_1$
#   nunca apareceu: nem a indução sabe prevê-lo;
# - índices $n+1..2n-1$: o resto da segunda cópia.

# %%
first_copy, rest_second = induction.repeated_half_loss(model, tokens, seq_len)
print(f"perda média na 1ª cópia:          {first_copy:.3f}  (acaso: {chance_loss:.3f})")
print(f"perda no x_1 da 2ª cópia:         {loss_per_pos[seq_len].item():.3f}")
print(f"perda média no resto da 2ª cópia: {rest_second:.3f}")
p_right = logprob_correct.exp()[:, seq_len + 1:]
print(f"probabilidade média do token certo no resto da 2ª cópia: {p_right.mean().item():.1%}")
print(f"média da 2ª cópia contando o x_1 (a linha tracejada do gráfico): {loss_per_pos[seq_len:].mean().item():.3f}")

# %% [markdown]
# Uma curiosidade: o modelo de linguagem do curso (`lm`), treinado em frases da gramática,
# **não** faz isso. Nas frases de treino quase não há trechos longos repetidos, então
# indução não ajudaria a perda, e o treino não a criou:

# %%
lm = load_pretrained("lm")
lm_tokens = repeated_tokens(16, 15, lm.cfg.d_vocab, seed=1)
lm_halves = induction.repeated_half_loss(lm, lm_tokens, 15)
print(f"lm: perda na 1ª cópia {lm_halves[0]:.2f} | na 2ª cópia {lm_halves[1]:.2f} "
      f"(acaso: log({lm.cfg.d_vocab - 1}) = {math.log(lm.cfg.d_vocab - 1):.2f})")

# %% [markdown]
# (A perda do `lm` é até maior que a do acaso: ele espera frases em português e leva um
# susto com sequências de palavras sorteadas.)
#
# ## 3. O escore de indução
#
# Onde uma cabeça de indução olha? Na segunda cópia, a consulta na posição $q = n + i$
# tem o token $x_i$. A ocorrência anterior de $x_i$ está na posição $i = q - n$, e o token
# **seguinte** a ela, $x_{i+1}$, está em $q - n + 1 = q - (n-1)$. É esse que a cabeça
# copia. Então, no padrão de atenção, a indução é a diagonal com deslocamento
# $-(n-1)$, a partir da consulta $q = n+1$.
#
# (A diagonal $-n$ também existe: é olhar para a **mesma** palavra que apareceu antes, o
# que se chama cabeça de token duplicado. Ela sabe que o token já apareceu, mas não
# sabe o que veio depois.)
#
# O escore de indução (`detectors.induction_scores`) é a atenção média nessa diagonal.

# %%
ind_scores = detectors.induction_scores(model, tokens, seq_len)
induction_head = meta["metrics"]["induction_head"]
L_ind, H_ind = (int(x) for x in induction_head.split("."))
print(f"cabeça de indução segundo os metadados: {induction_head}")
print(f"melhor escore da camada 1: cabeça 1.{int(ind_scores[1].argmax())} ({ind_scores[1].max().item():.3f})")
assert int(ind_scores[1].argmax()) == H_ind
assert ind_scores[1].min() > 0.5 and ind_scores[0].max() < 0.1  # o texto abaixo depende disto
plots.plot_head_scores(ind_scores, colorbar_label="escore de indução", title="Escore de indução em tokens repetidos (seq_len = 20)")

# %% [markdown]
# Uma nota para quem for ao ARENA 1.2: lá o escore é `pattern.diagonal(-(n-1)).mean()`, a mesma
# diagonal, mas desde a consulta $q = n-1$: entram mais duas consultas da 1ª cópia, onde não
# há o que induzir ($n-1 \to$ BOS e $n \to x_1$). É a opção `convention="arena"`:

# %%
arena_scores = detectors.induction_scores(model, tokens, seq_len, convention="arena")
gap = ind_scores - arena_scores
print(f"camada 1, curso: {[f'{v:.2f}' for v in ind_scores[1].tolist()]} | ARENA: {[f'{v:.2f}' for v in arena_scores[1].tolist()]}")
print(f"curso − ARENA: camada 1 de {gap[1].min().item():+.2f} a {gap[1].max().item():+.2f} | "
      f"camada 0 de {gap[0].min().item():+.2f} a {gap[0].max().item():+.2f}")
assert torch.equal(ind_scores[1].argsort(), arena_scores[1].argsort()), "o texto abaixo diz que o ranking não muda"

# %% [markdown]
# Nas cabeças de indução o número do ARENA sai até 0,04 menor (as duas consultas extras quase
# não caem na diagonal); nas da camada 0, que na 1ª cópia estacionam no BOS, sai maior (a
# consulta $n-1 \to$ BOS conta como "indução"). O ranking das cabeças não muda.
#
# Todas as cabeças da camada 1 fazem indução, umas mais que outras; a camada 0 não faz.
# Vamos conferir a regra do deslocamento diretamente no padrão da cabeça de indução:
# para cada consulta da segunda cópia, qual chave recebe mais atenção?

# %%
_, cache = model.run_with_cache(tokens)
pattern = cache["pattern", L_ind][:, H_ind]  # [batch, q, k]
queries = torch.arange(seq_len + 1, 2 * seq_len + 1)
top_key = pattern[:, queries].argmax(-1)  # [batch, n]
for name, offset in [("q - (n-1)", seq_len - 1), ("q - n", seq_len), ("q - (n+1)", seq_len + 1)]:
    frac = (top_key == queries - offset).float().mean().item()
    print(f"origem com mais atenção = {name:<9}: {frac:.0%} das consultas da 2ª cópia")

# %% [markdown]
# E a imagem, numa sequência curta ($n = 10$) para caber na tela. A listra fora da
# diagonal principal, na metade de baixo, é a indução.

# %%
short = repeated_tokens(1, 10, model.cfg.d_vocab, seed=2)
_, short_cache = model.run_with_cache(short)
plots.plot_attention(short_cache["pattern", L_ind][0, H_ind], [f"{i}:{t}" for i, t in enumerate(short[0].tolist())],
                     title=f"Cabeça de indução {induction_head} (n = 10)")

# %% [markdown]
# Na primeira cópia a cabeça quase sempre estaciona no BOS (não há o que copiar, como
# vimos no notebook 07); na segunda, segue a listra $k = q - 9$.
#
# "Quase sempre": como os tokens são sorteados com reposição, às vezes um token se repete
# **dentro** da primeira cópia. Em princípio isso já basta para a indução: o token atual
# apareceu antes, e o seguinte a ele é um bom palpite. A cabeça aproveita? Para cada
# consulta da 1ª cópia cujo token já tinha aparecido, comparamos a posição de origem com mais atenção com
# a posição logo depois da ocorrência anterior:

# %%
short_ids = short[0].tolist()
short_pattern = short_cache["pattern", L_ind][0, H_ind]
for q in range(1, 11):  # só a 1ª cópia
    earlier = [j for j in range(1, q) if short_ids[j] == short_ids[q]]
    if earlier:
        print(f"posição {q} (token {short_ids[q]}): apareceu antes na posição {earlier[-1]}; "
              f"a cabeça olha mais para a posição {int(short_pattern[q].argmax())} "
              f"(peso {short_pattern[q].max().item():.2f}); a seguinte à ocorrência é {earlier[-1] + 1}")

# %% [markdown]
# Às vezes sim, às vezes não: em alguns desses casos a cabeça fica no BOS. Uma coincidência
# isolada de um token é uma pista mais fraca do que um trecho inteiro repetido, que é o
# que o modelo viu no treino. Na segunda cópia, onde a pista é forte, a regra é seguida
# em quase todas as consultas (a fração medida acima, com a regra $k = q-(n-1)$).
#
# ## 4. O circuito por trás, numa primeira olhada
#
# Como a cabeça sabe para onde olhar? A chave certa é a posição cujo token **anterior**
# é igual ao token atual. Mas uma chave, sozinha, só carrega o próprio token e a própria
# posição. Alguém precisa antes copiar para cada posição "qual token veio antes de mim".
# Esse alguém é a cabeça de token anterior da camada 0.
#
# Um **circuito**, no sentido de Olah et al. (2020) e Elhage et al. (2021), é um subgrafo do
# modelo (algumas cabeças e os caminhos entre elas) que implementa um comportamento e que se
# pode testar com intervenções: quebrá-lo tem de quebrar o comportamento, e quebrar o resto
# não. (Os "circuitos QK e OV" da lição 07 são outra coisa: as matrizes de uma cabeça só.) O
# circuito de indução tem duas peças:
#
# 1. **cabeça de token anterior** (camada 0): escreve em cada posição $k$ a informação
#    do token $k-1$;
# 2. **cabeça de indução** (camada 1): a consulta com token $A$ procura chaves cuja
#    informação de "token anterior" seja $A$ (isso é **composição K**: a chave da camada 1
#    usa o que a camada 0 escreveu) e copia o token daquela posição para a saída
#    (circuito **OV de cópia**).
#
# Duas verificações rápidas. Primeiro, se desligarmos (zerarmos) a cabeça de token anterior,
# a indução deve quebrar. `ablation.ablate_heads` devolve os logits com a cabeça zerada:

# %%
prev_head = meta["metrics"]["prev_token_head"]
L_prev, H_prev = (int(x) for x in prev_head.split("."))


def second_copy_loss(logits: torch.Tensor) -> float:
    """Perda média no resto da 2ª cópia (índices seq_len+1 em diante)."""
    preds = logits[:, seq_len + 1:-1]  # posições que preveem x_2..x_n da 2ª cópia
    return F.cross_entropy(preds.flatten(0, 1), tokens[:, seq_len + 2:].flatten()).item()


print(f"perda no resto da 2ª cópia, modelo inteiro:        {second_copy_loss(logits):.3f}")
for head in [(L_prev, H_prev), (L_ind, H_ind)]:
    ablated = ablation.ablate_heads(model, tokens, [head])
    print(f"sem a cabeça {head[0]}.{head[1]}:                           {second_copy_loss(ablated):.3f}")
print(f"acaso:                                             {chance_loss:.3f}")

# %% [markdown]
# Sem a cabeça de token anterior, a perda na segunda cópia volta ao nível do acaso (até
# passa um pouco dele): as cabeças de indução ficam cegas. Sem uma única cabeça de indução a perda sobe bem menos, porque as
# outras cabeças da camada 1 também fazem indução.
#
# Segundo, o OV de cópia. O texto-fonte deste tema diz que, como o circuito OV completo
# $W_E W_{OV} W_U$ da cabeça tem valores altos na diagonal, "temos uma cabeça de token
# atual". Não é bem isso: diagonal alta no circuito **OV** quer dizer que a cabeça
# **copia** o token para o qual olha (fala do que ela escreve). Ser de token atual é
# uma propriedade do circuito **QK** (de para onde ela olha). O código separa as duas coisas:

# %%
full_ov = circuits.full_OV_circuit(model, L_ind, H_ind).AB  # [d_vocab, d_vocab]
diag_wins = (full_ov.argmax(-1) == torch.arange(model.cfg.d_vocab)).float().mean().item()
copy_score = circuits.copying_score(model, L_ind, H_ind).item()
current = detectors.current_token_scores(cache)[L_ind, H_ind].item()
print(f"cabeça {induction_head}: o maior logit escrito é o do próprio token de origem em {diag_wins:.0%} dos tokens")
print(f"cabeça {induction_head}: escore de cópia (autovalores do OV completo) = {copy_score:.2f}")
print(f"cabeça {induction_head}: escore de token ATUAL (atenção em si mesma) = {current:.3f}")

# %% [markdown]
# Copia quase perfeitamente, e quase nunca olha para si mesma: é uma cabeça de cópia, não
# de token atual. O notebook 09 faz a engenharia reversa completa desse circuito.
#
# ## 5. Ao vivo: treinando um modelo até a indução aparecer
#
# Agora o experimento mais bonito do tema. Vamos treinar, do zero, um transformer de 2
# camadas só de atenção em textos com trechos repetidos e medir, a cada 10 passos, duas
# coisas **diferentes** em dados que o treino nunca vê: a perda na 2ª cópia de
# `[BOS, x, x]` (o que o modelo consegue fazer) e o escore de indução (para onde a cabeça
# olha). A mudança de fase vai ser marcada pela inclinação da primeira, e só depois
# olhamos se a segunda acompanha: marcar o salto com um limiar no próprio escore seria um
# argumento circular.
#
# A receita é a do checkpoint `induction` com duas mudanças para caber em poucos segundos
# (`recipes.train_live`): contexto de 32 tokens em vez de 64 e taxa de aprendizado
# constante. O treino **para sozinho** quando o escore de indução passa de 0,7 (no máximo
# 600 passos); num laptop de 2 núcleos isso leva uns 10 segundos.

# %%
TRAIN_CFG = {**recipes.INDUCTION_CFG, **recipes.LIVE_CFG_OVERRIDES}
MAX_STEPS, STOP_AT, EVAL_EVERY = 600, 0.7, 10
print("configuração:", {k: v for k, v in TRAIN_CFG.items() if k != "n_layers"})
print(f"no máximo {MAX_STEPS} passos | taxa de aprendizado: {recipes.INDUCTION_TRAIN['lr']} | "
      f"lote: {recipes.INDUCTION_TRAIN['batch_size']} | avaliação a cada {EVAL_EVERY} passos")

# %% [markdown]
# Os dados de treino vêm de `induction_training_batch`: cada linha é o BOS seguido de um
# trecho aleatório repetido até encher o contexto, com um comprimento sorteado por linha.
# Um exemplo:

# %%
example_batch = induction_training_batch(3, TRAIN_CFG["n_ctx"], TRAIN_CFG["d_vocab"], torch.Generator().manual_seed(0))
for row in example_batch.tolist():
    period = next(p for p in range(1, len(row)) if row[1 + p:] == row[1:len(row) - p])  # menor período
    print(f"trecho de {period:>2} tokens: {row[:24]} ...")

# %% [markdown]
# A avaliação (`recipes.live_evaluate`) usa 32 sequências `[BOS, x, x]` fixas com
# $n = 15$ (o maior que cabe em 32 posições), que o treino nunca vê.
#
# ✍️ **Preveja:** a perda na 2ª cópia vai cair aos poucos do começo ao fim, ou vai ficar
# quase parada e depois despencar? Em que passo, mais ou menos?
#
# (A célula de treino mostra números que mudam com a CPU: um treino em float32 diverge
# nos últimos dígitos entre famílias de kernels. O que ela garante está nos `assert`.)

# %% tags=["nbval-ignore-output"]
eval_len = recipes.LIVE_EVAL["seq_len"]
print("antes do treino:", {k: round(v, 2) for k, v in recipes.live_evaluate(HookedTransformer(Config(**TRAIN_CFG))).items()})
model_2l, history_2l = recipes.train_live(2, MAX_STEPS, seed=0, eval_every=EVAL_EVERY, progress=True,
                                          stop_fn=lambda metrics: metrics["induction_score"] > STOP_AT)
steps_2l = [e["step"] for e in history_2l["evals"]]
print(history_2l["stop_reason"], f"(escore de indução > {STOP_AT})")
for record in history_2l["evals"][::3]:
    print(f"passo {record['step']:>3}: escore de indução {record['induction_score']:.2f} | "
          f"perda na 2ª cópia {record['second_copy_loss']:.2f} | na 1ª cópia {record['first_copy_loss']:.2f}")
assert history_2l["stopped_early"] and steps_2l[-1] < MAX_STEPS  # a indução apareceu antes do limite

# %% [markdown]
# Agora o salto, medido pela perda. `induction.phase_change_step(passos, perdas)` suaviza
# a curva (média móvel de 5 avaliações) e devolve o passo onde ela cai mais depressa.
# Essa marca sai só da perda; o escore de indução, à direita, é a testemunha independente.

# %% tags=["nbval-ignore-output"]
loss_2l = [e["second_copy_loss"] for e in history_2l["evals"]]
score_2l = [e["induction_score"] for e in history_2l["evals"]]
phase_step = induction.phase_change_step(steps_2l, loss_2l)
before = max(i for i, s in enumerate(steps_2l) if s <= phase_step - 40)
after = min(len(steps_2l) - 1, min(i for i, s in enumerate(steps_2l) if s >= phase_step + 40))
print(f"mudança de fase (maior inclinação da perda na 2ª cópia): passo {phase_step}")
print(f"escore de indução 40 passos antes: {score_2l[before]:.2f} | 40 passos depois: {score_2l[after]:.2f}")
print(f"perda na 2ª cópia 40 passos antes: {loss_2l[before]:.2f} | 40 passos depois: {loss_2l[after]:.2f}")
print(f"tokens de treino vistos até a marca: {phase_step * recipes.INDUCTION_TRAIN['batch_size'] * TRAIN_CFG['n_ctx']:,}".replace(",", "."))
assert score_2l[after] - score_2l[before] > 0.3 and loss_2l[before] - loss_2l[after] > 1.0

fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
ax_loss.plot(steps_2l, loss_2l, color=plots.POSITIVE_COLOR, marker=".", label="2ª cópia")
ax_loss.plot(steps_2l, [e["first_copy_loss"] for e in history_2l["evals"]], color="gray", label="1ª cópia (controle)")
ax_score.plot(steps_2l, score_2l, color=plots.NEGATIVE_COLOR, marker=".")
for ax in (ax_loss, ax_score):
    ax.axvline(phase_step, color="black", linestyle=":", linewidth=1.2, label="mudança de fase (inclinação da perda)")
    ax.set_xlabel("passo de treino")
ax_loss.set_ylabel("perda (nats)")
ax_score.set_ylabel("escore de indução")
ax_loss.legend(fontsize=8)
ax_loss.set_title("Perda em [BOS, x, x] nunca vistos")
ax_score.set_title("Escore de indução (melhor cabeça da camada 1)")
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# A perda na 2ª cópia não é uma linha reta: desce devagar por uma centena de passos e
# então despenca em poucas dezenas. O escore de indução, medido à parte, sobe na mesma
# janela. A perda na 1ª cópia (o controle: ali não há o que induzir) não despenca:
# fica perto do acaso, $\log 63 \approx 4{,}14$, ou até acima dele.
#
# Uma semente só pode ser sorte. O treino acima repetido com três sementes (de dados e de
# inicialização) e por 1500 passos está guardado em
# `course_lib/checkpoints/induction_curves.json`, gerado por
# `python -m course_lib.recipes induction_curves` (uns 10 minutos) e conferido pelos testes:

# %%
curves = json.loads((CHECKPOINT_DIR / recipes.CURVES_PATH).read_text(encoding="utf-8"))
runs_2l = [r for r in curves["runs"] if r["n_layers"] == 2]
runs_1l = [r for r in curves["runs"] if r["n_layers"] == 1]
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
for run, color in zip(runs_2l, ["tab:blue", "tab:orange", "tab:green"]):
    cut = [i for i, s in enumerate(run["step"]) if s <= 400]
    ax_loss.plot([run["step"][i] for i in cut], [run["second_copy_loss"][i] for i in cut], color=color,
                 label=f"semente {run['seed']}")
    ax_score.plot([run["step"][i] for i in cut], [run["induction_score"][i] for i in cut], color=color)
    for ax in (ax_loss, ax_score):
        ax.axvline(run["phase_change_step"], color=color, linestyle=":", linewidth=1.2)
    print(f"semente {run['seed']}: mudança de fase (inclinação da perda) no passo {run['phase_change_step']}")
for ax in (ax_loss, ax_score):
    ax.set_xlabel("passo de treino")
ax_loss.set_ylabel("perda na 2ª cópia (nats)")
ax_score.set_ylabel("escore de indução")
ax_loss.legend(fontsize=8)
ax_loss.set_title("Três sementes, 2 camadas")
ax_score.set_title("Escore de indução nas mesmas sementes")
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# Nas três sementes o degrau aparece no mesmo trecho do treino (os passos impressos
# acima): é uma **mudança de fase**, a capacidade aparece numa janela curta e não aos
# poucos ao longo de todo o treino.
#
# Uma correção ao texto-fonte: ele diz que as cabeças de indução surgem "conforme
# aumentamos a escala do modelo". No trabalho de Olsson et al. (2022) a mudança de fase
# é um evento **do treino**: acontece num certo momento (nos modelos deles, depois de
# alguns bilhões de tokens), em modelos de vários tamanhos, desde que tenham pelo menos
# duas camadas. Não conseguimos conferir daqui os números do artigo, mas conferimos o
# fenômeno: no nosso modelo minúsculo, com dados feitos para isso, o salto veio depois do
# número de tokens impresso acima, uma fração minúscula dos bilhões do artigo.
#
# Repare também que o salto aparece numa métrica **contínua** (a perda). A crítica de
# Schaeffer et al. (2023) às "capacidades emergentes" é que muitos saltos vêm de métricas
# descontínuas, como acerto exato; aqui isso não explica o degrau.
#
# ### E com uma camada só?
#
# Uma cabeça de indução precisa, na chave, da informação "qual token veio antes de mim",
# e essa informação só chega lá se uma cabeça de uma camada **anterior** a tiver copiado.
# Com uma camada não há camada anterior. Para a comparação ser justa, o modelo de uma
# camada recebe **o mesmo treino**: a mesma semente, os mesmos lotes e o mesmo número de
# passos que o de duas camadas usou acima.
#
# ✍️ **Preveja:** o escore de indução do modelo de uma camada vai passar de 0,3? E a perda
# dele na 2ª cópia vai ficar acima ou abaixo de $\log 15$ (apostar por igual nos 15 tokens
# do trecho)?

# %% tags=["nbval-ignore-output"]
n_steps_2l = len(history_2l["loss"])
model_1l, history_1l = recipes.train_live(1, n_steps_2l, seed=0, eval_every=EVAL_EVERY)
eval_tokens = recipes.live_eval_tokens()
print(f"mesmo treino: {n_steps_2l} passos cada, mesma semente e mesmos lotes; avaliação com n = {eval_len}")
facts = {}
for name, m, hist in [("2 camadas", model_2l, history_2l), ("1 camada", model_1l, history_1l)]:
    rec = hist["evals"][-1]
    facts[name] = {**rec, **induction.seen_once_twice_mass(m, eval_tokens, eval_len)}
    f = facts[name]
    print(f"  {name}: escore de indução {f['induction_score']:.2f} | perda na 2ª cópia {f['second_copy_loss']:.2f} "
          f"| prob. nos vistos 1 vez {f['seen_once']:.0%}, nos vistos 2 vezes {f['seen_twice']:.0%}, no certo {f['correct']:.0%}")
print(f"  referências: acaso log(63) = {math.log(63):.2f} | log({eval_len}) = {math.log(eval_len):.2f}")
assert facts["1 camada"]["induction_score"] < 0.3 < STOP_AT < facts["2 camadas"]["induction_score"]
assert facts["2 camadas"]["second_copy_loss"] < facts["1 camada"]["second_copy_loss"] - 1.0

# %% [markdown]
# Com o mesmo treino, uma camada não chega perto. Mas "não chegou em 200 passos" não
# prova "não consegue": talvez ela só seja mais lenta. O arquivo de curvas tem os dois
# modelos treinados pelo **mesmo orçamento longo**, 1500 passos, nas três sementes:

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for runs, color, name in [(runs_2l, plots.POSITIVE_COLOR, "2 camadas"), (runs_1l, plots.NEGATIVE_COLOR, "1 camada")]:
    for i, run in enumerate(runs):
        ax.plot(run["step"], run["second_copy_loss"], color=color, alpha=0.8, linewidth=1,
                label=name if i == 0 else None)
ax.axhline(math.log(63), color="gray", linestyle="--", linewidth=1, label="acaso: log(63)")
ax.axhline(math.log(eval_len), color="black", linestyle=":", linewidth=1, label=f"log({eval_len})")
ax.set_xlabel("passo de treino")
ax.set_ylabel("perda na 2ª cópia (nats)")
ax.set_title("Mesmo orçamento (1500 passos), três sementes cada")
ax.legend(fontsize=8)
fig.tight_layout()
plt.close(fig)
display(fig)

block = 150 // curves["eval_every"]  # avaliações em 150 passos
for run in runs_1l:
    f, loss = run["final"], run["second_copy_loss"]
    means = [sum(loss[i:i + block]) / block for i in range(0, len(loss), block)]
    print(f"1 camada, semente {run['seed']}: perda na 2ª cópia, média a cada 150 passos: "
          + " ".join(f"{m:.2f}" for m in means))
    print(f"    mínimo {min(loss):.2f} (passo {run['step'][loss.index(min(loss))]}) | maior escore de indução "
          f"em todo o treino {max(run['induction_score']):.2f} | no fim: prob. nos vistos 1 vez {f['seen_once']:.0%}, "
          f"2 vezes {f['seen_twice']:.0%}, no certo {f['correct']:.0%}")
for run in runs_2l:
    print(f"2 camadas, semente {run['seed']}: escore de indução no fim {run['induction_score'][-1]:.2f} | "
          f"perda na 2ª cópia {run['second_copy_loss'][-1]:.2f} | no certo {run['final']['correct']:.0%}")
print(f"referências: log({eval_len}) = {math.log(eval_len):.2f} | dividir por igual entre os vistos 1 vez: "
      f"{runs_1l[0]['final']['split_once_loss']:.2f}")

# %% [markdown]
# O que as medidas dizem sobre a camada única:
#
# - **não há platô no começo**: no orçamento do treino ao vivo (umas duas centenas de
#   passos) a perda dela ainda está caindo depressa (veja as primeiras médias). Com 1500
#   passos, a média por trecho continua descendo devagar até perto de $\log 15 \approx 2{,}71$,
#   e em vários passos fica bem abaixo dele (o mínimo impresso): $\log n$ não é teto;
# - o truque dela não é indução, é **contar**: em média há tantos tokens vistos uma vez
#   quanto vistos duas vezes no contexto, mas ela põe mais probabilidade nos vistos **uma**
#   vez. Na 2ª cópia, o token certo, na maioria das posições, é um dos que só apareceram uma vez, então
#   desconfiar dos repetidos ajuda (dividir a aposta por igual entre os vistos uma vez daria
#   a perda da última linha). Uma cabeça de uma camada consegue isso olhando para todos os
#   tokens anteriores: não precisa saber o que veio antes de cada um;
# - o que ela não consegue é saber **qual** desses vem a seguir: o escore de indução nunca
#   passa de 0,13 nas três sementes, e a probabilidade no token certo fica perto de 10%,
#   contra ~98% no modelo de duas camadas.
#
# ## 6. O escore de aprendizado em contexto
#
# Olsson et al. (2022) resumem "usar o contexto" num número: a perda num token tardio
# menos a perda num token do começo (no artigo, o 500º menos o 50º, com contexto de 512).
# Negativo quer dizer que mais contexto ajudou. `induction.in_context_learning_score`
# adapta as posições para contextos curtos (por padrão, ~10% do contexto e o último token).
#
# Em `[BOS, x, x]` esse número não diz nada de novo: o token "tardio" está na 2ª cópia e o
# "cedo" na 1ª, então ele é só (perda na 2ª cópia) − (perda na 1ª cópia), com o ruído de
# duas posições em vez da média. Conferindo no checkpoint `induction`:

# %%
icl_rep = induction.in_context_learning_score(model, tokens)
halves_now = induction.repeated_half_loss(model, tokens, seq_len)
print(f"escore ICL em [BOS, x, x] (n = {seq_len}): {icl_rep:+.2f} | 2ª cópia − 1ª cópia: {halves_now[1] - halves_now[0]:+.2f}")
assert abs(icl_rep - (halves_now[1] - halves_now[0])) < 0.5

# %% [markdown]
# Onde o escore de Olsson significa algo é em texto: nele o contexto ajuda de muitas
# formas (gramática, tema, nomes que voltam), e a indução é só uma delas. O modelo `lm`
# foi treinado em frases da gramática do curso, e nele podemos medir o escore em texto
# nunca visto. O controle é o melhor possível na mesma gramática (`PtGrammar.optimal_loss_per_token`,
# a perda de quem conhece as probabilidades exatas): quanto da queda com a posição é só
# a gramática ficando mais previsível no fim das frases?

# %%
grammar = PtGrammar()
text = grammar.make_dataset(128, lm.cfg.n_ctx, seed=recipes.EVAL_SEED)
last = text.shape[1] - 1
early = max(1, round(last / 10))
icl_lm = induction.in_context_learning_score(lm, text)
optimal = grammar.optimal_loss_per_token(text).mean(0)  # [pos-1], perda ótima por posição
icl_optimal = float(optimal[last - 1] - optimal[early - 1])
print(f"lm em texto da gramática: escore ICL (token {last} − token {early}) = {icl_lm:+.2f}")
print(f"controle (o ótimo da gramática, mesmas posições):  {icl_optimal:+.2f}")
assert icl_lm < -0.3 and abs(icl_lm - icl_optimal) < 0.15  # o texto abaixo depende disto

# %% [markdown]
# O `lm` ganha com o contexto no texto da gramática, mas o ótimo ganha o mesmo:
# a queda vem da própria gramática (o fim de uma frase é mais previsível que o começo),
# não de o modelo reaproveitar o que já leu, e o `lm` não tem indução (a seção 2 mediu).
#
# ### Um modelo de linguagem em texto com repetições: `lm_icl`
#
# O checkpoint `lm_icl` (2 camadas com MLP e LayerNorm, o vocabulário do `lm`, contexto de
# 64) foi treinado em passagens de várias frases da gramática em que frases e sujeitos
# anteriores voltam, como num texto de verdade, e em que metade das frases novas é um
# **trecho sorteado**: de 4 a 8 palavras do vocabulário ao acaso, como um nome próprio que
# o leitor nunca viu (`PtPassages(..., p_random=0.5)`; receita
# `python -m course_lib.recipes lm_icl`, notas em `docs/lm_icl_notes.md`). A gramática não
# prevê um trecho sorteado; quando ele volta na passagem, só quem copia do contexto acerta.
#
# Uma versão anterior deste checkpoint, treinada só com frases que voltam, aprendia em
# contexto **sem** cabeças de indução (escore ≤ 0,06): a própria gramática ajudava a prever
# a cópia. Os trechos sorteados tiram esse atalho. Primeiro, o escore de Olsson
# (token 63 − token 6) em passagens nunca vistas, **com** repetições e, como controle, as
# mesmas probabilidades **sem** repetições (os trechos sorteados aparecem, mas não voltam).
#
# ✍️ **Preveja:** o escore com repetições vai ser bem mais negativo que o sem repetições? E o
# `lm`, que nunca viu repetições, vai achar a 2ª ocorrência de um trecho sorteado mais barata
# que a 1ª?

# %% tags=["nbval-ignore-output"]
lm_icl = load_pretrained("lm_icl")
icl_meta = load_metadata("lm_icl")
with_rep = PtPassages(**recipes.LM_ICL_DATA)  # as probabilidades do treino
no_rep = PtPassages(**{**recipes.LM_ICL_DATA, "p_sentence": 0.0, "p_subject": 0.0})
rep_text, rep_src, rep_rnd = with_rep.make_dataset(512, 64, seed=recipes.EVAL_SEED, return_random=True)
plain_text = no_rep.make_dataset(512, 64, seed=recipes.EVAL_SEED)
icl_rep_text = induction.in_context_learning_score(lm_icl, rep_text, 6, 63)
icl_plain_text = induction.in_context_learning_score(lm_icl, plain_text, 6, 63)
opt_rep = with_rep.optimal_loss_per_token(rep_text[:128]).mean(0)
print(f"lm_icl, passagens com repetições: escore ICL (token 63 − token 6) = {icl_rep_text:+.2f}")
print(f"lm_icl, passagens sem repetições (controle):             {icl_plain_text:+.2f}")
print(f"ótimo exato, com repetições:                             {float(opt_rep[62] - opt_rep[5]):+.2f}")
first_r, second_r = induction.repeated_span_loss(lm_icl, rep_text, rep_src, mask=rep_rnd)
first_g, second_g = induction.repeated_span_loss(lm_icl, rep_text, rep_src, mask=~rep_rnd)
short, short_src, short_rnd = rep_text[:, :lm.cfg.n_ctx], rep_src[:, :lm.cfg.n_ctx], rep_rnd[:, :lm.cfg.n_ctx]
lm_first, lm_second = induction.repeated_span_loss(lm, short, short_src, mask=short_rnd)
print(f"trechos sorteados que voltam, lm_icl: 1ª ocorrência {first_r:.2f} | 2ª {second_r:.2f} nats "
      f"(acaso: log({with_rep.d_vocab - 2}) = {math.log(with_rep.d_vocab - 2):.2f})")
print(f"trechos da gramática que voltam, lm_icl: 1ª ocorrência {first_g:.2f} | 2ª {second_g:.2f} nats")
print(f"controle, o lm (nos 32 primeiros tokens, o contexto dele): 1ª ocorrência {lm_first:.2f} | 2ª {lm_second:.2f} nats")
g = icl_meta["metrics"]
print(f"ainda um modelo da gramática? concordância {g['agreement_accuracy']:.0%} dos 20 testes; texto só da gramática "
      f"(32 tokens): {g['grammar_text_loss_32_tokens']:.2f} nats, lm {g['grammar_text_loss_32_tokens_lm']:.2f}, "
      f"ótimo da gramática {g['grammar_text_loss_32_tokens_otimo']:.2f}, ótimo de quem espera as passagens do treino "
      f"{g['grammar_text_loss_32_tokens_otimo_das_passagens']:.2f}")
assert icl_rep_text < icl_plain_text - 2.0
assert second_r < first_r - 3.0 and abs(lm_second - lm_first) < 0.5

# %% [markdown]
# O contexto ajuda muito mais quando o texto se repete, e o controle sem repetições mostra
# que isso não é a gramática (sem repetições o escore é até positivo: o fim da passagem
# fica mais difícil). Nos trechos sorteados a diferença é enorme: a 1ª ocorrência custa
# perto do acaso, a 2ª quase nada. O `lm` não ganha nada com a repetição (e paga caro pelos
# trechos sorteados, que a gramática dele acha quase impossíveis). O preço do `lm_icl`: no
# texto só da gramática ele perde para o `lm`. Boa parte disso é esperar trechos sorteados
# e repetições que ali não vêm: mesmo quem conhece as probabilidades exatas das passagens
# do treino paga o "ótimo de quem espera as passagens"; o resto, a diferença entre esse
# ótimo e a perda do `lm_icl`, é o que ele ainda não aprendeu da gramática.
#
# Agora as cabeças. O escore de indução é o de sempre (`detectors.induction_scores`, em
# `[BOS, x, x]` com x sorteado do vocabulário, n = 20), e o mesmo escore no `lm` é o
# controle de um modelo da mesma gramática que nunca viu repetições (com n = 15, que cabe
# no contexto de 32 dele).

# %% tags=["nbval-ignore-output"]
icl_scores = detectors.induction_scores(lm_icl, repeated_tokens(64, 20, lm_icl.cfg.d_vocab, seed=recipes.EVAL_SEED), 20)
lm_scores_15 = detectors.induction_scores(lm, repeated_tokens(64, 15, lm.cfg.d_vocab, seed=recipes.EVAL_SEED), 15)
icl_scores_15 = detectors.induction_scores(lm_icl, repeated_tokens(64, 15, lm.cfg.d_vocab, seed=recipes.EVAL_SEED), 15)
display(plots.plot_head_scores(icl_scores, colorbar_label="escore de indução",
                               title="lm_icl: escore de indução em [BOS, x, x] (n = 20)"))
icl_heads = [(l, h) for l, h in (icl_scores > 0.3).nonzero().tolist()]
print("cabeças de indução do lm_icl (escore > 0,3):", [f"{l}.{h}: {icl_scores[l, h].item():.2f}" for l, h in icl_heads])
print(f"com n = 15: maior escore no lm_icl {icl_scores_15.max().item():.2f} | no lm (controle) {lm_scores_15.max().item():.2f}")
assert icl_heads and all(l == lm_icl.cfg.n_layers - 1 for l, _ in icl_heads) and lm_scores_15.max() < 0.2

# %% [markdown]
# Há cabeças de indução na camada 1, e o `lm` não tem nenhuma. Elas se formaram numa
# mudança de fase? A curva do treino (guardada no `.json` do checkpoint, uma avaliação a
# cada 10 passos em passagens nunca vistas) tem a perda na 2ª ocorrência dos trechos
# sorteados e o escore de indução. A marca vem, como antes, da **inclinação da perda**
# (`induction.phase_change_step`), não de um limiar no escore.

# %% tags=["nbval-ignore-output"]
icl_curve = icl_meta["curva_de_treino"]
icl_phase = induction.phase_change_step(icl_curve["step"], icl_curve["random_second_occurrence_loss"])
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
ax_loss.plot(icl_curve["step"], icl_curve["random_first_occurrence_loss"], color="gray",
             label="trecho sorteado, 1ª ocorrência (controle)")
ax_loss.plot(icl_curve["step"], icl_curve["random_second_occurrence_loss"], color=plots.POSITIVE_COLOR,
             label="trecho sorteado, 2ª ocorrência")
ax_loss.plot(icl_curve["step"], icl_curve["grammar_second_occurrence_loss"], color=plots.POSITIVE_COLOR,
             linestyle="--", label="trecho da gramática, 2ª ocorrência")
ax_score.plot(icl_curve["step"], icl_curve["induction_score"], color=plots.NEGATIVE_COLOR)
ax_score.set_ylim(0, 1)
for ax in (ax_loss, ax_score):
    ax.axvline(icl_phase, color="black", linestyle=":", linewidth=1.2, label="mudança de fase (inclinação da perda)")
    ax.set_xlabel("passo de treino")
ax_loss.set_ylabel("perda (nats)")
ax_score.set_ylabel("escore de indução em [BOS, x, x]")
ax_loss.legend(fontsize=7)
ax_loss.set_title("lm_icl: perda nos trechos que voltam")
ax_score.set_title("lm_icl: escore de indução (melhor cabeça)")
fig.tight_layout()
plt.close(fig)
display(fig)
print(f"mudança de fase (maior inclinação da perda na 2ª ocorrência dos sorteados): passo {icl_phase}")
steps = icl_curve["step"]
for lo, hi in ((0, icl_phase - 200), (icl_phase - 200, icl_phase + 200), (icl_phase + 200, steps[-1] + 1)):
    idx = [i for i, s in enumerate(steps) if lo <= s < hi]
    mean = lambda key: sum(icl_curve[key][i] for i in idx) / len(idx)
    print(f"  passos {steps[idx[0]]:>4}–{steps[idx[-1]]:>4}: escore de indução médio {mean('induction_score'):.2f} | "
          f"perda na 2ª ocorrência dos sorteados {mean('random_second_occurrence_loss'):.2f} | "
          f"na 1ª {mean('random_first_occurrence_loss'):.2f}")
before = [s for t, s in zip(steps, icl_curve["induction_score"]) if t < icl_phase - 100]
print(f"escore de indução: no máximo {max(before):.2f} até 100 passos antes da marca; {icl_curve['induction_score'][-1]:.2f} no fim")
assert icl_phase == icl_curve["phase_change_step"]
assert max(before) < 0.1 and icl_curve["induction_score"][-1] > 0.3

# %% [markdown]
# A perda na 2ª ocorrência dos trechos sorteados desce devagar por mais de mil passos e
# então despenca em umas poucas centenas; o escore de indução, medido à parte em
# `[BOS, x, x]`, fica abaixo de 0,1 até a marca e sobe logo depois dela (com atraso e
# ruído: `[BOS, x, x]` de 20 tokens não é o texto do treino, onde os trechos têm de 4 a 8
# palavras). A 1ª ocorrência (o controle: ali não há o que copiar) não se mexe. Os trechos
# da gramática que voltam vão ficando baratos aos poucos desde o começo (a gramática e os
# atalhos do texto ajudam antes de haver indução), e caem mais um degrau na mesma janela.
#
# Por fim, a prova causal: trocar as cabeças de indução pela média delas (ablação pela média,
# `ablation.ablate_heads(..., mode="mean")`) deve devolver a 2ª ocorrência dos trechos
# sorteados para perto da 1ª, e mexer pouco no resto do texto (os tokens que não repetem
# nada). O controle é a ablação das **outras** cabeças da mesma camada.
#
# ✍️ **Preveja:** quanto sobe a perda na 2ª ocorrência dos trechos sorteados? E nos tokens
# que não repetem nada?

# %% tags=["nbval-ignore-output"]
def icl_losses(heads):
    """Perdas por tipo de token, com `heads` trocadas pela média (ou intactas, heads=[])."""
    with torch.no_grad():
        logits = ablation.ablate_heads(lm_icl, rep_text, heads, mode="mean") if heads else lm_icl(rep_text)
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), rep_text[:, 1:].flatten(), reduction="none").view(len(rep_text), -1)
    inside = torch.zeros_like(rep_src, dtype=torch.bool)
    inside[:, 1:] = (rep_src[:, 1:] >= 1) & (rep_src[:, :-1] == rep_src[:, 1:] - 1)
    return {"2ª ocorrência, sorteados": float(loss[(inside & rep_rnd)[:, 1:]].mean()),
            "2ª ocorrência, gramática": float(loss[(inside & ~rep_rnd)[:, 1:]].mean()),
            "tokens que não repetem": float(loss[(rep_src < 0)[:, 1:]].mean())}

last_layer = lm_icl.cfg.n_layers - 1
other_heads = [(last_layer, h) for h in range(lm_icl.cfg.n_heads) if (last_layer, h) not in icl_heads]
table = {"intacto": icl_losses([]),
         f"sem {', '.join(f'{l}.{h}' for l, h in icl_heads)} (indução)": icl_losses(icl_heads),
         f"sem {', '.join(f'{l}.{h}' for l, h in other_heads)} (controle)": icl_losses(other_heads)}
print(f"{'':<28}" + "".join(f"{k:>28}" for k in table["intacto"]))
for name, row in table.items():
    print(f"{name:<28}" + "".join(f"{v:>28.2f}" for v in row.values()))
(base, ablated, control) = table.values()
rise = {k: ablated[k] - base[k] for k in base}
rise_control = {k: control[k] - base[k] for k in base}
print("aumento com a ablação da indução:", {k: round(v, 2) for k, v in rise.items()})
print("aumento com a ablação do controle:", {k: round(v, 2) for k, v in rise_control.items()})
assert rise["2ª ocorrência, sorteados"] > 3.0 and ablated["2ª ocorrência, sorteados"] > first_r
assert abs(rise["tokens que não repetem"]) < 0.1 * rise["2ª ocorrência, sorteados"]
assert rise_control["2ª ocorrência, sorteados"] < 0.3 * rise["2ª ocorrência, sorteados"]

# %% [markdown]
# Sem as cabeças de indução, a 2ª ocorrência dos trechos sorteados volta a custar caro
# (mais até que a 1ª ocorrência, compare com a primeira tabela), e a dos trechos da
# gramática também sobe; nos tokens que não repetem nada a perda sobe mais de dez vezes
# menos: o efeito é **específico** da cópia. Tirar as outras duas cabeças da camada 1 (o
# controle) custa o mesmo no resto do texto, mas mexe muito menos na cópia dos sorteados. Um escore ICL
# negativo, sozinho, não prova indução (a versão anterior do `lm_icl` tinha um e nenhuma
# cabeça de indução); com o escore das cabeças, a curva do treino e a ablação com controle,
# aqui a indução está medida num modelo de linguagem.
#
# ## Resumo
#
# - Sequências aleatórias repetidas `[BOS, x, x]` isolam a indução: a primeira cópia é
#   imprevisível (perda $\approx \log(d_{vocab}-1)$), a segunda é trivial para quem induz.
# - O logit da posição $t$ prevê o token $t+1$: `logits[:, :-1]` com `tokens[:, 1:]`.
# - Uma cabeça de indução olha para a diagonal $-(n-1)$ (o token **seguinte** à ocorrência
#   anterior); a diagonal $-n$ seria o próprio token repetido.
# - O circuito: cabeça de token anterior (camada 0) + cabeça de indução (camada 1), via
#   composição K e OV de cópia; sem a cabeça de token anterior, a indução some.
# - No treino a indução aparece numa mudança de fase: a perda na 2ª cópia despenca numa
#   janela curta (marcada pela inclinação da perda, nos passos ~120–150 em três sementes) e o
#   escore de indução sobe na mesma janela. Com uma camada e o mesmo treino ela não aparece
#   (escore ≤ 0,13); a camada única aprende outro truque, desconfiar dos tokens já repetidos.
# - O escore ICL de Olsson em `[BOS, x, x]` é só (2ª cópia) − (1ª cópia); em texto ele só
#   vira evidência ao lado de um controle (no `lm`, o ótimo da gramática ganha o mesmo; no
#   `lm_icl`, texto sem repetições).
# - Num modelo de linguagem (`lm_icl`), trechos que a gramática não prevê e que voltam fazem
#   surgir cabeças de indução na camada 1, numa mudança de fase marcada pela perda; a
#   ablação delas pela média desfaz a cópia e mexe pouco no resto do texto (com controle).
#
# **Próximo passo:** `exercises/08_cabecas_de_inducao.ipynb`, e depois o notebook 09,
# que abre o circuito de indução peça por peça.
