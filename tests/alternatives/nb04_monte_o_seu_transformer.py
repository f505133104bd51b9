"""Implementações corretas independentes dos exercícios do notebook 04 (ver tests/test_exercises.py).

Nenhuma usa os módulos do course_lib (o gabarito): são contas escritas de outros jeitos
(float64, laços, `@` no lugar de einsum, F.layer_norm, F.scaled_dot_product_attention).
"""
import math

import torch
import torch.nn.functional as F

from course_lib.data import PtGrammar

GRAMMAR = PtGrammar()


# ---------------------------------------------------------------- 04.layer_norm
def ln_float64(x, w, b, eps):
    xd = x.double()
    xc = xd - xd.mean(-1, keepdim=True)
    scale = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    normalized = xc / scale
    return {"hook_scale": scale.float(), "hook_normalized": normalized.float(),
            "out": (normalized * w.double() + b.double()).float()}


def ln_torch_var(x, w, b, eps):
    """Variância enviesada do torch e F.layer_norm para a saída."""
    var = x.var(-1, unbiased=False, keepdim=True)
    scale = torch.sqrt(var + eps)
    return {"hook_scale": scale, "hook_normalized": (x - x.mean(-1, keepdim=True)) / scale,
            "out": F.layer_norm(x, (x.shape[-1],), w, b, eps)}


# ---------------------------------------------------------------- 04.embed
def embed_one_hot(tokens, W_E, W_pos):
    e = F.one_hot(tokens, W_E.shape[0]).to(W_E.dtype) @ W_E
    p = W_pos[torch.arange(tokens.shape[1])][None].repeat(tokens.shape[0], 1, 1)
    return {"hook_embed": e, "hook_pos_embed": p, "resid": e + p}


def embed_index_select(tokens, W_E, W_pos):
    e = W_E.index_select(0, tokens.flatten()).reshape(*tokens.shape, -1)
    p = W_pos.narrow(0, 0, tokens.shape[1]).expand_as(e)
    return {"hook_embed": e, "hook_pos_embed": p, "resid": e + p}


# ---------------------------------------------------------------- 04.attention
def attention_loops(x, params):
    """Cabeça por cabeça, com @ e máscara por torch.where."""
    n_heads = params["W_Q"].shape[0]
    n = x.shape[1]
    keep = torch.ones(n, n, dtype=torch.bool).tril()
    qs, ks, vs, ss, ps, zs = [], [], [], [], [], []
    for h in range(n_heads):
        q = x @ params["W_Q"][h] + params["b_Q"][h]
        k = x @ params["W_K"][h] + params["b_K"][h]
        v = x @ params["W_V"][h] + params["b_V"][h]
        s = torch.where(keep, q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), float("-inf"))
        p = torch.softmax(s, dim=-1)
        qs.append(q), ks.append(k), vs.append(v), ss.append(s), ps.append(p), zs.append(p @ v)
    z = torch.stack(zs, 2)
    out = sum(z[:, :, h] @ params["W_O"][h] for h in range(n_heads)) + params["b_O"]
    return {"hook_q": torch.stack(qs, 2), "hook_k": torch.stack(ks, 2), "hook_v": torch.stack(vs, 2),
            "hook_attn_scores": torch.stack(ss, 1), "hook_pattern": torch.stack(ps, 1), "hook_z": z, "hook_attn_out": out}


