"""Verificações do notebook 09 · Circuitos de indução."""

import functools

import torch
import torch.nn.functional as F

from course_lib.checks import Case, Exercise, ModelRef, register


# ---------------------------------------------------------------------------
# Auxiliares dos casos
# ---------------------------------------------------------------------------
def _induction_model():
    from course_lib import load_pretrained

    return load_pretrained("induction")


def _repeated(gen: torch.Generator, batch: int, seq_len: int, d_vocab: int = 64) -> torch.Tensor:
    from course_lib.data import repeated_tokens

    return repeated_tokens(batch, seq_len, d_vocab, generator=gen)


# ---------------------------------------------------------------------------
# 09.composition_score
# ---------------------------------------------------------------------------
def composition_score(W_A: torch.Tensor, W_B: torch.Tensor) -> float:
    return ((W_A @ W_B).norm() / (W_A.norm() * W_B.norm())).item()


def _comp_no_norm(W_A, W_B):
    return (W_A @ W_B).norm().item()


def _comp_only_A(W_A, W_B):
    return ((W_A @ W_B).norm() / W_A.norm()).item()


def _comp_swapped(W_A, W_B):
    return ((W_B @ W_A).norm() / (W_A.norm() * W_B.norm())).item()


def _comp_spectral(W_A, W_B):
    n = lambda M: torch.linalg.matrix_norm(M, ord=2)  # noqa: E731
    return (n(W_A @ W_B) / (n(W_A) * n(W_B))).item()


def _comp_elementwise(W_A, W_B):
    return ((W_A * W_B).norm() / (W_A.norm() * W_B.norm())).item()


def _comp_squared(W_A, W_B):
    return ((W_A @ W_B).norm() ** 2 / (W_A.norm() ** 2 * W_B.norm() ** 2)).item()


def _comp_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    A_low = r(8, 2) @ r(2, 8)
    B_low = r(8, 2) @ r(2, 8)
    ortho_A = torch.zeros(4, 4)
    ortho_A[:, :2] = r(4, 2)  # escreve só nas direções 0 e 1
    ortho_B = torch.zeros(4, 4)
    ortho_B[2:, :] = r(2, 4)  # lê só as direções 2 e 3
    return [
        Case((r(8, 8), r(8, 8)), description="duas matrizes aleatórias 8×8"),
        Case((A_low, B_low), description="W_OV e W_QK de posto 2 (8×8)"),
        Case((r(6, 4), r(4, 6)), description="formas diferentes: W_A 6×4, W_B 4×6"),
        Case((torch.eye(4), torch.eye(4)), description="identidade com identidade (4×4)"),
        Case((ortho_A, ortho_B), description="W_A escreve onde W_B não lê (composição nula)"),
        Case((r(5, 5) * 1e3, r(5, 5) * 1e-3), description="escalas enormes e minúsculas"),
        Case((torch.tensor([[2.0]]), torch.tensor([[-3.0]])), description="matrizes 1×1"),
    ]


register(Exercise(
    id="09.composition_score",
    func_name="composition_score",
    reference=composition_score,
    make_cases=_comp_cases,
    points=1,
    known_mistakes=[
        ("faltou normalizar: divida por ‖W_A‖_F·‖W_B‖_F", _comp_no_norm),
        ("normalizou só por ‖W_A‖_F (falta ‖W_B‖_F)", _comp_only_A),
        ("ordem trocada: é W_A @ W_B (quem escreve à esquerda), não W_B @ W_A", _comp_swapped),
        ("usou a norma espectral (ord=2); o escore usa a norma de Frobenius", _comp_spectral),
        ("produto elemento a elemento (*) no lugar do produto de matrizes (@)", _comp_elementwise),
        ("elevou as normas ao quadrado", _comp_squared),
    ],
))


