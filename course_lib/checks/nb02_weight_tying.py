"""Verificações do notebook 02_weight_tying (pesos amarrados: W_U = W_Eᵀ)."""

from __future__ import annotations

import torch

from course_lib.checks import Case, Exercise, ModelRef, register

# Exemplo do texto-fonte: h_N (5 dimensões) e um vocabulário de 3 palavras.
SEED_H = [0.2, -0.1, 0.5, 0.3, -0.2]
SEED_E = [[0.1, 0.2, 0.3, 0.4, 0.5],
          [0.6, 0.7, 0.8, 0.9, 1.0],
          [1.1, 1.2, 1.3, 1.4, 1.5]]


# ---------------------------------------------------------------------------
# 02.count_params
# ---------------------------------------------------------------------------
def count_embed_unembed_params(d_vocab: int, d_model: int, tie_embeddings: bool, use_bias: bool) -> int:
    n = d_vocab * d_model  # W_E
    if not tie_embeddings:
        n += d_model * d_vocab  # W_U próprio
    if use_bias:
        n += d_vocab  # b_U
    return n


def _count_tied_twice(d_vocab, d_model, tie_embeddings, use_bias):
    return 2 * d_vocab * d_model + (d_vocab if use_bias else 0)


def _count_no_bias(d_vocab, d_model, tie_embeddings, use_bias):
    return d_vocab * d_model * (1 if tie_embeddings else 2)


def _count_bias_d_model(d_vocab, d_model, tie_embeddings, use_bias):
    return d_vocab * d_model * (1 if tie_embeddings else 2) + (d_model if use_bias else 0)


def _count_inverted(d_vocab, d_model, tie_embeddings, use_bias):
    return d_vocab * d_model * (2 if tie_embeddings else 1) + (d_vocab if use_bias else 0)


def _count_cases(gen: torch.Generator) -> list[Case]:
    d_vocab = int(torch.randint(50, 5000, (1,), generator=gen))
    d_model = int(torch.randint(8, 257, (1,), generator=gen))
    return [
        Case((10_000, 512, False, False), description="exemplo do texto: 10 000 × 512, sem amarrar, sem viés"),
        Case((10_000, 512, True, False), description="exemplo do texto: 10 000 × 512, amarrado, sem viés"),
        Case((260, 64, True, True), description="tamanho dos modelos do curso (260 × 64), amarrado, com b_U"),
        Case((260, 64, False, True), description="tamanho dos modelos do curso (260 × 64), sem amarrar, com b_U"),
        Case((d_vocab, d_model, False, True), description=f"tamanhos sorteados ({d_vocab} × {d_model}), sem amarrar, com b_U"),
        Case((1, 1, True, True), description="caso mínimo: vocabulário de 1 token e d_model = 1"),
    ]


register(Exercise(
    id="02.count_params",
    func_name="count_embed_unembed_params",
    reference=count_embed_unembed_params,
    make_cases=_count_cases,
    points=1,
    known_mistakes=[
        ("com pesos amarrados W_E e W_U são o MESMO tensor: conte-o uma vez só", _count_tied_twice),
        ("esqueceu o viés b_U (d_vocab parâmetros) quando use_bias=True", _count_no_bias),
        ("o viés b_U tem um número por token do vocabulário (d_vocab), não d_model", _count_bias_d_model),
        ("trocou os casos: amarrado tem MENOS parâmetros que não amarrado", _count_inverted),
    ],
))


