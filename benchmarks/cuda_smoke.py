"""Prova única de que o modelo, o cache e o treino rodam em CUDA (quando há GPU).

    python benchmarks/cuda_smoke.py

Compara logits e cache entre CPU e GPU nos checkpoints do curso, roda as ferramentas de
interpretabilidade na GPU e treina o modelo de indução do zero na GPU até o escore passar de 0,9.
"""
import time

import torch

from course_lib import load_pretrained
from course_lib.attribution import direct_logit_attribution
from course_lib.detectors import induction_scores
from course_lib.lens import logit_lens
from course_lib.recipes import induction_metrics


def main():
    assert torch.cuda.is_available(), "sem GPU: nada a provar aqui"
    print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
    for name in ("induction", "lm", "lm_tied"):
        cpu, gpu = load_pretrained(name), load_pretrained(name, device="cuda")
        tokens = torch.randint(1, cpu.cfg.d_vocab, (4, cpu.cfg.n_ctx), generator=torch.Generator().manual_seed(0))
        lc, cc = cpu.run_with_cache(tokens)
        lg, cg = gpu.run_with_cache(tokens)  # tokens na CPU: o modelo os move
        assert lg.device.type == "cuda" and all(v.device.type == "cuda" for v in cg.values())
        worst = max((cc[k] - cg[k].cpu()).abs().max().item() for k in cc.keys())
        print(f"{name}: |logits CPU - GPU| máx = {(lc - lg.cpu()).abs().max().item():.2e}, cache máx = {worst:.2e}")
        logit_lens(gpu, cg)
        vals, _ = direct_logit_attribution(gpu, cg, tokens, pos=-2)
        print(f"  lente de logits e atribuição direta calculadas em {vals.device}")
    m = load_pretrained("induction", device="cuda")
    print("métricas de indução na GPU:", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in induction_metrics(m).items()})
    torch.manual_seed(0)
    t0 = time.perf_counter()
    # treino do zero na GPU: mesmo código de treino, modelo e lotes no dispositivo
    from course_lib.data import induction_training_batch
    from course_lib.recipes import make_induction_model
    from course_lib.train import train
    model = make_induction_model().to("cuda")
    hist = train(model, lambda g: induction_training_batch(32, 64, 64, g).to("cuda"), n_steps=3000, lr=1e-2,
                 progress=False, eval_fn=lambda mm: {k: v for k, v in induction_metrics(mm).items() if isinstance(v, float)},
                 eval_every=25, stop_fn=lambda mt: mt["induction_score"] > 0.9)
    last = hist["evals"][-1]
    print(f"treino na GPU: escore de indução {last['induction_score']:.3f} no passo {last['step']} "
          f"em {time.perf_counter() - t0:.1f} s; parâmetros em {next(model.parameters()).device}")


if __name__ == "__main__":
    main()
