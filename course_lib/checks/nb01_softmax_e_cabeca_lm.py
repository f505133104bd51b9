"""Verificações do notebook 01_softmax_e_cabeca_lm (softmax, perda, decodificação, cabeça LM).

Exercícios:
    01.softmax                  softmax estável no último eixo
    01.log_softmax              log-softmax estável
    01.cross_entropy            entropia cruzada média a partir de logits e alvos
    01.lm_loss                  perda do próximo token (com o deslocamento de uma posição)
    01.softmax_with_temperature softmax(logits / T)
    01.greedy_next_token        próximo token guloso (argmax na última posição)
    01.sample_next_token        amostragem com torch.Generator semeado
    01.top_k_logits             filtro top-k (o resto vira -inf)
    01.lm_head                  resid @ W_U + b_U
    01.mos_probs                mistura de softmaxes (Yang et al., 2018)
"""

from __future__ import annotations

import math

import torch

from course_lib.checks import Case, Exercise, register

NEG_INF = float("-inf")


# ============================================================================ 01.softmax
def softmax(logits: torch.Tensor) -> torch.Tensor:
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=-1, keepdim=True)


def _softmax_sem_max(x):
    return x.exp() / x.exp().sum(-1, keepdim=True)


def _softmax_eixo0(x):
    s = (x - x.max(dim=0, keepdim=True).values).exp()
    return s / s.sum(0, keepdim=True)


def _softmax_dim1(x):
    s = (x - x.max(dim=1, keepdim=True).values).exp()
    return s / s.sum(1, keepdim=True)


def _softmax_max_global(x):
    s = (x - x.max()).exp()
    return s / s.sum(-1, keepdim=True)


def _softmax_sem_normalizar(x):
    return (x - x.max(dim=-1, keepdim=True).values).exp()


def _logit_cases(gen: torch.Generator, masked: bool = True) -> list[Case]:
    cases = [
        Case((torch.randn(2, 5, generator=gen),), description="logits aleatórios (2, 5)"),
        Case((torch.randn(3, 4, generator=gen) * 1e4,), description="logits enormes (escala 1e4)"),
        Case((torch.tensor([[1000.0, 999.0, 998.0], [0.0, 1.0, 2.0]]),),
             description="linhas em escalas bem diferentes ([1000, 999, 998] e [0, 1, 2])"),
        Case((torch.randn(1, 7, generator=gen),), description="lote de 1 (1, 7)"),
        Case((torch.tensor([[3.0]]),), description="vocabulário de um só token (1, 1)"),
        Case((torch.randn(2, 3, 6, generator=gen),), description="3 eixos [batch, pos, d_vocab] = (2, 3, 6)"),
    ]
    if masked:
        cases.append(Case((torch.tensor([[0.0, NEG_INF, 1.0, NEG_INF]]),),
                          description="alguns logits -inf (tokens proibidos)"))
    return cases


register(
    Exercise(
        id="01.softmax",
        func_name="softmax",
        reference=softmax,
        make_cases=_logit_cases,
        points=2,
        output_names=None,
        known_mistakes=[
            ("não subtraiu o máximo antes de exponenciar (exp de logit grande vira inf, e inf/inf = NaN)",
             _softmax_sem_max),
            ("subtraiu o máximo GLOBAL do tensor; subtraia o máximo de cada linha (keepdim=True)",
             _softmax_max_global),
            ("softmax sobre o eixo errado (dim=0); o vocabulário é o último eixo (dim=-1)", _softmax_eixo0),
            ("softmax sobre dim=1: só coincide com o último eixo quando a entrada tem 2 eixos; "
             "com [batch, pos, d_vocab] o vocabulário é dim=-1", _softmax_dim1),
            ("esqueceu de dividir pela soma: as probabilidades precisam somar 1", _softmax_sem_normalizar),
        ],
        forbidden={"softmax": "o exercício é escrever o softmax; torch.softmax, F.softmax e Tensor.softmax "
                              "fazem a conta por você"},
    )
)


# ============================================================================ 01.log_softmax
def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def _logsm_ingenuo(x):
    return softmax(x).log()


def _logsm_sem_max(x):
    return x - x.exp().sum(-1, keepdim=True).log()


def _logsm_sem_lse(x):
    return x - x.max(dim=-1, keepdim=True).values


def _logsm_eixo0(x):
    s = x - x.max(dim=0, keepdim=True).values
    return s - s.exp().sum(0, keepdim=True).log()


