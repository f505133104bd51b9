"""Verificações do notebook 08_cabecas_de_inducao (sequências repetidas e cabeças de indução)."""

from __future__ import annotations

import torch

from course_lib.checks import Case, Exercise, register


# ---------------------------------------------------------------------------
# 08.make_repeated_tokens
# ---------------------------------------------------------------------------
def make_repeated_tokens(random_tokens: torch.Tensor, bos: int) -> torch.Tensor:
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([bos_col, random_tokens, random_tokens], dim=1)


def _rep_no_bos(random_tokens, bos):
    return torch.cat([random_tokens, random_tokens], dim=1)


def _rep_bos_at_end(random_tokens, bos):
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([random_tokens, random_tokens, bos_col], dim=1)


def _rep_interleave(random_tokens, bos):
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([bos_col, random_tokens.repeat_interleave(2, dim=1)], dim=1)


def _rep_bos_each_copy(random_tokens, bos):
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([bos_col, random_tokens, bos_col, random_tokens], dim=1)


def _rep_one_copy(random_tokens, bos):
    bos_col = torch.full((random_tokens.shape[0], 1), bos, dtype=random_tokens.dtype)
    return torch.cat([bos_col, random_tokens], dim=1)


def _rep_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randint(1, 64, (2, 5), generator=gen), 0), description="batch=2, seq_len=5, BOS=0"),
        Case((torch.randint(1, 10, (1, 1), generator=gen), 0), description="lote de 1, um único token aleatório"),
        Case((torch.randint(0, 50, (3, 4), generator=gen), 50), description="BOS diferente de 0 (BOS=50)"),
        Case((torch.randint(1, 64, (4, 20), generator=gen), 0), description="batch=4, seq_len=20"),
    ]


register(
    Exercise(
        id="08.make_repeated_tokens",
        func_name="make_repeated_tokens",
        reference=make_repeated_tokens,
        make_cases=_rep_cases,
        points=1,
        output_names=("batch", "pos"),
        known_mistakes=[
            ("esqueceu o BOS no começo", _rep_no_bos),
            ("pôs o BOS no fim em vez de no começo", _rep_bos_at_end),
            ("intercalou (repeat_interleave: x1 x1 x2 x2 ...) em vez de repetir a sequência inteira", _rep_interleave),
            ("pôs um BOS antes de cada cópia: o formato é [BOS, x, x]", _rep_bos_each_copy),
            ("só uma cópia: a sequência aleatória precisa aparecer duas vezes", _rep_one_copy),
        ],
    )
)


# ---------------------------------------------------------------------------
# 08.logprob_correct
# ---------------------------------------------------------------------------
def logprob_correct(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    return log_probs.gather(-1, tokens[:, 1:, None])[..., 0]


def _lp_shift_both_forward(logits, tokens):
    log_probs = torch.log_softmax(logits[:, 1:], dim=-1)
    return log_probs.gather(-1, tokens[:, 1:, None])[..., 0]


def _lp_same_position(logits, tokens):
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    return log_probs.gather(-1, tokens[:, :-1, None])[..., 0]


def _lp_probs(logits, tokens):
    probs = torch.softmax(logits[:, :-1], dim=-1)
    return probs.gather(-1, tokens[:, 1:, None])[..., 0]


def _lp_raw_logits(logits, tokens):
    return logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]


def _lp_wrong_axis(logits, tokens):
    log_probs = torch.log_softmax(logits[:, :-1], dim=1)
    return log_probs.gather(-1, tokens[:, 1:, None])[..., 0]


def _lp_naive_log(logits, tokens):
    probs = torch.softmax(logits[:, :-1], dim=-1)
    return probs.log().gather(-1, tokens[:, 1:, None])[..., 0]


def _lp_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 6, 10, generator=gen), torch.randint(0, 10, (2, 6), generator=gen)),
             description="logits [2, 6, 10] aleatórios"),
        Case((torch.randn(1, 2, 5, generator=gen), torch.randint(0, 5, (1, 2), generator=gen)),
             description="lote de 1 com só duas posições (uma previsão)"),
        Case((torch.randn(3, 5, 7, generator=gen) * 1e4, torch.randint(0, 7, (3, 5), generator=gen)),
             description="logits enormes (escala 1e4)"),
        Case((torch.randn(4, 9, 64, generator=gen) * 3, torch.randint(0, 64, (4, 9), generator=gen)),
             description="vocabulário de 64, como o modelo de indução"),
    ]


