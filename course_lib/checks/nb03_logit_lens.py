"""Verificações do notebook 03_logit_lens (a lente de logits)."""

from __future__ import annotations

import torch

from course_lib.checks import Case, Exercise, ModelRef, register


# ---------------------------------------------------------------------------
# 03.apply_final_ln
# ---------------------------------------------------------------------------
def _layer_norm(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=-1, keepdim=True)
    scale = (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()
    return x / scale * w + b


def apply_final_ln(resid: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Gabarito calculado em float64 e arredondado para o dtype da entrada (a resposta "verdadeira")."""
    return _layer_norm(resid.double(), w.double(), b.double(), eps).to(resid.dtype)


# Tolerância pelo condicionamento dos casos. Uma LN em float32 erra por volta de
#   u · max|x| · max|w| / sqrt(var(x) + eps)      (u = 1,19e-7, o épsilon de máquina do float32):
# o arredondamento de x (perto de max|x|) sobrevive à subtração da média e é ampliado pela
# divisão pela escala. Medido com o gabarito, F.layer_norm, var_mean e rsqrt em 40 sementes:
# erro ≤ 1,35 × essa cota. O pior caso é o "resíduo quase constante" (|x| ≈ 1, var ≈ 1e-6,
# eps = 1e-5, |w| ≤ 2,75): cota ≈ 1,0e-4. Tolerância = 3 × a cota do pior caso; os erros
# conhecidos mais sutis (eps fora da raiz, variância não enviesada) diferem por > 1e-2.
LN_ATOL = 3e-4


def _ln_no_centering(resid, w, b, eps=1e-5):
    scale = (resid.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()
    return resid / scale * w + b


def _ln_unbiased(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=-1, keepdim=True)
    return x / (resid.var(dim=-1, keepdim=True, unbiased=True) + eps).sqrt() * w + b


def _ln_no_affine(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=-1, keepdim=True)
    return x / (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()


def _ln_no_bias(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=-1, keepdim=True)
    return x / (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt() * w


def _ln_no_weight(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=-1, keepdim=True)
    return x / (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt() + b


def _ln_eps_outside(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=-1, keepdim=True)
    return x / (x.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps) * w + b


def _ln_wrong_axis(resid, w, b, eps=1e-5):
    x = resid - resid.mean(dim=0, keepdim=True)
    return x / (x.pow(2).mean(dim=0, keepdim=True) + eps).sqrt() * w + b


def _ln_cases(gen: torch.Generator) -> list[Case]:
    d = 8
    w, b = 1 + 0.5 * torch.randn(d, generator=gen), 0.3 * torch.randn(d, generator=gen)
    shifted = torch.randn(2, 3, d, generator=gen) * 2 + 5.0
    tiny = 1.0 + 1e-3 * torch.randn(3, d, generator=gen)
    return [
        Case((shifted, w, b), description="resíduo [batch=2, pos=3, d_model=8] com média longe de 0"),
        Case((torch.randn(4, d, generator=gen) * 1e4, w, b), description="valores enormes (escala 1e4)"),
        Case((tiny, w, b), description="resíduo quase constante (variância ~1e-6, onde o eps importa)"),
        Case((torch.randn(1, 1, 16, generator=gen), torch.ones(16), torch.zeros(16)),
             description="lote de 1, uma posição, w = 1 e b = 0"),
        Case((torch.randn(5, 3, generator=gen) + 1.0, 1 + torch.rand(3, generator=gen), torch.randn(3, generator=gen)),
             kwargs={"eps": 1e-2}, description="eps = 1e-2 passado como argumento, d_model = 3"),
    ]


register(Exercise(
    id="03.apply_final_ln",
    func_name="apply_final_ln",
    reference=apply_final_ln,
    make_cases=_ln_cases,
    points=2,
    atol=LN_ATOL,
    rtol=0,
    known_mistakes=[
        ("faltou centrar: subtraia a média de cada vetor antes de dividir pela escala", _ln_no_centering),
        ("variância não enviesada (divide por d_model − 1); a LayerNorm divide por d_model", _ln_unbiased),
        ("esqueceu o peso w e o viés b da LayerNorm", _ln_no_affine),
        ("esqueceu de somar o viés b da LayerNorm", _ln_no_bias),
        ("esqueceu de multiplicar pelo peso w da LayerNorm", _ln_no_weight),
        ("o eps vai DENTRO da raiz: sqrt(variância + eps)", _ln_eps_outside),
        ("normalizou no eixo errado: a média e a variância são sobre d_model (o último eixo)", _ln_wrong_axis),
    ],
))


# ---------------------------------------------------------------------------
# 03.logit_lens
# ---------------------------------------------------------------------------
def _ln_of(model, x):
    ln = model.ln_final
    return apply_final_ln(x, ln.w.detach(), ln.b.detach(), ln.eps)


def logit_lens(model, resid_stack: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return _ln_of(model, resid_stack) @ model.W_U + model.b_U


def _lens_no_ln(model, resid_stack):
    with torch.no_grad():
        return resid_stack @ model.W_U + model.b_U


def _lens_seed_code(model, resid_stack):  # o trecho do texto-fonte: F.linear(x, W_E), sem LN
    with torch.no_grad():
        return resid_stack @ model.W_E.T


def _lens_W_E(model, resid_stack):
    with torch.no_grad():
        return _ln_of(model, resid_stack) @ model.W_E.T + model.b_U


def _lens_no_bias(model, resid_stack):
    with torch.no_grad():
        return _ln_of(model, resid_stack) @ model.W_U


def _lens_ln_no_affine(model, resid_stack):
    with torch.no_grad():
        x = resid_stack - resid_stack.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + model.ln_final.eps).sqrt()
        return x @ model.W_U + model.b_U


def _lens_frozen_scale(model, resid_stack):  # usa a escala do ÚLTIMO resíduo para todos
    with torch.no_grad():
        ln = model.ln_final
        x = resid_stack - resid_stack.mean(-1, keepdim=True)
        scale = (x[-1:].pow(2).mean(-1, keepdim=True) + ln.eps).sqrt()
        return (x / scale * ln.w + ln.b) @ model.W_U + model.b_U


def _lens_softmax(model, resid_stack):
    return logit_lens(model, resid_stack).softmax(-1)


def _real_resid_stack(prompt: str) -> torch.Tensor:
    from course_lib.checks import resolve_model

    model = resolve_model("lm")
    with torch.no_grad():
        _, cache = model.run_with_cache(model.to_tokens(prompt), names_filter=lambda n: "resid" in n)
    return cache.accumulated_resid().clone()  # [camada, batch=1, pos, d_model]


def _lens_cases(gen: torch.Generator) -> list[Case]:
    lm = ModelRef("lm")
    scales = torch.tensor([0.5, 2.0, 8.0])[:, None, None]
    return [
        Case((lm, _real_resid_stack("os gatos que o menino viu")),
             description="resíduos acumulados do modelo 'lm' em 'os gatos que o menino viu' [4, 1, 7, 64]"),
        Case((lm, torch.randn(3, 5, 64, generator=gen) * scales + 0.3),
             description="pilha aleatória [3, 5, 64] com normas bem diferentes por camada"),
        Case((lm, torch.randn(64, generator=gen) * 3),
             description="um único vetor [64]"),
        Case((lm, _real_resid_stack("a menina")[:, :, -1:]),
             description="só a última posição de 'a menina' [4, 1, 1, 64]"),
    ]


register(Exercise(
    id="03.logit_lens",
    func_name="logit_lens",
    reference=logit_lens,
    make_cases=_lens_cases,
    points=2,
    atol=1e-4,
    known_mistakes=[
        ("lente sem a LayerNorm final: normalize cada resíduo (com w e b) antes de W_U", _lens_no_ln),
        ("é o código do texto-fonte: W_Eᵀ no lugar de W_U e sem LayerNorm (este modelo não é amarrado)",
         _lens_seed_code),
        ("usou W_Eᵀ no lugar de W_U: o modelo 'lm' não tem pesos amarrados", _lens_W_E),
        ("esqueceu de somar b_U", _lens_no_bias),
        ("a LayerNorm final ficou sem o peso w e o viés b", _lens_ln_no_affine),
        ("usou a escala do último resíduo para todos (é o que accumulated_resid(apply_ln=True) do "
         "TransformerLens faz: uma versão linear, boa para atribuição); a lente recalcula a escala de cada resíduo",
         _lens_frozen_scale),
        ("aplicou softmax: a função deve devolver logits", _lens_softmax),
    ],
))


# ---------------------------------------------------------------------------
# 03.top_token
# ---------------------------------------------------------------------------
def top_token_per_layer(lens_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    probs = lens_logits.softmax(dim=-1)
    top = probs.max(dim=-1)
    return top.indices, top.values


def _top_wrong_axis(lens_logits):
    probs = lens_logits.softmax(dim=0)
    top = probs.max(dim=0)
    return top.indices, top.values


def _top_logit_value(lens_logits):
    top = lens_logits.max(dim=-1)
    return top.indices, top.values


def _top_softmax_wrong_axis(lens_logits):
    probs = lens_logits.softmax(dim=0)
    return lens_logits.argmax(dim=-1), probs.gather(-1, lens_logits.argmax(-1, keepdim=True))[..., 0]


def _top_argmin(lens_logits):
    probs = lens_logits.softmax(dim=-1)
    top = probs.min(dim=-1)
    return top.indices, top.values


def _top_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(4, 6, 20, generator=gen) * 3,), description="lente [camada=4, pos=6, d_vocab=20]"),
        Case((torch.randn(3, 1, 260, generator=gen) * 1e3,), description="logits enormes (1e3), uma posição"),
        Case((torch.randn(1, 5, 7, generator=gen),), description="uma única camada"),
        Case((torch.randn(5, 5, 5, generator=gen),), description="todos os eixos do mesmo tamanho (5, 5, 5)"),
    ]


register(Exercise(
    id="03.top_token",
    func_name="top_token_per_layer",
    reference=top_token_per_layer,
    make_cases=_top_cases,
    points=1,
    output_names=[("camada", "pos"), ("camada", "pos")],
    known_mistakes=[
        ("softmax/máximo no eixo errado: o vocabulário é o ÚLTIMO eixo", _top_wrong_axis),
        ("devolveu o maior LOGIT; a segunda saída deve ser a probabilidade (softmax)", _top_logit_value),
        ("softmax no eixo errado: normalize sobre o vocabulário (último eixo)", _top_softmax_wrong_axis),
        ("pegou o token MENOS provável (min no lugar de max)", _top_argmin),
    ],
))


# ---------------------------------------------------------------------------
# 03.target_rank
# ---------------------------------------------------------------------------
def target_rank(lens_logits: torch.Tensor, target: int) -> torch.Tensor:
    target_logit = lens_logits[..., target : target + 1]
    return 1 + (lens_logits > target_logit).sum(dim=-1)


def _rank_zero_based(lens_logits, target):
    return (lens_logits > lens_logits[..., target : target + 1]).sum(dim=-1)


def _rank_ties_against(lens_logits, target):
    return (lens_logits >= lens_logits[..., target : target + 1]).sum(dim=-1) + 1


def _rank_ge(lens_logits, target):
    return (lens_logits >= lens_logits[..., target : target + 1]).sum(dim=-1)


def _rank_ascending(lens_logits, target):
    return 1 + (lens_logits < lens_logits[..., target : target + 1]).sum(dim=-1)


def _rank_argsort_position(lens_logits, target):
    return lens_logits.argsort(dim=-1, descending=True)[..., target] + 1


def _rank_cases(gen: torch.Generator) -> list[Case]:
    ties = torch.tensor([[3.0, 1.0, 3.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    return [
        Case((torch.randn(4, 30, generator=gen), 7), description="lente [camada=4, d_vocab=30], alvo 7"),
        Case((ties, 2), description="empates com o alvo (empates contam a favor do alvo)"),
        Case((torch.randn(3, 50, generator=gen) * 1e4, 0), description="logits enormes, alvo 0"),
        Case((torch.randn(1, 12, generator=gen), 11), description="uma única camada, alvo = último token"),
        Case((torch.randn(2, 3, 9, generator=gen), 4), description="lente com eixo de posição [2, 3, 9]"),
    ]


register(Exercise(
    id="03.target_rank",
    func_name="target_rank",
    reference=target_rank,
    make_cases=_rank_cases,
    points=2,
    known_mistakes=[
        ("posto começando em 0: o token mais provável deve ter posto 1", _rank_zero_based),
        ("contou os empates contra o alvo: conte só os logits ESTRITAMENTE maiores", _rank_ties_against),
        ("usou >= (que conta o próprio alvo e os empates): conte só os estritamente maiores e some 1", _rank_ge),
        ("ordem crescente: o posto 1 é o MAIOR logit", _rank_ascending),
        ("argsort()[alvo] dá o token que está na posição `alvo` do ranking, não o posto do alvo",
         _rank_argsort_position),
    ],
))


# ---------------------------------------------------------------------------
# 03.kl_to_final
# ---------------------------------------------------------------------------
def kl_to_final(lens_logits: torch.Tensor) -> torch.Tensor:
    log_p_final = lens_logits[-1].log_softmax(dim=-1)
    log_q = lens_logits.log_softmax(dim=-1)
    return (log_p_final.exp() * (log_p_final - log_q)).sum(dim=-1)


def _kl_reversed(lens_logits):
    log_p_final = lens_logits[-1].log_softmax(dim=-1)
    log_q = lens_logits.log_softmax(dim=-1)
    return (log_q.exp() * (log_q - log_p_final)).sum(dim=-1)


def _kl_naive_log(lens_logits):
    p_final = lens_logits[-1].softmax(dim=-1)
    q = lens_logits.softmax(dim=-1)
    return (p_final * (p_final.log() - q.log())).sum(dim=-1)


def _kl_cross_entropy(lens_logits):
    p_final = lens_logits[-1].softmax(dim=-1)
    return -(p_final * lens_logits.log_softmax(dim=-1)).sum(dim=-1)


def _kl_to_first(lens_logits):
    log_p = lens_logits[0].log_softmax(dim=-1)
    log_q = lens_logits.log_softmax(dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _kl_logits_not_logprobs(lens_logits):
    p_final = lens_logits[-1].softmax(dim=-1)
    return (p_final * (lens_logits[-1] - lens_logits)).sum(dim=-1)


def _kl_cases(gen: torch.Generator) -> list[Case]:
    base = torch.randn(4, 3, 10, generator=gen) * 2
    return [
        Case((base,), description="lente [camada=4, pos=3, d_vocab=10]"),
        Case((torch.randn(3, 2, 30, generator=gen) * 200 + 7.0,),
             description="logits grandes (escala 200) e deslocados: log(softmax) ingênuo dá NaN"),
        Case((torch.randn(1, 4, 6, generator=gen),), description="uma única camada (KL tem de dar 0)"),
        Case((torch.randn(5, 12, generator=gen),), description="sem eixo de posição: [camada=5, d_vocab=12]"),
    ]


register(Exercise(
    id="03.kl_to_final",
    func_name="kl_to_final",
    reference=kl_to_final,
    make_cases=_kl_cases,
    points=2,
    atol=1e-4,
    known_mistakes=[
        ("KL na direção trocada: é KL(P_final ‖ P_camada) = Σ P_final (log P_final − log P_camada)", _kl_reversed),
        ("log(softmax(...)) perde precisão e dá −inf/NaN com logits grandes: use log_softmax", _kl_naive_log),
        ("isso é a entropia cruzada; falta subtrair a entropia de P_final (ou use a fórmula da KL)", _kl_cross_entropy),
        ("comparou com a PRIMEIRA camada; a referência é a última (a saída do modelo)", _kl_to_first),
        ("usou logits no lugar de log-probabilidades: aplique log_softmax antes de subtrair", _kl_logits_not_logprobs),
    ],
))


# ---------------------------------------------------------------------------
# Investigações: 03.find_flip_block e 03.find_kl_layer
# ---------------------------------------------------------------------------
def _lens_of_prompt(model, prompt):
    with torch.no_grad():
        _, cache = model.run_with_cache(model.to_tokens(prompt), names_filter=lambda n: "resid" in n)
        return logit_lens(model, cache.accumulated_resid())  # [ponto, 1, pos, d_vocab]


def _flip_diffs(model, prompt, correct, wrong):
    """Gabarito: logit(certa) − logit(errada) da lente na última posição, em cada ponto de leitura."""
    last = _lens_of_prompt(model, prompt)[:, 0, -1]
    return last[:, model.tokenizer.to_single_token(correct)] - last[:, model.tokenizer.to_single_token(wrong)]


def _flip_block_of(diffs) -> int:
    return int(max(i for i, d in enumerate(diffs.tolist()) if d <= 0))


def _compare_flip(expected, got):
    if type(expected) is int:  # comparação entre duas respostas (erros conhecidos)
        return None if got == expected else "respostas diferentes"
    n_blocks = expected.shape[0] - 1
    if type(got) is not int:
        return f"saída: esperado um int (o número do bloco); obtido {got!r}"
    if not 0 <= got < n_blocks:
        return f"saída: o modelo tem os blocos 0..{n_blocks - 1}; obtido {got}"
    before, after = expected[got].item(), expected[got + 1:]
    if before <= 0 and bool((after > 0).all()):
        return None
    if before > 0:
        return (f"antes do bloco {got} (linha '{got}_pre' da lente) a lente já prefere a forma certa. "
                "Meça logit(certa) − logit(errada) na última posição em TODOS os pontos de leitura e ache o "
                "último em que ela ainda é ≤ 0: o bloco que vem depois dele é a virada.")
    return (f"depois do bloco {got} a lente ainda volta a preferir a forma errada em algum ponto de leitura. "
            "Meça logit(certa) − logit(errada) em cada linha da lente, não só na linha seguinte ao bloco.")


FLIP_VISIBLE = ("lm", "o gato que os meninos viram", "dorme", "dormem")
FLIP_HIDDEN = [
    ("lm", "os meninos que comeram o bolo", "dormem", "dorme"),
    ("lm", "a professora que leu os livros", "sorri", "sorriem"),
    ("lm_tied", "os gatos que o menino viu", "dormem", "dorme"),
    ("lm_tied", "os meninos que comeram o bolo", "dormem", "dorme"),
    ("lm_untied", "os meninos que comeram o bolo", "dormem", "dorme"),
]


def _flip_case(name, prompt, correct, wrong):
    return Case((ModelRef(name), prompt, correct, wrong),
                description=f"modelo '{name}', '{prompt} ___' ({correct} × {wrong})")


def _flip_cases(gen):
    return [_flip_case(*FLIP_VISIBLE)]


def _flip_hidden(gen):
    order = torch.randperm(len(FLIP_HIDDEN), generator=gen)[:2].tolist()
    return [_flip_case(*FLIP_HIDDEN[i]) for i in order]


register(Exercise(
    id="03.find_flip_block",
    func_name="find_flip_block",
    reference=_flip_diffs,
    make_cases=_flip_cases,
    make_hidden_cases=_flip_hidden,
    points=2,
    compare=_compare_flip,
    known_mistakes=[
        ("devolveu o ponto de leitura onde a certa passa na frente (k_pre), não o bloco: a linha 'k_pre' é o "
         "resíduo ANTES do bloco k, então a virada aconteceu no bloco k − 1",
         lambda m, p, c, w: _flip_block_of(_flip_diffs(m, p, c, w)) + 1),
    ],
))


def _kl_rows(model, prompt, threshold):
    """Gabarito: a KL média (nas posições) de cada ponto de leitura até o final, e o limiar."""
    return {"kl": kl_to_final(_lens_of_prompt(model, prompt)[:, 0].double()).mean(-1), "threshold": float(threshold)}


def _first_below(kl, threshold) -> int:
    return int(next(i for i, v in enumerate(kl.tolist()) if v < threshold))


KL_SLACK = 1e-4  # perto do limiar, o ruído de float32 pode decidir: aceita os dois lados


def _compare_kl(expected, got):
    if type(expected) is int:
        return None if got == expected else "respostas diferentes"
    kl, threshold = expected["kl"], expected["threshold"]
    if type(got) is not int:
        return f"saída: esperado um int (o índice do ponto de leitura); obtido {got!r}"
    if not 0 <= got < kl.shape[0]:
        return f"saída: os pontos de leitura vão de 0 a {kl.shape[0] - 1}; obtido {got}"
    if kl[got] < threshold + KL_SLACK and bool((kl[:got] >= threshold - KL_SLACK).all()):
        return None
    if kl[got] >= threshold + KL_SLACK:
        return (f"no ponto {got} a KL média até o final ainda está acima do limiar {threshold}. Calcule a KL "
                "de cada ponto de leitura (média nas posições) e pegue o PRIMEIRO abaixo do limiar.")
    return (f"no ponto {got} a KL está abaixo do limiar, mas um ponto anterior já estava abaixo: a resposta é o "
            "PRIMEIRO ponto de leitura abaixo do limiar.")


def _kl_layer_cases(gen):
    return [Case((ModelRef("lm"), "o gato que os meninos viram", 0.1),
                 description="modelo 'lm', 'o gato que os meninos viram', limiar 0.1")]


KL_PROMPTS = ["a professora que leu os livros", "o menino que as meninas viram dorme", "os gatos pretos",
              "as meninas que o menino viu correm"]


def _kl_hidden(gen):
    prompt = KL_PROMPTS[int(torch.randint(0, len(KL_PROMPTS), (1,), generator=gen))]
    threshold = [0.3, 0.08, 0.03][int(torch.randint(0, 3, (1,), generator=gen))]
    name = ["lm", "lm_untied"][int(torch.randint(0, 2, (1,), generator=gen))]
    return [Case((ModelRef(name), prompt, threshold), description=f"modelo '{name}', '{prompt}', limiar {threshold}")]


register(Exercise(
    id="03.find_kl_layer",
    func_name="find_kl_layer",
    reference=_kl_rows,
    make_cases=_kl_layer_cases,
    make_hidden_cases=_kl_hidden,
    points=2,
    compare=_compare_kl,
    known_mistakes=[
        ("devolveu o último ponto de leitura ACIMA do limiar; a resposta é o primeiro abaixo",
         lambda m, p, t: _first_below(_kl_rows(m, p, t)["kl"], t) - 1),
    ],
))
