"""Lente de logits: respostas conhecidas calculadas à mão (F.layer_norm, W_U, b_U)."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import Config, HookedTransformer
from course_lib.lens import lens_probs, lens_top_k, logit_lens, target_rank_per_layer
from course_lib.tokenizer import Tokenizer

WORDS = ["<bos>", "o", "a", "gato", "gata", "dorme", "come", "bebe", "corre", "pula", "peixe", "leite", "."]


def random_model(normalization="LN", d_mlp=24, tokenizer=None, seed=0):
    """Modelo com TODOS os parâmetros sorteados (vieses e pesos da LN também: o padrão 0/1 esconde erros)."""
    cfg = Config(n_layers=2, d_model=16, n_heads=2, d_mlp=d_mlp, d_vocab=len(WORDS), n_ctx=10,
                 normalization=normalization, seed=seed)
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name.endswith(".w") else 0.0))
    return model


def tokens_for(model, batch=3, pos=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.cfg.d_vocab, (batch, pos), generator=g)


def hand_lens(model, x, scale=None):
    """LN final (escala própria, ou `scale` dada) + W_U + b_U, escrito à mão."""
    ln = model.ln_final
    if scale is None:
        y = F.layer_norm(x, (x.shape[-1],), ln.w, ln.b, eps=model.cfg.eps)
    else:
        y = (x - x.mean(-1, keepdim=True)) / scale * ln.w + ln.b
    return y @ model.W_U + model.b_U


def test_final_layer_equals_model_logits_in_both_variants():
    model = random_model()
    tokens = tokens_for(model)
    logits = model(tokens)
    for recompute in (True, False):
        lens, labels = logit_lens(model, tokens, recompute_ln=recompute)
        assert labels == ["0_pre", "1_pre", "final_post"]
        assert lens.shape == (3, 3, 8, model.cfg.d_vocab)
        torch.testing.assert_close(lens[-1], logits, atol=1e-5, rtol=1e-5)


def test_intermediate_layers_match_hand_computation():
    model = random_model()
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens)
    resid1 = cache["blocks.1.hook_resid_pre"]
    final = cache["blocks.1.hook_resid_post"]
    final_scale = ((final - final.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
    with torch.no_grad():
        want_recompute = hand_lens(model, resid1)
        want_frozen = hand_lens(model, resid1, scale=final_scale)
    got_recompute, _ = logit_lens(model, cache, layers=[1])
    got_frozen, _ = logit_lens(model, cache, layers=[1], recompute_ln=False)
    torch.testing.assert_close(got_recompute[0], want_recompute, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_frozen[0], want_frozen, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got_recompute[0], got_frozen[0], atol=1e-3)  # as variantes diferem no meio


def test_components_and_no_ln():
    model = random_model()
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens)
    lens, labels = logit_lens(model, cache, include_components=True)
    assert labels == ["0_pre", "0_attn_out", "0_mlp_out", "1_pre", "1_attn_out", "1_mlp_out", "final_post"]
    with torch.no_grad():
        want = hand_lens(model, cache["blocks.1.hook_mlp_out"])
    torch.testing.assert_close(lens[labels.index("1_mlp_out")], want, atol=1e-5, rtol=1e-5)
    raw, _ = logit_lens(model, cache, no_ln=True)
    with torch.no_grad():
        want_raw = cache["blocks.0.hook_resid_pre"] @ model.W_U + model.b_U
    torch.testing.assert_close(raw[0], want_raw, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(raw[-1], model(tokens), atol=1e-2)  # sem a LN o último nem bate com o modelo


def test_model_without_ln_all_variants_agree():
    model = random_model(normalization=None)
    tokens = tokens_for(model)
    a, _ = logit_lens(model, tokens)
    b, _ = logit_lens(model, tokens, recompute_ln=False)
    c, _ = logit_lens(model, tokens, no_ln=True)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(a[-1], model(tokens), atol=1e-5, rtol=1e-5)


def test_probs_top_k_and_rank():
    model = random_model(tokenizer=Tokenizer(WORDS))
    tokens = tokens_for(model, batch=1)
    probs, labels = lens_probs(model, tokens)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 1, 8))
    top_p, top_ids, top_labels = lens_top_k(model, tokens, k=4)
    assert top_p.shape == top_ids.shape == (3, 8, 4) and top_labels == labels
    order = probs[:, 0].argsort(-1, descending=True)[..., :4]
    assert torch.equal(top_ids, order)
    torch.testing.assert_close(top_p, probs[:, 0].gather(-1, order))

    gato = WORDS.index("gato")
    out = target_rank_per_layer(model, tokens, "gato", pos=5)
    assert out["labels"] == labels
    for i in range(3):
        ranking = probs[i, 0, 5].argsort(descending=True).tolist()
        assert int(out["rank"][i]) == ranking.index(gato) + 1
        assert abs(float(out["prob"][i]) - float(probs[i, 0, 5, gato])) < 1e-6
    same = target_rank_per_layer(model, tokens, gato, pos=-3)
    assert torch.equal(same["rank"], out["rank"])


def test_bad_inputs_raise_pt_br_errors():
    model = random_model(tokenizer=Tokenizer(WORDS))
    tokens = tokens_for(model)
    with pytest.raises(TypeError, match="logit_lens.*dtype"):
        logit_lens(model, tokens.float())
    with pytest.raises(ValueError, match="`layers` deve ser um inteiro entre 0 e 2; veio 5"):
        logit_lens(model, tokens, layers=[5])
    with pytest.raises(ValueError, match="fora do vocabulário"):
        logit_lens(model, tokens + 100)
    with pytest.raises(ValueError, match="um único exemplo.*lote de 3"):
        lens_top_k(model, tokens)
    with pytest.raises(ValueError, match="`k`"):
        lens_top_k(model, tokens[:1], k=0)
    with pytest.raises(ValueError, match="target_token.*Palavra desconhecida 'cachorro'"):
        target_rank_per_layer(model, tokens[:1], "cachorro")
    with pytest.raises(TypeError, match="target_token.*float"):
        target_rank_per_layer(model, tokens[:1], 2.0)
    with pytest.raises(ValueError, match="`pos` deve ser um inteiro entre -8 e 7; veio 8"):
        target_rank_per_layer(model, tokens[:1], 3, pos=8)
    with pytest.raises(TypeError, match="`model` deve ser um HookedTransformer"):
        logit_lens("modelo", tokens)
    other = random_model(seed=1)
    _, cache = other.run_with_cache(tokens)
    with pytest.raises(ValueError, match="outro modelo"):
        logit_lens(model, cache)


def test_attn_only_model_and_partial_cache():
    model = random_model(d_mlp=None)
    tokens = tokens_for(model)
    logits, cache = model.run_with_cache(tokens)
    lens, labels = logit_lens(model, cache, include_components=True, recompute_ln=False)
    assert labels == ["0_pre", "0_attn_out", "1_pre", "1_attn_out", "final_post"]
    torch.testing.assert_close(lens[-1], logits, atol=1e-5, rtol=1e-5)
    _, partial = model.run_with_cache(tokens, names_filter="blocks.1.hook_resid_pre")
    assert logit_lens(model, partial, layers=[1])[0].shape == (1, 3, 8, model.cfg.d_vocab)
    with pytest.raises(KeyError, match="o cache não tem.*ln_final.hook_scale"):
        logit_lens(model, partial, layers=[1], recompute_ln=False)