def attention_float64(x, params):
    p = {k: v.double() for k, v in params.items()}
    xd = x.double()
    q = torch.einsum("bpd,hde->bphe", xd, p["W_Q"]) + p["b_Q"]
    k = torch.einsum("bpd,hde->bphe", xd, p["W_K"]) + p["b_K"]
    v = torch.einsum("bpd,hde->bphe", xd, p["W_V"]) + p["b_V"]
    n = x.shape[1]
    bias = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    scores = q.permute(0, 2, 1, 3) @ k.permute(0, 2, 3, 1) / q.shape[-1] ** 0.5 + bias
    pattern = (scores - scores.amax(-1, keepdim=True)).exp()
    pattern = pattern / pattern.sum(-1, keepdim=True)
    z = (pattern @ v.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
    out = z.flatten(2) @ p["W_O"].flatten(0, 1) + p["b_O"]
    return {name: t.float() for name, t in dict(hook_q=q, hook_k=k, hook_v=v, hook_attn_scores=scores, hook_pattern=pattern,
                                                 hook_z=z, hook_attn_out=out).items()}


# ---------------------------------------------------------------- 04.mlp
def _act(name):
    return {"gelu": lambda t: t * 0.5 * (1 + torch.erf(t / math.sqrt(2))),
            "gelu_new": lambda t: F.gelu(t, approximate="tanh"), "relu": lambda t: t.clamp(min=0)}[name]


def mlp_float64(x, params, act_fn):
    pre = x.double() @ params["W_in"].double() + params["b_in"].double()
    post = _act(act_fn)(pre)
    out = post @ params["W_out"].double() + params["b_out"].double()
    return {"hook_pre": pre.float(), "hook_post": post.float(), "hook_mlp_out": out.float()}


def mlp_linear(x, params, act_fn):
    pre = F.linear(x, params["W_in"].T, params["b_in"])
    post = {"gelu": F.gelu, "gelu_new": lambda t: F.gelu(t, approximate="tanh"), "relu": F.relu}[act_fn](pre)
    return {"hook_pre": pre, "hook_post": post, "hook_mlp_out": F.linear(post, params["W_out"].T, params["b_out"])}


# ---------------------------------------------------------------- 04.transformer_block
def _sub(params, prefix):
    return {k.split(".", 1)[1]: v for k, v in params.items() if k.split(".", 1)[0] == prefix}


def block_float64(resid_pre, params, eps, act_fn):
    ln1, ln2 = _sub(params, "ln1"), _sub(params, "ln2")
    attn_out = attention_float64(ln_float64(resid_pre, ln1["w"], ln1["b"], eps)["out"], _sub(params, "attn"))["hook_attn_out"]
    resid_mid = resid_pre + attn_out
    mlp_out = mlp_float64(ln_float64(resid_mid, ln2["w"], ln2["b"], eps)["out"], _sub(params, "mlp"), act_fn)["hook_mlp_out"]
    return {"hook_attn_out": attn_out, "hook_resid_mid": resid_mid, "hook_mlp_out": mlp_out,
            "hook_resid_post": resid_mid + mlp_out}


def block_sdpa(resid_pre, params, eps, act_fn):
    """Atenção com F.scaled_dot_product_attention e LN com F.layer_norm."""
    d = resid_pre.shape[-1]
    a = _sub(params, "attn")
    x = F.layer_norm(resid_pre, (d,), params["ln1.w"], params["ln1.b"], eps)
    q, k, v = (torch.einsum("bpd,hde->bhpe", x, a[f"W_{n}"]) + a[f"b_{n}"][:, None] for n in "QKV")
    z = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [b, h, p, e]
    attn_out = torch.einsum("bhpe,hed->bpd", z, a["W_O"]) + a["b_O"]
    resid_mid = resid_pre + attn_out
    mlp_out = mlp_linear(F.layer_norm(resid_mid, (d,), params["ln2.w"], params["ln2.b"], eps), _sub(params, "mlp"),
                         act_fn)["hook_mlp_out"]
    return {"hook_attn_out": attn_out, "hook_resid_mid": resid_mid, "hook_mlp_out": mlp_out,
            "hook_resid_post": resid_mid + mlp_out}


# ---------------------------------------------------------------- 04.model_forward
def _model(tokens, params, cfg, block, ln, emb):
    e = emb(tokens, params["embed.W_E"], params["pos_embed.W_pos"])
    out = {"hook_embed": e["hook_embed"], "hook_pos_embed": e["hook_pos_embed"]}
    resid = e["resid"]
    for layer in range(cfg["n_layers"]):
        prefix = f"blocks.{layer}."
        resid = block(resid, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)},
                      cfg["eps"], cfg["act_fn"])["hook_resid_post"]
        out[prefix + "hook_resid_post"] = resid
    final = ln(resid, params["ln_final.w"], params["ln_final.b"], cfg["eps"])
    out["ln_final.hook_normalized"] = final["hook_normalized"]
    out["logits"] = final["out"] @ params["unembed.W_U"] + params["unembed.b_U"]
    return out


def model_float64(tokens, params, cfg):
    return _model(tokens, params, cfg, block_float64, ln_float64, embed_one_hot)


