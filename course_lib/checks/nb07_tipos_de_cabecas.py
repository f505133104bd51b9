"""Verificações do notebook 07_tipos_de_cabecas (tipos de cabeças e circuitos QK/OV)."""

from __future__ import annotations

import functools
import math

import torch

from course_lib.checks import Case, Exercise, ModelRef, register


# ---------------------------------------------------------------------------
# Padrões de atenção de teste
# ---------------------------------------------------------------------------
def _random_patterns(gen: torch.Generator, batch: int, n_heads: int, pos: int, scale: float = 1.0) -> torch.Tensor:
    """Padrões causais válidos [batch, n_heads, pos, pos] (linhas somam 1, nada no futuro)."""
    scores = torch.randn(batch, n_heads, pos, pos, generator=gen) * scale
    future = torch.triu(torch.ones(pos, pos, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _offset_pattern(pos: int, offset: int) -> torch.Tensor:
    """Padrão [pos, pos] que olha para a chave q - offset (ou para a 0, se não existir)."""
    p = torch.zeros(pos, pos)
    for q in range(pos):
        p[q, max(q - offset, 0)] = 1.0
    return p


def _ideal_patterns(pos: int) -> torch.Tensor:
    """[1, 3, pos, pos]: token anterior, token atual e primeiro token, nessa ordem."""
    first = torch.zeros(pos, pos)
    first[:, 0] = 1.0
    return torch.stack([_offset_pattern(pos, 1), _offset_pattern(pos, 0), first])[None]


def _pattern_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((_random_patterns(gen, 2, 3, 6),), description="padrões aleatórios [batch=2, heads=3, 6, 6]"),
        Case((_ideal_patterns(7),), description="os três padrões ideais (anterior, atual, primeiro) com pos=7"),
        Case((_random_patterns(gen, 1, 4, 9, scale=30.0),), description="lote de 1 com padrões quase one-hot"),
        Case((_random_patterns(gen, 3, 1, 2),), description="só duas posições (pos=2), uma cabeça"),
    ]


# ---------------------------------------------------------------------------
# 07.previous_token_score
# ---------------------------------------------------------------------------
def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    diag = torch.diagonal(pattern, offset=-1, dim1=-2, dim2=-1)  # [batch, heads, pos-1]: (q, q-1), q >= 1
    return diag.mean(dim=(0, -1))


def _prev_offset_plus1(pattern):
    return torch.diagonal(pattern, offset=1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _prev_offset_0(pattern):
    return torch.diagonal(pattern, offset=0, dim1=-2, dim2=-1)[..., 1:].mean(dim=(0, -1))


def _prev_offset_0_all(pattern):
    return torch.diagonal(pattern, offset=0, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _prev_offset_minus2(pattern):
    return torch.diagonal(pattern, offset=-2, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _prev_clamp_q0(pattern):
    # a "subdiagonal" com clamp: a consulta 0 volta para a média, olhando para si mesma (vale 1)
    pos = pattern.shape[-1]
    q = torch.arange(pos)
    return pattern[..., q, (q - 1).clamp(min=0)].mean(dim=(0, -1))


def _prev_divide_by_pos(pattern):
    pos = pattern.shape[-1]
    return torch.diagonal(pattern, offset=-1, dim1=-2, dim2=-1).sum(-1).mean(0) / pos


register(
    Exercise(
        id="07.previous_token_score",
        func_name="previous_token_score",
        reference=previous_token_score,
        make_cases=_pattern_cases,
        points=1,
        output_names=("n_heads",),
        known_mistakes=[
            ("diagonal errada: offset=+1 fica ACIMA da diagonal (chave q+1, o futuro, sempre 0)", _prev_offset_plus1),
            ("diagonal errada: offset=0 é a diagonal principal (isso mede o token ATUAL)", _prev_offset_0),
            ("diagonal errada: offset=0 é a diagonal principal (isso mede o token ATUAL)", _prev_offset_0_all),
            ("diagonal errada: offset=-2 olha dois tokens para trás", _prev_offset_minus2),
            ("dividiu pela quantidade de posições (pos) em vez de pos-1 consultas", _prev_divide_by_pos),
            ("incluiu a consulta 0 (com clamp(q-1, min=0) ela olha para si mesma e soma 1 de graça)", _prev_clamp_q0),
        ],
        forbidden={"course_lib.detectors.previous_token_scores": "aqui você escreve o escore; o da biblioteca é para conferir"},
    )
)


# ---------------------------------------------------------------------------
# 07.first_token_score
# ---------------------------------------------------------------------------
def first_token_score(pattern: torch.Tensor) -> torch.Tensor:
    return pattern[..., 1:, 0].mean(dim=(0, -1))


def _first_with_q0(pattern):
    return pattern[..., :, 0].mean(dim=(0, -1))


def _first_row0(pattern):
    return pattern[..., 0, 1:].mean(dim=(0, -1))


def _first_last_col(pattern):
    return pattern[..., 1:, -1].mean(dim=(0, -1))


register(
    Exercise(
        id="07.first_token_score",
        func_name="first_token_score",
        reference=first_token_score,
        make_cases=_pattern_cases,
        points=1,
        output_names=("n_heads",),
        known_mistakes=[
            ("incluiu a consulta 0, que é obrigada a olhar para o BOS (sempre vale 1)", _first_with_q0),
            ("pegou a LINHA 0 (consulta 0) em vez da COLUNA 0 (chave 0)", _first_row0),
            ("pegou a última coluna em vez da primeira", _first_last_col),
        ],
        forbidden={"course_lib.detectors.first_token_scores": "aqui você escreve o escore; o da biblioteca é para conferir"},
    )
)


# ---------------------------------------------------------------------------
# 07.W_QK e 07.W_OV
# ---------------------------------------------------------------------------
def _qk_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(5, 5, generator=gen), torch.randn(5, 5, generator=gen)),
             description="uma cabeça só, com d_head = d_model = 5"),
        Case((torch.randn(8, 2, generator=gen), torch.randn(8, 2, generator=gen)),
             description="d_model=8, d_head=2"),
        Case((torch.randn(6, 1, generator=gen) * 100, torch.randn(6, 1, generator=gen)),
             description="d_head=1 (posto 1), valores grandes em W_Q"),
        Case((torch.randn(64, 16, generator=gen) * 0.1, torch.randn(64, 16, generator=gen) * 0.1),
             description="tamanho do modelo de indução (64, 16)"),
    ]


def W_QK(W_Q: torch.Tensor, W_K: torch.Tensor) -> torch.Tensor:
    return W_Q @ W_K.T


def _qk_no_transpose(W_Q, W_K):
    return W_Q @ W_K


def _qk_swapped(W_Q, W_K):
    return W_K @ W_Q.T


def _qk_inner(W_Q, W_K):
    return W_Q.T @ W_K


def _qk_scaled(W_Q, W_K):
    return W_Q @ W_K.T / math.sqrt(W_Q.shape[-1])


register(
    Exercise(
        id="07.W_QK",
        func_name="W_QK",
        reference=W_QK,
        make_cases=_qk_cases,
        points=1,
        output_names=("d_model_q", "d_model_k"),
        known_mistakes=[
            ("faltou transpor W_K (W_Q @ W_K só funciona por acaso quando d_head = d_model)", _qk_no_transpose),
            ("ordem trocada: W_K @ W_Qᵀ é a TRANSPOSTA (linhas viram chaves, colunas viram consultas)", _qk_swapped),
            ("W_Qᵀ @ W_K dá uma matriz [d_head, d_head], não [d_model, d_model]", _qk_inner),
            ("dividiu por √d_head: a convenção de W_QK é SEM essa escala", _qk_scaled),
        ],
    )
)


def _ov_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(8, 2, generator=gen), torch.randn(2, 8, generator=gen)),
             description="W_V [8, 2], W_O [2, 8]"),
        Case((torch.randn(4, 4, generator=gen), torch.randn(4, 4, generator=gen)),
             description="uma cabeça só, com d_head = d_model = 4"),
        Case((torch.randn(6, 1, generator=gen), torch.randn(1, 6, generator=gen) * 1e3),
             description="d_head=1 (posto 1), valores grandes em W_O"),
    ]


