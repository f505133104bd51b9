"""Notebooks canônicos e entregas: leitura, identificação e extração das respostas.

* Canônico = notebook de exercícios como foi distribuído (``exercises/NN_nome.ipynb``,
  ou reconstruído de ``course/exercises/NN_nome.py`` com as funções de
  ``tools/build_course.py``). Dele vêm as células que não são de exercício, a
  ordem, os pontos e os ids das células.
* Entrega = qualquer ``.ipynb`` do aluno. É lida só como bytes (``open(..., "rb")``)
  e interpretada como JSON com tolerância; nada dela é executado aqui. Dela só
  se aproveitam as **fontes das células de exercício** (achadas pelo id da
  célula, pelos metadados ``exercise`` ou, em último caso, pela definição da
  função pedida).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
COURSE_LIB_DIR = Path(__file__).resolve().parents[1]
CHECK_CALL_RE = re.compile(r"check\(\s*[\"']([^\"']+)[\"']\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
SOLUTION_MARKER_RE = re.compile(r"#\s*(BEGIN|END)\s+SOLU", re.IGNORECASE)


class CanonicalError(Exception):
    """Problema nos notebooks canônicos (configuração do corretor), em pt-BR."""


# ---------------------------------------------------------------------------
# Canônicos
# ---------------------------------------------------------------------------


@dataclass
class CanonicalCell:
    index: int
    id: str | None
    cell_type: str
    source: str
    tags: list[str]
    exercise: str | None


@dataclass
class CanonicalExercise:
    id: str
    points: int
    func_name: str | None
    cell_index: int
    cell_id: str | None


@dataclass
class CanonicalNotebook:
    name: str
    origin: str
    cells: list[CanonicalCell]
    exercises: list[CanonicalExercise]
    source_sha256: str | None = None

    def exercise_cell(self, exercise_id: str) -> CanonicalCell:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return self.cells[ex.cell_index]
        raise KeyError(exercise_id)

    @property
    def max_points(self) -> int:
        return sum(ex.points for ex in self.exercises)


def _text(source: Any) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def canonical_from_dict(data: dict, origin: str, fallback_name: str) -> CanonicalNotebook:
    """Canônico a partir do JSON de um notebook de exercícios gerado pelo build."""
    course = (data.get("metadata") or {}).get("course") or {}
    if course.get("kind") != "exercise":
        raise CanonicalError(
            f"{origin}: não é um notebook de exercícios gerado pelo build "
            f"(metadata.course.kind = {course.get('kind')!r}, esperado 'exercise')"
        )
    name = course.get("notebook") or fallback_name
    cells = []
    for index, cell in enumerate(data.get("cells", [])):
        metadata = cell.get("metadata") or {}
        cells.append(CanonicalCell(
            index=index,
            id=cell.get("id"),
            cell_type=cell.get("cell_type", "code"),
            source=_text(cell.get("source")) or "",
            tags=list(metadata.get("tags") or []),
            exercise=metadata.get("exercise"),
        ))
    listed = {e["id"]: int(e["points"]) for e in course.get("exercises", [])}
    exercises = []
    for cell in cells:
        if cell.cell_type != "code" or "exercise" not in cell.tags:
            continue
        if cell.exercise not in listed:
            raise CanonicalError(f"{origin}: célula {cell.index} é de exercício, mas {cell.exercise!r} não está em metadata.course.exercises")
        func_name = None
        nxt = cells[cell.index + 1] if cell.index + 1 < len(cells) else None
        if nxt is not None and "check" in nxt.tags:
            match = CHECK_CALL_RE.search(nxt.source)
            if match and match.group(1) == cell.exercise:
                func_name = match.group(2)
        exercises.append(CanonicalExercise(cell.exercise, listed[cell.exercise], func_name, cell.index, cell.id))
    missing = set(listed) - {e.id for e in exercises}
    if missing:
        raise CanonicalError(f"{origin}: exercícios sem célula: {', '.join(sorted(missing))}")
    return CanonicalNotebook(name, origin, cells, exercises, course.get("source_sha256"))


def _load_build_module(repo_root: Path = REPO_ROOT):
    path = repo_root / "tools" / "build_course.py"
    if not path.exists():
        raise CanonicalError(f"não achei {path} para reconstruir os notebooks a partir das fontes")
    spec = importlib.util.spec_from_file_location("_build_course_for_grader", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def canonicals_from_sources(source_dir: Path, names: list[str] | None = None,
                            warn=None) -> list[CanonicalNotebook]:
    """Reconstrói (sem executar) os notebooks de exercícios de `source_dir/exercises/*.py`.

    Com `warn`, uma fonte com problema vira aviso (e é pulada) em vez de erro.
    """
    build = _load_build_module()
    out = []
    try:
        sources = [s for s in build.find_sources(source_dir, []) if s.kind == "exercise"]
    except build.BuildError as exc:
        raise CanonicalError(str(exc)) from exc
    for src in sources:
        if names is not None and src.name not in names:
            continue
        try:
            cells, sha, exercises = build.read_source(src)
            notebook = build.build_notebook(src, cells, sha, exercises, "exercise")
            data = json.loads(build.notebook_text(notebook))
            out.append(canonical_from_dict(data, f"{src.path} (reconstruído)", src.name))
        except (build.BuildError, CanonicalError) as exc:
            if warn is None:
                raise CanonicalError(str(exc)) from exc
            warn(f"pulando {src.path}: {exc}")
    return out


def canonicals_from_dir(folder: Path, warn=None) -> list[CanonicalNotebook]:
    out = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CanonicalError(f"{path}: não consegui ler o notebook canônico ({exc})") from exc
            out.append(canonical_from_dict(data, str(path), path.stem))
        except CanonicalError as exc:
            if warn is None:
                raise
            warn(f"pulando {exc}")
    return out


def load_canonicals(canonical_dir: Path | None = None, source_dir: Path | None = None,
                    warn=None) -> list[CanonicalNotebook]:
    """Notebooks canônicos.

    * `canonical_dir`: só os `.ipynb` dessa pasta;
    * `source_dir`: só os reconstruídos de `source_dir/exercises/*.py`;
    * nenhum: `exercises/*.ipynb` do repositório e, para fontes sem `.ipynb`,
      reconstrução a partir de `course/exercises/*.py`.
    """
    if canonical_dir is not None:
        found = canonicals_from_dir(canonical_dir, warn)
    elif source_dir is not None:
        found = canonicals_from_sources(source_dir, warn=warn)
    else:
        found = canonicals_from_dir(REPO_ROOT / "exercises", warn) if (REPO_ROOT / "exercises").is_dir() else []
        have = {c.name for c in found}
        src_dir = REPO_ROOT / "course"
        pending = sorted(p.stem for p in (src_dir / "exercises").glob("*.py") if p.stem not in have)
        if pending:
            if warn:
                warn("reconstruindo das fontes (sem .ipynb em exercises/): " + ", ".join(pending))
            found += canonicals_from_sources(src_dir, pending, warn=warn)
        for canonical in found:
            src = src_dir / "exercises" / f"{canonical.name}.py"
            if canonical.source_sha256 and src.exists():
                if hashlib.sha256(src.read_bytes()).hexdigest() != canonical.source_sha256 and warn:
                    warn(f"exercises/{canonical.name}.ipynb está desatualizado em relação a {src.relative_to(REPO_ROOT)}; "
                         "uso o .ipynb (a versão distribuída aos alunos)")
    names = [c.name for c in found]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise CanonicalError("notebooks canônicos repetidos: " + ", ".join(sorted(duplicated)))
    return found


# ---------------------------------------------------------------------------
# Entregas
# ---------------------------------------------------------------------------


@dataclass
class SubmittedCell:
    position: int
    id: str | None
    cell_type: str | None
    source: str | None
    tags: list[str]
    exercise: Any


@dataclass
class Submission:
    path: Path
    rel: str
    sha256: str = ""
    error: str | None = None
    metadata_course: dict = field(default_factory=dict)
    cells: list[SubmittedCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


MAX_SUBMISSION_BYTES = 32 * 2**20   # um notebook de exercícios com saídas fica bem abaixo disso
MAX_CELL_CHARS = 200_000            # célula de exercício (a resposta é uma função curta)


def upgrade_v3(data: dict) -> tuple[dict, bool]:
    """Notebook nbformat 3 (células em `worksheets`, código em `input`) -> forma v4; (dados, convertido?)."""
    if not isinstance(data, dict) or "cells" in data or not isinstance(data.get("worksheets"), list):
        return data, False
    cells = []
    for sheet in data["worksheets"]:
        for cell in (sheet.get("cells") or []) if isinstance(sheet, dict) else []:
            if not isinstance(cell, dict):
                cells.append(cell)
                continue
            kind = cell.get("cell_type")
            source = cell.get("input") if kind == "code" else cell.get("source")
            cells.append({"cell_type": "markdown" if kind in ("heading", "markdown") else kind,
                          "metadata": cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {},
                          "source": source if source is not None else ""})
    return {"cells": cells, "metadata": data.get("metadata") or {}, "nbformat": 4, "nbformat_minor": 0}, True


def read_submission(path: Path, root: Path, max_bytes: int = MAX_SUBMISSION_BYTES) -> Submission:
    """Lê a entrega só como bytes; nunca a modifica. Erros viram `error` (pt-BR)."""
    rel = path.relative_to(root).as_posix()
    sub = Submission(path, rel)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            sub.error = (f"arquivo grande demais ({size / 2**20:.1f} MiB; limite {max_bytes / 2**20:.0f} MiB): "
                         "limpe as saídas (Kernel > Restart & Clear Output) e entregue de novo")
            return sub
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        sub.error = f"não consegui ler o arquivo ({exc.strerror or exc})"
        return sub
    sub.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        sub.error = "o arquivo não é texto UTF-8 (não é um notebook)"
        return sub
    except (ValueError, RecursionError) as exc:
        sub.error = f"JSON inválido ({str(exc)[:120]})"
        return sub
    data, converted = upgrade_v3(data)
    if converted:
        sub.notes.append("notebook no formato antigo (nbformat 3), convertido pelo corretor")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        sub.error = "JSON sem a lista de células de um notebook"
        return sub
    metadata = data.get("metadata")
    course = metadata.get("course") if isinstance(metadata, dict) else None
    sub.metadata_course = course if isinstance(course, dict) else {}
    for position, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict):
            sub.cells.append(SubmittedCell(position, None, None, None, [], None))
            continue
        cell_metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        tags = cell_metadata.get("tags")
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        cell_id = cell.get("id") if isinstance(cell.get("id"), str) else None
        cell_type = cell.get("cell_type") if isinstance(cell.get("cell_type"), str) else None
        sub.cells.append(SubmittedCell(position, cell_id, cell_type, _text(cell.get("source")), tags, cell_metadata.get("exercise")))
    return sub


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


@dataclass
class Identification:
    canonical: CanonicalNotebook | None
    how: str = ""
    notes: list[str] = field(default_factory=list)


def guess_from_filename(path: Path, canonicals: list[CanonicalNotebook]) -> CanonicalNotebook | None:
    """Para arquivos ilegíveis: o nome do arquivo cita exatamente um notebook canônico?"""
    stem = path.stem.lower()
    hits = [c for c in canonicals if c.name.lower() in stem]
    return hits[0] if len(hits) == 1 else None


def identify(sub: Submission, canonicals: list[CanonicalNotebook]) -> Identification:
    """Qual notebook canônico é esta entrega: pelas células (ids, fontes, metadados)."""
    meta_name = sub.metadata_course.get("notebook") if isinstance(sub.metadata_course.get("notebook"), str) else None
    scored = []
    for canonical in canonicals:
        ids = {c.id for c in canonical.cells if c.id}
        sources = {_norm(c.source) for c in canonical.cells if "exercise" not in c.tags and _norm(c.source)}
        exercise_ids = {e.id for e in canonical.exercises}
        id_hits = sum(1 for c in sub.cells if c.id in ids)
        src_hits = len({_norm(c.source) for c in sub.cells if c.source is not None} & sources)
        ex_hits = sum(1 for c in sub.cells if isinstance(c.exercise, str) and c.exercise in exercise_ids)
        score = id_hits + src_hits + ex_hits
        scored.append((score, canonical.name == meta_name, canonical))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    by_meta = next((c for _, is_meta, c in scored if is_meta), None)
    if not scored or scored[0][0] == 0:
        if by_meta is not None:
            return Identification(by_meta, "metadados", ["identificado só pelos metadados (nenhuma célula reconhecida)"])
        return Identification(None, "", ["não reconheci o notebook: metadados ausentes/desconhecidos e nenhuma célula igual a um notebook do curso"])
    best_score, best_is_meta, best = scored[0]
    if len(scored) > 1 and scored[1][0] == best_score and not best_is_meta:
        return Identification(None, "", [f"notebook ambíguo: as células batem igualmente com {best.name} e {scored[1][2].name}"])
    notes = []
    if meta_name is None:
        notes.append("metadados do curso ausentes; identificado pelas células")
    elif meta_name != best.name:
        notes.append(f"metadados dizem {meta_name!r}, mas as células são de {best.name}")
    return Identification(best, "células", notes)


def _defines_function(source: str, func_name: str) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return re.search(rf"^\s*def\s+{re.escape(func_name)}\s*\(", source, re.MULTILINE) is not None
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func_name for node in tree.body)


@dataclass
class Answer:
    """Resposta do aluno para um exercício (só a fonte da célula de exercício)."""

    exercise_id: str
    source: str | None
    how: str = ""
    problem: str | None = None  # motivo de `invalido`
    position: int | None = None


def extract_answers(sub: Submission, canonical: CanonicalNotebook,
                    func_names: dict[str, str | None]) -> tuple[dict[str, Answer], list[str]]:
    """Fontes das células de exercício da entrega, por id de exercício; mais observações."""
    notes: list[str] = []
    by_id: dict[str, SubmittedCell] = {}
    duplicated = set()
    for cell in sub.cells:
        if cell.id is None:
            continue
        if cell.id in by_id:
            duplicated.add(cell.id)
            continue
        by_id[cell.id] = cell
    canonical_ids = {c.id for c in canonical.cells if c.id}
    if duplicated & canonical_ids:
        notes.append("ids de célula repetidos (usei a primeira ocorrência)")
    canonical_sources = {_norm(c.source) for c in canonical.cells if "exercise" not in c.tags}
    answers: dict[str, Answer] = {}
    for ex in canonical.exercises:
        func_name = func_names.get(ex.id) or ex.func_name
        chosen, how = None, ""
        # 1) metadados do build (exercise + tag), preferindo a célula com o id original
        #    (uma cópia colada pelo aluno tem os mesmos metadados, mas outro id)
        #    Uma cópia colada no Jupyter tem os mesmos metadados e outro id: vale a
        #    célula EDITADA (diferente da distribuída); entre várias editadas, a última.
        stub = _norm(canonical.cells[ex.cell_index].source)
        tagged = [c for c in sub.cells if c.cell_type == "code" and c.exercise == ex.id and "check" not in c.tags]
        edited = [c for c in tagged if c.source is not None and _norm(c.source) != stub]
        if len(tagged) > 1:
            if edited:
                pick = max(edited, key=lambda c: c.position)
                notes.append(f"{len(tagged)} cópias da célula do exercício {ex.id}: usei a editada "
                             f"(célula {pick.position + 1} do seu notebook)")
            else:
                notes.append(f"{len(tagged)} cópias da célula do exercício {ex.id}, nenhuma editada")
        if edited:
            chosen, how = max(edited, key=lambda c: c.position), "metadados"
        elif tagged:
            tagged.sort(key=lambda c: (c.id != ex.cell_id, "exercise" not in c.tags, c.position))
            chosen, how = tagged[0], "metadados"
        # 2) só o id (metadados apagados); ids dependem da posição na fonte, então
        #    confere que a célula não é de outro exercício e define a função
        cell = by_id.get(ex.cell_id) if ex.cell_id else None
        if (chosen is None and cell is not None and cell.cell_type == "code" and "check" not in cell.tags
                and cell.exercise in (None, ex.id) and cell.source is not None
                and (not func_name or _defines_function(cell.source, func_name))):
            chosen, how = cell, "id"
        if chosen is None and func_name:
            defining = [
                c for c in sub.cells
                if c.cell_type in ("code", None) and c.source is not None and "check" not in c.tags
                and _norm(c.source) not in canonical_sources and _defines_function(c.source, func_name)
            ]
            if defining:
                chosen, how = defining[-1], "nome da função"
        if chosen is None:
            answers[ex.id] = Answer(ex.id, None, problem="célula do exercício não encontrada (apagada?)")
            continue
        if chosen.source is None:
            answers[ex.id] = Answer(ex.id, None, problem="célula do exercício malformada (fonte ilegível)", position=chosen.position)
            continue
        if len(chosen.source) > MAX_CELL_CHARS:
            answers[ex.id] = Answer(ex.id, None, problem=(f"célula do exercício grande demais ({len(chosen.source)} "
                                                          f"caracteres; limite {MAX_CELL_CHARS})"),
                                    position=chosen.position)
            continue
        answer = Answer(ex.id, chosen.source, how, position=chosen.position)
        answers[ex.id] = answer
    found = [(canonical.exercises.index(ex), answers[ex.id].position) for ex in canonical.exercises
             if answers[ex.id].position is not None]
    positions = [pos for _, pos in sorted(found)]
    id_positions = [by_id[c.id].position for c in canonical.cells if c.id in by_id]
    if positions != sorted(positions) or id_positions != sorted(id_positions):
        notes.append("células fora da ordem original (o corretor usa a ordem do notebook original)")
    if any(a.how == "nome da função" for a in answers.values()):
        notes.append("células sem id/metadados: respostas localizadas pelo nome da função")
    sha = sub.metadata_course.get("source_sha256")
    if isinstance(sha, str) and canonical.source_sha256 and sha != canonical.source_sha256:
        notes.append("entrega feita sobre outra versão do notebook (corrigida com a versão atual)")
    return answers, notes


def helper_definitions(sub: Submission, canonical: CanonicalNotebook, answers: dict[str, Answer],
                       exercise_funcs: set[str]) -> tuple[str | None, list[str]]:
    """Definições (def, class, import) das células de código EXTRAS do aluno, na ordem dele.

    Regra do corretor: das células que o aluno criou, só essas definições rodam (antes
    da primeira célula de exercício); o resto (contas, gráficos, testes) é ignorado. Uma
    definição com o nome de uma função de exercício também é ignorada (a resposta vem
    da célula do exercício). Devolve (fonte ou None, nomes definidos).
    """
    used = {a.position for a in answers.values() if a.position is not None}
    canonical_sources = {_norm(c.source) for c in canonical.cells}
    chunks, names = [], []
    budget = MAX_CELL_CHARS
    for cell in sub.cells:
        if (cell.cell_type not in ("code", None) or cell.source is None or cell.position in used
                or "check" in cell.tags or isinstance(cell.exercise, str) or _norm(cell.source) in canonical_sources):
            continue
        code, _ = strip_magics(cell.source)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name in exercise_funcs:
                    continue
                names.append(node.name)
            elif not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            text = ast.get_source_segment(code, node, padded=True)
            if text is None:
                continue
            if node.__dict__.get("decorator_list"):
                first = min(d.lineno for d in node.decorator_list)
                text = "\n".join(code.splitlines()[first - 1: node.end_lineno])
            budget -= len(text)
            if budget < 0:
                return ("\n\n".join(chunks) or None), names
            chunks.append(text)
    return ("\n\n".join(chunks) or None), names


# ---------------------------------------------------------------------------
# Mágicas do IPython
# ---------------------------------------------------------------------------

_HARMLESS_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")


def strip_magics(source: str) -> tuple[str, list[str]]:
    """Troca linhas mágicas (`%`, `!`, `?`) por `pass`, mantendo a indentação.

    Devolve a fonte Python e a lista das linhas removidas. Mágicas de célula
    inofensivas (`%%time`, `%%capture`...) perdem só a primeira linha; as demais
    (`%%bash`, `%%writefile`...) anulam a célula inteira.
    """
    lines = source.split("\n")
    removed: list[str] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()
        removed.append(magic)
        if magic.split()[0] in _HARMLESS_CELL_MAGICS:
            lines[first] = ""
        else:
            return "pass\n", removed
    out = []
    for line in lines:
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        is_magic = stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")
                                                       and re.match(r"^[\w.]+\?{1,2}$", stripped) is not None)
        shell_assign = re.match(r"^[\w, ]+=\s*[!%]", stripped)
        if is_magic or shell_assign:
            removed.append(stripped)
            out.append(f"{indent}pass  # (linha mágica do IPython removida pelo corretor)")
        else:
            out.append(line)
    return "\n".join(out), removed
