"""Verificações do notebook 06_cabecas_movem_informacao (uma cabeça de atenção do zero, decomposição, movimento, ablação)."""

import math

import torch

from course_lib.checks import Case, Exercise, ModelRef, register, resolve_model
from course_lib.model import lm_cross_entropy_loss

ATTN_AXES = ("batch", "head", "query_pos", "key_pos")


# ============================================================================ 06.attention_scores
def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])


def _scores_no_scale(q, k):
    return torch.einsum("bqhe,bkhe->bhqk", q, k)


def _scores_div_d_head(q, k):
    return torch.einsum("bqhe,bkhe->bhqk", q, k) / q.shape[-1]


def _scores_transposed(q, k):
    return attention_scores(q, k).transpose(-1, -2)


def _scores_q_with_q(q, k):
    return torch.einsum("bqhe,bkhe->bhqk", q, q) / math.sqrt(q.shape[-1])


def _qk(gen, b, p, h, e, scale=1.0):
    return torch.randn(b, p, h, e, generator=gen) * scale, torch.randn(b, p, h, e, generator=gen) * scale


def _scores_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case(_qk(gen, 2, 5, 3, 16), description="q, k [batch=2, pos=5, head=3, d_head=16]"),
        Case(_qk(gen, 1, 7, 4, 4), description="lote de 1, d_head=4"),
        Case(_qk(gen, 3, 1, 2, 8), description="uma única posição"),
        Case(_qk(gen, 2, 4, 1, 64, scale=100.0), description="valores grandes (×100), uma cabeça, d_head=64"),
    ]


register(
    Exercise(
        id="06.attention_scores",
        func_name="attention_scores",
        reference=attention_scores,
        make_cases=_scores_cases,
        points=1,
        output_names=ATTN_AXES,
        known_mistakes=[
            ("faltou dividir por √d_head", _scores_no_scale),
            ("dividiu por d_head em vez de √d_head", _scores_div_d_head),
            ("matriz transposta: devolveu [batch, head, key_pos, query_pos] (k·q em vez de q·k)", _scores_transposed),
            ("usou q nos dois lados (q·q em vez de q·k)", _scores_q_with_q),
        ],
    )
)


# ============================================================================ 06.apply_causal_mask
def apply_causal_mask(scores: torch.Tensor) -> torch.Tensor:
    n = scores.shape[-1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), diagonal=1)
    return scores.masked_fill(future, float("-inf"))


def _mask_with_diagonal(scores):
    n = scores.shape[-1]
    return scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=0), float("-inf"))


def _mask_past(scores):
    n = scores.shape[-1]
    return scores.masked_fill(torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=-1), float("-inf"))


def _mask_with_zero(scores):
    n = scores.shape[-1]
    return scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), 0.0)


def _mask_finite(scores):
    n = scores.shape[-1]
    return scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), -1e9)


def _mask_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 3, 5, 5, generator=gen),), description="pontuações [batch=2, head=3, 5, 5]"),
        Case((torch.randn(1, 1, 1, 1, generator=gen),), description="uma única posição [1, 1, 1, 1]"),
        Case((torch.randn(1, 2, 8, 8, generator=gen) * 1e4,), description="pontuações enormes (1e4), lote de 1"),
        Case((torch.randn(4, 4, generator=gen),), description="uma matriz só [4, 4] (sem batch nem head)"),
    ]


register(
    Exercise(
        id="06.apply_causal_mask",
        func_name="apply_causal_mask",
        reference=apply_causal_mask,
        make_cases=_mask_cases,
        points=1,
        forbid_inplace=True,  # o enunciado pede um tensor novo
        known_mistakes=[
            ("mascarou também a diagonal (diagonal=0): o token não pode olhar para si mesmo", _mask_with_diagonal),
            ("mascarou o passado em vez do futuro (triângulo de baixo)", _mask_past),
            ("preencheu o futuro com 0 em vez de −inf, como faz scores.tril() (exp(0) = 1 ainda recebe atenção)",
             _mask_with_zero),
            ("usou um número finito (−1e9) em vez de −inf", _mask_finite),
        ],
    )
)


