"""Lente de logits (logit lens): o que o modelo "preveria" se parasse numa camada do meio.

Ideia (nostalgebraist, 2020): o fluxo residual antes da camada k já é um vetor do
mesmo espaço do resíduo final. Passando-o pela LN final e por W_U (mais b_U)
obtemos logits "intermediários" e vemos a previsão se formando camada a camada.

Duas variantes para a LN final, LN(x) = w ⊙ (x - média(x)) / escala(x) + b:

- `recompute_ln=True` (padrão, a lente de nostalgebraist): cada resíduo intermediário
  é normalizado com a SUA escala, como se fosse o resíduo final. É a pergunta "o que o
  modelo diria se a rede acabasse aqui?". Não é linear: a soma das lentes de duas
  partes não é a lente da soma.
- `recompute_ln=False` (a linearização usada nas atribuições exatas): todos usam a
  escala do resíduo FINAL, guardada no cache (`ln_final.hook_scale`). A LN vira uma
  função afim, então as lentes se somam: lente(resíduo k) - offset, com offset =
  b_LN·W_U + b_U (`cache.logit_offset()`), é a soma das contribuições diretas (veja
  `attribution.py`) dos componentes antes da camada k.
  Como a norma do resíduo em geral cresce camada a camada, esta variante dá logits
  "mais fracos" (mais perto do offset) que a outra nas camadas iniciais.

Nas duas, na última linha ("final_post") a lente é exatamente o logit do modelo.

`no_ln=True` pula a LN final (logits = x @ W_U + b_U) para mostrar o que dá errado:
a norma do resíduo cresce camada a camada e a direção média (que a LN removeria)
fica, então os logits de camadas diferentes não ficam comparáveis e nem o último
bate com o do modelo (se ele tem LN).
"""
from __future__ import annotations

import torch

from ._interp_utils import check_bool, check_int, check_model, check_pos, get_cache, require, token_id



def _check_layers(layers, n_layers: int, fn: str) -> list[int]:
    """None = todas (0..n_layers); senão lista de índices do fluxo acumulado (n_layers = final)."""
    if layers is None:
        return list(range(n_layers + 1))
    if isinstance(layers, int) and not isinstance(layers, bool):
        layers = [layers]
    if isinstance(layers, torch.Tensor):
        layers = layers.tolist()
    if not isinstance(layers, (list, tuple, range)) or len(layers) == 0:
        raise TypeError(f"{fn}: `layers` deve ser None ou uma lista não vazia de inteiros; veio {layers!r}.")
    return [check_int(l, fn, "layers", 0, n_layers) for l in layers]


def _needed_hooks(model, layers: list[int], include_components: bool, frozen_scale: bool) -> list[str]:
    """Nomes das ativações de que a lente precisa."""
    n = model.cfg.n_layers
    names = []
    for l in layers:
        names.append(f"blocks.{n - 1}.hook_resid_post" if l == n else f"blocks.{l}.hook_resid_pre")
        if include_components and l < n:
            names.append(f"blocks.{l}.hook_attn_out")
            if not model.cfg.attn_only:
                names.append(f"blocks.{l}.hook_mlp_out")
    if frozen_scale and model.cfg.normalization == "LN":
        names.append("ln_final.hook_scale")
    return names


def _residual_stack(cache, layers: list[int], include_components: bool):
    """Empilha os resíduos (e, se pedido, attn_out/mlp_out) na ordem do forward."""
    n = cache.model.cfg.n_layers
    comps, labels = [], []
    for l in layers:
        if l == n:
            comps.append(cache["resid_post", n - 1]); labels.append("final_post")
            continue
        comps.append(cache["resid_pre", l]); labels.append(f"{l}_pre")
        if include_components:
            comps.append(cache["attn_out", l]); labels.append(f"{l}_attn_out")
            if not cache.model.cfg.attn_only:
                comps.append(cache["mlp_out", l]); labels.append(f"{l}_mlp_out")
    return torch.stack(comps), labels


def _unembed(model, cache, stack: torch.Tensor, recompute_ln: bool = True, no_ln: bool = False) -> torch.Tensor:
    """LN final (recalculada ou congelada, com w e b) + W_U + b_U em cada resíduo da pilha [..., d_model]."""
    if no_ln or model.cfg.normalization is None:
        x = stack
    else:
        x = cache.apply_ln_to_stack(stack, recompute=recompute_ln) + model.ln_final.b.detach().to(stack.device)
    return x @ model.W_U.detach().to(stack.device) + model.b_U.detach().to(stack.device)


