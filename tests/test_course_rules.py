"""As regras de ensino de course/README.md, medidas em cada notebook.

1. A lição não mostra o código que o exercício pede (sobreposição ≤ MAX_OVERLAP).
2. O código do aluno faz a ciência: nenhuma célula `solution_only` sem justificativa.
3. Pelo menos MIN_INVESTIGATIONS exercícios de investigação por notebook.
4. "Preveja, depois rode": pelo menos uma previsão pedida por notebook de exercícios.
5. Dicas em níveis, logo depois da verificação; a dica 1 não contém a linha-chave.

Notebooks em PENDING ainda não foram convertidos às regras: o teste deles é xfail
(tire o notebook de PENDING quando ele estiver convertido).
"""
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import course_rules as rules  # noqa: E402

NAMES = sorted(p.stem for p in (ROOT / "course" / "exercises").glob("[0-9][0-9]_*.py"))
PENDING: set[str] = set()

# Limite da sobreposição solução × lição. Medido antes da mudança (2026-12-01): 25 dos
# 51 exercícios acima de 0,5, vários em 0,95–1,0 (a solução redigitada da lição). Um
# idioma genérico que a lição pode usar (softmax no último eixo, run_with_cache, um
# `with torch.no_grad()`) cobre no máximo ~1/3 de uma solução curta; acima disso a
# lição está entregando o "como".
MAX_OVERLAP = 0.34
MIN_INVESTIGATIONS = 2


def _pending(name):
    return pytest.mark.xfail(strict=False, reason="notebook ainda não convertido às regras") if name[:2] in PENDING else ()


def _params():
    return [pytest.param(n, marks=_pending(n)) for n in NAMES]


@pytest.mark.parametrize("name", _params())
def test_lesson_does_not_show_the_exercise_code(name):
    over = {ex: c for ex, c in rules.lesson_overlap(ROOT, name).items() if c > MAX_OVERLAP}
    assert not over, "soluções mostradas na lição (fração de tokens): " + ", ".join(f"{k}: {v:.2f}" for k, v in over.items())


@pytest.mark.parametrize("name", _params())
def test_solution_only_cells_are_justified(name):
    cells = jupytext.reads((ROOT / "course" / "exercises" / f"{name}.py").read_text(encoding="utf-8"), fmt="py:percent").cells
    bad = [i for i, c in enumerate(cells) if "solution_only" in c.metadata.get("tags", [])
           and not c.source.lstrip().startswith("# só na solução:")]
    assert not bad, f"células solution_only sem a linha '# só na solução: <motivo>': {bad}"


@pytest.mark.parametrize("name", _params())
def test_investigation_exercises(name):
    sections = rules.exercise_sections(ROOT / "course" / "exercises" / f"{name}.py")
    found = [s["id"] for s in sections if s["kind"] == "investigation"]
    assert len(found) >= MIN_INVESTIGATIONS, f"exercícios de investigação: {found}"


@pytest.mark.parametrize("name", _params())
def test_predict_then_run(name):
    text = (ROOT / "course" / "exercises" / f"{name}.py").read_text(encoding="utf-8")
    text += (ROOT / "course" / "lessons" / f"{name}.py").read_text(encoding="utf-8")
    assert len(rules.PREDICT_RE.findall(text)) >= 2, "peça ao menos duas previsões ('✍️ **Preveja...**')"


@pytest.mark.parametrize("name", _params())
def test_hints_in_levels(name):
    problems = []
    for section in rules.exercise_sections(ROOT / "course" / "exercises" / f"{name}.py"):
        found = rules.hints(section["after"])
        levels = [level for level, _ in found]
        if not 2 <= len(levels) <= 3 or levels != list(range(1, len(levels) + 1)):
            problems.append(f"{section['id']}: dicas {levels} (esperado 1, 2[, 3] depois da verificação)")
            continue
        solution = []
        for line in rules.solution_blocks(section["source"]).get(None, []) or _block(section["source"]):
            solution += rules.line_tokens(line) + ["\n"]
        first = rules.text_tokens(rules.code_in_markdown(found[0][1]))
        if rules.coverage(solution, first, n=6) > 0:
            problems.append(f"{section['id']}: a dica 1 já contém código da solução")
    assert not problems, "\n".join(problems)


def _block(source):
    lines, inside = [], False
    for line in source.split("\n"):
        if "# BEGIN SOLUCAO" in line:
            inside = True
        elif "# END SOLUCAO" in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def test_overlap_measure_catches_a_copied_solution(tmp_path):
    """A medida não é vazia: uma solução copiada da lição passa do limite; outra, não."""
    lesson = "def f(x):\n    z = x - x.max(dim=-1, keepdim=True).values\n    return z.exp() / z.exp().sum(dim=-1, keepdim=True)\n"
    copied = "    shifted = logits - logits.max(dim=-1, keepdim=True).values\n    return shifted.exp() / shifted.exp().sum(dim=-1, keepdim=True)\n"
    other = "    m = torch.amax(logits, -1, keepdim=True)\n    e = torch.exp(logits - m)\n    return e / e.sum(-1, keepdim=True)\n"
    toks = lambda text: [t for line in text.split("\n") for t in rules.line_tokens(line) + ["\n"]]
    assert rules.coverage(toks(copied), rules.text_tokens(lesson)) > 0.9
    assert rules.coverage(toks(other), rules.text_tokens(lesson)) <= MAX_OVERLAP


def test_overlap_tokens_do_not_depend_on_the_python_version():
    """Do 3.12 em diante o tokenize parte f-strings e aceita linhas com parênteses sobrando; a
    medida trata as duas coisas como o 3.11 (medido: as 86 sobreposições são idênticas em 3.11,
    3.12 e 3.13)."""
    assert rules.line_tokens('x = f"a{b:.2f} {c}" + g(d)') == ["ID", "=", 'f"a{b:.2f} {c}"', "+", "ID", "(", "ID", ")"]
    assert rules.line_tokens("print(f'{x!r} e {f\"{y}\"}', z)") == ["ID", "(", "f'{x!r} e {f\"{y}\"}'", ",", "ID", ")"]
    assert rules.line_tokens("[1.1, 1.2, 1.5]])") == ["[1.1,", "1.2,", "1.5]])"]
    assert rules.line_tokens("torch.allclose(a, b,") == ["torch.allclose(a,", "b,"]
