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

Diferença para o TransformerLens (e a chave para trocar):

- TL `apply_ln_to_stack`: centra e divide pela escala do forward, SEM multiplicar por w (e sem b).
  Só é a LN de verdade depois de `model.process_weights_()` (fold_ln), quando w = 1 e b = 0.
  Sem dobrar, Σ logit_attrs do TL não soma aos logits (no modelo `lm` erra por 2,65).
- TL `accumulated_resid(apply_ln=True)`: com layer = n_layers aplica a `ln_final` inteira (com
  w e b) a cada elemento, recalculando a escala; com layer < n_layers usa a escala do forward
  da LN daquela camada. Aqui: sempre recalcula, com a parte linear da `ln_final` (sem b).
- Com os pesos processados (`model.process_weights_()`) as duas convenções dão os mesmos números
  em `apply_ln_to_stack`, `logit_attrs`, `decompose_resid`/`stack_head_results(apply_ln=True)`
  e `accumulated_resid(apply_ln=True)` com layer = n_layers (o padrão).
- `ln_convention="tl"` (por chamada, ou `cache.ln_convention = "tl"`, ou para todos os caches
  `ActivationCache.ln_convention = "tl"`) reproduz o TransformerLens em qualquer caso.
"""
from __future__ import annotations

import torch

from .hooks import suggest
from .utils import Slice, get_act_name  # noqa: F401  (get_act_name também é importado daqui)


LN_CONVENTIONS = ("exata", "tl")


class ActivationCache:
    """Dicionário nome -> ativação, com `cache["pattern", 0]` e ferramentas de decomposição."""

    ln_convention = "exata"  # "tl" imita o TransformerLens (veja o topo do módulo)

    def __init__(self, cache_dict: dict[str, torch.Tensor], model, has_batch_dim: bool = True):
        self.cache_dict = cache_dict
        self.model = model
        self.has_batch_dim = has_batch_dim

    # ------------------------------------------------------------- acesso
    def __getitem__(self, key) -> torch.Tensor:
        n = self.model.cfg.n_layers
        if isinstance(key, tuple):
            if len(key) >= 2 and isinstance(key[1], int) and not isinstance(key[1], bool) and -n <= key[1] < 0:
                key = (key[0], key[1] + n) + tuple(key[2:])  # camada negativa conta do fim, como em listas
            name = get_act_name(*key)
        elif isinstance(key, str):
            name = key if key in self.cache_dict else get_act_name(key)
        else:
            raise TypeError(f"cache[...]: esperado nome ou (atalho, camada); veio {type(key).__name__}.")
        if name.startswith("blocks."):
            layer = int(name.split(".")[1])
            if not 0 <= layer < n:
                raise IndexError(f"cache: camada {layer} não existe; o modelo tem camadas 0..{n - 1} (ou -{n}..-1).")
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

    # ------------------------------------------------------------- lote e dispositivo
    def _batch_size(self) -> int:
        if not self.has_batch_dim:
            raise ValueError("cache: este cache não tem a dimensão do lote (batch) (foi gerado com remove_batch_dim=True).")
        return next(iter(self.cache_dict.values())).shape[0]

    def remove_batch_dim(self) -> "ActivationCache":
        """Tira a dimensão do lote (batch; só com lote de 1), no lugar; devolve o próprio cache."""
        if self.has_batch_dim:
            b = self._batch_size()
            if b != 1:
                raise ValueError(f"remove_batch_dim: só funciona com lote de tamanho 1; este cache tem lote {b}.")
            self.cache_dict = {k: v[0] for k, v in self.cache_dict.items()}
            self.has_batch_dim = False
        return self

    def to(self, device, move_model: bool = False) -> "ActivationCache":
        """Move todas as ativações para `device` (e o modelo, se move_model=True); devolve o próprio cache."""
        self.cache_dict = {k: v.to(device) for k, v in self.cache_dict.items()}
        if move_model:
            self.model.to(device)
        return self

    def toggle_autodiff(self, mode: bool = False) -> None:
        """Liga/desliga o autograd do torch globalmente (como no TransformerLens)."""
        torch.set_grad_enabled(mode)

    def apply_slice_to_batch_dim(self, batch_slice) -> "ActivationCache":
        """Novo cache só com os exemplos de `batch_slice` (int, tupla, lista, Slice)."""
        batch_slice = batch_slice if isinstance(batch_slice, Slice) else Slice(batch_slice)
        if not self.has_batch_dim:
            raise ValueError("apply_slice_to_batch_dim: este cache não tem a dimensão do lote (batch).")
        new = {k: batch_slice.apply(v, dim=0) for k, v in self.cache_dict.items()}
        return ActivationCache(new, self.model, has_batch_dim=batch_slice.mode != "int")

    def _check_layer(self, layer, allow_final=True):
        n = self.model.cfg.n_layers
        top = n if allow_final else n - 1
        if layer is None or layer == -1:
            return n if allow_final else n - 1
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer <= top:
            raise ValueError(f"`layer`: esperado inteiro entre 0 e {top} (ou None / -1); veio {layer!r}.")
        return layer

    def _convention(self, ln_convention):
        conv = self.ln_convention if ln_convention is None else ln_convention
        if conv not in LN_CONVENTIONS:
            raise ValueError(f"`ln_convention`: esperado um de {LN_CONVENTIONS}; veio {conv!r}.")
        return conv

    @staticmethod
    def _pos(x, pos_slice, dim=-2):
        """Fatia a dimensão de posição; como no TransformerLens, pos_slice=int tira essa dimensão."""
        if pos_slice is None:
            return x
        return (pos_slice if isinstance(pos_slice, Slice) else Slice(pos_slice)).apply(x, dim=dim)

    # ------------------------------------------------------------- empilhar
    def stack_activation(self, activation_name: str, layer: int = -1, sublayer_type: str | None = None) -> torch.Tensor:
        """cache[activation_name, l] empilhado para as camadas 0..layer-1 (todas, com layer=-1): [camada, ...]."""
        n = self.model.cfg.n_layers
        top = n if layer == -1 or layer is None else self._check_layer(layer)
        return torch.stack([self[get_act_name(activation_name, l, sublayer_type)] for l in range(top)])

    def compute_head_results(self) -> None:
        """Calcula blocks.{l}.attn.hook_result = z @ W_O por cabeça (sem b_O) e guarda no cache."""
        for l in range(self.model.cfg.n_layers):
            name = f"blocks.{l}.attn.hook_result"
            if name not in self.cache_dict:
                z = self["z", l]
                W_O = self.model.blocks[l].attn.W_O.detach().to(z.device)
                self.cache_dict[name] = torch.einsum("...hd,hdm->...hm", z, W_O)

    # ------------------------------------------------------------- fluxo residual
    def accumulated_resid(self, layer: int | None = None, incl_mid: bool = False, apply_ln: bool = False,
                          pos_slice=None, mlp_input: bool = False, return_labels: bool = False,
                          ln_convention: str | None = None):
        """Fluxo residual acumulado antes de cada camada: [componente, batch, pos, d_model].

        Inclui resid_pre das camadas 0..layer (layer = n_layers significa o resíduo final,
        resid_post da última camada). `incl_mid` intercala os resid_mid; `mlp_input` acrescenta
        o resid_mid da própria `layer`.
        apply_ln=True: cada elemento passa pela parte linear da LN final com a SUA escala
        (recalculada), como faz a lente de logits. Com ln_convention="tl": como o TransformerLens
        (LN final inteira, com w e b, se layer = n_layers; senão a escala do forward da LN da camada).
        """
        layer = self._check_layer(layer)
        n = self.model.cfg.n_layers
        comps, labels = [], []
        for l in range(layer + 1):
            if l == n:
                comps.append(self["resid_post", n - 1]); labels.append("final_post")
                break
            comps.append(self["resid_pre", l]); labels.append(f"{l}_pre")
            if ((incl_mid and l < layer) or (mlp_input and l == layer)) and not self.model.cfg.attn_only:
                comps.append(self["resid_mid", l]); labels.append(f"{l}_mid")
        stack = torch.stack([self._pos(c, pos_slice) for c in comps])
        if apply_ln:
            if self._convention(ln_convention) == "tl" and layer < n:
                stack = self.apply_ln_to_stack(stack, layer, mlp_input, pos_slice=pos_slice, ln_convention="tl")
            elif self._convention(ln_convention) == "tl":
                stack = self.apply_ln_to_stack(stack, layer, pos_slice=pos_slice, recompute_ln=True, ln_convention="tl")
            else:
                stack = self.apply_ln_to_stack(stack, recompute=True)
        return (stack, labels) if return_labels else stack

    def decompose_resid(self, layer: int | None = None, mlp_input: bool = False, mode: str = "all",
                        apply_ln: bool = False, pos_slice=None, incl_embeds: bool = True,
                        return_labels: bool = False, ln_convention: str | None = None):
        """Componentes que somam (exatamente) ao resid_pre de `layer` (padrão: resíduo final).

        Ordem: embed, pos_embed, e por camada attn_out (com b_O) e mlp_out (com b_out).
        mode: "all", "attn" ou "mlp" para escolher quais saídas entram. mlp_input=True inclui o
        attn_out da própria `layer` (a entrada da MLP dela).
        """
        if mode not in ("all", "attn", "mlp"):
            raise ValueError(f"`mode`: esperado 'all', 'attn' ou 'mlp'; veio {mode!r}.")
        layer = self._check_layer(layer)
        comps, labels = [], []
        if incl_embeds:
            comps += [self["embed"], self["pos_embed"]]; labels += ["embed", "pos_embed"]
        for l in range(layer + (1 if mlp_input else 0)):
            if mode in ("all", "attn"):
                comps.append(self["attn_out", l]); labels.append(f"{l}_attn_out")
            if mode in ("all", "mlp") and not self.model.cfg.attn_only and l < layer:
                comps.append(self["mlp_out", l]); labels.append(f"{l}_mlp_out")
        stack = torch.stack([self._pos(c, pos_slice) for c in comps])
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer, mlp_input=mlp_input, pos_slice=pos_slice,
                                           ln_convention=ln_convention)
        return (stack, labels) if return_labels else stack

    def stack_head_results(self, layer: int | None = None, return_labels: bool = False, incl_remainder: bool = False,
                           pos_slice=None, apply_ln: bool = False, ln_convention: str | None = None):
        """Saída de cada cabeça das camadas 0..layer-1: [n_cabeças, batch, pos, d_model] (sem b_O).

        Calculada de hook_z e W_O (não precisa de hook_result). Rótulos "L{l}H{h}".
        incl_remainder=True acrescenta "remainder": o resíduo menos a soma das cabeças.
        """
        layer = self._check_layer(layer)
        comps, labels = [], []
        for l in range(layer):
            z = self._pos(self["z", l], pos_slice, dim=-3)  # [batch, pos, head, d_head]
            W_O = self.model.blocks[l].attn.W_O.detach().to(z.device)
            comps.append(torch.einsum("...hd,hdm->h...m", z, W_O))
            labels += [f"L{l}H{h}" for h in range(self.model.cfg.n_heads)]
        stack = torch.cat(comps) if comps else torch.zeros(0)
        if incl_remainder:
            if layer == self.model.cfg.n_layers:
                resid = self._pos(self["resid_post", layer - 1], pos_slice)
            else:
                resid = self._pos(self["resid_pre", layer], pos_slice)
            remainder = resid - (stack.sum(0) if comps else 0)
            stack = torch.cat([stack, remainder[None]]) if comps else remainder[None]
            labels.append("remainder")
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer, pos_slice=pos_slice, ln_convention=ln_convention)
        return (stack, labels) if return_labels else stack

    def get_neuron_results(self, layer: int, neuron_slice=None, pos_slice=None) -> torch.Tensor:
        """O que cada neurônio da MLP de `layer` escreve no resíduo: [batch, pos, neurônio, d_model] (sem b_out)."""
        if self.model.cfg.attn_only:
            raise ValueError("get_neuron_results: este modelo é só de atenção (d_mlp=None), não tem neurônios.")
        layer = self._check_layer(layer, allow_final=False)
        neurons = neuron_slice if isinstance(neuron_slice, Slice) else Slice(neuron_slice)
        post = neurons.apply(self._pos(self["post", layer], pos_slice), dim=-1)
        W_out = neurons.apply(self.model.blocks[layer].mlp.W_out.detach().to(post.device), dim=0)
        return post[..., None] * W_out

    def stack_neuron_results(self, layer: int | None = None, pos_slice=None, neuron_slice=None,
                             return_labels: bool = False, incl_remainder: bool = False, apply_ln: bool = False,
                             ln_convention: str | None = None):
        """Saída de cada neurônio das camadas 0..layer-1: [n_neurônios, batch, pos, d_model]; rótulos "L{l}N{n}"."""
        layer = self._check_layer(layer)
        comps, labels = [], []
        for l in range(layer):
            r = self.get_neuron_results(l, neuron_slice, pos_slice)  # [..., n, d_model]
            comps.append(r.movedim(-2, 0))
            idx = (neuron_slice if isinstance(neuron_slice, Slice) else Slice(neuron_slice)).indices(self.model.cfg.d_mlp)
            labels += [f"L{l}N{i}" for i in idx]
        stack = torch.cat(comps) if comps else torch.zeros(0)
        if incl_remainder:
            resid = self["resid_post", layer - 1] if layer == self.model.cfg.n_layers else self["resid_pre", layer]
            resid = self._pos(resid, pos_slice)
            remainder = resid - (stack.sum(0) if comps else 0)
            stack = torch.cat([stack, remainder[None]]) if comps else remainder[None]
            labels.append("remainder")
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer, pos_slice=pos_slice, ln_convention=ln_convention)
        return (stack, labels) if return_labels else stack

    def get_full_resid_decomposition(self, layer: int | None = None, mlp_input: bool = False,
                                     expand_neurons: bool = False, apply_ln: bool = False, pos_slice=None,
                                     return_labels: bool = False, ln_convention: str | None = None):
        """Decomposição mais fina, que soma exatamente ao resíduo: embed, pos_embed, cada cabeça
        (L{l}H{h}), cada MLP (MLP{l}) e "bias" (a soma dos b_O de todas as camadas).

        Diferenças para o TransformerLens: a ORDEM (lá: cabeças, MLPs, embed, pos_embed, bias;
        use os rótulos, `return_labels=True`, para casar) e o padrão de expand_neurons.

        expand_neurons=True troca cada MLP pelos seus neurônios (L{l}N{n}) e põe os b_out no
        "bias" (o padrão do TransformerLens é True; aqui é False, para a figura caber na tela).
        mlp_input=True inclui as cabeças de `layer` (a entrada da MLP dessa camada).
        """
        layer = self._check_layer(layer)
        head_layer = layer + 1 if mlp_input else layer
        heads, labels = self.stack_head_results(head_layer, return_labels=True, pos_slice=pos_slice)
        embed = self._pos(self["embed"], pos_slice)
        comps = [embed[None], self._pos(self["pos_embed"], pos_slice)[None], heads]
        labels = ["embed", "pos_embed"] + labels
        has_mlp = not self.model.cfg.attn_only
        if has_mlp and layer > 0:
            if expand_neurons:
                neurons, n_labels = self.stack_neuron_results(layer, pos_slice=pos_slice, return_labels=True)
                comps.append(neurons); labels += n_labels
            else:
                comps.append(torch.stack([self._pos(self["mlp_out", l], pos_slice) for l in range(layer)]))
                labels += [f"MLP{l}" for l in range(layer)]
        bias = sum((self.model.blocks[l].attn.b_O.detach().to(embed.device) for l in range(head_layer)),
                   torch.zeros(self.model.cfg.d_model, device=embed.device))
        if has_mlp and expand_neurons:
            bias = bias + sum((self.model.blocks[l].mlp.b_out.detach().to(embed.device) for l in range(layer)),
                              torch.zeros_like(bias))
        comps.append(bias.expand_as(embed)[None])
        labels.append("bias")
        stack = torch.cat(comps)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer=layer, mlp_input=mlp_input, pos_slice=pos_slice,
                                           ln_convention=ln_convention)
        return (stack, labels) if return_labels else stack

    # ------------------------------------------------------------- LayerNorm linearizada
    def _ln_for(self, layer: int | None, mlp_input: bool):
        n = self.model.cfg.n_layers
        if layer is None or layer == n or layer == -1:
            return self.model.ln_final, "ln_final"
        ln_name = "ln2" if mlp_input else "ln1"
        return getattr(self.model.blocks[layer], ln_name), f"blocks.{layer}.{ln_name}"

    def _cached_scale(self, prefix, pos_slice, batch_slice, has_batch_dim):
        scale = self[f"{prefix}.hook_scale"]
        scale = self._pos(scale, pos_slice)
        if self.has_batch_dim and batch_slice is not None:  # como no TL: vale também para pilha sem batch
            scale = (batch_slice if isinstance(batch_slice, Slice) else Slice(batch_slice)).apply(scale, dim=0)
        return scale

    def apply_ln_to_stack(self, residual_stack: torch.Tensor, layer: int | None = None, mlp_input: bool = False,
                          pos_slice=None, batch_slice=None, has_batch_dim: bool = True, recompute_ln: bool = False,
                          recompute: bool | None = None, ln_convention: str | None = None) -> torch.Tensor:
        """Aplica a parte linear da LN (centrar, dividir pela escala, multiplicar por w).

        - `recompute=False` (padrão): usa a escala do forward (cache[...hook_scale]); é a
          linearização exata — os componentes somados dão a saída da LN menos o seu viés b.
        - `recompute=True` (ou `recompute_ln=True`, o nome do TL): trata cada elemento da pilha
          como um resíduo inteiro e recalcula a sua própria escala (o que a lente de logits faz).
        O viés b da LN NÃO é somado (veja `logit_offset`). Sem LN no modelo: devolve a pilha.
        ln_convention="tl": como o TransformerLens — sem multiplicar por w; com recompute_ln na
        LN final, aplica a `ln_final` inteira (com w e b). Iguais quando os pesos estão dobrados.
        `pos_slice`/`batch_slice`: a pilha já vem fatiada; a mesma fatia é aplicada à escala.
        """
        if not isinstance(residual_stack, torch.Tensor) or residual_stack.shape[-1] != self.model.cfg.d_model:
            got = tuple(residual_stack.shape) if isinstance(residual_stack, torch.Tensor) else type(residual_stack).__name__
            raise ValueError(f"`residual_stack`: esperado tensor [..., d_model={self.model.cfg.d_model}]; veio {got}.")
        recompute = recompute_ln if recompute is None else recompute
        if self.model.cfg.normalization is None:
            return residual_stack
        if has_batch_dim and batch_slice is not None:
            residual_stack = (batch_slice if isinstance(batch_slice, Slice) else Slice(batch_slice)).apply(residual_stack, dim=1)
        ln, prefix = self._ln_for(layer, mlp_input)
        if self._convention(ln_convention) == "tl":
            if recompute and prefix == "ln_final":
                return ln(residual_stack)
            x = residual_stack - residual_stack.mean(-1, keepdim=True)
            return x / self._cached_scale(prefix, pos_slice, batch_slice, has_batch_dim)
        x = residual_stack - residual_stack.mean(-1, keepdim=True)
        if recompute:
            scale = (x.pow(2).mean(-1, keepdim=True) + ln.eps).sqrt()
        else:
            scale = self._cached_scale(prefix, pos_slice, batch_slice, has_batch_dim)
        return x / scale * ln.w.detach().to(x.device)

    def logit_offset(self, tokens=None) -> torch.Tensor:
        """Parte constante dos logits: b_LN_final @ W_U + b_U (índices `tokens`, se dados)."""
        b = self.model.b_U.detach()
        if self.model.cfg.normalization == "LN":
            b = b + self.model.ln_final.b.detach() @ self.model.W_U.detach()
        return b if tokens is None else b[self._unembed_index(tokens, b.device)]

    def logit_attrs(self, residual_stack: torch.Tensor, tokens, incorrect_tokens=None, pos_slice=None,
                    batch_slice=None, has_batch_dim: bool = True, has_ln_applied: bool = False,
                    ln_convention: str | None = None) -> torch.Tensor:
        """Contribuição de cada componente ao logit de `tokens` (ou à diferença para `incorrect_tokens`).

        residual_stack: [componente, batch, pos, d_model] (pilha que soma ao resíduo final).
        tokens: int, str (um token) ou tensor [batch, pos] / [pos] / [batch].
        Devolve [componente, batch, pos]. Some `logit_offset` para reconstruir os logits
        (com ln_convention="exata", o padrão; a do TL não soma aos logits sem pesos dobrados).
        """
        if has_ln_applied:
            stack = residual_stack
        else:
            stack = self.apply_ln_to_stack(residual_stack, None, pos_slice=pos_slice, batch_slice=batch_slice,
                                           has_batch_dim=has_batch_dim, ln_convention=ln_convention)
        W_U = self.model.W_U.detach().to(stack.device)
        direction = self._unembed_dir(W_U, tokens, stack)
        if incorrect_tokens is not None:
            wrong = self._unembed_dir(W_U, incorrect_tokens, stack)
            if direction.shape != wrong.shape:
                raise ValueError(f"logit_attrs: `tokens` e `incorrect_tokens` devem ter a mesma forma; vieram "
                                 f"{tuple(direction.shape[:-1])} e {tuple(wrong.shape[:-1])}.")
            direction = direction - wrong
        return (stack * direction).sum(-1)

    def _unembed_index(self, tokens, device):
        """Valida ids de token (int, str de um token ou tensor de inteiros) contra d_vocab."""
        if isinstance(tokens, str):
            tokens = self.model.to_single_token(tokens)
        d_vocab = self.model.cfg.d_vocab_out
        tokens = torch.as_tensor(tokens, device=device)
        if tokens.is_floating_point() or tokens.dtype == torch.bool:
            raise TypeError(f"`tokens`: esperado ids inteiros; veio dtype {tokens.dtype}.")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= d_vocab):
            raise ValueError(f"`tokens`: ids fora do vocabulário; os válidos vão de 0 a {d_vocab - 1}.")
        return tokens

    def _unembed_dir(self, W_U, tokens, stack):
        return W_U.T[self._unembed_index(tokens, W_U.device)]  # [..., d_model], broadcast com a pilha
