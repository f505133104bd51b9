"""GPT-2 do Hugging Face, de uma PASTA LOCAL, no HookedTransformer do curso.

    model = HookedTransformer.from_pretrained("modelos/gpt2")   # config.json + model.safetensors

A pasta tem o formato do Hugging Face: `config.json` (hiperparâmetros), `model.safetensors`
(os pesos; ou `pytorch_model.bin`) e, opcionalmente, `tokenizer.json` (o BPE em bytes do
GPT-2; ou o par antigo `vocab.json` + `merges.txt`). Nada é baixado: com um
NOME em vez de uma pasta, o erro explica como baixar os arquivos uma vez.

Sem dependências novas: o formato safetensors é um cabeçalho JSON seguido dos tensores crus
(little-endian), lido em `read_safetensors`; o tokenizador BPE do GPT-2 está em `GPT2Tokenizer`.
A conversão dos pesos segue a do TransformerLens (`convert_gpt2_weights`): o Conv1D do GPT-2
guarda x @ W, e `c_attn` junta W_Q, W_K e W_V lado a lado.
"""
from __future__ import annotations

import json
import pathlib
import re

import torch

from .model import Config, HookedTransformer

SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                      "U8": torch.uint8, "BOOL": torch.bool}
TL_ALIASES = {"gpt2-small": "gpt2", "gpt2-medium": "gpt2-medium", "gpt2-large": "gpt2-large", "gpt2-xl": "gpt2-xl"}
ACT_FNS = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}


