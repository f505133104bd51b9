"""Análise estática das células de exercício: sinais de trapaça (-> ``suspeito``).

Não executa nada; olha a árvore sintática (e, se ela não compilar, o texto). Cada
achado é um motivo curto em pt-BR. A lista é de propósito conservadora para
código de transformers (torch puro): importar o gabarito, ler arquivos, mexer no
interpretador, redefinir o verificador, "monkeypatch" de bibliotecas, objetos que
mentem na comparação. Falsos positivos são possíveis (por isso ``suspeito`` é
para revisão humana, não uma nota final).
"""

from __future__ import annotations

import ast
import re

# módulos cuja importação numa resposta já é motivo para olhar de perto
SUSPICIOUS_MODULES = {
    "course_lib.checks": "importa os gabaritos (course_lib.checks)",
    "course_lib.grading": "importa o corretor",
    "course_lib.grade": "importa o corretor",
    "importlib": "importação dinâmica (importlib)",
    "imp": "importação dinâmica (imp)",
    "runpy": "executa outros arquivos (runpy)",
    "pkgutil": "lê pacotes (pkgutil)",
    "inspect": "inspeciona o interpretador (inspect)",
    "gc": "vasculha a memória (gc)",
    "ctypes": "acesso de baixo nível (ctypes)",
    "cffi": "acesso de baixo nível (cffi)",
    "subprocess": "roda comandos (subprocess)",
    "multiprocessing": "cria processos (multiprocessing)",
    "shutil": "manipula arquivos (shutil)",
    "glob": "lista arquivos (glob)",
    "pathlib": "manipula arquivos (pathlib)",
    "io": "abre arquivos (io)",
    "tempfile": "manipula arquivos (tempfile)",
    "socket": "acessa a rede (socket)",
    "urllib": "acessa a rede (urllib)",
    "requests": "acessa a rede (requests)",
    "http": "acessa a rede (http)",
    "signal": "mexe em sinais do processo (signal)",
    "pickle": "desserializa objetos (pickle)",
    "marshal": "desserializa código (marshal)",
    "dill": "desserializa objetos (dill)",
    "builtins": "mexe nos builtins",
    "atexit": "registra código para a saída do processo (atexit)",
    "threading": "cria threads (threading)",
    "resource": "mexe nos limites do processo (resource)",
    "nbformat": "lê notebooks (nbformat)",
    "json": "lê arquivos JSON (json)",
    "IPython": "usa o IPython diretamente",
}
SUSPICIOUS_CALLS = {
    "open": "abre arquivos (open)",
    "exec": "executa código dinâmico (exec)",
    "eval": "executa código dinâmico (eval)",
    "compile": "compila código dinâmico (compile)",
    "__import__": "importação dinâmica (__import__)",
    "globals": "mexe no namespace global (globals())",
    "locals": "mexe no namespace (locals())",
    "vars": "mexe no namespace (vars())",
    "setattr": "altera atributos dinamicamente (setattr)",
    "delattr": "apaga atributos dinamicamente (delattr)",
    "breakpoint": "chama o depurador (breakpoint)",
    "input": "lê do teclado (input)",
    "get_ipython": "usa o IPython diretamente (get_ipython)",
}
SUSPICIOUS_ATTRS = {
    "__globals__", "__builtins__", "__code__", "__closure__", "__subclasses__", "__dict__", "__import__",
    "__loader__", "__spec__", "__mro__", "__bases__", "__class__", "__self__", "__func__", "__wrapped__",
    "f_back", "f_globals", "f_locals", "f_builtins", "gi_frame", "cr_frame", "tb_frame", "tb_next",
    "co_code", "co_consts",
}
ANSWER_KEY_NAMES = {
    "get_exercise": "busca o exercício registrado (get_exercise)",
    "all_exercises": "lista os exercícios registrados (all_exercises)",
    "hidden_cases": "usa os casos ocultos (hidden_cases)",
    "make_hidden_cases": "usa os casos ocultos (make_hidden_cases)",
    "_REGISTRY": "lê o registro de gabaritos (_REGISTRY)",
    "run_checks": "usa o verificador (run_checks)",
    "capture_call": "usa o verificador (capture_call)",
    "known_mistakes": "lê os erros conhecidos do gabarito (known_mistakes)",
    "register_model_resolver": "troca o carregador de modelos do verificador",
}
SYS_ATTRS = {
    "modules": "mexe em sys.modules", "meta_path": "mexe no sistema de importação (sys.meta_path)",
    "path_hooks": "mexe no sistema de importação (sys.path_hooks)", "path": "mexe em sys.path",
    "_getframe": "inspeciona a pilha (sys._getframe)", "settrace": "instala rastreador (sys.settrace)",
    "setprofile": "instala rastreador (sys.setprofile)", "addaudithook": "instala audit hook",
    "_current_frames": "inspeciona a pilha (sys._current_frames)", "excepthook": "troca o tratamento de exceções",
}
# só contam se o código ATRIBUI a eles (sys.stdout.flush() e print(file=sys.stderr) são normais)
SYS_STORE_ATTRS = {"stdout": "troca a saída padrão", "stderr": "troca a saída de erro",
                   "stdin": "troca a entrada padrão"}
