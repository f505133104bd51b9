# %% [markdown]
# # 10 · Exercícios: patching de ativações
#
# Você vai escrever as ferramentas de patching da lição (sem chamar `course_lib.patching`:
# as verificações recusam) e refazer com elas as duas descobertas: o circuito de indução e o
# caminho do número do sujeito até o verbo.
#
# **O que você vai praticar**
#
# - a métrica normalizada (0 no corrompido, 1 no limpo);
# - um gancho de patching, e com ele as varreduras do resíduo (camada × posição) e das
#   cabeças (cabeça, cabeça × posição);
# - o patching de caminho de uma cabeça para a consulta, a chave ou o valor de outra;
# - o patching por atribuição (gradiente) e a comparação com o patching de verdade;
# - duas investigações: o circuito de indução e a rota do número na concordância.
#
# **Tempo estimado:** ~90 min.
#
# **Pré-requisitos:** a lição 10.
#
# Cada exercício tem uma célula de verificação logo depois: rode-a para receber um retorno.
# Só as células de verificação falham enquanto o exercício não estiver resolvido.

# %%
from course_lib.notebook import setup

setup()

import torch

from course_lib import load_pretrained, plots
from course_lib.checks import check, when_solved
from course_lib.data import repeated_tokens

ind_model = load_pretrained("induction")
lm = load_pretrained("lm")


def r2(x) -> float:
    """Arredonda a 2 casas sem '-0.00'."""
    return round(float(x), 2) + 0.0


def row(values) -> str:
    return "  ".join(f"{r2(v):5.2f}" for v in values)


# O par de indução da lição: [BOS, x_1..x_10, x_1..x_4]; no corrompido, o x_4 da 1ª cópia é trocado.
N, J, BATCH = 10, 4, 16
toks = repeated_tokens(BATCH, N, ind_model.cfg.d_vocab, seed=0)
clean = toks[:, : N + 1 + J]
corrupted = clean.clone()
shift = torch.randint(1, ind_model.cfg.d_vocab - 1, (BATCH,), generator=torch.Generator().manual_seed(1))
corrupted[:, J] = (clean[:, J] - 1 + shift) % (ind_model.cfg.d_vocab - 1) + 1
answer = toks[:, J + 1]
with torch.no_grad():
    last = ind_model(corrupted)[:, -1].clone()
last[torch.arange(BATCH), answer] = -float("inf")
wrong = last.argmax(-1)
IND = (ind_model, clean, corrupted, answer, wrong)

# O par de concordância: só o número do sujeito muda.
ids = lambda w: lm.to_tokens(w, prepend_bos=False)[0, :1]  # noqa: E731
AGREE = (lm, lm.to_tokens("o gato que os meninos viram"), lm.to_tokens("os gatos que os meninos viram"),
         ids("dorme"), ids("dormem"))
agree_labels = [f"{i}:{a}" if a == b else f"{i}:{a}/{b}"
                for i, (a, b) in enumerate(zip(lm.to_str_tokens(AGREE[1]), lm.to_str_tokens(AGREE[2])))]
ind_labels = [f"{i}:{a}" if a == b else f"{i}:{a}/{b}" for i, (a, b) in enumerate(zip(clean[0].tolist(), corrupted[0].tolist()))]
print(f"indução: lote {tuple(clean.shape)} | concordância: {lm.to_str_tokens(AGREE[1])}")

# %% [markdown]
# ## Exercício 10.normalized_logit_diff · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** a métrica normalizada da lição: a diferença de logits
# $\text{logit}(\text{resposta}) - \text{logit}(\text{errada})$ na **última** posição, média
# no lote, levada a 0 no corrompido e 1 no limpo:
# $(\mathrm{LD} - \mathrm{LD}_{\text{corr}}) / (\mathrm{LD}_{\text{limpo}} - \mathrm{LD}_{\text{corr}})$.
#
# `logits` [batch, pos, d_vocab]; `answer`, `wrong`: LongTensor [batch] (um id por exemplo);
# `clean_diff`, `corrupted_diff`: floats. Devolva um `float`.

