"""Verificações do notebook 05_vendo_ativacoes (padrões de atenção, PCA, neurônios, teste em dados novos)."""

import functools

import torch

from course_lib.checks import Case, Exercise, ModelRef, register, resolve_model
from course_lib.checks.core import compare_tensors

_TEXTS = [
    "os gatos que o menino viu dormem.",
    "a menina bonita lê o livro.",
    "o menino que as meninas viram dorme sozinho.",
    "as gatas dormem juntas. o rei come o bolo.",
    "uma aluna canta hoje.",
]


def _pick(gen: torch.Generator, n: int) -> int:
    return int(torch.randint(0, n, (1,), generator=gen))


# ============================================================================ 05.get_pattern
def get_pattern(model, text: str, layer: int, head: int) -> torch.Tensor:
    _, cache = model.run_with_cache(model.to_tokens(text))
    return cache["pattern", layer][0, head]


def _get_pattern_transposed(model, text, layer, head):
    return get_pattern(model, text, layer, head).T


def _get_pattern_swapped_index(model, text, layer, head):
    _, cache = model.run_with_cache(model.to_tokens(text))
    return cache["pattern", head][0, layer]


def _get_pattern_scores(model, text, layer, head):
    _, cache = model.run_with_cache(model.to_tokens(text))
    return cache["attn_scores", layer][0, head]


def _get_pattern_cases(gen: torch.Generator) -> list[Case]:
    lm = ModelRef("lm")
    return [
        Case((lm, _TEXTS[_pick(gen, len(_TEXTS))], 0, 2), description="modelo lm, camada 0, cabeça 2"),
        Case((lm, _TEXTS[_pick(gen, len(_TEXTS))], 2, 1), description="modelo lm, camada 2, cabeça 1"),
        Case((lm, _TEXTS[_pick(gen, len(_TEXTS))], 1, 3), description="modelo lm, camada 1, cabeça 3"),
        Case((lm, "o gato", _pick(gen, 3), _pick(gen, 4)), description="texto curto (3 posições)"),
        Case((lm, "", 0, 0), description="só o BOS (1 posição)"),
    ]


register(
    Exercise(
        id="05.get_pattern",
        func_name="get_pattern",
        reference=get_pattern,
        make_cases=_get_pattern_cases,
        points=1,
        output_names=("query_pos", "key_pos"),
        known_mistakes=[
            ("eixos trocados: devolveu [key_pos, query_pos] (transposto)", _get_pattern_transposed),
            ("índices trocados: usou a cabeça como camada e a camada como cabeça", _get_pattern_swapped_index),
            ("devolveu as pontuações (antes do softmax, hook_attn_scores) em vez do padrão", _get_pattern_scores),
        ],
    )
)


# ============================================================================ 05.pca
def pca(X: torch.Tensor, k: int) -> torch.Tensor:
    Xc = X - X.mean(0, keepdim=True)
    _, _, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vh[:k].T


def _pca_not_centered(X, k):
    _, _, Vh = torch.linalg.svd(X, full_matrices=False)
    return X @ Vh[:k].T


def _pca_columns_of_vh(X, k):
    Xc = X - X.mean(0, keepdim=True)
    _, _, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vh[:, :k]


def _pca_only_u(X, k):
    Xc = X - X.mean(0, keepdim=True)
    U, _, _ = torch.linalg.svd(Xc, full_matrices=False)
    return U[:, :k]


def _pca_centered_rows(X, k):
    Xc = X - X.mean(1, keepdim=True)
    _, _, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vh[:k].T


def _compare_pca(expected, got):
    """Compara coordenadas de PCA aceitando qualquer sinal em cada componente."""
    if type(got) is torch.Tensor and type(expected) is torch.Tensor and got.shape == expected.shape \
            and got.dtype == expected.dtype and got.ndim == 2:
        flip = torch.where((got * expected).sum(0) < 0, -1.0, 1.0).to(got.dtype)
        got = got * flip
    return compare_tensors(expected, got, "coords", ("n", "k"), atol=1e-4, rtol=1e-3)


def _data(gen, n, d, offset, scales=None):
    """Pontos com variâncias bem diferentes por eixo (direções principais bem definidas)."""
    scales = scales if scales is not None else torch.linspace(3.0, 0.3, d)
    X = torch.randn(n, d, generator=gen) * scales
    R, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))  # gira os eixos
    return X @ R + offset


def _centered(X):
    return X - X.mean(0, keepdim=True)


