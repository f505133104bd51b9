# %% [markdown]
# # 04 · Monte o seu transformer
#
# Até aqui olhamos o modelo pelas pontas: o vetor final que vira uma distribuição
# (01–02) e o que cada camada "acha" do próximo token (03). A partir do notebook 05 vamos
# abrir o miolo — padrões de atenção, neurônios, o fluxo residual — e para isso é preciso
# saber **o que cada peça calcula e por quê**. Este notebook percorre o forward do modelo
# `lm` do curso, que é um transformer só-decodificador no estilo do GPT-2 (pré-LN), na
# ordem em que os dados passam, e confere cada passo no cache. No caderno de exercícios,
# você escreve cada peça e a sua versão tem de bater com a do `course_lib`.
#
# **O que você vai aprender**
#
# - o caminho inteiro: embeddings de token e de posição → blocos (LN, atenção, LN, MLP,
#   cada um somado ao fluxo residual) → LN final → desembedding → logits;
# - a LayerNorm do GPT-2: variância enviesada, `eps` dentro da raiz, e o que guardam
#   `hook_scale` e `hook_normalized`;
# - a atenção: consultas, chaves e valores com vieses, pontuações divididas por √d_head, a
#   máscara causal com −∞, o softmax nas chaves, `z`, a saída de cada cabeça por `W_O` e o
#   viés `b_O` da camada;
# - a MLP (e qual GELU o modelo usa), o bloco pré-LN e por que o fluxo residual é uma soma;
# - a perda do próximo token e o limite de qualquer modelo na nossa gramática: a entropia
#   exata da língua;
# - os nomes dos ganchos (`blocks.0.attn.hook_pattern`, `cache["pattern", 0]`...) que você
#   vai encontrar daqui para a frente.
#
# **Tempo estimado:** ~45 min.
#
# **Pré-requisitos:** os notebooks 00–03 (tokens, `run_with_cache`, softmax, desembedding);
# multiplicação de matrizes em PyTorch (`@`, `einsum`).

# %%
from course_lib.notebook import setup

setup()

import math

import matplotlib.pyplot as plt
import torch

from course_lib import PtGrammar, load_pretrained, plots
from course_lib.utils import get_act_name

torch.set_grad_enabled(False)  # só vamos olhar
model = load_pretrained("lm")
cfg = model.cfg
print(cfg)

prompt = "os gatos que o menino viu dormem."
tokens = model.to_tokens(prompt)
str_tokens = model.to_str_tokens(tokens)
logits, cache = model.run_with_cache(tokens)
labels = [f"{i}:{t}" for i, t in enumerate(str_tokens)]
print(labels)


