# %% [markdown]
# # 07 · Cabeças de indução
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
# - o placar de indução: a diagonal com deslocamento $-(n-1)$ e por que não $-n$;
# - o circuito por trás (cabeça de token anterior + cabeça de indução), numa primeira olhada;
# - a **mudança de fase** no treino de um modelo de 2 camadas, e por que 1 camada não basta;
# - o placar de aprendizado em contexto (ICL) de Olsson et al. (2022).
#
# **Tempo estimado:** ~45 min
#
# **Pré-requisitos:** o notebook 06 (tipos de cabeças, placares a partir de padrões de
# atenção, `detectors`), entropia cruzada e log-probabilidades.

# %%
from course_lib.notebook import setup

setup()

import math

import matplotlib.pyplot as plt
import torch

from course_lib import ablation, circuits, detectors, induction, plots, recipes
from course_lib import Config, HookedTransformer, load_metadata, load_pretrained
from course_lib.data import induction_training_batch, repeated_tokens
from course_lib.train import train

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
# Então usamos `logits[:, :-1]` (não há o que prever depois do último token) e os alvos
# `tokens[:, 1:]` (ninguém prevê o BOS). O resultado tem `pos - 1` colunas.

# %%
model = load_pretrained("induction")
meta = load_metadata("induction")
seq_len = 20
tokens = repeated_tokens(16, seq_len, model.cfg.d_vocab, seed=1)

logits = model(tokens)  # [batch, pos, d_vocab]
log_probs = torch.log_softmax(logits[:, :-1], dim=-1)  # posição t prevê o token t+1
logprob_correct = log_probs.gather(-1, tokens[:, 1:, None])[..., 0]  # [batch, pos-1]
print("tokens:", tuple(tokens.shape), "-> log-prob do token correto:", tuple(logprob_correct.shape))

library = induction.per_position_logprob_correct(model, tokens)
print("igual a induction.per_position_logprob_correct:", torch.allclose(logprob_correct, library, atol=1e-5))

# %% [markdown]
# A perda por posição é $-\log p(\text{token correto})$. O gráfico abaixo usa
# `induction.per_position_loss` (a média do batch) e marca onde começa a segunda cópia.

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
first_copy = loss_per_pos[:seq_len].mean().item()
x1_second = loss_per_pos[seq_len].item()
rest_second = loss_per_pos[seq_len + 1:].mean().item()
print(f"perda média na 1ª cópia:          {first_copy:.3f}  (acaso: {chance_loss:.3f})")
print(f"perda no x_1 da 2ª cópia:         {x1_second:.3f}")
print(f"perda média no resto da 2ª cópia: {rest_second:.3f}")
print(f"probabilidade média do token certo no resto da 2ª cópia: "
      f"{logprob_correct[:, seq_len + 1:].exp().mean().item():.1%}")
halves = induction.repeated_half_loss(model, tokens, seq_len)
print(f"induction.repeated_half_loss: ({halves[0]:.3f}, {halves[1]:.3f})")
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
# ## 3. O placar de indução
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
# O placar de indução (`detectors.induction_scores`) é a atenção média nessa diagonal.

# %%
ind_scores = detectors.induction_scores(model, tokens, seq_len)
induction_head = meta["metrics"]["induction_head"]
L_ind, H_ind = (int(x) for x in induction_head.split("."))
print(f"cabeça de indução segundo os metadados: {induction_head}")
print(f"melhor placar da camada 1: cabeça 1.{int(ind_scores[1].argmax())} ({ind_scores[1].max().item():.3f})")
assert int(ind_scores[1].argmax()) == H_ind
assert ind_scores[1].min() > 0.5 and ind_scores[0].max() < 0.1  # o texto abaixo depende disto
plots.plot_head_scores(ind_scores, title="Placar de indução em tokens repetidos (seq_len = 20)")

# %% [markdown]
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
    print(f"chave mais atendida = {name:<9}: {frac:.0%} das consultas da 2ª cópia")

# %% [markdown]
# E a imagem, numa sequência curta ($n = 10$) para caber na tela. A listra fora da
# diagonal principal, na metade de baixo, é a indução.

