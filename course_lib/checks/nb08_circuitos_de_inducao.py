"""Verificações do notebook 08 · Circuitos de indução."""

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
# 08.composition_score
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
    id="08.composition_score",
    func_name="composition_score",
    reference=composition_score,
    make_cases=_comp_cases,
    points=1,
    known_mistakes=[
        ("faltou normalizar: divida por ‖W_A‖_F·‖W_B‖_F", _comp_no_norm),
        ("normalizou só por ‖W_A‖_F (falta ‖W_B‖_F)", _comp_only_A),
        ("ordem trocada: é W_A @ W_B (quem escreve à esquerda), não W_B @ W_A", _comp_swapped),
        ("usou a norma espectral (ord=2); a pontuação usa a norma de Frobenius", _comp_spectral),
        ("produto elemento a elemento (*) no lugar do produto de matrizes (@)", _comp_elementwise),
        ("elevou as normas ao quadrado", _comp_squared),
    ],
))


# ---------------------------------------------------------------------------
# 08.full_ov_circuit
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
    id="08.full_ov_circuit",
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
    ],
))


# ---------------------------------------------------------------------------
# 08.diagonal_top1_accuracy
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
    id="08.diagonal_top1_accuracy",
    func_name="diagonal_top1_accuracy",
    reference=diagonal_top1_accuracy,
    make_cases=_diag_cases,
    points=1,
    known_mistakes=[
        ("argmax sobre o eixo errado (colunas): use o máximo de cada LINHA, dim=-1", _diag_columns),
        ("devolveu a contagem de linhas; divida pelo número de linhas", _diag_count),
        ("olhou só o sinal da diagonal; a pergunta é se ela é o MÁXIMO da linha", _diag_positive),
        ("diagonal deslocada de 1 (off-by-one)", _diag_off_by_one),
    ],
))


# ---------------------------------------------------------------------------
# 08.head_logit_attribution
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
    id="08.head_logit_attribution",
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
# 08.ablated_repeated_loss
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
    id="08.ablated_repeated_loss",
    func_name="ablated_repeated_loss",
    reference=ablated_repeated_loss,
    make_cases=_abl_cases,
    points=3,
    atol=1e-4,
    rtol=1e-4,
    known_mistakes=[
        ("a cabeça não foi ablacionada (perda do modelo intacto): o gancho foi aplicado? ele devolve o z modificado?",
         _abl_clean),
        ("zerou todas as cabeças da camada; zere só z[:, :, head]", _abl_whole_layer),
        ("incluiu o x_1 da 2ª cópia (imprevisível): a média começa em loss[:, seq_len + 1]", _abl_with_x1),
        ("devolveu a perda da 1ª cópia", _abl_first_half),
        ("fez a média em todas as posições; queremos só a 2ª cópia (sem o x_1)", _abl_all_positions),
    ],
))