def _pca_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((_data(gen, 30, 5, 4.0), 2), description="30 pontos em 5 dimensões, longe da origem, k=2"),
        Case((_data(gen, 50, 8, torch.randn(8, generator=gen) * 3), 3), description="50 pontos em 8 dimensões, k=3"),
        Case((_data(gen, 20, 6, 10.0), 1), description="k=1 (só a primeira componente)"),
        Case((_data(gen, 6, 10, 2.0, torch.linspace(3.0, 1.0, 10)), 2),
             description="menos pontos que dimensões (6 pontos em 10 dimensões)"),
        Case((_centered(_data(gen, 40, 4, 0.0)), 4), description="dados já centrados, k = d (todas as componentes)"),
    ]


register(
    Exercise(
        id="05.pca",
        func_name="pca",
        reference=pca,
        make_cases=_pca_cases,
        points=2,
        compare=_compare_pca,
        forbidden={"course_lib.activations.pca": "aqui você escreve a PCA; a da biblioteca é para conferir depois",
                   "pca_lowrank": "use a SVD (torch.linalg.svd), como pede o enunciado"},
        known_mistakes=[
            ("não centrou os dados (faltou subtrair a média de cada coluna)", _pca_not_centered),
            ("usou as colunas de Vh em vez das linhas (faltou transpor)", _pca_columns_of_vh),
            ("devolveu só U (faltou multiplicar por S: coords = U S = Xc Vᵀ)", _pca_only_u),
            ("centrou cada linha (ponto) em vez de cada coluna (dimensão)", _pca_centered_rows),
        ],
    )
)


