"""Pontos de gancho (hooks): como espiar e editar qualquer ativação do modelo.

Segue a convenção do TransformerLens: cada ativação interessante passa por um
`HookPoint`, um módulo identidade com nome (por exemplo
`blocks.0.attn.hook_pattern`). Funções registradas nele recebem
`(tensor, hook)` e podem devolver um tensor substituto.
"""
from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Callable, Iterable

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]


class HookPoint(nn.Module):
    """Módulo identidade onde funções de gancho podem ler ou trocar a ativação."""

    def __init__(self):
        super().__init__()
        self.name: str | None = None
        self.fns: list[HookFn] = []

    def add_hook(self, fn: HookFn) -> None:
        if not callable(fn):
            raise TypeError(f"add_hook: `fn` deve ser uma função fn(tensor, hook); veio {type(fn).__name__}.")
        self.fns.append(fn)

    def remove_hooks(self) -> None:
        self.fns = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            out = fn(x, self)
            if out is not None:
                if not isinstance(out, torch.Tensor) or out.shape != x.shape:
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(
                        f"O gancho em '{self.name}' devolveu {got}; esperado None ou um tensor "
                        f"com a mesma forma da ativação, {tuple(x.shape)}."
                    )
                x = out
        return x

    def __repr__(self):
        return f"HookPoint({self.name!r})"


def suggest(name: str, options: Iterable[str], n: int = 3) -> str:
    """Texto '... Você quis dizer: a, b?' com as opções mais parecidas (ou vazio)."""
    close = difflib.get_close_matches(name, list(options), n=n, cutoff=0.5)
    return (" Você quis dizer: " + ", ".join(repr(c) for c in close) + "?") if close else ""


class HookedRootModule(nn.Module):
    """Base com `hook_dict`, `run_with_hooks` e `run_with_cache` (como no TransformerLens)."""

    def setup(self) -> None:
        """Dá nome a cada HookPoint pelo seu caminho no modelo. Chame no fim do __init__."""
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

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

    def reset_hooks(self) -> None:
        for h in self.hook_dict.values():
            h.remove_hooks()

    @contextmanager
    def hooks(self, fwd_hooks=()):
        """Contexto que instala `fwd_hooks=[(nome_ou_filtro, fn), ...]` e sempre os remove ao sair."""
        added: list[tuple[HookPoint, HookFn]] = []
        try:
            for item in fwd_hooks:
                if not (isinstance(item, (tuple, list)) and len(item) == 2):
                    raise TypeError("`fwd_hooks`: cada item deve ser um par (nome_ou_filtro, fn).")
                name_or_filter, fn = item
                for hp in self._select_hooks(name_or_filter, "fwd_hooks"):
                    hp.add_hook(fn)
                    added.append((hp, fn))
            yield self
        finally:
            for hp, fn in added:
                if fn in hp.fns:
                    hp.fns.remove(fn)

    def run_with_hooks(self, *args, fwd_hooks=(), **kwargs):
        """Roda o forward com ganchos temporários; eles são removidos mesmo se o forward falhar."""
        with self.hooks(fwd_hooks):
            return self(*args, **kwargs)

    def run_with_cache(self, *args, names_filter=None, remove_batch_dim: bool = False, **kwargs):
        """Roda o forward e devolve `(saída, cache)` com as ativações dos ganchos escolhidos."""
        from .cache import ActivationCache

        store: dict[str, torch.Tensor] = {}

        def save(x, hook):
            store[hook.name] = x.detach()[0] if remove_batch_dim else x.detach()

        selected = self._select_hooks(names_filter)
        with self.hooks([(lambda n, s={h.name for h in selected}: n in s, save)]):
            out = self(*args, **kwargs)
        ordered = {n: store[n] for n in self.hook_dict if n in store}
        return out, ActivationCache(ordered, self, has_batch_dim=not remove_batch_dim)