# %% tags=["exercise"] exercise="10.normalized_logit_diff" points=1
def normalized_logit_diff(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor,
                          clean_diff: float, corrupted_diff: float) -> float:
    """Métrica normalizada: 0 quando a LD média é a corrompida, 1 quando é a limpa."""
    # BEGIN SOLUCAO
    rows = torch.arange(logits.shape[0])
    diff = logits[rows, -1, answer] - logits[rows, -1, wrong]
    return ((diff.mean() - corrupted_diff) / (clean_diff - corrupted_diff)).item()
    # END SOLUCAO


# %% tags=["check"]
check("10.normalized_logit_diff", normalized_logit_diff)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Primeiro a diferença de logits de cada exemplo do lote, só na última posição; depois a
# média; por último a normalização. Confira: com LD = LD_corr a métrica é 0.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `logits[:, -1]` é [batch, d_vocab]; para pegar um id diferente por linha use
# `torch.arange(batch)` como índice das linhas (ou `gather`).
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `d = logits[r, -1, answer] - logits[r, -1, wrong]` com `r = torch.arange(batch)`; devolva
# `((d.mean() - corrupted_diff) / (clean_diff - corrupted_diff)).item()`.
#
# </details>

# %% [markdown]
# Com a sua métrica, os dois extremos no par de indução:

# %%
with when_solved("a métrica nas rodadas limpa e corrompida"):
    with torch.no_grad():
        cl, co = ind_model(clean), ind_model(corrupted)
    rows_ = torch.arange(BATCH)
    ld_c = (cl[rows_, -1, answer] - cl[rows_, -1, wrong]).mean().item()
    ld_k = (co[rows_, -1, answer] - co[rows_, -1, wrong]).mean().item()
    print(f"limpo: {r2(normalized_logit_diff(cl, answer, wrong, ld_c, ld_k)):.2f} | "
          f"corrompido: {r2(normalized_logit_diff(co, answer, wrong, ld_c, ld_k)):.2f}")

# %% [markdown]
# ## Exercício 10.patch_hook · Dificuldade ★☆☆ · ~5 min
#
# **Objetivo:** o gancho de patching. Ele recebe a ativação da rodada corrompida `act` e
# devolve um tensor **novo** igual a `act`, exceto em `act[:, pos]` (ou `act[:, pos, head]`
# quando `head` é dado), que vem de `clean_act`. `pos=None` quer dizer todas as posições.
# Serve para o resíduo [batch, pos, d_model] e para `hook_z` [batch, pos, head, d_head].
#
# Não modifique `act` no lugar (a verificação recusa). Para usá-lo num forward, fixe os
# outros argumentos: `lambda act, hook: patch_hook(act, hook, clean_act, 3)`.

# %% tags=["exercise"] exercise="10.patch_hook" points=1
def patch_hook(act: torch.Tensor, hook, clean_act: torch.Tensor, pos, head=None) -> torch.Tensor:
    """Cópia de `act` com a posição `pos` (e a cabeça `head`, se dada) vinda de `clean_act`."""
    # BEGIN SOLUCAO
    out = act.clone()
    where = slice(None) if pos is None else pos
    if head is None:
        out[:, where] = clean_act[:, where]
    else:
        out[:, where, head] = clean_act[:, where, head]
    return out
    # END SOLUCAO


# %% tags=["check"]
check("10.patch_hook", patch_hook)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Faça uma cópia primeiro e escreva só na cópia. O eixo 0 é o lote (fica inteiro), o eixo 1
# é a posição, o eixo 2 (em `hook_z`) é a cabeça.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `act.clone()`; `slice(None)` é o `:` de uma indexação, útil quando `pos` é None.
#
# </details>

