#!/usr/bin/env python
"""Gera os notebooks do curso a partir das fontes jupytext (formato percent).

    course/lessons/NN_nome.py   -> notebooks/NN_nome.ipynb  (executado)
    course/exercises/NN_nome.py -> exercises/NN_nome.ipynb  (sem soluções, não executado)
                                -> solutions/NN_nome.ipynb  (executado)

Uso:
    python tools/build_course.py                 # gera e executa tudo
    python tools/build_course.py 01_softmax 02   # só esses (nome exato ou prefixo NN)
    python tools/build_course.py --no-execute    # gera sem executar (rápido, sem saídas)
    python tools/build_course.py --check         # confere se os .ipynb estão em dia (não executa)

Convenções das fontes: ver course/README.md.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import json
import re
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

ROOT = Path(__file__).resolve().parents[1]

BEGIN_MARKER = "# BEGIN SOLUCAO"
END_MARKER = "# END SOLUCAO"
PLACEHOLDER = "# SEU CÓDIGO AQUI"

# Metadados de célula mantidos nos notebooks gerados (o resto é descartado).
CELL_METADATA_KEYS = ("tags", "exercise", "points", "kind", "editable", "deletable", "jupyter")
# Tipos de exercício (metadado `kind` da célula): "investigation" = a resposta é uma descoberta
# sobre um modelo do curso, feita com as funções do próprio aluno.
EXERCISE_KINDS = ("investigation",)
# Tipos MIME de widgets: o estado não é salvo, então a visualização seria inútil.
DROPPED_MIME_TYPES = (
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)
MAX_OUTPUT_BYTES = 500_000

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    # O kernel informa a versão do Python ao abrir o notebook; guardada igual à do Python
    # suportado de referência (o da CI), abrir uma lição não a marca como modificada.
    "version": "3.11.7",
}

NAME_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
EXERCISE_ID_RE = re.compile(r"^\d\d\.[A-Za-z0-9_]+$")
STARS_RE = re.compile(r"(?<!★)★{1,3}(?!★)")
TIME_RE = re.compile(r"\d+\s*min")

# tipo da fonte -> [(pasta de saída, tipo do notebook, executar?)]
OUTPUTS = {
    "lesson": [("notebooks", "lesson", True)],
    "exercise": [("exercises", "exercise", False), ("solutions", "solution", True)],
}
SOURCE_DIRS = {"lesson": "lessons", "exercise": "exercises"}


class BuildError(Exception):
    """Erro nas fontes ou na execução de um notebook (mensagem em pt-BR)."""


@dataclass
class Source:
    name: str  # "01_softmax"
    kind: str  # "lesson" | "exercise"
    path: Path


# ---------------------------------------------------------------------------
# Leitura e transformação das fontes
# ---------------------------------------------------------------------------


def find_sources(source_dir: Path, names: list[str]) -> list[Source]:
    """Fontes em course/lessons e course/exercises, filtradas por nome ou prefixo NN."""
    sources = []
    for kind, folder in SOURCE_DIRS.items():
        for path in sorted((source_dir / folder).glob("*.py")):
            if not NAME_RE.match(path.stem):
                raise BuildError(f"{path}: nome inválido; use NN_nome em minúsculas (ex.: 01_softmax.py)")
            sources.append(Source(path.stem, kind, path))
    if not names:
        return sources
    selected = [s for s in sources if any(s.name == n or s.name.startswith(n + "_") for n in names)]
    missing = [n for n in names if not any(s.name == n or s.name.startswith(n + "_") for s in sources)]
    if missing:
        raise BuildError("nenhuma fonte encontrada para: " + ", ".join(missing))
    return selected


def cell_id(name: str, index: int) -> str:
    """Id de célula estável: depende só do nome do notebook e da posição na fonte."""
    digest = hashlib.sha256(f"{name}:{index}".encode("utf-8")).hexdigest()[:8]
    return f"{index:03d}-{digest}"


def clean_cell_metadata(metadata: dict) -> dict:
    return {key: copy.deepcopy(metadata[key]) for key in CELL_METADATA_KEYS if key in metadata}


def strip_solution(source: str, exercise_id: str, where: str) -> str:
    """Troca cada bloco BEGIN/END SOLUCAO pelo marcador + NotImplementedError."""
    out, inside, found = [], False, False
    for line in source.split("\n"):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped == BEGIN_MARKER:
            if inside:
                raise BuildError(f"{where}: '{BEGIN_MARKER}' aninhado (falta '{END_MARKER}' antes)")
            if indent == "":
                raise BuildError(
                    f"{where}: o bloco de solução deve ficar dentro de uma função (indentado); "
                    "no nível da célula, o NotImplementedError quebraria a célula do exercício"
                )
            inside, found = True, True
            out.append(f"{indent}{PLACEHOLDER}")
            out.append(f'{indent}raise NotImplementedError("Exercício ainda não resolvido: {exercise_id}")')
        elif stripped == END_MARKER:
            if not inside:
                raise BuildError(f"{where}: '{END_MARKER}' sem '{BEGIN_MARKER}' correspondente")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise BuildError(f"{where}: '{BEGIN_MARKER}' sem '{END_MARKER}'")
    if not found:
        raise BuildError(f"{where}: célula de exercício sem bloco '{BEGIN_MARKER}' ... '{END_MARKER}'")
    return "\n".join(out)


def _has_marker_like(source: str) -> bool:
    return bool(re.search(r"(BEGIN|END)\s+SOLU", source, flags=re.IGNORECASE))


def _check_markers_exact(source: str, where: str) -> None:
    """Recusa variações dos marcadores (ex.: 'SOLUÇÃO'), que vazariam a solução."""
    for line in source.split("\n"):
        if _has_marker_like(line) and line.strip() not in (BEGIN_MARKER, END_MARKER):
            raise BuildError(f"{where}: marcador de solução malformado: {line.strip()!r} (use '{BEGIN_MARKER}' / '{END_MARKER}')")


def _check_call_re(exercise_id: str) -> re.Pattern:
    return re.compile(r"check\(\s*[\"']" + re.escape(exercise_id) + r"[\"']\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")


def validate_source(src: Source, cells: list) -> list[dict]:
    """Valida a estrutura da fonte e devolve a lista de exercícios [{id, points, func}]."""
    exercises: list[dict] = []
    prefix = src.name[:2]
    for index, cell in enumerate(cells):
        where = f"{src.path}: célula {index}"
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        _check_markers_exact(cell.source, where)
        is_exercise = "exercise" in tags
        if src.kind == "lesson":
            if is_exercise or "exercise" in cell.metadata or _has_marker_like(cell.source):
                raise BuildError(f"{where}: lições não podem ter exercícios nem marcadores de solução")
            continue
        if not is_exercise:
            if _has_marker_like(cell.source):
                raise BuildError(f"{where}: marcadores de solução só podem aparecer em células com tag 'exercise'")
            if "check" in tags and (index == 0 or "exercise" not in cells[index - 1].metadata.get("tags", [])):
                raise BuildError(f"{where}: célula 'check' deve vir logo depois de uma célula 'exercise'")
            continue
        exercise_id = cell.metadata.get("exercise")
        points = cell.metadata.get("points")
        if not isinstance(exercise_id, str) or not EXERCISE_ID_RE.match(exercise_id):
            raise BuildError(f'{where}: defina o id no cabeçalho, ex.: # %% tags=["exercise"] exercise="{prefix}.nome" points=1')
        if not exercise_id.startswith(prefix + "."):
            raise BuildError(f"{where}: o id {exercise_id!r} deve começar com '{prefix}.' (número do notebook)")
        if any(e["id"] == exercise_id for e in exercises):
            raise BuildError(f"{where}: id de exercício repetido: {exercise_id!r}")
        if type(points) is not int or points < 0:
            raise BuildError(f"{where}: defina points=<inteiro >= 0> no cabeçalho do exercício {exercise_id}")
        kind = cell.metadata.get("kind")
        if kind is not None and kind not in EXERCISE_KINDS:
            raise BuildError(f"{where}: kind={kind!r} desconhecido no exercício {exercise_id}; use um de {EXERCISE_KINDS}")
        strip_solution(cell.source, exercise_id, where)  # só valida aqui
        nxt = cells[index + 1] if index + 1 < len(cells) else None
        if nxt is None or nxt.cell_type != "code" or "check" not in nxt.metadata.get("tags", []):
            raise BuildError(f"{where}: o exercício {exercise_id} deve ser seguido por uma célula # %% tags=[\"check\"]")
        call = _check_call_re(exercise_id).search(nxt.source)
        if call is None:
            raise BuildError(f'{where}: a célula seguinte deve chamar check("{exercise_id}", nome_da_funcao)')
        markdown = []
        for previous in reversed(cells[:index]):
            if previous.cell_type == "code" and ("check" in previous.metadata.get("tags", []) or "exercise" in previous.metadata.get("tags", [])):
                break
            if previous.cell_type == "markdown":
                markdown.append(previous.source)
        text = "\n".join(markdown)
        if not STARS_RE.search(text) or not TIME_RE.search(text):
            raise BuildError(
                f"{where}: o markdown antes do exercício {exercise_id} deve indicar a dificuldade "
                "(★ a ★★★) e o tempo estimado (ex.: '~10 min')"
            )
        exercises.append({"id": exercise_id, "points": points, "func": call.group(1), "kind": kind})
    return exercises


def validate_registry(src: Source, exercises: list[dict]) -> None:
    """Confere os exercícios da fonte com o registro de course_lib.checks."""
    if not exercises:
        return
    from course_lib.checks import get_exercise

    for item in exercises:
        try:
            spec = get_exercise(item["id"])
        except LookupError as exc:
            raise BuildError(f"{src.path}: {exc}") from exc
        if spec.points != item["points"]:
            raise BuildError(
                f"{src.path}: exercício {item['id']} tem points={item['points']} na fonte, "
                f"mas points={spec.points} em course_lib.checks"
            )
        if spec.func_name != item["func"]:
            raise BuildError(
                f"{src.path}: check do exercício {item['id']} usa `{item['func']}`, "
                f"mas course_lib.checks espera `{spec.func_name}`"
            )


def read_source(src: Source) -> tuple[list, str, list[dict]]:
    raw = src.path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    notebook = jupytext.reads(raw.decode("utf-8"), fmt="py:percent")
    exercises = validate_source(src, notebook.cells)
    return notebook.cells, sha, exercises


# Vai logo depois do título de todo notebook de exercícios (só na versão do aluno): o que o
# corretor do instrutor (`python -m course_lib.grade`) executa de uma entrega.
GRADING_RULES = """\
> **Como este notebook é corrigido.** Na correção rodam só as células de exercício e, das
> células que você criar, apenas as definições (`def`, `class`, `import`); uma função auxiliar
> numa célula sua funciona, uma conta solta não. Não apague a célula de um exercício: se você
> a duplicar, vale a cópia que você editou. As verificações da correção usam outros casos
> (sorteados) além dos que você vê aqui."""


def build_notebook(src: Source, cells: list, sha: str, exercises: list[dict], nb_kind: str):
    """Monta o notebook (sem executar) de um tipo: lesson, exercise ou solution."""
    new_cells = []
    for index, cell in enumerate(cells):
        tags = list(cell.metadata.get("tags", []))
        if nb_kind == "exercise" and "solution_only" in tags:
            continue
        metadata = clean_cell_metadata(cell.metadata)
        source = cell.source
        if cell.cell_type == "code" and "check" in tags:
            previous = cells[index - 1].metadata
            metadata["exercise"] = previous["exercise"]
            metadata["points"] = previous["points"]
            if "kind" in previous:
                metadata["kind"] = previous["kind"]
            if nb_kind == "exercise":
                metadata["editable"] = False
                metadata["deletable"] = False
        if cell.cell_type == "code" and "exercise" in tags and nb_kind == "exercise":
            source = strip_solution(source, metadata["exercise"], f"{src.path}: célula {index}")
        new_id = cell_id(src.name, index)
        if cell.cell_type == "code":
            new = new_code_cell(source, metadata=metadata, id=new_id)
        elif cell.cell_type == "markdown":
            new = new_markdown_cell(source, metadata=metadata, id=new_id)
        else:
            new = new_raw_cell(source, metadata=metadata, id=new_id)
        new_cells.append(new)
        if index == 0 and nb_kind == "exercise":
            new_cells.append(new_markdown_cell(GRADING_RULES, id=f"{src.name}-correcao"))
    course = {"kind": nb_kind, "notebook": src.name, "source_sha256": sha}
    if src.kind == "exercise":
        course["exercises"] = [
            {"id": e["id"], "points": e["points"], **({"kind": e["kind"]} if e["kind"] else {})} for e in exercises
        ]
    notebook = new_notebook(cells=new_cells, metadata=notebook_metadata(course))
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    return notebook


def notebook_metadata(course: dict) -> dict:
    return {"course": course, "kernelspec": dict(KERNELSPEC), "language_info": copy.deepcopy(LANGUAGE_INFO)}


# ---------------------------------------------------------------------------
# Execução e limpeza
# ---------------------------------------------------------------------------


def execute_notebook(notebook, cwd: Path, timeout: int, label: str, allow_errors: bool = False) -> None:
    """Executa no kernel do Python atual, com cwd = pasta do notebook.

    Com allow_errors=True (usado pelos testes), erros ficam nas saídas das células.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    class CurrentEnvKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            import ipykernel.kernelspec

            return self.kernel_spec_class(
                resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
            )

    manager = KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernelSpecs())
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        allow_errors=allow_errors,
        record_timing=False,
        store_widget_state=False,
        coalesce_streams=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        # stderr do processo do kernel descartado (só avisos de transporte);
        # erros das células chegam normalmente pelo protocolo do Jupyter.
        client.execute(stderr=subprocess.DEVNULL)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        raise BuildError(f"{label}: erro ao executar o notebook:\n{exc}") from exc