# ============================================================================ safetensors
def read_safetensors(path) -> dict[str, torch.Tensor]:
    """Lê um arquivo .safetensors: 8 bytes (tamanho N do cabeçalho), N bytes de JSON, e os dados.

    O JSON diz, para cada tensor, dtype, shape e data_offsets [início, fim) dentro dos dados.
    """
    raw = pathlib.Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    try:
        header = json.loads(raw[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"read_safetensors: `{path}` não é um arquivo safetensors válido (cabeçalho: {e}).") from None
    data = memoryview(raw)[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"read_safetensors: tensor '{name}' com dtype {info['dtype']!r}; os suportados são "
                             f"{sorted(SAFETENSORS_DTYPES)}.")
        start, end = info["data_offsets"]
        dtype = SAFETENSORS_DTYPES[info["dtype"]]
        buf = bytearray(data[start:end])  # cópia gravável (torch.frombuffer não aceita memória só de leitura)
        flat = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


# ============================================================================ tokenizador
def _bytes_to_unicode() -> dict[int, str]:
    """O mapa do GPT-2: cada byte vira um caractere imprimível (os imprimíveis ficam como estão)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


# o pré-tokenizador do GPT-2 com o `re` da biblioteca padrão: \p{L} = [^\W\d_], \p{N} ≈ \d
_GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


class GPT2Tokenizer:
    """BPE em bytes do GPT-2 lido de um `tokenizer.json`, com a interface do tokenizador do curso."""

    def __init__(self, vocab: dict[str, int], merges: list, special: dict[str, int]):
        self.encoder = dict(vocab)
        self.encoder.update(special)
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.ranks = {tuple(m.split(" ") if isinstance(m, str) else m): i for i, m in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.special = special
        eot = special.get("<|endoftext|>", max(self.encoder.values()))
        self.bos_token_id = self.eos_token_id = self.pad_token_id = eot
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_file(cls, path) -> "GPT2Tokenizer":
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        model = data.get("model", {})
        if model.get("type") != "BPE":
            raise ValueError(f"GPT2Tokenizer: `{path}` deve ser um tokenizer.json de BPE (como o do GPT-2); "
                             f"veio model.type = {model.get('type')!r}.")
        special = {t["content"]: t["id"] for t in data.get("added_tokens", []) if t.get("special")}
        return cls(model["vocab"], model["merges"], special)

    @classmethod
    def from_folder(cls, folder) -> "GPT2Tokenizer | None":
        """tokenizer.json, ou o par antigo vocab.json + merges.txt; None se a pasta não tiver nenhum."""
        folder = pathlib.Path(folder)
        if (folder / "tokenizer.json").exists():
            return cls.from_file(folder / "tokenizer.json")
        if (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
            merges = [m for m in lines if m and not m.startswith("#version")]
            special = {t: vocab[t] for t in ("<|endoftext|>",) if t in vocab}
            return cls({k: v for k, v in vocab.items() if k not in special}, merges, special)
        return None

    @property
    def d_vocab(self) -> int:
        return max(self.decoder) + 1

    @property
    def vocab(self) -> list[str]:
        return [self.decoder.get(i, "") for i in range(self.d_vocab)]

    def _bpe(self, word: str) -> list[int]:
        if word not in self._cache:
            parts = list(word)
            while len(parts) > 1:  # junta o par de menor posto, um de cada vez
                rank, i = min((self.ranks.get(p, float("inf")), i) for i, p in enumerate(zip(parts, parts[1:])))
                if rank == float("inf"):
                    break
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
            self._cache[word] = [self.encoder[p] for p in parts]
        return self._cache[word]

    def encode(self, text: str, prepend_bos: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode: `text` deve ser str; veio {type(text).__name__}.")
        ids = [self.bos_token_id] if prepend_bos else []
        pieces = re.split("(" + "|".join(re.escape(s) for s in self.special) + ")", text) if self.special else [text]
        for piece in pieces:
            if piece in self.special:
                ids.append(self.special[piece])
                continue
            for word in _GPT2_SPLIT.findall(piece):
                ids += self._bpe("".join(self.byte_encoder[b] for b in word.encode("utf-8")))
        return ids

    def to_tokens(self, text, prepend_bos: bool = True) -> torch.Tensor:
        """Texto ou lista de textos -> [batch, pos] (listas de tamanhos diferentes: completa com <|endoftext|> à direita)."""
        texts = [text] if isinstance(text, str) else list(text)
        rows = [self.encode(t, prepend_bos=prepend_bos) for t in texts]
        width = max(len(r) for r in rows)
        return torch.tensor([r + [self.pad_token_id] * (width - len(r)) for r in rows], dtype=torch.long)

    def to_single_token(self, word: str) -> int:
        ids = self.encode(word, prepend_bos=False)
        if len(ids) != 1:
            raise ValueError(f"to_single_token: {word!r} vira {len(ids)} tokens no GPT-2, não 1.")
        return ids[0]

    def _check(self, ids) -> list[int]:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if i not in self.decoder]
        if bad:
            raise ValueError(f"GPT2Tokenizer: id {bad[0]} fora do vocabulário (0 a {self.d_vocab - 1}).")
        return ids

    def to_str_tokens(self, ids) -> list[str]:
        if isinstance(ids, str):
            ids = self.encode(ids)
        return [self.decode([i]) for i in self._check(ids)]

    def decode(self, ids) -> str:
        text = "".join(self.decoder[i] for i in self._check(ids))
        return bytes(self.byte_decoder[c] for c in text).decode("utf-8", errors="replace")

    def __repr__(self):
        return f"GPT2Tokenizer({self.d_vocab} tokens)"


# ============================================================================ modelo
def _download_help(name: str) -> str:
    repo = TL_ALIASES.get(name, name)
    folder = "modelos/" + repo.split("/")[-1]
    return (f"`path`: esperado uma pasta local com config.json e model.safetensors; veio {name!r}, que não existe "
            f"aqui. O course_lib não baixa nada sozinho. Para baixar uma vez (precisa de internet e do pacote "
            f"huggingface_hub, fora do ambiente do curso):\n"
            f"    hf download {repo} config.json model.safetensors tokenizer.json --local-dir {folder}\n"
            f"(em versões antigas: huggingface-cli download ... com os mesmos argumentos). Depois:\n"
            f"    HookedTransformer.from_pretrained({folder!r})")


def gpt2_config(hf: dict) -> Config:
    """config.json do GPT-2 (Hugging Face) -> Config do curso."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"config.json: só o GPT-2 é suportado (model_type 'gpt2'); veio {hf.get('model_type')!r}.")
    act = hf.get("activation_function", "gelu_new")
    if act not in ACT_FNS:
        raise ValueError(f"config.json: `activation_function` deve ser um de {sorted(ACT_FNS)}; veio {act!r}.")
    for key in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if hf.get(key):
            raise ValueError(f"config.json: `{key}=true` não é suportado pelo course_lib; esperado false.")
    if hf.get("scale_attn_weights", True) is False:
        raise ValueError("config.json: `scale_attn_weights=false` não é suportado (o curso divide por √d_head).")
    d_model, n_heads = hf["n_embd"], hf["n_head"]
    return Config(n_layers=hf["n_layer"], d_model=d_model, n_heads=n_heads, d_head=d_model // n_heads,
                  d_mlp=hf.get("n_inner") or 4 * d_model, d_vocab=hf["vocab_size"], n_ctx=hf["n_positions"],
                  act_fn=ACT_FNS[act], normalization="LN", eps=hf.get("layer_norm_epsilon", 1e-5))


def convert_gpt2_weights(hf_sd: dict[str, torch.Tensor], cfg: Config) -> dict[str, torch.Tensor]:
    """Nomes e formas do GPT-2 do Hugging Face -> nomes do curso (os do TransformerLens)."""
    sd = {k.removeprefix("transformer."): v.float() for k, v in hf_sd.items()}
    H, Dh, D = cfg.n_heads, cfg.d_head, cfg.d_model
    out = {"embed.W_E": sd["wte.weight"], "pos_embed.W_pos": sd["wpe.weight"],
           "ln_final.w": sd["ln_f.weight"], "ln_final.b": sd["ln_f.bias"],
           "unembed.W_U": sd.get("lm_head.weight", sd["wte.weight"]).T.clone(),
           "unembed.b_U": torch.zeros(cfg.d_vocab)}
    for l in range(cfg.n_layers):
        p, q = f"h.{l}.", f"blocks.{l}."
        W_Q, W_K, W_V = sd[p + "attn.c_attn.weight"].split(D, dim=1)  # cada um [D, H·Dh]
        b_Q, b_K, b_V = sd[p + "attn.c_attn.bias"].split(D)
        for name, W, b in (("Q", W_Q, b_Q), ("K", W_K, b_K), ("V", W_V, b_V)):
            out[q + f"attn.W_{name}"] = W.reshape(D, H, Dh).permute(1, 0, 2).contiguous()  # [H, D, Dh]
            out[q + f"attn.b_{name}"] = b.reshape(H, Dh)
        out[q + "attn.W_O"] = sd[p + "attn.c_proj.weight"].reshape(H, Dh, D)
        out[q + "attn.b_O"] = sd[p + "attn.c_proj.bias"]
        out[q + "ln1.w"], out[q + "ln1.b"] = sd[p + "ln_1.weight"], sd[p + "ln_1.bias"]
        out[q + "ln2.w"], out[q + "ln2.b"] = sd[p + "ln_2.weight"], sd[p + "ln_2.bias"]
        out[q + "mlp.W_in"], out[q + "mlp.b_in"] = sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"]
        out[q + "mlp.W_out"], out[q + "mlp.b_out"] = sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"]
    return out


def load_gpt2(path, device=None) -> HookedTransformer:
    """Carrega o GPT-2 de uma pasta local, SEM processar os pesos (veja HookedTransformer.from_pretrained)."""
    if not isinstance(path, (str, pathlib.Path)):
        raise TypeError(f"`path`: esperado o caminho (str) de uma pasta local; veio {type(path).__name__}.")
    folder = pathlib.Path(path)
    if not folder.exists():
        raise FileNotFoundError(_download_help(str(path)))
    if not folder.is_dir() or not (folder / "config.json").exists():
        raise FileNotFoundError(f"`path`: esperado uma pasta com config.json (formato do Hugging Face); "
                                f"{str(folder)!r} não tem config.json.")
    cfg = gpt2_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    if (folder / "model.safetensors").exists():
        hf_sd = read_safetensors(folder / "model.safetensors")
    elif (folder / "pytorch_model.bin").exists():
        hf_sd = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"`path`: a pasta {str(folder)!r} não tem model.safetensors (nem pytorch_model.bin).")
    tokenizer = GPT2Tokenizer.from_folder(folder)
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    model.load_state_dict(convert_gpt2_weights(hf_sd, cfg))
    return model.to(device) if device is not None else model
