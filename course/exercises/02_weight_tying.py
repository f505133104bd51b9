# %% [markdown]
# # 02 · Exercícios: pesos amarrados
#
# Você vai escrever, em funções pequenas, as peças da lição 02: a conta de parâmetros, a
# cabeça amarrada, a tabela do caminho direto, uma medida de assimetria e os escores de
# cosseno. Cada exercício tem uma célula de verificação logo depois: rode-a para ver se a
# sua função está certa (e, se não estiver, qual é o erro provável).
#
# **O que você vai praticar**
#
# - contar parâmetros de embedding e desembedding, com e sem amarramento;
# - implementar `logits = h @ W_Eᵀ + b_U` com os formatos certos;
# - montar a tabela de bigramas do caminho direto, $W_E W_U + b_U$;
# - medir o quanto uma matriz foge da simetria;
# - separar produto escalar de cosseno;
# - duas investigações: qual caminho direto sabe o bigrama, e que par de tokens mais quebra
#   a simetria.
#
# **Tempo estimado:** ~60 min
#
# **Pré-requisitos:** a lição `02_weight_tying`.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import load_pretrained
from course_lib.checks import check, when_solved

tied = load_pretrained("lm_tied")
untied = load_pretrained("lm_untied")
tokenizer = tied.tokenizer
print("d_vocab =", tied.cfg.d_vocab, "| d_model =", tied.cfg.d_model)

# %% [markdown]
# ## Exercício 02.count_params · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** contar os parâmetros da interface com o vocabulário ($W_E$, $W_U$ e $b_U$)
# de um modelo, com e sem pesos amarrados.
#
# - $W_E$ tem formato `[d_vocab, d_model]` e sempre existe.
# - Sem amarrar (`tie_embeddings=False`), há um $W_U$ próprio, `[d_model, d_vocab]`.
#   Amarrando, $W_U = W_E^\top$ é o mesmo tensor e não conta de novo.
# - Com `use_bias=True` há também o viés $b_U$, com formato `[d_vocab]`.
#
# O resultado é um `int` do Python (um `float`, mesmo com o valor certo, é recusado).

# %% tags=["exercise"] exercise="02.count_params" points=1
def count_embed_unembed_params(d_vocab: int, d_model: int, tie_embeddings: bool, use_bias: bool) -> int:
    """Número de parâmetros de W_E, W_U (se não amarrado) e b_U (se use_bias).

    d_vocab: tamanho do vocabulário; d_model: dimensão do fluxo residual.
    Devolve um int.
    """
    # BEGIN SOLUCAO
    n = d_vocab * d_model
    if not tie_embeddings:
        n += d_model * d_vocab
    if use_bias:
        n += d_vocab
    return n
    # END SOLUCAO


# %% tags=["check"]
check("02.count_params", count_embed_unembed_params)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Some as matrizes que existem de verdade na memória. Quando os pesos são amarrados,
# quantas matrizes do tamanho do vocabulário existem?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Cada matriz tem `d_vocab · d_model` números; o viés tem um número por token. Use `if`
# para cada parte opcional e devolva um `int` (produtos de `int` já são `int`).
#
# </details>

# %%
names = ("embed.W_E", "unembed.W_U", "unembed.b_U")
with when_solved("a sua contagem nos modelos do curso"):
    for label, model, tie in (("amarrado", tied, True), ("não amarrado", untied, False)):
        real = sum(p.numel() for n, p in model.named_parameters() if n in names)
        print(f"{label:>13}: fórmula {count_embed_unembed_params(260, 64, tie, True)}, modelo {real}")

# %% [markdown]
# ## Exercício 02.tied_logits · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular os logits de uma cabeça amarrada, `h @ W_Eᵀ + b_U`.
#
# `h` pode ter qualquer número de eixos na frente (`[d_model]`, `[pos, d_model]`,
# `[batch, pos, d_model]`...); a saída troca o último eixo `d_model` por `d_vocab`.
# Devolva **logits** (não aplique softmax).

