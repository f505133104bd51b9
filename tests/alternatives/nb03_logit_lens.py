"""Implementações corretas independentes dos exercícios do notebook 03 (veja tests/test_exercises.py)."""
import torch
import torch.nn.functional as F

from course_lib import lens


def ln_functional(resid, w, b, eps=1e-5):
    return F.layer_norm(resid, (resid.shape[-1],), w, b, eps)


def ln_var_mean(resid, w, b, eps=1e-5):
    var, mean = torch.var_mean(resid, dim=-1, keepdim=True, correction=0)
    return (resid - mean) * torch.rsqrt(var + eps) * w + b


def lens_functional(model, resid_stack):
    ln = model.ln_final
    with torch.no_grad():
        x = F.layer_norm(resid_stack, (resid_stack.shape[-1],), ln.w, ln.b, ln.eps)
        return F.linear(x, model.W_U.T, model.b_U)


def lens_float64(model, resid_stack):
    ln = model.ln_final
    with torch.no_grad():
        x = resid_stack.double()
        x = (x - x.mean(-1, keepdim=True)) / (x.var(-1, unbiased=False, keepdim=True) + ln.eps).sqrt()
        x = x * ln.w.double() + ln.b.double()
        return (x @ model.W_U.double() + model.b_U.double()).float()


def top_max(lens_logits):
    probs = torch.softmax(lens_logits, dim=-1)
    return probs.argmax(-1), probs.amax(-1)


def top_logsumexp(lens_logits):
    ids = lens_logits.argmax(-1)
    best = lens_logits.gather(-1, ids[..., None])[..., 0]
    return ids, torch.exp(best - torch.logsumexp(lens_logits, dim=-1))


def rank_sort(lens_logits, target):
    t = lens_logits[..., target]
    return (lens_logits - t[..., None] > 0).long().sum(-1) + 1


def rank_loop(lens_logits, target):
    flat = lens_logits.reshape(-1, lens_logits.shape[-1])
    out = torch.tensor([1 + sum(int(v > row[target]) for v in row) for row in flat], dtype=torch.long)
    return out.reshape(lens_logits.shape[:-1])


def kl_div(lens_logits):
    log_p = F.log_softmax(lens_logits[-1], dim=-1).expand_as(lens_logits)
    log_q = F.log_softmax(lens_logits, dim=-1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1)


def kl_float64(lens_logits):
    x = lens_logits.double()
    log_p = x[-1] - torch.logsumexp(x[-1], -1, keepdim=True)
    log_q = x - torch.logsumexp(x, -1, keepdim=True)
    return (log_p.exp() * (log_p - log_q)).sum(-1).float()


def _diffs_library(model, prompt, correct, wrong):
    logits, _ = lens.logit_lens(model, model.to_tokens(prompt))
    tok = model.tokenizer.to_single_token
    return (logits[:, 0, -1, tok(correct)] - logits[:, 0, -1, tok(wrong)]).tolist()


def flip_library(model, prompt, correct, wrong):
    diffs = _diffs_library(model, prompt, correct, wrong)
    return max(i for i, d in enumerate(diffs) if d <= 0)


def flip_rank(model, prompt, correct, wrong):
    tok = model.tokenizer.to_single_token
    good = lens.target_rank_per_layer(model, model.to_tokens(prompt), tok(correct))["logit"]
    bad = lens.target_rank_per_layer(model, model.to_tokens(prompt), tok(wrong))["logit"]
    ahead = (good > bad).tolist()
    block = len(ahead) - 1
    while block > 0 and ahead[block]:
        block -= 1
    return block


def kl_layer_library(model, prompt, threshold):
    logits, _ = lens.logit_lens(model, model.to_tokens(prompt))
    kl = kl_div(logits[:, 0]).mean(-1)
    return int((kl < threshold).nonzero()[0])


def kl_layer_float64(model, prompt, threshold):
    _, cache = model.run_with_cache(model.to_tokens(prompt))
    logits = lens_float64(model, cache.accumulated_resid())[:, 0]
    for k, value in enumerate(kl_float64(logits).mean(-1).tolist()):
        if value < threshold:
            return k


ALTERNATIVES = {
    "03.apply_final_ln": [ln_functional, ln_var_mean],
    "03.logit_lens": [lens_functional, lens_float64],
    "03.top_token": [top_max, top_logsumexp],
    "03.target_rank": [rank_sort, rank_loop],
    "03.kl_to_final": [kl_div, kl_float64],
    "03.find_flip_block": [flip_library, flip_rank],
    "03.find_kl_layer": [kl_layer_library, kl_layer_float64],
}