# ---------------------------------------------------------------------------
# 09.full_ov_circuit
# ---------------------------------------------------------------------------
def full_ov_circuit(W_E: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    return W_E @ W_V @ W_O @ W_U


def _ov_with_WE_T(W_E, W_V, W_O, W_U):
    return W_E @ W_V @ W_O @ W_E.T


def _ov_no_WU(W_E, W_V, W_O, W_U):
    return W_E @ W_V @ W_O


def _ov_transposed(W_E, W_V, W_O, W_U):
    return (W_E @ W_V @ W_O @ W_U).T


def _ov_no_WE(W_E, W_V, W_O, W_U):
    return W_V @ W_O @ W_U


def _ov_OV_transposed(W_E, W_V, W_O, W_U):
    return W_E @ (W_V @ W_O).T @ W_U


def _ov_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    model = _induction_model()
    layer, head = 1, 2
    real = (model.W_E.detach().clone(), model.W_V[layer, head].detach().clone(),
            model.W_O[layer, head].detach().clone(), model.W_U.detach().clone())
    return [
        Case((r(7, 5), r(5, 3), r(3, 5), r(5, 7)), description="d_vocab=7, d_model=5, d_head=3"),
        Case((r(4, 6), r(6, 1), r(1, 6), r(6, 4)), description="d_head=1 (circuito de posto 1)"),
        Case((r(5, 5), r(5, 2), r(2, 5), r(5, 5)), description="d_vocab = d_model = 5"),
        Case(real, description="cabeça L1H2 do modelo `induction` (d_vocab = d_model = 64)"),
    ]


register(Exercise(
    id="09.full_ov_circuit",
    func_name="full_ov_circuit",
    reference=full_ov_circuit,
    make_cases=_ov_cases,
    points=1,
    output_names=("token_fonte", "token_saida"),
    atol=1e-4,
    known_mistakes=[
        ("usou W_Eᵀ no fim; a saída vai para os logits por W_U (isso é o lado de um circuito QK)", _ov_with_WE_T),
        ("esqueceu W_U: W_E W_V W_O ainda está no espaço do resíduo, não dos logits", _ov_no_WU),
        ("resultado transposto: as linhas são o token da fonte (W_E à esquerda), as colunas o logit", _ov_transposed),
        ("esqueceu W_E: as linhas devem ser tokens, não direções do resíduo", _ov_no_WE),
        ("usou (W_V W_O)ᵀ: no resíduo em vetores-linha, o que a cabeça escreve é x W_V W_O, sem transpor",
         _ov_OV_transposed),
    ],
))


# ---------------------------------------------------------------------------
# 09.diagonal_top1_accuracy
# ---------------------------------------------------------------------------
def diagonal_top1_accuracy(M: torch.Tensor) -> float:
    n = M.shape[0]
    return (M.argmax(dim=-1) == torch.arange(n, device=M.device)).float().mean().item()


def _diag_columns(M):
    return (M.argmax(dim=0) == torch.arange(M.shape[0])).float().mean().item()


def _diag_count(M):
    return float((M.argmax(dim=-1) == torch.arange(M.shape[0])).sum().item())


def _diag_positive(M):
    return (M.diagonal() > 0).float().mean().item()


def _diag_off_by_one(M):
    n = M.shape[0]
    return (M.argmax(dim=-1)[:-1] == torch.arange(1, n)).float().mean().item() if n > 1 else 0.0


def _diag_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    planted = r(6, 6)
    planted[torch.arange(4), torch.arange(4)] += 10.0  # 4 de 6 linhas com a diagonal vencendo
    col_vs_row = torch.tensor([[3.0, 9.0, 8.0],
                               [0.0, 1.0, 0.0],
                               [0.0, 0.0, 2.0]])  # por linha: 2/3; por coluna: 1/3
    from course_lib import circuits

    real = circuits.full_OV_circuit(_induction_model(), 1, 2).AB.detach().clone()
    return [
        Case((planted,), description="6×6 aleatória com diagonal reforçada em 4 linhas"),
        Case((col_vs_row,), description="3×3 em que linha e coluna dão respostas diferentes"),
        Case((torch.eye(5),), description="identidade 5×5"),
        Case((-torch.eye(4) + 0.5,), description="diagonal menor que o resto da linha"),
        Case((torch.tensor([[-3.0]]),), description="matriz 1×1"),
        Case((r(8, 8) * 1e6,), description="valores enormes (1e6)"),
        Case((real,), description="OV completo de L1H2 do modelo `induction`"),
    ]


register(Exercise(
    id="09.diagonal_top1_accuracy",
    func_name="diagonal_top1_accuracy",
    reference=diagonal_top1_accuracy,
    make_cases=_diag_cases,
    points=1,
    forbidden={"course_lib.circuits.top1_diagonal_accuracy": "a lição usa a da biblioteca; aqui você escreve a sua"},
    known_mistakes=[
        ("argmax sobre o eixo errado (colunas): use o máximo de cada LINHA, dim=-1", _diag_columns),
        ("devolveu a contagem de linhas; divida pelo número de linhas", _diag_count),
        ("olhou só o sinal da diagonal; a pergunta é se ela é o MÁXIMO da linha", _diag_positive),
        ("diagonal deslocada de 1 (off-by-one)", _diag_off_by_one),
    ],
))


# ---------------------------------------------------------------------------
# 09.head_logit_attribution
# ---------------------------------------------------------------------------
def head_logit_attribution(z: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    head_out = torch.einsum("bhd,hdm->bhm", z, W_O)  # [batch, n_heads, d_model]
    direction = W_U[:, target].T  # [batch, d_model]
    return torch.einsum("bhm,bm->bh", head_out, direction)


def _dla_row(z, W_O, W_U, target):
    head_out = torch.einsum("bhd,hdm->bhm", z, W_O)
    return torch.einsum("bhm,bm->bh", head_out, W_U[target])


def _dla_summed(z, W_O, W_U, target):
    return head_logit_attribution(z, W_O, W_U, target).sum(-1)


def _dla_all_tokens(z, W_O, W_U, target):
    return torch.einsum("bhd,hdm,mv->bhv", z, W_O, W_U)


def _dla_log_softmax(z, W_O, W_U, target):
    logits = torch.einsum("bhd,hdm,mv->bhv", z, W_O, W_U)
    return F.log_softmax(logits, dim=-1).gather(-1, target[:, None, None].expand(-1, z.shape[1], 1))[..., 0]


def _dla_shared_WO(z, W_O, W_U, target):
    head_out = torch.einsum("bhd,dm->bhm", z, W_O.sum(0))
    return torch.einsum("bhm,bm->bh", head_out, W_U[:, target].T)


def _dla_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    model = _induction_model()
    tokens = _repeated(gen, 4, 10)
    _, cache = model.run_with_cache(tokens)
    pos = 14  # 2ª cópia; alvo = tokens[:, pos + 1]
    real = (cache["z", 1][:, pos].clone(), model.W_O[1].detach().clone(), model.W_U.detach().clone(),
            tokens[:, pos + 1].clone())
    return [
        Case((r(2, 3, 2), r(3, 2, 6), r(6, 6), torch.tensor([4, 1])),
             description="W_U quadrado (d_model = d_vocab = 6), batch=2, 3 cabeças"),
        Case((r(3, 2, 4), r(2, 4, 5), r(5, 7), torch.randint(0, 7, (3,), generator=gen)),
             description="batch=3, 2 cabeças, d_head=4, d_model=5, d_vocab=7"),
        Case((r(1, 1, 3), r(1, 3, 4), r(4, 6), torch.tensor([5])), description="batch=1 e uma só cabeça"),
        Case((r(2, 2, 3), r(2, 3, 4), r(4, 5), torch.tensor([0, 0])), description="mesmo alvo nos dois exemplos"),
        Case(real, description="camada 1 do modelo `induction` numa posição da 2ª cópia"),
    ]


register(Exercise(
    id="09.head_logit_attribution",
    func_name="head_logit_attribution",
    reference=head_logit_attribution,
    make_cases=_dla_cases,
    points=2,
    output_names=("batch", "head"),
    atol=1e-4,
    known_mistakes=[
        ("usou a LINHA W_U[alvo]; a direção de saída do token é a COLUNA W_U[:, alvo]", _dla_row),
        ("somou as cabeças; queremos uma contribuição por cabeça [batch, n_heads]", _dla_summed),
        ("devolveu os logits de todos os tokens; pegue só o do alvo", _dla_all_tokens),
        ("aplicou log_softmax; a atribuição direta é linear, sobre os logits", _dla_log_softmax),
        ("usou o mesmo W_O (somado) para todas as cabeças; cada cabeça tem o seu W_O[h]", _dla_shared_WO),
    ],
))


# ---------------------------------------------------------------------------
# 09.ablated_repeated_loss
# ---------------------------------------------------------------------------
def _ablated_per_token_loss(model, tokens, layer, head, which="head", hook_name=None):
    def hook(z, hook):
        z = z.clone()
        if which == "head":
            z[:, :, head] = 0.0
        elif which == "layer":
            z[:, :, :] = 0.0
        return z

    name = hook_name or f"blocks.{layer}.attn.hook_z"
    hooks = [] if which == "none" else [(name, hook)]
    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=hooks)
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1)
    return -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]  # [batch, pos-1]


