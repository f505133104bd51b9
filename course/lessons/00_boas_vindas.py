# %% [markdown]
# # 00 · Boas-vindas: como usar o curso e um primeiro olhar no modelo
#
# Este curso abre um transformer por dentro. Em vez de tratar o modelo como uma
# caixa-preta, vamos medir o que cada peça calcula, com código que você pode ler
# e modificar.
#
# **O que você vai aprender**
#
# - como o curso está organizado: lições, exercícios, soluções e verificações automáticas;
# - como ler o retorno de uma célula de verificação e como conferir um notebook inteiro;
# - o modelo de linguagem pequeno que acompanha o curso: sua configuração, seus parâmetros
#   e o vocabulário em português;
# - como transformar texto em tokens e tokens em texto;
# - como guardar todas as ativações internas com `run_with_cache`;
# - como gerar texto escolhendo sempre o token mais provável (decodificação gulosa);
# - o mapa do curso.
#
# **Tempo estimado:** ~25 min
#
# **Pré-requisitos:** Python e o básico de PyTorch (criar tensores, indexar,
# multiplicar matrizes). Não é preciso saber nada de transformers ainda.

# %% [markdown]
# ## 1. Como o curso está organizado
#
# O repositório tem três pastas de notebooks, com os mesmos nomes de arquivo:
#
# | Pasta | Para quê |
# |---|---|
# | `notebooks/` | **lições**: explicação, código e figuras. Leia e rode célula por célula. |
# | `exercises/` | **prática**: as mesmas ideias, agora com funções para você completar. |
# | `solutions/` | **soluções** dos exercícios, já executadas. Consulte depois de tentar! |
#
# A ordem sugerida para cada tema é: lição `notebooks/NN_nome.ipynb`, depois
# exercícios `exercises/NN_nome.ipynb`, e só então a solução.
#
# Toda a biblioteca do curso mora no pacote `course_lib` (o modelo, os dados,
# os gráficos e as verificações). A primeira célula de código de cada notebook
# chama `setup()`: ela fixa a semente aleatória, usa uma única thread e ajusta
# a impressão de tensores e o estilo dos gráficos. Assim, o mesmo notebook
# produz sempre os mesmos números.

# %%
import torch

from course_lib import Config, load_metadata, load_pretrained
from course_lib.checks import get_exercise, run_checks
from course_lib.notebook import setup
from course_lib.plots import plot_attention
from course_lib.widgets import attention_explorer

setup()

# %% [markdown]
# ### Como funciona um exercício
#
# Cada exercício é uma função com a solução faltando. No notebook de exercícios
# ela aparece assim:
#
# ```python
# def tokens_to_strings(tokens, vocab):
#     """..."""
#     # SEU CÓDIGO AQUI
#     raise NotImplementedError("Exercício ainda não resolvido: 00.tokens_to_strings")
# ```
#
# Logo abaixo vem uma **célula de verificação**, que roda a sua função em
# vários casos de teste (inclusive casos de borda, como uma sequência de um só
# token) e compara com a resposta certa:
#
# ```python
# check("00.tokens_to_strings", tokens_to_strings)
# ```
#
# Vamos ver o retorno de verdade. A função `run_checks` faz o mesmo que
# `check`, mas devolve o relatório em vez de levantar um erro. Primeiro, uma
# função errada de propósito: ela descarta o token `<bos>`.

# %%
exercise = get_exercise("00.tokens_to_strings")


def tokens_to_strings_errada(tokens, vocab):
    strings = list(map(vocab.__getitem__, tokens.tolist()))
    return strings[1:]  # descarta a primeira posição (o <bos>)


print(run_checks(exercise, tokens_to_strings_errada).text)

# %% [markdown]
# O retorno diz quantos casos passaram, qual foi o primeiro caso que falhou, o
# que se esperava e o que veio. Quando o erro parece um erro comum já
# conhecido, aparece uma linha com 💡 dizendo qual.
#
# No notebook de exercícios, uma verificação que falha **levanta um erro**
# (`CheckFailed`) e a execução para ali: assim "Run All" mostra exatamente
# onde está o primeiro exercício por fazer. Com uma função certa (aqui, o gabarito do
# próprio exercício; a sua você escreve no notebook de exercícios):