# ============================================================================ 06.attention_pattern
def attention_pattern(scores: torch.Tensor) -> torch.Tensor:
    return apply_causal_mask(scores).softmax(dim=-1)


def _pattern_mask_after_softmax(scores):
    n = scores.shape[-1]
    return scores.softmax(dim=-1).masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), 0.0)


def _pattern_no_mask(scores):
    return scores.softmax(dim=-1)


def _pattern_wrong_axis(scores):
    return apply_causal_mask(scores).softmax(dim=-2).nan_to_num(0.0)


def _pattern_zero_mask(scores):
    return _mask_with_zero(scores).softmax(dim=-1)


def _pattern_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 3, 6, 6, generator=gen),), description="pontuações [batch=2, head=3, 6, 6]"),
        Case((torch.randn(1, 4, 5, 5, generator=gen) * 1e4,), description="pontuações enormes (1e4)"),
        Case((torch.randn(3, 2, 1, 1, generator=gen),), description="uma única posição"),
        Case((torch.zeros(1, 1, 4, 4),), description="pontuações todas iguais (zero)"),
    ]


register(
    Exercise(
        id="06.attention_pattern",
        func_name="attention_pattern",
        reference=attention_pattern,
        make_cases=_pattern_cases,
        points=2,
        output_names=ATTN_AXES,
        known_mistakes=[
            ("máscara aplicada DEPOIS do softmax: as linhas não somam mais 1", _pattern_mask_after_softmax),
            ("esqueceu a máscara causal: a atenção vê o futuro", _pattern_no_mask),
            ("softmax no eixo das consultas (dim=-2) em vez do das chaves (dim=-1)", _pattern_wrong_axis),
            ("máscara com 0 em vez de −inf antes do softmax", _pattern_zero_mask),
        ],
    )
)


# ============================================================================ 06.attn_out_from_z
def attn_out_from_z(z: torch.Tensor, W_O: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bphe,hed->bpd", z, W_O) + b_O


def _out_no_bias(z, W_O, b_O):
    return torch.einsum("bphe,hed->bpd", z, W_O)


def _out_bias_per_head(z, W_O, b_O):
    return torch.einsum("bphe,hed->bpd", z, W_O) + W_O.shape[0] * b_O


def _out_mean_heads(z, W_O, b_O):
    return torch.einsum("bphe,hed->bpd", z, W_O) / W_O.shape[0] + b_O


def _zWb(gen, b, p, h, e, d):
    return (torch.randn(b, p, h, e, generator=gen), torch.randn(h, e, d, generator=gen) * 0.3,
            torch.randn(d, generator=gen))


def _out_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case(_zWb(gen, 2, 5, 4, 16, 64), description="z [2, 5, head=4, d_head=16], d_model=64"),
        Case(_zWb(gen, 1, 3, 2, 8, 12), description="lote de 1, 2 cabeças"),
        Case(_zWb(gen, 2, 1, 3, 4, 10), description="uma única posição"),
        Case(_zWb(gen, 1, 4, 1, 5, 7), description="uma única cabeça"),
    ]


register(
    Exercise(
        id="06.attn_out_from_z",
        func_name="attn_out_from_z",
        reference=attn_out_from_z,
        make_cases=_out_cases,
        points=1,
        output_names=("batch", "pos", "d_model"),
        known_mistakes=[
            ("esqueceu o viés b_O", _out_no_bias),
            ("somou b_O uma vez por cabeça (b_O é um só por camada)", _out_bias_per_head),
            ("tirou a média das cabeças em vez de somar", _out_mean_heads),
        ],
    )
)