# %%
short = repeated_tokens(1, 10, model.cfg.d_vocab, seed=2)
_, short_cache = model.run_with_cache(short)
plots.plot_attention(short_cache["pattern", L_ind][0, H_ind], [str(t) for t in short[0].tolist()],
                     title=f"Cabeça de indução {induction_head} (n = 10)")

# %% [markdown]
# Na primeira cópia a cabeça quase sempre estaciona no BOS (não há o que copiar, como
# vimos no notebook 06); na segunda, segue a listra $k = q - 9$.
#
# "Quase sempre": como os tokens são sorteados com reposição, às vezes um token se repete
# **dentro** da primeira cópia. Em princípio isso já basta para a indução: o token atual
# apareceu antes, e o seguinte a ele é um bom palpite. A cabeça aproveita? Para cada
# consulta da 1ª cópia cujo token já tinha aparecido, comparamos a chave mais atendida com
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
# Esse alguém é a cabeça de token anterior da camada 0. O circuito de indução tem então
# duas peças:
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
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
    return -lp[:, seq_len + 1:].mean().item()


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
print(f"cabeça {induction_head}: o maior logit escrito é o do próprio token atendido em {diag_wins:.0%} dos tokens")
print(f"cabeça {induction_head}: placar de cópia (autovalores do OV completo) = {copy_score:.2f}")
print(f"cabeça {induction_head}: placar de token ATUAL (atenção em si mesma) = {current:.3f}")

# %% [markdown]
# Copia quase perfeitamente, e quase nunca olha para si mesma: é uma cabeça de cópia, não
# de token atual. O notebook 08 faz a engenharia reversa completa desse circuito.
#
# ## 5. Ao vivo: treinando um modelo até a indução aparecer
#
# Agora o experimento mais bonito do tema. Vamos treinar, do zero, um transformer de 2
# camadas só de atenção em textos com trechos repetidos, e medir o placar de indução a
# cada 25 passos.
#
# A receita é a do checkpoint `induction` (em `course_lib.recipes`), com duas mudanças para
# caber em poucos segundos: contexto de 32 tokens em vez de 64 e taxa de aprendizado
# constante. O treino **para sozinho** quando o placar de indução passa de 0.9 (no máximo
# 2000 passos) — num laptop de 2 núcleos isso leva uns 10 a 15 segundos.

# %%
TRAIN_CFG = {k: v for k, v in recipes.INDUCTION_CFG.items() if k != "n_layers"}
TRAIN_CFG["n_ctx"] = 32  # a única mudança na arquitetura
MAX_STEPS, LR, BATCH = 2000, recipes.INDUCTION_TRAIN["lr"], recipes.INDUCTION_TRAIN["batch_size"]
print("configuração:", TRAIN_CFG)
print(f"no máximo {MAX_STEPS} passos | taxa de aprendizado: {LR} | lote: {BATCH}")

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
# A avaliação usa sequências repetidas fixas, `[BOS, x, x]` com $n = 15$ (o maior que
# cabe em 32 posições), que o treino nunca vê.

# %%
eval_len = 15
eval_tokens = repeated_tokens(32, eval_len, 64, seed=12345)


def evaluate(m: HookedTransformer) -> dict:
    """Placar de indução (melhor cabeça da última camada) e perdas nas duas cópias."""
    score = detectors.induction_scores(m, eval_tokens, eval_len)[-1].max().item()
    first, second = induction.repeated_half_loss(m, eval_tokens, eval_len)
    return {"induction_score": score, "first_copy_loss": first, "second_copy_loss": second}


def train_model(n_layers: int, n_steps: int, progress: bool, stop_at: float | None = None):
    """Treina do zero; com `stop_at`, para quando o placar de indução passa desse valor."""
    m = HookedTransformer(Config(n_layers=n_layers, **TRAIN_CFG))
    history = train(m, lambda g: induction_training_batch(BATCH, TRAIN_CFG["n_ctx"], TRAIN_CFG["d_vocab"], g),
                    n_steps=n_steps, lr=LR, seed=0, eval_fn=evaluate, eval_every=25, progress=progress,
                    stop_fn=(lambda metrics: metrics["induction_score"] > stop_at) if stop_at else None,
                    desc=f"{n_layers} camada(s)")
    return m, history


