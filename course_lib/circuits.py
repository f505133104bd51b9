"""Circuitos de atenção: matrizes fatoradas, circuitos QK/OV e pontuações de composição.

Segue Elhage et al. (2021), "A Mathematical Framework for Transformer Circuits", com as
convenções do TransformerLens (vetores-linha: o resíduo x multiplica pela ESQUERDA, x @ W).

    W_QK = W_Q W_Kᵀ  [d_model, d_model]: score(q, k) = x_q W_QK x_kᵀ   (sem o 1/√d_head)
    W_OV = W_V W_O   [d_model, d_model]: o que a cabeça escreve = x_fonte W_OV

Essas matrizes têm posto ≤ d_head, então guardamos o produto FATORADO (FactoredMatrix):
multiplicar, transpor, calcular SVD, autovalores e norma sai barato, sem nunca montar a
matriz cheia (que para d_vocab × d_vocab seria enorme).

Simplificações (as mesmas do TransformerLens) em TODOS os circuitos deste módulo:
  * LayerNorm ignorada: nem a centralização, nem a divisão pela escala, nem o peso `w`
    (o nosso modelo não dobra `w` nos pesos, então ele fica de fora de verdade);
  * vieses ignorados: b_Q, b_K, b_V, b_O, b_U;
  * QK sem a divisão por √d_head (é só um fator de escala: não muda direções nem sinais);
  * circuitos "completos" usam só o caminho DIRETO a partir do embedding: para camadas > 0
    o resíduo real também tem as saídas das camadas anteriores, que aqui ficam de fora;
  * full_QK_circuit usa só W_E (sem W_pos) e positional_QK_circuit só W_pos (sem W_E):
    os termos cruzados token × posição são ignorados.
"""
from __future__ import annotations

import torch


# ============================================================================ validação
def _check_tensor(name: str, x, min_ndim: int = 1) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`{name}`: esperado torch.Tensor; veio {type(x).__name__}.")
    if x.ndim < min_ndim:
        raise ValueError(f"`{name}`: esperado tensor com pelo menos {min_ndim} dimensões; veio formato {tuple(x.shape)}.")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"`{name}`: esperado tensor de ponto flutuante; veio dtype {x.dtype}.")
    return x


