"""Seção 3 da issue 14 (parte): nada que o aluno escreve muda o relatório; custo limitado."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
import torch

from grade_support import FIXTURE_CHECKS, ROOT_FLAG, add_cell, build_toy, grade_specs


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy")
    build_toy(out)
    return out


def test_formulas_never_start_a_field_and_auto_result_has_its_own_columns(toy, tmp_path):
    forged = "resultado automático: ok (1/1 pts) " * 40
    specs = {
        "+SOMA(1;1)/=HYPERLINK(x).ipynb": {"add": add_cell(f"raise ValueError({forged!r})")},
    }
    graded = grade_specs(toy, tmp_path, specs)
    assert graded["result"].returncode == 0, graded["result"].stderr[-2000:]
    for r in graded["rows"]:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), r
    add = graded["by"]["'+SOMA(1;1)/=HYPERLINK(x).ipynb"]["99.add"]
    assert add["auto_status"] == "erro" and add["auto_points"] == "0" and add["points"] == "0"


def test_shared_structure_payload_is_refused_fast():
    from course_lib.checks import core
    from course_lib.grade.judging import Answers, judge_cases

    os.environ[core.EXTRA_PATH_ENV] = str(FIXTURE_CHECKS)
    answers = Answers(1)
    assert answers.load("99.add") is not None
    shared = [torch.zeros(1)]
    for _ in range(30):
        shared = [shared, shared]  # 2**30 folhas se percorrido como árvore
    buffer = io.BytesIO()
    torch.save({"visible": [{"output": shared}] * 3, "hidden": [{"output": shared}] * 3}, buffer)
    data = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    started = time.monotonic()
    verdict = judge_cases(answers, "99.add", data)
    assert time.monotonic() - started < 5
    assert verdict.status == "erro" and "compartilhada" in verdict.detail


def test_weak_sandbox_is_refused_without_inseguro(toy, tmp_path):
    graded = grade_specs(toy, tmp_path, {"a.ipynb": {}}, "--no-landlock")
    assert graded["result"].returncode == 2 and "--inseguro" in graded["result"].stderr
    graded = grade_specs(toy, tmp_path / "2", {"a.ipynb": {}}, "--no-landlock", "--inseguro")
    assert graded["result"].returncode == 0
    assert "SEM caixa de areia" in graded["result"].stderr
    assert "SEM caixa de areia" in (tmp_path / "2" / "relatorio.json").read_text(encoding="utf-8")


@pytest.mark.skipif(not ROOT_FLAG, reason="só faz sentido rodando como root")
def test_root_is_refused_unless_told(toy, tmp_path):
    import subprocess
    import sys

    from grade_support import ROOT

    result = subprocess.run([sys.executable, "-m", "course_lib.grade", str(tmp_path), "--out", str(tmp_path / "r.csv")],
                            cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "root" in result.stderr and "--permitir-root" in result.stderr


def test_only_the_checkers_own_profiler_may_use_setprofile(toy, tmp_path):
    """A verificação usa sys.setprofile (Exercise.forbidden); o aluno, nem por ela."""
    spy = "def espia(*args):\n    pass\n\n"
    specs = {
        "direto.ipynb": {"add": add_cell("import sys\nsys.setprofile(espia)\nreturn a + b", before=spy)},
        "classe_trocada.ipynb": {"add": add_cell(
            "from course_lib.checks import core\n"
            "core._ForbiddenCalls._profile = lambda self, *args: None\n"
            "core._ForbiddenCalls({'os.path.join': 'x'}).__enter__()\n"
            "return a + b")},
        "subclasse.ipynb": {"add": add_cell(
            "from course_lib.checks import core\n"
            "class Minha(core._ForbiddenCalls):\n    pass\n"
            "Minha({'os.path.join': 'x'}).__enter__()\n"
            "return a + b")},
    }
    graded = grade_specs(toy, tmp_path, specs)
    assert graded["result"].returncode == 0, graded["result"].stderr[-2000:]
    for name in specs:
        add = graded["by"][name]["99.add"]
        assert add["status"] == "suspeito" and add["points"] == "0", (name, add)
        assert "rastreador" in add["flags"], (name, add["flags"])
