"""Um transformer só-decodificador escrito do zero, com ganchos em cada ativação.

A semântica do forward é a do `HookedTransformer` do TransformerLens 3.x (sem
processamento de pesos): embeddings posicionais aprendidos, blocos pré-LN,
LayerNorm com variância enviesada e eps 1e-5, scores divididos por sqrt(d_head),
máscara causal com -inf antes de `hook_attn_scores`, `b_O` e `b_out` incluídos,
LN final e depois `W_U` + `b_U`. Os nomes e formas dos parâmetros também são os
do TransformerLens, então um state dict dele carrega aqui diretamente.

O processamento de pesos do `from_pretrained` do TransformerLens (dobrar as LNs, centrar)
existe, mas só roda quando pedido (`process_weights_`), e `from_pretrained(pasta)` carrega um
GPT-2 do Hugging Face de uma pasta local (course_lib/hf.py).

Lido de cima para baixo: Config, camadas (LayerNorm, Embed, PosEmbed, Attention,
MLP, TransformerBlock, Unembed) e o modelo inteiro (HookedTransformer).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import HookedRootModule, HookPoint, suggest

ACT_FNS = ("gelu", "gelu_new", "relu")


# ============================================================================ config
@dataclass
class Config:
    """Hiperparâmetros do modelo (nomes do TransformerLens).

    d_mlp=None faz um modelo só de atenção; normalization=None tira as LayerNorms
    ("LNPre" = LN sem w e b, o que sobra depois de `fold_layer_norm`);
    tie_embeddings=True usa W_U = W_Eᵀ (um único parâmetro compartilhado).

    Também aceita os nomes do `HookedTransformerConfig` (normalization_type, attn_only,
    initializer_range...): veja `TL_NAMES`. Os campos depois de `eps` são opcionais, ficam
    fora do repr e de `to_dict()` enquanto valem o padrão.
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
    # ---- opcionais (como no TransformerLens); desligados por padrão
    use_hook_tokens: bool = field(default=False, repr=False)  # liga hook_tokens
    use_attn_in: bool = field(default=False, repr=False)  # liga blocks.{l}.hook_attn_in [batch, pos, head, d_model]
    use_split_qkv_input: bool = field(default=False, repr=False)  # liga hook_q_input/hook_k_input/hook_v_input
    use_hook_mlp_in: bool = field(default=False, repr=False)  # liga blocks.{l}.hook_mlp_in
    positional_embedding_type: str = field(default="standard", repr=False)  # ou "shortformer"
    d_vocab_out: int = field(default=-1, repr=False)  # -1 = d_vocab
    default_prepend_bos: bool = field(default=True, repr=False)
    device: str | None = field(default=None, repr=False, compare=False)  # atualizado pelo modelo

    def __post_init__(self):
        if self.d_head is None and isinstance(self.d_model, int) and isinstance(self.n_heads, int) and self.n_heads > 0:
            self.d_head = self.d_model // self.n_heads
        if self.d_vocab_out == -1 and isinstance(self.d_vocab, int):
            self.d_vocab_out = self.d_vocab
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_vocab", "n_ctx", "d_vocab_out"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Config: `{name}` deve ser um inteiro positivo; veio {v!r}.")
        if self.d_mlp is not None and (not isinstance(self.d_mlp, int) or self.d_mlp <= 0):
            raise ValueError(f"Config: `d_mlp` deve ser None (só atenção) ou um inteiro positivo; veio {self.d_mlp!r}.")
        if self.act_fn not in ACT_FNS:
            raise ValueError(f"Config: `act_fn` deve ser um de {ACT_FNS}; veio {self.act_fn!r}.")
        if self.normalization not in ("LN", "LNPre", None):
            raise ValueError(f"Config: `normalization` deve ser 'LN', 'LNPre' ou None; veio {self.normalization!r}.")
        if self.positional_embedding_type not in POS_TYPES:
            raise ValueError(f"Config: `positional_embedding_type` deve ser um de {POS_TYPES}; veio "
                             f"{self.positional_embedding_type!r} (rotary e alibi não existem no course_lib).")

    @property
    def attn_only(self) -> bool:
        return self.d_mlp is None

    @property
    def normalization_type(self) -> str | None:
        """O nome do TransformerLens para `normalization`."""
        return self.normalization

    @property
    def n_params(self) -> int:
        """Parâmetros "ocultos" como no TransformerLens: W_Q, W_K, W_V, W_O, W_in, W_out (sem embeddings, vieses, LN)."""
        n = self.n_layers * self.d_model * self.d_head * self.n_heads * 4
        return n + (0 if self.attn_only else self.n_layers * self.d_model * self.d_mlp * 2)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("device")
        for f in fields(self)[14:]:  # os opcionais só entram quando diferem do padrão
            if f.name in d and (d[f.name] == f.default or (f.name == "d_vocab_out" and d[f.name] == self.d_vocab)):
                d.pop(f.name)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Config.from_dict: chaves desconhecidas {sorted(unknown)}; as válidas são {sorted(known)}.")
        return cls(**d)


POS_TYPES = ("standard", "shortformer")
# nome do HookedTransformerConfig -> nome aqui (None = aceito e ignorado quando vale o valor da 2ª coluna)
TL_NAMES = {"normalization_type": "normalization", "initializer_range": "init_std", "tie_word_embeddings": "tie_embeddings"}
TL_IGNORED = {"model_name": None, "tokenizer_name": None, "original_architecture": None, "dtype": torch.float32,
              "n_devices": 1, "init_weights": True, "use_attn_scale": True, "attention_dir": "causal",
              "attn_types": None, "use_local_attn": False, "gated_mlp": False, "parallel_attn_mlp": False,
              "rotary_dim": None, "n_key_value_heads": None, "final_rms": False, "num_experts": None,
              "scale_attn_by_inverse_layer_idx": False, "use_normalization_before_and_after": False,
              "default_prepend_bos": True, "tokenizer_prepends_bos": None, "from_checkpoint": False,
              "checkpoint_index": None, "checkpoint_label_type": None, "checkpoint_value": None,
              "window_size": None, "attn_scale": None, "init_mode": "gpt2", "post_embedding_ln": False,
              "use_attn_result": False, "d_vocab_out": -1, "n_params": None, "positional_embedding_type": "standard",
              "ungroup_grouped_query_attention": False, "load_in_4bit": False}