def ablated_repeated_loss(model, tokens: torch.Tensor, seq_len: int, layer: int, head: int) -> float:
    loss = _ablated_per_token_loss(model, tokens, layer, head)
    return loss[:, seq_len + 1:].mean().item()


def _abl_clean(model, tokens, seq_len, layer, head):
    return _ablated_per_token_loss(model, tokens, layer, head, which="none")[:, seq_len + 1:].mean().item()


def _abl_whole_layer(model, tokens, seq_len, layer, head):
    return _ablated_per_token_loss(model, tokens, layer, head, which="layer")[:, seq_len + 1:].mean().item()


def _abl_with_x1(model, tokens, seq_len, layer, head):
    return _ablated_per_token_loss(model, tokens, layer, head)[:, seq_len:].mean().item()


def _abl_first_half(model, tokens, seq_len, layer, head):
    return _ablated_per_token_loss(model, tokens, layer, head)[:, :seq_len].mean().item()


def _abl_all_positions(model, tokens, seq_len, layer, head):
    return _ablated_per_token_loss(model, tokens, layer, head).mean().item()


def _abl_cases(gen: torch.Generator) -> list[Case]:
    model = ModelRef("induction")
    t8 = _repeated(gen, 8, 12)
    t1 = _repeated(gen, 1, 20)
    t5 = _repeated(gen, 4, 5)
    return [
        Case((model, t8, 12, 0, 0), description="cabeça de token anterior L0H0, batch=8, seq_len=12"),
        Case((model, t8, 12, 1, 2), description="cabeça de indução L1H2, batch=8, seq_len=12"),
        Case((model, t8, 12, 0, 1), description="cabeça não relacionada L0H1"),
        Case((model, t1, 20, 0, 0), description="batch=1, seq_len=20"),
        Case((model, t5, 5, 1, 3), description="trecho curto, seq_len=5, cabeça L1H3"),
    ]


