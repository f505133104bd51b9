"""Detectores de cabeças de atenção: para onde cada cabeça olha, em média?

Todos devolvem um escore [n_layers, n_heads] em [0, 1]: a massa média de atenção
que a cabeça põe na chave "certa", na média do lote e das posições de consulta
(query) onde essa chave está definida. Posições onde ela não está definida ficam
de fora — por exemplo a posição 0, onde toda cabeça é obrigada a olhar para si
mesma (é a única chave), não conta para nenhum detector.

    token anterior:  chave q-1,            para q >= 1
    token atual:     chave q,              para q >= 1
    primeiro token:  chave 0 (o BOS),      para q >= 1
    indução:         chave q-(seq_len-1),  para q >= seq_len+1, em [BOS, x_1..x_n, x_1..x_n]
                     (o token DEPOIS da ocorrência anterior do token atual; a mesma
                     diagonal do ARENA, mas só com as consultas da 2ª cópia; veja
                     `induction_scores(..., convention="arena")`)

Cada detector é um caso de `detect_pattern` com uma máscara [pos, pos] fixa.
"""
from __future__ import annotations

import torch

from ._interp_utils import (check_cache, check_int, check_model, check_repeated, check_tokens,
                            get_cache, require)
from .cache import ActivationCache

LABELS = {
    "induction": "indução",
    "previous": "token anterior",
    "first": "primeiro token (BOS)",
    "current": "token atual",
    "none": "sem tipo claro",
}


def _pattern_filter(name: str) -> bool:
    return name.endswith("attn.hook_pattern")


# ============================================================================ padrões
def _stack_patterns(cache_or_patterns, fn: str) -> torch.Tensor:
    """Padrões de atenção como [n_layers, batch, head, q, k].

    Aceita um ActivationCache, uma lista de [batch, head, q, k] (uma por camada),
    um tensor [n_layers, batch, head, q, k] ou um tensor [batch, head, q, k] (uma camada).
    """
    if isinstance(cache_or_patterns, ActivationCache):
        cache = cache_or_patterns
        n = cache.model.cfg.n_layers
        require(cache, [f"blocks.{l}.attn.hook_pattern" for l in range(n)], fn)
        if not cache.has_batch_dim:
            raise ValueError(f"{fn}: o cache foi gerado com remove_batch_dim=True; esperado cache com a dimensão do lote (batch).")
        patterns = torch.stack([cache["pattern", l] for l in range(n)])
    elif isinstance(cache_or_patterns, (list, tuple)) and all(isinstance(p, torch.Tensor) for p in cache_or_patterns):
        shapes = {tuple(p.shape) for p in cache_or_patterns}
        if len(shapes) != 1:
            raise ValueError(f"{fn}: os padrões da lista têm formas diferentes: {sorted(shapes)}.")
        patterns = torch.stack(list(cache_or_patterns))
    elif isinstance(cache_or_patterns, torch.Tensor):
        patterns = cache_or_patterns[None] if cache_or_patterns.ndim == 4 else cache_or_patterns
    else:
        raise TypeError(
            f"{fn}: `cache_or_patterns` deve ser um ActivationCache ou padrões de atenção "
            f"[n_layers, batch, head, q, k]; veio {type(cache_or_patterns).__name__}."
        )
    if patterns.ndim != 5 or patterns.shape[-1] != patterns.shape[-2]:
        raise ValueError(
            f"{fn}: padrões de atenção devem ter formato [n_layers, batch, head, q, k] com q = k "
            f"(ou [batch, head, q, k]); veio {tuple(patterns.shape)}."
        )
    if not patterns.is_floating_point():
        raise TypeError(f"{fn}: padrões de atenção devem ser tensores de ponto flutuante; veio dtype {patterns.dtype}.")
    return patterns


def _mask_scores(patterns: torch.Tensor, mask: torch.Tensor, fn: str) -> torch.Tensor:
    """Σ_k padrão[q, k]·máscara[q, k], na média do lote e das linhas q onde a máscara não é toda zero.

    patterns [n_layers, batch, head, q, k]; mask [q, k] ou [batch, q, k]. Devolve [n_layers, n_heads].
    """
    _, batch, _, pos, _ = patterns.shape
    mask = mask.to(device=patterns.device, dtype=patterns.dtype).expand(batch, pos, pos)
    defined = (mask != 0).any(-1).to(patterns.dtype)  # [batch, q]
    if defined.sum() == 0:
        raise ValueError(f"{fn}: o padrão procurado não marca nenhuma chave em nenhuma posição (com pos = {pos}).")
    on_mask = (patterns * mask[None, :, None]).sum(-1)  # [layer, batch, head, q]
    return (on_mask * defined[None, :, None]).sum((1, 3)) / defined.sum()


def _offset_mask(pos: int, offset: int, first_query: int, device) -> torch.Tensor:
    """Máscara [pos, pos] com 1 em (q, q - offset) para q >= first_query."""
    q = torch.arange(pos, device=device)
    k = q - offset
    mask = torch.zeros(pos, pos, device=device)
    valid = (q >= first_query) & (k >= 0)
    mask[q[valid], k[valid]] = 1.0
    return mask