_KEEP = {"default_prepend_bos", "use_attn_result", "d_vocab_out", "positional_embedding_type"}


def _from_tl_names(kwargs: dict) -> dict:
    """Traduz nomes do HookedTransformerConfig; erro em pt-BR para o que o course_lib não tem."""
    kw = dict(kwargs)
    for tl, ours in TL_NAMES.items():
        if tl in kw:
            if ours in kw and kw[ours] != kw[tl]:
                raise ValueError(f"Config: `{tl}` (nome do TransformerLens) e `{ours}` dizem coisas diferentes: "
                                 f"{kw[tl]!r} e {kw[ours]!r}; passe só um.")
            kw[ours] = kw.pop(tl)
    if "attn_only" in kw:
        attn_only = kw.pop("attn_only")
        if attn_only:
            kw["d_mlp"] = None
        elif kw.get("d_mlp") is None:
            raise ValueError("Config: `attn_only=False` precisa de `d_mlp` (o tamanho da MLP); veio d_mlp=None. "
                             "No course_lib, só atenção é d_mlp=None.")
    if "seed" in kw and kw["seed"] is None:  # o TransformerLens aceita seed=None
        kw.pop("seed")
    if kw.get("act_fn", "x") is None:
        kw.pop("act_fn")
    if kw.get("d_head") == -1:
        kw.pop("d_head")
    for name, default in TL_IGNORED.items():
        if name in kw and name not in _KEEP:
            value = kw.pop(name)
            if default is not None and value != default and not (name == "dtype" and value is None):
                raise ValueError(f"Config: `{name}={value!r}` (do HookedTransformerConfig) não é suportado no "
                                 f"course_lib; só o valor {default!r}. Veja a seção de compatibilidade do README.")
            if default is None and value is not None and name not in ("model_name", "tokenizer_name",
                                                                     "original_architecture", "n_params",
                                                                     "tokenizer_prepends_bos", "attn_scale"):
                raise ValueError(f"Config: `{name}={value!r}` (do HookedTransformerConfig) não é suportado no "
                                 f"course_lib. Veja a seção de compatibilidade do README.")
    if kw.get("normalization") in ("RMS", "RMSPre"):
        raise ValueError(f"Config: `normalization={kw['normalization']!r}` (RMSNorm) não existe no course_lib; "
                         "use 'LN', 'LNPre' ou None.")
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise TypeError(f"Config: argumento(s) desconhecido(s) {unknown}. Os válidos são {sorted(known)} e os nomes "
                        f"do TransformerLens {sorted(TL_NAMES) + ['attn_only']}.{suggest(unknown[0], known)}")
    return kw


_dataclass_init = Config.__init__


def _config_init(self, *args, **kwargs):
    _dataclass_init(self, *args, **_from_tl_names(kwargs))


_config_init.__doc__ = _dataclass_init.__doc__
Config.__init__ = _config_init  # aceita também os nomes do HookedTransformerConfig


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


class LayerNormPre(nn.Module):
    """LN sem w e b ("LNPre"): o que sobra depois de `fold_layer_norm` dobrar w e b nos pesos seguintes.

    `w` (uns) e `b` (zeros) existem só para leitura (buffers fora do state dict), para que o
    código que lê `ln.w`/`ln.b` funcione igual com e sem pesos dobrados.
    """

    def __init__(self, cfg: Config, length: int):
        super().__init__()
        self.eps = cfg.eps
        self.register_buffer("w", torch.ones(length), persistent=False)
        self.register_buffer("b", torch.zeros(length), persistent=False)
        self.hook_scale = HookPoint()
        self.hook_normalized = HookPoint()

    def forward(self, x):
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale)


def make_ln(cfg: Config, length: int) -> nn.Module:
    if cfg.normalization == "LN":
        return LayerNorm(cfg, length)
    return LayerNormPre(cfg, length) if cfg.normalization == "LNPre" else nn.Identity()


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

    def forward(self, tokens, attention_mask=None):  # [batch, pos] -> [batch, pos, d_model]
        batch, pos = tokens.shape
        if attention_mask is None:
            return self.W_pos[:pos].unsqueeze(0).expand(batch, pos, -1)
        # com máscara (preenchimento à esquerda): a posição conta só os tokens reais, como no TransformerLens
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return torch.where(attention_mask.bool()[..., None], self.W_pos[positions], 0.0)


