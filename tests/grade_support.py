"""Apoio aos testes do corretor em lote (`python -m course_lib.grade`) com o notebook de teste 99_toy.

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
COLUMNS = ["submission", "student", "notebook", "exercise", "points", "max_points", "status",
           "auto_status", "auto_points", "hidden_passed", "hidden_total", "seed", "flags", "detail"]
STATUSES = {"ok", "errado", "erro", "tempo_esgotado", "invalido", "suspeito"}
TIMEOUT = 2  # segundos por passo nos testes
# CI roda como root (contêiner descartável): o corretor recusa o root sem esta opção
ROOT_FLAG = ["--permitir-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


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
            "blocos = []\nwhile True:\n    blocos.append(bytearray(1_000_000_000))"), "softmax": SOFTMAX_OK},
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
               "--jobs", "2", "--timeout", str(TIMEOUT), "--cell-timeout", "30", "--memory-mb", "1536", *ROOT_FLAG, *extra]
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


def row(graded, name: str, exercise: str) -> dict:
    assert name in graded["by"], f"{name} sem linhas no relatório:\n{graded['result'].stderr[-3000:]}"
    return graded["by"][name][exercise]


def total(graded, name: str) -> float:
    return sum(float(r["points"]) for r in graded["by"][name].values())




def text_of(r: dict) -> str:
    """Motivos (flags) e diagnóstico de uma linha do relatório, juntos."""
    return r["flags"] + " || " + r["detail"]


def grade_specs(toy: Path, work: Path, specs: dict[str, dict], *extra: str) -> dict:
    """Monta as entregas de `specs` em `work/entregas`, corrige e devolve relatório e saída."""
    exercise_nb = json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))
    solution_nb = json.loads((toy / "solutions" / "99_toy.ipynb").read_text(encoding="utf-8"))
    submissions = work / "entregas"
    for name, spec in specs.items():
        path = submissions / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = spec["notebook"] if "notebook" in spec else None
        path.write_bytes(json.dumps(data, ensure_ascii=False).encode() if data is not None
                         else make_submission(exercise_nb, solution_nb, spec))
    out = work / "relatorio.csv"
    started = time.monotonic()
    result = run_grader(submissions, out, "--canonical", str(toy / "exercises"), "--seed", "12345", *extra)
    rows = read_report(out) if out.exists() else []
    by: dict[str, dict[str, dict]] = {}
    for r in rows:
        by.setdefault(r["submission"], {})[r["exercise"]] = r
    return {"result": result, "rows": rows, "by": by, "out": out, "elapsed": time.monotonic() - started,
            "submissions": submissions}
