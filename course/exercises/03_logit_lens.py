# %% [markdown]
# # 03 · Exercícios: a lente de logits
#
# Você vai construir a lente de logits do zero, em cinco funções pequenas, e usá-la no
# modelo `lm` do curso (3 camadas, pesos **não** amarrados). Depois, duas **investigações**
# com as suas funções: depois de qual bloco a lente troca "dormem" por "dorme", e em que
# ponto de leitura a lente já fica perto da saída final. Cada exercício tem uma célula de
# verificação logo depois; rode-a para conferir a sua função.
#
# **O que você vai praticar**
#
# - a LayerNorm final escrita à mão (centrar, escala com variância enviesada, `w` e `b`);
# - a lente: LayerNorm final + $W_U$ + $b_U$ em cada resíduo acumulado;
# - o token mais provável por camada e o posto de um token-alvo;
# - a divergência KL de cada camada até a saída final;
# - descobertas medidas com a sua lente (investigação).
#
# **Tempo estimado:** ~70 min
#
# **Pré-requisitos:** a lição `03_logit_lens`.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import load_pretrained
from course_lib.checks import check, when_solved
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
# dentro da raiz. (Um dos casos é um resíduo quase constante, de variância ~1e-6: ali o
# float32 perde dígitos em qualquer implementação, e a verificação tolera esse erro, que é
# do float32, não seu.)

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
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Três passos por vetor: centrar (tirar a média), dividir pela escala (a raiz da
# variância mais `eps`) e aplicar o ganho `w` e o viés `b`. Os dois primeiros são reduções
# no último eixo que precisam continuar alinhadas com `resid`.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `mean(dim=-1, keepdim=True)` mantém o eixo de tamanho 1 para o broadcasting. Cuidado:
# `torch.var` divide por `n − 1` por padrão (passe `unbiased=False` ou `correction=0`).
#
# </details>

# %%
# A sua LN no resíduo final do modelo deve dar o que a cabeça lê (unembed.hook_in):
ln = model.ln_final
with when_solved("a sua LN final no modelo"), torch.no_grad():
    mine = apply_final_ln(cache["resid_post", 2], ln.w, ln.b, ln.eps)
    print("igual a unembed.hook_in (erro < 1e-5):", "✅" if (mine - cache["unembed.hook_in"]).abs().max() < 1e-5 else "❌")

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
    normalized = apply_final_ln(resid_stack, model.ln_final.w, model.ln_final.b, model.ln_final.eps)
    return normalized.detach() @ model.W_U.detach() + model.b_U.detach()
    # END SOLUCAO


# %% tags=["check"]
check("03.logit_lens", logit_lens)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A lente usa a mesma cabeça que o modelo usa no fim: primeiro a LayerNorm final (com os
# parâmetros do modelo), depois a projeção para o vocabulário. Qual matriz faz a projeção
# num modelo sem pesos amarrados?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Os parâmetros estão em `model.ln_final` (`.w`, `.b`, `.eps`), `model.W_U`
# (`[d_model, d_vocab]`) e `model.b_U`. Como o último eixo é sempre `d_model`, a mesma
# conta serve para qualquer número de eixos na frente.
#
# </details>

# %%
with when_solved("a sua lente no modelo"):
    lens_logits = logit_lens(model, resid_stack)
    print("formato:", tuple(lens_logits.shape))
    print("última linha = logits do modelo (erro < 1e-4):",
          "✅" if (lens_logits[-1] - model_logits).abs().max() < 1e-4 else "❌")

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
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# O token mais provável é o de maior probabilidade, que é também o de maior logit; mas a
# segunda saída pede a probabilidade, e para isso é preciso normalizar sobre o vocabulário.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `Tensor.max(dim=...)` devolve um par com `.values` e `.indices` de uma vez.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** na figura abaixo, em que linha a coluna de "viram" mostra um verbo pela
# primeira vez?

# %%
pos_labels = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(tokens))]  # rótulos pos:token
with when_solved("a figura da lente"):
    ids, probs = top_token_per_layer(logit_lens(model, resid_stack)[:, 0])
    top_words = [tokenizer.to_str_tokens(row.tolist()) for row in ids]
    plot_logit_lens(probs, top_words, pos_labels, layer_labels=labels,
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
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Não precisa ordenar nada: o posto é "quantos tokens ganham do alvo", mais 1.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Para comparar o logit do alvo com todos os outros por broadcasting, pegue-o mantendo o
# último eixo (fatiando `target:target + 1`). A soma de um tensor booleano já é
# `torch.long`.
#
# </details>

# %%
with when_solved("os postos de 'dorme' e 'dormem'"):
    lens_logits = logit_lens(model, resid_stack)
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
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A distribuição final é uma só por posição; as das camadas são várias. Calcule as
# log-probabilidades de um jeito estável e deixe o broadcasting comparar a final com cada
# camada.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `lens_logits[-1].log_softmax(dim=-1)` tem formato `[..., d_vocab]` e alinha com
# `lens_logits.log_softmax(dim=-1)` (`[camada, ..., d_vocab]`). A KL pesa a diferença de
# logs pela probabilidade FINAL e soma no vocabulário.
#
# </details>

# %%
with when_solved("a KL por camada"):
    kl = kl_to_final(logit_lens(model, resid_stack)[:, 0])  # [camada, pos]
    for label, row in zip(labels, kl):
        print(f"{label:>10}: KL média nas posições = {row.mean():.3f}")

# %% [markdown]
# ## Exercício 03.find_flip_block · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir depois de qual **bloco** a lente passa a preferir a forma certa
# do verbo numa oração relativa.
#
# Em "o gato que os meninos viram ___", o verbo concorda com "gato" (singular, "dorme"),
# mas o substantivo mais perto é "meninos" (plural, "dormem"). Com as suas funções, meça
# em cada ponto de leitura `k_pre` (o resíduo **antes** do bloco `k`; o último é
# `final_post`) a diferença logit(certa) − logit(errada) da lente na última posição.
# Devolva o número `b` do bloco depois do qual a diferença fica positiva **e não volta a
# ser ≤ 0**: a linha antes do bloco `b` ainda é ≤ 0, todas as linhas depois dele são > 0.
# (Todas as frases dos casos têm uma virada assim.)
#
# A verificação usa o `lm` nesta frase (o exemplo guardado em
# `course_lib/checkpoints/lm.json`); o corretor, outras frases e os modelos `lm_tied` e
# `lm_untied`.
#
# ✍️ **Preveja:** o bloco 0, o 1 ou o 2? Anote antes de rodar.

# %% tags=["exercise"] exercise="03.find_flip_block" points=2 kind="investigation"
def find_flip_block(model, prompt: str, correct: str, wrong: str) -> int:
    """Bloco depois do qual a lente passa a preferir `correct` a `wrong` (na última posição) de vez."""
    # BEGIN SOLUCAO
    _, prompt_cache = model.run_with_cache(model.to_tokens(prompt))
    lens_last = logit_lens(model, prompt_cache.accumulated_resid())[:, 0, -1]  # [ponto, d_vocab]
    diff = lens_last[:, model.tokenizer.to_single_token(correct)] - lens_last[:, model.tokenizer.to_single_token(wrong)]
    not_yet = [k for k, d in enumerate(diff.tolist()) if d <= 0]
    return not_yet[-1]  # a linha 'b_pre' é a última ≤ 0: a virada é no bloco b
    # END SOLUCAO


# %% tags=["check"]
check("03.find_flip_block", find_flip_block)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Primeiro a pilha de resíduos da frase, depois a sua lente, depois uma diferença de dois
# logits por linha. Cuidado com a contagem: a linha `k_pre` é o que existe ANTES do bloco
# `k`.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `cache.accumulated_resid()` dá `[ponto, batch, pos, d_model]`; `tokenizer.to_single_token`
# dá o id de cada forma do verbo. Procure a ÚLTIMA linha com diferença ≤ 0.
#
# </details>

# %%
with when_solved("a virada camada a camada"):
    print("virada no bloco", find_flip_block(model, prompt, "dorme", "dormem"))
    # controle: uma frase sem substantivo de outro número no caminho não precisa de virada
    _, control_cache = model.run_with_cache(model.to_tokens("o menino"))
    control = logit_lens(model, control_cache.accumulated_resid())[:, 0, -1]
    control_diff = control[:, tokenizer.to_single_token("dorme")] - control[:, tokenizer.to_single_token("dormem")]
    print("controle 'o menino ___': a lente prefere 'dorme' em todos os pontos:", bool((control_diff > 0).all()))

# %% [markdown]
# ## Exercício 03.find_kl_layer · Investigação · Dificuldade ★★☆ · ~8 min
#
# **Objetivo:** descobrir o primeiro ponto de leitura em que a lente já está perto da
# saída final: a KL média (nas posições da frase) até a distribuição final fica abaixo de
# um limiar.
#
# Use a sua `logit_lens` e a sua `kl_to_final`. Devolva o índice `k` do ponto de leitura
# (0 = `0_pre`, ..., `n_layers` = `final_post`) do PRIMEIRO ponto com KL média < `threshold`.
#
# ✍️ **Preveja:** com limiar 0,1 na frase do caso, a lente "chega perto" já depois de uma
# camada (`1_pre`) ou só depois de duas (`2_pre`)?

# %% tags=["exercise"] exercise="03.find_kl_layer" points=2 kind="investigation"
def find_kl_layer(model, prompt: str, threshold: float) -> int:
    """Primeiro ponto de leitura com KL(P_final ‖ P_k) média nas posições < threshold."""
    # BEGIN SOLUCAO
    stack = model.run_with_cache(model.to_tokens(prompt))[1].accumulated_resid()
    kl_per_point = kl_to_final(logit_lens(model, stack)[:, 0]).mean(dim=-1)  # [ponto]
    below = (kl_per_point < threshold).nonzero()
    return int(below[0])
    # END SOLUCAO


# %% tags=["check"]
check("03.find_kl_layer", find_kl_layer)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A KL de cada ponto é um tensor `[ponto, pos]`; tire a média nas posições e percorra os
# pontos em ordem.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# A última linha (`final_post`) tem KL 0, então sempre existe uma resposta para um limiar
# positivo. Devolva um `int` do Python.
#
# </details>

# %%
with when_solved("o ponto em que a lente chega perto da saída"):
    for threshold in (0.5, 0.1, 0.01):
        k = find_kl_layer(model, prompt, threshold)
        print(f"limiar {threshold}: primeiro ponto abaixo = {labels[k]}")

# %% [markdown]
# ## Para ir além
#
# - Rode a sua lente **sem** a LayerNorm final (só `resid_stack @ model.W_U + model.b_U`)
#   e compare a KL por camada com a da lente certa. A última linha ainda dá 0?
# - Troque a escala recalculada por uma escala fixa (a do resíduo final, guardada em
#   `cache["ln_final.hook_scale"]`), como faz `accumulated_resid(apply_ln=True)` do
#   TransformerLens. Como ficam as primeiras camadas? Essa versão é linear no resíduo: por
#   que isso é útil para atribuir logits a componentes?
