"""Execução isolada de uma entrega: processo filho, vigia de tempo e novas tentativas.

Uma tentativa = um processo filho (``child.py``) que roda o notebook canônico com
as células de exercício do aluno, passo a passo, e devolve eventos por um FIFO.

* Servidor de fork (padrão): um processo importa torch/course_lib/matplotlib uma
  vez e faz ``fork`` de um filho por tentativa (~0,1 s em vez de ~2-5 s). Ele
  nunca roda código de aluno. Sem ele (``--no-fork-server``), cada tentativa é um
  ``python -I`` novo, com os limites aplicados em ``preexec_fn``.
* Limites do filho: memória virtual (RLIMIT_AS), tamanho de arquivo
  (RLIMIT_FSIZE), sem core dump; sessão própria (o corretor mata o grupo todo).
  O corretor é de uma thread só (``preexec_fn`` é seguro).
* Proteções dentro do filho (ver ``child.py``): Landlock (Linux), audit hook e
  meta path finder, instalados antes da primeira célula.
* Vigia: cada passo tem um limite de tempo (SIGALRM dentro do filho; e o corretor
  mata o grupo de processos se o passo passar do limite + folga).
* Se o filho morrer ou travar num passo, esse passo leva a culpa (``erro`` ou
  ``tempo_esgotado`` para o exercício dele) e uma nova tentativa roda o notebook
  de novo sem ele, para avaliar os exercícios que faltam.
"""

from __future__ import annotations

import base64
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .notebooks import CanonicalNotebook, strip_magics

CHILD_SCRIPT = Path(__file__).resolve().with_name("child.py")
MAX_PIPE_BYTES = 64 * 1024 * 1024  # eventos + resultados de uma tentativa
STARTUP_TIMEOUT = 180.0
# módulos importados uma vez pelo servidor de fork (sem gabaritos!)
PRELOAD = ["numpy", "matplotlib", "matplotlib.pyplot", "course_lib.notebook", "course_lib.plots", "seaborn"]


