"""Gráficos do curso: padrões de atenção, lente de logits, perdas, tabelas de cabeças...

Todas as funções recebem DADOS SIMPLES (tensores/arrays, listas de strings dos
tokens e rótulos), nunca o modelo: assim não dependem dos módulos de análise.

Regra de exibição (vale para todo o curso):
    Cada função devolve a `matplotlib.figure.Figure` e já a fecha no pyplot
    (`plt.close(fig)`). Fechar só tira a figura da lista do pyplot; ela continua
    inteira e pode ser salva (`fig.savefig(...)`). Consequências:
    - como ÚLTIMA linha de uma célula, a figura aparece UMA vez (o Jupyter mostra
      o valor devolvido; o backend inline não a mostra de novo porque ela está fechada);
    - `fig = plot_...(...)` não mostra nada; use `display(fig)` ou deixe `fig` na
      última linha;
    - `plt.show()` nunca é necessário (e não mostra estas figuras).

Estilo: chame `set_style()` uma vez no início do notebook (nada muda ao importar).
As cores são fixas (sem sorteio), então a mesma entrada gera a mesma imagem.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

__all__ = [
    "set_style", "plot_attention", "plot_attention_grid", "plot_logit_lens",
    "plot_per_position_loss", "plot_head_scores", "plot_composition_scores",
    "plot_circuit", "plot_attribution", "plot_pca", "plot_loss_curve",
    "plot_softmax_temperature",
]

POSITIVE_COLOR = "#2166ac"  # azul: contribuição positiva
NEGATIVE_COLOR = "#b2182b"  # vermelho: contribuição negativa
SEQUENTIAL_CMAP = "Blues"
DIVERGING_CMAP = "RdBu_r"  # vermelho = positivo, azul = negativo, branco = 0
MAX_TICK_LABELS = 60  # acima disso os eixos de plot_circuit ficam sem rótulos


def set_style() -> None:
    """Aplica o estilo visual do curso (seaborn "whitegrid" + ajustes). Chame uma vez."""
    import seaborn as sns  # importado aqui: `import course_lib.plots` fica leve

    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.9)
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        "image.cmap": SEQUENTIAL_CMAP,
        "axes.prop_cycle": plt.cycler(color=sns.color_palette("deep")),
    })


# ============================================================================ validação
def _to_numpy(x, name: str, ndims: tuple[int, ...], shape_desc: str) -> np.ndarray:
    """Converte tensor/array/lista em np.ndarray de floats e confere o número de dimensões."""
    if hasattr(x, "detach"):  # tensor do torch
        x = x.detach().float().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}`: esperado um tensor ou array numérico {shape_desc}; veio {type(x).__name__}.") from None
    if arr.ndim not in ndims:
        raise ValueError(f"`{name}`: esperado formato {shape_desc}; veio formato {tuple(arr.shape)} ({arr.ndim} dimensões).")
    if arr.size == 0:
        raise ValueError(f"`{name}`: está vazio (formato {tuple(arr.shape)}).")
    return arr


def _check_labels(labels, n: int, name: str, what: str) -> list[str]:
    """Confere que há exatamente `n` rótulos e devolve-os como lista de str."""
    if isinstance(labels, str) or labels is None:
        raise TypeError(f"`{name}`: esperada uma lista de strings; veio {type(labels).__name__}.")
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"`{name}` tem {len(labels)} itens, mas {what} tem {n}; os tamanhos devem ser iguais.")
    return labels


def _set_ticks(ax, axis: str, labels, rotation: float = 0, fontsize=None) -> None:
    """Um rótulo por posição; parse_math=False para que "$" num token não vire fórmula."""
    ticks = range(len(labels))
    if axis == "x":
        ax.set_xticks(ticks, labels, rotation=rotation, fontsize=fontsize, parse_math=False,
                      ha="right" if rotation else "center", rotation_mode="anchor")
    else:
        ax.set_yticks(ticks, labels, rotation=rotation, fontsize=fontsize, parse_math=False)


def _token_fontsize(n: int) -> float:
    return 9 if n <= 20 else (7 if n <= 30 else 6)


def _finish(fig):
    """Fecha a figura no pyplot (ver a regra de exibição no topo do módulo) e a devolve."""
    plt.close(fig)
    return fig


def _auto_cmap(values: np.ndarray):
    """Colormap fixo: divergente centrado em 0 se há sinais misturados, senão sequencial."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo < 0 < hi:
        m = max(-lo, hi)
        return DIVERGING_CMAP, TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m)
    if hi <= 0:
        return f"{SEQUENTIAL_CMAP}_r", None
    return SEQUENTIAL_CMAP, None


