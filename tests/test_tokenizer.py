"""Testes do tokenizador de palavras (course_lib/tokenizer.py)."""

import json

import pytest
import torch

from course_lib.tokenizer import Tokenizer

WORDS = ["o", "a", "gato", "gata", "menino", "dorme", "come", "bolo", "é", "café",
         "disse-lhe", "olá", "mundo", ".", ",", "!", "?"]


@pytest.fixture
def tok():
    return Tokenizer(["<bos>"] + WORDS)


def test_basic_attributes(tok):
    assert tok.bos_token == "<bos>"
    assert tok.bos_token_id == 0
    assert tok.vocab[0] == "<bos>"
    assert tok.d_vocab == len(WORDS) + 1
    assert all(tok.token_to_id[w] == i for i, w in enumerate(tok.vocab))


def test_encode_decode_round_trip(tok):
    text = "o gato come o bolo, a gata dorme! olá mundo?"
    ids = tok.encode(text)
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids) == text
    assert tok.encode(tok.decode(ids)) == ids
    assert tok.encode(text, prepend_bos=False) == ids[1:]


def test_normalisation_case_and_nfc(tok):
    decomposed = "e\u0301"  # "e" + acento agudo combinante
    assert decomposed != "é"
    assert tok.encode(decomposed, prepend_bos=False) == tok.encode("é", prepend_bos=False)
    assert tok.encode("CAFE\u0301", prepend_bos=False) == [tok.token_to_id["café"]]
    assert tok.encode("O Gato DORME.") == tok.encode("o gato dorme.")


def test_split_punctuation_and_hyphen(tok):
    assert tok.split("Olá, mundo!") == ["olá", ",", "mundo", "!"]
    assert tok.split("o gato disse-lhe.") == ["o", "gato", "disse-lhe", "."]
    assert tok.split("  o\tgato \n dorme ") == ["o", "gato", "dorme"]


def test_decode_spacing_and_bos(tok):
    ids = [0] + tok.encode("o gato dorme . olá , mundo", prepend_bos=False)
    assert tok.decode(ids) == "o gato dorme. olá, mundo"
    assert tok.decode(torch.tensor(ids)) == tok.decode(ids)
    assert "<bos>" not in tok.decode(ids)


def test_unknown_word_message(tok):
    with pytest.raises(ValueError) as err:
        tok.encode("o gatu dorme")
    msg = str(err.value)
    assert "'gatu'" in msg
    assert "posição 2" in msg  # posição na sequência, contando o BOS
    assert "'gato'" in msg  # sugestão de palavra parecida
    assert str(tok.d_vocab) in msg
    with pytest.raises(ValueError, match="posição 1"):
        tok.encode("o gatu", prepend_bos=False)
    with pytest.raises(ValueError, match="Nenhuma palavra parecida"):
        tok.encode("xyzwq")


def test_to_tokens(tok):
    t = tok.to_tokens("o gato dorme.")
    assert t.dtype == torch.long and t.shape == (1, 5)
    assert t[0].tolist() == tok.encode("o gato dorme.")
    batch = tok.to_tokens(["o gato dorme.", "a gata come!"])
    assert batch.shape == (2, 5)
    assert tok.to_tokens("o gato", prepend_bos=False).shape == (1, 2)
    with pytest.raises(ValueError, match="diferentes"):
        tok.to_tokens(["o gato dorme.", "o gato"])
    with pytest.raises(TypeError):
        tok.to_tokens(42)
    with pytest.raises(TypeError):
        tok.to_tokens(["o gato", 3])
    with pytest.raises(TypeError):
        tok.encode(None)


def test_to_str_tokens_and_single_token(tok):
    assert tok.to_str_tokens("O gato, dorme") == ["<bos>", "o", "gato", ",", "dorme"]
    ids = tok.encode("a gata")
    assert tok.to_str_tokens(ids) == ["<bos>", "a", "gata"]
    assert tok.to_str_tokens(torch.tensor([ids])) == ["<bos>", "a", "gata"]
    assert tok.to_single_token("Gato") == tok.token_to_id["gato"]
    with pytest.raises(ValueError):
        tok.to_single_token("o gato")


def test_decode_errors(tok):
    with pytest.raises(TypeError, match="inteiros"):
        tok.decode(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="fora do vocabulário"):
        tok.decode([0, tok.d_vocab])
    with pytest.raises(ValueError):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.decode([1.5])
    with pytest.raises(ValueError):
        tok.decode(torch.zeros(2, 3, dtype=torch.long))


def test_constructor_errors():
    with pytest.raises(ValueError, match="<bos>"):
        Tokenizer(["gato", "<bos>"])
    with pytest.raises(ValueError, match="repetidas"):
        Tokenizer(["<bos>", "gato", "gato"])
    with pytest.raises(ValueError):
        Tokenizer(["<bos>", "Gato"])  # não normalizado
    with pytest.raises(TypeError):
        Tokenizer("<bos> gato")


def test_save_load(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    raw = path.read_text(encoding="utf-8")
    assert "café" in raw  # ensure_ascii=False: acentos legíveis
    assert json.loads(raw)["vocab"] == tok.vocab
    tok2 = Tokenizer.load(path)
    assert tok2.vocab == tok.vocab
    assert tok2.encode("a gata é café") == tok.encode("a gata é café")
