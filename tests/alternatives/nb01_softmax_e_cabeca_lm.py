"""Implementações corretas independentes dos exercícios do notebook 01 (veja tests/test_exercises.py)."""
import torch
import torch.nn.functional as F


def softmax_float64(logits):
    x = logits.double()
    e = torch.exp(x - x.max(-1, keepdim=True).values)
    return (e / e.sum(-1, keepdim=True)).to(logits.dtype)


def softmax_via_sort(logits):
    m = logits.sort(dim=-1).values[..., -1:]
    e = (logits - m).exp()
    return e / e.sum(-1, keepdim=True)


def log_softmax_float64(logits):
    x = logits.double()
    m = x.max(-1, keepdim=True).values
    return (x - m - (x - m).exp().sum(-1, keepdim=True).log()).to(logits.dtype)


def log_softmax_log1p(logits):
    m = logits.amax(-1, keepdim=True)
    e = (logits - m).exp()
    return logits - m - torch.log1p(e.sum(-1, keepdim=True) - 1)


def ce_functional(logits, targets):
    return F.cross_entropy(logits, targets)


def ce_nll(logits, targets):
    return F.nll_loss(F.log_softmax(logits.double(), -1), targets).float()


def lm_loss_functional(logits, tokens):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


def lm_loss_onehot(logits, tokens):
    target = F.one_hot(tokens[:, 1:], logits.shape[-1]).double()
    return -(target * logits[:, :-1].double().log_softmax(-1)).sum(-1).mean().float()


def temp_functional(logits, temperature):
    return F.softmax(logits / temperature, dim=-1)


def temp_float64(logits, temperature):
    return torch.softmax(logits.double() / temperature, -1).float()


def greedy_max(logits):
    return logits[:, -1].max(dim=-1).indices


def greedy_sort(logits):
    return logits[:, -1].argsort(dim=-1, descending=True)[:, 0]


def sample_functional(logits, temperature, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=g).squeeze(-1)


def sample_unnormalized(logits, temperature, seed):  # o multinomial normaliza: exp(logits/T - max) basta
    g = torch.Generator().manual_seed(seed)
    x = logits / temperature
    weights = (x - x.amax(-1, keepdim=True)).exp()
    return torch.multinomial(weights / weights.sum(-1, keepdim=True), num_samples=1, generator=g)[:, 0]


def topk_scatter(logits, k):
    top = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter(-1, top.indices, top.values)


def topk_sort(logits, k):
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(logits >= kth, logits, torch.tensor(float("-inf")))


def head_linear(resid, W_U, b_U):
    return F.linear(resid, W_U.T, b_U)


def head_einsum(resid, W_U, b_U):
    return torch.einsum("bpd,dv->bpv", resid, W_U) + b_U


def mos_loop(h, W_prior, W_proj, W_U):
    prior = torch.softmax(h @ W_prior, -1)
    out = 0
    for k in range(W_proj.shape[0]):
        out = out + prior[:, k : k + 1] * torch.softmax(torch.tanh(h @ W_proj[k]) @ W_U, -1)
    return out


def mos_logspace(h, W_prior, W_proj, W_U):
    log_prior = torch.log_softmax(h.double() @ W_prior.double(), -1)
    h_k = torch.tanh(torch.einsum("bd,kde->bke", h.double(), W_proj.double()))
    log_p = torch.log_softmax(h_k @ W_U.double(), -1)
    return torch.logsumexp(log_prior[..., None] + log_p, dim=1).exp().float()


def _entropy(logits, t):
    p = torch.softmax(logits.double() / t, -1)
    return float(-(p * torch.log(p.clamp_min(1e-300))).sum())


def temperature_bisection(model, prompt, target):
    with torch.no_grad():
        logits = model(model.to_tokens(prompt))[0, -1]
    lo, hi = 0.01, 100.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _entropy(logits, mid) < target else (lo, mid)
    return (lo + hi) / 2


def temperature_grid(model, prompt, target):
    with torch.no_grad():
        logits = model(model.to_tokens(prompt))[0, -1]
    grid = torch.logspace(-2, 2, 20001, dtype=torch.float64)
    entropies = torch.tensor([_entropy(logits, float(t)) for t in grid[::10]])
    i = int((entropies - target).abs().argmin()) * 10
    fine = grid[max(i - 10, 0): i + 11]
    j = int(torch.tensor([abs(_entropy(logits, float(t)) - target) for t in fine]).argmin())
    return float(fine[j])


def best_temp_functional(model, tokens, temperatures):
    with torch.no_grad():
        logits = model(tokens)
    losses = torch.tensor([F.cross_entropy((logits[:, :-1] / t).transpose(1, 2), tokens[:, 1:]).item()
                           for t in temperatures])
    return temperatures[int(losses.argmin())]


def best_temp_float64(model, tokens, temperatures):
    with torch.no_grad():
        logits = model(tokens).double()
    best = min(temperatures, key=lambda t: lm_loss_onehot(logits / t, tokens).item())
    return best


ALTERNATIVES = {
    "01.softmax": [softmax_float64, softmax_via_sort],
    "01.log_softmax": [log_softmax_float64, log_softmax_log1p],
    "01.cross_entropy": [ce_functional, ce_nll],
    "01.lm_loss": [lm_loss_functional, lm_loss_onehot],
    "01.softmax_with_temperature": [temp_functional, temp_float64],
    "01.greedy_next_token": [greedy_max, greedy_sort],
    "01.sample_next_token": [sample_functional, sample_unnormalized],
    "01.top_k_logits": [topk_scatter, topk_sort],
    "01.lm_head": [head_linear, head_einsum],
    "01.mos_probs": [mos_loop, mos_logspace],
    "01.find_temperature_for_entropy": [temperature_bisection, temperature_grid],
    "01.find_best_temperature": [best_temp_functional, best_temp_float64],
}
