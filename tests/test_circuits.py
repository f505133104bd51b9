"""Testes de course_lib.circuits: FactoredMatrix contra o produto montado, circuitos com
respostas conhecidas e pontuações de composição contra o TransformerLens 3.9.0
(fixtures de tests/fixtures/make_tl_circuit_fixtures.py)."""
import pathlib

import pytest
import torch

from course_lib import Config, HookedTransformer
from course_lib.circuits import (FactoredMatrix, W_OV, W_QK, composition_score, composition_scores, copying_score,
                                 full_OV_circuit, full_QK_circuit, head_composition_score, positional_QK_circuit)

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "circuits_tl.pt"


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def close(a, b, tol=1e-10):
    torch.testing.assert_close(a, b, atol=tol, rtol=tol)


# ============================================================================ FactoredMatrix
@pytest.fixture
def fm():
    """Lote [2, 3] de matrizes 7x7 de posto 4 (A [2,3,7,4], B [2,3,4,7])."""
    return FactoredMatrix(rand(2, 3, 7, 4, seed=1), rand(2, 3, 4, 7, seed=2))


def test_products_and_transpose_match_dense(fm):
    AB = fm.A @ fm.B
    close(fm.AB, AB)
    close(fm.BA, fm.B @ fm.A)
    close(fm.T.AB, AB.transpose(-2, -1))
    assert fm.shape == (2, 3, 7, 7) and fm.ndim == 4 and fm.mdim == 4


def test_svd_reconstructs_and_matches_dense_singular_values(fm):
    U, S, V = fm.svd()  # convenção do TransformerLens: V, não Vh
    assert U.shape == (2, 3, 7, 4) and S.shape == (2, 3, 4) and V.shape == (2, 3, 7, 4)
    close(U @ torch.diag_embed(S) @ V.transpose(-2, -1), fm.AB)
    close(S, torch.linalg.svdvals(fm.AB)[..., :4])  # os outros 3 são ~0 (posto 4)
    close(U.transpose(-2, -1) @ U, torch.eye(4, dtype=torch.float64).expand(2, 3, 4, 4))


def test_norm_is_frobenius(fm):
    close(fm.norm(), torch.linalg.matrix_norm(fm.AB))


def test_eigenvalues_are_the_nonzero_eigenvalues_of_AB(fm):
    ours = fm.eigenvalues  # [2, 3, 4], na ordem do torch.linalg.eig (como no TransformerLens)
    dense = torch.linalg.eigvals(fm.AB)  # [2, 3, 7]: 4 não nulos + 3 ~0
    assert ours.shape == (2, 3, 4)
    # cada autovalor nosso aparece no espectro denso e vice-versa (a menos dos zeros)
    dist = (ours[..., :, None] - dense[..., None, :]).abs()
    assert dist.min(-1).values.max() < 1e-8
    nonzero = dense.abs() > 1e-8
    assert nonzero.sum(-1).eq(4).all()
    assert dist.min(-2).values[nonzero].max() < 1e-8


def test_matmul_stays_factored_on_both_sides(fm):
    M, N = rand(7, 5, seed=3), rand(6, 7, seed=4)
    right, left = fm @ M, N @ fm
    assert isinstance(right, FactoredMatrix) and isinstance(left, FactoredMatrix)
    close(right.AB, fm.AB @ M)
    close(left.AB, N @ fm.AB)
    other = FactoredMatrix(rand(7, 2, seed=5), rand(2, 7, seed=6))
    both = fm @ other
    assert isinstance(both, FactoredMatrix) and both.mdim <= 4
    close(both.AB, fm.AB @ other.AB)


def test_matmul_with_vectors_gives_tensors(fm):
    v = rand(7, seed=7)
    close(fm @ v, fm.AB @ v)
    close(v @ fm, v @ fm.AB)


def test_scalar_broadcast_index_and_corner(fm):
    close((2.5 * fm).AB, 2.5 * fm.AB)
    close(fm[1].AB, fm.AB[1])
    close(fm[1, 2].AB, fm.AB[1, 2])
    close(fm[:, 0].AB, fm.AB[:, 0])
    close(fm.get_corner(2), fm.AB[:2, :2, :2, :2])
    single = FactoredMatrix(rand(5, 4, seed=8), rand(3, 4, 6, seed=9))  # A sem lote: broadcasting
    assert single.shape == (3, 5, 6)
    close(single.AB, rand(5, 4, seed=8) @ rand(3, 4, 6, seed=9))
    assert "FactoredMatrix(forma=(2, 3, 7, 7), dimensão interna=4)" == repr(fm)


