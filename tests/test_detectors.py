"""Detectores de cabeças em modelos montados à mão, com escores conhecidos de antemão."""
import pytest
import torch

from course_lib import Config, HookedTransformer
from course_lib.detectors import (current_token_scores, detect_pattern, first_token_scores, induction_scores,
                                  label_heads, previous_token_scores)

N_CTX, M = 8, 1000.0


def hand_set_model():
    """1 camada, só atenção, sem LN. Resíduo = one-hot da posição (dims 0..7) + one-hot do token (dims 8..15).

    Cabeça 0: q_i = M·e_i, k_j = e_{j+1}  -> q_i·k_j = M só em j = i-1 (token anterior).
    Cabeça 1: q = e_0 (viés b_Q), k_0 = M·e_0, outras chaves 0  -> olha para o BOS.
    Cabeça 2: q_i = M·e_i, k_j = e_j  -> olha para si mesma (token atual).
    Cabeça 3: tudo zero  -> atenção uniforme (sem tipo claro).
    """
    cfg = Config(n_layers=1, d_model=2 * N_CTX, n_heads=4, d_head=N_CTX, d_vocab=N_CTX, n_ctx=N_CTX,
                 normalization=None)
    model = HookedTransformer(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.pos_embed.W_pos.copy_(torch.eye(N_CTX, 2 * N_CTX))
        model.embed.W_E.copy_(torch.eye(2 * N_CTX)[N_CTX:])
        attn = model.blocks[0].attn
        for i in range(N_CTX):
            attn.W_Q[0, i, i] = M
            if i + 1 < N_CTX:
                attn.W_K[0, i, i + 1] = 1.0
            attn.W_Q[2, i, i] = M
            attn.W_K[2, i, i] = 1.0
        attn.b_Q[1, 0] = 1.0
        attn.W_K[1, 0, 0] = M
    return model


def uniform_mean(queries, key_of):
    """Placar de uma cabeça uniforme (peso 1/(q+1) em cada chave) num detector que olha a chave key_of(q)."""
    return sum(1.0 / (q + 1) for q in queries if key_of(q) is not None) / len(queries)


def test_hand_set_heads_get_known_scores():
    model = hand_set_model()
    tokens = torch.tensor([[0, 3, 5, 1, 7, 2, 2, 6], [0, 1, 1, 4, 3, 6, 5, 7]])
    _, cache = model.run_with_cache(tokens)
    qs = range(1, N_CTX)
    uni = uniform_mean(qs, lambda q: q)
    expected_prev = torch.tensor([[1.0, 1 / 7, 0.0, uni]])  # a cabeça do BOS olha o "anterior" só em q=1
    expected_first = torch.tensor([[1 / 7, 1.0, 0.0, uni]])
    expected_cur = torch.tensor([[0.0, 0.0, 1.0, uni]])
    torch.testing.assert_close(previous_token_scores(cache), expected_prev, atol=1e-4, rtol=0)
    torch.testing.assert_close(first_token_scores(cache), expected_first, atol=1e-4, rtol=0)
    torch.testing.assert_close(current_token_scores(cache), expected_cur, atol=1e-4, rtol=0)
    # também aceita os padrões direto: lista por camada ou tensor [batch, head, q, k]
    torch.testing.assert_close(previous_token_scores([cache["pattern", 0]]), expected_prev, atol=1e-4, rtol=0)
    torch.testing.assert_close(current_token_scores(cache["pattern", 0]), expected_cur, atol=1e-4, rtol=0)


def test_label_heads_on_hand_set_model():
    model = hand_set_model()
    assert label_heads(model) == {
        "0.0": "token anterior", "0.1": "primeiro token (BOS)", "0.2": "token atual", "0.3": "sem tipo claro",
    }


def test_detect_pattern_with_mask_and_function():
    model = hand_set_model()
    tokens = torch.tensor([[0, 3, 5, 1, 7, 2, 2, 6]])
    prev_mask = torch.zeros(N_CTX, N_CTX)
    for q in range(1, N_CTX):
        prev_mask[q, q - 1] = 1.0
    scores = detect_pattern(model, tokens, prev_mask)
    torch.testing.assert_close(scores, previous_token_scores(model.run_with_cache(tokens)[1]), atol=1e-6, rtol=0)
    assert scores[0, 0] > 0.999
    # função: "olhe para qualquer posição anterior com o mesmo token" (só q = 6 tem uma: o 2 em 5)
    def same_token_before(toks):
        mask = (toks[:, :, None] == toks[:, None, :]).float()
        return torch.tril(mask, diagonal=-1)
    same = detect_pattern(model, tokens, same_token_before)
    torch.testing.assert_close(same, torch.tensor([[1.0, 0.0, 0.0, 1 / 7]]), atol=1e-4, rtol=0)


def forced_induction_hook(seq_len):
    """Força a cabeça 1.1 a um padrão de indução perfeito (e BOS onde a indução não se define)."""
    def hook(pattern, hook):
        pattern = pattern.clone()
        pos = pattern.shape[-1]
        pattern[:, 1] = 0.0
        for q in range(pos):
            key = q - seq_len + 1 if q >= seq_len + 1 else 0
            pattern[:, 1, q, key] = 1.0
        return pattern
    return hook


def test_induction_scores_on_forced_pattern():
    seq_len = 5
    model = HookedTransformer(Config(n_layers=2, d_model=16, n_heads=2, d_vocab=20, n_ctx=16))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 20, (3, seq_len), generator=g)
    tokens = torch.cat([torch.zeros(3, 1, dtype=torch.long), x, x], dim=1)
    with model.hooks([("blocks.1.attn.hook_pattern", forced_induction_hook(seq_len))]):
        _, cache = model.run_with_cache(tokens)
        from_tokens = induction_scores(model, tokens, seq_len)
        labels = label_heads(model, tokens)
    scores = induction_scores(model, cache, seq_len)
    torch.testing.assert_close(scores, from_tokens)
    assert abs(float(scores[1, 1]) - 1.0) < 1e-6
    others = scores.flatten()[[0, 1, 2]]
    assert (others < 0.3).all()  # o modelo aleatório de pesos pequenos tem atenção quase uniforme
    assert labels["1.1"] == "indução" and labels["0.0"] == "sem tipo claro"


def test_bad_inputs_raise_pt_br_errors():
    model = hand_set_model()
    tokens = torch.tensor([[0, 3, 5, 1, 7, 2, 2, 6]])
    with pytest.raises(TypeError, match="`cache_or_patterns` deve ser um ActivationCache"):
        previous_token_scores("padrões")
    with pytest.raises(ValueError, match=r"\[n_layers, batch, head, q, k\].*veio \(2, 3\)"):
        previous_token_scores(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="não são uma sequência repetida"):
        induction_scores(model, tokens, 3)
    with pytest.raises(ValueError, match="`seq_len` deve ser um inteiro >= 2; veio 1"):
        induction_scores(model, tokens, 1)
    with pytest.raises(ValueError, match="futuro"):
        detect_pattern(model, tokens, torch.ones(N_CTX, N_CTX))
    with pytest.raises(ValueError, match=r"`pattern` deve ter formato \[pos, pos\]"):
        detect_pattern(model, tokens, torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        detect_pattern(model, tokens, 2 * torch.eye(N_CTX))
    with pytest.raises(TypeError, match="detect_pattern.*dtype"):
        detect_pattern(model, tokens.float(), torch.eye(N_CTX))
    with pytest.raises(ValueError, match="`threshold`"):
        label_heads(model, threshold=1.5)