def _check_index(name: str, value, size: int, what: str) -> int:
    """Confere que `value` é um int em 0..size-1 (o número de `what` do modelo)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}`: esperado int; veio {type(value).__name__} ({value!r}).")
    if not 0 <= value < size:
        raise ValueError(f"`{name}`: esperado inteiro entre 0 e {size - 1} (o modelo tem {size} {what}); veio {value}.")
    return value


def _check_model(model):
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(model, "W_Q") or not hasattr(cfg, "n_heads"):
        raise TypeError(f"`model`: esperado um HookedTransformer do course_lib; veio {type(model).__name__}.")
    return model


# ============================================================================ FactoredMatrix
class FactoredMatrix:
    """O produto A @ B guardado fatorado: A [..., ldim, mdim], B [..., mdim, rdim].

    As dimensões à esquerda ("..."), se houver, funcionam como lote e seguem o broadcasting
    do torch (por exemplo [n_layers, n_heads, d_model, d_model] para todas as cabeças).
    O produto cheio só é montado quando pedido: `.AB` (e `.BA`, o produto invertido).
    """

    def __init__(self, A: torch.Tensor, B: torch.Tensor):
        _check_tensor("A", A, min_ndim=2)
        _check_tensor("B", B, min_ndim=2)
        if A.shape[-1] != B.shape[-2]:
            raise ValueError(
                f"FactoredMatrix: dimensões internas incompatíveis: `A` tem formato {tuple(A.shape)} e `B` tem "
                f"{tuple(B.shape)}; esperado A.shape[-1] == B.shape[-2] ({A.shape[-1]} != {B.shape[-2]})."
            )
        try:
            lead = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        except RuntimeError:
            raise ValueError(
                f"FactoredMatrix: as dimensões de lote de `A` {tuple(A.shape[:-2])} e de `B` {tuple(B.shape[:-2])} "
                "não são compatíveis (broadcasting)."
            ) from None
        self.ldim, self.mdim, self.rdim = A.shape[-2], A.shape[-1], B.shape[-1]
        self.A = A.broadcast_to(lead + (self.ldim, self.mdim))  # visões: não copia memória
        self.B = B.broadcast_to(lead + (self.mdim, self.rdim))
        self.shape = torch.Size(lead + (self.ldim, self.rdim))
        self._svd = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def AB(self) -> torch.Tensor:
        """O produto cheio A @ B [..., ldim, rdim] (caro: use só em matrizes pequenas)."""
        return self.A @ self.B

    @property
    def BA(self) -> torch.Tensor:
        """O produto invertido B @ A [..., mdim, mdim]; só existe se ldim == rdim."""
        if self.ldim != self.rdim:
            raise ValueError(f"BA: só existe para matriz quadrada (ldim == rdim); a forma é {tuple(self.shape)}.")
        return self.B @ self.A

    @property
    def T(self) -> "FactoredMatrix":
        """Transposta: (A B)ᵀ = Bᵀ Aᵀ, ainda fatorada."""
        return FactoredMatrix(self.B.transpose(-2, -1), self.A.transpose(-2, -1))

    # ------------------------------------------------------------------ produtos
    def __matmul__(self, other):
        """self @ other. Matriz ou FactoredMatrix: continua fatorada. Vetor [rdim]: devolve tensor [..., ldim]."""
        if isinstance(other, FactoredMatrix):
            return (self @ other.A) @ other.B
        _check_tensor("other", other)
        inner = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if inner != self.rdim:
            raise ValueError(
                f"@: dimensões internas incompatíveis: a FactoredMatrix tem formato {tuple(self.shape)} e `other` "
                f"tem {tuple(other.shape)}; esperado other.shape[-2] (ou o tamanho do vetor) == {self.rdim}."
            )
        if other.ndim == 1:
            return (self.A @ (self.B @ other[:, None]))[..., 0]
        if self.rdim > self.mdim:  # a dimensão interna fica a menor possível
            return FactoredMatrix(self.A, self.B @ other)
        return FactoredMatrix(self.AB, other)

    def __rmatmul__(self, other):
        """other @ self. Matriz: continua fatorada. Vetor [ldim]: devolve tensor [..., rdim]."""
        _check_tensor("other", other)
        if other.shape[-1] != self.ldim:
            raise ValueError(
                f"@: dimensões internas incompatíveis: `other` tem formato {tuple(other.shape)} e a FactoredMatrix "
                f"tem {tuple(self.shape)}; esperado other.shape[-1] == {self.ldim}."
            )
        if other.ndim == 1:
            return ((other[None, :] @ self.A) @ self.B)[..., 0, :]
        if self.ldim > self.mdim:
            return FactoredMatrix(other @ self.A, self.B)
        return FactoredMatrix(other, self.AB)

    def __mul__(self, scalar):
        """Multiplicação por escalar (entra só no fator A)."""
        is_scalar = isinstance(scalar, (int, float)) or (isinstance(scalar, torch.Tensor) and scalar.numel() == 1)
        if not is_scalar:
            got = tuple(scalar.shape) if isinstance(scalar, torch.Tensor) else type(scalar).__name__
            raise TypeError(f"*: esperado um escalar (int, float ou tensor de 1 elemento); veio {got}. Para produto de matrizes use @.")
        return FactoredMatrix(self.A * scalar, self.B)

    __rmul__ = __mul__

    # ------------------------------------------------------------------ espectro
    def svd(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SVD reduzida (U, S, V) com A @ B == U @ diag(S) @ Vᵀ, calculada a partir dos fatores.

        Convenção do TransformerLens: devolve V (vetores singulares à DIREITA, nas colunas), não o
        Vh do `torch.linalg.svd` (Vh = Vᵀ). Formas: U [..., ldim, k], S [..., k] (decrescente),
        V [..., rdim, k], com k = min(ldim, mdim, rdim). Nunca monta A @ B:
            A = Ua Sa Vha,  B = Ub Sb Vhb  (torch.linalg.svd),  meio = diag(Sa) Vha Ub diag(Sb)  [pequeno]
            meio = Um Sm Vhm  =>  A B = (Ua Um) diag(Sm) (Vhm Vhb), e V = (Vhm Vhb)ᵀ.
        """
        if self._svd is None:
            Ua, Sa, Vha = torch.linalg.svd(self.A, full_matrices=False)
            Ub, Sb, Vhb = torch.linalg.svd(self.B, full_matrices=False)
            middle = (Sa[..., :, None] * Vha) @ (Ub * Sb[..., None, :])
            Um, Sm, Vhm = torch.linalg.svd(middle, full_matrices=False)
            self._svd = (Ua @ Um, Sm, (Vhm @ Vhb).transpose(-2, -1))
        return self._svd

    @property
    def U(self) -> torch.Tensor:
        """Vetores singulares à esquerda [..., ldim, k]."""
        return self.svd()[0]

    @property
    def S(self) -> torch.Tensor:
        """Valores singulares [..., k], em ordem decrescente."""
        return self.svd()[1]

    @property
    def V(self) -> torch.Tensor:
        """Vetores singulares à direita [..., rdim, k]: A @ B == U @ diag(S) @ Vᵀ."""
        return self.svd()[2]

    @property
    def Vh(self) -> torch.Tensor:
        """O mesmo que `V` (NÃO é Vᵀ): nome antigo do TransformerLens, mantido por compatibilidade."""
        return self.svd()[2]

    def norm(self) -> torch.Tensor:
        """Norma de Frobenius [...]: sqrt(Σ valores singulares²)."""
        return self.S.pow(2).sum(-1).sqrt()

    @property
    def eigenvalues(self) -> torch.Tensor:
        """Autovalores complexos [..., mdim], na ordem do `torch.linalg.eig` (como no TransformerLens).

        Calculados de BA [mdim, mdim], pequena: se BA v = λ v então AB (A v) = λ (A v), logo
        AB e BA têm os mesmos autovalores não nulos (só difere o número de zeros). A ordem não
        é garantida; para ordenar por tamanho: `eig[eig.abs().argsort(descending=True)]`.
        """
        BA = self.BA
        if BA.dtype in (torch.float16, torch.bfloat16):
            BA = BA.float()  # eig não existe em 16 bits
        if BA.device.type == "mps":
            BA = BA.cpu()  # eig não existe em MPS
        return torch.linalg.eigvals(BA)

    def make_even(self) -> "FactoredMatrix":
        """A mesma matriz fatorada como (U √S) (√S Vᵀ): as duas metades com o mesmo "tamanho"."""
        root = self.S.sqrt()
        return FactoredMatrix(self.U * root[..., None, :], root[..., :, None] * self.V.transpose(-2, -1))

    def collapse_l(self) -> torch.Tensor:
        """diag(S) Vᵀ [..., k, rdim]: tira o fator ortogonal da esquerda (U)."""
        return self.S[..., :, None] * self.V.transpose(-2, -1)

    def collapse_r(self) -> torch.Tensor:
        """U diag(S) [..., ldim, k]: tira o fator ortogonal da direita (V)."""
        return self.U * self.S[..., None, :]

    def unsqueeze(self, k: int) -> "FactoredMatrix":
        return FactoredMatrix(self.A.unsqueeze(k), self.B.unsqueeze(k))

    @property
    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.A, self.B

    @property
    def has_leading_dims(self) -> bool:
        return self.ndim > 2

    # ------------------------------------------------------------------ indexação
    def __getitem__(self, idx) -> "FactoredMatrix":
        """Indexa as dimensões de lote e, se o índice for mais longo, as linhas e as colunas.

        fm[l, h] escolhe uma cabeça; fm[l, h, linhas] escolhe linhas (de A); fm[l, h, linhas,
        colunas] escolhe linhas e colunas (de B), como no TransformerLens: `full_OV[idx, idx]`
        é a submatriz. Um int na linha/coluna vira uma fatia de tamanho 1 (o resultado continua
        sendo uma matriz).
        """
        idx = idx if isinstance(idx, tuple) else (idx,)
        n_lead = self.ndim - 2
        if any(i is None or i is Ellipsis for i in idx) or len(idx) > self.ndim:
            raise IndexError(
                f"FactoredMatrix[...]: esperado até {self.ndim} índices (forma {tuple(self.shape)}), sem None "
                f"nem '...'; veio {idx!r}."
            )
        for d, i in enumerate(idx):
            if isinstance(i, int) and not -self.shape[d] <= i < self.shape[d]:
                raise IndexError(f"FactoredMatrix[...]: índice {i} fora do intervalo na dimensão {d}, de tamanho {self.shape[d]}.")
        lead, rest = idx[:n_lead], [self._as_slice(i) for i in idx[n_lead:]]
        A, B = self.A[lead], self.B[lead]
        if rest:  # linhas
            A = A[(Ellipsis, rest[0], slice(None))]
        if len(rest) == 2:  # colunas
            B = B[(Ellipsis, slice(None), rest[1])]
        return FactoredMatrix(A, B)

    @staticmethod
    def _as_slice(i):
        if isinstance(i, int):
            return slice(i, i + 1 if i != -1 else None)
        if isinstance(i, list):
            return torch.tensor(i)
        return i

    def get_corner(self, k: int = 3) -> torch.Tensor:
        """O canto [:k, :k] do produto (e [:k] de cada dimensão de lote), montando só esse pedaço."""
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"`k`: esperado inteiro positivo; veio {k!r}.")
        corner = self.A[..., :k, :] @ self.B[..., :, :k]
        return corner[tuple(slice(k) for _ in range(corner.ndim))]

    def __repr__(self):
        return f"FactoredMatrix(forma={tuple(self.shape)}, dimensão interna={self.mdim})"


