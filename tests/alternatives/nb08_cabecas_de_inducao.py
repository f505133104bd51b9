"""Implementações corretas independentes dos exercícios do notebook 08."""
import torch
import torch.nn.functional as F


# 08.make_repeated_tokens
def rep_index(random_tokens, bos):
    batch, n = random_tokens.shape
    out = torch.empty(batch, 1 + 2 * n, dtype=random_tokens.dtype)
    out[:, 0] = bos
    out[:, 1:] = random_tokens[:, torch.arange(2 * n) % n]
    return out


def rep_python(random_tokens, bos):
    rows = [[bos] + r + r for r in random_tokens.tolist()]
    return torch.tensor(rows, dtype=random_tokens.dtype)


# 08.logprob_correct
def lp_cross_entropy(logits, tokens):
    b, p, v = logits.shape
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, v), tokens[:, 1:].reshape(-1), reduction="none")
    return -ce.reshape(b, p - 1)


def lp_float64_logsumexp(logits, tokens):
    x = logits[:, :-1].double()
    picked = x.gather(-1, tokens[:, 1:, None])[..., 0]
    return (picked - torch.logsumexp(x, dim=-1)).float()


# 08.half_losses
def half_loop(logprobs, seq_len):
    b, cols = logprobs.shape
    first = sum(-logprobs[i, t].item() for i in range(b) for t in range(seq_len)) / (b * seq_len)
    rest = range(seq_len + 1, cols)
    second = sum(-logprobs[i, t].item() for i in range(b) for t in rest) / (b * len(rest))
    return torch.tensor([first, second], dtype=logprobs.dtype)


def half_mask(logprobs, seq_len):
    cols = torch.arange(logprobs.shape[1])
    w1 = (cols < seq_len).double()
    w2 = (cols > seq_len).double()
    lp = -logprobs.double()
    return torch.stack([(lp * w1).sum() / (w1.sum() * lp.shape[0]),
                        (lp * w2).sum() / (w2.sum() * lp.shape[0])]).to(logprobs.dtype)


# 08.induction_score
def ind_index(pattern, seq_len):
    q = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[..., q, q - seq_len + 1].mean(dim=(0, -1))


def ind_mask(pattern, seq_len):
    pos = pattern.shape[-1]
    mask = torch.zeros(pos, pos, dtype=torch.float64)
    for q in range(seq_len + 1, 2 * seq_len + 1):
        mask[q, q - seq_len + 1] = 1.0
    return ((pattern.double() * mask).sum((-1, -2)).mean(0) / seq_len).to(pattern.dtype)


# 08.induction_mask
def mask_loops(tokens):
    ids = tokens.tolist()
    pos = len(ids)
    out = torch.zeros(pos, pos)
    for q in range(pos):
        for k in range(1, q + 1):
            if ids[k - 1] == ids[q]:
                out[q, k] = 1.0
    return out


def mask_shift(tokens):
    pos = tokens.shape[0]
    prev = torch.cat([tokens.new_full((1,), -1), tokens[:-1]])  # prev[k] = tokens[k-1]
    eq = tokens[:, None] == prev[None, :]
    return (eq & torch.ones(pos, pos, dtype=torch.bool).tril()).float()


# 08.find_induction_head
def head_library(model, tokens, seq_len):
    from course_lib import detectors

    scores = detectors.induction_scores(model, tokens, seq_len)
    layer, head = divmod(int(scores.argmax()), model.cfg.n_heads)
    return layer, head


def head_hooks(model, tokens, seq_len):
    best, found = -1.0, None
    for layer in range(model.cfg.n_layers):
        _, cache = model.run_with_cache(tokens, names_filter=lambda n, l=layer: n == f"blocks.{l}.attn.hook_pattern")
        pattern = cache["pattern", layer]
        q = torch.arange(seq_len + 1, 2 * seq_len + 1)
        score = pattern[:, :, q, q - seq_len + 1].mean((0, 2))
        for head, value in enumerate(score.tolist()):
            if value > best:
                best, found = value, (layer, head)
    return found


# 08.find_phase_change_step
def phase_conv(steps, loss):
    y = torch.tensor(loss, dtype=torch.float64)[None, None]
    s = torch.tensor(steps, dtype=torch.float64)[None, None]
    k = torch.ones(1, 1, 3, dtype=torch.float64) / 3
    ys, ss = F.conv1d(y, k)[0, 0], F.conv1d(s, k)[0, 0]
    slope = (ys[1:] - ys[:-1]) / (ss[1:] - ss[:-1])
    i = int(slope.argmin())
    return int(round(float(ss[i + 1])))


def phase_python(steps, loss, window=7):
    half = window // 2
    smooth = [sum(loss[i - half:i + half + 1]) / window for i in range(half, len(loss) - half)]
    mids = steps[half:len(steps) - half]
    slopes = [(smooth[i + 1] - smooth[i]) / (mids[i + 1] - mids[i]) for i in range(len(smooth) - 1)]
    i = min(range(len(slopes)), key=slopes.__getitem__)
    return int(mids[i])


ALTERNATIVES = {
    "08.make_repeated_tokens": [rep_index, rep_python],
    "08.logprob_correct": [lp_cross_entropy, lp_float64_logsumexp],
    "08.half_losses": [half_loop, half_mask],
    "08.induction_score": [ind_index, ind_mask],
    "08.induction_mask": [mask_loops, mask_shift],
    "08.find_induction_head": [head_library, head_hooks],
    "08.find_phase_change_step": [phase_conv, phase_python],
}