register(Exercise(
    id="09.ablated_repeated_loss",
    func_name="ablated_repeated_loss",
    reference=ablated_repeated_loss,
    make_cases=_abl_cases,
    points=3,
    atol=1e-4,
    rtol=1e-4,
    known_mistakes=[
        ("a cabeça não foi zerada (perda do modelo intacto): o gancho foi aplicado? ele devolve o z modificado?",
         _abl_clean),
        ("zerou todas as cabeças da camada; zere só z[:, :, head]", _abl_whole_layer),
        ("incluiu o x_1 da 2ª cópia (imprevisível): a média começa em loss[:, seq_len + 1]", _abl_with_x1),
        ("devolveu a perda da 1ª cópia", _abl_first_half),
        ("fez a média em todas as posições; queremos só a 2ª cópia (sem o x_1)", _abl_all_positions),
    ],
))


# ---------------------------------------------------------------------------
# 09.composition_reader: a matriz que LÊ a saída da cabeça anterior
# ---------------------------------------------------------------------------
def composition_reader(W_Q, W_K, W_V, W_O, kind: str) -> torch.Tensor:
    if kind == "Q":
        return W_Q @ W_K.T
    if kind == "K":
        return (W_Q @ W_K.T).T
    if kind == "V":
        return W_V @ W_O
    raise ValueError(f"`kind`: esperado 'Q', 'K' ou 'V'; veio {kind!r}")


def _reader_K_not_transposed(W_Q, W_K, W_V, W_O, kind):
    return W_Q @ W_K.T if kind in "QK" else W_V @ W_O


def _reader_Q_K_swapped(W_Q, W_K, W_V, W_O, kind):
    return {"Q": W_K @ W_Q.T, "K": W_Q @ W_K.T, "V": W_V @ W_O}[kind]


def _reader_V_transposed(W_Q, W_K, W_V, W_O, kind):
    return (W_V @ W_O).T if kind == "V" else composition_reader(W_Q, W_K, W_V, W_O, kind)


def _reader_V_is_QK(W_Q, W_K, W_V, W_O, kind):
    return W_Q @ W_K.T if kind == "V" else composition_reader(W_Q, W_K, W_V, W_O, kind)


def _reader_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    small = (r(5, 2), r(5, 2), r(5, 2), r(2, 5))
    model = _induction_model()
    real = tuple(w[1, 2].detach().clone() for w in (model.W_Q, model.W_K, model.W_V, model.W_O))
    return [
        Case(small + ("Q",), description="cabeça com d_model=5, d_head=2, composição Q"),
        Case(small + ("K",), description="a mesma cabeça, composição K"),
        Case(small + ("V",), description="a mesma cabeça, composição V"),
        Case(real + ("K",), description="cabeça L1H2 do modelo `induction`, composição K"),
        Case(real + ("V",), description="cabeça L1H2 do modelo `induction`, composição V"),
    ]


register(Exercise(
    id="09.composition_reader",
    func_name="composition_reader",
    reference=composition_reader,
    make_cases=_reader_cases,
    points=1,
    output_names=("d_model_escrito", "d_model_lido"),
    atol=1e-5,
    rtol=1e-4,
    known_mistakes=[
        ("na composição K a saída anterior entra pela CHAVE: x_q W_QK (x_k)ᵀ, então quem lê x_k é W_QKᵀ, "
         "não W_QK", _reader_K_not_transposed),
        ("trocou consulta e chave: W_QK = W_Q W_Kᵀ (consulta à esquerda); W_K W_Qᵀ é a matriz da composição K",
         _reader_Q_K_swapped),
        ("na composição V quem lê é W_OV = W_V W_O, sem transpor (vetores-linha: x W_V W_O)", _reader_V_transposed),
        ("na composição V a saída anterior entra pelo VALOR: quem lê é W_OV, não W_QK", _reader_V_is_QK),
    ],
))


