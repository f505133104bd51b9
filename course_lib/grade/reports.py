"""O que o corretor entrega ao instrutor: relatório, boletim, devolutivas, fila de revisão.

* relatório (`--out`): uma linha por entrega × exercício; o resultado automático
  vem em colunas próprias ANTES de qualquer texto que o aluno controla, e nenhum
  campo começa com `= + - @`, tab ou CR (injeção de fórmulas no Excel/Sheets);
* boletim (`*.boletim.csv`): uma linha por aluno, uma coluna por notebook, total;
* devolutivas (`*_devolutivas/`): um arquivo por entrega, diagnóstico completo;
* fila de revisão (`*.revisao.csv`): suspeitos, inválidos, duplicatas, fontes iguais;
* reprodução (`*.json`): semente, commit, opções, nível de proteção, horários.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

COLUMNS = ("submission", "student", "notebook", "exercise", "points", "max_points", "status",
           "auto_status", "auto_points", "hidden_passed", "hidden_total", "seed", "flags", "detail")
STATUSES = ("ok", "errado", "erro", "tempo_esgotado", "invalido", "suspeito")
DETAIL_MAX = 600
FLAGS_MAX = 400
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def fmt(value: float | None, decimal: str = ".") -> str:
    if value is None:
        return ""
    return f"{value:g}".replace(".", decimal)


def csv_safe(text: str) -> str:
    """Texto que nenhuma planilha interpreta como fórmula (prefixo `'` se preciso)."""
    text = str(text)
    return "'" + text if text.startswith(FORMULA_START) else text


def one_line(text: str, limit: int) -> str:
    text = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Row:
    submission: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    status: str
    detail: str
    auto_status: str = ""
    auto_points: float = 0
    passed: int | None = None
    total: int | None = None
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    student: str = ""
    seed: int | None = None
    manual: str = ""

    def full_detail(self) -> str:
        text = self.detail
        if self.notes:
            text += "\n[obs.: " + "; ".join(self.notes) + "]"
        return text

    def as_csv(self, decimal: str = ".") -> list[str]:
        fields = [self.submission, self.student, self.notebook, self.exercise, fmt(self.points, decimal),
                  fmt(self.max_points, decimal), self.status, self.auto_status or self.status,
                  fmt(self.auto_points, decimal), "" if self.passed is None else str(self.passed),
                  "" if self.total is None else str(self.total), "" if self.seed is None else str(self.seed),
                  one_line("; ".join(self.flags), FLAGS_MAX), one_line(self.full_detail(), DETAIL_MAX)]
        return [csv_safe(f) for f in fields]


@dataclass
class CsvStyle:
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."

    @classmethod
    def excel(cls) -> "CsvStyle":
        """Excel em pt-BR: `;` separa colunas, vírgula decimal, BOM para os acentos."""
        return cls(";", "utf-8-sig", ",")


def _atomic_write(path: Path, header: list[str] | tuple[str, ...], lines: list[list[str]], style: CsvStyle) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding=style.encoding, newline="") as f:
            writer = csv.writer(f, delimiter=style.delimiter, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_report(rows: list[Row], out: Path, style: CsvStyle | None = None) -> None:
    """Relatório CSV escrito de forma atômica (arquivo temporário + os.replace)."""
    style = style or CsvStyle()
    _atomic_write(out, COLUMNS, [r.as_csv(style.decimal) for r in rows], style)


def read_report(path: Path) -> list[dict]:
    """Linhas de um relatório já escrito (para --mesclar), com qualquer estilo."""
    raw = path.read_bytes().decode("utf-8-sig")
    delimiter = ";" if raw.split("\n", 1)[0].count(";") > raw.split("\n", 1)[0].count(",") else ","
    return list(csv.DictReader(raw.splitlines(), delimiter=delimiter))


class PartialReport:
    """Linhas gravadas à medida que as entregas terminam: Ctrl-C ou queda não perdem nada."""

    def __init__(self, out: Path, style: CsvStyle):
        self.path = out.with_name(out.name + ".parcial")
        self.style = style
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding=style.encoding, newline="")
        self._writer = csv.writer(self._file, delimiter=style.delimiter, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        self._file.flush()

    def add(self, rows: list[Row]) -> None:
        self._writer.writerows(r.as_csv(self.style.decimal) for r in rows)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, remove: bool) -> None:
        self._file.close()
        if remove:
            try:
                self.path.unlink()
            except OSError:
                pass


def summary_text(rows: list[Row]) -> str:
    """Resumo por exercício (pt-BR): entregas, quantos acertaram, média de pontos."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.notebook, row.exercise)].append(row)
    header = (f"{'exercício':<28} {'entregas':>8} {'ok':>4} {'errado':>6} {'erro':>4} {'tempo':>5} "
              f"{'inválido':>8} {'suspeito':>8} {'média de pontos':>16}")
    lines = ["", "Resumo por exercício", header, "-" * len(header)]
    for (notebook, exercise), group in sorted(groups.items()):
        counts = Counter(r.status for r in group)
        mean = sum(r.points for r in group) / len(group)
        label = exercise or f"({notebook or 'não identificado'})"
        lines.append(
            f"{label:<28} {len(group):>8} {counts['ok']:>4} {counts['errado']:>6} {counts['erro']:>4} "
            f"{counts['tempo_esgotado']:>5} {counts['invalido']:>8} {counts['suspeito']:>8} "
            f"{mean:>9.2f} / {fmt(group[0].max_points):<4}"
        )
    return "\n".join(lines)


