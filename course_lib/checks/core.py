"""Núcleo das verificações de exercícios do curso.

A mesma especificação (`Exercise`) serve a dois lados:

* a célula de verificação do aluno: `check("01.softmax", softmax)` roda a função
  nos casos visíveis, no mesmo processo, e imprime um retorno em pt-BR;
* um corretor em lote: roda a função do aluno em um subprocesso isolado com
  `capture_call(fn, case)` sobre `exercise.hidden_cases(seed)`, salva os
  resultados (dados simples) com `torch.save` e, no próprio processo, chama
  `evaluate(exercise, case, captured)`.

Só circulam dados simples entre os lados: `torch.Tensor` (exatamente esse tipo),
números, strings, None, listas, tuplas, dicts com chaves str e `ModelRef`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import os
import pkgutil
import sys
import sysconfig
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = [
    "Case",
    "CaseResult",
    "CheckFailed",
    "CheckReport",
    "Exercise",
    "ModelRef",
    "all_exercises",
    "capture_call",
    "check",
    "compare_tensors",
    "compare_values",
    "evaluate",
    "export_visible",
    "get_exercise",
    "load_released",
    "materialize",
    "register",
    "register_model_resolver",
    "resolve_model",
    "run_checks",
    "to_plain",
    "unregister",
    "when_solved",
]

# Variável de ambiente com pastas extras (separadas por os.pathsep) onde procurar
# módulos `nbNN_*.py` de verificação. Usada pelos testes do pipeline.
EXTRA_PATH_ENV = "COURSE_LIB_CHECKS_PATH"

# Marcador usado por `to_plain` para saídas de tipo não suportado.
INVALID_TYPE_KEY = "__tipo_invalido__"


class CheckFailed(Exception):
    """Uma verificação falhou. A mensagem é o resumo em pt-BR.

    Não herda de AssertionError de propósito: é um erro do exercício, não do
    verificador. Em notebooks, o traceback mostrado é só o resumo.
    """

    def _render_traceback_(self) -> list[str]:
        # Usado pelo IPython no lugar do traceback completo.
        return [f"CheckFailed: {self}"]


# ---------------------------------------------------------------------------
# Modelos referenciados pelos casos
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """Referência a um modelo pré-treinado, resolvida do lado que executa o caso."""

    name: str


_model_resolver: Callable[[str], Any] | None = None
_model_cache: dict[str, Any] = {}


def register_model_resolver(fn: Callable[[str], Any] | None) -> None:
    """Define a função `nome -> modelo` usada para resolver `ModelRef` (None = padrão)."""
    global _model_resolver
    _model_resolver = fn
    _model_cache.clear()


def _default_model_resolver(name: str) -> Any:
    try:
        from course_lib import load_pretrained  # fornecido pela biblioteca do curso
    except ImportError as exc:
        raise LookupError(
            f"não há como carregar o modelo '{name}': registre um resolvedor com "
            "register_model_resolver(fn) ou forneça course_lib.load_pretrained"
        ) from exc
    return load_pretrained(name)


def resolve_model(name: str) -> Any:
    """Devolve o modelo `name` (carregado uma vez por processo e reutilizado)."""
    if name not in _model_cache:
        resolver = _model_resolver or _default_model_resolver
        _model_cache[name] = resolver(name)
    return _model_cache[name]


# ---------------------------------------------------------------------------
# Dados simples
# ---------------------------------------------------------------------------


def _type_name(obj: Any) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_plain(value: Any, where: str) -> None:
    """Levanta TypeError se `value` não for um dado simples aceito nos casos."""
    if value is None or type(value) in (bool, int, float, str, ModelRef):
        return
    if type(value) is torch.Tensor:
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where}: chaves de dict devem ser str, não {_type_name(key)}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where}: tipo {_type_name(value)} não é permitido em um Case "
        "(use tensores, números, strings, listas, tuplas, dicts ou ModelRef)"
    )


_MODEL_REF_KEY = "__model_ref__"


def _walk(value: Any, leaf) -> Any:
    """Aplica `leaf` a cada folha de listas/tuplas/dicts aninhados, mantendo os contêineres.

    Um dict {"__model_ref__": nome} (um ModelRef codificado) conta como folha.
    """
    if type(value) is list:
        return [_walk(v, leaf) for v in value]
    if type(value) is tuple:
        return tuple(_walk(v, leaf) for v in value)
    if type(value) is dict and set(value) != {_MODEL_REF_KEY}:
        return {k: _walk(v, leaf) for k, v in value.items()}
    return leaf(value)


def _materialize_leaf(value: Any) -> Any:
    if type(value) is torch.Tensor:
        return value.clone()
    if isinstance(value, ModelRef):
        return resolve_model(value.name)
    return value


def materialize(value: Any) -> Any:
    """Cópia pronta para uso: clona tensores e resolve `ModelRef` em modelos."""
    return _walk(value, _materialize_leaf)


def _encode(value: Any) -> Any:
    return _walk(value, lambda v: {_MODEL_REF_KEY: v.name} if isinstance(v, ModelRef) else v)


def _decode(value: Any) -> Any:
    return _walk(value, lambda v: ModelRef(v[_MODEL_REF_KEY]) if type(v) is dict else v)


def to_plain(obj: Any) -> Any:
    """Converte a saída de uma função em dados simples (salváveis com torch.save).

    Aceita só `torch.Tensor` exato (ou `nn.Parameter`), números, strings, None,
    listas/tuplas exatas e dicts com chaves str. Tensores são desanexados do
    grafo, copiados e levados para a CPU. Qualquer outro objeto (inclusive
    subclasses, que podem mentir no `__eq__`) vira `{INVALID_TYPE_KEY: nome}`.
    """
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is torch.Tensor or type(obj) is torch.nn.Parameter:
        tensor = obj.detach()
        if type(tensor) is torch.Tensor and tensor.layout == torch.strided and not tensor.is_meta:
            return tensor.cpu().clone()
        return {INVALID_TYPE_KEY: _type_name(obj)}
    if type(obj) in (list, tuple, torch.Size):
        items = [to_plain(v) for v in obj]
        return items if type(obj) is list else tuple(items)
    if type(obj) is dict and all(type(k) is str for k in obj):
        return {k: to_plain(v) for k, v in obj.items()}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(obj, numpy.generic) and type(obj).__module__ == "numpy":
        if isinstance(obj, numpy.bool_):
            return bool(obj)
        if isinstance(obj, numpy.integer):
            return int(obj)
        if isinstance(obj, numpy.floating):
            return float(obj)
    return {INVALID_TYPE_KEY: _type_name(obj)}


def _describe_type(obj: Any) -> str:
    if type(obj) is dict and set(obj) == {INVALID_TYPE_KEY}:
        return str(obj[INVALID_TYPE_KEY])
    return _type_name(obj)


# ---------------------------------------------------------------------------
# Comparação
# ---------------------------------------------------------------------------


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _fmt_index(index: tuple[int, ...], axis_names: tuple[str, ...] | None) -> str:
    if len(index) == 0:
        return "(escalar)"
    if axis_names is not None and len(axis_names) == len(index):
        return "[" + ", ".join(f"{n}={i}" for n, i in zip(axis_names, index)) + "]"
    return "[" + ", ".join(str(i) for i in index) + "]"


def _fmt_shape(shape: tuple[int, ...], axis_names: tuple[str, ...] | None) -> str:
    text = "(" + ", ".join(str(s) for s in shape) + ")"
    if axis_names is not None and len(axis_names) == len(shape):
        text += " [" + ", ".join(axis_names) + "]"
    return text


def _first_index(mask: torch.Tensor) -> tuple[int, ...]:
    if mask.dim() == 0:
        return ()
    return tuple(int(i) for i in mask.nonzero()[0].tolist())


def compare_tensors(
    expected: torch.Tensor,
    got: Any,
    name: str = "saída",
    axis_names: tuple[str, ...] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> str | None:
    """Compara dois tensores; devolve None se iguais, senão o problema em pt-BR.

    Verifica, nesta ordem: tipo (exatamente torch.Tensor), número de eixos,
    tamanho de cada eixo (nomeado por `axis_names`), dtype, NaN/inf onde não
    deveria haver e valores (primeira posição errada e maior erro absoluto).
    """
    if type(got) is not torch.Tensor:
        return f"{name}: tipo errado; esperado torch.Tensor, obtido {_describe_type(got)}"
    try:
        return _compare_tensor_values(expected, got, name, axis_names, atol, rtol)
    except Exception as exc:  # nunca derrubar o verificador
        return f"{name}: não foi possível comparar ({type(exc).__name__}: {exc})"


def _compare_tensor_values(
    expected: torch.Tensor,
    got: torch.Tensor,
    name: str,
    axis_names: tuple[str, ...] | None,
    atol: float,
    rtol: float,
) -> str | None:
    if got.layout != torch.strided or got.is_meta:
        return f"{name}: tipo errado; esperado um tensor denso comum, obtido layout {got.layout}"
    exp_shape, got_shape = tuple(expected.shape), tuple(got.shape)
    if len(exp_shape) != len(got_shape):
        return (
            f"{name}: número de eixos errado; esperado {len(exp_shape)}, obtido {len(got_shape)} "
            f"(formato esperado {_fmt_shape(exp_shape, axis_names)}, obtido {_fmt_shape(got_shape, None)})"
        )
    if exp_shape != got_shape:
        lines = [
            f"{name}: formato errado; esperado {_fmt_shape(exp_shape, axis_names)}, "
            f"obtido {_fmt_shape(got_shape, None)}"
        ]
        for axis, (e, g) in enumerate(zip(exp_shape, got_shape)):
            if e != g:
                label = f"eixo {axis}"
                if axis_names is not None and len(axis_names) == len(exp_shape):
                    label += f" ({axis_names[axis]})"
                lines.append(f"  {label}: esperado {e}, obtido {g}")
        return "\n".join(lines)
    if expected.dtype != got.dtype:
        return f"{name}: dtype errado; esperado {expected.dtype}, obtido {got.dtype}"

    exp = expected.cpu()
    got = got.cpu()
    if exp.is_floating_point() or exp.is_complex():
        bad_nan = torch.isnan(got) & ~torch.isnan(exp)
        bad_inf = torch.isinf(got) & ~(torch.isinf(exp) & (got == exp))
        missing_inf = torch.isinf(exp) & ~(torch.isinf(got) & (got == exp))
        count = int(missing_inf.sum())
        if count:
            index = _first_index(missing_inf)
            return (
                f"{name}: esperado {_fmt_value(exp[index].item())} em {count} posição(ões), "
                f"primeira em {_fmt_index(index, axis_names)}, mas veio {_fmt_value(got[index].item())}. "
                "Um número finito não é infinito: depois do softmax ele ainda recebe probabilidade "
                "(com 0, exp(0) = 1, tanto quanto um escore 0 de verdade; com -1e9, uma minúscula), "
                "e somas com -inf não dão o mesmo resultado. "
                "Use float('-inf') (ou float('inf')) onde o valor deve ser infinito."
            )
        for mask, label in ((bad_nan, "NaN"), (bad_inf, "infinito")):
            count = int(mask.sum())
            if count:
                index = _first_index(mask)
                where = _fmt_index(index, axis_names)
                return (
                    f"{name}: contém {label} em {count} posição(ões) onde não deveria; "
                    f"primeira em {where} (esperado {_fmt_value(exp[index].item())})"
                )
        close = torch.isclose(got, exp, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = got == exp
    wrong = ~close
    count = int(wrong.sum())
    if count == 0:
        return None
    index = _first_index(wrong)
    if exp.is_complex():
        diff = (got.to(torch.complex128) - exp.to(torch.complex128)).abs()
    else:
        diff = (got.to(torch.float64) - exp.to(torch.float64)).abs()
    finite = torch.isfinite(diff)
    max_err = float(diff[finite].max()) if bool(finite.any()) else float("nan")
    return (
        f"{name}: valores errados em {count} de {exp.numel()} posição(ões).\n"
        f"  primeira em {_fmt_index(index, axis_names)}: esperado {_fmt_value(exp[index].item())}, "
        f"obtido {_fmt_value(got[index].item())}\n"
        f"  maior erro absoluto: {max_err:.3g} (tolerância: atol={atol:g}, rtol={rtol:g})"
    )


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def compare_values(
    expected: Any,
    got: Any,
    name: str = "saída",
    axis_names: Any = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> str | None:
    """Compara saídas em dados simples (como as de `to_plain`); None = iguais.

    `axis_names` vale para uma saída tensor; para tupla/lista de saídas, passe
    uma lista com os nomes de eixos de cada elemento.
    """
    if type(expected) is torch.Tensor:
        names = tuple(axis_names) if axis_names is not None and all(isinstance(n, str) for n in axis_names) else None
        return compare_tensors(expected, got, name, names, atol, rtol)
    if type(expected) is bool:
        if type(got) is not bool:
            return f"{name}: tipo errado; esperado bool, obtido {_describe_type(got)}"
        return None if got == expected else f"{name}: valor errado; esperado {expected}, obtido {got}"
    if type(expected) is int and type(got) is float:
        return (
            f"{name}: tipo errado; esperado int, obtido float ({_fmt_value(got)}); "
            "devolva um inteiro (por exemplo, com int(...) ou .item() de um tensor inteiro)"
        )
    if _is_number(expected):
        if not _is_number(got):
            hint = " (use .item() para converter um tensor de 1 elemento)" if type(got) is torch.Tensor else ""
            return f"{name}: tipo errado; esperado um número, obtido {_describe_type(got)}{hint}"
        if math.isnan(expected) and math.isnan(got):
            return None
        if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            return None
        return f"{name}: valor errado; esperado {_fmt_value(expected)}, obtido {_fmt_value(got)}"
    if type(expected) is str or expected is None:
        if type(got) is not type(expected):
            return f"{name}: tipo errado; esperado {_type_name(expected)}, obtido {_describe_type(got)}"
        return None if got == expected else f"{name}: valor errado; esperado {expected!r}, obtido {got!r}"
    if type(expected) in (list, tuple):
        if type(got) not in (list, tuple):
            return f"{name}: tipo errado; esperado {_type_name(expected)}, obtido {_describe_type(got)}"
        if len(got) != len(expected):
            return f"{name}: tamanho errado; esperado {len(expected)} elementos, obtido {len(got)}"
        per_item = None
        if axis_names is not None and not all(isinstance(n, str) for n in axis_names):
            per_item = list(axis_names)
        for i, (e, g) in enumerate(zip(expected, got)):
            item_names = per_item[i] if per_item is not None and i < len(per_item) else None
            problem = compare_values(e, g, f"{name}[{i}]", item_names, atol, rtol)
            if problem is not None:
                return problem
        return None
    if type(expected) is dict:
        if type(got) is not dict or INVALID_TYPE_KEY in got:
            return f"{name}: tipo errado; esperado dict, obtido {_describe_type(got)}"
        if set(got) != set(expected):
            return f"{name}: chaves erradas; esperado {sorted(expected)}, obtido {sorted(got)}"
        for key in expected:
            problem = compare_values(expected[key], got[key], f"{name}[{key!r}]", None, atol, rtol)
            if problem is not None:
                return problem
        return None
    raise TypeError(f"saída esperada de tipo não suportado: {_type_name(expected)}")


# ---------------------------------------------------------------------------
# Casos, exercícios e execução
# ---------------------------------------------------------------------------


@dataclass
class Case:
    """Um caso de teste: argumentos (dados simples ou ModelRef) e descrição em pt-BR."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        self.args = tuple(self.args)
        _check_plain(list(self.args), "args")
        _check_plain(dict(self.kwargs), "kwargs")

    def to_dict(self) -> dict:
        """Versão em dados simples (para torch.save com weights_only)."""
        return {"args": list(_encode(self.args)), "kwargs": _encode(self.kwargs), "description": self.description}

    @classmethod
    def from_dict(cls, data: dict) -> "Case":
        return cls(tuple(_decode(list(data["args"]))), _decode(data["kwargs"]), data["description"])