# ============================================================================ 06.single_head_forward
def single_head_forward(model, resid_pre: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    block = model.blocks[layer]
    attn = block.attn
    x = block.ln1(resid_pre)
    q = x @ attn.W_Q[head] + attn.b_Q[head]
    k = x @ attn.W_K[head] + attn.b_K[head]
    v = x @ attn.W_V[head] + attn.b_V[head]
    scores = q @ k.transpose(-1, -2) / math.sqrt(attn.W_Q.shape[-1])
    pattern = apply_causal_mask(scores).softmax(dim=-1)
    return (pattern @ v) @ attn.W_O[head]


def _head_variant(model, resid_pre, layer, head, ln=True, biases=True, scale=True, mask=True, b_O=False, b_V=True):
    block = model.blocks[layer]
    attn = block.attn
    x = block.ln1(resid_pre) if ln else resid_pre
    q = x @ attn.W_Q[head] + (attn.b_Q[head] if biases else 0)
    k = x @ attn.W_K[head] + (attn.b_K[head] if biases else 0)
    v = x @ attn.W_V[head] + (attn.b_V[head] if biases and b_V else 0)
    scores = q @ k.transpose(-1, -2)
    if scale:
        scores = scores / math.sqrt(attn.W_Q.shape[-1])
    if mask:
        scores = apply_causal_mask(scores)
    out = (scores.softmax(dim=-1) @ v) @ attn.W_O[head]
    return out + attn.b_O if b_O else out


def _resid(gen, b, p, d=64):
    return torch.randn(b, p, d, generator=gen) * 2.0 + torch.randn(d, generator=gen)


def _single_head_cases(gen: torch.Generator) -> list[Case]:
    lm, ind = ModelRef("lm"), ModelRef("induction")
    return [
        Case((lm, _resid(gen, 2, 6), 0, 2), description="modelo lm (com LayerNorm), camada 0, cabeça 2"),
        Case((lm, _resid(gen, 1, 9), 2, 1), description="modelo lm, camada 2, cabeça 1, lote de 1"),
        Case((ind, _resid(gen, 2, 7), 1, 3), description="modelo induction (sem LayerNorm), camada 1, cabeça 3"),
        Case((lm, _resid(gen, 3, 1), 1, 0), description="uma única posição"),
    ]


register(
    Exercise(
        id="06.single_head_forward",
        func_name="single_head_forward",
        reference=single_head_forward,
        make_cases=_single_head_cases,
        points=3,
        output_names=("batch", "pos", "d_model"),
        atol=1e-4,
        known_mistakes=[
            ("esqueceu a LayerNorm de entrada (ln1)", lambda m, r, l, h: _head_variant(m, r, l, h, ln=False)),
            ("esqueceu os vieses b_Q, b_K, b_V", lambda m, r, l, h: _head_variant(m, r, l, h, biases=False)),
            ("esqueceu só o viés b_V: ele passa pelo padrão e por W_O e também é escrito no fluxo",
             lambda m, r, l, h: _head_variant(m, r, l, h, b_V=False)),
            ("faltou dividir por √d_head", lambda m, r, l, h: _head_variant(m, r, l, h, scale=False)),
            ("esqueceu a máscara causal", lambda m, r, l, h: _head_variant(m, r, l, h, mask=False)),
            ("somou b_O (ele não pertence a nenhuma cabeça)", lambda m, r, l, h: _head_variant(m, r, l, h, b_O=True)),
        ],
    )
)


# ============================================================================ 06.decompose_attn_out
def decompose_attn_out(z: torch.Tensor, W_O: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    heads = torch.einsum("bphe,hed->hbpd", z, W_O)
    bias = b_O.expand_as(heads[0])[None]
    return torch.cat([heads, bias])


def _dec_bias_split(z, W_O, b_O):
    heads = torch.einsum("bphe,hed->hbpd", z, W_O) + b_O / W_O.shape[0]
    return torch.cat([heads, torch.zeros_like(heads[:1])])


def _dec_bias_in_each(z, W_O, b_O):
    heads = torch.einsum("bphe,hed->hbpd", z, W_O) + b_O
    return torch.cat([heads, torch.zeros_like(heads[:1])])


def _dec_no_bias(z, W_O, b_O):
    heads = torch.einsum("bphe,hed->hbpd", z, W_O)
    return torch.cat([heads, torch.zeros_like(heads[:1])])


def _dec_bias_first(z, W_O, b_O):
    heads = torch.einsum("bphe,hed->hbpd", z, W_O)
    return torch.cat([b_O.expand_as(heads[0])[None], heads])


register(
    Exercise(
        id="06.decompose_attn_out",
        func_name="decompose_attn_out",
        reference=decompose_attn_out,
        make_cases=_out_cases,
        points=2,
        output_names=("termo", "batch", "pos", "d_model"),
        known_mistakes=[
            ("dividiu b_O entre as cabeças: a soma fecha, mas os termos das cabeças ficam errados", _dec_bias_split),
            ("somou b_O ao termo de cada cabeça", _dec_bias_in_each),
            ("o último termo (b_O) ficou zerado", _dec_no_bias),
            ("pôs o termo de b_O primeiro; ele deve ser o último", _dec_bias_first),
        ],
    )
)


# ============================================================================ 06.info_moved
def info_moved(pattern: torch.Tensor, v: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    written = (v @ W_O).norm(dim=-1)  # [batch, k]
    return pattern * written[:, None, :]


def _info_only_pattern(pattern, v, W_O):
    return pattern.clone()


def _info_no_W_O(pattern, v, W_O):
    return pattern * v.norm(dim=-1)[:, None, :]


def _info_broadcast_query(pattern, v, W_O):
    return pattern * (v @ W_O).norm(dim=-1)[:, :, None]


def _info_norm_of_sum(pattern, v, W_O):
    # tamanho da saída inteira na consulta, repetido para todas as origens
    out = (pattern @ (v @ W_O)).norm(dim=-1)  # [batch, q]
    return out[:, :, None].expand_as(pattern).clone()


def _info_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for b, p, e, d, desc in ((2, 6, 16, 64, "pattern [2, 6, 6], d_head=16, d_model=64"),
                             (1, 4, 4, 10, "lote de 1"),
                             (3, 1, 8, 12, "uma única posição")):
        pattern = apply_causal_mask(torch.randn(b, p, p, generator=gen) * 2).softmax(-1)
        v = torch.randn(b, p, e, generator=gen) * torch.rand(b, p, 1, generator=gen) * 3
        cases.append(Case((pattern, v, torch.randn(e, d, generator=gen) * 0.3), description=desc))
    return cases


register(
    Exercise(
        id="06.info_moved",
        func_name="info_moved",
        reference=info_moved,
        make_cases=_info_cases,
        points=2,
        output_names=("batch", "query_pos", "key_pos"),
        known_mistakes=[
            ("devolveu só o padrão de atenção (falta o tamanho ‖v W_O‖ do que cada origem oferece)", _info_only_pattern),
            ("usou ‖v‖ sem passar por W_O", _info_no_W_O),
            ("multiplicou pelo tamanho da CONSULTA (eixo q) em vez do da origem (eixo k)", _info_broadcast_query),
            ("usou o tamanho da saída inteira da cabeça, e não o de cada parcela", _info_norm_of_sum),
        ],
    )
)


# ============================================================================ 06.zero_ablation_loss_delta
def zero_ablation_loss_delta(model, tokens: torch.Tensor, layer: int, head: int) -> float:
    def zero_head(z, hook):
        z = z.clone()
        z[:, :, head] = 0.0
        return z

    with torch.no_grad():
        clean = model(tokens, return_type="loss")
        ablated = model.run_with_hooks(tokens, return_type="loss",
                                       fwd_hooks=[(f"blocks.{layer}.attn.hook_z", zero_head)])
    return (ablated - clean).item()


def _abl_sign(model, tokens, layer, head):
    return -zero_ablation_loss_delta(model, tokens, layer, head)


def _abl_whole_layer(model, tokens, layer, head):
    with torch.no_grad():
        clean = model(tokens, return_type="loss")
        ablated = model.run_with_hooks(tokens, return_type="loss",
                                       fwd_hooks=[(f"blocks.{layer}.hook_attn_out", lambda a, hook: torch.zeros_like(a))])
    return (ablated - clean).item()


def _abl_zero_q(model, tokens, layer, head):
    def zero_q(q, hook):
        q = q.clone()
        q[:, :, head] = 0.0
        return q

    with torch.no_grad():
        clean = model(tokens, return_type="loss")
        ablated = model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(f"blocks.{layer}.attn.hook_q", zero_q)])
    return (ablated - clean).item()


def _abl_mean(model, tokens, layer, head):
    from course_lib import ablation

    with torch.no_grad():
        clean = model(tokens, return_type="loss")
        ablated = lm_cross_entropy_loss(ablation.ablate_heads(model, tokens, [(layer, head)], mode="mean"), tokens)
    return (ablated - clean).item()


def _abl_ablated_loss(model, tokens, layer, head):
    with torch.no_grad():
        clean = lm_cross_entropy_loss(model(tokens), tokens).item()
    return zero_ablation_loss_delta(model, tokens, layer, head) + clean


_SENTENCES = [
    "os gatos que o menino viu dormem. a menina bonita lê o livro.",
    "o menino que as meninas viram dorme sozinho. as gatas correm.",
    "a professora que leu os livros sorri. o rei come o bolo hoje.",
    "uma aluna canta. os cachorros pretos dormem no jardim agora.",
]


def _lm_tokens(gen, n):
    tok = resolve_model("lm").tokenizer
    rows = [tok.to_tokens(_SENTENCES[int(i)])[0, :12] for i in torch.randint(0, len(_SENTENCES), (n,), generator=gen)]
    return torch.stack(rows)


def _ablation_cases(gen: torch.Generator) -> list[Case]:
    from course_lib.data import repeated_tokens

    lm, ind = ModelRef("lm"), ModelRef("induction")
    return [
        Case((lm, _lm_tokens(gen, 3), 0, 2), description="modelo lm, 3 frases, cabeça L0H2"),
        Case((lm, _lm_tokens(gen, 1), 2, 3), description="modelo lm, lote de 1, cabeça L2H3"),
        Case((ind, repeated_tokens(4, 8, 64, generator=gen), 1, int(torch.randint(0, 4, (1,), generator=gen))),
             description="modelo induction, sequências repetidas, uma cabeça da camada 1"),
    ]


register(
    Exercise(
        id="06.zero_ablation_loss_delta",
        func_name="zero_ablation_loss_delta",
        reference=zero_ablation_loss_delta,
        make_cases=_ablation_cases,
        points=2,
        atol=1e-4,
        known_mistakes=[
            ("sinal invertido: devolva perda(sem a cabeça) − perda(normal)", _abl_sign),
            ("zerou a camada de atenção inteira (hook_attn_out), não só uma cabeça", _abl_whole_layer),
            ("zerou q da cabeça: isso deixa a atenção uniforme, mas a cabeça continua escrevendo", _abl_zero_q),
            ("devolveu a perda com a cabeça desligada, não a diferença", _abl_ablated_loss),
            ("trocou z pela MÉDIA (ablação pela média); o enunciado pede ablação por zero", _abl_mean),
        ],
    )
)


# ============================================================================ investigações
# Margem de "qualquer resposta certa": cabeças a menos de 10% da maior medida são aceitas
# (empates práticos; outra implementação pode inverter duas cabeças quase iguais).
RELATIVE_MARGIN = 0.10


def _head_table_compare(what: str, advice: str):
    def compare(expected, got) -> str | None:
        if type(expected) is tuple:  # saída de um erro conhecido
            return None if tuple(got) == expected else f"cabeça {got}, não {expected}"
        if type(got) not in (tuple, list) or len(got) != 2 or not all(type(x) is int for x in got):
            return f"saída: esperado uma tupla de dois ints (camada, cabeça), obtido {got!r}"
        table = expected["tabela"]
        layer, head = got
        if not (0 <= layer < table.shape[0] and 0 <= head < table.shape[1]):
            return f"saída: a cabeça {layer}.{head} não existe; o modelo tem {table.shape[0]} camadas de {table.shape[1]} cabeças"
        best = float(table.max())
        if float(table[layer, head]) >= best - RELATIVE_MARGIN * abs(best):
            return None
        return (f"a cabeça {layer}.{head} tem {what} {float(table[layer, head]):.3f}; há cabeças acima de "
                f"{best - RELATIVE_MARGIN * abs(best):.3f}. {advice}")
    return compare


def _info_table(model, tokens, position):
    return _memo("info", model, tokens, position, lambda: _info_table_uncached(model, tokens, position))


def _info_table_uncached(model, tokens, position):
    _, cache = model.run_with_cache(tokens)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    table = torch.zeros(n_layers, n_heads)
    pos = tokens.shape[1]
    others = torch.arange(pos) != position % pos
    for l in range(n_layers):
        for h in range(n_heads):
            row = info_moved(cache["pattern", l][:, h], cache["v", l][:, :, h], model.blocks[l].attn.W_O[h].detach())
            table[l, h] = row[:, position][:, others].sum(-1).mean()
    return table


def _best(table) -> tuple:
    l, h = divmod(int(table.argmax()), table.shape[1])
    return (l, h)


def find_info_mover(model, tokens, position):
    return _best(_info_table(model, tokens, position))


def _info_reference(model, tokens, position):
    return {"tabela": _info_table(model, tokens, position)}


def _mover_with_self(model, tokens, position):
    _, cache = model.run_with_cache(tokens)
    table = torch.stack([torch.stack([
        info_moved(cache["pattern", l][:, h], cache["v", l][:, :, h], model.blocks[l].attn.W_O[h].detach())[:, position].sum(-1).mean()
        for h in range(model.cfg.n_heads)]) for l in range(model.cfg.n_layers)])
    return _best(table)


def _mover_by_attention(model, tokens, position):
    _, cache = model.run_with_cache(tokens)
    pos = tokens.shape[1]
    others = torch.arange(pos) != position % pos
    table = torch.stack([cache["pattern", l][:, :, position][:, :, others].sum(-1).mean(0) for l in range(model.cfg.n_layers)])
    return _best(table)


def _mover_as_source(model, tokens, position):
    _, cache = model.run_with_cache(tokens)
    pos = tokens.shape[1]
    others = torch.arange(pos) != position % pos
    table = torch.stack([torch.stack([
        info_moved(cache["pattern", l][:, h], cache["v", l][:, :, h], model.blocks[l].attn.W_O[h].detach())[:, others][:, :, position].sum(-1).mean()
        for h in range(model.cfg.n_heads)]) for l in range(model.cfg.n_layers)])
    return _best(table)


_AGREEMENT_PROMPTS = [
    "os gatos que o menino viu", "a menina que os gatos amam", "o rei que as rainhas veem",
    "as alunas que o professor procurou", "os leões que a girafa encontrou", "o pato que as patas amam",
    "as vizinhas que o homem viu", "o irmão que as meninas procuram",
]


def _agreement_tokens(gen, n=6):
    tok = resolve_model("lm").tokenizer
    idx = torch.randperm(len(_AGREEMENT_PROMPTS), generator=gen)[:n]
    return torch.stack([tok.to_tokens(_AGREEMENT_PROMPTS[int(i)])[0] for i in idx])


def _mover_cases(gen: torch.Generator) -> list[Case]:
    from course_lib.data import repeated_tokens

    return [
        Case((ModelRef("lm"), _agreement_tokens(gen), -1), description="modelo lm, frases de concordância, posição do verbo (-1)"),
        Case((ModelRef("lm_untied"), _agreement_tokens(gen), 4), description="modelo lm_untied, posição 4 (o artigo da oração relativa)"),
        Case((ModelRef("induction"), repeated_tokens(4, 10, 64, generator=gen), 15),
             description="modelo induction, sequências repetidas, posição 15 (2ª cópia)"),
    ]


def _mover_hidden(gen: torch.Generator) -> list[Case]:
    from course_lib.data import repeated_tokens

    name = ("lm", "lm_tied", "lm_untied")[int(torch.randint(0, 3, (1,), generator=gen))]
    return [
        Case((ModelRef(name), _agreement_tokens(gen), -1), description=f"modelo {name}, frases de concordância, posição -1"),
        Case((ModelRef("lm"), _lm_tokens(gen, 4), int(torch.randint(2, 12, (1,), generator=gen))),
             description="modelo lm, frases, outra posição"),
        Case((ModelRef("induction"), repeated_tokens(4, 12, 64, generator=gen), int(torch.randint(14, 25, (1,), generator=gen))),
             description="modelo induction, 2ª cópia"),
    ]


register(
    Exercise(
        id="06.find_info_mover",
        func_name="find_info_mover",
        reference=_info_reference,
        make_cases=_mover_cases,
        make_hidden_cases=_mover_hidden,
        points=2,
        compare=_head_table_compare(
            "Σ_{k≠destino} info[destino, k] de",
            "Para CADA cabeça, tome a linha da posição de destino na sua info_moved (todas as origens menos o próprio "
            "destino), some, tire a média do lote e fique com a maior"),
        known_mistakes=[
            ("mediu só a atenção (o padrão), sem o tamanho ‖v W_O‖ do que cada origem oferece", _mover_by_attention),
            ("usou a COLUNA do destino (o que ele manda para os outros) em vez da linha", _mover_as_source),
        ],
    )
)


_MEMO: dict = {}


def _memo(kind, model, tokens, extra, compute):
    """Guarda a tabela por (modelo, tokens): o gabarito e os erros conhecidos rodam no mesmo caso várias vezes."""
    key = (kind, id(model), tuple(tokens.shape), hash(tuple(tokens.flatten().tolist())), extra)
    if key not in _MEMO:
        if len(_MEMO) > 32:
            _MEMO.clear()
        _MEMO[key] = compute()
    return _MEMO[key].clone()


def _loss_table(model, tokens):
    return _memo("perda", model, tokens, None, lambda: _loss_table_uncached(model, tokens))


def _loss_table_uncached(model, tokens):
    return torch.tensor([[zero_ablation_loss_delta(model, tokens, l, h) for h in range(model.cfg.n_heads)]
                         for l in range(model.cfg.n_layers)])


def find_most_harmful_head(model, tokens):
    return _best(_loss_table(model, tokens))


def _harm_reference(model, tokens):
    return {"tabela": _loss_table(model, tokens)}


def _harm_least(model, tokens):
    table = _loss_table(model, tokens)
    l, h = divmod(int(table.argmin()), table.shape[1])
    return (l, h)


def _harm_largest_output(model, tokens):
    _, cache = model.run_with_cache(tokens)
    table = torch.stack([(torch.einsum("bphe,hed->bphd", cache["z", l], model.blocks[l].attn.W_O.detach())
                          .norm(dim=-1).mean((0, 1))) for l in range(model.cfg.n_layers)])
    return _best(table)


def _harm_mean_ablation(model, tokens):
    from course_lib import ablation

    return _best(ablation.head_ablation_table(model, tokens, mode="mean"))


def _harm_cases(gen: torch.Generator) -> list[Case]:
    from course_lib.data import repeated_tokens

    return [
        Case((ModelRef("lm"), _lm_tokens(gen, 4)), description="modelo lm, 4 frases"),
        Case((ModelRef("induction"), repeated_tokens(4, 10, 64, generator=gen)), description="modelo induction, sequências repetidas"),
        Case((ModelRef("lm_untied"), _lm_tokens(gen, 4)), description="modelo lm_untied (outro checkpoint), 4 frases"),
    ]


register(
    Exercise(
        id="06.find_most_harmful_head",
        func_name="find_most_harmful_head",
        reference=_harm_reference,
        make_cases=_harm_cases,
        points=2,
        compare=_head_table_compare(
            "aumento da perda", "Desligue CADA cabeça (uma de cada vez) com a sua zero_ablation_loss_delta e fique com o "
            "maior aumento"),
        known_mistakes=[
            ("pegou a cabeça que MENOS faz falta (min em vez de max)", _harm_least),
            ("escolheu a cabeça que escreve o vetor maior: tamanho não é importância", _harm_largest_output),
        ],
    )
)
