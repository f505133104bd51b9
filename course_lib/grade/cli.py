"""Linha de comando do corretor: `python -m course_lib.grade ENTREGAS --out RELATORIO.csv`.

Prepara cada entrega (sem rodar nada: leitura, identificação, análise estática),
roda as tentativas em paralelo (`protocol`), julga (`judging`) e escreve os
relatórios (`reports`). Detalhes, garantias e limites: ``docs/instrutores.md``.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import inspect
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import torch

from . import reports
from .judging import Answers, Context, judge_job
from .notebooks import (
    REPO_ROOT,
    CanonicalError,
    CanonicalNotebook,
    extract_answers,
    guess_from_filename,
    helper_definitions,
    identify,
    load_canonicals,
    read_submission,
)
from .protocol import Job, run_jobs
from .reports import STATUSES, CsvStyle, Row, fmt
from .sandbox import PRELOAD, Launcher, Limits, probe_protection, sandbox_for
from .static import forbidden_uses, normalized_function, scan


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Corrige em lote os notebooks de exercícios entregues pelos alunos.",
    )
    parser.add_argument("submissions", type=Path, help="pasta com as entregas (.ipynb, em qualquer subpasta)")
    parser.add_argument("--out", type=Path, default=None, help="relatório CSV a escrever (obrigatório, exceto com --aluno)")
    parser.add_argument("--aluno", action="store_true",
                        help="autoconferência do aluno: mostra a tabela que o instrutor verá (sem escrever relatórios)")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="entregas corrigidas em paralelo (padrão: núcleos, até 4)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="limite de tempo, em segundos, por célula do aluno e por avaliação de exercício (padrão: 60)")
    parser.add_argument("--cell-timeout", type=float, default=None,
                        help="limite por célula do notebook original (padrão: max(120, --timeout))")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memória virtual que o código do aluno pode reservar, MiB, além da que o processo já ocupa com o torch importado (padrão: 2048)")
    parser.add_argument("--disk-mb", type=int, default=256, help="o que cada tentativa pode escrever na pasta temporária, MiB (padrão: 256)")
    parser.add_argument("--seed", type=int, default=None, help="semente dos casos ocultos (padrão: sorteada; use a mesma em todas as máquinas)")
    parser.add_argument("--shard", type=_parse_shard, default=None, metavar="K/N",
                        help="corrige só a parte K de N (ordem alfabética dos caminhos): para dividir entre máquinas")
    parser.add_argument("--base", type=Path, default=None,
                        help="pasta a partir da qual se nomeiam as entregas (padrão: a própria pasta); "
                             "para recorrigir um aluno: ENTREGAS/ana --base ENTREGAS --mesclar")
    parser.add_argument("--mesclar", action="store_true",
                        help="mantém do --out existente as linhas das entregas que não foram corrigidas agora")
    parser.add_argument("--layout", choices=reports.LAYOUTS, default="auto",
                        help="como achar o aluno no caminho: moodle, classroom, canvas, pasta ou auto (padrão)")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV da turma (colunas aluno[,nome]): o boletim ganha quem não entregou")
    parser.add_argument("--por-exercicio", action="store_true", help="boletim com uma coluna por exercício")
    parser.add_argument("--excel", action="store_true", help="CSVs para o Excel em pt-BR (';', vírgula decimal, BOM)")
    parser.add_argument("--notas-manuais", type=Path, default=None,
                        help="CSV aluno,exercicio,pontos[,comentario] aplicado por cima da correção "
                             "(padrão: notas_manuais.csv ao lado do --out, se existir)")
    parser.add_argument("--credito-parcial", action="store_true",
                        help="errado/erro ganham pontos × casos ocultos certos / casos (padrão: tudo ou nada)")
    parser.add_argument("--canonical", type=Path, default=None,
                        help="pasta com os notebooks de exercícios distribuídos (padrão: exercises/ do repositório)")
    parser.add_argument("--sources", type=Path, default=None,
                        help="reconstrói os canônicos das fontes SOURCES/exercises/*.py (em vez de exercises/)")
    parser.add_argument("--no-fork-server", action="store_true",
                        help="um interpretador novo por entrega, sem o servidor de fork (mais lento)")
    parser.add_argument("--no-landlock", action="store_true",
                        help="não usa o Landlock do Linux (só as proteções do Python; exige --inseguro)")
    parser.add_argument("--inseguro", action="store_true",
                        help="corrige mesmo sem caixa de areia forte (Landlock ausente ou ABI < 6): "
                             "o código dos alunos pode ler o gabarito e adulterar o relatório")
    parser.add_argument("--permitir-root", action="store_true",
                        help="aceita rodar como root (ex.: CI num contêiner descartável); ver docs/instrutores.md")
    parser.add_argument("--allow-solutions", action="store_true",
                        help="não marca como suspeito o notebook de soluções entregue (para testar o corretor)")
    return parser


# ---------------------------------------------------------------------------
# Preparação de uma entrega (nada roda aqui)
# ---------------------------------------------------------------------------


class References:
    """Formas normalizadas do gabarito (course_lib/checks) e das soluções, por exercício."""

    def __init__(self, answers: Answers, canonicals: list[CanonicalNotebook]):
        self.answers = answers
        self.solution_dirs = [REPO_ROOT / "solutions"] + [Path(c.origin).parent.parent / "solutions"
                                                          for c in canonicals if c.origin.endswith(".ipynb")]
        self._cache: dict[str, list[tuple[str, str]]] = {}

    def forms(self, exercise_id: str, notebook: str, func_name: str) -> list[tuple[str, str]]:
        if exercise_id in self._cache:
            return self._cache[exercise_id]
        found = []
        exercise = self.answers.exercises.get(exercise_id)
        if exercise is not None:
            try:
                norm = normalized_function(textwrap.dedent(inspect.getsource(exercise.reference)))
                if norm:
                    found.append(("o gabarito de course_lib/checks", norm[0]))
            except (OSError, TypeError):
                pass
        for folder in dict.fromkeys(self.solution_dirs):
            path = folder / f"{notebook}.ipynb"
            try:
                cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            except (OSError, ValueError):
                continue
            for cell in cells:
                if (cell.get("metadata") or {}).get("exercise") == exercise_id:
                    source = "".join(cell["source"]) if isinstance(cell.get("source"), list) else cell.get("source", "")
                    norm = normalized_function(source, func_name)
                    if norm:
                        found.append((f"solutions/{notebook}.ipynb", norm[0]))
            break
        self._cache[exercise_id] = found
        return found


def _calls(source: str, names: dict[str, str], own: str) -> list[str]:
    """Exercícios (do mesmo notebook) cujas funções esta fonte chama pelo nome."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return [ex for ex, name in names.items() if ex != own and name and name in used]