print("antes do treino:", {k: round(v, 2) for k, v in evaluate(HookedTransformer(Config(n_layers=2, **TRAIN_CFG))).items()})

# %%
model_2l, history_2l = train_model(n_layers=2, n_steps=MAX_STEPS, progress=True, stop_at=0.9)
print(f"parou no passo {history_2l['evals'][-1]['step']} com placar de indução "
      f"{history_2l['evals'][-1]['induction_score']:.3f}")
for record in history_2l["evals"][::4]:
    print(f"passo {record['step']:>3}: placar de indução {record['induction_score']:.2f} | "
          f"perda na 2ª cópia {record['second_copy_loss']:.2f}")

# %% [markdown]
# Para o gráfico, juntamos a perda de treino (a cada passo) com as avaliações (a cada 25
# passos) numa lista de registros, o formato que `plots.plot_loss_curve` aceita. A linha
# pontilhada marca o primeiro passo em que o placar de indução passa de 0.5.

# %%
def to_records(history: dict) -> list[dict]:
    evals = {e["step"]: e for e in history["evals"]}
    return [{"step": s, "loss": loss, **{k: v for k, v in evals.get(s, {}).items() if k != "step"}}
            for s, loss in enumerate(history["loss"], start=1)]


records_2l = to_records(history_2l)


def first_step_above(history: dict, level: float) -> int:
    return next(e["step"] for e in history["evals"] if e["induction_score"] > level)


phase_step = first_step_above(history_2l, 0.5)
print(f"placar de indução > 0.2 a partir do passo {first_step_above(history_2l, 0.2)}, "
      f"> 0.5 a partir do passo {phase_step}, > 0.8 a partir do passo {first_step_above(history_2l, 0.8)}")
print(f"tokens de treino vistos até lá: {phase_step * BATCH * TRAIN_CFG['n_ctx']:,}".replace(",", "."))
plots.plot_loss_curve(records_2l, second_metric="induction_score", smooth=5, phase_step=phase_step,
                      title="Treino ao vivo (2 camadas): perda e placar de indução")

# %% [markdown]
# Durante dezenas de passos quase nada acontece: a perda desce devagar e o placar de
# indução fica parado perto do valor inicial. Então, em poucas dezenas de passos, o placar
# dispara (veja os passos impressos acima) e a perda passa a cair bem mais depressa. Isso
# é uma **mudança de fase**: a capacidade não cresce aos poucos ao longo de todo o treino,
# ela aparece numa janela curta.
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
# Com uma camada não há camada anterior. Mesmo treino, mesmos dados, uma camada (por 400
# passos, para caber no tempo; a curva mostra que ela empaca bem antes disso):

# %%
model_1l, history_1l = train_model(n_layers=1, n_steps=400, progress=False)
final_2l, final_1l = history_2l["evals"][-1], history_1l["evals"][-1]
print(f"no fim de cada treino ({final_2l['step']} passos com 2 camadas, {final_1l['step']} com 1), "
      f"na avaliação (n = {eval_len}):")
for name, rec in [("2 camadas", final_2l), ("1 camada", final_1l)]:
    print(f"  {name}: placar de indução {rec['induction_score']:.2f} | perda na 1ª cópia "
          f"{rec['first_copy_loss']:.2f} | na 2ª cópia {rec['second_copy_loss']:.2f}")
