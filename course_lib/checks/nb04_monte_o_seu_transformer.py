"""Verificações do notebook 04_monte_o_seu_transformer (cada peça de um transformer pré-LN, do zero).

Cada peça do aluno devolve um dict com os nomes dos ganchos do course_lib (os do
TransformerLens 3.x). O gabarito é o próprio módulo do course_lib (`LayerNorm`,
`Attention`, `MLP`, `TransformerBlock`, `HookedTransformer`) carregado com os mesmos
pesos, e o esperado de cada chave é o que o gancho de mesmo nome guarda no cache. A
comparação segue a ordem do forward e para no PRIMEIRO gancho que diverge, dizendo onde
(lote, posição, cabeça...).

Os casos visíveis usam os pesos do checkpoint `lm`; os outros usam modelos pequenos com
pesos e vieses sorteados e formas que o `lm` não tem (d_head ≠ d_model / n_heads, lote de
1, sequência de 1 token), para que formas fixas no código falhem.
"""

import math

import torch
import torch.nn.functional as F

from course_lib.checks import Case, Exercise, ModelRef, register, resolve_model
from course_lib.checks.core import INVALID_TYPE_KEY, compare_tensors
from course_lib.model import MLP, Attention, Config, HookedTransformer, LayerNorm, TransformerBlock, gelu_new

ATOL = 1e-5
RTOL = 1e-5
# Até os logits o erro de arredondamento de float32 se acumula por 3 blocos (logits ~10):
# duas implementações corretas independentes diferem em ~2e-6; o erro mais sutil que
# queremos pegar (o eps fora da raiz) muda os logits em ~1e-3.
MODEL_ATOL = 1e-4

AXES = {
    "hook_scale": ("batch", "pos", "escala"),
    "hook_normalized": ("batch", "pos", "d_model"),
    "out": ("batch", "pos", "d_model"),
    "hook_embed": ("batch", "pos", "d_model"),
    "hook_pos_embed": ("batch", "pos", "d_model"),
    "resid": ("batch", "pos", "d_model"),
    "hook_q": ("batch", "pos", "head", "d_head"),
    "hook_k": ("batch", "pos", "head", "d_head"),
    "hook_v": ("batch", "pos", "head", "d_head"),
    "hook_attn_scores": ("batch", "head", "query_pos", "key_pos"),
    "hook_pattern": ("batch", "head", "query_pos", "key_pos"),
    "hook_z": ("batch", "pos", "head", "d_head"),
    "hook_attn_out": ("batch", "pos", "d_model"),
    "hook_pre": ("batch", "pos", "d_mlp"),
    "hook_post": ("batch", "pos", "d_mlp"),
    "hook_mlp_out": ("batch", "pos", "d_model"),
    "hook_resid_mid": ("batch", "pos", "d_model"),
    "hook_resid_post": ("batch", "pos", "d_model"),
    "ln_final.hook_normalized": ("batch", "pos", "d_model"),
    "logits": ("batch", "pos", "d_vocab"),
}


def _axes(key):
    return AXES.get(key.split(".", 2)[-1] if key.startswith("blocks.") else key)


def _hooks_compare(order_of, atol=ATOL, rtol=RTOL):
    """compare(expected, got): as chaves na ordem do forward; a primeira que diverge é a resposta."""

    def compare(expected, got):
        keys = order_of(expected)
        if type(got) is not dict or INVALID_TYPE_KEY in got:
            what = got[INVALID_TYPE_KEY] if type(got) is dict else type(got).__name__
            return (f"saída: esperado um dict com as chaves {keys} (os nomes dos ganchos), obtido {what}")
        missing = [k for k in keys if k not in got]
        if missing:
            return f"saída: faltam as chaves {missing} no dict (esperadas: {keys}; vieram: {sorted(got)})"
        for key in keys:
            problem = compare_tensors(expected[key], got[key], key, _axes(key), atol, rtol)
            if problem is not None:
                return "primeiro gancho que diverge (na ordem do forward): " + problem
        return None

    return compare


def _fixed(keys):
    return lambda expected: list(keys)


# ---------------------------------------------------------------- modelos e pesos de teste
def _randomize(model: torch.nn.Module, gen: torch.Generator, scale: float = 0.3) -> None:
    """Sorteia TODOS os pesos (vieses e w/b das LNs incluídos) para que cada termo esqueça algo visível."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if leaf == "w":
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif leaf.startswith("b"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[-2] if p.ndim >= 2 else 1
                p.copy_(torch.randn(p.shape, generator=gen) * scale * max(1.0, math.sqrt(16 / fan_in)))


def _small_cfg(gen, **over) -> dict:
    """Um modelo pequeno com formas que o `lm` não tem; d_head ≠ d_model / n_heads."""
    n_heads = int(torch.randint(2, 4, (1,), generator=gen))
    d_model = int(torch.randint(5, 9, (1,), generator=gen)) * 2
    d_head = d_model // n_heads + int(torch.randint(1, 4, (1,), generator=gen))
    cfg = dict(n_layers=2, d_model=d_model, n_heads=n_heads, d_head=d_head, d_mlp=3 * d_model + 1, d_vocab=11,
               n_ctx=9, act_fn="gelu", normalization="LN", seed=int(torch.randint(0, 10_000, (1,), generator=gen)))
    cfg.update(over)
    return cfg


def _small_model(gen, **over) -> HookedTransformer:
    model = HookedTransformer(Config(**_small_cfg(gen, **over)))
    _randomize(model, gen)
    return model.eval()


def _params(module: torch.nn.Module) -> dict:
    """Pesos de um módulo como dict simples {nome: tensor} (a forma que as funções do aluno recebem)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def model_cfg(model) -> dict:
    """O que o forward do modelo inteiro precisa saber além dos pesos."""
    return {"n_layers": model.cfg.n_layers, "eps": model.cfg.eps, "act_fn": model.cfg.act_fn}


