"""Processo do aluno no corretor em lote (roda como script, NUNCA importado pelo corretor).

    python -I -B <este arquivo> TAREFA.json            # uma tentativa
    python -I -B <este arquivo> --servidor BOOT.json   # servidor de fork

Lê a tarefa (passos a executar e casos) ANTES de rodar qualquer código do aluno,
instala as proteções e executa os passos em ordem, num único namespace (como um
notebook rodado de cima a baixo):

* ``cell``: célula canônica (não é de exercício), vinda do notebook original;
* ``exercise_cell``: a célula de exercício escrita pelo aluno;
* ``evaluate``: chama a função do aluno (a que existia logo depois da célula dele)
  nos casos visíveis e ocultos com ``capture_call`` e devolve só dados simples.

Cada evento vai por um FIFO como uma linha JSON; os resultados vão em base64 de
um ``torch.save`` de dados simples. Este processo não guarda nenhum segredo: não
tem o gabarito, nem as saídas esperadas, nem a semente; por isso o que o aluno
adulterar aqui só muda as próprias saídas, que o corretor compara no processo dele.

Proteções instaladas antes do código do aluno:

* Landlock (Linux >= 5.13, ``_apply_landlock``): no núcleo do sistema, só deixa
  ler bibliotecas, ``course_lib`` (sem os gabaritos) e a pasta de trabalho; só
  deixa escrever na pasta de trabalho; proíbe executar programas, TCP e sinais para
  fora. Vale também para código nativo (ex.: ``torch.from_file``).
* um *meta path finder* que recusa importar ``course_lib.checks.*`` (os gabaritos);
* um *audit hook* (PEP 578, não removível) que recusa: ler arquivos fora de uma
  lista de pastas permitidas, escrever/apagar fora da pasta de trabalho, criar
  processos, abrir sockets, usar ctypes, mexer no ambiente (``os.putenv``), em
  ``sys.settrace`` ou em ``gc.get_objects``, mudar limites de recursos e matar
  outros processos. Cada recusa vira um evento ``violation`` (o corretor marca
  ``suspeito``).

Só a biblioteca padrão é importada antes de a tarefa ser lida.
"""

from __future__ import annotations

import base64
import builtins
import io
import json
import linecache
import os
import signal
import sys
import time
import traceback

STEP_EVENT_MAX = 4000  # caracteres de mensagem por evento


class _TempoEsgotado(BaseException):
    """Levantada pelo SIGALRM quando um passo passa do limite de tempo."""


def _alarm(signum, frame):  # pragma: no cover - só no processo filho
    raise _TempoEsgotado()


