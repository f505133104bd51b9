"""Passagens com repetições (PtPassages), perda em trechos repetidos e o checkpoint `lm_icl`."""
import math
import random

import pytest
import torch

from course_lib import Config, HookedTransformer, PtGrammar
from course_lib.data import P_ADJ_SUBJ, PtPassages
from course_lib.induction import repeated_span_loss


@pytest.fixture(scope="module")
def passages():
    return PtPassages()


# ----------------------------------------------------------------------------- dados
def test_passages_are_deterministic_and_sources_point_to_earlier_copies(passages):
    tokens, sources = passages.make_dataset(64, 64, seed=3, return_sources=True)
    again, again_src = passages.make_dataset(64, 64, seed=3, return_sources=True)
    assert torch.equal(tokens, again) and torch.equal(sources, again_src)
    assert not torch.equal(tokens, passages.make_dataset(64, 64, seed=4))
    assert tokens.shape == sources.shape == (64, 64) and tokens.dtype == sources.dtype == torch.long
    assert (tokens[:, 0] == 0).all() and (tokens[:, 1:] != 0).all()
    pos = torch.arange(64)
    copied = sources >= 0
    assert ((sources < pos) | ~copied).all() and (sources >= -1).all()
    assert torch.equal(tokens.gather(1, sources.clamp(min=0))[copied], tokens[copied])
    frac = copied.float().mean().item()
    assert 0.15 < frac < 0.6, frac  # uma fração razoável do texto é repetição
    # ids da mesma sequência que sample_passage devolve, posição a posição
    ids, src = passages.sample_passage(random.Random(3), 64)
    assert ids == tokens[0].tolist() and src == sources[0].tolist()


def test_passages_without_repeats_have_the_grammar_probabilities():
    grammar = PtGrammar()
    plain = PtPassages(grammar, p_sentence=0.0, p_subject=0.0)
    tokens = plain.make_dataset(16, 48, seed=1)
    assert torch.equal(plain.optimal_loss_per_token(tokens), grammar.optimal_loss_per_token(tokens))
    # e com repetições as passagens são mais previsíveis
    rep = PtPassages(grammar)
    assert rep.optimal_loss(rep.make_dataset(64, 48, seed=1)) < grammar.optimal_loss(tokens) - 0.2


def test_next_token_probs_by_hand(passages):
    """Depois de "o gato dorme." o próximo "o gato" vem da cópia OU da gramática, com pesos conhecidos."""
    grammar, tok = passages.grammar, passages.tokenizer()
    ids = tok.encode("o gato dorme. o gato")
    probs = passages.next_token_probs(ids)
    assert probs.shape == (len(ids), passages.d_vocab)
    assert torch.allclose(probs.sum(-1), torch.ones(len(ids), dtype=torch.float64))
    ps, pe = passages.p_sentence, passages.p_subject
    fresh = 1 - ps - pe
    g = grammar.next_token_probs(tok.encode("o gato"))  # a gramática sozinha, do início de frase
    o, gato, dorme = (tok.to_single_token(w) for w in ("o", "gato", "dorme"))
    # 1ª frase: só a gramática
    assert torch.allclose(probs[:4], grammar.next_token_probs(ids[:4]))
    # depois do ".": p(o) = cópia da frase + cópia do sujeito + gramática
    assert probs[4, o].item() == pytest.approx(ps + pe + fresh * g[0, o].item(), abs=1e-12)
    # depois de "o": p(gato) = (ps + pe + f·g(o)·g(gato|o)) / (ps + pe + f·g(o))
    num = ps + pe + fresh * g[0, o].item() * g[1, gato].item()
    assert probs[5, gato].item() == pytest.approx(num / (ps + pe + fresh * g[0, o].item()), abs=1e-12)
    # depois de "o gato": a cópia da frase diz "dorme" com certeza; a do sujeito pula o adjetivo
    w_sent = ps / num
    w_subj = pe / num
    w_fresh = 1 - w_sent - w_subj
    want = w_sent + w_subj * g[2, dorme].item() / (1 - P_ADJ_SUBJ) + w_fresh * g[2, dorme].item()
    assert probs[6, dorme].item() == pytest.approx(want, abs=1e-12)


