"""Paridade numérica com o TransformerLens 3.9.0 (fixtures gerados por tests/fixtures/make_tl_fixtures.py)."""
import pathlib

import pytest
import torch

from course_lib import Config, HookedTransformer

FIXTURES = sorted(pathlib.Path(__file__).parent.joinpath("fixtures").glob("tl_*.pt"))


def load_fixture(path):
    fx = torch.load(path, weights_only=True)
    c = fx["config"]
    cfg = Config(n_layers=c["n_layers"], d_model=c["d_model"], n_heads=c["n_heads"], d_head=c["d_head"],
                 d_mlp=c["d_mlp"], d_vocab=c["d_vocab"], n_ctx=c["n_ctx"], act_fn=c["act_fn"] or "gelu",
                 normalization=c["normalization_type"], use_attn_result=True)
    model = HookedTransformer(cfg)
    model.load_state_dict(fx["state_dict"])
    return fx, model


def test_four_presets_present():
    assert {p.stem for p in FIXTURES} == {"tl_attn_only_ln", "tl_attn_only_noln", "tl_mlp_ln", "tl_mlp_noln"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_logits_and_every_activation_match(path):
    fx, model = load_fixture(path)
    # os vieses sorteados chegaram mesmo ao nosso modelo (senão o teste seria fraco)
    assert model.blocks[0].attn.b_Q.abs().sum() > 0
    logits, cache = model.run_with_cache(fx["tokens"])
    torch.testing.assert_close(logits, fx["logits"], atol=1e-5, rtol=0)
    assert set(cache.keys()) == set(fx["cache"].keys())
    for name, expected in fx["cache"].items():
        torch.testing.assert_close(cache[name], expected, atol=1e-5, rtol=0, msg=lambda m: f"{name}: {m}")
    loss = model(fx["tokens"], return_type="loss", loss_per_token=True)
    torch.testing.assert_close(loss, fx["loss_per_token"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", FIXTURES[:1], ids=lambda p: p.stem)
def test_hook_result_off_gives_same_logits(path):
    fx, model = load_fixture(path)
    model.set_use_attn_result(False)
    logits, cache = model.run_with_cache(fx["tokens"])
    torch.testing.assert_close(logits, fx["logits"], atol=1e-5, rtol=0)
    assert "blocks.0.attn.hook_result" not in cache
