"""Implementações corretas independentes dos exercícios do notebook 09 (veja tests/test_exercises.py)."""
import torch
import torch.nn.functional as F

from course_lib import ablation, circuits
from course_lib.circuits import FactoredMatrix


def _f64(*xs):
    return [x.double() for x in xs]


# 09.composition_score
def comp_factored(W_A, W_B):
    return circuits.composition_score(FactoredMatrix(W_A, torch.eye(W_A.shape[1])),
                                      FactoredMatrix(W_B, torch.eye(W_B.shape[1]))).item()


def comp_float64_sums(W_A, W_B):
    A, B = _f64(W_A, W_B)
    return float(((A @ B) ** 2).sum().sqrt() / ((A ** 2).sum().sqrt() * (B ** 2).sum().sqrt()))


# 09.composition_reader
def reader_einsum(W_Q, W_K, W_V, W_O, kind):
    qk = torch.einsum("mh,nh->mn", W_Q, W_K)
    return {"Q": qk, "K": torch.einsum("mh,nh->nm", W_Q, W_K), "V": torch.einsum("mh,hn->mn", W_V, W_O)}[kind]


def reader_float64(W_Q, W_K, W_V, W_O, kind):
    Q, K, V, O = _f64(W_Q, W_K, W_V, W_O)
    out = {"Q": lambda: Q @ K.T, "K": lambda: K @ Q.T, "V": lambda: V @ O}[kind]()
    return out.float()


# 09.random_composition_baseline
def baseline_factored(d_model, d_head, n_samples, seed):
    gen = torch.Generator().manual_seed(seed + 777)
    draw = lambda: FactoredMatrix(torch.randn(n_samples, d_model, d_head, generator=gen),  # noqa: E731
                                  torch.randn(n_samples, d_head, d_model, generator=gen))
    s = circuits.composition_score(draw(), draw())
    return s.mean().item(), s.std().item()


def baseline_batched_float64(d_model, d_head, n_samples, seed):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    A = torch.einsum("nik,nkj->nij", r(n_samples, d_model, d_head), r(n_samples, d_head, d_model))
    B = torch.einsum("nik,nkj->nij", r(n_samples, d_model, d_head), r(n_samples, d_head, d_model))
    fro = lambda M: M.pow(2).sum((-2, -1)).sqrt()  # noqa: E731
    t = fro(A @ B) / (fro(A) * fro(B))
    return float(t.mean()), float(t.std())


# 09.find_composition_partner
def partner_library(model, layer, head, kind):
    scores = torch.stack([circuits.head_composition_score(model, 0, h, layer, head, kind) for h in range(model.cfg.n_heads)])
    base = circuits.random_composition_baseline(model.cfg.d_model, model.cfg.d_head, 500, 1)
    best = int(scores.argmax())
    return best if scores[best] > base.mean() + 3 * base.std() else None


def partner_dense(model, layer, head, kind):
    Q, K, V, O = (w[layer, head].detach().double() for w in (model.W_Q, model.W_K, model.W_V, model.W_O))
    reader = {"Q": Q @ K.T, "K": K @ Q.T, "V": V @ O}[kind]
    scores = []
    for h in range(model.cfg.n_heads):
        W_A = (model.W_V[0, h] @ model.W_O[0, h]).detach().double()
        scores.append(float((W_A @ reader).norm() / (W_A.norm() * reader.norm())))
    mean, std = baseline_batched_float64(model.cfg.d_model, model.cfg.d_head, 300, 5)
    best = max(range(len(scores)), key=scores.__getitem__)
    return best if scores[best] > mean + 3 * std else None


# 09.full_ov_circuit
def ov_factored(W_E, W_V, W_O, W_U):
    return (W_E @ FactoredMatrix(W_V, W_O) @ W_U).AB


def ov_float64(W_E, W_V, W_O, W_U):
    E, V, O, U = _f64(W_E, W_V, W_O, W_U)
    return (E @ (V @ (O @ U))).float()


