"""Atribuição direta: as contribuições somam EXATAMENTE aos logits do modelo (com vieses e LN sorteados)."""
import pytest
import torch

from course_lib import Config, HookedTransformer
from course_lib.attribution import accumulated_resid_attribution, direct_logit_attribution


def random_model(normalization="LN", d_mlp=24, seed=0):
    cfg = Config(n_layers=2, d_model=16, n_heads=3, d_mlp=d_mlp, d_vocab=17, n_ctx=10,
                 normalization=normalization, seed=seed)
    model = HookedTransformer(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name.endswith(".w") else 0.0))
    return model


def tokens_for(model, batch=4, pos=7):
    return torch.randint(0, model.cfg.d_vocab, (batch, pos), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("granularity", ["heads", "layers"])
@pytest.mark.parametrize("normalization,d_mlp", [("LN", 24), (None, None)])
def test_attributions_sum_exactly_to_logits(granularity, normalization, d_mlp):
    model = random_model(normalization, d_mlp)
    tokens = tokens_for(model)
    logits, cache = model.run_with_cache(tokens)
    batch = torch.arange(4)
    target = torch.tensor([3, 0, 16, 5])
    values, labels = direct_logit_attribution(model, cache, target, pos=-1, granularity=granularity, per_example=True)
    assert values.shape == (len(labels), 4) and labels[-1] == "offset"
    torch.testing.assert_close(values.sum(0), logits[batch, -1, target], atol=1e-4, rtol=1e-5)
    # diferença de logits, alvo = próximo token (tokens 2-D), média no batch
    values, _ = direct_logit_attribution(model, cache, tokens, incorrect=7, pos=2, granularity=granularity)
    want = (logits[batch, 2, tokens[:, 3]] - logits[:, 2, 7]).mean()
    torch.testing.assert_close(values.sum(), want, atol=1e-4, rtol=1e-5)


def test_labels_and_head_values_by_hand():
    """Sem LN e só atenção, cada contribuição é um produto escalar que dá para escrever à mão."""
    model = random_model(normalization=None, d_mlp=None)
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens)
    values, labels = direct_logit_attribution(model, cache, 9, pos=4, per_example=True)
    assert labels == ["embed", "pos_embed", "L0H0", "L0H1", "L0H2", "L1H0", "L1H1", "L1H2", "bias", "offset"]
    u = model.W_U[:, 9].detach()
    with torch.no_grad():
        head = cache["blocks.1.attn.hook_z"][:, 4, 2] @ model.blocks[1].attn.W_O[2]
        torch.testing.assert_close(values[labels.index("L1H2")], head @ u, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(values[0], model.W_E[tokens[:, 4]] @ u, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(values[1], (model.W_pos[4] @ u).expand(4), atol=1e-5, rtol=1e-5)
        bias = (model.blocks[0].attn.b_O + model.blocks[1].attn.b_O) @ u
        torch.testing.assert_close(values[-2], bias.expand(4), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(values[-1], model.b_U[9].expand(4))


def test_accumulated_resid_attribution():
    model = random_model()
    tokens = tokens_for(model)
    logits, cache = model.run_with_cache(tokens)
    values, labels = accumulated_resid_attribution(model, cache, 5, per_example=True)
    assert labels == ["0_pre", "1_pre", "final_post"]
    torch.testing.assert_close(values[-1], logits[:, -1, 5], atol=1e-4, rtol=1e-5)
    # 1ª linha à mão: (embed + pos) pela LN final com a escala do resíduo FINAL, · W_U + offset
    ln = model.ln_final
    with torch.no_grad():
        final = cache["blocks.1.hook_resid_post"][:, -1]
        scale = ((final - final.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
        x = model.W_E[tokens[:, -1]] + model.W_pos[6]
        want = ((x - x.mean(-1, keepdim=True)) / scale * ln.w + ln.b) @ model.W_U[:, 5] + model.b_U[5]
    torch.testing.assert_close(values[0], want, atol=1e-4, rtol=1e-5)
    # a diferença entre linhas vizinhas é a soma das contribuições diretas daquela camada
    dla, dla_labels = direct_logit_attribution(model, cache, 5, granularity="layers", per_example=True)
    layer1 = dla[dla_labels.index("1_attn_out")] + dla[dla_labels.index("1_mlp_out")]
    torch.testing.assert_close(values[2] - values[1], layer1, atol=1e-4, rtol=1e-4)


def test_bad_inputs_raise_pt_br_errors():
    model = random_model()
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens)
    with pytest.raises(ValueError, match="não há próximo token em `tokens_or_target`"):
        direct_logit_attribution(model, cache, tokens, pos=-1)
    with pytest.raises(ValueError, match="`granularity` deve ser um de \\('heads', 'layers'\\); veio 'cabeças'"):
        direct_logit_attribution(model, cache, 3, granularity="cabeças")
    with pytest.raises(ValueError, match="`tokens_or_target` = 17 está fora do vocabulário"):
        direct_logit_attribution(model, cache, 17)
    with pytest.raises(TypeError, match="`incorrect` deve ser um id.*veio float"):
        direct_logit_attribution(model, cache, 3, incorrect=1.5)
    with pytest.raises(ValueError, match=r"`tokens_or_target` deve ter formato \[batch\] = \(4,\); veio \(3,\)"):
        direct_logit_attribution(model, cache, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="`pos` deve ser um inteiro entre -7 e 6; veio 7"):
        accumulated_resid_attribution(model, cache, 3, pos=7)
    with pytest.raises(ValueError, match="outro modelo"):
        direct_logit_attribution(random_model(seed=1), cache, 3)
    _, partial = model.run_with_cache(tokens, names_filter=lambda n: "resid" in n)
    with pytest.raises(KeyError, match="o cache não tem"):
        direct_logit_attribution(model, partial, 3)
    with pytest.raises(TypeError, match="`cache` deve ser um ActivationCache"):
        direct_logit_attribution(model, tokens, 3)


def test_decompose_attn_scores_sums_to_the_model_scores():
    from course_lib.attribution import decompose_attn_scores

    model = random_model(normalization=None, d_mlp=24)
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens)
    scores, labels = decompose_attn_scores(model, cache, 1, 2)
    assert labels == ["embed", "pos_embed", "L0H0", "L0H1", "L0H2", "MLP0", "bias"]
    assert scores.shape == (7, 7, 4, 7, 7)
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    real = cache["attn_scores", 1][:, 2]
    torch.testing.assert_close(scores.sum((0, 1))[:, causal], real[:, causal], atol=1e-3, rtol=1e-4)
    with pytest.raises(ValueError, match="LayerNorm"):
        decompose_attn_scores(random_model(), model.run_with_cache(tokens)[1], 1, 0)
