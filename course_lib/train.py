"""Treino mínimo e determinístico (AdamW, lr constante, barra de progresso).

O mesmo `seed` dá exatamente os mesmos pesos (na CPU, com o mesmo número de threads:
por isso `train` usa 1 thread por padrão — em máquinas de 2 núcleos compartilhadas,
modelos pequenos também ficam mais rápidos assim).
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from .model import HookedTransformer


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    try:  # barra de notebook quando há frontend (ipywidgets), texto no terminal
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, leave=True)


def _close_as_success(bar, reason: str) -> None:
    """Fecha a barra como completa (verde no notebook) com o motivo da parada.

    O tqdm pinta de vermelho uma barra fechada antes do total; uma parada por sucesso
    não é uma falha, então o total passa a ser o que foi feito.
    """
    bar.total = bar.n
    bar.set_postfix_str(reason, refresh=False)
    bar.refresh()
    bar.close()


def train(model: HookedTransformer, batch_fn: Callable[[torch.Generator], torch.Tensor], n_steps: int,
          lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0, eval_fn: Callable | None = None,
          eval_every: int = 50, stop_fn: Callable[[dict], bool] | None = None, progress: bool = True,
          num_threads: int | None = 1, desc: str = "treinando", decay_steps: int = 0) -> dict:
    """Treina `model` em lotes de `batch_fn(gerador)` por `n_steps` passos.

    batch_fn: recebe um torch.Generator (semeado com `seed`) e devolve tokens [batch, pos].
    eval_fn: chamado a cada `eval_every` passos como eval_fn(model) -> dict de métricas
             (números); guardado em history["evals"] com o passo.
    stop_fn: recebe o dicionário de métricas da última avaliação; True interrompe o treino
             (um sucesso: a barra termina completa, verde, e diz o motivo).
    decay_steps: nos últimos `decay_steps` passos a taxa de aprendizado cai linearmente até 0
             (estabiliza os pesos finais de um checkpoint); 0 = taxa constante.
    Devolve history = {"loss": [perda por passo], "evals": [{"step": s, ...}], "seconds": t,
    "stopped_early": bool, "stop_reason": frase em pt-BR}.
    """
    if not isinstance(model, HookedTransformer):
        raise TypeError(f"train: `model` deve ser um HookedTransformer; veio {type(model).__name__}.")
    if not isinstance(n_steps, int) or n_steps <= 0:
        raise ValueError(f"train: `n_steps` deve ser um inteiro positivo; veio {n_steps!r}.")
    if not callable(batch_fn):
        raise TypeError("train: `batch_fn` deve ser uma função gerador -> tokens [batch, pos].")
    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        history = {"loss": [], "evals": []}
        bar = _progress_bar(n_steps, progress, desc)
        t0 = time.perf_counter()
        model.train()
        stop_reason = f"fim dos {n_steps} passos"
        for step in range(1, n_steps + 1):
            if decay_steps and step > n_steps - decay_steps:
                for group in opt.param_groups:
                    group["lr"] = lr * (n_steps - step + 1) / (decay_steps + 1)
            tokens = batch_fn(gen)
            loss = model(tokens, return_type="loss")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
            if bar is not None:
                bar.update(1)
                if step % 25 == 0:
                    bar.set_postfix(perda=f"{loss.item():.3f}")
            if eval_fn is not None and (step % eval_every == 0 or step == n_steps):
                with torch.no_grad():
                    metrics = {k: float(v) for k, v in eval_fn(model).items()}
                history["evals"].append({"step": step, **metrics})
                if stop_fn is not None and stop_fn(metrics):
                    stop_reason = f"parou no passo {step} de {n_steps}: o critério de parada foi atingido"
                    break
        model.eval()
        history["stopped_early"] = len(history["loss"]) < n_steps
        history["stop_reason"] = stop_reason
        if bar is not None:
            _close_as_success(bar, stop_reason)
        history["seconds"] = time.perf_counter() - t0
        return history
    finally:
        torch.set_num_threads(old_threads)