def model_sdpa(tokens, params, cfg):
    return _model(tokens, params, cfg, block_sdpa, ln_torch_var, embed_index_select)


# ---------------------------------------------------------------- 04.next_token_loss
def loss_cross_entropy(logits, tokens):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())


def loss_float64(logits, tokens):
    lp = logits.double()[:, :-1]
    lp = lp - lp.logsumexp(-1, keepdim=True)
    picked = torch.stack([lp[b, p, tokens[b, p + 1]] for b in range(lp.shape[0]) for p in range(lp.shape[1])])
    return (-picked.mean()).float()


# ---------------------------------------------------------------- 04.train_model
def _train(cfg, data, n_steps, batch_size, lr, seed, loss_fn, opt_cls):
    from course_lib import Config, HookedTransformer

    model = HookedTransformer(Config(**cfg))
    opt = opt_cls(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 12345)
    losses = []
    for _ in range(n_steps):
        idx = torch.randperm(len(data), generator=gen)[:batch_size]
        batch = data[idx]
        loss = loss_fn(model(batch), batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return model, losses


def train_adam(cfg, data, n_steps, batch_size, lr, seed, progress=True):
    """Adam (sem weight decay), perda com F.cross_entropy, lotes sem repetição."""
    return _train(cfg, data, n_steps, batch_size, lr, seed, loss_cross_entropy, torch.optim.Adam)


def train_builtin_loss(cfg, data, n_steps, batch_size, lr, seed, progress=True):
    """A perda do próprio modelo (return_type='loss') e uma barra do tqdm desligável."""
    from tqdm.auto import tqdm

    from course_lib import Config, HookedTransformer

    model = HookedTransformer(Config(**cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(n_steps), disable=not progress):
        batch = data[torch.randint(len(data), (batch_size,), generator=gen)]
        opt.zero_grad()
        loss = model(batch, return_type="loss")
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


# ---------------------------------------------------------------- 04.find_bos_head
def _ln1_input(model, tokens, layer):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        return model.blocks[layer].ln1(cache["resid_pre", layer])


def bos_head_attention_fn(model, tokens, layer):
    """Com uma `attention` independente (a em laços) sobre a entrada da LN1."""
    with torch.no_grad():
        params = {k: v.detach() for k, v in model.blocks[layer].attn.state_dict().items()}
        pattern = attention_loops(_ln1_input(model, tokens, layer), params)["hook_pattern"]
    return int(pattern[:, :, 1:, 0].mean((0, 2)).argmax())


def bos_head_cache(model, tokens, layer):
    """Direto do cache do modelo, somando em float64."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    per_head = cache[f"blocks.{layer}.attn.hook_pattern"].double()[..., 1:, 0].sum((0, 2))
    return max(range(per_head.shape[0]), key=lambda h: float(per_head[h]))


# ---------------------------------------------------------------- 04.entropy_gap
def gap_float64(model, tokens):
    params = {k: v.detach() for k, v in model.state_dict().items()}
    cfg = {"n_layers": model.cfg.n_layers, "eps": model.cfg.eps, "act_fn": model.cfg.act_fn}
    with torch.no_grad():
        logits = model_float64(tokens, params, cfg)["logits"]
    return float(loss_float64(logits, tokens)) - GRAMMAR.optimal_loss(tokens)


def gap_per_token(model, tokens):
    with torch.no_grad():
        per_token = model(tokens, return_type="loss", loss_per_token=True)
    best = GRAMMAR.optimal_loss_per_token(tokens)
    return float((per_token.double() - best).mean())


ALTERNATIVES = {
    "04.layer_norm": [ln_float64, ln_torch_var],
    "04.embed": [embed_one_hot, embed_index_select],
    "04.attention": [attention_loops, attention_float64],
    "04.mlp": [mlp_float64, mlp_linear],
    "04.transformer_block": [block_float64, block_sdpa],
    "04.model_forward": [model_float64, model_sdpa],
    "04.next_token_loss": [loss_cross_entropy, loss_float64],
    "04.train_model": [train_adam, train_builtin_loss],
    "04.find_bos_head": [bos_head_attention_fn, bos_head_cache],
    "04.entropy_gap": [gap_float64, gap_per_token],
}
