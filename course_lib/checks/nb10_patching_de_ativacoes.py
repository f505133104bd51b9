"""Verificações do notebook 10 · Patching de ativações.

Os gabaritos usam `course_lib.patching` (a biblioteca); o enunciado proíbe o aluno de
chamá-la (`Exercise.forbidden`), então a função dele tem de fazer o patching de verdade.
"""

import torch

from course_lib.checks import Case, Exercise, ModelRef, register

_PATCHING = "course_lib.patching."
_NO_LIB = "a biblioteca faz o patching por você; aqui é você quem escreve o gancho e a varredura"


def _forbid(*names):
    return {_PATCHING + n: _NO_LIB for n in names}


# ---------------------------------------------------------------------------
# Pares limpo/corrompido dos casos
# ---------------------------------------------------------------------------
def _induction_pair(gen: torch.Generator, batch: int, n: int, j: int):
    """[BOS, x_1..x_n, x_1..x_j] limpo; no corrompido, x_j da 1ª cópia vira outro token.

    Resposta: x_{j+1}; errada: a maior previsão da rodada corrompida fora a resposta.
    """
    from course_lib import load_pretrained
    from course_lib.data import repeated_tokens

    model = load_pretrained("induction")
    toks = repeated_tokens(batch, n, model.cfg.d_vocab, generator=gen)
    clean = toks[:, : n + 1 + j].clone()
    corrupted = clean.clone()
    shift = torch.randint(1, model.cfg.d_vocab - 1, (batch,), generator=gen)
    corrupted[:, j] = (clean[:, j] - 1 + shift) % (model.cfg.d_vocab - 1) + 1  # outro token, nunca o BOS
    answer = toks[:, j + 1].clone()
    with torch.no_grad():
        last = model(corrupted)[:, -1].clone()
    last[torch.arange(batch), answer] = -float("inf")
    return clean, corrupted, answer, last.argmax(-1)


TEMPLATES = [  # (limpo, corrompido, resposta, errada): só o número do sujeito muda
    ("o gato que os meninos viram", "os gatos que os meninos viram", "dorme", "dormem"),
    ("a menina que os gatos amam", "as meninas que os gatos amam", "canta", "cantam"),
    ("o menino que as meninas viram", "os meninos que as meninas viram", "dorme", "dormem"),
]


def _agreement_pair(index: int):
    from course_lib import load_pretrained

    model = load_pretrained("lm")
    clean, corrupted, answer, wrong = TEMPLATES[index]
    ids = lambda w: model.to_tokens(w, prepend_bos=False)[0, :1].clone()  # noqa: E731
    return model.to_tokens(clean), model.to_tokens(corrupted), ids(answer), ids(wrong)


def _sweep_cases(gen: torch.Generator) -> list[Case]:
    ind, lm = ModelRef("induction"), ModelRef("lm")
    j = int(torch.randint(2, 5, (1,), generator=gen))
    return [
        Case((ind, *_induction_pair(gen, 4, 6, j)), description=f"indução: lote 4, 6 tokens repetidos, x_{j} corrompido"),
        Case((lm, *_agreement_pair(0)), description="concordância: 'o gato que os meninos viram' × 'os gatos ...'"),
        Case((ind, *_induction_pair(gen, 1, 5, 1)), description="indução: lote 1, x_1 corrompido"),
    ]


# ---------------------------------------------------------------------------
# 10.normalized_logit_diff
# ---------------------------------------------------------------------------
def normalized_logit_diff(logits, answer, wrong, clean_diff: float, corrupted_diff: float) -> float:
    from course_lib import patching

    return patching.normalized_metric(logits, answer, wrong, clean_diff, corrupted_diff).item()


def _nld_parts(logits, answer, wrong, pos=-1):
    rows = torch.arange(logits.shape[0])
    return logits[rows, pos, answer] - logits[rows, pos, wrong]


def _nld_raw(logits, answer, wrong, clean_diff, corrupted_diff):
    return _nld_parts(logits, answer, wrong).mean().item()


def _nld_over_clean(logits, answer, wrong, clean_diff, corrupted_diff):
    return (_nld_parts(logits, answer, wrong).mean() / clean_diff).item()


