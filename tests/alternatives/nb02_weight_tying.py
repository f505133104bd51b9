"""Implementações corretas independentes dos exercícios do notebook 02 (veja tests/test_exercises.py)."""
import torch
import torch.nn.functional as F


def count_sum(d_vocab, d_model, tie_embeddings, use_bias):
    return sum([d_vocab * d_model, 0 if tie_embeddings else d_model * d_vocab, d_vocab if use_bias else 0])


def count_tensors(d_vocab, d_model, tie_embeddings, use_bias):
    shapes = [(d_vocab, d_model)] + ([] if tie_embeddings else [(d_model, d_vocab)]) + ([(d_vocab,)] if use_bias else [])
    return int(sum(torch.empty(s).numel() for s in shapes))


def tied_linear(h, W_E, b_U):
    return F.linear(h, W_E, b_U)


def tied_einsum(h, W_E, b_U):
    return (torch.einsum("...d,vd->...v", h.double(), W_E.double()) + b_U.double()).to(h.dtype)


def direct_einsum(W_E, W_U, b_U):
    return torch.einsum("ad,db->ab", W_E, W_U) + b_U[None, :]


def direct_float64(W_E, W_U, b_U):
    return (W_E.double() @ W_U.double() + b_U.double()).float()


def asym_decomposition(M):
    M = M.double()
    S, A = (M + M.T) / 2, (M - M.T) / 2
    return (A.pow(2).sum() / (S.pow(2).sum() + A.pow(2).sum())).sqrt().item()


def asym_linalg(M):
    return (torch.linalg.matrix_norm(M - M.T) / (2 * torch.linalg.matrix_norm(M))).item()


def cos_functional(h, W_E):
    return F.cosine_similarity(h[..., None, :], W_E, dim=-1, eps=0)


def cos_normalize(h, W_E):
    return F.normalize(h, dim=-1) @ F.normalize(W_E, dim=-1).T


def _loss(model, counts):
    T = F.linear(model.W_E.detach(), model.W_U.detach().T, model.b_U.detach())
    return F.cross_entropy(T, counts / counts.sum(-1, keepdim=True).clamp(min=1), reduction="none") @ counts.sum(-1)


def better_cross_entropy(model_a, model_b, counts):
    return int(_loss(model_b, counts) < _loss(model_a, counts))


def better_float64(model_a, model_b, counts):
    out = []
    for m in (model_a, model_b):
        T = m.W_E.detach().double() @ m.W_U.detach().double() + m.b_U.detach().double()
        out.append(-(counts.double() * (T - torch.logsumexp(T, -1, keepdim=True))).sum())
    return 0 if out[0] <= out[1] else 1


def pair_triu(model):
    T = model.W_E.detach().double() @ model.W_U.detach().double() + model.b_U.detach().double()
    gap = torch.triu((T - T.T).abs(), diagonal=1)
    i = int(gap.argmax())
    return i // gap.shape[1], i % gap.shape[1]


def pair_bias_when_tied(model):
    if model.cfg.tie_embeddings:  # T − Tᵀ = b_U[b] − b_U[a]: o par é (argmin b_U, argmax b_U)
        return int(model.b_U.argmin()), int(model.b_U.argmax())
    T = model.W_E.detach() @ model.W_U.detach() + model.b_U.detach()
    gap = (T - T.T).abs()
    return tuple(int(v) for v in (gap == gap.max()).nonzero()[0])


ALTERNATIVES = {
    "02.count_params": [count_sum, count_tensors],
    "02.tied_logits": [tied_linear, tied_einsum],
    "02.direct_path": [direct_einsum, direct_float64],
    "02.asymmetry": [asym_decomposition, asym_linalg],
    "02.cosine_scores": [cos_functional, cos_normalize],
    "02.find_better_direct_path": [better_cross_entropy, better_float64],
    "02.find_most_asymmetric_pair": [pair_triu, pair_bias_when_tied],
}