def _annotate_cells(ax, im, values: np.ndarray, fmt: str, fontsize: float = 8) -> None:
    """Escreve o valor em cada célula de um imshow, em preto ou branco conforme o fundo."""
    for (i, j), v in np.ndenumerate(values):
        if not np.isfinite(v):
            continue
        r, g, b, _ = im.cmap(im.norm(v))
        color = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
        ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=fontsize, color=color)


# ============================================================================ atenção
def _draw_attention(ax, pattern: np.ndarray, str_tokens, show_x=True, show_y=True):
    im = ax.imshow(pattern, cmap=SEQUENTIAL_CMAP, vmin=0.0, vmax=1.0, aspect="equal")
    ax.grid(False)
    fs = _token_fontsize(len(str_tokens))
    if show_x:
        _set_ticks(ax, "x", str_tokens, rotation=90 if len(str_tokens) > 6 else 0, fontsize=fs)
    else:
        ax.set_xticks([])
    if show_y:
        _set_ticks(ax, "y", str_tokens, fontsize=fs)
    else:
        ax.set_yticks([])
    return im


def plot_attention(pattern, str_tokens, title: str | None = None):
    """Padrão de atenção de UMA cabeça: `pattern` [query_pos, key_pos], `str_tokens` [pos].

    Linhas = posição da consulta (destino), colunas = posição da chave (origem).
    Exemplo: plot_attention(cache["pattern", 0][0, 3], model.to_str_tokens(texto), "L0H3").
    """
    p = _to_numpy(pattern, "pattern", (2,), "[query_pos, key_pos] (uma cabeça; use cache['pattern', l][0, h])")
    if p.shape[0] != p.shape[1]:
        raise ValueError(f"`pattern`: esperado quadrado [query_pos, key_pos]; veio formato {p.shape}.")
    toks = _check_labels(str_tokens, p.shape[0], "str_tokens", "`pattern` (posições)")
    side = min(max(3.5, 0.22 * len(toks) + 1.5), 11)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    im = _draw_attention(ax, p, toks)
    ax.set_xlabel("posição da chave (origem)")
    ax.set_ylabel("posição da consulta (destino)")
    ax.set_title(title or "Padrão de atenção")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="probabilidade de atenção")
    fig.tight_layout()
    return _finish(fig)


def plot_attention_grid(patterns, str_tokens, layer: int | None = None, title: str | None = None):
    """Todas as cabeças numa grade: `patterns` [layers, heads, q, k] ou [heads, q, k].

    Com [layers, heads, q, k] (ex.: torch.stack([cache["pattern", l][0] for l in range(n_layers)]))
    cada painel tem o título "L{l}H{h}". Com [heads, q, k] (uma camada) o título é
    "L{layer}H{h}" se `layer` for dado, senão "H{h}".
    """
    p = _to_numpy(patterns, "patterns", (3, 4), "[layers, heads, query_pos, key_pos] ou [heads, query_pos, key_pos]")
    if p.ndim == 3:
        p = p[None]
        layer_names = [f"L{layer}" if layer is not None else ""]
    else:
        layer_names = [f"L{l}" for l in range(p.shape[0])]
    n_layers, n_heads, nq, nk = p.shape
    if nq != nk:
        raise ValueError(f"`patterns`: as duas últimas dimensões devem ser iguais (query_pos = key_pos); veio {p.shape}.")
    toks = _check_labels(str_tokens, nq, "str_tokens", "`patterns` (posições)")
    panel = min(max(2.0, 0.06 * nq + 1.2), 3.6)
    margin = 0.45 + 0.06 * max(len(t) for t in toks)  # espaço para os rótulos (polegadas)
    width, height = panel * n_heads + margin + 1.2, panel * n_layers + margin + 0.7
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=(margin + 0.3) / width, right=1 - 1.1 / width, bottom=(margin + 0.3) / height,
                        top=1 - 0.6 / height, wspace=0.08, hspace=0.25)
    for l in range(n_layers):
        for h in range(n_heads):
            ax = axes[l, h]
            im = _draw_attention(ax, p[l, h], toks, show_x=(l == n_layers - 1), show_y=(h == 0))
            ax.set_title(f"{layer_names[l]}H{h}", y=1.0, pad=4)  # y fixo: evita recalcular a posição (lento)
    fig.supxlabel("posição da chave (origem)")
    fig.supylabel("posição da consulta (destino)")
    if title:
        fig.suptitle(title)
    cax = fig.add_axes([1 - 0.9 / width, (margin + 0.3) / height, 0.18 / width, 1 - (margin + 0.9) / height])
    fig.colorbar(im, cax=cax, label="probabilidade de atenção")
    return _finish(fig)


