"""Duas implementações corretas e independentes de cada exercício do notebook 10.

(a) o laço direto, um forward por célula, com ganchos escritos de outro jeito;
(b) uma versão em lote (todas as posições/cabeças de uma camada num só forward) ou com
outro algoritmo (float64, register_hook no lugar de autograd.grad).
Nenhuma chama course_lib.patching.
"""
import torch


def _diff(logits, answer, wrong):
    last = logits[:, -1]
    return last.gather(-1, answer[:, None])[:, 0] - last.gather(-1, wrong[:, None])[:, 0]


def _baselines(model, clean, corr, answer, wrong):
    with torch.no_grad():
        return _diff(model(clean), answer, wrong).mean().item(), _diff(model(corr), answer, wrong).mean().item()


# 10.normalized_logit_diff
def nld_gather(logits, answer, wrong, clean_diff, corrupted_diff):
    return ((_diff(logits, answer, wrong).mean() - corrupted_diff) / (clean_diff - corrupted_diff)).item()


def nld_float64_onehot(logits, answer, wrong, clean_diff, corrupted_diff):
    v = logits.shape[-1]
    sign = torch.nn.functional.one_hot(answer, v).double() - torch.nn.functional.one_hot(wrong, v).double()
    d = (logits[:, -1].double() * sign).sum(-1).mean()
    return float((d - corrupted_diff) / (clean_diff - corrupted_diff))


# 10.patch_hook
def hook_where(act, hook, clean_act, pos, head=None):
    mask = torch.zeros(act.shape[:3] if head is not None else act.shape[:2], dtype=torch.bool)
    p = slice(None) if pos is None else pos
    if head is None:
        mask[:, p] = True
    else:
        mask[:, p, head] = True
    while mask.ndim < act.ndim:
        mask = mask[..., None]
    return torch.where(mask, clean_act, act)


def hook_blend(act, hook, clean_act, pos, head=None):
    w = torch.zeros_like(act)
    p = slice(None) if pos is None else pos
    if head is None:
        w[:, p] = 1
    else:
        w[:, p, head] = 1
    return act * (1 - w) + clean_act * w


# 10.resid_patching_sweep
def resid_loop(model, clean, corr, answer, wrong):
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    _, cache = model.run_with_cache(clean)
    out = torch.empty(model.cfg.n_layers, clean.shape[1])
    for layer in range(model.cfg.n_layers):
        for pos in range(clean.shape[1]):
            src = cache["resid_pre", layer]
            with torch.no_grad():
                logits = model.run_with_hooks(corr, fwd_hooks=[(f"blocks.{layer}.hook_resid_pre",
                                                                lambda a, hook, p=pos: hook_where(a, hook, src, p))])
            out[layer, pos] = (_diff(logits, answer, wrong).mean() - kd) / (cd - kd)
    return out


def _batched_metric(model, corr, answer, wrong, n_copies, name, patch, cd, kd):
    """Um forward com `n_copies` cópias do lote corrompido; `patch(act)` troca uma coisa por cópia."""
    b = corr.shape[0]
    with torch.no_grad():
        logits = model.run_with_hooks(corr.repeat(n_copies, 1), fwd_hooks=[(name, lambda a, hook: patch(a))])
    d = _diff(logits, answer.repeat(n_copies), wrong.repeat(n_copies)).view(n_copies, b).mean(1)
    return (d - kd) / (cd - kd)


def resid_batched(model, clean, corr, answer, wrong):
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    with torch.no_grad():
        _, cache = model.run_with_cache(clean)
    b, n = clean.shape
    rows = []
    for layer in range(model.cfg.n_layers):
        src = cache["resid_pre", layer]

        def patch(a):
            a = a.clone().view(n, b, n, -1)
            for p in range(n):
                a[p, :, p] = src[:, p]
            return a.view(n * b, n, -1)
        rows.append(_batched_metric(model, corr, answer, wrong, n, f"blocks.{layer}.hook_resid_pre", patch, cd, kd))
    return torch.stack(rows)


# 10.head_patching_sweep
def heads_loop(model, clean, corr, answer, wrong, per_position=False):
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    _, cache = model.run_with_cache(clean)
    positions = list(range(clean.shape[1])) if per_position else [None]
    out = torch.empty(model.cfg.n_layers, model.cfg.n_heads, len(positions))
    for layer in range(model.cfg.n_layers):
        src = cache["z", layer]
        for head in range(model.cfg.n_heads):
            for i, p in enumerate(positions):
                with torch.no_grad():
                    logits = model.run_with_hooks(corr, fwd_hooks=[(f"blocks.{layer}.attn.hook_z",
                                                                    lambda a, hook, p=p, h=head: hook_blend(a, hook, src, p, h))])
                out[layer, head, i] = (_diff(logits, answer, wrong).mean() - kd) / (cd - kd)
    return out if per_position else out[..., 0]


