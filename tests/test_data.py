"""Testes dos geradores de dados (course_lib/data.py)."""

import math
import random

import pytest
import torch

from course_lib.data import AGREEMENT_TESTS, PtGrammar, induction_training_batch, repeated_tokens


@pytest.fixture(scope="module")
def grammar():
    return PtGrammar()


@pytest.fixture(scope="module")
def tok(grammar):
    return grammar.tokenizer()


# ----------------------------------------------------------------------------- gramática
def test_vocab(grammar, tok):
    assert 150 <= len(grammar.vocab) <= 300
    assert len(set(grammar.vocab)) == len(grammar.vocab)
    assert "<bos>" not in grammar.vocab and "." in grammar.vocab
    assert all(w == w.lower() for w in grammar.vocab)
    assert tok.vocab == ["<bos>"] + grammar.vocab
    assert grammar.d_vocab == tok.d_vocab
    assert PtGrammar().vocab == grammar.vocab  # ordem determinística


def test_sample_sentence(grammar):
    s1 = [grammar.sample_sentence(random.Random(7)) for _ in range(3)]
    s2 = [grammar.sample_sentence(random.Random(7)) for _ in range(3)]
    assert s1 == s2
    rng = random.Random(0)
    for _ in range(50):
        sent = grammar.sample_sentence(rng)
        assert sent[-1] == "." and "." not in sent[:-1]
        assert all(w in grammar.vocab for w in sent)


def test_generate_text(grammar, tok):
    text = grammar.generate_text(20, seed=1)
    assert text == grammar.generate_text(20, seed=1)
    assert text != grammar.generate_text(20, seed=2)
    assert tok.split(text).count(".") == 20
    assert tok.decode(tok.encode(text)) == text


def test_make_dataset(grammar):
    data = grammar.make_dataset(32, 40, seed=0)
    assert data.shape == (32, 40) and data.dtype == torch.long
    assert (data[:, 0] == 0).all() and (data[:, 1:] != 0).all()
    assert torch.equal(data, grammar.make_dataset(32, 40, seed=0))
    assert not torch.equal(data, grammar.make_dataset(32, 40, seed=1))
    assert data.max() < grammar.d_vocab


def test_next_token_probs(grammar):
    data = grammar.make_dataset(8, 48, seed=3)
    for row in data:
        probs = grammar.next_token_probs(row)
        assert probs.shape == (48, grammar.d_vocab) and probs.dtype == torch.float64
        assert torch.allclose(probs.sum(-1), torch.ones(48, dtype=torch.float64))
        assert (probs[:-1].gather(1, row[1:, None]) > 0).all()  # todo token observado era possível
        assert (probs[:, 0] == 0).all()  # o BOS nunca é previsto
    assert torch.equal(grammar.next_token_probs(data[0].tolist()), grammar.next_token_probs(data[0]))


def test_next_token_probs_matches_sampling(grammar):
    # Frequência empírica da primeira palavra ~ probabilidade exata depois do BOS.
    data = grammar.make_dataset(2000, 2, seed=4)
    freq = torch.bincount(data[:, 1], minlength=grammar.d_vocab).double() / 2000
    assert (freq - grammar.next_token_probs([0])[0]).abs().max() < 0.03


def test_optimal_loss(grammar):
    data = grammar.make_dataset(16, 32, seed=5)
    per_tok = grammar.optimal_loss_per_token(data)
    assert per_tok.shape == (16, 31)
    probs = grammar.next_token_probs(data[0])
    expected = -probs[:-1].gather(1, data[0, 1:, None]).log().squeeze(1)
    assert torch.allclose(per_tok[0], expected)
    loss = grammar.optimal_loss(data)
    assert loss == pytest.approx(per_tok.mean().item())
    assert 0.5 < loss < math.log(grammar.d_vocab)


def test_impossible_sequence(grammar, tok):
    with pytest.raises(ValueError, match="probabilidade 0"):
        grammar.next_token_probs(tok.encode("o meninos"))
    with pytest.raises(ValueError, match="BOS"):
        grammar.next_token_probs(tok.encode("o menino", prepend_bos=False))
    with pytest.raises(TypeError):
        grammar.optimal_loss(torch.zeros(1, 3))


def test_agreement_tests(grammar, tok):
    assert len(AGREEMENT_TESTS) >= 12
    for prompt, good, bad in AGREEMENT_TESTS:
        probs = grammar.next_token_probs(tok.encode(prompt))[-1]
        assert probs[tok.to_single_token(good)] > 0, (prompt, good)
        assert probs[tok.to_single_token(bad)] == 0, (prompt, bad)


# ----------------------------------------------------------------------------- indução
def test_repeated_tokens():
    toks = repeated_tokens(4, 10, 50, seed=0)
    assert toks.shape == (4, 21) and toks.dtype == torch.long
    assert (toks[:, 0] == 0).all()
    assert torch.equal(toks[:, 1:11], toks[:, 11:])
    assert toks[:, 1:].min() >= 1 and toks[:, 1:].max() <= 49
    assert torch.equal(toks, repeated_tokens(4, 10, 50, seed=0))
    assert not torch.equal(toks, repeated_tokens(4, 10, 50, seed=1))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(repeated_tokens(2, 5, 9, generator=g1), repeated_tokens(2, 5, 9, generator=g2))
    other = repeated_tokens(3, 200, 5, seed=0, bos=2)
    assert (other[:, 0] == 2).all() and (other[:, 1:] != 2).all()
    with pytest.raises(ValueError, match="d_vocab"):
        repeated_tokens(1, 5, 1)
    with pytest.raises(ValueError, match="seq_len"):
        repeated_tokens(1, 0, 10)
    with pytest.raises(TypeError):
        repeated_tokens(1, 5.0, 10)


def test_induction_training_batch():
    batch = induction_training_batch(64, 64, 100, torch.Generator().manual_seed(0))
    assert batch.shape == (64, 64) and batch.dtype == torch.long
    assert (batch[:, 0] == 0).all() and batch[:, 1:].min() >= 1 and batch[:, 1:].max() <= 99
    lengths = []
    for row in batch[:, 1:]:
        period = next(p for p in range(1, 64) if torch.equal(row[p:], row[:-p]))
        lengths.append(period)
    assert min(lengths) >= 4 and max(lengths) <= 31
    assert len(set(lengths)) > 5  # comprimentos variados
    same = induction_training_batch(64, 64, 100, torch.Generator().manual_seed(0))
    assert torch.equal(batch, same)
    assert not torch.equal(batch, induction_training_batch(64, 64, 100, torch.Generator().manual_seed(1)))
    with pytest.raises(TypeError):
        induction_training_batch(2, 64, 100, 0)
    with pytest.raises(ValueError, match="n_ctx"):
        induction_training_batch(2, 4, 100, torch.Generator())
