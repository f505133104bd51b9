"""Tempo de desenho do pior caso dos gráficos (meta: < 2 s de CPU cada, como no Jupyter).

    python benchmarks/bench_plots.py

Era um teste cronometrado; metas de velocidade moram aqui, não na suíte de testes.
Mede tempo de CPU do processo, 5 repetições, e imprime mediana e faixa.
"""
import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import torch  # noqa: E402

from course_lib import plots  # noqa: E402


def causal_pattern(n_layers=1, n_heads=1, n=10):
    p = torch.tril(torch.ones(n, n))
    p = p / p.sum(-1, keepdim=True)
    return p.expand(n_layers, n_heads, n, n).squeeze() if n_layers * n_heads > 1 else p


def render(fig):
    fig.savefig(io.BytesIO(), format="png")
    matplotlib.pyplot.close(fig)


def main():
    n = 40
    toks = [f"palavra{i}" for i in range(n)]
    cases = {
        "grade 3×4": lambda: plots.plot_attention_grid(causal_pattern(3, 4, n), toks),
        "atenção": lambda: plots.plot_attention(causal_pattern(n=n), toks),
        "lente": lambda: plots.plot_logit_lens(torch.rand(4, n), [[f"previsto{p}" for p in range(n)]] * 4, toks),
    }
    render(plots.plot_attention(causal_pattern(n=3), toks[:3]))
    for name, make in cases.items():
        times = []
        for _ in range(5):
            start = time.process_time()
            render(make())
            times.append(time.process_time() - start)
        print(f"{name}: mediana {statistics.median(times):.2f} s (faixa {min(times):.2f}–{max(times):.2f} s); meta < 2 s")


if __name__ == "__main__":
    main()