# ============================================================================ circuitos por cabeça
def _head_weight(model, name: str, layer, head) -> torch.Tensor:
    """model.<name> [n_layers, n_heads, ...] restrito a `layer`/`head` (None = todas)."""
    _check_model(model)
    W = getattr(model, name).detach()
    if layer is not None:
        W = W[_check_index("layer", layer, model.cfg.n_layers, "camadas")]
    if head is not None:
        head = _check_index("head", head, model.cfg.n_heads, "cabeças")
        W = W[head] if layer is not None else W[:, head]
    return W


def W_QK(model, layer: int | None = None, head: int | None = None) -> FactoredMatrix:
    """W_Q W_Kᵀ da cabeça: [d_model, d_model] (lado da query × lado da key).

    layer/head None = todas: [n_layers, n_heads, d_model, d_model], [n_heads, ...] etc.
    Sem LN, sem b_Q/b_K e sem 1/√d_head (veja o topo do módulo).
    """
    return FactoredMatrix(_head_weight(model, "W_Q", layer, head), _head_weight(model, "W_K", layer, head).transpose(-2, -1))


def W_OV(model, layer: int | None = None, head: int | None = None) -> FactoredMatrix:
    """W_V W_O da cabeça: [d_model, d_model] (resíduo da fonte -> o que a cabeça escreve).

    layer/head None = todas, como em W_QK. Sem LN e sem b_V/b_O.
    """
    return FactoredMatrix(_head_weight(model, "W_V", layer, head), _head_weight(model, "W_O", layer, head))


