"""Patching de ativações: rodar o prompt corrompido e restaurar UMA ativação limpa.

Receita (a mesma do TransformerLens / ARENA 1.2):

1. dois prompts do mesmo tamanho, o **limpo** e o **corrompido**, que só diferem no
   que queremos rastrear (um token da 1ª cópia; o número do sujeito);
2. uma métrica: a diferença de logits `logit(resposta) - logit(errada)` na última
   posição, normalizada para dar 0 na rodada corrompida e 1 na limpa;
3. rodamos o corrompido e trocamos uma ativação pela da rodada limpa (um gancho). Se a
   métrica volta para perto de 1, aquela ativação carrega a informação que faltava.

Varreduras: `patch_resid_pre` (camada × posição do fluxo residual), `patch_head_z`
(por cabeça, ou cabeça × posição, em `hook_z`), `path_patch` (de uma cabeça
emissora só para a consulta, a chave ou o valor de uma cabeça receptora) e
`attribution_patch_resid` / `attribution_patch_heads` (a aproximação de 1ª ordem pelo
gradiente: um forward e um backward no corrompido no lugar de um forward por célula).
"""
from __future__ import annotations

import torch

from ._interp_utils import check_choice, check_head, check_layer, check_model, check_tokens
from .cache import get_act_name


def _check_pair(model, clean_tokens, corrupted_tokens, fn: str):
    check_model(model, fn)
    clean = check_tokens(model, clean_tokens, fn)
    corrupted = check_tokens(model, corrupted_tokens, fn)
    if clean.shape != corrupted.shape:
        raise ValueError(f"{fn}: `clean_tokens` e `corrupted_tokens` devem ter o mesmo formato (o patching troca "
                         f"posição por posição); vieram {tuple(clean.shape)} e {tuple(corrupted.shape)}.")
    return clean, corrupted


def _check_answers(answer, wrong, batch: int, fn: str):
    out = []
    for name, ids in (("answer", answer), ("wrong", wrong)):
        ids = torch.as_tensor(ids)
        if ids.is_floating_point() or ids.ndim > 1:
            raise TypeError(f"{fn}: `{name}` deve ser um id de token (int) ou um LongTensor [batch]; "
                            f"veio {ids.dtype} de formato {tuple(ids.shape)}.")
        ids = ids.long().expand(batch) if ids.ndim == 0 else ids.long()
        if ids.shape[0] != batch:
            raise ValueError(f"{fn}: `{name}` deve ter {batch} ids (um por exemplo do lote); veio {ids.shape[0]}.")
        out.append(ids)
    return out


def logit_diff(logits: torch.Tensor, answer, wrong) -> torch.Tensor:
    """logit(answer) - logit(wrong) na última posição, por exemplo do lote: [batch]."""
    last = logits[:, -1]
    answer, wrong = _check_answers(answer, wrong, last.shape[0], "logit_diff")
    rows = torch.arange(last.shape[0], device=last.device)
    return last[rows, answer.to(last.device)] - last[rows, wrong.to(last.device)]


def normalized_metric(logits, answer, wrong, clean_diff: float, corrupted_diff: float) -> torch.Tensor:
    """(média de logit_diff - corrompida) / (limpa - corrompida): 0 no corrompido, 1 no limpo."""
    return (logit_diff(logits, answer, wrong).mean() - corrupted_diff) / (clean_diff - corrupted_diff)


def _baselines(model, clean, corrupted, answer, wrong, names):
    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(clean, names_filter=names)
        corrupted_logits = model(corrupted)
    clean_diff = logit_diff(clean_logits, answer, wrong).mean().item()
    corrupted_diff = logit_diff(corrupted_logits, answer, wrong).mean().item()
    return cache, clean_diff, corrupted_diff


def _patched_metric(model, corrupted, name, index, value, answer, wrong, clean_diff, corrupted_diff) -> float:
    def hook(act, hook):
        act = act.clone()
        act[index] = value
        return act

    with torch.no_grad():
        logits = model.run_with_hooks(corrupted, fwd_hooks=[(name, hook)])
    return normalized_metric(logits, answer, wrong, clean_diff, corrupted_diff).item()


