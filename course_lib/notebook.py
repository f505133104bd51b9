"""Preparação padrão de um notebook do curso (primeira célula de código de cada notebook).

    from course_lib.notebook import setup
    setup()

Fixa 1 thread (modelos pequenos são mais rápidos assim num laptop de 2 núcleos, e o
número de threads muda os últimos dígitos dos resultados), semeia o torch, deixa a
impressão de tensores curta e estável e aplica o estilo dos gráficos.
"""
from __future__ import annotations

import torch


def setup(seed: int = 0) -> None:
    """Threads, semente, impressão e estilo de gráficos: resultados idênticos a cada execução."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    torch.set_printoptions(precision=4, sci_mode=False, linewidth=100)
    from .plots import set_style

    set_style()
    _inline_figures()


def _inline_figures() -> None:
    """Num kernel Jupyter, garante figuras embutidas mesmo com MPLBACKEND definido por fora."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and type(ip).__name__ == "ZMQInteractiveShell":
        import matplotlib

        if "inline" not in matplotlib.get_backend():
            ip.run_line_magic("matplotlib", "inline")