def _nld_reversed(logits, answer, wrong, clean_diff, corrupted_diff):
    return ((_nld_parts(logits, answer, wrong).mean() - clean_diff) / (corrupted_diff - clean_diff)).item()


def _nld_first(logits, answer, wrong, clean_diff, corrupted_diff):
    return ((_nld_parts(logits, answer, wrong, 0).mean() - corrupted_diff) / (clean_diff - corrupted_diff)).item()


def _nld_probs(logits, answer, wrong, clean_diff, corrupted_diff):
    return ((_nld_parts(logits.softmax(-1), answer, wrong).mean() - corrupted_diff) / (clean_diff - corrupted_diff)).item()


def _nld_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    big = r(3, 4, 9) * 3
    diffs = _nld_parts(big, torch.tensor([1, 2, 3]), torch.tensor([0, 0, 5]))
    return [
        Case((r(2, 5, 7) * 2, torch.tensor([3, 1]), torch.tensor([0, 4]), 4.0, -2.5),
             description="lote 2, 5 posições, 7 tokens"),
        Case((big, torch.tensor([1, 2, 3]), torch.tensor([0, 0, 5]), float(diffs.mean()), -1.0),
             description="logits iguais aos da rodada limpa (a métrica deve dar 1)"),
        Case((r(1, 3, 6), torch.tensor([2]), torch.tensor([5]), 1.5, 6.0),
             description="lote 1; a rodada limpa tem diferença MENOR que a corrompida"),
    ]


register(Exercise(
    id="10.normalized_logit_diff",
    func_name="normalized_logit_diff",
    reference=normalized_logit_diff,
    make_cases=_nld_cases,
    points=1,
    atol=1e-5,
    known_mistakes=[
        ("não normalizou: devolveu a diferença de logits crua", _nld_raw),
        ("dividiu pela diferença limpa; subtraia a corrompida antes e divida por (limpa - corrompida)", _nld_over_clean),
        ("normalização invertida: deu 1 no corrompido e 0 no limpo", _nld_reversed),
        ("usou a primeira posição; a previsão que medimos é a da ÚLTIMA", _nld_first),
        ("usou probabilidades (softmax); a métrica é sobre os logits", _nld_probs),
    ],
    forbidden=_forbid("normalized_metric", "logit_diff"),
))


# ---------------------------------------------------------------------------
# 10.patch_hook
# ---------------------------------------------------------------------------
def patch_hook(act, hook, clean_act, pos, head=None):
    act = act.clone()
    pos = slice(None) if pos is None else pos
    index = (slice(None), pos) if head is None else (slice(None), pos, head)
    act[index] = clean_act[index]
    return act


def _hook_all_positions(act, hook, clean_act, pos, head=None):
    return clean_act.clone()


def _hook_ignores_head(act, hook, clean_act, pos, head=None):
    return patch_hook(act, hook, clean_act, pos)


def _hook_wrong_axis(act, hook, clean_act, pos, head=None):
    act = act.clone()
    act[pos] = clean_act[pos]
    return act


def _hook_returns_corrupted(act, hook, clean_act, pos, head=None):
    return act.clone()


def _hook_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    return [
        Case((r(3, 5, 4), None, r(3, 5, 4), 2), description="resíduo [lote 3, pos 5, d_model 4], posição 2"),
        Case((r(3, 5, 2, 4), None, r(3, 5, 2, 4), 1), kwargs={"head": 1},
             description="hook_z [lote 3, pos 5, cabeças 2, d_head 4], posição 1, cabeça 1"),
        Case((r(2, 4, 3), None, r(2, 4, 3), -1), description="posição negativa (-1, a última)"),
        Case((r(3, 3, 3, 2), None, r(3, 3, 3, 2), None), kwargs={"head": 0},
             description="pos=None (todas as posições) e cabeça 0"),
    ]


register(Exercise(
    id="10.patch_hook",
    func_name="patch_hook",
    reference=patch_hook,
    make_cases=_hook_cases,
    points=1,
    forbid_inplace=True,
    known_mistakes=[
        ("trocou a ativação inteira; restaure só a posição `pos` (e a cabeça `head`)", _hook_all_positions),
        ("ignorou `head`: trocou todas as cabeças naquela posição", _hook_ignores_head),
        ("indexou o eixo do lote (act[pos]); a posição é o eixo 1: act[:, pos]", _hook_wrong_axis),
        ("devolveu a ativação corrompida sem mudar nada", _hook_returns_corrupted),
    ],
))