def _sweep_layer(model, corrupted, name, cells, clean_act, answer, wrong, clean_diff, corrupted_diff) -> torch.Tensor:
    """Uma varredura inteira num só forward: o lote corrompido repetido, uma célula restaurada por cópia.

    Dá o mesmo que um forward por célula (`_patched_metric`), só que mais rápido.
    """
    batch, n = corrupted.shape[0], len(cells)

    def hook(act, hook):
        act = act.clone().view(n, batch, *act.shape[1:])
        for i, index in enumerate(cells):
            act[i][index] = clean_act[index]
        return act.view(n * batch, *act.shape[2:])

    with torch.no_grad():
        logits = model.run_with_hooks(corrupted.repeat(n, 1), fwd_hooks=[(name, hook)])
    diffs = logit_diff(logits, answer.repeat(n), wrong.repeat(n)).view(n, batch).mean(1)
    return (diffs - corrupted_diff) / (clean_diff - corrupted_diff)


def patch_resid_pre(model, clean_tokens, corrupted_tokens, answer, wrong) -> torch.Tensor:
    """Métrica normalizada ao restaurar `hook_resid_pre` limpo em cada (camada, posição): [n_layers, pos]."""
    fn = "patch_resid_pre"
    clean, corrupted = _check_pair(model, clean_tokens, corrupted_tokens, fn)
    answer, wrong = _check_answers(answer, wrong, clean.shape[0], fn)
    names = [get_act_name("resid_pre", l) for l in range(model.cfg.n_layers)]
    cache, clean_diff, corrupted_diff = _baselines(model, clean, corrupted, answer, wrong, names)
    cells = [(slice(None), pos) for pos in range(clean.shape[1])]
    return torch.stack([_sweep_layer(model, corrupted, name, cells, cache[name], answer, wrong, clean_diff, corrupted_diff)
                        for name in names])


def patch_head_z(model, clean_tokens, corrupted_tokens, answer, wrong, per_position: bool = False) -> torch.Tensor:
    """Métrica ao restaurar a saída limpa (`hook_z`) de cada cabeça: [n_layers, n_heads]
    (todas as posições de uma vez) ou, com per_position=True, [n_layers, n_heads, pos]."""
    fn = "patch_head_z"
    clean, corrupted = _check_pair(model, clean_tokens, corrupted_tokens, fn)
    answer, wrong = _check_answers(answer, wrong, clean.shape[0], fn)
    cfg = model.cfg
    names = [get_act_name("z", l) for l in range(cfg.n_layers)]
    cache, clean_diff, corrupted_diff = _baselines(model, clean, corrupted, answer, wrong, names)
    positions = list(range(clean.shape[1])) if per_position else [slice(None)]
    cells = [(slice(None), pos, head) for head in range(cfg.n_heads) for pos in positions]
    out = torch.stack([_sweep_layer(model, corrupted, name, cells, cache[name], answer, wrong, clean_diff, corrupted_diff)
                       for name in names]).view(cfg.n_layers, cfg.n_heads, len(positions))
    return out if per_position else out[..., 0]