def heads_batched(model, clean, corr, answer, wrong, per_position=False):
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    with torch.no_grad():
        _, cache = model.run_with_cache(clean)
    b, n = clean.shape
    H = model.cfg.n_heads
    cells = [(h, p) for h in range(H) for p in (range(n) if per_position else [None])]
    rows = []
    for layer in range(model.cfg.n_layers):
        src = cache["z", layer]

        def patch(a):
            a = a.clone().view(len(cells), b, n, H, -1)
            for i, (h, p) in enumerate(cells):
                if p is None:
                    a[i, :, :, h] = src[:, :, h]
                else:
                    a[i, :, p, h] = src[:, p, h]
            return a.view(len(cells) * b, n, H, -1)
        rows.append(_batched_metric(model, corr, answer, wrong, len(cells), f"blocks.{layer}.attn.hook_z", patch, cd, kd))
    out = torch.stack(rows)
    return out.view(model.cfg.n_layers, H, n) if per_position else out


# 10.path_patch_head
def path_from_caches(model, clean, corr, answer, wrong, sender, receiver, which):
    (ls, hs), (lr, hr) = sender, receiver
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    with torch.no_grad():
        _, cc = model.run_with_cache(clean)
        _, kc = model.run_with_cache(corr)
        W_O = model.blocks[ls].attn.W_O[hs]
        resid = kc["resid_pre", lr] + (cc["z", ls][:, :, hs] - kc["z", ls][:, :, hs]) @ W_O
        attn = model.blocks[lr].attn
        W = {"q": attn.W_Q, "k": attn.W_K, "v": attn.W_V}[which][hr]
        b = {"q": attn.b_Q, "k": attn.b_K, "v": attn.b_V}[which][hr]
        new = torch.einsum("bpd,de->bpe", model.blocks[lr].ln1(resid), W) + b

        def hook(a, hook):
            a = a.clone()
            a[:, :, hr] = new
            return a
        logits = model.run_with_hooks(corr, fwd_hooks=[(f"blocks.{lr}.attn.hook_{which}", hook)])
    return float((_diff(logits, answer, wrong).mean() - kd) / (cd - kd))


def path_single_pass(model, clean, corr, answer, wrong, sender, receiver, which):
    """Um só forward corrompido: guarda a saída corrompida da emissora e o resíduo, e recalcula a entrada no gancho."""
    (ls, hs), (lr, hr) = sender, receiver
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    with torch.no_grad():
        _, cc = model.run_with_cache(clean, names_filter=[f"blocks.{ls}.attn.hook_z"])
    clean_out = torch.einsum("bpe,ed->bpd", cc["z", ls][:, :, hs], model.W_O[ls, hs])
    seen = {}

    def grab_z(a, hook):
        seen["out"] = torch.einsum("bpe,ed->bpd", a[:, :, hs], model.W_O[ls, hs])

    def grab_resid(a, hook):
        seen["resid"] = a

    def replace(a, hook):
        x = model.blocks[lr].ln1(seen["resid"] - seen["out"] + clean_out)
        attn = model.blocks[lr].attn
        W = getattr(attn, "W_" + which.upper())[hr]
        b = getattr(attn, "b_" + which.upper())[hr]
        a = a.clone()
        a[:, :, hr] = x @ W + b
        return a
    with torch.no_grad():
        logits = model.run_with_hooks(corr, fwd_hooks=[(f"blocks.{ls}.attn.hook_z", grab_z),
                                                       (f"blocks.{lr}.hook_resid_pre", grab_resid),
                                                       (f"blocks.{lr}.attn.hook_{which}", replace)])
    return float((_diff(logits, answer, wrong).mean() - kd) / (cd - kd))


