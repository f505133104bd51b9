"""Ablação: desligar uma cabeça (ou uma camada) e ver o que muda na saída.

Feita com ganchos (`run_with_hooks`), sem mexer nos pesos:

- cabeças: trocamos a saída da cabeça ANTES de W_O, em `blocks.{l}.attn.hook_z`
  [batch, pos, head, d_head]. O viés b_O da camada continua somado (ele não
  pertence a nenhuma cabeça).
- camadas: trocamos `hook_attn_out` ou `hook_mlp_out` [batch, pos, d_model] inteiros
  (o b_O / b_out vai junto).

Modos:
- "zero": a ativação vira 0.
- "mean": a ativação vira a sua MÉDIA sobre o lote E as posições, calculada com os
  mesmos `tokens` num forward limpo (um único vetor por cabeça ou camada). É menos
  drástica que zerar: tira a informação específica de cada token mas mantém o "nível"
  médio que as camadas seguintes esperam. Por isso uma cabeça cuja saída é constante
  não muda nada com ablação pela média.

`positions`: None (todas) ou lista de posições (aceita negativas) onde trocar;
a média continua sendo sobre todas as posições.

`head_ablation_table` troca cada cabeça em todas as posições e mede a perda média do
próximo token; `loss_positions` escolhe onde a perda é medida (ex.: só na 2ª cópia).
"""
from __future__ import annotations

import torch

from ._interp_utils import check_choice, check_head, check_int, check_layer, check_model, check_tokens
from .cache import get_act_name
from .model import lm_cross_entropy_loss

MODES = ("zero", "mean")


def _check_heads(model, heads, fn: str) -> list[tuple[int, int]]:
    if isinstance(heads, tuple) and len(heads) == 2 and all(isinstance(x, int) for x in heads):
        heads = [heads]
    if not isinstance(heads, (list, tuple)) or len(heads) == 0:
        raise TypeError(f"{fn}: `heads` deve ser uma lista não vazia de pares (layer, head); veio {heads!r}.")
    out = []
    for i, item in enumerate(heads):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"{fn}: `heads[{i}]` deve ser um par (layer, head); veio {item!r}.")
        out.append((check_layer(model, item[0], fn, f"heads[{i}][0] (camada)"),
                    check_head(model, item[1], fn, f"heads[{i}][1] (cabeça)")))
    return out


def _check_positions(positions, seq_len: int, fn: str, device, name: str = "positions"):
    """None -> slice(None); lista de posições (negativas valem) -> LongTensor sem repetição."""
    if positions is None:
        return slice(None)
    if isinstance(positions, int) and not isinstance(positions, bool):
        positions = [positions]
    if isinstance(positions, torch.Tensor):
        if positions.is_floating_point() or positions.ndim > 1:
            raise TypeError(f"{fn}: `{name}` deve ser None ou uma lista de posições inteiras; "
                            f"veio tensor {positions.dtype} de formato {tuple(positions.shape)}.")
        positions = positions.tolist()
    if not isinstance(positions, (list, tuple, range)) or len(positions) == 0:
        raise TypeError(f"{fn}: `{name}` deve ser None ou uma lista não vazia de posições; veio {positions!r}.")
    idx = [check_int(p, fn, name, -seq_len, seq_len - 1) % seq_len for p in positions]
    return torch.tensor(sorted(set(idx)), dtype=torch.long, device=device)


def _replace_hook(index, value):
    """Gancho que escreve `value` em act[index] (numa cópia)."""
    def hook(act, hook):
        act = act.clone()
        act[index] = value
        return act
    return hook