# ---------------------------------------------------------------------------
# 09.random_composition_baseline: o escore do acaso com as mesmas formas
# ---------------------------------------------------------------------------
N_REFERENCE = 4000  # amostras do gabarito: o erro dele é desprezível perto do do aluno


def _random_scores(d_model, d_head, n, seed, full_rank=False, factors=False):
    gen = torch.Generator().manual_seed(seed)
    if full_rank:
        A, B = torch.randn(n, d_model, d_model, generator=gen), torch.randn(n, d_model, d_model, generator=gen)
    elif factors:
        A, B = torch.randn(n, d_model, d_head, generator=gen), torch.randn(n, d_head, d_model, generator=gen)
    else:
        A = torch.randn(n, d_model, d_head, generator=gen) @ torch.randn(n, d_head, d_model, generator=gen)
        B = torch.randn(n, d_model, d_head, generator=gen) @ torch.randn(n, d_head, d_model, generator=gen)
    return (A @ B).norm(dim=(-2, -1)) / (A.norm(dim=(-2, -1)) * B.norm(dim=(-2, -1)))


def random_composition_baseline(d_model: int, d_head: int, n_samples: int, seed: int) -> tuple[float, float]:
    scores = _random_scores(d_model, d_head, n_samples, seed)
    return scores.mean().item(), scores.std().item()


def _baseline_reference(d_model, d_head, n_samples, seed):
    """Gabarito: média e desvio com muitas amostras, mais o n do aluno (para a tolerância)."""
    scores = _random_scores(d_model, d_head, N_REFERENCE, 12345)
    return {"mean": scores.mean().item(), "std": scores.std().item(), "n": n_samples}


def _baseline_compare(expected, got):
    if type(expected) in (list, tuple):  # entre duas respostas (erros conhecidos): 10% de diferença
        ok = (type(got) in (list, tuple) and len(got) == 2
              and all(abs(g - e) <= 0.10 * abs(e) for g, e in zip(got, expected)))
        return None if ok else "respostas diferentes"
    if type(got) not in (list, tuple) or len(got) != 2 or not all(type(v) is float for v in got):
        return (f"saída: esperada uma tupla (média, desvio_padrão) de dois float; obtido {got!r:.80} "
                "(use .item() para converter um tensor de 1 elemento)")
    mean, std = got
    n, mu, sigma = expected["n"], expected["mean"], expected["std"]
    # tolerâncias do sorteio: 5 erros-padrão da média (σ/√n) e do desvio (≈ σ/√(2n)) com n amostras
    tol_mean, tol_std = 5 * sigma / n ** 0.5, 5 * sigma / (2 * n) ** 0.5
    if abs(mean - mu) > tol_mean:
        return (f"média do acaso: esperado {mu:.4f} ± {tol_mean:.4f} (5 erros-padrão com {n} amostras), "
                f"obtido {mean:.4f}")
    if abs(std - sigma) > tol_std:
        return (f"desvio padrão do acaso: esperado {sigma:.4f} ± {tol_std:.4f}, obtido {std:.4f}")
    return None


def _baseline_cases(gen: torch.Generator) -> list[Case]:
    seed = int(torch.randint(0, 10_000, (1,), generator=gen))
    return [
        Case((64, 16, 400, seed), description="formas do modelo `induction`: d_model=64, d_head=16, 400 amostras"),
        Case((32, 4, 400, seed + 1), description="d_model=32, d_head=4 (posto bem menor), 400 amostras"),
    ]


register(Exercise(
    id="09.random_composition_baseline",
    func_name="random_composition_baseline",
    reference=_baseline_reference,
    make_cases=_baseline_cases,
    points=2,
    compare=_baseline_compare,
    forbidden={"course_lib.circuits.random_composition_baseline": "a lição usa a da biblioteca; aqui você escreve a sua"},
    known_mistakes=[
        ("sorteou matrizes cheias [d_model, d_model]; um W_OV ou W_QK tem posto d_head: sorteie dois fatores "
         "[d_model, d_head] e [d_head, d_model] e multiplique (a média quase não muda, o desvio sim)",
         lambda d, k, n, s: tuple(x.item() for x in (lambda t: (t.mean(), t.std()))(_random_scores(d, k, n, s, full_rank=True)))),
        ("comparou os dois FATORES de uma só matriz ([d_model, d_head] com [d_head, d_model]); o escore é "
         "entre duas matrizes [d_model, d_model], W_A = A₁A₂ e W_B = B₁B₂",
         lambda d, k, n, s: tuple(x.item() for x in (lambda t: (t.mean(), t.std()))(_random_scores(d, k, n, s, factors=True)))),
    ],
))


