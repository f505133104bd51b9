"""Testes de course_lib.widgets: modo estático, modo widget e exibição num notebook de verdade."""
import pathlib

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib import widgets  # noqa: E402
from course_lib.model import Config, HookedTransformer  # noqa: E402
from course_lib.tokenizer import Tokenizer  # noqa: E402

WORDS = ["<bos>", "o", "a", "gato", "gata", "come", "dorme", "peixe", "."]
PROMPT = "o gato come peixe ."


@pytest.fixture(scope="module")
def model():
    cfg = Config(n_layers=3, n_heads=4, d_model=16, d_vocab=len(WORDS), n_ctx=32)
    return HookedTransformer(cfg, tokenizer=Tokenizer(WORDS))


def fake_lens(model, tokens, k):
    """Lente simples com a API de course_lib.lens.lens_top_k: (probs, ids [camada, pos, k], rótulos)."""
    _, cache = model.run_with_cache(tokens)
    resids = [cache["resid_pre", l][0] for l in range(model.cfg.n_layers)]
    logits = torch.stack([model.ln_final(r) @ model.W_U + model.b_U for r in resids])
    probs, ids = logits.softmax(-1).topk(k, dim=-1)
    return probs, ids, [f"L{l}" for l in range(model.cfg.n_layers)]


# ============================================================================ escolha do modo
def test_is_static_rules(monkeypatch):
    monkeypatch.delenv("COURSE_STATIC", raising=False)
    assert widgets.is_static(True) is True and widgets.is_static(False) is False
    assert widgets.is_static() is True  # pytest não é um kernel IPython
    monkeypatch.setenv("COURSE_STATIC", "0")
    assert widgets.is_static() is False
    assert widgets.is_static(True) is True  # o argumento vence a variável
    monkeypatch.setenv("COURSE_STATIC", "1")
    assert widgets.is_static() is True


def test_is_static_inside_kernel_depends_on_frontend_hint(monkeypatch):
    class FakeKernelShell:
        kernel = object()

    monkeypatch.delenv("COURSE_STATIC", raising=False)
    for var in widgets._FRONTEND_ENV_HINTS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("IPython.get_ipython", lambda: FakeKernelShell())
    assert widgets.is_static() is True  # nbclient / nbval / nbconvert: sem jupyter_server
    monkeypatch.setenv("JPY_SESSION_NAME", "/curso/01_atencao.ipynb")  # kernel aberto pelo JupyterLab
    assert widgets.is_static() is False


# ============================================================================ modo estático
def test_static_mode_returns_figures(model):
    fig = widgets.attention_explorer(model, PROMPT, layer=1, head=2, static=True)
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "L1H2"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [f"{i}:{t}" for i, t in enumerate(["<bos>"] + PROMPT.split())]
    grid = widgets.attention_explorer(model, PROMPT, layer=2, head=None, static=True)
    assert [ax.get_title() for ax in grid.axes[:4]] == ["L2H0", "L2H1", "L2H2", "L2H3"]
    soft = widgets.softmax_temperature_explorer(torch.tensor([1.0, 2.0, 3.0]), ["a", "b", "c"], static=True)
    assert [ax.get_title() for ax in soft.axes] == ["T = 0.5", "T = 1", "T = 2"]
    lens = widgets.logit_lens_explorer(model, PROMPT, lens_fn=fake_lens, static=True)
    assert [t.get_text() for t in lens.axes[0].get_yticklabels()] == ["L0", "L1", "L2"]
    topk = widgets.logit_lens_explorer(model, PROMPT, lens_fn=fake_lens, k=3, layer=1, static=True)
    assert [t.get_text() for t in topk.axes[0].get_yticklabels()] == ["top-1", "top-2", "top-3"]
    assert topk.axes[0].get_ylabel() == "posto"