def test_sampled_passages_are_possible_and_optimal_loss_is_consistent(passages):
    tokens = passages.make_dataset(8, 64, seed=5)
    per_tok = passages.optimal_loss_per_token(tokens)
    assert per_tok.shape == (8, 63) and torch.isfinite(per_tok).all()
    probs = passages.next_token_probs(tokens[0])
    torch.testing.assert_close(per_tok[0], -probs[:-1].gather(1, tokens[0, 1:, None])[:, 0].log())
    assert passages.optimal_loss(tokens) == pytest.approx(per_tok.mean().item())


def test_passage_errors_are_in_portuguese(passages):
    tok = passages.tokenizer()
    with pytest.raises(ValueError, match="probabilidade 0"):
        passages.next_token_probs(tok.encode("o meninos"))
    with pytest.raises(ValueError, match="BOS"):
        passages.optimal_loss(torch.tensor([[3, 4, 5]]))
    with pytest.raises(ValueError, match="'p_sentence' \\+ 'p_subject' deve ser <= 1"):
        PtPassages(p_sentence=0.7, p_subject=0.5)
    with pytest.raises(ValueError, match="'p_subject' deve ser um número em \\[0, 1\\]"):
        PtPassages(p_subject=-0.1)
    with pytest.raises(TypeError, match="'rng' deve ser random.Random"):
        passages.sample_passage(0, 10)
    with pytest.raises(TypeError, match="'return_sources' deve ser True ou False"):
        passages.make_dataset(2, 8, return_sources=1)


# ----------------------------------------------------------------------------- perda nas repetições
def copy_hook(tokens, sources):
    """Logits: uniformes (0) em toda parte, exceto +100 no token certo onde o próximo token é cópia
    de dentro de um trecho (o mesmo critério de repeated_span_loss)."""
    inside = torch.zeros_like(sources, dtype=torch.bool)
    inside[:, 1:] = (sources[:, 1:] >= 1) & (sources[:, :-1] == sources[:, 1:] - 1)

    def hook(logits, hook):
        out = torch.zeros_like(logits)
        b, q = inside.nonzero(as_tuple=True)
        out[b, q - 1, tokens[b, q]] = 100.0
        return out
    return hook


def test_repeated_span_loss_with_a_hand_set_model():
    d_vocab = 12
    model = HookedTransformer(Config(n_layers=1, d_model=8, n_heads=2, d_vocab=d_vocab, n_ctx=16))
    # [BOS, 3 4 5 6, 7, 3 4 5 6, 8]: o trecho 3 4 5 6 se repete; conta 4 5 6 (o 3 da cópia fica de fora)
    tokens = torch.tensor([[0, 3, 4, 5, 6, 7, 3, 4, 5, 6, 8]])
    sources = torch.tensor([[-1, -1, -1, -1, -1, -1, 1, 2, 3, 4, -1]])
    with model.hooks([("unembed.hook_out", copy_hook(tokens, sources))]):
        first, second = repeated_span_loss(model, tokens, sources)
    assert first == pytest.approx(math.log(d_vocab), abs=1e-5) and second < 1e-5
    with pytest.raises(ValueError, match="`sources` deve ser um tensor de inteiros com o formato"):
        repeated_span_loss(model, tokens, sources[:, :-1])
    with pytest.raises(ValueError, match="o token da posição de origem difere"):
        repeated_span_loss(model, tokens, torch.tensor([[-1, -1, -1, -1, -1, -1, 2, 3, 4, 5, -1]]))
    with pytest.raises(ValueError, match="posições anteriores"):
        repeated_span_loss(model, tokens, torch.tensor([[-1, -1, -1, -1, -1, -1, 6, 7, 8, 9, -1]]))
    with pytest.raises(ValueError, match="nenhum trecho repetido"):
        repeated_span_loss(model, tokens, torch.full_like(tokens, -1))


