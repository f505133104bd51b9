"""Uma fonte para cada resposta: a solução de course/exercises/ e o gabarito de course_lib/checks concordam.

O gabarito (`Exercise.reference`) reescreve a solução que a fonte do notebook guarda entre
BEGIN SOLUCAO e END SOLUCAO. O nbval do notebook de soluções confere os casos visíveis, e
tests/test_grade_solutions.py corrige as soluções na caixa de areia com uma semente de casos
ocultos; aqui a função da solução (definida pela fonte, sem rodar o notebook) passa pela
mesma avaliação nos casos ocultos de OUTRA semente. Um gabarito que mudou sem a solução (ou
o contrário) falha aqui com o caso e a mensagem.

Da fonte do notebook rodam só imports, definições (def/class) e atribuições sem chamadas,
na ordem do notebook; células de verificação e "solution_only" ficam de fora.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course_lib.checks import all_exercises, capture_call, evaluate
from grade_support import _load_build_module

ROOT = Path(__file__).resolve().parents[1]
HIDDEN_SEEDS = (1,)  # os visíveis já passam no nbval das soluções; a semente 7 está em test_grade_solutions


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _library_constructor(stmt: ast.stmt, library_names: set[str]) -> bool:
    """`grammar = PtGrammar()`: um objeto da biblioteca criado sem argumentos (barato, sem estado da lição)."""
    value = getattr(stmt, "value", None)
    return (isinstance(stmt, ast.Assign) and isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id in library_names and not value.args and not value.keywords)


def _definitions(cells) -> list[ast.stmt]:
    """Imports, def/class, atribuições sem chamadas e objetos da biblioteca criados sem argumentos."""
    kept, library_names = [], set()
    for cell in cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "check" in tags or "solution_only" in tags:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # mágicas do IPython: a célula não define nada que a solução use
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith("course_lib"):
                library_names |= {alias.asname or alias.name for alias in stmt.names}
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)) or (
                    isinstance(stmt, (ast.Assign, ast.AnnAssign)) and not _has_call(stmt)) or (
                    _library_constructor(stmt, library_names)):
                kept.append(stmt)
    return kept


def _solution_functions() -> dict:
    """id do exercício -> função definida pela célula de solução (a fonte com os blocos de solução)."""
    build = _load_build_module()
    found = {}
    for src in build.find_sources(ROOT / "course", []):
        if src.kind != "exercise":
            continue
        cells, _, exercises = build.read_source(src)
        namespace: dict = {"__name__": f"solucao_{src.name}"}
        for stmt in _definitions(cells):
            try:
                exec(compile(ast.Module(body=[stmt], type_ignores=[]), f"<solução {src.name}>", "exec"), namespace)
            except NameError:  # atribuição que depende do que a lição calculou (modelos, caches): não é da solução
                if not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    raise
        for cell in cells:
            ex_id = cell.metadata.get("exercise")
            if cell.cell_type == "code" and ex_id and "exercise" in cell.metadata.get("tags", []):
                names = [n.name for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)]
                found[ex_id] = [namespace[n] for n in names]
    return found


EXERCISES = all_exercises()
SOLUTIONS = _solution_functions()


def test_every_exercise_has_a_solution_block():
    assert set(SOLUTIONS) == set(EXERCISES)


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_solution_block_passes_every_case_of_the_reference(exercise_id):
    exercise = EXERCISES[exercise_id]
    (fn,) = [f for f in SOLUTIONS[exercise_id] if f.__name__ == exercise.func_name]
    cases = [c for seed in HIDDEN_SEEDS for c in exercise.hidden_cases(seed)]
    problems = []
    for i, case in enumerate(cases):
        result = evaluate(exercise, case, capture_call(fn, case, exercise.func_name, exercise.forbidden), i)
        if not result.passed:
            problems.append(f"{case.description}: {result.message}")
    assert not problems, "a solução de course/exercises e o gabarito discordam:\n" + "\n".join(problems)