def _clean_means(model, tokens, names: list[str]) -> dict[str, torch.Tensor]:
    """Média sobre o lote e as posições de cada ativação pedida, num forward limpo."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    return {n: cache[n].mean((0, 1)) for n in names}


def _ablated_logits(model, tokens, heads, mode, positions, means) -> torch.Tensor:
    hooks = []
    for layer, head in heads:
        name = get_act_name("z", layer)
        value = 0.0 if mode == "zero" else means[name][head]
        hooks.append((name, _replace_hook((slice(None), positions, head), value)))
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks)


def ablate_heads(model, tokens, heads, mode: str = "zero", positions=None) -> torch.Tensor:
    """Logits [batch, pos, d_vocab] com as cabeças `heads` = [(layer, head), ...] trocadas (zero ou média) em hook_z."""
    fn = "ablate_heads"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn)
    heads = _check_heads(model, heads, fn)
    check_choice(mode, fn, "mode", MODES)
    positions = _check_positions(positions, tokens.shape[1], fn, tokens.device)
    names = sorted({get_act_name("z", l) for l, _ in heads})
    means = _clean_means(model, tokens, names) if mode == "mean" else None
    return _ablated_logits(model, tokens, heads, mode, positions, means)


def ablate_layer(model, tokens, layer: int, component: str = "attn", mode: str = "zero", positions=None) -> torch.Tensor:
    """Logits com a saída inteira da atenção (component="attn", hook_attn_out) ou do MLP ("mlp",
    hook_mlp_out) da camada `layer` trocada por zero ou pela média (incluindo o viés b_O / b_out)."""
    fn = "ablate_layer"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn)
    layer = check_layer(model, layer, fn)
    check_choice(component, fn, "component", ("attn", "mlp"))
    if component == "mlp" and model.cfg.attn_only:
        raise ValueError(f"{fn}: `component` = 'mlp', mas este modelo é só de atenção (d_mlp=None).")
    check_choice(mode, fn, "mode", MODES)
    positions = _check_positions(positions, tokens.shape[1], fn, tokens.device)
    name = get_act_name(f"{component}_out", layer)
    value = 0.0 if mode == "zero" else _clean_means(model, tokens, [name])[name]
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(name, _replace_hook((slice(None), positions), value))])


def head_ablation_table(model, tokens, mode: str = "zero", loss_positions=None) -> torch.Tensor:
    """Aumento da perda com a ablação de cada cabeça, sozinha: [n_layers, n_heads].

    tabela[l, h] = perda(sem a cabeça l.h) - perda(limpa). A cabeça é trocada em
    TODAS as posições; o que muda com `loss_positions` é só onde a perda é medida:

    - None (padrão): a perda média do próximo token em todas as posições de `tokens`
      (a posição p prevê tokens[:, p+1]; a mesma média de `model(tokens, return_type="loss")`);
    - uma lista de posições p (negativas valem) da perda por token
      (`lm_cross_entropy_loss(..., per_token=True)`, que tem pos - 1 colunas): a média só
      nelas. Ex.: em `[BOS, x_1..x_n, x_1..x_n]`, `range(n + 1, 2 * n)` é a perda na 2ª cópia
      (as previsões de x_2..x_n repetidos), a medida do ARENA e do notebook 09.

    As duas medidas respondem perguntas diferentes: no modelo de indução a cabeça 0.0 custa
    muito mais na 2ª cópia (onde a indução atua) do que na média de todas as posições.
    Valor grande: a cabeça importa. Perto de 0: candidata a ser podada (nestes dados).
    Negativo: o modelo melhora sem ela.
    """
    fn = "head_ablation_table"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn, min_pos=2)
    check_choice(mode, fn, "mode", MODES)
    columns = slice(None) if loss_positions is None else _check_positions(
        loss_positions, tokens.shape[1] - 1, fn, tokens.device, "loss_positions")
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    means = _clean_means(model, tokens, [get_act_name("z", l) for l in range(n_layers)]) if mode == "mean" else None

    def loss(logits):
        return lm_cross_entropy_loss(logits, tokens, per_token=True)[:, columns].mean()

    with torch.no_grad():
        clean = loss(model(tokens))
    table = torch.zeros(n_layers, n_heads, device=clean.device)
    for l in range(n_layers):
        for h in range(n_heads):
            table[l, h] = loss(_ablated_logits(model, tokens, [(l, h)], mode, slice(None), means)) - clean
    return table
