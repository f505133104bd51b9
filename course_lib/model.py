"""Um transformer só-decodificador escrito do zero, com ganchos em cada ativação.

A semântica do forward é a do `HookedTransformer` do TransformerLens 3.x (sem
processamento de pesos): embeddings posicionais aprendidos, blocos pré-LN,
LayerNorm com variância enviesada e eps 1e-5, scores divididos por sqrt(d_head),
máscara causal com -inf antes de `hook_attn_scores`, `b_O` e `b_out` incluídos,
LN final e depois `W_U` + `b_U`. Os nomes e formas dos parâmetros também são os
do TransformerLens, então um state dict dele carrega aqui diretamente.

Lido de cima para baixo: Config, camadas (LayerNorm, Embed, PosEmbed, Attention,
MLP, TransformerBlock, Unembed) e o modelo inteiro (HookedTransformer).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import HookedRootModule, HookPoint

ACT_FNS = ("gelu", "gelu_new", "relu")


# ============================================================================ config
@dataclass
class Config:
    """Hiperparâmetros do modelo (nomes do TransformerLens).

    d_mlp=None faz um modelo só de atenção; normalization=None tira as LayerNorms;
    tie_embeddings=True usa W_U = W_Eᵀ (um único parâmetro compartilhado).
    """

    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_head: int | None = None  # None = d_model // n_heads
    d_mlp: int | None = None  # None = só atenção
    d_vocab: int = 64
    n_ctx: int = 64
    act_fn: str = "gelu"
    normalization: str | None = "LN"
    tie_embeddings: bool = False
    use_attn_result: bool = False  # liga blocks.{l}.attn.hook_result (saída por cabeça)
    init_std: float = 0.02
    seed: int = 0
    eps: float = 1e-5

    def __post_init__(self):
        if self.d_head is None and isinstance(self.d_model, int) and isinstance(self.n_heads, int) and self.n_heads > 0:
            self.d_head = self.d_model // self.n_heads
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_vocab", "n_ctx"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Config: `{name}` deve ser um inteiro positivo; veio {v!r}.")
        if self.d_mlp is not None and (not isinstance(self.d_mlp, int) or self.d_mlp <= 0):
            raise ValueError(f"Config: `d_mlp` deve ser None (só atenção) ou um inteiro positivo; veio {self.d_mlp!r}.")
        if self.act_fn not in ACT_FNS:
            raise ValueError(f"Config: `act_fn` deve ser um de {ACT_FNS}; veio {self.act_fn!r}.")
        if self.normalization not in ("LN", None):
            raise ValueError(f"Config: `normalization` deve ser 'LN' ou None; veio {self.normalization!r}.")

    @property
    def attn_only(self) -> bool:
        return self.d_mlp is None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Config.from_dict: chaves desconhecidas {sorted(unknown)}; as válidas são {sorted(known)}.")
        return cls(**d)


# ============================================================================ camadas
class LayerNorm(nn.Module):
    """LN com variância enviesada; `hook_scale` guarda o desvio usado (útil para linearizar)."""

    def __init__(self, cfg: Config, length: int):
        super().__init__()
        self.eps = cfg.eps
        self.w = nn.Parameter(torch.ones(length))
        self.b = nn.Parameter(torch.zeros(length))
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, length], antes de w e b (como no TransformerLens)

    def forward(self, x):
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale) * self.w + self.b


class Embed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))

    def forward(self, tokens):  # [batch, pos] -> [batch, pos, d_model]
        return self.W_E[tokens]


class PosEmbed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))

    def forward(self, tokens):  # [batch, pos] -> [batch, pos, d_model]
        batch, pos = tokens.shape
        return self.W_pos[:pos].unsqueeze(0).expand(batch, pos, -1)


class Attention(nn.Module):
    """Atenção multi-cabeça causal, escrita por extenso (uma einsum por passo)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        H, D, Dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.empty(H, D, Dh))
        self.W_K = nn.Parameter(torch.empty(H, D, Dh))
        self.W_V = nn.Parameter(torch.empty(H, D, Dh))
        self.W_O = nn.Parameter(torch.empty(H, Dh, D))
        self.b_Q = nn.Parameter(torch.zeros(H, Dh))
        self.b_K = nn.Parameter(torch.zeros(H, Dh))
        self.b_V = nn.Parameter(torch.zeros(H, Dh))
        self.b_O = nn.Parameter(torch.zeros(D))
        self.attn_scale = math.sqrt(Dh)
        future = torch.triu(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool), diagonal=1)
        self.register_buffer("future_mask", future, persistent=False)  # fora do state dict
        self.hook_q = HookPoint()  # [batch, pos, head, d_head]
        self.hook_k = HookPoint()
        self.hook_v = HookPoint()
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos], já com a máscara
        self.hook_pattern = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]
        self.hook_result = HookPoint()  # [batch, pos, head, d_model] (só se cfg.use_attn_result)

    def forward(self, x):  # x: [batch, pos, d_model]
        q = self.hook_q(torch.einsum("bpd,hde->bphe", x, self.W_Q) + self.b_Q)
        k = self.hook_k(torch.einsum("bpd,hde->bphe", x, self.W_K) + self.b_K)
        v = self.hook_v(torch.einsum("bpd,hde->bphe", x, self.W_V) + self.b_V)
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k).div_(self.attn_scale)
        pos = x.shape[1]
        future = self.future_mask[:pos, :pos]  # True acima da diagonal: posições futuras
        scores = self.hook_attn_scores(scores.masked_fill_(future, float("-inf")))
        pattern = self.hook_pattern(torch.softmax(scores, dim=-1))
        z = self.hook_z(torch.einsum("bhqk,bkhe->bqhe", pattern, v))
        if self.cfg.use_attn_result:
            result = self.hook_result(torch.einsum("bqhe,hed->bqhd", z, self.W_O))
            return result.sum(dim=2) + self.b_O
        return torch.einsum("bqhe,hed->bqd", z, self.W_O) + self.b_O