_LM_PROMPTS = [
    "os gatos que o menino viu dormem.",
    "a menina bonita lê o livro. o rei come o bolo.",
    "o menino que as meninas viram dorme sozinho.",
    "as professoras que leram os livros sorriem.",
    "uma aluna canta. os cachorros pretos dormem.",
]


def _lm_tokens(gen, n, length=None):
    model = resolve_model("lm")
    idx = torch.randint(0, len(_LM_PROMPTS), (n,), generator=gen)
    rows = [model.to_tokens(_LM_PROMPTS[int(i)])[0] for i in idx]
    length = length or min(len(r) for r in rows)
    return torch.stack([r[:length] for r in rows])


def _lm_resid(gen, n, layer, where="resid_pre", length=None):
    model = resolve_model("lm")
    with torch.no_grad():
        _, cache = model.run_with_cache(_lm_tokens(gen, n, length))
    return cache[where, layer].clone()


def _capture(module, names, *inputs):
    """Roda `module` e guarda a saída de cada HookPoint nomeado em `names`."""
    saved, handles = {}, []
    for name in names:
        point = module.get_submodule(name)
        handles.append(point.register_forward_hook(lambda mod, inp, out, name=name: saved.__setitem__(name, out.detach().clone())))
    try:
        with torch.no_grad():
            out = module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return saved, out


def _cfg_for(d_model, **over):
    return Config(**{**dict(n_layers=1, d_model=d_model, n_heads=1, d_vocab=2, n_ctx=64), **over})


# ============================================================================ 04.layer_norm
LN_KEYS = ("hook_scale", "hook_normalized", "out")


def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> dict:
    ln = LayerNorm(_cfg_for(x.shape[-1], eps=eps), x.shape[-1])
    ln.load_state_dict({"w": w, "b": b})
    saved, out = _capture(ln, ("hook_scale", "hook_normalized"), x)
    return {**saved, "out": out.detach()}


def _ln_variant(x, w, b, eps, unbiased=False, eps_out=False, center=True, affine=True):
    xc = x - x.mean(-1, keepdim=True) if center else x
    var = xc.var(-1, keepdim=True, unbiased=True) if unbiased else xc.pow(2).mean(-1, keepdim=True)
    scale = var.sqrt() + eps if eps_out else (var + eps).sqrt()
    normalized = xc / scale
    return {"hook_scale": scale, "hook_normalized": normalized, "out": normalized * w + b if affine else normalized}


def _ln_cases(gen):
    lm = resolve_model("lm")
    ln = lm.blocks[0].ln1
    d = 7 + int(torch.randint(0, 5, (1,), generator=gen))
    return [
        Case((_lm_resid(gen, 2, 0), _params(ln)["w"], _params(ln)["b"], lm.cfg.eps),
             description="lm, blocks.0.ln1 em blocks.0.hook_resid_pre (2 frases)"),
        Case((_lm_resid(gen, 1, 2, where="resid_mid"), _params(lm.blocks[2].ln2)["w"], _params(lm.blocks[2].ln2)["b"],
              lm.cfg.eps), description="lm, blocks.2.ln2 em blocks.2.hook_resid_mid, lote de 1"),
        Case((torch.randn(2, 3, d, generator=gen) * 1e-3 + torch.randn(d, generator=gen),
              1 + 0.3 * torch.randn(d, generator=gen), torch.randn(d, generator=gen), 1e-5),
             description=f"vetores quase constantes (variância ~1e-6, perto do eps), d_model={d}"),
        Case((torch.randn(3, 1, d, generator=gen) * 2, 1 + 0.3 * torch.randn(d, generator=gen),
              torch.randn(d, generator=gen), 0.1), description=f"eps grande (0,1), sequência de 1 token, d_model={d}"),
    ]


register(Exercise(
    id="04.layer_norm", func_name="layer_norm", reference=layer_norm, make_cases=_ln_cases, points=2,
    compare=_hooks_compare(_fixed(LN_KEYS)),
    known_mistakes=[
        ("variância não enviesada (dividiu por d_model − 1; a LN usa a média dos quadrados, ÷ d_model)",
         lambda x, w, b, eps: _ln_variant(x, w, b, eps, unbiased=True)),
        ("eps fora da raiz: √var + eps em vez de √(var + eps)", lambda x, w, b, eps: _ln_variant(x, w, b, eps, eps_out=True)),
        ("não tirou a média antes de dividir (isso é RMSNorm, não LayerNorm)",
         lambda x, w, b, eps: _ln_variant(x, w, b, eps, center=False)),
        ("esqueceu o ganho w e o viés b na saída", lambda x, w, b, eps: _ln_variant(x, w, b, eps, affine=False)),
    ],
))


