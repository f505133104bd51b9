"""Verificações do notebook 07_cabecas_de_inducao (sequências repetidas e cabeças de indução)."""

from __future__ import annotations

import torch

from course_lib.checks import Case, Exercise, register


# ---------------------------------------------------------------------------
# 07.make_repeated_tokens
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
        Case((torch.randint(1, 10, (1, 1), generator=gen), 0), description="batch de 1, um único token aleatório"),
        Case((torch.randint(0, 50, (3, 4), generator=gen), 50), description="BOS diferente de 0 (BOS=50)"),
        Case((torch.randint(1, 64, (4, 20), generator=gen), 0), description="batch=4, seq_len=20"),
    ]


register(
    Exercise(
        id="07.make_repeated_tokens",
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
# 07.logprob_correct
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
             description="batch de 1 com só duas posições (uma previsão)"),
        Case((torch.randn(3, 5, 7, generator=gen) * 1e4, torch.randint(0, 7, (3, 5), generator=gen)),
             description="logits enormes (escala 1e4)"),
        Case((torch.randn(4, 9, 64, generator=gen) * 3, torch.randint(0, 64, (4, 9), generator=gen)),
             description="vocabulário de 64, como o modelo de indução"),
    ]


register(
    Exercise(
        id="07.logprob_correct",
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
# 07.induction_score
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
        Case((_causal_random(gen, 1, 2, 7, scale=20.0), 3), description="batch de 1, padrões quase one-hot, seq_len=3"),
        Case((_causal_random(gen, 3, 4, 41), 20), description="tamanho da lição: seq_len=20 (pos=41)"),
    ]


register(
    Exercise(
        id="07.induction_score",
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
# 07.half_losses
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


def _half_split_middle(logprobs, seq_len):
    n = logprobs.shape[1] // 2
    return torch.stack([-logprobs[:, :n].mean(), -logprobs[:, n:].mean()])


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
        Case((-torch.rand(1, 8, generator=gen) * 5, 4), description="batch de 1, log-probs aleatórias, seq_len=4"),
        Case((fake(3, 2), 2), description="seq_len=2 (a 2ª cópia tem um só token previsível)"),
        Case((fake(4, 20), 20), description="tamanho da lição: seq_len=20"),
    ]


register(
    Exercise(
        id="07.half_losses",
        func_name="half_losses",
        reference=half_losses,
        make_cases=_half_cases,
        points=1,
        output_names=("metade",),
        known_mistakes=[
            ("esqueceu o sinal de menos: perda = -log p", _half_no_minus),
            ("incluiu x_1 da 2ª cópia (índice seq_len), que nem a indução consegue prever", _half_include_x1),
            ("metades deslocadas: a 1ª cópia são os índices 0..seq_len-1 (prevendo x_1..x_n)", _half_shifted),
            ("cortou no meio do tensor em vez de usar seq_len e pular x_1 da 2ª cópia", _half_split_middle),
            ("usou probabilidades em vez de -log p", _half_probs),
        ],
    )
)


# ---------------------------------------------------------------------------
# 07.induction_mask
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
        id="07.induction_mask",
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