def _logsm_cases(gen: torch.Generator) -> list[Case]:
    return _logit_cases(gen) + [
        Case((torch.tensor([[0.0, -200.0, 3.0]]),),
             description="um logit 200 abaixo dos outros (exp(-200) some em float32)"),
    ]


register(
    Exercise(
        id="01.log_softmax",
        func_name="log_softmax",
        reference=log_softmax,
        make_cases=_logsm_cases,
        points=2,
        known_mistakes=[
            ("calculou log(softmax(x)): a probabilidade minúscula vira 0 em float32 e o log dá -inf; "
             "use x - max - log(Σ exp(x - max))", _logsm_ingenuo),
            ("não subtraiu o máximo dentro do log-soma-exp (overflow para logits grandes)", _logsm_sem_max),
            ("só subtraiu o máximo; falta subtrair log(Σ exp(x - max))", _logsm_sem_lse),
            ("log-softmax sobre o eixo errado (dim=0); use dim=-1", _logsm_eixo0),
        ],
        forbidden={
            "log_softmax": "o exercício é escrever o log-softmax; torch.log_softmax e F.log_softmax fazem a conta por você",
            "logsumexp": "o exercício é justamente o log-soma-exp estável; escreva-o com max, exp, sum e log",
            "softmax": "log(softmax(x)) é a conta instável que o exercício quer evitar; use a identidade do enunciado",
        },
    )
)


# ============================================================================ 01.cross_entropy
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    log_probs = log_softmax(logits)
    return -log_probs.gather(-1, targets[:, None])[:, 0].mean()


def _pick(values, targets):
    return values.gather(-1, targets[:, None])[:, 0]


def _ce_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(4, 10, generator=gen), torch.randint(0, 10, (4,), generator=gen)),
             description="lote de 4, vocabulário de 10"),
        Case((torch.randn(1, 6, generator=gen), torch.tensor([2])), description="lote de 1"),
        Case((torch.randn(3, 5, generator=gen) * 1e3, torch.randint(0, 5, (3,), generator=gen)),
             description="logits enormes (escala 1e3)"),
        Case((torch.tensor([[0.0, -1000.0, 5.0]]), torch.tensor([1])),
             description="o alvo tem logit 1000 abaixo: perda ≈ 1005, não infinito"),
        Case((torch.tensor([[10.0, 0.0], [0.0, 10.0]]), torch.tensor([0, 1])),
             description="previsões confiantes e corretas (perda perto de 0)"),
    ]


register(
    Exercise(
        id="01.cross_entropy",
        func_name="cross_entropy",
        reference=cross_entropy,
        make_cases=_ce_cases,
        points=2,
        known_mistakes=[
            ("somou em vez de tirar a média sobre o lote", lambda lg, t: -_pick(log_softmax(lg), t).sum()),
            ("usou as probabilidades em vez das log-probabilidades (-p, e não -log p)",
             lambda lg, t: -_pick(softmax(lg), t).mean()),
            ("esqueceu o sinal de menos: a perda é -log p (um número >= 0)",
             lambda lg, t: _pick(log_softmax(lg), t).mean()),
            ("usou os logits crus; aplique log_softmax antes de pegar o logit do alvo",
             lambda lg, t: -_pick(lg, t).mean()),
            ("calculou log(softmax) sem estabilizar: com probabilidade ~0 o log vira -inf",
             lambda lg, t: -_pick(softmax(lg).log(), t).mean()),
        ],
    )
)


# ============================================================================ 01.lm_loss
def lm_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    log_probs = log_softmax(logits[:, :-1])
    return -log_probs.gather(-1, tokens[:, 1:, None])[..., 0].mean()


def _lm_sem_deslocar(logits, tokens):
    return -log_softmax(logits).gather(-1, tokens[..., None])[..., 0].mean()


def _lm_deslocado_ao_contrario(logits, tokens):
    return -log_softmax(logits[:, 1:]).gather(-1, tokens[:, :-1, None])[..., 0].mean()


def _lm_soma(logits, tokens):
    return -log_softmax(logits[:, :-1]).gather(-1, tokens[:, 1:, None])[..., 0].sum()


def _lm_cases(gen: torch.Generator) -> list[Case]:
    V = 11
    return [
        Case((torch.randn(2, 6, V, generator=gen), torch.randint(0, V, (2, 6), generator=gen)),
             description="lote de 2, 6 posições, vocabulário de 11"),
        Case((torch.randn(1, 2, V, generator=gen), torch.randint(0, V, (1, 2), generator=gen)),
             description="lote de 1 com 2 posições (uma única previsão)"),
        Case((torch.randn(3, 4, V, generator=gen) * 100, torch.randint(0, V, (3, 4), generator=gen)),
             description="logits grandes (escala 100)"),
    ]