# ============================================================================ lente de logits
def plot_logit_lens(probs, top_tokens, str_tokens, layer_labels=None, title: str | None = None,
                    colorbar_label: str = "probabilidade do token mais provável", ylabel: str = "camada"):
    """Lente de logits: grade camadas × posições com o token mais provável escrito em cada célula.

    `probs` [layers, pos]: probabilidade do token mostrado; `top_tokens` [layers][pos]:
    strings; `str_tokens` [pos]: tokens de entrada (eixo x); `layer_labels` [layers]
    (padrão "camada 0", ...). A célula (l, p) é a previsão para o token SEGUINTE a p.
    """
    pr = _to_numpy(probs, "probs", (2,), "[layers, pos]")
    n_rows, n_pos = pr.shape
    if isinstance(top_tokens, str) or len(top_tokens) != n_rows:
        raise ValueError(f"`top_tokens`: esperadas {n_rows} linhas (uma por camada de `probs`); veio "
                         f"{len(top_tokens) if not isinstance(top_tokens, str) else 'uma string'}.")
    cells = [_check_labels(row, n_pos, f"top_tokens[{i}]", "`probs` (posições)") for i, row in enumerate(top_tokens)]
    toks = _check_labels(str_tokens, n_pos, "str_tokens", "`probs` (posições)")
    rows = _check_labels(layer_labels if layer_labels is not None else [f"camada {l}" for l in range(n_rows)],
                         n_rows, "layer_labels", "`probs` (camadas)")
    vertical = n_pos > 14  # muitas posições: texto na vertical para caber
    col_w, row_h = (0.42, 0.8) if vertical else (0.85, 0.45)
    fig, ax = plt.subplots(figsize=(col_w * n_pos + 3.0, row_h * n_rows + 1.8))
    im = ax.imshow(pr, cmap=SEQUENTIAL_CMAP, vmin=0.0, vmax=1.0, aspect="auto")
    ax.grid(False)
    for (i, j), v in np.ndenumerate(pr):
        text = cells[i][j] if len(cells[i][j]) <= 9 else cells[i][j][:8] + "…"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, rotation=90 if vertical else 0,
                color="white" if v > 0.6 else "black", parse_math=False)
    _set_ticks(ax, "x", toks, rotation=90 if n_pos > 8 else 0, fontsize=_token_fontsize(n_pos))
    _set_ticks(ax, "y", rows)
    ax.set_xlabel("posição (token de entrada)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Lente de logits: token mais provável em cada camada")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label=colorbar_label)
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ perdas
def plot_per_position_loss(loss, seq_len: int | None = None, str_tokens=None, title: str | None = None):
    """Perda por posição, `loss` [pos] (ou [batch, pos]: usa a média do lote).

    `seq_len`: tamanho do trecho aleatório repetido, no formato do curso
    [BOS] + seq + seq. A perda na posição p é a da previsão do token p+1, então a
    partir de p = seq_len o alvo está na segunda cópia: a linha vertical fica entre
    seq_len-1 e seq_len e as linhas tracejadas mostram a média de cada metade.
    `str_tokens` [pos] (opcional): rótulos do eixo x (ex.: o token previsto).
    """
    arr = _to_numpy(loss, "loss", (1, 2), "[pos] ou [batch, pos]")
    y = arr.mean(0) if arr.ndim == 2 else arr
    n = len(y)
    fig, ax = plt.subplots(figsize=(min(max(5.0, 0.2 * n + 2), 12), 3.6))
    ax.plot(range(n), y, marker="o", markersize=3, linewidth=1.2, color=POSITIVE_COLOR, label="perda")
    if seq_len is not None:
        if not isinstance(seq_len, int) or not 0 < seq_len < n:
            raise ValueError(f"`seq_len`: esperado inteiro entre 1 e {n - 1} (a perda tem {n} posições); veio {seq_len!r}.")
        ax.axvline(seq_len - 0.5, color="black", linestyle=":", linewidth=1.2, label="início da repetição")
        for lo, hi, name in ((0, seq_len, "1ª cópia"), (seq_len, n, "2ª cópia")):
            m = float(y[lo:hi].mean())
            ax.hlines(m, lo, hi - 1, colors=NEGATIVE_COLOR if lo else "gray", linestyles="--", linewidth=1,
                      label=f"média na {name}: {m:.2f}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if str_tokens is not None:
        _set_ticks(ax, "x", _check_labels(str_tokens, n, "str_tokens", "`loss` (posições)"), rotation=90,
                   fontsize=_token_fontsize(n))
    ax.set_xlabel("posição")
    ax.set_ylabel("perda (nats)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Perda por posição")
    fig.tight_layout()
    return _finish(fig)


_METRIC_NAMES = {"loss": "perda (nats)", "induction_score": "escore de indução", "accuracy": "acurácia"}


def _history_to_dict(history) -> dict:
    """Aceita lista de números (perda), lista de dicts (registros) ou dict de listas."""
    if isinstance(history, dict):
        return {k: list(v) for k, v in history.items()}
    if hasattr(history, "detach"):
        history = history.detach().cpu().tolist()
    history = list(history)
    if history and isinstance(history[0], dict):
        keys = list(dict.fromkeys(k for rec in history for k in rec))
        return {k: [rec.get(k, math.nan) for rec in history] for k in keys}
    return {"loss": history}


def plot_loss_curve(history, second_metric: str | None = None, loss_key: str = "loss", step_key: str = "step",
                    smooth: int = 1, phase_step: float | None = None, logx: bool = False, title: str | None = None):
    """Curva de treino: perda e, opcionalmente, uma segunda métrica no eixo da direita.

    `history`: lista de perdas; lista de registros [{"step": 0, "loss": 3.1, "induction_score": 0.1}, ...];
    ou dict de listas {"step": [...], "loss": [...], "induction_score": [...]}. Valores
    ausentes/NaN da segunda métrica (avaliada só em alguns passos) são pulados.
    `smooth`: janela da média móvel da perda (1 = sem suavizar).
    `phase_step`: passo onde desenhar a linha "mudança de fase".
    """
    h = _history_to_dict(history)
    if loss_key not in h:
        raise KeyError(f"`history`: não há a chave '{loss_key}' (chaves disponíveis: {sorted(h)}).")
    loss = _to_numpy([math.nan if v is None else v for v in h[loss_key]], f"history['{loss_key}']", (1,), "[passos]")
    steps = np.asarray(h[step_key], dtype=float) if step_key in h else np.arange(len(loss), dtype=float)
    if len(steps) != len(loss):
        raise ValueError(f"`history`: '{step_key}' tem {len(steps)} valores e '{loss_key}' tem {len(loss)}; devem ser iguais.")
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"`smooth`: esperado inteiro >= 1; veio {smooth!r}.")
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    if smooth > 1 and len(loss) >= smooth:
        ax.plot(steps, loss, color=POSITIVE_COLOR, alpha=0.25, linewidth=0.8)
        kernel = np.ones(smooth) / smooth
        ax.plot(steps[smooth - 1:], np.convolve(loss, kernel, mode="valid"), color=POSITIVE_COLOR,
                linewidth=1.6, label=f"perda (média móvel de {smooth})")
    else:
        ax.plot(steps, loss, color=POSITIVE_COLOR, linewidth=1.4, label="perda")
    ax.set_xlabel("passo de treino")
    ax.set_ylabel(_METRIC_NAMES.get(loss_key, loss_key), color=POSITIVE_COLOR)
    if logx:
        ax.set_xscale("symlog")
    handles = ax.get_legend_handles_labels()
    if second_metric is not None:
        if second_metric not in h:
            raise KeyError(f"`second_metric`: '{second_metric}' não está em `history` (chaves: {sorted(h)}).")
        values = np.asarray([math.nan if v is None else v for v in h[second_metric]], dtype=float)
        if len(values) != len(steps):
            raise ValueError(f"`history`: '{second_metric}' tem {len(values)} valores e '{step_key}' tem {len(steps)}.")
        ok = np.isfinite(values)
        ax2 = ax.twinx()
        ax2.grid(False)
        name = _METRIC_NAMES.get(second_metric, second_metric)
        ax2.plot(steps[ok], values[ok], color=NEGATIVE_COLOR, marker=".", linewidth=1.4, label=name)
        ax2.set_ylabel(name, color=NEGATIVE_COLOR)
        h2 = ax2.get_legend_handles_labels()
        handles = (handles[0] + h2[0], handles[1] + h2[1])
    if phase_step is not None:
        line = ax.axvline(phase_step, color="black", linestyle=":", linewidth=1.2)
        handles = (handles[0] + [line], handles[1] + ["mudança de fase"])
    ax.legend(*handles, fontsize=8, loc="center right", framealpha=0.9)
    ax.set_title(title or "Curva de treino")
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ tabelas de cabeças
def plot_head_scores(scores, title: str | None = None, fmt: str = ".2f", colorbar_label: str = "escore",
                     annotate: bool = True):
    """Heatmap [layers, heads] com o valor em cada célula (detectores, ablações...).

    Cores fixas: se há valores positivos e negativos (ex.: variação da perda numa
    ablação) usa um mapa divergente centrado em 0; senão, um mapa sequencial.
    """
    s = _to_numpy(scores, "scores", (2,), "[layers, heads]")
    n_layers, n_heads = s.shape
    fig, ax = plt.subplots(figsize=(0.8 * n_heads + 2.4, 0.6 * n_layers + 1.6))
    cmap, norm = _auto_cmap(s)
    im = ax.imshow(s, cmap=cmap, norm=norm, aspect="auto")
    ax.grid(False)
    if annotate:
        _annotate_cells(ax, im, s, fmt)
    _set_ticks(ax, "x", [f"H{h}" for h in range(n_heads)])
    _set_ticks(ax, "y", [f"L{l}" for l in range(n_layers)])
    ax.set_xlabel("cabeça")
    ax.set_ylabel("camada")
    ax.set_title(title or "Escore por cabeça")
    fig.colorbar(im, ax=ax, label=colorbar_label)
    fig.tight_layout()
    return _finish(fig)


