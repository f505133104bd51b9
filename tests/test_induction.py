"""Sondas de indução: um "modelo com indução perfeita" forçado por gancho nos logits, com perdas conhecidas."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import Config, HookedTransformer
from course_lib.induction import (in_context_learning_score, make_repeated_batch, per_position_logprob_correct,
                                  per_position_loss, repeated_half_loss)

D_VOCAB, SEQ_LEN = 20, 6


def small_model():
    return HookedTransformer(Config(n_layers=1, d_model=16, n_heads=2, d_vocab=D_VOCAB, n_ctx=16))


def perfect_induction_hook(tokens, seq_len):
    """Logits: uniformes (todos 0) na 1ª cópia; na 2ª, +100 no próximo token verdadeiro (a partir da posição seq_len+1)."""
    def hook(logits, hook):
        out = torch.zeros_like(logits)
        for p in range(seq_len + 1, logits.shape[1] - 1):
            out[torch.arange(logits.shape[0]), p, tokens[:, p + 1]] = 100.0
        return out
    return hook


def test_make_repeated_batch():
    model = small_model()
    tokens = make_repeated_batch(model, batch=4, seq_len=SEQ_LEN, seed=3)
    assert tokens.shape == (4, 1 + 2 * SEQ_LEN) and tokens.dtype == torch.long
    assert tokens.device == model.W_E.device
    assert (tokens[:, 0] == 0).all() and (tokens[:, 1:] != 0).all()
    assert torch.equal(tokens[:, 1:1 + SEQ_LEN], tokens[:, 1 + SEQ_LEN:])
    assert torch.equal(tokens, make_repeated_batch(model, batch=4, seq_len=SEQ_LEN, seed=3))
    assert not torch.equal(tokens, make_repeated_batch(model, batch=4, seq_len=SEQ_LEN, seed=4))
    assert make_repeated_batch(model).shape == (8, 15)  # padrão: o maior seq_len que cabe em n_ctx = 16


def test_per_position_loss_matches_cross_entropy_by_hand():
    model = small_model()
    tokens = make_repeated_batch(model, batch=3, seq_len=SEQ_LEN)
    logits = model(tokens)
    want = torch.stack([F.cross_entropy(logits[b, :-1], tokens[b, 1:], reduction="none") for b in range(3)])
    torch.testing.assert_close(per_position_logprob_correct(model, tokens), -want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(per_position_loss(model, tokens), want.mean(0), atol=1e-5, rtol=1e-5)


def test_perfect_induction_gives_known_losses():
    model = small_model()
    tokens = make_repeated_batch(model, batch=5, seq_len=SEQ_LEN)
    with model.hooks([("unembed.hook_out", perfect_induction_hook(tokens, SEQ_LEN))]):
        first, second = repeated_half_loss(model, tokens, SEQ_LEN)
        loss = per_position_loss(model, tokens)
        icl = in_context_learning_score(model, tokens)  # padrão: early = 1 (1ª cópia), late = 12 (2ª)
        icl_explicit = in_context_learning_score(model, tokens, early=2, late=10)
        logprob = per_position_logprob_correct(model, tokens)
    log_v = math.log(D_VOCAB)
    assert abs(first - log_v) < 1e-5 and second < 1e-5
    torch.testing.assert_close(loss[:SEQ_LEN + 1], torch.full((SEQ_LEN + 1,), log_v))
    assert abs(icl + log_v) < 1e-4 and abs(icl_explicit + log_v) < 1e-4
    assert logprob.shape == (5, 2 * SEQ_LEN) and abs(float(logprob[0, 0]) + log_v) < 1e-5


def test_bad_inputs_raise_pt_br_errors():
    model = small_model()
    tokens = make_repeated_batch(model, batch=2, seq_len=SEQ_LEN)
    with pytest.raises(ValueError, match="não são uma sequência repetida com período `seq_len` = 5"):
        repeated_half_loss(model, tokens, 5)
    with pytest.raises(ValueError, match="`early` \\(8\\) deve ser menor que `late` \\(3\\)"):
        in_context_learning_score(model, tokens, early=8, late=3)
    with pytest.raises(ValueError, match="`late` deve ser um inteiro entre 1 e 12; veio 13"):
        in_context_learning_score(model, tokens, late=13)
    with pytest.raises(ValueError, match="`seq_len` deve ser um inteiro entre 1 e 7; veio 8"):
        make_repeated_batch(model, seq_len=8)
    with pytest.raises(TypeError, match="per_position_loss.*dtype"):
        per_position_loss(model, tokens.float())
    with pytest.raises(ValueError, match="pelo menos 2 posições"):
        per_position_loss(model, tokens[:, :1])
    with pytest.raises(TypeError, match="`batch` deve ser um inteiro; veio float"):
        make_repeated_batch(model, batch=2.0)