# %% tags=["exercise"] exercise="02.tied_logits" points=1
def tied_logits(h: torch.Tensor, W_E: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Logits de uma cabeça com pesos amarrados.

    h: [..., d_model] (saída da LayerNorm final); W_E: [d_vocab, d_model]; b_U: [d_vocab].
    Devolve [..., d_vocab].
    """
    # BEGIN SOLUCAO
    return h @ W_E.T + b_U
    # END SOLUCAO


# %% tags=["check"]
check("02.tied_logits", tied_logits)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Escreva os formatos: `[..., d_model]` vezes alguma coisa tem de dar `[..., d_vocab]`.
# Qual versão de $W_E$ tem o formato certo para isso?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# O `@` multiplica o último eixo da esquerda pelo primeiro da direita, com qualquer número
# de eixos na frente. Cuidado: se `d_vocab == d_model`, esquecer a transposta não dá erro
# de formato, só valores errados (um dos casos é assim).
#
# </details>

# %%
tokens = tied.to_tokens("os meninos que comeram o bolo")
model_logits, cache = tied.run_with_cache(tokens, names_filter=lambda name: name == "unembed.hook_in")
with when_solved("a sua cabeça amarrada no modelo"):
    mine = tied_logits(cache["unembed.hook_in"], tied.W_E, tied.b_U)
    print("formato:", tuple(mine.shape), "| igual aos logits do modelo (erro < 1e-4):",
          "✅" if (mine - model_logits).abs().max() < 1e-4 else "❌")

# %% [markdown]
# ## Exercício 02.direct_path · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar a tabela de bigramas do caminho direto, em que a linha é o token
# atual $a$ e a coluna é o próximo token $b$:
#
# $$T[a, b] = W_E[a] \cdot W_U[:, b] + b_U[b].$$
#
# (É o que o modelo preveria se o token atual fosse direto do embedding para a cabeça,
# sem camadas e sem a LayerNorm final.)

# %% tags=["exercise"] exercise="02.direct_path" points=1
def direct_path_logits(W_E: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Tabela do caminho direto: [d_vocab (token atual), d_vocab (próximo token)].

    W_E: [d_vocab, d_model]; W_U: [d_model, d_vocab]; b_U: [d_vocab].
    """
    # BEGIN SOLUCAO
    return W_E @ W_U + b_U
    # END SOLUCAO


# %% tags=["check"]
check("02.direct_path", direct_path_logits)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A linha é o token que entra e a coluna o que sai. O viés pertence a qual dos dois?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# O produto das duas matrizes já tem formato `[d_vocab, d_vocab]`. Um tensor `[d_vocab]`
# somado a uma matriz faz broadcasting ao longo das linhas (varia com a coluna).
#
# </details>

# %%
o_id, gato_id = tokenizer.to_single_token("o"), tokenizer.to_single_token("gato")
with when_solved("a tabela do caminho direto"), torch.no_grad():
    for name, model in (("amarrado", tied), ("não amarrado", untied)):
        T = direct_path_logits(model.W_E, model.W_U, model.b_U)
        print(f"{name:>13}: T[o, gato] = {T[o_id, gato_id]:.2f}, T[gato, o] = {T[gato_id, o_id]:.2f}")

# %% [markdown]
# ## Exercício 02.asymmetry · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** medir que fração de uma matriz quadrada está na sua parte antissimétrica.
#
# Toda matriz se escreve como $M = S + A$, com $S = (M + M^\top)/2$ simétrica e
# $A = (M - M^\top)/2$ antissimétrica. Use a norma de Frobenius (`tensor.norm()`):
#
# $$\text{assimetria}(M) = \frac{\|A\|}{\|M\|}.$$
#
# Vale 0 para matriz simétrica e 1 para antissimétrica. Devolva um `float` do Python.

# %% tags=["exercise"] exercise="02.asymmetry" points=2
def asymmetry(M: torch.Tensor) -> float:
    """Fração da norma de M [n, n] que está na parte antissimétrica (M - Mᵀ)/2. Devolve float."""
    # BEGIN SOLUCAO
    antisym = (M - M.T) / 2
    return float(antisym.norm() / M.norm())
    # END SOLUCAO


# %% tags=["check"]
check("02.asymmetry", asymmetry)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Primeiro monte a parte antissimétrica; depois compare o "tamanho" dela com o de `M`
# inteira, com a mesma norma.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `M.T` é a transposta; `tensor.norm()` sem argumentos é a norma de Frobenius. Para passar
# de um tensor de 0 eixos a um número do Python, `float(...)` ou `.item()`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** a assimetria de $W_E W_U$ no modelo amarrado dá exatamente 0, quase 0,
# ou algo como 0,5?

# %%
with when_solved("a assimetria dos dois caminhos diretos"), torch.no_grad():
    for name, model in (("amarrado", tied), ("não amarrado", untied)):
        print(f"{name:>13}: assimetria de W_E W_U = {asymmetry(model.W_E @ model.W_U):.3f}")

# %% [markdown]
# ## Exercício 02.cosine_scores · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** calcular o cosseno entre um vetor `h` e o embedding de cada token.
#
# $$\cos\theta_i = \frac{h \cdot W_E[i]}{\|h\|\,\|W_E[i]\|}.$$
#
# `h` pode ter eixos na frente (`[..., d_model]`); a saída é `[..., d_vocab]`. Compare com
# o logit amarrado sem viés, que é só o numerador.

# %% tags=["exercise"] exercise="02.cosine_scores" points=2
def cosine_scores(h: torch.Tensor, W_E: torch.Tensor) -> torch.Tensor:
    """Cosseno entre h [..., d_model] e cada linha de W_E [d_vocab, d_model]. Devolve [..., d_vocab]."""
    # BEGIN SOLUCAO
    h_unit = h / h.norm(dim=-1, keepdim=True)
    E_unit = W_E / W_E.norm(dim=-1, keepdim=True)
    return h_unit @ E_unit.T
    # END SOLUCAO


# %% tags=["check"]
check("02.cosine_scores", cosine_scores)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# O cosseno é o produto escalar de dois vetores de comprimento 1. Normalize os dois lados
# antes de multiplicar.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `tensor.norm(dim=-1, keepdim=True)` dá a norma de cada vetor do último eixo, pronta para
# dividir. Para os embeddings, cada **linha** de `W_E` é um token.
#
# </details>

# %%
h_last = cache["unembed.hook_in"][0, -1]
with when_solved("a comparação produto escalar × cosseno"), torch.no_grad():
    by_dot = (h_last @ tied.W_E.T).topk(5).indices.tolist()
    by_cos = cosine_scores(h_last, tied.W_E).topk(5).indices.tolist()
    print("top-5 pelo produto escalar:", tokenizer.to_str_tokens(by_dot))
    print("top-5 pelo cosseno:        ", tokenizer.to_str_tokens(by_cos))

# %% [markdown]
# ## Exercício 02.find_better_direct_path · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir qual de dois modelos tem o caminho direto (embedding →
# desembedding, sem camadas) que melhor prevê os bigramas da língua.
#
# Você recebe dois modelos e uma tabela de contagens `counts[a, b]` (quantas vezes o
# token `b` veio logo depois de `a` num texto grande da gramática). Com a sua
# `direct_path_logits`, meça para cada modelo a entropia cruzada do caminho direto contra
# os bigramas verdadeiros:
#
# $$\text{perda} = -\frac{1}{N}\sum_{a, b} \text{counts}[a, b]\,\log \operatorname{softmax}(T[a])_b,
# \qquad N = \sum_{a,b} \text{counts}[a, b].$$
#
# Devolva `0` se o primeiro modelo for melhor (perda menor) e `1` se for o segundo.
#
# ✍️ **Preveja:** entre `lm_tied` e `lm_untied`, qual caminho direto sabe mais sobre
# "o → gato"?

# %% tags=["exercise"] exercise="02.find_better_direct_path" points=2 kind="investigation"
def find_better_direct_path(model_a, model_b, counts: torch.Tensor) -> int:
    """0 se o caminho direto de model_a prevê os bigramas melhor que o de model_b; senão 1."""
    # BEGIN SOLUCAO
    losses = []
    for model in (model_a, model_b):
        with torch.no_grad():
            T = direct_path_logits(model.W_E, model.W_U, model.b_U)
        losses.append(-(counts * T.log_softmax(dim=-1)).sum() / counts.sum())
    return 0 if losses[0] < losses[1] else 1
    # END SOLUCAO


# %% tags=["check"]
check("02.find_better_direct_path", find_better_direct_path)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Para cada modelo, uma tabela de logits, uma de log-probabilidades (por linha) e uma
# média ponderada pelas contagens. Compare os dois números.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `T.log_softmax(dim=-1)` normaliza cada linha (o token atual). Multiplique por `counts`
# elemento a elemento, some tudo e divida por `counts.sum()`.
#
# </details>

# %%
from course_lib import PtGrammar

text = PtGrammar().make_dataset(1000, 32, seed=11)
V = tied.cfg.d_vocab
counts = torch.zeros(V, V)
counts.index_put_((text[:, :-1].flatten(), text[:, 1:].flatten()), torch.ones(text[:, 1:].numel()), accumulate=True)
with when_solved("qual caminho direto sabe o bigrama"):
    winner = find_better_direct_path(tied, untied, counts)
    print("o melhor caminho direto é o do", ["lm_tied", "lm_untied"][winner])
    uniform = torch.log(torch.tensor(float(V)))
    for name, model in (("lm_tied", tied), ("lm_untied", untied)):
        with torch.no_grad():
            T = direct_path_logits(model.W_E, model.W_U, model.b_U)
        loss = -(counts * T.log_softmax(-1)).sum() / counts.sum()
        print(f"{name:>10}: perda do caminho direto {loss:.2f} (controle: chute uniforme {uniform:.2f})")

# %% [markdown]
# ## Exercício 02.find_most_asymmetric_pair · Investigação · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** descobrir o par de tokens `(a, b)` em que a tabela do caminho direto de um
# modelo é mais assimétrica: o maior `|T[a, b] − T[b, a]|`.
#
# Use a sua `direct_path_logits` (com o viés). Devolva uma tupla de dois `int`; a ordem
# do par não importa, e qualquer par a até 1% do maior valor é aceito. A verificação usa
# o `lm_tied`; o corretor, outros modelos.
#
# ✍️ **Preveja:** no modelo amarrado, $W_E W_E^\top$ é simétrica. De onde vem, então, a
# assimetria do par que você vai achar?

# %% tags=["exercise"] exercise="02.find_most_asymmetric_pair" points=2 kind="investigation"
def find_most_asymmetric_pair(model) -> tuple[int, int]:
    """(a, b) com o maior |T[a, b] − T[b, a]| no caminho direto de `model`."""
    # BEGIN SOLUCAO
    T = direct_path_logits(model.W_E, model.W_U, model.b_U).detach()
    gap = torch.abs(T - T.T)  # [d_vocab, d_vocab]
    a, b = divmod(int(gap.argmax()), gap.shape[1])
    return a, b
    # END SOLUCAO


# %% tags=["check"]
check("02.find_most_asymmetric_pair", find_most_asymmetric_pair)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# A matriz `T − Tᵀ` tem, em `[a, b]`, exatamente a diferença que você quer. Falta achar o
# maior valor absoluto e a posição dele.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `argmax()` de uma matriz devolve um índice "achatado"; `divmod(índice, n_colunas)` dá
# (linha, coluna).
#
# </details>

# %%
with when_solved("o par mais assimétrico"), torch.no_grad():
    for name, model in (("lm_tied", tied), ("lm_untied", untied)):
        a, b = find_most_asymmetric_pair(model)
        T = direct_path_logits(model.W_E, model.W_U, model.b_U)
        pair = tokenizer.to_str_tokens([a, b])
        print(f"{name:>10}: par {pair}, T[a, b] − T[b, a] = {T[a, b] - T[b, a]:+.2f}, "
              f"b_U[b] − b_U[a] = {model.b_U[b] - model.b_U[a]:+.2f}")

# %% [markdown]
# ## Para ir além
#
# - Use `direct_path_logits` e `asymmetry` para comparar o caminho direto com a tabela de
#   bigramas que o **modelo inteiro** usa (rode o modelo em todas as sequências
#   "`<bos>` a", como na lição).
# - Mostre que, para qualquer $W_E$ e $b_U$, `T[a, b] - T[b, a] == b_U[b] - b_U[a]`
#   quando $W_U = W_E^\top$. Que tipo de preferência esse termo consegue expressar?