print(f"  referências: acaso log(63) = {math.log(63):.2f} | 'um dos {eval_len} tokens já vistos' "
      f"log({eval_len}) = {math.log(eval_len):.2f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, hist, color in [("2 camadas", history_2l, plots.POSITIVE_COLOR), ("1 camada", history_1l, plots.NEGATIVE_COLOR)]:
    steps = [e["step"] for e in hist["evals"]]
    ax.plot(steps, [e["second_copy_loss"] for e in hist["evals"]], color=color, marker=".", label=name)
ax.axhline(math.log(63), color="gray", linestyle="--", linewidth=1, label="acaso: log(63)")
ax.axhline(math.log(eval_len), color="black", linestyle=":", linewidth=1, label=f"log({eval_len})")
ax.set_xlabel("passo de treino")
ax.set_ylabel("perda na 2ª cópia (nats)")
ax.set_title("Indução precisa de duas camadas")
ax.legend(fontsize=8)
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# O modelo de uma camada também melhora na segunda cópia, mas trava perto de
# $\log(n)$. A hipótese: ele aprende um truque mais fraco, "o próximo token é algum dos
# que já apareceram" (dá para fazer com uma cabeça que olha para os tokens anteriores e
# os copia). Sem saber **qual** deles vem a seguir, só consegue dividir a aposta entre os
# candidatos. Para testar, medimos no resto da 2ª cópia quanta probabilidade cada modelo
# põe no conjunto de tokens já vistos, e quanta no token certo:

# %%
@torch.no_grad()
def seen_vs_correct(m: HookedTransformer) -> tuple[float, float]:
    probs = torch.softmax(m(eval_tokens), dim=-1)  # [batch, pos, d_vocab]
    seen = torch.zeros_like(probs)
    for t in range(1, probs.shape[1]):
        seen[:, t].scatter_(1, eval_tokens[:, 1:t + 1], 1.0)  # tokens vistos até a posição t
    q = torch.arange(eval_len + 1, 2 * eval_len)  # posições que preveem o resto da 2ª cópia
    mass_seen = (probs[:, q] * seen[:, q]).sum(-1).mean().item()
    p_correct = probs[:, q].gather(-1, eval_tokens[:, q + 1, None]).mean().item()
    return mass_seen, p_correct


for name, m in [("2 camadas", model_2l), ("1 camada", model_1l)]:
    mass_seen, p_correct = seen_vs_correct(m)
    print(f"{name:<9}: probabilidade nos tokens já vistos {mass_seen:.0%} | no token certo {p_correct:.0%}")

# %% [markdown]
# O modelo de uma camada concentra boa parte da aposta nos tokens já vistos, mas pouca no
# certo; o de duas camadas põe quase tudo no certo. A indução de verdade, que leva a perda
# para perto de zero, só apareceu no modelo de duas camadas.
#
# ## 6. O placar de aprendizado em contexto
#
# Olsson et al. (2022) resumem "usar o contexto" num número: a perda num token tardio
# menos a perda num token do começo (no artigo, o 500º menos o 50º, com contexto de 512).
# Negativo quer dizer que mais contexto ajudou. `induction.in_context_learning_score`
# adapta as posições para contextos curtos (por padrão, ~10% do contexto e o último token).

# %%
icl = {}
for name, m, toks in [("checkpoint induction", model, tokens), ("2 camadas (treino ao vivo)", model_2l, eval_tokens),
                      ("1 camada (treino ao vivo)", model_1l, eval_tokens)]:
    icl[name] = induction.in_context_learning_score(m, toks)
    print(f"{name:<28}: placar ICL = {icl[name]:+.2f}  (tokens {tuple(toks.shape)})")
assert max(icl.values()) < 0 and icl["1 camada (treino ao vivo)"] > icl["2 camadas (treino ao vivo)"]

# %% [markdown]
# Nos três o placar é negativo (o contexto ajuda), mas o de uma camada fica bem atrás: a maior parte do ganho de usar o contexto, nesta tarefa, vem da indução.
#
# ## Resumo
#
# - Sequências aleatórias repetidas `[BOS, x, x]` isolam a indução: a primeira cópia é
#   imprevisível (perda $\approx \log(d_{vocab}-1)$), a segunda é trivial para quem induz.
# - O logit da posição $t$ prevê o token $t+1$: `logits[:, :-1]` com `tokens[:, 1:]`.
# - Uma cabeça de indução atende à diagonal $-(n-1)$ (o token **seguinte** à ocorrência
#   anterior); a diagonal $-n$ seria o próprio token repetido.
# - O circuito: cabeça de token anterior (camada 0) + cabeça de indução (camada 1), via
#   composição K e OV de cópia; sem a cabeça de token anterior, a indução some.
# - No treino a indução aparece numa mudança de fase; com uma camada ela não aparece.
#
# **Próximo passo:** `exercises/07_cabecas_de_inducao.ipynb`, e depois o notebook 08,
# que abre o circuito de indução peça por peça.
