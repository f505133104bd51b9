"""Movimento de informação: quanto cada cabeça leva de cada posição de origem para cada destino.

A saída de uma cabeça na posição q é uma soma sobre as chaves k:

    resultado[q] = Σ_k A[q, k] · (v_k · W_O),    v_k = x_k · W_V + b_V,

onde A é o padrão de atenção. Cada parcela é o que a cabeça traz da posição k
para a posição q; medimos o seu tamanho:

    info[q, k] = A[q, k] · ‖v_k · W_O‖.

Usamos v do cache (`hook_v`), que já inclui b_V: b_V também é escrito via W_O, na
proporção da atenção. b_O não entra: ele é somado em todas as posições e não vem de
nenhuma origem. Atenção alta numa posição cujo v·W_O é quase zero (o BOS costuma ser
assim: uma "atenção de descanso") move pouca informação — é por isso que olhamos
info e não só A. Pela desigualdade triangular, ‖resultado[q]‖ <= Σ_k info[q, k].
"""
from __future__ import annotations

import torch

from ._interp_utils import check_cache, check_head, check_layer, check_model, require


def _check(model, cache, fn, layers):
    check_model(model, fn)
    cache = check_cache(model, cache, fn)
    require(cache, [f"blocks.{l}.attn.{s}" for l in layers for s in ("hook_pattern", "hook_v")], fn)
    return cache


def _info_moved(model, cache, layer: int, head: int) -> torch.Tensor:
    pattern = cache["pattern", layer][:, head]  # [batch, q, k]
    v = cache["v", layer][:, :, head]  # [batch, k, d_head], já com b_V
    W_O = model.blocks[layer].attn.W_O[head].detach().to(v.device)  # [d_head, d_model]
    written = (v @ W_O).norm(dim=-1)  # [batch, k]: ‖v_k W_O‖
    return pattern * written[:, None, :]


@torch.no_grad()
def info_moved(model, cache, layer: int, head: int) -> torch.Tensor:
    """info[b, q, k] = A[q, k] · ‖v_k W_O‖ da cabeça `layer`.`head`: [batch, q, k] (zero no futuro)."""
    fn = "info_moved"
    check_model(model, fn)
    layer, head = check_layer(model, layer, fn), check_head(model, head, fn)
    return _info_moved(model, _check(model, cache, fn, [layer]), layer, head)


@torch.no_grad()
def head_movement_summary(model, cache) -> dict[str, torch.Tensor]:
    """Resumo por cabeça, cada um [n_layers, n_heads], sobre as consultas q >= 1 (q = 0 só vê a si mesma):

    - "moved_from_others": Σ_{k != q} info[q, k], na média do lote e das consultas: quanta
      informação (em norma) a cabeça traz de OUTRAS posições.
    - "mean_distance": distância média q - k, ponderada por info:
      Σ info[q, k]·(q - k) / Σ info[q, k], somando em batch, q e k. 1 = traz do token
      anterior; 0 = fica no próprio token. Cabeça que não escreve nada (info = 0): 0.
    """
    fn = "head_movement_summary"
    cache = _check(model, cache, fn, range(model.cfg.n_layers))
    pos = cache["pattern", 0].shape[-1]
    if pos < 2:
        raise ValueError(f"{fn}: é preciso pelo menos 2 posições no cache; veio pos = {pos}.")
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    device = cache["pattern", 0].device
    q = torch.arange(pos, device=device)
    distance = (q[:, None] - q[None, :]).clamp(min=0).float()  # [q, k], q - k (0 no futuro)
    others = (q[:, None] != q[None, :]).float()
    moved = torch.zeros(n_layers, n_heads, device=device)
    mean_distance = torch.zeros(n_layers, n_heads, device=device)
    for l in range(n_layers):
        for h in range(n_heads):
            info = _info_moved(model, cache, l, h)[:, 1:]  # consultas q >= 1
            moved[l, h] = (info * others[1:]).sum(-1).mean()
            total = info.sum()
            mean_distance[l, h] = (info * distance[1:]).sum() / total if total > 0 else 0.0
    return {"moved_from_others": moved, "mean_distance": mean_distance}
