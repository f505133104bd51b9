"""Comportamento do modelo: formas, ganchos, perda, pesos amarrados e erros em pt-BR."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import Config, HookedTransformer


def make(**kw):
    base = dict(n_layers=2, d_model=16, n_heads=2, d_mlp=32, d_vocab=11, n_ctx=8, seed=3)
    base.update(kw)
    return HookedTransformer(Config(**base))


def randomize(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)


def test_shapes_follow_transformerlens():
    m = make()
    assert m.W_E.shape == (11, 16) and m.W_pos.shape == (8, 16) and m.W_U.shape == (16, 11)
    assert m.W_Q.shape == (2, 2, 16, 8) and m.W_O.shape == (2, 2, 8, 16)
    assert m.b_O.shape == (2, 16) and m.W_in.shape == (2, 16, 32) and m.W_out.shape == (2, 32, 16)
    assert m(torch.zeros(3, 5, dtype=torch.long)).shape == (3, 5, 11)


def test_loss_is_next_token_cross_entropy():
    m = make()
    tokens = torch.randint(0, 11, (2, 7), generator=torch.Generator().manual_seed(0))
    logits = m(tokens)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 11), tokens[:, 1:].reshape(-1))
    torch.testing.assert_close(m(tokens, return_type="loss"), expected)
    assert m(tokens, return_type="loss", loss_per_token=True).shape == (2, 6)


def test_causality_future_tokens_do_not_change_the_past():
    m = make(); randomize(m)
    a = torch.tensor([[1, 2, 3, 4, 5]]); b = torch.tensor([[1, 2, 3, 9, 0]])
    torch.testing.assert_close(m(a)[:, :3], m(b)[:, :3])
    assert not torch.allclose(m(a)[:, 3:], m(b)[:, 3:])


def test_tied_embeddings_share_one_parameter():
    m = make(tie_embeddings=True)
    assert m.W_U.data_ptr() == m.W_E.data_ptr()
    assert "unembed.W_U" not in m.state_dict()
    n_untied = sum(p.numel() for p in make().parameters())
    n_tied = sum(p.numel() for p in m.parameters())
    assert n_untied - n_tied == 16 * 11
    m(torch.tensor([[1, 2]]), return_type="loss").backward()
    assert m.W_E.grad is not None and m.W_E.grad.abs().sum() > 0


def test_hooks_can_replace_activation_and_are_removed_even_on_error():
    m = make()
    tokens = torch.tensor([[1, 2, 3]])
    clean = m(tokens)
    zero = lambda x, hook: torch.zeros_like(x)
    patched = m.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_attn_out", zero)])
    assert not torch.allclose(clean, patched)

    def boom(x, hook):
        raise RuntimeError("falha proposital")

    with pytest.raises(RuntimeError):
        m.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_pattern"), boom)])
    assert all(not h.fns for h in m.hook_dict.values())
    torch.testing.assert_close(m(tokens), clean)


def test_run_with_cache_filter_and_hook_names():
    m = make(normalization=None, d_mlp=None)
    _, cache = m.run_with_cache(torch.tensor([[1, 2, 3]]), names_filter=lambda n: "pattern" in n)
    assert list(cache.keys()) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    assert cache["pattern", 1].shape == (1, 2, 3, 3)
    assert "blocks.0.hook_resid_mid" not in m.run_with_cache(torch.tensor([[1]]))[1]


def test_determinism_same_seed_same_weights():
    a, b, c = make(seed=5), make(seed=5), make(seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.W_E, c.W_E)


@pytest.mark.parametrize("tokens, words", [
    (torch.tensor([[1, 11]]), ["11", "fora do vocabulário", "0 a 10"]),
    (torch.tensor([[-1, 2]]), ["-1", "fora do vocabulário"]),
    (torch.tensor([[1.0, 2.0]]), ["inteiros", "float32"]),
    (torch.zeros(1, 9, dtype=torch.long), ["9 tokens", "n_ctx = 8"]),
    (torch.zeros(1, 2, 3, dtype=torch.long), ["[batch, pos]", "(1, 2, 3)"]),
    ("texto", ["tokenizer"]),
])
def test_bad_tokens_give_portuguese_errors(tokens, words):
    with pytest.raises((ValueError, TypeError)) as e:
        make()(tokens)
    for w in words:
        assert w in str(e.value)


def test_unknown_hook_name_suggests_close_names():
    m = make()
    with pytest.raises(KeyError) as e:
        m.run_with_hooks(torch.tensor([[1]]), fwd_hooks=[("blocks.0.attn.hook_patern", lambda x, h: None)])
    assert "gancho desconhecido" in str(e.value) and "blocks.0.attn.hook_pattern" in str(e.value)
    with pytest.raises(KeyError):
        m.run_with_cache(torch.tensor([[1]]), names_filter=["hook_nada"])


def test_incompatible_state_dict_names_keys_and_shapes():
    m = make()
    sd = make(d_vocab=12).state_dict()
    sd.pop("blocks.1.mlp.b_out")
    with pytest.raises(ValueError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert "blocks.1.mlp.b_out" in msg and "embed.W_E" in msg and "(11, 16)" in msg and "(12, 16)" in msg


def test_bad_config_is_explained():
    with pytest.raises(ValueError, match="act_fn"):
        Config(act_fn="swish")
    with pytest.raises(ValueError, match="normalization"):
        Config(normalization="RMS")
    with pytest.raises(ValueError, match="d_model"):
        Config(d_model=0)