def clean_outputs(notebook, label: str) -> None:
    """Tira metadados voláteis e dados de widgets; limita o tamanho das saídas."""
    notebook.metadata = notebook_metadata(notebook.metadata["course"])
    for index, cell in enumerate(notebook.cells):
        cell.metadata = clean_cell_metadata(cell.metadata)
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if "data" in output:
                for mime in DROPPED_MIME_TYPES:
                    output.data.pop(mime, None)
                if not output.data:
                    continue
            size = len(json.dumps(output, ensure_ascii=False))
            if size > MAX_OUTPUT_BYTES:
                raise BuildError(
                    f"{label}: célula {index} tem uma saída de {size} bytes (limite {MAX_OUTPUT_BYTES}); "
                    "reduza prints/figuras (ex.: menos linhas, dpi menor)"
                )
            outputs.append(output)
        cell.outputs = outputs


def notebook_text(notebook) -> str:
    text = nbformat.writes(notebook, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(notebook, path: Path) -> None:
    nbformat.validate(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(notebook), encoding="utf-8", newline="\n")


def build_source(src: Source, out_dir: Path, execute: bool, timeout: int) -> list[Path]:
    cells, sha, exercises = read_source(src)
    validate_registry(src, exercises)
    written = []
    for folder, nb_kind, executable in OUTPUTS[src.kind]:
        notebook = build_notebook(src, cells, sha, exercises, nb_kind)
        path = out_dir / folder / f"{src.name}.ipynb"
        label = str(path)
        if execute and executable:
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"executando {label} ...", flush=True)
            execute_notebook(notebook, path.parent, timeout, label)
        clean_outputs(notebook, label)
        write_notebook(notebook, path)
        written.append(path)
    return written