class _Channel:
    """Linhas JSON para o corretor, por um fd herdado (pipe)."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, **event) -> None:
        data = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # pipe fechado: o corretor trata como falha do passo
            view = view[written:]


def _short(text: str, limit: int = STEP_EVENT_MAX) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(exc: BaseException, filename: str) -> str:
    """Exceção levantada por uma célula, com a linha da célula quando der."""
    if isinstance(exc, SystemExit):
        return f"a célula chamou sys.exit({exc.code!r})"
    try:
        message = str(exc)
    except Exception:  # __str__ do aluno pode falhar
        message = "?"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        text += f" (linha {exc.lineno})"
    elif frames:
        frame = frames[-1]
        text += f" (linha {frame.lineno}: {(frame.line or '').strip()})"
    return text


# ---------------------------------------------------------------------------
# Proteções
# ---------------------------------------------------------------------------


def _real(path) -> str | None:
    if isinstance(path, int):
        return None  # fd já aberto (a abertura dele já passou pelo hook)
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    return os.path.realpath(path)


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    for folder in folders:
        if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
            return True
    return False


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_WRITE_EVENTS = {
    # evento de auditoria -> posições dos argumentos que são caminhos
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
    "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,),
    "os.link": (0, 1), "os.symlink": (0, 1), "os.chflags": (0,), "os.lchflags": (0,),
    "os.mkfifo": (0,), "os.mknod": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
    "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copymode": (1,),
    "shutil.copystat": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
    "shutil.chown": (0,), "shutil.make_archive": (0,), "shutil.unpack_archive": (1,),
    "tempfile.mkstemp": (0,), "tempfile.mkdtemp": (0,), "os.chdir": (0,),
}
_PATH_READ_EVENTS = {"os.listdir": 0, "os.scandir": 0, "os.getxattr": 0, "os.listxattr": 0,
                     "glob.glob": 0, "sqlite3.connect": 0, "shutil.copyfile": 0, "shutil.copytree": 0}
_FORBIDDEN_EVENTS = {
    "subprocess.Popen": "criar um processo (subprocess)",
    "os.system": "rodar um comando do sistema (os.system)",
    "os.exec": "substituir o processo (os.exec*)",
    "os.posix_spawn": "criar um processo (os.posix_spawn)",
    "os.spawn": "criar um processo (os.spawn*)",
    "os.fork": "criar um processo (os.fork)",
    "os.forkpty": "criar um processo (os.forkpty)",
    "os.startfile": "abrir um programa (os.startfile)",
    "pty.spawn": "criar um processo (pty.spawn)",
    "os.putenv": "alterar variáveis de ambiente",
    "os.unsetenv": "alterar variáveis de ambiente",
    "gc.get_objects": "vasculhar a memória do processo (gc.get_objects)",
    "gc.get_referrers": "vasculhar a memória do processo (gc.get_referrers)",
    "gc.get_referents": "vasculhar a memória do processo (gc.get_referents)",
    "sys.settrace": "instalar um rastreador (sys.settrace)",
    "sys.setprofile": "instalar um rastreador (sys.setprofile)",
    "resource.setrlimit": "mudar os limites de recursos",
    "resource.prlimit": "mudar os limites de recursos",
    "builtins.input": "ler do teclado (input)",
    "socket.__new__": "abrir uma conexão de rede",
    "socket.connect": "abrir uma conexão de rede",
    "socket.bind": "abrir uma conexão de rede",
    "socket.getaddrinfo": "acessar a rede",
    "urllib.Request": "acessar a rede",
    "webbrowser.open": "abrir o navegador",
    "os.chroot": "mudar a raiz do sistema de arquivos",
    "os.setuid": "mudar de usuário",
    "sys._current_frames": "vasculhar a pilha de outras threads",
}


class AcessoBloqueado(PermissionError):
    pass


class _HookRefused(RuntimeError):
    """Recusa silenciosa de sys.addaudithook (o CPython suprime RuntimeError aqui)."""


def _install_guard(config: dict, channel: _Channel, state: dict) -> None:
    """Instala o meta path finder e o audit hook. Irreversível para código Python.

    Leitura: decide a regra de pasta mais longa que contém o caminho (permitida ou
    negada); sem regra, nega. Escrita: só na pasta de trabalho (e /dev/null).
    """
    rules = sorted(
        [(os.path.realpath(p), True) for p in config["allow_read"]]
        + [(os.path.realpath(p), False) for p in config["deny"]],
        key=lambda rule: len(rule[0]),
        reverse=True,
    )
    rules = tuple(rules)
    write_ok = tuple(os.path.realpath(p) for p in config["allow_write"])
    my_pid = os.getpid()
    my_pgid = os.getpgid(0)
    proc_self = (f"/proc/{my_pid}",)
    blocked_prefix = "course_lib.checks."
    allowed_modules = frozenset(("course_lib.checks.core",))

    def violation(what: str) -> None:
        channel.send(ev="violation", key=state.get("key"), what=_short(what, 500))

    def readable(path: str) -> bool:
        if path.startswith("/proc/"):
            head = path.split(os.sep)[2]
            if head.isdigit():
                return _inside(path, proc_self)
            return True
        for folder, allowed in rules:
            if _inside(path, (folder,)):
                return allowed
        return False

    def writable(path: str) -> bool:
        return path == "/dev/null" or _inside(path, write_ok)

    def deny_access(what: str, exc_type=None):
        violation(what)
        raise (exc_type or AcessoBloqueado)(f"bloqueado pelo corretor: {what}")

    # A verificação (course_lib.checks.core._ForbiddenCalls) usa sys.setprofile para ver se a
    # função do aluno chamou uma função da biblioteca que o enunciado proíbe. Só essa chamada,
    # vinda do código original da verificação e instalando o registrador original, passa.
    from course_lib.checks.core import _ForbiddenCalls
    trusted_profile = (_ForbiddenCalls, _ForbiddenCalls._profile,
                       frozenset((_ForbiddenCalls.__enter__.__code__, _ForbiddenCalls.__exit__.__code__)))

    def checker_profiler() -> bool:
        cls, profile, codes = trusted_profile
        caller = sys._getframe(2)  # 0: esta função, 1: o hook, 2: quem chamou sys.setprofile
        owner = caller.f_locals.get("self")
        return (caller.f_code in codes and type(owner) is cls and cls._profile is profile
                and "_profile" not in vars(owner))

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path = _real(args[0])
            if path is None:
                return
            mode = args[1] if len(args) > 1 else None
            flags = args[2] if len(args) > 2 else 0
            write = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            if write:
                if not writable(path):
                    deny_access(f"escrever em {path}")
            elif not readable(path):
                deny_access(f"ler {path}")
            return
        if event == "import":
            name = args[0] if args else ""
            if isinstance(name, str) and name.startswith(blocked_prefix) and name not in allowed_modules:
                deny_access(f"importar {name}", ModuleNotFoundError)
            return
        if event == "sys.setprofile" and checker_profiler():
            return
        if event in _FORBIDDEN_EVENTS:
            deny_access(_FORBIDDEN_EVENTS[event])
        if event.startswith("ctypes."):
            deny_access(f"usar ctypes ({event})")
        if event == "sys.addaudithook":
            violation("instalar outro audit hook")
            raise _HookRefused("recusado")
        if event in ("os.kill", "os.killpg"):
            target = args[0] if args else None
            if event == "os.kill" and target in (my_pid, 0):
                return
            if event == "os.killpg" and target in (my_pgid, 0):
                return
            deny_access(f"mandar sinal para outro processo ({event} {target})")
        if event in _PATH_READ_EVENTS:
            index = _PATH_READ_EVENTS[event]
            if len(args) > index:
                target = args[index]
                if event == "glob.glob":
                    target = os.path.dirname(str(target)) or "."
                path = _real(target)
                if path is not None and not readable(path):
                    deny_access(f"listar/ler {path}")
        if event in _PATH_WRITE_EVENTS:
            for index in _PATH_WRITE_EVENTS[event]:
                if len(args) > index:
                    path = _real(args[index])
                    if path is not None and not writable(path):
                        deny_access(f"alterar {path} ({event})")

    class _BlockAnswerKey:
        """Meta path finder: nada de `course_lib.checks.*` além do núcleo."""

        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname.startswith(blocked_prefix) and fullname not in allowed_modules:
                deny_access(f"importar {fullname}", ModuleNotFoundError)
            return None

        @staticmethod
        def invalidate_caches():
            return None

    sys.meta_path.insert(0, _BlockAnswerKey)
    sys.addaudithook(hook)


# Landlock (Linux >= 5.13): a mesma política no núcleo do sistema, valendo também
# para código nativo (ex.: torch.from_file lê arquivos em C++, sem audit hook).
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446
_LL_EXECUTE, _LL_WRITE_FILE, _LL_READ_FILE, _LL_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_LL_MAKE_CHAR, _LL_MAKE_BLOCK, _LL_TRUNCATE, _LL_IOCTL_DEV = 1 << 6, 1 << 11, 1 << 14, 1 << 15


def _apply_landlock(read: list[str], read_write: list[str], read_write_files: list[str],
                    list_only: list[str] = ()) -> str | None:
    """Restringe o processo (e filhos) ao que está nas listas; None se deu certo, senão o motivo.

    Tudo o que não estiver numa regra fica proibido: ler, escrever, apagar, criar,
    executar programas; com ABI >= 4, TCP; com ABI >= 6, sinais para fora do processo.
    """
    if not sys.platform.startswith("linux") or not hasattr(os, "O_PATH"):
        return f"Landlock só existe no Linux (sistema: {sys.platform})"
    import ctypes
    import stat

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as exc:
        return f"libc indisponível ({exc})"
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return f"Landlock indisponível neste sistema ({os.strerror(ctypes.get_errno())})"
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= 1 << 13  # REFER
    if abi >= 3:
        fs_all |= _LL_TRUNCATE
    if abi >= 5:
        fs_all |= _LL_IOCTL_DEV
    file_rights = fs_all & (_LL_EXECUTE | _LL_WRITE_FILE | _LL_READ_FILE | _LL_TRUNCATE | _LL_IOCTL_DEV)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(fs_all, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = syscall(_LL_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"landlock_create_ruleset falhou ({os.strerror(ctypes.get_errno())})"
    try:
        def add(path: str, access: int) -> None:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return  # não existe: nada a permitir
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= file_rights
                rule = PathBeneath(access & fs_all, fd)
                if syscall(_LL_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
            finally:
                os.close(fd)

        read_rights = _LL_READ_FILE | _LL_READ_DIR
        rw_rights = fs_all & ~(_LL_EXECUTE | _LL_MAKE_CHAR | _LL_MAKE_BLOCK | _LL_IOCTL_DEV)
        for path in read:
            add(path, read_rights)
        for path in list_only:
            add(path, _LL_READ_DIR)
        for path in read_write:
            add(path, rw_rights)
        for path in read_write_files:
            add(path, _LL_READ_FILE | _LL_WRITE_FILE | _LL_TRUNCATE)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return f"prctl(NO_NEW_PRIVS) falhou ({os.strerror(ctypes.get_errno())})"
        if syscall(_LL_RESTRICT, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"landlock_restrict_self falhou ({os.strerror(ctypes.get_errno())})"
    except OSError as exc:
        return f"Landlock não aplicado ({exc})"
    finally:
        os.close(ruleset)
    return None


def _install_course_lib_finder(course_lib_dir: str) -> None:
    """Importa `course_lib` como pacote normal a partir da pasta dada.

    (Com `python -I` e a instalação editável, `course_lib` pode virar pacote de
    namespace fora do repositório; aqui fixamos a pasta certa.)
    """
    import importlib.util

    init = os.path.join(course_lib_dir, "__init__.py")

    class _CourseLibFinder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname == "course_lib":
                return importlib.util.spec_from_file_location(
                    "course_lib", init, submodule_search_locations=[course_lib_dir]
                )
            return None

        @staticmethod
        def invalidate_caches():
            return None

    sys.meta_path.insert(0, _CourseLibFinder)


# ---------------------------------------------------------------------------
# Execução
# ---------------------------------------------------------------------------


def _display(*objs, **kwargs) -> None:
    """Substituto de IPython `display` fora do Jupyter: só imprime."""
    for obj in objs:
        print(repr(obj))


def _prepare(boot: dict, preload: bool) -> None:
    """Importa o que todo passo precisa (sem nenhum gabarito)."""
    sys.dont_write_bytecode = True
    _install_course_lib_finder(boot["course_lib_dir"])
    if boot.get("site_dirs"):
        import site

        for folder in boot["site_dirs"]:
            if folder not in sys.path:
                site.addsitedir(folder)
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import course_lib  # noqa: F401
    from course_lib.checks import core  # noqa: F401

    if preload:
        for name in boot.get("preload", []):
            try:
                __import__(name)
            except Exception:  # noqa: BLE001 - só aquecimento
                pass


def _address_space_bytes() -> int:
    """Memória virtual que o processo já ocupa (VmSize), 0 se o sistema não diz (macOS)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _apply_process_limits(task: dict) -> None:
    """Limites do processo do aluno, antes de qualquer código dele. A memória é relativa: o
    que o processo já ocupa (Python, torch, course_lib importados) + `memory_bytes`. Um
    limite absoluto dependeria do build do torch: o de CUDA do PyPI já nasce com ~3,1 GiB de
    memória virtual (o de CPU, ~0,6 GiB) e, com 2 GiB absolutos, toda entrega dava erro."""
    import resource

    memory, fsize = _address_space_bytes() + int(task["memory_bytes"]), int(task["file_bytes"])
    pairs = [(resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)]
    if task.get("nproc"):
        pairs.append((resource.RLIMIT_NPROC, int(task["nproc"])))
    for limit, value in pairs:
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # ex.: RLIMIT_AS no macOS
            pass


