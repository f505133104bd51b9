"""ActivationCache: as ativações de um forward, com atalhos e decomposições exatas.

Convenção de exatidão (melhor que o `apply_ln_to_stack` do TransformerLens, que
ignora w e b da LN): a LN final, com a escala (`hook_scale`) congelada no valor do
forward, é uma função afim do fluxo residual,

    LN(x) = w ⊙ (x - média(x)) / escala + b.

`apply_ln_to_stack` aplica a parte LINEAR (centrar, dividir pela escala, multiplicar
por w) a cada componente; a parte constante (b da LN, e depois b_U) não pertence a
componente nenhum e é devolvida por `logit_offset`. Assim, para qualquer
decomposição que some ao resíduo final:

    Σ_i logit_attrs(componentes)[i] + logit_offset(tokens) == logits[..., tokens]

exatamente (a menos de arredondamento em float32).
"""
from __future__ import annotations

import torch

from .hooks import suggest

# atalho -> (sufixo do gancho, precisa de camada?)
_ACT_NAMES = {
    "embed": "hook_embed", "pos_embed": "hook_pos_embed",
    "resid_pre": "hook_resid_pre", "resid_mid": "hook_resid_mid", "resid_post": "hook_resid_post",
    "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out",
    "q": "attn.hook_q", "k": "attn.hook_k", "v": "attn.hook_v", "z": "attn.hook_z",
    "attn_scores": "attn.hook_attn_scores", "scores": "attn.hook_attn_scores",
    "pattern": "attn.hook_pattern", "attn": "attn.hook_pattern", "result": "attn.hook_result",
    "pre": "mlp.hook_pre", "post": "mlp.hook_post",
    "scale": "hook_scale", "normalized": "hook_normalized",
}


def get_act_name(name: str, layer: int | None = None, layer_type: str | None = None) -> str:
    """Nome completo de um gancho a partir de um atalho, como no TransformerLens.

    get_act_name("pattern", 0) -> "blocks.0.attn.hook_pattern";
    get_act_name("scale", 1, "ln2") -> "blocks.1.ln2.hook_scale";
    get_act_name("scale") -> "ln_final.hook_scale".
    """
    if "." in name or name.startswith("hook_"):  # já é um nome completo
        return name
    if name not in _ACT_NAMES:
        raise KeyError(f"Atalho de ativação desconhecido: '{name}'.{suggest(name, _ACT_NAMES)}")
    suffix = _ACT_NAMES[name]
    if name in ("embed", "pos_embed"):
        return suffix
    if name in ("scale", "normalized"):
        if layer is None:
            return f"ln_final.{suffix}"
        return f"blocks.{layer}.{layer_type or 'ln1'}.{suffix}"
    if layer is None:
        raise KeyError(f"O atalho '{name}' precisa de uma camada, por exemplo cache['{name}', 0].")
    return f"blocks.{layer}.{suffix}"


