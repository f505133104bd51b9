"""course_lib.patching: propriedades que o patching tem de ter, medidas nos modelos do curso."""
import matplotlib
import pytest
import torch

from course_lib import load_pretrained, patching, plots, widgets
from course_lib.data import repeated_tokens

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def ind():
    model = load_pretrained("induction")
    toks = repeated_tokens(6, 8, model.cfg.d_vocab, seed=3)
    clean = toks[:, :12]  # [BOS, x_1..x_8, x_1..x_3]: a consulta é x_3
    corrupted = clean.clone()
    corrupted[:, 3] = (clean[:, 3] % (model.cfg.d_vocab - 1)) + 1  # outro token, nunca o BOS
    answer = toks[:, 4]
    wrong = (answer % (model.cfg.d_vocab - 1)) + 1
    return model, clean, corrupted, answer, wrong


def test_metric_is_zero_on_corrupted_and_one_on_clean(ind):
    model, clean, corrupted, answer, wrong = ind
    with torch.no_grad():
        lc, lk = model(clean), model(corrupted)
    dc = patching.logit_diff(lc, answer, wrong).mean().item()
    dk = patching.logit_diff(lk, answer, wrong).mean().item()
    assert dc - dk > 1.0  # a corrupção muda mesmo a previsão
    assert patching.normalized_metric(lc, answer, wrong, dc, dk).item() == pytest.approx(1.0, abs=1e-6)
    assert patching.normalized_metric(lk, answer, wrong, dc, dk).item() == pytest.approx(0.0, abs=1e-6)


def test_resid_patch_at_the_only_differing_token_restores_everything(ind):
    """Na camada 0 os dois resíduos só diferem na posição corrompida: restaurá-la É a rodada limpa."""
    grid = patching.patch_resid_pre(*ind)
    assert grid.shape == (ind[0].cfg.n_layers, ind[1].shape[1])
    assert grid[0, 3].item() == pytest.approx(1.0, abs=1e-5)
    others = torch.cat([grid[0, :3], grid[0, 4:]])
    assert others.abs().max().item() < 1e-5


def test_last_layer_heads_only_act_at_the_last_position(ind):
    """A saída de uma cabeça da última camada na posição p só chega aos logits da posição p."""
    grid = patching.patch_head_z(*ind, per_position=True)
    last_layer = grid[-1, :, :-1]
    assert last_layer.abs().max().item() < 1e-5
    assert grid.shape == (2, 4, ind[1].shape[1])
    assert patching.patch_head_z(*ind).shape == (2, 4)


def test_path_patch_matches_an_independent_linear_computation(ind):
    """Sem LayerNorm: k_novo = k_corr + (saída limpa - saída corrompida da emissora) @ W_K."""
    model, clean, corrupted, answer, wrong = ind
    with torch.no_grad():
        _, cc = model.run_with_cache(clean)
        lk, kc = model.run_with_cache(corrupted)
        lc = model(clean)
        delta = (cc["z", 0][:, :, 0] - kc["z", 0][:, :, 0]) @ model.W_O[0, 0]
        k_new = kc["k", 1][:, :, 2] + delta @ model.W_K[1, 2]

        def hook(act, hook):
            act = act.clone()
            act[:, :, 2] = k_new
            return act
        logits = model.run_with_hooks(corrupted, fwd_hooks=[("blocks.1.attn.hook_k", hook)])
    dc, dk = (patching.logit_diff(x, answer, wrong).mean().item() for x in (lc, lk))
    expected = patching.normalized_metric(logits, answer, wrong, dc, dk).item()
    got = patching.path_patch(model, clean, corrupted, answer, wrong, (0, 0), (1, 2), "k")
    assert got == pytest.approx(expected, abs=1e-4)
    assert abs(got) > 0.05  # o caminho pela chave importa neste circuito


def test_attribution_is_exact_where_the_path_to_the_logits_is_linear(ind):
    """Modelo só de atenção e sem LN: z da última camada -> logits é linear, a 1ª ordem é exata."""
    exact = patching.patch_head_z(*ind, per_position=True)
    approx = patching.attribution_patch_heads(*ind)
    assert approx.shape == exact.shape
    assert torch.allclose(approx[-1, :, -1], exact[-1, :, -1], atol=1e-4)
    resid = patching.attribution_patch_resid(*ind)
    assert resid.shape == (2, ind[1].shape[1])
    assert (resid[0, 3] - 1.0).abs().item() > 0.2  # e erra no token corrompido (softmax no caminho)


def test_lm_with_layernorm_runs_and_respects_causality():
    lm = load_pretrained("lm")
    clean, corr = lm.to_tokens("o gato que os meninos viram"), lm.to_tokens("os gatos que os meninos viram")
    a, w = (lm.to_tokens(x, prepend_bos=False)[0, :1] for x in ("dorme", "dormem"))
    grid = patching.patch_resid_pre(lm, clean, corr, a, w)
    assert grid[-1, -1].item() > 0.9  # o último resíduo limpo decide o verbo
    assert grid[:, 0].abs().max().item() < 1e-5  # o BOS é igual nas duas rodadas
    value = patching.path_patch(lm, clean, corr, a, w, (0, 2), (1, 1), "v")
    assert -1.0 < value < 1.0


def test_errors_in_portuguese_name_the_argument(ind):
    model, clean, corrupted, answer, wrong = ind
    with pytest.raises(ValueError, match="corrupted_tokens"):
        patching.patch_resid_pre(model, clean, corrupted[:, :-1], answer, wrong)
    with pytest.raises(ValueError, match="answer"):
        patching.patch_resid_pre(model, clean, corrupted, answer[:2], wrong)
    with pytest.raises(ValueError, match="which"):
        patching.path_patch(model, clean, corrupted, answer, wrong, (0, 0), (1, 2), "z")
    with pytest.raises(ValueError, match="emissora"):
        patching.path_patch(model, clean, corrupted, answer, wrong, (1, 0), (1, 2), "k")


def test_plot_patching_is_centred_on_zero_and_checks_labels():
    fig = plots.plot_patching(torch.tensor([[0.2, 0.9], [0.1, 0.4]]), ["L0", "L1"], ["0:a", "1:b"], title="t")
    norm = fig.axes[0].images[0].norm
    assert norm.vcenter == 0.0 and norm.vmin == -norm.vmax
    with pytest.raises(ValueError, match="col_labels"):
        plots.plot_patching(torch.zeros(2, 2), ["L0", "L1"], ["0:a"])


def test_patching_explorer_static_figure():
    lm = load_pretrained("lm")
    pairs = {"par": ("o gato que os meninos viram", "os gatos que os meninos viram", "dorme", "dormem")}
    fig = widgets.patching_explorer(lm, pairs, static=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][1] == "1:o/os"
    with pytest.raises(ValueError, match="choice"):
        widgets.patching_explorer(lm, pairs, choice="outro", static=True)