def _plain_bytes(value, budget: list) -> int:
    """Bytes de tensores numa saída já em dados simples (para com `budget` nós)."""
    budget[0] -= 1
    if budget[0] < 0:
        return 1 << 62
    if type(value) in (list, tuple):
        return sum(_plain_bytes(v, budget) for v in value)
    if type(value) is dict:
        return sum(_plain_bytes(v, budget) + len(str(k)) for k, v in value.items())
    if type(value) is str:
        return len(value)
    numel = getattr(value, "numel", None)
    if callable(numel):
        return int(numel()) * int(value.element_size())
    return 8


def _cap_output(captured: dict, limit: int) -> dict:
    """Troca uma saída enorme por um erro legível (em vez de um erro do torch.save)."""
    if "output" not in captured:
        return captured
    size = _plain_bytes(captured["output"], [200_000])
    if size <= limit:
        return captured
    mib = "mais de 10⁹" if size >= 1 << 62 else f"{size / 2**20:.0f}"
    return {"error": (f"a saída da sua função é grande demais para o corretor ({mib} MiB; limite "
                      f"{limit / 2**20:.0f} MiB): confira o formato pedido no enunciado"),
            "not_implemented": False, "notes": captured.get("notes", []), "forbidden": captured.get("forbidden", [])}


