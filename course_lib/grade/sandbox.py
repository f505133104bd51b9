"""Caixa de areia do processo do aluno: limites, ambiente, Landlock e criação dos processos.

* `Sandbox`/`make_sandbox`: o que o processo do aluno pode ler e escrever (as mesmas
  listas valem para o audit hook e para o Landlock do núcleo).
* `probe_protection`: o nível de proteção desta máquina, medido pelo PRÓPRIO
  corretor (nunca pelo que o processo do aluno diz).
* `ForkServer`/`PopenHandle`: criação dos processos (um servidor que importa torch
  uma vez e faz fork, ou um interpretador novo por tentativa).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import core
from .child import _become_subreaper, kill_orphans  # o mesmo código do servidor de fork
from .notebooks import COURSE_LIB_DIR, REPO_ROOT

CHILD_SCRIPT = Path(__file__).resolve().with_name("child.py")
MAX_PIPE_BYTES = 64 * 1024 * 1024  # eventos + resultados de uma tentativa
STARTUP_TIMEOUT = 180.0
# módulos importados uma vez pelo servidor de fork (sem gabaritos!)
# torch._dynamo: o primeiro torch.optim.* (o laço de treino de 04.train_model) importa o
# torch._dynamo, e esse import grava TORCHINDUCTOR_CACHE_DIR no ambiente (os.putenv, proibido
# num passo do aluno); importado no aquecimento, antes dos ganchos de auditoria.
PRELOAD = ["numpy", "matplotlib", "matplotlib.pyplot", "course_lib.notebook", "course_lib.plots", "seaborn",
           "torch._dynamo"]



@dataclass
class Limits:
    step_timeout: float = 60.0      # célula do aluno ou avaliação de um exercício
    cell_timeout: float = 120.0     # célula canônica (não é de exercício)
    memory_mb: int = 2048           # RLIMIT_AS do filho: o que ele já ocupa ao começar + isto
    file_mb: int = 64               # RLIMIT_FSIZE do filho (arquivos e stdout)
    disk_mb: int = 256              # total escrito na pasta temporária de uma tentativa
    processes: int = 32             # RLIMIT_NPROC (processos a mais do usuário), fora do root
    startup_timeout: float = STARTUP_TIMEOUT
    server_timeout: float = 15.0    # o servidor de fork tem isto para responder a um pedido

    def grace(self, limit: float) -> float:
        return max(2.0, 0.5 * limit)


@dataclass
class Sandbox:
    """O que o filho pode ler/escrever (caminhos absolutos) e onde está course_lib."""

    course_lib_dir: str
    allow_read: list[str]
    deny: list[str]
    site_dirs: list[str]
    mpl_dir: str = ""              # MPLCONFIGDIR comum (cache de fontes feito antes das proteções)
    landlock_read: list[str] | None = None  # hierarquias legíveis para o Landlock (None = não usar)
    landlock_list: list[str] = field(default_factory=list)  # pastas só listáveis (nomes, não conteúdo)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"sinal {number}"


def describe_exit(returncode: int | None, killed_for_time: bool) -> str:
    if killed_for_time:
        return "passou do limite de tempo (processo encerrado pelo corretor)"
    if returncode is None:
        return "processo interrompido"
    if returncode < 0:
        name = _signal_name(-returncode)
        extra = {
            "SIGKILL": " — memória esgotada ou o próprio código matou o processo",
            "SIGSEGV": " — falha de segmentação",
            "SIGXFSZ": " — arquivo/saída grande demais",
            "SIGABRT": " — abortado",
        }.get(name, "")
        return f"o processo morreu com {name}{extra}"
    return f"o processo terminou sozinho (código de saída {returncode}) antes do fim"


def child_env(cwd: Path, mpl_dir: str = "") -> dict[str, str]:
    """Ambiente mínimo do processo do aluno (nada que aponte para o repositório)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "TMPDIR": str(cwd / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": mpl_dir or str(cwd / ".matplotlib"),
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONIOENCODING": "utf-8",
    }
    if os.environ.get("LD_LIBRARY_PATH"):
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


