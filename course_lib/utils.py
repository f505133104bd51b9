"""Utilidades com os nomes de `transformer_lens.utils`: o que o código do ARENA importa de lá.

    from course_lib import utils
    utils.get_act_name("pattern", 0)          # "blocks.0.attn.hook_pattern"
    utils.to_numpy(cache["pattern", 0])
    utils.test_prompt("o gato que os meninos viram", "dorme", model)
"""
from __future__ import annotations

import re

import numpy as np
import torch

from .hooks import suggest
from .model import gelu_new, lm_accuracy, lm_cross_entropy_loss  # noqa: F401

__all__ = ["get_act_name", "to_numpy", "test_prompt", "Slice", "lm_cross_entropy_loss", "lm_accuracy",
           "gelu_new", "remove_batch_dim", "transpose", "get_corner", "composition_scores", "sample_logits"]


# atalho -> sufixo do gancho
_ACT_NAMES = {
    "embed": "hook_embed", "pos_embed": "hook_pos_embed", "tokens": "hook_tokens",
    "resid_pre": "hook_resid_pre", "resid_mid": "hook_resid_mid", "resid_post": "hook_resid_post",
    "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out", "mlp_in": "hook_mlp_in", "attn_in": "hook_attn_in",
    "q_input": "hook_q_input", "k_input": "hook_k_input", "v_input": "hook_v_input",
    "q": "attn.hook_q", "k": "attn.hook_k", "v": "attn.hook_v", "z": "attn.hook_z",
    "attn_scores": "attn.hook_attn_scores", "scores": "attn.hook_attn_scores",
    "pattern": "attn.hook_pattern", "attn": "attn.hook_pattern", "result": "attn.hook_result",
    "pre": "mlp.hook_pre", "post": "mlp.hook_post",
    "scale": "hook_scale", "normalized": "hook_normalized",
}
_ALIASES = {"key": "k", "query": "q", "value": "v", "attn_logits": "attn_scores", "mlp_pre": "pre", "mlp_post": "post"}
_LAYER_TYPES = {"a": "attn", "m": "mlp", "attention": "attn", "b": None, "block": None, "blocks": None}


def get_act_name(name: str, layer: int | None = None, layer_type: str | None = None) -> str:
    """Nome completo de um gancho a partir de um atalho, como no TransformerLens.

    get_act_name("pattern", 0) -> "blocks.0.attn.hook_pattern";
    get_act_name("pattern0") -> o mesmo (atalho colado, como no TL: "scale4ln1", "pre5");
    get_act_name("scale", 1, "ln2") -> "blocks.1.ln2.hook_scale";
    get_act_name("scale") -> "ln_final.hook_scale".
    """
    if not isinstance(name, str):
        raise TypeError(f"get_act_name: `name` deve ser texto; veio {type(name).__name__}.")
    if "." in name or name.startswith("hook_"):  # já é um nome completo
        return name
    match = re.fullmatch(r"([a-z_]+?)(\d+)([a-z]\w*)?", name)
    if match is not None and layer is None and match.group(1) in {**_ACT_NAMES, **_ALIASES}:
        name, layer, layer_type = match.group(1), int(match.group(2)), match.group(3)
    name = _ALIASES.get(name, name)
    if name not in _ACT_NAMES:
        raise KeyError(f"Atalho de ativação desconhecido: '{name}'.{suggest(name, _ACT_NAMES)}")
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int)):
        raise TypeError(f"get_act_name: `layer` deve ser int ou None; veio {type(layer).__name__}.")
    suffix = _ACT_NAMES[name]
    if name in ("embed", "pos_embed", "tokens"):
        return suffix
    if name in ("scale", "normalized"):
        if layer is None:
            return f"ln_final.{suffix}"
        return f"blocks.{layer}.{layer_type or 'ln1'}.{suffix}"
    if layer is None:
        raise KeyError(f"O atalho '{name}' precisa de uma camada, por exemplo cache['{name}', 0].")
    return f"blocks.{layer}.{suffix}"