# %%
print(run_checks(exercise, exercise.reference).text)

# %% [markdown]
# ### Conferindo um notebook inteiro
#
# Para rodar todas as verificações de um notebook de exercícios de uma vez,
# use o `pytest` com o plugin `nbval`, na pasta raiz do repositório:
#
# ```bash
# pytest --nbval-lax --nbval-current-env exercises/00_boas_vindas.ipynb
# ```
#
# Cada célula vira um teste. Enquanto houver exercícios por fazer, as células
# de verificação deles aparecem como falhas, cada uma com o mesmo retorno em
# português que você vê no notebook. Quando tudo estiver resolvido, todas passam.
#
# Cada exercício traz a dificuldade (★☆☆ fácil, ★★☆ médio, ★★★ desafiador), o
# tempo estimado e, logo depois da verificação, dicas em níveis escondidas em blocos
# dobráveis: "💡 Dica 1 · um empurrão" (no que pensar), "💡 Dica 2 · onde olhar" (qual
# função, qual formato) e, às vezes, "💡 Dica 3 · quase a solução". Abra uma de cada vez.
#
# Alguns exercícios são de **investigação**: a resposta não é uma função qualquer, é uma
# descoberta sobre um modelo (qual cabeça, qual camada), feita com as funções que você
# mesmo escreveu. A verificação aceita qualquer resposta correta e, se a sua não for,
# diz o que medir. Antes dos resultados importantes aparece um "✍️ **Preveja:**": anote
# o seu palpite antes de rodar a célula; é assim que se aprende com a surpresa.

# %% [markdown]
# ## 2. O modelo do curso
#
# Usamos modelos pequenos, treinados para este curso numa CPU (o tempo de
# treino de cada um está nos metadados, abaixo) e distribuídos junto com o
# código (nada é baixado da internet). O principal
# é o `"lm"`, um modelo de linguagem treinado com frases de uma gramática do
# português ("o menino come um bolo.", "as gatas que o rei viu dormem
# juntas.").
#
# O código do modelo segue os nomes e as formas dos tensores do
# [TransformerLens](https://github.com/TransformerLensOrg/TransformerLens), a
# biblioteca mais usada em interpretabilidade. O que você aprender aqui vale
# para modelos grandes também.

# %%
model = load_pretrained("lm")
cfg = model.cfg
print(cfg)

# %% [markdown]
# Os campos mais importantes do `Config`:
#
# - `n_layers`: número de blocos (camadas) empilhados;
# - `d_model`: tamanho do vetor que representa cada posição, o **fluxo residual**;
# - `n_heads` e `d_head`: quantas cabeças de atenção por camada e o tamanho de cada uma;
# - `d_mlp`: largura da camada escondida do MLP de cada bloco;
# - `d_vocab`: tamanho do vocabulário; `n_ctx`: o maior número de tokens que o modelo lê de uma vez.
#
# Um `Config` também serve para criar um modelo novo, com pesos aleatórios:

# %%
tiny_cfg = Config(n_layers=1, d_model=32, n_heads=2, d_mlp=64, d_vocab=10, n_ctx=8)
print(tiny_cfg)
print("d_head calculado:", tiny_cfg.d_head, "= d_model // n_heads =", tiny_cfg.d_model // tiny_cfg.n_heads)

# %% [markdown]
# Junto de cada modelo vem um arquivo com as métricas medidas no treino. Uma
# delas é a **perda** (entropia cruzada do próximo token, que estudaremos no
# notebook 01). Como os dados vêm de uma gramática conhecida, sabemos também a
# menor perda que qualquer modelo poderia atingir.

# %%
metadata = load_metadata("lm")
print("tempo de treino:", round(metadata["train_seconds"]), "segundos")
metrics = metadata["metrics"]
for key in ("eval_loss", "optimal_loss", "uniform_loss", "agreement_accuracy", "n_params"):
    value = metrics[key]
    print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")

# %% [markdown]
# Lendo: chutar um token ao acaso daria perda `uniform_loss` = ln(d_vocab); o
# modelo chega a `eval_loss`, muito perto do ótimo `optimal_loss`. E ele acerta
# todos os testes de concordância (`agreement_accuracy`), como preferir
# "dormem" a "dorme" depois de "os gatos que o menino viu".

# %% [markdown]
# ### Os parâmetros, por nome
#
# Os nomes seguem o TransformerLens: `embed.W_E` é a matriz de embeddings dos
# tokens, `pos_embed.W_pos` a das posições, `blocks.{l}.attn.W_Q` as matrizes
# de consulta (query) das cabeças da camada `l`, e assim por diante. Como as
# camadas se repetem, mostramos só a camada 0:

# %%
for name, param in model.named_parameters():
    if name.startswith(("blocks.1.", "blocks.2.")):
        continue  # mesmas formas da camada 0
    print(f"{name:<22} {tuple(param.shape)}")

# %% [markdown]
# Repare nas formas das matrizes de atenção, `[n_heads, d_model, d_head]`: as
# 4 cabeças de uma camada ficam empilhadas num só tensor. E a última matriz,
# `unembed.W_U`, tem forma `[d_model, d_vocab]`: ela leva o vetor final de
# cada posição a um número (logit) por token do vocabulário.
#
# Quantos parâmetros ao todo? Somamos o número de elementos de cada tensor:

# %%
n_params = sum(p.numel() for p in model.parameters())
print("total de parâmetros:", n_params)
print("igual ao registrado no treino:", n_params == metrics["n_params"])

# %% [markdown]
# No notebook de exercícios você vai escrever uma **fórmula** para esse total a
# partir do `Config`, e a verificação a compara com modelos de verdade.

# %% [markdown]
# ## 3. Texto ↔ tokens
#
# O modelo não lê letras: lê **tokens**, que aqui são palavras inteiras (e o
# ponto final). Cada token tem um número, seu **id**. O id 0 é especial, o
# `<bos>` ("beginning of sequence"), que o tokenizador põe no começo de todo
# texto, como no TransformerLens.

# %%
sentence = "Os gatos que o menino viu dormem."
tokens = model.to_tokens(sentence)
print("tokens:", tokens)
print("formato:", tuple(tokens.shape), "= [batch, pos]")
print("strings:", model.to_str_tokens(tokens))
print("de volta a texto:", model.to_string(tokens[0]))

# %% [markdown]
# Note que o tokenizador passa tudo para minúsculas. O vocabulário é o
# conjunto de palavras da gramática, mais o `<bos>`:

# %%
vocab = model.tokenizer.vocab
print("d_vocab:", len(vocab), "(cfg.d_vocab =", cfg.d_vocab, ")")
print("primeiros 12:", vocab[:12])
gatos_id = vocab.index("gatos")
print("id de 'gatos':", gatos_id, "| token de id", gatos_id, "→", vocab[gatos_id])

# %% [markdown]
# Uma palavra fora do vocabulário não vira token; o erro diz qual palavra é e
# sugere parecidas:

# %%
try:
    model.to_tokens("o gatinho dorme")
except ValueError as err:
    print(err)

# %% [markdown]
# ## 4. Um forward: logits
#
# Chamar `model(tokens)` devolve os **logits**: para cada posição, um número
# por token do vocabulário. Quanto maior o logit, mais o modelo aposta que
# aquele token vem **a seguir**. O formato é `[batch, pos, d_vocab]`.
#
# ✍️ **Preveja:** depois de "os gatos que o menino viu", o modelo vai preferir "dormem"
# (concorda com "os gatos") ou "dorme" (concorda com "o menino", a palavra mais perto)?

# %%
prompt = "os gatos que o menino viu"
prompt_tokens = model.to_tokens(prompt)
logits = model(prompt_tokens)
print("logits:", tuple(logits.shape), "= [batch, pos, d_vocab]")

probs = torch.softmax(logits[0, -1], dim=-1)  # última posição: o que vem depois de "viu"?
top = probs.topk(5)
for p, i in zip(top.values, top.indices):
    print(f"  {vocab[i]:>10}  {p:.3f}")
p_plural, p_singular = probs[vocab.index("dormem")], probs[vocab.index("dorme")]
print(f"P(dormem) = {p_plural:.3f}  vs  P(dorme) = {p_singular:.1e}")

# %% [markdown]
# Depois de "viu" vem o verbo da oração principal, que concorda com "os
# gatos", lá no começo: o modelo dá ao plural "dormem" muito mais
# probabilidade que ao singular "dorme". Como os logits viram probabilidades (o `softmax`) é o assunto do
# notebook 01.

# %% [markdown]
# ## 5. Olhando por dentro: `run_with_cache`
#
# O modelo tem **ganchos** (hooks) em cada ativação intermediária. A função
# `run_with_cache` roda o forward e guarda todas elas num `ActivationCache`,
# um dicionário de nome → tensor.

# %%
logits, cache = model.run_with_cache(tokens)
print("ativações guardadas:", len(cache))
for name in ["hook_embed", "hook_pos_embed", "blocks.0.attn.hook_q", "blocks.0.attn.hook_pattern",
             "blocks.0.hook_resid_post", "ln_final.hook_normalized", "unembed.hook_in"]:
    print(f"  {name:<28} {tuple(cache[name].shape)}")

# %% [markdown]
# Lendo os formatos (lote de 1; `pos` é o número de tokens da frase, contando o `<bos>`):
#
# - `hook_embed` e `hook_pos_embed`: `[batch, pos, d_model]`, os embeddings do token e da posição;
# - `hook_q`: `[batch, pos, n_heads, d_head]`, as consultas de cada cabeça;
# - `hook_pattern`: `[batch, n_heads, query_pos, key_pos]`, quanto cada posição de destino (a consulta) presta atenção em cada posição de origem (a chave);
# - `hook_resid_post`: o fluxo residual depois do bloco, `[batch, pos, d_model]`;
# - `ln_final.hook_normalized`: o resíduo final centrado e dividido pela sua escala,
#   **antes** do ganho `w` e do viés `b` da LayerNorm final (como no TransformerLens 3.x);
# - `unembed.hook_in`: o que `W_U` lê de fato, `hook_normalized * w + b`.
#
# Cuidado ao ler código do ARENA: ele usa o TransformerLens 2.x, em que `w` e `b` já estavam
# dentro de `hook_normalized`. Aqui, se você quer o vetor que vai para `W_U`, use
# `unembed.hook_in`:

# %%
ln_final = model.ln_final
by_hand = cache["ln_final.hook_normalized"] * ln_final.w + ln_final.b
print("hook_normalized * w + b == unembed.hook_in:", torch.allclose(by_hand, cache["unembed.hook_in"], atol=1e-6))
print("hook_normalized == unembed.hook_in:        ", torch.allclose(cache["ln_final.hook_normalized"], cache["unembed.hook_in"], atol=1e-6))

# %% [markdown]
# Há um atalho no estilo do TransformerLens: `cache["pattern", 0]` é o mesmo
# tensor que `cache["blocks.0.attn.hook_pattern"]`.

# %%
pattern0 = cache["pattern", 0]
print("formato:", tuple(pattern0.shape), "= [batch, n_heads, query_pos, key_pos]")
print("mesmo tensor:", torch.equal(pattern0, cache["blocks.0.attn.hook_pattern"]))
print("cada linha soma 1:", torch.allclose(pattern0.sum(-1), torch.ones(1, cfg.n_heads, tokens.shape[1])))

# %% [markdown]
# Cada linha de um padrão de atenção é uma distribuição de probabilidade sobre
# as posições anteriores (a atenção é **causal**: uma posição só vê o passado e
# a si mesma). Vejamos a cabeça 0 da camada 0:

# %%
str_tokens = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(tokens))]  # rótulos pos:token
plot_attention(cache["pattern", 0][0, 0], str_tokens, title="Camada 0, cabeça 0")