def gelu_new(x):
    """GELU aproximada por tanh (a do GPT-2)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = {"gelu": F.gelu, "gelu_new": gelu_new, "relu": F.relu}[cfg.act_fn]
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    def forward(self, x):
        pre = self.hook_pre(x @ self.W_in + self.b_in)
        post = self.hook_post(self.act(pre))
        return post @ self.W_out + self.b_out


class TransformerBlock(nn.Module):
    """Bloco pré-LN: resid_mid = resid_pre + attn(ln1(resid_pre)); resid_post = resid_mid + mlp(ln2(resid_mid))."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.ln1 = LayerNorm(cfg, cfg.d_model) if cfg.normalization == "LN" else nn.Identity()
        self.attn = Attention(cfg)
        if not cfg.attn_only:
            self.ln2 = LayerNorm(cfg, cfg.d_model) if cfg.normalization == "LN" else nn.Identity()
            self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        if not cfg.attn_only:  # sem MLP não há resid_mid nem mlp_out
            self.hook_resid_mid = HookPoint()
            self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, resid_pre):
        resid_pre = self.hook_resid_pre(resid_pre)
        attn_out = self.hook_attn_out(self.attn(self.ln1(resid_pre)))
        if self.cfg.attn_only:
            return self.hook_resid_post(resid_pre + attn_out)
        resid_mid = self.hook_resid_mid(resid_pre + attn_out)
        mlp_out = self.hook_mlp_out(self.mlp(self.ln2(resid_mid)))
        return self.hook_resid_post(resid_mid + mlp_out)


class Unembed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        if not cfg.tie_embeddings:
            self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))
        self.hook_in = HookPoint()  # [batch, pos, d_model] (saída da LN final)
        self.hook_out = HookPoint()  # [batch, pos, d_vocab] (os logits)

    def forward(self, x, W_U):
        return self.hook_out(self.hook_in(x) @ W_U + self.b_U)


