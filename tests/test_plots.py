"""Testes de course_lib.plots: renderiza com Agg, confere rótulos (pt-BR), erros e tempo."""
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib import plots  # noqa: E402

TOKS = ["<bos>", "o", "gato", "come", "peixe"]


def causal_pattern(*lead, n=len(TOKS), seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(*lead, n, n, generator=g)
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1)


def xticks(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


def yticks(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def render(fig):
    """Desenha a figura (pega erros que só aparecem no desenho)."""
    fig.canvas.draw()


def render_like_jupyter(fig):
    """Desenha como o backend inline do Jupyter: PNG com bbox "tight" (dois desenhos)."""
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")


@pytest.fixture(scope="module", autouse=True)
def style():
    plots.set_style()


# ============================================================================ cada gráfico
def test_plot_attention_labels_and_display_rule():
    fig = plots.plot_attention(causal_pattern(), TOKS, title="L0H1")
    assert isinstance(fig, Figure)
    assert fig.number not in plt.get_fignums()  # já fechada no pyplot: aparece uma vez só no notebook
    ax = fig.axes[0]
    assert xticks(ax) == TOKS and yticks(ax) == TOKS
    assert ax.get_xlabel() == "posição da chave (origem)"
    assert ax.get_ylabel() == "posição da consulta (destino)"
    assert ax.get_title() == "L0H1"
    assert fig.axes[1].get_ylabel() == "probabilidade de atenção"
    render(fig)  # fechada no pyplot, mas ainda desenhável


def test_plot_attention_grid_4d_and_3d():
    fig = plots.plot_attention_grid(causal_pattern(2, 3), TOKS)
    heads = fig.axes[:-1]
    assert [ax.get_title() for ax in heads] == ["L0H0", "L0H1", "L0H2", "L1H0", "L1H1", "L1H2"]
    assert yticks(heads[0]) == TOKS and xticks(heads[3]) == TOKS  # rótulos na borda da grade
    assert fig.axes[-1].get_ylabel() == "probabilidade de atenção"
    fig3 = plots.plot_attention_grid(causal_pattern(4), TOKS, layer=2)
    assert [ax.get_title() for ax in fig3.axes[:-1]] == ["L2H0", "L2H1", "L2H2", "L2H3"]
    fig3b = plots.plot_attention_grid(causal_pattern(2), TOKS)
    assert [ax.get_title() for ax in fig3b.axes[:-1]] == ["H0", "H1"]
    render(fig)


def test_plot_logit_lens():
    probs = torch.rand(3, len(TOKS), generator=torch.Generator().manual_seed(0))
    top = [[f"t{l}{p}" for p in range(len(TOKS))] for l in range(3)]
    fig = plots.plot_logit_lens(probs, top, TOKS, layer_labels=["embed", "L0", "L1"])
    ax = fig.axes[0]
    assert xticks(ax) == TOKS and yticks(ax) == ["embed", "L0", "L1"]
    assert {t.get_text() for t in ax.texts} == {c for row in top for c in row}
    assert ax.get_xlabel() == "posição (token de entrada)" and ax.get_ylabel() == "camada"
    assert fig.axes[1].get_ylabel() == "probabilidade do token mais provável"
    default = plots.plot_logit_lens(probs, top, TOKS)
    assert yticks(default.axes[0]) == ["camada 0", "camada 1", "camada 2"]
    render(fig)


def test_plot_per_position_loss():
    loss = torch.cat([torch.full((4,), 3.0), torch.full((4,), 0.5)])
    fig = plots.plot_per_position_loss(loss, seq_len=4, str_tokens=[f"r{i}" for i in range(8)])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "posição" and ax.get_ylabel() == "perda (nats)"
    assert xticks(ax) == [f"r{i}" for i in range(8)]
    vlines = [l for l in ax.get_lines() if l.get_label() == "início da repetição"]
    assert vlines and vlines[0].get_xdata()[0] == pytest.approx(3.5)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "média na 1ª cópia: 3.00" in legend and "média na 2ª cópia: 0.50" in legend
    batch = plots.plot_per_position_loss(torch.stack([loss, loss + 1]))  # [batch, pos]: média do lote
    assert np.allclose(batch.axes[0].get_lines()[0].get_ydata(), (loss + 0.5).numpy())
    render(fig)


def test_plot_head_scores_annotations_and_colormap():
    scores = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.3, 0.4, 0.95, 0.5], [0.0, 0.1, 0.2, 0.3]])
    fig = plots.plot_head_scores(scores, "Detector de indução")
    ax = fig.axes[0]
    assert ax.get_title() == "Detector de indução"
    assert ax.get_xlabel() == "cabeça" and ax.get_ylabel() == "camada"
    assert xticks(ax) == ["H0", "H1", "H2", "H3"] and yticks(ax) == ["L0", "L1", "L2"]
    assert len(ax.texts) == 12 and "0.95" in [t.get_text() for t in ax.texts]
    assert not isinstance(ax.images[0].norm, TwoSlopeNorm)  # só positivos: sequencial
    mixed = plots.plot_head_scores(scores - 0.5, "Ablação", colorbar_label="variação da perda")
    assert isinstance(mixed.axes[0].images[0].norm, TwoSlopeNorm)  # sinais misturados: divergente em 0
    assert mixed.axes[1].get_ylabel() == "variação da perda"
    render(fig)