# %% [markdown]
# ## Exercício 10.resid_patching_sweep · Dificuldade ★★☆ · ~15 min
#
# **Objetivo:** a varredura do fluxo residual: para cada camada $l$ e posição $p$, rode o
# **corrompido** com o `blocks.{l}.hook_resid_pre` da rodada **limpa** restaurado só na
# posição $p$, e guarde a métrica normalizada. Devolva [n_layers, pos].
#
# Use o seu `patch_hook` e a sua `normalized_logit_diff`; `answer` e `wrong` são
# LongTensor [batch]. Rode sem gradiente (`torch.no_grad()`).

# %% tags=["exercise"] exercise="10.resid_patching_sweep" points=2
def resid_patching_sweep(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor,
                         answer: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    """Métrica normalizada ao restaurar o resíduo limpo em cada (camada, posição): [n_layers, pos]."""
    # BEGIN SOLUCAO
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean_tokens)
        corr_logits = model(corrupted_tokens)
    b = torch.arange(clean_tokens.shape[0])
    clean_diff = (clean_logits[b, -1, answer] - clean_logits[b, -1, wrong]).mean().item()
    corr_diff = (corr_logits[b, -1, answer] - corr_logits[b, -1, wrong]).mean().item()
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
    result = torch.zeros(len(names), clean_tokens.shape[1])
    for layer, name in enumerate(names):
        for pos in range(clean_tokens.shape[1]):
            fn = lambda act, hook, pos=pos: patch_hook(act, hook, clean_cache[name], pos)  # noqa: E731
            with torch.no_grad():
                logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, fn)])
            result[layer, pos] = normalized_logit_diff(logits, answer, wrong, clean_diff, corr_diff)
    return result
    # END SOLUCAO


# %% tags=["check"]
check("10.resid_patching_sweep", resid_patching_sweep)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Três rodadas de referência antes do laço: a limpa (com cache), a corrompida, e as duas
# diferenças de logits que a normalização usa. Depois, um forward corrompido por célula.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `model.run_with_cache(clean_tokens)` dá o cache limpo (`cache[f"blocks.{l}.hook_resid_pre"]`);
# `model.run_with_hooks(corrupted_tokens, fwd_hooks=[(nome, fn)])` roda com o gancho. Num
# laço, fixe `pos` na lambda (`lambda act, hook, pos=pos: ...`), senão todas usam o último.
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# Para cada `layer` e `pos`: `fn = lambda act, hook, pos=pos: patch_hook(act, hook,
# clean_cache[nome], pos)`, `logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(nome, fn)])`
# e `result[layer, pos] = normalized_logit_diff(logits, answer, wrong, clean_diff, corr_diff)`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** no par de concordância, qual posição da camada 0 carrega o número do
# sujeito: a do artigo, a do substantivo ou a de "meninos"?

# %%
with when_solved("a varredura do resíduo nos dois casos"):
    grid_ind = resid_patching_sweep(*IND)
    grid_lm = resid_patching_sweep(*AGREE)
    print("indução:", *(f"\n  L{l}: {row(grid_ind[l])}" for l in range(2)))
    print("concordância:", *(f"\n  L{l}: {row(grid_lm[l])}" for l in range(3)))
    display(plots.plot_patching(grid_lm, [f"L{l}" for l in range(3)], agree_labels,
                                title="Concordância: patching do resíduo (sua varredura)"))

# %% [markdown]
# ## Exercício 10.head_patching_sweep · Dificuldade ★★☆ · ~10 min
#
# **Objetivo:** a varredura das cabeças: restaure a saída limpa (`blocks.{l}.attn.hook_z`) de
# UMA cabeça por vez na rodada corrompida. Com `per_position=False`, em todas as posições de
# uma vez: [n_layers, n_heads]; com `per_position=True`, uma posição por vez:
# [n_layers, n_heads, pos].

