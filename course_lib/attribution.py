"""Atribuição direta aos logits (direct logit attribution, DLA).

O resíduo final é uma soma de componentes (embeddings, cada cabeça, cada MLP, os
vieses b_O). Congelando a escala da LN final no valor do forward, a LN vira uma
função afim (veja o docstring de `cache.py`), então o logit de um token se
decompõe EXATAMENTE:

    logit[alvo] = Σ_componentes (LN_linear(componente) · W_U[:, alvo]) + offset,
    offset = b_LN_final · W_U[:, alvo] + b_U[alvo].

Com `incorrect`, a direção é W_U[:, alvo] - W_U[:, incorrect] e o resultado é a
diferença de logits. Devolvemos o offset como último componente ("offset"), então
`values.sum(0)` é exatamente o logit (ou a diferença) do modelo.

"Direta" quer dizer só o caminho componente -> LN final -> W_U: o efeito de uma
cabeça que passa por camadas posteriores não aparece aqui (para isso, ablação).
"""
from __future__ import annotations

import torch

from ._interp_utils import (check_bool, check_cache, check_choice, check_head, check_layer, check_model, check_pos,
                            require, token_ids)


def _targets(model, target, batch: int, seq_len: int, pos: int, fn: str, name: str) -> torch.Tensor:
    """Ids alvo [batch]. Um tensor 2-D é lido como os tokens de entrada: o alvo é tokens[:, pos+1]."""
    if isinstance(target, torch.Tensor) and target.ndim == 2:
        if tuple(target.shape) != (batch, seq_len):
            raise ValueError(f"{fn}: `{name}` 2-D deve ser os tokens de entrada [batch, pos] = {(batch, seq_len)}; "
                             f"veio {tuple(target.shape)}.")
        if pos + 1 >= seq_len:
            raise ValueError(
                f"{fn}: com `pos` = {pos} (a última posição) não há próximo token em `{name}`; "
                f"passe o id do token alvo (int, texto ou tensor [batch]) ou use pos < {seq_len - 1}."
            )
        target = target[:, pos + 1]
    return token_ids(model, target, batch, fn, name)


def _project(cache, stack: torch.Tensor, pos: int, target, incorrect) -> torch.Tensor:
    """[componente, batch, pos, d_model] -> contribuição de cada componente ao logit em `pos`: [componente, batch]."""
    stack_ln = cache.apply_ln_to_stack(stack)[:, :, pos]  # escala congelada: linearização exata
    return cache.logit_attrs(stack_ln, target, incorrect, has_ln_applied=True)


def _offset(cache, target, incorrect) -> torch.Tensor:
    """b_LN·W_U + b_U nos alvos (menos nos incorretos): [batch]."""
    offset = cache.logit_offset(target)
    return offset if incorrect is None else offset - cache.logit_offset(incorrect)


def _head_components(model, cache):
    """embed, pos_embed, cada cabeça (L{l}H{h}), cada MLP (MLP{l}) e "bias" (Σ b_O): [comp, batch, pos, d_model]."""
    heads, labels = cache.stack_head_results(return_labels=True)
    embed = cache["embed"]
    comps = [embed[None], cache["pos_embed"][None], heads]
    labels = ["embed", "pos_embed"] + labels
    if not model.cfg.attn_only:
        comps.append(torch.stack([cache["mlp_out", l] for l in range(model.cfg.n_layers)]))
        labels += [f"MLP{l}" for l in range(model.cfg.n_layers)]
    bias = sum(model.blocks[l].attn.b_O.detach().to(embed.device) for l in range(model.cfg.n_layers))
    comps.append(bias.expand_as(embed)[None])
    return torch.cat(comps), labels + ["bias"]


def _setup(model, cache, tokens_or_target, incorrect, pos, per_example, fn):
    check_model(model, fn)
    check_bool(per_example, fn, "per_example")
    cache = check_cache(model, cache, fn)
    n = model.cfg.n_layers
    needed = ["hook_embed", "hook_pos_embed", f"blocks.{n - 1}.hook_resid_post"]
    needed += [f"blocks.{l}.{s}" for l in range(n) for s in ("hook_resid_pre", "hook_attn_out", "attn.hook_z")]
    needed += [] if model.cfg.attn_only else [f"blocks.{l}.hook_mlp_out" for l in range(n)]
    needed += [] if model.cfg.normalization is None else ["ln_final.hook_scale"]
    require(cache, needed, fn)
    batch, seq_len = cache["embed"].shape[:2]
    pos = check_pos(pos, seq_len, fn)
    target = _targets(model, tokens_or_target, batch, seq_len, pos, fn, "tokens_or_target")
    wrong = None if incorrect is None else _targets(model, incorrect, batch, seq_len, pos, fn, "incorrect")
    return cache, pos, target, wrong