def test_plot_composition_scores():
    fig = plots.plot_composition_scores(torch.rand(2, 3, 2, 3), kind="K")
    ax = fig.axes[0]
    assert ax.get_title() == "Composição-K"
    assert yticks(ax) == ["L0H0", "L0H1", "L0H2"]  # L1 não compõe com nada depois: sai
    assert xticks(ax) == ["L1H0", "L1H1", "L1H2"]
    assert ax.get_xlabel() == "cabeça posterior (lê via K)" and ax.get_ylabel() == "cabeça anterior (escreve)"
    two = plots.plot_composition_scores(torch.rand(4, 4), kind="V", layers=(0, 1))
    assert yticks(two.axes[0])[0] == "L0H0" and xticks(two.axes[0])[-1] == "L1H3"
    three = plots.plot_composition_scores(torch.rand(3, 4, 3, 4), kind="Q")
    assert len(yticks(three.axes[0])) == 8 and len(xticks(three.axes[0])) == 8
    render(fig)


def test_plot_circuit_small_and_large_vocab():
    fig = plots.plot_circuit(torch.randn(5, 5), TOKS, TOKS, title="Circuito OV")
    ax = fig.axes[0]
    assert yticks(ax) == TOKS and xticks(ax) == TOKS
    assert ax.get_ylabel() == "token de entrada" and ax.get_xlabel() == "token de saída"
    assert isinstance(ax.images[0].norm, TwoSlopeNorm) and ax.images[0].norm.vcenter == 0
    vocab = [f"w{i}" for i in range(200)]
    big = plots.plot_circuit(torch.randn(200, 200), vocab, vocab, ylabel="token da consulta", xlabel="token da chave")
    assert xticks(big.axes[0]) == [] and big.axes[0].get_xlabel() == "token da chave (200)"
    render(big)


def test_plot_attribution_colors():
    fig = plots.plot_attribution(torch.tensor([1.0, -0.5, 2.0]), ["embed", "L0H1", "L1H3"], title="Logit de 'gato'")
    ax = fig.axes[0]
    assert yticks(ax) == ["embed", "L0H1", "L1H3"]
    assert ax.get_xlabel() == "contribuição para o logit"
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors == [plots.POSITIVE_COLOR, plots.NEGATIVE_COLOR, plots.POSITIVE_COLOR]
    ordered = plots.plot_attribution(torch.tensor([1.0, -0.5, 2.0]), ["a", "b", "c"], sort=True)
    assert yticks(ordered.axes[0]) == ["c", "a", "b"]
    render(fig)


def test_plot_pca_groups():
    words = ["gato", "gata", "gatos", "gatas"]
    fig = plots.plot_pca(torch.randn(4, 2), words, groups=["masc.", "fem.", "masc.", "fem."],
                         explained_variance=(0.5, 0.25), min_label_gap=0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == words
    assert ax.get_legend().get_title().get_text() == "grupo"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["masc.", "fem."]
    assert ax.get_xlabel() == "componente principal 1 (50% da variância)"
    render(fig)


def test_plot_pca_skips_overlapping_labels():
    """Num aglomerado denso só alguns rótulos são escritos, nenhum em cima do outro; os isolados ficam."""
    gen = torch.Generator().manual_seed(0)
    dense = torch.randn(40, 2, generator=gen) * 0.01
    coords = torch.cat([dense, torch.tensor([[5.0, 5.0], [-5.0, 4.0]])])
    words = [f"w{i}" for i in range(40)] + ["longe1", "longe2"]
    fig = plots.plot_pca(coords, words, axis_names=("PC3", "PC1"))
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.texts]
    assert "longe1" in shown and "longe2" in shown
    assert 1 <= len(shown) - 2 < 10
    assert ax.get_xlabel() == "PC3" and ax.get_ylabel() == "PC1"
    everything = plots.plot_pca(coords, words, min_label_gap=0)
    assert len(everything.axes[0].texts) == 42
    render(fig)


def test_plot_loss_curve_formats():
    records = [{"step": s, "loss": 3 - s / 50, **({"induction_score": s / 100} if s % 10 == 0 else {})}
               for s in range(100)]
    fig = plots.plot_loss_curve(records, second_metric="induction_score", smooth=5, phase_step=50)
    ax, ax2 = fig.axes
    assert ax.get_xlabel() == "passo de treino" and ax.get_ylabel() == "perda (nats)"
    assert ax2.get_ylabel() == "escore de indução"
    assert len(ax2.get_lines()[0].get_xdata()) == 10  # passos sem a métrica são pulados
    assert "mudança de fase" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(plots.plot_loss_curve([3.0, 2.0, 1.0]).axes) == 1
    as_dict = plots.plot_loss_curve({"step": [0, 10, 20], "loss": [3, 2, 1], "induction_score": [0, None, 0.9]},
                                    second_metric="induction_score")
    assert list(as_dict.axes[0].get_lines()[0].get_xdata()) == [0, 10, 20]
    render(fig)