# ============================================================================ 04.embed
EMBED_KEYS = ("hook_embed", "hook_pos_embed", "resid")


def embed(tokens: torch.Tensor, W_E: torch.Tensor, W_pos: torch.Tensor) -> dict:
    cfg = Config(n_layers=1, d_model=W_E.shape[1], n_heads=1, d_vocab=W_E.shape[0], n_ctx=W_pos.shape[0])
    model = HookedTransformer(cfg)
    with torch.no_grad():
        model.embed.W_E.copy_(W_E)
        model.pos_embed.W_pos.copy_(W_pos)
        _, cache = model.run_with_cache(tokens, names_filter=["hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre"])
    return {"hook_embed": cache["hook_embed"], "hook_pos_embed": cache["hook_pos_embed"],
            "resid": cache["blocks.0.hook_resid_pre"]}


def _embed_variant(tokens, W_E, W_pos, kind):
    e = W_E[tokens]
    pos = tokens.shape[1]
    if kind == "no_pos":
        p = torch.zeros_like(e)
    elif kind == "by_token":
        p = W_pos[tokens]
    elif kind == "from_1":
        p = W_pos[1:pos + 1].expand_as(e)
    return {"hook_embed": e, "hook_pos_embed": p, "resid": e + p}


def _embed_cases(gen):
    lm = resolve_model("lm")
    small = _small_model(gen, d_vocab=7, n_ctx=12)
    pos = int(torch.randint(3, 6, (1,), generator=gen))
    return [
        Case((_lm_tokens(gen, 2), _params(lm.embed)["W_E"], _params(lm.pos_embed)["W_pos"]),
             description="lm, 2 frases"),
        Case((torch.randint(0, 7, (3, pos), generator=gen), small.W_E.detach().clone(), small.W_pos.detach().clone()),
             description=f"modelo pequeno (d_vocab=7, n_ctx=12), 3 sequências de {pos} tokens"),
        Case((torch.randint(0, 7, (1, 1), generator=gen), small.W_E.detach().clone(), small.W_pos.detach().clone()),
             description="lote de 1, sequência de 1 token"),
    ]


register(Exercise(
    id="04.embed", func_name="embed", reference=embed, make_cases=_embed_cases, points=1,
    compare=_hooks_compare(_fixed(EMBED_KEYS)),
    known_mistakes=[
        ("esqueceu o embedding posicional", lambda t, E, P: _embed_variant(t, E, P, "no_pos")),
        ("indexou W_pos pelos ids dos tokens; a linha de W_pos é a POSIÇÃO (0, 1, 2, ...)",
         lambda t, E, P: _embed_variant(t, E, P, "by_token")),
        ("posições começando em 1; a primeira posição (o <bos>) é a 0", lambda t, E, P: _embed_variant(t, E, P, "from_1")),
    ],
))


# ============================================================================ 04.attention
ATTN_KEYS = ("hook_q", "hook_k", "hook_v", "hook_attn_scores", "hook_pattern", "hook_z", "hook_attn_out")


def _attn_cfg(params):
    n_heads, d_model, d_head = params["W_Q"].shape
    return Config(n_layers=1, d_model=d_model, n_heads=n_heads, d_head=d_head, d_vocab=2, n_ctx=64)


def attention(x: torch.Tensor, params: dict) -> dict:
    attn = Attention(_attn_cfg(params))
    attn.load_state_dict(params)
    names = ATTN_KEYS[:-1]
    saved, out = _capture(attn, names, x)
    return {**saved, "hook_attn_out": out.detach()}