def W_OV(W_V: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    return W_V @ W_O


def _ov_swapped(W_V, W_O):
    return W_O @ W_V


def _ov_transposed(W_V, W_O):
    return W_O.T @ W_V.T


register(
    Exercise(
        id="07.W_OV",
        func_name="W_OV",
        reference=W_OV,
        make_cases=_ov_cases,
        points=1,
        output_names=("d_model_fonte", "d_model_saida"),
        known_mistakes=[
            ("ordem trocada: W_O @ W_V dá [d_head, d_head], não [d_model, d_model]", _ov_swapped),
            ("transpôs o resultado: (W_V W_O)ᵀ = W_Oᵀ W_Vᵀ troca fonte e saída", _ov_transposed),
        ],
        atol=1e-4,
    )
)


# ---------------------------------------------------------------------------
# 07.positional_QK
# ---------------------------------------------------------------------------
def positional_QK(model, layer: int, head: int) -> torch.Tensor:
    W_pos = model.W_pos.detach()
    W_Q = model.W_Q[layer, head].detach()
    W_K = model.W_K[layer, head].detach()
    return W_pos @ W_Q @ W_K.T @ W_pos.T


def _pos_swapped(model, layer, head):
    return positional_QK(model, layer, head).T


def _pos_scaled(model, layer, head):
    return positional_QK(model, layer, head) / math.sqrt(model.cfg.d_head)


def _pos_with_embed(model, layer, head):
    W_E = model.W_E.detach()
    return W_E @ model.W_Q[layer, head].detach() @ model.W_K[layer, head].detach().T @ W_E.T


def _pos_with_bias(model, layer, head):
    W_pos = model.W_pos.detach()
    q = W_pos @ model.W_Q[layer, head].detach() + model.b_Q[layer, head].detach()
    k = W_pos @ model.W_K[layer, head].detach() + model.b_K[layer, head].detach()
    return q @ k.T


def _pos_arena_pattern(model, layer, head):
    # o "padrão posicional" do ARENA: escala, máscara causal e softmax sobre o circuito
    scores = positional_QK(model, layer, head) / math.sqrt(model.cfg.d_head)
    n = scores.shape[-1]
    return scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), float("-inf")).softmax(-1)