def test_plot_softmax_temperature():
    logits = torch.tensor([2.0, 1.0, 0.0])
    fig = plots.plot_softmax_temperature(logits, ["gato", "cão", "peixe"], temperatures=(0.5, 1, 2))
    assert [ax.get_title() for ax in fig.axes] == ["T = 0.5", "T = 1", "T = 2"]
    assert xticks(fig.axes[0]) == ["gato", "cão", "peixe"]
    assert fig.axes[0].get_ylabel() == "probabilidade" and fig.axes[0].get_xlabel() == "token"
    heights = [[p.get_height() for p in ax.patches] for ax in fig.axes]
    assert all(sum(h) == pytest.approx(1.0) for h in heights)
    assert heights[0][0] > heights[1][0] > heights[2][0]  # T menor concentra no maior logit
    render(fig)


def test_dollar_tokens_are_not_mathtext():
    fig = plots.plot_attention(causal_pattern(n=3), ["$", "a$b$", "c"])
    assert xticks(fig.axes[0]) == ["$", "a$b$", "c"]
    render(fig)


# ============================================================================ erros em pt-BR
@pytest.mark.parametrize("call, arg", [
    (lambda: plots.plot_attention(causal_pattern(), TOKS[:3]), "str_tokens"),
    (lambda: plots.plot_attention(causal_pattern(2), TOKS), "pattern"),
    (lambda: plots.plot_attention(torch.rand(5, 4), TOKS), "pattern"),
    (lambda: plots.plot_attention_grid(causal_pattern(), TOKS), "patterns"),
    (lambda: plots.plot_attention_grid(causal_pattern(1, 2), TOKS + ["x"]), "str_tokens"),
    (lambda: plots.plot_logit_lens(torch.rand(2, 5), [["a"] * 5] * 3, TOKS), "top_tokens"),
    (lambda: plots.plot_logit_lens(torch.rand(2, 5), [["a"] * 5, ["b"] * 4], TOKS), "top_tokens[1]"),
    (lambda: plots.plot_logit_lens(torch.rand(2, 5), [["a"] * 5] * 2, TOKS, layer_labels=["x"]), "layer_labels"),
    (lambda: plots.plot_logit_lens(torch.rand(5), [["a"] * 5], TOKS), "probs"),
    (lambda: plots.plot_per_position_loss(torch.rand(2, 3, 4)), "loss"),
    (lambda: plots.plot_per_position_loss(torch.rand(6), seq_len=6), "seq_len"),
    (lambda: plots.plot_per_position_loss(torch.rand(6), str_tokens=TOKS), "str_tokens"),
    (lambda: plots.plot_head_scores(torch.rand(4), "x"), "scores"),
    (lambda: plots.plot_composition_scores(torch.rand(2, 2, 2), "K"), "scores"),
    (lambda: plots.plot_composition_scores(torch.rand(2, 2), "X"), "kind"),
    (lambda: plots.plot_circuit(torch.rand(3, 4), ["a", "b", "c"], ["a", "b"]), "col_labels"),
    (lambda: plots.plot_attribution(torch.rand(3), ["a", "b"]), "labels"),
    (lambda: plots.plot_attribution(torch.rand(3, 1), ["a", "b", "c"]), "values"),
    (lambda: plots.plot_pca(torch.rand(3, 3), ["a", "b", "c"]), "coords"),
    (lambda: plots.plot_pca(torch.rand(3, 2), ["a", "b", "c"], groups=["x"]), "groups"),
    (lambda: plots.plot_softmax_temperature(torch.rand(3), ["a", "b", "c"], temperatures=(1, 0)), "temperatures"),
    (lambda: plots.plot_softmax_temperature(torch.rand(3), ["a", "b"]), "labels"),
    (lambda: plots.plot_loss_curve({"step": [0, 1], "loss": [1.0]}), "history"),
])
def test_bad_inputs_raise_ptbr_errors_naming_the_argument(call, arg):
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert f"`{arg}`" in msg
    assert any(w in msg for w in ("esperad", "tem ", "devem")), msg


def test_missing_history_key_and_non_list_labels():
    with pytest.raises(KeyError, match="induction_score"):
        plots.plot_loss_curve([1.0, 2.0], second_metric="induction_score")
    with pytest.raises(TypeError, match="`str_tokens`"):
        plots.plot_attention(causal_pattern(n=3), "abc")


# ============================================================================ tempo
def test_plot_composition_vs_baseline_colors_by_standard_deviations():
    scores = {k: torch.full((4, 4), 0.125) for k in "QKV"}
    scores["K"][0] = 0.2
    fig = plots.plot_composition_vs_baseline(scores, 0.125, 0.01)
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # três painéis e a barra de cores
    assert [ax.get_title() for ax in fig.axes[:3]] == ["Composição Q", "Composição K", "Composição V"]
    z = fig.axes[1].images[0].get_array()
    assert float(z[0, 0]) == pytest.approx(7.5) and float(z[1, 0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="baseline_std"):
        plots.plot_composition_vs_baseline(scores, 0.125, 0.0)
