"""Pontos de gancho (hooks): como espiar e editar qualquer ativação do modelo.

Segue a convenção do TransformerLens: cada ativação interessante passa por um
`HookPoint`, um módulo identidade com nome (por exemplo
`blocks.0.attn.hook_pattern`). Funções registradas nele recebem
`(tensor, hook)` e podem devolver um tensor substituto.

- Ganchos "fwd" (padrão) veem a ativação no forward.
- Ganchos "bwd" veem o GRADIENTE da perda em relação à ativação, no backward
  (`loss.backward()`); servem para atribuição por gradiente (attribution patching).

Por baixo são os ganchos do próprio PyTorch (`register_forward_hook` e
`register_full_backward_hook`), como no TransformerLens; sem gancho nenhum o
forward é exatamente a identidade.
"""
from __future__ import annotations

import difflib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]
DIRS = ("fwd", "bwd")


@dataclass
class LensHandle:
    """Um gancho instalado: o handle do PyTorch e como ele foi adicionado."""

    hook: torch.utils.hooks.RemovableHandle
    is_permanent: bool = False
    context_level: int | None = None
    user_hook: Callable | None = None


class HookDisabledError(ValueError, AssertionError):
    """Gancho opcional desligado (AssertionError também, que é o que o TransformerLens levanta)."""


def _check_dir(dir, allow_both=False) -> str:
    ok = DIRS + (("both",) if allow_both else ())
    if dir not in ok:
        raise ValueError(f"`dir`: esperado um de {ok}; veio {dir!r}.")
    return dir


