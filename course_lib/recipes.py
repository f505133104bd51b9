"""Receitas dos checkpoints do curso: config + argumentos de treino + métricas.

Re-treinar um checkpoint, bit a bit, a partir da sua semente:

    python -m course_lib.recipes induction     # ou lm, lm_tied, lm_untied, lm_icl, all

O resultado vai para course_lib/checkpoints/NOME.pt e NOME.json (com as métricas medidas).
"""
from __future__ import annotations

import argparse
import math

import torch

from .data import PtGrammar, PtPassages, induction_training_batch, repeated_tokens
from .model import Config, HookedTransformer
from .train import train

# ------------------------------------------------------------------ receitas
INDUCTION_CFG = dict(n_layers=2, d_model=64, n_heads=4, d_mlp=None, d_vocab=64, n_ctx=64,
                     normalization=None, init_std=0.1, seed=0)
INDUCTION_TRAIN = dict(n_steps=2000, lr=1e-2, batch_size=32, seed=0, decay_steps=300)

LM_CFG = dict(n_layers=3, d_model=64, n_heads=4, d_mlp=256, n_ctx=32, normalization="LN",
              act_fn="gelu", init_std=0.02, seed=0)
LM_TRAIN = dict(n_steps=1200, lr=3e-3, batch_size=32, seed=0, n_train_seqs=8192, decay_steps=300)

TIED_CFG = dict(n_layers=2, d_model=64, n_heads=4, d_mlp=256, n_ctx=32, normalization="LN",
                act_fn="gelu", init_std=0.02, seed=0)
TIED_TRAIN = dict(n_steps=800, lr=3e-3, batch_size=32, seed=0, n_train_seqs=8192, decay_steps=200)

LM_ICL_CFG = dict(n_layers=2, d_model=64, n_heads=4, d_mlp=256, n_ctx=64, normalization="LN",
                  act_fn="gelu", init_std=0.02, seed=0)
LM_ICL_TRAIN = dict(n_steps=2000, lr=3e-3, batch_size=32, seed=0, n_train_seqs=65536, decay_steps=0)
# PtPassages(**LM_ICL_DATA): frases e sujeitos que voltam, e trechos sorteados (metade das frases novas)
LM_ICL_DATA = dict(p_sentence=0.4, p_subject=0.2, p_continue=0.9, p_random=0.5)
LM_ICL_EVAL_EVERY = 10  # a curva de treino guardada no .json (escore de indução e perdas nos trechos)
ICL_EARLY, ICL_LATE = 6, 63  # escore de aprendizado em contexto: perda no token 63 menos no token 6
ICL_HEAD_THRESHOLD = 0.3  # "cabeça de indução": escore de indução acima disto em [BOS, x, x]

EVAL_SEED = 12345  # dados de avaliação: sementes que o treino nunca usa


# ------------------------------------------------------------------ indução
def induction_eval_tokens(d_vocab: int = 64, batch: int = 64, seq_len: int = 20) -> torch.Tensor:
    """Sequências aleatórias repetidas, nunca vistas no treino (semente de avaliação)."""
    return repeated_tokens(batch, seq_len, d_vocab, seed=EVAL_SEED)


def induction_metrics(model: HookedTransformer, seq_len: int = 20) -> dict:
    """Melhores escores de indução (camada 1) e de token anterior (camada 0) + perda na metade repetida."""
    from .detectors import induction_scores, previous_token_scores

    tokens = induction_eval_tokens(model.cfg.d_vocab, seq_len=seq_len)
    with torch.no_grad():
        loss, cache = model.run_with_cache(tokens, return_type="loss", loss_per_token=True,
                                           names_filter=lambda n: n.endswith("hook_pattern"))
    ind = induction_scores(model, cache, seq_len)
    prev = previous_token_scores(cache)
    return {
        "induction_score": float(ind[1:].max()),
        "prev_token_score": float(prev[0].max()),
        "repeated_half_loss": float(loss[:, seq_len + 1:].mean()),  # sem o 1º token da cópia (imprevisível)
        "first_half_loss": float(loss[:, :seq_len].mean()),
        "induction_head": f"1.{int(ind[1].argmax())}",
        "prev_token_head": f"0.{int(prev[0].argmax())}",
    }