OS_ATTRS = {
    # (os.kill/os._exit no próprio processo não são trapaça: só derrubam a entrega;
    # matar outro processo é bloqueado e registrado em tempo de execução)
    "environ", "getenv", "putenv", "unsetenv", "system", "popen", "fork", "forkpty", "killpg",
    "remove", "unlink", "rmdir", "removedirs", "rename", "replace", "listdir", "scandir", "walk", "open",
    "chdir", "symlink", "link", "chmod", "truncate", "spawnl", "spawnv", "spawnve", "posix_spawn",
    "execv", "execve", "execl", "execvp", "getppid", "setsid", "dup2", "close",
}
DUNDER_METHODS = {
    "__eq__": "define __eq__ (objeto que pode mentir na comparação)",
    "__ne__": "define __ne__ (objeto que pode mentir na comparação)",
    "__bool__": "define __bool__",
    "__torch_function__": "intercepta o torch (__torch_function__)",
    "__torch_dispatch__": "intercepta o torch (__torch_dispatch__)",
    "__instancecheck__": "falsifica isinstance (__instancecheck__)",
    "__subclasscheck__": "falsifica issubclass (__subclasscheck__)",
    "__getattribute__": "intercepta atributos (__getattribute__)",
    "__class_getitem__": "metaprogramação (__class_getitem__)",
    "__del__": "código no destrutor (__del__)",
}
PATCHABLE_ROOTS = {"torch", "np", "numpy", "F", "nn", "math", "course_lib", "builtins", "os", "sys", "einops",
                   "functools", "operator", "plt", "matplotlib", "checks", "core"}
# Só em textos (str) que o código USA e que parecem caminho ou módulo — nunca em
# comentários nem em docstrings ("Há várias soluções…", "o gabarito da lista 3").
SUSPICIOUS_STRINGS = re.compile(r"solutions|solucoes|soluções|gabarito|course_lib[/.]checks|\.ipynb|/checks/|nb\d\d_",
                                re.IGNORECASE)
