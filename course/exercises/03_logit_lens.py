# %% [markdown]
# # 03 · Exercícios: a lente de logits
#
# Você vai construir a lente de logits do zero, em cinco funções pequenas, e usá-la no
# modelo `lm` do curso (3 camadas, pesos **não** amarrados). Cada exercício tem uma
# célula de verificação logo depois; rode-a para conferir a sua função.
#
# **O que você vai praticar**
#
# - a LayerNorm final escrita à mão (centrar, escala com variância enviesada, `w` e `b`);
# - a lente: LayerNorm final + $W_U$ + $b_U$ em cada resíduo acumulado;
# - o token mais provável por camada e o posto de um token-alvo;
# - a divergência KL de cada camada até a saída final.
#
# **Tempo estimado:** ~50 min
#
# **Pré-requisitos:** a lição `03_logit_lens`.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import load_pretrained
from course_lib.checks import check
from course_lib.plots import plot_logit_lens

model = load_pretrained("lm")
tokenizer = model.tokenizer

prompt = "o gato que os meninos viram"
tokens = model.to_tokens(prompt)
model_logits, cache = model.run_with_cache(tokens)
resid_stack, labels = cache.accumulated_resid(return_labels=True)  # [ponto, batch, pos, d_model]
print("tokens:", model.to_str_tokens(tokens))
print("pilha de resíduos:", tuple(resid_stack.shape), "| rótulos:", labels)

# %% [markdown]
# ## Exercício 03.apply_final_ln · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** aplicar uma LayerNorm a cada vetor do último eixo, como o modelo faz.
#
# $$\operatorname{LN}(x) = w \odot \frac{x - \bar{x}}{\sqrt{\operatorname{var}(x) + \varepsilon}} + b$$
#
# A média $\bar{x}$ e a variância são calculadas sobre o eixo `d_model` de **cada** vetor;
# a variância é a enviesada (divide por `d_model`, não por `d_model − 1`). O `eps` fica
# dentro da raiz.

