# %% [markdown]
# # 04 · Exercícios: monte o seu transformer
#
# Você vai escrever, peça por peça, o forward inteiro do modelo `lm` — LayerNorm,
# embeddings, atenção, MLP, o bloco pré-LN e o modelo — e cada peça tem de reproduzir,
# a menos do arredondamento de float32, o que os ganchos do `course_lib` guardam no cache.
# Depois você escreve a perda do próximo token e um laço de treino, treina um modelo na
# gramática do português e compara a perda dele com a entropia exata da língua.
#
# **O que você vai praticar**
#
# - ler pesos pelos nomes do TransformerLens (`W_Q [n_heads, d_model, d_head]`, `b_O`, `ln1.w`...);
# - os eixos `[batch, pos, head, d_head]` e `[batch, head, query_pos, key_pos]`;
# - a ordem do bloco pré-LN e a do forward inteiro;
# - a perda deslocada e um laço de treino (otimizador, gradiente, barra de progresso);
# - duas **investigações**: qual cabeça olha para o `<bos>` e a que distância da entropia
#   da língua está cada modelo.
#
# **Tempo estimado:** ~95 min.
#
# **Pré-requisitos:** a lição `04_monte_o_seu_transformer`.
#
# **Como as peças recebem os pesos.** Cada função recebe os pesos num `dict` com os nomes
# do `state_dict` do `course_lib` (os do TransformerLens): `dict(model.blocks[0].attn.named_parameters())`
# tem `W_Q`, `b_Q`, ..., `b_O`. E cada função **devolve um dict com os nomes dos ganchos**
# (`"hook_pattern"`, `"hook_z"`...): a verificação compara cada chave com o gancho de mesmo
# nome e diz qual é o **primeiro**, na ordem do forward, que diverge, e onde (lote, posição,
# cabeça). Os casos incluem modelos pequenos com formas que o `lm` não tem (d_head ≠
# d_model / n_heads, lote de 1, sequência de 1 token): nada de formas fixas no código.
#
# As dicas (em níveis) ficam logo depois de cada verificação. As células com ⏳ rodam a
# **sua** função no modelo de verdade assim que o exercício estiver resolvido.

# %%
from course_lib.notebook import setup

setup()

import math

import torch
import torch.nn.functional as F

import tqdm.std

from course_lib import PtGrammar, load_pretrained
from course_lib.checks import check, when_solved

tqdm.std.tqdm.monitor_interval = 0  # barras do tqdm sem a thread de monitoramento (o corretor não a suporta)
model = load_pretrained("lm")
tokens = model.to_tokens("os gatos que o menino viu dormem.")
logits, cache = model.run_with_cache(tokens)
grammar = PtGrammar()
print(model.cfg)