PATH_LIKE = re.compile(r"[/\\]|\.(ipynb|py|json|pt)\b|^course_lib\.|^nb\d\d_", re.IGNORECASE)
SHELL_MAGIC = re.compile(r"^\s*(!|%(%)?(bash|sh|system|sx|run|load|writefile|file|script|env|cd|store|pycat|cat|ls|save|edit|macro|alias)\b)",
                         re.MULTILINE)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _module_reason(module: str) -> str | None:
    for name, reason in SUSPICIOUS_MODULES.items():
        if module == name or module.startswith(name + "."):
            return reason
    return None


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids dos nós Constant que são docstrings (de módulo, função ou classe)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def scan(source: str) -> list[str]:
    """Motivos (pt-BR, sem repetição) para olhar esta célula de perto; [] se nada."""
    reasons: list[str] = []

    def add(reason: str) -> None:
        if reason not in reasons:
            reasons.append(reason)

    if re.search(r"#\s*(BEGIN|END)\s+SOLU", source, re.IGNORECASE):
        add("célula copiada do gabarito (marcadores BEGIN/END SOLUCAO)")
    for match in SHELL_MAGIC.finditer(source):
        add(f"comando de shell/mágica do IPython: {match.group(0).strip()}")

    from .notebooks import strip_magics

    code, _ = strip_magics(source)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return reasons  # não compila: o aluno não ganha nada com ela
    imported_aliases: set[str] = set()
    docstrings = _docstring_nodes(tree)
    cited = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
             and PATH_LIKE.search(node.value) and SUSPICIOUS_STRINGS.search(node.value)]
    if cited:
        add("usa um caminho/arquivo suspeito: " + ", ".join(repr(c[:80]) for c in dict.fromkeys(cited[:3])))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported_aliases.add((alias.asname or alias.name).split(".")[0])
                reason = _module_reason(alias.name)
                if reason:
                    add(reason)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                imported_aliases.add(alias.asname or alias.name)
                full = f"{module}.{alias.name}" if module else alias.name
                reason = _module_reason(full) or _module_reason(module)
                if reason:
                    add(reason)
                if alias.name in ANSWER_KEY_NAMES:
                    add(ANSWER_KEY_NAMES[alias.name])
                if alias.name == "check" or alias.asname == "check":
                    add("reimporta/redefine o verificador `check`")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in SUSPICIOUS_CALLS:
                add(SUSPICIOUS_CALLS[func.id])
            if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2:
                target, arg = _dotted(node.args[0]) or "", node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("__"):
                    add(f"acessa o atributo interno `{arg.value}` via {func.id}")
                elif target.split(".")[0] in ("sys", "os", "builtins", "__builtins__", "course_lib", "checks", "core", "gc", "importlib"):
                    add(f"acesso dinâmico a atributos de `{target}` ({func.id})")
        elif isinstance(node, ast.Attribute):
            if node.attr in SUSPICIOUS_ATTRS:
                add(f"acessa o atributo interno `{node.attr}`")
            if node.attr in ANSWER_KEY_NAMES:
                add(ANSWER_KEY_NAMES[node.attr])
            if node.attr == "reference":
                add("lê `.reference` (gabarito de um Exercise)")
            if node.attr == "from_file":
                add("lê arquivos por código nativo (from_file)")
            if node.attr == "_C" and (_dotted(node.value) or "").split(".")[0] == "torch":
                add("usa o núcleo nativo do torch (torch._C)")
            if node.attr in ("load", "load_library") and (_dotted(node.value) or "") in ("torch.jit", "torch.ops", "jit"):
                add(f"carrega arquivos/bibliotecas nativas ({_dotted(node.value)}.{node.attr})")
            base = _dotted(node.value)
            if base == "sys" and node.attr in SYS_ATTRS:
                add(SYS_ATTRS[node.attr])
            if base == "sys" and node.attr in SYS_STORE_ATTRS and isinstance(node.ctx, (ast.Store, ast.Del)):
                add(SYS_STORE_ATTRS[node.attr])
            if base == "os" and node.attr in OS_ATTRS:
                add(f"usa os.{node.attr}")
            if base in ("course_lib",) and node.attr in ("checks", "grading", "grade"):
                add(f"acessa course_lib.{node.attr}")
        elif isinstance(node, ast.Name):
            if node.id in ANSWER_KEY_NAMES:
                add(ANSWER_KEY_NAMES[node.id])
            if node.id in ("__builtins__", "__import__", "__loader__", "__spec__"):
                add(f"usa `{node.id}`")
            if node.id == "check" and isinstance(node.ctx, (ast.Store, ast.Del)):
                add("redefine o verificador `check`")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == "check":
                add("redefine o verificador `check`")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                dotted = _dotted(base) or ""
                if dotted.endswith("Tensor") or dotted in ("float", "int", "str", "list", "tuple", "dict", "bool"):
                    add(f"cria subclasse de {dotted} (pode mentir na comparação)")
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in DUNDER_METHODS:
                    add(DUNDER_METHODS[item.name])
                if isinstance(item, ast.Assign):
                    for target in item.targets:
                        if isinstance(target, ast.Name) and target.id in DUNDER_METHODS:
                            add(DUNDER_METHODS[target.id])
        elif isinstance(node, ast.Global):
            if "check" in node.names:
                add("redefine o verificador `check`")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute):
                        dotted = _dotted(sub) or ""
                        root = dotted.split(".")[0]
                        if root in PATCHABLE_ROOTS or (root in imported_aliases and root not in ("self",)):
                            add(f"altera (monkeypatch) `{dotted}`")
                        if sub.attr in DUNDER_METHODS:
                            add(DUNDER_METHODS[sub.attr])
    return reasons