register(
    Exercise(
        id="01.lm_loss",
        func_name="lm_loss",
        reference=lm_loss,
        make_cases=_lm_cases,
        points=2,
        known_mistakes=[
            ("não deslocou: a posição p prevê o token p+1 (use logits[:, :-1] com tokens[:, 1:])", _lm_sem_deslocar),
            ("deslocou ao contrário (logits[:, 1:] com tokens[:, :-1]); o certo é logits[:, :-1] com tokens[:, 1:]",
             _lm_deslocado_ao_contrario),
            ("somou em vez de tirar a média sobre o lote e as posições", _lm_soma),
        ],
    )
)


# ============================================================================ 01.softmax_with_temperature
def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(logits / temperature, dim=-1)


def _temp_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 6, generator=gen) * 2, 0.5), description="T = 0.5 (mais concentrada)"),
        Case((torch.randn(2, 6, generator=gen) * 2, 2.0), description="T = 2 (mais espalhada)"),
        Case((torch.randn(1, 3, 5, generator=gen), 3.0), description="3 eixos (1, 3, 5), T = 3"),
        Case((torch.randn(2, 4, generator=gen) * 50, 0.01), description="T = 0.01 com logits grandes (estabilidade)"),
        Case((torch.randn(1, 5, generator=gen), 1.0), description="T = 1 (o softmax comum)"),
    ]


register(
    Exercise(
        id="01.softmax_with_temperature",
        func_name="softmax_with_temperature",
        reference=softmax_with_temperature,
        make_cases=_temp_cases,
        points=1,
        known_mistakes=[
            ("aplicou a temperatura DEPOIS do softmax (softmax(x) / T); divida os logits: softmax(x / T)",
             lambda x, t: torch.softmax(x, -1) / t),
            ("multiplicou pela temperatura; é dividir: softmax(x / T)", lambda x, t: torch.softmax(x * t, -1)),
            ("ignorou a temperatura", lambda x, t: torch.softmax(x, -1)),
            ("não subtraiu o máximo: com T pequeno, x / T estoura", lambda x, t: _softmax_sem_max(x / t)),
        ],
    )
)


# ============================================================================ 01.greedy_next_token
def greedy_next_token(logits: torch.Tensor) -> torch.Tensor:
    return logits[:, -1].argmax(dim=-1)


def _greedy_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(3, 5, 12, generator=gen),), description="lote de 3, 5 posições, vocabulário de 12"),
        Case((torch.randn(1, 1, 7, generator=gen),), description="lote de 1 com uma só posição"),
        Case((torch.randn(2, 4, 9, generator=gen) - 100,), description="todos os logits negativos (≈ -100)"),
    ]


register(
    Exercise(
        id="01.greedy_next_token",
        func_name="greedy_next_token",
        reference=greedy_next_token,
        make_cases=_greedy_cases,
        points=1,
        output_names=("batch",),
        known_mistakes=[
            ("usou a primeira posição; o próximo token sai da ÚLTIMA posição (logits[:, -1])",
             lambda lg: lg[:, 0].argmax(-1)),
            ("devolveu o maior logit, não o índice do token (use argmax, ou .max(...).indices)",
             lambda lg: lg[:, -1].max(-1).values),
            ("argmin em vez de argmax", lambda lg: lg[:, -1].argmin(-1)),
        ],
    )
)


# ============================================================================ 01.sample_next_token
def sample_next_token(logits: torch.Tensor, temperature: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]


def _sample_sem_temperatura(logits, temperature, seed):
    return sample_next_token(logits, 1.0, seed)


def _sample_guloso(logits, temperature, seed):
    return logits.argmax(-1)


def _sample_temperatura_depois(logits, temperature, seed):
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(logits, dim=-1) / temperature
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]


def _sample_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(6, 10, generator=gen), 1.0, 0), description="lote de 6, T = 1, seed 0"),
        Case((torch.randn(6, 10, generator=gen), 0.3, 7), description="T = 0.3, seed 7"),
        Case((torch.randn(6, 10, generator=gen), 4.0, 123), description="T = 4 (quase uniforme), seed 123"),
        Case((torch.randn(1, 5, generator=gen) * 30, 1.0, 2), description="lote de 1 com logits grandes"),
    ]