def _detect(cache_or_patterns, fn: str, offset: int | None) -> torch.Tensor:
    patterns = _stack_patterns(cache_or_patterns, fn)
    pos = patterns.shape[-1]
    if pos < 2:
        raise ValueError(f"{fn}: é preciso pelo menos 2 posições para este detector; veio pos = {pos}.")
    if offset is None:  # primeiro token: chave 0 para toda q >= 1
        mask = torch.zeros(pos, pos, device=patterns.device)
        mask[1:, 0] = 1.0
    else:
        mask = _offset_mask(pos, offset, 1, patterns.device)
    return _mask_scores(patterns, mask, fn)


# ============================================================================ detectores
def previous_token_scores(cache_or_patterns) -> torch.Tensor:
    """Atenção média no token anterior (chave q-1, q >= 1): [n_layers, n_heads]."""
    return _detect(cache_or_patterns, "previous_token_scores", offset=1)


def current_token_scores(cache_or_patterns) -> torch.Tensor:
    """Atenção média no próprio token (chave q, q >= 1; a posição 0 é forçada e fica de fora)."""
    return _detect(cache_or_patterns, "current_token_scores", offset=0)


def first_token_scores(cache_or_patterns) -> torch.Tensor:
    """Atenção média no primeiro token, o BOS (chave 0, q >= 1): [n_layers, n_heads]."""
    return _detect(cache_or_patterns, "first_token_scores", offset=None)


def induction_scores(model, tokens_or_cache, seq_len: int, convention: str = "course") -> torch.Tensor:
    """Escore de indução [n_layers, n_heads] em tokens [BOS, x_1..x_n, x_1..x_n] (n = seq_len).

    Na 2ª cópia (q >= seq_len+1) o token atual apareceu antes na posição q - seq_len;
    uma cabeça de indução olha para o token SEGUINTE a essa ocorrência, a chave
    q - seq_len + 1 (diagonal com deslocamento -(seq_len-1)). O escore é a atenção
    média nessa chave. Com tokens, confere que eles se repetem com período seq_len;
    com um cache isso não pode ser conferido. Sequências mais longas que 1+2·seq_len
    (mais cópias) também valem. Use seq_len >= 3: com seq_len = 2 a chave de indução
    é o token anterior e os dois detectores se confundem.

    `convention="arena"` reproduz o número do ARENA 1.2 (`pattern.diagonal(-(seq_len-1)).mean()`):
    a mesma diagonal, mas desde a consulta q = seq_len-1, ou seja, com mais duas consultas
    da 1ª cópia, (seq_len-1 -> BOS) e (seq_len -> x_1), onde não há o que induzir. Fica
    (n·curso + p[n-1, 0] + p[n, 1]) / (n + 2). Medido no checkpoint `induction`
    (n = 15, 20 e 31): nas cabeças de indução o número do ARENA é até 0,04 MENOR (as duas
    consultas extras quase não caem na diagonal); em cabeças que estacionam no BOS na 1ª
    cópia (camada 0), até 0,05 MAIOR (a consulta n-1 -> BOS conta como "indução").
    """
    fn = "induction_scores"
    if convention not in ("course", "arena"):
        raise ValueError(f"{fn}: `convention` deve ser 'course' ou 'arena'; veio {convention!r}.")
    check_model(model, fn)
    seq_len = check_int(seq_len, fn, "seq_len", 2)
    if isinstance(tokens_or_cache, ActivationCache):
        cache = check_cache(model, tokens_or_cache, fn, "tokens_or_cache")
    else:
        tokens = check_tokens(model, tokens_or_cache, fn)
        check_repeated(tokens, seq_len, fn)
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens, names_filter=_pattern_filter)
    patterns = _stack_patterns(cache, fn)
    pos = patterns.shape[-1]
    if pos < seq_len + 2:
        raise ValueError(f"{fn}: com `seq_len` = {seq_len} são precisas pelo menos {seq_len + 2} posições; o cache tem {pos}.")
    first_query = seq_len + 1 if convention == "course" else seq_len - 1
    return _mask_scores(patterns, _offset_mask(pos, seq_len - 1, first_query, patterns.device), fn)


