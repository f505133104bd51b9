"""Implementações corretas independentes dos exercícios do notebook 05 (ver tests/test_exercises.py)."""
import torch


# ---------------------------------------------------------------- 05.get_pattern
def get_pattern_hook(model, text, layer, head):
    """Um gancho que guarda o padrão, sem cache."""
    saved = {}

    def keep(pattern, hook):
        saved["p"] = pattern[0, head].detach().clone()

    with torch.no_grad():
        model.run_with_hooks(model.to_tokens(text), return_type=None,
                             fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", keep)])
    return saved["p"]


def get_pattern_from_scores(model, text, layer, head):
    """softmax dos escores guardados (já mascarados com −inf), em float64, de volta a float32."""
    _, cache = model.run_with_cache(model.to_tokens(text))
    scores = cache[f"blocks.{layer}.attn.hook_attn_scores"][0, head].double()
    return torch.softmax(scores, dim=-1).float()


# ---------------------------------------------------------------- 05.pca
def pca_eigh(X, k):
    """Autovetores da covariância (float64) em vez de SVD."""
    Xc = (X - X.mean(0)).double()
    values, vectors = torch.linalg.eigh(Xc.T @ Xc)
    top = vectors[:, values.argsort(descending=True)[:k]]
    return (Xc @ top).to(X.dtype)


def pca_u_times_s(X, k):
    """U S das k primeiras componentes (a SVD dos dados centrados)."""
    U, S, _ = torch.linalg.svd(X - X.mean(0, keepdim=True), full_matrices=False)
    return U[:, :k] * S[:k]


# ---------------------------------------------------------------- 05.top_k_positions
def top_k_positions_sort(acts, k):
    """argsort decrescente e unravel_index."""
    flat = acts.flatten().argsort(descending=True, stable=True)[:k]
    rows, cols = torch.unravel_index(flat, acts.shape)
    return torch.stack([rows, cols], dim=1)


def top_k_positions_loop(acts, k):
    """Lista explícita de (valor, exemplo, posição), ordenada em Python."""
    items = sorted(((float(v), b, p) for b, row in enumerate(acts) for p, v in enumerate(row)), key=lambda t: -t[0])
    return torch.tensor([[b, p] for _, b, p in items[:k]], dtype=torch.long)


# ---------------------------------------------------------------- 05.find_plural_neuron
def find_plural_neuron_vectorized(model, tokens, plural_ids, layer):
    """Todas as seletividades de uma vez, com topk no eixo das posições."""
    from course_lib import activations

    mask = torch.isin(tokens, plural_ids).flatten()
    acts = activations.neuron_acts(model, tokens, layer, range(model.cfg.d_mlp)).flatten(0, 1)
    return int(mask[acts.topk(int(mask.sum()), dim=0).indices].double().mean(0).argmax())


def find_plural_neuron_threshold(model, tokens, plural_ids, layer):
    """Mesma medida contada por um limiar: a k-ésima maior ativação de cada neurônio (com hooks próprios)."""
    mask = torch.isin(tokens, plural_ids)
    k = int(mask.sum())
    saved = {}

    def keep(act, hook):
        saved["a"] = act.detach().clone()

    with torch.no_grad():
        model.run_with_hooks(tokens, return_type=None, fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", keep)])
    acts = saved["a"].flatten(0, 1).double()  # [posições, d_mlp]
    kth = acts.sort(dim=0, descending=True).values[k - 1]
    above = acts >= kth
    hits = (above & mask.flatten()[:, None]).sum(0).double() / above.sum(0)
    return int(hits.argmax())


# ---------------------------------------------------------------- 05.diff_of_means_accuracy
def diff_of_means_affine(X_train, y_train, X_test, y_test):
    """Forma afim w·x + b > 0, com b = (|μ₀|² − |μ₁|²)/2, em float64."""
    mu1 = X_train[y_train].double().mean(0)
    mu0 = X_train[~y_train].double().mean(0)
    w, b = mu1 - mu0, (mu0 @ mu0 - mu1 @ mu1) / 2
    return float(((X_test.double() @ w + b > 0) == y_test).double().mean())


def diff_of_means_distances(X_train, y_train, X_test, y_test):
    """Equivalente: classe da média mais próxima (distância euclidiana), em float64."""
    mu1 = X_train[y_train].double().mean(0)
    mu0 = X_train[~y_train].double().mean(0)
    Xt = X_test.double()
    pred = (Xt - mu1).norm(dim=-1) < (Xt - mu0).norm(dim=-1)
    return float((pred == y_test).double().mean())


# ---------------------------------------------------------------- 05.find_gender_groups
def find_gender_groups_library(model, noun_ids, is_fem, is_plural, test, threshold=0.8):
    from course_lib import activations

    X = model.W_E.detach()[noun_ids]
    out = []
    for name, rows in (("todos", torch.ones_like(is_plural)), ("plural", is_plural), ("singular", ~is_plural)):
        fit, new = rows & ~test, rows & test
        if activations.diff_of_means_accuracy(X[fit], is_fem[fit], X[new], is_fem[new]) >= threshold:
            out.append(name)
    return out


def find_gender_groups_nearest_mean(model, noun_ids, is_fem, is_plural, test, threshold=0.8):
    X = model.W_E.detach()[noun_ids]
    out = []
    for name, rows in (("singular", ~is_plural), ("plural", is_plural), ("todos", torch.ones_like(is_plural))):
        fit, new = rows & ~test, rows & test
        if diff_of_means_distances(X[fit], is_fem[fit], X[new], is_fem[new]) >= threshold:
            out.append(name)
    return out


ALTERNATIVES = {
    "05.get_pattern": [get_pattern_hook, get_pattern_from_scores],
    "05.pca": [pca_eigh, pca_u_times_s],
    "05.top_k_positions": [top_k_positions_sort, top_k_positions_loop],
    "05.find_plural_neuron": [find_plural_neuron_vectorized, find_plural_neuron_threshold],
    "05.diff_of_means_accuracy": [diff_of_means_affine, diff_of_means_distances],
    "05.find_gender_groups": [find_gender_groups_library, find_gender_groups_nearest_mean],
}
