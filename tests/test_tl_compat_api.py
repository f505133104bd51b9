"""Compatibilidade de API com o TransformerLens / ARENA (issue 13): os idiomas do dia a dia.

Modelados nos testes do próprio TransformerLens (ganchos, cache, config, geração), reescritos
para um modelo pequeno do curso; os valores esperados vêm de autograd, de contas densas ou do
comportamento documentado do TL, nunca do código testado.
"""
import math

import numpy as np
import pytest
import torch

from course_lib import Config, FactoredMatrix, HookedTransformer, HookedTransformerConfig, Tokenizer, utils
from course_lib.hooks import HookPoint
from course_lib.model import lm_cross_entropy_loss

TOL = dict(atol=1e-5, rtol=0)


def make(**kw):
    cfg = dict(n_layers=2, d_model=16, n_heads=2, d_mlp=32, d_vocab=11, n_ctx=10, seed=3)
    m = HookedTransformer(Config(**{**cfg, **kw}))
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return m


@pytest.fixture
def model():
    return make()


@pytest.fixture
def tokens():
    return torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(1))


# ============================================================================ HookPoint
def test_hook_point_directions_flags_and_removal():
    hp = HookPoint()
    f = lambda x, hook: None
    hp.add_hook(f, dir="fwd")
    hp.add_hook(f, dir="bwd", is_permanent=True)
    hp.add_hook(f, dir="fwd", level=5)
    assert len(hp.fwd_hooks) == 2 and len(hp.bwd_hooks) == 1
    assert hp.bwd_hooks[0].is_permanent and hp.fwd_hooks[1].context_level == 5
    assert hp.has_hooks() and hp.has_hooks("bwd") and not hp.has_hooks("bwd", including_permanent=False)
    assert hp.has_hooks(level=5) and not hp.has_hooks(level=3)
    hp.remove_hooks("both")
    assert hp.fwd_hooks == [] and len(hp.bwd_hooks) == 1  # o permanente fica
    hp.remove_hooks("both", including_permanent=True)
    assert not hp.has_hooks()
    with pytest.raises(ValueError, match="`dir`: esperado um de"):
        hp.add_hook(f, dir="forward")
    with pytest.raises(TypeError, match="`hook` deve ser uma função"):
        hp.add_hook(3)


def test_prepend_runs_first_and_hooks_chain():
    hp = HookPoint()
    hp.add_hook(lambda x, hook: x * 2)
    hp.add_hook(lambda x, hook: x + 1, prepend=True)
    assert hp(torch.tensor([1.0])).item() == 4.0  # (1 + 1) * 2, não 1 * 2 + 1
    assert hp.fns[0](torch.tensor([0.0]), hp).item() == 1.0


def test_ctx_layer_and_name(model, tokens):
    seen = []

    def hook(x, hook):
        hook.ctx["n"] = hook.ctx.get("n", 0) + 1
        seen.append(hook.layer())

    model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_resid_pre"), hook)])
    assert seen == [0, 1]
    assert model.blocks[1].hook_resid_pre.ctx == {"n": 1}  # como no TL: o contexto fica até reset_hooks()
    model.reset_hooks()
    assert model.blocks[1].hook_resid_pre.ctx == {}
    with pytest.raises(ValueError, match="não está num bloco"):
        model.hook_embed.layer()


# ============================================================================ ganchos no modelo
def test_add_hook_perma_hook_and_reset(model, tokens):
    clean = model(tokens)
    zero = lambda x, hook: torch.zeros_like(x)
    model.add_hook("blocks.0.hook_attn_out", zero)
    model.add_perma_hook(lambda n: n == "blocks.1.hook_attn_out", zero)
    both = model(tokens)
    model.reset_hooks()
    one = model(tokens)  # só o permanente
    assert not torch.allclose(both, one) and not torch.allclose(one, clean)
    model.reset_hooks(including_permanent=True)
    torch.testing.assert_close(model(tokens), clean, **TOL)
    assert all(not h.has_hooks() for h in model.hook_dict.values())
    with pytest.raises(KeyError, match="gancho desconhecido"):
        model.add_hook("blocks.0.hook_atn_out", zero)