@dataclass
class Limits:
    step_timeout: float = 60.0      # célula do aluno ou avaliação de um exercício
    cell_timeout: float = 120.0     # célula canônica (não é de exercício)
    memory_mb: int = 2048           # RLIMIT_AS do filho
    file_mb: int = 64               # RLIMIT_FSIZE do filho (arquivos e stdout)
    startup_timeout: float = STARTUP_TIMEOUT

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
        memory = limits.memory_mb * 1024 * 1024
        fsize = limits.file_mb * 1024 * 1024

        def set_limits() -> None:  # entre fork e exec; o corretor não usa threads
            for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)):
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

    def __init__(self, work_root: Path, sandbox: Sandbox, preload: list[str], timeout: float = STARTUP_TIMEOUT):
        home = work_root / "servidor"
        (home / "tmp").mkdir(parents=True)
        (home / ".matplotlib").mkdir()
        boot = {"course_lib_dir": sandbox.course_lib_dir, "site_dirs": sandbox.site_dirs, "preload": preload}
        boot_path = work_root / "servidor.json"
        boot_path.write_text(json.dumps(boot), encoding="utf-8")
        self._log = open(work_root / "servidor.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(CHILD_SCRIPT), "--servidor", str(boot_path)],
            cwd=str(home), env=child_env(home, sandbox.mpl_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True, close_fds=True,
        )
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = b""
        self._next_id = 0
        self._pid_of: dict[int, int] = {}
        self._exit_of: dict[int, int] = {}
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
        self.proc.stdin.write(request)
        self.proc.stdin.flush()
        return ForkHandle(self, self._next_id)

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


class ForkHandle:
    def __init__(self, server: ForkServer, request_id: int):
        self.server = server
        self.request_id = request_id
        self._kill_pending = False

    @property
    def pid(self) -> int | None:
        return self.server._pid_of.get(self.request_id)

    def poll(self) -> int | None:
        self.server.pump()
        pid = self.pid
        if pid is None:
            if not self.server.alive():
                return -int(signal.SIGKILL)
            return None
        if self._kill_pending:
            self._kill_pending = False
            _kill_group(pid)
        if pid in self.server._exit_of:
            return self.server._exit_of[pid]
        if not self.server.alive():
            return -int(signal.SIGKILL)
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


@dataclass
class Job:
    """Correção de uma entrega (várias tentativas, se preciso)."""

    index: int
    rel: str
    canonical: CanonicalNotebook
    sources: dict[str, str | None]          # exercício -> fonte (None = usar a canônica)
    to_evaluate: list[str]                  # exercícios a avaliar
    func_names: dict[str, str]
    cases_file: str
    work_root: Path
    limits: Limits
    sandbox: Sandbox
    launcher: Any = None                    # ForkServer ou None (um interpretador por tentativa)
    max_attempts: int = 0

    # estado acumulado entre tentativas
    results: dict[str, Any] = field(default_factory=dict)        # exercício -> dados da avaliação
    eval_errors: dict[str, str] = field(default_factory=dict)    # exercício -> erro da avaliação
    cell_errors: dict[str, str] = field(default_factory=dict)    # exercício -> erro na célula do aluno
    blamed: dict[str, tuple[str, str]] = field(default_factory=dict)  # chave do passo -> (status, detalhe)
    skipped_cells: set[int] = field(default_factory=set)
    canonical_problems: list[str] = field(default_factory=list)
    violations: list[tuple[str | None, str]] = field(default_factory=list)
    attempts: int = 0
    landlock: str = ""
    fatal: str | None = None
    seconds: float = 0.0

    # estado da tentativa em curso
    _proc: Any = None
    _fd: int | None = None
    _keep_fd: int | None = None
    _buffer: bytearray = field(default_factory=bytearray)
    _total_bytes: int = 0
    _ready: bool = False
    _done: bool = False
    _current: str | None = None
    _last_started: str | None = None
    _step_since: float = 0.0
    _spawned_at: float = 0.0
    _killed_for_time: bool = False
    _kill_reason: str | None = None
    _attempt_dir: Path | None = None

    def __post_init__(self) -> None:
        if not self.max_attempts:
            self.max_attempts = len(self.to_evaluate) + 3

    # ------------------------------------------------------------------
    def pending(self) -> list[str]:
        return [
            ex for ex in self.to_evaluate
            if ex not in self.results and ex not in self.eval_errors
            and f"x:{ex}" not in self.blamed and f"e:{ex}" not in self.blamed
        ]

    def needs_run(self) -> bool:
        return self.fatal is None and bool(self.pending()) and self.attempts < self.max_attempts

    def build_steps(self) -> list[dict]:
        pending = set(self.pending())
        steps = []
        by_cell = {ex.cell_index: ex for ex in self.canonical.exercises}
        for cell in self.canonical.cells:
            if cell.cell_type != "code" or "check" in cell.tags:
                continue
            ex = by_cell.get(cell.index)
            if ex is None:
                if cell.index in self.skipped_cells:
                    continue
                code, _ = strip_magics(cell.source)
                steps.append({"key": f"c:{cell.index}", "kind": "cell", "source": code,
                              "filename": f"<célula {cell.index} do notebook original>"})
                continue
            source = self.sources.get(ex.id)
            if source is None or f"x:{ex.id}" in self.blamed:
                source = cell.source  # versão distribuída (NotImplementedError)
            code, _ = strip_magics(source)
            steps.append({"key": f"x:{ex.id}", "kind": "exercise_cell", "exercise": ex.id, "source": code,
                          "func_name": self.func_names.get(ex.id) or ex.func_name or "",
                          "filename": f"<célula do exercício {ex.id}>"})
            if ex.id in pending:
                steps.append({"key": f"e:{ex.id}", "kind": "evaluate", "exercise": ex.id,
                              "func_name": self.func_names.get(ex.id) or ex.func_name or ""})
        return steps

    # ------------------------------------------------------------------
    def start(self) -> None:
        self.attempts += 1
        attempt_dir = self.work_root / f"e{self.index:05d}-t{self.attempts}"
        cwd = attempt_dir / "cwd"
        (cwd / "tmp").mkdir(parents=True)
        (cwd / ".matplotlib").mkdir()
        events = attempt_dir / "eventos"
        os.mkfifo(events, 0o600)
        # leitura não bloqueante + uma ponta de escrita nossa (nunca usada): assim a
        # leitura não vê "fim de arquivo" antes de o filho abrir o FIFO
        read_fd = os.open(events, os.O_RDONLY | os.O_NONBLOCK)
        self._keep_fd = os.open(events, os.O_WRONLY | os.O_NONBLOCK)
        config = {
            "events": str(events),
            "output": str(attempt_dir / "saida.txt"),
            "env": child_env(cwd, self.sandbox.mpl_dir),
            "preload": PRELOAD,
            "memory_bytes": self.limits.memory_mb * 1024 * 1024,
            "file_bytes": self.limits.file_mb * 1024 * 1024,
            "course_lib_dir": self.sandbox.course_lib_dir,
            "site_dirs": self.sandbox.site_dirs,
            "cases": self.cases_file,
            "cwd": str(cwd),
            "allow_read": self.sandbox.allow_read + [str(cwd)],
            "allow_write": [str(cwd)],
            "deny": self.sandbox.deny,
            "step_timeout": self.limits.step_timeout,
            "cell_timeout": self.limits.cell_timeout,
            "steps": self.build_steps(),
            "landlock": ({"read": self.sandbox.landlock_read, "list": self.sandbox.landlock_list}
                         if self.sandbox.landlock_read is not None else None),
        }
        config_path = attempt_dir / "tarefa.json"
        config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        self._fd = read_fd
        self._attempt_dir = attempt_dir
        self._buffer = bytearray()
        self._total_bytes = 0
        self._ready = self._done = self._killed_for_time = False
        self._current = self._last_started = self._kill_reason = None
        self._spawned_at = self._step_since = time.monotonic()
        try:
            if self.launcher is not None and self.launcher.alive():
                self._proc = self.launcher.launch(config_path)
            else:
                self._proc = PopenHandle(config_path, cwd, self.limits, attempt_dir / "saida.txt", self.sandbox.mpl_dir)
        except BaseException:
            self._close_fds()
            raise

    def _close_fds(self) -> None:
        for name in ("_fd", "_keep_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, None)

    def _kill(self, reason: str, for_time: bool) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._kill_reason = reason
        self._killed_for_time = for_time
        self._proc.kill()

    def kill(self) -> None:
        self._kill("corretor interrompido", False)

    def _read_pipe(self) -> None:
        if self._fd is None:
            return
        while True:
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                return
            self._total_bytes += len(chunk)
            if self._total_bytes > MAX_PIPE_BYTES:
                self._kill("o processo mandou dados demais ao corretor", False)
                self._close_fds()
                return
            self._buffer += chunk
            self._handle_lines()

    def _handle_lines(self) -> None:
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            try:
                event = json.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
            if isinstance(event, dict):
                self._handle_event(event)

    def _handle_event(self, event: dict) -> None:
        now = time.monotonic()
        kind = event.get("ev")
        key = event.get("key") if isinstance(event.get("key"), str) else None
        if kind == "ready":
            self._ready = True
            self._step_since = now
            if isinstance(event.get("landlock"), str):
                self.landlock = event["landlock"][:200]
        elif kind == "start" and key:
            self._current = self._last_started = key
            self._step_since = now
        elif kind == "end" and key:
            self._current = None
            self._step_since = now
            self._record_end(key, event)
        elif kind == "violation":
            what = event.get("what")
            if isinstance(what, str):
                self.violations.append((key, what[:300]))
        elif kind == "done":
            self._done = True

    def _record_end(self, key: str, event: dict) -> None:
        error = event.get("error") if isinstance(event.get("error"), str) else None
        timeout = event.get("timeout") is True
        prefix, _, name = key.partition(":")
        if prefix == "c":
            if timeout:
                self.canonical_problems.append(f"a célula {name} do notebook original passou do tempo")
            elif error:
                self.canonical_problems.append(f"a célula {name} do notebook original falhou: {error.splitlines()[0][:200]}")
        elif prefix == "x":
            if timeout:
                self.blamed[key] = ("tempo_esgotado", "a célula do exercício passou do limite de tempo")
            elif error:
                self.cell_errors[name] = error
        elif prefix == "e":
            if timeout:
                self.blamed[key] = ("tempo_esgotado", "a função passou do limite de tempo nos casos")
            elif error:
                self.eval_errors[name] = error
            else:
                payload = event.get("payload")
                try:
                    raw = base64.b64decode(payload, validate=True)
                    data = torch.load(io.BytesIO(raw), weights_only=True)
                except Exception as exc:  # noqa: BLE001 - dado do aluno, nunca confiável
                    self.eval_errors[name] = f"resultado ilegível ({type(exc).__name__})"
                    return
                self.results[name] = data

    def poll(self) -> bool:
        """Lê eventos e vigia o tempo; True quando a tentativa acabou."""
        if self._proc is None:
            return True
        self._read_pipe()
        returncode = self._proc.poll()
        if returncode is not None:
            self._read_pipe()
            return True
        now = time.monotonic()
        if not self._ready:
            if now - self._spawned_at > self.limits.startup_timeout:
                self._kill("o processo não iniciou a tempo", True)
            return False
        current = self._current
        limit = self.limits.cell_timeout if (current or "").startswith("c:") else self.limits.step_timeout
        if now - self._step_since > limit + self.limits.grace(limit):
            self._kill("passou do limite de tempo", True)
        return False

    def output_tail(self, size: int = 600) -> str:
        if self._attempt_dir is None:
            return ""
        try:
            with open(self._attempt_dir / "saida.txt", "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def finish_attempt(self) -> None:
        """Fecha a tentativa e atribui a culpa se o processo não chegou ao fim."""
        proc = self._proc
        if proc is None:
            return
        returncode = proc.wait(10)
        if returncode is None:
            self._kill("processo não terminou", False)
            returncode = proc.wait(30)
        self._read_pipe()
        self._close_fds()
        self.seconds += time.monotonic() - self._spawned_at
        self._proc = None
        if self._done and returncode == 0 and not self._killed_for_time:
            return
        reason = describe_exit(returncode, self._killed_for_time)
        if self._kill_reason and not self._killed_for_time:
            reason = self._kill_reason
        culprit = self._current or (self._last_started if self._ready else None)
        if not self._ready:
            tail = self.output_tail()
            self.fatal = f"o processo do aluno não iniciou ({reason})" + (f": {tail[-300:]}" if tail else "")
            return
        if culprit is None:
            self.fatal = f"o processo parou antes do primeiro passo ({reason})"
            return
        status = "tempo_esgotado" if self._killed_for_time else "erro"
        prefix, _, name = culprit.partition(":")
        if prefix == "c":
            index = int(name) if name.isdigit() else -1
            if index in self.skipped_cells:
                self.fatal = f"o processo falhou de novo na célula {name} do notebook original ({reason})"
                return
            self.skipped_cells.add(index)
            self.canonical_problems.append(
                f"a célula {name} do notebook original {'travou' if status == 'tempo_esgotado' else 'derrubou o processo'} "
                f"({reason}) e foi pulada"
            )
            return
        if culprit in self.blamed:
            self.fatal = f"o processo falhou de novo no mesmo passo ({reason})"
            return
        where = "na célula do exercício" if prefix == "x" else "ao rodar a função nos casos"
        self.blamed[culprit] = (status, f"{where}: {reason}")

    def cleanup(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None
        self._close_fds()


def run_jobs(jobs: list[Job], parallel: int, on_finished, poll_interval: float = 0.05) -> None:
    """Agenda as tentativas (até `parallel` filhos ao mesmo tempo) numa thread só."""
    queue = [job for job in jobs if job.needs_run()]
    for job in jobs:
        if not job.needs_run():
            on_finished(job)
    running: list[Job] = []
    try:
        while queue or running:
            while queue and len(running) < parallel:
                job = queue.pop(0)
                try:
                    job.start()
                except Exception as exc:  # noqa: BLE001 - falha ao criar o processo
                    job.fatal = f"não consegui iniciar o processo do aluno: {exc}"
                    on_finished(job)
                    continue
                running.append(job)
            time.sleep(poll_interval)
            for job in list(running):
                if not job.poll():
                    continue
                running.remove(job)
                job.finish_attempt()
                if job.needs_run():
                    queue.insert(0, job)
                else:
                    on_finished(job)
    finally:
        for job in running:
            job.cleanup()