def head_output(model, z: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    """O que a cabeça `layer.head` escreve no fluxo residual: z[:, :, head] @ W_O[layer, head]."""
    return z[:, :, head] @ model.W_O[layer, head]


def path_patch(model, clean_tokens, corrupted_tokens, answer, wrong, sender, receiver, which: str) -> float:
    """Patching de caminho: a saída limpa da cabeça `sender` = (l, h) chega SÓ à entrada `which`
    ("q", "k" ou "v") da cabeça `receiver`; todo o resto do modelo vê a rodada corrompida.

    A entrada da receptora é o resíduo corrompido + (saída limpa - saída corrompida da
    emissora), passado pela LayerNorm `ln1` do bloco da receptora (se houver).
    """
    fn = "path_patch"
    clean, corrupted = _check_pair(model, clean_tokens, corrupted_tokens, fn)
    answer, wrong = _check_answers(answer, wrong, clean.shape[0], fn)
    check_choice(which, fn, "which", ("q", "k", "v"))
    (ls, hs), (lr, hr) = sender, receiver
    ls, hs = check_layer(model, ls, fn, "sender[0]"), check_head(model, hs, fn, "sender[1]")
    lr, hr = check_layer(model, lr, fn, "receiver[0]"), check_head(model, hr, fn, "receiver[1]")
    if ls >= lr:
        raise ValueError(f"{fn}: a emissora deve estar numa camada anterior à receptora; vieram {ls} e {lr}.")
    z_name, resid_name = get_act_name("z", ls), get_act_name("resid_pre", lr)
    clean_cache, clean_diff, corrupted_diff = _baselines(model, clean, corrupted, answer, wrong, [z_name])
    with torch.no_grad():
        _, corr_cache = model.run_with_cache(corrupted, names_filter=[z_name, resid_name])
        delta = head_output(model, clean_cache[z_name], ls, hs) - head_output(model, corr_cache[z_name], ls, hs)
        block = model.blocks[lr]
        x = corr_cache[resid_name] + delta
        x = block.ln1(x)  # Identity nos modelos sem LayerNorm
        W, b = getattr(block.attn, f"W_{which.upper()}")[hr], getattr(block.attn, f"b_{which.upper()}")[hr]
        new = x @ W + b  # [batch, pos, d_head]
    name = get_act_name(which, lr)
    return _patched_metric(model, corrupted, name, (slice(None), slice(None), hr), new,
                           answer, wrong, clean_diff, corrupted_diff)


def _attribution(model, clean, corrupted, answer, wrong, names):
    """(ativação limpa - corrompida) e o gradiente da métrica na corrompida, para cada gancho."""
    cache, clean_diff, corrupted_diff = _baselines(model, clean, corrupted, answer, wrong, names)
    acts = {}

    def keep(act, hook):
        acts[hook.name] = act
        return None

    with torch.enable_grad():
        logits = model.run_with_hooks(corrupted, fwd_hooks=[(n, keep) for n in names])
        metric = normalized_metric(logits, answer, wrong, clean_diff, corrupted_diff)
        grads = torch.autograd.grad(metric, [acts[n] for n in names])
    return [(cache[n] - acts[n].detach(), g) for n, g in zip(names, grads)]


def attribution_patch_resid(model, clean_tokens, corrupted_tokens, answer, wrong) -> torch.Tensor:
    """Aproximação de `patch_resid_pre` pelo gradiente: Σ_d (limpa - corrompida) · ∂métrica/∂ativação,
    somado no lote, [n_layers, pos]. Um forward e um backward no lugar de n_layers × pos forwards."""
    fn = "attribution_patch_resid"
    clean, corrupted = _check_pair(model, clean_tokens, corrupted_tokens, fn)
    answer, wrong = _check_answers(answer, wrong, clean.shape[0], fn)
    names = [get_act_name("resid_pre", l) for l in range(model.cfg.n_layers)]
    pairs = _attribution(model, clean, corrupted, answer, wrong, names)
    return torch.stack([(d * g).sum(dim=(0, 2)) for d, g in pairs]).detach()


def attribution_patch_heads(model, clean_tokens, corrupted_tokens, answer, wrong) -> torch.Tensor:
    """Aproximação de `patch_head_z(per_position=True)` pelo gradiente: [n_layers, n_heads, pos]."""
    fn = "attribution_patch_heads"
    clean, corrupted = _check_pair(model, clean_tokens, corrupted_tokens, fn)
    answer, wrong = _check_answers(answer, wrong, clean.shape[0], fn)
    names = [get_act_name("z", l) for l in range(model.cfg.n_layers)]
    pairs = _attribution(model, clean, corrupted, answer, wrong, names)
    return torch.stack([(d * g).sum(dim=(0, 3)).T for d, g in pairs]).detach()