def make_induction_model(cfg_overrides: dict | None = None) -> HookedTransformer:
    return HookedTransformer(Config(**{**INDUCTION_CFG, **(cfg_overrides or {})}))


def train_induction(n_steps: int | None = None, stop_at: float | None = None, progress: bool = True,
                    cfg_overrides: dict | None = None, eval_every: int = 25, eval_seq_len: int = 20):
    """Treina o modelo de indução; com `stop_at`, para quando o escore de indução passa dele.

    A lição 08 treina ao vivo a versão com `cfg_overrides={"n_ctx": 32}` e `eval_seq_len=15`.
    """
    model = make_induction_model(cfg_overrides)
    args = {**INDUCTION_TRAIN, **({"n_steps": n_steps} if n_steps else {})}
    cfg = model.cfg
    history = train(
        model, lambda g: induction_training_batch(args["batch_size"], cfg.n_ctx, cfg.d_vocab, g),
        n_steps=args["n_steps"], lr=args["lr"], seed=args["seed"], progress=progress,
        decay_steps=args["decay_steps"] if not n_steps else 0,
        eval_fn=lambda m: {k: v for k, v in induction_metrics(m, eval_seq_len).items() if isinstance(v, float)},
        eval_every=eval_every,
        stop_fn=(lambda m: m["induction_score"] > stop_at) if stop_at else None,
        desc="indução",
    )
    return model, history


# ------------------------------------------------------------------ modelo de linguagem
def lm_eval_tokens(grammar: PtGrammar, n_ctx: int, n: int = 256) -> torch.Tensor:
    return grammar.make_dataset(n, n_ctx, seed=EVAL_SEED)


def agreement_accuracy(model: HookedTransformer, grammar: PtGrammar) -> float:
    """Fração dos testes de concordância em que o modelo prefere a palavra certa à errada."""
    from .data import AGREEMENT_TESTS

    tok = model.tokenizer
    right = 0
    for prompt, good, bad in AGREEMENT_TESTS:
        logits = model(tok.to_tokens(prompt))[0, -1]
        right += int(logits[tok.to_single_token(good)] > logits[tok.to_single_token(bad)])
    return right / len(AGREEMENT_TESTS)


def lm_metrics(model: HookedTransformer, grammar: PtGrammar) -> dict:
    tokens = lm_eval_tokens(grammar, model.cfg.n_ctx)
    with torch.no_grad():
        loss = float(model(tokens, return_type="loss"))
    best = grammar.optimal_loss(tokens)
    return {"eval_loss": loss, "optimal_loss": best, "gap_to_optimal": loss - best,
            "agreement_accuracy": agreement_accuracy(model, grammar),
            "uniform_loss": math.log(model.cfg.d_vocab)}


LENS_EXAMPLE = ("o gato que os meninos viram", "dorme", "dormem")


def lens_example(model: HookedTransformer, example=LENS_EXAMPLE) -> list[dict]:
    """O que a lente de logits prevê em cada camada para a frase-exemplo (documentado no .json)."""
    from .lens import lens_top_k, target_rank_per_layer

    prompt, good, bad = example
    tokens = model.to_tokens(prompt)
    _, top_ids, labels = lens_top_k(model, tokens, k=1)
    p_good = target_rank_per_layer(model, tokens, good)["prob"]
    p_bad = target_rank_per_layer(model, tokens, bad)["prob"]
    return [{"camada": lab, "top1": model.tokenizer.vocab[int(top_ids[i, -1, 0])],
             f"p({good})": round(float(p_good[i]), 4), f"p({bad})": round(float(p_bad[i]), 4)}
            for i, lab in enumerate(labels)]