# %% [markdown]
# Tudo acima da diagonal é zero: é a máscara causal. Para explorar as outras
# cabeças e camadas, use o explorador abaixo (no Jupyter aparecem menus para
# escolher a camada e a cabeça; fora dele, uma figura com a grade da camada 1).

# %%
attention_explorer(model, sentence, layer=1, head=None)

# %% [markdown]
# ## 6. Gerando texto, um token por vez
#
# Um modelo de linguagem gera texto em um laço: roda o forward, escolhe um
# token a partir dos logits da **última** posição, acrescenta esse token à
# sequência e repete. Na **decodificação gulosa** escolhemos sempre o token de
# maior logit (o `argmax`).

# %%
def greedy_generate(model, prompt: str, n_new_tokens: int) -> str:
    """Acrescenta `n_new_tokens` tokens ao `prompt`, sempre o de maior logit."""
    tokens = model.to_tokens(prompt)  # [1, pos]
    for _ in range(n_new_tokens):
        if tokens.shape[1] == model.cfg.n_ctx:
            break  # o modelo não lê mais que n_ctx tokens
        with torch.no_grad():
            logits = model(tokens)  # [1, pos, d_vocab]
        next_token = logits[0, -1].argmax()  # um id
        tokens = torch.cat([tokens, next_token.view(1, 1)], dim=1)
    return model.to_string(tokens[0])


