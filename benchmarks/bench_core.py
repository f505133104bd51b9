"""Benchmarks do núcleo (resultados no README; nada aqui é teste cronometrado).

    python benchmarks/bench_core.py                 # tudo
    python benchmarks/bench_core.py --skip-train    # sem o treino de indução (rápido)

Mede, com os mesmos pesos e lado a lado com o TransformerLens quando ele estiver instalado:
forward e run_with_cache (mediana de várias repetições), `import course_lib` menos
`import torch`, e o tempo até o escore de indução passar de 0,9 treinando do zero
(mediana de algumas sementes). Tudo com 1 thread, como no curso.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch


def median_times(fns: dict, repeats: int = 60, warmup: int = 5) -> dict:
    """Mediana do tempo de cada função, medindo-as ALTERNADAMENTE (carga de fundo afeta todas igual)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def import_time() -> float:
    """Mediana de (import torch + course_lib) - (import torch), em processos novos."""
    code = ("import time; t=time.perf_counter(); import torch; t1=time.perf_counter(); "
            "import course_lib; print(time.perf_counter()-t1)")
    return statistics.median(float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(5))


def forward_times(preset: str) -> dict:
    from course_lib import load_pretrained

    ours = load_pretrained(preset)
    tokens = torch.randint(0, ours.cfg.d_vocab, (32, ours.cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    fns = {"nosso forward": lambda: ours(tokens), "nosso run_with_cache": lambda: ours.run_with_cache(tokens)}
    with torch.no_grad():
        try:
            from transformer_lens import HookedTransformer, HookedTransformerConfig
        except ImportError:
            return median_times(fns)
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
        return median_times(fns)


def time_to_induction(seeds=(0, 1, 2, 3, 4)) -> list[float]:
    """O treino ao vivo da lição 07: n_ctx 32, avaliação com n = 15, para ao passar de 0,9."""
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
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    rows = [("import course_lib - import torch", import_time(), "≤ 0,3 s")]
    for preset in ("induction", "lm"):
        t = forward_times(preset)
        for k, v in t.items():
            rows.append((f"{preset}: {k} (lote 32×n_ctx)", v, ""))
        if "TransformerLens forward" in t:
            for kind in ("forward", "run_with_cache"):
                ratio = t[f"nosso {kind}"] / t[f"TransformerLens {kind}"]
                rows.append((f"{preset}: razão {kind} nosso/TL", ratio, "≤ 0,6×"))
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