def test_sampler_and_exact_probabilities_agree_on_a_repeated_paragraph():
    """Frequência, nas amostras, de "a 3ª frase repete a 2ª, dado que a 2ª repetiu a 1ª" contra a
    probabilidade exata do forward (média sobre as mesmas amostras): sorteio e forward concordam."""
    passages = PtPassages(p_sentence=0.3, p_subject=0.2, p_continue=0.7)
    rng, hits, exact = random.Random(0), [], []
    dot = passages.tokenizer().to_single_token(".")
    for _ in range(3000):
        ids, _ = passages.sample_passage(rng, 40)
        ends = [i for i, t in enumerate(ids) if t == dot]
        if len(ends) < 3:
            continue
        s1, s2, s3 = ids[1:ends[0] + 1], ids[ends[0] + 1:ends[1] + 1], ids[ends[1] + 1:ends[2] + 1]
        if s2 != s1:
            continue
        hits.append(float(s3 == s2))
        probs = passages.next_token_probs([0] + s1 + s1 + s1)
        start = 1 + 2 * len(s1)
        p = torch.tensor([probs[start - 1 + k, t] for k, t in enumerate(s1)]).prod().item()
        exact.append(p)
    n = len(hits)
    assert n > 500
    freq, want = sum(hits) / n, sum(exact) / n
    assert want > passages.p_continue  # a continuação pesa
    assert abs(freq - want) < 4 * math.sqrt(want * (1 - want) / n), (freq, want, n)


# ----------------------------------------------------------------------------- trechos sorteados
def test_random_spans_are_sampled_as_documented():
    """Trechos sorteados: comprimento em random_len, sem BOS nem "." dentro, terminam em ".", e a
    máscara `sorteado` marca exatamente eles e as cópias deles."""
    lo, hi = 3, 6
    rnd = PtPassages(p_sentence=0.4, p_subject=0.2, p_continue=0.5, p_random=0.5, random_len=(lo, hi))
    dot = rnd.tokenizer().to_single_token(".")
    tokens, sources, is_random = rnd.make_dataset(256, 64, seed=7, return_random=True)
    assert is_random.dtype == torch.bool and is_random.shape == tokens.shape
    assert torch.equal(rnd.make_dataset(256, 64, seed=7), tokens)  # as mesmas passagens sem a máscara
    copied = sources >= 0
    # uma cópia é de trecho sorteado exatamente quando a fonte dela é de trecho sorteado
    assert torch.equal(is_random.gather(1, sources.clamp(min=0))[copied], is_random[copied])
    lengths, grammar = [], rnd.grammar
    for row, mask in zip(tokens.tolist(), is_random.tolist()):
        start = 1
        for i in range(1, len(row)):
            if row[i] == dot:
                if all(mask[start:i + 1]) and i + 1 < len(row):
                    lengths.append(i - start)
                assert len(set(mask[start:i + 1])) == 1  # a frase inteira é sorteada ou não
                start = i + 1
    assert lengths and min(lengths) == lo and max(lengths) == hi, (min(lengths), max(lengths))
    assert 0.2 < is_random.float().mean().item() < 0.7
    # p_random = 0: exatamente as passagens de antes (o sorteio extra não consome o gerador)
    base = PtPassages(p_sentence=0.4, p_subject=0.2, p_continue=0.5)
    assert torch.equal(base.make_dataset(64, 64, seed=7), PtPassages(
        p_sentence=0.4, p_subject=0.2, p_continue=0.5, p_random=0.0, random_len=(lo, hi)).make_dataset(64, 64, seed=7))
    assert not base.make_dataset(64, 64, seed=7, return_random=True)[2].any()


def test_random_span_probabilities_by_hand():
    """Só trechos sorteados de 2 palavras, e 50% de chance de repetir uma frase anterior:
    depois de "x y ." a próxima palavra é x pela cópia (1/2) ou ao acaso (1/2 · 1/n)."""
    rnd = PtPassages(p_sentence=0.5, p_subject=0.0, p_random=1.0, random_len=(2, 2))
    tok = rnd.tokenizer()
    n = rnd.d_vocab - 2  # sem o BOS e sem o "."
    x, y, dot = (tok.to_single_token(w) for w in ("gato", "dorme", "."))
    probs = rnd.next_token_probs([0, x, y, dot, x, y])
    assert torch.allclose(probs.sum(-1), torch.ones(6, dtype=torch.float64))
    assert probs[0, dot].item() == 0 and probs[0, 0].item() == 0
    assert probs[0, x].item() == pytest.approx(1 / n, abs=1e-15)
    assert probs[2, dot].item() == pytest.approx(1.0, abs=1e-15)  # o trecho tem 2 palavras: acabou
    assert probs[3, x].item() == pytest.approx(0.5 + 0.5 / n, abs=1e-12)
    want = (0.5 + 0.5 / n * 1 / n) / (0.5 + 0.5 / n)
    assert probs[4, y].item() == pytest.approx(want, abs=1e-12)
    # comprimento uniforme em (2, 4): depois de 2 palavras, o "." tem 1/3; depois de 3, 1/2
    var = PtPassages(p_sentence=0.0, p_subject=0.0, p_random=1.0, random_len=(2, 4))
    probs = var.next_token_probs([0, x, y, x, y])
    assert [round(probs[i, dot].item(), 12) for i in range(1, 5)] == [0.0, round(1 / 3, 12), 0.5, 1.0]
    # uma frase da gramática depois de um trecho sorteado: o sujeito repetido só vem da gramática
    mixed = PtPassages(p_sentence=0.0, p_subject=0.3, p_random=0.5, random_len=(2, 2))
    ids = tok.encode("o gato dorme.")
    p_after_random = mixed.next_token_probs([0, x, y, dot] + ids[1:])  # encode já começa com o BOS
    p_alone = mixed.next_token_probs(ids)
    o = tok.to_single_token("o")
    # depois de só um trecho sorteado não há sujeito para repetir: p(o) = 1/2 · P_gramática(o) + 1/2 · 1/n
    g = rnd.grammar.next_token_probs(ids)
    assert p_after_random[3, o].item() == pytest.approx(0.5 * g[0, o].item() + 0.5 / n, abs=1e-12)
    assert p_alone[0, o].item() == pytest.approx(0.5 * g[0, o].item() + 0.5 / n, abs=1e-12)