@torch.no_grad()
def logit_lens(model, cache_or_tokens, layers=None, include_components: bool = False,
               recompute_ln: bool = True, no_ln: bool = False):
    """Logits da lente em cada camada: ([linha, batch, pos, d_vocab], rótulos).

    cache_or_tokens: ActivationCache deste modelo ou tokens [batch, pos].
    layers: None (todas) ou lista de índices k em 0..n_layers; k < n_layers é o resíduo
        ANTES da camada k ("k_pre") e k = n_layers é o resíduo final ("final_post").
    include_components: acrescenta, depois de cada "k_pre", a lente da saída da atenção
        ("k_attn_out") e do MLP ("k_mlp_out") daquela camada, cada uma sozinha.
    recompute_ln / no_ln: veja o docstring do módulo.
    """
    fn = "logit_lens"
    check_model(model, fn)
    layers = _check_layers(layers, model.cfg.n_layers, fn)
    for name, value in (("include_components", include_components), ("recompute_ln", recompute_ln), ("no_ln", no_ln)):
        check_bool(value, fn, name)
    needed = _needed_hooks(model, layers, include_components, frozen_scale=not (recompute_ln or no_ln))
    cache = get_cache(model, cache_or_tokens, fn, names_filter=needed)
    require(cache, needed, fn)
    stack, labels = _residual_stack(cache, layers, include_components)
    return _unembed(model, cache, stack, recompute_ln, no_ln), labels


def lens_probs(model, cache_or_tokens, layers=None, include_components: bool = False,
               recompute_ln: bool = True, no_ln: bool = False):
    """Como `logit_lens`, mas devolve probabilidades (softmax no vocabulário)."""
    logits, labels = logit_lens(model, cache_or_tokens, layers, include_components, recompute_ln, no_ln)
    return logits.softmax(-1), labels


def _single_sequence_lens(model, cache_or_tokens, fn, **kw):
    """Lente de um único exemplo: ([linha, pos, d_vocab], rótulos)."""
    logits, labels = logit_lens(model, cache_or_tokens, **kw)
    if logits.shape[1] != 1:
        raise ValueError(f"{fn}: esperado um único exemplo (lote de 1); veio um lote de {logits.shape[1]}.")
    return logits[:, 0], labels


def lens_top_k(model, cache_or_tokens, k: int = 5, layers=None, recompute_ln: bool = True, no_ln: bool = False):
    """Os k tokens mais prováveis em cada camada e posição (um único exemplo).

    Devolve (probs [camada, pos, k], token_ids [camada, pos, k], rótulos), em ordem
    decrescente de probabilidade.
    """
    fn = "lens_top_k"
    check_model(model, fn)
    k = check_int(k, fn, "k", 1, model.cfg.d_vocab)
    logits, labels = _single_sequence_lens(model, cache_or_tokens, fn, layers=layers,
                                           recompute_ln=recompute_ln, no_ln=no_ln)
    probs, ids = logits.softmax(-1).topk(k, dim=-1)
    return probs, ids, labels


def target_rank_per_layer(model, cache_or_tokens, target_token, pos: int = -1, layers=None,
                          recompute_ln: bool = True, no_ln: bool = False) -> dict:
    """Posto (rank) e probabilidade de `target_token` na posição `pos`, camada a camada.

    target_token: id (int) ou texto de um único token (com tokenizador).
    Devolve {"labels": [...], "rank": LongTensor [camada], "prob": [camada], "logit": [camada]}.
    rank começa em 1 (1 = o token mais provável) e conta quantos tokens têm logit
    estritamente maior que o alvo (empates favorecem o alvo).
    """
    fn = "target_rank_per_layer"
    check_model(model, fn)
    target = token_id(model, target_token, fn, "target_token")
    logits, labels = _single_sequence_lens(model, cache_or_tokens, fn, layers=layers,
                                           recompute_ln=recompute_ln, no_ln=no_ln)
    seq_len = logits.shape[1]
    pos = check_pos(pos, seq_len, fn)
    at_pos = logits[:, pos]  # [camada, d_vocab]
    target_logit = at_pos[:, target]
    rank = 1 + (at_pos > target_logit[:, None]).sum(-1)
    return {"labels": labels, "rank": rank, "prob": at_pos.softmax(-1)[:, target], "logit": target_logit}
