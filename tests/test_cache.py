"""ActivationCache: atalhos e decomposições EXATAS (com vieses e pesos de LN sorteados)."""
import pytest
import torch

from course_lib import Config, HookedTransformer


@pytest.fixture(params=[dict(d_mlp=32, normalization="LN"), dict(d_mlp=None, normalization="LN"),
                        dict(d_mlp=32, normalization=None)], ids=["mlp_ln", "attn_ln", "mlp_noln"])
def model_and_cache(request):
    m = HookedTransformer(Config(n_layers=3, d_model=16, n_heads=4, d_vocab=13, n_ctx=10, seed=1, **request.param))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    tokens = torch.randint(0, 13, (2, 9), generator=g)
    logits, cache = m.run_with_cache(tokens)
    return m, cache, logits, tokens


def test_shorthand_keys(model_and_cache):
    m, cache, _, _ = model_and_cache
    assert cache["pattern", 0] is cache["blocks.0.attn.hook_pattern"]
    assert cache["resid_pre", 2] is cache["blocks.2.hook_resid_pre"]
    with pytest.raises(IndexError, match="camada 5"):
        cache["pattern", 5]


def test_decompose_resid_sums_to_final_residual(model_and_cache):
    m, cache, _, _ = model_and_cache
    torch.testing.assert_close(cache.decompose_resid().sum(0), cache["resid_post", 2], atol=1e-5, rtol=0)
    torch.testing.assert_close(cache.get_full_resid_decomposition().sum(0), cache["resid_post", 2], atol=1e-5, rtol=0)


def test_accumulated_resid_labels(model_and_cache):
    _, cache, _, _ = model_and_cache
    stack, labels = cache.accumulated_resid(return_labels=True)
    assert labels == ["0_pre", "1_pre", "2_pre", "final_post"] and stack.shape[0] == 4


def test_logit_attributions_sum_exactly_to_logits(model_and_cache):
    m, cache, logits, tokens = model_and_cache
    for stack in (cache.decompose_resid(), cache.get_full_resid_decomposition()):
        attrs = cache.logit_attrs(stack, tokens)  # o logit do próprio token em cada posição
        expected = logits.gather(-1, tokens[..., None])[..., 0]
        torch.testing.assert_close(attrs.sum(0) + cache.logit_offset(tokens), expected, atol=1e-4, rtol=0)
    diff = cache.logit_attrs(cache.decompose_resid(), 3, incorrect_tokens=5).sum(0)
    off = cache.logit_offset(3) - cache.logit_offset(5)
    torch.testing.assert_close(diff + off, logits[..., 3] - logits[..., 5], atol=1e-4, rtol=0)


def test_head_results_sum_to_attn_out(model_and_cache):
    m, cache, _, _ = model_and_cache
    heads = cache.stack_head_results(layer=1)  # só a camada 0
    torch.testing.assert_close(heads.sum(0) + m.blocks[0].attn.b_O, cache["attn_out", 0], atol=1e-5, rtol=0)


def test_recomputed_ln_on_final_residual_gives_model_logits(model_and_cache):
    m, cache, logits, _ = model_and_cache
    final = cache.accumulated_resid(apply_ln=True)[-1]
    b = m.ln_final.b if m.cfg.normalization else 0
    torch.testing.assert_close(final @ m.W_U + b @ m.W_U + m.b_U if m.cfg.normalization else final @ m.W_U + m.b_U,
                               logits, atol=1e-4, rtol=0)


def test_bad_stack_shape_error(model_and_cache):
    _, cache, _, _ = model_and_cache
    with pytest.raises(ValueError, match="d_model=16"):
        cache.apply_ln_to_stack(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="fora do vocabulário"):
        cache.logit_attrs(cache.decompose_resid(), 99)


def test_get_act_name_shorthands():
    from course_lib import get_act_name

    assert get_act_name("pattern", 1) == "blocks.1.attn.hook_pattern"
    assert get_act_name("resid_pre", 0) == "blocks.0.hook_resid_pre"
    assert get_act_name("scale") == "ln_final.hook_scale"
    assert get_act_name("normalized", 2, "ln2") == "blocks.2.ln2.hook_normalized"
    assert get_act_name("embed") == get_act_name("hook_embed") == "hook_embed"
    with pytest.raises(KeyError, match="pattern"):
        get_act_name("patern", 0)
    with pytest.raises(KeyError, match="precisa de uma camada"):
        get_act_name("z")