# ---------------------------------------------------------------------------
# 02.tied_logits
# ---------------------------------------------------------------------------
def tied_logits(h: torch.Tensor, W_E: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    return h @ W_E.T + b_U


def _tied_no_transpose(h, W_E, b_U):
    return h @ W_E + b_U


def _tied_no_bias(h, W_E, b_U):
    return h @ W_E.T


def _tied_softmax(h, W_E, b_U):
    return (h @ W_E.T + b_U).softmax(-1)


def _tied_bias_subtracted(h, W_E, b_U):
    return h @ W_E.T - b_U


def _tied_cases(gen: torch.Generator) -> list[Case]:
    square = (torch.randn(6, 6, generator=gen), torch.randn(6, 6, generator=gen), torch.randn(6, generator=gen))
    return [
        Case(square, description="W_E quadrada (d_vocab = d_model = 6): o formato não denuncia a falta da transposta"),
        Case((torch.tensor(SEED_H), torch.tensor(SEED_E), torch.zeros(3)),
             description="exemplo do texto-fonte: h [5], E [3, 5], sem viés"),
        Case((torch.randn(2, 4, 8, generator=gen), torch.randn(10, 8, generator=gen), torch.randn(10, generator=gen)),
             description="h [batch=2, pos=4, d_model=8], W_E [d_vocab=10, d_model=8]"),
        Case((torch.randn(1, 1, 16, generator=gen), torch.randn(30, 16, generator=gen), torch.randn(30, generator=gen)),
             description="lote de 1 e uma única posição"),
    ]


register(Exercise(
    id="02.tied_logits",
    func_name="tied_logits",
    reference=tied_logits,
    make_cases=_tied_cases,
    points=1,
    output_names=None,
    known_mistakes=[
        ("faltou transpor W_E: os logits são h @ W_Eᵀ (W_E é [d_vocab, d_model])", _tied_no_transpose),
        ("esqueceu de somar o viés b_U", _tied_no_bias),
        ("aplicou softmax: a função deve devolver logits, não probabilidades", _tied_softmax),
        ("subtraiu o viés em vez de somar", _tied_bias_subtracted),
    ],
))


# ---------------------------------------------------------------------------
# 02.direct_path
# ---------------------------------------------------------------------------
def direct_path_logits(W_E: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    return W_E @ W_U + b_U


def _direct_transposed(W_E, W_U, b_U):
    return (W_E @ W_U + b_U).T


def _direct_bias_rows(W_E, W_U, b_U):
    return W_E @ W_U + b_U[:, None]


def _direct_no_bias(W_E, W_U, b_U):
    return W_E @ W_U


def _direct_wrong_order(W_E, W_U, b_U):
    return (W_U.T @ W_E.T) + b_U


def _direct_cases(gen: torch.Generator) -> list[Case]:
    W_E = torch.randn(7, 4, generator=gen)
    return [
        Case((torch.randn(5, 3, generator=gen), torch.randn(3, 5, generator=gen), torch.randn(5, generator=gen)),
             description="W_E [d_vocab=5, d_model=3], W_U [3, 5], b_U aleatório"),
        Case((W_E, W_E.T.clone(), torch.randn(7, generator=gen)),
             description="pesos amarrados (W_U = W_Eᵀ) com viés: só o viés quebra a simetria"),
        Case((torch.randn(12, 8, generator=gen), torch.randn(8, 12, generator=gen), torch.zeros(12)),
             description="W_E [12, 8], W_U [8, 12], viés zero"),
        Case((torch.randn(1, 2, generator=gen), torch.randn(2, 1, generator=gen), torch.randn(1, generator=gen)),
             description="vocabulário de 1 token"),
    ]


register(Exercise(
    id="02.direct_path",
    func_name="direct_path_logits",
    reference=direct_path_logits,
    make_cases=_direct_cases,
    points=1,
    output_names=("token_atual", "token_seguinte"),
    known_mistakes=[
        ("a matriz saiu transposta: a linha deve ser o token ATUAL e a coluna o token SEGUINTE", _direct_transposed),
        ("somou b_U nas linhas: o viés depende do token de SAÍDA (coluna)", _direct_bias_rows),
        ("esqueceu de somar o viés b_U", _direct_no_bias),
        ("multiplicou na ordem errada (W_Uᵀ @ W_Eᵀ dá a transposta)", _direct_wrong_order),
    ],
))


# ---------------------------------------------------------------------------
# 02.asymmetry
# ---------------------------------------------------------------------------
def asymmetry(M: torch.Tensor) -> float:
    antisym = (M - M.T) / 2
    return float(antisym.norm() / M.norm())


def _asym_no_half(M):
    return float((M - M.T).norm() / M.norm())


def _asym_symmetric_part(M):
    return float(((M + M.T) / 2).norm() / M.norm())


def _asym_unnormalized(M):
    return float(((M - M.T) / 2).norm())


def _asym_max(M):
    return float((M - M.T).abs().max())


def _asym_cases(gen: torch.Generator) -> list[Case]:
    A = torch.randn(6, 6, generator=gen)
    B = torch.randn(5, 5, generator=gen)
    W = torch.randn(8, 3, generator=gen)
    return [
        Case((A + A.T,), description="matriz simétrica (deve dar 0)"),
        Case((B - B.T,), description="matriz antissimétrica (deve dar 1)"),
        Case((torch.randn(10, 10, generator=gen) * 3.0,), description="matriz aleatória 10 × 10"),
        Case((W @ W.T + 0.1 * torch.randn(8, 8, generator=gen),), description="W Wᵀ mais um pouco de ruído"),
        Case((torch.tensor([[2.5]]),), description="matriz 1 × 1"),
    ]


register(Exercise(
    id="02.asymmetry",
    func_name="asymmetry",
    reference=asymmetry,
    make_cases=_asym_cases,
    points=2,
    known_mistakes=[
        ("faltou dividir por 2: a parte antissimétrica é (M − Mᵀ)/2", _asym_no_half),
        ("mediu a parte SIMÉTRICA (M + Mᵀ)/2 em vez da antissimétrica", _asym_symmetric_part),
        ("faltou dividir pela norma de M (a medida deve ficar entre 0 e 1)", _asym_unnormalized),
        ("usou o maior elemento de |M − Mᵀ| em vez da razão de normas de Frobenius", _asym_max),
    ],
))


# ---------------------------------------------------------------------------
# 02.cosine_scores
# ---------------------------------------------------------------------------
def cosine_scores(h: torch.Tensor, W_E: torch.Tensor) -> torch.Tensor:
    h_unit = h / h.norm(dim=-1, keepdim=True)
    E_unit = W_E / W_E.norm(dim=-1, keepdim=True)
    return h_unit @ E_unit.T


def _cos_dot(h, W_E):
    return h @ W_E.T


def _cos_only_h(h, W_E):
    return (h / h.norm(dim=-1, keepdim=True)) @ W_E.T


def _cos_wrong_axis(h, W_E):
    return (h / h.norm(dim=-1, keepdim=True)) @ (W_E / W_E.norm(dim=0, keepdim=True)).T


def _cos_only_E(h, W_E):
    return h @ (W_E / W_E.norm(dim=-1, keepdim=True)).T


def _cos_cases(gen: torch.Generator) -> list[Case]:
    E_scaled = torch.randn(9, 4, generator=gen) * torch.linspace(0.2, 5.0, 9)[:, None]
    return [
        Case((torch.tensor(SEED_H), torch.tensor(SEED_E)), description="exemplo do texto-fonte: h [5], E [3, 5]"),
        Case((torch.randn(4, generator=gen) * 10, E_scaled),
             description="embeddings com normas bem diferentes (0,2 a 5): o produto escalar favorece os longos"),
        Case((torch.randn(3, 6, generator=gen), torch.randn(11, 6, generator=gen)),
             description="vários vetores h [3, 6] de uma vez"),
        Case((torch.randn(2, 5, 8, generator=gen), torch.randn(8, 8, generator=gen)),
             description="h [batch=2, pos=5, d_model=8] e W_E quadrada"),
    ]


register(Exercise(
    id="02.cosine_scores",
    func_name="cosine_scores",
    reference=cosine_scores,
    make_cases=_cos_cases,
    points=2,
    known_mistakes=[
        ("isso é o produto escalar (logit amarrado sem viés), não o cosseno: normalize os dois lados", _cos_dot),
        ("normalizou só h: falta dividir cada embedding (linha de W_E) pela sua norma", _cos_only_h),
        ("normalizou só W_E: falta dividir h pela sua norma", _cos_only_E),
        ("normalizou W_E no eixo errado: cada LINHA (um token) deve ter norma 1", _cos_wrong_axis),
    ],
))


# ---------------------------------------------------------------------------
# Investigações: 02.find_better_direct_path e 02.find_most_asymmetric_pair
# ---------------------------------------------------------------------------
def _direct_of(model):
    with torch.no_grad():
        return direct_path_logits(model.W_E.double(), model.W_U.double(), model.b_U.double())


def _bigram_losses(model_a, model_b, counts):
    """Gabarito: a perda do caminho direto de cada modelo contra os bigramas (float64)."""
    c = counts.double()
    return torch.stack([-(c * _direct_of(m).log_softmax(-1)).sum() / c.sum() for m in (model_a, model_b)])


def _compare_better(expected, got):
    if type(expected) is int:
        return None if got == expected else "respostas diferentes"
    if type(got) is not int or got not in (0, 1):
        return f"saída: esperado o int 0 (o primeiro modelo) ou 1 (o segundo); obtido {got!r}"
    if expected[got] <= expected[1 - got]:
        return None
    return ("o caminho direto do outro modelo prevê os bigramas melhor. Meça, para CADA modelo, a entropia "
            "cruzada de softmax(T[a]) contra as contagens counts[a, b] (média ponderada pelas contagens) e "
            "devolva o de menor perda.")


def _counts(gen, n_seqs=500):
    from course_lib import PtGrammar

    grammar = PtGrammar()
    text = grammar.make_dataset(n_seqs, 32, seed=int(torch.randint(0, 10_000, (1,), generator=gen)))
    V = grammar.d_vocab
    counts = torch.zeros(V, V)
    counts.index_put_((text[:, :-1].flatten(), text[:, 1:].flatten()), torch.ones(text[:, 1:].numel()), accumulate=True)
    return counts


def _better_cases(gen):
    return [Case((ModelRef("lm_tied"), ModelRef("lm_untied"), _counts(gen)),
                 description="lm_tied × lm_untied, bigramas de 500 frases da gramática")]


def _better_hidden(gen):
    counts = _counts(gen)
    if int(torch.randint(0, 2, (1,), generator=gen)):
        return [Case((ModelRef("lm_untied"), ModelRef("lm_tied"), counts), description="lm_untied × lm_tied")]
    return [Case((ModelRef("lm_tied"), ModelRef("lm"), counts), description="lm_tied × lm")]


def _better_by_symmetry(model_a, model_b, counts):  # erro: "mais assimétrico = melhor"? não; escolheu o MAIS simétrico
    sym = [asymmetry(_direct_of(m)) for m in (model_a, model_b)]
    return 0 if sym[0] < sym[1] else 1


register(Exercise(
    id="02.find_better_direct_path",
    func_name="find_better_direct_path",
    reference=_bigram_losses,
    make_cases=_better_cases,
    make_hidden_cases=_better_hidden,
    points=2,
    compare=_compare_better,
    known_mistakes=[
        ("escolheu o caminho direto mais SIMÉTRICO; a pergunta é qual prevê melhor os bigramas (menor perda)",
         _better_by_symmetry),
    ],
))


PAIR_SLACK = 0.01  # aceita qualquer par a até 1% do maior |T[a, b] − T[b, a]|


def _asym_table(model):
    """Gabarito: |T − Tᵀ| do caminho direto, em float64."""
    T = _direct_of(model)
    return (T - T.T).abs()


def _compare_pair(expected, got):
    if type(expected) in (list, tuple):
        return None if type(got) in (list, tuple) and sorted(got) == sorted(expected) else "respostas diferentes"
    n = expected.shape[0]
    if type(got) not in (list, tuple) or len(got) != 2 or not all(type(v) is int for v in got):
        return f"saída: esperada uma tupla (a, b) de dois int; obtido {got!r}"
    a, b = got
    if not (0 <= a < n and 0 <= b < n):
        return f"saída: ids fora do vocabulário (0 a {n - 1}): {got!r}"
    best = float(expected.max())
    if float(expected[a, b]) >= (1 - PAIR_SLACK) * best:
        return None
    return (f"|T[a, b] − T[b, a]| vale {float(expected[a, b]):.3g} neste par, mas há pares bem mais assimétricos. "
            "Monte a tabela T do caminho direto COM o viés, calcule |T − Tᵀ| e ache a posição do maior valor.")


def _pair_without_bias(model):
    with torch.no_grad():
        T = model.W_E.double() @ model.W_U.double()
    gap = (T - T.T).abs()
    return divmod(int(gap.argmax()), gap.shape[1])


register(Exercise(
    id="02.find_most_asymmetric_pair",
    func_name="find_most_asymmetric_pair",
    reference=_asym_table,
    make_cases=lambda gen: [Case((ModelRef("lm_tied"),), description="modelo 'lm_tied' (pesos amarrados)")],
    make_hidden_cases=lambda gen: [Case((ModelRef(["lm_untied", "lm"][int(torch.randint(0, 2, (1,), generator=gen))]),),
                                        description="outro modelo do curso")],
    points=2,
    compare=_compare_pair,
    known_mistakes=[
        ("tirou o viés b_U da tabela: no modelo amarrado W_E W_Eᵀ é simétrica e só o viés quebra a simetria",
         _pair_without_bias),
    ],
))