# ---------------------------------------------------------------------------
# APIs proibidas pelo enunciado (conferência estática, no processo do corretor)
# ---------------------------------------------------------------------------


def forbidden_uses(source: str, forbidden: dict[str, str]) -> list[str]:
    """Motivos (pt-BR) para cada API de `forbidden` que a fonte usa.

    "softmax" (nome de função do torch) pega `torch.softmax`, `F.softmax`,
    `x.softmax(...)` e `from torch import softmax`; "course_lib.activations.pca"
    pega `from course_lib.activations import pca` e o acesso `activations.pca`.
    Definir uma função com o mesmo nome (a resposta do aluno) não conta.
    """
    if not forbidden:
        return []
    from .notebooks import strip_magics

    try:
        tree = ast.parse(strip_magics(source)[0])
    except (SyntaxError, ValueError):
        return []
    nodes = list(ast.walk(tree))
    attrs = [(n.attr, _dotted(n) or "") for n in nodes if isinstance(n, ast.Attribute)]
    froms = [(n.module or "", a.name) for n in nodes if isinstance(n, ast.ImportFrom) for a in n.names]
    used = []
    for name, why in forbidden.items():
        module, _, tail = name.rpartition(".")
        if not module:
            hit = any(attr == name for attr, _ in attrs) or any(m.split(".")[0] == "torch" and a == name for m, a in froms)
        else:
            parent = module.rsplit(".", 1)[-1]
            hit = (any(m == module and a == tail for m, a in froms)
                   or any(attr == tail and dotted.endswith(f"{parent}.{tail}") for attr, dotted in attrs))
        if hit:
            used.append(f"usa `{name}`, que o enunciado proíbe ({why})")
    return used


def _attr_names(tree: ast.AST) -> set[str]:
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


# ---------------------------------------------------------------------------
# Igual ao gabarito/solução, a menos de nomes, comentários e docstrings
# ---------------------------------------------------------------------------


class _Rename(ast.NodeTransformer):
    """Troca nomes locais (argumentos e variáveis) por v0, v1... na ordem em que aparecem."""

    def __init__(self, local: set[str]):
        self.local, self.names = local, {}

    def _new(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        if node.id in self.local:
            node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        node.annotation = None
        return node


def normalized_function(source: str, func_name: str | None = None) -> tuple[str, int] | None:
    """(forma normalizada, nº de nós) da função `func_name` (ou da primeira) da fonte; None se não houver."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if func_name:
        defs = [n for n in defs if n.name == func_name] or defs[:0]
    if not defs:
        return None
    fn = defs[-1]
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        body = body[1:]
    fn = ast.FunctionDef(name="f", args=fn.args, body=body or [ast.Pass()], decorator_list=[], returns=None,
                         type_comment=None)
    local = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    fn = _Rename(local).visit(fn)
    size = sum(1 for _ in ast.walk(ast.Module(body=fn.body, type_ignores=[])))
    return ast.dump(fn, annotate_fields=False), size
