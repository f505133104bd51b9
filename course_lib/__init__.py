"""course_lib: um transformer didático escrito do zero, no estilo do TransformerLens.

Importações principais:
    from course_lib import Config, HookedTransformer, ActivationCache, load_pretrained
    from course_lib import FactoredMatrix, utils          # como em transformer_lens
"""
from . import utils
from .cache import ActivationCache, get_act_name
from .circuits import FactoredMatrix
from .hooks import HookedRootModule, HookPoint
from .data import AGREEMENT_TESTS, PtGrammar, induction_training_batch, repeated_tokens
from .model import Config, HookedTransformer, lm_cross_entropy_loss

HookedTransformerConfig = Config  # o nome do TransformerLens (aceita os mesmos campos, veja Config)
from .tokenizer import Tokenizer
from .train import train

__all__ = ["ActivationCache", "Config", "HookedTransformerConfig", "HookedTransformer", "HookPoint",
           "HookedRootModule", "FactoredMatrix", "utils", "get_act_name",
           "lm_cross_entropy_loss", "load_pretrained", "load_metadata", "default_device", "Tokenizer",
           "PtGrammar", "AGREEMENT_TESTS", "repeated_tokens", "induction_training_batch", "train"]


def default_device() -> str:
    """'cuda' quando há GPU, senão 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def __getattr__(name):  # importação preguiçosa: `import course_lib` fica rápido
    if name in ("load_pretrained", "load_metadata"):
        from . import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