def full_QK_circuit(model, layer: int | None = None, head: int | None = None) -> FactoredMatrix:
    """W_E W_QK W_Eᵀ: [d_vocab, d_vocab], linha = token da query, coluna = token da key.

    Quanto a consulta de um token quer ler a chave de outro, pelo caminho direto do embedding.
    Ignora LN, vieses, W_pos, 1/√d_head e as camadas anteriores (veja o topo do módulo).
    """
    W_E = _check_model(model).W_E.detach()
    return W_E @ W_QK(model, layer, head) @ W_E.T


def full_OV_circuit(model, layer: int | None = None, head: int | None = None) -> FactoredMatrix:
    """W_E W_OV W_U: [d_vocab, d_vocab], linha = token da origem (o que a cabeça lê), coluna = logit de saída.

    Quanto ler um token aumenta o logit de cada token, pelo caminho direto.
    Ignora LN (inclusive a final), vieses (b_V, b_O, b_U) e as camadas anteriores.
    """
    _check_model(model)
    return model.W_E.detach() @ W_OV(model, layer, head) @ model.W_U.detach()


def positional_QK_circuit(model, layer: int | None = None, head: int | None = None) -> FactoredMatrix:
    """W_pos W_QK W_posᵀ: [n_ctx, n_ctx], linha = posição da query, coluna = posição da key.

    Ignora LN, vieses, W_E (os tokens), 1/√d_head e as camadas anteriores. A máscara causal
    não está aplicada: entradas com coluna > linha nunca são usadas pelo modelo.
    """
    W_pos = _check_model(model).W_pos.detach()
    return W_pos @ W_QK(model, layer, head) @ W_pos.T


