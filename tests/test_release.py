"""Edição do aluno (`python3 tools/build_release.py DESTINO`): sem gabarito, mesmas mensagens.

A edição é montada uma vez numa pasta temporária. Para cada exercício, a mesma resposta
certa (tests/alternatives/) e as mesmas erradas (os `known_mistakes` do repositório
completo e uma que devolve None) passam pelo `run_checks` nas duas edições, em
subprocessos (tests/release_probe.py), e o resultado tem de ser idêntico: aprovação,
casos certos e o texto inteiro do retorno.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib.checks import all_exercises

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "release_probe.py"


def _course_exercises() -> dict:
    """Os exercícios do curso (sem os de teste, como os 99.* que outros testes registram)."""
    ids = {e["id"] for p in (ROOT / "exercises").glob("*.ipynb")
           for e in json.loads(p.read_text(encoding="utf-8"))["metadata"]["course"]["exercises"]}
    return {k: v for k, v in all_exercises().items() if k in ids}


def _env(pythonpath: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "COURSE_LIB_CHECKS_PATH"}
    env["PYTHONPATH"] = str(pythonpath)
    return env


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("edicao") / "aluno"
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_release.py"), str(dest)],
                            cwd=str(tmp_path_factory.getbasetemp()), env=_env(ROOT),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return dest


def test_release_has_lessons_exercises_and_no_answer_key(release):
    for rel in ("README.md", "requirements.txt", "tools/curso.py", "course_lib/__init__.py"):
        assert (release / rel).is_file(), rel
    assert sorted(p.name for p in (release / "exercises").glob("*.ipynb")) == \
        sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert sorted(p.name for p in (release / "notebooks").glob("*.ipynb")) == \
        sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for absent in ("solutions", "course", "tests", ".git"):
        assert not (release / absent).exists(), absent
    for notebook in (release / "exercises").glob("*.ipynb"):
        text = notebook.read_text(encoding="utf-8")
        assert "BEGIN SOLUCAO" not in text
        assert json.loads(text)["metadata"]["course"]["kind"] == "exercise", notebook.name


def test_release_check_modules_carry_no_reference_or_mistake_code(release):
    exercises = _course_exercises()
    checks = release / "course_lib" / "checks"
    modules = sorted(checks.glob("nb[0-9][0-9]_*.py"))
    assert [p.stem for p in modules] == [p.stem for p in sorted((ROOT / "course_lib" / "checks").glob("nb[0-9][0-9]_*.py"))]
    for path in modules:
        defined = {n.name for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        prefix = path.stem[2:4]
        for ex_id, exercise in exercises.items():
            if ex_id[:2] != prefix:
                continue
            assert exercise.reference.__name__ not in defined, (path.name, ex_id)
            for _, wrong in exercise.known_mistakes:
                assert wrong.__name__ == "<lambda>" or wrong.__name__ not in defined, (path.name, ex_id, wrong.__name__)
        bundle = torch.load(path.with_suffix(".pt"), weights_only=True)  # só dados simples
        assert {d["id"] for d in bundle["exercises"]} == {i for i in exercises if i[:2] == prefix}


def test_release_exercises_have_no_reference_nor_hidden_cases(release):
    code = ("import inspect\nfrom course_lib.checks import all_exercises\n"
            "exs = all_exercises()\n"
            "assert all(e.reference is None and e.make_cases is None and e.known_mistakes == [] for e in exs.values())\n"
            "try:\n    exs['01.softmax'].hidden_cases(0)\nexcept LookupError as exc:\n    print('sem ocultos:', exc)\n"
            "print(len(exs))")
    result = subprocess.run([sys.executable, "-c", code], cwd=str(release.parent), env=_env(release),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sem ocultos: 01.softmax: a edição do aluno não tem casos ocultos" in result.stdout
    assert result.stdout.split()[-1] == str(len(_course_exercises()))


def test_checks_give_identical_results_in_both_editions(release, tmp_path):
    procs = {}
    for edition, path in (("completa", ROOT), ("aluno", release)):
        out = open(tmp_path / f"{edition}.json", "w", encoding="utf-8")
        procs[edition] = (subprocess.Popen([sys.executable, str(PROBE), str(ROOT)], cwd=str(tmp_path),
                                           env=_env(path), stdout=out, stderr=subprocess.PIPE, text=True), out)
    data = {}
    for edition, (proc, out) in procs.items():
        _, err = proc.communicate(timeout=1800)
        out.close()
        assert proc.returncode == 0, f"{edition}: {err[-3000:]}"
        data[edition] = json.loads((tmp_path / f"{edition}.json").read_text(encoding="utf-8"))
    full, student = data["completa"], data["aluno"]
    assert not any(full["released"].values()) and all(student["released"].values())
    assert set(full["results"]) == set(_course_exercises())
    named = 0
    for ex_id, results in full["results"].items():
        assert results["certa"]["passed"], (ex_id, results["certa"]["text"])
        assert not results["None"]["passed"], ex_id
        for kind, result in results.items():
            if kind.startswith("erro: "):
                assert not result["passed"], (ex_id, kind)
                named += "Parece um erro comum" in result["text"]
        assert student["results"][ex_id] == results, ex_id
    assert named >= len(full["results"]) // 2  # os erros conhecidos são reconhecidos pelo nome nas duas


def test_release_test_command_explains_that_tests_are_not_included(release):
    """O README copiado manda rodar `tools/curso.py testes`: na edição do aluno isso explica
    que a suíte não vem nela (e como conferir o próprio notebook), sem criar o .venv."""
    done = subprocess.run([sys.executable, str(release / "tools" / "curso.py"), "testes"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "edição do aluno" in done.stderr and "--nbval-lax" in done.stderr, done.stderr
    assert not (release / ".venv").exists()