def _check_target_pattern(pattern, tokens: torch.Tensor, fn: str) -> torch.Tensor:
    """Valida o padrão procurado: [pos, pos] ou [batch, pos, pos], valores em [0, 1], sem futuro."""
    batch, pos = tokens.shape
    if callable(pattern) and not isinstance(pattern, torch.Tensor):
        pattern = pattern(tokens)
    if not isinstance(pattern, torch.Tensor):
        raise TypeError(
            f"{fn}: `pattern` deve ser um tensor [pos, pos] (ou [batch, pos, pos]) ou uma função "
            f"tokens -> tensor; veio {type(pattern).__name__}."
        )
    if pattern.shape not in ((pos, pos), (batch, pos, pos)):
        raise ValueError(
            f"{fn}: `pattern` deve ter formato [pos, pos] = {(pos, pos)} ou [batch, pos, pos] = {(batch, pos, pos)}; "
            f"veio {tuple(pattern.shape)}."
        )
    pattern = pattern.float().to(tokens.device)
    if not torch.isfinite(pattern).all() or pattern.min() < 0 or pattern.max() > 1:
        raise ValueError(f"{fn}: os valores de `pattern` devem estar em [0, 1] (por exemplo uma máscara 0/1).")
    future = torch.triu(torch.ones(pos, pos, dtype=torch.bool, device=tokens.device), diagonal=1)
    if (pattern * future).any():
        raise ValueError(
            f"{fn}: `pattern` marca chaves no futuro (acima da diagonal, k > q), que a máscara causal proíbe; "
            "use um padrão triangular inferior."
        )
    return pattern


def detect_pattern(model, tokens, pattern, cache=None) -> torch.Tensor:
    """Quanto cada cabeça segue um padrão de atenção dado: [n_layers, n_heads] em [0, 1].

    pattern: tensor [pos, pos] (ou [batch, pos, pos]) com pesos em [0, 1] — tipicamente
        uma máscara 0/1 das chaves "certas" de cada consulta —, ou uma função
        tokens [batch, pos] -> esse tensor. Nada acima da diagonal (futuro).
    cache: opcional, um cache destes tokens (evita rodar o modelo de novo).

    Métrica: para cada consulta q cuja linha do padrão não é toda zero,
    Σ_k atenção[q, k]·pattern[q, k] — com máscara 0/1, a fração da atenção que cai
    nas chaves marcadas —, na média do lote e dessas consultas. Diferença para o
    `detect_head` do TransformerLens (métrica "mul"): lá as linhas sem chave marcada
    entram na média com escore 0; aqui ficam de fora.
    """
    fn = "detect_pattern"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn)
    mask = _check_target_pattern(pattern, tokens, fn)
    if cache is None:
        cache = get_cache(model, tokens, fn, names_filter=_pattern_filter)
    else:
        cache = check_cache(model, cache, fn)
    patterns = _stack_patterns(cache, fn)
    if patterns.shape[1] != tokens.shape[0] or patterns.shape[-1] != tokens.shape[1]:
        raise ValueError(
            f"{fn}: `cache` tem lote {patterns.shape[1]} e pos {patterns.shape[-1]}, mas `tokens` tem formato "
            f"{tuple(tokens.shape)}; passe o cache destes mesmos tokens."
        )
    return _mask_scores(patterns, mask, fn)


# ============================================================================ rótulos
def _infer_seq_len(tokens: torch.Tensor) -> int | None:
    """seq_len se tokens = [BOS, x, x] (duas cópias exatas, seq_len >= 3); senão None."""
    pos = tokens.shape[1]
    n = (pos - 1) // 2
    if pos % 2 == 1 and n >= 3 and torch.equal(tokens[:, 1:1 + n], tokens[:, 1 + n:]):
        return n
    return None


def label_heads(model, tokens=None, threshold: float = 0.5, seq_len: int | None = None) -> dict:
    """Dá um rótulo em pt-BR a cada cabeça: {"L.H": rótulo}.

    Rótulos: "indução", "token anterior", "primeiro token (BOS)", "token atual" ou
    "sem tipo claro". Cada cabeça recebe o tipo de maior escore, se ele for >= threshold
    (empates na ordem acima). Sem `tokens`, usa `make_repeated_batch(model)` (8
    sequências repetidas aleatórias, semente 0). Com tokens, o escore de indução só
    entra se `seq_len` for dado ou se os tokens forem [BOS, x, x] (duas cópias).
    """
    fn = "label_heads"
    check_model(model, fn)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"{fn}: `threshold` deve ser um número em (0, 1]; veio {threshold!r}.")
    if tokens is None:
        from .induction import make_repeated_batch

        tokens = make_repeated_batch(model)
        seq_len = (tokens.shape[1] - 1) // 2
    tokens = check_tokens(model, tokens, fn, min_pos=2)
    if seq_len is None:
        seq_len = _infer_seq_len(tokens)
    else:
        seq_len = check_int(seq_len, fn, "seq_len", 2)
        check_repeated(tokens, seq_len, fn)
    cache = get_cache(model, tokens, fn, names_filter=_pattern_filter)
    kinds = ["previous", "first", "current"]
    scores = [previous_token_scores(cache), first_token_scores(cache), current_token_scores(cache)]
    if seq_len is not None:
        kinds.insert(0, "induction")
        scores.insert(0, induction_scores(model, cache, seq_len))
    best_score, best = torch.stack(scores).max(0)  # [n_layers, n_heads]
    labels = {}
    for l in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            ok = float(best_score[l, h]) >= threshold
            labels[f"{l}.{h}"] = LABELS[kinds[int(best[l, h])]] if ok else LABELS["none"]
    return labels