# ---------------------------------------------------------------------------
# 10.resid_patching_sweep
# ---------------------------------------------------------------------------
def resid_patching_sweep(model, clean_tokens, corrupted_tokens, answer, wrong):
    from course_lib import patching

    return patching.patch_resid_pre(model, clean_tokens, corrupted_tokens, answer, wrong)


def _sweep(model, run_tokens, source_tokens, answer, wrong, hook_name_fn, normalize=True, all_pos=False,
           base=None):
    """Varredura genérica para os erros conhecidos: restaura em `run_tokens` as ativações de `source_tokens`."""
    from course_lib import patching

    with torch.no_grad():
        _, cache = model.run_with_cache(source_tokens)
        clean_diff = patching.logit_diff(model(base[0] if base else source_tokens), answer, wrong).mean().item()
        corr_diff = patching.logit_diff(model(base[1] if base else run_tokens), answer, wrong).mean().item()
        out = torch.zeros(model.cfg.n_layers, run_tokens.shape[1])
        for layer in range(model.cfg.n_layers):
            name = hook_name_fn(layer)
            for pos in range(run_tokens.shape[1]):
                p = None if all_pos else pos
                logits = model.run_with_hooks(run_tokens, fwd_hooks=[
                    (name, lambda a, hook, p=p: patch_hook(a, hook, cache[name], p))])
                d = patching.logit_diff(logits, answer, wrong).mean().item()
                out[layer, pos] = (d - corr_diff) / (clean_diff - corr_diff) if normalize else d
    return out


def _rs_noising(model, clean, corr, answer, wrong):
    return _sweep(model, clean, corr, answer, wrong, lambda l: f"blocks.{l}.hook_resid_pre", base=(clean, corr))


def _rs_post(model, clean, corr, answer, wrong):
    return _sweep(model, corr, clean, answer, wrong, lambda l: f"blocks.{l}.hook_resid_post")


def _rs_raw(model, clean, corr, answer, wrong):
    return _sweep(model, corr, clean, answer, wrong, lambda l: f"blocks.{l}.hook_resid_pre", normalize=False)


def _rs_all_pos(model, clean, corr, answer, wrong):
    return _sweep(model, corr, clean, answer, wrong, lambda l: f"blocks.{l}.hook_resid_pre", all_pos=True)


register(Exercise(
    id="10.resid_patching_sweep",
    func_name="resid_patching_sweep",
    reference=resid_patching_sweep,
    make_cases=_sweep_cases,
    points=2,
    output_names=("layer", "pos"),
    atol=1e-4,
    known_mistakes=[
        ("direção trocada: pôs a ativação CORROMPIDA na rodada limpa (isso é 'noising'); rode o corrompido "
         "e restaure a limpa", _rs_noising),
        ("usou hook_resid_post; a linha `layer` é a entrada do bloco, hook_resid_pre", _rs_post),
        ("não normalizou: devolveu a diferença de logits crua", _rs_raw),
        ("restaurou todas as posições de uma vez; restaure uma posição por vez", _rs_all_pos),
    ],
    forbidden=_forbid("patch_resid_pre", "attribution_patch_resid", "normalized_metric"),
))


# ---------------------------------------------------------------------------
# 10.head_patching_sweep
# ---------------------------------------------------------------------------
def head_patching_sweep(model, clean_tokens, corrupted_tokens, answer, wrong, per_position=False):
    from course_lib import patching

    return patching.patch_head_z(model, clean_tokens, corrupted_tokens, answer, wrong, per_position=per_position)


