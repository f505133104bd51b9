"""O que um aluno recebe numa instalação nova (tools/curso.py, os comandos do README)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import http.client
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import curso  # noqa: E402

OLD_PYTHONS = [Path(f"/root/.pyenv/versions/{v}/bin/python") for v in ("3.6.15", "3.10.13")]


@pytest.mark.parametrize("version, ok", [((3, 10, 13), False), ((3, 11, 7), True), ((3, 12, 1), True),
                                         ((3, 13, 0), True), ((3, 14, 0), False), ((2, 7, 18), False)])
def test_python_version_is_checked_first(version, ok):
    problem = curso.python_problem(version)
    assert (problem is None) == ok
    if not ok:
        assert "precisa do Python 3.11 a 3.13" in problem and ".".join(map(str, version)) in problem


@pytest.mark.parametrize("python", [p for p in OLD_PYTHONS if p.exists()] or [pytest.param(None, marks=pytest.mark.skip("sem Python antigo nesta máquina"))])
def test_old_python_stops_with_a_ptbr_message_before_installing(python, tmp_path):
    """O script roda em Pythons antigos (sintaxe 3.6) e para antes de criar o .venv."""
    proc = subprocess.run([str(python), str(ROOT / "tools" / "curso.py"), "testes"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Este curso precisa do Python 3.11 a 3.13" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_linux_gets_the_cpu_torch_and_other_systems_pypi():
    args = curso.torch_install_args("Linux", "x86_64")
    assert args[-1] == "torch==2.13.0+cpu" and curso.TORCH_CPU_INDEX in args
    assert args[args.index("--retries") + 1] == "1"
    assert curso.torch_install_args("Linux", "aarch64")[-1] == "torch==2.13.0"
    assert curso.torch_install_args("Darwin", "arm64") == []
    assert curso.torch_install_args("Windows", "AMD64") == []
    pinned = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l.startswith("torch")]
    assert pinned == ["torch==2.13.0"]  # o +cpu instalado antes satisfaz este pino: nada é reinstalado


def _fake_wheel(folder: Path, version: str, requires: list[str]) -> None:
    dist = f"torch-{version}.dist-info"
    name = folder / f"torch-{version}-py3-none-any.whl"
    meta = "Metadata-Version: 2.1\nName: torch\nVersion: {}\n{}".format(
        version, "".join(f"Requires-Dist: {r}\n" for r in requires))
    with zipfile.ZipFile(name, "w") as z:
        z.writestr(f"{dist}/METADATA", meta)
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: teste\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")


def _dry_run(find_links: Path, *specs: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
         "--no-index", "--find-links", str(find_links), *specs],
        capture_output=True, text=True, timeout=120, env=env,
    )
    if proc.returncode != 0:
        return None
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in json.loads(proc.stdout)["install"]]


def test_pip_resolution_of_the_linux_command_has_no_cuda(tmp_path):
    """Com o build CUDA e o de CPU à vista (PyPI + índice de CPU), o pino +cpu não puxa nvidia-*.

    Os dois wheels são falsos (só metadados), com as dependências que os de verdade declaram.
    """
    pypi, both = tmp_path / "pypi", tmp_path / "pypi_e_cpu"
    for folder in (pypi, both):
        folder.mkdir()
        for dep in ("nvidia-cublas-cu12", "triton"):
            d = f"{dep.replace('-', '_')}-1.0.dist-info"
            with zipfile.ZipFile(folder / f"{dep.replace('-', '_')}-1.0-py3-none-any.whl", "w") as z:
                z.writestr(f"{d}/METADATA", f"Metadata-Version: 2.1\nName: {dep}\nVersion: 1.0\n")
                z.writestr(f"{d}/WHEEL", "Wheel-Version: 1.0\nGenerator: teste\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
                z.writestr(f"{d}/RECORD", "")
        _fake_wheel(folder, "2.13.0", ["nvidia-cublas-cu12", "triton"])
    _fake_wheel(both, "2.13.0+cpu", [])
    spec = curso.torch_install_args("Linux", "x86_64")[-1]
    # controle: o pino comum, só com o PyPI, puxa o build CUDA
    assert sorted(_dry_run(pypi, "torch==2.13.0")) == ["nvidia-cublas-cu12==1.0", "torch==2.13.0", "triton==1.0"]
    assert _dry_run(both, spec) == ["torch==2.13.0+cpu"]
    # sem o índice de CPU, o pino +cpu falha em vez de baixar o CUDA em silêncio
    assert _dry_run(pypi, spec) is None
    # Depois, o `torch==2.13.0` de requirements.txt é satisfeito pelo +cpu instalado.
    from pip._vendor.packaging.specifiers import SpecifierSet
    assert "2.13.0+cpu" in SpecifierSet("==2.13.0")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, token: str):
    """GET no servidor local (127.0.0.1): o teste não sai da máquina."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {token}"})
        response = conn.getresponse()
        if response.status != 200:
            raise OSError(f"HTTP {response.status} em {path}")
        return json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_server_serves_the_repository_root(app, tmp_path):
    """Como o README abre o curso: os exercícios e as soluções estão ao alcance, e a lição 00 abre."""
    port, token = _free_port(), "teste-" + os.urandom(6).hex()
    args = curso.jupyter_args(app, ["--no-browser", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
                                    "--ServerApp.open_browser=False"])
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    proc = subprocess.Popen([sys.executable] + args, cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        exercise = None
        for _ in range(120):
            try:
                exercise = _get(port, "/api/contents/exercises/00_boas_vindas.ipynb?content=0", token)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            exercise = None
        assert exercise is not None, proc.stdout.read() if proc.poll() is not None else "servidor não respondeu"
        assert exercise["type"] == "notebook"
        assert _get(port, "/api/contents/solutions?content=1", token)["type"] == "directory"
        lesson_url = _get(port, f"/api/contents/{curso.FIRST_NOTEBOOK}?content=0", token)
        assert lesson_url["path"] == curso.FIRST_NOTEBOOK
        assert curso.FIRST_NOTEBOOK in [a for a in args if a.startswith("--ServerApp.default_url=")][0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