# 10.attribution_patching
def attr_autograd(model, clean, corr, answer, wrong):
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    names = [f"blocks.{l}.hook_resid_pre" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, cc = model.run_with_cache(clean, names_filter=names)
    acts = {}
    logits = model.run_with_hooks(corr, fwd_hooks=[(n, lambda a, hook: acts.__setitem__(hook.name, a)) for n in names])
    metric = (_diff(logits, answer, wrong).mean() - kd) / (cd - kd)
    grads = torch.autograd.grad(metric, [acts[n] for n in names])
    return torch.stack([torch.einsum("bpd,bpd->p", cc[n] - acts[n].detach(), g) for n, g in zip(names, grads)])


def attr_register_hook(model, clean, corr, answer, wrong):
    """Gradientes pegos com tensor.register_hook dentro dos ganchos de forward, e .backward()."""
    cd, kd = _baselines(model, clean, corr, answer, wrong)
    L = model.cfg.n_layers
    with torch.no_grad():
        _, cc = model.run_with_cache(clean)
    acts, grads = {}, {}

    def fwd(a, hook):
        acts[hook.name] = a.detach()
        a.register_hook(lambda g, name=hook.name: grads.__setitem__(name, g))
    logits = model.run_with_hooks(corr, fwd_hooks=[(f"blocks.{l}.hook_resid_pre", fwd) for l in range(L)])
    ((_diff(logits, answer, wrong).mean() - kd) / (cd - kd)).backward()
    model.zero_grad(set_to_none=True)
    out = torch.empty(L, clean.shape[1])
    for l in range(L):
        n = f"blocks.{l}.hook_resid_pre"
        out[l] = ((cc["resid_pre", l].double() - acts[n].double()) * grads[n].double()).sum((0, 2)).float()
    return out


# 10.find_induction_circuit
def fic_argmax(model, clean, corr, answer, wrong):
    hp = heads_batched(model, clean, corr, answer, wrong, per_position=True)
    last = hp.shape[-1] - 1
    l0 = hp[0, :, :last]
    h, p = divmod(int(l0.argmax()), l0.shape[1])
    rl, rh = divmod(int(hp[1:, :, last].argmax()), model.cfg.n_heads)
    rec = [1 + rl, rh]
    paths = {w: path_from_caches(model, clean, corr, answer, wrong, [0, h], rec, w) for w in "qkv"}
    return {"previous_token_head": [0, h], "previous_token_position": p, "induction_head": rec,
            "composition": max(paths, key=paths.get)}


def fic_loop(model, clean, corr, answer, wrong):
    hp = heads_loop(model, clean, corr, answer, wrong, per_position=True)
    last = hp.shape[-1] - 1
    best = max(((h, p) for h in range(model.cfg.n_heads) for p in range(last)), key=lambda t: float(hp[0, t[0], t[1]]))
    heads = [(l, h) for l in range(1, model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    ind = max(heads, key=lambda t: float(hp[t[0], t[1], last]))
    k = path_single_pass(model, clean, corr, answer, wrong, [0, best[0]], list(ind), "k")
    q = path_single_pass(model, clean, corr, answer, wrong, [0, best[0]], list(ind), "q")
    v = path_single_pass(model, clean, corr, answer, wrong, [0, best[0]], list(ind), "v")
    comp = "k" if k >= max(q, v) else ("q" if q >= v else "v")
    return {"previous_token_head": [0, best[0]], "previous_token_position": best[1],
            "induction_head": list(ind), "composition": comp}


# 10.find_number_route
def fnr_argmax(model, clean, corr, answer, wrong):
    r = resid_batched(model, clean, corr, answer, wrong)
    hs = heads_batched(model, clean, corr, answer, wrong)
    src = int(r[0, :-1].argmax())
    row = r[1].clone()
    row[[0, src, row.shape[0] - 1]] = -1e9
    l, h = divmod(int(hs.argmax()), model.cfg.n_heads)
    return {"source_position": src, "relay_position": int(row.argmax()), "head": [l, h]}


def fnr_loop(model, clean, corr, answer, wrong):
    r = resid_loop(model, clean, corr, answer, wrong)
    hs = heads_loop(model, clean, corr, answer, wrong)
    n = r.shape[1]
    src = max(range(n - 1), key=lambda p: float(r[0, p]))
    relay = max((p for p in range(1, n - 1) if p != src), key=lambda p: float(r[1, p]))
    cells = [(l, h) for l in range(hs.shape[0]) for h in range(hs.shape[1])]
    return {"source_position": src, "relay_position": relay, "head": list(max(cells, key=lambda t: float(hs[t])))}


ALTERNATIVES = {
    "10.normalized_logit_diff": [nld_gather, nld_float64_onehot],
    "10.patch_hook": [hook_where, hook_blend],
    "10.resid_patching_sweep": [resid_loop, resid_batched],
    "10.head_patching_sweep": [heads_loop, heads_batched],
    "10.path_patch_head": [path_from_caches, path_single_pass],
    "10.attribution_patching": [attr_autograd, attr_register_hook],
    "10.find_induction_circuit": [fic_argmax, fic_loop],
    "10.find_number_route": [fnr_argmax, fnr_loop],
}