def student_table(rows: list[Row]) -> str:
    """Tabela do modo --aluno: o que o instrutor verá, exercício por exercício."""
    lines = []
    for sub in sorted({r.submission for r in rows}):
        mine = [r for r in rows if r.submission == sub]
        got, best = sum(r.points for r in mine), sum(r.max_points for r in mine)
        lines.append(f"\n{sub} ({mine[0].notebook or 'não identificado'}): {fmt(got)}/{fmt(best)} pontos")
        for r in mine:
            mark = {"ok": "✅", "suspeito": "⚠️ "}.get(r.status, "❌")
            lines.append(f"  {mark} {r.exercise or '-'}: {r.status} ({fmt(r.points)}/{fmt(r.max_points)})")
            for part in r.full_detail().splitlines():
                lines.append("      " + part)
            for flag in r.flags:
                lines.append("      ⚠️ " + flag)
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Quem é o aluno: pelo caminho (presets de AVA) ou por uma lista (--roster)
# ---------------------------------------------------------------------------

LAYOUTS = ("auto", "pasta", "moodle", "classroom", "canvas")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_\w+?_?$")
_CANVAS = re.compile(r"^(?P<name>[a-z0-9]+)_(?:late_)?(?P<id>\d+)_\d+_.+$", re.IGNORECASE)
_CLASSROOM = re.compile(r"^(?P<name>.+?) - .+$")
_COPY_SUFFIX = re.compile(r"\s*\(\d+\)$|^(cópia de|copia de|copy of)\s+", re.IGNORECASE)


def student_of(rel: str, layout: str = "auto") -> str:
    """Identificador do aluno a partir do caminho da entrega (relativo à pasta de entregas).

    * moodle: `Nome Sobrenome_123456_assignsubmission_file_/arquivo.ipynb` -> "Nome Sobrenome";
    * canvas: `sobrenomenome_12345_67890_arquivo.ipynb` (ou `_late_`) -> "sobrenomenome_12345";
    * classroom: `Nome Sobrenome - arquivo.ipynb` -> "Nome Sobrenome";
    * pasta: a primeira pasta do caminho (`ana/01_x.ipynb` -> "ana"), ou o nome do arquivo.
    """
    path = PurePosixPath(rel)
    parts = path.parts
    tried = [layout] if layout != "auto" else ["moodle", "canvas", "classroom", "pasta"]
    for kind in tried:
        if kind == "moodle":
            for part in parts[:-1]:
                match = _MOODLE.match(part)
                if match:
                    return match.group("name").strip()
        elif kind == "canvas":
            match = _CANVAS.match(path.name)
            if match:
                return f"{match.group('name')}_{match.group('id')}"
        elif kind == "classroom":
            match = _CLASSROOM.match(path.stem)
            if match:
                return match.group("name").strip()
        elif kind == "pasta":
            return parts[0] if len(parts) > 1 else _COPY_SUFFIX.sub("", path.stem).strip()
    return parts[0] if len(parts) > 1 else path.stem


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", text)


@dataclass
class Roster:
    """Lista da turma (`--roster alunos.csv`, colunas `aluno` e, opcional, `nome`)."""

    ids: list[str]
    names: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> "Roster":
        rows = read_report(path)
        if not rows or "aluno" not in rows[0]:
            raise ValueError(f"{path}: esperava um CSV com a coluna 'aluno' (e, opcional, 'nome'); "
                             f"colunas encontradas: {', '.join(rows[0]) if rows else 'nenhuma'}")
        ids = [r["aluno"].strip() for r in rows if (r.get("aluno") or "").strip()]
        return cls(ids, {r["aluno"].strip(): (r.get("nome") or "").strip() for r in rows if (r.get("aluno") or "").strip()})

    def match(self, student: str) -> str | None:
        wanted = _key(student)
        for sid in self.ids:
            if _key(sid) == wanted or (self.names.get(sid) and _key(self.names[sid]) == wanted):
                return sid
        return None