def to_numpy(x) -> np.ndarray:
    """Tensor (em qualquer dispositivo, com ou sem gradiente), lista ou número -> np.ndarray."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple, int, float, bool, np.number)):
        return np.array(x)
    if isinstance(x, torch.nn.Parameter):
        return x.detach().cpu().numpy()
    raise TypeError(f"to_numpy: `x` deve ser tensor, np.ndarray, lista ou número; veio {type(x).__name__}.")


def remove_batch_dim(x: torch.Tensor) -> torch.Tensor:
    """Tira a dimensão do lote (batch) se ela tiver tamanho 1 (senão devolve o tensor como está)."""
    return x[0] if x.shape[0] == 1 else x


def transpose(x: torch.Tensor) -> torch.Tensor:
    """Troca as duas últimas dimensões."""
    return x.transpose(-2, -1)


def get_corner(x, k: int = 3):
    """O canto [:k, :k, ...] de um tensor ou FactoredMatrix (para espiar sem imprimir tudo)."""
    from .circuits import FactoredMatrix

    if isinstance(x, FactoredMatrix):
        return x.get_corner(k)
    return x[tuple(slice(k) for _ in range(x.ndim))]


def composition_scores(left, right, broadcast_dims: bool = True) -> torch.Tensor:
    """‖left @ right‖_F / (‖left‖_F ‖right‖_F) entre FactoredMatrix (como no TransformerLens).

    broadcast_dims=True: cada dimensão de lote de `left` e de `right` vira um eixo do resultado
    ([*lote_left, *lote_right]); False: as dimensões de lote se casam por broadcasting.
    """
    from .circuits import FactoredMatrix, composition_score

    for name, m in (("left", left), ("right", right)):
        if not isinstance(m, FactoredMatrix):
            raise TypeError(f"composition_scores: `{name}` deve ser FactoredMatrix; veio {type(m).__name__}.")
    if broadcast_dims:
        nl, nr = left.ndim - 2, right.ndim - 2
        left = FactoredMatrix(left.A.reshape(left.A.shape[:-2] + (1,) * nr + left.A.shape[-2:]),
                              left.B.reshape(left.B.shape[:-2] + (1,) * nr + left.B.shape[-2:]))
        right = FactoredMatrix(right.A.reshape((1,) * nl + right.A.shape), right.B.reshape((1,) * nl + right.B.shape))
    return composition_score(left, right)


def sample_logits(final_logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None,
                  temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sorteia um token por linha de `final_logits` [batch, d_vocab].

    temperature=0 é o argmax (guloso). top_k guarda os k tokens mais prováveis; top_p guarda o
    menor conjunto cuja probabilidade somada passa de p ("núcleo"). Devolve ids [batch].
    """
    if not isinstance(final_logits, torch.Tensor) or final_logits.ndim != 2:
        got = tuple(final_logits.shape) if isinstance(final_logits, torch.Tensor) else type(final_logits).__name__
        raise ValueError(f"sample_logits: `final_logits` deve ser tensor [batch, d_vocab]; veio {got}.")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"sample_logits: `temperature` deve ser um número ≥ 0; veio {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ValueError(f"sample_logits: `top_k` deve ser None ou inteiro positivo; veio {top_k!r}.")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"sample_logits: `top_p` deve ser None ou um número em (0, 1]; veio {top_p!r}.")
    if temperature == 0:
        return final_logits.argmax(-1)
    logits = final_logits.float() / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # o token que cruza p fica
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


