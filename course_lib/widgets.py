"""Exploradores interativos (ipywidgets) com recaída para uma figura estática.

Cada explorador tem DOIS modos:

- modo widget: devolve um `Explorer` (controles + uma imagem PNG que se redesenha
  a cada mudança). A figura é desenhada com o Agg e posta num `ipywidgets.Image`:
  não há `Output` widget nem saída "solta" na célula;
- modo estático: devolve a `matplotlib.figure.Figure` (a mesma de
  `course_lib.plots`), desenhada com os valores iniciais dos controles.

Regra de exibição (a mesma de `course_lib.plots`): nada é exibido dentro da
função; o objeto devolvido aparece quando é a ÚLTIMA linha da célula (ou com
`display(...)`), exatamente uma vez.

Como o modo é escolhido (`is_static`), nesta ordem:
    1. o argumento `static=True/False` da função, se dado;
    2. a variável de ambiente COURSE_STATIC: "1" força estático, "0" força widgets;
    3. estático se o ipywidgets não está instalado ou se não estamos num kernel
       IPython (script, pytest);
    4. widgets se há sinal de uma interface que desenha widgets: JPY_SESSION_NAME
       (o jupyter_server a põe no ambiente de todo kernel que abre para um
       notebook: JupyterLab, Notebook 7, JupyterHub), VSCODE_PID ou
       PYDEVD_IPYTHON_COMPATIBLE_DEBUGGING (VS Code), ou o módulo google.colab (Colab);
    5. senão, estático.

Por quê: um kernel não tem como saber se alguém vai desenhar os widgets. O nbval,
o nbclient e o `jupyter nbconvert --execute` sobem o kernel direto pelo
jupyter_client, sem jupyter_server, então caem no passo 5 e geram uma figura
comum, de saída determinística: o nbval ignora image/png e compara o text/plain,
que é "<Figure size LxA with N Axes>". No modo widget o nbval ignoraria
application/vnd.jupyter.widget-view+json, mas o text/plain mudaria e a imagem
ficaria no estado do widget, fora da célula; por isso os notebooks guardados no
repositório devem ser executados no modo estático. Exceção: um
`!jupyter nbconvert --execute` rodado DE DENTRO de um notebook do JupyterLab herda
JPY_SESSION_NAME; por garantia, rode nbval/nbconvert com COURSE_STATIC=1.
"""
from __future__ import annotations

import html
import io
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import plots

__all__ = ["Explorer", "is_static", "attention_explorer", "softmax_temperature_explorer", "logit_lens_explorer",
           "patching_explorer"]

_FRONTEND_ENV_HINTS = ("JPY_SESSION_NAME", "VSCODE_PID", "PYDEVD_IPYTHON_COMPATIBLE_DEBUGGING")


def is_static(static: bool | None = None) -> bool:
    """True quando os exploradores devem devolver uma figura estática (ver o topo do módulo)."""
    if static is not None:
        return bool(static)
    env = os.environ.get("COURSE_STATIC", "").strip().lower()
    if env in ("1", "true", "sim", "yes"):
        return True
    if env in ("0", "false", "nao", "não", "no"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return True
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return True
    has_frontend = any(os.environ.get(v) for v in _FRONTEND_ENV_HINTS) or "google.colab" in sys.modules
    return not has_frontend


# Pixels do PNG por pixel de tela: desenhada com o dobro de pontos e mostrada no tamanho
# da figura (largura em polegadas × 100 px), a imagem fica nítida também em telas HiDPI.
_PIXEL_RATIO = 2


def _figure_to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=fig.dpi * _PIXEL_RATIO)
    plt.close(fig)
    return buf.getvalue()