# ---------------------------------------------------------------------------
# Conferência (--check)
# ---------------------------------------------------------------------------


def _source_diff(expected: str, got: str) -> str:
    lines = list(difflib.unified_diff(got.splitlines(), expected.splitlines(), "commitado", "gerado", lineterm="", n=1))
    return "\n".join("      " + line for line in lines[:12])


def compare_notebook(expected, path: Path, rel: str, nb_kind: str) -> list[str]:
    """Diferenças (pt-BR) entre o notebook gerado e o commitado; ignora saídas."""
    if not path.exists():
        return [f"{rel}: arquivo ausente"]
    try:
        committed = nbformat.read(path, as_version=4)
    except Exception as exc:
        return [f"{rel}: não foi possível ler o notebook ({exc})"]
    problems = []
    if committed.metadata.get("course") != expected.metadata["course"]:
        problems.append(f"{rel}: metadados 'course' diferentes (fonte alterada depois do build?)")
    if len(committed.cells) != len(expected.cells):
        problems.append(f"{rel}: {len(committed.cells)} células no arquivo, {len(expected.cells)} geradas")
    for index, (exp, got) in enumerate(zip(expected.cells, committed.cells)):
        where = f"{rel}: célula {index}"
        if got.cell_type != exp.cell_type:
            problems.append(f"{where}: tipo {got.cell_type}, esperado {exp.cell_type}")
            continue
        if got.get("id") != exp.get("id"):
            problems.append(f"{where}: id {got.get('id')!r}, esperado {exp.get('id')!r}")
        if got.source != exp.source:
            problems.append(f"{where}: fonte diferente\n{_source_diff(exp.source, got.source)}")
        if dict(got.metadata) != dict(exp.metadata):
            problems.append(f"{where}: metadados {json.dumps(got.metadata, ensure_ascii=False, sort_keys=True)}, esperado {json.dumps(exp.metadata, ensure_ascii=False, sort_keys=True)}")
        if got.cell_type != "code":
            continue
        if nb_kind == "exercise" and (got.outputs or got.execution_count is not None):
            problems.append(f"{where}: exercícios devem ser salvos sem execução e sem saídas")
        if nb_kind != "exercise" and got.source.strip() and got.execution_count is None:
            problems.append(f"{where}: célula não executada (gerado com --no-execute?)")
    return problems


