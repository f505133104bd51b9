"""Prepara o ambiente do curso e abre o JupyterLab (ou roda os testes).

    python3 tools/curso.py            # instala (uma vez) e abre o curso no JupyterLab
    python3 tools/curso.py testes     # instala (uma vez) e roda todos os testes
    python3 tools/curso.py notebook   # como o primeiro, mas no Jupyter Notebook 7

No Windows: `py tools\\curso.py` (ou `python tools\\curso.py`).

O que ele faz, nesta ordem:
1. confere a versão do Python (3.11 a 3.13) e para com uma mensagem clara se não servir;
2. cria o ambiente virtual `.venv` na raiz do repositório, se não existir;
3. no Linux, instala o torch de **CPU** do índice oficial do PyTorch (o `pip install torch`
   comum do Linux traz o build CUDA, de vários GB, que o curso não usa); no macOS e no
   Windows o torch do PyPI já é de CPU;
4. instala `requirements.txt` e a biblioteca `course_lib` (editável); pula os passos 3 e 4
   se nada mudou desde a última instalação;
5. abre o JupyterLab servindo a **raiz do repositório** (lições, exercícios e soluções ao
   alcance) com a lição 00 aberta, ou roda o pytest.

Este arquivo roda com o Python do sistema, que pode ser antigo: a sintaxe é a do Python 3.6.
"""
import hashlib
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
SUPPORTED = ((3, 11), (3, 13))  # inclusive
TORCH_VERSION = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FIRST_NOTEBOOK = "notebooks/00_boas_vindas.ipynb"
STAMP = ".curso-instalado"


def python_problem(version):
    """Mensagem em pt-BR se `version` (tupla) não for suportada; None se servir."""
    low, high = SUPPORTED
    if low <= tuple(version[:2]) <= high:
        return None
    found = ".".join(str(v) for v in version[:3])
    return (
        "Este curso precisa do Python {}.{} a {}.{}; este é o Python {} ({}).\n"
        "Instale um Python suportado (python.org, o gerenciador de pacotes do sistema ou o pyenv) "
        "e rode de novo com ele, por exemplo: python3.11 tools/curso.py".format(
            low[0], low[1], high[0], high[1], found, sys.executable)
    )


def venv_python(venv=VENV):
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def torch_install_args(system=None, machine=None):
    """Argumentos do pip para instalar o torch de CPU, ou [] onde o do PyPI já é de CPU.

    No Linux x86-64 o torch do PyPI é o build CUDA (nvidia-*, triton: vários GB). O índice de
    CPU do PyTorch tem `torch==X+cpu`; fixar o `+cpu` garante que, se esse índice estiver fora
    do ar, a instalação falha com uma mensagem em vez de baixar o build CUDA em silêncio.
    `--retries 1`: onde o índice não é alcançável (uma rede que só vê o PyPI), o pip desiste em
    segundos e usa o que achar nos outros índices configurados, em vez de minutos tentando.
    """
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system != "Linux":
        return []
    spec = "torch=={}+cpu".format(TORCH_VERSION) if machine in ("x86_64", "amd64") else "torch=={}".format(TORCH_VERSION)
    return ["install", "--retries", "1", "--extra-index-url", TORCH_CPU_INDEX, spec]


def requirements_args():
    return ["install", "-r", os.path.join(ROOT, "requirements.txt"), "-e", ROOT]


def jupyter_args(app="lab", extra=()):
    """Argumentos do `python -m jupyter`: serve a raiz do repositório e abre a lição 00.

    Passar só o caminho do notebook faria o Jupyter servir a pasta dele (`notebooks/`), e os
    exercícios ficariam fora de alcance. Como root (contêineres, laboratórios) o Jupyter se
    recusa a abrir sem `--allow-root`: acrescentamos e avisamos.
    """
    url = "/lab/tree/" + FIRST_NOTEBOOK if app == "lab" else "/notebooks/" + FIRST_NOTEBOOK
    args = ["-m", "jupyter", app, "--ServerApp.root_dir=" + ROOT, "--ServerApp.default_url=" + url]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args + list(extra)


def _stamp_value():
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        with open(os.path.join(ROOT, name), "rb") as f:
            digest.update(f.read())
    digest.update(" ".join(torch_install_args()).encode())
    return digest.hexdigest()


def _run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def setup():
    """Cria o .venv e instala o que falta; devolve o caminho do Python do ambiente."""
    python = venv_python()
    if not os.path.exists(python):
        print("Criando o ambiente virtual em {} ...".format(VENV), flush=True)
        if _run([sys.executable, "-m", "venv", VENV]) != 0:
            sys.exit("Não consegui criar o ambiente virtual (no Debian/Ubuntu: sudo apt install python3-venv).")
    stamp = os.path.join(VENV, STAMP)
    if os.path.exists(stamp) and open(stamp).read() == _stamp_value():
        return python
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    torch_args = torch_install_args()
    if torch_args and _run(pip + torch_args) != 0:
        sys.exit(
            "Não consegui instalar o torch de CPU ({}). Confira a internet e rode de novo; "
            "o índice usado é {}.".format(torch_args[-1], TORCH_CPU_INDEX)
        )
    if _run(pip + requirements_args()) != 0:
        sys.exit("A instalação de requirements.txt falhou (veja a mensagem do pip acima).")
    with open(stamp, "w") as f:
        f.write(_stamp_value())
    return python


def main(argv):
    problem = python_problem(sys.version_info)
    if problem:
        sys.exit(problem)
    command = argv[0] if argv else "abrir"
    if command not in ("abrir", "testes", "notebook"):
        sys.exit("Comando desconhecido: {!r}. Use: abrir (padrão), testes ou notebook.".format(command))
    if command == "testes" and not os.path.isdir(os.path.join(ROOT, "tests")):
        sys.exit("Esta cópia do curso não tem a pasta tests/ (é a edição do aluno): a suíte de testes vem só no "
                 "repositório completo. Para conferir um notebook seu, de um kernel limpo: "
                 ".venv/bin/pytest --nbval-lax --nbval-current-env exercises/NN_nome.ipynb")
    python = setup()
    os.chdir(ROOT)
    if command == "testes":
        return subprocess.call([python, "-m", "pytest"] + argv[1:])
    app = "lab" if command == "abrir" else "notebook"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print("Aviso: rodando como root; o Jupyter abre com --allow-root.", flush=True)
    return subprocess.call([python] + jupyter_args(app, argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