class Attention(nn.Module):
    """Atenção multi-cabeça causal, escrita por extenso (um produto de matrizes por passo)."""

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

    @staticmethod
    def _project(x, W):
        """x @ W por cabeça; x é [batch, pos, d_model] ou, com entradas por cabeça, [batch, pos, head, d_model]."""
        if x.ndim == 3:  # = einsum("bpd,hde->bphe", x, W), num único matmul [d_model, head·d_head]
            H, D, E = W.shape
            return (x @ W.transpose(0, 1).reshape(D, H * E)).view(*x.shape[:2], H, E)
        return torch.einsum("bphd,hde->bphe", x, W)

    def forward(self, x, k_input=None, v_input=None, attention_mask=None):  # x: [batch, pos, d_model]
        k_input = x if k_input is None else k_input
        v_input = x if v_input is None else v_input
        q = self.hook_q(self._project(x, self.W_Q) + self.b_Q)
        k = self.hook_k(self._project(k_input, self.W_K) + self.b_K)
        v = self.hook_v(self._project(v_input, self.W_V) + self.b_V)
        # = einsum("bqhe,bkhe->bhqk", q, k) e, abaixo, einsum("bhqk,bkhe->bqhe", pattern, v): os mesmos
        # números, bit a bit, mas o matmul com as dimensões permutadas evita as cópias do einsum no backward
        scores = (q.transpose(1, 2) @ k.permute(0, 2, 3, 1)).div_(self.attn_scale)
        pos = x.shape[1]
        future = self.future_mask[:pos, :pos]  # True acima da diagonal: posições futuras
        if attention_mask is not None:  # também esconde as keys de preenchimento (máscara 0)
            future = future | ~attention_mask.bool()[:, None, None, :]
        scores = self.hook_attn_scores(scores.masked_fill_(future, float("-inf")))
        pattern = torch.softmax(scores, dim=-1)
        if attention_mask is not None:  # linha toda mascarada dá NaN: vira 0, como no TransformerLens
            pattern = torch.where(torch.isnan(pattern), 0.0, pattern)
        pattern = self.hook_pattern(pattern)
        z = self.hook_z((pattern @ v.transpose(1, 2)).transpose(1, 2))
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


def repeat_along_head_dimension(x, n_heads: int):
    """[batch, pos, d_model] -> [batch, pos, n_heads, d_model] (uma cópia por cabeça)."""
    return x[:, :, None, :].repeat(1, 1, n_heads, 1)


class TransformerBlock(nn.Module):
    """Bloco pré-LN: resid_mid = resid_pre + attn(ln1(resid_pre)); resid_post = resid_mid + mlp(ln2(resid_mid)).

    Ganchos opcionais (desligados por padrão, como no TransformerLens): `hook_attn_in`
    (cfg.use_attn_in), `hook_q_input`/`hook_k_input`/`hook_v_input` (cfg.use_split_qkv_input),
    ambos [batch, pos, head, d_model], e `hook_mlp_in` (cfg.use_hook_mlp_in).
    """

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.ln1 = make_ln(cfg, cfg.d_model)
        self.attn = Attention(cfg)
        if not cfg.attn_only:
            self.ln2 = make_ln(cfg, cfg.d_model)
            self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        if not cfg.attn_only:  # sem MLP não há resid_mid nem mlp_out
            self.hook_resid_mid = HookPoint()
            self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()
        self.hook_attn_in = HookPoint()
        self.hook_q_input = HookPoint()
        self.hook_k_input = HookPoint()
        self.hook_v_input = HookPoint()
        if not cfg.attn_only:
            self.hook_mlp_in = HookPoint()

    def _attention(self, resid_pre, shortformer_pos_embed, attention_mask):
        cfg = self.cfg
        if not (cfg.use_attn_in or cfg.use_split_qkv_input or shortformer_pos_embed is not None):
            return self.attn(self.ln1(resid_pre), attention_mask=attention_mask)  # o caminho padrão
        q_in = k_in = v_in = resid_pre
        pos = shortformer_pos_embed
        if cfg.use_attn_in or cfg.use_split_qkv_input:
            H = cfg.n_heads
            if cfg.use_attn_in:
                q_in = k_in = v_in = self.hook_attn_in(repeat_along_head_dimension(resid_pre, H))
            if cfg.use_split_qkv_input:
                q_in = self.hook_q_input(repeat_along_head_dimension(resid_pre, H))
                k_in = self.hook_k_input(repeat_along_head_dimension(resid_pre, H))
                v_in = self.hook_v_input(repeat_along_head_dimension(resid_pre, H))
            if pos is not None:
                pos = repeat_along_head_dimension(pos, H)
        q, k, v = self.ln1(q_in), self.ln1(k_in), self.ln1(v_in)
        if pos is not None:  # shortformer: a posição entra só na query e na key
            q, k = q + pos, k + pos
        return self.attn(q, k, v, attention_mask=attention_mask)

    def forward(self, resid_pre, shortformer_pos_embed=None, attention_mask=None):
        resid_pre = self.hook_resid_pre(resid_pre)
        attn_out = self.hook_attn_out(self._attention(resid_pre, shortformer_pos_embed, attention_mask))
        if self.cfg.attn_only:
            return self.hook_resid_post(resid_pre + attn_out)
        resid_mid = self.hook_resid_mid(resid_pre + attn_out)
        mlp_in = self.hook_mlp_in(resid_mid.clone()) if self.cfg.use_hook_mlp_in else resid_mid
        mlp_out = self.hook_mlp_out(self.mlp(self.ln2(mlp_in)))
        return self.hook_resid_post(resid_mid + mlp_out)


class Unembed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        if not cfg.tie_embeddings:
            self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab_out))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab_out))
        self.hook_in = HookPoint()  # [batch, pos, d_model] (saída da LN final)
        self.hook_out = HookPoint()  # [batch, pos, d_vocab] (os logits)

    def forward(self, x, W_U):
        return self.hook_out(self.hook_in(x) @ W_U + self.b_U)


