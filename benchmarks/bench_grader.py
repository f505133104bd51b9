#!/usr/bin/env python
"""Tempo do corretor em lote: N cópias de um notebook resolvido, com respostas variadas.

    python benchmarks/bench_grader.py                      # 50 entregas do 99_toy (fixture), --jobs 2
    python benchmarks/bench_grader.py --notebook 02        # 50 entregas de exercises/02_*.ipynb
    python benchmarks/bench_grader.py --n 50 --jobs 2 --no-fork-server

As entregas variam: respostas certas (escritas de jeitos diferentes), não
resolvidas e erradas. A meta do curso: 50 entregas de um notebook em ≤ 3 min
num computador de 2 núcleos (`--jobs 2`).
"""

from __future__ import annotations

import argparse
import copy
import csv
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_SOURCES = ROOT / "tests" / "data" / "course"
FIXTURE_CHECKS = ROOT / "tests" / "data" / "checks"
TARGET_SECONDS = 180.0

TOY_VARIANTS = {
    "99.add": [
        ("certo", "    return a + b\n"),
        ("certo", "    return torch.add(a, b)\n"),
        ("certo", "    out = a.clone()\n    out += b\n    return out\n"),
        ("errado", "    return a - b\n"),
        ("não resolvido", None),
    ],
    "99.softmax": [
        ("certo", "    z = logits - logits.amax(-1, keepdim=True)\n    return z.exp() / z.exp().sum(-1, keepdim=True)\n"),
        ("certo", "    return torch.softmax(logits, dim=-1)\n"),
        ("errado", "    e = logits.exp()\n    return e / e.sum(-1, keepdim=True)\n"),
        ("não resolvido", None),
    ],
}


def _load_build():
    spec = importlib.util.spec_from_file_location("build_course_for_bench", ROOT / "tools" / "build_course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def toy_notebooks(out: Path) -> tuple[dict, dict]:
    build = _load_build()
    (src,) = [s for s in build.find_sources(FIXTURE_SOURCES, ["99_toy"]) if s.kind == "exercise"]
    cells, sha, exercises = build.read_source(src)
    notebooks = []
    for folder, kind in (("exercises", "exercise"), ("solutions", "solution")):
        notebook = build.build_notebook(src, cells, sha, exercises, kind)
        build.write_notebook(notebook, out / folder / "99_toy.ipynb")
        notebooks.append(json.loads((out / folder / "99_toy.ipynb").read_text(encoding="utf-8")))
    return notebooks[0], notebooks[1]


def vary_toy(exercise_nb: dict, rng: random.Random) -> tuple[dict, list[str]]:
    notebook = copy.deepcopy(exercise_nb)
    kinds = []
    for cell in notebook["cells"]:
        ex = cell.get("metadata", {}).get("exercise")
        if "exercise" not in cell.get("metadata", {}).get("tags", []):
            continue
        kind, body = rng.choice(TOY_VARIANTS[ex])
        kinds.append(kind)
        if body is not None:
            source = _source(cell)
            head = source.split("    # SEU CÓDIGO AQUI")[0]
            cell["source"] = head + body
    return notebook, kinds


def vary_real(exercise_nb: dict, solution_nb: dict, rng: random.Random) -> tuple[dict, list[str]]:
    """Certo = célula da solução sem os marcadores; errado = devolve None; ou não resolvido."""
    notebook = copy.deepcopy(exercise_nb)
    solved = {c["id"]: _source(c) for c in solution_nb["cells"] if "exercise" in c.get("metadata", {}).get("tags", [])}
    kinds = []
    for cell in notebook["cells"]:
        if "exercise" not in cell.get("metadata", {}).get("tags", []):
            continue
        kind = rng.choice(["certo", "certo", "errado", "não resolvido"])
        kinds.append(kind)
        solution = "\n".join(l for l in solved[cell["id"]].split("\n") if l.strip() not in ("# BEGIN SOLUCAO", "# END SOLUCAO"))
        if kind == "certo":
            cell["source"] = solution
        elif kind == "errado":
            name = re.search(r"^def\s+(\w+)", solution, re.MULTILINE).group(1)
            cell["source"] = solution + f"\n\n\ndef {name}(*args, **kwargs):\n    return None\n"
    return notebook, kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50, help="número de entregas (padrão: 50)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs do corretor (padrão: 2)")
    parser.add_argument("--timeout", type=float, default=60, help="--timeout do corretor (padrão: 60)")
    parser.add_argument("--notebook", default="toy", help="'toy' (fixture 99_toy) ou NN/NN_nome de exercises/")
    parser.add_argument("--no-fork-server", action="store_true", help="um interpretador por entrega")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="pasta onde deixar entregas e relatório")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-corretor-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    extra: list[str] = []
    if args.notebook == "toy":
        exercise_nb, _ = toy_notebooks(work / "canonico")
        env["COURSE_LIB_CHECKS_PATH"] = str(FIXTURE_CHECKS)
        extra = ["--canonical", str(work / "canonico" / "exercises")]
        name = "99_toy"
        make = lambda: vary_toy(exercise_nb, rng)  # noqa: E731
    else:
        matches = sorted((ROOT / "exercises").glob(f"{args.notebook}*.ipynb"))
        if len(matches) != 1:
            print(f"❌ --notebook {args.notebook!r}: {len(matches)} notebooks em exercises/", file=sys.stderr)
            return 2
        name = matches[0].stem
        exercise_nb = json.loads(matches[0].read_text(encoding="utf-8"))
        solution_nb = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8"))
        make = lambda: vary_real(exercise_nb, solution_nb, rng)  # noqa: E731

    submissions = work / "entregas"
    expected = Counter()
    for i in range(args.n):
        notebook, kinds = make()
        expected.update(kinds)
        path = submissions / f"turma{i % 3}" / f"aluno{i:03d}" / f"{name}-entrega.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    out = work / "relatorio.csv"
    root_flag = ["--permitir-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    command = [sys.executable, "-m", "course_lib.grade", str(submissions), "--out", str(out), *root_flag,
               "--jobs", str(args.jobs), "--timeout", str(args.timeout), *extra]
    if args.no_fork_server:
        command.append("--no-fork-server")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    result = subprocess.run(command, cwd=str(ROOT), env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        print(f"❌ o corretor terminou com código {result.returncode}", file=sys.stderr)
        return 1
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    statuses = Counter(r["status"] for r in rows)
    print(f"notebook: {name} · {args.n} entregas · --jobs {args.jobs} · "
          f"{'sem' if args.no_fork_server else 'com'} servidor de fork · {os.cpu_count()} CPUs · carga antes: {load:.2f}")
    print(f"respostas geradas: {dict(expected)}")
    print(f"status no relatório: {dict(statuses)}")
    print(f"tempo total (com a partida do corretor): {elapsed:.1f} s · {elapsed / args.n:.2f} s por entrega")
    ok = elapsed <= TARGET_SECONDS
    print(("✅" if ok else "❌") + f" meta: {args.n} entregas em ≤ {TARGET_SECONDS:.0f} s")
    if args.keep is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