def copying_score(model, layer: int | None = None, head: int | None = None) -> torch.Tensor:
    """Escore de cópia (Elhage et al. 2021): Σ Re(λ) / Σ |λ| dos autovalores do full_OV_circuit.

    Usamos a razão Σλ/Σ|λ| do artigo (Σλ é real: os autovalores complexos vêm em pares
    conjugados, e Σλ = traço), e não a fração de autovalores positivos, porque ela pesa cada
    autovalor pelo seu tamanho. Vai de -1 a 1: 1 = todos reais positivos (a cabeça copia o
    token lido para a saída), -1 = todos reais negativos (suprime o token), perto de 0
    para uma cabeça aleatória. NaN se todos os autovalores forem 0.
    Devolve tensor escalar (ou [n_layers, n_heads] etc. se layer/head forem None).
    """
    eig = full_OV_circuit(model, layer, head).eigenvalues
    return eig.real.sum(-1) / eig.abs().sum(-1)


# ============================================================================ composição
COMPOSITION_KINDS = ("Q", "K", "V")


def composition_score(left: FactoredMatrix, right: FactoredMatrix) -> torch.Tensor:
    """‖left @ right‖_F / (‖left‖_F ‖right‖_F), com broadcasting nas dimensões de lote.

    Mesma fórmula do `utils.composition_scores` do TransformerLens. `left` é o W_OV da cabeça
    anterior (o que ela escreve); `right` é o que a cabeça posterior lê (veja
    `composition_scores`). Calculada no espaço pequeno: com left = Ul Sl Vlᵀ e
    right = Ur Sr Vrᵀ, as matrizes ortonormais Ul e Vr não mudam a norma, então
    ‖left @ right‖_F = ‖diag(Sl) Vlᵀ Ur diag(Sr)‖_F, uma matriz k × k.
    """
    for name, m in (("left", left), ("right", right)):
        if not isinstance(m, FactoredMatrix):
            raise TypeError(f"`{name}`: esperado FactoredMatrix; veio {type(m).__name__}.")
    if left.rdim != right.ldim:
        raise ValueError(
            f"composition_score: dimensões internas incompatíveis: `left` tem formato {tuple(left.shape)} e `right` "
            f"tem {tuple(right.shape)}; esperado left.shape[-1] == right.shape[-2]."
        )
    _, S_l, V_l = left.svd()
    U_r, S_r, _ = right.svd()
    inner = (S_l[..., :, None] * V_l.transpose(-2, -1)) @ (U_r * S_r[..., None, :])
    return inner.norm(dim=(-2, -1)) / (S_l.norm(dim=-1) * S_r.norm(dim=-1))


def _reader(model, kind: str, layer=None, head=None) -> FactoredMatrix:
    """A matriz pela qual a cabeça posterior lê o resíduo, para cada tipo de composição."""
    if kind == "Q":
        return W_QK(model, layer, head)  # a saída anterior entra pela query
    if kind == "K":
        return W_QK(model, layer, head).T  # ... pela key
    if kind == "V":
        return W_OV(model, layer, head)  # ... pelo value
    raise ValueError(f"`kind`: esperado um de {COMPOSITION_KINDS}; veio {kind!r}.")