# %% tags=["exercise"] exercise="10.head_patching_sweep" points=2
def head_patching_sweep(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor,
                        answer: torch.Tensor, wrong: torch.Tensor, per_position: bool = False) -> torch.Tensor:
    """Métrica ao restaurar cada cabeça: [n_layers, n_heads] ou [n_layers, n_heads, pos]."""
    # BEGIN SOLUCAO
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean_tokens)
        corr_logits = model(corrupted_tokens)
    b = torch.arange(clean_tokens.shape[0])
    clean_diff = (clean_logits[b, -1, answer] - clean_logits[b, -1, wrong]).mean().item()
    corr_diff = (corr_logits[b, -1, answer] - corr_logits[b, -1, wrong]).mean().item()
    positions = list(range(clean_tokens.shape[1])) if per_position else [None]
    result = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, len(positions))
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            for i, pos in enumerate(positions):
                fn = lambda act, hook, pos=pos, head=head: patch_hook(act, hook, clean_cache[name], pos, head)  # noqa: E731
                with torch.no_grad():
                    logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, fn)])
                result[layer, head, i] = normalized_logit_diff(logits, answer, wrong, clean_diff, corr_diff)
    return result if per_position else result[:, :, 0]
    # END SOLUCAO


# %% tags=["check"]
check("10.head_patching_sweep", head_patching_sweep)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É a varredura anterior com um laço a mais (as cabeças) e outro gancho (`hook_z`, que tem o
# eixo das cabeças). O seu `patch_hook` já sabe trocar uma cabeça só.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Sem `per_position`, passe `pos=None` ao `patch_hook` (todas as posições). Fixe `pos` e
# `head` na lambda. Confira a forma de saída nos dois modos.
#
# </details>

# %%
with when_solved("as cabeças dos dois casos"):
    heads_ind = head_patching_sweep(*IND)
    heads_ind_pos = head_patching_sweep(*IND, per_position=True)
    heads_lm = head_patching_sweep(*AGREE)
    for l in range(2):
        print(f"indução L{l}: " + "  ".join(f"H{h} {r2(heads_ind[l, h]):.2f}" for h in range(4)))
    for l in range(3):
        print(f"concordância L{l}: " + "  ".join(f"H{h} {r2(heads_lm[l, h]):.2f}" for h in range(4)))
    display(plots.plot_patching(heads_ind_pos.flatten(0, 1), [f"L{l}H{h}" for l in range(2) for h in range(4)],
                                ind_labels, ylabel="cabeça", title="Indução: cabeça × posição (sua varredura)"))

# %% [markdown]
# ## Exercício 10.path_patch_head · Dificuldade ★★★ · ~15 min
#
# **Objetivo:** o patching de caminho da lição. A saída limpa da cabeça `sender` = [l, h]
# chega **só** à entrada `which` (`"q"`, `"k"` ou `"v"`) da cabeça `receiver`; o resto do
# modelo vê a rodada corrompida. Devolva a métrica normalizada (float).
#
# A nova entrada da receptora é
# $\mathrm{LN}\big(\text{resid}^{\text{corr}}_{\text{pre}} + \text{saída}^{\text{limpa}} - \text{saída}^{\text{corr}}\big)\,W + b$,
# em que a saída da emissora é `z[:, :, h] @ W_O[l, h]`, o resíduo é o `hook_resid_pre` da
# camada da receptora, LN é `model.blocks[camada].ln1` (uma identidade no modelo sem
# LayerNorm) e $W, b$ são `W_Q/b_Q`, `W_K/b_K` ou `W_V/b_V` da receptora. Troque só a cabeça
# receptora em `blocks.{camada}.attn.hook_q` (ou `hook_k`, `hook_v`).

# %% tags=["exercise"] exercise="10.path_patch_head" points=3
def path_patch_head(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor, answer: torch.Tensor,
                    wrong: torch.Tensor, sender, receiver, which: str) -> float:
    """Métrica quando a emissora limpa chega só à entrada `which` da receptora."""
    # BEGIN SOLUCAO
    (ls, hs), (lr, hr) = sender, receiver
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean_tokens)
        corr_logits, corr_cache = model.run_with_cache(corrupted_tokens)
        b = torch.arange(clean_tokens.shape[0])
        clean_diff = (clean_logits[b, -1, answer] - clean_logits[b, -1, wrong]).mean().item()
        corr_diff = (corr_logits[b, -1, answer] - corr_logits[b, -1, wrong]).mean().item()
        W_O = model.W_O[ls, hs]
        delta = clean_cache[f"blocks.{ls}.attn.hook_z"][:, :, hs] @ W_O - corr_cache[f"blocks.{ls}.attn.hook_z"][:, :, hs] @ W_O
        x = model.blocks[lr].ln1(corr_cache[f"blocks.{lr}.hook_resid_pre"] + delta)
        attn = model.blocks[lr].attn
        W = {"q": attn.W_Q, "k": attn.W_K, "v": attn.W_V}[which][hr]
        bias = {"q": attn.b_Q, "k": attn.b_K, "v": attn.b_V}[which][hr]
        new = (x @ W + bias)[:, :, None].expand(-1, -1, model.cfg.n_heads, -1)
        name = f"blocks.{lr}.attn.hook_{which}"
        logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[
            (name, lambda act, hook: patch_hook(act, hook, new, None, hr))])
    return normalized_logit_diff(logits, answer, wrong, clean_diff, corr_diff)
    # END SOLUCAO


