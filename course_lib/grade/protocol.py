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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .notebooks import CanonicalNotebook, strip_magics
from .sandbox import (MAX_PIPE_BYTES, PRELOAD, Limits, PopenHandle, Sandbox, child_env, describe_exit, nproc_limit,
                      LEGIT_CHILDREN, become_subreaper, kill_orphans)

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
    launcher: Any = None                    # Launcher (servidor de fork) ou None (um interpretador por tentativa)
    max_attempts: int = 0
    helper_source: str | None = None        # def/class/import das células extras do aluno
    forbidden: dict[str, dict[str, str]] = field(default_factory=dict)  # exercício -> APIs proibidas
    landlock_required: bool = True

    # estado acumulado entre tentativas
    results: dict[str, Any] = field(default_factory=dict)        # exercício -> dados da avaliação
    eval_errors: dict[str, str] = field(default_factory=dict)    # exercício -> erro da avaliação
    cell_errors: dict[str, str] = field(default_factory=dict)    # exercício -> erro na célula do aluno
    blamed: dict[str, tuple[str, str]] = field(default_factory=dict)  # chave do passo -> (status, detalhe)
    skipped_cells: set[int] = field(default_factory=set)
    canonical_problems: list[str] = field(default_factory=list)
    helper_problem: str | None = None
    skip_helpers: bool = False
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
    _cwd: Path | None = None
    _disk_checked: float = 0.0
    _started_any: bool = False

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
        helpers_done = not self.helper_source or self.skip_helpers
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
            if not helpers_done:
                helpers_done = True
                steps.append({"key": "h:0", "kind": "helper_cell", "source": self.helper_source,
                              "filename": "<definições das suas células extras>"})
            source = self.sources.get(ex.id)
            if source is None or f"x:{ex.id}" in self.blamed:
                source = cell.source  # versão distribuída (NotImplementedError)
            code, _ = strip_magics(source)
            steps.append({"key": f"x:{ex.id}", "kind": "exercise_cell", "exercise": ex.id, "source": code,
                          "func_name": self.func_names.get(ex.id) or ex.func_name or "",
                          "filename": f"<célula do exercício {ex.id}>"})
            if ex.id in pending:
                steps.append({"key": f"e:{ex.id}", "kind": "evaluate", "exercise": ex.id,
                              "func_name": self.func_names.get(ex.id) or ex.func_name or "",
                              "forbidden": self.forbidden.get(ex.id) or {}})
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
            "landlock_required": self.landlock_required and self.sandbox.landlock_read is not None,
            "output_bytes": OUTPUT_BYTES,
            "nproc": nproc_limit(self.limits.processes),
        }
        config_path = attempt_dir / "tarefa.json"
        config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        self._fd = read_fd
        self._attempt_dir = attempt_dir
        self._buffer = bytearray()
        self._total_bytes = 0
        self._ready = self._done = self._killed_for_time = self._started_any = False
        self._current = self._last_started = self._kill_reason = None
        self._spawned_at = self._step_since = time.monotonic()
        self._cwd = cwd
        self._disk_checked = 0.0
        try:
            self._proc = None
            if self.launcher is not None and self.launcher.alive():
                try:
                    self._proc = self.launcher.launch(config_path)
                except RuntimeError:
                    self._proc = None  # servidor fora do ar: um interpretador novo
            if self._proc is None:
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
            if self._ready:
                return  # só o primeiro (mandado antes de qualquer código do aluno) vale
            self._ready = True
            self._step_since = now
            if isinstance(event.get("landlock"), str):
                self.landlock = event["landlock"][:200]
        elif kind == "refused" and not self._started_any:
            self.fatal = "a caixa de areia não pôde ser aplicada neste processo (" + str(event.get("why"))[:200] + ")"
        elif kind == "start" and key:
            self._started_any = True
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
        if prefix == "h":
            if timeout:
                self.helper_problem = "as definições das suas células extras passaram do limite de tempo"
            elif error:
                self.helper_problem = f"as definições das suas células extras falharam: {error.splitlines()[0][:300]}"
            return
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
        if now - self._disk_checked > 0.25:
            self._disk_checked = now
            used = scratch_usage(self._cwd, self.limits.disk_mb * 2**20)
            if used is not None:
                self._kill(f"escreveu demais na pasta temporária ({used}; limite {self.limits.disk_mb} MiB)", False)
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
        if self.fatal:
            return
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
        if prefix == "h":
            if self.skip_helpers:
                self.fatal = f"o processo falhou de novo nas definições extras ({reason})"
                return
            self.skip_helpers = True
            self.helper_problem = f"as definições das suas células extras derrubaram o processo ({reason}) e foram puladas"
            return
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


OUTPUT_BYTES = 16 * 2**20  # saídas de um exercício (todos os casos) que o processo do aluno aceita mandar


def scratch_usage(folder: Path | None, limit: int, max_entries: int = 20_000) -> str | None:
    """None se `folder` usa menos que `limit` bytes (e poucos arquivos); senão, quanto usa (texto)."""
    if folder is None:
        return None
    total, entries, stack = 0, 0, [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > max_entries:
                        return f"mais de {max_entries} arquivos"
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
        if total > limit:
            return f"{total / 2**20:.0f} MiB"
    return None


def run_jobs(jobs: list[Job], parallel: int, on_finished, poll_interval: float = 0.05) -> None:
    """Agenda as tentativas (até `parallel` filhos ao mesmo tempo) numa thread só."""
    queue = [job for job in jobs if job.needs_run()]
    for job in jobs:
        if not job.needs_run():
            on_finished(job)
    running: list[Job] = []
    become_subreaper()
    last_sweep = 0.0
    try:
        while queue or running:
            if time.monotonic() - last_sweep > 0.2:
                last_sweep = time.monotonic()
                kill_orphans(LEGIT_CHILDREN)
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
