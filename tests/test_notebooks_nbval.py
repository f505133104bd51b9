"""nbval estrito (saídas comparadas) em cada lição (notebooks/) e cada solução (solutions/),
sob várias famílias de kernels de CPU.

Cada notebook roda num kernel novo, num subprocesso, exatamente como no comando documentado:
    pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg notebooks solutions

Os últimos dígitos de float32 mudam com os kernels que o torch escolhe para a CPU (AVX-512,
AVX2, sem vetorização) e com o caminho do MKL (outro em CPUs AMD; Apple e ARM não têm MKL).
Uma saída guardada que só reproduz numa família é um defeito, então cada notebook roda:

- `nativo`: a família que o torch escolhe nesta máquina;
- `default`: `ATEN_CPU_CAPABILITY=default` (kernels sem vetorização, como numa CPU sem AVX);
- `avx2`: `ATEN_CPU_CAPABILITY=avx2`;
- `default+mkl`: `ATEN_CPU_CAPABILITY=default` com `MKL_CBWR=COMPATIBLE` (o MKL no caminho
  genérico; muda o resultado de matmul e de somas de exponenciais em float32).

Pedir uma família que a CPU não tem não falha: o torch usa a melhor que houver.

Custo: a partida do pytest com o nbval leva ~4 s, então cada família roda em **dois** processos
de pytest (metade dos notebooks em cada), não um por notebook. Os processos começam logo depois
da coleta (`conftest.py`), **um por vez enquanto o resto da suíte roda** (o processo principal do
pytest usa quase só um núcleo; a máquina de CI tem 2), e estes testes vão para o fim da fila; quando
o pytest chega neles, entra um segundo processo por vez. Cada teste lê o resultado do seu notebook
no relatório JUnit do processo que o rodou.
"""
import os
import queue
import re
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import Future

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
FAMILIES = {
    "nativo": {},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "default+mkl": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
}
WORKERS = 2
CHUNKS = 2


def _run_nbval(paths: list[pathlib.Path], family: str, report: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_STATIC": "1", "PYTHONHASHSEED": "0", **FAMILIES[family]}
    if family == "nativo":
        env.pop("ATEN_CPU_CAPABILITY", None)
        env.pop("MKL_CBWR", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg"), f"--junitxml={report}",
               *(str(p.relative_to(ROOT)) for p in paths)]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as proc:
        ALIVE.add(proc)
        try:
            out, err = proc.communicate(timeout=1500)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        finally:
            ALIVE.discard(proc)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


ALIVE: set = set()


def stop_background() -> None:
    """Fim da sessão (também com -x ou Ctrl+C): nenhum nbval fica rodando sozinho."""
    while not RUNS.jobs.empty():
        try:
            RUNS.jobs.get_nowait()
        except queue.Empty:
            break
    for proc in list(ALIVE):
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass
    for folder in RUNS.reports:
        shutil.rmtree(folder, ignore_errors=True)


def _notebook_result(proc: subprocess.CompletedProcess, report: pathlib.Path, path: pathlib.Path) -> list[str]:
    """Problemas do notebook `path` no relatório JUnit (lista vazia = passou)."""
    if not report.exists():
        return [f"o pytest não escreveu o relatório (código {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"]
    classname = f"{path.parent.name}.{path.name}"
    cases = [tc for tc in ET.parse(report).getroot().iter("testcase") if tc.get("classname") == classname]
    if not cases:
        return [f"nenhuma célula de {path.name} rodou:\n{proc.stdout[-3000:]}"]
    problems = []
    for tc in cases:
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                text = re.sub(r"#x1B\[\d+m|\x1b\[\d+m", "", child.text or child.get("message") or "")
                problems.append(f"{tc.get('name')} ({child.tag}): {text[-3000:]}")
    return problems


class _Runs:
    """Fila dos processos de nbval (família × metade dos notebooks) e os trabalhadores que a esvaziam."""

    def __init__(self):
        self.jobs: queue.Queue = queue.Queue()
        self.runs: dict = {}
        self.workers = 0
        self.reports: list[pathlib.Path] = []

    def schedule(self, items) -> None:
        by_family: dict[str, list[pathlib.Path]] = {}
        for item in items:
            params = item.callspec.params
            by_family.setdefault(params["family"], []).append(params["path"])
        reports = pathlib.Path(tempfile.mkdtemp(prefix="nbval-"))
        self.reports.append(reports)
        for family, paths in by_family.items():
            for i in range(CHUNKS):
                chunk = paths[i::CHUNKS]
                if not chunk:
                    continue
                report, future = reports / f"{family}-{i}.xml", Future()
                self.jobs.put((chunk, family, report, future))
                for path in chunk:
                    self.runs[(family, path)] = (future, report)

    def add_workers(self, total: int) -> None:
        while self.workers < total:
            self.workers += 1
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                chunk, family, report, future = self.jobs.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(_run_nbval(chunk, family, report))
            except BaseException as exc:  # noqa: BLE001 - o teste mostra o erro
                future.set_exception(exc)


RUNS = _Runs()


def start_in_background(items) -> None:
    """Chamado pelo conftest.py logo depois da coleta: enfileira os notebooks selecionados e põe
    um processo a rodar, em paralelo com o resto da suíte."""
    RUNS.schedule(items)
    RUNS.add_workers(1)


@pytest.fixture(scope="module")
def nbval_runs():
    """Chegou a vez destes testes: o processo principal fica livre, então entra mais um trabalhador."""
    RUNS.add_workers(WORKERS)
    return RUNS.runs


@pytest.mark.skipif(not NOTEBOOKS, reason="ainda não há notebooks gerados")
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_passes_nbval_strict(path, family, nbval_runs):
    future, report = nbval_runs[(family, path)]
    problems = _notebook_result(future.result(), report, path)
    assert not problems, (
        f"nbval falhou em {path.name} com a família de kernels '{family}' {FAMILIES[family]}:\n"
        + "\n".join(problems)[-8000:]
    )