# %% tags=["check"]
check("10.path_patch_head", path_patch_head)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Você precisa das duas rodadas em cache: da limpa, a saída da emissora; da corrompida, a
# saída da emissora e o resíduo que entra na camada da receptora. A diferença das duas
# saídas é a única coisa que muda no que a receptora lê.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `cache[f"blocks.{l}.attn.hook_z"][:, :, h] @ model.W_O[l, h]` é a saída da cabeça
# [batch, pos, d_model]; `model.blocks[l].attn.W_K[h]` é [d_model, d_head]. O gancho em
# `hook_k` recebe [batch, pos, n_heads, d_head]: troque só `[:, :, h_receptora]` (o seu
# `patch_hook` com `pos=None` faz isso, se o tensor novo tiver o eixo das cabeças).
#
# </details>
#
# <details><summary>💡 Dica 3 · quase a solução</summary>
#
# `x = model.blocks[lr].ln1(resid_corr + saida_limpa - saida_corr)`, `novo = x @ W[hr] + b[hr]`,
# e um forward corrompido com o gancho `(f"blocks.{lr}.attn.hook_{which}", fn)` que põe `novo`
# na cabeça `hr`.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** de L0H0 para L1H2 no modelo de indução, qual entrada recupera a métrica?

# %%
with when_solved("os três caminhos de L0H0 para L1H2"):
    for w in "qkv":
        print(f"L0H0 → {w.upper()} de L1H2: {r2(path_patch_head(*IND, [0, 0], [1, 2], w)):.2f}")

# %% [markdown]
# ## Exercício 10.attribution_patching · Dificuldade ★★☆ · ~15 min
#
# **Objetivo:** a aproximação de `resid_patching_sweep` pelo gradiente: numa só rodada
# corrompida, guarde `hook_resid_pre` de cada camada (sem `detach`), calcule a métrica
# normalizada, tire o gradiente dela em relação a essas ativações e devolva
# $\sum_{\text{lote},\,d}(a^{\text{limpa}} - a^{\text{corr}})\,\partial\text{métrica}/\partial a$
# por (camada, posição): [n_layers, pos].
#
# Dois jeitos de pegar o gradiente de uma ativação intermediária: `torch.autograd.grad(métrica,
# [tensores guardados])`, ou `act.register_hook(fn)` dentro do gancho de forward e
# `métrica.backward()`.