register(
    Exercise(
        id="08.logprob_correct",
        func_name="logprob_correct",
        reference=logprob_correct,
        make_cases=_lp_cases,
        points=2,
        output_names=("batch", "pos_menos_1"),
        atol=1e-4,
        known_mistakes=[
            ("desalinhado: os logits da posição t preveem o token t+1; use logits[:, :-1] com tokens[:, 1:]",
             _lp_shift_both_forward),
            ("desalinhado: comparou os logits da posição t com o próprio token t (use tokens[:, 1:])",
             _lp_same_position),
            ("devolveu probabilidades (softmax), não log-probabilidades (log_softmax)", _lp_probs),
            ("usou os logits crus, sem log_softmax", _lp_raw_logits),
            ("log_softmax no eixo errado (use dim=-1, o vocabulário)", _lp_wrong_axis),
            ("log(softmax(...)) perde precisão com logits grandes; use torch.log_softmax", _lp_naive_log),
        ],
    )
)


# ---------------------------------------------------------------------------
# 08.induction_score
# ---------------------------------------------------------------------------
def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    diag = torch.diagonal(pattern, offset=-(seq_len - 1), dim1=-2, dim2=-1)  # q = seq_len-1 .. pos-1
    return diag[..., 2:].mean(dim=(0, -1))  # só q >= seq_len+1 (2ª cópia, a partir de x_2)


def _ind_offset_n(pattern, seq_len):
    diag = torch.diagonal(pattern, offset=-seq_len, dim1=-2, dim2=-1)
    return diag[..., 1:].mean(dim=(0, -1))


