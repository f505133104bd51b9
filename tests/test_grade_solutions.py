"""O corretor dá às soluções do curso todos os casos ocultos, em todos os exercícios.

Corrige uma cópia de cada `solutions/NN_*.ipynb`, na caixa de areia de verdade e com as
verificações de verdade. Pega o que só aparece dentro do corretor: uma verificação que
usa algo que a caixa de areia bloqueia (por exemplo, o `sys.setprofile` com que
`Exercise.forbidden` vê as funções proibidas) reprova a resposta certa de todo aluno.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grade_support import ROOT, ROOT_FLAG

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("solucoes")
    for path in SOLUTIONS:
        shutil.copy(path, folder / path.name)
    out = folder.parent / "relatorio.csv"
    result = subprocess.run(
        [sys.executable, "-m", "course_lib.grade", str(folder), "--out", str(out), "--jobs", "2",
         "--seed", "7", "--allow-solutions", *ROOT_FLAG],
        cwd=str(ROOT), capture_output=True, text=True, timeout=900,
    )
    assert out.exists(), result.stderr[-3000:]
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return result, rows


def test_every_exercise_of_every_solution_has_a_row(graded):
    result, rows = graded
    expected = {e["id"] for p in SOLUTIONS
                for e in json.loads(p.read_text(encoding="utf-8"))["metadata"]["course"]["exercises"]}
    assert {r["exercise"] for r in rows} == expected, result.stderr[-3000:]


def test_solutions_pass_every_hidden_case_and_trip_no_guard(graded):
    _, rows = graded
    problems = []
    for r in rows:
        if r["hidden_total"] in ("", "0") or r["hidden_passed"] != r["hidden_total"]:
            problems.append(f"{r['exercise']}: {r['hidden_passed']}/{r['hidden_total']} casos ocultos; {r['detail'][:300]}")
        if "bloqueado" in r["flags"] or "rastreador" in r["flags"] or "bloqueado" in r["detail"]:
            problems.append(f"{r['exercise']}: a caixa de areia bloqueou a solução: {r['flags'][:300]}")
    assert not problems, "\n".join(problems)


def test_no_cell_of_a_solution_is_reported_as_killing_the_process(graded):
    """O fim normal do processo do aluno não é "morreu com SIGKILL" (corrida com o servidor)."""
    _, rows = graded
    killed = [f"{r['exercise']}: {r['detail'][-300:]}" for r in rows if "derrubou o processo" in r["detail"]]
    assert not killed, "\n".join(killed[:5])


def test_self_check_accepts_a_relative_folder(tmp_path):
    """`python -m course_lib.grade --aluno exercises/` (o comando do aluno) com caminho relativo."""
    (tmp_path / "minha_pasta").mkdir()
    shutil.copy(ROOT / "exercises" / "00_boas_vindas.ipynb", tmp_path / "minha_pasta")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "course_lib.grade", "--aluno", "minha_pasta/", *ROOT_FLAG],
                            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "00_boas_vindas" in result.stdout + result.stderr