def _pos_softmaxed(model, layer, head):
    return positional_QK(model, layer, head).softmax(-1)


def _pos_cases(gen: torch.Generator) -> list[Case]:
    def pick(n: int) -> int:
        return int(torch.randint(0, n, (1,), generator=gen))

    ind_layer, ind_head = 1, pick(4)  # modelo de indução: 2 camadas, 4 cabeças
    lm_layer, lm_head = pick(3), pick(4)  # modelo de linguagem: 3 camadas, 4 cabeças
    return [
        Case((ModelRef("induction"), 0, 0), description="modelo de indução, cabeça 0.0"),
        Case((ModelRef("induction"), ind_layer, ind_head), description=f"modelo de indução, cabeça {ind_layer}.{ind_head}"),
        Case((ModelRef("lm"), lm_layer, lm_head), description=f"modelo de linguagem, cabeça {lm_layer}.{lm_head} (n_ctx=32)"),
    ]


register(
    Exercise(
        id="07.positional_QK",
        func_name="positional_QK",
        reference=positional_QK,
        make_cases=_pos_cases,
        points=2,
        output_names=("pos_consulta", "pos_chave"),
        known_mistakes=[
            ("consulta e chave trocadas: o resultado é a transposta (use W_pos W_Q W_Kᵀ W_posᵀ)", _pos_swapped),
            ("dividiu por √d_head: o circuito posicional é SEM essa escala", _pos_scaled),
            ("usou W_E (tokens) em vez de W_pos (posições)", _pos_with_embed),
            ("somou os vieses b_Q/b_K: o circuito usa só os pesos", _pos_with_bias),
            ("aplicou escala, máscara e softmax (o padrão posicional do ARENA): aqui são as pontuações cruas",
             _pos_arena_pattern),
            ("aplicou softmax nas linhas: aqui são as pontuações cruas (cada linha somando 1 é um padrão, não o circuito)",
             _pos_softmaxed),
        ],
        atol=1e-3,
        rtol=1e-4,
    )
)


