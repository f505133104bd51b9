"""O carregador de GPT-2 do Hugging Face (course_lib/hf.py) contra o próprio Hugging Face.

tests/fixtures/tiny_gpt2/ é um GPT-2 minúsculo (2 camadas, d_model 8, vocabulário 300) salvo pelo
`transformers`, com os logits, a perda e os ids que o HF calcula (make_hf_fixtures.py).
"""
import json
import pathlib

import pytest
import torch

from course_lib import HookedTransformer
from course_lib.hf import GPT2Tokenizer, read_safetensors

TINY = pathlib.Path(__file__).parent / "fixtures" / "tiny_gpt2"
FX = torch.load(TINY / "hf_expected.pt", weights_only=True)
TOL = dict(atol=1e-5, rtol=0)


def test_unprocessed_logits_and_loss_match_hugging_face():
    model = HookedTransformer.from_pretrained_no_processing(str(TINY))
    logits = model(FX["tokens"])
    torch.testing.assert_close(logits, FX["logits"], **TOL)
    torch.testing.assert_close(model(FX["tokens"], return_type="loss"), FX["loss"], **TOL)
    assert model.blocks[0].ln1.w.std() > 0.1  # LNs sorteadas: o teste vê erros de conversão nelas


def test_from_pretrained_processes_weights_like_tl_and_keeps_probabilities():
    model = HookedTransformer.from_pretrained(TINY)
    assert model.cfg.normalization == "LNPre"
    torch.testing.assert_close(model(FX["tokens"]).log_softmax(-1), FX["logits"].log_softmax(-1), **TOL)
    torch.testing.assert_close(model.W_U.mean(-1), torch.zeros(model.cfg.d_model), **TOL)


def test_tokenizer_matches_hugging_face_ids_and_decoding():
    tok = GPT2Tokenizer.from_file(TINY / "tokenizer.json")
    for text, ids, decoded in zip(FX["texts"], FX["ids"], FX["decoded"]):
        assert tok.encode(text, prepend_bos=False) == ids, text
        assert tok.decode(ids) == text  # ida e volta exata (tokens especiais ficam, como no transformers)
        if "<|" not in text:
            assert decoded == text
    model = HookedTransformer.from_pretrained(TINY)
    assert model.to_tokens(FX["texts"][0]).tolist() == FX["tokens"].tolist()  # BOS = <|endoftext|>
    assert model.to_string(model.to_tokens(FX["texts"][1], prepend_bos=False)[0]) == FX["texts"][1]
    assert "".join(model.to_str_tokens(FX["texts"][0], prepend_bos=False)) == FX["texts"][0]


def test_old_vocab_and_merges_files_give_the_same_tokenizer(tmp_path):
    """Repositórios antigos (p. ex. GPT-2 em português) trazem vocab.json + merges.txt em vez de tokenizer.json."""
    data = json.loads((TINY / "tokenizer.json").read_text(encoding="utf-8"))
    (tmp_path / "vocab.json").write_text(json.dumps(data["model"]["vocab"]), encoding="utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tok = GPT2Tokenizer.from_folder(tmp_path)
    for text, ids in zip(FX["texts"][:3], FX["ids"]):
        assert tok.encode(text, prepend_bos=False) == ids
    assert GPT2Tokenizer.from_folder(tmp_path / "nada") is None


def test_course_toolkit_runs_on_the_loaded_model():
    from course_lib import attribution, detectors, lens
    from course_lib.ablation import ablate_heads

    model = HookedTransformer.from_pretrained(TINY)
    tokens = FX["tokens"]
    logits, cache = model.run_with_cache(tokens)
    lens_logits, labels = lens.logit_lens(model, cache)
    assert labels[-1] == "final_post"
    torch.testing.assert_close(lens_logits[-1], logits, atol=1e-4, rtol=0)  # a lente na saída = o modelo
    values, comp = attribution.direct_logit_attribution(model, cache, tokens, pos=-2)
    torch.testing.assert_close(values.sum(), logits[0, -2, tokens[0, -1]], atol=1e-4, rtol=0)
    assert detectors.previous_token_scores(cache).shape == (2, 2)
    repeated = torch.cat([tokens[:, :1], tokens[:, 1:6], tokens[:, 1:6]], dim=1)
    assert detectors.induction_scores(model, repeated, seq_len=5).shape == (2, 2)
    assert not torch.allclose(ablate_heads(model, tokens, [(0, 0)]), logits)
    assert model.OV.shape == (2, 2, 8, 8) and model.all_composition_scores("Q").shape == (2, 2, 2, 2)
    out = model.generate(FX["texts"][0], max_new_tokens=3, do_sample=False, verbose=False)
    assert out.startswith(FX["texts"][0])


def test_test_prompt_prepends_the_space_for_bpe(capsys):
    from course_lib import utils

    model = HookedTransformer.from_pretrained(TINY)
    ranks = utils.test_prompt("O gato", "que", model, print_details=False)
    assert "".join(tok for tok, _ in ranks) == " que"  # no BPE do GPT-2, " que" ≠ "que"
    assert all(0 <= r < model.cfg.d_vocab for _, r in ranks)


@pytest.mark.parametrize("name, repo", [("gpt2", "gpt2"), ("gpt2-small", "gpt2"),
                                        ("pierreguillou/gpt2-small-portuguese", "pierreguillou/gpt2-small-portuguese")])
def test_a_model_name_explains_how_to_download_in_portuguese(name, repo):
    with pytest.raises(FileNotFoundError) as err:
        HookedTransformer.from_pretrained(name)
    msg = str(err.value)
    assert "não baixa nada" in msg and f"hf download {repo} config.json model.safetensors tokenizer.json" in msg
    assert "--local-dir modelos/" in msg and "from_pretrained(" in msg


def test_loader_errors_name_the_argument(tmp_path):
    with pytest.raises(TypeError, match="`path`: esperado o caminho"):
        HookedTransformer.from_pretrained(3)
    with pytest.raises(FileNotFoundError, match="não tem config.json"):
        HookedTransformer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**json.loads((TINY / "config.json").read_text()),
                                                      "activation_function": "swish"}))
    with pytest.raises(ValueError, match="`activation_function` deve ser um de"):
        HookedTransformer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text((TINY / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="não tem model.safetensors"):
        HookedTransformer.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00nada!")
    with pytest.raises(ValueError, match="não é um arquivo safetensors válido"):
        HookedTransformer.from_pretrained(tmp_path)


def test_read_safetensors_parses_a_hand_built_file(tmp_path):
    """Um arquivo montado à mão pela especificação (cabeçalho JSON + bytes little-endian)."""
    a = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    b = torch.tensor([7, -1], dtype=torch.int64)
    data = a.numpy().tobytes() + b.numpy().tobytes()
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "a": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
                         "b": {"dtype": "I64", "shape": [2], "data_offsets": [12, 28]}}).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + data)
    out = read_safetensors(path)
    assert set(out) == {"a", "b"} and torch.equal(out["a"], a) and torch.equal(out["b"], b)
    sd = read_safetensors(TINY / "model.safetensors")
    assert sd["transformer.wte.weight"].shape == (300, 8)