register(
    Exercise(
        id="01.sample_next_token",
        func_name="sample_next_token",
        reference=sample_next_token,
        make_cases=_sample_cases,
        points=2,
        output_names=("batch",),
        known_mistakes=[
            ("a temperatura não teve efeito nenhum: ou você a ignorou, ou a aplicou DEPOIS do softmax "
             "(probs / T). O torch.multinomial normaliza os pesos que recebe, então dividir todas as "
             "probabilidades por T não muda nada. Divida os LOGITS: softmax(logits / T)",
             _sample_temperatura_depois),
            ("escolheu o argmax (decodificação gulosa) em vez de sortear", _sample_guloso),
        ],
    )
)


# ============================================================================ 01.top_k_logits
def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, NEG_INF)


def _topk_zero(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)


def _topk_menos_1e9(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, -1e9)


def _topk_k_menos_1(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits <= kth, NEG_INF)


def _topk_menores(logits, k):
    kth = logits.topk(k, dim=-1, largest=False).values[..., -1:]
    return logits.masked_fill(logits > kth, NEG_INF)


def _topk_probs(logits, k):
    return torch.softmax(top_k_logits(logits, k), dim=-1)


def _topk_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(3, 8, generator=gen), 3), description="lote de 3, vocabulário de 8, k = 3"),
        Case((torch.randn(2, 6, generator=gen), 1), description="k = 1 (equivale à escolha gulosa)"),
        Case((torch.randn(1, 5, generator=gen), 5), description="k = d_vocab (nada é cortado)"),
        Case((torch.randn(2, 3, 7, generator=gen) - 5, 2), description="3 eixos e logits negativos, k = 2"),
    ]


register(
    Exercise(
        id="01.top_k_logits",
        func_name="top_k_logits",
        reference=top_k_logits,
        make_cases=_topk_cases,
        points=2,
        known_mistakes=[
            ("zerou os logits cortados; zero ainda tem probabilidade exp(0) > 0. Use -inf", _topk_zero),
            ("usou -1e9 no lugar de -inf: quase sempre dá o mesmo softmax, mas não é o que o filtro promete "
             "(com logits na casa de -1e9, ou somando logits filtrados, o -1e9 vaza); use float('-inf')",
             _topk_menos_1e9),
            ("ficou com k-1 tokens (usou <= no corte); o k-ésimo maior também fica", _topk_k_menos_1),
            ("ficou com os k MENORES logits", _topk_menores),
            ("devolveu probabilidades; a função deve devolver logits (com -inf nos cortados)", _topk_probs),
        ],
    )
)


# ============================================================================ 01.lm_head
def lm_head(resid: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    assert resid.shape[-1] == W_U.shape[0], "d_model de resid e de W_U diferentes"
    assert b_U.shape == (W_U.shape[1],), "b_U deve ter formato [d_vocab]"
    return resid @ W_U + b_U


def _lm_head_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 5, 8, generator=gen), torch.randn(8, 13, generator=gen), torch.randn(13, generator=gen)),
             description="lote de 2, pos 5, d_model 8, d_vocab 13"),
        Case((torch.randn(1, 1, 4, generator=gen), torch.randn(4, 9, generator=gen), torch.randn(9, generator=gen)),
             description="lote de 1 com uma só posição"),
        Case((torch.randn(2, 3, 6, generator=gen), torch.randn(6, 6, generator=gen), torch.randn(6, generator=gen)),
             description="d_model = d_vocab = 6 (W_U quadrada: transpor não dá erro, dá o resultado errado)"),
    ]


register(
    Exercise(
        id="01.lm_head",
        func_name="lm_head",
        reference=lm_head,
        make_cases=_lm_head_cases,
        points=1,
        output_names=("batch", "pos", "d_vocab"),
        known_mistakes=[
            ("esqueceu o viés b_U", lambda r, W, b: r @ W),
            ("transpôs W_U: no TransformerLens W_U já tem formato [d_model, d_vocab]", lambda r, W, b: r @ W.T + b),
            ("aplicou softmax; a cabeça devolve LOGITS", lambda r, W, b: torch.softmax(r @ W + b, -1)),
        ],
    )
)