def test_sampled_random_span_passages_are_possible_and_copies_are_nearly_free():
    rnd = PtPassages(p_sentence=0.4, p_subject=0.2, p_continue=0.9, p_random=0.5)
    tokens, sources, is_random = rnd.make_dataset(16, 64, seed=11, return_random=True)
    per_tok = rnd.optimal_loss_per_token(tokens)
    assert torch.isfinite(per_tok).all()
    probs = rnd.next_token_probs(tokens[0])
    assert torch.allclose(probs.sum(-1), torch.ones(64, dtype=torch.float64))
    torch.testing.assert_close(per_tok[0], -probs[:-1].gather(1, tokens[0, 1:, None])[:, 0].log())
    inside = torch.zeros_like(sources, dtype=torch.bool)
    inside[:, 1:] = (sources[:, 1:] >= 1) & (sources[:, :-1] == sources[:, 1:] - 1)
    second = per_tok[(inside & is_random)[:, 1:]].mean().item()
    first = per_tok[(is_random & ~(sources >= 0))[:, 1:]].mean().item()
    assert first > 4.5 and second < 0.05, (first, second)  # 1ª: quase log(n); 2ª: só a cópia explica


def test_random_span_errors_are_in_portuguese():
    with pytest.raises(ValueError, match="'random_len' deve ser um par de inteiros"):
        PtPassages(random_len=(5, 2))
    with pytest.raises(ValueError, match="'random_len' deve ser um par de inteiros"):
        PtPassages(random_len=3)
    with pytest.raises(ValueError, match="'p_random' deve ser um número em \\[0, 1\\]"):
        PtPassages(p_random=1.5)
    with pytest.raises(TypeError, match="'return_random' deve ser True ou False"):
        PtPassages().make_dataset(2, 8, return_random="sim")
    model = HookedTransformer(Config(n_layers=1, d_model=8, n_heads=2, d_vocab=12, n_ctx=16))
    tokens = torch.tensor([[0, 3, 4, 5, 6, 7, 3, 4, 5, 6, 8]])
    sources = torch.tensor([[-1, -1, -1, -1, -1, -1, 1, 2, 3, 4, -1]])
    with pytest.raises(ValueError, match="`mask` deve ser um tensor bool com o formato de `tokens`"):
        repeated_span_loss(model, tokens, sources, mask=torch.ones(1, 11))
    with pytest.raises(ValueError, match="nenhum trecho repetido"):
        repeated_span_loss(model, tokens, sources, mask=torch.zeros(1, 11, dtype=torch.bool))


# ----------------------------------------------------------------------------- o checkpoint lm_icl
# Re-medido aqui por conta própria (perda por token com F.cross_entropy e atenção lida do cache),
# sem as funções da receita.
import torch.nn.functional as F  # noqa: E402

from course_lib import load_pretrained  # noqa: E402
from course_lib.data import repeated_tokens  # noqa: E402
from course_lib.pretrained import load_metadata  # noqa: E402


