"""Verificações do notebook 00_boas_vindas (tour do curso e do modelo).

Exercícios:
    00.tokens_to_strings  ids -> lista de strings, com um vocabulário dado
    00.count_params       número de parâmetros de um Config, por fórmula
    00.head_pattern       padrão de atenção da cabeça (layer, head) a partir do cache
"""

from __future__ import annotations

import torch

from course_lib.checks import Case, Exercise, ModelRef, register
from course_lib.model import Config, HookedTransformer

# ============================================================================ 00.tokens_to_strings
VOCAB_PEQUENO = ["<bos>", "o", "a", "gato", "gata", "dorme", "come", "."]


def tokens_to_strings(tokens: torch.Tensor, vocab: list[str]) -> list[str]:
    return [vocab[int(i)] for i in tokens.tolist()]


def _tts_sem_bos(tokens, vocab):
    return [vocab[int(i)] for i in tokens.tolist() if int(i) != 0]


def _tts_deslocado(tokens, vocab):
    return [vocab[int(i) - 1] for i in tokens.tolist()]


def _tts_string(tokens, vocab):
    return " ".join(vocab[int(i)] for i in tokens.tolist())


def _tts_cases(gen: torch.Generator) -> list[Case]:
    n = len(VOCAB_PEQUENO)
    aleatorio = torch.cat([torch.zeros(1, dtype=torch.long), torch.randint(1, n, (6,), generator=gen)])
    return [
        Case((torch.tensor([0, 1, 3, 5, 7]), VOCAB_PEQUENO), description="'<bos> o gato dorme .'"),
        Case((aleatorio, VOCAB_PEQUENO), description="ids aleatórios começando pelo <bos>"),
        Case((torch.tensor([0]), VOCAB_PEQUENO), description="só o <bos> (uma posição)"),
        Case((torch.tensor([4, 4, 6]), VOCAB_PEQUENO), description="ids repetidos, sem <bos>"),
    ]


register(
    Exercise(
        id="00.tokens_to_strings",
        func_name="tokens_to_strings",
        reference=tokens_to_strings,
        make_cases=_tts_cases,
        points=1,
        known_mistakes=[
            ("o <bos> (id 0) foi descartado; ele também é um token da sequência", _tts_sem_bos),
            ("índices deslocados em 1 (vocab[i - 1]); o id i é a posição i do vocabulário", _tts_deslocado),
            ("devolveu um texto único; a saída deve ser uma lista, uma string por token", _tts_string),
        ],
    )
)


# ============================================================================ 00.count_params
def count_params(cfg: dict) -> int:
    """Gabarito: constrói o modelo de verdade e soma os numel() dos parâmetros."""
    model = HookedTransformer(Config(**cfg))
    return int(sum(p.numel() for p in model.parameters()))


def _formula(cfg: dict, biases=True, ln=True, tying=True, pos=True, ln_final=True, d_head_from_model=False) -> int:
    d, H, V, L = cfg["d_model"], cfg["n_heads"], cfg["d_vocab"], cfg["n_layers"]
    dh = d // H if d_head_from_model else cfg["d_head"]
    has_ln = cfg["normalization"] == "LN" and ln
    total = V * d + (cfg["n_ctx"] * d if pos else 0)
    per_layer = 4 * H * d * dh + ((3 * H * dh + d) if biases else 0) + (2 * d if has_ln else 0)
    if cfg["d_mlp"] is not None:
        m = cfg["d_mlp"]
        per_layer += 2 * d * m + ((m + d) if biases else 0) + (2 * d if has_ln else 0)
    total += L * per_layer
    if has_ln and ln_final:
        total += 2 * d
    if not (cfg["tie_embeddings"] and tying):
        total += d * V
    if biases:
        total += V
    return total


def _cfg(**kw) -> dict:
    return Config(**kw).to_dict()