# 09.diagonal_top1_accuracy
def diag_loop(M):
    return sum(int(M[i].argmax()) == i for i in range(M.shape[0])) / M.shape[0]


def diag_compare_max(M):
    return (M.diagonal() >= M.max(dim=-1).values).double().mean().item()


# 09.find_copying_heads
def copying_library(model, threshold):
    ov = circuits.full_OV_circuit(model).AB  # [n_layers, n_heads, d_vocab, d_vocab]
    acc = (ov.diagonal(dim1=-2, dim2=-1) >= ov.max(-1).values).float().mean(-1)
    return [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads) if acc[l, h] > threshold]


def copying_float64(model, threshold):
    out = []
    for l in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            E, V, O, U = _f64(model.W_E.detach(), model.W_V[l, h].detach(), model.W_O[l, h].detach(), model.W_U.detach())
            if diag_loop(E @ V @ O @ U) > threshold:
                out.append((l, h))
    return out


# 09.k_composition_circuit
def kc_factored(W_E, W_QK, W_OV):
    return (W_E @ FactoredMatrix(W_QK, W_OV.T) @ W_E.T).AB


def kc_float64(W_E, W_QK, W_OV):
    E, QK, OV = _f64(W_E, W_QK, W_OV)
    return torch.einsum("am,mn,bk,kn->ab", E, QK, E, OV).float()


# 09.head_logit_attribution
def dla_loop(z, W_O, W_U, target):
    out = torch.zeros(z.shape[0], z.shape[1])
    for b in range(z.shape[0]):
        for h in range(z.shape[1]):
            out[b, h] = z[b, h] @ W_O[h] @ W_U[:, target[b]]
    return out


def dla_float64(z, W_O, W_U, target):
    Z, O, U = _f64(z, W_O, W_U)
    return ((Z[:, :, None, :] @ O[None]).squeeze(2) @ U)[torch.arange(z.shape[0]), :, target].float()


# 09.ablated_repeated_loss
def abl_library(model, tokens, seq_len, layer, head):
    logits = ablation.ablate_heads(model, tokens, [(layer, head)], mode="zero")
    loss = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
    return loss[:, seq_len + 1:].mean().item()


def abl_weights_float64(model, tokens, seq_len, layer, head):
    def hook(z, hook):
        return z * (torch.arange(z.shape[2]) != head).to(z.dtype)[None, None, :, None]

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)]).double()
    lp = logits.log_softmax(-1)[:, seq_len + 1:-1]
    return float(-lp.gather(-1, tokens[:, seq_len + 2:, None]).mean())


# 09.find_most_harmful_head
def harm_library(model, tokens, seq_len, layer):
    losses = [abl_library(model, tokens, seq_len, layer, h) for h in range(model.cfg.n_heads)]
    return max(range(len(losses)), key=losses.__getitem__)


def harm_float64(model, tokens, seq_len, layer):
    losses = torch.tensor([abl_weights_float64(model, tokens, seq_len, layer, h) for h in range(model.cfg.n_heads)])
    return int(losses.argmax())


ALTERNATIVES = {
    "09.composition_score": [comp_factored, comp_float64_sums],
    "09.composition_reader": [reader_einsum, reader_float64],
    "09.random_composition_baseline": [baseline_factored, baseline_batched_float64],
    "09.find_composition_partner": [partner_library, partner_dense],
    "09.full_ov_circuit": [ov_factored, ov_float64],
    "09.diagonal_top1_accuracy": [diag_loop, diag_compare_max],
    "09.find_copying_heads": [copying_library, copying_float64],
    "09.k_composition_circuit": [kc_factored, kc_float64],
    "09.head_logit_attribution": [dla_loop, dla_float64],
    "09.ablated_repeated_loss": [abl_library, abl_weights_float64],
    "09.find_most_harmful_head": [harm_library, harm_float64],
}
