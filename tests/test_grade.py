"""Testes do corretor em lote (`python -m course_lib.grade`) com o notebook de teste 99_toy.

A bateria de entregas é gerada aqui a partir do notebook de exercícios 99_toy
(construído com as funções de tools/build_course.py): respostas honestas (certas,
erradas, parciais), trapaças (verificador redefinido, `__eq__` mentiroso, respostas
decoradas, importar o gabarito, ler arquivos do curso, monkeypatch do torch...) e
entregas quebradas (JSON inválido, células apagadas/reordenadas, laço infinito,
bomba de memória, processo que se mata, sys.exit, apagar arquivos).

Exercícios do 99_toy: 99.add (1 ponto) e 99.softmax (2 pontos).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
FIXTURE_SOURCES = DATA / "course"
FIXTURE_CHECKS = DATA / "checks"
COLUMNS = ["submission", "notebook", "exercise", "points", "max_points", "status", "detail"]
STATUSES = {"ok", "errado", "erro", "tempo_esgotado", "invalido", "suspeito"}
TIMEOUT = 2  # segundos por passo nos testes


def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_course_for_grade_tests", ROOT / "tools" / "build_course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_toy(out: Path) -> tuple[Path, Path]:
    """Gera (sem executar) exercises/99_toy.ipynb e solutions/99_toy.ipynb em `out`."""
    build = _load_build_module()
    (src,) = [s for s in build.find_sources(FIXTURE_SOURCES, ["99_toy"]) if s.kind == "exercise"]
    cells, sha, exercises = build.read_source(src)
    paths = []
    for folder, kind in (("exercises", "exercise"), ("solutions", "solution")):
        notebook = build.build_notebook(src, cells, sha, exercises, kind)
        path = out / folder / "99_toy.ipynb"
        build.write_notebook(notebook, path)
        paths.append(path)
    return paths[0], paths[1]


# ---------------------------------------------------------------------------
# Respostas (fontes das células de exercício)
# ---------------------------------------------------------------------------

ADD_HEAD = 'def add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:\n    """Soma `a` e `b` elemento a elemento."""\n'
SOFTMAX_HEAD = 'def softmax(logits: torch.Tensor) -> torch.Tensor:\n    """Softmax no último eixo de `logits` (formato [batch, d_vocab])."""\n'


def add_cell(body: str, before: str = "") -> str:
    return before + ADD_HEAD + "".join("    " + line + "\n" for line in body.strip("\n").split("\n"))


def softmax_cell(body: str, before: str = "") -> str:
    return before + SOFTMAX_HEAD + "".join("    " + line + "\n" for line in body.strip("\n").split("\n"))


ADD_OK = add_cell("return torch.add(a, b)")
SOFTMAX_OK = softmax_cell("z = logits - logits.amax(dim=-1, keepdim=True)\nreturn torch.exp(z) / torch.exp(z).sum(-1, keepdim=True)")
ADD_WRONG = add_cell("return a - b")
SOFTMAX_NO_MAX = softmax_cell("e = logits.exp()\nreturn e / e.sum(dim=-1, keepdim=True)")
SOFTMAX_AXIS = softmax_cell("return torch.softmax(logits, dim=0)")


def _visible_table() -> str:
    """Respostas decoradas dos casos visíveis de 99.add (entrada -> saída)."""
    from course_lib.checks import core

    saved = dict(core._REGISTRY)
    core._REGISTRY.pop("99.add", None)
    core._REGISTRY.pop("99.softmax", None)
    try:
        spec = importlib.util.spec_from_file_location("nb99_toy_for_grade_tests", FIXTURE_CHECKS / "nb99_toy.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        exercise = core._REGISTRY["99.add"]
        table = [(a.flatten().tolist(), (a + b).flatten().tolist(), list(a.shape))
                 for a, b in (case.args for case in exercise.cases())]
    finally:
        core._REGISTRY.clear()
        core._REGISTRY.update(saved)
    return repr(table)


def battery(canary: Path) -> dict[str, dict]:
    """Nome do arquivo -> descrição da entrega (fontes e transformações)."""
    toy_source = FIXTURE_SOURCES / "exercises" / "99_toy.py"
    solutions_path = ROOT / "solutions" / "99_toy.ipynb"
    checks_file = ROOT / "course_lib" / "checks" / "nb99_toy.py"
    checks_fixture_file = FIXTURE_CHECKS / "nb99_toy.py"
    return {
        # --- honestas
        "honestas/certo.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK},
        "honestas/vazio.ipynb": {},
        "honestas/errado.ipynb": {"add": ADD_WRONG, "softmax": SOFTMAX_NO_MAX},
        "honestas/parcial.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_AXIS},
        "honestas/excecao.ipynb": {"add": add_cell("raise ValueError('ops')"), "softmax": SOFTMAX_OK},
        "honestas/sintaxe.ipynb": {"add": add_cell("return a +* b"), "softmax": SOFTMAX_OK},
        "honestas/sem_metadados.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK, "strip_metadata": True},
        "honestas/metadados_adulterados.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK, "tamper_metadata": True},
        "honestas/reordenado.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK, "reverse": True},
        "honestas/com_extras.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK, "extras": True},
        "honestas/com_magicas.ipynb": {"add": "%time 1 + 1\n" + ADD_OK, "softmax": SOFTMAX_OK},
        # --- trapaças (todas com conteúdo honesto errado em 99.add)
        "trapacas/check_redefinido.ipynb": {"add": add_cell("return a * b", before="check = lambda *args, **kwargs: None\n\n")},
        "trapacas/eq_mentiroso.ipynb": {"add": add_cell(
            "class Sempre:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\nreturn Sempre()")},
        "trapacas/decorado.ipynb": {"add": add_cell(
            f"for entrada, saida, formato in {_visible_table()}:\n"
            "    if a.flatten().tolist() == entrada:\n"
            "        return torch.tensor(saida).reshape(formato)\n"
            "return torch.zeros_like(a)")},
        "trapacas/importa_gabarito.ipynb": {"add": add_cell(
            "from course_lib.checks.nb99_toy import add as gabarito\nreturn gabarito(a, b)")},
        "trapacas/registro.ipynb": {"add": add_cell(
            "from course_lib.checks import get_exercise\nreturn get_exercise('99.add').reference(a, b)")},
        "trapacas/sys_modules.ipynb": {"add": add_cell(
            f"import sys, importlib\nsys.modules['course_lib.checks'].__path__.append({str(FIXTURE_CHECKS)!r})\n"
            "return importlib.import_module('course_lib.checks.nb99_toy').add(a, b)")},
        "trapacas/le_fonte.ipynb": {"add": add_cell(
            f"texto = open({str(toy_source)!r}).read()\nexec(texto.split('# %% tags')[0])\nreturn a * b")},
        "trapacas/le_solucoes.ipynb": {"add": add_cell(
            f"import json\nnb = json.load(open({str(solutions_path)!r}))\nreturn a * b")},
        "trapacas/le_checks.ipynb": {"add": add_cell(
            f"import runpy\nreturn runpy.run_path({str(checks_file)!r})['add'](a, b)")},
        "trapacas/disfarcada.ipynb": {"add": add_cell(
            # nada que a análise estática pegue: o caminho é montado e lido pelo numpy
            "import numpy as np\n"
            f"partes = {str(toy_source).split('/')!r}\n"
            "dados = np.fromfile('/'.join(partes), dtype=np.uint8)\n"
            "return a * b")},
        "trapacas/nativo.ipynb": {"add": add_cell(
            # leitura em C++ (sem audit hook): barrada pelo Landlock, quando há
            f"partes = {str(checks_fixture_file).split('/')!r}\n"
            "dados = torch.from_file('/'.join(partes), size=64, dtype=torch.uint8)\n"
            "return a * b")},
        "trapacas/monkeypatch.ipynb": {"add": add_cell(
            "return a * b",
            before="torch.allclose = lambda *args, **kwargs: True\ntorch.Tensor.__eq__ = lambda self, other: True\n\n")},
        "trapacas/subprocesso.ipynb": {"add": add_cell(
            f"import subprocess\nsubprocess.run(['cat', {str(toy_source)!r}])\nreturn a * b")},
        "trapacas/ambiente.ipynb": {"add": add_cell(
            f"import os\nos.environ['COURSE_LIB_CHECKS_PATH'] = {str(FIXTURE_CHECKS)!r}\nreturn a * b")},
        "trapacas/memoria_do_corretor.ipynb": {"add": add_cell(
            "import os\nopen(f'/proc/{os.getppid()}/cmdline').read()\nreturn a * b")},
        "trapacas/notebook_de_solucoes.ipynb": {"solution": True},
        # --- quebradas
        "quebradas/json_invalido.ipynb": {"raw": b'{"cells": [ isto n\xc3\xa3o \xc3\xa9 JSON'},
        "quebradas/99_toy_corrompido.ipynb": {"raw": b"\x00\x01\x02 lixo"},
        "quebradas/arquivo_vazio.ipynb": {"raw": b""},
        "quebradas/outro_notebook.ipynb": {"raw": json.dumps({
            "cells": [{"cell_type": "code", "id": "x1", "metadata": {}, "source": "print('oi')", "outputs": [], "execution_count": None}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()},
        "quebradas/sem_celula_add.ipynb": {"softmax": SOFTMAX_OK, "delete_add": True},
        "quebradas/laco_infinito.ipynb": {"add": add_cell("while True:\n    pass"), "softmax": SOFTMAX_OK},
        "quebradas/laco_teimoso.ipynb": {"add": add_cell(
            "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except BaseException:\n        pass"),
            "softmax": SOFTMAX_OK},
        "quebradas/laco_na_celula.ipynb": {"add": "while True:\n    pass\n" + ADD_OK, "softmax": SOFTMAX_OK},
        "quebradas/bomba_de_memoria.ipynb": {"add": add_cell(
            "blocos = []\nwhile True:\n    blocos.append(bytearray(400_000_000))"), "softmax": SOFTMAX_OK},
        "quebradas/tensor_gigante.ipynb": {"add": add_cell("return torch.empty(10**12)"), "softmax": SOFTMAX_OK},
        "quebradas/mata_processo.ipynb": {"add": add_cell("import os\nos.kill(os.getpid(), 9)"), "softmax": SOFTMAX_OK},
        "quebradas/os_exit.ipynb": {"add": add_cell("import os\nos._exit(3)"), "softmax": SOFTMAX_OK},
        "quebradas/sys_exit.ipynb": {"add": "import sys\nsys.exit(1)\n" + ADD_OK, "softmax": SOFTMAX_OK},
        "quebradas/apaga_arquivos.ipynb": {"add": add_cell(
            "import os, shutil\n"
            "for nome in os.listdir('.'):\n"
            "    shutil.rmtree(nome, ignore_errors=True) if os.path.isdir(nome) else os.remove(nome)\n"
            "try:\n"
            f"    os.remove({str(canary)!r})\n"
            "except Exception:\n"
            "    pass\n"
            "return a + b"), "softmax": SOFTMAX_OK},
    }


def make_submission(exercise_nb: dict, solution_nb: dict, spec: dict) -> bytes:
    if "raw" in spec:
        return spec["raw"]
    notebook = copy.deepcopy(solution_nb if spec.get("solution") else exercise_nb)
    cells = notebook["cells"]
    for cell in cells:
        exercise = cell.get("metadata", {}).get("exercise")
        if "exercise" in cell.get("metadata", {}).get("tags", []):
            key = exercise.split(".")[1]
            if key in spec:
                cell["source"] = spec[key]
        if cell["cell_type"] == "code":
            # saídas antigas de quem rodou o notebook (ignoradas pelo corretor)
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "✅ tudo certo\n"}]
            cell["execution_count"] = 1
    if spec.get("delete_add"):
        notebook["cells"] = [c for c in cells if c.get("metadata", {}).get("exercise") != "99.add"]
    if spec.get("extras"):
        new = []
        for cell in notebook["cells"]:
            if "check" in cell.get("metadata", {}).get("tags", []):
                # o aluno trocou a célula de verificação e criou células extras
                cell["source"] = "print('verificação apagada pelo aluno')"
                new.append(cell)
                new.append({"cell_type": "code", "id": f"extra-{len(new)}", "metadata": {"tags": ["exercise"]},
                            "source": "def add(a, b):\n    return a * b\ndef softmax(x):\n    return x\n",
                            "outputs": [], "execution_count": None})
                continue
            new.append(cell)
        new[0]["metadata"]["tags"] = ["raises-exception", "nbval-skip"]
        notebook["cells"] = new
    if spec.get("strip_metadata"):
        notebook["metadata"] = {}
        notebook["nbformat_minor"] = 4
        for cell in notebook["cells"]:
            cell.pop("id", None)
            cell["metadata"] = {}
    if spec.get("tamper_metadata"):
        notebook["metadata"]["course"]["notebook"] = "01_outro"
        notebook["metadata"]["course"]["exercises"] = [{"id": "99.add", "points": 100}, {"id": "99.softmax", "points": 100}]
        for cell in notebook["cells"]:
            if "points" in cell.get("metadata", {}):
                cell["metadata"]["points"] = 100
    if spec.get("reverse"):
        notebook["cells"] = notebook["cells"][::-1]
    return json.dumps(notebook, ensure_ascii=False, indent=1).encode("utf-8")


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


def run_grader(submissions: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["COURSE_LIB_CHECKS_PATH"] = str(FIXTURE_CHECKS)
    command = [sys.executable, "-m", "course_lib.grade", str(submissions), "--out", str(out),
               "--jobs", "2", "--timeout", str(TIMEOUT), "--cell-timeout", "30", "--memory-mb", "1536", *extra]
    return subprocess.run(command, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=600)


def read_report(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == COLUMNS
        rows = []
        for line in reader:
            assert len(line) == len(COLUMNS), line
            rows.append(dict(zip(COLUMNS, line)))
    return rows


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy")
    build_toy(out)
    return out


@pytest.fixture(scope="module")
def graded(toy, tmp_path_factory):
    """Roda o corretor uma vez sobre a bateria inteira."""
    work = tmp_path_factory.mktemp("correcao")
    submissions = work / "entregas"
    canary = work / "canario.txt"
    canary.write_text("não me apague\n", encoding="utf-8")
    exercise_nb = json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))
    solution_nb = json.loads((toy / "solutions" / "99_toy.ipynb").read_text(encoding="utf-8"))
    specs = battery(canary)
    for name, spec in specs.items():
        path = submissions / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_submission(exercise_nb, solution_nb, spec))
    before = _hashes(submissions)
    out = work / "relatorio.csv"
    started = time.monotonic()
    result = run_grader(submissions, out, "--canonical", str(toy / "exercises"), "--seed", "12345")
    elapsed = time.monotonic() - started
    rows = read_report(out) if out.exists() else []
    by_sub: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_sub.setdefault(row["submission"], {})[row["exercise"]] = row
    return {"result": result, "rows": rows, "by": by_sub, "specs": specs, "before": before,
            "submissions": submissions, "canary": canary, "out": out, "elapsed": elapsed}


def row(graded, name: str, exercise: str) -> dict:
    assert name in graded["by"], f"{name} sem linhas no relatório:\n{graded['result'].stderr[-3000:]}"
    return graded["by"][name][exercise]


def total(graded, name: str) -> float:
    return sum(float(r["points"]) for r in graded["by"][name].values())


# ---------------------------------------------------------------------------
# Relatório e garantias gerais
# ---------------------------------------------------------------------------


def test_exit_status_and_every_submission_has_rows(graded):
    result = graded["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(graded["by"]) == set(graded["specs"]), result.stderr[-3000:]
    assert "Resumo por exercício" in result.stdout
    assert "semente dos casos ocultos: 12345" in result.stderr
    assert f"[{len(graded['specs'])}/{len(graded['specs'])}]" in result.stderr  # progresso


def test_csv_well_formed(graded):
    for r in graded["rows"]:
        assert r["status"] in STATUSES, r
        assert r["detail"] and "\n" not in r["detail"]
        assert 0 <= float(r["points"]) <= float(r["max_points"])
        if r["notebook"] == "99_toy":
            assert r["max_points"] == {"99.add": "1", "99.softmax": "2"}[r["exercise"]]
    identified = [s for s, ex in graded["by"].items() if "99.add" in ex]
    for name in identified:
        assert set(graded["by"][name]) == {"99.add", "99.softmax"}
    leftovers = [p.name for p in graded["out"].parent.iterdir() if p.name.startswith(".relatorio")]
    assert leftovers == []  # escrita atômica não deixa temporários


def test_submissions_unchanged_and_canary_alive(graded):
    assert _hashes(graded["submissions"]) == graded["before"]
    assert graded["canary"].read_text(encoding="utf-8") == "não me apague\n"


def test_runtime_is_reasonable(graded):
    assert graded["elapsed"] < 120, graded["elapsed"]


# ---------------------------------------------------------------------------
# Respostas honestas
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "honestas/certo.ipynb", "honestas/sem_metadados.ipynb", "honestas/metadados_adulterados.ipynb",
    "honestas/reordenado.ipynb", "honestas/com_extras.ipynb", "honestas/com_magicas.ipynb",
])
def test_solved_gets_full_marks(graded, name):
    for exercise in ("99.add", "99.softmax"):
        r = row(graded, name, exercise)
        assert r["status"] == "ok", r
        assert r["points"] == r["max_points"]
    assert total(graded, name) == 3


def test_notes_on_odd_but_valid_notebooks(graded):
    assert "fora da ordem" in row(graded, "honestas/reordenado.ipynb", "99.add")["detail"]
    assert "01_outro" in row(graded, "honestas/metadados_adulterados.ipynb", "99.add")["detail"]
    assert "metadados do curso ausentes" in row(graded, "honestas/sem_metadados.ipynb", "99.add")["detail"]


def test_unsolved_gets_zero(graded):
    for exercise in ("99.add", "99.softmax"):
        r = row(graded, "honestas/vazio.ipynb", exercise)
        assert r["status"] == "errado" and r["points"] == "0"
        assert "não resolvido" in r["detail"]


def test_wrong_answers_with_known_mistakes(graded):
    add = row(graded, "honestas/errado.ipynb", "99.add")
    softmax = row(graded, "honestas/errado.ipynb", "99.softmax")
    assert add["status"] == "errado" and "subtração no lugar de soma" in add["detail"]
    assert softmax["status"] == "errado" and softmax["points"] == "0"
    assert total(graded, "honestas/errado.ipynb") == 0


def test_partially_right(graded):
    assert row(graded, "honestas/parcial.ipynb", "99.add")["status"] == "ok"
    softmax = row(graded, "honestas/parcial.ipynb", "99.softmax")
    assert softmax["status"] == "errado" and "eixo errado" in softmax["detail"]
    assert total(graded, "honestas/parcial.ipynb") == 1


def test_exceptions_and_syntax_errors(graded):
    for name in ("honestas/excecao.ipynb", "honestas/sintaxe.ipynb"):
        assert row(graded, name, "99.add")["status"] == "erro"
        assert row(graded, name, "99.softmax")["status"] == "ok"
        assert total(graded, name) == 2
    assert "ValueError" in row(graded, "honestas/excecao.ipynb", "99.add")["detail"]
    assert "SyntaxError" in row(graded, "honestas/sintaxe.ipynb", "99.add")["detail"]


# ---------------------------------------------------------------------------
# Trapaças: nunca ganham mais que o conteúdo honesto (aqui, 0 em 99.add)
# ---------------------------------------------------------------------------

CHEATS = [
    "trapacas/check_redefinido.ipynb", "trapacas/eq_mentiroso.ipynb", "trapacas/decorado.ipynb",
    "trapacas/importa_gabarito.ipynb", "trapacas/registro.ipynb", "trapacas/sys_modules.ipynb",
    "trapacas/le_fonte.ipynb", "trapacas/le_solucoes.ipynb", "trapacas/le_checks.ipynb",
    "trapacas/disfarcada.ipynb", "trapacas/nativo.ipynb", "trapacas/monkeypatch.ipynb", "trapacas/subprocesso.ipynb",
    "trapacas/ambiente.ipynb", "trapacas/memoria_do_corretor.ipynb",
]


@pytest.mark.parametrize("name", CHEATS)
def test_cheats_earn_nothing(graded, name):
    r = row(graded, name, "99.add")
    assert r["points"] == "0", r
    assert r["status"] != "ok", r


@pytest.mark.parametrize("name", [c for c in CHEATS if c != "trapacas/decorado.ipynb"])
def test_cheats_are_flagged(graded, name):
    assert row(graded, name, "99.add")["status"] == "suspeito", row(graded, name, "99.add")


def test_importing_the_answer_key_is_blocked_at_runtime(graded):
    detail = row(graded, "trapacas/importa_gabarito.ipynb", "99.add")["detail"]
    assert "tentou importar course_lib.checks.nb99_toy" in detail
    assert "resultado automático: erro" in detail  # a importação falhou de verdade
    detail = row(graded, "trapacas/sys_modules.ipynb", "99.add")["detail"]
    assert "tentou importar course_lib.checks.nb99_toy" in detail


def test_disguised_read_is_caught_at_runtime(graded):
    detail = row(graded, "trapacas/disfarcada.ipynb", "99.add")["detail"]
    assert "tentou ler" in detail and "99_toy.py" in detail


def test_landlock_blocks_native_reads_when_available(graded):
    stderr = graded["result"].stderr
    if "Landlock): ativo" not in stderr:
        pytest.skip("Landlock indisponível neste sistema")
    detail = row(graded, "trapacas/nativo.ipynb", "99.add")["detail"]
    assert "resultado automático: erro" in detail  # a leitura em C++ falhou


def test_hard_coded_visible_cases_fail_hidden(graded):
    r = row(graded, "trapacas/decorado.ipynb", "99.add")
    assert r["status"] == "errado" and "resposta decorada" in r["detail"]


def test_solution_notebook_is_suspicious(graded):
    for exercise in ("99.add", "99.softmax"):
        r = row(graded, "trapacas/notebook_de_solucoes.ipynb", exercise)
        assert r["status"] == "suspeito" and r["points"] == "0"
        assert "resultado automático: ok" in r["detail"]


def test_cheats_do_not_affect_other_exercises(graded):
    # o 99.softmax (não resolvido nas trapaças) continua 0 e errado, não suspeito
    for name in CHEATS:
        assert row(graded, name, "99.softmax")["status"] == "errado"


# ---------------------------------------------------------------------------
# Entregas quebradas: cada uma ganha as linhas dela; as outras seguem normais
# ---------------------------------------------------------------------------


def test_unreadable_notebooks_are_invalid(graded):
    for name in ("quebradas/json_invalido.ipynb", "quebradas/arquivo_vazio.ipynb", "quebradas/outro_notebook.ipynb"):
        rows = graded["by"][name]
        assert [r["status"] for r in rows.values()] == ["invalido"], rows
    rows = graded["by"]["quebradas/99_toy_corrompido.ipynb"]  # notebook deduzido pelo nome
    assert {r["exercise"]: r["status"] for r in rows.values()} == {"99.add": "invalido", "99.softmax": "invalido"}


def test_missing_cell(graded):
    assert row(graded, "quebradas/sem_celula_add.ipynb", "99.add")["status"] == "invalido"
    assert row(graded, "quebradas/sem_celula_add.ipynb", "99.softmax")["status"] == "ok"


@pytest.mark.parametrize("name", ["quebradas/laco_infinito.ipynb", "quebradas/laco_teimoso.ipynb",
                                  "quebradas/laco_na_celula.ipynb"])
def test_infinite_loops_time_out(graded, name):
    assert row(graded, name, "99.add")["status"] == "tempo_esgotado"
    assert row(graded, name, "99.softmax")["status"] == "ok"


@pytest.mark.parametrize("name", ["quebradas/bomba_de_memoria.ipynb", "quebradas/tensor_gigante.ipynb",
                                  "quebradas/mata_processo.ipynb", "quebradas/os_exit.ipynb",
                                  "quebradas/sys_exit.ipynb"])
def test_crashes_are_errors_and_the_rest_is_graded(graded, name):
    assert row(graded, name, "99.add")["status"] == "erro", row(graded, name, "99.add")
    assert row(graded, name, "99.softmax")["status"] == "ok", row(graded, name, "99.softmax")


def test_process_killing_itself_is_explained(graded):
    assert "SIGKILL" in row(graded, "quebradas/mata_processo.ipynb", "99.add")["detail"]
    assert "sys.exit" in row(graded, "quebradas/sys_exit.ipynb", "99.add")["detail"]


def test_deleting_files(graded):
    r = row(graded, "quebradas/apaga_arquivos.ipynb", "99.add")
    assert r["status"] == "suspeito" and "canario.txt" in r["detail"]
    assert row(graded, "quebradas/apaga_arquivos.ipynb", "99.softmax")["status"] == "ok"


# ---------------------------------------------------------------------------
# Outros modos: um interpretador por entrega, canônicos reconstruídos das fontes
# ---------------------------------------------------------------------------


def test_without_fork_server_and_from_sources(toy, tmp_path):
    exercise_nb = json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))
    solution_nb = json.loads((toy / "solutions" / "99_toy.ipynb").read_text(encoding="utf-8"))
    specs = battery(tmp_path / "canario.txt")
    submissions = tmp_path / "entregas"
    submissions.mkdir()
    for name in ("honestas/certo.ipynb", "quebradas/mata_processo.ipynb", "trapacas/importa_gabarito.ipynb"):
        (submissions / Path(name).name).write_bytes(make_submission(exercise_nb, solution_nb, specs[name]))
    out = tmp_path / "r.csv"
    result = run_grader(submissions, out, "--sources", str(FIXTURE_SOURCES), "--no-fork-server")
    assert result.returncode == 0, result.stderr[-3000:]
    by = {(r["submission"], r["exercise"]): r for r in read_report(out)}
    assert by[("certo.ipynb", "99.add")]["status"] == "ok"
    assert by[("certo.ipynb", "99.softmax")]["status"] == "ok"
    assert by[("mata_processo.ipynb", "99.add")]["status"] == "erro"
    assert by[("mata_processo.ipynb", "99.softmax")]["status"] == "ok"
    assert by[("importa_gabarito.ipynb", "99.add")]["status"] == "suspeito"
    assert "tentou importar course_lib.checks.nb99_toy" in by[("importa_gabarito.ipynb", "99.add")]["detail"]


def test_shards_split_the_folder_and_concatenate(toy, tmp_path):
    submissions = tmp_path / "entregas"
    for i in range(5):
        (submissions / f"aluno{i}").mkdir(parents=True)
        (submissions / f"aluno{i}" / "x.ipynb").write_bytes(b"nada")
    outs = []
    for k in (1, 2):
        out = tmp_path / f"r{k}.csv"
        result = run_grader(submissions, out, "--canonical", str(toy / "exercises"), "--shard", f"{k}/2")
        assert result.returncode == 0, result.stderr
        outs.append({r["submission"] for r in read_report(out)})
    assert outs[0] | outs[1] == {f"aluno{i}/x.ipynb" for i in range(5)}
    assert not outs[0] & outs[1]


def test_bad_arguments(tmp_path):
    result = run_grader(tmp_path / "nao_existe", tmp_path / "r.csv")
    assert result.returncode == 2 and "não encontrada" in result.stderr


# ---------------------------------------------------------------------------
# Unidades: análise estática e mágicas
# ---------------------------------------------------------------------------


def test_static_scan_is_quiet_on_honest_code():
    from course_lib.grading.static import scan

    honest = (
        "def attention(q, k, v, mask=None):\n"
        "    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5\n"
        "    if mask is not None:\n"
        "        scores = scores.masked_fill(~mask, float('-inf'))\n"
        "    hidden = torch.softmax(scores, dim=-1)\n"
        "    act = getattr(torch.nn.functional, 'gelu')\n"
        "    reference_logits = einops.einsum(hidden, v, 'b q k, b k d -> b q d')\n"
        "    return act(reference_logits)\n"
    )
    assert scan(honest) == []


@pytest.mark.parametrize("source, expected", [
    ("from course_lib.checks.nb01_x import f", "gabaritos"),
    ("import course_lib.checks as c", "gabaritos"),
    ("check = lambda *a: None", "verificador"),
    ("def check(*a):\n    pass", "verificador"),
    ("x = open('/etc/passwd').read()", "open"),
    ("torch.allclose = lambda *a, **k: True", "monkeypatch"),
    ("class A:\n    def __eq__(self, o):\n        return True", "__eq__"),
    ("import sys\nsys.modules['x'] = None", "sys.modules"),
    ("f = add.__globals__", "__globals__"),
    ("import gc\ngc.get_objects()", "gc"),
    ("import os\nos.environ['A'] = '1'", "os.environ"),
    ("__import__('os')", "__import__"),
    ("!cat /etc/passwd", "shell"),
    ("p = 'solutions/01.ipynb'", "caminho"),
    ("# BEGIN SOLUCAO\nx = 1\n# END SOLUCAO", "gabarito"),
    ("import inspect", "inspect"),
    ("import builtins\nbuiltins.print = None", "builtins"),
])
def test_static_scan_flags(source, expected):
    from course_lib.grading.static import scan

    reasons = scan(source)
    assert any(expected in r for r in reasons), reasons


def test_strip_magics():
    from course_lib.grading.notebooks import strip_magics

    code, removed = strip_magics("%matplotlib inline\nx = 1\nif x:\n    !ls\ny = !pwd\ntorch.softmax?\n")
    compile(code, "<x>", "exec")
    assert removed == ["%matplotlib inline", "!ls", "y = !pwd", "torch.softmax?"]
    code, removed = strip_magics("%%bash\nrm -rf /\n")
    assert code.strip() == "pass" and removed == ["%%bash"]
    code, _ = strip_magics("%%time\nx = 1\n")
    assert "x = 1" in code