def plot_composition_scores(scores, kind: str = "K", layers: tuple[int, int] | None = None, title: str | None = None,
                            fmt: str = ".2f"):
    """Pontuações de composição Q, K ou V entre cabeças.

    `scores` [heads_prev, heads_next] (uma camada anterior -> uma posterior; `layers`
    = (camada anterior, camada posterior) para os rótulos) ou [l1, h1, l2, h2] (todos os
    pares; pares em que a cabeça "posterior" não está numa camada mais alta ficam em cinza).
    """
    if kind not in ("Q", "K", "V"):
        raise ValueError(f"`kind`: esperado 'Q', 'K' ou 'V'; veio {kind!r}.")
    s = _to_numpy(scores, "scores", (2, 4), "[heads_prev, heads_next] ou [l1, h1, l2, h2]")
    if s.ndim == 4:
        n_l1, n_h1, n_l2, n_h2 = s.shape
        rows = [f"L{l}H{h}" for l in range(n_l1) for h in range(n_h1)]
        cols = [f"L{l}H{h}" for l in range(n_l2) for h in range(n_h2)]
        later = np.arange(n_l2)[None, None, :, None] > np.arange(n_l1)[:, None, None, None]
        s = np.where(np.broadcast_to(later, s.shape), s, np.nan).reshape(len(rows), len(cols))
        keep_r = [i for i in range(len(rows)) if np.isfinite(s[i]).any()]
        keep_c = [j for j in range(len(cols)) if np.isfinite(s[:, j]).any()]
        if keep_r and keep_c:  # some com as linhas/colunas que não podem compor com ninguém
            s = s[np.ix_(keep_r, keep_c)]
            rows, cols = [rows[i] for i in keep_r], [cols[j] for j in keep_c]
    else:
        lp, ln = layers if layers is not None else ("?", "?")
        rows = [f"L{lp}H{h}" if layers else f"H{h}" for h in range(s.shape[0])]
        cols = [f"L{ln}H{h}" if layers else f"H{h}" for h in range(s.shape[1])]
    fig, ax = plt.subplots(figsize=(0.6 * len(cols) + 2.6, 0.5 * len(rows) + 1.8))
    cmap, norm = _auto_cmap(s)
    cmap = plt.get_cmap(cmap).with_extremes(bad="#dddddd")
    im = ax.imshow(s, cmap=cmap, norm=norm, aspect="auto")
    ax.grid(False)
    if s.size <= 400:
        _annotate_cells(ax, im, s, fmt, fontsize=7)
    _set_ticks(ax, "x", cols, rotation=90 if len(cols) > 8 else 0)
    _set_ticks(ax, "y", rows)
    ax.set_xlabel(f"cabeça posterior (lê via {kind})")
    ax.set_ylabel("cabeça anterior (escreve)")
    ax.set_title(title or f"Composição-{kind}")
    fig.colorbar(im, ax=ax, label="escore de composição")
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ circuitos
def plot_circuit(matrix, row_labels=None, col_labels=None, title: str | None = None,
                 ylabel: str = "token de entrada", xlabel: str = "token de saída",
                 max_labels: int = MAX_TICK_LABELS):
    """Heatmap de um circuito completo `matrix` [n, m] (ex.: OV [vocab, vocab], QK [vocab, vocab]).

    Mapa divergente centrado em 0. Os rótulos dos eixos só aparecem quando há até
    `max_labels` linhas/colunas (com vocabulário de ~200 eles ficariam ilegíveis).
    Padrões de eixo pensados para o circuito OV; para QK use
    ylabel="token da consulta", xlabel="token da chave".
    """
    m = _to_numpy(matrix, "matrix", (2,), "[n, m]")
    n_rows, n_cols = m.shape
    rows = _check_labels(row_labels, n_rows, "row_labels", "`matrix` (linhas)") if row_labels is not None else None
    cols = _check_labels(col_labels, n_cols, "col_labels", "`matrix` (colunas)") if col_labels is not None else None
    side = min(max(4.0, 0.2 * max(n_rows, n_cols) + 2), 10)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    vmax = float(np.nanmax(np.abs(m))) or 1.0
    im = ax.imshow(m, cmap=DIVERGING_CMAP, norm=TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax),
                   aspect="auto", interpolation="nearest")
    ax.grid(False)
    if rows is not None and n_rows <= max_labels:
        _set_ticks(ax, "y", rows, fontsize=_token_fontsize(n_rows))
    else:
        ax.set_yticks([])
        ylabel += f" ({n_rows})"
    if cols is not None and n_cols <= max_labels:
        _set_ticks(ax, "x", cols, rotation=90, fontsize=_token_fontsize(n_cols))
    else:
        ax.set_xticks([])
        xlabel += f" ({n_cols})"
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title or "Circuito completo")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="valor (0 = branco)")
    fig.tight_layout()
    return _finish(fig)