def test_context_manager_nesting_removes_only_its_level(model, tokens):
    calls = []
    log = lambda tag: (lambda x, hook: calls.append(tag))
    with model.hooks(fwd_hooks=[("hook_embed", log("fora"))]):
        with model.hooks(fwd_hooks=[("hook_embed", log("dentro"))]):
            model(tokens)
        model(tokens)
    model(tokens)
    assert calls == ["fora", "dentro", "fora"]


def test_remove_all_hook_fns(model):
    model.add_hook("hook_embed", lambda x, hook: None, dir="bwd")
    model.add_hook("hook_embed", lambda x, hook: None)
    model.remove_all_hook_fns(direction="bwd")
    assert model.hook_embed.has_hooks("fwd") and not model.hook_embed.has_hooks("bwd")


# ============================================================================ backward
def test_backward_hooks_receive_the_autograd_gradient(model, tokens):
    names = ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.1.mlp.hook_post",
             "ln_final.hook_scale"]
    acts, grads = {}, {}

    def keep(x, hook):
        acts[hook.name] = x

    def grab(g, hook):
        grads[hook.name] = g.clone()

    with model.hooks(fwd_hooks=[(n, keep) for n in names], bwd_hooks=[(n, grab) for n in names]):
        loss = model(tokens, return_type="loss")
        expected = torch.autograd.grad(loss, [acts[n] for n in names], retain_graph=True)
        loss.backward()
    for n, e in zip(names, expected):
        torch.testing.assert_close(grads[n], e, **TOL)
        assert grads[n].abs().sum() > 0


def test_run_with_hooks_bwd_hooks_need_reset_hooks_end_false(model, tokens):
    grads = []
    loss = model.run_with_hooks(tokens, return_type="loss", bwd_hooks=[("blocks.0.hook_resid_mid", lambda g, hook: grads.append(g))],
                                reset_hooks_end=False)
    loss.backward()
    assert len(grads) == 1 and grads[0].shape == (3, 7, 16)
    model.reset_hooks()
    model(tokens, return_type="loss").backward()
    assert len(grads) == 1  # o gancho saiu


def test_backward_hook_can_replace_the_gradient(model, tokens):
    with model.hooks(bwd_hooks=[("blocks.1.hook_resid_pre", lambda g, hook: torch.zeros_like(g))]):
        model(tokens, return_type="loss").backward()
    # nada passa para trás da camada 1 pelo resíduo: o gradiente de W_Q da camada 0 é zero
    assert model.blocks[0].attn.W_Q.grad.abs().max() == 0
    assert model.blocks[1].attn.W_Q.grad.abs().max() > 0


def test_run_with_cache_incl_bwd_gives_grad_keys(model, tokens):
    loss, cache = model.run_with_cache(tokens, return_type="loss", incl_bwd=True)
    fwd = [k for k in cache if not k.endswith("_grad")]
    assert {k + "_grad" for k in fwd if k != "hook_tokens"} <= set(cache)
    assert cache["blocks.0.hook_resid_post_grad"].shape == cache["resid_post", 0].shape
    assert all(not h.has_hooks() for h in model.hook_dict.values())
    with pytest.raises(ValueError, match="deve ser um escalar"):
        model.run_with_cache(tokens, incl_bwd=True)