@torch.no_grad()
def direct_logit_attribution(model, cache, tokens_or_target, incorrect=None, pos: int = -1,
                             granularity: str = "heads", per_example: bool = False):
    """Contribuição direta de cada componente ao logit do alvo na posição `pos`.

    tokens_or_target: id do alvo (int ou texto de um token, o mesmo para todo o batch),
        ids [batch] (um alvo por exemplo) ou os tokens de entrada [batch, pos] (o alvo é
        o próximo token, tokens[:, pos+1]; precisa de pos < última posição).
    incorrect: None ou, no mesmo formato, o token "errado": mede a diferença de logits.
    granularity: "heads" (embed, pos_embed, L{l}H{h}, MLP{l}, bias = Σ b_O) ou "layers"
        (embed, pos_embed, {l}_attn_out, {l}_mlp_out — com b_O e b_out dentro).
    per_example: False devolve a média no lote, [componente]; True devolve [componente, batch].

    Devolve (values, labels); o último componente é "offset", e values.sum(0) é
    exatamente o logit (ou a diferença de logits) do modelo.
    """
    fn = "direct_logit_attribution"
    check_choice(granularity, fn, "granularity", ("heads", "layers"))
    cache, pos, target, wrong = _setup(model, cache, tokens_or_target, incorrect, pos, per_example, fn)
    if granularity == "heads":
        stack, labels = _head_components(model, cache)
    else:
        stack, labels = cache.decompose_resid(return_labels=True)
    values = torch.cat([_project(cache, stack, pos, target, wrong), _offset(cache, target, wrong)[None]])
    labels = labels + ["offset"]
    return (values if per_example else values.mean(1)), labels


@torch.no_grad()
def accumulated_resid_attribution(model, cache, tokens_or_target, incorrect=None, pos: int = -1,
                                  per_example: bool = False):
    """Logit do alvo lido do resíduo acumulado antes de cada camada (lente linear): ([camada], rótulos).

    Linha k = (resíduo antes da camada k, pela LN final com a escala congelada) · W_U[:, alvo]
    + offset: a lente de logits com `recompute_ln=False`. A última linha ("final_post") é
    exatamente o logit do modelo e a diferença entre linhas vizinhas é a soma das
    contribuições diretas daquela camada. Argumentos como em `direct_logit_attribution`.
    """
    fn = "accumulated_resid_attribution"
    cache, pos, target, wrong = _setup(model, cache, tokens_or_target, incorrect, pos, per_example, fn)
    stack, labels = cache.accumulated_resid(return_labels=True)
    values = _project(cache, stack, pos, target, wrong) + _offset(cache, target, wrong)[None]
    return (values if per_example else values.mean(1)), labels


@torch.no_grad()
def decompose_attn_scores(model, cache, layer: int, head: int):
    """Pontuações de atenção da cabeça layer.head, separadas por par (componente da consulta, da chave).

    Sem LayerNorm, a entrada da camada é a soma dos componentes anteriores (embed, pos_embed,
    cada cabeça L{l}H{h} e cada MLP{l} das camadas < layer, e "bias": os b_O/b_out dessas
    camadas). A consulta e a chave são lineares nessa soma, então

        score[q, k] = Σ_i Σ_j (c_i[q] W_Q + [i = bias] b_Q) · (c_j[k] W_K + [j = bias] b_K) / √d_head

    exatamente (b_Q e b_K entram no componente "bias").
    Devolve (scores [n_comp, n_comp, batch, q_pos, k_pos], labels): índice 0 = componente da
    consulta, índice 1 = da chave; scores.sum((0, 1)) é o `attn_scores` do modelo nas
    posições permitidas pela máscara causal (as do futuro ficam com o valor sem máscara).
    """
    fn = "decompose_attn_scores"
    check_model(model, fn)
    if model.cfg.normalization is not None:
        raise ValueError(f"{fn}: só vale para modelos sem LayerNorm (a LN não é linear); "
                         f"este tem normalization={model.cfg.normalization!r}.")
    layer = check_layer(model, layer, fn)
    head = check_head(model, head, fn)
    cache = check_cache(model, cache, fn)
    needed = ["hook_embed", "hook_pos_embed"] + [f"blocks.{l}.attn.hook_z" for l in range(layer)]
    needed += [] if model.cfg.attn_only else [f"blocks.{l}.hook_mlp_out" for l in range(layer)]
    require(cache, needed, fn)
    embed = cache["embed"]
    comps, labels = [embed, cache["pos_embed"]], ["embed", "pos_embed"]
    bias = torch.zeros_like(embed[0, 0])
    for l in range(layer):
        W_O = model.blocks[l].attn.W_O.detach().to(embed.device)
        comps += list(torch.einsum("bphd,hdm->hbpm", cache["z", l], W_O))
        labels += [f"L{l}H{h}" for h in range(model.cfg.n_heads)]
        bias = bias + model.blocks[l].attn.b_O.detach().to(embed.device)
        if not model.cfg.attn_only:
            comps.append(cache["mlp_out", l])
            labels.append(f"MLP{l}")  # hook_mlp_out já inclui b_out
    comps.append(bias.expand_as(embed))
    labels.append("bias")
    stack = torch.stack(comps)  # [comp, batch, pos, d_model]
    attn = model.blocks[layer].attn
    q = stack @ attn.W_Q[head].detach().to(embed.device)
    k = stack @ attn.W_K[head].detach().to(embed.device)
    q[-1] += attn.b_Q[head].detach().to(embed.device)
    k[-1] += attn.b_K[head].detach().to(embed.device)
    scores = torch.einsum("ibqd,jbkd->ijbqk", q, k) / model.cfg.d_head ** 0.5
    return scores, labels