for start in ["o menino", "as meninas que", "uma gata"]:
    print(repr(start), "→", greedy_generate(model, start, 10))

# %% [markdown]
# As frases são gramaticais, mas a gulosa é determinística e tende a repetir
# os caminhos mais prováveis. No notebook 01 veremos como **sortear** o
# próximo token (com temperatura) para ter variedade.

# %% [markdown]
# ## 7. O mapa do curso
#
# O curso começa pelo fim do modelo (como o último vetor vira uma previsão) e
# vai entrando: montamos o transformer peça por peça, depois olhamos as ativações,
# as cabeças de atenção e, por fim, os circuitos que elas formam.
#
# | Nº | Tema | Pergunta central |
# |---|---|---|
# | 00 | Boas-vindas (este notebook) | Como uso o curso e o modelo? |
# | 01 | Softmax e a cabeça do modelo de linguagem | Como o vetor final vira uma distribuição sobre o vocabulário, e como se mede a perda e se gera texto com ela? |
# | 02 | Pesos amarrados | O que muda quando a entrada e a saída usam a mesma matriz? |
# | 03 | Lente de logits | O que cada camada "já acha" que vem a seguir? |
# | 04 | Monte o seu transformer | O que cada peça do transformer calcula, e você consegue reescrevê-lo e treiná-lo? |
# | 05 | Vendo ativações | Como visualizar atenção, direções principais (PCA) e neurônios? |
# | 06 | Cabeças de atenção movem informação | Como uma cabeça leva informação de uma posição para outra, e quais cabeças importam? |
# | 07 | Tipos de cabeças | Que cabeças olham o token anterior, o atual ou o primeiro? |
# | 08 | Cabeças de indução | Como o modelo continua um padrão que já viu no texto? |
# | 09 | Circuitos de indução | Como duas camadas de atenção se compõem para fazer isso? |
# | 10 | Patching de ativações | Por onde a informação passa de fato: que posição, que camada, que cabeça? |
#
# O tempo estimado de cada notebook e os pré-requisitos estão no mapa do curso,
# no README do repositório. Cada notebook abre com "O que você vai aprender", o
# tempo estimado e os pré-requisitos.
#
# **Próximo passo:** abra `exercises/00_boas_vindas.ipynb` e faça os
# exercícios deste tour (~20 min). Depois, siga para `notebooks/01_softmax_e_cabeca_lm.ipynb`.
