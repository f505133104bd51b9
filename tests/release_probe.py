"""Roda `run_checks` de cada exercício com respostas certas e erradas e imprime o resultado em JSON.

Usado por tests/test_release.py nas DUAS edições: com PYTHONPATH no repositório completo e
com PYTHONPATH na edição do aluno (tools/build_release.py). As respostas vêm de fora do
`course_lib` importado: as certas de tests/alternatives/, as erradas dos `known_mistakes`
declarados nos módulos de verificação do repositório completo (carregados pelo arquivo,
sem registrar nada), mais uma resposta que devolve None.

    python tests/release_probe.py REPOSITORIO_COMPLETO [ID ...]
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import sys
from pathlib import Path


def _full_mistakes(repo: Path) -> dict:
    """id -> known_mistakes, lidos dos módulos do repositório completo sem tocar no registro."""
    from course_lib.checks import core

    saved = dict(core._REGISTRY)
    found = {}
    try:
        for path in sorted((repo / "course_lib" / "checks").glob("nb[0-9][0-9]_*.py")):
            core._REGISTRY.clear()
            spec = importlib.util.spec_from_file_location(f"_completo_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            found.update({ex_id: ex.known_mistakes for ex_id, ex in core._REGISTRY.items()})
    finally:
        core._REGISTRY.clear()
        core._REGISTRY.update(saved)
    return found


def main() -> None:
    repo = Path(sys.argv[1]).resolve()
    wanted = sys.argv[2:]
    import torch

    from course_lib.checks import all_exercises, run_checks

    torch.set_num_threads(1)
    exercises = all_exercises()
    origin = {ex_id: ex.released is not None for ex_id, ex in exercises.items()}
    mistakes = _full_mistakes(repo)
    sys.path.insert(0, str(repo / "tests"))
    alternatives = {}
    for info in pkgutil.iter_modules([str(repo / "tests" / "alternatives")]):
        alternatives.update(getattr(importlib.import_module(f"alternatives.{info.name}"), "ALTERNATIVES", {}))
    out = {"released": origin, "results": {}}
    for ex_id in wanted or sorted(exercises):
        exercise = exercises[ex_id]
        answers = {"certa": alternatives[ex_id][0], "None": lambda *a, **k: None}
        for name, fn in mistakes.get(ex_id, [])[:2]:
            answers[f"erro: {name}"] = fn
        results = {}
        for kind, fn in answers.items():
            report = run_checks(exercise, fn)
            results[kind] = {"passed": report.passed, "n_passed": report.n_passed, "text": report.text}
        out["results"][ex_id] = results
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