@pytest.fixture(scope="module")
def icl_model():
    return load_pretrained("lm_icl")


def _loss_per_token(model, tokens):
    with torch.no_grad():
        logits = model(tokens)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(
        tokens.shape[0], -1)


def _held_out(n_ctx, n=2048, **probs):
    meta = load_metadata("lm_icl")
    data = eval(meta["data"].split(".make_dataset")[0], {"PtPassages": PtPassages})  # as mesmas probabilidades
    same = {k: getattr(data, k) for k in ("p_sentence", "p_subject", "p_continue", "p_random", "random_len")}
    passages = PtPassages(**{**same, **probs})
    return passages.make_dataset(n, n_ctx, seed=12345, return_random=True)


def _pairs(loss, sources, mask):
    """(1ª, 2ª ocorrência) nos tokens de dentro de um trecho repetido (o 1º token fica de fora)."""
    inside = torch.zeros_like(sources, dtype=torch.bool)
    inside[:, 1:] = (sources[:, 1:] >= 1) & (sources[:, :-1] == sources[:, 1:] - 1)
    b, q = (inside & mask).nonzero(as_tuple=True)
    return float(loss[b, sources[b, q] - 1].mean()), float(loss[b, q - 1].mean())


def test_lm_icl_learns_in_context_and_the_controls_do_not(icl_model):
    meta = load_metadata("lm_icl")["metrics"]
    early, late = meta["icl_positions"]["early"], meta["icl_positions"]["late"]
    tokens, _, _ = _held_out(64)
    plain, _, _ = _held_out(64, p_sentence=0.0, p_subject=0.0)  # os trechos sorteados não voltam
    loss, loss_plain = _loss_per_token(icl_model, tokens).mean(0), _loss_per_token(icl_model, plain).mean(0)
    icl, control = float(loss[late - 1] - loss[early - 1]), float(loss_plain[late - 1] - loss_plain[early - 1])
    assert icl < -1.5 and icl < control - 2.0, (icl, control)
    # o `lm` (nunca viu repetições), nas mesmas passagens cortadas no contexto dele (32)
    lm = load_pretrained("lm")
    short = tokens[:, :lm.cfg.n_ctx]
    l_lm, l_icl = _loss_per_token(lm, short).mean(0), _loss_per_token(icl_model, short).mean(0)
    last = lm.cfg.n_ctx - 1
    assert float(l_icl[last - 1] - l_icl[early - 1]) < float(l_lm[last - 1] - l_lm[early - 1]) - 1.0
    # o .json diz o que medimos (as mesmas passagens; tolerância para outra família de CPU)
    assert icl == pytest.approx(meta["icl_score"], abs=0.01)
    assert control == pytest.approx(meta["icl_score_control_sem_repeticao"], abs=0.01)


def test_lm_icl_copies_random_spans_and_lm_gains_nothing(icl_model):
    """Trechos sorteados (a gramática não os prevê): a 2ª ocorrência é quase grátis no lm_icl;
    o `lm` paga o mesmo nas duas (controle)."""
    meta = load_metadata("lm_icl")["metrics"]
    tokens, sources, is_random = _held_out(64)
    first, second = _pairs(_loss_per_token(icl_model, tokens), sources, is_random)
    assert first > 4.5 and second < 0.5, (first, second)
    assert first == pytest.approx(meta["random_first_occurrence_loss"], abs=0.01)
    assert second == pytest.approx(meta["random_second_occurrence_loss"], abs=0.01)
    short, short_src, short_rnd = tokens[:, :32], sources[:, :32], is_random[:, :32]
    lm_first, lm_second = _pairs(_loss_per_token(load_pretrained("lm"), short), short_src, short_rnd)
    assert abs(lm_second - lm_first) < 0.5, (lm_first, lm_second)


def test_lm_icl_has_induction_heads_on_random_tokens_as_the_json_says(icl_model):
    """Escore de indução em [BOS, x, x] (n = 20) lido do cache: cabeças da camada 1 acima de 0,3,
    e os números do .json."""
    meta = load_metadata("lm_icl")["metrics"]
    n = 20
    tokens = repeated_tokens(64, n, icl_model.cfg.d_vocab, seed=12345)
    _, cache = icl_model.run_with_cache(tokens)
    q = torch.arange(n + 1, 2 * n + 1)
    above = []
    for l in range(icl_model.cfg.n_layers):
        pattern = cache["pattern", l]  # [batch, head, q, k]
        score = pattern[:, :, q, q - n + 1].mean((0, 2))
        for h in range(icl_model.cfg.n_heads):
            assert float(score[h]) == pytest.approx(meta["induction_scores"][f"{l}.{h}"], abs=1e-3)
            if score[h] > 0.3:
                above.append(f"{l}.{h}")
    assert above and all(name.startswith("1.") for name in above)
    assert above == meta["induction_heads_above_0.3"] == meta["ablation"]["heads"]


