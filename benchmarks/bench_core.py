"""Benchmarks do núcleo (resultados no README; nada aqui é teste cronometrado).

    python benchmarks/bench_core.py                 # tudo
    python benchmarks/bench_core.py --skip-train    # sem o treino de indução (rápido)

    python benchmarks/bench_core.py --skip-train --rounds 3   # só a comparação com o TL

Mede, com os mesmos pesos e lado a lado com o TransformerLens quando ele estiver instalado:
forward, run_with_cache, run_with_hooks com um gancho em hook_pattern e forward+backward
(mediana de várias repetições, alternando a ordem das duas bibliotecas a cada repetição; a
medição inteira é repetida `--rounds` vezes e o relatório dá a mediana das medianas e o
intervalo mín–máx entre as rodadas), `import course_lib` menos `import torch`, e o tempo até o
escore de indução passar de 0,9 treinando do zero (mediana de algumas sementes). Tudo com
1 thread, como no curso.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch


def median_times(fns: dict, repeats: int = 60, warmup: int = 5) -> dict:
    """Mediana do tempo de cada função, medindo-as ALTERNADAMENTE (carga de fundo afeta todas igual).

    A ordem das funções é invertida a cada repetição, para nenhuma ficar sempre em primeiro
    (a primeira de uma rodada pode pegar caches frios ou o processador mais lento).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    order = list(fns)
    for i in range(repeats):
        for k in (order if i % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def pattern_hook(pattern, hook):
    """Um gancho típico de análise: lê o padrão de atenção (sem trocá-lo)."""
    pattern.sum()


def fwd_bwd(model, tokens):
    model.zero_grad(set_to_none=True)
    model(tokens, return_type="loss").backward()


def import_time() -> float:
    """Mediana de (import torch + course_lib) - (import torch), em processos novos."""
    code = ("import time; t=time.perf_counter(); import torch; t1=time.perf_counter(); "
            "import course_lib; print(time.perf_counter()-t1)")
    return statistics.median(float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(5))


def forward_times(preset: str) -> dict:
    from course_lib import load_pretrained

    ours = load_pretrained(preset)
    tokens = torch.randint(0, ours.cfg.d_vocab, (32, ours.cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    hook = [("blocks.0.attn.hook_pattern", pattern_hook)]
    fns = {"nosso forward": lambda: ours(tokens), "nosso run_with_cache": lambda: ours.run_with_cache(tokens),
           "nosso run_with_hooks": lambda: ours.run_with_hooks(tokens, fwd_hooks=hook),
           "nosso forward+backward": lambda: fwd_bwd(ours, tokens)}
    no_grad = {"forward", "run_with_cache", "run_with_hooks"}
    with torch.no_grad():
        try:
            from transformer_lens import HookedTransformer, HookedTransformerConfig
        except ImportError:
            return median_times(_grad_aware(fns, no_grad))
        c = ours.cfg
        tl_cfg = HookedTransformerConfig(
            n_layers=c.n_layers, d_model=c.d_model, n_heads=c.n_heads, d_head=c.d_head, d_mlp=c.d_mlp,
            d_vocab=c.d_vocab, n_ctx=c.n_ctx, act_fn=c.act_fn if c.d_mlp else None,
            normalization_type=c.normalization, attn_only=c.d_mlp is None, device="cpu")
        tl = HookedTransformer(tl_cfg)
        sd = dict(ours.state_dict())
        if c.tie_embeddings:
            sd["unembed.W_U"] = ours.W_U.detach().clone()
        tl.load_state_dict(sd, strict=False)
        torch.testing.assert_close(tl(tokens), ours(tokens), atol=1e-4, rtol=0)  # mesmos pesos, mesma saída
        fns["TransformerLens forward"] = lambda: tl(tokens)
        fns["TransformerLens run_with_cache"] = lambda: tl.run_with_cache(tokens)
        fns["TransformerLens run_with_hooks"] = lambda: tl.run_with_hooks(tokens, fwd_hooks=hook)
        fns["TransformerLens forward+backward"] = lambda: fwd_bwd(tl, tokens)
    # alterna as bibliotecas: nosso X, TL X, nosso Y, TL Y...
    ordered = {k: fns[k] for kind in KINDS for k in (f"nosso {kind}", f"TransformerLens {kind}") if k in fns}
    return median_times(_grad_aware(ordered, no_grad))


KINDS = ("forward", "run_with_cache", "run_with_hooks", "forward+backward")


def _grad_aware(fns: dict, no_grad: set) -> dict:
    """forward, cache e ganchos sem autograd (como na análise); forward+backward com autograd."""
    def wrap(fn, grad):
        def run():
            with torch.set_grad_enabled(grad):
                fn()
        return run
    return {k: wrap(fn, k.split(" ", 1)[1] not in no_grad) for k, fn in fns.items()}


def time_to_induction(seeds=(0, 1, 2, 3, 4)) -> list[float]:
    """O treino ao vivo da lição 08: n_ctx 32, avaliação com n = 15, para ao passar de 0,9."""
    from course_lib.recipes import train_induction

    times = []
    for seed in seeds:
        t0 = time.perf_counter()
        _, hist = train_induction(n_steps=3000, stop_at=0.9, progress=False, eval_seq_len=15,
                                  cfg_overrides={"seed": seed, "n_ctx": 32})
        last = hist["evals"][-1]
        times.append(time.perf_counter() - t0 if last["induction_score"] > 0.9 else float("inf"))
        print(f"  semente {seed}: {times[-1]:.1f} s, passo {last['step']}, escore {last['induction_score']:.3f}")
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="quantas vezes repetir a medição inteira (≥ 3)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {args.rounds} rodadas")
    rows = [("import course_lib - import torch", import_time(), "≤ 0,3 s")]
    table = []
    for preset in ("induction", "lm"):
        rounds = [forward_times(preset) for _ in range(args.rounds)]
        for kind in KINDS:
            ours = [r[f"nosso {kind}"] for r in rounds]
            if f"TransformerLens {kind}" not in rounds[0]:
                table.append((preset, kind, ours, None, None))
                continue
            tl = [r[f"TransformerLens {kind}"] for r in rounds]
            ratio = [o / t for o, t in zip(ours, tl)]
            table.append((preset, kind, ours, tl, ratio))
    print("\n| modelo | medida (lote 32×n_ctx) | nosso | TransformerLens | nosso/TL |\n|---|---|---|---|---|")
    ms = lambda v: f"{statistics.median(v) * 1e3:.1f} ms ({min(v) * 1e3:.1f}–{max(v) * 1e3:.1f})"
    for preset, kind, ours, tl, ratio in table:
        tl_txt = ms(tl) if tl else "—"
        r_txt = f"{statistics.median(ratio):.2f}× ({min(ratio):.2f}–{max(ratio):.2f})" if ratio else "—"
        print(f"| `{preset}` | {kind} | {ms(ours)} | {tl_txt} | {r_txt} |")
    if not args.skip_train:
        times = time_to_induction()
        rows.append(("tempo até indução > 0,9, do zero (mediana de 5 sementes)", statistics.median(times), "≤ 20 s"))
    print("\n| medida | valor | meta |\n|---|---|---|")
    for name, value, goal in rows:
        unit = "×" if "razão" in name else " s"
        val = f"{value:.3f}{unit}" if value < 1 else f"{value:.2f}{unit}"
        print(f"| {name} | {val} | {goal} |")


if __name__ == "__main__":
    main()
