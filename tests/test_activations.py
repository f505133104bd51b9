"""Testes de course_lib.activations: PCA com direção conhecida e neurônio montado à mão."""
import pytest
import torch

from course_lib import Config, HookedTransformer
from course_lib.activations import (embedding_pca, neuron_acts, neuron_top_tokens_table, pca, resid_pca,
                                    top_activating_tokens, top_neurons_for_token)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ============================================================================ PCA
def line_data(n=200, d=5):
    """Pontos ao longo de u (desvio 10) mais ruído pequeno (desvio 0.1), deslocados da origem."""
    u = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
    u = u / u.norm()
    t = torch.randn(n, 1, generator=gen(0)) * 10
    X = t * u + 0.1 * torch.randn(n, d, generator=gen(1)) + torch.arange(d) * 7.0
    return X, u


def test_pca_recovers_dominant_direction():
    X, u = line_data()
    coords, components, ratio = pca(X, k=3)
    assert coords.shape == (200, 3) and components.shape == (3, 5) and ratio.shape == (3,)
    # sinal determinístico: a maior entrada em módulo (u[4] = 3/|u|) fica positiva, então sai +u
    torch.testing.assert_close(components[0], u, atol=5e-3, rtol=0)
    assert ratio[0] > 0.99 and ratio.sum() <= 1 + 1e-6
    assert (ratio[:-1] >= ratio[1:]).all()
    torch.testing.assert_close(components @ components.T, torch.eye(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(coords, (X - X.mean(0)) @ components.T, atol=1e-4, rtol=0)


def test_pca_ratio_matches_covariance_eigenvalues():
    X = torch.randn(50, 4, generator=gen(2), dtype=torch.float64) * torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    _, components, ratio = pca(X, k=4)
    evals = torch.linalg.eigvalsh(torch.cov(X.T)).flip(0)
    torch.testing.assert_close(ratio, evals / evals.sum())
    torch.testing.assert_close(ratio.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_pca_sign_convention_is_deterministic():
    X, _ = line_data()
    _, comp_a, _ = pca(X)
    coords_b, comp_b, _ = pca(-X)  # os dados espelhados dão as MESMAS direções
    torch.testing.assert_close(comp_a, comp_b, atol=1e-5, rtol=0)
    biggest = comp_a.abs().argmax(-1)
    assert (comp_a.gather(-1, biggest[:, None]) > 0).all()


def test_pca_errors_in_portuguese():
    with pytest.raises(ValueError, match=r"`X`: esperado formato \[n, d\].*veio formato \(5,\)"):
        pca(torch.zeros(5))
    with pytest.raises(ValueError, match=r"`k`: esperado inteiro entre 1 e 3; veio 4"):
        pca(torch.randn(10, 3), k=4)
    with pytest.raises(ValueError, match="variância total 0"):
        pca(torch.ones(4, 3))
    with pytest.raises(ValueError, match="pelo menos 2 pontos"):
        pca(torch.ones(1, 3), k=1)
    with pytest.raises(TypeError, match="`X`: esperado torch.Tensor"):
        pca([[1.0, 2.0]])


def test_embedding_and_resid_pca():
    model = HookedTransformer(Config(n_layers=2, d_model=8, n_heads=2, d_vocab=20, n_ctx=8, d_mlp=16, init_std=0.5))
    coords, comps, ratio = embedding_pca(model)
    assert coords.shape == (20, 2) and comps.shape == (2, 8)
    coords_sub, _, _ = embedding_pca(model, token_ids=[1, 4, 9], k=2)
    assert coords_sub.shape == (3, 2)
    with pytest.raises(ValueError, match="`token_ids`: ids fora do vocabulário"):
        embedding_pca(model, token_ids=[3, 20])
    tokens = torch.randint(0, 20, (3, 6), generator=gen(3))
    _, cache = model.run_with_cache(tokens)
    coords, comps, ratio = resid_pca(cache, layer=1, k=3)
    assert coords.shape == (3, 6, 3)
    expected = pca(cache["resid_pre", 1].reshape(-1, 8), k=3)
    torch.testing.assert_close(coords.reshape(-1, 3), expected[0])
    final, _, _ = resid_pca(cache, layer=2)  # layer = n_layers: resíduo final
    torch.testing.assert_close(final.reshape(-1, 2), pca(cache["resid_post", 1].reshape(-1, 8))[0])
    with pytest.raises(ValueError, match=r"`layer`: esperado inteiro entre 0 e 2; veio 3"):
        resid_pca(cache, layer=3)


# ============================================================================ neurônios
def token7_model():
    """d_model = d_vocab = 10, W_E = I, atenção e W_pos zerados: a entrada do MLP é o one-hot do token.

    Neurônio 2: pré = 2·[token == 7] - 1 -> ReLU = 1 só no token 7 (0 nos outros).
    Neurônio 0: pré = 0.1·id do token -> cresce com o id (fica em segundo plano no token 7).
    """
    model = HookedTransformer(Config(n_layers=1, d_model=10, n_heads=1, d_head=4, d_vocab=10, n_ctx=8,
                                     d_mlp=4, act_fn="relu", normalization=None))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E.copy_(torch.eye(10))
        mlp = model.blocks[0].mlp
        mlp.W_in[:, 2] = -1.0
        mlp.W_in[7, 2] = 1.0
        mlp.W_in[:, 0] = 0.1 * torch.arange(10.0)
    return model


TOKENS = torch.tensor([[1, 7, 3, 9, 0, 7],
                       [5, 5, 2, 8, 4, 6],
                       [7, 1, 1, 2, 3, 9]])


def test_top_activating_tokens_finds_token_7():
    model = token7_model()
    top = top_activating_tokens(model, TOKENS, layer=0, neuron=2, k=4)
    # as três ocorrências do 7 (valor 1, empate resolvido pela ordem batch, pos) e depois zeros
    assert [(b, p, t) for _, b, p, t in top[:3]] == [(0, 1, 7), (0, 5, 7), (2, 0, 7)]
    assert [v for v, *_ in top[:3]] == [1.0, 1.0, 1.0]
    assert top[3][0] == 0.0 and top[3][3] != 7
    assert top_activating_tokens(model, TOKENS, 0, 2, k=1) == [(1.0, 0, 1, 7)]
    assert len(top_activating_tokens(model, TOKENS, 0, 2, k=100)) == TOKENS.numel()
    # neurônio 0: o maior id (9) primeiro
    assert [t for *_, t in top_activating_tokens(model, TOKENS, 0, 0, k=3)] == [9, 9, 8]


def test_batch_size_does_not_change_results():
    model = token7_model()
    torch.testing.assert_close(neuron_acts(model, TOKENS, 0, [0, 2], batch_size=1),
                               neuron_acts(model, TOKENS, 0, [0, 2]))


def test_neuron_table_and_top_neurons_for_token():
    model = token7_model()
    rows = neuron_top_tokens_table(model, TOKENS, 0, [2, 0], k=2)
    assert [(r["neuron"], r["rank"], r["token_id"]) for r in rows] == [(2, 0, 7), (2, 1, 7), (0, 0, 9), (0, 1, 9)]
    assert set(rows[0]) == {"neuron", "rank", "value", "batch", "pos", "token_id"}  # sem tokenizador
    best = top_neurons_for_token(model, TOKENS, 0, token_id=7, k=2)
    assert best[0] == (1.0, 2)
    assert best[1][1] == 0 and best[1][0] == pytest.approx(0.7)


def test_neuron_errors_in_portuguese():
    model = token7_model()
    with pytest.raises(ValueError, match=r"`neuron`: esperado inteiro entre 0 e 3; veio 4"):
        top_activating_tokens(model, TOKENS, 0, 4)
    with pytest.raises(ValueError, match=r"`layer`: esperado inteiro entre 0 e 0; veio 1"):
        top_activating_tokens(model, TOKENS, 1, 0)
    with pytest.raises(ValueError, match=r"`k`: esperado inteiro >= 1; veio 0"):
        top_activating_tokens(model, TOKENS, 0, 0, k=0)
    with pytest.raises(ValueError, match="`token_id`: o token 3 não aparece"):
        top_neurons_for_token(model, torch.tensor([[1, 2]]), 0, 3)
    with pytest.raises(ValueError, match="`tokens`: id 10"):
        top_activating_tokens(model, torch.tensor([[1, 10]]), 0, 0)
    with pytest.raises(TypeError, match="`neurons`: esperado uma lista de ints"):
        neuron_top_tokens_table(model, TOKENS, 0, 2)
    attn_only = HookedTransformer(Config(n_layers=1, d_model=8, n_heads=2, d_vocab=10, n_ctx=4))
    with pytest.raises(ValueError, match="só de atenção"):
        top_activating_tokens(attn_only, TOKENS, 0, 0)


def test_diff_of_means_accuracy_separates_and_fails_cleanly():
    import pytest as _pytest
    from course_lib.activations import diff_of_means_accuracy

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2 == 0
    X = torch.randn(200, 5, generator=gen) + 10.0 + 4.0 * y[:, None] * torch.tensor([1.0, 0, 0, 0, 0])
    assert diff_of_means_accuracy(X[:100], y[:100], X[100:], y[100:]) > 0.9
    shuffled = y[torch.randperm(200, generator=gen)]
    assert abs(diff_of_means_accuracy(X[:100], shuffled[:100], X[100:], shuffled[100:]) - 0.5) < 0.15
    with _pytest.raises(TypeError, match="y_train"):
        diff_of_means_accuracy(X[:10], y[:10].float(), X[10:], y[10:])
    with _pytest.raises(ValueError, match="dois grupos"):
        diff_of_means_accuracy(X[:10], torch.ones(10, dtype=torch.bool), X[10:], y[10:])