# %% tags=["exercise"] exercise="03.apply_final_ln" points=2
def apply_final_ln(resid: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm no último eixo.

    resid: [..., d_model]; w, b: [d_model]. Devolve [..., d_model].
    """
    # BEGIN SOLUCAO
    x = resid - resid.mean(dim=-1, keepdim=True)
    scale = (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()
    return x / scale * w + b
    # END SOLUCAO


# %% tags=["check"]
check("03.apply_final_ln", apply_final_ln)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Use `keepdim=True` nas reduções para o broadcasting funcionar: primeiro
# `x = resid - resid.mean(-1, keepdim=True)`, depois a escala
# `(x.pow(2).mean(-1, keepdim=True) + eps).sqrt()`. `torch.var` divide por `n − 1` por
# padrão: se usá-lo, passe `unbiased=False`.
#
# </details>

# %% tags=["solution_only"]
ln = model.ln_final
with torch.no_grad():
    mine = apply_final_ln(cache["resid_post", 2], ln.w, ln.b, ln.eps)
print("diferença para a LN final do modelo:", f"{(mine - cache['unembed.hook_in']).abs().max().item():.1e}")

# %% [markdown]
# ## Exercício 03.logit_lens · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** transformar cada resíduo de uma pilha em logits, usando a cabeça do
# próprio modelo.
#
# Para cada vetor do último eixo: LayerNorm final (`model.ln_final.w`,
# `model.ln_final.b`, `model.ln_final.eps`, com a média e a escala **do próprio vetor**),
# depois `@ model.W_U + model.b_U`. Você pode (e deve) chamar a sua `apply_final_ln`.
# Devolva logits, não probabilidades.

# %% tags=["exercise"] exercise="03.logit_lens" points=2
def logit_lens(model, resid_stack: torch.Tensor) -> torch.Tensor:
    """Logits da lente.

    resid_stack: [..., d_model] (ex.: [ponto, batch, pos, d_model]). Devolve [..., d_vocab].
    """
    # BEGIN SOLUCAO
    ln = model.ln_final
    with torch.no_grad():
        return apply_final_ln(resid_stack, ln.w, ln.b, ln.eps) @ model.W_U + model.b_U
    # END SOLUCAO


# %% tags=["check"]
check("03.logit_lens", logit_lens)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# São duas linhas: `x = apply_final_ln(resid_stack, ln.w, ln.b, ln.eps)` e
# `x @ model.W_U + model.b_U`. Não use `model.W_E`: este modelo não tem pesos amarrados.
# Envolver a conta em `with torch.no_grad():` evita guardar o grafo de gradientes.
#
# </details>

# %% tags=["solution_only"]
lens_logits = logit_lens(model, resid_stack)
print("formato:", tuple(lens_logits.shape))
print("última linha vs modelo:", f"{(lens_logits[-1] - model_logits).abs().max().item():.1e}")

# %% [markdown]
# ## Exercício 03.top_token · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** achar, em cada camada e posição, o token mais provável da lente e a sua
# probabilidade.
#
# Devolva uma tupla `(ids, probs)`: `ids` (inteiros, `torch.long`) e `probs` (a
# probabilidade do softmax sobre o vocabulário), ambos com formato `[camada, pos]`.

# %% tags=["exercise"] exercise="03.top_token" points=1
def top_token_per_layer(lens_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token mais provável e sua probabilidade.

    lens_logits: [camada, pos, d_vocab]. Devolve (ids [camada, pos], probs [camada, pos]).
    """
    # BEGIN SOLUCAO
    probs = lens_logits.softmax(dim=-1)
    top = probs.max(dim=-1)
    return top.indices, top.values
    # END SOLUCAO


# %% tags=["check"]
check("03.top_token", top_token_per_layer)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# `probs = lens_logits.softmax(dim=-1)` e então `probs.max(dim=-1)`, que devolve
# `.values` e `.indices` de uma vez.
#
# </details>

# %% tags=["solution_only"]
ids, probs = top_token_per_layer(lens_logits[:, 0])
top_words = [tokenizer.to_str_tokens(row.tolist()) for row in ids]
plot_logit_lens(probs, top_words, model.to_str_tokens(tokens), layer_labels=labels,
                title="Lente de logits (com as suas funções)")

# %% [markdown]
# ## Exercício 03.target_rank · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular o posto de um token-alvo em cada camada.
#
# O posto é 1 quando o alvo tem o maior logit. Em geral, posto = 1 + (quantos tokens têm
# logit **estritamente** maior que o do alvo); assim, empates contam a favor do alvo.
# Devolva um tensor de inteiros (`torch.long`) com os eixos de `lens_logits` menos o
# último.

# %% tags=["exercise"] exercise="03.target_rank" points=2
def target_rank(lens_logits: torch.Tensor, target: int) -> torch.Tensor:
    """Posto (1 = mais provável) do token `target`.

    lens_logits: [camada, ..., d_vocab]; target: id do token. Devolve LongTensor [camada, ...].
    """
    # BEGIN SOLUCAO
    target_logit = lens_logits[..., target : target + 1]
    return 1 + (lens_logits > target_logit).sum(dim=-1)
    # END SOLUCAO


# %% tags=["check"]
check("03.target_rank", target_rank)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# Pegue o logit do alvo mantendo o eixo (`lens_logits[..., target:target + 1]`), compare
# com `>` e some os `True` no último eixo. A soma de booleanos já dá `torch.long`.
#
# </details>

# %% tags=["solution_only"]
for word in ("dorme", "dormem"):
    ranks = target_rank(lens_logits[:, 0, -1], tokenizer.to_single_token(word))
    print(f"posto de '{word}' depois de '{prompt}':", dict(zip(labels, ranks.tolist())))

# %% [markdown]
# ## Exercício 03.kl_to_final · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** medir, para cada camada, o quanto a distribuição da lente se afasta da
# distribuição final (a da última linha da pilha).
#
# $$\operatorname{KL}(P_{\text{final}} \,\|\, P_k) = \sum_t P_{\text{final}}(t)\,
# \bigl[\log P_{\text{final}}(t) - \log P_k(t)\bigr]$$
#
# $P_{\text{final}}$ é o softmax de `lens_logits[-1]`. Use `log_softmax` para as
# log-probabilidades: `softmax(...).log()` dá `-inf` (e depois `NaN`) quando os logits
# são grandes.

# %% tags=["exercise"] exercise="03.kl_to_final" points=2
def kl_to_final(lens_logits: torch.Tensor) -> torch.Tensor:
    """KL(P_final ‖ P_camada) para cada camada.

    lens_logits: [camada, ..., d_vocab]; a última camada é a final. Devolve [camada, ...].
    """
    # BEGIN SOLUCAO
    log_p_final = lens_logits[-1].log_softmax(dim=-1)
    log_q = lens_logits.log_softmax(dim=-1)
    return (log_p_final.exp() * (log_p_final - log_q)).sum(dim=-1)
    # END SOLUCAO


# %% tags=["check"]
check("03.kl_to_final", kl_to_final)

# %% [markdown]
# <details><summary>💡 Dica</summary>
#
# `log_p_final = lens_logits[-1].log_softmax(-1)` tem formato `[..., d_vocab]` e faz
# broadcasting com `lens_logits.log_softmax(-1)` (`[camada, ..., d_vocab]`). Multiplique
# a diferença por `log_p_final.exp()` e some no último eixo.
#
# </details>

# %% tags=["solution_only"]
kl = kl_to_final(lens_logits[:, 0])  # [camada, pos]
for label, row in zip(labels, kl):
    print(f"{label:>10}: KL média nas posições = {row.mean():.3f}")

# %% [markdown]
# ## Para ir além
#
# - Rode a sua lente **sem** a LayerNorm final (só `resid_stack @ model.W_U + model.b_U`)
#   e compare a KL por camada com a da lente certa. A última linha ainda dá 0?
# - Troque a escala recalculada por uma escala fixa (a do resíduo final, guardada em
#   `cache["ln_final.hook_scale"]`). Como ficam as primeiras camadas? Essa versão é linear
#   no resíduo: por que isso é útil para atribuir logits a componentes?