class PopenHandle:
    """Filho criado com subprocess (um interpretador novo por tentativa)."""

    def __init__(self, config_path: Path, cwd: Path, limits: Limits, output: Path, mpl_dir: str = ""):
        fsize = limits.file_mb * 1024 * 1024

        nproc = nproc_limit(limits.processes)

        def set_limits() -> None:  # entre fork e exec; o corretor não usa threads
            # RLIMIT_AS não: o filho o aplica depois de importar o torch (limite relativo, child.py)
            pairs = [(resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)]
            if nproc:
                pairs.append((resource.RLIMIT_NPROC, nproc))
            for limit, value in pairs:
                try:
                    resource.setrlimit(limit, (value, value))
                except (ValueError, OSError):  # ex.: RLIMIT_AS no macOS
                    pass

        with open(output, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", str(CHILD_SCRIPT), str(config_path)],
                cwd=str(cwd), env=child_env(cwd, mpl_dir), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                preexec_fn=set_limits, start_new_session=True, close_fds=True,
            )
        self.pid = self.proc.pid
        LEGIT_CHILDREN.add(self.pid)

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        _kill_group(self.pid)
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


LEGIT_CHILDREN: set[int] = set()  # filhos deste corretor (servidores de fork, interpretadores)


def become_subreaper() -> bool:
    """Netos órfãos viram filhos deste processo (Linux), para serem mortos por `kill_orphans`."""
    return _become_subreaper()



def nproc_limit(extra: int) -> int:
    """RLIMIT_NPROC para o processo do aluno: os processos que o usuário já tem + `extra`.

    O limite conta todos os processos do usuário; fora do root, isso impede uma
    "bomba de fork". Para o root o núcleo ignora o limite (0 = não aplicar).
    """
    if os.geteuid() == 0 or not os.path.isdir("/proc"):
        return 0
    uid, count = os.getuid(), 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count + extra


