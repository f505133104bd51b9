"""Implementações corretas independentes dos exercícios do notebook 07 (ver tests/test_exercises.py)."""
import torch


# ---------------------------------------------------------------- 07.previous_token_score
def prev_mask(pattern):
    """Máscara booleana de (q, q-1) e soma em float64."""
    pos = pattern.shape[-1]
    mask = torch.zeros(pos, pos, dtype=torch.bool)
    mask[torch.arange(1, pos), torch.arange(pos - 1)] = True
    return ((pattern.double() * mask).sum((-1, -2)) / (pos - 1)).mean(0).to(pattern.dtype)


def prev_loop(pattern):
    pos = pattern.shape[-1]
    return torch.stack([pattern[..., q, q - 1] for q in range(1, pos)], dim=-1).mean(dim=(0, -1))


# ---------------------------------------------------------------- 07.first_token_score
def first_sum(pattern):
    pos = pattern.shape[-1]
    return ((pattern[..., :, 0].double().sum(-1) - pattern[..., 0, 0].double()) / (pos - 1)).mean(0).to(pattern.dtype)


def first_einsum(pattern):
    pos = pattern.shape[-1]
    weights = torch.zeros(pos, pos, dtype=pattern.dtype)
    weights[1:, 0] = 1.0 / (pos - 1)
    return torch.einsum("bhqk,qk->bh", pattern, weights).mean(0)


# ---------------------------------------------------------------- 07.classify_head
LABELS = ("token anterior", "token atual", "primeiro token (BOS)")


def classify_sorted(prev, current, first, threshold=0.5):
    score, label = sorted(zip((prev, current, first), LABELS), key=lambda t: t[0])[-1]
    return label if score >= threshold else "sem tipo claro"


def classify_tensor(prev, current, first, threshold=0.5):
    scores = torch.tensor([prev, current, first], dtype=torch.float64)
    best = int(scores.argmax())
    return LABELS[best] if float(scores[best]) >= threshold else "sem tipo claro"


# ---------------------------------------------------------------- 07.W_QK e 07.W_OV
def W_QK_einsum(W_Q, W_K):
    return torch.einsum("ae,be->ab", W_Q, W_K)


def W_QK_float64(W_Q, W_K):
    return (W_Q.double() @ W_K.double().T).to(W_Q.dtype)


def W_OV_einsum(W_V, W_O):
    return torch.einsum("ae,eb->ab", W_V, W_O)


def W_OV_float64(W_V, W_O):
    return (W_V.double() @ W_O.double()).to(W_V.dtype)


# ---------------------------------------------------------------- 07.positional_QK
def positional_QK_library(model, layer, head):
    from course_lib import circuits

    return circuits.positional_QK_circuit(model, layer, head).AB.detach()


def positional_QK_float64(model, layer, head):
    W_pos = model.W_pos.detach().double()
    q = W_pos @ model.W_Q[layer, head].detach().double()
    k = W_pos @ model.W_K[layer, head].detach().double()
    return (q @ k.T).float()


# ---------------------------------------------------------------- 07.find_previous_token_head e 07.find_bos_head
def _scores_via_detectors(model, tokens, fn):
    _, cache = model.run_with_cache(tokens)
    table = fn(cache)
    layer, head = divmod(int(table.argmax()), model.cfg.n_heads)
    return (layer, head)


def find_prev_detectors(model, tokens):
    from course_lib import detectors

    return _scores_via_detectors(model, tokens, detectors.previous_token_scores)


def find_prev_loop(model, tokens):
    _, cache = model.run_with_cache(tokens)
    candidates = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    return max(candidates, key=lambda lh: float(prev_loop(cache["pattern", lh[0]])[lh[1]]))


def find_bos_detectors(model, tokens):
    from course_lib import detectors

    return _scores_via_detectors(model, tokens, detectors.first_token_scores)


def find_bos_einsum(model, tokens):
    _, cache = model.run_with_cache(tokens)
    table = torch.stack([first_einsum(cache["pattern", l]) for l in range(model.cfg.n_layers)])
    layer, head = divmod(int(table.argmax()), model.cfg.n_heads)
    return (layer, head)


ALTERNATIVES = {
    "07.previous_token_score": [prev_mask, prev_loop],
    "07.first_token_score": [first_sum, first_einsum],
    "07.classify_head": [classify_sorted, classify_tensor],
    "07.W_QK": [W_QK_einsum, W_QK_float64],
    "07.W_OV": [W_OV_einsum, W_OV_float64],
    "07.positional_QK": [positional_QK_library, positional_QK_float64],
    "07.find_previous_token_head": [find_prev_detectors, find_prev_loop],
    "07.find_bos_head": [find_bos_detectors, find_bos_einsum],
}