# ---------------------------------------------------------------------------
# 09.find_composition_partner (investigação)
# ---------------------------------------------------------------------------
TIE = 0.01  # escores de composição a até 0,01 do maior contam como empate técnico
THRESHOLD_SLACK = 0.003  # folga do limiar "média + 3 desvios" do acaso estimado pelo aluno


def _partner_reference(model, layer, head, kind):
    from course_lib import circuits

    scores = torch.stack([circuits.head_composition_score(model, 0, h, layer, head, kind)
                          for h in range(model.cfg.n_heads)])
    return {"scores": scores, "threshold": _baseline_threshold(model.cfg.d_model, model.cfg.d_head)}


@functools.lru_cache(maxsize=None)
def _baseline_threshold(d_model: int, d_head: int) -> float:
    """Média + 3 desvios do acaso, com N_REFERENCE amostras (calculada uma vez por forma)."""
    from course_lib import circuits

    base = circuits.random_composition_baseline(d_model, d_head, N_REFERENCE, 12345)
    return (base.mean() + 3 * base.std()).item()


def _partner_compare(expected, got):
    if type(expected) is not dict:  # entre duas respostas (erros conhecidos)
        return None if got == expected and type(got) is type(expected) else "respostas diferentes"
    scores, thr = expected["scores"], expected["threshold"]
    best = float(scores.max())
    if got is None:
        if best < thr + THRESHOLD_SLACK:
            return None
        return (f"devolveu None, mas há cabeça da camada 0 com escore {best:.3f}, acima do acaso "
                f"(média + 3 desvios = {thr:.3f}). Compare o escore de CADA cabeça com a linha de base.")
    if type(got) is not int or not 0 <= got < len(scores):
        return (f"saída: esperado o índice (int) de uma cabeça da camada 0, de 0 a {len(scores) - 1}, ou None; "
                f"obtido {got!r:.60}")
    score = float(scores[got])
    if score < thr - THRESHOLD_SLACK:
        return (f"a cabeça L0H{got} tem escore {score:.3f}, que não passa do acaso (média + 3 desvios = {thr:.3f}): "
                "calcule a linha de base com as mesmas formas e só aceite uma cabeça acima dela; se nenhuma "
                "passar, devolva None.")
    if score < best - TIE:
        return (f"a cabeça L0H{got} tem escore {score:.3f}, mas outra cabeça da camada 0 passa de {score + TIE:.3f}. "
                "Meça o escore de composição de CADA cabeça da camada 0 (com a matriz que lê por esta porta) e "
                "fique com o maior.")
    return None


def _partner_cases(gen: torch.Generator) -> list[Case]:
    model = ModelRef("induction")
    return [
        Case((model, 1, 2, "K"), description="cabeça de indução L1H2, composição K"),
        Case((model, 1, 2, "V"), description="cabeça de indução L1H2, composição V"),
    ]


def _partner_hidden(gen: torch.Generator) -> list[Case]:
    model = ModelRef("induction")
    return [
        Case((model, 1, 0, "K"), description="cabeça L1H0, composição K"),
        Case((model, 1, 3, "K"), description="cabeça L1H3, composição K"),
        Case((model, 1, 1, "Q"), description="cabeça L1H1, composição Q"),
        Case((model, 1, 0, "V"), description="cabeça L1H0, composição V"),
    ]


def _partner_ignores_baseline(model, layer, head, kind):
    return int(_partner_reference(model, layer, head, kind)["scores"].argmax())


def _partner_argmin(model, layer, head, kind):
    return int(_partner_reference(model, layer, head, kind)["scores"].argmin())


register(Exercise(
    id="09.find_composition_partner",
    func_name="find_composition_partner",
    reference=_partner_reference,
    make_cases=_partner_cases,
    make_hidden_cases=_partner_hidden,
    points=2,
    compare=_partner_compare,
    known_mistakes=[
        ("devolveu a maior composição sem comparar com o acaso; se nenhuma cabeça passa da linha de base "
         "(média + 3 desvios), a resposta é None", _partner_ignores_baseline),
        ("escolheu a cabeça de MENOR escore; queremos a que mais compõe", _partner_argmin),
    ],
))


# ---------------------------------------------------------------------------
# 09.k_composition_circuit
# ---------------------------------------------------------------------------
def k_composition_circuit(W_E: torch.Tensor, W_QK: torch.Tensor, W_OV: torch.Tensor) -> torch.Tensor:
    return W_E @ W_QK @ (W_E @ W_OV).T


def _kc_direct(W_E, W_QK, W_OV):
    return W_E @ W_QK @ W_E.T


def _kc_q_side(W_E, W_QK, W_OV):
    return (W_E @ W_OV) @ W_QK @ W_E.T


