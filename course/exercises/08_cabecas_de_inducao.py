# %% [markdown]
# # 08 · Exercícios: cabeças de indução
#
# Você vai montar, peça por peça, a sonda de indução da lição: os tokens repetidos, a
# log-probabilidade do token correto em cada posição, as perdas das duas cópias, o escore
# de indução e uma máscara de indução que funciona em **qualquer** sequência. Depois, duas
# investigações com as suas funções: qual cabeça do modelo é a de indução, e em que passo
# de um treino guardado acontece a mudança de fase.
#
# **O que você vai praticar**
#
# - montar `[BOS, x_1..x_n, x_1..x_n]` com `torch.cat`;
# - alinhar logits e alvos (a posição $t$ prevê o token $t+1$);
# - achar a diagonal certa de um padrão de atenção, $-(n-1)$, e as consultas certas;
# - escrever com operações vetorizadas a regra "a chave é o token seguinte a uma ocorrência
#   anterior do token atual";
# - descobrir coisas com o seu código: a cabeça de indução e a mudança de fase, medida pela
#   inclinação da perda.
#
# **Tempo estimado:** ~70 min
#
# **Pré-requisitos:** a lição `notebooks/08_cabecas_de_inducao.ipynb`. Aqui não há treino:
# usamos o checkpoint `induction` e as curvas de treino guardadas em
# `course_lib/checkpoints/induction_curves.json`.

# %%
from course_lib.notebook import setup

setup()

import json

import torch

from course_lib import detectors, induction, load_pretrained, plots, recipes
from course_lib.pretrained import CHECKPOINT_DIR
from course_lib.checks import check, when_solved
from course_lib.data import repeated_tokens

model = load_pretrained("induction")
seq_len = 20
tokens = repeated_tokens(8, seq_len, model.cfg.d_vocab, seed=1)
logits, cache = model.run_with_cache(tokens)
print("tokens:", tuple(tokens.shape), "| logits:", tuple(logits.shape), "| padrão da camada 1:",
      tuple(cache["pattern", 1].shape))

# %% [markdown]
# ## Exercício 08.make_repeated_tokens · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** montar o lote `[BOS, x_1..x_n, x_1..x_n]` a partir dos tokens aleatórios `x`.
#
# O sorteio já vem pronto (é o argumento `random_tokens`); sua função só monta o formato.
# O resultado tem formato `[batch, 1 + 2n]` e o mesmo `dtype` de `random_tokens`.

# %% tags=["exercise"] exercise="08.make_repeated_tokens" points=1
def make_repeated_tokens(random_tokens: torch.Tensor, bos: int) -> torch.Tensor:
    """Sequências repetidas para a sonda de indução.

    random_tokens: [batch, n] ids sorteados (sem o BOS).
    bos: id do token BOS.
    Devolve [batch, 1 + 2n] = [BOS, x_1..x_n, x_1..x_n] em cada linha.
    """
    # BEGIN SOLUCAO
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([bos_col, random_tokens, random_tokens], dim=1)
    # END SOLUCAO


# %% tags=["check"]
check("08.make_repeated_tokens", make_repeated_tokens)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Cada linha tem três pedaços lado a lado: uma coluna só com o BOS e duas vezes a
# mesma sequência. Qual operação junta tensores ao longo das colunas?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.full` cria a coluna do BOS com o `dtype` certo; `torch.cat(..., dim=1)` junta as peças.
#
# </details>

# %%
with when_solved("o seu lote no modelo"):
    mine = make_repeated_tokens(tokens[:, 1:seq_len + 1], 0)
    print("igual ao lote de repeated_tokens:", torch.equal(mine, tokens))

# %% [markdown]
# ## Exercício 08.logprob_correct · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular, em cada posição, a log-probabilidade que o modelo dá ao token que de fato vem a seguir.
#
# Os logits da posição $t$ são a previsão do token $t+1$. Então a saída tem `pos - 1`
# colunas: a coluna $t$ é $\log p(\text{tokens}[:, t+1] \mid \text{tokens}[:, :t+1])$.