def _hs_generic(model, clean, corr, answer, wrong, per_position, hook="z", noising=False, layer_level=False):
    from course_lib import patching

    run, source = (clean, corr) if noising else (corr, clean)
    with torch.no_grad():
        _, cache = model.run_with_cache(source)
        cd = patching.logit_diff(model(clean), answer, wrong).mean().item()
        kd = patching.logit_diff(model(corr), answer, wrong).mean().item()
    cfg = model.cfg
    positions = list(range(clean.shape[1])) if per_position else [None]
    out = torch.zeros(cfg.n_layers, cfg.n_heads, len(positions))
    for layer in range(cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_{hook}"
        for head in range(cfg.n_heads):
            for i, pos in enumerate(positions):
                kw = {} if layer_level else {"head": head}
                fn = lambda a, hook, pos=pos, kw=kw: patch_hook(a, hook, cache[name], pos, **kw)  # noqa: E731
                with torch.no_grad():
                    d = patching.logit_diff(model.run_with_hooks(run, fwd_hooks=[(name, fn)]), answer, wrong).mean().item()
                out[layer, head, i] = (d - kd) / (cd - kd)
    return out if per_position else out[..., 0]


def _hs_noising(model, clean, corr, answer, wrong, per_position=False):
    return _hs_generic(model, clean, corr, answer, wrong, per_position, noising=True)


def _hs_whole_layer(model, clean, corr, answer, wrong, per_position=False):
    return _hs_generic(model, clean, corr, answer, wrong, per_position, layer_level=True)


def _hs_pattern(model, clean, corr, answer, wrong, per_position=False):
    return _hs_generic(model, clean, corr, answer, wrong, per_position, hook="v")


def _hs_ignores_flag(model, clean, corr, answer, wrong, per_position=False):
    return _hs_generic(model, clean, corr, answer, wrong, False)


def _head_cases(gen: torch.Generator) -> list[Case]:
    base = _sweep_cases(gen)
    return [
        base[0],
        Case(base[0].args, kwargs={"per_position": True}, description=base[0].description + ", por posição"),
        base[1],
        Case(base[1].args, kwargs={"per_position": True}, description=base[1].description + ", por posição"),
    ]


register(Exercise(
    id="10.head_patching_sweep",
    func_name="head_patching_sweep",
    reference=head_patching_sweep,
    make_cases=_head_cases,
    points=2,
    atol=1e-4,
    known_mistakes=[
        ("direção trocada: pôs a saída CORROMPIDA na rodada limpa; rode o corrompido e restaure a limpa", _hs_noising),
        ("restaurou todas as cabeças da camada juntas; passe `head` para o seu patch_hook", _hs_whole_layer),
        ("restaurou hook_v (os valores, em cada posição de origem); a saída da cabeça é hook_z", _hs_pattern),
        ("ignorou `per_position`: com per_position=True a saída é [n_layers, n_heads, pos]", _hs_ignores_flag),
    ],
    forbidden=_forbid("patch_head_z", "attribution_patch_heads", "normalized_metric"),
))


# ---------------------------------------------------------------------------
# 10.path_patch_head
# ---------------------------------------------------------------------------
def path_patch_head(model, clean_tokens, corrupted_tokens, answer, wrong, sender, receiver, which):
    from course_lib import patching

    return patching.path_patch(model, clean_tokens, corrupted_tokens, answer, wrong, sender, receiver, which)


def _pp_generic(model, clean, corr, answer, wrong, sender, receiver, which, mode):
    from course_lib import patching

    (ls, hs), (lr, hr) = sender, receiver
    with torch.no_grad():
        _, cc = model.run_with_cache(clean)
        _, kc = model.run_with_cache(corr)
        cd = patching.logit_diff(model(clean), answer, wrong).mean().item()
        kd = patching.logit_diff(model(corr), answer, wrong).mean().item()
        if mode == "head":  # patching comum da cabeça emissora, em todas as posições
            name = f"blocks.{ls}.attn.hook_z"
            fn = lambda a, hook: patch_hook(a, hook, cc[name], None, head=hs)  # noqa: E731
        else:
            out_c = cc["z", ls][:, :, hs] @ model.W_O[ls, hs]
            out_k = kc["z", ls][:, :, hs] @ model.W_O[ls, hs]
            x = kc["resid_pre", lr] + (out_c if mode == "no_subtract" else out_c - out_k)
            if mode != "no_ln":
                x = model.blocks[lr].ln1(x)
            attn = model.blocks[lr].attn
            new = x @ getattr(attn, f"W_{which.upper()}")[hr] + getattr(attn, f"b_{which.upper()}")[hr]
            name = f"blocks.{lr}.attn.hook_{which}"

            def fn(a, hook):
                a = a.clone()
                a[:, :, hr] = new
                return a
        d = patching.logit_diff(model.run_with_hooks(corr, fwd_hooks=[(name, fn)]), answer, wrong).mean().item()
    return (d - kd) / (cd - kd)


def _pp_head(model, clean, corr, answer, wrong, sender, receiver, which):
    return _pp_generic(model, clean, corr, answer, wrong, sender, receiver, which, "head")


def _pp_no_subtract(model, clean, corr, answer, wrong, sender, receiver, which):
    return _pp_generic(model, clean, corr, answer, wrong, sender, receiver, which, "no_subtract")


def _pp_no_ln(model, clean, corr, answer, wrong, sender, receiver, which):
    return _pp_generic(model, clean, corr, answer, wrong, sender, receiver, which, "no_ln")


def _pp_cases(gen: torch.Generator) -> list[Case]:
    ind, lm = ModelRef("induction"), ModelRef("lm")
    pair = _induction_pair(gen, 4, 6, 3)
    agree = _agreement_pair(0)
    return [
        Case((ind, *pair, [0, 0], [1, 2], "k"), description="indução: L0H0 → chaves de L1H2"),
        Case((ind, *pair, [0, 0], [1, 2], "q"), description="indução: L0H0 → consultas de L1H2"),
        Case((ind, *pair, [0, 0], [1, 1], "v"), description="indução: L0H0 → valores de L1H1"),
        Case((lm, *agree, [0, 2], [1, 1], "v"), description="concordância (com LayerNorm): L0H2 → valores de L1H1"),
        Case((lm, *agree, [0, 2], [2, 0], "q"), description="concordância: L0H2 → consultas de L2H0 (pula uma camada)"),
    ]


register(Exercise(
    id="10.path_patch_head",
    func_name="path_patch_head",
    reference=path_patch_head,
    make_cases=_pp_cases,
    points=3,
    atol=1e-4,
    known_mistakes=[
        ("fez o patching comum da emissora (ela chega a TODAS as cabeças seguintes); o caminho vai só à entrada "
         "`which` da receptora", _pp_head),
        ("somou a saída limpa da emissora sem tirar a corrompida: o resíduo fica com as duas", _pp_no_subtract),
        ("esqueceu a LayerNorm ln1 da receptora antes de W_Q/W_K/W_V", _pp_no_ln),
    ],
    forbidden=_forbid("path_patch", "patch_head_z", "normalized_metric"),
))


# ---------------------------------------------------------------------------
# 10.attribution_patching
# ---------------------------------------------------------------------------
def attribution_patching(model, clean_tokens, corrupted_tokens, answer, wrong):
    from course_lib import patching

    return patching.attribution_patch_resid(model, clean_tokens, corrupted_tokens, answer, wrong)


def _ap_generic(model, clean, corr, answer, wrong, grad_on="corrupted", diff="clean-corr", normalize=True):
    from course_lib import patching

    names = [f"blocks.{l}.hook_resid_pre" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, cc = model.run_with_cache(clean)
        _, kc = model.run_with_cache(corr)
        cd = patching.logit_diff(model(clean), answer, wrong).mean().item()
        kd = patching.logit_diff(model(corr), answer, wrong).mean().item()
    acts = {}

    def keep(a, hook):
        acts[hook.name] = a

    with torch.enable_grad():
        logits = model.run_with_hooks(clean if grad_on == "clean" else corr, fwd_hooks=[(n, keep) for n in names])
        m = patching.logit_diff(logits, answer, wrong).mean()
        m = (m - kd) / (cd - kd) if normalize else m
        grads = torch.autograd.grad(m, [acts[n] for n in names])
    rows = []
    for n, g in zip(names, grads):
        d = {"clean-corr": cc[n] - kc[n], "corr-clean": kc[n] - cc[n], "clean": cc[n]}[diff]
        rows.append((d * g).sum(dim=(0, 2)))
    return torch.stack(rows).detach()


def _ap_clean_grad(model, clean, corr, answer, wrong):
    return _ap_generic(model, clean, corr, answer, wrong, grad_on="clean")


def _ap_sign(model, clean, corr, answer, wrong):
    return _ap_generic(model, clean, corr, answer, wrong, diff="corr-clean")


def _ap_no_diff(model, clean, corr, answer, wrong):
    return _ap_generic(model, clean, corr, answer, wrong, diff="clean")


def _ap_raw(model, clean, corr, answer, wrong):
    return _ap_generic(model, clean, corr, answer, wrong, normalize=False)


register(Exercise(
    id="10.attribution_patching",
    func_name="attribution_patching",
    reference=attribution_patching,
    make_cases=_sweep_cases,
    points=2,
    output_names=("layer", "pos"),
    atol=1e-4,
    known_mistakes=[
        ("gradiente tirado na rodada LIMPA; a aproximação é em torno da corrompida (a que recebe o patch)", _ap_clean_grad),
        ("sinal trocado: é (limpa - corrompida) · gradiente", _ap_sign),
        ("multiplicou o gradiente pela ativação limpa; é pela DIFERENÇA limpa - corrompida", _ap_no_diff),
        ("gradiente da diferença de logits crua; normalize a métrica (divida por limpa - corrompida)", _ap_raw),
    ],
    forbidden=_forbid("attribution_patch_resid", "attribution_patch_heads", "patch_resid_pre", "normalized_metric"),
))


# ---------------------------------------------------------------------------
# 10.find_induction_circuit (investigação)
# ---------------------------------------------------------------------------
def find_induction_circuit(model, clean_tokens, corrupted_tokens, answer, wrong):
    """Gabarito: a descoberta e, em "_aceitas", tudo o que conta como descoberta correta."""
    from course_lib import patching

    hp = patching.patch_head_z(model, clean_tokens, corrupted_tokens, answer, wrong, per_position=True)
    last = hp.shape[-1] - 1
    l0 = hp[0].clone()
    l0[:, last] = 0.0
    prev = [[0, h, p] for h in range(model.cfg.n_heads) for p in range(last) if l0[h, p] >= 0.5]
    query = hp[1:, :, last]
    ind = [[1 + l, h] for l in range(query.shape[0]) for h in range(query.shape[1])
           if query[l, h] >= 0.5 * query.max()]
    best_prev = max(prev, key=lambda t: float(hp[t[0], t[1], t[2]]))
    best_ind = max(ind, key=lambda t: float(hp[t[0], t[1], last]))
    paths = {}
    for s in prev:
        for r in ind:
            paths[f"{s[0]}.{s[1]}->{r[0]}.{r[1]}"] = {
                w: patching.path_patch(model, clean_tokens, corrupted_tokens, answer, wrong, s[:2], r, w) for w in "qkv"}
    best = paths[f"{best_prev[0]}.{best_prev[1]}->{best_ind[0]}.{best_ind[1]}"]
    return {"previous_token_head": best_prev[:2], "previous_token_position": best_prev[2],
            "induction_head": best_ind, "composition": max(best, key=best.get),
            "_aceitas": {"prev": prev, "ind": ind, "paths": paths}}


def _fic_compare(expected, got):
    keys = ("previous_token_head", "previous_token_position", "induction_head", "composition")
    if type(got) is not dict or any(k not in got for k in keys):
        return f"saída: esperado um dict com as chaves {list(keys)}; obtido {got!r}"
    acc = expected["_aceitas"]
    try:
        prev = [int(x) for x in got["previous_token_head"]] + [int(got["previous_token_position"])]
        ind = [int(x) for x in got["induction_head"]]
    except (TypeError, ValueError):
        return "saída: as cabeças são pares [camada, cabeça] e a posição é um int"
    if prev not in acc["prev"]:
        return (f"cabeça de token anterior {prev[:2]} na posição {prev[2]}: restaurar essa (cabeça, posição) "
                "não devolve a métrica (< 0,5). Meça head_patching_sweep(..., per_position=True) na camada 0 "
                "e procure a célula perto de 1; em que posição ela está, em relação ao token corrompido?")
    if ind not in acc["ind"]:
        return (f"cabeça de indução {ind}: na última posição (a consulta) o efeito dela é menos da metade do "
                "da melhor cabeça das camadas ≥ 1. Olhe a coluna da última posição da varredura por posição.")
    path = acc["paths"][f"{prev[0]}.{prev[1]}->{ind[0]}.{ind[1]}"]
    best = max(path, key=path.get)
    if got["composition"] != best:
        return (f"composição '{got['composition']}': meça path_patch_head de {prev[:2]} para {ind} com "
                "which='q', 'k' e 'v' e compare os três números (qual deles recupera a métrica?)")
    return None


def _fic_cases(gen: torch.Generator) -> list[Case]:
    ind = ModelRef("induction")
    j = int(torch.randint(2, 6, (1,), generator=gen))
    return [Case((ind, *_induction_pair(gen, 8, 8, j)), description=f"indução: lote 8, 8 tokens repetidos, x_{j} corrompido")]


register(Exercise(
    id="10.find_induction_circuit",
    func_name="find_induction_circuit",
    reference=find_induction_circuit,
    make_cases=_fic_cases,
    points=2,
    compare=_fic_compare,
    forbidden=_forbid("patch_head_z", "path_patch", "patch_resid_pre"),
))


# ---------------------------------------------------------------------------
# 10.find_number_route (investigação)
# ---------------------------------------------------------------------------
def find_number_route(model, clean_tokens, corrupted_tokens, answer, wrong):
    from course_lib import patching

    resid = patching.patch_resid_pre(model, clean_tokens, corrupted_tokens, answer, wrong)
    heads = patching.patch_head_z(model, clean_tokens, corrupted_tokens, answer, wrong)
    last = resid.shape[1] - 1
    sources = [p for p in range(last) if resid[0, p] >= 0.5 * resid[0].max()]
    relays = [p for p in range(1, last) if p not in sources and resid[1, p] >= 0.25]
    good = [[l, h] for l in range(heads.shape[0]) for h in range(heads.shape[1]) if heads[l, h] >= 0.5 * heads.max()]
    return {"source_position": max(sources, key=lambda p: float(resid[0, p])),
            "relay_position": max(relays, key=lambda p: float(resid[1, p])),
            "head": max(good, key=lambda t: float(heads[t[0], t[1]])),
            "_aceitas": {"sources": sources, "relays": relays, "heads": good}}


def _fnr_compare(expected, got):
    keys = ("source_position", "relay_position", "head")
    if type(got) is not dict or any(k not in got for k in keys):
        return f"saída: esperado um dict com as chaves {list(keys)}; obtido {got!r}"
    acc = expected["_aceitas"]
    try:
        src, relay, head = int(got["source_position"]), int(got["relay_position"]), [int(x) for x in got["head"]]
    except (TypeError, ValueError):
        return "saída: as posições são int e a cabeça é um par [camada, cabeça]"
    if src not in acc["sources"]:
        return (f"posição de origem {src}: restaurar o resíduo limpo ali na camada 0 recupera menos da metade do "
                "melhor. Meça resid_patching_sweep e olhe a linha da camada 0 (onde o número do sujeito entra?)")
    if relay not in acc["relays"]:
        return (f"posição intermediária {relay}: na camada 1 ela não carrega o número (efeito < 0,25) ou é a própria "
                "origem. Olhe a linha da camada 1, fora da origem e da última posição.")
    if head not in acc["heads"]:
        return (f"cabeça {head}: restaurar a saída dela recupera menos da metade da melhor cabeça. Meça "
                "head_patching_sweep (sem per_position) e procure a maior célula.")
    return None


def _fnr_cases(gen: torch.Generator) -> list[Case]:
    return [Case((ModelRef("lm"), *_agreement_pair(0)), description="'o gato que os meninos viram' × 'os gatos ...'")]


def _fnr_hidden(gen: torch.Generator) -> list[Case]:
    i = 1 + int(torch.randint(0, 2, (1,), generator=gen))
    return [Case((ModelRef("lm"), *_agreement_pair(i)), description=f"'{TEMPLATES[i][0]}' × '{TEMPLATES[i][1]}'")]


register(Exercise(
    id="10.find_number_route",
    func_name="find_number_route",
    reference=find_number_route,
    make_cases=_fnr_cases,
    make_hidden_cases=_fnr_hidden,
    points=2,
    compare=_fnr_compare,
    forbidden=_forbid("patch_head_z", "patch_resid_pre"),
))
