"""nbval estrito (saídas comparadas) em cada lição (notebooks/) e cada solução (solutions/).

Cada notebook roda num kernel novo, num subprocesso, exatamente como no comando documentado:
    pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg notebooks solutions
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))


@pytest.mark.skipif(not NOTEBOOKS, reason="ainda não há notebooks gerados")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_passes_nbval_strict(path):
    env = {**os.environ, "COURSE_STATIC": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg"), str(path.relative_to(ROOT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"nbval falhou em {path.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