class HookPoint(nn.Module):
    """Módulo identidade onde funções de gancho podem ler ou trocar a ativação (ou o seu gradiente)."""

    def __init__(self):
        super().__init__()
        self.name: str | None = None
        self.fwd_hooks: list[LensHandle] = []
        self.bwd_hooks: list[LensHandle] = []
        self.ctx: dict = {}  # espaço livre para os ganchos guardarem coisas entre chamadas

    def add_hook(self, hook: HookFn, dir: str = "fwd", is_permanent: bool = False,
                 level: int | None = None, prepend: bool = False) -> None:
        """Instala `hook(tensor, hook_point)`; se devolver um tensor, ele substitui o original.

        dir="fwd": recebe a ativação. dir="bwd": recebe o gradiente da ativação.
        prepend=True roda este gancho antes dos outros. is_permanent=True sobrevive a
        `reset_hooks()` (só sai com `including_permanent=True`).
        """
        if not callable(hook):
            raise TypeError(f"add_hook: `hook` deve ser uma função fn(tensor, hook); veio {type(hook).__name__}.")
        _check_dir(dir)
        what = "da ativação" if dir == "fwd" else "do gradiente"

        def checked(x):
            out = hook(x, self)
            if dir == "bwd" and isinstance(out, tuple) and len(out) == 1:  # a convenção dos ganchos do PyTorch
                out = out[0]
            if out is not None and (not isinstance(out, torch.Tensor) or out.shape != x.shape):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"O gancho em '{self.name}' devolveu {got}; esperado None ou um tensor "
                                 f"com a mesma forma {what}, {tuple(x.shape)}.")
            return out

        if dir == "fwd":
            handle = self.register_forward_hook(lambda mod, inp, out: checked(out), prepend=prepend)
        else:  # num módulo identidade, o gradiente da saída é o da entrada
            def bwd(mod, grad_input, grad_output):
                out = checked(grad_output[0])
                return None if out is None else (out,)
            handle = self.register_full_backward_hook(bwd, prepend=prepend)
        hooks = self.fwd_hooks if dir == "fwd" else self.bwd_hooks
        lens = LensHandle(handle, is_permanent, level, hook)
        hooks.insert(0, lens) if prepend else hooks.append(lens)

    def add_perma_hook(self, hook: HookFn, dir: str = "fwd") -> None:
        self.add_hook(hook, dir=dir, is_permanent=True)

    def has_hooks(self, dir: str = "both", including_permanent: bool = True, level: int | None = None) -> bool:
        return bool(self._matching(dir, including_permanent, level))

    def _matching(self, dir, including_permanent, level) -> list[LensHandle]:
        _check_dir(dir, allow_both=True)
        handles = (self.fwd_hooks if dir in ("fwd", "both") else []) + (self.bwd_hooks if dir in ("bwd", "both") else [])
        return [h for h in handles if (including_permanent or not h.is_permanent)
                and (level is None or h.context_level == level)]

    def remove_hooks(self, dir: str = "fwd", including_permanent: bool = False, level: int | None = None) -> None:
        """Remove os ganchos de `dir` ("fwd", "bwd" ou "both"); os permanentes só com including_permanent=True."""
        gone = self._matching(dir, including_permanent, level)
        for h in gone:
            h.hook.remove()
        self.fwd_hooks = [h for h in self.fwd_hooks if h not in gone]
        self.bwd_hooks = [h for h in self.bwd_hooks if h not in gone]

    def clear_context(self) -> None:
        self.ctx = {}

    @property
    def fns(self) -> list[HookFn]:
        """As funções dos ganchos de forward, na ordem em que rodam."""
        return [h.user_hook for h in self.fwd_hooks]

    def layer(self) -> int:
        """A camada do gancho, para nomes 'blocks.{l}...'."""
        if self.name is None or not self.name.startswith("blocks."):
            raise ValueError(f"layer(): o gancho {self.name!r} não está num bloco ('blocks.{{l}}...'), então não tem camada.")
        return int(self.name.split(".")[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def __repr__(self):
        return f"HookPoint({self.name!r})"


def suggest(name: str, options: Iterable[str], n: int = 3) -> str:
    """Texto '... Você quis dizer: a, b?' com as opções mais parecidas (ou vazio)."""
    close = difflib.get_close_matches(name, list(options), n=n, cutoff=0.5)
    return (" Você quis dizer: " + ", ".join(repr(c) for c in close) + "?") if close else ""


class HookedRootModule(nn.Module):
    """Base com `hook_dict`, `add_hook`, `hooks`, `run_with_hooks` e `run_with_cache` (como no TransformerLens)."""

    def setup(self) -> None:
        """Dá nome a cada HookPoint pelo seu caminho no modelo. Chame no fim do __init__."""
        self.context_level = 0
        self.hook_dict: dict[str, HookPoint] = {}
        self.mod_dict: dict[str, nn.Module] = {}
        for name, module in self.named_modules():
            if name:
                self.mod_dict[name] = module
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    def hook_points(self):
        return self.hook_dict.values()

    # ---------------------------------------------------------------- seleção
    def _select_hooks(self, name_or_filter, arg: str = "names_filter") -> list[HookPoint]:
        if name_or_filter is None:
            return list(self.hook_dict.values())
        if isinstance(name_or_filter, str):
            name_or_filter = [name_or_filter]
        if callable(name_or_filter):
            return [h for n, h in self.hook_dict.items() if name_or_filter(n)]
        if isinstance(name_or_filter, (list, tuple, set)):
            hooks = []
            for n in name_or_filter:
                if not isinstance(n, str):
                    raise TypeError(f"`{arg}`: esperado nome de gancho (str); veio {type(n).__name__}.")
                if n not in self.hook_dict:
                    raise KeyError(
                        f"`{arg}`: gancho desconhecido '{n}'. Este modelo tem {len(self.hook_dict)} ganchos "
                        f"(veja `model.hook_dict`).{suggest(n, self.hook_dict)}"
                    )
                hooks.append(self.hook_dict[n])
            return hooks
        raise TypeError(
            f"`{arg}`: esperado None, um nome, uma lista de nomes ou uma função nome -> bool; "
            f"veio {type(name_or_filter).__name__}."
        )

    # ---------------------------------------------------------------- ganchos globais
    def disabled_hook_switch(self, name: str) -> str | None:
        """O campo do config que liga o gancho opcional `name`, se ele está desligado (senão None)."""
        return None

    def _check_enabled(self, hp: HookPoint) -> None:
        switch = self.disabled_hook_switch(hp.name)
        if switch is not None:
            how = f"model.set_{switch}(True)" if hasattr(self, f"set_{switch}") else f"model.cfg.{switch} = True"
            raise HookDisabledError(f"O gancho '{hp.name}' está desligado e nunca dispararia: ligue-o antes com "
                                    f"`{how}`.")

    def add_hook(self, name, hook: HookFn, dir: str = "fwd", is_permanent: bool = False,
                 level: int | None = None, prepend: bool = False) -> None:
        """Instala `hook` no gancho `name` (ou em todos os que `name(nome)` aceitar). Fica até `reset_hooks()`.

        Como no TL, um gancho opcional desligado (hook_result, hook_q_input...) dá erro em vez de nunca rodar.
        """
        for hp in self._select_hooks(name, "name"):
            self._check_enabled(hp)
            hp.add_hook(hook, dir=dir, is_permanent=is_permanent, level=level, prepend=prepend)

    def add_perma_hook(self, name, hook: HookFn, dir: str = "fwd") -> None:
        """Gancho permanente: sobrevive a `reset_hooks()` (saia com `reset_hooks(including_permanent=True)`)."""
        self.add_hook(name, hook, dir=dir, is_permanent=True)

    def remove_all_hook_fns(self, direction: str = "both", including_permanent: bool = False,
                            level: int | None = None) -> None:
        for hp in self.hook_points():
            hp.remove_hooks(direction, including_permanent=including_permanent, level=level)

    def clear_contexts(self) -> None:
        for hp in self.hook_points():
            hp.clear_context()

    def reset_hooks(self, clear_contexts: bool = True, direction: str = "both",
                    including_permanent: bool = False, level: int | None = None) -> None:
        """Remove os ganchos (os permanentes só com including_permanent=True) e limpa os `hook.ctx`."""
        if clear_contexts:
            self.clear_contexts()
        self.remove_all_hook_fns(direction, including_permanent, level=level)

    # ---------------------------------------------------------------- ganchos temporários
    @contextmanager
    def hooks(self, fwd_hooks=(), bwd_hooks=(), reset_hooks_end: bool = True, clear_contexts: bool = False):
        """Contexto que instala `fwd_hooks`/`bwd_hooks=[(nome_ou_filtro, fn), ...]` e os remove ao sair.

        Para ganchos de backward, rode `loss.backward()` DENTRO do `with` (ao sair eles somem).
        """
        self.context_level += 1
        try:
            for arg, items, dir in (("fwd_hooks", fwd_hooks, "fwd"), ("bwd_hooks", bwd_hooks, "bwd")):
                for item in items:
                    if not (isinstance(item, (tuple, list)) and len(item) == 2):
                        raise TypeError(f"`{arg}`: cada item deve ser um par (nome_ou_filtro, fn); veio {item!r}.")
                    name_or_filter, fn = item
                    for hp in self._select_hooks(name_or_filter, arg):
                        if isinstance(name_or_filter, str):  # nome explícito de um gancho desligado: erro
                            self._check_enabled(hp)
                        hp.add_hook(fn, dir=dir, level=self.context_level)
            yield self
        finally:
            if reset_hooks_end:
                self.reset_hooks(clear_contexts, including_permanent=False, level=self.context_level)
            self.context_level -= 1

    def run_with_hooks(self, *args, fwd_hooks=(), bwd_hooks=(), reset_hooks_end: bool = True,
                       clear_contexts: bool = False, **kwargs):
        """Roda o forward com ganchos temporários; eles são removidos mesmo se o forward falhar.

        Ganchos de backward só disparam em `loss.backward()`: passe `reset_hooks_end=False`,
        chame o backward e depois `model.reset_hooks()` (ou use o contexto `model.hooks(...)`).
        """
        with self.hooks(fwd_hooks, bwd_hooks, reset_hooks_end, clear_contexts):
            return self(*args, **kwargs)

    # ---------------------------------------------------------------- cache
    def get_caching_hooks(self, names_filter=None, incl_bwd: bool = False, device=None,
                          remove_batch_dim: bool = False, cache: dict | None = None, pos_slice=None):
        """(cache, fwd_hooks, bwd_hooks): ganchos que guardam ativações (e gradientes, '<nome>_grad') em `cache`."""
        from .utils import Slice

        cache = {} if cache is None else cache
        pos_slice = Slice.unwrap(pos_slice)

        def save(x, hook, suffix=""):
            x = x.detach().to(device) if device is not None else x.detach()
            if remove_batch_dim:
                x = x[0]
            pos_dim = -3 if hook.name.endswith(("hook_q", "hook_k", "hook_v", "hook_z", "hook_result",
                                                "_input", "hook_attn_in")) else -2
            if x.ndim >= -pos_dim:
                x = pos_slice.apply(x, dim=pos_dim)
            cache[hook.name + suffix] = x

        explicit = isinstance(names_filter, (str, list, tuple, set))
        for hp in self._select_hooks(names_filter) if explicit else []:
            self._check_enabled(hp)
        names = [h.name for h in self._select_hooks(names_filter) if self.disabled_hook_switch(h.name) is None]
        fwd = [(n, save) for n in names]
        bwd = [(n, lambda g, hook: save(g, hook, "_grad")) for n in names] if incl_bwd else []
        return cache, fwd, bwd

    def add_caching_hooks(self, names_filter=None, incl_bwd: bool = False, device=None,
                          remove_batch_dim: bool = False, cache: dict | None = None) -> dict:
        """Como get_caching_hooks, mas já instala os ganchos (ficam até `reset_hooks()`)."""
        cache, fwd, bwd = self.get_caching_hooks(names_filter, incl_bwd, device, remove_batch_dim, cache)
        for name, fn in fwd:
            self.add_hook(name, fn, "fwd")
        for name, fn in bwd:
            self.add_hook(name, fn, "bwd")
        return cache

    def run_with_cache(self, *args, names_filter=None, device=None, remove_batch_dim: bool = False,
                       incl_bwd: bool = False, reset_hooks_end: bool = True, clear_contexts: bool = False,
                       pos_slice=None, **kwargs):
        """Roda o forward e devolve `(saída, cache)` com as ativações dos ganchos escolhidos.

        incl_bwd=True também roda `saída.backward()` (a saída precisa ser um escalar, por exemplo
        `return_type="loss"`) e guarda os gradientes como "<nome>_grad".
        """
        from .cache import ActivationCache

        store, fwd, bwd = self.get_caching_hooks(names_filter, incl_bwd, device, remove_batch_dim, pos_slice=pos_slice)
        with self.hooks(fwd, bwd, reset_hooks_end, clear_contexts):
            out = self(*args, **kwargs)
            if incl_bwd:
                if not isinstance(out, torch.Tensor) or out.numel() != 1:
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(f"run_with_cache(incl_bwd=True): a saída do modelo deve ser um escalar para "
                                     f"o backward (use return_type='loss'); veio {got}.")
                out.backward()
        ordered = {n: v for n, v in store.items() if not n.endswith("_grad")}  # na ordem em que rodaram, como no TL
        ordered.update({n + "_grad": store[n + "_grad"] for n in self.hook_dict if n + "_grad" in store})
        return out, ActivationCache(ordered, self, has_batch_dim=not remove_batch_dim)