def _count_cases(gen: torch.Generator) -> list[Case]:
    d_model = 16 * int(torch.randint(2, 5, (1,), generator=gen))
    d_vocab = int(torch.randint(20, 80, (1,), generator=gen))
    return [
        Case((_cfg(n_layers=3, d_model=64, n_heads=4, d_mlp=256, d_vocab=260, n_ctx=32),),
             description="a config do modelo 'lm' (3 camadas, MLP, LayerNorm)"),
        Case((_cfg(n_layers=2, d_model=64, n_heads=4, d_mlp=None, d_vocab=64, n_ctx=64, normalization=None),),
             description="a config do modelo 'induction' (só atenção, sem LayerNorm)"),
        Case((_cfg(n_layers=2, d_model=64, n_heads=4, d_mlp=256, d_vocab=260, n_ctx=32, tie_embeddings=True),),
             description="pesos amarrados (tie_embeddings=True: W_U = W_Eᵀ)"),
        Case((_cfg(n_layers=1, d_model=d_model, n_heads=4, d_head=8, d_mlp=4 * d_model, d_vocab=d_vocab, n_ctx=10),),
             description=f"d_head=8 diferente de d_model/n_heads (d_model={d_model})"),
        Case((_cfg(n_layers=1, d_model=8, n_heads=1, d_mlp=None, d_vocab=5, n_ctx=3),),
             description="modelo mínimo: 1 camada, 1 cabeça, só atenção, com LayerNorm"),
    ]


register(
    Exercise(
        id="00.count_params",
        func_name="count_params",
        reference=count_params,
        make_cases=_count_cases,
        points=2,
        atol=0,
        rtol=0,
        known_mistakes=[
            ("esqueceu os vieses (b_Q, b_K, b_V, b_O, b_in, b_out, b_U)", lambda c: _formula(c, biases=False)),
            ("esqueceu os parâmetros das LayerNorms (w e b em ln1, ln2 e ln_final)", lambda c: _formula(c, ln=False)),
            ("esqueceu a LayerNorm final (ln_final.w e ln_final.b)", lambda c: _formula(c, ln_final=False)),
            ("contou W_U separado mesmo com tie_embeddings=True (amarrado, W_U é o próprio W_Eᵀ)",
             lambda c: _formula(c, tying=False)),
            ("esqueceu W_pos, os embeddings de posição [n_ctx, d_model]", lambda c: _formula(c, pos=False)),
            ("usou d_model // n_heads em vez de cfg['d_head']", lambda c: _formula(c, d_head_from_model=True)),
        ],
    )
)