# ---------------------------------------------------------------------------
# Boletim, duplicatas, notas manuais
# ---------------------------------------------------------------------------

DUPLICATE_RULE = ("vale a entrega com mais pontos; em caso de empate, a de caminho em ordem alfabética "
                  "(as outras vão para a fila de revisão)")


def pick_duplicates(rows: list[Row]) -> tuple[set[str], dict[str, str]]:
    """Entregas que contam e, para cada uma descartada, a que ficou no lugar dela."""
    by_pair: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r.notebook:
            by_pair[(r.student, r.notebook)].setdefault(r.submission, 0)
            by_pair[(r.student, r.notebook)][r.submission] += r.points
    kept, dropped = set(), {}
    for (_, _), subs in by_pair.items():
        best = sorted(subs, key=lambda s: (-subs[s], s))[0]
        kept.add(best)
        for s in subs:
            if s != best:
                dropped[s] = best
    kept |= {r.submission for r in rows if not r.notebook}
    return kept, dropped


def read_manual(path: Path) -> dict[tuple[str, str], tuple[float, str]]:
    """`notas_manuais.csv`: colunas aluno, exercicio, pontos (vírgula ou ponto) e, opcional, comentario."""
    out = {}
    for r in read_report(path):
        student, exercise = (r.get("aluno") or "").strip(), (r.get("exercicio") or r.get("exercício") or "").strip()
        text = (r.get("pontos") or "").strip().replace(",", ".")
        if not student or not exercise or not text:
            continue
        try:
            out[(student, exercise)] = (float(text), (r.get("comentario") or r.get("comentário") or "").strip())
        except ValueError:
            raise ValueError(f"{path}: pontos inválidos para {student}/{exercise}: {text!r}") from None
    return out


def apply_manual(rows: list[Row], manual: dict[tuple[str, str], tuple[float, str]], roster: Roster | None = None,
                 note: bool = True) -> int:
    """Aplica as notas manuais; o aluno vale pelo nome do caminho ou pelo id da lista da turma.

    `note=False` para linhas relidas de um relatório (--mesclar): a observação já está no detail.
    """
    by_key = {(_key(student), exercise): value for (student, exercise), value in manual.items()}
    applied = 0
    for r in rows:
        names = {_key(r.student)}
        if roster is not None and roster.match(r.student):
            names.add(_key(roster.match(r.student)))
        hits = [by_key[(n, r.exercise)] for n in sorted(names) if (n, r.exercise) in by_key]
        if hits:
            points, comment = hits[0]
            r.manual = fmt(points)
            r.points = max(0.0, min(points, r.max_points))
            if note:
                r.notes.append("nota manual do instrutor" + (f": {comment}" if comment else ""))
            applied += 1
    return applied


def write_gradebook(rows: list[Row], path: Path, style: CsvStyle, notebooks: list[str],
                    roster: Roster | None = None, per_exercise: bool = False) -> None:
    """Uma linha por aluno, uma coluna por notebook (e, opcional, por exercício), total."""
    kept, _ = pick_duplicates(rows)
    exercises = sorted({(r.notebook, r.exercise) for r in rows if r.exercise})
    maxima = {}
    for r in rows:
        if r.exercise:
            maxima[(r.notebook, r.exercise)] = r.max_points
    per_student: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.submission in kept and r.notebook:
            per_student[r.student].append(r)
    students = list(per_student)
    outside: set[str] = set()
    if roster is not None:
        mapped: dict[str, list[Row]] = defaultdict(list)
        for student, mine in per_student.items():
            sid = roster.match(student)
            if sid is None:
                outside.add(student)
                mapped[student] += mine
            else:
                mapped[sid] += mine
        per_student = mapped
        students = roster.ids + sorted(outside)
    header = ["aluno", "nome"] + notebooks
    if per_exercise:
        header += [ex for _, ex in exercises]
    header += ["total", "total_max", "situacao"]
    total_max = sum(maxima.values())
    lines = []
    for student in sorted(dict.fromkeys(students), key=lambda s: (roster is not None and s in outside, s.lower())):
        mine = per_student.get(student, [])
        by_nb = defaultdict(float)
        for r in mine:
            by_nb[r.notebook] += r.points
        situation = []
        if not mine:
            situation.append("não entregou")
        if any(r.status in ("suspeito", "invalido") and not r.manual for r in mine):  # nota manual = revisado
            situation.append("revisar")
        if student in outside:
            situation.append("fora da lista da turma")
        delivered = {r.notebook for r in mine}
        line = [student, roster.names.get(student, "") if roster else ""]
        line += [fmt(by_nb[nb], style.decimal) if nb in delivered else "" for nb in notebooks]
        if per_exercise:
            got = {(r.notebook, r.exercise): r.points for r in mine}
            line += [fmt(got[k], style.decimal) if k in got else "" for k in exercises]
        line += [fmt(sum(r.points for r in mine), style.decimal), fmt(total_max, style.decimal),
                 "; ".join(situation) or "ok"]
        lines.append([csv_safe(x) for x in line])
    _atomic_write(path, header, lines, style)


