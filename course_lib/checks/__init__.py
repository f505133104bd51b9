"""Verificações dos exercícios do curso.

Uso no notebook de exercícios (célula com a tag "check"):

    from course_lib.checks import check
    check("01.softmax", softmax)

Cada notebook NN tem um módulo `course_lib/checks/nbNN_<nome>.py` que registra
seus exercícios com `register(Exercise(...))`; ele é importado sob demanda pelo
prefixo do id ("01." -> `course_lib.checks.nb01_*`). Detalhes em `core.py`.
"""

from course_lib.checks.core import (
    Case,
    CaseResult,
    CheckFailed,
    CheckReport,
    Exercise,
    ModelRef,
    all_exercises,
    capture_call,
    check,
    compare_tensors,
    compare_values,
    evaluate,
    get_exercise,
    materialize,
    register,
    register_model_resolver,
    resolve_model,
    run_checks,
    to_plain,
    unregister,
    when_solved,
)

__all__ = [
    "Case",
    "CaseResult",
    "CheckFailed",
    "CheckReport",
    "Exercise",
    "ModelRef",
    "all_exercises",
    "capture_call",
    "check",
    "compare_tensors",
    "compare_values",
    "evaluate",
    "get_exercise",
    "materialize",
    "register",
    "register_model_resolver",
    "resolve_model",
    "run_checks",
    "to_plain",
    "unregister",
    "when_solved",
]
