"""Corretor, seção 2: APIs proibidas pelo enunciado e cópia do gabarito/solução viram `suspeito`.

Entregas montadas a partir dos notebooks de exercícios de verdade (exercises/): a célula
de um exercício recebe uma resposta e as outras ficam em branco. A proibição vem da mesma
declaração `Exercise.forbidden` que a verificação usa ao rodar; o exercício com atalho da
biblioteca é achado pela declaração (não pelo número do notebook, que pode mudar).
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import pytest

from course_lib.checks import all_exercises, get_exercise
from grade_support import ROOT, read_report, run_grader

SOFTMAX_NB = "01_softmax_e_cabeca_lm"


def _notebook_of(exercise_id: str) -> tuple[str, dict]:
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if any((c.get("metadata") or {}).get("exercise") == exercise_id for c in nb["cells"]):
            return path.stem, nb
    raise LookupError(exercise_id)


def _with_answer(exercise_id: str, body: str) -> tuple[str, bytes]:
    """O notebook de exercícios com o corpo da função de `exercise_id` trocado por `body`."""
    stem, nb = _notebook_of(exercise_id)
    for cell in nb["cells"]:
        meta = cell.get("metadata") or {}
        if meta.get("exercise") == exercise_id and "exercise" in meta.get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            lines = source.split("\n")
            (i,) = [k for k, line in enumerate(lines) if "raise NotImplementedError" in line]
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i: i + 1] = [indent + line for line in textwrap.dedent(body).strip("\n").split("\n")]
            cell["source"] = "\n".join(lines)
    return stem, json.dumps(nb, ensure_ascii=False).encode("utf-8")


def _full_cell(exercise_id: str, source: str) -> tuple[str, bytes]:
    stem, nb = _notebook_of(exercise_id)
    for cell in nb["cells"]:
        meta = cell.get("metadata") or {}
        if meta.get("exercise") == exercise_id and "exercise" in meta.get("tags", []):
            cell["source"] = source
    return stem, json.dumps(nb, ensure_ascii=False).encode("utf-8")


class _Rename(ast.NodeTransformer):
    def __init__(self, names):
        self.names = names

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return node


def _renamed_reference(exercise_id: str) -> str:
    """Fonte do gabarito com as variáveis locais renomeadas e um comentário novo."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(get_exercise(exercise_id).reference)))
    fn = tree.body[0]
    local = [a.arg for a in fn.args.args] + [n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    _Rename({name: f"minha_{k}" for k, name in enumerate(dict.fromkeys(local))}).visit(tree)
    return "# resolvi sozinho, juro\n" + ast.unparse(tree) + "\n"


def _solution_without_markers(exercise_id: str) -> str:
    stem, _ = _notebook_of(exercise_id)
    nb = json.loads((ROOT / "solutions" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        meta = cell.get("metadata") or {}
        if meta.get("exercise") == exercise_id and "exercise" in meta.get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            return "\n".join(line for line in source.split("\n") if "SOLUCAO" not in line)
    raise LookupError(exercise_id)


def _library_shortcut() -> tuple[str, str, str]:
    """(exercício, caminho proibido, corpo que chama o atalho) do primeiro atalho da biblioteca declarado."""
    for ex_id, exercise in all_exercises().items():
        for name in exercise.forbidden:
            if name.startswith("course_lib."):
                module, _, attr = name.rpartition(".")
                params = list(inspect.signature(exercise.reference).parameters)
                body = f"from {module} import {attr} as atalho\nreturn atalho({', '.join(params)})"
                return ex_id, name, body
    raise LookupError("nenhum exercício proíbe um atalho da biblioteca")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("proibidas")
    shortcut_id, shortcut_name, shortcut_body = _library_shortcut()
    specs = {
        # honesta, com um comentário que cita a API proibida (comentário não conta)
        "honesta": _with_answer("01.softmax", """
            # sem torch.softmax, como pede o enunciado
            z = (logits - logits.amax(dim=-1, keepdim=True)).exp()
            return z / z.sum(dim=-1, keepdim=True)"""),
        "proibida_torch": _with_answer("01.softmax", "return torch.softmax(logits, dim=-1)"),
        "proibida_metodo": _with_answer("01.softmax", "return logits.softmax(-1)"),
        "atalho_biblioteca": _with_answer(shortcut_id, shortcut_body),
        "copia_gabarito": _full_cell("01.softmax", _renamed_reference("01.softmax")),
        "copia_solucao": _full_cell("01.softmax", _solution_without_markers("01.softmax")),
    }
    submissions = work / "entregas"
    for name, (stem, data) in specs.items():
        path = submissions / name / f"{stem}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    out = work / "relatorio.csv"
    result = run_grader(submissions, out, "--seed", "7")
    rows = read_report(out) if out.exists() else []
    by = {}
    for r in rows:
        by.setdefault(r["submission"].split("/")[0], {})[r["exercise"]] = r
    return {"result": result, "by": by, "shortcut": (shortcut_id, shortcut_name), "work": work}


def test_grader_finished(graded):
    assert graded["result"].returncode == 0, graded["result"].stderr[-3000:]
    assert set(graded["by"]) == {"honesta", "proibida_torch", "proibida_metodo", "atalho_biblioteca",
                                 "copia_gabarito", "copia_solucao"}


def test_honest_answer_mentioning_the_api_in_a_comment_is_ok(graded):
    r = graded["by"]["honesta"]["01.softmax"]
    assert (r["status"], r["points"], r["flags"]) == ("ok", "2", ""), r


@pytest.mark.parametrize("name", ["proibida_torch", "proibida_metodo"])
def test_forbidden_torch_api_is_suspicious_with_reason(graded, name):
    r = graded["by"][name]["01.softmax"]
    assert r["status"] == "suspeito" and r["points"] == "0", r
    assert "`softmax`" in r["flags"] and "proíbe" in r["flags"], r
    assert get_exercise("01.softmax").forbidden["softmax"] in r["flags"]  # o motivo declarado no exercício
    assert r["auto_status"] == "errado"  # a verificação ao rodar também reprova (mesma declaração)


def test_library_shortcut_is_suspicious_with_reason(graded):
    ex_id, name = graded["shortcut"]
    r = graded["by"]["atalho_biblioteca"][ex_id]
    assert r["status"] == "suspeito" and r["points"] == "0", r
    assert f"`{name}`" in r["flags"] and get_exercise(ex_id).forbidden[name] in r["flags"], r


def test_copy_of_reference_or_solution_is_flagged_for_review(graded):
    for name, where in (("copia_gabarito", "gabarito de course_lib/checks"),
                        ("copia_solucao", f"solutions/{SOFTMAX_NB}.ipynb")):
        r = graded["by"][name]["01.softmax"]
        assert r["status"] == "suspeito" and r["points"] == "0", r
        assert r["auto_status"] == "ok"  # a resposta passaria: por isso vai para revisão, não some na nota
        assert "igual à solução" in r["flags"] and where in r["flags"], r
    review = (graded["work"] / "relatorio.revisao.csv").read_text(encoding="utf-8")
    assert "copia_gabarito" in review and "copia_solucao" in review