def test_lm_icl_induction_heads_ablation_is_specific(icl_model):
    """Ablação pela média (hook_z das cabeças trocado pela média no lote e nas posições), escrita aqui:
    a 2ª ocorrência dos trechos sorteados volta a custar caro, o resto do texto quase não muda, e as
    outras cabeças da camada (o controle) mexem bem menos na cópia."""
    meta = load_metadata("lm_icl")["metrics"]["ablation"]
    tokens, sources, is_random = _held_out(64)
    heads = [tuple(map(int, k.split("."))) for k in meta["heads"]]
    control = [tuple(map(int, k.split("."))) for k in meta["control_heads"]]
    assert sorted(heads + control) == [(1, h) for h in range(4)]
    _, cache = icl_model.run_with_cache(tokens, names_filter=lambda n: n.endswith("attn.hook_z"))

    def losses(which):
        def hook(z, hook):
            z = z.clone()
            for l, h in which:
                if hook.name == f"blocks.{l}.attn.hook_z":
                    z[:, :, h] = cache[hook.name][:, :, h].mean((0, 1))
            return z
        with torch.no_grad():
            logits = icl_model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("attn.hook_z"), hook)])
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(
            tokens.shape[0], -1)
        return _pairs(loss, sources, is_random)[1], float(loss[sources[:, 1:] < 0].mean())

    (base_rep, base_rest), (abl_rep, abl_rest), (ctl_rep, ctl_rest) = losses([]), losses(heads), losses(control)
    assert abl_rep - base_rep > 3.0, (base_rep, abl_rep)
    assert abs(abl_rest - base_rest) < 0.1 * (abl_rep - base_rep), (base_rest, abl_rest)
    assert ctl_rep - base_rep < 0.3 * (abl_rep - base_rep), (ctl_rep, abl_rep)
    for name, (rep, rest) in (("intactas", (base_rep, base_rest)), ("cabecas_de_inducao", (abl_rep, abl_rest)),
                              ("outras_cabecas_da_camada", (ctl_rep, ctl_rest))):
        assert rep == pytest.approx(meta[name]["random_second_occurrence_loss"], abs=0.02)
        assert rest == pytest.approx(meta[name]["not_repeated_loss"], abs=0.02)


def test_lm_icl_phase_change_is_marked_by_the_loss_slope():
    """Na curva guardada: a marca sai da inclinação da perda; antes dela o escore de indução é baixo,
    no fim é alto (o escore não foi limiarizado para pôr a marca)."""
    from course_lib.induction import phase_change_step

    curve = load_metadata("lm_icl")["curva_de_treino"]
    step = phase_change_step(curve["step"], curve["random_second_occurrence_loss"])
    assert step == curve["phase_change_step"] and 200 < step < curve["step"][-1] - 200
    before = [s for t, s in zip(curve["step"], curve["induction_score"]) if t < step - 100]
    assert max(before) < 0.1 and curve["induction_score"][-1] > 0.3
    loss = dict(zip(curve["step"], curve["random_second_occurrence_loss"]))
    first = dict(zip(curve["step"], curve["random_first_occurrence_loss"]))
    s0 = max(t for t in curve["step"] if t <= step - 200)
    s1 = min(t for t in curve["step"] if t >= step + 200)
    assert loss[s0] - loss[s1] > 1.5 and abs(first[s0] - first[s1]) < 0.3


def test_lm_icl_recipe_is_deterministic_on_a_short_run():
    """Mesma semente, mesmos pesos (no mesmo processo e CPU); o re-treino completo não é testado aqui."""
    from course_lib.recipes import train_lm_icl

    a, hist = train_lm_icl(progress=False, n_steps=3, eval_every=3)
    b, _ = train_lm_icl(progress=False, n_steps=3, eval_every=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert len(hist["evals"]) == 1 and "induction_score" in hist["evals"][0]