# ============================================================================ modelo
class HookedTransformer(HookedRootModule):
    """O modelo inteiro. `model(tokens)` devolve logits [batch, pos, d_vocab].

    `return_type`: "logits" (padrão), "loss" (média da entropia cruzada do próximo
    token), "both" ou None. `loss_per_token=True` devolve a perda por posição
    [batch, pos-1]. Como no TransformerLens, também aceita `attention_mask` [batch, pos]
    (1 = token real, 0 = preenchimento), `start_at_layer` (a entrada é então o fluxo
    residual [batch, pos, d_model]) e `stop_at_layer` (devolve o resíduo antes dessa camada).
    """

    def __init__(self, cfg: Config, tokenizer=None):
        super().__init__()
        if not isinstance(cfg, Config):
            raise TypeError(f"HookedTransformer: `cfg` deve ser um Config; veio {type(cfg).__name__}.")
        if cfg.tie_embeddings and cfg.d_vocab_out != cfg.d_vocab:
            raise ValueError(f"HookedTransformer: `tie_embeddings=True` exige d_vocab_out == d_vocab; veio "
                             f"d_vocab_out={cfg.d_vocab_out}, d_vocab={cfg.d_vocab}.")
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()
        self.pos_embed = PosEmbed(cfg)
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.ln_final = make_ln(cfg, cfg.d_model)
        self.unembed = Unembed(cfg)
        self.hook_tokens = HookPoint()  # [batch, pos] (só se cfg.use_hook_tokens)
        self.init_weights()
        self.setup()
        cfg.device = str(self.W_E.device)

    def init_weights(self) -> None:
        """Matrizes ~ N(0, init_std²) a partir de `cfg.seed`; vieses 0; LN com w=1, b=0."""
        g = torch.Generator().manual_seed(self.cfg.seed)
        for name, p in self.named_parameters():
            if name.split(".")[-1].startswith("W_"):
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * self.cfg.init_std)

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .cpu() passam por aqui
        out = super()._apply(fn, *args, **kwargs)
        self.cfg.device = str(self.W_E.device)
        return out

    # --------------------------------------------------------------- entrada
    def validate_tokens(self, tokens) -> torch.Tensor:
        """Confere `tokens` e devolve LongTensor [batch, pos] no dispositivo do modelo (erros em pt-BR)."""
        return self._validate_tokens(tokens)

    def _validate_tokens(self, tokens, prepend_bos=None) -> torch.Tensor:
        if isinstance(tokens, str) or (isinstance(tokens, list) and tokens and isinstance(tokens[0], str)):
            tokens = self.to_tokens(tokens, prepend_bos=prepend_bos)
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

    def _validate_mask(self, attention_mask, shape):
        if attention_mask is None:
            return None
        if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != tuple(shape):
            got = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask).__name__
            raise ValueError(f"`attention_mask`: esperado tensor de 0/1 com a forma dos tokens, {tuple(shape)}; veio {got}.")
        return attention_mask.to(self.W_E.device)

    def _validate_resid(self, resid) -> torch.Tensor:
        if not isinstance(resid, torch.Tensor) or resid.ndim != 3 or resid.shape[-1] != self.cfg.d_model:
            got = tuple(resid.shape) if isinstance(resid, torch.Tensor) else type(resid).__name__
            raise ValueError(f"`input`: com start_at_layer, esperado o fluxo residual [batch, pos, d_model="
                             f"{self.cfg.d_model}]; veio {got}.")
        return resid

    @staticmethod
    def _check_layer_arg(name, value, n_layers):
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not -n_layers <= value <= n_layers:
            raise ValueError(f"`{name}`: esperado None ou inteiro entre {-n_layers} e {n_layers}; veio {value!r}.")

    def input_to_embed(self, input, prepend_bos: bool | None = None, padding_side=None, attention_mask=None,
                       past_kv_cache=None):
        """Texto ou ids -> (resíduo inicial, tokens, shortformer_pos_embed, attention_mask), como no TL.

        É o que o forward faz antes do bloco 0; com `model(resid, start_at_layer=0, tokens=tokens,
        shortformer_pos_embed=..., attention_mask=...)` o resto do forward continua dali.
        shortformer_pos_embed é None no modelo padrão (a posição já está no resíduo).
        """
        if past_kv_cache is not None:
            raise ValueError("`past_kv_cache`: o course_lib não tem cache de chaves e valores; passe None.")
        tokens = self._validate_tokens(input, prepend_bos)
        attention_mask = self._validate_mask(attention_mask, tokens.shape)
        if self.cfg.use_hook_tokens:
            tokens = self.hook_tokens(tokens)
        resid = self.hook_embed(self.embed(tokens))
        pos_embed = self.hook_pos_embed(self.pos_embed(*((tokens,) if attention_mask is None else (tokens, attention_mask))))
        if self.cfg.positional_embedding_type == "shortformer":  # a posição não entra no resíduo; vai para query e key
            return resid, tokens, pos_embed, attention_mask
        return resid + pos_embed, tokens, None, attention_mask

    # --------------------------------------------------------------- forward
    def forward(self, input, return_type: str | None = "logits", loss_per_token: bool = False,
                prepend_bos: bool | None = None, attention_mask=None, start_at_layer: int | None = None,
                stop_at_layer: int | None = None, tokens=None, shortformer_pos_embed=None, past_kv_cache=None):
        if return_type not in ("logits", "loss", "both", None):
            raise ValueError(f"`return_type`: esperado 'logits', 'loss', 'both' ou None; veio {return_type!r}.")
        if past_kv_cache is not None:
            raise ValueError("`past_kv_cache`: o course_lib não tem cache de chaves e valores; passe None "
                             "(`generate` recalcula o prefixo a cada passo).")
        n = self.cfg.n_layers
        self._check_layer_arg("start_at_layer", start_at_layer, n)
        self._check_layer_arg("stop_at_layer", stop_at_layer, n)
        shortformer = self.cfg.positional_embedding_type == "shortformer"
        if start_at_layer is None:
            resid, tokens, pos_embed, attention_mask = self.input_to_embed(input, prepend_bos, attention_mask=attention_mask)
        else:
            resid = self._validate_resid(input)
            tokens = None if tokens is None else self._validate_tokens(tokens)
            attention_mask = self._validate_mask(attention_mask, resid.shape[:2])
            if shortformer:
                pos_embed = (self.W_pos[: resid.shape[1]].expand(resid.shape) if shortformer_pos_embed is None
                             else self._validate_resid(shortformer_pos_embed))
            else:
                pos_embed = None
        for block in self.blocks[start_at_layer:stop_at_layer]:
            if pos_embed is None and attention_mask is None:
                resid = block(resid)
            else:
                resid = block(resid, pos_embed, attention_mask)
        if stop_at_layer is not None:
            return resid
        logits = self.unembed(self.ln_final(resid), self.W_U)
        if return_type == "logits":
            return logits
        if return_type is None:
            return None
        if tokens is None:
            raise ValueError("`tokens`: para return_type='loss' com start_at_layer, passe também tokens=... "
                             "(os ids, para saber o próximo token).")
        loss = lm_cross_entropy_loss(logits, tokens, attention_mask, per_token=loss_per_token)
        return loss if return_type == "loss" else (logits, loss)

    def loss_fn(self, logits, tokens, attention_mask=None, per_token: bool = False):
        return lm_cross_entropy_loss(logits, tokens, attention_mask, per_token)

    # --------------------------------------------------------------- texto
    def _need_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("Este modelo não tem `tokenizer`; passe ids de tokens (tensor de inteiros) em vez de texto.")
        return self.tokenizer

    def to_tokens(self, input, prepend_bos: bool | None = None, padding_side=None, move_to_device: bool = True,
                  truncate: bool = False) -> torch.Tensor:
        """Texto (ou lista de textos) -> ids [batch, pos]; prepend_bos=None usa cfg.default_prepend_bos.

        truncate=True corta em n_ctx tokens. O padrão aqui é False (no TransformerLens é True):
        o curso tokeniza textos longos e os corta em linhas ele mesmo.
        """
        prepend_bos = self.cfg.default_prepend_bos if prepend_bos is None else prepend_bos
        tokens = self._need_tokenizer().to_tokens(input, prepend_bos=prepend_bos)
        if truncate:
            tokens = tokens[:, : self.cfg.n_ctx]
        return tokens.to(self.W_E.device) if move_to_device else tokens

    def to_str_tokens(self, input, prepend_bos: bool | None = None):
        """A string de cada token: de um texto, de uma lista de textos (lista de listas) ou de ids."""
        prepend_bos = self.cfg.default_prepend_bos if prepend_bos is None else prepend_bos
        if isinstance(input, list) and input and all(isinstance(t, str) for t in input):
            return [self.to_str_tokens(t, prepend_bos) for t in input]
        if isinstance(input, str):
            input = self.to_tokens(input, prepend_bos=prepend_bos)
        if isinstance(input, torch.Tensor) and input.ndim == 2:
            if input.shape[0] != 1:
                raise ValueError(f"to_str_tokens: esperado um único exemplo; veio um lote de {input.shape[0]}.")
            input = input[0]
        if isinstance(input, torch.Tensor):
            input = input.reshape(-1).tolist()
        if isinstance(input, int):
            input = [input]
        return self._need_tokenizer().to_str_tokens(input)

    def to_string(self, tokens):
        """ids -> texto. [batch, pos] dá uma lista de textos."""
        if isinstance(tokens, int):
            tokens = [tokens]
        if isinstance(tokens, torch.Tensor):
            if tokens.ndim == 2:
                return [self.to_string(t) for t in tokens]
            tokens = tokens.reshape(-1).tolist()
        return self._need_tokenizer().decode(tokens)

    def to_single_token(self, string: str) -> int:
        ids = self.to_tokens(string, prepend_bos=False)[0]
        if ids.numel() != 1:
            raise ValueError(f"to_single_token: `string` {string!r} deve ser um único token; virou {ids.numel()} tokens.")
        return int(ids[0])

    def to_single_str_token(self, int_token: int) -> str:
        return self.to_str_tokens([int_token])[0]

    def tokens_to_residual_directions(self, tokens) -> torch.Tensor:
        """A coluna de W_U de cada token: int/str -> [d_model]; tensor [...] -> [..., d_model]."""
        if isinstance(tokens, str):
            tokens = self.to_single_token(tokens)
        if isinstance(tokens, torch.Tensor) and tokens.numel() == 1:
            tokens = int(tokens.item())
        if isinstance(tokens, int):
            if not 0 <= tokens < self.cfg.d_vocab_out:
                raise ValueError(f"`tokens`: id {tokens} fora do vocabulário de saída (0 a {self.cfg.d_vocab_out - 1}).")
            return self.W_U[:, tokens]
        if not isinstance(tokens, torch.Tensor) or tokens.is_floating_point():
            raise TypeError(f"`tokens`: esperado int, str ou tensor de ids; veio {type(tokens).__name__}.")
        return self.W_U.T[tokens.to(self.W_U.device)]

    # --------------------------------------------------------------- geração
    @torch.no_grad()
    def generate(self, input="", max_new_tokens: int = 10, stop_at_eos: bool = True, eos_token_id=None,
                 do_sample: bool = True, top_k: int | None = None, top_p: float | None = None,
                 temperature: float = 1.0, freq_penalty: float = 0.0, use_past_kv_cache: bool = True,
                 prepend_bos: bool | None = None, return_type: str = "input", verbose: bool = True):
        """Continua o texto (ou os ids) amostrando um token por vez, como no TransformerLens.

        do_sample=False (ou temperature=0) é guloso; top_k / top_p filtram a distribuição.
        Sem cache de chaves e valores (use_past_kv_cache é ignorado): cada passo recalcula o prefixo,
        o que é barato nos modelos do curso. Para reprodutibilidade, fixe `torch.manual_seed(...)`.
        return_type: "input" (o mesmo tipo da entrada), "str" ou "tokens".
        """
        from .utils import sample_logits

        if return_type not in ("input", "str", "tokens"):
            raise ValueError(f"`return_type`: esperado 'input', 'str' ou 'tokens'; veio {return_type!r}.")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"`max_new_tokens`: esperado inteiro ≥ 0; veio {max_new_tokens!r}.")
        was_text = isinstance(input, (str, list)) and (isinstance(input, str) or isinstance(input[0], str))
        tokens = self._validate_tokens(input, prepend_bos)
        if tokens.shape[1] + max_new_tokens > self.cfg.n_ctx:
            raise ValueError(f"generate: {tokens.shape[1]} tokens de entrada + max_new_tokens={max_new_tokens} passam "
                             f"do contexto do modelo, n_ctx = {self.cfg.n_ctx}.")
        if eos_token_id is None and stop_at_eos and self.tokenizer is not None:
            eos_token_id = getattr(self.tokenizer, "eos_token_id", None)
        finished = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        for _ in range(max_new_tokens):
            logits = self(tokens)[:, -1]
            if freq_penalty:
                counts = torch.zeros_like(logits).scatter_add_(-1, tokens, torch.ones_like(tokens, dtype=logits.dtype))
                logits = logits - freq_penalty * counts
            if do_sample and temperature > 0:
                new = sample_logits(logits, top_k=top_k, top_p=top_p, temperature=temperature)
            else:
                new = logits.argmax(-1)
            if stop_at_eos and eos_token_id is not None:
                new = torch.where(finished, torch.as_tensor(eos_token_id, device=new.device), new)
                finished |= new == eos_token_id
            tokens = torch.cat([tokens, new[:, None]], dim=1)
            if stop_at_eos and eos_token_id is not None and finished.all():
                break
        if return_type == "tokens" or (return_type == "input" and not was_text):
            return tokens
        bos = prepend_bos if prepend_bos is not None else self.cfg.default_prepend_bos
        texts = self.to_string(tokens[:, 1:] if was_text and bos else tokens)  # sem o BOS que nós pusemos
        return texts[0] if isinstance(input, str) or return_type == "str" and len(texts) == 1 else texts

    # --------------------------------------------------------------- pesos empilhados
    @property
    def W_E(self):  # [d_vocab, d_model]
        return self.embed.W_E

    @property
    def W_pos(self):  # [n_ctx, d_model]
        return self.pos_embed.W_pos

    @property
    def W_E_pos(self):  # [d_vocab + n_ctx, d_model]
        return torch.cat([self.W_E, self.W_pos], dim=0)

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

    def all_composition_scores(self, mode: str = "Q") -> torch.Tensor:
        """Composição de todas as cabeças: [n_layers, n_heads, n_layers, n_heads] (veja circuits.composition_scores)."""
        from .circuits import composition_scores

        return composition_scores(self, mode)

    def all_head_labels(self) -> list[str]:
        return [f"L{l}H{h}" for l in range(self.cfg.n_layers) for h in range(self.cfg.n_heads)]

    def accumulated_bias(self, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True) -> torch.Tensor:
        """Soma dos vieses de saída (b_O e, se houver, b_out) das camadas 0..layer-1: [d_model].

        mlp_input=True inclui também o b_O da camada `layer` (é o que chega à MLP dela).
        """
        self._check_layer_arg("layer", layer, self.cfg.n_layers)
        if layer < 0 or (mlp_input and layer >= self.cfg.n_layers):
            raise ValueError(f"`layer`: esperado 0..{self.cfg.n_layers - (1 if mlp_input else 0)}"
                             f"{' com mlp_input=True' if mlp_input else ''}; veio {layer}.")
        bias = torch.zeros(self.cfg.d_model, device=self.W_E.device)
        for l in range(layer):
            bias = bias + self.blocks[l].attn.b_O
            if include_mlp_biases and not self.cfg.attn_only:
                bias = bias + self.blocks[l].mlp.b_out
        if mlp_input:
            bias = bias + self.blocks[layer].attn.b_O
        return bias

    # --------------------------------------------------------------- ganchos opcionais
    def disabled_hook_switch(self, name: str) -> str | None:
        """O campo do config que liga o gancho opcional `name`, se ele está desligado (senão None)."""
        for suffix, switch in (("attn.hook_result", "use_attn_result"), ("_input", "use_split_qkv_input"),
                               ("hook_mlp_in", "use_hook_mlp_in"), ("hook_attn_in", "use_attn_in"),
                               ("hook_tokens", "use_hook_tokens")):
            if name.endswith(suffix) and not getattr(self.cfg, switch):
                return switch
        return None

    def set_use_attn_result(self, use: bool) -> None:
        """Liga/desliga `blocks.{l}.attn.hook_result` (saída de cada cabeça separada)."""
        self.cfg.use_attn_result = bool(use)

    def set_use_split_qkv_input(self, use: bool) -> None:
        """Liga/desliga hook_q_input/hook_k_input/hook_v_input [batch, pos, head, d_model]."""
        self.cfg.use_split_qkv_input = bool(use)

    def set_use_attn_in(self, use: bool) -> None:
        """Liga/desliga blocks.{l}.hook_attn_in [batch, pos, head, d_model]."""
        self.cfg.use_attn_in = bool(use)

    def set_use_hook_mlp_in(self, use: bool) -> None:
        """Liga/desliga blocks.{l}.hook_mlp_in [batch, pos, d_model]."""
        if use and self.cfg.attn_only:
            raise ValueError("set_use_hook_mlp_in: este modelo é só de atenção (d_mlp=None), não tem MLP.")
        self.cfg.use_hook_mlp_in = bool(use)

    def n_params_total(self) -> int:
        """Todos os parâmetros treináveis (cfg.n_params conta só as matrizes ocultas, como no TransformerLens)."""
        return sum(p.numel() for p in self.parameters())

    # --------------------------------------------------------------- processamento de pesos
    @torch.no_grad()
    def fold_layer_norm(self, center_weights: bool = True) -> None:
        """Dobra w e b de cada LN nos pesos que leem dela; as LNs viram "LNPre" (sem w e b).

        LN(x) @ W = (x̂ ⊙ w + b) @ W = x̂ @ (w[:, None] W) + b @ W, com x̂ = (x - média)/escala.
        center_weights=True também tira de W a média sobre d_model (x̂ tem média zero, então
        não muda nada). Os logits e todas as saídas ficam iguais (a menos de arredondamento).
        """
        if self.cfg.normalization != "LN":
            return
        self._untie()
        for block in self.blocks:
            attn, w, b = block.attn, block.ln1.w, block.ln1.b
            for W_name, b_name in (("W_Q", "b_Q"), ("W_K", "b_K"), ("W_V", "b_V")):
                W = getattr(attn, W_name)  # [head, d_model, d_head]
                getattr(attn, b_name).add_(torch.einsum("d,hde->he", b, W))
                W.mul_(w[None, :, None])
                if center_weights:
                    W.sub_(W.mean(1, keepdim=True))
            if not self.cfg.attn_only:
                mlp, w, b = block.mlp, block.ln2.w, block.ln2.b
                mlp.b_in.add_(b @ mlp.W_in)
                mlp.W_in.mul_(w[:, None])
                if center_weights:
                    mlp.W_in.sub_(mlp.W_in.mean(0, keepdim=True))
        W_U, w, b = self.unembed.W_U, self.ln_final.w, self.ln_final.b
        self.unembed.b_U.add_(b @ W_U)
        W_U.mul_(w[:, None])
        if center_weights:
            W_U.sub_(W_U.mean(0, keepdim=True))
        self._replace_lns("LNPre")

    def _untie(self) -> None:
        """Pesos amarrados viram um W_U próprio (dobrar a LN final em W_U não pode mexer em W_E)."""
        if self.cfg.tie_embeddings:
            self.cfg.tie_embeddings = False
            self.unembed.W_U = nn.Parameter(self.W_E.detach().T.clone())

    def _replace_lns(self, normalization) -> None:
        self.cfg.normalization = normalization
        device = self.W_E.device
        for block in self.blocks:
            block.ln1 = make_ln(self.cfg, self.cfg.d_model).to(device)
            if not self.cfg.attn_only:
                block.ln2 = make_ln(self.cfg, self.cfg.d_model).to(device)
        self.ln_final = make_ln(self.cfg, self.cfg.d_model).to(device)
        hooks = {n: h for n, h in self.hook_dict.items()}
        self.setup()
        for n, h in hooks.items():  # ganchos já instalados nas LNs antigas não sobrevivem
            if n not in self.hook_dict or self.hook_dict[n] is not h:
                h.remove_hooks("both", including_permanent=True)

    @torch.no_grad()
    def center_writing_weights(self) -> None:
        """Tira a média (sobre d_model) de tudo que escreve no resíduo: W_E, W_pos, W_O, b_O, W_out, b_out.

        Só vale com LN: ela subtrai a média do resíduo antes de qualquer leitura, então a
        componente constante nunca é lida (sem LN o método não faz nada, como no TransformerLens).
        """
        if self.cfg.normalization not in ("LN", "LNPre"):
            return
        self._untie()
        for W in [self.W_E, self.W_pos] + [b.attn.W_O for b in self.blocks] + [b.attn.b_O for b in self.blocks]:
            W.sub_(W.mean(-1, keepdim=True))
        if not self.cfg.attn_only:
            for block in self.blocks:
                block.mlp.W_out.sub_(block.mlp.W_out.mean(-1, keepdim=True))
                block.mlp.b_out.sub_(block.mlp.b_out.mean(-1, keepdim=True))

    @torch.no_grad()
    def center_unembed(self) -> None:
        """Tira a média sobre o vocabulário de W_U e b_U: os logits mudam por uma constante por posição,
        mas o softmax, as probabilidades e a perda não mudam."""
        self._untie()
        self.unembed.W_U.sub_(self.unembed.W_U.mean(-1, keepdim=True))
        self.unembed.b_U.sub_(self.unembed.b_U.mean())

    @torch.no_grad()
    def fold_value_biases(self) -> None:
        """b_V entra em b_O: cada linha do padrão soma 1, então Σ_h b_V[h] @ W_O[h] é uma constante."""
        for block in self.blocks:
            attn = block.attn
            attn.b_O.add_(torch.einsum("he,hed->d", attn.b_V, attn.W_O))
            attn.b_V.zero_()

    @torch.no_grad()
    def refactor_factored_attn_matrices(self) -> None:
        """Refatora W_Q, W_K, W_V, W_O pela SVD, como o TL: W_QK, W_OV e os logits não mudam.

        W_V = U·S e W_O = Vᵀ (W_O vira uma rotação: o resultado da cabeça tem a norma de z); W_Q e
        W_K ficam com o mesmo tamanho (`make_even`), com b_Q e b_K como uma coordenada extra da
        entrada (que vale sempre 1); b_V é dobrado em b_O.
        """
        from .circuits import FactoredMatrix

        for block in self.blocks:
            a = block.attn
            q = torch.cat([a.W_Q, a.b_Q[:, None, :]], dim=1)  # [head, d_model + 1, d_head]
            k = torch.cat([a.W_K, a.b_K[:, None, :]], dim=1)
            q, k_t = FactoredMatrix(q, k.transpose(-1, -2)).make_even().pair
            k = k_t.transpose(-1, -2)
            a.W_Q.copy_(q[:, :-1]), a.b_Q.copy_(q[:, -1]), a.W_K.copy_(k[:, :-1]), a.b_K.copy_(k[:, -1])
            a.b_O.add_(torch.einsum("he,hed->d", a.b_V, a.W_O))
            a.b_V.zero_()
            U, S, V = FactoredMatrix(a.W_V, a.W_O).svd()
            a.W_V.copy_(U * S[:, None, :]), a.W_O.copy_(V.transpose(-1, -2))

    def process_weights_(self, fold_ln: bool = True, center_writing_weights: bool = True,
                         center_unembed: bool = True, fold_value_biases: bool = True,
                         refactor_factored_attn_matrices: bool = False) -> "HookedTransformer":
        """O processamento que o `from_pretrained` do TransformerLens faz por padrão (no lugar).

        Na ordem do TransformerLens: dobra as LNs, centra os pesos que escrevem no resíduo,
        centra W_U e dobra b_V em b_O. Logits iguais a 1e-5 (center_unembed muda os logits por
        uma constante por posição; as probabilidades não mudam). Depois disso, as ferramentas de
        decomposição (`cache.apply_ln_to_stack`, `logit_attrs`...) dão os mesmos números do
        TransformerLens, porque não há mais w e b de LN para tratar. refactor_factored_attn_matrices=True
        (desligado por padrão, como no TL) roda `refactor_factored_attn_matrices()` no fim.
        """
        if fold_ln:
            self.fold_layer_norm()
        if center_writing_weights:
            self.center_writing_weights()
        if center_unembed:
            self.center_unembed()
        if fold_value_biases:
            self.fold_value_biases()
            if center_writing_weights and self.cfg.normalization in ("LN", "LNPre"):
                with torch.no_grad():
                    for block in self.blocks:
                        block.attn.b_O.sub_(block.attn.b_O.mean())
        if refactor_factored_attn_matrices:
            self.refactor_factored_attn_matrices()
        return self

    # --------------------------------------------------------------- carregar
    @classmethod
    def from_pretrained(cls, path, fold_ln: bool = True, center_writing_weights: bool = True,
                        center_unembed: bool = True, fold_value_biases: bool = True,
                        refactor_factored_attn_matrices: bool = False, device=None, **kwargs):
        """Carrega um GPT-2 no formato do Hugging Face de uma PASTA LOCAL (config.json + model.safetensors).

        Nada é baixado: dado um nome (p. ex. "gpt2"), explica em português como baixar uma vez.
        Por padrão processa os pesos como o TransformerLens (veja `process_weights_`); use
        `from_pretrained_no_processing` para os pesos originais. Veja course_lib/hf.py.
        """
        from .hf import load_gpt2

        model = load_gpt2(path, device=device, **kwargs)
        return model.process_weights_(fold_ln=fold_ln, center_writing_weights=center_writing_weights,
                                      center_unembed=center_unembed, fold_value_biases=fold_value_biases,
                                      refactor_factored_attn_matrices=refactor_factored_attn_matrices)

    @classmethod
    def from_pretrained_no_processing(cls, path, device=None, **kwargs):
        return cls.from_pretrained(path, fold_ln=False, center_writing_weights=False, center_unembed=False,
                                   fold_value_biases=False, device=device, **kwargs)

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
            hint = ""
            if missing and all(k.endswith((".w", ".b")) and "ln" in k for k in missing):
                hint = (" Parece um state dict com as LNs já dobradas (fold_ln): crie o modelo com "
                        "normalization='LNPre'.")
            raise ValueError("state dict incompatível com este modelo: " + " | ".join(parts) + "." + hint)
        return super().load_state_dict(sd, strict=strict, assign=assign)

    @classmethod
    def from_transformer_lens(cls, tl_model, tokenizer=None) -> "HookedTransformer":
        """Copia um HookedTransformer do TransformerLens (config E pesos; shortformer incluído)."""
        c = tl_model.cfg
        names = ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx", "act_fn",
                 "normalization_type", "attn_only", "positional_embedding_type", "d_vocab_out", "eps",
                 "default_prepend_bos", "use_attn_result", "use_split_qkv_input", "use_attn_in",
                 "use_hook_mlp_in", "use_hook_tokens")
        cfg = Config(**{n: getattr(c, n) for n in names if hasattr(c, n)})
        model = cls(cfg, tokenizer=tokenizer)
        model.load_state_dict(tl_model.state_dict())
        return model.to(tl_model.cfg.device or "cpu")