# ============================================================================ run_with_cache e ActivationCache
def test_default_cache_keys_unchanged_and_optional_hooks_off(model, tokens):
    _, cache = model.run_with_cache(tokens)
    assert not any(k.endswith(("hook_tokens", "hook_attn_in", "_input", "hook_mlp_in", "hook_result")) for k in cache)
    # embed e pos_embed; por bloco 2 (ln1) + 6 (atenção) + 2 (ln2) + 2 (MLP) + 5 (resíduo); ln_final; unembed
    assert len(cache) == 2 + 2 * (2 + 6 + 2 + 2 + 5) + 2 + 2
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)
    model.set_use_attn_in(True)
    model.cfg.use_hook_tokens = True
    logits, cache2 = model.run_with_cache(tokens)
    torch.testing.assert_close(logits, model.run_with_hooks(tokens), **TOL)
    assert cache2["blocks.0.hook_q_input"].shape == (3, 7, 2, 16)
    assert cache2["blocks.1.hook_attn_in"].shape == (3, 7, 2, 16)
    torch.testing.assert_close(cache2["blocks.1.hook_mlp_in"], cache2["resid_mid", 1], **TOL)
    assert torch.equal(cache2["hook_tokens"], tokens)


def test_split_qkv_lets_you_patch_only_the_query(model, tokens):
    model.set_use_split_qkv_input(True)
    clean, cache = model.run_with_cache(tokens)
    zero = lambda x, hook: torch.zeros_like(x)
    with model.hooks(fwd_hooks=[("blocks.0.hook_q_input", zero)]):
        _, patched = model.run_with_cache(tokens)
    assert torch.equal(patched["blocks.0.attn.hook_k"], cache["blocks.0.attn.hook_k"])
    assert not torch.allclose(patched["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_q"])


def test_run_with_cache_filters_device_pos_slice_and_remove_batch_dim(model, tokens):
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_z", device="cpu", pos_slice=-1)
    assert list(cache) == ["blocks.0.attn.hook_z"] and cache["z", 0].shape == (3, 1, 2, 8)
    _, cache = model.run_with_cache(tokens[:1], remove_batch_dim=True)
    assert cache["resid_post", 1].shape == (7, 16) and not cache.has_batch_dim


def test_cache_batch_and_layer_helpers(model, tokens):
    _, cache = model.run_with_cache(tokens)
    assert cache["resid_post", -1] is cache["resid_post", 1]
    assert cache["pattern", -2] is cache["pattern", 0]
    with pytest.raises(IndexError, match="camada"):
        cache["pattern", -3]
    one = cache.apply_slice_to_batch_dim(1)
    assert not one.has_batch_dim and torch.equal(one["resid_pre", 0], cache["resid_pre", 0][1])
    two = cache.apply_slice_to_batch_dim((0, 2))
    assert two["resid_pre", 0].shape[0] == 2
    with pytest.raises(ValueError, match="lote de tamanho 1"):
        cache.remove_batch_dim()
    single = cache.apply_slice_to_batch_dim([2]).remove_batch_dim()
    assert torch.equal(single["embed"], cache["embed"][2])
    assert cache.to("cpu") is cache
    stacked = cache.stack_activation("pattern")
    assert stacked.shape == (2, 3, 2, 7, 7) and torch.equal(stacked[1], cache["pattern", 1])
    cache.compute_head_results()
    summed = cache["result", 0].sum(-2) + model.blocks[0].attn.b_O
    torch.testing.assert_close(summed, cache["attn_out", 0], **TOL)
    neurons = cache.get_neuron_results(1)
    torch.testing.assert_close(neurons.sum(-2) + model.blocks[1].mlp.b_out, cache["mlp_out", 1], **TOL)
    stack, labels = cache.stack_neuron_results(return_labels=True)
    assert stack.shape[0] == 64 and labels[33] == "L1N1"