def _seed_from(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16)


def _case_key(exercise_id: str) -> str:
    """A parte do id sem o número do notebook: renumerar o curso não muda os casos sorteados."""
    return exercise_id.split(".", 1)[-1]


@dataclass
class Exercise:
    """Especificação de um exercício.

    `make_cases(gen)` cria a lista de `Case` usando só o `torch.Generator` dado
    para gerar dados aleatórios: com o gerador da semente visível saem os casos
    da célula de verificação; com outra semente, os casos ocultos do corretor.
    """

    id: str
    func_name: str
    reference: Callable[..., Any]
    make_cases: Callable[[torch.Generator], list[Case]]
    points: int = 1
    known_mistakes: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    compare: Callable[[Any, Any], str | None] | None = None
    output_names: Any = None
    atol: float = 1e-5
    rtol: float = 1e-4
    make_hidden_cases: Callable[[torch.Generator], list[Case]] | None = None
    # APIs que o enunciado proíbe: nome -> motivo em pt-BR. O nome é o de uma função
    # do torch ("softmax" pega torch.softmax, Tensor.softmax e F.softmax) ou o caminho
    # completo de uma função Python ("course_lib.activations.pca"). Detectado pelo que
    # a função do aluno CHAMA ao rodar, não pelo texto dela.
    forbidden: dict[str, str] = field(default_factory=dict)
    # O enunciado pede um tensor novo: modificar a entrada no lugar reprova o caso.
    forbid_inplace: bool = False
    # Edição do aluno (tools/build_release.py): sem gabarito nem gerador de casos; os
    # casos visíveis, as saídas esperadas e as saídas dos erros conhecidos vêm prontos,
    # como dados (veja `export_visible` e `load_released`).
    released: dict | None = None

    def cases(self) -> list[Case]:
        """Casos visíveis (sempre os mesmos)."""
        if self.released is not None:
            return list(self.released["cases"])
        gen = torch.Generator().manual_seed(_seed_from(f"{_case_key(self.id)}:visivel"))
        return self._validated(self.make_cases(gen))

    def hidden_cases(self, seed: int) -> list[Case]:
        """Casos ocultos para o corretor: mesma estrutura, outros dados aleatórios."""
        if self.released is not None:
            raise LookupError(
                f"{self.id}: a edição do aluno não tem casos ocultos; o corretor em lote roda do "
                "repositório completo (a edição do instrutor)"
            )
        gen = torch.Generator().manual_seed(_seed_from(f"{_case_key(self.id)}:oculto:{seed}"))
        return self._validated((self.make_hidden_cases or self.make_cases)(gen))

    def _released_index(self, case: Case) -> int:
        for i, known in enumerate(self.released["cases"]):
            if known is case:
                return i
        raise LookupError(f"{self.id}: a edição do aluno só conhece os casos visíveis ({case.description!r} não é um deles)")

    def mistake_outputs(self, case: Case):
        """Gera (nome, saída em dados simples) de cada erro conhecido que roda sem erro em `case`."""
        if self.released is not None:
            for m in self.released["mistakes"][self._released_index(case)]:
                yield m["name"], m["output"]
            return
        for mistake_name, wrong_fn in self.known_mistakes:
            wrong = capture_call(wrong_fn, case)
            if "error" not in wrong:
                yield mistake_name, wrong["output"]

    @property
    def origin(self) -> str:
        """Módulo que definiu o exercício."""
        if self.released is not None:
            return self.released["module"]
        return getattr(self.reference, "__module__", "") or ""

    def _validated(self, cases: list[Case]) -> list[Case]:
        if not cases or not all(isinstance(c, Case) for c in cases):
            raise TypeError(f"{self.id}: make_cases deve devolver uma lista não vazia de Case")
        return list(cases)

    def expected(self, case: Case) -> Any:
        """Saída do gabarito para `case`, em dados simples."""
        if self.released is not None:
            return self.released["expected"][self._released_index(case)]
        args, kwargs = materialize(case.args), materialize(case.kwargs)
        try:
            return to_plain(self.reference(*args, **kwargs))
        except Exception as exc:
            raise RuntimeError(f"erro no gabarito do exercício {self.id} ({case.description}): {exc!r}") from exc

    def compare_outputs(self, expected: Any, got: Any) -> str | None:
        if self.compare is not None:
            return self.compare(expected, got)
        return compare_values(expected, got, "saída", self.output_names, self.atol, self.rtol)


_REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Registra um exercício (chamado pelos módulos `nbNN_*.py` ao serem importados)."""
    prefix, _, rest = exercise.id.partition(".")
    if not (len(prefix) == 2 and prefix.isdigit() and rest):
        raise ValueError(f"id de exercício inválido: {exercise.id!r} (use 'NN.nome', ex.: '01.softmax')")
    old = _REGISTRY.get(exercise.id)
    if old is not None and old.origin != exercise.origin:
        raise ValueError(
            f"exercício {exercise.id} já registrado por {old.origin}; "
            f"não pode ser registrado de novo por {exercise.origin}"
        )
    _REGISTRY[exercise.id] = exercise
    return exercise


# ---------------------------------------------------------------------------
# Edição do aluno: casos visíveis, saídas esperadas e erros conhecidos como dados
# ---------------------------------------------------------------------------

RELEASE_FORMAT = 1
# Campos de Exercise que são só dados e viajam iguais para a edição do aluno.
_DATA_FIELDS = ("id", "func_name", "points", "output_names", "atol", "rtol", "forbidden", "forbid_inplace")


def export_visible(exercise: Exercise) -> dict:
    """Tudo o que `check()` precisa, em dados simples (sem gabarito nem gerador de casos).

    Roda o gabarito e cada erro conhecido nos casos visíveis. Quem usa: tools/build_release.py.
    A comparação (`compare`) é código e não entra aqui: o build copia a fonte dela.
    """
    cases = exercise.cases()
    data = {name: getattr(exercise, name) for name in _DATA_FIELDS}
    data["output_names"] = _encode(exercise.output_names)
    data["module"] = exercise.origin
    data["cases"] = [case.to_dict() for case in cases]
    data["expected"] = [exercise.expected(case) for case in cases]
    data["mistakes"] = [[{"name": n, "output": out} for n, out in exercise.mistake_outputs(case)] for case in cases]
    return data


def load_released(module_name: str, compares: dict[str, Callable[[Any, Any], str | None]] | None = None) -> list[Exercise]:
    """Registra os exercícios de um módulo da edição do aluno a partir do `.pt` ao lado dele."""
    module = sys.modules[module_name]
    path = Path(module.__file__).with_suffix(".pt")
    bundle = torch.load(path, weights_only=True)
    if bundle.get("format") != RELEASE_FORMAT:
        raise RuntimeError(f"{path}: formato {bundle.get('format')!r}; esperado {RELEASE_FORMAT} (refaça a edição do aluno)")
    compares = compares or {}
    registered = []
    for data in bundle["exercises"]:
        released = {
            "module": module_name,
            "cases": [Case.from_dict(c) for c in data["cases"]],
            "expected": data["expected"],
            "mistakes": data["mistakes"],
        }
        fields = {name: data[name] for name in _DATA_FIELDS}
        fields["output_names"] = _decode(data["output_names"])
        registered.append(register(Exercise(reference=None, make_cases=None, compare=compares.get(data["id"]),
                                            released=released, **fields)))
    return registered


def unregister(exercise_id: str) -> None:
    """Remove um exercício do registro (útil em testes)."""
    _REGISTRY.pop(exercise_id, None)


_extra_dirs_added: list[str] = []


def _checks_package_path() -> list[str]:
    """Caminho do pacote de verificações, sincronizado com as pastas de EXTRA_PATH_ENV."""
    package = sys.modules[__name__.rpartition(".")[0]]
    wanted = [f for f in os.environ.get(EXTRA_PATH_ENV, "").split(os.pathsep) if f]
    for folder in list(_extra_dirs_added):
        if folder not in wanted:
            _extra_dirs_added.remove(folder)
            if folder in package.__path__:
                package.__path__.remove(folder)
    for folder in wanted:
        if folder not in package.__path__:
            package.__path__.append(folder)
            _extra_dirs_added.append(folder)
    return list(package.__path__)


def _import_check_modules(prefix: str | None) -> None:
    """Importa os módulos `nbNN_*` (todos, se prefix for None)."""
    package_name = __name__.rpartition(".")[0]
    for info in sorted(pkgutil.iter_modules(_checks_package_path()), key=lambda m: m.name):
        name = info.name
        if not name.startswith("nb") or len(name) < 4 or not name[2:4].isdigit():
            continue
        if prefix is None or name == f"nb{prefix}" or name.startswith(f"nb{prefix}_"):
            importlib.import_module(f"{package_name}.{name}")


def get_exercise(exercise_id: str) -> Exercise:
    """Busca o exercício, importando sob demanda `course_lib.checks.nbNN_*`."""
    if exercise_id not in _REGISTRY:
        _import_check_modules(exercise_id.partition(".")[0])
    if exercise_id not in _REGISTRY:
        raise LookupError(
            f"exercício {exercise_id!r} não encontrado: nenhum módulo "
            f"course_lib/checks/nb{exercise_id.partition('.')[0]}_*.py o registrou"
        )
    return _REGISTRY[exercise_id]


def all_exercises() -> dict[str, Exercise]:
    """Todos os exercícios, depois de importar todos os módulos `nbNN_*`."""
    _import_check_modules(None)
    return dict(sorted(_REGISTRY.items()))


# ---------------------------------------------------------------------------
# Rodar a função do aluno e avaliar
# ---------------------------------------------------------------------------

_LIBRARY_DIRS = tuple(
    str(Path(p).resolve())
    for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
) + (str(Path(__file__).resolve().parents[1]),)


def _is_library_file(filename: str) -> bool:
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return path.startswith(_LIBRARY_DIRS) or "site-packages" in path


def _describe_exception(exc: Exception, func_name: str) -> str:
    if isinstance(exc, NotImplementedError):
        return f"a função `{func_name}` ainda levanta NotImplementedError: {exc}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    student = [f for f in frames if not _is_library_file(f.filename)]
    frame = student[-1] if student else (frames[-1] if frames else None)
    text = f"sua função levantou uma exceção {type(exc).__name__}: {exc}"
    if frame is not None:
        line = (frame.line or "").strip()
        text += f"\n  em `{frame.name}`, linha {frame.lineno}"
        if line:
            text += f": {line}"
    return text


def _argument_names(fn: Callable, n_args: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argumento {i}" for i in range(n_args)]


def _same_tensor(original: torch.Tensor, used: Any) -> bool:
    if type(used) is not torch.Tensor or used.shape != original.shape or used.dtype != original.dtype:
        return False
    same = used == original
    if original.is_floating_point() or original.is_complex():
        same = same | (torch.isnan(used) & torch.isnan(original))
    return bool(same.all())


class _RecordTorchCalls(torch.overrides.TorchFunctionMode):
    """Anota quais funções do torch (pelo nome) foram chamadas enquanto ativo."""

    def __init__(self, names: set[str], seen: set[str]):
        super().__init__()
        self.names, self.seen = names, seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.names:
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


def _resolve_code(path: str):
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr).__code__, path
    except (ImportError, AttributeError):
        return None, path


class _ForbiddenCalls:
    """Contexto que registra as chamadas proibidas (`Exercise.forbidden`) feitas dentro dele."""

    def __init__(self, forbidden: dict[str, str] | None):
        forbidden = forbidden or {}
        self.seen: set[str] = set()
        self.torch_names = {name for name in forbidden if "." not in name}
        self.codes = dict(_resolve_code(name) for name in forbidden if "." in name)
        self.codes.pop(None, None)
        self._mode = None
        self._old_profile = None

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_code in self.codes:
            self.seen.add(self.codes[frame.f_code])

    def __enter__(self):
        if self.torch_names:
            self._mode = _RecordTorchCalls(self.torch_names, self.seen)
            self._mode.__enter__()
        if self.codes:
            self._old_profile = sys.getprofile()
            sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        if self.codes:
            sys.setprofile(self._old_profile)
        if self._mode is not None:
            self._mode.__exit__(*exc)
        return False


def capture_call(fn: Callable, case: Case, func_name: str | None = None, forbidden: dict[str, str] | None = None) -> dict:
    """Roda `fn` em cópias dos argumentos de `case` e devolve só dados simples.

    Resultado: {"output": saída em dados simples} ou {"error": descrição pt-BR,
    "not_implemented": bool}; em ambos, "notes": avisos (ex.: entrada modificada),
    "modified_inputs": nomes das entradas alteradas no lugar e "forbidden": as APIs
    de `forbidden` que a função chamou.
    """
    func_name = func_name or getattr(fn, "__name__", "função")
    args, kwargs = materialize(case.args), materialize(case.kwargs)
    recorder = _ForbiddenCalls(forbidden)
    try:
        with recorder:
            output = fn(*args, **kwargs)
    except Exception as exc:  # o erro do aluno vira retorno, nunca derruba o verificador
        return {
            "error": _describe_exception(exc, func_name),
            "not_implemented": isinstance(exc, NotImplementedError),
            "notes": [],
            "forbidden": sorted(recorder.seen),
        }
    notes, modified = [], []
    names = _argument_names(fn, len(args))
    for i, (original, used) in enumerate(zip(case.args, args)):
        if type(original) is torch.Tensor and not _same_tensor(original, used):
            modified.append(names[i])
            notes.append(
                f"atenção: sua função modificou a entrada `{names[i]}` (operação in-place); "
                "o verificador usa cópias, mas evite alterar os argumentos"
            )
    return {"output": to_plain(output), "notes": notes, "modified_inputs": modified, "forbidden": sorted(recorder.seen)}


@dataclass
class CaseResult:
    """Resultado de um caso: passed, problema (pt-BR) e erro conhecido identificado."""

    index: int
    description: str
    passed: bool
    message: str | None = None
    mistake: str | None = None
    notes: list[str] = field(default_factory=list)
    not_implemented: bool = False


_MISSING = object()


def evaluate(exercise: Exercise, case: Case, captured: dict, index: int = 0, expected: Any = _MISSING) -> CaseResult:
    """Avalia o resultado de `capture_call` contra o gabarito (e os erros conhecidos)."""
    notes = list(captured.get("notes", []))
    used = [name for name in captured.get("forbidden", []) if name in exercise.forbidden]
    if used:
        reasons = "; ".join(f"`{name}`: {exercise.forbidden[name]}" for name in used)
        return CaseResult(
            index, case.description, False,
            f"sua função chamou o que o enunciado proíbe neste exercício ({reasons})", None, notes,
        )
    if "error" in captured:
        return CaseResult(
            index, case.description, False, captured["error"], None, notes, bool(captured.get("not_implemented"))
        )
    if exercise.forbid_inplace and captured.get("modified_inputs"):
        names = ", ".join(f"`{n}`" for n in captured["modified_inputs"])
        return CaseResult(
            index, case.description, False,
            f"o enunciado pede um tensor novo, mas sua função modificou a entrada {names} no lugar "
            "(operação in-place, como masked_fill_ ou +=); use a versão sem `_` (ex.: masked_fill)",
            None, notes,
        )
    got = captured["output"]
    if expected is _MISSING:
        expected = exercise.expected(case)
    try:
        problem = exercise.compare_outputs(expected, got)
    except Exception as exc:  # uma comparação sob medida que não previu esta saída: nunca derrubar o verificador
        problem = f"saída: não foi possível comparar (obtido {_describe_type(got)}; {type(exc).__name__}: {exc})"
    if problem is None:
        return CaseResult(index, case.description, True, None, None, notes)
    mistake = None
    for mistake_name, wrong_output in exercise.mistake_outputs(case):
        try:
            same = exercise.compare_outputs(wrong_output, got) is None
            same = same and exercise.compare_outputs(expected, wrong_output) is not None
        except Exception:  # a saída do aluno não se parece com a do erro conhecido
            same = False
        if same:
            mistake = mistake_name
            break
    return CaseResult(index, case.description, False, problem, mistake, notes)


@dataclass
class CheckReport:
    """Relatório de uma verificação: texto completo e resumo, em pt-BR."""

    exercise_id: str
    passed: bool
    n_passed: int
    n_total: int
    text: str
    summary: str
    results: list[CaseResult]


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def run_checks(exercise: Exercise, student_fn: Any, cases: list[Case] | None = None) -> CheckReport:
    """Roda `student_fn` nos casos (visíveis por padrão) e monta o relatório."""
    name = exercise.func_name
    cases = exercise.cases() if cases is None else cases
    if not callable(student_fn):
        summary = f"{name}: esperava uma função, recebi um objeto do tipo {_type_name(student_fn)}"
        return CheckReport(exercise.id, False, 0, len(cases), "❌ " + summary, summary, [])
    results: list[CaseResult] = []
    for index, case in enumerate(cases):
        result = evaluate(exercise, case, capture_call(student_fn, case, name, exercise.forbidden), index)
        results.append(result)
        if result.not_implemented:
            break
    n_total = len(cases)
    n_passed = sum(r.passed for r in results)
    notes = sorted({note for r in results for note in r.notes})
    if n_passed == n_total:
        lines = [f"✅ {name}: {n_passed}/{n_total} casos corretos"] + ["ℹ️ " + n for n in notes]
        return CheckReport(exercise.id, True, n_passed, n_total, "\n".join(lines), lines[0], results)

    failed = [r for r in results if not r.passed]
    first = failed[0]
    if first.not_implemented:
        summary = f"{name}: você ainda não implementou este exercício"
        text = f"❌ {summary}.\n{_indent(first.message or '')}"
        return CheckReport(exercise.id, False, 0, n_total, text, summary, results)
    lines = [
        f"❌ {name}: {n_passed}/{n_total} casos corretos",
        f"Caso {first.index + 1} de {n_total}: {first.description}",
        _indent(first.message or ""),
    ]
    if first.mistake:
        lines.append(f"  💡 Parece um erro comum: {first.mistake}")
    others = failed[1:]
    if others:
        lines.append("Também falharam: " + "; ".join(f"caso {r.index + 1} ({r.description})" for r in others))
    lines += ["ℹ️ " + n for n in notes]
    summary = f"{name}: {n_passed}/{n_total} casos corretos; primeiro erro no caso {first.index + 1} ({first.description})"
    if first.mistake:
        summary += f"; provável erro: {first.mistake}"
    return CheckReport(exercise.id, False, n_passed, n_total, "\n".join(lines), summary, results)


def check(exercise_id: str, student_fn: Any) -> None:
    """Verifica a função do aluno nos casos visíveis e imprime o retorno.

    Se algum caso falhar, levanta `CheckFailed` (depois de imprimir), para que
    "Run all" e o nbval parem nesta célula.
    """
    exercise = get_exercise(exercise_id)
    report = run_checks(exercise, student_fn)
    print(report.text)
    if not report.passed:
        raise CheckFailed(report.summary)


STUB_MESSAGE = "Exercício ainda não resolvido: "


class when_solved:
    """Roda um bloco que usa funções de exercícios; se alguma ainda não foi resolvida, avisa.

        with when_solved("a figura da lente"):
            grid = logit_lens(model, resid_stack)   # a função do aluno
            plot_logit_lens(grid, ...)

    Se o bloco esbarrar no `NotImplementedError` de um exercício em branco, imprime uma
    linha em pt-BR ("⏳ resolva 03.logit_lens para ver a figura da lente") e segue sem
    erro (no notebook em branco só as células de verificação falham). Qualquer outro
    erro aparece normalmente: é a sua função rodando no modelo de verdade.
    """

    def __init__(self, what: str = "este resultado"):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, NotImplementedError) and str(exc).startswith(STUB_MESSAGE):
            exercise_id = str(exc)[len(STUB_MESSAGE):].strip()
            print(f"⏳ resolva {exercise_id} para ver {self.what}")
            return True
        return False