def test_factored_matrix_errors_in_portuguese(fm):
    with pytest.raises(ValueError, match="dimensões internas incompatíveis"):
        FactoredMatrix(rand(3, 4), rand(5, 3))
    with pytest.raises(ValueError, match="dimensões internas incompatíveis"):
        fm @ rand(5, 2)
    with pytest.raises(ValueError, match="dimensões internas incompatíveis"):
        rand(2, 5) @ fm
    with pytest.raises(ValueError, match="não são compatíveis"):
        FactoredMatrix(rand(2, 3, 4), rand(3, 4, 3))
    with pytest.raises(TypeError, match="esperado torch.Tensor"):
        FactoredMatrix([[1.0]], rand(1, 1))
    with pytest.raises(ValueError, match="só existe para matriz quadrada"):
        FactoredMatrix(rand(3, 2), rand(2, 5)).BA
    with pytest.raises(IndexError, match="até 4 índices"):
        fm[0, 0, 0, 0, 0]
    with pytest.raises(IndexError, match="fora do intervalo"):
        fm[5]
    with pytest.raises(TypeError, match="esperado um escalar"):
        fm * rand(2)


# ============================================================================ circuitos
def small_model(**kw):
    cfg = dict(n_layers=2, d_model=12, n_heads=3, d_head=4, d_vocab=10, n_ctx=6, normalization=None, init_std=0.3)
    return HookedTransformer(Config(**{**cfg, **kw}))


def test_circuit_shapes_and_values():
    model = small_model()
    assert W_QK(model).shape == (2, 3, 12, 12)
    assert W_OV(model, layer=1).shape == (3, 12, 12)
    assert W_QK(model, head=2).shape == (2, 12, 12)
    W_Q, W_K, W_V, W_O = (w.detach() for w in (model.W_Q, model.W_K, model.W_V, model.W_O))
    W_E, W_pos, W_U = model.W_E.detach(), model.W_pos.detach(), model.W_U.detach()
    tol = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(W_QK(model, 1, 2).AB, W_Q[1, 2] @ W_K[1, 2].T, **tol)
    torch.testing.assert_close(W_OV(model, 0, 1).AB, W_V[0, 1] @ W_O[0, 1], **tol)
    qk = full_QK_circuit(model, 1, 0)
    assert qk.shape == (10, 10)
    torch.testing.assert_close(qk.AB, W_E @ W_Q[1, 0] @ W_K[1, 0].T @ W_E.T, **tol)
    ov = full_OV_circuit(model, 0, 2)
    assert ov.shape == (10, 10) and ov.mdim == 4
    torch.testing.assert_close(ov.AB, W_E @ W_V[0, 2] @ W_O[0, 2] @ W_U, **tol)
    pos = positional_QK_circuit(model, 0, 0)
    assert pos.shape == (6, 6)
    torch.testing.assert_close(pos.AB, W_pos @ W_Q[0, 0] @ W_K[0, 0].T @ W_pos.T, **tol)
    # todas as cabeças de uma vez == cabeça a cabeça
    torch.testing.assert_close(full_OV_circuit(model).AB[0, 2], ov.AB, **tol)


def identity_head_model(sign: float):
    """1 camada, 1 cabeça com W_V = I e W_O = sign·I (W_OV = sign·I), e W_U = W_Eᵀ (pesos amarrados)."""
    model = HookedTransformer(Config(n_layers=1, d_model=6, n_heads=1, d_head=6, d_vocab=10, n_ctx=4,
                                     normalization=None, tie_embeddings=True, init_std=1.0))
    with torch.no_grad():
        model.blocks[0].attn.W_V.copy_(torch.eye(6)[None])
        model.blocks[0].attn.W_O.copy_(sign * torch.eye(6)[None])
    return model


def test_copying_score_of_identity_head_is_one():
    # full OV = W_E W_Eᵀ, simétrica semidefinida positiva: todo autovalor >= 0
    model = identity_head_model(+1.0)
    torch.testing.assert_close(copying_score(model, 0, 0), torch.tensor(1.0))
    assert copying_score(model).shape == (1, 1)


def test_copying_score_of_minus_identity_head_is_minus_one():
    model = identity_head_model(-1.0)
    torch.testing.assert_close(copying_score(model, 0, 0), torch.tensor(-1.0))


def test_copying_score_of_random_model_is_in_range():
    scores = copying_score(small_model())
    assert scores.shape == (2, 3) and (scores.abs() <= 1 + 1e-6).all()