def check_sources(sources: list[Source], out_dir: Path, all_sources: bool) -> list[str]:
    problems = []
    expected_files = set()
    for src in sources:
        try:
            cells, sha, exercises = read_source(src)
            validate_registry(src, exercises)
        except BuildError as exc:
            problems.append(str(exc))
            continue
        for folder, nb_kind, _ in OUTPUTS[src.kind]:
            notebook = build_notebook(src, cells, sha, exercises, nb_kind)
            rel = f"{folder}/{src.name}.ipynb"
            expected_files.add(rel)
            problems += compare_notebook(notebook, out_dir / folder / f"{src.name}.ipynb", rel, nb_kind)
    if all_sources:
        for folder in sorted({f for outs in OUTPUTS.values() for f, _, _ in outs}):
            for path in sorted((out_dir / folder).glob("*.ipynb")):
                rel = f"{folder}/{path.name}"
                if rel not in expected_files:
                    problems.append(f"{rel}: notebook sem fonte correspondente em course/")
    return problems


# ---------------------------------------------------------------------------
# Linha de comando
# ---------------------------------------------------------------------------


def _build_one(src: Source, out_dir: Path, execute: bool, timeout: int) -> list[Path]:
    return build_source(src, out_dir, execute, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gera os notebooks do curso a partir de course/.")
    parser.add_argument("names", nargs="*", help="nomes (NN_nome) ou prefixos (NN) das fontes; padrão: todas")
    parser.add_argument("--no-execute", action="store_true", help="não executa lições e soluções")
    parser.add_argument("--check", action="store_true", help="só confere se os .ipynb estão em dia (não executa nem escreve)")
    parser.add_argument("--timeout", type=int, default=300, help="tempo máximo por célula, em segundos (padrão: 300)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="notebooks executados em paralelo (padrão: 1)")
    parser.add_argument("--source-dir", type=Path, default=ROOT / "course", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    try:
        sources = find_sources(args.source_dir, args.names)
    except BuildError as exc:
        print(f"❌ {exc}", file=sys.stderr)
        return 1

    if args.check:
        problems = check_sources(sources, args.out_dir, all_sources=not args.names)
        if problems:
            print("❌ Os notebooks não estão em dia com as fontes em course/:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            print("Rode `python tools/build_course.py [NOMES]` e faça commit dos .ipynb gerados.", file=sys.stderr)
            return 1
        print(f"✅ notebooks em dia com course/ ({len(sources)} fonte(s))")
        return 0

    execute = not args.no_execute
    try:
        if args.jobs > 1 and len(sources) > 1:
            with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_build_one, s, args.out_dir, execute, args.timeout) for s in sources]
                written = [path for f in futures for path in f.result()]
        else:
            written = [path for s in sources for path in _build_one(s, args.out_dir, execute, args.timeout)]
    except BuildError as exc:
        print(f"❌ {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"escrito: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
