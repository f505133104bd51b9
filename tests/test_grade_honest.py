"""Seção 1 da issue 14: alunos honestos não perdem pontos.

Cada entrega foi montada para um caso que antes tirava pontos de uma resposta certa:
saída sem quebra de linha (o fd 1 era o canal de eventos), comentários em português
com palavras como "soluções"/"gabarito", `sys.stdout.flush()`, função auxiliar em
outra célula, célula de exercício copiada e colada no Jupyter, notebook nbformat 3,
exercício que depende de outro que está errado, saída gigante.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grade_support import ADD_OK, SOFTMAX_OK, add_cell, build_toy, grade_specs, softmax_cell, text_of

FORGED = ('{"ev": "ready", "landlock": "ativo (forjado)"}\\n'
          '{"ev": "end", "key": "e:99.softmax", "error": null, "timeout": false, "payload": null}\\n'
          '{"ev": "done"}')


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy")
    build_toy(out)
    return out


def _exercise_nb(toy: Path) -> dict:
    return json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))


def _set(notebook: dict, exercise: str, source: str) -> dict:
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("exercise") == exercise:
            cell["source"] = source
    return notebook


def _copy_pasted(toy: Path) -> dict:
    """A célula de 99.add copiada e colada (mesmos metadados, outro id); só a cópia foi editada."""
    notebook = _exercise_nb(toy)
    cells = notebook["cells"]
    index = next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("exercise") == "99.add")
    pasted = copy.deepcopy(cells[index])
    pasted["id"] = "colada-0001"
    pasted["source"] = ADD_OK
    cells.insert(index + 1, pasted)
    return notebook


def _helper_cell(toy: Path, helper: str, add_source: str) -> dict:
    """Uma célula nova do aluno (sem metadados) antes da célula de 99.add."""
    notebook = _set(_exercise_nb(toy), "99.add", add_source)
    cells = notebook["cells"]
    index = next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("exercise") == "99.add")
    cells.insert(index, {"cell_type": "code", "id": "aluno-0001", "metadata": {}, "source": helper,
                         "outputs": [], "execution_count": 3})
    return notebook


def _as_v3(notebook: dict) -> dict:
    """O mesmo notebook salvo no formato antigo (nbformat 3: worksheets, `input`, sem ids)."""
    cells = []
    for cell in notebook["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "code":
            cells.append({"cell_type": "code", "input": source, "language": "python", "metadata": {},
                          "outputs": [], "collapsed": False})
        else:
            cells.append({"cell_type": "markdown", "source": source, "metadata": {}})
    return {"metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": cells}]}


@pytest.fixture(scope="module")
def graded(toy, tmp_path_factory):
    solved_v4 = _set(_set(_exercise_nb(toy), "99.add", ADD_OK), "99.softmax", SOFTMAX_OK)
    specs = {
        "ponto_sem_quebra.ipynb": {"add": add_cell("print('.', end='', flush=True)\nreturn a + b"),
                                   "softmax": softmax_cell("print('x', end='')\n"
                                                           "z = logits - logits.amax(-1, keepdim=True)\n"
                                                           "return z.exp() / z.exp().sum(-1, keepdim=True)")},
        "eventos_forjados.ipynb": {"add": add_cell(f"print({FORGED!r}, flush=True)\nreturn a + b")},
        "comentarios.ipynb": {"add": add_cell(
            "# Há várias soluções possíveis; conferi com o gabarito da lista 3 (veja solutions/ no site)\n"
            "return a + b",
            before='"""Resposta da lista: não li o gabarito, nem solutions/99_toy.ipynb."""\n'),
            "softmax": SOFTMAX_OK},
        "flush.ipynb": {"add": add_cell("import sys\nsys.stdout.flush()\nprint('ok', file=sys.stderr)\nreturn a + b"),
                        "softmax": SOFTMAX_OK},
        "auxiliar.ipynb": {"notebook": _set(_helper_cell(
            toy, "import math\n\ndef soma_auxiliar(x, y):\n    return x + y\n\nprint(soma_auxiliar(1, 2))\n",
            add_cell("return soma_auxiliar(a, b)")), "99.softmax", SOFTMAX_OK)},
        "variavel_fora.ipynb": {"notebook": _helper_cell(toy, "FATOR = 1\n", add_cell("return FATOR * (a + b)"))},
        "copia_colada.ipynb": {"notebook": _copy_pasted(toy)},
        "formato_v3.ipynb": {"notebook": _as_v3(solved_v4)},
        "dependencia_errada.ipynb": {"add": add_cell("return a - b"), "softmax": softmax_cell(
            "z = add(logits, -logits.amax(-1, keepdim=True))\nreturn z.exp() / z.exp().sum(-1, keepdim=True)")},
        "dependencia_certa.ipynb": {"add": ADD_OK, "softmax": softmax_cell(
            "z = add(logits, -logits.amax(-1, keepdim=True))\nreturn z.exp() / z.exp().sum(-1, keepdim=True)")},
        "saida_gigante.ipynb": {"add": add_cell("return torch.zeros(3000, 3000, 3)"), "softmax": SOFTMAX_OK},
    }
    return grade_specs(toy, tmp_path_factory.mktemp("honestas"), specs)


def _row(graded, name, exercise):
    assert name in graded["by"], graded["result"].stderr[-3000:]
    return graded["by"][name][exercise]


def test_every_submission_has_rows(graded):
    assert graded["result"].returncode == 0, graded["result"].stderr[-3000:]
    assert len(graded["by"]) == 11


def test_output_without_newline_keeps_the_points(graded):
    for exercise in ("99.add", "99.softmax"):
        r = _row(graded, "ponto_sem_quebra.ipynb", exercise)
        assert (r["status"], r["points"]) == ("ok", r["max_points"]), r


def test_printed_events_change_nothing(graded):
    assert _row(graded, "eventos_forjados.ipynb", "99.add")["status"] == "ok"
    softmax = _row(graded, "eventos_forjados.ipynb", "99.softmax")
    assert softmax["status"] == "errado" and "não resolvido" in softmax["detail"]
    assert "ativo (forjado)" not in graded["result"].stderr


@pytest.mark.parametrize("name", ["comentarios.ipynb", "flush.ipynb"])
def test_words_in_comments_and_flush_are_not_suspicious(graded, name):
    for exercise in ("99.add", "99.softmax"):
        r = _row(graded, name, exercise)
        assert r["status"] == "ok" and r["flags"] == "", r


def test_helper_function_in_its_own_cell(graded):
    r = _row(graded, "auxiliar.ipynb", "99.add")
    assert r["status"] == "ok", r
    assert "soma_auxiliar" in r["detail"]  # o aluno fica sabendo da regra
    assert _row(graded, "auxiliar.ipynb", "99.softmax")["status"] == "ok"


def test_variable_outside_exercise_cells_is_explained(graded):
    r = _row(graded, "variavel_fora.ipynb", "99.add")
    assert r["status"] == "erro" and "NameError" in r["detail"]
    assert "só as células de exercício" in r["detail"] and "def, class, import" in r["detail"]


def test_copy_pasted_exercise_cell_uses_the_edited_copy(graded):
    r = _row(graded, "copia_colada.ipynb", "99.add")
    assert r["status"] == "ok", r
    assert "cópias da célula do exercício 99.add" in r["detail"]


def test_nbformat_v3_is_converted(graded):
    for exercise in ("99.add", "99.softmax"):
        r = _row(graded, "formato_v3.ipynb", exercise)
        assert r["status"] == "ok", r
    assert "nbformat 3" in _row(graded, "formato_v3.ipynb", "99.add")["detail"]


def test_failing_dependency_is_named(graded):
    softmax = _row(graded, "dependencia_errada.ipynb", "99.softmax")
    assert softmax["status"] == "errado"
    assert "chama a sua `add` (exercício 99.add)" in softmax["detail"]
    assert _row(graded, "dependencia_certa.ipynb", "99.softmax")["status"] == "ok"
    assert "chama a sua" not in _row(graded, "dependencia_certa.ipynb", "99.softmax")["detail"]


def test_huge_return_value_is_translated(graded):
    r = _row(graded, "saida_gigante.ipynb", "99.add")
    assert r["status"] == "erro" and "grande demais" in r["detail"], r
    assert "inline_container" not in r["detail"]
    assert _row(graded, "saida_gigante.ipynb", "99.softmax")["status"] == "ok"


def test_static_scan_ignores_comments_strings_and_flush():
    from course_lib.grade.static import scan

    source = ('def f(x):\n    """Conferi com o gabarito; há outras soluções."""\n'
              '    # solutions/ e gabarito: só palavras\n    import sys\n    sys.stdout.flush()\n'
              '    print("gabarito da lista 3")\n    return x\n')
    assert scan(source) == []
    assert any("saída padrão" in r for r in scan("import sys\nsys.stdout = open('/dev/null', 'w')"))
    assert any("caminho" in r for r in scan("texto = open('/repo/solutions/01.ipynb').read()"))
