"""Implementações corretas independentes dos exercícios do notebook 00 (veja tests/test_exercises.py)."""
import torch

from course_lib.detectors import first_token_scores, previous_token_scores


def tts_map(tokens, vocab):
    return list(map(vocab.__getitem__, tokens.tolist()))


def tts_loop(tokens, vocab):
    out = []
    for t in tokens:
        out.append(vocab[int(t)])
    return out


def count_by_building(cfg):
    from course_lib.model import Config, HookedTransformer

    model = HookedTransformer(Config(**cfg))
    return sum(p.numel() for p in model.state_dict().values()) - (
        cfg["d_vocab"] * cfg["d_model"] if cfg["tie_embeddings"] and "unembed.W_U" in model.state_dict() else 0)


def count_by_shapes(cfg):
    d, H, dh, V, L = cfg["d_model"], cfg["n_heads"], cfg["d_head"], cfg["d_vocab"], cfg["n_layers"]
    shapes = [(V, d), (cfg["n_ctx"], d)]
    has_ln = cfg["normalization"] == "LN"
    for _ in range(L):
        shapes += [(H, d, dh)] * 3 + [(H, dh, d)] + [(H, dh)] * 3 + [(d,)]
        if has_ln:
            shapes += [(d,), (d,)]
        if cfg["d_mlp"] is not None:
            shapes += [(d, cfg["d_mlp"]), (cfg["d_mlp"],), (cfg["d_mlp"], d), (d,)]
            if has_ln:
                shapes += [(d,), (d,)]
    if has_ln:
        shapes += [(d,), (d,)]
    if not cfg["tie_embeddings"]:
        shapes.append((d, V))
    shapes.append((V,))
    return int(sum(torch.tensor(s).prod() for s in shapes))


def hp_full_cache(model, tokens, layer, head):
    _, cache = model.run_with_cache(tokens)
    return cache["pattern", layer][0, head]


def hp_hook(model, tokens, layer, head):
    store = {}

    def save(x, hook):
        store["p"] = x.detach()

    with model.hooks([(f"blocks.{layer}.attn.hook_pattern", save)]):
        model(tokens)
    return store["p"][0, head].clone()


def _best(scores):
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    return layer, head


def prev_detector(model, tokens):
    _, cache = model.run_with_cache(tokens)
    return _best(previous_token_scores(cache))


def prev_diagonal(model, tokens):
    scores = torch.stack([hp_full_cache(model, tokens, l, h).diagonal(-1).mean()
                          for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)])
    return _best(scores.view(model.cfg.n_layers, model.cfg.n_heads))


def bos_detector(model, tokens):
    _, cache = model.run_with_cache(tokens)
    return _best(first_token_scores(cache))


def bos_column(model, tokens):
    _, cache = model.run_with_cache(tokens)
    pats = torch.stack([cache["pattern", l][0] for l in range(model.cfg.n_layers)])  # [L, H, q, k]
    return _best(pats[:, :, 1:, 0].mean(-1))


ALTERNATIVES = {
    "00.tokens_to_strings": [tts_map, tts_loop],
    "00.count_params": [count_by_building, count_by_shapes],
    "00.head_pattern": [hp_full_cache, hp_hook],
    "00.find_previous_token_head": [prev_detector, prev_diagonal],
    "00.find_bos_head": [bos_detector, bos_column],
}