def lm_cross_entropy_loss(logits, tokens, attention_mask=None, per_token: bool = False):
    """Entropia cruzada do próximo token: posição p prevê tokens[:, p+1].

    Como no TransformerLens, o 3º argumento é `attention_mask` [batch, pos] (0 = preenchimento:
    ignora as posições em que o token atual ou o próximo é preenchimento). per_token=True devolve
    [batch, pos-1] (zeros nas posições ignoradas).
    """
    if isinstance(attention_mask, bool):
        raise TypeError("lm_cross_entropy_loss: o 3º argumento é `attention_mask` (como no TransformerLens); "
                        f"veio o bool {attention_mask}. Para a perda por posição use per_token=True.")
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]
    if attention_mask is None:
        return nll if per_token else nll.mean()
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != tokens.shape:
        got = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask).__name__
        raise ValueError(f"lm_cross_entropy_loss: `attention_mask` deve ter a forma dos tokens, {tuple(tokens.shape)}; veio {got}.")
    keep = attention_mask[:, :-1].bool() & attention_mask[:, 1:].bool()
    nll = nll.masked_fill(~keep, 0.0)
    return nll if per_token else nll.sum() / keep.sum()


def lm_accuracy(logits, tokens, per_token: bool = False):
    """Fração de posições em que o argmax dos logits é o próximo token."""
    correct = logits[:, :-1].argmax(-1) == tokens[:, 1:]
    return correct if per_token else correct.float().mean()
