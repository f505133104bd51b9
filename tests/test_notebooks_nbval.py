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

Pedir uma família que a CPU não tem não falha: o torch usa a melhor que houver. As execuções
rodam duas a duas em paralelo (a máquina de CI tem 2 núcleos), todas começam junto com o
primeiro teste deste arquivo.
"""
import os
import pathlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

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


def _run_nbval(path: pathlib.Path, family: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_STATIC": "1", "PYTHONHASHSEED": "0", **FAMILIES[family]}
    if family == "nativo":
        env.pop("ATEN_CPU_CAPABILITY", None)
        env.pop("MKL_CBWR", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg"), str(path.relative_to(ROOT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
    )


@pytest.fixture(scope="module")
def nbval_runs(request):
    """Começa, em paralelo, as execuções de todos os testes deste arquivo selecionados."""
    wanted = [item.callspec.params for item in request.session.items
              if item.module.__name__ == request.module.__name__ and hasattr(item, "callspec")]
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures = {(p["family"], p["path"]): pool.submit(_run_nbval, p["path"], p["family"]) for p in wanted}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.skipif(not NOTEBOOKS, reason="ainda não há notebooks gerados")
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_passes_nbval_strict(path, family, nbval_runs):
    proc = nbval_runs[(family, path)].result()
    assert proc.returncode == 0, (
        f"nbval falhou em {path.name} com a família de kernels '{family}' {FAMILIES[family]}:\n"
        f"{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    )