def test_static_mode_accepts_token_ids(model):
    fig = widgets.attention_explorer(model, torch.tensor([0, 1, 3, 5]), static=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0:<bos>", "1:o", "2:gato", "3:come"]


def test_bad_arguments_raise_ptbr_errors(model):
    with pytest.raises(ValueError, match="`layer`"):
        widgets.attention_explorer(model, PROMPT, layer=3, static=True)
    with pytest.raises(ValueError, match="`head`"):
        widgets.attention_explorer(model, PROMPT, head=4, static=True)
    with pytest.raises(ValueError, match="`temperature`"):
        widgets.softmax_temperature_explorer(torch.rand(3), ["a", "b", "c"], temperature=0, static=True)
    with pytest.raises(ValueError, match="`k`"):
        widgets.logit_lens_explorer(model, PROMPT, lens_fn=fake_lens, k=0, static=True)


# ============================================================================ modo widget
def test_attention_explorer_widget_mode(model):
    ex = widgets.attention_explorer(model, PROMPT, static=False)
    assert isinstance(ex, widgets.Explorer)
    assert list(ex.controls) == ["prompt", "layer", "head"]
    assert ex.controls["layer"].options == (("L0", 0), ("L1", 1), ("L2", 2))
    assert [v for _, v in ex.controls["head"].options] == [-1, 0, 1, 2, 3]
    first = bytes(ex.image.value)
    assert first.startswith(b"\x89PNG")
    ex.controls["head"].value = 3  # o observador redesenha
    assert bytes(ex.image.value) != first
    fig = ex.update()
    assert fig.axes[0].get_title() == "L0H3"
    ex.controls["head"].value = -1
    assert ex.update().axes[0].get_title() == "L0H0"  # "todas": a grade da camada
    ex.controls["prompt"].value = "a gata dorme"
    assert [t.get_text() for t in ex.update().axes[-2].get_xticklabels()] == ["0:<bos>", "1:a", "2:gata", "3:dorme"]
    ex.controls["prompt"].value = "o cachorro"  # palavra fora do vocabulário: mensagem, sem exceção
    assert ex.update() is None and "Erro" in ex.status.value and "cachorro" in ex.status.value
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "<Explorador de atenção: prompt, layer, head>"


def test_softmax_explorer_widget_mode():
    ex = widgets.softmax_temperature_explorer(torch.tensor([3.0, 1.0, 0.0]), ["gato", "cão", "peixe"], static=False)
    assert list(ex.controls) == ["temperature"]
    slider = ex.controls["temperature"]
    assert slider.description == "temperatura" and slider.value == 1.0
    before = bytes(ex.image.value)
    slider.value = 0.2
    assert bytes(ex.image.value) != before
    fig = ex.update()
    assert fig.axes[0].get_title() == "T = 0.2"
    assert fig.axes[0].patches[0].get_height() > 0.99  # T baixo: quase tudo no maior logit


def test_logit_lens_explorer_widget_mode(model):
    ex = widgets.logit_lens_explorer(model, PROMPT, lens_fn=fake_lens, k=4, static=False)
    assert list(ex.controls) == ["prompt", "layer"]
    assert [v for _, v in ex.controls["layer"].options] == [-1, 0, 1, 2]
    ex.controls["layer"].value = 2
    fig = ex.update()
    assert fig.axes[0].get_title() == "Lente de logits em L2: os 4 mais prováveis"
    assert len(fig.axes[0].texts) == 4 * (len(PROMPT.split()) + 1)
    assert ex.status.value == ""


def test_logit_lens_explorer_with_course_lens():
    """Sem `lens_fn`: importa course_lib.lens.lens_top_k na hora (API combinada com lens.py)."""
    lens = pytest.importorskip("course_lib.lens")
    if not hasattr(lens, "lens_top_k"):
        pytest.skip("course_lib.lens ainda não tem lens_top_k")
    cfg = Config(n_layers=2, n_heads=2, d_model=16, d_mlp=32, d_vocab=len(WORDS), n_ctx=32)
    mlp_model = HookedTransformer(cfg, tokenizer=Tokenizer(WORDS))
    fig = widgets.logit_lens_explorer(mlp_model, PROMPT, k=3, static=True)
    assert isinstance(fig, Figure)


# ============================================================================ notebook de verdade
def test_each_figure_displays_exactly_once_in_executed_notebook(monkeypatch):
    """Executa um notebook com o nbclient (como nbval/nbconvert) e conta as imagens de cada célula."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = {
        "import torch\nfrom course_lib import plots, widgets\nplots.set_style()": 0,
        "plots.plot_attention(torch.eye(3), ['a', 'b', 'c'])": 1,  # última linha: uma imagem
        "fig = plots.plot_head_scores(torch.rand(2, 2), 'x')": 0,  # atribuída: nada
        "fig": 1,
        "f1 = plots.plot_attribution(torch.rand(2), ['a', 'b'])\ndisplay(f1)\nf1": 2,  # display + última linha
        "widgets.softmax_temperature_explorer(torch.tensor([1.0, 2.0]), ['a', 'b'])": 1,  # nbclient: estático
    }
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    monkeypatch.delenv("COURSE_STATIC", raising=False)  # o modo tem que vir da detecção automática
    for var in widgets._FRONTEND_ENV_HINTS:
        monkeypatch.delenv(var, raising=False)
    repo = str(pathlib.Path(widgets.__file__).resolve().parent.parent)
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": repo}}).execute()
    for cell, expected in zip(nb.cells, cells.values()):
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == expected, cell.source
        assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)
    assert nb.cells[1].outputs[0]["data"]["text/plain"].startswith("<Figure size")


def test_widget_image_is_shown_at_the_size_it_is_drawn():
    """A figura não é esticada pela largura da célula, e as descrições não são cortadas."""
    from course_lib.widgets import _PIXEL_RATIO, _png_size
    ex = widgets.softmax_temperature_explorer(torch.tensor([3.0, 1.0, 0.0]), ["gato", "cão", "peixe"], static=False)
    width, height = _png_size(bytes(ex.image.value))
    fig = ex.update()
    assert ex.image.layout.width == f"{width // _PIXEL_RATIO}px"
    assert ex.image.layout.height == f"{height // _PIXEL_RATIO}px"
    # no tamanho da figura (polegadas × dpi), com folga para o bbox "tight"
    assert abs(width / _PIXEL_RATIO - fig.get_figwidth() * fig.dpi) < 0.25 * fig.get_figwidth() * fig.dpi
    assert ex.image.layout.align_self == "flex-start"
    assert ex.controls["temperature"].style.description_width == "initial"