# ============================================================================ 05.top_k_positions
def top_k_positions(acts: torch.Tensor, k: int) -> torch.Tensor:
    flat = acts.flatten()
    idx = flat.topk(k).indices
    pos_len = acts.shape[1]
    return torch.stack([idx // pos_len, idx % pos_len], dim=1)


def _topk_ascending(acts, k):
    flat = acts.flatten()
    idx = flat.topk(k, largest=False).indices
    return torch.stack([idx // acts.shape[1], idx % acts.shape[1]], dim=1)


def _topk_wrong_unravel(acts, k):
    idx = acts.flatten().topk(k).indices
    return torch.stack([idx // acts.shape[0], idx % acts.shape[0]], dim=1)


def _topk_swapped_columns(acts, k):
    return top_k_positions(acts, k)[:, [1, 0]]


def _topk_per_row(acts, k):
    # máximo de cada exemplo, e não do conjunto todo
    best_pos = acts.argmax(1)
    order = acts.max(1).values.argsort(descending=True)[:k]
    return torch.stack([order, best_pos[order]], dim=1)


def _topk_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(4, 10, generator=gen), 5), description="ativações [4, 10], k=5"),
        Case((torch.randn(3, 7, generator=gen) * 1e4, 6), description="valores enormes (1e4), k=6"),
        Case((torch.randn(1, 9, generator=gen), 3), description="lote de 1"),
        Case((torch.randn(6, 1, generator=gen), 4), description="uma posição por exemplo ([6, 1])"),
        Case((torch.randn(2, 3, generator=gen) - 5.0, 6), description="k = todas as posições, ativações negativas"),
    ]


register(
    Exercise(
        id="05.top_k_positions",
        func_name="top_k_positions",
        reference=top_k_positions,
        make_cases=_topk_cases,
        points=1,
        output_names=("k", "(batch, pos)"),
        known_mistakes=[
            ("pegou as MENORES ativações (ordem crescente)", _topk_ascending),
            ("desfez o índice achatado dividindo pelo número de exemplos (use o número de posições)",
             _topk_wrong_unravel),
            ("colunas trocadas: devolveu (pos, batch) em vez de (batch, pos)", _topk_swapped_columns),
            ("pegou só o máximo de cada exemplo, em vez das k maiores posições do conjunto", _topk_per_row),
        ],
    )
)


# ============================================================================ 05.diff_of_means_accuracy
def diff_of_means_accuracy(X_train, y_train, X_test, y_test) -> float:
    mu1, mu0 = X_train[y_train].mean(0), X_train[~y_train].mean(0)
    direction = mu1 - mu0
    threshold = (mu1 + mu0) / 2 @ direction
    return ((X_test @ direction > threshold) == y_test).float().mean().item()


def _dom_threshold_zero(X_train, y_train, X_test, y_test):
    direction = X_train[y_train].mean(0) - X_train[~y_train].mean(0)
    return ((X_test @ direction > 0) == y_test).float().mean().item()


def _dom_fit_on_test(X_train, y_train, X_test, y_test):
    return diff_of_means_accuracy(X_test, y_test, X_test, y_test)


def _dom_train_accuracy(X_train, y_train, X_test, y_test):
    return diff_of_means_accuracy(X_train, y_train, X_train, y_train)


def _dom_reversed(X_train, y_train, X_test, y_test):
    mu1, mu0 = X_train[y_train].mean(0), X_train[~y_train].mean(0)
    direction = mu0 - mu1
    threshold = (mu1 + mu0) / 2 @ direction
    return ((X_test @ direction > threshold) == y_test).float().mean().item()


def _two_groups(gen, n, d, shift, offset):
    y = torch.arange(n) % 2 == 0
    y = y[torch.randperm(n, generator=gen)]
    direction = torch.randn(d, generator=gen)
    X = torch.randn(n, d, generator=gen) * 1.5 + offset + y[:, None] * shift * direction / direction.norm()
    return X, y


def _dom_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n_train, n_test, d, shift, offset, desc in (
        (40, 30, 5, 3.0, 2.0, "grupos separados, longe da origem"),
        (60, 40, 10, 1.5, -3.0, "grupos que se sobrepõem"),
        (8, 20, 12, 4.0, 5.0, "poucos exemplos de treino (8) em 12 dimensões"),
        (30, 1, 4, 3.0, 1.0, "um único exemplo de teste"),
    ):
        X, y = _two_groups(gen, n_train + n_test, d, shift, offset)
        cases.append(Case((X[:n_train], y[:n_train], X[n_train:], y[n_train:]), description=desc))
    return cases


register(
    Exercise(
        id="05.diff_of_means_accuracy",
        func_name="diff_of_means_accuracy",
        reference=diff_of_means_accuracy,
        make_cases=_dom_cases,
        points=2,
        forbidden={"course_lib.activations.diff_of_means_accuracy":
                   "aqui você escreve a regra; a da biblioteca é a que a lição usou"},
        known_mistakes=[
            ("limiar em 0: faltou usar o ponto médio entre as duas médias", _dom_threshold_zero),
            ("ajustou a direção nos dados de TESTE (use só o treino para escolher a regra)", _dom_fit_on_test),
            ("devolveu a acurácia no TREINO, não no teste", _dom_train_accuracy),
            ("direção invertida (média do grupo False menos a do grupo True)", _dom_reversed),
        ],
    )
)


# ============================================================================ 05.find_plural_neuron
_ACTS_MEMO: dict = {}


def _all_acts(model, tokens, layer) -> torch.Tensor:
    """Ativações de todos os neurônios [batch, pos, d_mlp], guardadas por (modelo, tokens, camada):
    o gabarito e os erros conhecidos rodam nos mesmos casos várias vezes."""
    from course_lib import activations

    key = (id(model), layer, tuple(tokens.shape), hash(tuple(tokens.flatten().tolist())))
    if key not in _ACTS_MEMO:
        if len(_ACTS_MEMO) > 16:
            _ACTS_MEMO.clear()
        _ACTS_MEMO[key] = activations.neuron_acts(model, tokens, layer, range(model.cfg.d_mlp))
    return _ACTS_MEMO[key]


def _plural_selectivity(model, tokens, plural_ids, layer) -> torch.Tensor:
    """Seletividade de cada neurônio: fração das k maiores ativações em substantivos no plural."""
    is_plural = torch.isin(tokens, plural_ids).flatten()
    acts = _all_acts(model, tokens, layer).flatten(0, 1)  # [posições, n]
    top = acts.topk(int(is_plural.sum()), dim=0).indices  # [k, n]
    return is_plural[top].float().mean(0)


def find_plural_neuron(model, tokens, plural_ids, layer) -> int:
    return int(_plural_selectivity(model, tokens, plural_ids, layer).argmax())


# Margem de "qualquer resposta certa": neurônios a menos de 0,05 do melhor (poucas posições
# de diferença em k ≈ 200) são todos bons detectores; a verificação aceita qualquer um.
SELECTIVITY_MARGIN = 0.05


def _plural_reference(model, tokens, plural_ids, layer) -> dict:
    sel = _plural_selectivity(model, tokens, plural_ids, layer)
    return {"melhor": int(sel.argmax()), "seletividade": sel}


def _compare_plural_neuron(expected, got) -> str | None:
    if type(expected) is int:  # saída de um erro conhecido (para reconhecê-lo pelo nome)
        return None if got == expected else f"neurônio {got}, não {expected}"
    if type(got) is not int:
        return f"saída: esperado um int (o índice do neurônio), obtido {type(got).__name__}"
    sel = expected["seletividade"]
    if not 0 <= got < len(sel):
        return f"saída: o neurônio {got} não existe; a camada tem {len(sel)} neurônios (0 a {len(sel) - 1})"
    best = float(sel.max())
    if float(sel[got]) >= best - SELECTIVITY_MARGIN:
        return None
    return (f"o neurônio {got} tem seletividade {float(sel[got]):.2f} (fração das suas k maiores ativações que "
            f"caem num substantivo no plural); há neurônios nesta camada acima de {best - SELECTIVITY_MARGIN:.2f}. "
            "Meça a seletividade de TODOS os neurônios, com k = número de posições com substantivo no plural, "
            "e fique com a maior")


def _plural_ids(model) -> torch.Tensor:
    from course_lib.data import NOUNS

    return torch.tensor(sorted({model.tokenizer.to_single_token(pl) for _, pl, _, _ in NOUNS}))


@functools.lru_cache(maxsize=None)
def _grammar():
    from course_lib import PtGrammar

    return PtGrammar()


def _grammar_tokens(seed: int, n: int = 40) -> torch.Tensor:
    return _grammar().make_dataset(n, 32, seed=seed)


def _plural_argmin(model, tokens, plural_ids, layer):
    return int(_plural_selectivity(model, tokens, plural_ids, layer).argmin())


def _plural_mean_activation(model, tokens, plural_ids, layer):
    acts = _all_acts(model, tokens, layer)
    return int(acts[torch.isin(tokens, plural_ids)].mean(0).argmax())


def _plural_top10(model, tokens, plural_ids, layer):
    is_plural = torch.isin(tokens, plural_ids).flatten()
    acts = _all_acts(model, tokens, layer).flatten(0, 1)
    return int(is_plural[acts.topk(10, dim=0).indices].float().mean(0).argmax())


def _plural_cases(gen: torch.Generator) -> list[Case]:
    lm, untied = ModelRef("lm"), ModelRef("lm_untied")
    seed = 3 + _pick(gen, 50)
    ids = _plural_ids(resolve_model("lm"))
    return [
        Case((lm, _grammar_tokens(seed), ids, 0), description="modelo lm, camada 0"),
        Case((lm, _grammar_tokens(seed + 1), ids, 1), description="modelo lm, camada 1"),
        Case((untied, _grammar_tokens(seed + 2), ids, 1), description="modelo lm_untied (outro checkpoint), camada 1"),
    ]


def _plural_hidden_cases(gen: torch.Generator) -> list[Case]:
    names = ("lm", "lm_tied", "lm_untied")
    ids = _plural_ids(resolve_model("lm"))
    cases = []
    for _ in range(3):
        name = names[_pick(gen, 3)]
        layer = _pick(gen, resolve_model(name).cfg.n_layers)
        cases.append(Case((ModelRef(name), _grammar_tokens(100 + _pick(gen, 1000)), ids, layer),
                          description=f"modelo {name}, camada {layer}"))
    return cases


register(
    Exercise(
        id="05.find_plural_neuron",
        func_name="find_plural_neuron",
        reference=_plural_reference,
        make_cases=_plural_cases,
        make_hidden_cases=_plural_hidden_cases,
        points=2,
        compare=_compare_plural_neuron,
        known_mistakes=[
            ("pegou o neurônio MENOS seletivo (argmin em vez de argmax)", _plural_argmin),
            ("escolheu pela ativação média nos plurais: um neurônio que dispara em tudo também tem média alta",
             _plural_mean_activation),
            ("usou um k fixo (10): com poucos exemplos, dezenas de neurônios empatam em 100%", _plural_top10),
        ],
    )
)


# ============================================================================ 05.find_gender_groups
GROUPS = ("singular", "plural", "todos")
# Margem em torno do limiar: um grupo a menos de 0,05 dele pode ficar dentro ou fora.
GROUP_MARGIN = 0.05


def _group_accuracies(model, noun_ids, is_fem, is_plural, test) -> dict[str, float]:
    X = model.W_E.detach()[noun_ids]
    rows = {"singular": ~is_plural, "plural": is_plural, "todos": torch.ones_like(is_plural)}
    out = {}
    for name, r in rows.items():
        fit, new = r & ~test, r & test
        out[name] = diff_of_means_accuracy(X[fit], is_fem[fit], X[new], is_fem[new])
    return out


def find_gender_groups(model, noun_ids, is_fem, is_plural, test, threshold=0.8) -> list:
    accs = _group_accuracies(model, noun_ids, is_fem, is_plural, test)
    return [g for g in GROUPS if accs[g] >= threshold]


def _gender_reference(model, noun_ids, is_fem, is_plural, test, threshold=0.8) -> dict:
    return {"acuracias": _group_accuracies(model, noun_ids, is_fem, is_plural, test), "limiar": threshold}


def _compare_gender_groups(expected, got) -> str | None:
    if type(got) not in (list, tuple) or not all(type(g) is str for g in got):
        return f"saída: esperado uma lista de nomes de grupos (str), obtido {type(got).__name__}"
    unknown = [g for g in got if g not in GROUPS]
    if unknown:
        return f"saída: grupo(s) desconhecido(s) {unknown}; use só {list(GROUPS)}"
    if type(expected) is list:  # saída de um erro conhecido
        return None if sorted(got) == sorted(expected) else f"grupos {sorted(got)}, não {sorted(expected)}"
    accs, limit = expected["acuracias"], expected["limiar"]
    missing = [g for g in GROUPS if accs[g] >= limit + GROUP_MARGIN and g not in got]
    extra = [g for g in got if accs[g] <= limit - GROUP_MARGIN]
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"faltou {missing}")
    if extra:
        parts.append(f"sobrou {extra}")
    return ("; ".join(parts) + f". Para cada grupo, ajuste a regra nos lemas de TREINO do grupo (as linhas com "
            f"`test` falso) e meça a acurácia do gênero nos lemas de TESTE do mesmo grupo; fica o grupo cuja "
            f"acurácia em palavras novas é >= {limit}")


def _noun_case(model, seed: int):
    from course_lib.data import NOUNS

    ids, fem, plural = [], [], []
    for singular, plural_word, gender, _ in NOUNS:
        for word, is_pl in ((singular, False), (plural_word, True)):
            ids.append(model.tokenizer.to_single_token(word))
            fem.append(gender == "f")
            plural.append(is_pl)
    lemma = torch.arange(len(ids)) // 2
    perm = torch.randperm(len(NOUNS), generator=torch.Generator().manual_seed(seed))
    test = torch.isin(lemma, perm[: len(NOUNS) // 2])
    return torch.tensor(ids), torch.tensor(fem), torch.tensor(plural), test


def _gender_train_accuracy(model, noun_ids, is_fem, is_plural, test, threshold=0.8):
    X = model.W_E.detach()[noun_ids]
    rows = {"singular": ~is_plural, "plural": is_plural, "todos": torch.ones_like(is_plural)}
    return [g for g, r in rows.items()
            if diff_of_means_accuracy(X[r & ~test], is_fem[r & ~test], X[r & ~test], is_fem[r & ~test]) >= threshold]


def _gender_inverted(model, noun_ids, is_fem, is_plural, test, threshold=0.8):
    accs = _group_accuracies(model, noun_ids, is_fem, is_plural, test)
    return [g for g in GROUPS if accs[g] < threshold]


def _gender_only_pooled(model, noun_ids, is_fem, is_plural, test, threshold=0.8):
    accs = _group_accuracies(model, noun_ids, is_fem, is_plural, test)
    return ["todos"] if accs["todos"] >= threshold else []


def _gender_cases(gen: torch.Generator) -> list[Case]:
    lm = resolve_model("lm")
    return [
        Case((ModelRef("lm"), *_noun_case(lm, 0)), description="modelo lm, metade dos lemas para teste (sorteio 0)"),
        Case((ModelRef("lm"), *_noun_case(lm, 2)), description="modelo lm, sorteio 2"),
        Case((ModelRef("lm_untied"), *_noun_case(lm, 2)), {"threshold": 0.9},
             description="modelo lm_untied (outro checkpoint), sorteio 2, limiar 0.9"),
    ]


def _gender_hidden_cases(gen: torch.Generator) -> list[Case]:
    lm = resolve_model("lm")
    names = ("lm", "lm_tied", "lm_untied")
    return [Case((ModelRef(names[i]), *_noun_case(lm, 10 + _pick(gen, 1000))),
                 description=f"modelo {names[i]}, outro sorteio de lemas") for i in range(3)]


register(
    Exercise(
        id="05.find_gender_groups",
        func_name="find_gender_groups",
        reference=_gender_reference,
        make_cases=_gender_cases,
        make_hidden_cases=_gender_hidden_cases,
        points=2,
        compare=_compare_gender_groups,
        known_mistakes=[
            ("mediu a acurácia no TREINO: com 28 a 56 pontos em 64 dimensões a regra decora ruído",
             _gender_train_accuracy),
            ("devolveu os grupos ABAIXO do limiar", _gender_inverted),
            ("olhou só o grupo 'todos': a média dos dois números esconde o gênero", _gender_only_pooled),
        ],
    )
)
