"""Validação de entradas compartilhada pelas ferramentas de interpretabilidade (módulo privado).

Usado por lens, detectors, induction, attribution, ablation e movement. Cada função
recebe `fn`, o nome da função pública que chamou, para que a mensagem de erro diga
onde o problema está, qual argumento, o que se esperava e o que veio.
"""
from __future__ import annotations

import numbers

import torch

from .cache import ActivationCache
from .model import HookedTransformer


def check_model(model, fn: str) -> None:
    if not isinstance(model, HookedTransformer):
        raise TypeError(f"{fn}: `model` deve ser um HookedTransformer; veio {type(model).__name__}.")


def check_int(value, fn: str, name: str, lo: int, hi: int | None = None) -> int:
    """Inteiro (não bool) em [lo, hi]; devolve como int."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: `{name}` deve ser um inteiro; veio {type(value).__name__} ({value!r}).")
    if value < lo or (hi is not None and value > hi):
        faixa = f"entre {lo} e {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{fn}: `{name}` deve ser um inteiro {faixa}; veio {value}.")
    return int(value)


def check_layer(model, layer, fn: str, name: str = "layer") -> int:
    n = model.cfg.n_layers
    if isinstance(layer, numbers.Integral) and not isinstance(layer, bool) and not 0 <= layer < n:
        raise IndexError(f"{fn}: `{name}` = {layer} não existe; o modelo tem n_layers = {n} (camadas 0 a {n - 1}).")
    return check_int(layer, fn, name, 0, n - 1)


def check_head(model, head, fn: str, name: str = "head") -> int:
    n = model.cfg.n_heads
    if isinstance(head, numbers.Integral) and not isinstance(head, bool) and not 0 <= head < n:
        raise IndexError(f"{fn}: `{name}` = {head} não existe; cada camada tem n_heads = {n} (cabeças 0 a {n - 1}).")
    return check_int(head, fn, name, 0, n - 1)


def check_bool(value, fn: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{fn}: `{name}` deve ser True ou False; veio {type(value).__name__} ({value!r}).")
    return value


def check_choice(value, fn: str, name: str, options: tuple) -> str:
    if value not in options:
        raise ValueError(f"{fn}: `{name}` deve ser um de {options}; veio {value!r}.")
    return value


def check_tokens(model, tokens, fn: str, min_pos: int = 1) -> torch.Tensor:
    """Ids [batch, pos] (ou [pos], ou texto) validados pelo modelo, no dispositivo do modelo."""
    try:
        tokens = model._validate_tokens(tokens)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{fn}: {e}") from None
    if tokens.shape[1] < min_pos:
        raise ValueError(f"{fn}: `tokens` precisa de pelo menos {min_pos} posições; veio formato {tuple(tokens.shape)}.")
    return tokens


def check_cache(model, cache, fn: str, name: str = "cache") -> ActivationCache:
    """Um ActivationCache deste modelo, com a dimensão do lote (batch)."""
    if not isinstance(cache, ActivationCache):
        raise TypeError(
            f"{fn}: `{name}` deve ser um ActivationCache (de `model.run_with_cache(tokens)`); veio {type(cache).__name__}."
        )
    if cache.model is not model:
        raise ValueError(f"{fn}: `{name}` foi gerado por outro modelo; rode `model.run_with_cache(tokens)` com este modelo.")
    if not cache.has_batch_dim:
        raise ValueError(f"{fn}: `{name}` foi gerado com remove_batch_dim=True; esperado cache com a dimensão do lote (batch).")
    return cache


def require(cache, names: list[str], fn: str) -> None:
    """Erro claro quando o cache não tem as ativações de que a função precisa."""
    missing = [n for n in names if n not in cache]
    if missing:
        raise KeyError(
            f"{fn}: o cache não tem {missing[:3]}{'...' if len(missing) > 3 else ''}; "
            "rode `model.run_with_cache(tokens)` sem `names_filter` (ou incluindo essas ativações)."
        )


def get_cache(model, cache_or_tokens, fn: str, names_filter=None) -> ActivationCache:
    """Devolve o cache dado ou roda o modelo nos tokens dados (sem gradiente)."""
    if isinstance(cache_or_tokens, ActivationCache):
        return check_cache(model, cache_or_tokens, fn, "cache_or_tokens")
    tokens = check_tokens(model, cache_or_tokens, fn)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names_filter)
    return cache


def check_pos(pos, seq_len: int, fn: str, name: str = "pos") -> int:
    """Posição (aceita negativa, como em listas) -> índice em 0..seq_len-1."""
    return check_int(pos, fn, name, -seq_len, seq_len - 1) % seq_len


def token_id(model, token, fn: str, name: str) -> int:
    """Um id de token a partir de int ou de texto de um único token (precisa de tokenizador)."""
    if isinstance(token, str):
        if model.tokenizer is None:
            raise ValueError(f"{fn}: `{name}` = {token!r} é texto, mas o modelo não tem tokenizador; passe o id (int).")
        try:
            return model.tokenizer.to_single_token(token)
        except ValueError as e:
            raise ValueError(f"{fn}: `{name}`: {e}") from None
    if isinstance(token, torch.Tensor) and token.ndim == 0:
        if token.is_floating_point() or token.dtype == torch.bool:
            raise TypeError(f"{fn}: `{name}` deve ser um id inteiro de token; veio tensor de dtype {token.dtype}.")
        token = int(token)
    if isinstance(token, bool) or not isinstance(token, numbers.Integral):
        raise TypeError(f"{fn}: `{name}` deve ser um id de token (int) ou texto de um token; veio {type(token).__name__} ({token!r}).")
    d_vocab = model.cfg.d_vocab
    if not 0 <= token < d_vocab:
        raise ValueError(f"{fn}: `{name}` = {token} está fora do vocabulário; esperado id entre 0 e {d_vocab - 1}.")
    return int(token)


def token_ids(model, tokens, batch: int, fn: str, name: str) -> torch.Tensor:
    """Um id por exemplo: int/texto (o mesmo para todos) ou lista/tensor 1-D [batch] -> LongTensor [batch]."""
    if isinstance(tokens, (str, numbers.Integral)) or (isinstance(tokens, torch.Tensor) and tokens.ndim == 0):
        return torch.full((batch,), token_id(model, tokens, fn, name), dtype=torch.long, device=model.W_E.device)
    if isinstance(tokens, (list, tuple)):
        tokens = torch.tensor([token_id(model, t, fn, f"{name}[{i}]") for i, t in enumerate(tokens)])
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{fn}: `{name}` deve ser um id, texto de um token ou tensor 1-D [batch]; veio {type(tokens).__name__}.")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{fn}: `{name}` deve conter ids inteiros de tokens; veio dtype {tokens.dtype}.")
    if tokens.shape != (batch,):
        raise ValueError(f"{fn}: `{name}` deve ter formato [batch] = ({batch},); veio {tuple(tokens.shape)}.")
    bad = (tokens < 0) | (tokens >= model.cfg.d_vocab)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{fn}: `{name}[{i}]` = {int(tokens[i])} está fora do vocabulário (ids de 0 a {model.cfg.d_vocab - 1}).")
    return tokens.long().to(model.W_E.device)


def check_repeated(tokens: torch.Tensor, seq_len: int, fn: str) -> None:
    """Confere que tokens[:, 1:] se repete com período `seq_len` (formato [BOS, x, x, ...])."""
    pos = tokens.shape[1]
    if pos < seq_len + 2:
        raise ValueError(
            f"{fn}: com `seq_len` = {seq_len} os tokens precisam de pelo menos {seq_len + 2} posições "
            f"(BOS, a 1ª cópia e algo da 2ª); veio formato {tuple(tokens.shape)}."
        )
    if not torch.equal(tokens[:, seq_len + 1:], tokens[:, 1:pos - seq_len]):
        raise ValueError(
            f"{fn}: os tokens não são uma sequência repetida com período `seq_len` = {seq_len} "
            "(esperado [BOS, x_1..x_n, x_1..x_n] com n = seq_len; veja `make_repeated_batch`)."
        )
