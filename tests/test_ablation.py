"""Ablação: respostas conhecidas (caminho direto calculado à mão, cabeça de saída constante)."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import Config, HookedTransformer, lm_cross_entropy_loss
from course_lib.ablation import ablate_heads, ablate_layer, head_ablation_table


def attn_only_model(attn_biases: bool, seed=0):
    """2 camadas só de atenção, com LN; pesos, LN (w, b) e b_U sorteados; vieses da atenção só se pedido."""
    model = HookedTransformer(Config(n_layers=2, d_model=16, n_heads=3, d_vocab=15, n_ctx=10, seed=seed))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.split(".")[-1].startswith("b_") and "attn" in name and not attn_biases:
                continue
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name.endswith(".w") else 0.0))
    return model


def tokens_for(model, batch=3, pos=8):
    return torch.randint(0, model.cfg.d_vocab, (batch, pos), generator=torch.Generator().manual_seed(2))


def direct_path(model, tokens):
    """(W_E + W_pos) -> LN final -> W_U + b_U, escrito à mão."""
    ln = model.ln_final
    x = model.W_E[tokens] + model.W_pos[: tokens.shape[1]]
    return F.layer_norm(x, (x.shape[-1],), ln.w, ln.b, eps=model.cfg.eps) @ model.W_U + model.b_U


def test_zero_ablating_every_head_leaves_direct_path():
    model = attn_only_model(attn_biases=False)
    tokens = tokens_for(model)
    every_head = [(l, h) for l in range(2) for h in range(3)]
    with torch.no_grad():
        want = direct_path(model, tokens)
    torch.testing.assert_close(ablate_heads(model, tokens, every_head), want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model(tokens), want, atol=1e-3)


def test_ablate_layer_removes_bias_but_ablate_heads_keeps_it():
    model = attn_only_model(attn_biases=True)
    tokens = tokens_for(model)
    with torch.no_grad():
        want = direct_path(model, tokens)
        layer0 = ablate_layer(model, tokens, 0)
        with model.hooks([("blocks.0.hook_attn_out", lambda x, hook: torch.zeros_like(x))]):
            both = ablate_layer(model, tokens, 1, component="attn", mode="zero")
    torch.testing.assert_close(both, want, atol=1e-5, rtol=1e-5)
    every_head = [(l, h) for l in range(2) for h in range(3)]
    assert not torch.allclose(ablate_heads(model, tokens, every_head), want, atol=1e-3)  # b_O continua lá
    assert not torch.allclose(layer0, model(tokens), atol=1e-3)


def test_mean_ablation_of_constant_head_changes_nothing():
    model = attn_only_model(attn_biases=True)
    with torch.no_grad():
        model.blocks[1].attn.W_V[2] = 0.0  # v = b_V em toda posição -> z = b_V (a atenção soma 1)
    tokens = tokens_for(model)
    clean = model(tokens)
    torch.testing.assert_close(ablate_heads(model, tokens, [(1, 2)], mode="mean"), clean, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ablate_heads(model, tokens, [(1, 2)], mode="zero"), clean, atol=1e-3)
    table = head_ablation_table(model, tokens, mode="mean")
    assert table.shape == (2, 3) and abs(float(table[1, 2])) < 1e-5


def test_head_ablation_table_and_positions():
    model = attn_only_model(attn_biases=True)
    with torch.no_grad():
        model.blocks[0].attn.W_O[1] = 0.0  # a cabeça 0.1 não escreve nada: pode ser podada
    tokens = tokens_for(model)
    table = head_ablation_table(model, tokens)
    clean_loss = lm_cross_entropy_loss(model(tokens), tokens)
    want = lm_cross_entropy_loss(ablate_heads(model, tokens, [(1, 0)]), tokens) - clean_loss
    assert float(table[0, 1]) == 0.0
    torch.testing.assert_close(table[1, 0], want)
    # ablação só na última posição: as anteriores não mudam (máscara causal)
    clean = model(tokens)
    last_only = ablate_heads(model, tokens, [(0, 0)], positions=[-1])
    torch.testing.assert_close(last_only[:, :-1], clean[:, :-1])
    assert not torch.allclose(last_only[:, -1], clean[:, -1], atol=1e-3)


def test_bad_inputs_raise_pt_br_errors():
    model = attn_only_model(attn_biases=False)
    tokens = tokens_for(model)
    with pytest.raises(IndexError, match=r"`heads\[0\]\[0\] \(camada\)` = 5 não existe; o modelo tem n_layers = 2"):
        ablate_heads(model, tokens, [(5, 0)])
    with pytest.raises(IndexError, match=r"`heads\[1\]\[1\] \(cabeça\)` = 3 não existe; cada camada tem n_heads = 3"):
        ablate_heads(model, tokens, [(0, 0), (1, 3)])
    with pytest.raises(TypeError, match="`heads` deve ser uma lista não vazia"):
        ablate_heads(model, tokens, [])
    with pytest.raises(ValueError, match="`mode` deve ser um de \\('zero', 'mean'\\); veio 'média'"):
        ablate_heads(model, tokens, [(0, 0)], mode="média")
    with pytest.raises(ValueError, match="`positions` deve ser um inteiro entre -8 e 7; veio 8"):
        ablate_heads(model, tokens, [(0, 0)], positions=[8])
    with pytest.raises(ValueError, match="só de atenção"):
        ablate_layer(model, tokens, 0, component="mlp")
    with pytest.raises(IndexError, match="`layer` = 2 não existe"):
        ablate_layer(model, tokens, 2)
    with pytest.raises(TypeError, match="head_ablation_table.*dtype"):
        head_ablation_table(model, tokens.float())


def test_head_ablation_table_loss_positions():
    """`loss_positions` só escolhe onde a perda é medida; a cabeça é trocada em toda posição."""
    model = attn_only_model(attn_biases=True)
    tokens = tokens_for(model)
    cols = [2, 4, -1]
    table = head_ablation_table(model, tokens, loss_positions=cols)
    per_clean = lm_cross_entropy_loss(model(tokens), tokens, per_token=True)[:, [2, 4, tokens.shape[1] - 2]]
    per_abl = lm_cross_entropy_loss(ablate_heads(model, tokens, [(1, 1)]), tokens, per_token=True)
    want = per_abl[:, [2, 4, tokens.shape[1] - 2]].mean() - per_clean.mean()
    torch.testing.assert_close(table[1, 1], want)
    assert not torch.allclose(table, head_ablation_table(model, tokens), atol=1e-4)
    with pytest.raises(ValueError, match="`loss_positions` deve ser um inteiro"):
        head_ablation_table(model, tokens, loss_positions=[tokens.shape[1] - 1])


def test_head_ablation_table_second_copy_on_induction():
    """No modelo de indução, a 0.0 custa mais na 2ª cópia que na média de todas as posições."""
    from course_lib import load_pretrained
    from course_lib.data import repeated_tokens

    model = load_pretrained("induction")
    n = 20
    tokens = repeated_tokens(8, n, model.cfg.d_vocab, seed=0)
    everywhere = head_ablation_table(model, tokens)
    second = head_ablation_table(model, tokens, loss_positions=range(n + 1, 2 * n))
    assert second[0, 0] > 1.5 * everywhere[0, 0] > 0
