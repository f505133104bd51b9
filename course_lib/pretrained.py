"""Checkpoints pequenos que vêm com o curso (nada é baixado da internet).

Cada checkpoint mora em `course_lib/checkpoints/NOME.pt` (pesos + config, lidos com
`weights_only=True`) com `NOME.json` ao lado: config, argumentos de treino, métricas
medidas e o comando que o re-treina (bit a bit na mesma CPU e família de kernels; em outras, com as mesmas métricas: veja o README) (`python -m course_lib.recipes NOME`).
"""
from __future__ import annotations

import json
import pathlib

import torch

from .hooks import suggest
from .model import Config, HookedTransformer

CHECKPOINT_DIR = pathlib.Path(__file__).parent / "checkpoints"
NAMES = ("induction", "lm", "lm_tied", "lm_untied", "lm_icl")


def _path(name: str, suffix: str) -> pathlib.Path:
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"`name`: checkpoint desconhecido {name!r}; os disponíveis são {NAMES}.{suggest(str(name), NAMES)}")
    path = CHECKPOINT_DIR / f"{name}{suffix}"
    if not path.exists():
        raise FileNotFoundError(f"Checkpoint '{name}' não encontrado em {path}. Re-treine com: python -m course_lib.recipes {name}")
    return path


def load_metadata(name: str) -> dict:
    """Config, argumentos de treino e métricas medidas do checkpoint `name`."""
    return json.loads(_path(name, ".json").read_text(encoding="utf-8"))


def load_pretrained(name: str, device: str | None = None) -> HookedTransformer:
    """Carrega um checkpoint do curso: 'induction', 'lm', 'lm_tied', 'lm_untied' ou 'lm_icl'.

    Os modelos de linguagem vêm com o tokenizador (model.to_tokens / model.to_str_tokens).
    """
    data = torch.load(_path(name, ".pt"), map_location="cpu", weights_only=True)
    model = HookedTransformer(Config.from_dict(data["config"]))
    model.load_state_dict(data["state_dict"])
    if data.get("vocab"):
        from .tokenizer import Tokenizer

        model.tokenizer = Tokenizer(list(data["vocab"]))
    model.eval()
    if device is not None:
        model.to(device)
    return model


def save_checkpoint(model: HookedTransformer, name: str, metadata: dict) -> None:
    """Salva pesos (.pt) e metadados (.json) de um checkpoint do curso."""
    CHECKPOINT_DIR.mkdir(exist_ok=True)
    vocab = list(model.tokenizer.vocab) if model.tokenizer is not None else None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg.to_dict(), "state_dict": state, "vocab": vocab}, CHECKPOINT_DIR / f"{name}.pt")
    text = json.dumps({"config": model.cfg.to_dict(), **metadata}, ensure_ascii=False, indent=2)
    (CHECKPOINT_DIR / f"{name}.json").write_text(text + "\n", encoding="utf-8")