def sub(params: dict, prefix: str) -> dict:
    """Os pesos que começam com `prefix.`, sem o prefixo: sub(p, "attn")["W_Q"] é p["attn.W_Q"]."""
    return {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def model_cfg(model) -> dict:
    """O que o forward precisa saber além dos pesos."""
    return {"n_layers": model.cfg.n_layers, "eps": model.cfg.eps, "act_fn": model.cfg.act_fn}


def against_cache(mine: dict, hooks: dict, atol: float = 1e-5) -> None:
    """Uma linha por gancho: a sua saída `mine[chave]` bate com `cache[nome do gancho]`?"""
    for key, hook in hooks.items():
        same = torch.allclose(mine[key].detach(), cache[hook], atol=atol, rtol=1e-5)
        print(f"  {hook:32s} {'✅' if same else '❌'} (atol={atol:g})")


# %% [markdown]
# ## Exercício 04.layer_norm · Dificuldade ★☆☆ · ~8 min
#
# **Objetivo:** escrever a LayerNorm do GPT-2 e devolver também o que os seus dois ganchos guardam.
#
# `x` é `[batch, pos, d_model]`; `w` e `b` são `[d_model]`; `eps` é um float. Devolva
#
# - `"hook_scale"`: `√(var + eps)`, `[batch, pos, 1]`, com a variância **enviesada** (média
#   dos quadrados do `x` centrado);
# - `"hook_normalized"`: o `x` centrado dividido pela escala (antes de `w` e `b`);
# - `"out"`: `normalized · w + b`.

# %% tags=["exercise"] exercise="04.layer_norm" points=2
def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> dict:
    """LayerNorm no último eixo: {"hook_scale", "hook_normalized", "out"}."""
    # BEGIN SOLUCAO
    centered = x - x.mean(dim=-1, keepdim=True)
    scale = (centered.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()
    normalized = centered / scale
    return {"hook_scale": scale, "hook_normalized": normalized, "out": normalized * w + b}
    # END SOLUCAO


# %% tags=["check"]
check("04.layer_norm", layer_norm)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Três passos, todos no eixo `d_model` de cada posição: tirar a média, dividir pelo desvio
# padrão (com o eps somado **dentro** da raiz, à variância) e aplicar o ganho e o viés.
# Qual divisor dá a variância "enviesada": o número de coordenadas ou ele menos 1?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `mean(dim=-1, keepdim=True)` mantém o eixo para a divisão funcionar por broadcast.
# `x.var(...)` divide por `d_model − 1` se você não pedir `unbiased=False`; a média dos
# quadrados do `x` centrado já é a variância enviesada.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `centered = x - x.mean(dim=-1, keepdim=True)`; `scale = (centered.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()`;
# `normalized = centered / scale`; e `out = normalized * w + b`.
#
# </details>

# %%
with when_solved("a sua LayerNorm contra os ganchos de blocks.0.ln1"):
    ln1 = model.blocks[0].ln1
    mine = layer_norm(cache["resid_pre", 0], ln1.w, ln1.b, model.cfg.eps)
    against_cache(mine, {"hook_scale": "blocks.0.ln1.hook_scale", "hook_normalized": "blocks.0.ln1.hook_normalized"})

# %% [markdown]
# ## Exercício 04.embed · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** transformar ids de tokens no fluxo residual de entrada: embedding do token mais embedding da posição.
#
# `tokens` é `[batch, pos]` (inteiros); `W_E` é `[d_vocab, d_model]` e `W_pos`, `[n_ctx, d_model]`.
# Devolva `"hook_embed"` (a linha de `W_E` de cada token), `"hook_pos_embed"` (a linha de
# `W_pos` de cada **posição** 0, 1, ..., pos−1, repetida no lote) e `"resid"`, a soma das duas
# (é o `blocks.0.hook_resid_pre`). Todos `[batch, pos, d_model]`.

# %% tags=["exercise"] exercise="04.embed" points=1
def embed(tokens: torch.Tensor, W_E: torch.Tensor, W_pos: torch.Tensor) -> dict:
    """Embeddings de token e de posição: {"hook_embed", "hook_pos_embed", "resid"}."""
    # BEGIN SOLUCAO
    token_part = W_E[tokens]
    position_part = W_pos[: tokens.shape[1]].expand_as(token_part)
    return {"hook_embed": token_part, "hook_pos_embed": position_part, "resid": token_part + position_part}
    # END SOLUCAO


# %% tags=["check"]
check("04.embed", embed)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um embedding é uma consulta a uma tabela: cada id escolhe uma linha. Para o posicional, o
# que escolhe a linha não é o token, é o lugar dele na sequência.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Indexar uma matriz por um tensor de ids (`W_E[tokens]`) devolve `[batch, pos, d_model]`.
# As primeiras `pos` linhas de `W_pos` são `[pos, d_model]`; `expand_as` (ou `repeat`) as
# estende ao lote.
#
# </details>

# %%
with when_solved("os seus embeddings contra o cache"):
    against_cache(embed(tokens, model.W_E, model.W_pos),
                  {"hook_embed": "hook_embed", "hook_pos_embed": "hook_pos_embed", "resid": "blocks.0.hook_resid_pre"})

# %% [markdown]
# ## Exercício 04.attention · Dificuldade ★★★ · ~20 min
#
# **Objetivo:** escrever a camada de atenção multi-cabeça causal inteira, com os vieses, devolvendo o que cada gancho guarda.
#
# `x` é a saída da LN1, `[batch, pos, d_model]`; `params` tem `W_Q, W_K, W_V`
# `[n_heads, d_model, d_head]`, `b_Q, b_K, b_V` `[n_heads, d_head]`, `W_O`
# `[n_heads, d_head, d_model]` e `b_O` `[d_model]`. Devolva as chaves, na ordem do forward:
#
# - `"hook_q"`, `"hook_k"`, `"hook_v"`: `x W + b`, `[batch, pos, head, d_head]`;
# - `"hook_attn_scores"`: `q·k / √d_head` **já com a máscara causal** (−∞ onde a chave vem
#   depois da consulta), `[batch, head, query_pos, key_pos]`;
# - `"hook_pattern"`: softmax nas chaves;
# - `"hook_z"`: a média dos valores pesada pelo padrão, `[batch, pos, head, d_head]`;
# - `"hook_attn_out"`: `Σ_h z_h W_O[h] + b_O`, `[batch, pos, d_model]`.

# %% tags=["exercise"] exercise="04.attention" points=3
def attention(x: torch.Tensor, params: dict) -> dict:
    """Atenção causal multi-cabeça: q, k, v, pontuações mascaradas, padrão, z e a saída."""
    # BEGIN SOLUCAO
    q = torch.einsum("bpd,hde->bphe", x, params["W_Q"]) + params["b_Q"]
    k = torch.einsum("bpd,hde->bphe", x, params["W_K"]) + params["b_K"]
    v = torch.einsum("bpd,hde->bphe", x, params["W_V"]) + params["b_V"]
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    n = x.shape[1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    pattern = scores.softmax(dim=-1)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    attn_out = torch.einsum("bqhe,hed->bqd", z, params["W_O"]) + params["b_O"]
    return {"hook_q": q, "hook_k": k, "hook_v": v, "hook_attn_scores": scores, "hook_pattern": pattern,
            "hook_z": z, "hook_attn_out": attn_out}
    # END SOLUCAO


# %% tags=["check"]
check("04.attention", attention)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# São os passos da seção 4 da lição, com todas as cabeças de uma vez. Acompanhe o formato
# de cada tensor: que eixo é somado em cada produto? E a ordem importa: a máscara entra
# antes ou depois do softmax? O que o softmax faz com um 0, e com um −∞?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.einsum` com uma letra por eixo resolve cada produto sem transposições: projeção
# (`b p d`, `h d e` → `b p h e`), pontuações (`b q h e`, `b k h e` → `b h q k`), `z`
# (`b h q k`, `b k h e` → `b q h e`) e saída (`b q h e`, `h e d` → `b q d`). O tamanho da
# cabeça está em `q.shape[-1]`; o futuro é `torch.triu(..., diagonal=1)`.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `q = torch.einsum("bpd,hde->bphe", x, params["W_Q"]) + params["b_Q"]` (idem k, v);
# `scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])`;
# `scores.masked_fill(future, float("-inf"))`, `softmax(dim=-1)`; e a saída com `+ params["b_O"]` uma vez.
#
# </details>

# %%
with when_solved("a sua atenção contra os ganchos de blocks.0.attn"):
    x = model.blocks[0].ln1(cache["resid_pre", 0])
    mine = attention(x, dict(model.blocks[0].attn.named_parameters()))
    against_cache(mine, {key: ("blocks.0.hook_attn_out" if key == "hook_attn_out" else f"blocks.0.attn.{key}")
                         for key in mine})

# %% [markdown]
# ## Exercício 04.mlp · Dificuldade ★☆☆ · ~6 min
#
# **Objetivo:** escrever a MLP de um bloco, com a função de ativação pedida.
#
# `x` é a saída da LN2, `[batch, pos, d_model]`; `params` tem `W_in [d_model, d_mlp]`, `b_in`,
# `W_out [d_mlp, d_model]` e `b_out`. `act_fn` é `"gelu"` (a GELU **exata**, com erf: a do
# `course_lib` e do TransformerLens para esse nome), `"gelu_new"` (a aproximação por tanh do
# GPT-2) ou `"relu"`. Devolva `"hook_pre"` (antes da ativação), `"hook_post"` (depois) e
# `"hook_mlp_out"`.

# %% tags=["exercise"] exercise="04.mlp" points=1
def mlp(x: torch.Tensor, params: dict, act_fn: str) -> dict:
    """MLP: {"hook_pre", "hook_post", "hook_mlp_out"}."""
    # BEGIN SOLUCAO
    activations = {"gelu": F.gelu, "gelu_new": lambda t: F.gelu(t, approximate="tanh"), "relu": F.relu}
    pre = x @ params["W_in"] + params["b_in"]
    post = activations[act_fn](pre)
    return {"hook_pre": pre, "hook_post": post, "hook_mlp_out": post @ params["W_out"] + params["b_out"]}
    # END SOLUCAO


# %% tags=["check"]
check("04.mlp", mlp)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Duas camadas lineares (cada uma com o seu viés) com uma não-linearidade no meio, aplicadas
# a cada posição separadamente. Qual das duas GELUs o nome `"gelu"` pede?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `F.gelu` é a exata; `F.gelu(t, approximate="tanh")` é a `gelu_new`; `F.relu` a ReLU. Um dict
# do nome para a função evita uma cadeia de `if`.
#
# </details>

# %%
with when_solved("a sua MLP contra os ganchos de blocks.0.mlp"):
    mine = mlp(model.blocks[0].ln2(cache["resid_mid", 0]), dict(model.blocks[0].mlp.named_parameters()), model.cfg.act_fn)
    against_cache(mine, {"hook_pre": "blocks.0.mlp.hook_pre", "hook_post": "blocks.0.mlp.hook_post",
                         "hook_mlp_out": "blocks.0.hook_mlp_out"})

# %% [markdown]
# ## Exercício 04.transformer_block · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** montar um bloco pré-LN com as suas peças.
#
# `params` tem os pesos do bloco com os nomes do state dict (`"ln1.w"`, `"attn.W_Q"`, ...,
# `"ln2.b"`, `"mlp.W_out"`); `sub(params, "attn")` devolve só os da atenção, sem o prefixo.
# Devolva `"hook_attn_out"`, `"hook_resid_mid"`, `"hook_mlp_out"` e `"hook_resid_post"`,
# usando as suas `layer_norm`, `attention` e `mlp`.

# %% tags=["exercise"] exercise="04.transformer_block" points=2
def transformer_block(resid_pre: torch.Tensor, params: dict, eps: float, act_fn: str) -> dict:
    """Bloco pré-LN: {"hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"}."""
    # BEGIN SOLUCAO
    attn_in = layer_norm(resid_pre, params["ln1.w"], params["ln1.b"], eps)["out"]
    attn_out = attention(attn_in, sub(params, "attn"))["hook_attn_out"]
    resid_mid = resid_pre + attn_out
    mlp_in = layer_norm(resid_mid, params["ln2.w"], params["ln2.b"], eps)["out"]
    mlp_out = mlp(mlp_in, sub(params, "mlp"), act_fn)["hook_mlp_out"]
    return {"hook_attn_out": attn_out, "hook_resid_mid": resid_mid, "hook_mlp_out": mlp_out,
            "hook_resid_post": resid_mid + mlp_out}
    # END SOLUCAO


# %% tags=["check"]
check("04.transformer_block", transformer_block)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Pré-LN: cada subcamada lê uma versão normalizada do fluxo, e o que ela devolve é **somado**
# ao fluxo (que nunca é normalizado no lugar). Qual LN vem antes de qual subcamada, e a MLP
# lê o fluxo antes ou depois da soma da atenção?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `layer_norm(..., params["ln1.w"], params["ln1.b"], eps)["out"]` entra em
# `attention(..., sub(params, "attn"))`; a LN2 e a MLP seguem o mesmo padrão, a partir do
# `resid_mid`.
#
# </details>

# %%
with when_solved("o seu bloco contra os ganchos de blocks.1"):
    mine = transformer_block(cache["resid_pre", 1], dict(model.blocks[1].named_parameters()), model.cfg.eps,
                             model.cfg.act_fn)
    against_cache(mine, {key: f"blocks.1.{key}" for key in mine})

# %% [markdown]
# ## Exercício 04.model_forward · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** escrever o forward do modelo inteiro, dos ids dos tokens aos logits.
#
# `params` é o state dict do modelo (`model.state_dict()`: `"embed.W_E"`, `"pos_embed.W_pos"`,
# `"blocks.0.ln1.w"`, ..., `"ln_final.w"`, `"ln_final.b"`, `"unembed.W_U"`, `"unembed.b_U"`)
# e `cfg` tem `"n_layers"`, `"eps"` e `"act_fn"` (`model_cfg(model)`). Devolva
# `"hook_embed"`, `"hook_pos_embed"`, `"blocks.{l}.hook_resid_post"` de cada camada,
# `"ln_final.hook_normalized"` e `"logits"` (`[batch, pos, d_vocab]`).

# %% tags=["exercise"] exercise="04.model_forward" points=2
def model_forward(tokens: torch.Tensor, params: dict, cfg: dict) -> dict:
    """O forward inteiro: embeddings, n_layers blocos, LN final e desembedding."""
    # BEGIN SOLUCAO
    start = embed(tokens, params["embed.W_E"], params["pos_embed.W_pos"])
    result = {"hook_embed": start["hook_embed"], "hook_pos_embed": start["hook_pos_embed"]}
    resid = start["resid"]
    for layer in range(cfg["n_layers"]):
        resid = transformer_block(resid, sub(params, f"blocks.{layer}"), cfg["eps"], cfg["act_fn"])["hook_resid_post"]
        result[f"blocks.{layer}.hook_resid_post"] = resid
    final = layer_norm(resid, params["ln_final.w"], params["ln_final.b"], cfg["eps"])
    result["ln_final.hook_normalized"] = final["hook_normalized"]
    result["logits"] = final["out"] @ params["unembed.W_U"] + params["unembed.b_U"]
    return result
    # END SOLUCAO


# %% tags=["check"]
check("04.model_forward", model_forward)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É só encadear o que você já escreveu: o fluxo começa nos embeddings, passa por cada bloco
# (cada um com os seus pesos) e, no fim, é normalizado mais uma vez antes do desembedding.
# Este modelo não amarra os pesos: a matriz de saída é a dele, não a de entrada.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `sub(params, f"blocks.{layer}")` dá os pesos do bloco `layer` com os nomes que a sua
# `transformer_block` espera. A LN final é `layer_norm` com `params["ln_final.w"]` e
# `params["ln_final.b"]`; os logits são `[batch, pos, d_vocab]`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** a sua `model_forward`, com os pesos do `lm`, dá os mesmos logits do modelo
# a menos de 1e-4? E se você trocar a GELU exata pela aproximada, a diferença nos logits
# fica abaixo ou acima dessa tolerância?

# %%
with when_solved("o seu modelo contra o cache do lm"):
    mine = model_forward(tokens, model.state_dict(), model_cfg(model))
    against_cache(mine, {key: key for key in mine if key != "logits"}, atol=1e-4)
    same = torch.allclose(mine["logits"], logits, atol=1e-4, rtol=1e-5)
    print(f"  {'logits':32s} {'✅' if same else '❌'} (atol=0.0001)")
    print("próximo token mais provável depois de 'viu', pelo seu modelo:",
          model.tokenizer.vocab[int(mine["logits"][0, 6].argmax())])

# %% [markdown]
# ## Exercício 04.next_token_loss · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** calcular a perda média do próximo token (entropia cruzada, em nats).
#
# `logits` é `[batch, pos, d_vocab]` e `tokens`, `[batch, pos]`. A posição `p` prevê o token
# `p + 1`: a última posição não tem o que prever e o primeiro token não é previsto por
# ninguém. Devolva a média de `−log softmax(logits[b, p])[tokens[b, p + 1]]`, um tensor escalar
# (que o treino vai derivar).

# %% tags=["exercise"] exercise="04.next_token_loss" points=1
def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Entropia cruzada média do próximo token (tensor escalar)."""
    # BEGIN SOLUCAO
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    targets = tokens[:, 1:]
    return -log_probs.gather(-1, targets[..., None]).mean()
    # END SOLUCAO


# %% tags=["check"]
check("04.next_token_loss", next_token_loss)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Alinhe previsões e respostas: corte uma posição do fim das previsões e uma do começo dos
# tokens. Depois, para cada par, a perda é menos o log da probabilidade dada à resposta.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `log_softmax(dim=-1)` é estável; `gather(-1, índices[..., None])` escolhe um valor por
# posição. `F.cross_entropy` também serve, com os eixos achatados (`flatten(0, 1)`).
#
# </details>

# %% [markdown]
# ## Exercício 04.train_model · Dificuldade ★★☆ · ~15 min
#
# **Objetivo:** escrever um laço de treino curto: otimizador, perda deslocada, gradiente, passo e uma barra de progresso.
#
# Crie `HookedTransformer(Config(**cfg))` (de `course_lib`) e um `torch.optim.AdamW` com
# taxa `lr`. Em cada um dos `n_steps` passos: sorteie `batch_size` linhas de `data`
# (`[n_seqs, pos]`) com um `torch.Generator` semeado com `seed`, calcule a sua
# `next_token_loss` dos logits do modelo, zere os gradientes, derive e dê o passo. Guarde
# `loss.item()` de cada passo. Mostre uma barra de progresso (`tqdm`) quando `progress`
# for `True`. Devolva `(model, losses)`.

# %% tags=["exercise"] exercise="04.train_model" points=2
def train_model(cfg: dict, data: torch.Tensor, n_steps: int, batch_size: int, lr: float, seed: int,
                progress: bool = True):
    """Treina um HookedTransformer novo; devolve (model, [perda de cada passo])."""
    # BEGIN SOLUCAO
    from tqdm.auto import tqdm

    from course_lib import Config, HookedTransformer

    trained = HookedTransformer(Config(**cfg))
    optimizer = torch.optim.AdamW(trained.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(n_steps), desc="treinando", disable=not progress):
        batch = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
        loss = next_token_loss(trained(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return trained, losses
    # END SOLUCAO


# %% tags=["check"]
check("04.train_model", train_model)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Um passo de treino tem sempre as mesmas quatro partes: perda do lote, gradientes zerados,
# gradientes novos, atualização dos pesos. Esquecer qualquer uma delas treina outra coisa
# (ou nada). E a perda tem de ser a do próximo token: o modelo não pode ver a resposta.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `torch.randint(0, len(data), (batch_size,), generator=gen)` sorteia as linhas;
# `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`. `tqdm(range(n_steps),
# disable=not progress)` (de `tqdm.auto`) é a barra.
#
# </details>

# %% [markdown]
# ### O seu modelo contra a entropia da língua
#
# A gramática sabe a probabilidade **exata** de cada próxima palavra, então sabemos a menor
# perda possível em qualquer texto dela (`grammar.optimal_loss(tokens)`): a entropia da
# língua naquele texto. Nenhum modelo fica abaixo dela. Treinamos um modelo de 1 camada com
# o seu laço (~15 s com 1 thread, medido numa máquina de 2 núcleos ocupada por outros
# processos; o `lm` do curso tem 3 camadas e 1200 passos) e medimos a distância.
#
# ✍️ **Preveja:** depois de 200 passos, o seu modelo fica a quantos nats da entropia? Mais
# perto ou mais longe do que o `lm` (0,03 nats)?

# %% tags=["nbval-ignore-output"]
train_data = grammar.make_dataset(1024, 32, seed=0)
eval_data = grammar.make_dataset(64, 32, seed=999)
entropy = grammar.optimal_loss(eval_data)
with when_solved("o treino do seu modelo"):
    import matplotlib.pyplot as plt

    small_cfg = dict(n_layers=1, d_model=64, n_heads=4, d_mlp=256, d_vocab=grammar.d_vocab, n_ctx=32, seed=0)
    my_model, my_losses = train_model(small_cfg, train_data, n_steps=200, batch_size=32, lr=3e-3, seed=0)
    with torch.no_grad():
        my_eval = next_token_loss(my_model(eval_data), eval_data).item()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(my_losses, label="perda de treino (lote)")
    ax.axhline(entropy, color="k", linestyle="--", label=f"entropia da língua ({entropy:.2f})")
    ax.axhline(math.log(grammar.d_vocab), color="gray", linestyle=":", label="chute uniforme (ln d_vocab)")
    ax.set_xlabel("passo")
    ax.set_ylabel("nats por token")
    ax.set_title("O seu treino na gramática do português")
    ax.legend()
    plt.show()
    print(f"perda em texto novo: {my_eval:.2f} nats; entropia da língua: {entropy:.2f}; "
          f"distância: {my_eval - entropy:.2f} nats")
    assert 0 < my_eval - entropy < 0.4, "o treino de 200 passos deveria chegar a menos de 0,4 nat da entropia"

# %% [markdown]
# ## Exercício 04.find_bos_head · Investigação · Dificuldade ★☆☆ · ~8 min
#
# **Objetivo:** descobrir, com a sua `attention`, qual cabeça de uma camada mais olha para o primeiro token (`<bos>`).
#
# Rode o modelo com cache, normalize o `resid_pre` da camada com a LN1 dela
# (`model.blocks[layer].ln1`) e passe pela sua `attention` com os pesos da camada. Para cada
# cabeça, meça a atenção média na chave 0 (o `<bos>`), nas consultas **1 em diante** (a
# consulta 0 só pode olhar para si) e no lote inteiro. Devolva o índice (`int`) da cabeça de
# maior média. A verificação aceita qualquer cabeça a menos de 10% da maior e roda em outros
# checkpoints e camadas.

# %% tags=["exercise"] exercise="04.find_bos_head" points=2 kind="investigation"
def find_bos_head(model, tokens: torch.Tensor, layer: int) -> int:
    """Índice da cabeça da camada `layer` que mais atenção põe no <bos>."""
    # BEGIN SOLUCAO
    _, run_cache = model.run_with_cache(tokens)
    with torch.no_grad():
        x = model.blocks[layer].ln1(run_cache["resid_pre", layer])
        pattern = attention(x, dict(model.blocks[layer].attn.named_parameters()))["hook_pattern"]
    to_bos = pattern[:, :, 1:, 0].mean(dim=(0, 2))  # [head]
    return int(to_bos.argmax())
    # END SOLUCAO


# %% tags=["check"]
check("04.find_bos_head", find_bos_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Uma medida por cabeça, e fica a maior. A medida sai do padrão de atenção: quanto cada
# consulta põe na primeira chave, em média. Por que deixar a primeira consulta de fora?
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# O padrão da sua `attention` é `[batch, head, query_pos, key_pos]`: a chave 0 é
# `[..., 0]` e as consultas a partir da 1 são `[:, :, 1:]`. A média nos eixos do lote e das
# consultas deixa um valor por cabeça.
#
# </details>

# %%
with when_solved("a cabeça que mais olha para o <bos> em cada camada do lm"):
    text = grammar.make_dataset(16, 32, seed=5)
    for layer in range(model.cfg.n_layers):
        head = find_bos_head(model, text, layer)
        _, text_cache = model.run_with_cache(text)
        share = text_cache["pattern", layer][:, head, 1:, 0].mean().item()
        print(f"camada {layer}: cabeça {head} põe {share:.2f} da atenção no <bos> (uniforme daria "
              f"{(1 / torch.arange(2, 33).float()).mean():.2f})")

# %% [markdown]
# Compare cada número com a linha do uniforme: no `lm`, nenhuma cabeça é uma "cabeça de
# `<bos>`" forte (uma que estaciona no primeiro token quando não tem o que ler); a maior fica
# pouco acima do que a atenção espalhada por igual daria. O notebook 07 mede esse tipo de
# cabeça com um escore próprio.
#
# ## Exercício 04.entropy_gap · Investigação · Dificuldade ★☆☆ · ~6 min
#
# **Objetivo:** medir, com o seu forward e a sua perda, a quantos nats da entropia da língua um modelo está num texto da gramática.
#
# Calcule os logits com a sua `model_forward` (pesos `model.state_dict()`, `model_cfg(model)`),
# a perda com a sua `next_token_loss` e subtraia a perda ótima da gramática nos **mesmos**
# tokens, `grammar.optimal_loss(tokens)`. Devolva um `float` (nats por token). A verificação
# roda em três checkpoints (`lm`, `lm_untied`, `lm_icl`).

# %% tags=["exercise"] exercise="04.entropy_gap" points=1 kind="investigation"
def entropy_gap(model, tokens: torch.Tensor) -> float:
    """perda do modelo − perda ótima da gramática nos mesmos tokens (nats por token)."""
    # BEGIN SOLUCAO
    with torch.no_grad():
        out = model_forward(tokens, model.state_dict(), model_cfg(model))
        loss = next_token_loss(out["logits"], tokens).item()
    return loss - grammar.optimal_loss(tokens)
    # END SOLUCAO


# %% tags=["check"]
check("04.entropy_gap", entropy_gap)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Duas perdas no mesmo texto: a do modelo e a menor possível. A diferença é o que o modelo
# ainda não aprendeu da língua (e nunca é negativa, a menos de ruído).
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `model_forward(tokens, model.state_dict(), model_cfg(model))["logits"]` e a sua
# `next_token_loss`; `.item()` vira float. A entropia é `grammar.optimal_loss(tokens)`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** o `lm` (3 camadas) fica mais perto da entropia que o `lm_untied` (2 camadas,
# mesmo treino)? E o seu modelo de 1 camada?

# %%
with when_solved("a distância à entropia de cada modelo"):
    for name in ("lm", "lm_untied"):
        print(f"{name:10s}: {entropy_gap(load_pretrained(name), eval_data):.2f} nats acima da entropia")
    if "my_model" in globals():
        print(f"{'o seu':10s}: {entropy_gap(my_model, eval_data):.2f} nats acima da entropia (200 passos, 1 camada)")

# %% [markdown]
# ## Fechando
#
# Você escreveu o transformer inteiro: cada gancho que as próximas lições vão ler
# (`hook_pattern`, `hook_z`, `hook_attn_out`, `hook_resid_post`...) é agora uma linha do seu
# código, e o modelo que você treinou com ele aprende a gramática até perto do limite do que
# é possível aprender. A partir do notebook 05, o cache é a sua ferramenta: você já sabe o
# que há em cada chave.