def _kill_group(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ForkServer:
    """Processo que importa torch & cia. uma vez e faz fork de um filho por tentativa.

    Corta o custo de ~2-5 s de `import torch` por entrega. Nunca roda código do
    aluno: só os filhos (que instalam as proteções antes de qualquer célula).
    """

    def __init__(self, work_root: Path, sandbox: Sandbox, preload: list[str], timeout: float = STARTUP_TIMEOUT,
                 server_timeout: float = 15.0, name: str = "servidor"):
        home = work_root / name
        (home / "tmp").mkdir(parents=True)
        (home / ".matplotlib").mkdir()
        boot = {"course_lib_dir": sandbox.course_lib_dir, "site_dirs": sandbox.site_dirs, "preload": preload}
        boot_path = work_root / f"{name}.json"
        boot_path.write_text(json.dumps(boot), encoding="utf-8")
        self._log = open(work_root / f"{name}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(CHILD_SCRIPT), "--servidor", str(boot_path)],
            cwd=str(home), env=child_env(home, sandbox.mpl_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True, close_fds=True,
        )
        LEGIT_CHILDREN.add(self.proc.pid)
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = b""
        self._next_id = 0
        self._pid_of: dict[int, int] = {}
        self._exit_of: dict[int, int] = {}
        self._asked_at: dict[int, float] = {}
        self.restarts = 0
        self.server_timeout = server_timeout
        deadline = time.monotonic() + timeout
        self.ready = False
        while time.monotonic() < deadline and not self.ready:
            if self.proc.poll() is not None:
                break
            self.pump(wait=0.1)
        if not self.ready:
            self.close()
            raise RuntimeError("o servidor de fork não iniciou")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pump(self, wait: float = 0.0) -> None:
        import select

        if wait:
            select.select([self._fd], [], [], wait)
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ev") == "server_ready":
                self.ready = True
            elif "id" in message and "pid" in message:
                self._pid_of[message["id"]] = message["pid"]
            elif "pid" in message and "exit" in message:
                self._exit_of[message["pid"]] = message["exit"]

    def launch(self, config_path: Path) -> "ForkHandle":
        self._next_id += 1
        request = (json.dumps({"id": self._next_id, "config": str(config_path)}) + "\n").encode("utf-8")
        self._asked_at[self._next_id] = time.monotonic()
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
        except OSError:
            pass  # servidor morto: o pedido fica sem resposta e o vigia reinicia o servidor
        return ForkHandle(self, self._next_id)

    def stuck(self) -> bool:
        """True se um pedido ficou sem resposta além do prazo (servidor parado ou travado)."""
        now = time.monotonic()
        return any(rid not in self._pid_of and now - at > self.server_timeout for rid, at in self._asked_at.items())

    def kill(self) -> None:
        _kill_group(self.proc.pid)
        self.close()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc.pid)
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


GONE_GRACE = 2.0  # s: quanto esperar o código de saída de um filho que já acabou


def _gone(pid: int) -> bool:
    """O processo `pid` já terminou (não existe, ou é zumbi que ninguém colheu)?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return not _exists(pid)
    return state in (b"Z", b"X")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Launcher:
    """Servidor de fork com vigia: se ele morre, para (SIGSTOP) ou trava, é trocado por outro.

    Depois de `max_restarts` trocas, as tentativas seguintes usam um interpretador
    novo cada (`PopenHandle`): mais lento, mas o lote sempre termina.
    """

    def __init__(self, work_root: Path, sandbox: Sandbox, preload: list[str], max_restarts: int = 3,
                 server_timeout: float = 15.0):
        self.work_root, self.sandbox, self.preload = work_root, sandbox, preload
        self.max_restarts, self.server_timeout = max_restarts, server_timeout
        self.restarts = 0
        self.server: ForkServer | None = ForkServer(work_root, sandbox, preload, server_timeout=server_timeout)

    def alive(self) -> bool:
        return self.server is not None

    def launch(self, config_path: Path) -> "ForkHandle":
        server = self.server
        if server is not None and (not server.alive() or server.stuck()):
            server.kill()
            self.server = server = None
            if self.restarts < self.max_restarts:
                self.restarts += 1
                try:
                    server = self.server = ForkServer(self.work_root, self.sandbox, self.preload,
                                                      server_timeout=self.server_timeout, name=f"servidor{self.restarts}")
                except (OSError, RuntimeError):
                    server = None
        if server is None:
            raise RuntimeError("servidor de fork indisponível")
        return server.launch(config_path)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


class ForkHandle:
    def __init__(self, server: ForkServer, request_id: int):
        self.server = server
        self.request_id = request_id
        self._kill_pending = False
        self._gone_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.server._pid_of.get(self.request_id)

    def poll(self) -> int | None:
        self.server.pump()
        pid = self.pid
        if pid is None:
            if not self.server.alive() or self.server.stuck():
                return -int(signal.SIGKILL)
            return None
        if self._kill_pending:
            self._kill_pending = False
            _kill_group(pid)
        if pid in self.server._exit_of:
            return self.server._exit_of[pid]
        if not self.server.alive():
            return -int(signal.SIGKILL)
        if _gone(pid):
            # O filho acabou; o servidor colhe e manda o código de saída logo depois. Sem esta
            # espera, um fim normal visto antes da mensagem virava "morreu com SIGKILL".
            self.server.pump(wait=0.05)
            if pid in self.server._exit_of:
                return self.server._exit_of[pid]
            if self._gone_at is None:
                self._gone_at = time.monotonic()
            if time.monotonic() - self._gone_at > GONE_GRACE:
                return -int(signal.SIGKILL)  # servidor parado: não colheu o filho
        return None

    def kill(self) -> None:
        if self.pid is None:
            self._kill_pending = True
        else:
            _kill_group(self.pid)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.poll()
            if code is not None:
                return code
            time.sleep(0.02)
        return None




def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def make_sandbox(deny_extra: list[Path]) -> Sandbox:
    """O que o processo do aluno pode ler: bibliotecas, course_lib (sem os gabaritos), sistema."""
    allow: list[str] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        allow.append(prefix)
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            allow.append(paths[key])
    site_dirs = []
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        resolved = Path(entry).resolve()
        if _within(resolved, REPO_ROOT) or resolved == Path.cwd().resolve():
            continue
        if "site-packages" in entry or "dist-packages" in entry:
            site_dirs.append(str(resolved))
    allow += site_dirs
    allow += ["/usr", "/lib", "/lib64", "/lib32", "/etc", "/sys", "/dev/null", "/dev/urandom", "/dev/random", "/dev/zero"]
    checks_dir = COURSE_LIB_DIR / "checks"
    allow.append(str(COURSE_LIB_DIR))
    allow += [str(checks_dir / "__init__.py"), str(checks_dir / "core.py")]
    pycache = checks_dir / "__pycache__"
    if pycache.is_dir():
        allow += [str(p) for p in pycache.iterdir() if p.name.split(".", 1)[0] in ("__init__", "core")]
    deny = [str(REPO_ROOT), str(checks_dir)] + [str(p) for p in deny_extra]
    deny += [d for d in os.environ.get(core.EXTRA_PATH_ENV, "").split(os.pathsep) if d]
    sandbox = Sandbox(str(COURSE_LIB_DIR), sorted(set(allow)), sorted(set(deny)), site_dirs)
    # Landlock: as mesmas pastas, mas sem "exceto": course_lib entra item por item
    # (sem checks/, só o núcleo), e pastas permitidas que contêm algo negado são
    # recortadas em volta do que é negado.
    roots = [p for p in sandbox.allow_read if not _within(Path(p), COURSE_LIB_DIR)]
    read = _carve(roots, [os.path.realpath(d) for d in sandbox.deny])
    read += [str(p) for p in sorted(COURSE_LIB_DIR.iterdir()) if p.name != "checks"]
    read += [p for p in sandbox.allow_read if _within(Path(p), checks_dir)]
    sandbox.landlock_read = read
    sandbox.landlock_list = [str(COURSE_LIB_DIR)]
    return sandbox


def _carve(roots: list[str], excluded: list[str]) -> list[str]:
    """Hierarquias equivalentes a `roots` sem `excluded` (a regra mais específica vence)."""

    def inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)

    out: list[str] = []

    def visit(root: str, depth: int) -> None:
        if root in excluded:
            return
        blockers = [d for d in excluded if d != root and inside(d, root)]
        if not blockers:
            out.append(root)
            return
        if depth > 12:
            return
        try:
            names = sorted(os.listdir(root))
        except OSError:
            return
        for name in names:
            child = os.path.join(root, name)
            if child in blockers:
                continue
            if any(inside(d, child) for d in blockers):
                if os.path.isdir(child) and not os.path.islink(child):
                    visit(child, depth + 1)
                continue
            out.append(child)

    for root in roots:
        visit(os.path.realpath(root), 0)
    return out


def sandbox_for(work_root: Path, deny_extra: list[Path], use_landlock: bool = True) -> Sandbox:
    sandbox = make_sandbox(deny_extra)
    mpl_dir = work_root / "matplotlib"
    mpl_dir.mkdir()
    sandbox.mpl_dir = str(mpl_dir)
    sandbox.allow_read.append(str(mpl_dir))
    if sandbox.landlock_read is not None:
        sandbox.landlock_read.append(str(mpl_dir))
    if not use_landlock:
        sandbox.landlock_read = None
    return sandbox



# ---------------------------------------------------------------------------
# Nível de proteção (medido aqui, no processo do corretor)
# ---------------------------------------------------------------------------

LANDLOCK_MIN_ABI = 6  # a partir da 6 (Linux 6.12) o Landlock também isola sinais


def landlock_abi() -> int:
    """Versão (ABI) do Landlock deste núcleo; 0 se não houver. Só consulta, não restringe nada."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(0, int(abi))


@dataclass
class Protection:
    """Quanta proteção esta correção tem; sai no terminal, no relatório e no arquivo de reprodução."""

    landlock_abi: int
    use_landlock: bool
    enough: bool
    text: str


def probe_protection(no_landlock: bool) -> Protection:
    abi = landlock_abi()
    if no_landlock:
        return Protection(abi, False, False, "SEM caixa de areia do núcleo (--no-landlock): só o audit hook do Python")
    if abi >= LANDLOCK_MIN_ABI:
        return Protection(abi, True, True, f"Landlock ABI {abi}: arquivos, execução, rede TCP e sinais isolados")
    if abi >= 1:
        return Protection(abi, True, False,
                          f"Landlock ABI {abi} (< {LANDLOCK_MIN_ABI}): arquivos isolados, mas sinais não "
                          "(o aluno pode parar o servidor de fork) e, abaixo da ABI 4, nem a rede")
    return Protection(0, False, False, "Landlock indisponível neste sistema: só o audit hook do Python "
                      "(o gabarito pode ser lido por código nativo ou desarmando o hook)")
