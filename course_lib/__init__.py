"""course_lib: um transformer didático escrito do zero, no estilo do TransformerLens.

Importações principais:
    from course_lib import Config, HookedTransformer, ActivationCache, load_pretrained
"""
from .cache import ActivationCache, get_act_name
from .hooks import HookPoint
from .model import Config, HookedTransformer, lm_cross_entropy_loss

__all__ = ["ActivationCache", "Config", "HookedTransformer", "HookPoint", "get_act_name",
           "lm_cross_entropy_loss", "load_pretrained", "default_device"]


def default_device() -> str:
    """'cuda' quando há GPU, senão 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def __getattr__(name):  # importação preguiçosa: `import course_lib` fica rápido
    if name == "load_pretrained":
        from .pretrained import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