# ============================================================================ 00.head_pattern
def head_pattern(model, tokens: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    _, cache = model.run_with_cache(tokens)
    return cache["pattern", layer][0, head]


def _hp_transposto(model, tokens, layer, head):
    return head_pattern(model, tokens, layer, head).T


def _hp_trocado(model, tokens, layer, head):
    return head_pattern(model, tokens, head, layer)


def _hp_scores(model, tokens, layer, head):
    _, cache = model.run_with_cache(tokens)
    return cache["attn_scores", layer][0, head]


def _hp_media(model, tokens, layer, head):
    _, cache = model.run_with_cache(tokens)
    return cache["pattern", layer][0].mean(0)


FRASES = [
    "os gatos que o menino viu dormem",
    "a menina bonita lê o livro",
    "o professor come um bolo",
    "as gatas dormem juntas",
]


def _hp_cases(gen: torch.Generator) -> list[Case]:
    from course_lib import load_pretrained

    tok = load_pretrained("lm").tokenizer
    i = int(torch.randint(0, len(FRASES), (1,), generator=gen))
    head = int(torch.randint(0, 4, (1,), generator=gen))
    return [
        Case((ModelRef("lm"), tok.to_tokens(FRASES[0]), 0, 1), description=f"{FRASES[0]!r}, camada 0, cabeça 1"),
        Case((ModelRef("lm"), tok.to_tokens(FRASES[i]), 2, head if head != 2 else 3),
             description=f"{FRASES[i]!r}, camada 2"),
        Case((ModelRef("lm"), tok.to_tokens("o"), 1, 3), description="'<bos> o' (duas posições), camada 1, cabeça 3"),
    ]


register(
    Exercise(
        id="00.head_pattern",
        func_name="head_pattern",
        reference=head_pattern,
        make_cases=_hp_cases,
        points=1,
        output_names=("query_pos", "key_pos"),
        known_mistakes=[
            ("eixos trocados: a linha é a query (quem olha) e a coluna é a key (para onde olha)", _hp_transposto),
            ("camada e cabeça trocadas: é cache['pattern', layer][0, head]", _hp_trocado),
            ("usou os scores (antes do softmax); o padrão é cache['pattern', layer]", _hp_scores),
            ("fez a média das cabeças; pegue só a cabeça `head`", _hp_media),
        ],
    )
)


# ============================================================================ investigações (00.find_*)
# A resposta é uma descoberta, (camada, cabeça). O gabarito devolve o escore de TODAS as
# cabeças no modelo e no texto do caso; `_head_finding` aceita qualquer cabeça cujo escore
# fique a até MARGIN do maior (empates técnicos valem), e recusa as outras dizendo o que medir.
MARGIN = 0.03


def _head_finding(what: str, how: str):
    def compare(expected, got):
        if type(expected) in (list, tuple):  # comparação entre duas respostas (erros conhecidos)
            return None if type(got) in (list, tuple) and list(got) == list(expected) else "respostas diferentes"
        n_layers, n_heads = expected.shape
        if type(got) not in (list, tuple) or len(got) != 2 or not all(type(v) is int for v in got):
            return (f"saída: esperada uma tupla (camada, cabeça) de dois int; obtido {got!r} "
                    "(use int(...) para converter um tensor de 1 elemento)")
        layer, head = got
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            return f"saída: ({layer}, {head}) não existe neste modelo ({n_layers} camadas × {n_heads} cabeças)"
        score, best = float(expected[layer, head]), float(expected.max())
        if score >= best - MARGIN:
            return None
        return (f"a cabeça {layer}.{head} tem {what} {score:.2f}, mas há cabeças neste modelo com escore "
                f"bem maior (mais de {MARGIN} acima). Meça {how} para CADA cabeça (todas as camadas) e "
                "escolha a de maior escore.")
    return compare


def _prev_scores(model, tokens):
    from course_lib.detectors import previous_token_scores

    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    return previous_token_scores(cache)


def _bos_scores(model, tokens):
    from course_lib.detectors import first_token_scores

    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    return first_token_scores(cache)


def _argmax_head(scores):
    flat = int(scores.argmax())
    return (flat // scores.shape[1], flat % scores.shape[1])


def _diag_scores(model, tokens, offset):
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    pats = torch.stack([cache["pattern", l][0] for l in range(model.cfg.n_layers)])  # [L, H, q, k]
    return pats.diagonal(offset=-offset, dim1=-2, dim2=-1)[..., 1 - min(offset, 1):].mean(-1)


def _grammar_tokens(gen, n_ctx=32):
    from course_lib import PtGrammar

    return PtGrammar().make_dataset(1, n_ctx, seed=int(torch.randint(0, 10_000, (1,), generator=gen)))


def _repeated_tokens(gen, d_vocab=64, n=20):
    x = torch.randint(1, d_vocab, (1, n), generator=gen)
    return torch.cat([torch.zeros(1, 1, dtype=torch.long), x, x], dim=1)


def _prev_cases(gen):
    return [Case((ModelRef("lm"), _grammar_tokens(gen)), description="modelo 'lm', 32 tokens de texto da gramática")]


def _prev_hidden(gen):
    return [
        Case((ModelRef("lm"), _grammar_tokens(gen)), description="modelo 'lm', outro texto da gramática"),
        Case((ModelRef("lm_untied"), _grammar_tokens(gen)), description="modelo 'lm_untied', texto da gramática"),
        Case((ModelRef("induction"), _repeated_tokens(gen)), description="modelo 'induction', tokens aleatórios repetidos"),
    ]


def _bos_cases(gen):
    return [Case((ModelRef("lm_tied"), _grammar_tokens(gen)), description="modelo 'lm_tied', 32 tokens de texto da gramática")]


def _bos_hidden(gen):
    return [
        Case((ModelRef("lm_tied"), _grammar_tokens(gen)), description="modelo 'lm_tied', outro texto da gramática"),
        Case((ModelRef("induction"), _repeated_tokens(gen)), description="modelo 'induction', tokens aleatórios repetidos"),
    ]


register(
    Exercise(
        id="00.find_previous_token_head",
        func_name="find_previous_token_head",
        reference=_prev_scores,
        make_cases=_prev_cases,
        make_hidden_cases=_prev_hidden,
        points=2,
        compare=_head_finding("escore de token anterior",
                              "a atenção média de cada posição de destino q ≥ 1 na posição de origem q − 1"),
        known_mistakes=[
            ("mediu a atenção no PRÓPRIO token (a diagonal principal); o token anterior é a diagonal logo abaixo",
             lambda m, t: _argmax_head(_diag_scores(m, t, 0))),
        ],
    )
)

register(
    Exercise(
        id="00.find_bos_head",
        func_name="find_bos_head",
        reference=_bos_scores,
        make_cases=_bos_cases,
        make_hidden_cases=_bos_hidden,
        points=2,
        compare=_head_finding("escore de BOS", "a atenção média das posições de destino q ≥ 1 na posição de origem 0"),
        known_mistakes=[
            ("mediu a atenção no token anterior; a cabeça de BOS olha para a posição 0 (a coluna 0 do padrão)",
             lambda m, t: _argmax_head(_prev_scores(m, t))),
        ],
    )
)