def plot_attribution(values, labels, title: str | None = None, xlabel: str = "contribuição para o logit",
                     sort: bool = False, fmt: str = ".2f"):
    """Barras horizontais: azul = contribuição positiva, vermelho = negativa.

    `values` [n], `labels` [n] (ex.: "embed", "L0H1", "L1H3"...). A ordem é a dada,
    de cima para baixo; `sort=True` ordena do maior para o menor.
    """
    v = _to_numpy(values, "values", (1,), "[n]")
    labs = _check_labels(labels, len(v), "labels", "`values`")
    if sort:
        order = np.argsort(-v, kind="stable")
        v, labs = v[order], [labs[i] for i in order]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(v) + 1.4))
    y = np.arange(len(v))
    ax.barh(y, v, color=[POSITIVE_COLOR if x >= 0 else NEGATIVE_COLOR for x in v])
    ax.axvline(0, color="black", linewidth=0.8)
    _set_ticks(ax, "y", labs, fontsize=_token_fontsize(len(v)))
    ax.invert_yaxis()
    if len(v) <= 30:
        span = float(np.abs(v).max()) or 1.0
        for yi, x in zip(y, v):
            ax.text(x + (0.01 if x >= 0 else -0.01) * span, yi, format(x, fmt), va="center",
                    ha="left" if x >= 0 else "right", fontsize=7)
        ax.set_xlim(min(0.0, v.min()) - 0.15 * span, max(0.0, v.max()) + 0.15 * span)
    ax.set_xlabel(xlabel)
    ax.set_title(title or "Atribuição")
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ PCA
def _spread_labels(c: np.ndarray, labels: list[str], min_gap: float) -> list[bool]:
    """Quais rótulos escrever para que nenhum fique a menos de `min_gap` (fração dos eixos) de outro.

    Escolha gulosa e determinística: primeiro os pontos mais afastados do centro (os que
    costumam ser lidos), depois os outros, pulando quem cairia em cima de um já escrito.
    """
    span = np.ptp(c, axis=0)
    span[span == 0] = 1.0
    unit = (c - c.mean(0)) / span
    order = np.argsort(-np.linalg.norm(unit, axis=1), kind="stable")
    placed: list[np.ndarray] = []
    keep = [False] * len(c)
    for i in order:
        if not labels[i]:
            continue
        if all(np.abs(unit[i] - u).max() >= min_gap for u in placed):
            keep[i] = True
            placed.append(unit[i])
    return keep