def verdict(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> str:
    """Igualdade como veredito contra uma tolerância (o erro em si é ruído de float32)."""
    return f"igual (até {tol:g}): {'✅' if torch.allclose(a, b, atol=tol, rtol=1e-5) else '❌'}"


# %% [markdown]
# ## 1. O caminho inteiro, em uma página
#
# Com `tokens` de formato `[batch, pos]`, o forward é:
#
# $$x_0 = W_E[\text{tokens}] + W_{pos}[0..pos-1]$$
# $$\text{para cada camada } l:\quad x \leftarrow x + \text{Attn}_l(\text{LN1}_l(x)),\qquad x \leftarrow x + \text{MLP}_l(\text{LN2}_l(x))$$
# $$\text{logits} = \text{LN}_{final}(x)\, W_U + b_U$$
#
# Todo o resto é detalhe de cada peça. O cache guarda cada passo com um nome; eis os de um
# bloco, na ordem em que são calculados, com os formatos:

# %%
for name in cache.keys():
    if name.startswith("blocks.0.") or not name.startswith("blocks."):
        print(f"{name:32s} {tuple(cache[name].shape)}")

# %% [markdown]
# Os nomes são os do TransformerLens 3.x: `blocks.{l}.` e a peça (`ln1`, `attn`, `ln2`,
# `mlp`), depois `hook_` e o que é guardado. A forma curta `cache["pattern", 0]` é a mesma
# coisa que `cache["blocks.0.attn.hook_pattern"]` (`get_act_name` faz a tradução):

# %%
for short in ("resid_pre", "pattern", "z", "attn_out", "mlp_out", "resid_post", "scale"):
    print(f'cache["{short}", 0]  =  cache["{get_act_name(short, 0)}"]')
print(torch.equal(cache["pattern", 0], cache["blocks.0.attn.hook_pattern"]))

# %% [markdown]
# ## 2. Embeddings: o que entra no fluxo
#
# `W_E` tem uma linha de `d_model` números por palavra do vocabulário; o embedding de um
# token é a linha dele (`hook_embed`). Só isso, porém, não diz **onde** o token está: a
# atenção, como veremos, trata as posições como um conjunto — trocar duas palavras de
# lugar trocaria as saídas de lugar e nada mais. Por isso o GPT-2 soma um segundo vetor
# aprendido, um por **posição** (`W_pos`, `hook_pos_embed`): a posição 0 recebe sempre a
# linha 0, qualquer que seja o token. A soma é o fluxo residual de entrada,
# `blocks.0.hook_resid_pre`.

# %%
print("W_E:", tuple(model.W_E.shape), "= [d_vocab, d_model];  W_pos:", tuple(model.W_pos.shape), "= [n_ctx, d_model]")
print("hook_pos_embed é o mesmo em qualquer frase? ",
      torch.equal(model.run_with_cache(model.to_tokens("a menina lê o livro hoje sozinha."))[1]["hook_pos_embed"],
                  cache["hook_pos_embed"]))
print("embed + pos_embed = resid_pre da camada 0:", verdict(cache["hook_embed"] + cache["hook_pos_embed"], cache["resid_pre", 0]))

# %% [markdown]
# ## 3. LayerNorm: cada posição com a mesma escala
#
# Antes de ler o fluxo, cada subcamada o normaliza, **posição por posição**, no eixo
# `d_model`:
#
# $$\text{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} \odot w + b, \qquad
# \mu = \frac{1}{d}\sum_i x_i,\quad \sigma^2 = \frac{1}{d}\sum_i (x_i - \mu)^2 .$$
#
# Três detalhes que mudam os números:
#
# - a variância é a **enviesada** (divide por `d_model`, não por `d_model − 1`): com
#   `d_model = 64`, usar a outra muda cada saída em 0,8%;
# - o `eps` (1e-5) fica **dentro** da raiz: ele só importa quando a variância é pequena, e
#   evita dividir por zero num vetor constante;
# - `w` (ganho) e `b` (viés) são aprendidos, um número por coordenada.
#
# Por quê? O fluxo residual cresce camada a camada (é uma soma, seção 6); sem a LN, a
# escala da entrada de cada subcamada dependeria da profundidade. A LN também tira a média
# de cada vetor, então a componente "constante" (igual em todas as coordenadas) nunca é lida.
#
# A LN não vê a escala do vetor: multiplicar o fluxo por 3 não muda a saída — a menos do
# `eps`. Na camada 0 o fluxo de entrada é pequeno (escala ~0,1, variância ~0,01), e ali o
# `eps` de 1e-5 já pesa 1 parte em 1000 na variância: é o suficiente para que pôr o `eps`
# fora da raiz mude os números além do ruído de float32.
#
# Dois ganchos: `hook_scale` guarda o denominador $\sqrt{\sigma^2+\varepsilon}$, `[batch, pos, 1]`,
# e `hook_normalized` o vetor centrado e dividido, **antes** de `w` e `b` (no TransformerLens
# 2.x, o do ARENA, o gancho já incluía `w` e `b`).

# %%
ln1 = model.blocks[0].ln1
normalized = cache["blocks.0.ln1.hook_normalized"]
print("hook_scale:", tuple(cache["blocks.0.ln1.hook_scale"].shape), " hook_normalized:", tuple(normalized.shape))
print("média de cada vetor normalizado ≈ 0:", bool(normalized.mean(-1).abs().max() < 1e-5))
print("normalized · w + b = ln1(resid_pre):", verdict(normalized * ln1.w + ln1.b, ln1(cache["resid_pre", 0])))
print("escala de cada posição na camada 0:", [round(v, 2) for v in cache["blocks.0.ln1.hook_scale"][0, :, 0].tolist()])
ln3 = model.blocks[2].ln1
print("camada 2, fluxo grande: ln1(3 · resid_pre) = ln1(resid_pre)?",
      verdict(ln3(3 * cache["resid_pre", 2]), ln3(cache["resid_pre", 2]), 1e-4))
gap0 = (ln1(3 * cache["resid_pre", 0]) - ln1(cache["resid_pre", 0])).abs().max().item()
print("camada 0, fluxo pequeno: a diferença passa de 1e-4?", gap0 > 1e-4)

# %% [markdown]
# ## 4. Atenção: cada posição lê as anteriores
#
# A atenção é a única peça que mistura posições. Para cada cabeça `h`, com `x` a saída da
# LN1 (`[batch, pos, d_model]`):
#
# 1. **Consultas, chaves e valores**, cada um com o seu viés:
#    $q = x W_Q^h + b_Q^h$, $k = x W_K^h + b_K^h$, $v = x W_V^h + b_V^h$, de `d_model` para
#    `d_head` (ganchos `hook_q`, `hook_k`, `hook_v`, `[batch, pos, head, d_head]`).
# 2. **Pontuações**: $s_{qk} = q_q \cdot k_k / \sqrt{d_{head}}$, uma matriz
#    `[query_pos, key_pos]` por cabeça. A divisão mantém a variância das pontuações perto de
#    1, qualquer que seja `d_head`; sem ela o softmax satura (o notebook 06 mede isso).
# 3. **Máscara causal**: a posição *q* não pode ver o futuro, então $s_{qk} = -\infty$ para
#    todo *k > q*. Tem de ser −∞ e tem de vir **antes** do softmax: com −∞ o softmax dá
#    exatamente 0 ali e as linhas ainda somam 1; com 0 o futuro receberia $e^0 = 1$, tanto
#    quanto uma pontuação comum. `hook_attn_scores` guarda as pontuações **já mascaradas**.
# 4. **Padrão**: $A = \mathrm{softmax}_k(s)$, no eixo das **chaves** (`hook_pattern`,
#    `[batch, head, query_pos, key_pos]`): quanto cada consulta lê de cada posição.
# 5. **z**: $z_q = \sum_k A_{qk}\, v_k$, a média dos valores pesada pelo padrão (`hook_z`).
# 6. **Saída**: cada cabeça escreve $z^h W_O^h$ (de `d_head` de volta a `d_model`), e a
#    camada soma as cabeças e um viés `b_O` que é da camada, não de cabeça nenhuma:
#    $\text{Attn}(x) = \sum_h z^h W_O^h + b_O$ (`hook_attn_out`).
#
# Os pesos de todas as cabeças ficam empilhados: `W_Q [n_heads, d_model, d_head]`,
# `b_Q [n_heads, d_head]`, `W_O [n_heads, d_head, d_model]`, `b_O [d_model]`. Neste modelo
# `d_head = d_model / n_heads = 16`, mas nada obriga: é um hiperparâmetro à parte.

# %%
attn = model.blocks[0].attn
print({name: tuple(p.shape) for name, p in attn.named_parameters()})
for name in ("q", "attn_scores", "pattern", "z", "attn_out"):
    print(f'cache["{name}", 0]: {tuple(cache[name, 0].shape)}')

# %% [markdown]
# ✍️ **Preveja:** numa frase de 9 tokens, quantas pontuações de uma cabeça são −∞? E quanto
# vale a soma de cada linha do padrão?

# %%
scores = cache["attn_scores", 0][0, 2]  # cabeça 2 da camada 0: [query_pos, key_pos]
n = scores.shape[0]
future = torch.arange(n)[None, :] > torch.arange(n)[:, None]
print(f"−∞ em {int(torch.isinf(scores).sum())} de {n * n} pontuações (n(n−1)/2 = {n * (n - 1) // 2}); "
      "exatamente acima da diagonal:", torch.equal(torch.isinf(scores), future))
pattern = cache["pattern", 0][0, 2]
print("linhas do padrão somam 1:", verdict(pattern.sum(-1), torch.ones(n), 1e-6),
      "| atenção no futuro exatamente 0:", bool((pattern[future] == 0).all()))
plots.plot_attention(pattern, labels, title="L0H2: padrão de atenção (o triângulo de cima é a máscara)")

# %% [markdown]
# A figura é o padrão de uma cabeça: cada linha é uma consulta e distribui 1 entre ela mesma
# e as posições anteriores. A primeira linha não tem escolha (só vê o `<bos>`).
#
# E a saída da camada é mesmo a soma das cabeças mais `b_O`? `cache.stack_head_results`
# devolve o termo de cada cabeça (`z^h W_O^h`), então dá para conferir sem refazer a conta:

# %%
per_head = cache.stack_head_results(layer=1)  # [n_heads da camada 0, batch, pos, d_model]
print("termos por cabeça:", tuple(per_head.shape))
print("Σ cabeças + b_O = hook_attn_out:", verdict(per_head.sum(0) + attn.b_O, cache["attn_out", 0]))
print("sem b_O a soma erra por", f"‖b_O‖ = {attn.b_O.norm():.2f}")

# %% [markdown]
# Um detalhe sobre os vieses: como cada linha do padrão soma 1, o `b_V` de uma cabeça chega
# à saída como o vetor constante $b_V^h W_O^h$, em todas as posições. O `b_Q` e o `b_K`
# mudam **para onde** a cabeça olha. Nenhum dos três pode ser esquecido.
#
# ## 5. MLP: a mesma conta em cada posição
#
# A MLP não mistura posições: é uma rede de duas camadas aplicada a cada vetor,
#
# $$\text{MLP}(x) = \mathrm{GELU}(x W_{in} + b_{in})\, W_{out} + b_{out},$$
#
# com `W_in [d_model, d_mlp]` (aqui 64 → 256), os ganchos `hook_pre` (antes da ativação) e
# `hook_post` (depois), `[batch, pos, d_mlp]`, e a saída `hook_mlp_out`. Cada uma das 256
# coordenadas do meio é um **neurônio** (o notebook 05 procura o que alguns detectam).
#
# Qual GELU? `model.cfg.act_fn` diz `"gelu"`: a GELU **exata**, $x\,\Phi(x)$ com a função de
# erro, que é a do `course_lib` e a do TransformerLens para esse nome. O GPT-2 original usa a
# aproximação por tanh, que nesses dois chama-se `"gelu_new"`. A diferença é pequena, mas bem
# maior que o arredondamento de float32:

# %%
from course_lib.model import gelu_new

pre = cache["mlp_pre", 0]
print("act_fn do lm:", cfg.act_fn, "| hook_pre:", tuple(pre.shape), "= [batch, pos, d_mlp]")
print("hook_post = GELU exata(hook_pre):", verdict(torch.nn.functional.gelu(pre), cache["mlp_post", 0]))
print(f"maior diferença entre a exata e a aproximada em hook_pre: {(torch.nn.functional.gelu(pre) - gelu_new(pre)).abs().max():.0e}"
      " (≫ 1e-6, o ruído de float32)")

# %% [markdown]
# ## 6. O fluxo residual e o bloco pré-LN
#
# Cada bloco **soma** ao fluxo o que as suas subcamadas escrevem, e cada subcamada lê uma
# versão normalizada dele:
#
# $$\text{resid\_mid} = \text{resid\_pre} + \text{Attn}(\text{LN1}(\text{resid\_pre}))$$
# $$\text{resid\_post} = \text{resid\_mid} + \text{MLP}(\text{LN2}(\text{resid\_mid}))$$
#
# É o desenho **pré-LN** (GPT-2, TransformerLens). O transformer original era **pós-LN**:
# $\text{LN}(x + \text{Attn}(x))$, a LN depois da soma, normalizando o próprio fluxo. No
# pré-LN o fluxo nunca é normalizado no lugar: o que uma cabeça escreve na camada 0 continua
# lá, intacto, até a LN final. É por isso que dá para decompor o resíduo final numa soma
# exata de termos (embeddings, cada cabeça, cada MLP), como os notebooks seguintes fazem.

# %%
for l in range(cfg.n_layers):
    mid = cache["resid_pre", l] + cache["attn_out", l]
    post = cache["resid_mid", l] + cache["mlp_out", l]
    print(f"camada {l}: resid_mid = resid_pre + attn_out ({verdict(mid, cache['resid_mid', l])}), "
          f"resid_post = resid_mid + mlp_out ({verdict(post, cache['resid_post', l])})")

# %% [markdown]
# Como é uma soma, o fluxo tende a **crescer** de camada em camada — o motivo de cada
# subcamada ler através de uma LN. Medindo a norma média do fluxo em 32 sequências da
# gramática (fora a posição 0, o `<bos>`, que é um caso à parte):
#
# ✍️ **Preveja:** a norma cresce a cada camada? Em qual ponto ela é maior?

# %%
grammar = PtGrammar()
text = grammar.make_dataset(32, cfg.n_ctx, seed=3)
_, text_cache = model.run_with_cache(text)
points = ["embed+pos"] + [f"resid_post {l}" for l in range(cfg.n_layers)]
norms = [text_cache["resid_pre", 0][:, 1:].norm(dim=-1).mean().item()]
norms += [text_cache["resid_post", l][:, 1:].norm(dim=-1).mean().item() for l in range(cfg.n_layers)]
print("norma média do fluxo:", ", ".join(f"{p}: {v:.1f}" for p, v in zip(points, norms)))
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.plot(points, norms, marker="o")
ax.set_ylabel("‖fluxo residual‖ (média)")
ax.set_title("O fluxo residual cresce camada a camada")
ax.set_ylim(0, None)
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# ## 7. Desembedding, logits e perda
#
# No fim, mais uma LN (`ln_final`, com os seus ganchos `ln_final.hook_scale` e
# `ln_final.hook_normalized`) e o desembedding: $\text{logits} = \text{LN}_{final}(x)\,W_U + b_U$,
# `[batch, pos, d_vocab]`. Este modelo **não** amarra os pesos (`W_U` é uma matriz própria,
# notebook 02).

# %%
final = model.ln_final(cache["resid_post", cfg.n_layers - 1])
print("W_U:", tuple(model.W_U.shape), "| b_U:", tuple(model.b_U.shape))
print("LN final → W_U + b_U = logits:", verdict(final @ model.W_U + model.b_U, logits, 1e-4))

# %% [markdown]
# A posição *p* dos logits é a previsão do token *p + 1* (a máscara causal garante que ela
# não viu a resposta). A perda de treino é a **entropia cruzada do próximo token**, em
# média sobre as posições que têm o que prever:
#
# $$L = -\frac{1}{B\,(P-1)} \sum_{b}\sum_{p=0}^{P-2} \log \mathrm{softmax}(\text{logits}_{b,p})[\text{tokens}_{b,p+1}]$$
#
# Treinar é repetir: sortear um lote, calcular $L$, derivar (`backward`), dar um passo do
# otimizador (o AdamW do curso) e zerar os gradientes para o próximo lote. No nosso caso há
# um número que nenhum treino supera: a gramática conhece a probabilidade **exata** de cada
# próxima palavra, então `grammar.optimal_loss(tokens)` é a menor perda possível naquele
# texto — a entropia da língua, medida nele. Quanto falta ao `lm`?

# %%
eval_tokens = grammar.make_dataset(64, cfg.n_ctx, seed=999)
lm_loss = model(eval_tokens, return_type="loss").item()
best = grammar.optimal_loss(eval_tokens)
print(f"perda do lm: {lm_loss:.3f} nats | entropia da língua nesse texto: {best:.3f} | "
      f"distância: {lm_loss - best:.3f} | chute uniforme: {math.log(cfg.d_vocab):.3f}")
assert 0 < lm_loss - best < 0.1

# %% [markdown]
# O `lm` (3 camadas, 1200 passos, ~1 min) fica a poucos centésimos de nat do limite. No
# caderno de exercícios você escreve o seu laço de treino e vê quanto um modelo menor chega
# perto em ~15 s.
#
# ## 8. Os ganchos que você vai encontrar
#
# | gancho (nome completo) | forma curta | formato | o que é |
# |---|---|---|---|
# | `hook_embed`, `hook_pos_embed` | `"embed"`, `"pos_embed"` | `[batch, pos, d_model]` | linha de `W_E` do token; linha de `W_pos` da posição |
# | `blocks.{l}.hook_resid_pre` | `"resid_pre", l` | `[batch, pos, d_model]` | o fluxo que entra no bloco |
# | `blocks.{l}.ln1.hook_scale` / `hook_normalized` | `"scale", l, "ln1"` / `"normalized", l, "ln1"` | `[batch, pos, 1]` / `[batch, pos, d_model]` | √(var + eps); o vetor centrado e dividido, antes de `w` e `b` |
# | `blocks.{l}.attn.hook_q` / `hook_k` / `hook_v` | `"q", l` ... | `[batch, pos, head, d_head]` | `x W + b` de cada cabeça |
# | `blocks.{l}.attn.hook_attn_scores` | `"attn_scores", l` | `[batch, head, query_pos, key_pos]` | `q·k/√d_head`, já com −∞ no futuro |
# | `blocks.{l}.attn.hook_pattern` | `"pattern", l` | `[batch, head, query_pos, key_pos]` | softmax nas chaves |
# | `blocks.{l}.attn.hook_z` | `"z", l` | `[batch, pos, head, d_head]` | média dos valores pesada pelo padrão |
# | `blocks.{l}.hook_attn_out` | `"attn_out", l` | `[batch, pos, d_model]` | Σ das cabeças por `W_O` + `b_O` |
# | `blocks.{l}.hook_resid_mid` | `"resid_mid", l` | `[batch, pos, d_model]` | resid_pre + attn_out |
# | `blocks.{l}.mlp.hook_pre` / `hook_post` | `"mlp_pre", l` / `"mlp_post", l` | `[batch, pos, d_mlp]` | antes / depois da GELU |
# | `blocks.{l}.hook_mlp_out` | `"mlp_out", l` | `[batch, pos, d_model]` | saída da MLP |
# | `blocks.{l}.hook_resid_post` | `"resid_post", l` | `[batch, pos, d_model]` | resid_mid + mlp_out (= resid_pre da próxima) |
# | `ln_final.hook_scale` / `hook_normalized` | — | como na LN1 | a LN antes do desembedding |
#
# ## Resumo
#
# - `resid_pre` da camada 0 = `W_E[tokens] + W_pos[posições]`: o token e o lugar dele.
# - LN: tira a média, divide por √(variância enviesada + eps), aplica `w` e `b`; `hook_scale`
#   é o divisor, `hook_normalized` o vetor antes de `w` e `b`.
# - Atenção: `q, k, v = x W + b`; pontuações `q·k/√d_head`; −∞ no futuro **antes** do softmax;
#   softmax nas chaves; `z = A v`; `Σ_h z_h W_O[h] + b_O`.
# - MLP: `GELU(x W_in + b_in) W_out + b_out`, com a GELU exata (`"gelu"`).
# - Bloco pré-LN: cada subcamada lê `LN(fluxo)` e **soma** ao fluxo; o fluxo cresce e nunca é
#   normalizado no lugar.
# - Logits = `LN_final(fluxo) W_U + b_U`; a perda é a do próximo token (deslocada), e a
#   entropia da gramática é o limite de qualquer modelo.
