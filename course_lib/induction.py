"""Sondas de indução e de aprendizado em contexto.

Uma cabeça de indução completa o padrão [A][B] ... [A] -> [B]. O teste clássico:
sequências aleatórias repetidas [BOS, x_1..x_n, x_1..x_n]. Na 1ª cópia nada é
previsível (perda ≈ log d_vocab); na 2ª, um modelo com indução acerta quase tudo.

Convenção de posições: `per_position_loss(...)[t]` é a perda ao prever tokens[:, t+1]
a partir de tokens[:, :t+1]; dizemos que é a perda "no token t+1".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._interp_utils import check_int, check_model, check_repeated, check_tokens


def make_repeated_batch(model, batch: int = 8, seq_len: int | None = None, seed: int = 0) -> torch.Tensor:
    """Lote [batch, 1 + 2·seq_len] = [BOS, x_1..x_n, x_1..x_n], no dispositivo do modelo.

    Usa `course_lib.data.repeated_tokens` (tokens 1..d_vocab-1 sorteados, sem o BOS).
    seq_len: padrão (n_ctx - 1) // 2, o maior que cabe no contexto. Determinístico dado `seed`.
    """
    from .data import repeated_tokens

    fn = "make_repeated_batch"
    check_model(model, fn)
    batch = check_int(batch, fn, "batch", 1)
    max_len = (model.cfg.n_ctx - 1) // 2
    if max_len < 1:
        raise ValueError(f"{fn}: o contexto do modelo (n_ctx = {model.cfg.n_ctx}) não comporta duas cópias.")
    seq_len = max_len if seq_len is None else check_int(seq_len, fn, "seq_len", 1, max_len)
    seed = check_int(seed, fn, "seed", 0)
    if model.cfg.d_vocab < 2:
        raise ValueError(f"{fn}: é preciso d_vocab >= 2 (o BOS e pelo menos um token); o modelo tem {model.cfg.d_vocab}.")
    bos = model.tokenizer.bos_token_id if model.tokenizer is not None else 0
    tokens = repeated_tokens(batch, seq_len, model.cfg.d_vocab, seed=seed, bos=bos)
    return tokens.to(model.W_E.device)


def per_position_logprob_correct(model, tokens) -> torch.Tensor:
    """log p(token correto) em cada posição: [batch, pos-1] (a posição t prevê tokens[:, t+1])."""
    fn = "per_position_logprob_correct"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn, min_pos=2)
    with torch.no_grad():
        logits = model(tokens)
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1)
    return log_probs.gather(-1, tokens[:, 1:, None])[..., 0]


def per_position_loss(model, tokens) -> torch.Tensor:
    """Perda (entropia cruzada) em cada posição, na média do lote: [pos-1]."""
    fn = "per_position_loss"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn, min_pos=2)
    with torch.no_grad():
        loss = model(tokens, return_type="loss", loss_per_token=True)  # [batch, pos-1]
    return loss.mean(0)


def in_context_learning_score(model, tokens, early: int | None = None, late: int | None = None) -> float:
    """Escore de aprendizado em contexto (Olsson et al., 2022): perda(late) - perda(early).

    Olsson et al. usam a perda no 500º token menos a do 50º, com contexto de 512: um
    valor negativo quer dizer que tokens mais tardios, com mais contexto, são previstos
    melhor. Aqui `early` e `late` são índices do token previsto (1..pos-1, a perda em
    `per_position_loss(...)[t-1]`), na média do lote. Para contextos curtos
    adaptamos a proporção do artigo (50/512 ≈ 10% e o fim do contexto): por padrão
    early = max(1, round((pos-1)/10)) e late = pos-1 (o último token). Com poucos
    exemplos o valor é ruidoso: use um lote grande.
    """
    fn = "in_context_learning_score"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn, min_pos=3)
    last = tokens.shape[1] - 1
    early = max(1, round(last / 10)) if early is None else check_int(early, fn, "early", 1, last)
    late = last if late is None else check_int(late, fn, "late", 1, last)
    if early >= late:
        raise ValueError(f"{fn}: `early` ({early}) deve ser menor que `late` ({late}).")
    loss = per_position_loss(model, tokens)
    return float(loss[late - 1] - loss[early - 1])


def repeated_half_loss(model, tokens, seq_len: int) -> tuple[float, float]:
    """Perda média na 1ª e na 2ª cópia de [BOS, x_1..x_n, x_1..x_n] (n = seq_len).

    1ª cópia: tokens previstos x_1..x_n (posições 1..n). 2ª cópia: x_2..x_n (posições
    n+2 em diante); o x_1 da 2ª cópia fica de fora porque a transição x_n -> x_1 nunca
    apareceu antes, então nem a indução o prevê. Devolve (perda_1a_cópia, perda_2a_cópia).
    """
    fn = "repeated_half_loss"
    check_model(model, fn)
    seq_len = check_int(seq_len, fn, "seq_len", 1)
    tokens = check_tokens(model, tokens, fn)
    check_repeated(tokens, seq_len, fn)
    if tokens.shape[1] < seq_len + 3:
        raise ValueError(f"{fn}: com `seq_len` = {seq_len} são precisas pelo menos {seq_len + 3} posições; "
                         f"veio formato {tuple(tokens.shape)}.")
    loss = per_position_loss(model, tokens)  # loss[t-1] = perda no token t
    return float(loss[:seq_len].mean()), float(loss[seq_len + 1:].mean())


def seen_once_twice_mass(model, tokens, seq_len: int) -> dict:
    """Para onde vai a probabilidade no resto da 2ª cópia de [BOS, x_1..x_n, x_1..x_n].

    Na posição t = n+i (token atual x_i, prevendo x_{i+1}), o contexto já mostrou
    x_1..x_i duas vezes e x_{i+1}..x_n uma vez. O token certo foi visto uma vez: um
    modelo sem indução ainda pode apostar em "algum token visto uma vez só". Devolve,
    na média das posições t = n+1..2n-1 e do lote: a massa de probabilidade nos tokens
    vistos uma vez ("seen_once"), nos vistos duas vezes ("seen_twice") e no token certo
    ("correct"), e a perda de quem divide a aposta por igual entre os vistos uma vez
    ("split_once_loss", a média de log(quantos são)).
    """
    fn = "seen_once_twice_mass"
    check_model(model, fn)
    seq_len = check_int(seq_len, fn, "seq_len", 2)
    tokens = check_tokens(model, tokens, fn)
    check_repeated(tokens, seq_len, fn)
    with torch.no_grad():
        probs = torch.softmax(model(tokens).float(), dim=-1)  # [batch, pos, d_vocab]
    counts = torch.zeros_like(probs)
    counts.scatter_add_(2, tokens[:, :, None].expand(-1, -1, 1), torch.ones_like(probs[..., :1]))
    counts[:, 0] = 0.0  # o BOS não conta como token visto
    counts = counts.cumsum(1)  # counts[b, t, v] = vezes que v apareceu em tokens[b, 1..t]
    t = torch.arange(seq_len + 1, 2 * seq_len)
    p, c = probs[:, t], counts[:, t]
    once, twice = (c == 1).float(), (c == 2).float()
    return {
        "seen_once": float((p * once).sum(-1).mean()),
        "seen_twice": float((p * twice).sum(-1).mean()),
        "correct": float(p.gather(-1, tokens[:, t + 1, None]).mean()),
        "split_once_loss": float(once.sum(-1).clamp(min=1).log().mean()),
    }


def phase_change_step(steps, loss, window: int = 5) -> int:
    """Passo da mudança de fase medido pela INCLINAÇÃO de uma curva de perda.

    Suaviza a perda com uma média móvel centrada de `window` pontos e devolve o passo
    onde ela cai mais depressa (a derivada mais negativa, em nats por passo). Não olha
    para nenhum limiar de outra métrica: a marca sai da própria curva.
    """
    fn = "phase_change_step"
    steps = torch.as_tensor(steps, dtype=torch.float64)
    loss = torch.as_tensor(loss, dtype=torch.float64)
    if steps.ndim != 1 or steps.shape != loss.shape or len(steps) < window + 2:
        raise ValueError(f"{fn}: `steps` e `loss` devem ser listas de mesmo tamanho, com pelo menos "
                         f"{window + 2} pontos; vieram {tuple(steps.shape)} e {tuple(loss.shape)}.")
    window = check_int(window, fn, "window", 1)
    kernel = torch.ones(1, 1, window, dtype=torch.float64) / window
    smooth = torch.nn.functional.conv1d(loss[None, None], kernel)[0, 0]  # pontos centrais
    centre = steps[window // 2: window // 2 + len(smooth)]
    slope = (smooth[1:] - smooth[:-1]) / (centre[1:] - centre[:-1])
    i = int(slope.argmin())
    return int(round(float((centre[i] + centre[i + 1]) / 2)))


def repeated_span_loss(model, tokens, sources, mask=None) -> tuple[float, float]:
    """Perda média nas 2ª ocorrências de trechos repetidos e nas 1ª ocorrências correspondentes.

    sources [batch, pos]: para cada token, a posição da ocorrência anterior que ele
    repete, ou -1 (como devolve `PtPassages.make_dataset(..., return_sources=True)`).
    Contam os tokens q de uma repetição cujo token anterior também repete o anterior
    da fonte (sources[q-1] = sources[q] - 1): o 1º token de cada trecho repetido fica
    de fora, porque nada no contexto diz que a repetição vai começar. Para cada q
    assim, compara a perda no token q (2ª ocorrência) com a perda no token sources[q]
    (1ª ocorrência, o mesmo token num contexto sem a cópia). Devolve
    (perda_1a_ocorrência, perda_2a_ocorrência), nas mesmas palavras, em pares.
    mask [batch, pos] (opcional, bool): conta só os tokens q com mask[q] verdadeiro (p. ex. só
    os trechos sorteados de `PtPassages.make_dataset(..., return_random=True)`).
    """
    fn = "repeated_span_loss"
    check_model(model, fn)
    tokens = check_tokens(model, tokens, fn, min_pos=2)
    if not isinstance(sources, torch.Tensor) or sources.shape != tokens.shape or sources.is_floating_point():
        got = tuple(sources.shape) if isinstance(sources, torch.Tensor) else type(sources).__name__
        raise ValueError(f"{fn}: `sources` deve ser um tensor de inteiros com o formato de `tokens` "
                         f"{tuple(tokens.shape)}; veio {got}.")
    sources = sources.to(tokens.device).long()
    pos = torch.arange(tokens.shape[1], device=tokens.device)
    if ((sources >= pos) | (sources < -1)).any():
        raise ValueError(f"{fn}: `sources` deve apontar para posições anteriores (0 <= sources[q] < q) ou ser -1.")
    src = sources.clamp(min=0)
    if not torch.equal(tokens.gather(1, src)[sources >= 0], tokens[sources >= 0]):
        raise ValueError(f"{fn}: em `sources`, o token da posição de origem difere do token repetido.")
    inside = torch.zeros_like(sources, dtype=torch.bool)
    inside[:, 1:] = (sources[:, 1:] >= 1) & (sources[:, :-1] == sources[:, 1:] - 1)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != tokens.shape:
            got = f"{mask.dtype}, {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"{fn}: `mask` deve ser um tensor bool com o formato de `tokens` "
                             f"{tuple(tokens.shape)}; veio {got}.")
        inside &= mask.to(tokens.device)
    if not inside.any():
        raise ValueError(f"{fn}: nenhum trecho repetido com pelo menos 2 tokens em `tokens`.")
    with torch.no_grad():
        loss = model(tokens, return_type="loss", loss_per_token=True)  # loss[:, t-1] = perda no token t
    b, q = inside.nonzero(as_tuple=True)
    return float(loss[b, sources[b, q] - 1].mean()), float(loss[b, q - 1].mean())
