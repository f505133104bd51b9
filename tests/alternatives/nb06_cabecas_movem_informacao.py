"""Implementações corretas independentes dos exercícios do notebook 06 (ver tests/test_exercises.py)."""
import torch


# ---------------------------------------------------------------- 06.decompose_attn_out
def decompose_loop(z, W_O, b_O):
    terms = [z[:, :, h] @ W_O[h] for h in range(W_O.shape[0])]
    terms.append(torch.zeros_like(terms[0]) + b_O)
    return torch.stack(terms)


def decompose_float64(z, W_O, b_O):
    heads = (z.double().permute(2, 0, 1, 3) @ W_O.double()[:, None])  # [head, batch, pos, d_model]
    bias = b_O.double().expand(1, *heads.shape[1:])
    return torch.cat([heads, bias]).to(z.dtype)


# ---------------------------------------------------------------- 06.info_moved
def info_einsum(pattern, v, W_O):
    written = torch.einsum("bke,ed->bkd", v, W_O).pow(2).sum(-1).sqrt()
    return torch.einsum("bqk,bk->bqk", pattern, written)


def info_pieces(pattern, v, W_O):
    """Norma de cada parcela A[q,k] (v_k W_O) (a definição), em float64."""
    pieces = pattern.double()[..., None] * (v.double() @ W_O.double())[:, None]  # [b, q, k, d_model]
    return pieces.norm(dim=-1).to(pattern.dtype)


# ---------------------------------------------------------------- 06.find_info_mover
def _info_row_table(model, tokens, position, fn):
    _, cache = model.run_with_cache(tokens)
    pos = tokens.shape[1]
    target = position % pos
    table = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.float64)
    for l in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            info = fn(cache["pattern", l][:, h], cache["v", l][:, :, h], model.blocks[l].attn.W_O[h].detach())
            row = info[:, target].double()
            table[l, h] = (row.sum(-1) - row[:, target]).mean()
    return table


def find_info_mover_einsum(model, tokens, position):
    table = _info_row_table(model, tokens, position, info_einsum)
    layer, head = divmod(int(table.argmax()), model.cfg.n_heads)
    return (layer, head)


def find_info_mover_library(model, tokens, position):
    from course_lib import movement

    _, cache = model.run_with_cache(tokens)
    target = position % tokens.shape[1]
    best = max(((l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)),
               key=lambda lh: float(movement.info_moved(model, cache, *lh)[:, target]
                                    .index_fill(-1, torch.tensor([target]), 0.0).sum(-1).mean()))
    return best


# ---------------------------------------------------------------- 06.zero_ablation_loss_delta
def ablation_library(model, tokens, layer, head):
    from course_lib import ablation
    from course_lib.model import lm_cross_entropy_loss

    with torch.no_grad():
        clean = lm_cross_entropy_loss(model(tokens), tokens)
        ablated = lm_cross_entropy_loss(ablation.ablate_heads(model, tokens, [(layer, head)]), tokens)
    return (ablated - clean).item()


def ablation_zero_W_O(model, tokens, layer, head):
    """Zera os pesos de saída da cabeça (W_O[head]) numa cópia do modelo: o mesmo que z = 0; perdas em float64."""
    import copy

    import torch.nn.functional as F

    def loss(m):
        logits = m(tokens).double()
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    pruned = copy.deepcopy(model)
    with torch.no_grad():
        pruned.blocks[layer].attn.W_O[head] = 0.0
        return float(loss(pruned) - loss(model))


# ---------------------------------------------------------------- 06.find_most_harmful_head
def find_most_harmful_library(model, tokens):
    from course_lib import ablation

    table = ablation.head_ablation_table(model, tokens)
    layer, head = divmod(int(table.argmax()), model.cfg.n_heads)
    return (layer, head)


def find_most_harmful_weights(model, tokens):
    pairs = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    return max(pairs, key=lambda lh: ablation_zero_W_O(model, tokens, *lh))


ALTERNATIVES = {
    "06.decompose_attn_out": [decompose_loop, decompose_float64],
    "06.info_moved": [info_einsum, info_pieces],
    "06.find_info_mover": [find_info_mover_einsum, find_info_mover_library],
    "06.zero_ablation_loss_delta": [ablation_library, ablation_zero_W_O],
    "06.find_most_harmful_head": [find_most_harmful_library, find_most_harmful_weights],
}
