"""Lição 08: o arquivo de curvas da mudança de fase e as medidas que a lição imprime dele."""
import json
import math

import pytest
import torch

from course_lib import load_pretrained
from course_lib.data import repeated_tokens
from course_lib.detectors import induction_scores
from course_lib.induction import phase_change_step, seen_once_twice_mass
from course_lib.pretrained import CHECKPOINT_DIR
from course_lib.recipes import CURVES_PATH, CURVES_RUN, train_live

CURVES = json.loads((CHECKPOINT_DIR / CURVES_PATH).read_text(encoding="utf-8"))
RUNS_2L = [r for r in CURVES["runs"] if r["n_layers"] == 2]
RUNS_1L = [r for r in CURVES["runs"] if r["n_layers"] == 1]


def test_curves_file_is_small_and_has_every_run():
    assert (CHECKPOINT_DIR / CURVES_PATH).stat().st_size < 200_000
    assert CURVES["retrain_command"] == "python -m course_lib.recipes induction_curves"
    assert sorted((r["n_layers"], r["seed"]) for r in CURVES["runs"]) == sorted(
        (n, s) for n in CURVES_RUN["n_layers"] for s in CURVES_RUN["seeds"])
    for run in CURVES["runs"]:
        assert run["step"][-1] == CURVES["n_steps"] and run["step"][1] - run["step"][0] == CURVES["eval_every"]


def test_stored_phase_steps_are_recomputed_from_the_stored_curves():
    for run in CURVES["runs"]:
        assert phase_change_step(run["step"], run["second_copy_loss"]) == run["phase_change_step"]


def test_claims_of_the_lesson_hold_in_the_stored_curves():
    """O que o texto da lição afirma: degrau em ~100–200 passos com 2 camadas, nada de indução com 1."""
    for run in RUNS_2L:
        assert 100 <= run["phase_change_step"] <= 200
        assert run["induction_score"][-1] > 0.9 and run["final"]["correct"] > 0.95
        i = run["step"].index(run["phase_change_step"] // 5 * 5)
        assert run["induction_score"][i - 8] < 0.3 < run["induction_score"][i + 8]  # o escore sobe na mesma janela
    for run in RUNS_1L:
        assert max(run["induction_score"]) < 0.15
        assert min(run["second_copy_loss"]) < math.log(15)  # log n não é teto
        assert run["final"]["seen_once"] > run["final"]["seen_twice"] + 0.05
        assert run["final"]["correct"] < 0.2


def test_retraining_one_seed_reproduces_the_phase_change_window():
    """Re-treinar a semente 0 (em qualquer CPU) põe o degrau na mesma janela do arquivo."""
    stored = next(r for r in RUNS_2L if r["seed"] == 0)
    _, hist = train_live(2, 250, seed=0, eval_every=5)
    steps = [e["step"] for e in hist["evals"]]
    loss = [e["second_copy_loss"] for e in hist["evals"]]
    assert abs(phase_change_step(steps, loss) - stored["phase_change_step"]) <= 30


def test_phase_change_step_finds_the_steepest_drop_not_a_threshold():
    steps = list(range(5, 505, 5))
    t = torch.tensor(steps, dtype=torch.float64)
    loss = (4.0 - 0.002 * t - 3.0 * torch.sigmoid((t - 300) / 10)).tolist()
    assert abs(phase_change_step(steps, loss) - 300) <= 5
    with pytest.raises(ValueError, match="steps"):
        phase_change_step([1, 2], [1.0])


def test_seen_once_twice_mass_on_the_induction_checkpoint():
    model = load_pretrained("induction")
    tokens = repeated_tokens(16, 15, 64, seed=3)
    m = seen_once_twice_mass(model, tokens, 15)
    assert m["correct"] > 0.9 and m["seen_once"] > 0.7 and m["seen_twice"] < 0.1
    assert 1.0 < m["split_once_loss"] < math.log(15)


def test_arena_convention_adds_two_first_copy_queries():
    model = load_pretrained("induction")
    n = 12
    tokens = repeated_tokens(8, n, 64, seed=4)
    _, cache = model.run_with_cache(tokens)
    arena = torch.stack([torch.diagonal(cache["pattern", l], offset=-(n - 1), dim1=-2, dim2=-1).mean((0, -1))
                         for l in range(model.cfg.n_layers)])
    assert torch.allclose(induction_scores(model, cache, n, convention="arena"), arena, atol=1e-6)
    ours = induction_scores(model, cache, n)
    assert (ours[1] - arena[1]).max() > 0.01  # nas cabeças de indução o do ARENA é menor
    with pytest.raises(ValueError, match="convention"):
        induction_scores(model, cache, n, convention="tl")