# %% tags=["exercise"] exercise="10.attribution_patching" points=2
def attribution_patching(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor,
                         answer: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    """Patching por atribuição do resíduo: [n_layers, pos]."""
    # BEGIN SOLUCAO
    names = [f"blocks.{l}.hook_resid_pre" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean_tokens)
        corr_logits = model(corrupted_tokens)
    b = torch.arange(clean_tokens.shape[0])
    clean_diff = (clean_logits[b, -1, answer] - clean_logits[b, -1, wrong]).mean().item()
    corr_diff = (corr_logits[b, -1, answer] - corr_logits[b, -1, wrong]).mean().item()
    saved = {}

    def save(act, hook):
        saved[hook.name] = act

    logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(n, save) for n in names])
    diff = (logits[b, -1, answer] - logits[b, -1, wrong]).mean()
    metric = (diff - corr_diff) / (clean_diff - corr_diff)
    grads = torch.autograd.grad(metric, [saved[n] for n in names])
    rows = [((clean_cache[n] - saved[n].detach()) * g).sum(dim=(0, 2)) for n, g in zip(names, grads)]
    return torch.stack(rows)
    # END SOLUCAO


# %% tags=["check"]
check("10.attribution_patching", attribution_patching)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# É a mesma métrica, só que calculada com gradiente, sem `no_grad` na rodada corrompida. O
# gradiente se tira no ponto **corrompido** (é nele que o patch é aplicado), e a ativação
# multiplica como diferença limpa − corrompida.
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Um gancho que só guarda (`saved[hook.name] = act`, devolve None) em cada `hook_resid_pre`;
# `torch.autograd.grad(metric, lista)` devolve uma tupla de gradientes com as formas das
# ativações [batch, pos, d_model]; some nos eixos 0 e 2.
#
# </details>

# %% [markdown]
# ✍️ **Preveja:** no par de indução, a atribuição vai acertar as duas células que valiam 1?

# %%
with when_solved("a atribuição ao lado do patching"):
    approx = attribution_patching(*IND)
    exact = resid_patching_sweep(*IND)
    for l in range(2):
        print(f"L{l} patching:   {row(exact[l])}\nL{l} atribuição: {row(approx[l])}")
    worst = (exact - approx).abs().max().item()
    print(f"maior |patching - atribuição|: {'> 0,5 (a aproximação falha onde mais importa)' if worst > 0.5 else worst}")

# %% [markdown]
# ## Exercício 10.find_induction_circuit · Dificuldade ★★☆ · ~10 min · investigação
#
# **Objetivo:** com as suas funções, descubra no par de indução dado:
#
# - `"previous_token_head"`: a cabeça da camada 0 que carrega a informação corrompida, como
#   [camada, cabeça], e `"previous_token_position"`: a posição (int) em que restaurá-la devolve
#   a métrica;
# - `"induction_head"`: uma cabeça de camada ≥ 1 que lê essa informação na última posição;
# - `"composition"`: por qual entrada da cabeça de indução a informação chega (`"q"`, `"k"`
#   ou `"v"`).
#
# Devolva um dict com essas quatro chaves. A verificação aceita qualquer cabeça de indução com
# pelo menos metade do efeito da melhor.

# %% tags=["exercise"] exercise="10.find_induction_circuit" points=2 kind="investigation"
def find_induction_circuit(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor,
                           answer: torch.Tensor, wrong: torch.Tensor) -> dict:
    """A descoberta: cabeça e posição de token anterior, cabeça de indução e a composição."""
    # BEGIN SOLUCAO
    grid = head_patching_sweep(model, clean_tokens, corrupted_tokens, answer, wrong, per_position=True)
    last = grid.shape[-1] - 1
    layer0 = grid[0, :, :last]
    prev_head, prev_pos = divmod(int(layer0.argmax()), layer0.shape[1])
    later = grid[1:, :, last]
    ind_layer, ind_head = divmod(int(later.argmax()), model.cfg.n_heads)
    receiver = [ind_layer + 1, ind_head]
    effects = {w: path_patch_head(model, clean_tokens, corrupted_tokens, answer, wrong, [0, prev_head], receiver, w)
               for w in "qkv"}
    return {"previous_token_head": [0, prev_head], "previous_token_position": prev_pos,
            "induction_head": receiver, "composition": max(effects, key=effects.get)}
    # END SOLUCAO