def _ind_offset_n_all(pattern, seq_len):
    return torch.diagonal(pattern, offset=-seq_len, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _ind_offset_n_plus_1(pattern, seq_len):
    return torch.diagonal(pattern, offset=-(seq_len + 1), dim1=-2, dim2=-1).mean(dim=(0, -1))


def _ind_positive_offset(pattern, seq_len):
    return torch.diagonal(pattern, offset=seq_len - 1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _ind_all_queries(pattern, seq_len):
    return torch.diagonal(pattern, offset=-(seq_len - 1), dim1=-2, dim2=-1).mean(dim=(0, -1))


def _ind_from_x1(pattern, seq_len):
    return torch.diagonal(pattern, offset=-(seq_len - 1), dim1=-2, dim2=-1)[..., 1:].mean(dim=(0, -1))


def _causal_random(gen, batch, heads, pos, scale=1.0):
    scores = torch.randn(batch, heads, pos, pos, generator=gen) * scale
    future = torch.triu(torch.ones(pos, pos, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _ideal_induction(seq_len: int) -> torch.Tensor:
    """[1, 2, pos, pos]: cabeça 0 = indução ideal; cabeça 1 = olha a ocorrência anterior (offset -seq_len)."""
    pos = 1 + 2 * seq_len
    ind = torch.zeros(pos, pos)
    dup = torch.zeros(pos, pos)
    for q in range(pos):
        ind[q, q - seq_len + 1 if q >= seq_len + 1 else 0] = 1.0
        dup[q, q - seq_len if q >= seq_len + 1 else 0] = 1.0
    return torch.stack([ind, dup])[None]


def _ind_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((_causal_random(gen, 2, 3, 11), 5), description="padrões aleatórios, seq_len=5 (pos=11)"),
        Case((_ideal_induction(6), 6), description="cabeça 0 de indução ideal e cabeça 1 que olha o token igual, seq_len=6"),
        Case((_causal_random(gen, 1, 2, 7, scale=20.0), 3), description="lote de 1, padrões quase one-hot, seq_len=3"),
        Case((_causal_random(gen, 3, 4, 41), 20), description="tamanho da lição: seq_len=20 (pos=41)"),
    ]


register(
    Exercise(
        id="08.induction_score",
        func_name="induction_score",
        reference=induction_score,
        make_cases=_ind_cases,
        points=2,
        output_names=("n_heads",),
        known_mistakes=[
            ("diagonal errada: offset -seq_len olha para a ocorrência anterior do MESMO token; "
             "a indução olha o token SEGUINTE a ela, offset -(seq_len-1)", _ind_offset_n),
            ("diagonal errada: offset -seq_len olha para a ocorrência anterior do MESMO token; "
             "a indução olha o token SEGUINTE a ela, offset -(seq_len-1)", _ind_offset_n_all),
            ("diagonal errada: offset -(seq_len+1); a indução usa -(seq_len-1)", _ind_offset_n_plus_1),
            ("offset positivo fica ACIMA da diagonal (o futuro, sempre 0): use offset negativo", _ind_positive_offset),
            ("incluiu consultas da 1ª cópia (q < seq_len+1), onde não há nada para induzir", _ind_all_queries),
            ("incluiu a consulta q = seq_len, o último token da 1ª cópia; a 2ª cópia começa em "
             "q = seq_len+1", _ind_from_x1),
        ],
    )
)


# ---------------------------------------------------------------------------
# 08.half_losses
# ---------------------------------------------------------------------------
def half_losses(logprobs: torch.Tensor, seq_len: int) -> torch.Tensor:
    first = -logprobs[:, :seq_len].mean()
    second = -logprobs[:, seq_len + 1:].mean()
    return torch.stack([first, second])


def _half_no_minus(logprobs, seq_len):
    return torch.stack([logprobs[:, :seq_len].mean(), logprobs[:, seq_len + 1:].mean()])


def _half_include_x1(logprobs, seq_len):
    return torch.stack([-logprobs[:, :seq_len].mean(), -logprobs[:, seq_len:].mean()])


def _half_shifted(logprobs, seq_len):
    return torch.stack([-logprobs[:, 1:seq_len + 1].mean(), -logprobs[:, seq_len + 1:].mean()])


def _half_probs(logprobs, seq_len):
    return torch.stack([1 - logprobs[:, :seq_len].exp().mean(), 1 - logprobs[:, seq_len + 1:].exp().mean()])


def _half_cases(gen: torch.Generator) -> list[Case]:
    def fake(batch, seq_len, good=-0.1, bad=-4.0):
        lp = torch.empty(batch, 2 * seq_len)
        lp[:, :seq_len + 1] = bad + 0.3 * torch.randn(batch, seq_len + 1, generator=gen)
        lp[:, seq_len + 1:] = good * torch.rand(batch, seq_len - 1, generator=gen)
        lp[:, seq_len] = -9.0  # x_1 da 2ª cópia: imprevisível
        return lp

    return [
        Case((fake(2, 5), 5), description="log-probs [2, 10] com indução, seq_len=5"),
        Case((-torch.rand(1, 8, generator=gen) * 5, 4), description="lote de 1, log-probs aleatórias, seq_len=4"),
        Case((fake(3, 2), 2), description="seq_len=2 (a 2ª cópia tem um só token previsível)"),
        Case((fake(4, 20), 20), description="tamanho da lição: seq_len=20"),
    ]


register(
    Exercise(
        id="08.half_losses",
        func_name="half_losses",
        reference=half_losses,
        make_cases=_half_cases,
        points=1,
        output_names=("metade",),
        known_mistakes=[
            ("esqueceu o sinal de menos: perda = -log p", _half_no_minus),
            ("incluiu x_1 da 2ª cópia (índice seq_len), que nem a indução consegue prever", _half_include_x1),
            ("metades deslocadas: a 1ª cópia são os índices 0..seq_len-1 (prevendo x_1..x_n)", _half_shifted),
            ("usou probabilidades em vez de -log p", _half_probs),
        ],
    )
)


# ---------------------------------------------------------------------------
# 08.induction_mask
# ---------------------------------------------------------------------------
def induction_mask(tokens: torch.Tensor) -> torch.Tensor:
    pos = tokens.shape[0]
    same = tokens[None, :-1] == tokens[:, None]  # [q, j]: tokens[j] == tokens[q], chave k = j+1
    q_idx = torch.arange(pos)[:, None]
    k_idx = torch.arange(1, pos)[None, :]
    mask = torch.zeros(pos, pos)
    mask[:, 1:] = (same & (k_idx <= q_idx)).float()
    return mask


def _mask_duplicate(tokens):
    pos = tokens.shape[0]
    same = tokens[None, :] == tokens[:, None]
    return (same & torch.tril(torch.ones(pos, pos, dtype=torch.bool), diagonal=-1)).float()


def _mask_future(tokens):
    pos = tokens.shape[0]
    same = tokens[None, :-1] == tokens[:, None]
    mask = torch.zeros(pos, pos)
    mask[:, 1:] = same.float()  # sem impor k <= q
    return mask


def _mask_strict(tokens):
    pos = tokens.shape[0]
    same = tokens[None, :-1] == tokens[:, None]
    q_idx = torch.arange(pos)[:, None]
    k_idx = torch.arange(1, pos)[None, :]
    mask = torch.zeros(pos, pos)
    mask[:, 1:] = (same & (k_idx < q_idx)).float()
    return mask


def _mask_bool(tokens):
    return induction_mask(tokens).bool()


def _mask_cases(gen: torch.Generator) -> list[Case]:
    seg = torch.randperm(30, generator=gen)[:6] + 1
    three = torch.cat([torch.tensor([0]), seg, seg, seg])
    return [
        Case((torch.tensor([0, 5, 7, 9, 5, 7, 9]),), description="[BOS, 5, 7, 9, 5, 7, 9]"),
        Case((three,), description="três cópias de 6 tokens: duas chaves marcadas na 3ª cópia"),
        Case((torch.tensor([0, 4, 4, 4]),), description="token repetido em seguida [BOS, 4, 4, 4]"),
        Case((torch.randint(1, 5, (12,), generator=gen),), description="12 tokens de um vocabulário de 4 (muitas repetições)"),
        Case((torch.tensor([3]),), description="uma única posição"),
    ]


register(
    Exercise(
        id="08.induction_mask",
        func_name="induction_mask",
        reference=induction_mask,
        make_cases=_mask_cases,
        points=3,
        output_names=("query_pos", "key_pos"),
        known_mistakes=[
            ("marcou a ocorrência anterior do MESMO token (cabeça de token duplicado); "
             "a indução marca o token SEGUINTE a ela (k com tokens[k-1] == tokens[q])", _mask_duplicate),
            ("marcou chaves no futuro (k > q): a máscara causal proíbe", _mask_future),
            ("usou k < q: a chave k = q também vale quando tokens[q-1] == tokens[q]", _mask_strict),
            ("devolveu um tensor bool; converta com .float()", _mask_bool),
        ],
    )
)


# ---------------------------------------------------------------------------
# 08.find_induction_head (investigação)
# ---------------------------------------------------------------------------
HEAD_MARGIN = 0.02  # cabeças a menos disso do melhor escore empatam (ruído de um lote)


def _all_induction_scores(model, tokens, seq_len):
    _, cache = model.run_with_cache(tokens)
    return torch.stack([induction_score(cache["pattern", layer], seq_len) for layer in range(model.cfg.n_layers)])


def _reference_find_induction_head(model, tokens, seq_len):
    """Gabarito: devolve a descoberta e o que conta como correto (cabeças empatadas com a melhor)."""
    scores = _all_induction_scores(model, tokens, seq_len)
    best = int(scores.argmax())
    layer, head = divmod(best, model.cfg.n_heads)
    ok = (scores >= scores.max() - HEAD_MARGIN).nonzero().tolist()
    return {"finding": (layer, head), "acceptable": ok, "scores": scores}


def _as_head(value):
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value):
        return tuple(value)
    return None


def _compare_head(expected, got):
    head = _as_head(got)
    if head is None:
        return (f"esperava uma tupla (camada, cabeça) de dois int, como (1, 2); veio "
                f"{got!r}" if not isinstance(got, dict) else "esperava uma tupla (camada, cabeça)")
    if not isinstance(expected, dict):  # comparação com um erro conhecido: descoberta exata
        exp = _as_head(expected)
        return None if exp == head else f"cabeça {head} ≠ {exp}"
    scores = expected["scores"]
    layer, h = head
    if not (0 <= layer < scores.shape[0] and 0 <= h < scores.shape[1]):
        return f"a cabeça {layer}.{h} não existe: o modelo tem {scores.shape[0]} camadas de {scores.shape[1]} cabeças"
    if [layer, h] in expected["acceptable"]:
        return None
    return (f"a cabeça {layer}.{h} tem escore de indução {float(scores[layer, h]):.2f} neste lote, abaixo da "
            f"melhor ({float(scores.max()):.2f}). Meça o escore de TODAS as cabeças de TODAS as camadas (o padrão "
            "de cada camada, com a sua induction_score) e devolva a de maior escore.")


def _find_prev_token(model, tokens, seq_len):
    _, cache = model.run_with_cache(tokens)
    prev = torch.stack([torch.diagonal(cache["pattern", l], offset=-1, dim1=-2, dim2=-1).mean((0, -1))
                        for l in range(model.cfg.n_layers)])
    return divmod(int(prev.argmax()), model.cfg.n_heads)


def _find_duplicate(model, tokens, seq_len):
    _, cache = model.run_with_cache(tokens)
    dup = torch.stack([torch.diagonal(cache["pattern", l], offset=-seq_len, dim1=-2, dim2=-1)[..., 1:].mean((0, -1))
                       for l in range(model.cfg.n_layers)])
    return divmod(int(dup.argmax()), model.cfg.n_heads)


def _find_layer0_only(model, tokens, seq_len):
    scores = _all_induction_scores(model, tokens, seq_len)
    return (0, int(scores[0].argmax()))


def _find_cases(gen: torch.Generator) -> list[Case]:
    from course_lib.checks import ModelRef
    from course_lib.data import repeated_tokens

    seed = int(torch.randint(0, 10_000, (1,), generator=gen))
    return [
        Case((ModelRef("induction"), repeated_tokens(8, 20, 64, seed=seed), 20),
             description="checkpoint induction, 8 sequências [BOS, x, x] com n = 20"),
        Case((ModelRef("induction"), repeated_tokens(8, 10, 64, seed=seed + 1), 10),
             description="checkpoint induction, n = 10"),
        Case((ModelRef("induction"), repeated_tokens(4, 31, 64, seed=seed + 2), 31),
             description="checkpoint induction, n = 31 (o contexto inteiro)"),
    ]


register(
    Exercise(
        id="08.find_induction_head",
        func_name="find_induction_head",
        reference=_reference_find_induction_head,
        make_cases=_find_cases,
        points=2,
        compare=_compare_head,
        known_mistakes=[
            ("devolveu a cabeça de token ANTERIOR (diagonal -1): ela alimenta a indução, mas não é a de indução",
             _find_prev_token),
            ("usou a diagonal -seq_len (o MESMO token da 1ª cópia, cabeça de token duplicado); a indução é -(seq_len-1)",
             _find_duplicate),
            ("procurou só na camada 0: meça todas as camadas", _find_layer0_only),
        ],
    )
)


# ---------------------------------------------------------------------------
# 08.find_phase_change_step (investigação)
# ---------------------------------------------------------------------------
def _smooth_slope(steps, loss, window):
    kernel = torch.ones(1, 1, window, dtype=torch.float64) / window
    smooth = torch.nn.functional.conv1d(loss[None, None], kernel)[0, 0]
    centre = steps[window // 2: window // 2 + len(smooth)]
    return (centre[1:] + centre[:-1]) / 2, (smooth[1:] - smooth[:-1]) / (centre[1:] - centre[:-1])


def _reference_find_phase_change_step(steps, loss):
    """Gabarito: o passo de maior queda da perda suavizada (média móvel de 5) e a janela aceita.

    Aceita qualquer passo onde a queda (com suavização de 3 a 7 pontos) é pelo menos 60%
    da maior, com a folga de uma avaliação: a mudança de fase é uma janela, não um ponto.
    """
    steps = torch.as_tensor(steps, dtype=torch.float64)
    loss = torch.as_tensor(loss, dtype=torch.float64)
    mid, slope = _smooth_slope(steps, loss, 5)
    finding = int(round(float(mid[slope.argmin()])))
    lo, hi = finding, finding
    for window in (3, 5, 7):
        mid, slope = _smooth_slope(steps, loss, window)
        steep = mid[slope <= 0.6 * slope.min()]
        lo, hi = min(lo, float(steep.min())), max(hi, float(steep.max()))
    spacing = float((steps[1:] - steps[:-1]).max())
    return {"finding": finding, "window": [lo - spacing, hi + spacing]}


def _compare_step(expected, got):
    if type(got) is not int:
        return f"esperava um int (o passo de treino); veio {type(got).__name__} {got!r}"
    if not isinstance(expected, dict):
        return None if expected == got else f"passo {got} ≠ {expected}"
    lo, hi = expected["window"]
    if lo <= got <= hi:
        return None
    return (f"no passo {got} a perda não está caindo depressa. A mudança de fase é onde a curva cai MAIS "
            "depressa: suavize a perda (média móvel de alguns pontos), calcule a inclinação entre avaliações "
            "vizinhas (Δperda/Δpasso) e devolva o PASSO (não o índice) da mais negativa.")


def _step_index(steps, loss):
    loss = torch.as_tensor(loss, dtype=torch.float64)
    return int((loss[1:] - loss[:-1]).argmin())


def _step_min_loss(steps, loss):
    return int(steps[int(torch.as_tensor(loss).argmin())])


def _step_max_rise(steps, loss):
    steps_t = torch.as_tensor(steps, dtype=torch.float64)
    mid, slope = _smooth_slope(steps_t, torch.as_tensor(loss, dtype=torch.float64), 5)
    return int(round(float(mid[slope.argmax()])))


def _step_first_drop(steps, loss):
    loss = torch.as_tensor(loss, dtype=torch.float64)
    below = (loss < 0.97 * loss[0]).nonzero()
    return int(steps[int(below[0])]) if len(below) else int(steps[-1])


def _load_curves():
    import json

    from course_lib.pretrained import CHECKPOINT_DIR
    from course_lib.recipes import CURVES_PATH

    return json.loads((CHECKPOINT_DIR / CURVES_PATH).read_text(encoding="utf-8"))


def _synthetic_curve(gen, centre, width, n=120, every=5):
    steps = torch.arange(1, n + 1) * every
    drift = 4.1 - 0.001 * steps  # desce devagar antes do salto (não há platô perfeito)
    jump = 3.0 / (1 + torch.exp((steps - centre) / width))
    loss = drift - 3.0 + jump + 0.03 * torch.randn(n, generator=gen)
    return steps.tolist(), [round(float(v), 4) for v in loss]


def _phase_cases(gen: torch.Generator) -> list[Case]:
    runs = [r for r in _load_curves()["runs"] if r["n_layers"] == 2]
    run = runs[int(torch.randint(0, len(runs), (1,), generator=gen))]
    cut = [i for i, s in enumerate(run["step"]) if s <= 500]
    centre = float(torch.randint(150, 400, (1,), generator=gen))
    return [
        Case(([run["step"][i] for i in cut], [run["second_copy_loss"][i] for i in cut]),
             description=f"perda na 2ª cópia do treino guardado (2 camadas, semente {run['seed']}, até o passo 500)"),
        Case(_synthetic_curve(gen, centre, 8.0),
             description="curva sintética: descida lenta, depois um degrau de 3 nats, com ruído"),
        Case(([s for s in run["step"][::2]], [v for v in run["second_copy_loss"][::2]]),
             description="a curva guardada inteira (1500 passos), avaliada a cada 10 passos"),
    ]


register(
    Exercise(
        id="08.find_phase_change_step",
        func_name="find_phase_change_step",
        reference=_reference_find_phase_change_step,
        make_cases=_phase_cases,
        points=2,
        compare=_compare_step,
        forbidden={"course_lib.induction.phase_change_step": "é a resposta pronta; meça a inclinação você mesmo"},
        known_mistakes=[
            ("devolveu o ÍNDICE da avaliação, não o passo de treino (use steps[i])", _step_index),
            ("devolveu o passo de MENOR perda (o fim do treino), não o da queda mais rápida", _step_min_loss),
            ("pegou a maior SUBIDA (argmax da inclinação); a mudança de fase é a maior queda (argmin)", _step_max_rise),
            ("usou um limiar (a primeira vez que a perda cai 3%): a marca tem de vir da inclinação", _step_first_drop),
        ],
    )
)