def plot_pca(coords, labels, groups=None, title: str | None = None, explained_variance=None,
             axis_names=None, min_label_gap: float = 0.06):
    """Dispersão 2D (ex.: PCA de embeddings) com o texto de cada ponto.

    `coords` [n, 2]; `labels` [n] (o token de cada ponto; "" = sem rótulo); `groups` [n]
    (opcional, ex.: "masculino"/"feminino"): cor por grupo, na ordem em que os grupos
    aparecem; `explained_variance` (opcional): fração da variância de cada eixo, ex.
    (0.41, 0.22); `axis_names` (opcional): os nomes dos dois eixos (padrão: componentes
    principais 1 e 2). Para a figura ficar legível num aglomerado denso, um rótulo só é
    escrito se ficar a pelo menos `min_label_gap` (fração da largura/altura dos eixos)
    de todos os já escritos (0 = escreve todos); os pontos aparecem todos.
    """
    c = _to_numpy(coords, "coords", (2,), "[n, 2]")
    if c.shape[1] != 2:
        raise ValueError(f"`coords`: esperado formato [n, 2]; veio {c.shape}.")
    labs = _check_labels(labels, len(c), "labels", "`coords` (pontos)")
    grp = _check_labels(groups, len(c), "groups", "`coords` (pontos)") if groups is not None else None
    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    if grp is None:
        ax.scatter(c[:, 0], c[:, 1], color=POSITIVE_COLOR, s=30)
    else:
        palette = plt.get_cmap("tab10").colors
        for i, g in enumerate(dict.fromkeys(grp)):
            mask = np.array([x == g for x in grp])
            ax.scatter(c[mask, 0], c[mask, 1], color=palette[i % len(palette)], s=30, label=g)
        ax.legend(title="grupo", fontsize=8)
    for (x, y), text, keep in zip(c, labs, _spread_labels(c, labs, min_label_gap)):
        if keep:
            ax.annotate(text, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8, parse_math=False)
    names = list(axis_names) if axis_names is not None else ["componente principal 1", "componente principal 2"]
    if len(names) != 2:
        raise ValueError(f"`axis_names`: esperados 2 nomes (eixo x, eixo y); vieram {len(names)}.")
    if explained_variance is not None:
        names = [f"{n} ({100 * float(f):.0f}% da variância)" for n, f in zip(names, explained_variance)]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(title or "Projeção nas duas primeiras componentes principais")
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ softmax
def plot_softmax_temperature(logits, labels, temperatures=(0.5, 1.0, 2.0), title: str | None = None):
    """softmax(logits / T) em barras, um painel por temperatura T.

    T pequeno concentra a probabilidade no maior logit; T grande espalha.
    """
    z = _to_numpy(logits, "logits", (1,), "[n]")
    labs = _check_labels(labels, len(z), "labels", "`logits`")
    temps = [float(t) for t in (temperatures if np.ndim(temperatures) else [temperatures])]
    if not temps or any(not t > 0 for t in temps):
        raise ValueError(f"`temperatures`: esperadas temperaturas positivas (T > 0); veio {temperatures!r}.")
    fig, axes = plt.subplots(1, len(temps), figsize=(max(2.8, 0.35 * len(z) + 1.2) * len(temps), 3.4),
                             squeeze=False, sharey=True)
    for ax, t in zip(axes[0], temps):
        e = np.exp((z - z.max()) / t)
        ax.bar(range(len(z)), e / e.sum(), color=POSITIVE_COLOR)
        _set_ticks(ax, "x", labs, rotation=90 if len(z) > 6 else 0, fontsize=_token_fontsize(len(z)))
        ax.set_ylim(0, 1)
        ax.set_title(f"T = {t:g}")
        ax.set_xlabel("token")
    axes[0, 0].set_ylabel("probabilidade")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ patching
