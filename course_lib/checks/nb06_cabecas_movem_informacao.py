"""Verificações do notebook 06_cabecas_movem_informacao (decomposição da atenção, movimento, ablação)."""

import torch

from course_lib.checks import Case, Exercise, ModelRef, register, resolve_model
from course_lib.model import lm_cross_entropy_loss

# As peças da atenção (pontuações, máscara, padrão, saída e uma cabeça inteira) são escritas
# e verificadas no notebook 04 (04.attention); aqui só fica o que os casos abaixo usam.
def apply_causal_mask(scores: torch.Tensor) -> torch.Tensor:
    n = scores.shape[-1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), diagonal=1)
    return scores.masked_fill(future, float("-inf"))


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