class ActivationCache:
    """Dicionário nome -> ativação, com `cache["pattern", 0]` e ferramentas de decomposição."""

    def __init__(self, cache_dict: dict[str, torch.Tensor], model, has_batch_dim: bool = True):
        self.cache_dict = cache_dict
        self.model = model
        self.has_batch_dim = has_batch_dim

    # ------------------------------------------------------------- acesso
    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, tuple):
            name = get_act_name(*key)
        elif isinstance(key, str):
            name = key if key in self.cache_dict else get_act_name(key)
        else:
            raise TypeError(f"cache[...]: esperado nome ou (atalho, camada); veio {type(key).__name__}.")
        if name.startswith("blocks."):
            layer = int(name.split(".")[1])
            if not 0 <= layer < self.model.cfg.n_layers:
                raise IndexError(f"cache: camada {layer} não existe; o modelo tem camadas 0..{self.model.cfg.n_layers - 1}.")
        if name not in self.cache_dict:
            raise KeyError(
                f"cache: '{name}' não está no cache ({len(self.cache_dict)} ativações guardadas)."
                f"{suggest(name, self.cache_dict)}"
            )
        return self.cache_dict[name]

    def __contains__(self, name):
        return name in self.cache_dict

    def __iter__(self):
        return iter(self.cache_dict)

    def __len__(self):
        return len(self.cache_dict)

    def keys(self):
        return self.cache_dict.keys()

    def values(self):
        return self.cache_dict.values()

    def items(self):
        return self.cache_dict.items()

    def __repr__(self):
        return f"ActivationCache com {len(self)} ativações: {list(self.cache_dict)[:6]}..."

    def _check_layer(self, layer, allow_final=True):
        n = self.model.cfg.n_layers
        top = n if allow_final else n - 1
        if layer is None or layer == -1:
            return n if allow_final else n - 1
        if not isinstance(layer, int) or not 0 <= layer <= top:
            raise ValueError(f"`layer`: esperado inteiro entre 0 e {top} (ou None); veio {layer!r}.")
        return layer

    # ------------------------------------------------------------- fluxo residual
    def accumulated_resid(self, layer: int | None = None, incl_mid: bool = False,
                          apply_ln: bool = False, return_labels: bool = False):
        """Fluxo residual acumulado antes de cada camada: [componente, batch, pos, d_model].

        Inclui resid_pre das camadas 0..layer (layer = n_layers significa o resíduo final,
        resid_post da última camada). `incl_mid` intercala os resid_mid.
        """
        layer = self._check_layer(layer)
        n = self.model.cfg.n_layers
        comps, labels = [], []
        for l in range(layer + 1):
            if l == n:
                comps.append(self["resid_post", n - 1]); labels.append("final_post")
                break
            comps.append(self["resid_pre", l]); labels.append(f"{l}_pre")
            if incl_mid and l < layer and not self.model.cfg.attn_only:
                comps.append(self["resid_mid", l]); labels.append(f"{l}_mid")
        stack = torch.stack(comps)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, recompute=True)
        return (stack, labels) if return_labels else stack

    def decompose_resid(self, layer: int | None = None, mode: str = "all",
                        incl_embeds: bool = True, apply_ln: bool = False, return_labels: bool = False):
        """Componentes que somam (exatamente) ao resid_pre de `layer` (padrão: resíduo final).

        Ordem: embed, pos_embed, e por camada attn_out (com b_O) e mlp_out (com b_out).
        mode: "all", "attn" ou "mlp" para escolher quais saídas entram.
        """
        if mode not in ("all", "attn", "mlp"):
            raise ValueError(f"`mode`: esperado 'all', 'attn' ou 'mlp'; veio {mode!r}.")
        layer = self._check_layer(layer)
        comps, labels = [], []
        if incl_embeds:
            comps += [self["embed"], self["pos_embed"]]; labels += ["embed", "pos_embed"]
        for l in range(layer):
            if mode in ("all", "attn"):
                comps.append(self["attn_out", l]); labels.append(f"{l}_attn_out")
            if mode in ("all", "mlp") and not self.model.cfg.attn_only:
                comps.append(self["mlp_out", l]); labels.append(f"{l}_mlp_out")
        stack = torch.stack(comps)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer)
        return (stack, labels) if return_labels else stack

    def stack_head_results(self, layer: int | None = None, apply_ln: bool = False, return_labels: bool = False):
        """Saída de cada cabeça das camadas 0..layer-1: [n_cabeças, batch, pos, d_model] (sem b_O).

        Calculada de hook_z e W_O (não precisa de hook_result). Rótulos "L{l}H{h}".
        """
        layer = self._check_layer(layer)
        comps, labels = [], []
        for l in range(layer):
            z = self["z", l]  # [batch, pos, head, d_head]
            W_O = self.model.blocks[l].attn.W_O.to(z.device)
            result = torch.einsum("...hd,hdm->h...m", z, W_O)
            comps.append(result)
            labels += [f"L{l}H{h}" for h in range(self.model.cfg.n_heads)]
        stack = torch.cat(comps) if comps else torch.zeros(0)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer)
        return (stack, labels) if return_labels else stack

    def get_full_resid_decomposition(self, layer: int | None = None, apply_ln: bool = False,
                                     return_labels: bool = False):
        """Decomposição mais fina, que soma exatamente ao resíduo: embed, pos_embed, cada cabeça
        (L{l}H{h}), cada MLP (MLP{l}) e "bias" (a soma dos b_O de todas as camadas)."""
        layer = self._check_layer(layer)
        heads, labels = self.stack_head_results(layer, return_labels=True)
        comps = [self["embed"][None], self["pos_embed"][None], heads]
        labels = ["embed", "pos_embed"] + labels
        if not self.model.cfg.attn_only:
            comps.append(torch.stack([self["mlp_out", l] for l in range(layer)]))
            labels += [f"MLP{l}" for l in range(layer)]
        embed = self["embed"]
        bias = sum((self.model.blocks[l].attn.b_O.detach() for l in range(layer)),
                   torch.zeros(self.model.cfg.d_model, device=embed.device))
        comps.append(bias.expand_as(embed)[None])
        labels.append("bias")
        stack = torch.cat(comps)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer)
        return (stack, labels) if return_labels else stack

    # ------------------------------------------------------------- LayerNorm linearizada
    def _ln_for(self, layer: int | None, mlp_input: bool):
        n = self.model.cfg.n_layers
        if layer is None or layer == n or layer == -1:
            return self.model.ln_final, "ln_final"
        ln_name = "ln2" if mlp_input else "ln1"
        return getattr(self.model.blocks[layer], ln_name), f"blocks.{layer}.{ln_name}"

    def apply_ln_to_stack(self, residual_stack: torch.Tensor, layer: int | None = None,
                          mlp_input: bool = False, recompute: bool = False) -> torch.Tensor:
        """Aplica a parte linear da LN (centrar, dividir pela escala, multiplicar por w).

        - `recompute=False` (padrão): usa a escala do forward (cache[...hook_scale]); é a
          linearização exata — os componentes somados dão a saída da LN menos o seu viés b.
        - `recompute=True`: trata cada elemento da pilha como um resíduo inteiro e recalcula a
          sua própria escala (o que a lente de logits faz em cada camada).
        O viés b da LN NÃO é somado (veja `logit_offset`). Sem LN no modelo: devolve a pilha.
        """
        if not isinstance(residual_stack, torch.Tensor) or residual_stack.shape[-1] != self.model.cfg.d_model:
            got = tuple(residual_stack.shape) if isinstance(residual_stack, torch.Tensor) else type(residual_stack).__name__
            raise ValueError(f"`residual_stack`: esperado tensor [..., d_model={self.model.cfg.d_model}]; veio {got}.")
        if self.model.cfg.normalization is None:
            return residual_stack
        ln, prefix = self._ln_for(layer, mlp_input)
        x = residual_stack - residual_stack.mean(-1, keepdim=True)
        if recompute:
            scale = (x.pow(2).mean(-1, keepdim=True) + ln.eps).sqrt()
        else:
            scale = self[f"{prefix}.hook_scale"]
        return x / scale * ln.w.detach().to(x.device)

    def logit_offset(self, tokens=None) -> torch.Tensor:
        """Parte constante dos logits: b_LN_final @ W_U + b_U (índices `tokens`, se dados)."""
        b = self.model.b_U.detach()
        if self.model.cfg.normalization == "LN":
            b = b + self.model.ln_final.b.detach() @ self.model.W_U.detach()
        return b if tokens is None else b[self._unembed_index(tokens, b.device)]

    def logit_attrs(self, residual_stack: torch.Tensor, tokens, incorrect_tokens=None,
                    has_ln_applied: bool = False) -> torch.Tensor:
        """Contribuição de cada componente ao logit de `tokens` (ou à diferença para `incorrect_tokens`).

        residual_stack: [componente, batch, pos, d_model] (pilha que soma ao resíduo final).
        tokens: int (o mesmo token em toda posição) ou tensor [batch, pos] / [pos].
        Devolve [componente, batch, pos]. Some `logit_offset` para reconstruir os logits.
        """
        stack = residual_stack if has_ln_applied else self.apply_ln_to_stack(residual_stack)
        W_U = self.model.W_U.detach().to(stack.device)
        direction = self._unembed_dir(W_U, tokens, stack)
        if incorrect_tokens is not None:
            direction = direction - self._unembed_dir(W_U, incorrect_tokens, stack)
        return (stack * direction).sum(-1)

    def _unembed_index(self, tokens, device):
        """Valida ids de token (int ou tensor de inteiros) contra d_vocab."""
        d_vocab = self.model.cfg.d_vocab
        tokens = torch.as_tensor(tokens, device=device)
        if tokens.is_floating_point() or tokens.dtype == torch.bool:
            raise TypeError(f"`tokens`: esperado ids inteiros; veio dtype {tokens.dtype}.")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= d_vocab):
            raise ValueError(f"`tokens`: ids fora do vocabulário; os válidos vão de 0 a {d_vocab - 1}.")
        return tokens

    def _unembed_dir(self, W_U, tokens, stack):
        return W_U.T[self._unembed_index(tokens, W_U.device)]  # [..., d_model], broadcast com a pilha