def _kc_no_transpose(W_E, W_QK, W_OV):
    return W_E @ W_QK @ W_OV @ W_E.T


def _kc_transposed(W_E, W_QK, W_OV):
    return (W_E @ W_QK @ (W_E @ W_OV).T).T


def _kc_cases(gen: torch.Generator) -> list[Case]:
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    low = lambda d, k: r(d, k) @ r(k, d)  # noqa: E731
    model = _induction_model()
    W_E = model.W_E.detach().clone()
    W_QK = (model.W_Q[1, 2] @ model.W_K[1, 2].T).detach().clone()
    W_OV = (model.W_V[0, 0] @ model.W_O[0, 0]).detach().clone()
    return [
        Case((r(7, 5), low(5, 2), low(5, 2)), description="d_vocab=7, d_model=5, posto 2"),
        Case((r(3, 4), r(4, 4), r(4, 4)), description="d_vocab=3, d_model=4, matrizes cheias"),
        Case((W_E, W_QK, W_OV), description="modelo `induction`: QK de L1H2 lendo L0H0 pela chave"),
    ]


register(Exercise(
    id="09.k_composition_circuit",
    func_name="k_composition_circuit",
    reference=k_composition_circuit,
    make_cases=_kc_cases,
    points=2,
    output_names=("token_consulta", "token_lido_na_origem"),
    atol=1e-3,
    rtol=1e-4,
    forbidden={"course_lib.circuits.k_composition_circuit": "a lição usa a da biblioteca; aqui você escreve a sua"},
    known_mistakes=[
        ("esqueceu a cabeça anterior: W_E W_QK W_Eᵀ é o QK direto, sem composição", _kc_direct),
        ("pôs a cabeça anterior do lado da CONSULTA (isso é composição Q); na composição K ela escreve na chave, "
         "à direita: W_E W_QK (W_E W_OV)ᵀ", _kc_q_side),
        ("faltou transpor: a chave é (W_E W_OV)ᵀ = W_OVᵀ W_Eᵀ, não W_OV W_Eᵀ", _kc_no_transpose),
        ("resultado transposto: linha = token da consulta (W_E à esquerda), coluna = token lido na origem",
         _kc_transposed),
    ],
))


# ---------------------------------------------------------------------------
# 09.find_copying_heads (investigação)
# ---------------------------------------------------------------------------
BORDER = 0.02  # cabeças com acurácia a até 0,02 do limiar podem entrar ou não (empate com o limiar)


def _copying_reference(model, threshold):
    from course_lib import circuits

    return {"accuracy": circuits.top1_diagonal_accuracy(circuits.full_OV_circuit(model).AB), "threshold": threshold}


def _as_heads(got):
    if type(got) not in (list, tuple):
        return None
    out = []
    for item in got:
        if type(item) not in (list, tuple) or len(item) != 2 or not all(type(v) is int for v in item):
            return None
        out.append(tuple(item))
    return out


def _copying_compare(expected, got):
    if type(expected) is not dict:  # entre duas respostas (erros conhecidos)
        a, b = _as_heads(expected), _as_heads(got)
        return None if a is not None and b is not None and set(a) == set(b) else "respostas diferentes"
    heads = _as_heads(got)
    if heads is None:
        return (f"saída: esperada uma lista de pares (camada, cabeça) de int, como [(1, 0), (1, 2)]; "
                f"obtido {got!r:.80}")
    acc, thr = expected["accuracy"], expected["threshold"]
    n_layers, n_heads = acc.shape
    for layer, head in heads:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            return f"saída: a cabeça ({layer}, {head}) não existe neste modelo ({n_layers} camadas × {n_heads} cabeças)"
    if len(set(heads)) != len(heads):
        return "saída: há cabeças repetidas na lista"
    for layer, head in heads:
        if acc[layer, head] < thr - BORDER:
            return (f"a cabeça ({layer}, {head}) está na lista, mas a acurácia top-1 da diagonal do OV completo dela é "
                    f"{float(acc[layer, head]):.3f}, abaixo do limiar {thr}. Meça a diagonal do OV completo "
                    "(W_E W_V W_O W_U) de CADA cabeça.")
    missing = [(l, h) for l in range(n_layers) for h in range(n_heads)
               if acc[l, h] > thr + BORDER and (l, h) not in heads]
    if missing:
        return (f"faltam cabeças que copiam: {len(missing)} cabeça(s) deste modelo passam do limiar {thr} e não "
                "estão na lista. Percorra TODAS as camadas e cabeças.")
    return None


def _copying_cases(gen: torch.Generator) -> list[Case]:
    return [Case((ModelRef("induction"), 0.5), description="modelo `induction`, limiar 0,5")]