# ---------------------------------------------------------------------------
# 07.classify_head
# ---------------------------------------------------------------------------
LABELS = ("token anterior", "token atual", "primeiro token (BOS)")
NONE_LABEL = "sem tipo claro"


def classify_head(prev: float, current: float, first: float, threshold: float = 0.5) -> str:
    scores = [prev, current, first]
    best = max(range(3), key=lambda i: scores[i])
    return LABELS[best] if scores[best] >= threshold else NONE_LABEL


def _classify_no_threshold(prev, current, first, threshold=0.5):
    scores = [prev, current, first]
    return LABELS[max(range(3), key=lambda i: scores[i])]


def _classify_strict(prev, current, first, threshold=0.5):
    scores = [prev, current, first]
    best = max(range(3), key=lambda i: scores[i])
    return LABELS[best] if scores[best] > threshold else NONE_LABEL


def _classify_min(prev, current, first, threshold=0.5):
    scores = [prev, current, first]
    best = min(range(3), key=lambda i: scores[i])
    return LABELS[best] if scores[best] >= threshold else NONE_LABEL


def _classify_first_above(prev, current, first, threshold=0.5):
    for label, s in zip(LABELS, (prev, current, first)):
        if s >= threshold:
            return label
    return NONE_LABEL


def _classify_cases(gen: torch.Generator) -> list[Case]:
    def r(lo, hi):
        return round(float(lo + (hi - lo) * torch.rand((), generator=gen)), 4)

    return [
        Case((r(0.9, 1.0), r(0.0, 0.05), r(0.0, 0.05)), description="escore de token anterior alto"),
        Case((r(0.0, 0.1), r(0.0, 0.1), r(0.6, 0.9)), description="escore de primeiro token alto"),
        Case((r(0.0, 0.2), r(0.7, 0.9), r(0.0, 0.1)), description="escore de token atual alto"),
        Case((r(0.1, 0.3), r(0.1, 0.3), r(0.1, 0.3)), description="todos os escores baixos (< 0.5)"),
        Case((0.55, 0.1, 0.8), description="dois escores acima do limiar: vence o maior"),
        Case((0.5, 0.2, 0.1), description="escore exatamente igual ao limiar (0.5 conta)"),
        Case((0.35, 0.1, 0.3), {"threshold": 0.3}, description="limiar diferente (0.3)"),
    ]


register(
    Exercise(
        id="07.classify_head",
        func_name="classify_head",
        reference=classify_head,
        make_cases=_classify_cases,
        points=1,
        known_mistakes=[
            ("ignorou o limiar: escores baixos devem dar 'sem tipo claro'", _classify_no_threshold),
            ("usou > em vez de >=: um escore igual ao limiar conta", _classify_strict),
            ("escolheu o MENOR escore em vez do maior", _classify_min),
            ("pegou o primeiro tipo acima do limiar, não o de maior escore", _classify_first_above),
        ],
    )
)


# ---------------------------------------------------------------------------
# Investigações: 07.find_previous_token_head e 07.find_bos_head
# ---------------------------------------------------------------------------
# Qualquer cabeça a menos de 0,03 do maior escore é aceita (empates práticos).
SCORE_MARGIN = 0.03


def _score_table(model, tokens, score_fn):
    _, cache = model.run_with_cache(tokens)
    return torch.stack([score_fn(cache["pattern", l]) for l in range(model.cfg.n_layers)])


def _best_head(table) -> tuple:
    layer, head = divmod(int(table.argmax()), table.shape[1])
    return (layer, head)


