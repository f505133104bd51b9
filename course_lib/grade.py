"""Corretor em lote dos notebooks de exercícios do curso.

    python -m course_lib.grade PASTA_DAS_ENTREGAS --out RELATORIO.csv [--jobs N] [--timeout SEGUNDOS]

Lê todos os ``.ipynb`` da pasta (qualquer estrutura de subpastas, qualquer nome de
arquivo), descobre qual notebook de exercícios cada um é (metadados ``course`` do
build ou, se sumiram, as células), roda SÓ as células de exercício do aluno dentro
do notebook canônico, num processo isolado, com casos ocultos, e escreve um CSV
com uma linha por entrega × exercício:

    submission,notebook,exercise,points,max_points,status,detail

``status``: ``ok`` | ``errado`` | ``erro`` | ``tempo_esgotado`` | ``invalido`` | ``suspeito``.
Nota por exercício: tudo ou nada (todos os casos ocultos certos = pontos cheios).
Detalhes, garantias e limites: ``docs/instrutores.md``.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import sys
import sysconfig
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from course_lib.checks import core
from course_lib.grading.notebooks import (
    COURSE_LIB_DIR,
    REPO_ROOT,
    CanonicalError,
    CanonicalNotebook,
    extract_answers,
    guess_from_filename,
    identify,
    load_canonicals,
    read_submission,
)
from course_lib.grading.runner import PRELOAD, ForkServer, Job, Limits, Sandbox, run_jobs
from course_lib.grading.static import scan

COLUMNS = ("submission", "notebook", "exercise", "points", "max_points", "status", "detail")
STATUSES = ("ok", "errado", "erro", "tempo_esgotado", "invalido", "suspeito")
DETAIL_MAX = 400


@dataclass
class Row:
    submission: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    status: str
    detail: str

    def as_csv(self) -> list[str]:
        return [self.submission, self.notebook, self.exercise, _fmt(self.points), _fmt(self.max_points),
                self.status, _clean(self.detail)]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _clean(text: str) -> str:
    text = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Exercícios (registro), casos ocultos e gabarito (só neste processo)
# ---------------------------------------------------------------------------


class Answers:
    """Casos ocultos/visíveis e saídas esperadas, calculadas uma vez por exercício."""

    def __init__(self, seed: int):
        self.seed = seed
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
            cases = {"visible": exercise.cases(), "hidden": exercise.hidden_cases(self.seed)}
        except Exception as exc:  # noqa: BLE001 - problema de configuração do curso
            self.problems[exercise_id] = f"exercício sem verificação utilizável em course_lib/checks ({exc})"
            return None
        self.exercises[exercise_id] = exercise
        self.cases[exercise_id] = cases
        if _same_cases(cases["visible"], cases["hidden"]):
            _log(f"⚠️  {exercise_id}: os casos ocultos são iguais aos visíveis (make_cases não usa o gerador); "
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
# Julgamento (no processo do corretor, sobre dados simples)
# ---------------------------------------------------------------------------


def _sanitize(captured: Any) -> dict:
    """Resultado de capture_call vindo do aluno -> só os campos e tipos esperados."""
    if type(captured) is not dict:
        return {"error": "resultado malformado", "not_implemented": False, "notes": []}
    notes = captured.get("notes")
    notes = [n[:300] for n in notes if type(n) is str][:5] if type(notes) is list else []
    if "output" in captured:
        return {"output": core.to_plain(captured["output"]), "notes": notes}
    error = captured.get("error")
    if type(error) is str:
        return {"error": error[:2000], "not_implemented": captured.get("not_implemented") is True, "notes": notes}
    return {"error": "resultado malformado", "not_implemented": False, "notes": []}


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _judge_cases(answers: Answers, exercise_id: str, data: Any) -> tuple[str, str]:
    """(status, detalhe) a partir das saídas do aluno nos casos ocultos."""
    exercise = answers.exercises[exercise_id]
    cases = answers.cases[exercise_id]
    if type(data) is not dict:
        return "erro", "resultado malformado"
    verdicts = {}
    for which in ("hidden", "visible"):
        got = data.get(which)
        if type(got) is not list or len(got) != len(cases[which]):
            return "erro", "resultado incompleto (número de casos errado)"
        expected = answers.expected(exercise_id, which)
        verdicts[which] = [
            core.evaluate(exercise, case, _sanitize(captured), index, expected[index])
            for index, (case, captured) in enumerate(zip(cases[which], got))
        ]
    hidden = verdicts["hidden"]
    n_total = len(hidden)
    n_ok = sum(r.passed for r in hidden)
    if n_ok == n_total:
        return "ok", f"{n_ok}/{n_total} casos ocultos corretos"
    if any(r.not_implemented for r in hidden):
        return "errado", "exercício não resolvido (NotImplementedError)"
    first = next(r for r in hidden if not r.passed)
    text = f"{n_ok}/{n_total} casos ocultos corretos; caso {first.index + 1} ({first.description}): {_first_line(first.message)}"
    if first.mistake:
        text += f"; provável erro: {first.mistake}"
    visible = verdicts["visible"]
    if visible and all(r.passed for r in visible):
        text += f"; passa nos {len(visible)} casos visíveis, mas não nos ocultos (resposta decorada?)"
    crashed = [r for r in hidden if not r.passed and r.message and r.message.startswith("sua função levantou")]
    return ("erro" if crashed and first in crashed else "errado"), text


def judge_job(job: Job, answers: Answers, static: dict[str, list[str]], base_notes: list[str],
              answer_problems: dict[str, str], global_flags: list[str]) -> list[Row]:
    canonical = job.canonical
    runtime: dict[str, list[str]] = defaultdict(list)
    global_violations: list[str] = []
    for key, what in job.violations:
        prefix, _, name = (key or "").partition(":")
        if prefix in ("x", "e") and name:
            runtime[name].append(what)
        else:
            global_violations.append(what)
    rows = []
    for ex in canonical.exercises:
        notes = list(base_notes)
        if ex.id in answer_problems:
            rows.append(Row(job.rel, canonical.name, ex.id, 0, ex.points, "invalido", "; ".join([answer_problems[ex.id]] + notes)))
            continue
        if ex.id in answers.problems:
            rows.append(Row(job.rel, canonical.name, ex.id, 0, ex.points, "erro", answers.problems[ex.id]))
            continue
        cell_error = job.cell_errors.get(ex.id)
        if job.fatal and ex.id not in job.results and ex.id not in job.eval_errors:
            status, detail = "erro", job.fatal
        elif f"x:{ex.id}" in job.blamed:
            status, detail = job.blamed[f"x:{ex.id}"]
        elif f"e:{ex.id}" in job.blamed:
            status, detail = job.blamed[f"e:{ex.id}"]
        elif ex.id in job.eval_errors:
            status, detail = "erro", job.eval_errors[ex.id]
        elif ex.id in job.results:
            try:
                status, detail = _judge_cases(answers, ex.id, job.results[ex.id])
            except Exception as exc:  # noqa: BLE001 - nunca derrubar o lote
                status, detail = "erro", f"falha ao comparar o resultado ({type(exc).__name__}: {exc})"
        else:
            status, detail = "erro", "sem resultado (o processo foi interrompido antes deste exercício)"
        if cell_error and status != "ok":
            detail = f"{detail}; a célula do exercício falhou: {_first_line(cell_error)}"
        points = ex.points if status == "ok" else 0
        # provas de execução (acesso bloqueado) primeiro; depois os sinais na fonte.
        # Bloqueios fora das células/funções do aluno (células do notebook original)
        # não se atribuem a um exercício: viram observação (o acesso foi negado do mesmo jeito).
        reasons = [f"tentou {w}" for w in dict.fromkeys(runtime.get(ex.id, []))]
        reasons += global_flags + static.get(ex.id, [])
        if global_violations:
            notes.append("acesso bloqueado fora das células do aluno: " + "; ".join(dict.fromkeys(global_violations)))
        if reasons:
            automatic = f"resultado automático: {status} ({_fmt(points)}/{_fmt(ex.points)} pts; {_first_line(detail)})"
            status, points, detail = "suspeito", 0, "; ".join(reasons[:4]) + ("; ..." if len(reasons) > 4 else "") + f"; {automatic}"
        if job.canonical_problems:
            notes.append(job.canonical_problems[0])
        if notes:
            detail += " [obs.: " + "; ".join(notes) + "]"
        rows.append(Row(job.rel, canonical.name, ex.id, points, ex.points, status, detail))
    return rows


# ---------------------------------------------------------------------------
# Linha de comando
# ---------------------------------------------------------------------------


def _find_submissions(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*.ipynb"):
        if ".ipynb_checkpoints" in path.relative_to(root).parts:
            continue
        if path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("use --shard K/N (ex.: --shard 1/3)") from None
    if not (1 <= k <= n):
        raise argparse.ArgumentTypeError("em --shard K/N, 1 <= K <= N")
    return k, n


def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def make_sandbox(deny_extra: list[Path]) -> Sandbox:
    """O que o processo do aluno pode ler: bibliotecas, course_lib (sem os gabaritos), sistema."""
    allow: list[str] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        allow.append(prefix)
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            allow.append(paths[key])
    site_dirs = []
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        resolved = Path(entry).resolve()
        if _within(resolved, REPO_ROOT) or resolved == Path.cwd().resolve():
            continue
        if "site-packages" in entry or "dist-packages" in entry:
            site_dirs.append(str(resolved))
    allow += site_dirs
    allow += ["/usr", "/lib", "/lib64", "/lib32", "/etc", "/sys", "/dev/null", "/dev/urandom", "/dev/random", "/dev/zero"]
    checks_dir = COURSE_LIB_DIR / "checks"
    allow.append(str(COURSE_LIB_DIR))
    allow += [str(checks_dir / "__init__.py"), str(checks_dir / "core.py")]
    pycache = checks_dir / "__pycache__"
    if pycache.is_dir():
        allow += [str(p) for p in pycache.iterdir() if p.name.split(".", 1)[0] in ("__init__", "core")]
    deny = [str(REPO_ROOT), str(checks_dir)] + [str(p) for p in deny_extra]
    deny += [d for d in os.environ.get(core.EXTRA_PATH_ENV, "").split(os.pathsep) if d]
    sandbox = Sandbox(str(COURSE_LIB_DIR), sorted(set(allow)), sorted(set(deny)), site_dirs)
    # Landlock: as mesmas pastas, mas sem "exceto": course_lib entra item por item
    # (sem checks/, só o núcleo), e pastas permitidas que contêm algo negado são
    # recortadas em volta do que é negado.
    roots = [p for p in sandbox.allow_read if not _within(Path(p), COURSE_LIB_DIR)]
    read = _carve(roots, [os.path.realpath(d) for d in sandbox.deny])
    read += [str(p) for p in sorted(COURSE_LIB_DIR.iterdir()) if p.name != "checks"]
    read += [p for p in sandbox.allow_read if _within(Path(p), checks_dir)]
    sandbox.landlock_read = read
    sandbox.landlock_list = [str(COURSE_LIB_DIR)]
    return sandbox


def _carve(roots: list[str], excluded: list[str]) -> list[str]:
    """Hierarquias equivalentes a `roots` sem `excluded` (a regra mais específica vence)."""

    def inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)

    out: list[str] = []

    def visit(root: str, depth: int) -> None:
        if root in excluded:
            return
        blockers = [d for d in excluded if d != root and inside(d, root)]
        if not blockers:
            out.append(root)
            return
        if depth > 12:
            return
        try:
            names = sorted(os.listdir(root))
        except OSError:
            return
        for name in names:
            child = os.path.join(root, name)
            if child in blockers:
                continue
            if any(inside(d, child) for d in blockers):
                if os.path.isdir(child) and not os.path.islink(child):
                    visit(child, depth + 1)
                continue
            out.append(child)

    for root in roots:
        visit(os.path.realpath(root), 0)
    return out


def _sandbox_for(work_root: Path, deny_extra: list[Path], use_landlock: bool = True) -> Sandbox:
    sandbox = make_sandbox(deny_extra)
    mpl_dir = work_root / "matplotlib"
    mpl_dir.mkdir()
    sandbox.mpl_dir = str(mpl_dir)
    sandbox.allow_read.append(str(mpl_dir))
    if sandbox.landlock_read is not None:
        sandbox.landlock_read.append(str(mpl_dir))
    if not use_landlock:
        sandbox.landlock_read = None
    return sandbox


def write_report(rows: list[Row], out: Path) -> None:
    """CSV (UTF-8) escrito de forma atômica: arquivo temporário + os.replace."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=str(out.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow(row.as_csv())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def summary_text(rows: list[Row]) -> str:
    """Resumo por exercício (pt-BR): entregas, quantos acertaram, média de pontos."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.notebook, row.exercise)].append(row)
    header = f"{'exercício':<28} {'entregas':>8} {'ok':>4} {'errado':>6} {'erro':>4} {'tempo':>5} {'inválido':>8} {'suspeito':>8} {'média de pontos':>16}"
    lines = ["", "Resumo por exercício", header, "-" * len(header)]
    for (notebook, exercise), group in sorted(groups.items()):
        counts = Counter(r.status for r in group)
        mean = sum(r.points for r in group) / len(group)
        label = exercise or f"({notebook or 'não identificado'})"
        lines.append(
            f"{label:<28} {len(group):>8} {counts['ok']:>4} {counts['errado']:>6} {counts['erro']:>4} "
            f"{counts['tempo_esgotado']:>5} {counts['invalido']:>8} {counts['suspeito']:>8} "
            f"{mean:>9.2f} / {_fmt(group[0].max_points):<4}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Corrige em lote os notebooks de exercícios entregues pelos alunos.",
    )
    parser.add_argument("submissions", type=Path, help="pasta com as entregas (.ipynb, em qualquer subpasta)")
    parser.add_argument("--out", type=Path, required=True, help="relatório CSV a escrever")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="entregas corrigidas em paralelo (padrão: núcleos, até 4)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="limite de tempo, em segundos, por célula do aluno e por avaliação de exercício (padrão: 60)")
    parser.add_argument("--cell-timeout", type=float, default=None,
                        help="limite por célula do notebook original (padrão: max(120, --timeout))")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memória virtual máxima do processo do aluno, MiB (padrão: 2048)")
    parser.add_argument("--seed", type=int, default=None, help="semente dos casos ocultos (padrão: sorteada; use a mesma em todas as máquinas)")
    parser.add_argument("--shard", type=_parse_shard, default=None, metavar="K/N",
                        help="corrige só a parte K de N (ordem alfabética dos caminhos): para dividir entre máquinas")
    parser.add_argument("--canonical", type=Path, default=None,
                        help="pasta com os notebooks de exercícios distribuídos (padrão: exercises/ do repositório)")
    parser.add_argument("--sources", type=Path, default=None,
                        help="reconstrói os canônicos das fontes SOURCES/exercises/*.py (em vez de exercises/)")
    parser.add_argument("--no-fork-server", action="store_true",
                        help="um interpretador novo por entrega, sem o servidor de fork (mais lento)")
    parser.add_argument("--no-landlock", action="store_true",
                        help="não usa o Landlock do Linux (só as proteções do Python)")
    parser.add_argument("--allow-solutions", action="store_true",
                        help="não marca como suspeito o notebook de soluções entregue (para testar o corretor)")
    return parser


def grade(args: argparse.Namespace) -> int:
    started = time.monotonic()
    root: Path = args.submissions
    if not root.is_dir():
        _log(f"❌ pasta de entregas não encontrada: {root}")
        return 2
    try:
        canonicals = load_canonicals(args.canonical, args.sources, warn=lambda m: _log(f"⚠️  {m}"))
    except CanonicalError as exc:
        _log(f"❌ notebooks canônicos: {exc}")
        return 2
    if not canonicals:
        _log("❌ nenhum notebook de exercícios canônico encontrado (exercises/*.ipynb ou course/exercises/*.py)")
        return 2
    seed = args.seed if args.seed is not None else secrets.randbelow(2**62)
    answers = Answers(seed)
    torch.set_num_threads(1)
    limits = Limits(step_timeout=args.timeout, cell_timeout=args.cell_timeout or max(120.0, args.timeout),
                    memory_mb=args.memory_mb)

    paths = _find_submissions(root)
    if args.shard:
        k, n = args.shard
        paths = [p for i, p in enumerate(paths) if i % n == k - 1]
    _log(f"corretor: {len(paths)} entrega(s) em {root} · {len(canonicals)} notebook(s) canônico(s) · "
         f"{args.jobs} em paralelo · limite {_fmt(limits.step_timeout)} s por passo · {limits.memory_mb} MiB por processo")
    _log(f"semente dos casos ocultos: {seed} (use --seed {seed} para repetir)")

    work_root = Path(tempfile.mkdtemp(prefix="corretor-"))
    deny_extra = [root.resolve(), work_root]
    for folder in (args.canonical, args.sources):
        if folder is not None:
            deny_extra.append(folder.resolve())
    sandbox = _sandbox_for(work_root, deny_extra, not args.no_landlock)
    rows_by_sub: dict[str, list[Row]] = {}
    jobs: list[Job] = []
    context: dict[int, tuple] = {}
    cases_files: dict[str, str] = {}
    total = len(paths)
    finished = [0]

    def report_progress(rel: str, rows: list[Row], seconds: float) -> None:
        finished[0] += 1
        got = sum(r.points for r in rows)
        best = sum(r.max_points for r in rows)
        counts = Counter(r.status for r in rows)
        statuses = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        notebook = rows[0].notebook if rows else "?"
        _log(f"[{finished[0]:>{len(str(total))}}/{total}] {rel} → {notebook or '?'}: {_fmt(got)}/{_fmt(best)} pts "
             f"({statuses}; {seconds:.1f} s)")

    def cases_file_for(canonical: CanonicalNotebook) -> str:
        if canonical.name not in cases_files:
            data = {}
            for ex in canonical.exercises:
                if answers.load(ex.id) is not None:
                    data[ex.id] = {which: [c.to_dict() for c in answers.cases[ex.id][which]] for which in ("visible", "hidden")}
            path = work_root / f"casos_{canonical.name}.pt"
            torch.save(data, path)
            cases_files[canonical.name] = str(path)
        return cases_files[canonical.name]

    server = None
    try:
        def prepare(index: int, path: Path) -> None:
            sub = read_submission(path, root)
            if sub.error:
                guess = guess_from_filename(path, canonicals)
                if guess is None:
                    rows_by_sub[sub.rel] = [Row(sub.rel, "", "", 0, 0, "invalido", sub.error)]
                else:
                    rows_by_sub[sub.rel] = [Row(sub.rel, guess.name, ex.id, 0, ex.points, "invalido",
                                                f"{sub.error} (notebook deduzido pelo nome do arquivo)")
                                            for ex in guess.exercises]
                report_progress(sub.rel, rows_by_sub[sub.rel], 0.0)
                return
            ident = identify(sub, canonicals)
            if ident.canonical is None:
                rows_by_sub[sub.rel] = [Row(sub.rel, "", "", 0, 0, "invalido", "; ".join(ident.notes))]
                report_progress(sub.rel, rows_by_sub[sub.rel], 0.0)
                return
            canonical = ident.canonical
            func_names = {}
            for ex in canonical.exercises:
                exercise = answers.load(ex.id)
                func_names[ex.id] = exercise.func_name if exercise is not None else (ex.func_name or "")
                if exercise is not None and exercise.points != ex.points:
                    _log(f"⚠️  {ex.id}: {ex.points} ponto(s) no notebook canônico, {exercise.points} em course_lib/checks; uso o canônico")
            extracted, notes = extract_answers(sub, canonical, func_names)
            notes = ident.notes + notes
            answer_problems = {ex_id: a.problem for ex_id, a in extracted.items() if a.problem}
            static = {ex_id: scan(a.source) for ex_id, a in extracted.items() if a.source is not None}
            global_flags = []
            if not args.allow_solutions and sub.metadata_course.get("kind") == "solution":
                global_flags.append("o arquivo é o notebook de SOLUÇÕES (metadata.course.kind = 'solution')")
            if args.allow_solutions:
                static = {k: [r for r in v if "BEGIN/END SOLUCAO" not in r] for k, v in static.items()}
            to_evaluate = [ex.id for ex in canonical.exercises
                           if ex.id not in answer_problems and ex.id in answers.exercises]
            job = Job(
                index=index, rel=sub.rel, canonical=canonical,
                sources={ex_id: a.source for ex_id, a in extracted.items()},
                to_evaluate=to_evaluate, func_names=func_names,
                cases_file=cases_file_for(canonical) if to_evaluate else "",
                work_root=work_root, limits=limits, sandbox=sandbox,
            )
            jobs.append(job)
            context[id(job)] = (static, notes, answer_problems, global_flags)

        for index, path in enumerate(paths):
            try:
                prepare(index, path)
            except Exception as exc:  # noqa: BLE001 - a entrega ainda ganha a linha dela
                rel = path.relative_to(root).as_posix()
                rows_by_sub[rel] = [Row(rel, "", "", 0, 0, "erro",
                                        f"falha interna do corretor ao ler a entrega: {type(exc).__name__}: {exc}")]
                report_progress(rel, rows_by_sub[rel], 0.0)

        landlock_reported = []

        def on_finished(job: Job) -> None:
            if job.landlock and not landlock_reported:
                landlock_reported.append(job.landlock)
                if job.landlock in ("ativo", "desligado"):
                    _log(f"proteção do sistema (Landlock): {job.landlock}")
                else:
                    _log(f"⚠️  Landlock: {job.landlock}; só as proteções do Python (ver docs/instrutores.md)")
            static, notes, answer_problems, global_flags = context[id(job)]
            try:
                rows = judge_job(job, answers, static, notes, answer_problems, global_flags)
            except Exception as exc:  # noqa: BLE001 - a entrega ainda ganha as linhas dela
                rows = [Row(job.rel, job.canonical.name, ex.id, 0, ex.points, "erro",
                            f"falha interna do corretor: {type(exc).__name__}: {exc}") for ex in job.canonical.exercises]
            rows_by_sub[job.rel] = rows
            job.results.clear()  # libera a memória das saídas
            report_progress(job.rel, rows, job.seconds)
            for attempt in range(1, job.attempts + 1):
                shutil.rmtree(work_root / f"e{job.index:05d}-t{attempt}", ignore_errors=True)

        if not args.no_fork_server and any(job.needs_run() for job in jobs):
            try:
                server = ForkServer(work_root, sandbox, PRELOAD)
            except (OSError, RuntimeError) as exc:
                _log(f"⚠️  servidor de fork indisponível ({exc}); um interpretador por entrega")
            for job in jobs:
                job.launcher = server
        run_jobs(jobs, max(1, args.jobs), on_finished)
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work_root, ignore_errors=True)

    rows = [row for rel in sorted(rows_by_sub) for row in rows_by_sub[rel]]
    write_report(rows, args.out)
    print(summary_text(rows))
    _log(f"\nrelatório: {args.out} ({len(rows)} linha(s), {len(rows_by_sub)} entrega(s)) · "
         f"{time.monotonic() - started:.1f} s no total")
    missing = [p for p in paths if p.relative_to(root).as_posix() not in rows_by_sub]
    if missing:
        _log("❌ entregas sem linhas no relatório: " + ", ".join(str(p) for p in missing))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return grade(args)


if __name__ == "__main__":
    sys.exit(main())