def _copying_hidden(gen: torch.Generator) -> list[Case]:
    return [
        Case((ModelRef("induction"), 0.9), description="modelo `induction`, limiar 0,9"),
        Case((ModelRef("lm"), 0.5), description="modelo `lm` (3 camadas, vocabulário de 260), limiar 0,5"),
        Case((ModelRef("lm_untied"), 0.5), description="modelo `lm_untied`, limiar 0,5"),
    ]


def _copying_by_eigenvalues(model, threshold):
    from course_lib import circuits

    score = circuits.copying_score(model)
    return [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads) if score[l, h] > threshold]


def _copying_only_layer1(model, threshold):
    return [(1, h) for h in range(model.cfg.n_heads)]


register(Exercise(
    id="09.find_copying_heads",
    func_name="find_copying_heads",
    reference=_copying_reference,
    make_cases=_copying_cases,
    make_hidden_cases=_copying_hidden,
    points=2,
    compare=_copying_compare,
    forbidden={"course_lib.circuits.top1_diagonal_accuracy": "use as suas funções full_ov_circuit e diagonal_top1_accuracy"},
    known_mistakes=[
        ("usou o escore de cópia (autovalores) no lugar da acurácia top-1: um escore de cópia positivo não "
         "garante que a diagonal vença cada linha (veja L0H1)", _copying_by_eigenvalues),
    ],
))


# ---------------------------------------------------------------------------
# 09.find_most_harmful_head (investigação)
# ---------------------------------------------------------------------------
HARM_TIE = 0.02  # nats: cabeças a até 0,02 da maior perda contam como empate


def _harm_reference(model, tokens, seq_len, layer):
    return torch.tensor([ablated_repeated_loss(model, tokens, seq_len, layer, h) for h in range(model.cfg.n_heads)])


def _harm_compare(expected, got):
    if type(expected) is not torch.Tensor:  # entre duas respostas (erros conhecidos)
        return None if got == expected and type(got) is type(expected) else "respostas diferentes"
    n = len(expected)
    if type(got) is not int or not 0 <= got < n:
        return f"saída: esperado o índice (int) de uma cabeça da camada, de 0 a {n - 1}; obtido {got!r:.60}"
    loss, best = float(expected[got]), float(expected.max())
    if loss >= best - HARM_TIE:
        return None
    return (f"zerar a cabeça {got} leva a perda da 2ª cópia a {loss:.3f}, mas zerar outra cabeça desta camada a leva "
            f"acima de {loss + HARM_TIE:.3f}. Zere CADA cabeça da camada, uma de cada vez, e compare as perdas.")


def _harm_cases(gen: torch.Generator) -> list[Case]:
    model = ModelRef("induction")
    t = _repeated(gen, 8, 12)
    return [
        Case((model, t, 12, 0), description="camada 0, 8 sequências repetidas de 12 tokens"),
        Case((model, t, 12, 1), description="camada 1 (as quatro cabeças de indução), as mesmas sequências"),
        # sequências fixas em que a perda na 1ª cópia e o argmin apontam cabeças diferentes
        # (assim a verificação sabe dizer qual dos dois erros você cometeu)
        Case((model, _repeated(torch.Generator().manual_seed(0), 8, 6), 6, 1),
             description="camada 1, 8 sequências curtas de 6 tokens"),
    ]


def _harm_hidden(gen: torch.Generator) -> list[Case]:
    model = ModelRef("induction")
    t20, t6 = _repeated(gen, 4, 20), _repeated(gen, 8, 6)
    return [
        Case((model, t20, 20, 1), description="camada 1, 4 sequências de 20 tokens"),
        Case((model, t6, 6, 0), description="camada 0, 8 sequências curtas de 6 tokens"),
        Case((model, t6, 6, 1), description="camada 1, 8 sequências curtas de 6 tokens"),
    ]


def _harm_first_copy(model, tokens, seq_len, layer):
    losses = [_ablated_per_token_loss(model, tokens, layer, h)[:, :seq_len].mean().item() for h in range(model.cfg.n_heads)]
    return int(torch.tensor(losses).argmax())


register(Exercise(
    id="09.find_most_harmful_head",
    func_name="find_most_harmful_head",
    reference=_harm_reference,
    make_cases=_harm_cases,
    make_hidden_cases=_harm_hidden,
    points=2,
    compare=_harm_compare,
    known_mistakes=[
        ("escolheu a cabeça cuja ablação MENOS dói (argmin); queremos a que mais aumenta a perda",
         lambda m, t, n, layer: int(_harm_reference(m, t, n, layer).argmin())),
        ("mediu a perda na 1ª cópia (imprevisível de qualquer jeito); o circuito de indução age na 2ª cópia",
         _harm_first_copy),
    ],
))