# ============================================================================ modelo
class HookedTransformer(HookedRootModule):
    """O modelo inteiro. `model(tokens)` devolve logits [batch, pos, d_vocab].

    `return_type`: "logits" (padrão), "loss" (média da entropia cruzada do próximo
    token), "both" ou None. `loss_per_token=True` devolve a perda por posição
    [batch, pos-1].
    """

    def __init__(self, cfg: Config, tokenizer=None):
        super().__init__()
        if not isinstance(cfg, Config):
            raise TypeError(f"HookedTransformer: `cfg` deve ser um Config; veio {type(cfg).__name__}.")
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()
        self.pos_embed = PosEmbed(cfg)
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.ln_final = LayerNorm(cfg, cfg.d_model) if cfg.normalization == "LN" else nn.Identity()
        self.unembed = Unembed(cfg)
        self.init_weights()
        self.setup()

    def init_weights(self) -> None:
        """Matrizes ~ N(0, init_std²) a partir de `cfg.seed`; vieses 0; LN com w=1, b=0."""
        g = torch.Generator().manual_seed(self.cfg.seed)
        for name, p in self.named_parameters():
            if name.split(".")[-1].startswith("W_"):
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * self.cfg.init_std)

    # --------------------------------------------------------------- entrada
    def validate_tokens(self, tokens) -> torch.Tensor:
        """Confere `tokens` e devolve LongTensor [batch, pos] no dispositivo do modelo (erros em pt-BR)."""
        return self._validate_tokens(tokens)

    def _validate_tokens(self, tokens) -> torch.Tensor:
        if isinstance(tokens, str) or (isinstance(tokens, list) and tokens and isinstance(tokens[0], str)):
            tokens = self.to_tokens(tokens)
        if isinstance(tokens, list):
            tokens = torch.tensor(tokens)
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"`tokens`: esperado tensor de ids inteiros [batch, pos] ou texto; veio {type(tokens).__name__}.")
        if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
            raise TypeError(
                f"`tokens`: esperado tensor de inteiros (ids de tokens, dtype torch.long); veio dtype {tokens.dtype}. "
                "Use `tokens.long()` se os valores forem ids."
            )
        if tokens.ndim == 1:
            tokens = tokens.unsqueeze(0)
        if tokens.ndim != 2:
            raise ValueError(f"`tokens`: esperado formato [batch, pos] (ou [pos]); veio formato {tuple(tokens.shape)}.")
        if tokens.shape[1] == 0:
            raise ValueError("`tokens`: a sequência está vazia (pos = 0).")
        if tokens.shape[1] > self.cfg.n_ctx:
            raise ValueError(
                f"`tokens`: sequência de {tokens.shape[1]} tokens é maior que o contexto do modelo, n_ctx = {self.cfg.n_ctx}."
            )
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= self.cfg.d_vocab:
            bad = (tokens < 0) | (tokens >= self.cfg.d_vocab)
            b, p = [int(i) for i in bad.nonzero()[0]]
            raise ValueError(
                f"`tokens`: id {int(tokens[b, p])} na posição [{b}, {p}] fora do vocabulário; "
                f"os ids válidos vão de 0 a {self.cfg.d_vocab - 1} (d_vocab = {self.cfg.d_vocab})."
            )
        return tokens.to(self.W_E.device).long()

    # --------------------------------------------------------------- forward
    def forward(self, tokens, return_type: str | None = "logits", loss_per_token: bool = False):
        if return_type not in ("logits", "loss", "both", None):
            raise ValueError(f"`return_type`: esperado 'logits', 'loss', 'both' ou None; veio {return_type!r}.")
        tokens = self._validate_tokens(tokens)
        resid = self.hook_embed(self.embed(tokens)) + self.hook_pos_embed(self.pos_embed(tokens))
        for block in self.blocks:
            resid = block(resid)
        logits = self.unembed(self.ln_final(resid), self.W_U)
        if return_type == "logits":
            return logits
        if return_type is None:
            return None
        loss = lm_cross_entropy_loss(logits, tokens, per_token=loss_per_token)
        return loss if return_type == "loss" else (logits, loss)

    # --------------------------------------------------------------- texto
    def _need_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("Este modelo não tem `tokenizer`; passe ids de tokens (tensor de inteiros) em vez de texto.")
        return self.tokenizer

    def to_tokens(self, text, prepend_bos: bool = True) -> torch.Tensor:
        return self._need_tokenizer().to_tokens(text, prepend_bos=prepend_bos).to(self.W_E.device)

    def to_str_tokens(self, text_or_tokens) -> list[str]:
        if isinstance(text_or_tokens, torch.Tensor) and text_or_tokens.ndim == 2:
            if text_or_tokens.shape[0] != 1:
                raise ValueError(f"to_str_tokens: esperado um único exemplo; veio batch de {text_or_tokens.shape[0]}.")
            text_or_tokens = text_or_tokens[0]
        if isinstance(text_or_tokens, torch.Tensor):
            text_or_tokens = text_or_tokens.tolist()
        return self._need_tokenizer().to_str_tokens(text_or_tokens)

    def to_string(self, tokens) -> str:
        return self._need_tokenizer().decode(tokens)

    # --------------------------------------------------------------- pesos empilhados
    @property
    def W_E(self):  # [d_vocab, d_model]
        return self.embed.W_E

    @property
    def W_pos(self):  # [n_ctx, d_model]
        return self.pos_embed.W_pos

    @property
    def W_U(self):  # [d_model, d_vocab]; com pesos amarrados é W_Eᵀ (o mesmo parâmetro)
        return self.embed.W_E.T if self.cfg.tie_embeddings else self.unembed.W_U

    @property
    def b_U(self):
        return self.unembed.b_U

    def _stack_attn(self, name):
        return torch.stack([getattr(b.attn, name) for b in self.blocks])

    def _stack_mlp(self, name):
        if self.cfg.attn_only:
            raise AttributeError(f"`{name}`: este modelo é só de atenção (d_mlp=None), não tem MLP.")
        return torch.stack([getattr(b.mlp, name) for b in self.blocks])

    W_Q = property(lambda self: self._stack_attn("W_Q"), doc="[n_layers, n_heads, d_model, d_head]")
    W_K = property(lambda self: self._stack_attn("W_K"), doc="[n_layers, n_heads, d_model, d_head]")
    W_V = property(lambda self: self._stack_attn("W_V"), doc="[n_layers, n_heads, d_model, d_head]")
    W_O = property(lambda self: self._stack_attn("W_O"), doc="[n_layers, n_heads, d_head, d_model]")
    b_Q = property(lambda self: self._stack_attn("b_Q"), doc="[n_layers, n_heads, d_head]")
    b_K = property(lambda self: self._stack_attn("b_K"), doc="[n_layers, n_heads, d_head]")
    b_V = property(lambda self: self._stack_attn("b_V"), doc="[n_layers, n_heads, d_head]")
    b_O = property(lambda self: self._stack_attn("b_O"), doc="[n_layers, d_model]")
    W_in = property(lambda self: self._stack_mlp("W_in"), doc="[n_layers, d_model, d_mlp]")
    W_out = property(lambda self: self._stack_mlp("W_out"), doc="[n_layers, d_mlp, d_model]")
    b_in = property(lambda self: self._stack_mlp("b_in"), doc="[n_layers, d_mlp]")
    b_out = property(lambda self: self._stack_mlp("b_out"), doc="[n_layers, d_model]")

    @property
    def QK(self):
        """Circuito QK de todas as cabeças: FactoredMatrix [n_layers, n_heads, d_model, d_model]."""
        from .circuits import W_QK

        return W_QK(self)

    @property
    def OV(self):
        """Circuito OV de todas as cabeças: FactoredMatrix [n_layers, n_heads, d_model, d_model]."""
        from .circuits import W_OV

        return W_OV(self)

    def set_use_attn_result(self, use: bool) -> None:
        """Liga/desliga `blocks.{l}.attn.hook_result` (saída de cada cabeça separada)."""
        self.cfg.use_attn_result = bool(use)

    # --------------------------------------------------------------- state dict
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Carrega pesos; aceita state dicts do TransformerLens (ignora seus buffers de máscara)."""
        sd = {k: v for k, v in state_dict.items() if not k.endswith((".mask", ".IGNORE"))}
        own = self.state_dict()
        missing = sorted(set(own) - set(sd))
        unexpected = sorted(set(sd) - set(own))
        wrong = [f"{k}: esperado {tuple(own[k].shape)}, veio {tuple(sd[k].shape)}"
                 for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
        if strict and (missing or unexpected or wrong):
            parts = []
            if missing:
                parts.append("faltam as chaves " + ", ".join(missing))
            if unexpected:
                parts.append("sobram as chaves " + ", ".join(unexpected))
            if wrong:
                parts.append("formas diferentes: " + "; ".join(wrong))
            raise ValueError("state dict incompatível com este modelo: " + " | ".join(parts) + ".")
        return super().load_state_dict(sd, strict=strict, assign=assign)


def lm_cross_entropy_loss(logits, tokens, per_token: bool = False):
    """Entropia cruzada do próximo token: posição p prevê tokens[:, p+1]."""
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]
    return nll if per_token else nll.mean()