# ---------------------------------------------------------------------------
# Correção
# ---------------------------------------------------------------------------


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "desconhecido"
    if head.returncode != 0:
        return "desconhecido (sem git)"
    return head.stdout.strip() + (" (com alterações locais)" if dirty.stdout.strip() else "")


def grade(args: argparse.Namespace) -> int:
    started = time.monotonic()
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    root: Path = args.submissions
    if not root.is_dir():
        _log(f"❌ pasta de entregas não encontrada: {root}")
        return 2
    if args.out is None and not args.aluno:
        _log("❌ falta --out RELATORIO.csv (ou use --aluno para só conferir)")
        return 2
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not (args.permitir_root or args.aluno):
        _log("❌ o corretor está rodando como root. Um processo de aluno com root pode desfazer os limites de "
             "memória e de processos e ler qualquer arquivo; rode com um usuário comum ou, num contêiner "
             "descartável (CI), passe --permitir-root.")
        return 2
    protection = probe_protection(args.no_landlock)
    if not protection.enough and not (args.inseguro or args.aluno):
        _log(f"❌ proteção insuficiente: {protection.text}.\n"
             "   Sem ela, o código dos alunos pode ler o gabarito, matar o corretor ou reescrever o relatório.\n"
             "   Rode num Linux >= 6.12 (Landlock ABI >= 6), num contêiner/VM descartável, ou assuma o risco com --inseguro.")
        return 2
    level = protection.text + (" · modo --inseguro" if not protection.enough and args.inseguro else "")
    if args.aluno and not protection.enough:
        level += " · autoconferência do aluno"
    try:
        canonicals = load_canonicals(args.canonical, args.sources, warn=lambda m: _log(f"⚠️  {m}"))
    except CanonicalError as exc:
        _log(f"❌ notebooks canônicos: {exc}")
        return 2
    if not canonicals:
        _log("❌ nenhum notebook de exercícios canônico encontrado (exercises/*.ipynb ou course/exercises/*.py)")
        return 2
    style = CsvStyle.excel() if args.excel else CsvStyle()
    roster = manual = None
    try:
        if args.roster is not None:
            roster = reports.Roster.read(args.roster)
        manual_path = args.notas_manuais or (args.out.with_name("notas_manuais.csv") if args.out else None)
        if manual_path is not None and (args.notas_manuais is not None or manual_path.exists()):
            manual = reports.read_manual(manual_path)
    except (OSError, ValueError) as exc:
        _log(f"❌ {exc}")
        return 2
    root = root.resolve()  # `--aluno exercises/` (caminho relativo) e `--base` absoluto se comparam
    base = (args.base or root).resolve()
    try:
        root.relative_to(base)
    except ValueError:
        _log(f"❌ --base {args.base} precisa conter a pasta de entregas {root}")
        return 2

    seed = args.seed if args.seed is not None else secrets.randbelow(2**62)
    answers = Answers(seed, log=_log)
    torch.set_num_threads(1)
    limits = Limits(step_timeout=args.timeout, cell_timeout=args.cell_timeout or max(120.0, args.timeout),
                    memory_mb=args.memory_mb, disk_mb=args.disk_mb)

    paths = _find_submissions(root)
    if args.shard:
        k, n = args.shard
        paths = [p for i, p in enumerate(paths) if i % n == k - 1]
    _log(f"corretor: {len(paths)} entrega(s) em {root} · {len(canonicals)} notebook(s) canônico(s) · "
         f"{args.jobs} em paralelo · limite {fmt(limits.step_timeout)} s por passo · +{limits.memory_mb} MiB de memória por processo (além do torch)")
    _log(f"proteção: {level}")
    _log(f"semente dos casos ocultos: {seed} (use --seed {seed} para repetir)")

    work_root = Path(tempfile.mkdtemp(prefix="corretor-"))
    deny_extra = [root.resolve(), base, work_root]
    if args.out is not None:
        deny_extra.append(args.out.resolve().parent)
    for folder in (args.canonical, args.sources, args.roster, args.notas_manuais):
        if folder is not None:
            deny_extra.append(folder.resolve())
    sandbox = sandbox_for(work_root, deny_extra, protection.use_landlock)
    references = References(answers, canonicals)
    rows_by_sub: dict[str, list[Row]] = {}
    sources_by: dict[tuple[str, str], str] = {}
    jobs: list[Job] = []
    context: dict[int, Context] = {}
    cases_files: dict[str, str] = {}
    total = len(paths)
    finished = [0]
    partial = reports.PartialReport(args.out, style) if args.out is not None else None

    def finish(rel: str, rows: list[Row], seconds: float) -> None:
        if manual:
            reports.apply_manual(rows, manual, roster)
        rows_by_sub[rel] = rows
        if partial is not None:
            partial.add(rows)
        finished[0] += 1
        got = sum(r.points for r in rows)
        best = sum(r.max_points for r in rows)
        counts = Counter(r.status for r in rows)
        statuses = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        notebook = rows[0].notebook if rows else "?"
        _log(f"[{finished[0]:>{len(str(total))}}/{total}] {rel} → {notebook or '?'}: {fmt(got)}/{fmt(best)} pts "
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

    def prepare(index: int, path: Path) -> None:
        rel = path.relative_to(base).as_posix()
        student = reports.student_of(path.relative_to(root).as_posix() if args.base is None else rel, args.layout)
        sub = read_submission(path, base)
        if sub.error:
            guess = guess_from_filename(path, canonicals)
            if guess is None:
                rows = [Row(sub.rel, "", "", 0, 0, "invalido", sub.error, auto_status="invalido", student=student, seed=seed)]
            else:
                rows = [Row(sub.rel, guess.name, ex.id, 0, ex.points, "invalido",
                            f"{sub.error} (notebook deduzido pelo nome do arquivo)", auto_status="invalido",
                            student=student, seed=seed) for ex in guess.exercises]
            finish(sub.rel, rows, 0.0)
            return
        ident = identify(sub, canonicals)
        if ident.canonical is None:
            finish(sub.rel, [Row(sub.rel, "", "", 0, 0, "invalido", "; ".join(sub.notes + ident.notes),
                                 auto_status="invalido", student=student, seed=seed)], 0.0)
            return
        canonical = ident.canonical
        func_names, forbidden = {}, {}
        for ex in canonical.exercises:
            exercise = answers.load(ex.id)
            func_names[ex.id] = exercise.func_name if exercise is not None else (ex.func_name or "")
            forbidden[ex.id] = dict(exercise.forbidden) if exercise is not None else {}
            if exercise is not None and exercise.points != ex.points:
                _log(f"⚠️  {ex.id}: {ex.points} ponto(s) no notebook canônico, {exercise.points} em course_lib/checks; uso o canônico")
        extracted, notes = extract_answers(sub, canonical, func_names)
        notes = sub.notes + ident.notes + notes
        answer_problems = {ex_id: a.problem for ex_id, a in extracted.items() if a.problem}
        static = {ex_id: scan(a.source) + forbidden_uses(a.source, forbidden.get(ex_id, {}))
                  for ex_id, a in extracted.items() if a.source is not None}
        helpers, helper_names = helper_definitions(sub, canonical, extracted, set(func_names.values()))
        global_flags = []
        if helpers:
            notes.append("rodei também as definições das suas células extras: " + ", ".join(helper_names[:8])
                         + ("..." if len(helper_names) > 8 else "") if helper_names else
                         "rodei também os imports das suas células extras")
            global_flags += [f"nas suas definições extras: {r}" for r in scan(helpers)]
        if not args.allow_solutions and sub.metadata_course.get("kind") == "solution":
            global_flags.append("o arquivo é o notebook de SOLUÇÕES (metadata.course.kind = 'solution')")
        if args.allow_solutions:
            static = {k: [r for r in v if "BEGIN/END SOLUCAO" not in r] for k, v in static.items()}
        calls, copies = {}, {}
        stub_forms = {}
        for ex in canonical.exercises:
            answer = extracted.get(ex.id)
            if answer is None or answer.source is None:
                continue
            calls[ex.id] = _calls(answer.source, func_names, ex.id)
            norm = normalized_function(answer.source, func_names.get(ex.id))
            stub = normalized_function(canonical.cells[ex.cell_index].source, func_names.get(ex.id))
            stub_forms[ex.id] = stub[0] if stub else None
            if norm is None or (stub and norm[0] == stub[0]):
                continue
            sources_by[(sub.rel, ex.id)] = norm[0] if norm[1] >= 12 else ""
            if not args.allow_solutions:
                for where, form in references.forms(ex.id, canonical.name, func_names.get(ex.id, "")):
                    if form == norm[0]:
                        copies[ex.id] = (where, norm[1] >= 40)
                        break
        to_evaluate = [ex.id for ex in canonical.exercises if ex.id not in answer_problems and ex.id in answers.exercises]
        job = Job(
            index=index, rel=sub.rel, canonical=canonical,
            sources={ex_id: a.source for ex_id, a in extracted.items()},
            to_evaluate=to_evaluate, func_names=func_names,
            cases_file=cases_file_for(canonical) if to_evaluate else "",
            work_root=work_root, limits=limits, sandbox=sandbox,
            helper_source=helpers, forbidden=forbidden, landlock_required=protection.use_landlock,
        )
        jobs.append(job)
        context[id(job)] = Context(static, notes, answer_problems, global_flags, calls, func_names, copies,
                                   student=student)

    launcher = None
    interrupted = False
    try:
        for index, path in enumerate(paths):
            try:
                prepare(index, path)
            except Exception as exc:  # noqa: BLE001 - a entrega ainda ganha a linha dela
                rel = path.relative_to(base).as_posix()
                finish(rel, [Row(rel, "", "", 0, 0, "erro", f"falha interna do corretor ao ler a entrega: {type(exc).__name__}: {exc}",
                                 auto_status="erro", student=reports.student_of(rel, args.layout), seed=seed)], 0.0)

        def on_finished(job: Job) -> None:
            try:
                rows = judge_job(job, answers, context[id(job)], seed, args.credito_parcial)
            except Exception as exc:  # noqa: BLE001 - a entrega ainda ganha as linhas dela
                rows = [Row(job.rel, job.canonical.name, ex.id, 0, ex.points, "erro",
                            f"falha interna do corretor: {type(exc).__name__}: {exc}", auto_status="erro",
                            student=context[id(job)].student, seed=seed) for ex in job.canonical.exercises]
            job.results.clear()  # libera a memória das saídas
            finish(job.rel, rows, job.seconds)
            for attempt in range(1, job.attempts + 1):
                shutil.rmtree(work_root / f"e{job.index:05d}-t{attempt}", ignore_errors=True)

        if not args.no_fork_server and any(job.needs_run() for job in jobs):
            try:
                launcher = Launcher(work_root, sandbox, PRELOAD)
            except (OSError, RuntimeError) as exc:
                _log(f"⚠️  servidor de fork indisponível ({exc}); um interpretador por entrega")
            for job in jobs:
                job.launcher = launcher
        run_jobs(jobs, max(1, args.jobs), on_finished)
    except KeyboardInterrupt:
        interrupted = True
        _log("\n⚠️  interrompido (Ctrl-C): gravo as entregas já corrigidas")
    finally:
        if launcher is not None:
            launcher.close()
        shutil.rmtree(work_root, ignore_errors=True)

    rows = [row for rel in sorted(rows_by_sub) for row in rows_by_sub[rel]]
    if launcher is not None and launcher.restarts:
        _log(f"⚠️  o servidor de fork foi reiniciado {launcher.restarts} vez(es) (parado ou travado por uma entrega)")
    if args.aluno:
        print(reports.student_table(rows))
        print("\n(autoconferência: os casos ocultos desta rodada foram sorteados agora; os do instrutor serão outros, "
              "do mesmo tipo)")
        return 0 if not interrupted else 130
    out: Path = args.out
    all_rows = rows
    if args.mesclar and out.exists():
        done = set(rows_by_sub)
        kept = [r for r in reports.read_report(out) if r.get("submission") and r["submission"] not in done]
        merged = _rows_from_csv(kept)
        if manual:
            reports.apply_manual(merged, manual, roster, note=False)
        all_rows = merged + rows
        all_rows.sort(key=lambda r: r.submission)
    reports.write_report(all_rows, out, style)
    if partial is not None:
        partial.close(remove=True)
    stem = out.with_suffix("")
    notebooks = sorted({r.notebook for r in all_rows if r.notebook})
    reports.write_gradebook(all_rows, stem.with_name(stem.name + ".boletim.csv"), style, notebooks, roster,
                            args.por_exercicio)
    reports.write_review(reports.review_queue(all_rows, sources_by), stem.with_name(stem.name + ".revisao.csv"), style)
    n_feedback = reports.write_feedback(rows, stem.with_name(stem.name + "_devolutivas"))
    reports.write_sidecar(stem.with_name(stem.name + ".json"), {
        "seed": seed, "commit": _git_commit(), "protection": level, "landlock_abi": protection.landlock_abi,
        "started": started_at,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "interrupted": interrupted, "argv": sys.argv[1:],
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "python": platform.python_version(), "torch": torch.__version__,
        "submissions": len(rows_by_sub), "rows": len(all_rows),
        "duplicate_rule": reports.DUPLICATE_RULE,
        "fork_server_restarts": launcher.restarts if launcher is not None else 0,
    })
    print(reports.summary_text(rows))
    _log(f"\nrelatório: {out} ({len(all_rows)} linha(s), {len(rows_by_sub)} entrega(s) corrigidas agora) · "
         f"boletim, fila de revisão, {n_feedback} devolutiva(s) e {stem.name}.json ao lado · "
         f"{time.monotonic() - started:.1f} s no total")
    if interrupted:
        return 130
    missing = [p for p in paths if p.relative_to(base).as_posix() not in rows_by_sub]
    if missing:
        _log("❌ entregas sem linhas no relatório: " + ", ".join(str(p) for p in missing))
        return 1
    return 0


def _rows_from_csv(lines: list[dict]) -> list[Row]:
    def number(text: str) -> float:
        try:
            return float((text or "0").replace(",", "."))
        except ValueError:
            return 0.0

    def unquote(text: str) -> str:
        return text[1:] if text.startswith("'") and text[1:2] in reports.FORMULA_START else text

    rows = []
    for line in lines:
        rows.append(Row(unquote(line["submission"]), line.get("notebook", ""), line.get("exercise", ""),
                        number(line.get("points")), number(line.get("max_points")), line.get("status", ""),
                        unquote(line.get("detail", "")), auto_status=line.get("auto_status", ""),
                        auto_points=number(line.get("auto_points")), student=unquote(line.get("student", "")),
                        seed=int(line["seed"]) if (line.get("seed") or "").isdigit() else None,
                        flags=[unquote(line["flags"])] if line.get("flags") else []))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return grade(args)