# ============================================================================ 01.mos_probs
def mos_probs(h: torch.Tensor, W_prior: torch.Tensor, W_proj: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    prior = torch.softmax(h @ W_prior, dim=-1)  # [batch, K]
    h_k = torch.tanh(torch.einsum("bd,kde->bke", h, W_proj))  # [batch, K, d_model]
    probs_k = torch.softmax(h_k @ W_U, dim=-1)  # [batch, K, d_vocab]
    return (prior[:, :, None] * probs_k).sum(dim=1)


def _mos_mistura_logits(h, W_prior, W_proj, W_U):
    prior = torch.softmax(h @ W_prior, dim=-1)
    h_k = torch.tanh(torch.einsum("bd,kde->bke", h, W_proj))
    return torch.softmax((prior[:, :, None] * (h_k @ W_U)).sum(1), dim=-1)


def _mos_uniforme(h, W_prior, W_proj, W_U):
    h_k = torch.tanh(torch.einsum("bd,kde->bke", h, W_proj))
    return torch.softmax(h_k @ W_U, dim=-1).mean(1)


def _mos_prior_eixo_errado(h, W_prior, W_proj, W_U):
    prior = torch.softmax(h @ W_prior, dim=0)
    h_k = torch.tanh(torch.einsum("bd,kde->bke", h, W_proj))
    return (prior[:, :, None] * torch.softmax(h_k @ W_U, dim=-1)).sum(1)


def _mos_sem_tanh(h, W_prior, W_proj, W_U):
    prior = torch.softmax(h @ W_prior, dim=-1)
    h_k = torch.einsum("bd,kde->bke", h, W_proj)
    return (prior[:, :, None] * torch.softmax(h_k @ W_U, dim=-1)).sum(1)


def _mos_cases(gen: torch.Generator) -> list[Case]:
    def case(batch, d, K, V, scale, description):
        return Case((torch.randn(batch, d, generator=gen), torch.randn(d, K, generator=gen),
                     torch.randn(K, d, d, generator=gen), torch.randn(d, V, generator=gen) * scale),
                    description=description)

    return [
        case(3, 4, 3, 7, 1.0, "lote de 3, d_model 4, K = 3 componentes, d_vocab 7"),
        case(1, 5, 2, 6, 1.0, "lote de 1, K = 2"),
        case(2, 4, 3, 5, 100.0, "W_U grande (logits ~100: o softmax precisa ser estável)"),
        case(4, 3, 1, 6, 1.0, "K = 1 (a mistura vira um softmax só)"),
    ]


register(
    Exercise(
        id="01.mos_probs",
        func_name="mos_probs",
        reference=mos_probs,
        make_cases=_mos_cases,
        points=3,
        output_names=("batch", "d_vocab"),
        known_mistakes=[
            ("misturou os LOGITS e depois aplicou um softmax; a mistura é das PROBABILIDADES de cada componente",
             _mos_mistura_logits),
            ("usou pesos iguais (média); os pesos π = softmax(h @ W_prior) dependem do contexto", _mos_uniforme),
            ("softmax dos pesos π sobre o eixo do lote; normalize sobre as K componentes (dim=-1)",
             _mos_prior_eixo_errado),
            ("esqueceu o tanh em h_k = tanh(h @ W_proj[k])", _mos_sem_tanh),
        ],
    )
)


# ============================================================================ investigações
from course_lib.checks import ModelRef  # noqa: E402


def _last_logits(model, prompt):
    with torch.no_grad():
        return model(model.to_tokens(prompt))[0, -1].double()


def _entropy_at(logits, temperature):
    log_p = torch.log_softmax(logits.double() / temperature, dim=-1)
    return float(-(log_p.exp() * log_p).sum())


def _temperature_target(model, prompt, target_entropy):
    """Gabarito: os logits (float64) da última posição e a entropia-alvo; quem decide é o compare."""
    return {"logits": _last_logits(model, prompt), "target": float(target_entropy)}


ENTROPY_TOL = 0.01  # nats


def _compare_temperature(expected, got):
    if type(expected) is float:  # comparação entre duas respostas (erros conhecidos)
        return None if type(got) in (int, float) and abs(got - expected) <= 1e-3 * expected else "respostas diferentes"
    if type(got) not in (int, float) or not got > 0:
        return f"saída: esperado um número T > 0 (um float); obtido {got!r}"
    entropy, target = _entropy_at(expected["logits"], got), expected["target"]
    if abs(entropy - target) <= ENTROPY_TOL:
        return None
    side = "baixa demais (aumente T)" if entropy < target else "alta demais (diminua T)"
    return (f"com T = {got:.4g} a entropia de softmax(logits / T) é {entropy:.3f} nats, {side}; o alvo é "
            f"{target} ± {ENTROPY_TOL}. A entropia cresce com T: uma busca binária em T (entre 0,01 e 100, "
            "medindo a entropia em nats, com log natural) chega lá.")


def _temperature_bits(model, prompt, target_entropy):  # erro: entropia em bits
    logits, lo, hi = _last_logits(model, prompt), 1e-2, 1e2
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        if _entropy_at(logits, mid) / math.log(2) < target_entropy:
            lo = mid
        else:
            hi = mid
    return float(mid)


def _temp_find_cases(gen):
    return [Case((ModelRef("lm"), "o menino", 2.0), description="modelo 'lm', depois de 'o menino', entropia-alvo 2.0")]


TEMP_PROMPTS = ["a menina", "os gatos que o menino viu", "o rei come", "as professoras"]


def _temp_find_hidden(gen):
    prompt = TEMP_PROMPTS[int(torch.randint(0, len(TEMP_PROMPTS), (1,), generator=gen))]
    target = round(0.8 + 3.5 * float(torch.rand(1, generator=gen)), 2)
    name = ["lm", "lm_tied", "lm_untied"][int(torch.randint(0, 3, (1,), generator=gen))]
    return [Case((ModelRef(name), prompt, target), description=f"modelo '{name}', '{prompt}', entropia-alvo {target}")]


register(
    Exercise(
        id="01.find_temperature_for_entropy",
        func_name="find_temperature_for_entropy",
        reference=_temperature_target,
        make_cases=_temp_find_cases,
        make_hidden_cases=_temp_find_hidden,
        points=2,
        compare=_compare_temperature,
        known_mistakes=[
            ("mediu a entropia em bits (log2); aqui ela é em nats (log natural, torch.log)", _temperature_bits),
        ],
    )
)


def _losses_by_temperature(model, tokens, temperatures):
    """Gabarito: a perda do próximo token com logits / T, para cada T da lista (float64)."""
    with torch.no_grad():
        logits = model(tokens)[:, :-1].double()
    return torch.stack([-torch.log_softmax(logits / t, -1).gather(-1, tokens[:, 1:, None])[..., 0].mean()
                        for t in temperatures])


LOSS_SLACK = 0.003  # nats: temperaturas tão boas quanto a melhor, dentro do que 16 frases medem


def _best_temperature_compare(expected, got):
    if type(expected) is float:
        return None if got == expected else "respostas diferentes"
    losses, temps = expected["losses"], expected["temperatures"]
    if type(got) not in (int, float) or not any(abs(got - t) < 1e-9 for t in temps):
        return f"saída: esperada uma das temperaturas da lista {temps}; obtido {got!r}"
    i = min(range(len(temps)), key=lambda j: abs(temps[j] - got))
    if float(losses[i]) <= float(losses.min()) + LOSS_SLACK:
        return None
    return (f"com T = {got} a perda é {float(losses[i]):.3f}, mas outra temperatura da lista dá uma perda menor "
            "(mais de 0.003 abaixo). Meça lm_loss(logits / T, tokens) para CADA T e escolha a de menor perda.")


def _best_temperature_reference(model, tokens, temperatures):
    return {"losses": _losses_by_temperature(model, tokens, temperatures), "temperatures": list(temperatures)}


def _best_temp_no_division(model, tokens, temperatures):  # erro: não dividiu os logits
    return float(temperatures[0])


TEMPERATURES = [0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 2.0]


def _grammar_batch(gen, n=16):
    from course_lib import PtGrammar

    return PtGrammar().make_dataset(n, 32, seed=int(torch.randint(0, 10_000, (1,), generator=gen)))


def _best_temp_cases(gen):
    return [Case((ModelRef("lm"), _grammar_batch(gen), TEMPERATURES),
                 description="modelo 'lm', 16 frases da gramática, T em " + str(TEMPERATURES))]


def _best_temp_hidden(gen):
    name = ["lm", "lm_tied", "lm_untied"][int(torch.randint(0, 3, (1,), generator=gen))]
    return [Case((ModelRef(name), _grammar_batch(gen), TEMPERATURES), description=f"modelo '{name}', outras frases")]


register(
    Exercise(
        id="01.find_best_temperature",
        func_name="find_best_temperature",
        reference=_best_temperature_reference,
        make_cases=_best_temp_cases,
        make_hidden_cases=_best_temp_hidden,
        points=2,
        compare=_best_temperature_compare,
        known_mistakes=[
            ("a perda não mudou com T (os logits não foram divididos pela temperatura) e a função ficou com a "
             "primeira da lista; calcule lm_loss(logits / T, tokens)", _best_temp_no_division),
        ],
    )
)