def _head_compare(what: str):
    def compare(expected, got) -> str | None:
        if type(expected) is tuple:  # saída de um erro conhecido
            return None if type(got) in (tuple, list) and tuple(got) == expected else f"cabeça {got}, não {expected}"
        if type(got) not in (tuple, list) or len(got) != 2 or not all(type(x) is int for x in got):
            return f"saída: esperado uma tupla de dois ints (camada, cabeça), obtido {got!r}"
        table = expected["escores"]
        layer, head = got
        if not (0 <= layer < table.shape[0] and 0 <= head < table.shape[1]):
            return f"saída: a cabeça {layer}.{head} não existe; o modelo tem {table.shape[0]} camadas de {table.shape[1]} cabeças"
        best = float(table.max())
        if float(table[layer, head]) >= best - SCORE_MARGIN:
            return None
        return (f"a cabeça {layer}.{head} tem escore de {what} {float(table[layer, head]):.2f}; há cabeças acima de "
                f"{best - SCORE_MARGIN:.2f}. Calcule o escore de TODAS as cabeças de TODAS as camadas nestes tokens "
                "(consultas q >= 1) e fique com a maior")
    return compare


def find_previous_token_head(model, tokens):
    return _best_head(_score_table(model, tokens, previous_token_score))


def find_bos_head(model, tokens):
    return _best_head(_score_table(model, tokens, first_token_score))


@functools.lru_cache(maxsize=None)
def _grammar():
    from course_lib import PtGrammar

    return PtGrammar()


def _grammar_text(seed: int) -> torch.Tensor:
    return _grammar().make_dataset(12, 32, seed=seed)


def _find_cases(gen: torch.Generator) -> list[Case]:
    from course_lib.data import repeated_tokens

    seed = int(torch.randint(0, 1000, (1,), generator=gen))
    return [
        Case((ModelRef("lm"), _grammar_text(seed)), description="modelo lm, texto da gramática"),
        Case((ModelRef("induction"), repeated_tokens(6, 15, 64, generator=gen)),
             description="modelo induction, sequências repetidas"),
        Case((ModelRef("lm_tied"), _grammar_text(seed + 1)), description="modelo lm_tied (outro checkpoint), texto da gramática"),
    ]


def _find_hidden(gen: torch.Generator) -> list[Case]:
    from course_lib.data import repeated_tokens

    seed = int(torch.randint(0, 1000, (1,), generator=gen))
    return [
        Case((ModelRef("lm_untied"), _grammar_text(seed)), description="modelo lm_untied, texto da gramática"),
        Case((ModelRef("induction"), repeated_tokens(4, 25, 64, generator=gen)), description="modelo induction, n = 25"),
        Case((ModelRef("lm"), _grammar_text(seed + 7)), description="modelo lm, outro texto"),
    ]


def _find_with(score_fn):
    return lambda model, tokens: _best_head(_score_table(model, tokens, score_fn))


def _find_only_layer0(score_fn):
    def fn(model, tokens):
        _, cache = model.run_with_cache(tokens)
        return (0, int(score_fn(cache["pattern", 0]).argmax()))
    return fn


register(
    Exercise(
        id="07.find_previous_token_head",
        func_name="find_previous_token_head",
        reference=lambda model, tokens: {"escores": _score_table(model, tokens, previous_token_score)},
        make_cases=_find_cases,
        make_hidden_cases=_find_hidden,
        points=2,
        compare=_head_compare("token anterior"),
        known_mistakes=[
            ("usou a diagonal principal (token ATUAL) em vez da subdiagonal", _find_with(lambda p: _prev_offset_0(p))),
            ("usou o escore de primeiro token (BOS)", _find_with(first_token_score)),
            ("olhou dois tokens atrás (offset=-2)", _find_with(_prev_offset_minus2)),
        ],
    )
)

register(
    Exercise(
        id="07.find_bos_head",
        func_name="find_bos_head",
        reference=lambda model, tokens: {"escores": _score_table(model, tokens, first_token_score)},
        make_cases=_find_cases,
        make_hidden_cases=_find_hidden,
        points=1,
        compare=_head_compare("primeiro token"),
        known_mistakes=[
            ("usou o escore de token anterior", _find_with(previous_token_score)),
            ("pegou a última coluna (o token atual no fim) em vez da primeira", _find_with(_first_last_col)),
            ("procurou só na camada 0", _find_only_layer0(first_token_score)),
        ],
    )
)