def plot_patching(values, row_labels, col_labels, title: str | None = None, xlabel: str = "posição",
                  ylabel: str = "camada", colorbar_label: str = "métrica (0 = corrompido, 1 = limpo)",
                  fmt: str = ".2f", annotate: bool = True):
    """Heatmap de uma varredura de patching [linhas, colunas], SEMPRE centrado em 0.

    `col_labels`/`row_labels`: um rótulo por coluna/linha (p. ex. `f"{i}:{tok}"` para posições,
    "L0", "L1" para camadas). Vermelho = restaurar aquela ativação devolve o comportamento limpo;
    azul = piora; branco = não muda nada. A escala é simétrica, com pelo menos ±1.
    """
    v = _to_numpy(values, "values", (2,), "[linhas, colunas]")
    rows = _check_labels(row_labels, v.shape[0], "row_labels", "linhas")
    cols = _check_labels(col_labels, v.shape[1], "col_labels", "colunas")
    finite = v[np.isfinite(v)]
    m = max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    fig, ax = plt.subplots(figsize=(0.75 * v.shape[1] + 2.6, 0.5 * v.shape[0] + 1.8))
    im = ax.imshow(v, cmap=DIVERGING_CMAP, norm=TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m), aspect="auto")
    ax.grid(False)
    if annotate:  # sem "-0.00": o que arredonda para 0 aparece como 0
        _annotate_cells(ax, im, np.where(np.abs(v) < 0.005, 0.0, v), fmt, fontsize=7)
    _set_ticks(ax, "x", cols, rotation=45, fontsize=_token_fontsize(len(cols)))
    _set_ticks(ax, "y", rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Patching de ativações")
    fig.colorbar(im, ax=ax, label=colorbar_label, shrink=0.9)
    fig.tight_layout()
    return _finish(fig)


# ============================================================================ composição contra o acaso
def plot_composition_vs_baseline(scores: dict, baseline_mean: float, baseline_std: float,
                                 layers: tuple[int, int] = (0, 1), title: str | None = None):
    """Composições Q, K e V lado a lado, cada célula colorida em desvios padrão do acaso.

    `scores`: {"Q": [heads_prev, heads_next], "K": ..., "V": ...} (escores de composição);
    `baseline_mean`/`baseline_std`: média e desvio padrão do escore de pares sorteados com as
    mesmas formas. Cor: (escore − média) / desvio (azul = acima do acaso, vermelho = abaixo);
    o número na célula é o próprio escore.
    """
    if not isinstance(scores, dict) or not scores or any(k not in ("Q", "K", "V") for k in scores):
        raise ValueError(f"`scores`: esperado dict com chaves 'Q', 'K' e/ou 'V'; veio {scores!r:.80}.")
    if not (isinstance(baseline_std, (int, float)) and baseline_std > 0):
        raise ValueError(f"`baseline_std`: esperado número > 0; veio {baseline_std!r}.")
    mats = {k: _to_numpy(v, f"scores[{k!r}]", (2,), "[heads_prev, heads_next]") for k, v in scores.items()}
    z = {k: (m - baseline_mean) / baseline_std for k, m in mats.items()}
    zmax = max(float(np.abs(v).max()) for v in z.values()) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-zmax, vmax=zmax)
    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats) + 1.2, 3.4), squeeze=False)
    for ax, (kind, m) in zip(axes[0], mats.items()):
        im = ax.imshow(z[kind], cmap="RdBu", norm=norm, aspect="auto")
        ax.grid(False)
        for (i, j), v in np.ndenumerate(m):
            r, g, b, _ = im.cmap(im.norm(z[kind][i, j]))
            color = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
            ax.text(j, i, format(v, ".2f"), ha="center", va="center", fontsize=7, color=color)
        _set_ticks(ax, "x", [f"L{layers[1]}H{h}" for h in range(m.shape[1])])
        _set_ticks(ax, "y", [f"L{layers[0]}H{h}" for h in range(m.shape[0])])
        ax.set_xlabel(f"cabeça posterior (lê via {kind})")
        ax.set_title(f"Composição {kind}")
    axes[0][0].set_ylabel("cabeça anterior (escreve)")
    fig.colorbar(im, ax=list(axes[0]), label="desvios padrão acima do acaso")
    fig.suptitle(title or f"Escores de composição contra o acaso (média {baseline_mean:.3f})", fontsize=10)
    return _finish(fig)