def head_composition_score(model, layer1: int, head1: int, layer2: int, head2: int, kind: str = "Q") -> torch.Tensor:
    """Composição kind ("Q", "K" ou "V") da cabeça layer1.head1 (anterior) com layer2.head2 (posterior).

    Exige layer1 < layer2: só uma cabeça de camada anterior escreve no resíduo que a outra lê.
    """
    _check_model(model)
    _check_index("layer1", layer1, model.cfg.n_layers, "camadas")
    _check_index("layer2", layer2, model.cfg.n_layers, "camadas")
    if layer1 >= layer2:
        raise ValueError(f"`layer1` deve ser menor que `layer2` (a cabeça que escreve vem antes); veio layer1={layer1}, layer2={layer2}.")
    right = _reader(model, kind, layer2, head2)
    return composition_score(W_OV(model, layer1, head1), right)


def composition_scores(model, kind: str = "Q") -> torch.Tensor:
    """Todas as composições: [n_layers, n_heads, n_layers, n_heads], índice [l1, h1, l2, h2].

    Como `HookedTransformer.all_composition_scores` do TransformerLens: left = W_OV de l1.h1;
    right = W_QK de l2.h2 (Q), W_QKᵀ (K) ou W_OV (V); e as entradas com l1 >= l2 valem 0.
    """
    right = _reader(model, kind)
    left = W_OV(model)
    left = FactoredMatrix(left.A[:, :, None, None], left.B[:, :, None, None])  # [L, H, 1, 1, ...]
    right = FactoredMatrix(right.A[None, None], right.B[None, None])  # [1, 1, L, H, ...]
    scores = composition_score(left, right)
    layers = torch.arange(model.cfg.n_layers, device=scores.device)
    earlier = layers[:, None, None, None] < layers[None, None, :, None]
    return torch.where(earlier, scores, torch.zeros_like(scores))


# ============================================================================ medidas de circuitos (notebook 09)
def top1_diagonal_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """Fração das linhas de `matrix` [..., n, n] cujo máximo está na diagonal: [...].

    Para o OV completo: "ler o token s faz de s o logit mais aumentado". Uma matriz
    sorteada ao acaso acerta cerca de 1/n das linhas.
    """
    matrix = _check_tensor("matrix", matrix, min_ndim=2)
    if matrix.shape[-1] != matrix.shape[-2]:
        raise ValueError(f"top1_diagonal_accuracy: `matrix` deve ser quadrada [..., n, n]; veio {tuple(matrix.shape)}.")
    hits = matrix.argmax(-1) == torch.arange(matrix.shape[-1], device=matrix.device)
    return hits.float().mean(-1)


def k_composition_circuit(model, writer: tuple[int, int], reader: tuple[int, int]) -> torch.Tensor:
    """QK de `reader` com a chave lida através de `writer`: W_E W_QK (W_E W_OV)ᵀ, [d_vocab, d_vocab].

    Linha = token da consulta; coluna = token que `writer` leu na posição de origem (para
    uma cabeça de token anterior, o token ANTERIOR à chave). Como os outros circuitos deste
    módulo: sem LN, sem vieses, sem posições, e supondo que `writer` põe toda a atenção
    num só token.
    """
    _check_model(model)
    W_E = model.W_E.detach()
    written = W_E @ W_OV(model, *writer).AB  # [d_vocab, d_model]: o que writer escreve ao ler cada token
    return W_E @ W_QK(model, *reader).AB @ written.T


def random_composition_baseline(d_model: int, d_head: int, n_samples: int = 500, seed: int = 0) -> torch.Tensor:
    """Escores de composição de `n_samples` pares sorteados com as formas de uma cabeça: [n_samples].

    W_A = A₁A₂ e W_B = B₁B₂, com A₁, B₁ [d_model, d_head] e A₂, B₂ [d_head, d_model]
    gaussianos: duas matrizes [d_model, d_model] de posto d_head, como um W_OV e um W_QK.
    O escore não depende da escala, então só as formas importam. Média ≈ 1/√d_model.
    """
    for name, value in (("d_model", d_model), ("d_head", d_head), ("n_samples", n_samples)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"random_composition_baseline: `{name}` deve ser um int >= 1; veio {value!r}.")
    gen = torch.Generator().manual_seed(seed)
    draw = lambda: FactoredMatrix(torch.randn(n_samples, d_model, d_head, generator=gen),  # noqa: E731
                                  torch.randn(n_samples, d_head, d_model, generator=gen))
    return composition_score(draw(), draw())