# %% tags=["exercise"] exercise="08.logprob_correct" points=2
def logprob_correct(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probabilidade do token correto em cada posição.

    logits: [batch, pos, d_vocab]; tokens: [batch, pos] (ids).
    Devolve [batch, pos - 1]: a coluna t é log p(tokens[:, t+1]) segundo logits[:, t].
    """
    # BEGIN SOLUCAO
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    return log_probs.gather(-1, tokens[:, 1:, None])[..., 0]
    # END SOLUCAO


# %% tags=["check"]
check("08.logprob_correct", logprob_correct)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A coluna $t$ compara a previsão feita em $t$ com o token que está em $t+1$. Quais
# posições dos logits têm um "próximo token"? Quais tokens alguém previu?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.log_softmax` no eixo do vocabulário (estável; `softmax` seguido de `log` dá `-inf`
# com logits grandes) e `Tensor.gather` no último eixo para escolher uma entrada por posição.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Corte os logits até a penúltima posição e os tokens a partir da segunda; o índice do
# `gather` precisa de um eixo extra no fim (`[..., None]`), que você tira depois.
#
# </details>

# %%
with when_solved("a log-probabilidade do token certo no modelo de indução"):
    mine = logprob_correct(logits, tokens)
    print("igual a induction.per_position_logprob_correct (atol 1e-5):",
          torch.allclose(mine, induction.per_position_logprob_correct(model, tokens), atol=1e-5))
    plots.plot_per_position_loss(-mine.mean(0), seq_len=seq_len, title="Sua conta: perda por posição em [BOS, x, x]")

# %% [markdown]
# ## Exercício 08.half_losses · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** a partir das log-probabilidades por posição, calcular a perda média na 1ª cópia e no resto da 2ª cópia.
#
# A entrada é a saída do exercício anterior para tokens `[BOS, x_1..x_n, x_1..x_n]`:
# formato `[batch, 2n]`, com a coluna $t$ prevendo o token $t+1$. Então:
#
# - 1ª cópia: colunas $0..n-1$ (prevendo $x_1..x_n$);
# - a coluna $n$ prevê o $x_1$ da 2ª cópia, que nem a indução acerta (a transição
#   $x_n \to x_1$ nunca apareceu): fica de fora;
# - resto da 2ª cópia: colunas $n+1..2n-1$.
#
# A perda é $-\log p$, na média do lote e das colunas. Devolva as duas perdas num tensor `[2]`.

# %% tags=["exercise"] exercise="08.half_losses" points=1
def half_losses(logprobs: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Perdas médias nas duas cópias de [BOS, x_1..x_n, x_1..x_n] (n = seq_len).

    logprobs: [batch, 2n], log p do token correto por posição (coluna t prevê o token t+1).
    Devolve [2]: (perda na 1ª cópia, perda na 2ª cópia sem o seu primeiro token).
    """
    # BEGIN SOLUCAO
    first = -logprobs[:, :seq_len].mean()
    second = -logprobs[:, seq_len + 1:].mean()
    return torch.stack([first, second])
    # END SOLUCAO


# %% tags=["check"]
check("08.half_losses", half_losses)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Perda é menos a log-probabilidade. Quais colunas são a 1ª cópia e qual coluna fica de fora?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Duas fatias no eixo das posições, cada uma com `.mean()`, e `torch.stack` para juntar as duas perdas.
#
# </details>

# %%
with when_solved("as perdas das duas cópias"):
    mine = half_losses(logprob_correct(logits, tokens), seq_len)
    print(f"sua função: 1ª cópia {mine[0]:.2f} | 2ª cópia {mine[1]:.2f} nats")
    print("igual a induction.repeated_half_loss (atol 1e-4):",
          torch.allclose(mine, torch.tensor(induction.repeated_half_loss(model, tokens, seq_len)), atol=1e-4))

# %% [markdown]
# ## Exercício 08.induction_score · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular o escore de indução de cada cabeça a partir dos padrões de atenção em tokens repetidos.
#
# Para tokens `[BOS, x_1..x_n, x_1..x_n]`, a consulta $q$ da 2ª cópia ($q \ge n+1$) deve
# olhar para a chave $q - (n-1)$: o token **seguinte** à ocorrência anterior do token atual.
# O escore é a média de `pattern[b, h, q, q-(n-1)]` sobre o lote e sobre
# $q = n+1, \dots, 2n$.

# %% tags=["exercise"] exercise="08.induction_score" points=2
def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Escore de indução de cada cabeça.

    pattern: [batch, n_heads, pos, pos] com pos = 1 + 2·seq_len (tokens [BOS, x, x]).
    Devolve [n_heads]: média de pattern[b, h, q, q-(seq_len-1)] sobre b e q = seq_len+1..2·seq_len.
    """
    # BEGIN SOLUCAO
    diag = torch.diagonal(pattern, offset=-(seq_len - 1), dim1=-2, dim2=-1)
    return diag[..., 2:].mean(dim=(0, -1))
    # END SOLUCAO


# %% tags=["check"]
check("08.induction_score", induction_score)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Desenhe `[BOS, a, b, c, a, b, c]` ($n = 3$) num papel: quando a consulta é o segundo `a`,
# qual posição tem o token que vem a seguir? Quanto isso é, em função de $q$ e $n$?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.diagonal(pattern, offset=..., dim1=-2, dim2=-1)` devolve as entradas $(q, q+\text{offset})$
# em ordem de $q$, a partir da primeira consulta em que a chave existe. Quais dessas consultas
# estão na 2ª cópia?
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Com offset $-(n-1)$ a diagonal começa na consulta $q = n-1$; as duas primeiras entradas
# ($q = n-1$ e $q = n$) são da 1ª cópia. Tire-as e tire a média no lote e nas consultas.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** alguma cabeça da camada 0 vai ter escore de indução acima de 0,1? Quantas da
# camada 1 passam de 0,5?

# %%
with when_solved("o escore de indução de cada cabeça"):
    mine = torch.stack([induction_score(cache["pattern", layer], seq_len) for layer in range(model.cfg.n_layers)])
    print("igual a detectors.induction_scores (atol 1e-5):",
          torch.allclose(mine, detectors.induction_scores(model, cache, seq_len), atol=1e-5))
    plots.plot_head_scores(mine, colorbar_label="escore de indução", title="Sua função: escore de indução por cabeça")

# %% [markdown]
# ## Exercício 08.induction_mask · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** para uma sequência qualquer de tokens, marcar com 1 as chaves para onde uma cabeça de indução ideal deveria olhar.
#
# A regra vale para qualquer texto, não só para `[BOS, x, x]`: a consulta $q$ marca a
# chave $k$ quando o token **antes** de $k$ é igual ao token da consulta,
# `tokens[k-1] == tokens[q]`, com $1 \le k \le q$ (nada no futuro; $k = q$ é permitido,
# quando `tokens[q-1] == tokens[q]`). Resultado: `[pos, pos]` de `float` com 0 e 1. Uma
# consulta pode marcar várias chaves (se o token apareceu várias vezes) ou nenhuma.
#
# Com essa máscara, `detectors.detect_pattern` mede indução em qualquer sequência.

# %% tags=["exercise"] exercise="08.induction_mask" points=3
def induction_mask(tokens: torch.Tensor) -> torch.Tensor:
    """Máscara de indução de uma sequência.

    tokens: [pos] ids.
    Devolve [pos, pos] float: 1 em (q, k) se 1 <= k <= q e tokens[k-1] == tokens[q]; 0 no resto.
    """
    # BEGIN SOLUCAO
    pos = tokens.shape[0]
    same = tokens[None, :-1] == tokens[:, None]  # [q, j]: tokens[j] == tokens[q], chave k = j + 1
    q_idx = torch.arange(pos)[:, None]
    k_idx = torch.arange(1, pos)[None, :]
    mask = torch.zeros(pos, pos)
    mask[:, 1:] = (same & (k_idx <= q_idx)).float()
    return mask
    # END SOLUCAO


# %% tags=["check"]
check("08.induction_mask", induction_mask)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A regra compara o token da consulta com o token ANTES de cada chave. Uma comparação de
# todos contra todos dá uma matriz de verdadeiros e falsos; falta deslocá-la uma coluna e
# apagar o futuro.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Com *broadcasting*, `a[:, None] == b[None, :]` compara todos os pares; `torch.arange` nos dois
# eixos dá os índices $q$ e $k$ para impor $k \le q$.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `same[q, j]` = `tokens[j] == tokens[q]` para $j$ até `pos-2`; a chave é $k = j + 1$, então
# `same` vai para as colunas `1:` de uma máscara de zeros. Um laço duplo em Python também é aceito.
#
# </details>

# %% [markdown]
# Com a máscara pronta, dá para medir indução em sequências que não são `[BOS, x, x]`.
# Abaixo, quatro cópias de um trecho de 15 tokens: na 3ª e na 4ª cópias, cada consulta tem
# duas ou três chaves certas (uma depois de cada ocorrência anterior).

# %%
with when_solved("o escore de indução em quatro cópias"):
    segment = repeated_tokens(4, 15, model.cfg.d_vocab, seed=5)[:, 1:16]
    four_copies = torch.cat([torch.zeros(4, 1, dtype=torch.long)] + [segment] * 4, dim=1)  # [4, 61]
    masks = torch.stack([induction_mask(row) for row in four_copies])  # [lote, pos, pos]
    scores = detectors.detect_pattern(model, four_copies, masks)
    print("tokens:", tuple(four_copies.shape), "| máscaras:", tuple(masks.shape))
    print("escore de indução com a sua máscara, camada 1:", [f"{v:.2f}" for v in scores[1].tolist()])

# %% [markdown]
# ## Exercício 08.find_induction_head · Dificuldade ★★☆ · ~10 min · investigação
#
# **Objetivo:** descobrir, com a sua `induction_score`, qual cabeça do modelo é a cabeça de indução.
#
# Escreva `find_induction_head(model, tokens, seq_len)`: rode o modelo nos tokens
# `[BOS, x, x]`, meça o escore de indução de **todas** as cabeças de todas as camadas e
# devolva a de maior escore como uma tupla de dois `int`, `(camada, cabeça)`. Cabeças
# empatadas com a melhor (menos de 0,02 abaixo dela) também são aceitas. O corretor
# usa outros lotes e outros comprimentos $n$.

# %% tags=["exercise"] exercise="08.find_induction_head" points=2 kind="investigation"
def find_induction_head(model, tokens: torch.Tensor, seq_len: int) -> tuple[int, int]:
    """(camada, cabeça) com o maior escore de indução em tokens [BOS, x_1..x_n, x_1..x_n]."""
    # BEGIN SOLUCAO
    _, run_cache = model.run_with_cache(tokens)
    table = torch.stack([induction_score(run_cache["pattern", layer], seq_len)
                         for layer in range(model.cfg.n_layers)])  # [n_layers, n_heads]
    layer, head = divmod(int(table.argmax()), model.cfg.n_heads)
    return layer, head
    # END SOLUCAO


# %% tags=["check"]
check("08.find_induction_head", find_induction_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Você já tem a medida; falta aplicá-la a cada camada e escolher a maior de uma tabela
# `[n_layers, n_heads]`.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `model.run_with_cache(tokens)` dá o cache; `cache["pattern", layer]` tem formato
# `[lote, cabeça, q, k]`, o que a sua `induction_score` recebe. `torch.stack` monta a
# tabela e `argmax` num tensor 2D devolve um índice achatado.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `divmod(indice_achatado, model.cfg.n_heads)` converte o índice em `(camada, cabeça)`;
# devolva `int`s (use `int(...)`), não tensores.
#
# </details>

# %%
with when_solved("a cabeça de indução que você encontrou"):
    for n in (10, 20, 31):
        found = find_induction_head(model, repeated_tokens(8, n, model.cfg.d_vocab, seed=7), n)
        print(f"n = {n:>2}: cabeça de indução {found[0]}.{found[1]}")

# %% [markdown]
# ## Exercício 08.find_phase_change_step · Dificuldade ★★☆ · ~15 min · investigação
#
# **Objetivo:** achar, numa curva de treino guardada, o passo da mudança de fase, medido pela inclinação da perda.
#
# A lição marcou a mudança de fase onde a perda na 2ª cópia cai **mais depressa**, não onde
# o escore de indução passa de um limiar. Escreva `find_phase_change_step(steps, loss)`:
# `steps` são os passos de treino das avaliações (em ordem crescente) e `loss` a perda
# medida em cada um. Suavize a curva (uma média móvel de poucos pontos: a perda avaliada
# tem ruído), calcule a inclinação $\Delta\text{perda}/\Delta\text{passo}$ entre pontos
# vizinhos e devolva o **passo** (um `int`) da queda mais forte. Qualquer passo dentro da
# janela da queda é aceito. Não vale chamar `induction.phase_change_step`.

# %% tags=["exercise"] exercise="08.find_phase_change_step" points=2 kind="investigation"
def find_phase_change_step(steps: list[int], loss: list[float]) -> int:
    """Passo de treino em que a perda (suavizada) cai mais depressa."""
    # BEGIN SOLUCAO
    s = torch.tensor(steps, dtype=torch.float64)
    y = torch.tensor(loss, dtype=torch.float64)
    window = 5
    smooth = y.unfold(0, window, 1).mean(-1)  # média móvel
    centres = s.unfold(0, window, 1).mean(-1)
    slope = smooth.diff() / centres.diff()
    i = int(slope.argmin())
    return int(round(float((centres[i] + centres[i + 1]) / 2)))
    # END SOLUCAO


# %% tags=["check"]
check("08.find_phase_change_step", find_phase_change_step)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# "Cai mais depressa" é uma derivada: a mais negativa. Sem suavizar, um único ponto ruidoso
# pode ganhar. E a resposta é um passo de treino, não a posição na lista.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.tensor(..., dtype=torch.float64)`, `Tensor.unfold(0, janela, 1).mean(-1)` (média
# móvel) e `Tensor.diff()` (diferenças entre vizinhos). Faça a média móvel também nos passos,
# para saber a que passo cada ponto suavizado corresponde.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `inclinação = perda_suave.diff() / passos_suaves.diff()`; o `argmin` dela dá o intervalo
# da queda mais forte; devolva o passo no meio desse intervalo, convertido com `int(round(...))`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** nas três sementes guardadas, a mudança de fase cai no mesmo trecho do
# treino ou espalhada por centenas de passos? E com uma só camada, onde sua função vai
# marcar (e isso quer dizer alguma coisa)?

# %%
with when_solved("a mudança de fase das curvas guardadas"):
    curves = json.loads((CHECKPOINT_DIR / recipes.CURVES_PATH).read_text(encoding="utf-8"))
    for run in curves["runs"]:
        step = find_phase_change_step(run["step"], run["second_copy_loss"])
        print(f"{run['n_layers']} camada(s), semente {run['seed']}: maior queda no passo {step} | "
              f"escore de indução no fim {run['induction_score'][-1]:.2f}")

# %% [markdown]
# Nas curvas de uma camada a função também devolve um passo (toda curva tem uma queda mais
# forte), mas ali não há degrau nenhum: a perda desce devagar e com ruído, e o escore de
# indução fica baixo. Um marcador só vira "mudança de fase" quando a queda é uma janela curta
# e grande, e outra medida (o escore) muda junto.

# %%
print("fim dos exercícios do notebook 08")