def run_task(config_path: str, forked: bool) -> None:
    """Roda uma tarefa (uma tentativa de uma entrega) e termina o processo."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    if forked:
        os.setsid()  # grupo de processos próprio: o corretor mata o grupo todo
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _apply_process_limits(config)  # sem o servidor de fork, o FSIZE etc. já vêm do pai; a memória, só aqui
    # Canal de eventos e saída do aluno em fds SEPARADOS, sempre acima de 2: no
    # servidor de fork o fd 1 chega fechado, e um os.open devolveria justamente o 1
    # (a saída do aluno iria parar no canal, e um print forjaria eventos).
    import fcntl

    def high(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    channel = _Channel(high(os.open(config["events"], os.O_WRONLY)))
    out_fd = high(os.open(config["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    null_fd = high(os.open(os.devnull, os.O_RDONLY))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os.dup2(null_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    os.close(null_fd)
    os.environ.clear()
    os.environ.update(config["env"])
    state: dict = {"key": None}

    import torch
    from course_lib.checks import core

    with open(config["cases"], "rb") as f:
        raw_cases = torch.load(io.BytesIO(f.read()), weights_only=True)
    cases = {
        ex_id: {kind: [core.Case.from_dict(c) for c in lists[kind]] for kind in ("visible", "hidden")}
        for ex_id, lists in raw_cases.items()
    }

    # O `check` do notebook vira um aviso: a nota vem dos casos ocultos, não dele.
    def check(exercise_id, student_fn):
        print(f"(corretor: check({exercise_id!r}) desativado; a nota vem dos casos ocultos)")

    core.check = check
    sys.modules["course_lib.checks"].check = check

    namespace = {"__name__": "__main__", "__builtins__": builtins, "display": _display}
    step_limit = float(config["step_timeout"])
    cell_limit = float(config["cell_timeout"])

    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # escrever demais vira OSError, não morte
    except (AttributeError, ValueError):
        pass
    os.chdir(config["cwd"])
    landlock = "desligado"
    if config.get("landlock"):
        pid = os.getpid()
        rules = config["landlock"]
        proc = [f"/proc/{pid}", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys"]
        landlock = _apply_landlock(rules["read"] + proc, [config["cwd"]], ["/dev/null"], rules.get("list", [])) or "ativo"
        if landlock != "ativo" and config.get("landlock_required"):
            # sem a caixa de areia pedida, nenhum código do aluno roda
            channel.send(ev="ready", landlock=landlock)
            channel.send(ev="refused", why=f"Landlock não aplicado: {landlock}")
            os._exit(75)
    _install_guard(config, channel, state)
    channel.send(ev="ready", landlock=landlock)

    for step in config["steps"]:
        key = step["key"]
        state["key"] = key
        kind = step["kind"]
        limit = cell_limit if kind == "cell" else step_limit
        channel.send(ev="start", key=key)
        started = time.monotonic()
        error = None
        timed_out = False
        payload = None
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, limit)
                if kind in ("cell", "exercise_cell", "helper_cell"):
                    filename = step["filename"]
                    source = step["source"]
                    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                    try:
                        code = compile(source, filename, "exec")
                        exec(code, namespace)
                    except _TempoEsgotado:
                        raise
                    except BaseException as exc:  # noqa: BLE001 - inclui SystemExit
                        error = _describe(exc, filename)
                    if kind == "exercise_cell":
                        state["fn_" + step["exercise"]] = namespace.get(step["func_name"], state)
                elif kind == "evaluate":
                    fn = state.get("fn_" + step["exercise"], state)
                    if fn is state:
                        error = f"a função `{step['func_name']}` não foi definida pela célula do exercício"
                    else:
                        result = {"visible": [], "hidden": []}
                        out_of_memory = None
                        for which in ("visible", "hidden"):
                            for case in cases[step["exercise"]][which]:
                                if out_of_memory is not None:  # não repete a bomba em cada caso
                                    result[which].append({"error": out_of_memory, "not_implemented": False, "notes": []})
                                    continue
                                try:
                                    captured = core.capture_call(fn, case, step["func_name"], step.get("forbidden") or None)
                                    captured = _cap_output(captured, int(config.get("output_bytes", 16 << 20)))
                                except _TempoEsgotado:
                                    raise
                                except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt...
                                    text = (f"a função chamou sys.exit({exc.code!r})" if isinstance(exc, SystemExit)
                                            else "sua função levantou uma exceção " + _describe(exc, ""))
                                    captured = {"error": text, "not_implemented": False, "notes": []}
                                result[which].append(captured)
                                if "MemoryError" in str(captured.get("error", ""))[:80]:
                                    out_of_memory = captured["error"]
                        buffer = io.BytesIO()
                        try:
                            torch.save(result, buffer)
                        except Exception as exc:  # noqa: BLE001 - ex.: [enforce fail at inline_container.cc]
                            error = ("não consegui guardar as saídas da sua função para o corretor "
                                     f"(grandes demais ou de tipo estranho: {type(exc).__name__})")
                        else:
                            payload = base64.b64encode(buffer.getvalue()).decode("ascii")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _TempoEsgotado:
            timed_out = True
        except BaseException as exc:  # noqa: BLE001 - o passo nunca derruba o executor
            error = error or _describe(exc, step.get("filename", ""))
        state["key"] = None
        channel.send(
            ev="end", key=key, error=_short(error) if error else None, timeout=timed_out,
            seconds=round(time.monotonic() - started, 3), payload=payload,
        )
    channel.send(ev="done")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)


def serve(boot: dict) -> None:
    """Servidor de fork: importa tudo uma vez e cria um filho (fork) por tarefa.

    Protocolo (linhas JSON): entrada `{"id": N, "config": caminho}`; saída
    `{"ev": "server_ready"}`, `{"id": N, "pid": P}` e `{"pid": P, "exit": código}`
    (código < 0: morto pelo sinal -código). Este processo nunca roda código do aluno.
    """
    _prepare(boot, preload=True)
    control_in, control_out = 0, 1

    def send(**message) -> None:
        data = (json.dumps(message) + "\n").encode("utf-8")
        while data:
            data = data[os.write(control_out, data):]

    import select

    # Subreaper: um processo que o aluno criar e "soltar" (setsid, neto órfão) volta a
    # ser filho deste servidor, que o mata. Só os filhos de tentativa são legítimos.
    _become_subreaper()
    mains: set[int] = set()
    last_sweep = 0.0
    sys.stdout.flush()
    send(ev="server_ready")
    buffer = b""
    while True:
        if time.monotonic() - last_sweep > 0.2:
            last_sweep = time.monotonic()
            kill_orphans(mains)
        ready, _, _ = select.select([control_in], [], [], 0.02)
        if ready:
            chunk = os.read(control_in, 65536)
            if not chunk:  # o corretor fechou a entrada: fim do servidor
                os._exit(0)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    request = json.loads(line)
                except ValueError:
                    continue
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
                pid = os.fork()
                if pid == 0:  # filho: nunca volta para o laço
                    try:
                        os.close(control_out)
                        run_task(request["config"], forked=True)
                    except BaseException:  # noqa: BLE001
                        try:
                            traceback.print_exc()
                            sys.stderr.flush()
                        finally:
                            os._exit(70)
                    os._exit(71)
                mains.add(pid)
                send(id=request.get("id"), pid=pid)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in mains:
                mains.discard(pid)
                try:
                    os.killpg(pid, signal.SIGKILL)  # o que sobrou do grupo da tentativa
                except OSError:
                    pass
                send(pid=pid, exit=os.waitstatus_to_exitcode(status))


def _become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def kill_orphans(legit: set[int]) -> int:
    """Mata (SIGKILL) os filhos deste processo que não estão em `legit`; devolve quantos."""
    me, killed = str(os.getpid()), 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    for name in names:
        if not name.isdigit() or int(name) in legit:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1].decode() == me:
            try:
                os.kill(int(name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--servidor":
        with open(argv[2], encoding="utf-8") as f:
            serve(json.load(f))
    else:
        with open(argv[1], encoding="utf-8") as f:
            config = json.load(f)
        os.environ.update(config["env"])  # MPLCONFIGDIR etc. já no aquecimento
        _prepare(config, preload=True)
        run_task(argv[1], forked=False)


if __name__ == "__main__":
    main(sys.argv)