def _attn_variant(x, p, scale="sqrt", mask="inf", biases=True, b_O=True, softmax_dim=-1):
    zero = lambda t: t if biases else torch.zeros_like(t)  # noqa: E731
    q = torch.einsum("bpd,hde->bphe", x, p["W_Q"]) + zero(p["b_Q"])
    k = torch.einsum("bpd,hde->bphe", x, p["W_K"]) + zero(p["b_K"])
    v = torch.einsum("bpd,hde->bphe", x, p["W_V"]) + zero(p["b_V"])
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k)
    d_head = q.shape[-1]
    scores = scores / {"sqrt": math.sqrt(d_head), "none": 1.0, "d_head": d_head}[scale]
    n = x.shape[1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    if mask == "inf":
        masked = scores.masked_fill(future, float("-inf"))
        pattern = masked.softmax(softmax_dim)
    elif mask == "zero":
        masked = scores.masked_fill(future, 0.0)
        pattern = masked.softmax(-1)
    elif mask == "after":
        masked = scores
        pattern = scores.softmax(-1).masked_fill(future, 0.0)
    pattern = pattern.nan_to_num(0.0)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    out = torch.einsum("bqhe,hed->bqd", z, p["W_O"]) + (p["b_O"] if b_O else 0.0)
    return {"hook_q": q, "hook_k": k, "hook_v": v, "hook_attn_scores": masked, "hook_pattern": pattern,
            "hook_z": z, "hook_attn_out": out}


def _lm_ln1_out(gen, n, layer, length=None):
    lm = resolve_model("lm")
    with torch.no_grad():
        return lm.blocks[layer].ln1(_lm_resid(gen, n, layer, length=length)).clone()


def _attn_cases(gen):
    lm = resolve_model("lm")
    small = _small_model(gen)
    d = small.cfg.d_model
    return [
        Case((_lm_ln1_out(gen, 2, 0), _params(lm.blocks[0].attn)),
             description="lm, blocks.0.attn, entrada = blocks.0.ln1(resid_pre), 2 frases"),
        Case((torch.randn(2, 5, d, generator=gen), _params(small.blocks[0].attn)),
             description=f"modelo pequeno: n_heads={small.cfg.n_heads}, d_model={d}, d_head={small.cfg.d_head} "
                         "(≠ d_model / n_heads), vieses sorteados"),
        Case((torch.randn(1, 1, d, generator=gen), _params(small.blocks[1].attn)),
             description="lote de 1, sequência de 1 token"),
    ]


def _attn_hidden(gen):
    lm = resolve_model("lm")
    layer = int(torch.randint(0, 3, (1,), generator=gen))
    small = _small_model(gen)
    d = small.cfg.d_model
    return [
        Case((_lm_ln1_out(gen, 1, layer), _params(lm.blocks[layer].attn)), description=f"lm, blocks.{layer}.attn, lote de 1"),
        Case((torch.randn(3, 6, d, generator=gen), _params(small.blocks[0].attn)),
             description=f"modelo pequeno, d_head={small.cfg.d_head} ≠ d_model / n_heads"),
        Case((torch.randn(2, 1, d, generator=gen), _params(small.blocks[1].attn)), description="sequência de 1 token"),
    ]


register(Exercise(
    id="04.attention", func_name="attention", reference=attention, make_cases=_attn_cases,
    make_hidden_cases=_attn_hidden, points=3, compare=_hooks_compare(_fixed(ATTN_KEYS)),
    known_mistakes=[
        ("faltou dividir as pontuações por √d_head", lambda x, p: _attn_variant(x, p, scale="none")),
        ("dividiu por d_head em vez de √d_head", lambda x, p: _attn_variant(x, p, scale="d_head")),
        ("máscara com 0 em vez de −inf (exp(0) = 1: o futuro ainda recebe atenção)",
         lambda x, p: _attn_variant(x, p, mask="zero")),
        ("máscara aplicada DEPOIS do softmax: as linhas do padrão não somam mais 1",
         lambda x, p: _attn_variant(x, p, mask="after")),
        ("esqueceu os vieses b_Q, b_K, b_V", lambda x, p: _attn_variant(x, p, biases=False)),
        ("esqueceu o viés de saída b_O", lambda x, p: _attn_variant(x, p, b_O=False)),
        ("softmax no eixo das consultas (dim=-2) em vez do das chaves", lambda x, p: _attn_variant(x, p, softmax_dim=-2)),
    ],
))


# ============================================================================ 04.mlp
MLP_KEYS = ("hook_pre", "hook_post", "hook_mlp_out")


def mlp(x: torch.Tensor, params: dict, act_fn: str) -> dict:
    d_model, d_mlp = params["W_in"].shape
    module = MLP(Config(n_layers=1, d_model=d_model, n_heads=1, d_mlp=d_mlp, d_vocab=2, act_fn=act_fn))
    module.load_state_dict(params)
    saved, out = _capture(module, ("hook_pre", "hook_post"), x)
    return {**saved, "hook_mlp_out": out.detach()}


def _mlp_variant(x, p, act_fn, act=None, b_in=True, b_out=True):
    pre = x @ p["W_in"] + (p["b_in"] if b_in else 0.0)
    fn = act or {"gelu": F.gelu, "gelu_new": gelu_new, "relu": F.relu}[act_fn]
    post = fn(pre)
    return {"hook_pre": pre, "hook_post": post, "hook_mlp_out": post @ p["W_out"] + (p["b_out"] if b_out else 0.0)}


def _lm_ln2_out(gen, n, layer):
    lm = resolve_model("lm")
    with torch.no_grad():
        return lm.blocks[layer].ln2(_lm_resid(gen, n, layer, where="resid_mid")).clone()


def _mlp_cases(gen):
    lm = resolve_model("lm")
    small = _small_model(gen)
    d = small.cfg.d_model
    return [
        Case((_lm_ln2_out(gen, 2, 0), _params(lm.blocks[0].mlp), "gelu"),
             description="lm, blocks.0.mlp, entrada = blocks.0.ln2(resid_mid), act_fn='gelu'"),
        Case((torch.randn(1, 4, d, generator=gen) * 2, _params(small.blocks[0].mlp), "gelu_new"),
             description=f"modelo pequeno (d_mlp={small.cfg.d_mlp}), act_fn='gelu_new', lote de 1"),
        Case((torch.randn(2, 1, d, generator=gen) * 2, _params(small.blocks[1].mlp), "relu"),
             description="act_fn='relu', sequência de 1 token"),
    ]


register(Exercise(
    id="04.mlp", func_name="mlp", reference=mlp, make_cases=_mlp_cases, points=1,
    compare=_hooks_compare(_fixed(MLP_KEYS)),
    known_mistakes=[
        ("GELU errada: 'gelu' é a exata (F.gelu, com erf); a aproximação por tanh é a 'gelu_new'",
         lambda x, p, a: _mlp_variant(x, p, a, act=gelu_new if a == "gelu" else None)),
        ("usou sempre F.gelu, sem olhar act_fn", lambda x, p, a: _mlp_variant(x, p, a, act=F.gelu)),
        ("esqueceu o viés b_in", lambda x, p, a: _mlp_variant(x, p, a, b_in=False)),
        ("esqueceu o viés b_out", lambda x, p, a: _mlp_variant(x, p, a, b_out=False)),
    ],
))


# ============================================================================ 04.transformer_block
BLOCK_KEYS = ("hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post")


def _sub(params, prefix):
    return {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def transformer_block(resid_pre: torch.Tensor, params: dict, eps: float, act_fn: str) -> dict:
    n_heads, d_model, d_head = params["attn.W_Q"].shape
    d_mlp = params["mlp.W_in"].shape[1]
    cfg = Config(n_layers=1, d_model=d_model, n_heads=n_heads, d_head=d_head, d_mlp=d_mlp, d_vocab=2, n_ctx=64,
                 eps=eps, act_fn=act_fn)
    block = TransformerBlock(cfg)
    block.load_state_dict(params)
    saved, out = _capture(block, BLOCK_KEYS, resid_pre)
    return saved


def _ln(x, p, eps):
    xc = x - x.mean(-1, keepdim=True)
    return xc / (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt() * p["w"] + p["b"]


def _block_variant(resid_pre, params, eps, act_fn, kind):
    ln1, ln2 = _sub(params, "ln1"), _sub(params, "ln2")
    attn_p, mlp_p = _sub(params, "attn"), _sub(params, "mlp")
    attn = lambda x: _attn_variant(x, attn_p)["hook_attn_out"]  # noqa: E731
    ff = lambda x: _mlp_variant(x, mlp_p, act_fn)["hook_mlp_out"]  # noqa: E731
    if kind == "post_ln":
        attn_out = attn(resid_pre)
        resid_mid = _ln(resid_pre + attn_out, ln1, eps)
        mlp_out = ff(resid_mid)
        resid_post = _ln(resid_mid + mlp_out, ln2, eps)
    else:
        attn_out = attn(_ln(resid_pre, ln1, eps))
        resid_mid = attn_out if kind == "no_residual" else resid_pre + attn_out
        mlp_in = {"parallel": resid_pre}.get(kind, resid_mid)
        mlp_out = ff(_ln(mlp_in, ln1 if kind == "same_ln" else ln2, eps))
        resid_post = resid_mid + mlp_out
    return {"hook_attn_out": attn_out, "hook_resid_mid": resid_mid, "hook_mlp_out": mlp_out, "hook_resid_post": resid_post}


def _block_cases(gen):
    lm = resolve_model("lm")
    small = _small_model(gen)
    d = small.cfg.d_model
    return [
        Case((_lm_resid(gen, 2, 1), _params(lm.blocks[1]), lm.cfg.eps, lm.cfg.act_fn),
             description="lm, blocks.1, entrada = blocks.1.hook_resid_pre, 2 frases"),
        Case((torch.randn(1, 5, d, generator=gen) * 2, _params(small.blocks[0]), 1e-5, "gelu"),
             description=f"modelo pequeno, d_head={small.cfg.d_head} ≠ d_model / n_heads, lote de 1"),
        Case((torch.randn(2, 1, d, generator=gen) * 2, _params(small.blocks[1]), 1e-5, "gelu"),
             description="sequência de 1 token"),
    ]


register(Exercise(
    id="04.transformer_block", func_name="transformer_block", reference=transformer_block, make_cases=_block_cases,
    points=2, compare=_hooks_compare(_fixed(BLOCK_KEYS)),
    known_mistakes=[
        ("bloco pós-LN (LN depois da soma, como no transformer original); o GPT-2 e o course_lib são pré-LN",
         lambda r, p, e, a: _block_variant(r, p, e, a, "post_ln")),
        ("esqueceu a conexão residual da atenção (resid_mid = attn_out)", lambda r, p, e, a: _block_variant(r, p, e, a, "no_residual")),
        ("a MLP leu resid_pre (atenção e MLP em paralelo); ela lê resid_mid", lambda r, p, e, a: _block_variant(r, p, e, a, "parallel")),
        ("usou ln1 também antes da MLP; cada subcamada tem a sua LN (ln2 na MLP)",
         lambda r, p, e, a: _block_variant(r, p, e, a, "same_ln")),
    ],
))


# ============================================================================ 04.model_forward
def _model_keys(expected):
    n_layers = sum(1 for k in expected if k.endswith(".hook_resid_post"))
    return (["hook_embed", "hook_pos_embed"] + [f"blocks.{l}.hook_resid_post" for l in range(n_layers)]
            + ["ln_final.hook_normalized", "logits"])


def _build(params, cfg):
    W_Q = params["blocks.0.attn.W_Q"]
    n_heads, d_model, d_head = W_Q.shape
    full = Config(n_layers=cfg["n_layers"], d_model=d_model, n_heads=n_heads, d_head=d_head,
                  d_mlp=params["blocks.0.mlp.W_in"].shape[1], d_vocab=params["embed.W_E"].shape[0],
                  n_ctx=params["pos_embed.W_pos"].shape[0], eps=cfg["eps"], act_fn=cfg["act_fn"])
    model = HookedTransformer(full)
    model.load_state_dict(params)
    return model.eval()


def model_forward(tokens: torch.Tensor, params: dict, cfg: dict) -> dict:
    model = _build(params, cfg)
    names = ["hook_embed", "hook_pos_embed", "ln_final.hook_normalized"] + [
        f"blocks.{l}.hook_resid_post" for l in range(cfg["n_layers"])]
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, names_filter=names)
    out = {name: cache[name] for name in names}
    out["logits"] = logits
    return out


def _model_variant(tokens, params, cfg, kind):
    e = params["embed.W_E"][tokens]
    p = params["pos_embed.W_pos"][: tokens.shape[1]].expand_as(e)
    out = {"hook_embed": e, "hook_pos_embed": p}
    resid = e + p
    for l in range(cfg["n_layers"]):
        resid = _block_variant(resid, _sub(params, f"blocks.{l}"), cfg["eps"], cfg["act_fn"], "pre_ln")["hook_resid_post"]
        out[f"blocks.{l}.hook_resid_post"] = resid
    xc = resid - resid.mean(-1, keepdim=True)
    normalized = xc / (xc.pow(2).mean(-1, keepdim=True) + cfg["eps"]).sqrt()
    out["ln_final.hook_normalized"] = normalized
    final = normalized * params["ln_final.w"] + params["ln_final.b"]
    if kind == "no_ln_final":
        final = resid
    W_U = params["embed.W_E"].T if kind == "tied" else params["unembed.W_U"]
    out["logits"] = final @ W_U + (0.0 if kind == "no_b_U" else params["unembed.b_U"])
    return out


def _model_cases(gen):
    lm = resolve_model("lm")
    small = _small_model(gen, n_layers=int(torch.randint(1, 3, (1,), generator=gen)) + 1)
    return [
        Case((_lm_tokens(gen, 2), _params(lm), model_cfg(lm)), description="lm (3 camadas), 2 frases"),
        Case((torch.randint(0, small.cfg.d_vocab, (1, 6), generator=gen), _params(small), model_cfg(small)),
             description=f"modelo pequeno com {small.cfg.n_layers} camadas, d_head={small.cfg.d_head} ≠ d_model / n_heads, "
                         "lote de 1"),
        Case((torch.randint(0, small.cfg.d_vocab, (3, 1), generator=gen), _params(small), model_cfg(small)),
             description="sequência de 1 token"),
    ]


register(Exercise(
    id="04.model_forward", func_name="model_forward", reference=model_forward, make_cases=_model_cases, points=2,
    compare=_hooks_compare(_model_keys, atol=MODEL_ATOL, rtol=RTOL),
    known_mistakes=[
        ("esqueceu a LayerNorm final (ln_final) antes do desembedding", lambda t, p, c: _model_variant(t, p, c, "no_ln_final")),
        ("esqueceu o viés b_U do desembedding", lambda t, p, c: _model_variant(t, p, c, "no_b_U")),
        ("usou W_Eᵀ como desembedding; este modelo não amarra os pesos: use unembed.W_U",
         lambda t, p, c: _model_variant(t, p, c, "tied")),
    ],
))


# ============================================================================ 04.next_token_loss
def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    log_probs = logits[:, :-1].log_softmax(-1)
    return -log_probs.gather(-1, tokens[:, 1:, None]).mean()


def _loss_no_shift(logits, tokens):
    return -logits.log_softmax(-1).gather(-1, tokens[..., None]).mean()


def _loss_wrong_shift(logits, tokens):
    return -logits[:, 1:].log_softmax(-1).gather(-1, tokens[:, :-1, None]).mean()


def _loss_sum(logits, tokens):
    return -logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None]).sum()