class Slice:
    """Fatia de UMA dimensão, como `transformer_lens.utils.Slice`.

    Slice(None): tudo; Slice(3): o índice 3 (a dimensão some); Slice((1, 5)): 1:5;
    Slice((1, 5, 2)): 1:5:2; Slice([1, 4]) ou Slice(tensor): só esses índices.
    """

    def __init__(self, input_slice=None):
        if isinstance(input_slice, tuple):
            self.slice, self.mode = slice(*input_slice), "slice"
        elif isinstance(input_slice, int) and not isinstance(input_slice, bool):
            self.slice, self.mode = input_slice, "int"
        elif isinstance(input_slice, slice):
            self.slice, self.mode = input_slice, "slice"
        elif isinstance(input_slice, (list, torch.Tensor, np.ndarray)):
            self.slice, self.mode = to_numpy(input_slice), "array"
        elif input_slice is None:
            self.slice, self.mode = slice(None), "identity"
        else:
            raise ValueError(f"Slice: `input_slice` deve ser None, int, tupla, slice, lista ou tensor; "
                             f"veio {type(input_slice).__name__}.")

    def apply(self, tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
        idx = [slice(None)] * tensor.ndim
        idx[dim] = torch.as_tensor(self.slice, device=tensor.device) if self.mode == "array" else self.slice
        return tensor[tuple(idx)]

    def indices(self, max_ctx: int | None = None) -> np.ndarray:
        if self.mode == "int":
            return np.array([self.slice], dtype=np.int64)
        if max_ctx is None:
            raise ValueError("Slice.indices: `max_ctx` é obrigatório quando a fatia não é um inteiro.")
        return np.arange(max_ctx, dtype=np.int64)[self.slice]

    @classmethod
    def unwrap(cls, slice_input) -> "Slice":
        """Slice a partir de qualquer entrada; um int vira [int] (a dimensão de posição não some)."""
        if isinstance(slice_input, Slice):
            return slice_input
        if isinstance(slice_input, int) and not isinstance(slice_input, bool):
            slice_input = [slice_input]
        return cls(slice_input)

    def __repr__(self):
        return f"Slice({self.slice!r}, modo={self.mode})"


def test_prompt(prompt: str, answer, model, prepend_space_to_answer: bool = True, print_details: bool = True,
                prepend_bos: bool | None = None, top_k: int = 10) -> list:
    """Mostra como o modelo completa `prompt` e o posto (rank, 0 = o mais provável) de `answer`.

    `answer`: texto (pode ter vários tokens) ou lista de textos (compara só o 1º token de cada).
    prepend_space_to_answer só vale para tokenizadores de sub-palavras (como o do GPT-2), em que
    " gato" e "gato" são tokens diferentes; o tokenizador de palavras do curso ignora espaços.
    Devolve a lista de (token, posto) e imprime os detalhes.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"test_prompt: `prompt` deve ser texto (str); veio {type(prompt).__name__}.")
    answers = [answer] if isinstance(answer, str) else list(answer)
    if not answers or not all(isinstance(a, str) for a in answers):
        raise TypeError(f"test_prompt: `answer` deve ser texto ou lista de textos; veio {answer!r}.")
    from .tokenizer import Tokenizer

    word_level = isinstance(model.tokenizer, Tokenizer)  # o tokenizador de palavras do curso
    if prepend_space_to_answer and not word_level:
        answers = [a if a.startswith(" ") else " " + a for a in answers]
    prompt_ids = model.to_tokens(prompt, prepend_bos=prepend_bos)[0]
    answer_ids = [model.to_tokens(a, prepend_bos=False)[0] for a in answers]
    if len(answers) > 1:
        answer_ids = [a[:1] for a in answer_ids]
    ranks = []
    with torch.no_grad():
        for a_str, a_ids in zip(answers, answer_ids):
            tokens = torch.cat([prompt_ids, a_ids.to(prompt_ids.device)])[None]
            probs = model(tokens).softmax(-1)[0]
            if print_details:
                print("Prompt em tokens:", model.to_str_tokens(prompt_ids))
                print("Resposta em tokens:", model.to_str_tokens(a_ids))
            for i, tok in enumerate(a_ids.tolist()):
                p = probs[len(prompt_ids) - 1 + i]
                rank = int((p > p[tok]).sum())
                ranks.append((model.to_string([tok]), rank))
                if print_details:
                    print(f"Posto: {rank:<6} Prob: {p[tok].item():6.2%} Token: |{model.to_string([tok])}|")
                    top = p.topk(min(top_k, p.shape[0]))
                    for j, (pv, ti) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
                        print(f"  {j}º token. Prob: {pv:6.2%} Token: |{model.to_string([ti])}|")
    print("Postos das respostas:", ranks)
    return ranks