def review_queue(rows: list[Row], sources: dict[tuple[str, str], str]) -> list[list[str]]:
    """Linhas para revisão: suspeitos, inválidos, duplicatas e fontes iguais entre alunos.

    `sources`: (entrega, exercício) -> forma normalizada da célula (vazia = não comparar).
    """
    out = []
    _, dropped = pick_duplicates(rows)
    for r in rows:
        if r.status in ("suspeito", "invalido"):
            out.append([r.student, r.submission, r.exercise, r.status, "; ".join(r.flags) or one_line(r.detail, 300),
                        r.auto_status, fmt(r.auto_points)])
        for reason in r.review:
            out.append([r.student, r.submission, r.exercise, "revisar", reason, r.auto_status, fmt(r.auto_points)])
    for sub, best in sorted(dropped.items()):
        student = next(r.student for r in rows if r.submission == sub)
        out.append([student, sub, "", "duplicata", f"mesmo aluno e notebook que {best}; {DUPLICATE_RULE}", "", ""])
    student_of_sub = {r.submission: r.student for r in rows}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (sub, exercise), norm in sources.items():
        if norm:
            groups[(exercise, norm)].append(sub)
    for (exercise, _), subs in sorted(groups.items()):
        students = sorted({student_of_sub.get(s, s) for s in subs})
        if len(students) > 1:
            for sub in sorted(subs):
                out.append([student_of_sub.get(sub, sub), sub, exercise, "fonte igual",
                            "célula igual (a menos de nomes e comentários) à de: " + ", ".join(
                                s for s in students if s != student_of_sub.get(sub, sub)), "", ""])
    return out


def write_review(lines: list[list[str]], path: Path, style: CsvStyle) -> None:
    header = ["aluno", "submission", "exercise", "tipo", "motivo", "auto_status", "auto_points"]
    _atomic_write(path, header, [[csv_safe(x) for x in line] for line in lines], style)


def _safe_name(text: str) -> str:
    text = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()).strip("._")
    return text[:80] or "entrega"


def write_feedback(rows: list[Row], folder: Path) -> int:
    """Um arquivo curto em pt-BR por entrega, com o diagnóstico completo de cada exercício."""
    folder.mkdir(parents=True, exist_ok=True)
    by_sub: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_sub[r.submission].append(r)
    used: Counter = Counter()
    for sub, mine in sorted(by_sub.items()):
        name = _safe_name(f"{mine[0].student}__{PurePosixPath(sub).stem}")
        used[name] += 1
        if used[name] > 1:
            name += f"_{used[name]}"
        got, best = sum(r.points for r in mine), sum(r.max_points for r in mine)
        lines = [f"Devolutiva: {sub}", f"Aluno: {mine[0].student}", f"Notebook: {mine[0].notebook or 'não identificado'}",
                 f"Pontos: {fmt(got)} de {fmt(best)}", ""]
        for r in mine:
            lines.append(f"== {r.exercise or '(entrega)'}: {r.status} ({fmt(r.points)}/{fmt(r.max_points)} pts)")
            if r.status == "suspeito":
                lines.append(f"   (em revisão pelo instrutor; resultado automático: {r.auto_status}, "
                             f"{fmt(r.auto_points)} pts)")
            lines += ["   " + part for part in r.full_detail().splitlines()]
            lines += ["   ⚠️ " + flag for flag in r.flags]
            lines.append("")
        (folder / f"{name}.txt").write_text("\n".join(lines), encoding="utf-8")
    return len(by_sub)


def write_sidecar(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)