# ============================================================================ Config
def test_config_accepts_hooked_transformer_config_names():
    cfg = HookedTransformerConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=5, n_ctx=6, attn_only=True,
                                  normalization_type=None, act_fn=None, seed=None, device="cpu", dtype=torch.float32,
                                  positional_embedding_type="standard", d_vocab_out=-1, default_prepend_bos=False,
                                  model_name="teste")
    assert cfg.d_mlp is None and cfg.normalization is None and cfg.normalization_type is None
    assert cfg.d_vocab_out == 5 and cfg.default_prepend_bos is False and cfg.attn_only
    assert cfg.n_params == 1 * 8 * 4 * 2 * 4
    assert "use_hook_tokens" not in repr(cfg) and "d_vocab_out" not in cfg.to_dict()
    arena = HookedTransformerConfig(d_model=768, d_head=64, n_heads=12, n_layers=2, n_ctx=2048, d_vocab=50278,
                                    attention_dir="causal", attn_only=True, tokenizer_name="EleutherAI/gpt-neox-20b",
                                    seed=398, use_attn_result=True, normalization_type=None,
                                    positional_embedding_type="shortformer")  # o modelo de 2 camadas do ARENA 1.2
    assert arena.positional_embedding_type == "shortformer" and arena.seed == 398 and arena.d_mlp is None
    m = HookedTransformer(Config(n_layers=1, d_model=8, n_heads=2, d_mlp=16, d_vocab=5, n_ctx=6))
    assert m.cfg.n_params == 8 * 4 * 2 * 4 + 8 * 16 * 2 and m.cfg.device == "cpu"
    assert m.n_params_total() == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("kwargs, message", [
    (dict(normalization_type="RMS"), "RMSNorm"),
    (dict(positional_embedding_type="rotary"), "rotary e alibi"),
    (dict(attn_only=False), "precisa de `d_mlp`"),
    (dict(gated_mlp=True), "`gated_mlp=True`.*não é suportado"),
    (dict(n_key_value_heads=2), "`n_key_value_heads=2`.*não é suportado"),
    (dict(normalisation="LN"), "argumento.*desconhecido.*Você quis dizer: 'normalization'"),
    (dict(normalization_type="LN", normalization=None), "dizem coisas diferentes"),
])
def test_config_errors_name_the_course_equivalent(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Config(**kwargs)


def test_process_weights_unties_tied_embeddings():
    from course_lib import load_pretrained

    tied = load_pretrained("lm_tied")
    tokens = tied.to_tokens("o gato que os meninos viram dorme")
    before = tied(tokens).log_softmax(-1)
    W_E = tied.W_E.detach().clone()
    tied.process_weights_()
    assert not tied.cfg.tie_embeddings and "unembed.W_U" in tied.state_dict()
    torch.testing.assert_close(tied(tokens).log_softmax(-1), before, **TOL)
    torch.testing.assert_close(tied.W_E, W_E - W_E.mean(-1, keepdim=True), **TOL)  # W_E só foi centrado


def test_d_vocab_out_smaller_than_d_vocab():
    m = make(d_vocab_out=4)
    assert m(torch.tensor([[1, 2, 10]])).shape == (1, 3, 4)


# ============================================================================ métodos do modelo
@pytest.fixture
def lm():
    from course_lib import load_pretrained

    return load_pretrained("lm")


def test_text_helpers_with_course_tokenizer(lm):
    text = "o gato que os meninos viram dorme"
    toks = lm.to_tokens(text)
    assert lm.to_str_tokens(text) == ["<bos>", "o", "gato", "que", "os", "meninos", "viram", "dorme"]
    assert lm.to_str_tokens(text, prepend_bos=False)[0] == "o"
    assert lm.to_str_tokens(["o gato", "a gata"]) == [["<bos>", "o", "gato"], ["<bos>", "a", "gata"]]
    assert lm.to_str_tokens(toks[0, 2]) == ["gato"]
    assert lm.to_string(toks[0]) == text and lm.to_string(toks) == [text]
    assert lm.to_single_str_token(lm.to_single_token("gato")) == "gato"
    lm.cfg.default_prepend_bos = False
    assert lm.to_tokens("gato").shape == (1, 1)


def test_generate_greedy_sampling_and_filters(lm):
    prompt = "o gato que os meninos viram"
    greedy = lm.generate(prompt, max_new_tokens=3, do_sample=False, verbose=False)
    ids = lm.to_tokens(prompt)
    for _ in range(3):  # guloso = argmax do próximo token, passo a passo
        ids = torch.cat([ids, lm(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert greedy == lm.to_string(ids[0]) and greedy.startswith(prompt)
    assert torch.equal(lm.generate(lm.to_tokens(prompt), max_new_tokens=3, do_sample=False), ids)
    assert torch.equal(lm.generate(prompt, max_new_tokens=3, temperature=0.0, return_type="tokens"), ids)
    torch.manual_seed(0)
    top1 = lm.generate(prompt, max_new_tokens=3, top_k=1, return_type="tokens")
    assert torch.equal(top1, ids)  # top_k=1 é o guloso, mesmo amostrando
    torch.manual_seed(0)
    a = lm.generate(prompt, max_new_tokens=5, temperature=1.5)
    torch.manual_seed(0)
    assert a == lm.generate(prompt, max_new_tokens=5, temperature=1.5)  # reprodutível com a semente
    with pytest.raises(ValueError, match="passam do contexto"):
        lm.generate(prompt, max_new_tokens=100)


def test_sample_logits_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    draws = {int(utils.sample_logits(logits, top_p=0.7, generator=g)) for _ in range(200)}
    assert draws == {0, 1}  # 0,5 + 0,3 passa de 0,7: o núcleo é {0, 1}
    draws = {int(utils.sample_logits(logits, top_k=3, generator=g)) for _ in range(300)}
    assert draws == {0, 1, 2}
    with pytest.raises(ValueError, match="`top_p` deve ser"):
        utils.sample_logits(logits, top_p=1.5)


def test_directions_biases_and_composition(model):
    torch.testing.assert_close(model.tokens_to_residual_directions(3), model.W_U[:, 3])
    t = torch.tensor([[1, 2], [3, 4]])
    assert model.tokens_to_residual_directions(t).shape == (2, 2, 16)
    torch.testing.assert_close(model.tokens_to_residual_directions(t)[1, 0], model.W_U[:, 3])
    expected = model.blocks[0].attn.b_O + model.blocks[0].mlp.b_out
    torch.testing.assert_close(model.accumulated_bias(1), expected)
    torch.testing.assert_close(model.accumulated_bias(1, mlp_input=True), expected + model.blocks[1].attn.b_O)
    torch.testing.assert_close(model.accumulated_bias(0), torch.zeros(16))
    scores = model.all_composition_scores("K")
    assert scores.shape == (2, 2, 2, 2) and (scores[1, :, 0] == 0).all() and (scores[0, :, 1] > 0).all()
    assert model.all_head_labels() == ["L0H0", "L0H1", "L1H0", "L1H1"]


def test_factored_matrix_rows_and_columns_like_arena_top_1_acc():
    g = torch.Generator().manual_seed(0)
    fm = FactoredMatrix(torch.randn(9, 3, generator=g), torch.randn(3, 9, generator=g))
    idx = torch.tensor([0, 4, 7])
    torch.testing.assert_close(fm[idx, idx].AB, fm.AB[idx][:, idx])
    torch.testing.assert_close(fm[2:5].AB, fm.AB[2:5])
    torch.testing.assert_close(fm[:, 3].AB, fm.AB[:, 3:4])
    U, S, V = fm.svd()
    torch.testing.assert_close(U @ torch.diag(S) @ V.T, fm.AB, **TOL)
    torch.testing.assert_close(fm.U, U) and torch.testing.assert_close(fm.S, S)


# ============================================================================ utils e perda
def test_utils_names_numpy_slice_and_test_prompt(lm, capsys):
    assert utils.get_act_name("pattern0") == "blocks.0.attn.hook_pattern"
    assert utils.get_act_name("scale4ln1") == "blocks.4.ln1.hook_scale"
    assert utils.get_act_name("k6a") == "blocks.6.attn.hook_k"
    assert utils.get_act_name("key", 2) == "blocks.2.attn.hook_k"
    assert utils.get_act_name("q_input", 1) == "blocks.1.hook_q_input"
    assert utils.get_act_name("tokens") == "hook_tokens"
    x = torch.ones(2, 3, requires_grad=True)
    assert isinstance(utils.to_numpy(x), np.ndarray) and utils.to_numpy([1, 2]).shape == (2,)
    t = torch.arange(10).reshape(2, 5)
    assert utils.Slice(-1).apply(t, dim=1).tolist() == [4, 9]
    assert utils.Slice((1, 4)).apply(t, dim=1).shape == (2, 3)
    assert utils.Slice([0, 2]).apply(t, dim=1).tolist() == [[0, 2], [5, 7]]
    assert utils.Slice.unwrap(3).apply(t, dim=1).shape == (2, 1)
    ranks = utils.test_prompt("o gato que os meninos viram", "dorme", lm, top_k=3)
    out = capsys.readouterr().out
    assert "Posto" in out and "Postos das respostas" in out
    probs = lm(lm.to_tokens("o gato que os meninos viram"))[0, -1].softmax(-1)
    expected_rank = int((probs > probs[lm.to_single_token("dorme")]).sum())
    assert ranks == [("dorme", expected_rank)]


def test_loss_third_positional_argument_is_attention_mask(tokens):
    logits = torch.randn(3, 7, 11)
    full = lm_cross_entropy_loss(logits, tokens, torch.ones_like(tokens))
    torch.testing.assert_close(full, lm_cross_entropy_loss(logits, tokens), **TOL)
    mask = torch.ones_like(tokens)
    mask[0, 5:] = 0
    per = lm_cross_entropy_loss(logits, tokens, mask, per_token=True)
    assert (per[0, 4:] == 0).all() and per[0, :4].abs().min() > 0  # posição 4 prevê o token 5 (mascarado)
    with pytest.raises(TypeError, match="3º argumento é `attention_mask`"):
        lm_cross_entropy_loss(logits, tokens, True)
    assert math.isclose(float(utils.lm_accuracy(logits, tokens)),
                        float((logits[:, :-1].argmax(-1) == tokens[:, 1:]).float().mean()))


def test_hook_returning_the_wrong_shape_is_a_portuguese_error(model, tokens):
    with pytest.raises(ValueError, match="devolveu \\(7, 16\\); esperado None ou um tensor com a mesma forma da ativação"):
        model.run_with_hooks(tokens, fwd_hooks=[("hook_embed", lambda x, hook: x[0])])
    with pytest.raises(ValueError, match="mesma forma do gradiente"):
        with model.hooks(bwd_hooks=[("blocks.0.hook_resid_post", lambda g, hook: g[0])]):
            model(tokens, return_type="loss").backward()
    assert all(not h.has_hooks() for h in model.hook_dict.values())


# ============================================================================ lacunas achadas rodando os testes do TL (issue 13)
# A ordem que o TransformerLens 3.9.0 dá para um modelo de 1 camada, LN, MLP gelu (rodado à parte).
TL_CACHE_ORDER_1L = [
    "hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_scale",
    "blocks.0.ln1.hook_normalized", "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
    "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
    "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid", "blocks.0.ln2.hook_scale", "blocks.0.ln2.hook_normalized",
    "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out", "blocks.0.hook_resid_post",
    "ln_final.hook_scale", "ln_final.hook_normalized", "unembed.hook_in", "unembed.hook_out",
]


def test_cache_keys_come_in_execution_order_like_tl(tokens):
    _, cache = make(n_layers=1).run_with_cache(tokens)
    assert list(cache.keys()) == TL_CACHE_ORDER_1L
    _, cache = make(n_layers=1).run_with_cache(tokens, names_filter=lambda n: n.endswith(("hook_z", "hook_embed")))
    assert list(cache.keys()) == ["hook_embed", "blocks.0.attn.hook_z"]


def test_backward_hook_may_return_a_one_tuple_like_torch_hooks(model, tokens):
    calls = []

    def skip_grad(grad, hook):  # a forma do teste do TL: devolve (grad,) em vez do tensor
        calls.append(hook.name)
        return (torch.zeros_like(grad),)

    with model.hooks(bwd_hooks=[("blocks.1.hook_resid_pre", skip_grad)]):
        model(tokens, return_type="loss").backward()
    assert calls == ["blocks.1.hook_resid_pre"]
    assert model.blocks[0].attn.W_Q.grad.abs().max() == 0 and model.blocks[1].attn.W_Q.grad.abs().max() > 0


@pytest.mark.parametrize("name, setter", [
    ("blocks.0.attn.hook_result", "set_use_attn_result"), ("blocks.0.hook_q_input", "set_use_split_qkv_input"),
    ("blocks.0.hook_mlp_in", "set_use_hook_mlp_in"), ("blocks.0.hook_attn_in", "set_use_attn_in"),
])
def test_hook_on_a_disabled_optional_hook_is_an_error(model, tokens, name, setter):
    identity = lambda x, hook: x
    with pytest.raises(AssertionError, match=f"está desligado.*{setter}"):  # AssertionError como no TL
        model.add_hook(name, identity)
    with pytest.raises(ValueError, match="nunca dispararia"):
        model.run_with_hooks(tokens, fwd_hooks=[(name, identity)])
    with pytest.raises(ValueError, match="está desligado"):
        model.run_with_cache(tokens, names_filter=[name])
    model.run_with_cache(tokens)  # o cache de tudo continua funcionando com ele desligado
    assert not any(h.has_hooks() for h in model.hook_dict.values())
    getattr(model, setter)(True)
    seen = []
    model.add_hook(name, lambda x, hook: seen.append(x.shape))
    model(tokens)
    assert len(seen) == 1 and seen[0][:2] == (3, 7)


def test_input_to_embed_then_start_at_layer_zero(model, tokens):
    resid, toks, spe, mask = model.input_to_embed(tokens)
    _, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(resid, cache["hook_embed"] + cache["hook_pos_embed"], **TOL)
    assert torch.equal(toks, tokens) and spe is None and mask is None
    torch.testing.assert_close(model(resid, start_at_layer=0), model(tokens), **TOL)
    am = torch.ones_like(tokens)
    am[:, :2] = 0
    assert torch.equal(model.input_to_embed(tokens, attention_mask=am)[3], am)


def test_input_to_embed_shortformer_passes_the_position_on(tokens):
    m = make(positional_embedding_type="shortformer")
    resid, toks, spe, _ = m.input_to_embed(tokens)
    torch.testing.assert_close(resid, m.W_E[tokens], **TOL)  # a posição não entra no resíduo
    torch.testing.assert_close(spe, m.W_pos[:7].expand(3, 7, 16), **TOL)
    loss = m(resid, start_at_layer=0, tokens=toks, shortformer_pos_embed=spe, return_type="loss")
    torch.testing.assert_close(loss, m(tokens, return_type="loss"), **TOL)
    with pytest.raises(ValueError, match="start_at_layer, esperado o fluxo residual"):
        m(resid, start_at_layer=0, shortformer_pos_embed=spe[0])


def test_logit_attrs_of_one_example_without_batch_dim_uses_its_own_scale(model, tokens):
    """Como no teste do TL: pilha sem batch + batch_slice escolhe a escala da LN daquele exemplo."""
    _, cache = model.run_with_cache(tokens)
    stack = cache.accumulated_resid(pos_slice=-1)  # [camada, batch, d_model]
    full = cache.logit_attrs(stack, tokens=tokens[:, -1], pos_slice=-1)  # [camada, batch]
    for b in (0, -1):
        one = cache.logit_attrs(stack[:, b], has_batch_dim=False, batch_slice=b, pos_slice=-1, tokens=tokens[b, -1])
        torch.testing.assert_close(one, full[:, b], **TOL)
        applied = cache.apply_ln_to_stack(stack[:, b], has_batch_dim=False, batch_slice=b, pos_slice=-1)
        torch.testing.assert_close(applied, cache.apply_ln_to_stack(stack, pos_slice=-1)[:, b], **TOL)