# %% tags=["check"]
check("10.find_induction_circuit", find_induction_circuit)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Três medidas, uma por pergunta: onde (cabeça × posição, na camada 0), quem lê (a coluna da
# última posição nas camadas seguintes) e por onde (um caminho para cada entrada).
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# `head_patching_sweep(..., per_position=True)` e o `argmax` de uma fatia (com `divmod` para
# voltar a (linha, coluna)); depois `path_patch_head` com `which` = "q", "k" e "v".
#
# </details>

# %%
with when_solved("a sua descoberta no circuito de indução"):
    print(find_induction_circuit(*IND))

# %% [markdown]
# ## Exercício 10.find_number_route · Dificuldade ★★☆ · ~10 min · investigação
#
# **Objetivo:** no par de concordância, descubra por onde o número do sujeito viaja:
#
# - `"source_position"`: a posição em que, na camada 0, o resíduo limpo devolve a métrica;
# - `"relay_position"`: uma posição intermediária (nem a origem, nem a última) que, na
#   camada 1, carrega o número (efeito ≥ 0,25);
# - `"head"`: a cabeça [camada, cabeça] cuja saída, restaurada em todas as posições, mais
#   devolve a métrica.
#
# Confira o resultado com a gramática: "meninos" (posições 4–5) não deve ser a origem. A
# verificação oculta usa outra frase ("a menina que os gatos amam" ou "o menino que as
# meninas viram"), então não escreva posições fixas.

# %% tags=["exercise"] exercise="10.find_number_route" points=2 kind="investigation"
def find_number_route(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor,
                      answer: torch.Tensor, wrong: torch.Tensor) -> dict:
    """A rota do número: origem (camada 0), escala (camada 1) e a cabeça principal."""
    # BEGIN SOLUCAO
    grid = resid_patching_sweep(model, clean_tokens, corrupted_tokens, answer, wrong)
    heads = head_patching_sweep(model, clean_tokens, corrupted_tokens, answer, wrong)
    last = grid.shape[1] - 1
    source = int(grid[0, :last].argmax())
    layer1 = grid[1].clone()
    layer1[[0, source, last]] = float("-inf")
    layer, head = divmod(int(heads.argmax()), model.cfg.n_heads)
    return {"source_position": source, "relay_position": int(layer1.argmax()), "head": [layer, head]}
    # END SOLUCAO


# %% tags=["check"]
check("10.find_number_route", find_number_route)

# %% [markdown]
# <details><summary>💡 Dica 1 · um empurrão</summary>
#
# Duas varreduras respondem às três perguntas: a do resíduo (linhas das camadas 0 e 1) e a
# das cabeças (sem `per_position`).
#
# </details>
#
# <details><summary>💡 Dica 2 · onde olhar</summary>
#
# Para a escala, exclua da linha da camada 1 a origem e a última posição antes do `argmax`
# (ponha `-inf` nelas numa cópia).
#
# </details>

# %% [markdown]
# A sua descoberta nos três modelos de frase, com o controle da lição (o número do objeto não
# deve ser a origem):

# %%
with when_solved("a rota do número nos três modelos de frase"):
    for c, k, a, w in [("o gato que os meninos viram", "os gatos que os meninos viram", "dorme", "dormem"),
                       ("a menina que os gatos amam", "as meninas que os gatos amam", "canta", "cantam"),
                       ("o menino que as meninas viram", "os meninos que as meninas viram", "dorme", "dormem")]:
        found = find_number_route(lm, lm.to_tokens(c), lm.to_tokens(k), ids(a), ids(w))
        words = lm.to_str_tokens(lm.to_tokens(c))
        print(f"{c!r}: origem {found['source_position']}:{words[found['source_position']]} | escala "
              f"{found['relay_position']}:{words[found['relay_position']]} | cabeça L{found['head'][0]}H{found['head'][1]}")