def train_lm(cfg_dict: dict, train_args: dict, progress: bool = True, eval_every: int = 100):
    grammar = PtGrammar()
    tokenizer = grammar.tokenizer()
    cfg = Config(d_vocab=tokenizer.d_vocab, **cfg_dict)
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    data = grammar.make_dataset(train_args["n_train_seqs"], cfg.n_ctx, seed=train_args["seed"])
    bs = train_args["batch_size"]
    history = train(
        model, lambda g: data[torch.randint(0, len(data), (bs,), generator=g)],
        n_steps=train_args["n_steps"], lr=train_args["lr"], seed=train_args["seed"], progress=progress,
        decay_steps=train_args.get("decay_steps", 0), eval_fn=lambda m: lm_metrics(m, grammar), eval_every=eval_every,
        desc="modelo de linguagem",
    )
    return model, history


# ------------------------------------------------------------------ modelo de linguagem com repetições
def icl_eval_data(n_ctx: int = 64, n: int = 2048, repeats: bool = True, random_spans: bool = True):
    """Passagens nunca vistas no treino (semente de avaliação): (tokens, fontes, sorteado).

    repeats=False: o controle, as mesmas probabilidades sem nenhuma repetição (os trechos
    sorteados aparecem, mas nunca voltam); random_spans=False: sem trechos sorteados.
    """
    probs = {**LM_ICL_DATA, **({} if repeats else {"p_sentence": 0.0, "p_subject": 0.0}),
             **({} if random_spans else {"p_random": 0.0})}
    return PtPassages(**probs).make_dataset(n, n_ctx, seed=EVAL_SEED, return_random=True)


def icl_induction_scores(model: HookedTransformer, seq_len: int = 20, batch: int = 64) -> torch.Tensor:
    """Escores de indução [n_layers, n_heads] em [BOS, x, x] com x sorteado do vocabulário do modelo."""
    from .detectors import induction_scores

    return induction_scores(model, induction_eval_tokens(model.cfg.d_vocab, batch, seq_len), seq_len)


def _best_head(scores: torch.Tensor, layers=None) -> tuple[str, float]:
    layers = range(scores.shape[0]) if layers is None else layers
    return max(((f"{l}.{h}", float(scores[l, h])) for l in layers for h in range(scores.shape[1])),
               key=lambda x: x[1])


def lm_icl_eval(model: HookedTransformer, data) -> dict:
    """Métricas baratas para acompanhar o treino (a cada `eval_every` passos), em passagens nunca vistas.

    Perdas na 1ª e na 2ª ocorrência dos trechos sorteados que voltam (onde só copiar ajuda) e
    dos trechos da gramática que voltam; escore de indução da melhor cabeça em [BOS, x, x].
    """
    tokens, sources, is_random = data
    with torch.no_grad():  # um forward só (as mesmas contas de repeated_span_loss e in_context_learning_score)
        loss = model(tokens, return_type="loss", loss_per_token=True)
    first, second = _span_pairs(loss, sources, is_random)
    g_first, g_second = _span_pairs(loss, sources, ~is_random)
    return {"induction_score": _best_head(icl_induction_scores(model))[1],
            "random_first_occurrence_loss": first, "random_second_occurrence_loss": second,
            "grammar_first_occurrence_loss": g_first, "grammar_second_occurrence_loss": g_second,
            "icl_score": _icl(loss.mean(0), ICL_EARLY, ICL_LATE)}


def train_lm_icl(progress: bool = True, eval_every: int = LM_ICL_EVAL_EVERY, n_steps: int | None = None,
                 cfg_overrides: dict | None = None):
    """Treina o `lm_icl`: o modelo de linguagem em passagens com repetições e trechos sorteados (PtPassages)."""
    passages = PtPassages(**LM_ICL_DATA)
    tokenizer = passages.tokenizer()
    cfg = Config(d_vocab=tokenizer.d_vocab, **{**LM_ICL_CFG, **(cfg_overrides or {})})
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    args = {**LM_ICL_TRAIN, **({"n_steps": n_steps} if n_steps else {})}
    data = passages.make_dataset(args["n_train_seqs"], cfg.n_ctx, seed=args["seed"])
    held_out = icl_eval_data(cfg.n_ctx, n=256)
    bs = args["batch_size"]
    history = train(
        model, lambda g: data[torch.randint(0, len(data), (bs,), generator=g)],
        n_steps=args["n_steps"], lr=args["lr"], seed=args["seed"], progress=progress,
        decay_steps=args["decay_steps"] if not n_steps else 0,
        eval_fn=lambda m: lm_icl_eval(m, held_out), eval_every=eval_every, desc="lm_icl",
    )
    return model, history


