"""Monta a edição do aluno do curso (o que os alunos recebem), sem gabarito e sem soluções.

    python3 tools/build_release.py DESTINO

DESTINO (uma pasta nova ou vazia) recebe:

* `notebooks/` (lições), `exercises/` (notebooks de exercícios, com as funções em branco),
  `README.md`, `requirements.txt`, `pyproject.toml` e `tools/curso.py`;
* `course_lib/`, com as verificações `checks/nbNN_*.py` reescritas: cada módulo guarda só
  a comparação (`compare`) dos exercícios que têm uma e lê de `nbNN_*.pt`, ao lado, os casos
  visíveis, as saídas esperadas e as saídas dos erros conhecidos, calculadas AGORA rodando
  o gabarito da edição completa. Nada de `reference`, de `known_mistakes` como código, de
  gerador de casos (nem ocultos), de `solutions/` ou de `course/`.

A célula `check(...)` dá, nas duas edições, exatamente as mesmas mensagens
(tests/test_release.py confere). O corretor em lote (`python -m course_lib.grade`) roda
do repositório completo: os casos ocultos só existem lá.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["notebooks", "exercises", "README.md", "requirements.txt", "pyproject.toml", "tools/curso.py"]
SOLUTION_MARKERS = ("BEGIN SOLUCAO", "END SOLUCAO")


def _fail(message: str) -> None:
    print(f"❌ {message}", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------------------
# Fonte do módulo da edição do aluno: imports + comparações (e o que elas usam)
# ---------------------------------------------------------------------------


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _defined_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def compare_sources(module_source: str) -> tuple[dict[str, str], str]:
    """(id -> expressão `compare=` do Exercise, fonte das definições de que elas dependem)."""
    tree = ast.parse(module_source)
    compares: dict[str, str] = {}
    needed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Exercise":
            kw = {k.arg: k.value for k in node.keywords}
            if not isinstance(kw.get("id"), ast.Constant):
                raise ValueError(f"Exercise sem id literal na linha {node.lineno}")
            if "compare" in kw:
                compares[kw["id"].value] = ast.unparse(kw["compare"])
                needed |= _names_used(kw["compare"])
    definitions: dict[str, list[int]] = {}
    for i, stmt in enumerate(tree.body):
        for name in _defined_names(stmt):
            definitions.setdefault(name, []).append(i)
    imported: dict[str, tuple[int, ast.alias]] = {}
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                imported[(alias.asname or alias.name).split(".")[0]] = (i, alias)
    keep: set[int] = set()
    keep_imports: dict[int, list[ast.alias]] = {}
    todo, seen = list(needed), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in definitions:
            for i in definitions[name]:
                if i not in keep:
                    keep.add(i)
                    todo += _names_used(tree.body[i])
        elif name in imported:
            i, alias = imported[name]
            keep_imports.setdefault(i, []).append(alias)
    lines = []
    for i, stmt in enumerate(tree.body):
        if i in keep_imports:
            clone = type(stmt)(**{f: getattr(stmt, f) for f in stmt._fields})
            clone.names = keep_imports[i]
            lines.append(ast.unparse(clone))
        elif i in keep:
            lines.append(ast.get_source_segment(module_source, stmt, padded=True) or ast.unparse(stmt))
    return compares, "\n\n\n".join(lines)


def release_module_source(name: str, module_source: str) -> str:
    compares, definitions = compare_sources(module_source)
    table = "".join(f"    {ex_id!r}: {expr},\n" for ex_id, expr in sorted(compares.items()))
    return (
        f'"""Verificações de {name[5:] if name.startswith("nb") else name} (edição do aluno).\n\n'
        "Gerado por tools/build_release.py: os casos visíveis, as saídas esperadas e as dos erros\n"
        f'conhecidos estão em {name}.pt (dados); aqui ficam só as comparações. Não edite à mão.\n"""\n\n'
        "from course_lib.checks.core import load_released\n\n"
        + (definitions + "\n\n" if definitions else "")
        + f"COMPARES = {{\n{table}}}\n\nload_released(__name__, COMPARES)\n"
    )


# ---------------------------------------------------------------------------
# Montagem
# ---------------------------------------------------------------------------


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", ".ipynb_checkpoints") or n.endswith(".pyc")}


def build(dest: Path) -> list[str]:
    """Monta a edição do aluno em `dest`; devolve os ids dos exercícios exportados."""
    if dest.exists() and any(dest.iterdir()):
        _fail(f"DESTINO precisa ser uma pasta nova ou vazia; {dest} já tem arquivos")
    if dest.resolve() == ROOT or ROOT in dest.resolve().parents:
        _fail(f"DESTINO precisa ficar fora do repositório ({ROOT}); recebi {dest}")
    sys.path.insert(0, str(ROOT))
    import torch

    from course_lib.checks import core

    dest.mkdir(parents=True, exist_ok=True)
    for rel in COPIED:
        src = ROOT / rel
        if not src.exists():
            _fail(f"falta {rel} no repositório (rode tools/build_course.py antes)")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=_ignore)
        else:
            shutil.copy2(src, target)
    checks_src = ROOT / "course_lib" / "checks"
    shutil.copytree(ROOT / "course_lib", dest / "course_lib",
                    ignore=lambda folder, names: _ignore(folder, names) | (
                        {n for n in names if n.startswith("nb") and n.endswith(".py")}
                        if Path(folder).resolve() == checks_src.resolve() else set()))

    exercises = core.all_exercises()
    by_prefix: dict[str, list] = {}
    for ex_id, exercise in exercises.items():
        by_prefix.setdefault(ex_id[:2], []).append(exercise)
    exported = []
    for path in sorted(checks_src.glob("nb[0-9][0-9]_*.py")):
        name = path.stem
        group = by_prefix.pop(name[2:4], [])
        source = path.read_text(encoding="utf-8")
        compares, _ = compare_sources(source)
        for exercise in group:
            if (exercise.compare is not None) != (exercise.id in compares):
                _fail(f"{exercise.id}: não achei a expressão compare= no Exercise(...) de {path.name}")
        bundle = {"format": core.RELEASE_FORMAT, "exercises": [core.export_visible(ex) for ex in group]}
        torch.save(bundle, dest / "course_lib" / "checks" / f"{name}.pt")
        (dest / "course_lib" / "checks" / f"{name}.py").write_text(release_module_source(name, source), encoding="utf-8")
        exported += [ex.id for ex in group]
    if by_prefix:
        _fail(f"exercícios registrados fora de course_lib/checks/nbNN_*.py: {sorted(by_prefix)}")

    # notebooks e verificações não podem ter blocos de solução (o corretor cita os marcadores, e pode)
    scanned = list(dest.rglob("*.ipynb")) + list((dest / "course_lib" / "checks").glob("*.py"))
    leaks = [str(p.relative_to(dest)) for p in scanned
             if any(m in p.read_text(encoding="utf-8", errors="replace") for m in SOLUTION_MARKERS)]
    if (dest / "exercises").is_dir() and not any((dest / "exercises").glob("*.ipynb")):
        _fail("exercises/ sem notebooks (rode tools/build_course.py antes)")
    if leaks:
        _fail("marcadores de solução na edição do aluno: " + ", ".join(leaks))
    return exported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tools/build_release.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="pasta (nova ou vazia) onde montar a edição do aluno")
    args = parser.parse_args(argv)
    exported = build(args.dest)
    print(f"edição do aluno em {args.dest}: {len(exported)} exercício(s) com casos visíveis como dados")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
