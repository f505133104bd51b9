"""Julgamento, no processo do corretor: casos ocultos, gabarito e a nota de cada exercício.

Tudo o que vem do processo do aluno é tratado como forjável: antes de qualquer
comparação, `bounded_plain` confere o custo do resultado (nós, profundidade, bytes
e nada de subestrutura compartilhada, que explodiria exponencialmente ao ser
percorrida). O gabarito e as saídas esperadas existem só aqui.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checks import core
from .protocol import Job
from .reports import Row, fmt

MAX_NODES = 200_000        # nós (contêineres + folhas) no resultado de um exercício
MAX_DEPTH = 40             # aninhamento de listas/dicts
MAX_TENSOR_BYTES = 64 * 2**20
SUSPICIOUS_BODY_NODES = 40  # cópia do gabarito com pelo menos isto de nós na função -> suspeito
KERNEL_REFUSAL = re.compile(r"Permission denied|Operation not permitted|PermissionError|\[Errno (1|13)\]")
NAME_ERROR_HINT = ("dica: na correção rodam só as células de exercício e, das suas outras células, as "
                   "definições (def, class, import); uma variável criada fora delas não existe aqui")


class PayloadError(Exception):
    """Resultado do aluno caro ou malformado demais para ser julgado (mensagem pt-BR)."""


def bounded_plain(value: Any) -> Any:
    """Confere o custo de `value` (vindo do aluno) antes de qualquer outro percurso.

    Recusa contêineres compartilhados (o mesmo objeto lista/dict/tupla em dois
    lugares: um pickle de ~1 KB assim vira 2**27 nós), mais de MAX_NODES nós, mais
    de MAX_DEPTH níveis ou mais de MAX_TENSOR_BYTES em tensores. Devolve `value`.
    """
    seen: set[int] = set()
    nodes, tensor_bytes = 0, 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise PayloadError(f"resultado com mais de {MAX_NODES} elementos")
        if depth > MAX_DEPTH:
            raise PayloadError(f"resultado aninhado demais (mais de {MAX_DEPTH} níveis)")
        kind = type(item)
        if kind in (list, tuple, dict):
            if id(item) in seen:
                raise PayloadError("resultado com estrutura compartilhada (o mesmo objeto em dois lugares)")
            seen.add(id(item))
            children = item.values() if kind is dict else item
            if kind is dict and not all(type(k) is str for k in item):
                raise PayloadError("resultado com chaves de dict que não são texto")
            stack.extend((child, depth + 1) for child in children)
        elif kind is torch.Tensor:
            tensor_bytes += item.numel() * item.element_size()
            if tensor_bytes > MAX_TENSOR_BYTES:
                raise PayloadError(f"resultado com mais de {MAX_TENSOR_BYTES // 2**20} MiB em tensores")
        elif kind is str and len(item) > 100_000:
            raise PayloadError("resultado com texto grande demais")
    return value


# ---------------------------------------------------------------------------
# Exercícios (registro), casos ocultos e gabarito (só neste processo)
# ---------------------------------------------------------------------------


class Answers:
    """Casos ocultos/visíveis e saídas esperadas, calculadas uma vez por exercício."""

    def __init__(self, seed: int, log=None):
        self.seed = seed
        self.log = log or (lambda message: None)
        self.exercises: dict[str, core.Exercise] = {}
        self.problems: dict[str, str] = {}
        self.cases: dict[str, dict[str, list[core.Case]]] = {}
        self._expected: dict[tuple[str, str], list[Any]] = {}

    def load(self, exercise_id: str) -> core.Exercise | None:
        if exercise_id in self.exercises:
            return self.exercises[exercise_id]
        if exercise_id in self.problems:
            return None
        try:
            exercise = core.get_exercise(exercise_id)
            visible = exercise.cases()
            # edição do aluno (sem casos ocultos): a autoconferência usa os visíveis
            hidden = visible if exercise.released is not None else exercise.hidden_cases(self.seed)
            cases = {"visible": visible, "hidden": hidden}
        except Exception as exc:  # noqa: BLE001 - problema de configuração do curso
            self.problems[exercise_id] = f"exercício sem verificação utilizável em course_lib/checks ({exc})"
            return None
        self.exercises[exercise_id] = exercise
        self.cases[exercise_id] = cases
        if exercise.released is None and _same_cases(cases["visible"], cases["hidden"]):
            self.log(f"⚠️  {exercise_id}: os casos ocultos são iguais aos visíveis (make_cases não usa o gerador); "
                     "respostas decoradas passariam")
        return exercise

    def expected(self, exercise_id: str, which: str) -> list[Any]:
        key = (exercise_id, which)
        if key not in self._expected:
            exercise = self.exercises[exercise_id]
            self._expected[key] = [exercise.expected(case) for case in self.cases[exercise_id][which]]
        return self._expected[key]


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is torch.Tensor:
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return a == b


def _same_cases(visible: list[core.Case], hidden: list[core.Case]) -> bool:
    return len(visible) == len(hidden) and all(
        _same_value(v.to_dict()["args"], h.to_dict()["args"]) and _same_value(v.to_dict()["kwargs"], h.to_dict()["kwargs"])
        for v, h in zip(visible, hidden)
    )


# ---------------------------------------------------------------------------
# Julgamento de um exercício
# ---------------------------------------------------------------------------


def _sanitize(captured: Any) -> dict:
    """Resultado de capture_call vindo do aluno -> só os campos e tipos esperados."""
    if type(captured) is not dict:
        return {"error": "resultado malformado", "not_implemented": False, "notes": []}
    notes = captured.get("notes")
    notes = [n[:300] for n in notes if type(n) is str][:5] if type(notes) is list else []
    forbidden = captured.get("forbidden")
    forbidden = [f for f in forbidden if type(f) is str][:20] if type(forbidden) is list else []
    modified = captured.get("modified_inputs")
    modified = [m[:80] for m in modified if type(m) is str][:20] if type(modified) is list else []
    base = {"notes": notes, "forbidden": forbidden, "modified_inputs": modified}
    if "output" in captured:
        return {"output": core.to_plain(captured["output"]), **base}
    error = captured.get("error")
    if type(error) is str:
        return {"error": error[:4000], "not_implemented": captured.get("not_implemented") is True, **base}
    return {"error": "resultado malformado", "not_implemented": False, "notes": []}


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


@dataclass
class Verdict:
    status: str
    detail: str                      # diagnóstico completo (sem corte)
    passed: int | None = None        # casos ocultos certos
    total: int | None = None
    errors: list[str] = field(default_factory=list)  # textos de erro vindos do aluno
    forbidden: list[str] = field(default_factory=list)


def judge_cases(answers: Answers, exercise_id: str, data: Any) -> Verdict:
    """Veredito a partir das saídas do aluno nos casos visíveis e ocultos."""
    exercise = answers.exercises[exercise_id]
    cases = answers.cases[exercise_id]
    try:
        bounded_plain(data)
    except PayloadError as exc:
        return Verdict("erro", f"resultado recusado pelo corretor: {exc}")
    if type(data) is not dict:
        return Verdict("erro", "resultado malformado")
    verdicts = {}
    errors, forbidden = [], []
    raised: set[int] = set()  # casos ocultos em que a função levantou exceção (ou a saída foi recusada)
    for which in ("hidden", "visible"):
        got = data.get(which)
        if type(got) is not list or len(got) != len(cases[which]):
            return Verdict("erro", "resultado incompleto (número de casos errado)")
        expected = answers.expected(exercise_id, which)
        results = []
        for index, (case, captured) in enumerate(zip(cases[which], got)):
            clean = _sanitize(captured)
            if "error" in clean:
                errors.append(clean["error"])
                if which == "hidden":
                    raised.add(index)
            forbidden += [f for f in clean.get("forbidden", []) if f in exercise.forbidden and f not in forbidden]
            results.append(core.evaluate(exercise, case, clean, index, expected[index]))
        verdicts[which] = results
    hidden = verdicts["hidden"]
    n_total = len(hidden)
    n_ok = sum(r.passed for r in hidden)
    if n_ok == n_total:
        return Verdict("ok", f"{n_ok}/{n_total} casos ocultos corretos", n_ok, n_total, errors, forbidden)
    if any(r.not_implemented for r in hidden):
        return Verdict("errado", "exercício não resolvido (NotImplementedError)", 0, n_total, errors, forbidden)
    first = next(r for r in hidden if not r.passed)
    text = f"{n_ok}/{n_total} casos ocultos corretos; caso {first.index + 1} ({first.description}): {first.message or ''}"
    if first.mistake:
        text += f"\nprovável erro: {first.mistake}"
    others = [r for r in hidden if not r.passed and r is not first]
    if others:
        text += "\ntambém falharam: " + "; ".join(f"caso {r.index + 1} ({r.description})" for r in others)
    visible = verdicts["visible"]
    if visible and all(r.passed for r in visible):
        text += f"\npassa nos {len(visible)} casos visíveis, mas não nos ocultos (resposta decorada?)"
    status = "erro" if first.index in raised and not first.message.startswith("sua função chamou") else "errado"
    return Verdict(status, text, n_ok, n_total, errors, forbidden)


@dataclass
class Context:
    """O que a preparação (sem rodar nada) descobriu sobre uma entrega."""

    static: dict[str, list[str]]                 # exercício -> motivos da análise estática
    notes: list[str]
    answer_problems: dict[str, str]              # exercício -> motivo de `invalido`
    global_flags: list[str]
    calls: dict[str, list[str]] = field(default_factory=dict)   # exercício -> exercícios cujas funções ele chama
    func_names: dict[str, str] = field(default_factory=dict)
    copies: dict[str, tuple[str, bool]] = field(default_factory=dict)  # exercício -> (de onde, suspeito?)
    review: dict[str, list[str]] = field(default_factory=dict)  # exercício -> motivos para revisar (sem mudar a nota)
    student: str = ""


def _verdict_for(job: Job, answers: Answers, ex_id: str) -> Verdict:
    if job.fatal and ex_id not in job.results and ex_id not in job.eval_errors:
        return Verdict("erro", job.fatal)
    if f"x:{ex_id}" in job.blamed:
        return Verdict(*job.blamed[f"x:{ex_id}"])
    if f"e:{ex_id}" in job.blamed:
        return Verdict(*job.blamed[f"e:{ex_id}"])
    if ex_id in job.eval_errors:
        return Verdict("erro", job.eval_errors[ex_id], errors=[job.eval_errors[ex_id]])
    if ex_id in job.results:
        try:
            return judge_cases(answers, ex_id, job.results[ex_id])
        except Exception as exc:  # noqa: BLE001 - nunca derrubar o lote
            return Verdict("erro", f"falha ao comparar o resultado ({type(exc).__name__}: {exc})")
    return Verdict("erro", "sem resultado (o processo foi interrompido antes deste exercício)")


def judge_job(job: Job, answers: Answers, ctx: Context, seed: int | None = None,
              partial_credit: bool = False) -> list[Row]:
    canonical = job.canonical
    runtime: dict[str, list[str]] = defaultdict(list)
    global_violations: list[str] = []
    for key, what in job.violations:
        prefix, _, name = (key or "").partition(":")
        if prefix in ("x", "e") and name:
            runtime[name].append(what)
        elif prefix == "h":  # definições extras do aluno: valem para todos os exercícios
            for ex in canonical.exercises:
                runtime[ex.id].append(what + " (nas suas definições extras)")
        else:
            global_violations.append(what)
    verdicts: dict[str, Verdict] = {}
    for ex in canonical.exercises:
        if ex.id not in ctx.answer_problems and ex.id not in answers.problems:
            verdicts[ex.id] = _verdict_for(job, answers, ex.id)
    rows = []
    for ex in canonical.exercises:
        notes = list(ctx.notes)
        if ex.id in ctx.answer_problems:
            rows.append(Row(job.rel, canonical.name, ex.id, 0, ex.points, "invalido", ctx.answer_problems[ex.id],
                            auto_status="invalido", notes=notes, student=ctx.student, seed=seed))
            continue
        if ex.id in answers.problems:
            rows.append(Row(job.rel, canonical.name, ex.id, 0, ex.points, "erro", answers.problems[ex.id],
                            auto_status="erro", notes=notes, student=ctx.student, seed=seed))
            continue
        verdict = verdicts[ex.id]
        status, detail = verdict.status, verdict.detail
        cell_error = job.cell_errors.get(ex.id)
        errors = list(verdict.errors) + ([cell_error] if cell_error else [])
        if cell_error and status != "ok":
            detail = f"{detail}\na célula do exercício falhou: {cell_error}"
        if status != "ok" and any("NameError" in e for e in errors):
            detail += "\n" + NAME_ERROR_HINT
        if status != "ok":
            for other in ctx.calls.get(ex.id, []):
                if other in verdicts and verdicts[other].status != "ok":
                    name = ctx.func_names.get(other, other)
                    detail += (f"\natenção: esta resposta chama a sua `{name}` (exercício {other}), que também não "
                               "passou; o erro pode vir de lá: corrija aquele exercício primeiro")
        if job.helper_problem:
            notes.append(job.helper_problem)
        points: float = ex.points if status == "ok" else 0
        if partial_credit and status in ("errado", "erro") and verdict.total and verdict.passed:
            points = round(ex.points * verdict.passed / verdict.total, 2)
        # provas de execução (acesso bloqueado) primeiro; depois o que o núcleo recusou; depois a fonte.
        reasons = [f"tentou {w}" for w in dict.fromkeys(runtime.get(ex.id, []))]
        refused = [first_line(e)[:200] for e in errors if KERNEL_REFUSAL.search(e) and "bloqueado pelo corretor" not in e]
        reasons += [f"o sistema operacional recusou uma operação ({r})" for r in dict.fromkeys(refused)]
        reasons += [f"chamou `{f}`, que o enunciado proíbe" for f in verdict.forbidden
                    if not any(f"`{f}`" in r for r in ctx.static.get(ex.id, []))]
        reasons += ctx.global_flags + ctx.static.get(ex.id, [])
        copy = ctx.copies.get(ex.id)
        if copy and copy[1]:
            reasons.append(f"igual à solução ({copy[0]}) a menos de nomes, comentários e docstrings")
        if global_violations:
            notes.append("acesso bloqueado fora das células do aluno: " + "; ".join(dict.fromkeys(global_violations)))
        if job.canonical_problems:
            notes.append(job.canonical_problems[0])
        auto_status, auto_points = status, points
        if reasons:
            status, points = "suspeito", 0
        review = list(ctx.review.get(ex.id, []))
        if copy and not copy[1]:
            review.append(f"igual à solução ({copy[0]}; função curta: a nota não muda)")
        rows.append(Row(job.rel, canonical.name, ex.id, points, ex.points, status, detail,
                        auto_status=auto_status, auto_points=auto_points, passed=verdict.passed, total=verdict.total,
                        flags=reasons, notes=notes, review=review, student=ctx.student, seed=seed))
    return rows


__all__ = ["Answers", "Context", "PayloadError", "Verdict", "bounded_plain", "fmt", "judge_cases", "judge_job"]
