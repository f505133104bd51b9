"""course_lib.train: parada por sucesso termina a barra completa e diz o motivo."""
import io

import torch
from tqdm import tqdm

from course_lib import Config, HookedTransformer
import importlib

train_module = importlib.import_module("course_lib.train")
from course_lib.data import induction_training_batch

CFG = dict(n_layers=1, d_model=16, n_heads=2, d_mlp=None, d_vocab=12, n_ctx=12, normalization=None, seed=0)


def _batch(g: torch.Generator) -> torch.Tensor:
    return induction_training_batch(4, 12, 12, g)


def _capture_bars(monkeypatch):
    bars = []

    def fake(total, enabled, desc):
        bars.append(tqdm(total=total, desc=desc, file=io.StringIO(), leave=True))
        return bars[-1]

    monkeypatch.setattr(train_module, "_progress_bar", fake)
    return bars


def test_stop_on_success_closes_the_bar_complete_and_says_why(monkeypatch):
    bars = _capture_bars(monkeypatch)
    model = HookedTransformer(Config(**CFG))
    history = train_module.train(model, _batch, n_steps=40, eval_fn=lambda m: {"x": 1.0}, eval_every=5,
                                 stop_fn=lambda metrics: metrics["x"] > 0.5, progress=True)
    bar = bars[0]
    assert len(history["loss"]) == 5 and history["stopped_early"]
    # tqdm.notebook pinta de vermelho ("danger") uma barra fechada com n < total
    assert bar.n == bar.total == 5
    assert "passo 5 de 40" in history["stop_reason"] and "critério de parada" in history["stop_reason"]
    assert "critério de parada" in bar.fp.getvalue()


def test_full_run_has_no_early_stop(monkeypatch):
    bars = _capture_bars(monkeypatch)
    model = HookedTransformer(Config(**CFG))
    history = train_module.train(model, _batch, n_steps=6, eval_fn=lambda m: {"x": 0.0}, eval_every=5,
                                 stop_fn=lambda metrics: metrics["x"] > 0.5, progress=True)
    assert len(history["loss"]) == 6 and not history["stopped_early"]
    assert history["stop_reason"] == "fim dos 6 passos"
    assert bars[0].n == bars[0].total == 6