def test_circuit_errors_in_portuguese():
    model = small_model()
    with pytest.raises(ValueError, match=r"`layer`: esperado inteiro entre 0 e 1 .*veio 2"):
        W_QK(model, 2, 0)
    with pytest.raises(ValueError, match=r"`head`: esperado inteiro entre 0 e 2 .*veio 3"):
        full_OV_circuit(model, 0, 3)
    with pytest.raises(TypeError, match="`layer`: esperado int"):
        copying_score(model, 0.5, 0)
    with pytest.raises(TypeError, match="`model`: esperado um HookedTransformer"):
        W_OV("gpt2")
    with pytest.raises(ValueError, match="`kind`: esperado um de"):
        composition_scores(model, "X")
    with pytest.raises(ValueError, match="`layer1` deve ser menor que `layer2`"):
        head_composition_score(model, 1, 0, 1, 2)
    with pytest.raises(ValueError, match="dimensões internas incompatíveis"):
        composition_score(W_OV(model, 0, 0), full_OV_circuit(model, 1, 0))


# ============================================================================ paridade com o TransformerLens
def load_tl(name):
    fx = torch.load(FIXTURE, weights_only=True)[name]
    c = fx["config"]
    cfg = Config(n_layers=c["n_layers"], d_model=c["d_model"], n_heads=c["n_heads"], d_head=c["d_head"],
                 d_mlp=c["d_mlp"], d_vocab=c["d_vocab"], n_ctx=c["n_ctx"], act_fn=c.get("act_fn") or "gelu",
                 normalization=c["normalization_type"])
    model = HookedTransformer(cfg)
    model.load_state_dict(fx["state_dict"])
    return fx, model


PRESETS = ["attn_only_3l", "mlp_2l"]


def test_fixture_is_small():
    assert FIXTURE.stat().st_size < 300_000


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("kind", ["Q", "K", "V"])
def test_composition_scores_match_transformer_lens(name, kind):
    fx, model = load_tl(name)
    expected = fx["composition"][kind]
    ours = composition_scores(model, kind)
    assert ours.shape == (model.cfg.n_layers, model.cfg.n_heads) * 2
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=0)
    assert expected[0, :, 1, :].abs().min() > 0.01  # o teste não é trivial
    L = model.cfg.n_layers
    for l1 in range(L):
        for l2 in range(L):
            if l1 >= l2:
                assert (ours[l1, :, l2, :] == 0).all()  # mesma convenção do TL: zeros
    torch.testing.assert_close(head_composition_score(model, 0, 1, L - 1, 0, kind), expected[0, 1, L - 1, 0],
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", PRESETS)
def test_factored_results_match_transformer_lens(name):
    fx, model = load_tl(name)
    tol = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(W_QK(model).norm(), fx["QK_norm"], **tol)
    torch.testing.assert_close(W_OV(model).norm(), fx["OV_norm"], **tol)
    ov = full_OV_circuit(model, *fx["full_OV_head"])
    torch.testing.assert_close(ov.norm(), fx["full_OV_norm"], **tol)
    torch.testing.assert_close(ov.svd()[1], fx["full_OV_S"], **tol)
    ours, theirs = ov.eigenvalues, fx["full_OV_eigenvalues"]  # o TL não ordena: comparamos como conjuntos
    assert ours.shape == theirs.shape
    assert (ours[:, None] - theirs[None, :]).abs().min(1).values.max() < 1e-5
    assert (ours[:, None] - theirs[None, :]).abs().min(0).values.max() < 1e-5


# ============================================================================ medidas do notebook 09
def test_top1_diagonal_accuracy_counts_rows():
    from course_lib.circuits import top1_diagonal_accuracy

    m = torch.tensor([[3.0, 9.0, 8.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert top1_diagonal_accuracy(m).item() == pytest.approx(2 / 3)  # por coluna seria 1/3
    assert top1_diagonal_accuracy(torch.stack([torch.eye(4), -torch.eye(4) + 0.5])).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="quadrada"):
        top1_diagonal_accuracy(torch.zeros(2, 3))


def test_k_composition_circuit_is_the_dense_product():
    from course_lib.circuits import k_composition_circuit

    model = HookedTransformer(Config(n_layers=2, d_model=8, n_heads=2, d_head=4, d_mlp=None, d_vocab=11, n_ctx=6,
                                     normalization=None, seed=3))
    W_E = model.W_E.detach()
    dense = (W_E @ model.W_Q[1, 0] @ model.W_K[1, 0].T @ (W_E @ model.W_V[0, 1] @ model.W_O[0, 1]).T).detach()
    torch.testing.assert_close(k_composition_circuit(model, (0, 1), (1, 0)), dense, atol=1e-5, rtol=1e-4)


def test_random_composition_baseline_is_about_one_over_sqrt_d_model():
    from course_lib.circuits import random_composition_baseline

    scores = random_composition_baseline(64, 16, n_samples=400, seed=0)
    assert scores.shape == (400,)
    assert abs(scores.mean().item() - 1 / 8) < 0.003  # 1/√64, com folga de ~6 erros-padrão
    torch.testing.assert_close(scores, random_composition_baseline(64, 16, n_samples=400, seed=0))
    with pytest.raises(ValueError, match="d_head"):
        random_composition_baseline(64, 0)
