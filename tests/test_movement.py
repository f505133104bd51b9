"""Movimento de informação num modelo montado à mão: ‖v_k W_O‖ = C·(id do token k), padrões forçados."""
import pytest
import torch

from course_lib import Config, HookedTransformer
from course_lib.movement import head_movement_summary, info_moved

C, POS = 3.0, 6


def hand_set_model():
    """1 camada sem LN, d_head = d_model. W_E[t] = t·e_0, W_pos = 0; cabeças com W_V = C·I e W_O = I.

    Então v_k·W_O = C·t_k·e_0 e ‖v_k W_O‖ = C·t_k (sem b_V).
    """
    model = HookedTransformer(Config(n_layers=1, d_model=8, n_heads=2, d_head=8, d_vocab=10, n_ctx=POS,
                                     normalization=None))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, 0] = torch.arange(10.0)
        for h in range(2):
            model.blocks[0].attn.W_V[h] = C * torch.eye(8)
            model.blocks[0].attn.W_O[h] = torch.eye(8)
    return model


def forced_patterns(pattern, hook):
    """Cabeça 0: token anterior (a posição 0 olha para si); cabeça 1: uniforme."""
    out = torch.zeros_like(pattern)
    for q in range(POS):
        out[:, 0, q, max(q - 1, 0)] = 1.0
        out[:, 1, q, : q + 1] = 1.0 / (q + 1)
    return out


def run(model, tokens):
    with model.hooks([("blocks.0.attn.hook_pattern", forced_patterns)]):
        return model.run_with_cache(tokens)[1]


def test_info_moved_known_values():
    model = hand_set_model()
    tokens = torch.tensor([[0, 3, 1, 4, 1, 5], [0, 2, 7, 1, 8, 2]])
    cache = run(model, tokens)
    prev = info_moved(model, cache, 0, 0)
    uniform = info_moved(model, cache, 0, 1)
    assert prev.shape == (2, POS, POS)
    for b in range(2):
        for q in range(POS):
            for k in range(POS):
                want_prev = C * tokens[b, k] if k == max(q - 1, 0) else 0.0
                want_uniform = C * tokens[b, k] / (q + 1) if k <= q else 0.0
                assert abs(float(prev[b, q, k]) - float(want_prev)) < 1e-4
                assert abs(float(uniform[b, q, k]) - float(want_uniform)) < 1e-4


def test_summary_known_values():
    model = hand_set_model()
    tokens = torch.tensor([[0, 3, 1, 4, 1, 5], [0, 2, 7, 1, 8, 2]])
    summary = head_movement_summary(model, run(model, tokens))
    # cabeça 0 traz C·t_{q-1} de distância 1, para q = 1..5
    want_prev = sum(C * float(tokens[b, q - 1]) for b in range(2) for q in range(1, POS)) / 10
    assert abs(float(summary["moved_from_others"][0, 0]) - want_prev) < 1e-4
    assert abs(float(summary["mean_distance"][0, 0]) - 1.0) < 1e-5
    # cabeça 1 (uniforme): pesos C·t_k/(q+1) a distância q - k
    num = den = moved = 0.0
    for b in range(2):
        for q in range(1, POS):
            for k in range(q + 1):
                w = C * float(tokens[b, k]) / (q + 1)
                num, den = num + w * (q - k), den + w
                moved += w if k != q else 0.0
    assert abs(float(summary["mean_distance"][0, 1]) - num / den) < 1e-4
    assert abs(float(summary["moved_from_others"][0, 1]) - moved / 10) < 1e-4


def test_b_V_is_included():
    model = hand_set_model()
    with torch.no_grad():
        model.blocks[0].attn.W_V[0] = 0.0
        model.blocks[0].attn.b_V[0] = torch.tensor([0.0, 2.0, 0, 0, 0, 0, 0, 0])  # ‖b_V W_O‖ = 2
    cache = run(model, torch.tensor([[0, 3, 1, 4, 1, 5]]))
    info = info_moved(model, cache, 0, 0)
    torch.testing.assert_close(info, 2.0 * cache["pattern", 0][:, 0])


def test_bad_inputs_raise_pt_br_errors():
    model = hand_set_model()
    cache = run(model, torch.tensor([[0, 3, 1, 4, 1, 5]]))
    with pytest.raises(IndexError, match="`layer` = 1 não existe; o modelo tem n_layers = 1"):
        info_moved(model, cache, 1, 0)
    with pytest.raises(IndexError, match="`head` = -1 não existe; cada camada tem n_heads = 2"):
        info_moved(model, cache, 0, -1)
    with pytest.raises(TypeError, match="`head` deve ser um inteiro; veio float"):
        info_moved(model, cache, 0, 1.0)
    with pytest.raises(TypeError, match="`cache` deve ser um ActivationCache"):
        head_movement_summary(model, torch.zeros(1, 6, dtype=torch.long))
    _, partial = model.run_with_cache(torch.tensor([[0, 1, 2]]), names_filter="blocks.0.attn.hook_pattern")
    with pytest.raises(KeyError, match="hook_v"):
        head_movement_summary(model, partial)