def _png_size(png: bytes) -> tuple[int, int]:
    """(largura, altura) em pixels, lidas do cabeçalho IHDR do PNG."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


class Explorer:
    """Um explorador no modo widget.

    `widget`: o painel (ipywidgets.VBox) que o Jupyter exibe; `controls`: nome ->
    controle (ex.: controls["layer"].value = 1); `update()`: redesenha e devolve a
    Figure (é o que os controles chamam quando mudam); `status`: mensagem de erro,
    se a última atualização falhou (ex.: palavra fora do vocabulário).
    """

    def __init__(self, name: str, controls: dict, render):
        import ipywidgets as widgets

        self.name = name
        self.controls = controls
        self._render = render
        # Sem largura fixa, o VBox estica a imagem até a largura da célula (uma figura de
        # 400 px aparecia com 960 px, borrada): a imagem é mostrada no tamanho desenhado.
        self.image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        for control in controls.values():
            # Descrições inteiras ("temperatura", não "temperat…").
            if hasattr(control, "style") and hasattr(control.style, "description_width"):
                control.style.description_width = "initial"
        self.status = widgets.HTML("")
        self.widget = widgets.VBox([widgets.HBox(list(controls.values())), self.status, self.image])
        for control in controls.values():
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def update(self):
        """Redesenha com os valores atuais dos controles; um erro vira mensagem, não exceção."""
        try:
            fig = self._render(**{k: c.value for k, c in self.controls.items()})
        except (ValueError, KeyError, TypeError, IndexError) as err:
            self.status.value = f"<span style='color:#b2182b'>Erro: {html.escape(str(err))}</span>"
            return None
        self.status.value = ""
        png = _figure_to_png(fig)
        width, height = _png_size(png)
        width, height = width // _PIXEL_RATIO, height // _PIXEL_RATIO
        self.image.layout.width, self.image.layout.height = f"{width}px", f"{height}px"
        self.image.value = png
        return fig

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = self.widget._repr_mimebundle_()
        data["text/plain"] = f"<{self.name}: {', '.join(self.controls)}>"
        return data

    def __repr__(self):
        return f"<{self.name}: {', '.join(self.controls)}>"


# ============================================================================ auxiliares
def _tokens_and_strings(model, prompt):
    """Texto (ou ids) -> (tokens [1, pos], strings dos tokens)."""
    if isinstance(prompt, str):
        tokens = model.to_tokens(prompt)
    else:
        tokens = torch.as_tensor(prompt)
        tokens = tokens[None] if tokens.ndim == 1 else tokens
    if tokens.ndim != 2 or tokens.shape[0] != 1:
        raise ValueError(f"`prompt`: esperado um texto ou ids [pos]/[1, pos]; veio formato {tuple(tokens.shape)}.")
    ids = tokens[0].tolist()
    str_tokens = model.to_str_tokens(ids) if getattr(model, "tokenizer", None) is not None else [str(i) for i in ids]
    return tokens, [f"{i}:{t}" for i, t in enumerate(str_tokens)]  # os eixos são posições: rótulos pos:token


def _attention_patterns(model, prompt):
    """Padrões de todas as cabeças: ([layers, heads, q, k], str_tokens)."""
    tokens, str_tokens = _tokens_and_strings(model, prompt)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("attn.hook_pattern"))
    patterns = torch.stack([cache["pattern", l][0] for l in range(model.cfg.n_layers)])
    return patterns, str_tokens


def _check_choice(value, n: int, name: str, allow_none: bool):
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or not 0 <= value < n:
        extra = " ou None (todas)" if allow_none else ""
        raise ValueError(f"`{name}`: esperado inteiro de 0 a {n - 1}{extra}; veio {value!r}.")
    return value


def _text_box(prompt):
    import ipywidgets as widgets

    return widgets.Text(value=prompt, description="texto", continuous_update=False,
                        layout=widgets.Layout(width="420px"))


# ============================================================================ atenção
def attention_explorer(model, prompt, layer: int = 0, head: int | None = 0, static: bool | None = None):
    """Explora os padrões de atenção de `model` sobre `prompt`.

    Controles: texto, camada e cabeça ("todas" mostra a grade da camada).
    Modo estático: a figura da cabeça `head` da camada `layer` (head=None: a grade da camada).
    """
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    layer = _check_choice(layer, n_layers, "layer", allow_none=False)
    head = _check_choice(head, n_heads, "head", allow_none=True)
    memo = {}

    def render(prompt=prompt, layer=layer, head=head):
        key = prompt if isinstance(prompt, str) else "<ids>"
        if key not in memo:
            memo.clear()
            memo[key] = _attention_patterns(model, prompt)
        patterns, str_tokens = memo[key]
        if head is None or head < 0:
            return plots.plot_attention_grid(patterns[layer], str_tokens, layer=layer,
                                             title=f"Padrões de atenção da camada {layer}")
        return plots.plot_attention(patterns[layer, head], str_tokens, title=f"L{layer}H{head}")

    if is_static(static):
        return render()
    import ipywidgets as widgets

    controls = {
        "layer": widgets.Dropdown(options=[(f"L{l}", l) for l in range(n_layers)], value=layer, description="camada"),
        "head": widgets.Dropdown(options=[("todas", -1)] + [(f"H{h}", h) for h in range(n_heads)],
                                   value=-1 if head is None else head, description="cabeça"),
    }
    if isinstance(prompt, str):
        controls = {"prompt": _text_box(prompt), **controls}
    return Explorer("Explorador de atenção", controls, render)


# ============================================================================ softmax
def softmax_temperature_explorer(logits, labels, temperature: float = 1.0, static_temperatures=(0.5, 1.0, 2.0),
                                 static: bool | None = None):
    """softmax(logits / T) com um controle deslizante de temperatura (0,1 a 10, escala log).

    Modo estático: um painel por temperatura de `static_temperatures`.
    """
    if not temperature > 0:
        raise ValueError(f"`temperature`: esperado T > 0; veio {temperature!r}.")

    def render(temperature=temperature):
        return plots.plot_softmax_temperature(logits, labels, temperatures=(temperature,))

    if is_static(static):
        return plots.plot_softmax_temperature(logits, labels, temperatures=static_temperatures)
    import ipywidgets as widgets

    slider = widgets.FloatLogSlider(value=temperature, base=10, min=-1, max=1, step=0.02, description="temperatura",
                                    readout_format=".2f", continuous_update=True)
    return Explorer("Explorador de temperatura", {"temperature": slider}, render)


# ============================================================================ lente de logits
def _lens_data(model, prompt, lens_fn, k: int):
    """Roda a lente: (probs [layers, pos, k], strings array [layers, pos, k], rótulos das camadas, str_tokens)."""
    tokens, str_tokens = _tokens_and_strings(model, prompt)
    with torch.no_grad():
        probs, ids, labels = lens_fn(model, tokens, k)
    probs = torch.as_tensor(probs).detach().float().cpu()
    ids = torch.as_tensor(ids).detach().cpu()
    if probs.ndim == 4:  # [layers, batch=1, pos, k] ou [batch=1, ...]: tira a dimensão do lote
        probs, ids = (probs[0], ids[0]) if probs.shape[0] == 1 else (probs[:, 0], ids[:, 0])
    if probs.ndim != 3 or tuple(ids.shape) != tuple(probs.shape):
        raise ValueError(f"`lens_fn`: esperado devolver probs e ids [layers, pos, k]; veio {tuple(probs.shape)} "
                         f"e {tuple(ids.shape)}.")
    flat = ids.flatten().tolist()
    names = model.to_str_tokens(flat) if getattr(model, "tokenizer", None) is not None else [str(i) for i in flat]
    cells = np.array(names, dtype=object).reshape(tuple(ids.shape))
    return probs.numpy(), cells, [str(s) for s in labels], str_tokens


def _default_lens_fn():
    try:
        from .lens import lens_top_k
    except ImportError as err:
        raise ImportError("logit_lens_explorer: não achei `course_lib.lens.lens_top_k`; passe a função da lente "
                          f"em `lens_fn` (lens_fn(model, tokens, k) -> (probs, ids, rótulos)). Detalhe: {err}") from err
    return lens_top_k


def logit_lens_explorer(model, prompt, lens_fn=None, k: int = 5, layer: int | None = None, static: bool | None = None):
    """Explora a lente de logits de `model` sobre `prompt`.

    `lens_fn(model, tokens, k) -> (probs [layer, pos, k], token_ids [layer, pos, k], rótulos das camadas)`;
    se None, usa `course_lib.lens.lens_top_k`. Controles: texto e camada: "todas"
    mostra o token mais provável de cada camada; uma camada mostra o seu top-k.
    Modo estático: a mesma figura, para `layer` (None = todas).
    """
    lens_fn = lens_fn if lens_fn is not None else _default_lens_fn()
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"`k`: esperado inteiro >= 1; veio {k!r}.")
    memo = {}

    def data(prompt):
        key = prompt if isinstance(prompt, str) else "<ids>"
        if key not in memo:
            memo.clear()
            memo[key] = _lens_data(model, prompt, lens_fn, k)
        return memo[key]

    labels = data(prompt)[2]
    layer = _check_choice(layer, len(labels), "layer", allow_none=True)

    def render(prompt=prompt, layer=layer):
        probs, cells, labels, str_tokens = data(prompt)  # cells: strings [layers, pos, k]
        if layer is None or layer < 0:
            return plots.plot_logit_lens(probs[:, :, 0], cells[:, :, 0].tolist(), str_tokens, layer_labels=labels)
        n_top = probs.shape[2]
        return plots.plot_logit_lens(probs[layer].T, cells[layer].T.tolist(), str_tokens,
                                     layer_labels=[f"top-{i + 1}" for i in range(n_top)], ylabel="posto",
                                     title=f"Lente de logits em {labels[layer]}: os {n_top} mais prováveis",
                                     colorbar_label="probabilidade")

    if is_static(static):
        return render()
    import ipywidgets as widgets

    controls = {"layer": widgets.Dropdown(options=[("todas", -1)] + [(s, i) for i, s in enumerate(labels)],
                                           value=-1 if layer is None else layer, description="camada")}
    if isinstance(prompt, str):
        controls = {"prompt": _text_box(prompt), **controls}
    return Explorer("Explorador da lente de logits", controls, render)


# ============================================================================ patching
def patching_explorer(model, pairs: dict, choice: str | None = None, static: bool | None = None):
    """Escolha um par (limpo, corrompido, resposta, errada) e veja o patching do fluxo residual.

    `pairs`: nome -> (texto limpo, texto corrompido, palavra certa, palavra errada). Modo
    estático: a figura do par `choice` (o primeiro, se None).
    """
    from . import patching

    if not isinstance(pairs, dict) or not pairs:
        raise ValueError(f"`pairs`: esperado um dict não vazio nome -> (limpo, corrompido, certa, errada); veio {pairs!r}.")
    names = list(pairs)
    choice = names[0] if choice is None else choice
    if choice not in pairs:
        raise ValueError(f"`choice`: esperado um de {names}; veio {choice!r}.")
    memo = {}

    def render(choice=choice):
        if choice not in memo:
            clean, corrupted, answer, wrong = pairs[choice]
            clean_t, corr_t = model.to_tokens(clean), model.to_tokens(corrupted)
            ids = [model.to_tokens(w, prepend_bos=False)[0, 0] for w in (answer, wrong)]
            grid = patching.patch_resid_pre(model, clean_t, corr_t, *ids)
            labels = [f"{i}:{a}/{b}" if a != b else f"{i}:{a}"
                      for i, (a, b) in enumerate(zip(model.to_str_tokens(clean_t), model.to_str_tokens(corr_t)))]
            memo[choice] = (grid, labels, answer, wrong)
        grid, labels, answer, wrong = memo[choice]
        return plots.plot_patching(grid, [f"L{l}" for l in range(grid.shape[0])], labels,
                                   title=f"Patching do resíduo: logit({answer}) − logit({wrong})")

    if is_static(static):
        return render()
    import ipywidgets as widgets

    controls = {"choice": widgets.Dropdown(options=names, value=choice, description="par")}
    return Explorer("Explorador de patching", controls, render)