def _loss_raw_logits(logits, tokens):
    return -logits[:, :-1].gather(-1, tokens[:, 1:, None]).mean()


def _loss_cases(gen):
    return [
        Case((torch.randn(2, 6, 10, generator=gen) * 3, torch.randint(0, 10, (2, 6), generator=gen)),
             description="logits [batch=2, pos=6, d_vocab=10]"),
        Case((torch.randn(1, 5, 7, generator=gen) * 3, torch.randint(0, 7, (1, 5), generator=gen)), description="lote de 1"),
        Case((torch.randn(3, 2, 260, generator=gen), torch.randint(0, 260, (3, 2), generator=gen)),
             description="só 2 posições (uma previsão por sequência), d_vocab=260"),
    ]


register(Exercise(
    id="04.next_token_loss", func_name="next_token_loss", reference=next_token_loss, make_cases=_loss_cases, points=1,
    known_mistakes=[
        ("não deslocou: a posição p deve prever o token p+1, não o próprio token p", _loss_no_shift),
        ("deslocou para o lado errado: logits[:, 1:] contra tokens[:, :-1]", _loss_wrong_shift),
        ("somou em vez de tirar a média", _loss_sum),
        ("usou os logits crus, sem log_softmax", _loss_raw_logits),
    ],
))


# ============================================================================ 04.train_model
def train_model(cfg: dict, data: torch.Tensor, n_steps: int, batch_size: int, lr: float, seed: int,
                progress: bool = True):
    model = HookedTransformer(Config(**cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(n_steps):
        batch = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
        loss = next_token_loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def _train_variant(cfg, data, n_steps, batch_size, lr, seed, progress=True, kind=None):
    model = HookedTransformer(Config(**cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(n_steps):
        batch = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
        logits = model(batch)
        loss = _loss_no_shift(logits, batch) if kind == "no_shift" else next_token_loss(logits, batch)
        if kind != "no_zero_grad":
            opt.zero_grad()
        loss.backward()
        if kind != "no_step":
            opt.step()
        losses.append(loss.item())
    return model, losses


# A perda de treino é ruidosa (lotes sorteados): compara-se a média dos últimos passos com a
# do gabarito. Medido (40 passos, 3 sementes de dados × 2 de lotes): as corretas ficam a
# menos de ~0,15 nats umas das outras; sem deslocar a perda cai a ~0,5, sem opt.step() fica
# em ~5,56 e sem zero_grad (gradientes acumulados) fica entre 4,3 e 5,2, todos a mais de 1 nat.
TRAIN_TOL = 0.3
TRAIN_TAIL = 10


def _train_compare(expected, got):
    exp_losses = expected[1]
    if type(got) not in (tuple, list) or len(got) != 2:
        return f"saída: esperado a tupla (model, losses), obtido {got!r}"
    model_part, losses = got
    if not (type(model_part) is dict and model_part.get(INVALID_TYPE_KEY, "").endswith("HookedTransformer")):
        what = model_part.get(INVALID_TYPE_KEY) if type(model_part) is dict else type(model_part).__name__
        return f"saída[0]: esperado o modelo treinado (um HookedTransformer), obtido {what}"
    if type(exp_losses) is not list:  # saída de um erro conhecido comparada ao aluno
        return None if losses == exp_losses else "perdas diferentes"
    if type(losses) not in (list, tuple) or not all(type(v) is float for v in losses):
        return "saída[1]: esperado uma lista de floats, a perda de cada passo (use loss.item())"
    if len(losses) != len(exp_losses):
        return f"saída[1]: esperado uma perda por passo, {len(exp_losses)} valores; obtido {len(losses)}"
    if not all(math.isfinite(v) for v in losses):
        return "saída[1]: há perdas NaN ou infinitas (taxa de aprendizado grande demais?)"
    start, exp_start = losses[0], exp_losses[0]
    if abs(start - exp_start) > 0.1:
        return (f"saída[1]: a perda do 1º passo é {start:.3f}; um modelo recém-criado dá ~{exp_start:.3f} "
                "(≈ ln d_vocab). Ela é a perda do próximo token (deslocada) do modelo antes de qualquer passo?")
    tail, exp_tail = sum(losses[-TRAIN_TAIL:]) / TRAIN_TAIL, sum(exp_losses[-TRAIN_TAIL:]) / TRAIN_TAIL
    if abs(tail - exp_tail) > TRAIN_TOL:
        return (f"saída[1]: a média das últimas {TRAIN_TAIL} perdas é {tail:.3f}; o treino de referência chega a "
                f"{exp_tail:.3f} (tolerância {TRAIN_TOL}). " + (
                    "Perda baixa demais: o modelo está vendo a resposta?" if tail < exp_tail else
                    "O modelo quase não aprendeu: os pesos estão sendo atualizados a cada passo?"))
    return None


def _train_cases(gen):
    grammar = _grammar()
    data = grammar.make_dataset(256, 12, seed=int(torch.randint(0, 1000, (1,), generator=gen)))
    cfg = dict(n_layers=1, d_model=32, n_heads=2, d_mlp=64, d_vocab=grammar.d_vocab, n_ctx=12,
               seed=int(torch.randint(0, 1000, (1,), generator=gen)))
    seed = int(torch.randint(0, 1000, (1,), generator=gen))
    return [Case((cfg, data, 40, 16, 1e-2, seed), {"progress": False},
                 description="1 camada, d_model=32, 40 passos de 16 sequências de 12 tokens, lr=1e-2")]


register(Exercise(
    id="04.train_model", func_name="train_model", reference=train_model, make_cases=_train_cases, points=2,
    compare=_train_compare,
    known_mistakes=[
        ("a perda não está deslocada: cada posição vê o próprio token que deveria prever",
         lambda *a, **k: _train_variant(*a, **k, kind="no_shift")),
        ("esqueceu opt.step(): os pesos nunca mudam", lambda *a, **k: _train_variant(*a, **k, kind="no_step")),
        ("esqueceu opt.zero_grad(): os gradientes dos passos anteriores se acumulam",
         lambda *a, **k: _train_variant(*a, **k, kind="no_zero_grad")),
    ],
))


# ============================================================================ investigações
RELATIVE_MARGIN = 0.10


def _bos_table(model, tokens, layer):
    """Atenção média no <bos> (posição 0) de cada cabeça, das consultas 1..pos-1."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    return cache["pattern", layer][:, :, 1:, 0].mean((0, 2))


def find_bos_head(model, tokens, layer):
    return int(_bos_table(model, tokens, layer).argmax())


def _bos_reference(model, tokens, layer):
    return {"tabela": _bos_table(model, tokens, layer)}


def _bos_compare(expected, got):
    if type(expected) is int:  # saída de um erro conhecido
        return None if got == expected else f"cabeça {got}, não {expected}"
    table = expected["tabela"]
    if type(got) is not int:
        return f"saída: esperado um int (o índice da cabeça), obtido {type(got).__name__} {got!r}"
    if not 0 <= got < table.shape[0]:
        return f"saída: a cabeça {got} não existe; a camada tem {table.shape[0]} cabeças (0 a {table.shape[0] - 1})"
    best = float(table.max())
    if float(table[got]) >= best - RELATIVE_MARGIN * abs(best):
        return None
    return (f"a cabeça {got} põe em média {float(table[got]):.3f} da atenção no <bos>; há cabeças acima de "
            f"{best - RELATIVE_MARGIN * best:.3f}. Para CADA cabeça da camada, tome a coluna 0 (o <bos>) do padrão "
            "da sua `attention`, nas consultas 1 em diante, tire a média e fique com a maior")


def _bos_least(model, tokens, layer):
    return int(_bos_table(model, tokens, layer).argmin())


def _bos_self(model, tokens, layer):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    return int(cache["pattern", layer].diagonal(dim1=-2, dim2=-1)[:, :, 1:].mean((0, 2)).argmax())


def _bos_cases(gen):
    return [
        Case((ModelRef("lm"), _lm_tokens(gen, 4), 0), description="lm, camada 0, 4 frases"),
        Case((ModelRef("lm"), _lm_tokens(gen, 4), 2), description="lm, camada 2, 4 frases"),
        Case((ModelRef("lm_untied"), _lm_tokens(gen, 3), 1), description="lm_untied (outro checkpoint), camada 1"),
        # frases fixas em que a diagonal, o argmin e o <bos> apontam três cabeças diferentes
        # (assim a verificação sabe dizer qual erro você cometeu)
        Case((ModelRef("lm"), _lm_tokens(torch.Generator().manual_seed(2), 4), 2), description="lm, camada 2, outras 4 frases"),
    ]


def _bos_hidden(gen):
    name = ("lm", "lm_tied", "lm_untied")[int(torch.randint(0, 3, (1,), generator=gen))]
    n_layers = resolve_model(name).cfg.n_layers
    return [
        Case((ModelRef(name), _lm_tokens(gen, 4), int(torch.randint(0, n_layers, (1,), generator=gen))),
             description=f"{name}, uma camada sorteada"),
        Case((ModelRef("lm"), _lm_tokens(gen, 3), int(torch.randint(0, 3, (1,), generator=gen))),
             description="lm, outras frases"),
    ]


register(Exercise(
    id="04.find_bos_head", func_name="find_bos_head", reference=_bos_reference, make_cases=_bos_cases,
    make_hidden_cases=_bos_hidden, points=2, compare=_bos_compare,
    known_mistakes=[
        ("pegou a cabeça que MENOS olha para o <bos> (argmin em vez de argmax)", _bos_least),
        ("mediu a atenção no próprio token (a diagonal), não no <bos> (a coluna 0)", _bos_self),
    ],
))


_GRAMMAR = []


def _grammar():
    """A gramática, construída uma vez (construir leva ~1 s)."""
    if not _GRAMMAR:
        from course_lib.data import PtGrammar

        _GRAMMAR.append(PtGrammar())
    return _GRAMMAR[0]


def _optimal(tokens):
    return _grammar().optimal_loss(tokens)


def entropy_gap(model, tokens):
    return lm_loss(model, tokens) - _optimal(tokens)


def lm_loss(model, tokens):
    with torch.no_grad():
        return float(next_token_loss(model(tokens), tokens))


def _gap_compare(expected, got):
    if type(got) is not float:
        return f"saída: esperado um float (nats por token), obtido {type(got).__name__} {got!r}"
    if abs(got - expected) <= 1e-3:
        return None
    return (f"a distância à entropia da língua nestes tokens é {expected:.3f} nats/token; você devolveu {got:.3f}. "
            "Meça a perda do próximo token do modelo (com o seu model_forward e a sua next_token_loss) e subtraia a "
            "perda ótima da gramática nos MESMOS tokens (PtGrammar().optimal_loss)")


def _gap_cases(gen):
    seeds = torch.randint(0, 10_000, (3,), generator=gen).tolist()
    grammar = _grammar()
    return [
        Case((ModelRef("lm"), grammar.make_dataset(16, 32, seed=seeds[0])), description="lm, 16 sequências da gramática"),
        Case((ModelRef("lm_untied"), grammar.make_dataset(16, 32, seed=seeds[1])), description="lm_untied (2 camadas)"),
        Case((ModelRef("lm_icl"), grammar.make_dataset(8, 48, seed=seeds[2])), description="lm_icl (outro checkpoint, n_ctx=64), 8 × 48"),
    ]


register(Exercise(
    id="04.entropy_gap", func_name="entropy_gap", reference=entropy_gap, make_cases=_gap_cases, points=1,
    compare=_gap_compare,
    known_mistakes=[
        ("devolveu só a perda do modelo, sem subtrair a entropia da língua",
         lm_loss),
        ("subtraiu a perda do chute uniforme (ln d_vocab), não a entropia da língua",
         lambda m, t: lm_loss(m, t) - math.log(m.cfg.d_vocab)),
    ],
))
