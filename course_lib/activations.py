"""Olhando ativações: PCA (de embeddings e do fluxo residual) e neurônios do MLP.

- `pca`: componentes principais via SVD dos dados centrados, com sinal determinístico.
- `embedding_pca` / `resid_pca`: atalhos para W_E e para o resíduo guardado num cache.
- `diff_of_means_accuracy`: o classificador linear mais simples (diferença das médias),
  ajustado num conjunto e medido em outro.
- `top_activating_tokens` e companhia: quais (exemplo, posição) mais ativam um neurônio,
  lendo `blocks.{layer}.mlp.hook_post` (a ativação DEPOIS da não linearidade).
"""
from __future__ import annotations

import torch


# ============================================================================ validação
def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """Confere que `value` é int em lo..hi (hi=None: sem limite superior)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}`: esperado int; veio {type(value).__name__} ({value!r}).")
    if value < lo or (hi is not None and value > hi):
        faixa = f"entre {lo} e {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"`{name}`: esperado inteiro {faixa}; veio {value}.")
    return value


def _check_model(model):
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(model, "W_E") or not hasattr(cfg, "n_layers"):
        raise TypeError(f"`model`: esperado um HookedTransformer do course_lib; veio {type(model).__name__}.")
    return model


# ============================================================================ PCA
def pca(X: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA de X [n, d] -> (coords [n, k], components [k, d], explained_variance_ratio [k]).

    Centra as colunas, faz Xc = U S Vh (torch.linalg.svd) e usa as k primeiras linhas de Vh
    como direções. coords = Xc @ componentsᵀ; razão explicada = S² / Σ S² (soma ≤ 1).
    Sinal determinístico: a maior entrada (em módulo) de cada componente fica positiva
    (empate: a de menor índice).
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"`X`: esperado torch.Tensor [n, d]; veio {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(f"`X`: esperado formato [n, d] (2 dimensões); veio formato {tuple(X.shape)}.")
    if X.is_complex() or X.dtype == torch.bool:
        raise TypeError(f"`X`: esperado tensor de números reais; veio dtype {X.dtype}.")
    n, d = X.shape
    if n < 2:
        raise ValueError(f"`X`: PCA precisa de pelo menos 2 pontos (linhas); veio n = {n}.")
    _check_int("k", k, 1, min(n, d))
    X = X.detach() if X.is_floating_point() else X.detach().float()
    Xc = X - X.mean(0, keepdim=True)
    _, S, Vh = torch.linalg.svd(Xc, full_matrices=False)
    total = S.pow(2).sum()
    if total == 0:
        raise ValueError("`X`: todos os pontos são iguais (variância total 0); não há direção principal.")
    components = Vh[:k]
    biggest = components.abs().argmax(-1, keepdim=True)  # argmax devolve o primeiro em empates
    components = components * components.gather(-1, biggest).sign()
    return Xc @ components.T, components, S[:k].pow(2) / total


def embedding_pca(model, token_ids=None, k: int = 2):
    """PCA das linhas de W_E (todas, ou só `token_ids`): o mesmo trio de `pca`."""
    W_E = _check_model(model).W_E.detach()
    if token_ids is not None:
        ids = torch.as_tensor(token_ids)
        if ids.ndim != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
            raise ValueError(f"`token_ids`: esperado lista/tensor 1-D de ids inteiros; veio formato {tuple(ids.shape)}, dtype {ids.dtype}.")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= model.cfg.d_vocab):
            raise ValueError(f"`token_ids`: ids fora do vocabulário; os válidos vão de 0 a {model.cfg.d_vocab - 1}.")
        W_E = W_E[ids.to(W_E.device)]
    return pca(W_E, k)


def resid_pca(cache, layer: int, k: int = 2):
    """PCA do fluxo residual antes da camada `layer` sobre todas as (batch, pos).

    layer em 0..n_layers-1: cache["resid_pre", layer]; layer = n_layers: o resíduo final
    (resid_post da última camada). Devolve (coords [batch, pos, k] (ou [pos, k] num cache
    sem batch), components [k, d_model], explained_variance_ratio [k]).
    """
    model = getattr(cache, "model", None)
    if model is None or not hasattr(cache, "cache_dict"):
        raise TypeError(f"`cache`: esperado um ActivationCache; veio {type(cache).__name__}.")
    n = model.cfg.n_layers
    _check_int("layer", layer, 0, n)
    resid = cache["resid_post", n - 1] if layer == n else cache["resid_pre", layer]
    coords, components, ratio = pca(resid.reshape(-1, resid.shape[-1]), k)
    return coords.reshape(*resid.shape[:-1], k), components, ratio


# ============================================================================ sonda linear
def _check_xy(X, y, xname: str, yname: str):
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or not X.is_floating_point():
        raise TypeError(f"`{xname}`: esperado tensor float [n, d]; veio {type(X).__name__} "
                        f"{tuple(X.shape) if isinstance(X, torch.Tensor) else ''}.")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.bool or y.shape != X.shape[:1]:
        raise TypeError(f"`{yname}`: esperado tensor bool [{X.shape[0]}] (um rótulo por linha de `{xname}`); "
                        f"veio {type(y).__name__} {getattr(y, 'dtype', '')} {tuple(getattr(y, 'shape', ()))}.")


def diff_of_means_accuracy(X_train, y_train, X_test, y_test) -> float:
    """Acurácia em (X_test, y_test) do classificador da diferença de médias ajustado em (X_train, y_train).

    Direção w = μ₁ − μ₀ (médias das linhas de X_train com y_train True / False), limiar
    no ponto médio, ((μ₁ + μ₀)/2)·w; a previsão é x·w > limiar. X_* [n, d] float, y_* [n] bool.
    """
    _check_xy(X_train, y_train, "X_train", "y_train")
    _check_xy(X_test, y_test, "X_test", "y_test")
    if y_train.all() or not y_train.any():
        raise ValueError("`y_train`: são precisos exemplos dos dois grupos (True e False) no treino.")
    mu = torch.stack([X_train[~y_train].mean(0), X_train[y_train].mean(0)])  # [2, d]: grupo 0, grupo 1
    w = mu[1] - mu[0]
    scores = (X_test - mu.mean(0)) @ w
    return float(((scores > 0) == y_test).double().mean())


# ============================================================================ neurônios
def _check_neuron(model, layer, neuron) -> None:
    if model.cfg.d_mlp is None:
        raise ValueError("`model`: este modelo é só de atenção (d_mlp=None); não tem neurônios de MLP.")
    _check_int("layer", layer, 0, model.cfg.n_layers - 1)
    _check_int("neuron", neuron, 0, model.cfg.d_mlp - 1)


def _neuron_list(model, layer, neurons) -> list[int]:
    """`neurons` (lista, range ou tensor 1-D de ints) validado contra a camada `layer`."""
    if isinstance(neurons, torch.Tensor):
        neurons = neurons.tolist()
    if isinstance(neurons, (int, str)) or not hasattr(neurons, "__iter__"):
        raise TypeError(f"`neurons`: esperado uma lista de ints (ex.: [3] ou range(10)); veio {type(neurons).__name__}.")
    neurons = list(neurons)
    if not neurons:
        raise ValueError("`neurons`: esperado pelo menos um neurônio; veio uma lista vazia.")
    for neuron in neurons:
        _check_neuron(model, layer, neuron)
    return neurons


def neuron_acts(model, tokens, layer: int, neurons, batch_size: int = 64) -> torch.Tensor:
    """Ativações (mlp.hook_post) dos `neurons` da camada `layer`: [batch, pos, len(neurons)].

    Roda o modelo em pedaços de `batch_size` exemplos, sem gradiente, guardando só as
    colunas pedidas (economiza memória em conjuntos grandes).
    """
    neurons = _neuron_list(_check_model(model), layer, neurons)
    _check_int("batch_size", batch_size, 1)
    tokens = model._validate_tokens(tokens)
    idx = torch.tensor(neurons, device=tokens.device)
    chunks = []

    def save(act, hook):
        chunks.append(act[..., idx].detach())

    with torch.no_grad():
        for start in range(0, tokens.shape[0], batch_size):
            model.run_with_hooks(tokens[start:start + batch_size], return_type=None,
                                 fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", save)])
    return torch.cat(chunks)


def _top_k(values: torch.Tensor, k: int) -> list[tuple[float, int, int]]:
    """As k maiores entradas de values [batch, pos] como (valor, batch, pos); empate: menor índice."""
    flat = values.flatten().cpu()
    order = torch.sort(flat, descending=True, stable=True).indices[:k].tolist()
    pos_len = values.shape[1]
    return [(float(flat[i]), i // pos_len, i % pos_len) for i in order]


def top_activating_tokens(model, tokens, layer: int, neuron: int, k: int = 10,
                          batch_size: int = 64) -> list[tuple[float, int, int, int]]:
    """As k posições que mais ativam o neurônio: lista de (valor, batch, pos, token_id).

    Ordenada da maior para a menor ativação (mlp.hook_post); empates pela ordem (batch, pos).
    Se k for maior que o número de posições, devolve todas.
    """
    _check_neuron(_check_model(model), layer, neuron)
    _check_int("k", k, 1)
    tokens = model._validate_tokens(tokens)
    acts = neuron_acts(model, tokens, layer, [neuron], batch_size)[..., 0]
    return [(v, b, p, int(tokens[b, p])) for v, b, p in _top_k(acts, k)]


def neuron_top_tokens_table(model, tokens, layer: int, neurons, k: int = 5,
                            batch_size: int = 64) -> list[dict]:
    """Tabela (lista de dicts, pronta para pandas.DataFrame) com os top-k de cada neurônio.

    Colunas: neuron, rank (0 = maior), value, batch, pos, token_id e, se o modelo tiver
    tokenizador, token (o texto do token). Um único forward serve para todos os neurônios.
    """
    neurons = _neuron_list(_check_model(model), layer, neurons)
    _check_int("k", k, 1)
    tokens = model._validate_tokens(tokens)
    acts = neuron_acts(model, tokens, layer, neurons, batch_size)
    rows = []
    for j, neuron in enumerate(neurons):
        for rank, (v, b, p) in enumerate(_top_k(acts[..., j], k)):
            row = {"neuron": neuron, "rank": rank, "value": v, "batch": b, "pos": p, "token_id": int(tokens[b, p])}
            if model.tokenizer is not None:
                row["token"] = model.to_str_tokens([row["token_id"]])[0]
            rows.append(row)
    return rows


def top_neurons_for_token(model, tokens, layer: int, token_id: int, k: int = 10,
                          batch_size: int = 64) -> list[tuple[float, int]]:
    """Os k neurônios da camada com maior ativação MÉDIA nas posições onde aparece `token_id`.

    Devolve lista de (média, neuron), da maior para a menor (empate: menor neurônio).
    """
    _check_model(model)
    if model.cfg.d_mlp is None:
        raise ValueError("`model`: este modelo é só de atenção (d_mlp=None); não tem neurônios de MLP.")
    _check_int("token_id", token_id, 0, model.cfg.d_vocab - 1)
    _check_int("k", k, 1)
    tokens = model._validate_tokens(tokens)
    where = tokens == token_id
    if not where.any():
        raise ValueError(f"`token_id`: o token {token_id} não aparece em `tokens`.")
    acts = neuron_acts(model, tokens, layer, range(model.cfg.d_mlp), batch_size)
    mean = acts[where].mean(0)  # [d_mlp]
    order = torch.sort(mean, descending=True, stable=True).indices[:k]
    return [(float(mean[i]), int(i)) for i in order]
