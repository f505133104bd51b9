"""Medidas das regras de ensino do curso (usadas por tests/test_course_rules.py).

Regra 1 ("a lição dá o quê e o porquê; o exercício é onde está o como") é medida
pela **sobreposição** entre o bloco de solução de cada exercício e a lição de mesmo
número: os dois textos viram sequências de *tokens* de Python em que nomes de
variáveis viram `ID` (atributos, argumentos nomeados, palavras-chave e números
ficam); um token da solução conta como "mostrado na lição" se faz parte de algum
trecho de 10 tokens seguidos que também aparece na lição (no código ou em blocos de
código do markdown). Linhas de uma palavra e comentários são ignorados.
"""
from __future__ import annotations

import io
import keyword
import re
import tokenize
from pathlib import Path

import jupytext

NGRAM = 10
# Nomes que não viram ID: módulos e constantes, para que `torch.softmax` não
# se confunda com `x.softmax`.
KEEP_NAMES = {"torch", "F", "math", "np", "nn", "self", "True", "False", "None"}
HINT_RE = re.compile(r"<summary>\s*💡\s*Dica\s*(\d)")
PREDICT_RE = re.compile(r"✍️\s*\*\*Preveja")


def line_tokens(line: str) -> list[str]:
    """Tokens normalizados de uma linha de código (vazia para comentário ou linha de 1 palavra)."""
    code = line.strip()
    if not code or code.startswith("#") or len(re.findall(r"\w+", code.split("#")[0])) < 2:
        return []
    try:
        toks = [
            t for t in tokenize.generate_tokens(io.StringIO(code + "\n").readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER,
                              tokenize.INDENT, tokenize.DEDENT)
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code.split()
    toks = _merge_fstrings(toks, code)
    if not _balanced(toks):  # linha de uma expressão partida: o 3.11 nem a tokeniza, o 3.12 sim
        return code.split()
    out, prev, depth = [], None, 0
    for i, tok in enumerate(toks):
        text = tok.string
        if text in "([{":
            depth += 1
        elif text in ")]}":
            depth -= 1
        if tok.type == tokenize.NAME and not keyword.iskeyword(text) and text not in KEEP_NAMES:
            nxt = toks[i + 1].string if i + 1 < len(toks) else ""
            if not (prev == "." or (nxt == "=" and depth > 0)):
                text = "ID"
        out.append(text)
        prev = tok.string
    return out


def _balanced(toks: list) -> bool:
    depth = 0
    for tok in toks:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _merge_fstrings(toks: list, code: str) -> list:
    """Uma f-string vira um token STRING só, como no Python 3.11 (do 3.12 em diante o tokenize a
    parte em FSTRING_START, pedaços e FSTRING_END): a medida não depende da versão do Python."""
    start_type = getattr(tokenize, "FSTRING_START", None)
    if start_type is None:
        return toks
    out, i = [], 0
    while i < len(toks):
        if toks[i].type != start_type:
            out.append(toks[i])
            i += 1
            continue
        depth, j = 0, i
        while j < len(toks):
            depth += {start_type: 1, tokenize.FSTRING_END: -1}.get(toks[j].type, 0)
            if depth == 0:
                break
            j += 1
        j = min(j, len(toks) - 1)
        text = code[toks[i].start[1]:toks[j].end[1]]
        out.append(tokenize.TokenInfo(tokenize.STRING, text, toks[i].start, toks[j].end, toks[i].line))
        i = j + 1
    return out


def text_tokens(text: str) -> list[str]:
    """Tokens de um texto inteiro (fonte .py percent: linhas de markdown perdem o '# ')."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith("# ") and not line.startswith("# %%"):
            line = line[2:]
        out += line_tokens(line) + ["\n"]
    return out


def solution_blocks(source_text: str) -> dict[str, list[str]]:
    """{id do exercício: linhas entre BEGIN/END SOLUCAO}."""
    blocks: dict[str, list[str]] = {}
    current, exercise = None, None
    for line in source_text.split("\n"):
        match = re.search(r'exercise="([^"]+)"', line)
        if line.startswith("# %%") and match:
            exercise = match.group(1)
        if "# BEGIN SOLUCAO" in line:
            current = []
        elif "# END SOLUCAO" in line:
            blocks.setdefault(exercise, []).extend(current or [])
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def coverage(solution: list[str], other: list[str], n: int = NGRAM) -> float:
    """Fração dos tokens de `solution` dentro de um trecho de `n` tokens também presente em `other`."""
    grams = {tuple(other[i:i + n]) for i in range(len(other) - n + 1)}
    covered = [False] * len(solution)
    for i in range(len(solution) - n + 1):
        if tuple(solution[i:i + n]) in grams:
            covered[i:i + n] = [True] * n
    real = [c for tok, c in zip(solution, covered) if tok != "\n"]
    return sum(real) / len(real) if real else 0.0


def lesson_overlap(root: Path, name: str) -> dict[str, float]:
    """Sobreposição de cada exercício do notebook `name` com a lição de mesmo nome."""
    lesson = text_tokens((root / "course" / "lessons" / f"{name}.py").read_text(encoding="utf-8"))
    blocks = solution_blocks((root / "course" / "exercises" / f"{name}.py").read_text(encoding="utf-8"))
    out = {}
    for exercise, lines in blocks.items():
        tokens: list[str] = []
        for line in lines:
            tokens += line_tokens(line) + ["\n"]
        out[exercise] = coverage(tokens, lesson)
    return out


def exercise_sections(path: Path) -> list[dict]:
    """Para cada exercício da fonte: id, kind, solução, e os markdowns entre o check e o próximo exercício."""
    cells = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent").cells
    sections: list[dict] = []
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", []):
            sections.append({"id": cell.metadata.get("exercise"), "kind": cell.metadata.get("kind"),
                             "source": cell.source, "after": []})
        elif sections and cell.cell_type == "markdown":
            if "## Exercício" in cell.source:
                sections[-1].setdefault("closed", True)
            if not sections[-1].get("closed"):
                sections[-1]["after"].append(cell.source)
    return sections


def hints(markdowns: list[str]) -> list[tuple[int, str]]:
    """[(nível, texto)] das dicas dobráveis `<details><summary>💡 Dica N ...`."""
    found = []
    for text in markdowns:
        for block in re.split(r"(?=<details>)", text):
            match = HINT_RE.search(block)
            if match:
                found.append((int(match.group(1)), block))
    return found


def code_in_markdown(text: str) -> str:
    """O código dentro de um markdown: blocos ``` e trechos `inline`."""
    fences = re.findall(r"```(?:python)?\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return "\n".join(fences + inline)