def _icl(per_position: torch.Tensor, early: int, late: int) -> float:
    return float(per_position[late - 1] - per_position[early - 1])


def _span_pairs(loss: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(1ª, 2ª ocorrência) de `repeated_span_loss`, a partir da perda por token [batch, pos-1] já calculada."""
    inside = torch.zeros_like(sources, dtype=torch.bool)
    inside[:, 1:] = (sources[:, 1:] >= 1) & (sources[:, :-1] == sources[:, 1:] - 1)
    b, q = (inside & mask).nonzero(as_tuple=True)
    return float(loss[b, sources[b, q] - 1].mean()), float(loss[b, q - 1].mean())


def icl_ablation(model: HookedTransformer, tokens, sources, is_random, heads) -> dict:
    """Perdas com as cabeças `heads` [(camada, cabeça)] trocadas pela média (ou intactas, heads=[]).

    Devolve a perda na 2ª ocorrência dos trechos sorteados (o que a indução faz), na 2ª dos trechos
    da gramática, e nos tokens que não repetem nada (o resto do texto: a especificidade).
    """
    import torch.nn.functional as F

    from .ablation import ablate_heads

    with torch.no_grad():
        logits = ablate_heads(model, tokens, heads, mode="mean") if heads else model(tokens)
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(
        tokens.shape[0], -1)
    return {"random_second_occurrence_loss": _span_pairs(loss, sources, is_random)[1],
            "grammar_second_occurrence_loss": _span_pairs(loss, sources, ~is_random)[1],
            "not_repeated_loss": float(loss[sources[:, 1:] < 0].mean())}


def lm_icl_metrics(model: HookedTransformer, n_eval: int = 2048, n_optimal: int = 256) -> dict:
    """Métricas do `lm_icl` guardadas no .json, cada uma com o seu controle.

    - cabeças: escore de indução (e de token anterior) em [BOS, x, x] com x sorteado do vocabulário;
    - escore de aprendizado em contexto (ICL) nas passagens nunca vistas, contra o mesmo escore
      em passagens sem repetição, o do `lm` (que nunca viu repetições, nos 32 primeiros tokens,
      o contexto dele) e o do preditor ótimo (probabilidade exata);
    - perda na 2ª ocorrência de trechos repetidos contra a 1ª (sorteados e da gramática);
    - ablação pela média das cabeças de indução contra a das outras cabeças da camada 1;
    - texto só da gramática (sem trechos sorteados nem repetições): perda contra o `lm` e o ótimo.
    """
    from .detectors import previous_token_scores
    from .induction import per_position_loss, repeated_span_loss
    from .pretrained import load_pretrained

    n_ctx = model.cfg.n_ctx
    ind = icl_induction_scores(model)
    rand = induction_eval_tokens(model.cfg.d_vocab, 64, 20)
    _, cache = model.run_with_cache(rand, names_filter=lambda n: n.endswith("hook_pattern"))
    prev = previous_token_scores(cache)
    tokens, sources, is_random = icl_eval_data(n_ctx, n_eval)
    plain, _, _ = icl_eval_data(n_ctx, n_eval, repeats=False)
    text, _, _ = icl_eval_data(n_ctx, n_eval, repeats=False, random_spans=False)  # só a gramática
    passages, grammar = PtPassages(**LM_ICL_DATA), PtGrammar()
    plain_passages = PtPassages(**{**LM_ICL_DATA, "p_sentence": 0.0, "p_subject": 0.0})
    opt = passages.optimal_loss_per_token(tokens[:n_optimal])
    opt_plain = plain_passages.optimal_loss_per_token(plain[:n_optimal])
    curve, curve_plain = per_position_loss(model, tokens), per_position_loss(model, plain)
    first, second = repeated_span_loss(model, tokens, sources, mask=is_random)
    g_first, g_second = repeated_span_loss(model, tokens, sources, mask=~is_random)
    opt_pairs = _span_pairs(opt, sources[:n_optimal], is_random[:n_optimal])
    # o `lm` só vê 32 tokens: as mesmas passagens cortadas
    lm = load_pretrained("lm")
    k = lm.cfg.n_ctx
    short, short_src, short_rnd = tokens[:, :k], sources[:, :k], is_random[:, :k]
    late_short = k - 1
    lm_first, lm_second = repeated_span_loss(lm, short, short_src, mask=short_rnd)
    own_first, own_second = repeated_span_loss(model, short, short_src, mask=short_rnd)
    eval_loss = float(per_position_loss(model, tokens[:n_optimal]).mean())  # as mesmas passagens do ótimo
    eval_plain = float(per_position_loss(model, plain[:n_optimal]).mean())
    # "ainda é um modelo da gramática": texto só da gramática, nos 32 tokens do `lm`
    text_short = text[:, :k]
    r = lambda x: round(float(x), 4)
    heads = {f"{l}.{h}": r(ind[l, h]) for l in range(ind.shape[0]) for h in range(ind.shape[1])}
    above = [key for key, v in heads.items() if v > ICL_HEAD_THRESHOLD]
    last = model.cfg.n_layers - 1
    ablated = ([tuple(map(int, key.split("."))) for key in above]
               or [tuple(map(int, _best_head(ind, [last])[0].split(".")))])  # nenhuma acima: a melhor da última camada
    control = [(last, h) for h in range(model.cfg.n_heads) if (last, h) not in ablated]
    abl = {"intactas": icl_ablation(model, tokens, sources, is_random, []),
           "cabecas_de_inducao": icl_ablation(model, tokens, sources, is_random, ablated),
           "outras_cabecas_da_camada": icl_ablation(model, tokens, sources, is_random, control)}
    return {
        "induction_scores": heads,
        "induction_head": _best_head(ind)[0], "induction_score": r(_best_head(ind)[1]),
        f"induction_heads_above_{ICL_HEAD_THRESHOLD}": above,
        "prev_token_head": _best_head(prev, [0])[0], "prev_token_score": r(_best_head(prev, [0])[1]),
        "icl_positions": {"early": ICL_EARLY, "late": ICL_LATE, "late_no_lm": late_short},
        "icl_score": r(_icl(curve, ICL_EARLY, ICL_LATE)),
        "icl_score_control_sem_repeticao": r(_icl(curve_plain, ICL_EARLY, ICL_LATE)),
        "icl_score_otimo": r(_icl(opt.mean(0), ICL_EARLY, ICL_LATE)),
        "icl_score_otimo_sem_repeticao": r(_icl(opt_plain.mean(0), ICL_EARLY, ICL_LATE)),
        "icl_score_32_tokens": r(_icl(per_position_loss(model, short), ICL_EARLY, late_short)),
        "icl_score_32_tokens_lm": r(_icl(per_position_loss(lm, short), ICL_EARLY, late_short)),
        "random_first_occurrence_loss": r(first), "random_second_occurrence_loss": r(second),
        "random_first_occurrence_loss_otimo": r(opt_pairs[0]), "random_second_occurrence_loss_otimo": r(opt_pairs[1]),
        "grammar_first_occurrence_loss": r(g_first), "grammar_second_occurrence_loss": r(g_second),
        "random_first_occurrence_loss_32_tokens_lm": r(lm_first),
        "random_second_occurrence_loss_32_tokens_lm": r(lm_second),
        "random_first_occurrence_loss_32_tokens": r(own_first), "random_second_occurrence_loss_32_tokens": r(own_second),
        "ablation": {"mode": "mean", "heads": [f"{l}.{h}" for l, h in ablated],
                     "control_heads": [f"{l}.{h}" for l, h in control],
                     **{name: {key: r(v) for key, v in d.items()} for name, d in abl.items()}},
        "eval_loss": r(eval_loss), "optimal_loss": r(opt.mean()),
        "eval_loss_sem_repeticao": r(eval_plain), "optimal_loss_sem_repeticao": r(opt_plain.mean()),
        "grammar_text_loss_32_tokens": r(per_position_loss(model, text_short).mean()),
        "grammar_text_loss_32_tokens_lm": r(per_position_loss(lm, text_short).mean()),
        "grammar_text_loss_32_tokens_otimo": r(grammar.optimal_loss_per_token(text_short[:n_optimal]).mean()),
        # o melhor possível para quem espera as passagens do treino (repetições e trechos sorteados)
        "grammar_text_loss_32_tokens_otimo_das_passagens": r(passages.optimal_loss_per_token(text_short[:n_optimal]).mean()),
        "agreement_accuracy": agreement_accuracy(model, grammar),
        "n_eval_passages": n_eval, "n_optimal_passages": n_optimal,
    }


# ------------------------------------------------------------------ linha de comando
def build(name: str, progress: bool = True) -> dict:
    from .pretrained import save_checkpoint

    command = f"python -m course_lib.recipes {name}"
    if name == "induction":
        model, hist = train_induction(progress=progress)
        metrics = induction_metrics(model)
        meta = {"train_args": INDUCTION_TRAIN, "data": "induction_training_batch (segmento aleatório de 4–31 tokens repetido)"}
    elif name in ("lm", "lm_tied", "lm_untied"):
        cfg = LM_CFG if name == "lm" else {**TIED_CFG, "tie_embeddings": name == "lm_tied"}
        args = LM_TRAIN if name == "lm" else TIED_TRAIN
        model, hist = train_lm(cfg, args, progress=progress)
        metrics = lm_metrics(model, PtGrammar())
        metrics["n_params"] = sum(p.numel() for p in model.parameters())
        meta = {"train_args": args, "data": "PtGrammar().make_dataset(n_train_seqs, n_ctx, seed)",
                "logit_lens_example": {"prompt": LENS_EXAMPLE[0], "por_camada": lens_example(model)}}
    elif name == "lm_icl":
        model, hist = train_lm_icl(progress=progress)
        metrics = lm_icl_metrics(model)
        metrics["n_params"] = sum(p.numel() for p in model.parameters())
        from .induction import phase_change_step

        keys = ("step", "induction_score", "random_first_occurrence_loss", "random_second_occurrence_loss",
                "grammar_first_occurrence_loss", "grammar_second_occurrence_loss", "icl_score")
        curve = {"a_cada": LM_ICL_EVAL_EVERY, **{k: [round(e[k], 4) for e in hist["evals"]] for k in keys}}
        # a mudança de fase pela inclinação da perda nos trechos sorteados (não por um limiar no escore)
        curve["phase_change_step"] = phase_change_step(curve["step"], curve["random_second_occurrence_loss"])
        meta = {"train_args": LM_ICL_TRAIN, "data": f"PtPassages(**{LM_ICL_DATA}).make_dataset(n_train_seqs, n_ctx, seed)",
                "curva_de_treino": curve,
                "loss_curve_mean_per_25": [round(sum(hist["loss"][i:i + 25]) / 25, 4)
                                           for i in range(0, len(hist["loss"]), 25)]}
    else:
        raise ValueError(f"receita desconhecida {name!r}; use induction, lm, lm_tied, lm_untied, lm_icl ou all.")
    meta.update(metrics=metrics, retrain_command=command, train_seconds=round(hist["seconds"], 1),
                loss_curve_every_50=[round(x, 4) for x in hist["loss"][::50]])
    save_checkpoint(model, name, meta)
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description="Re-treina os checkpoints do curso (bit a bit, da semente).")
    parser.add_argument("name", choices=["induction", "lm", "lm_tied", "lm_untied", "lm_icl", "all", "induction_curves"])
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.name == "induction_curves":  # curvas da lição 08 (não é um checkpoint)
        print(build_induction_curves(progress=False))
        return
    names = ["induction", "lm", "lm_tied", "lm_untied", "lm_icl"] if args.name == "all" else [args.name]
    for name in names:
        print(name, build(name, progress=not args.no_progress))



# ------------------------------------------------------------------ curvas da mudança de fase (lição 08)
LIVE_CFG_OVERRIDES = {"n_ctx": 32}  # o treino ao vivo da lição 08: contexto de 32, taxa constante
LIVE_EVAL = dict(batch=32, seq_len=15, seed=EVAL_SEED)
CURVES_RUN = dict(seeds=(0, 1, 2), n_layers=(2, 1), n_steps=1500, eval_every=5)
CURVES_PATH = "induction_curves.json"


def live_eval_tokens(d_vocab: int = 64) -> torch.Tensor:
    return repeated_tokens(LIVE_EVAL["batch"], LIVE_EVAL["seq_len"], d_vocab, seed=LIVE_EVAL["seed"])


def live_evaluate(model: HookedTransformer) -> dict:
    """Escore de indução (melhor cabeça da última camada) e perdas nas duas cópias, dados nunca vistos."""
    from .detectors import induction_scores
    from .induction import repeated_half_loss

    tokens, n = live_eval_tokens(model.cfg.d_vocab), LIVE_EVAL["seq_len"]
    first, second = repeated_half_loss(model, tokens, n)
    return {"induction_score": float(induction_scores(model, tokens, n)[-1].max()),
            "first_copy_loss": first, "second_copy_loss": second}


def train_live(n_layers: int, n_steps: int, seed: int = 0, eval_every: int = 10, stop_fn=None,
               progress: bool = False, desc: str | None = None):
    """O treino ao vivo da lição 08: receita de `induction` com n_ctx 32 e taxa constante."""
    cfg = Config(**{**INDUCTION_CFG, **LIVE_CFG_OVERRIDES, "n_layers": n_layers, "seed": seed})
    model = HookedTransformer(cfg)
    history = train(model, lambda g: induction_training_batch(INDUCTION_TRAIN["batch_size"], cfg.n_ctx, cfg.d_vocab, g),
                    n_steps=n_steps, lr=INDUCTION_TRAIN["lr"], seed=seed, eval_fn=live_evaluate,
                    eval_every=eval_every, stop_fn=stop_fn, progress=progress,
                    desc=desc or f"{n_layers} camada(s)")
    return model, history


def induction_curves(seeds=CURVES_RUN["seeds"], layers=CURVES_RUN["n_layers"], n_steps=CURVES_RUN["n_steps"],
                     eval_every=CURVES_RUN["eval_every"], progress: bool = False) -> dict:
    """Curvas do treino ao vivo para várias sementes e profundidades, com o passo da mudança de fase."""
    from .induction import phase_change_step, seen_once_twice_mass

    runs = []
    for n_layers in layers:
        for seed in seeds:
            model, hist = train_live(n_layers, n_steps, seed=seed, eval_every=eval_every, progress=progress)
            ev = hist["evals"]
            run = {"n_layers": n_layers, "seed": seed, "step": [e["step"] for e in ev]}
            for key in ("induction_score", "first_copy_loss", "second_copy_loss"):
                run[key] = [round(e[key], 4) for e in ev]
            run["phase_change_step"] = phase_change_step(run["step"], run["second_copy_loss"])
            run["final"] = {k: round(v, 4) for k, v in
                            seen_once_twice_mass(model, live_eval_tokens(), LIVE_EVAL["seq_len"]).items()}
            runs.append(run)
            print(n_layers, seed, run["phase_change_step"], run["induction_score"][-1], run["second_copy_loss"][-1])
    return {"retrain_command": "python -m course_lib.recipes induction_curves",
            "config": {**INDUCTION_CFG, **LIVE_CFG_OVERRIDES}, "lr": INDUCTION_TRAIN["lr"],
            "batch_size": INDUCTION_TRAIN["batch_size"], "eval": LIVE_EVAL, "n_steps": n_steps,
            "eval_every": eval_every, "runs": runs}


def build_induction_curves(progress: bool = False) -> dict:
    import json

    from .pretrained import CHECKPOINT_DIR

    data = induction_curves(progress=progress)
    (CHECKPOINT_DIR / CURVES_PATH).write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    return {f"{r['n_layers']}L s{r['seed']}": r["phase_change_step"] for r in data["runs"]}


if __name__ == "__main__":
    main()
