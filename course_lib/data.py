"""Geradores de dados determinísticos para o curso.

(a) PtGrammar: uma gramática probabilística do português, escrita como um
    autômato: de cada estado saem transições (token, próximo estado, probabilidade).
    Como o autômato é explícito, sabemos a distribuição EXATA do próximo token
    dado qualquer prefixo (algoritmo forward) e, portanto, a menor perda
    (entropia cruzada) que qualquer modelo pode atingir nesses dados.
(a') PtPassages: passagens de várias frases da gramática em que sujeitos e frases
     inteiras se repetem (como nomes num texto real), ainda com a probabilidade exata.
(b) Dados de indução: sequências aleatórias repetidas (repeated_tokens,
    induction_training_batch), no estilo do TransformerLens/ARENA.
"""

import functools
import math
import random

import torch

from course_lib.tokenizer import BOS_TOKEN, Tokenizer


def _check_int(fn: str, name: str, value, minimum: int) -> int:
    """Confere que `value` é um int >= minimum; senão levanta erro em pt-BR."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: '{name}' deve ser int, mas veio {type(value).__name__} ({value!r}).")
    if value < minimum:
        raise ValueError(f"{fn}: '{name}' deve ser >= {minimum}, mas veio {value}.")
    return value


# =============================================================================
# (a) Léxico da gramática
# =============================================================================
HUMANO, ANIMAL = "humano", "animal"
ANIMADO = (HUMANO, ANIMAL)

# (singular, plural, gênero, classes)
NOUNS = [
    # pessoas
    ("menino", "meninos", "m", (HUMANO,)), ("menina", "meninas", "f", (HUMANO,)),
    ("aluno", "alunos", "m", (HUMANO,)), ("aluna", "alunas", "f", (HUMANO,)),
    ("professor", "professores", "m", (HUMANO,)), ("professora", "professoras", "f", (HUMANO,)),
    ("vizinho", "vizinhos", "m", (HUMANO,)), ("vizinha", "vizinhas", "f", (HUMANO,)),
    ("irmão", "irmãos", "m", (HUMANO,)), ("irmã", "irmãs", "f", (HUMANO,)),
    ("rei", "reis", "m", (HUMANO,)), ("rainha", "rainhas", "f", (HUMANO,)),
    ("homem", "homens", "m", (HUMANO,)), ("mulher", "mulheres", "f", (HUMANO,)),
    # animais
    ("gato", "gatos", "m", (ANIMAL,)), ("gata", "gatas", "f", (ANIMAL,)),
    ("cachorro", "cachorros", "m", (ANIMAL,)), ("cachorra", "cachorras", "f", (ANIMAL,)),
    ("pato", "patos", "m", (ANIMAL,)), ("pata", "patas", "f", (ANIMAL,)),
    ("leão", "leões", "m", (ANIMAL,)), ("leoa", "leoas", "f", (ANIMAL,)),
    ("coelho", "coelhos", "m", (ANIMAL,)), ("pássaro", "pássaros", "m", (ANIMAL,)),
    ("tartaruga", "tartarugas", "f", (ANIMAL,)), ("girafa", "girafas", "f", (ANIMAL,)),
    # comida
    ("bolo", "bolos", "m", ("comida",)), ("maçã", "maçãs", "f", ("comida",)),
    ("pão", "pães", "m", ("comida",)), ("peixe", "peixes", "m", ("comida",)),
    ("banana", "bananas", "f", ("comida",)), ("sopa", "sopas", "f", ("comida",)),
    ("queijo", "queijos", "m", ("comida",)), ("laranja", "laranjas", "f", ("comida",)),
    ("biscoito", "biscoitos", "m", ("comida",)), ("uva", "uvas", "f", ("comida",)),
    # coisas para ler
    ("livro", "livros", "m", ("leitura", "abrível")), ("carta", "cartas", "f", ("leitura", "abrível")),
    ("jornal", "jornais", "m", ("leitura",)), ("revista", "revistas", "f", ("leitura", "abrível")),
    ("poema", "poemas", "m", ("leitura",)), ("bilhete", "bilhetes", "m", ("leitura",)),
    # objetos
    ("bola", "bolas", "f", ("objeto",)), ("carro", "carros", "m", ("objeto",)),
    ("caixa", "caixas", "f", ("objeto", "abrível")), ("porta", "portas", "f", ("objeto", "abrível")),
    ("janela", "janelas", "f", ("objeto", "abrível")), ("chapéu", "chapéus", "m", ("objeto",)),
    ("flor", "flores", "f", ("objeto",)), ("chave", "chaves", "f", ("objeto",)),
    # lugares (só aparecem em "no jardim", "nas praias"...)
    ("jardim", "jardins", "m", ("lugar",)), ("escola", "escolas", "f", ("lugar",)),
    ("casa", "casas", "f", ("lugar",)), ("parque", "parques", "m", ("lugar",)),
    ("praia", "praias", "f", ("lugar",)), ("rua", "ruas", "f", ("lugar",)),
]

# (masc. sing., fem. sing., masc. plural, fem. plural, classes de substantivo que aceita)
ADJECTIVES = [
    ("bonito", "bonita", "bonitos", "bonitas", (HUMANO, ANIMAL, "objeto")),
    ("feio", "feia", "feios", "feias", (HUMANO, ANIMAL, "objeto")),
    ("pequeno", "pequena", "pequenos", "pequenas", (HUMANO, ANIMAL, "objeto", "comida", "leitura")),
    ("grande", "grande", "grandes", "grandes", (HUMANO, ANIMAL, "objeto", "comida", "leitura")),
    ("novo", "nova", "novos", "novas", (HUMANO, "objeto", "leitura")),
    ("velho", "velha", "velhos", "velhas", (HUMANO, ANIMAL, "objeto", "leitura")),
    ("cansado", "cansada", "cansados", "cansadas", (HUMANO, ANIMAL)),
    ("feliz", "feliz", "felizes", "felizes", (HUMANO, ANIMAL)),
    ("triste", "triste", "tristes", "tristes", (HUMANO, ANIMAL)),
    ("branco", "branca", "brancos", "brancas", (ANIMAL, "objeto")),
    ("preto", "preta", "pretos", "pretas", (ANIMAL, "objeto")),
    ("gostoso", "gostosa", "gostosos", "gostosas", ("comida",)),
    ("doce", "doce", "doces", "doces", ("comida",)),
]

# (presente sing., presente plural, passado sing., passado plural,
#  classes de sujeito aceitas, classes de objeto aceitas ou None se intransitivo)
VERBS = [
    ("dorme", "dormem", "dormiu", "dormiram", ANIMADO, None),
    ("corre", "correm", "correu", "correram", ANIMADO, None),
    ("pula", "pulam", "pulou", "pularam", ANIMADO, None),
    ("nada", "nadam", "nadou", "nadaram", ANIMADO, None),
    ("canta", "cantam", "cantou", "cantaram", ANIMADO, None),
    ("chora", "choram", "chorou", "choraram", (HUMANO,), None),
    ("sorri", "sorriem", "sorriu", "sorriram", (HUMANO,), None),
    ("trabalha", "trabalham", "trabalhou", "trabalharam", (HUMANO,), None),
    ("come", "comem", "comeu", "comeram", ANIMADO, ("comida",)),
    ("lê", "leem", "leu", "leram", (HUMANO,), ("leitura",)),
    ("escreve", "escrevem", "escreveu", "escreveram", (HUMANO,), ("leitura",)),
    ("vê", "veem", "viu", "viram", ANIMADO, (HUMANO, ANIMAL, "comida", "leitura", "objeto")),
    ("encontra", "encontram", "encontrou", "encontraram", ANIMADO, (HUMANO, ANIMAL, "leitura", "objeto")),
    ("procura", "procuram", "procurou", "procuraram", ANIMADO, (HUMANO, ANIMAL, "comida", "objeto")),
    ("compra", "compram", "comprou", "compraram", (HUMANO,), ("comida", "leitura", "objeto")),
    ("abre", "abrem", "abriu", "abriram", (HUMANO,), ("abrível",)),
    ("ama", "amam", "amou", "amaram", ANIMADO, (HUMANO, ANIMAL)),
    ("chama", "chamam", "chamou", "chamaram", (HUMANO,), (HUMANO, ANIMAL)),
    ("pega", "pegam", "pegou", "pegaram", ANIMADO, ("comida", "objeto")),
]

GENDERS, NUMBERS, TENSES = ("m", "f"), ("sg", "pl"), ("presente", "passado")
DEFINITE = {("m", "sg"): "o", ("f", "sg"): "a", ("m", "pl"): "os", ("f", "pl"): "as"}
INDEFINITE = {("m", "sg"): "um", ("f", "sg"): "uma", ("m", "pl"): "uns", ("f", "pl"): "umas"}
IN_THE = {("m", "sg"): "no", ("f", "sg"): "na", ("m", "pl"): "nos", ("f", "pl"): "nas"}  # em + artigo
ALONE = {("m", "sg"): "sozinho", ("f", "sg"): "sozinha", ("m", "pl"): "sozinhos", ("f", "pl"): "sozinhas"}
TOGETHER = {"m": "juntos", "f": "juntas"}  # só com sujeito no plural
TENSE_ADVERBS = {"presente": ["hoje", "agora", "sempre"], "passado": ["hoje", "ontem"]}
MANNER_ADVERBS = ["depressa", "devagar"]

# Probabilidades da gramática
P_DEFINITE = 0.7      # artigo definido (senão indefinido)
P_ADJ_SUBJ = 0.25     # adjetivo depois do sujeito
P_ADJ_OBJ = 0.2       # adjetivo depois do objeto (ou do sujeito da oração relativa)
P_RELATIVE = 0.3      # oração relativa ("que ...") depois do sujeito
P_PAST = 0.3          # verbo no passado
P_PP = 0.25           # locução "no jardim" / "com o gato" depois do verbo
P_PP_WITH = 0.3       # ... das quais "com + artigo + animal/pessoa"
P_ADVERB = 0.3        # advérbio no fim da frase

# Ordem do vocabulário: por categoria (pontuação, artigos, substantivos, adjetivos,
# verbos, palavras de ligação, advérbios) e, dentro dela, na ordem do léxico.
_VOCAB_GROUPS = [
    ["."],
    list(DEFINITE.values()) + list(INDEFINITE.values()),
    [w for sg, pl, _, _ in NOUNS for w in (sg, pl)],
    [w for a in ADJECTIVES for w in a[:4]],
    [w for v in VERBS for w in v[:4]],
    ["que", "com"] + list(IN_THE.values()),
    TENSE_ADVERBS["presente"] + TENSE_ADVERBS["passado"] + MANNER_ADVERBS,
    list(ALONE.values()) + list(TOGETHER.values()),
]
_VOCAB_ORDER = {w: i for i, w in enumerate(dict.fromkeys(w for g in _VOCAB_GROUPS for w in g))}

ZIPF = 1.0  # palavras de uma mesma lista: a k-ésima tem peso 1/(k+1)**ZIPF (lei de Zipf)


@functools.lru_cache(maxsize=None)
def _zipf(k: int, n: int) -> float:
    """Probabilidade do k-ésimo de n itens numa distribuição de Zipf."""
    return (k + 1) ** -ZIPF / sum((j + 1) ** -ZIPF for j in range(n))


# Testes de concordância: (prompt, palavra correta, palavra errada).
# Segundo a gramática, a palavra correta tem p > 0 logo após o prompt e a errada tem p = 0.
AGREEMENT_TESTS = [
    # artigo -> substantivo
    ("o", "menino", "menina"),
    ("as", "meninas", "meninos"),
    ("uma", "gata", "gato"),
    ("o menino come uma", "maçã", "bolo"),
    # artigo + substantivo -> adjetivo
    ("os gatos", "pretos", "preto"),
    ("a menina", "bonita", "bonito"),
    ("as gatas", "brancas", "brancos"),
    # sujeito -> verbo (número)
    ("o menino", "dorme", "dormem"),
    ("os meninos", "correm", "corre"),
    ("a menina bonita", "lê", "leem"),
    # oração relativa: o substantivo mais próximo tem o outro número
    ("os gatos que o menino viu", "dormem", "dorme"),
    ("o gato que os meninos viram", "dorme", "dormem"),
    ("a menina que os gatos amam", "canta", "cantam"),
    ("os meninos que comeram o bolo", "dormem", "dorme"),
    ("a professora que leu os livros", "sorri", "sorriem"),
    # concordância de gênero e número a distância ("sozinho", "juntos")
    ("as meninas que o menino viu correm", "sozinhas", "sozinho"),
    ("o menino que as meninas viram dorme", "sozinho", "sozinhas"),
    ("as gatas dormem", "juntas", "juntos"),
    # preposição contraída + substantivo, tempo verbal + advérbio
    ("o menino dorme na", "casa", "jardim"),
    ("o menino dorme", "agora", "ontem"),
]


# =============================================================================
# (a) A gramática como autômato probabilístico
# =============================================================================
class PtGrammar:
    """Gramática probabilística do português (frases simples com concordância).

    Internamente é um autômato: estados ocultos e, de cada estado, transições
    (token, próximo estado, probabilidade). Um token pode sair de vários
    caminhos, então o estado é incerto; o algoritmo forward mantém uma
    distribuição sobre os estados e dá a probabilidade exata do próximo token.
    Depois de "." o autômato volta ao início de frase.
    """

    START = ("início",)

    def __init__(self):
        self._edges = {}  # estado -> lista de (token ou None, próximo estado, prob); None = transição vazia
        self._build()
        self._compile()

    # ------------------------------------------------------------------ construção
    def _add(self, state, token, nxt, p):
        if p > 0:
            self._edges.setdefault(state, []).append((token, nxt, p))

    def _noun_phrase(self, state, classes, p_adj, p_definite, after):
        """Artigo + substantivo (+ adjetivo), saindo de `state`.

        classes: classes de substantivo aceitas; after(substantivo, gênero, número) -> estado seguinte.
        """
        if state in self._edges:  # já construído (estado compartilhado)
            return
        forms = [(sg if n == "sg" else pl, g, n, cls)
                 for sg, pl, g, cls in NOUNS for n in NUMBERS if set(cls) & set(classes)]
        combos = [(g, n) for g in GENDERS for n in NUMBERS if any(f[1:3] == (g, n) for f in forms)]
        for g, n in combos:
            for art, p_art in ((DEFINITE[g, n], p_definite), (INDEFINITE[g, n], 1 - p_definite)):
                s_art = (state, art)
                self._add(state, art, s_art, p_art / len(combos))
                nouns = [f for f in forms if f[1:3] == (g, n)]
                for word, _, _, cls in nouns:
                    p_word = _zipf(nouns.index((word, g, n, cls)), len(nouns))
                    nxt = after(word, g, n, cls)
                    s_noun = ("subst", word, p_adj, nxt)
                    self._add(s_art, word, s_noun, p_word)
                    if s_noun in self._edges:  # já construído por outro artigo
                        continue
                    adjs = [a for a in ADJECTIVES if set(a[4]) & set(cls)]
                    for k, a in enumerate(adjs):
                        form = a[("m", "f").index(g) + 2 * NUMBERS.index(n)]
                        self._add(s_noun, form, nxt, p_adj * _zipf(k, len(adjs)))
                    self._add(s_noun, None, nxt, 1 - p_adj)

    def _verb(self, state, subj_class, number, object_classes, after):
        """Verbo que concorda em número com o sujeito (+ objeto se for transitivo).

        object_classes: se não for None, só verbos transitivos cujo objeto aceita essa classe
        (oração relativa com lacuna no objeto: o objeto já foi dito antes).
        after(tempo) -> estado seguinte.
        """
        verbs = [v for v in VERBS if subj_class in v[4]]
        if object_classes is not None:
            verbs = [v for v in verbs if v[5] is not None and set(v[5]) & set(object_classes)]
        for tense, p_tense in (("presente", 1 - P_PAST), ("passado", P_PAST)):
            for k, v in enumerate(verbs):
                word = v[2 * TENSES.index(tense) + NUMBERS.index(number)]
                p = p_tense * _zipf(k, len(verbs))
                if v[5] is None or object_classes is not None:
                    self._add(state, word, after(tense), p)
                else:
                    s_obj = ("objeto", word, after(tense))
                    self._add(state, word, s_obj, p)
                    self._noun_phrase(s_obj, v[5], P_ADJ_OBJ, P_DEFINITE, lambda *_, t=tense: after(t))

    def _build(self):
        """Frase = sujeito [oração relativa] verbo [objeto] [locução] [advérbio] ".".

        Os estados guardam só o que o resto da frase precisa saber: gênero, número
        e classe (pessoa/animal) do sujeito, tempo verbal, número do sujeito da relativa.
        """
        # Sujeito: "o menino (bonito)".
        self._noun_phrase(self.START, ANIMADO, P_ADJ_SUBJ, P_DEFINITE,
                          lambda word, g, n, cls: ("sujeito", g, n, cls[0]))
        for g in GENDERS:
            for n in NUMBERS:
                for c in ANIMADO:
                    subj, vp = ("sujeito", g, n, c), ("predicado", g, n, c)
                    # Oração relativa opcional.
                    self._add(subj, None, vp, 1 - P_RELATIVE)
                    # (i) lacuna no objeto: "os gatos [que o menino viu] dormem".
                    rel_obj = ("relativa-objeto", g, n, c)
                    self._add(subj, "que", rel_obj, P_RELATIVE / 2)
                    self._noun_phrase(rel_obj, ANIMADO, P_ADJ_OBJ, P_DEFINITE,
                                      lambda word, g2, n2, cls2, g=g, n=n, c=c:
                                      ("relativa-verbo", g, n, c, n2, cls2[0]))
                    for n2 in NUMBERS:
                        for c2 in ANIMADO:
                            self._verb(("relativa-verbo", g, n, c, n2, c2), c2, n2, (c,), lambda t, vp=vp: vp)
                    # (ii) lacuna no sujeito: "os meninos [que comeram o bolo] dormem".
                    rel_subj = ("relativa-sujeito", g, n, c)
                    self._add(subj, "que", rel_subj, P_RELATIVE / 2)
                    self._verb(rel_subj, c, n, None, lambda t, vp=vp: vp)
                    # Verbo principal (+ objeto).
                    self._verb(vp, c, n, None, lambda t, g=g, n=n: ("fim", g, n, t))
                for t in TENSES:
                    end, adv = ("fim", g, n, t), ("advérbio", g, n, t, True)
                    # Locução opcional: "no jardim", "com o gato".
                    self._add(end, None, adv, 1 - P_PP)
                    places = [(sg if n2 == "sg" else pl, g2, n2) for sg, pl, g2, cls in NOUNS
                              if "lugar" in cls for n2 in NUMBERS]
                    combos = [(g2, n2) for g2 in GENDERS for n2 in NUMBERS]
                    adv_pp = ("advérbio", g, n, t, False)
                    for g2, n2 in combos:
                        s_prep = (end, IN_THE[g2, n2])
                        self._add(end, IN_THE[g2, n2], s_prep, P_PP * (1 - P_PP_WITH) / len(combos))
                        words = [w for w, gg, nn in places if (gg, nn) == (g2, n2)]
                        for k, w in enumerate(words):
                            self._add(s_prep, w, adv_pp, _zipf(k, len(words)))
                    s_with = (end, "com")
                    self._add(end, "com", s_with, P_PP * P_PP_WITH)
                    self._noun_phrase(s_with, ANIMADO, 0.0, 1.0, lambda *_, a=adv_pp: a)
                    # Advérbio opcional e ponto final. "sozinho"/"juntos" concordam com o
                    # sujeito (e só aparecem sem a locução antes).
                    for agree in (True, False):
                        adv = ("advérbio", g, n, t, agree)
                        advs = TENSE_ADVERBS[t] + MANNER_ADVERBS
                        if agree:
                            advs = advs + [ALONE[g, n]] + ([TOGETHER[g]] if n == "pl" else [])
                        self._add(adv, ".", self.START, 1 - P_ADVERB)
                        for a in advs:
                            self._add(adv, a, ("ponto",), P_ADVERB / len(advs))
        self._add(("ponto",), ".", self.START, 1.0)

    def _compile(self):
        """Elimina as transições vazias e numera os estados alcançáveis a partir do início."""
        closure = {}

        def emitting(state):  # transições que emitem token, somando os caminhos vazios
            if state not in closure:
                out = {}
                for tok, nxt, p in self._edges.get(state, []):
                    if tok is None:
                        for (tok2, nxt2), p2 in emitting(nxt).items():
                            out[tok2, nxt2] = out.get((tok2, nxt2), 0.0) + p * p2
                    else:
                        out[tok, nxt] = out.get((tok, nxt), 0.0) + p
                closure[state] = out
            return closure[state]

        index, queue = {self.START: 0}, [self.START]
        transitions = []  # por estado: lista de (token, próximo estado (int), prob)
        while len(transitions) < len(queue):
            state = queue[len(transitions)]
            row = []
            for (tok, nxt), p in emitting(state).items():
                if nxt not in index:
                    index[nxt] = len(queue)
                    queue.append(nxt)
                row.append((tok, index[nxt], p))
            transitions.append(row)

        words = [tok for row in transitions for tok, _, _ in row]
        self.vocab = sorted(set(words), key=_VOCAB_ORDER.__getitem__)  # ordem fixa, por categoria
        self._token_to_id = {w: i + 1 for i, w in enumerate(self.vocab)}  # 0 = BOS
        self.n_states = len(transitions)
        self._state_index = index  # estado (tupla) -> número do estado compilado
        self._transitions = [[(self._token_to_id[t], nxt, p) for t, nxt, p in row] for row in transitions]
        self._next = []  # por estado: {token_id: [(próximo estado, prob)]}
        self._emit_dict = []  # por estado: {token_id: prob}
        for row in self._transitions:
            nxt_by_tok, emit = {}, {}
            for tok, nxt, p in row:
                emit[tok] = emit.get(tok, 0.0) + p
                nxt_by_tok.setdefault(tok, []).append((nxt, p))
            self._next.append(nxt_by_tok)
            self._emit_dict.append(emit)
        # Matriz densa [estado, token] com a probabilidade de emitir cada token.
        self._emit = torch.zeros(self.n_states, self.d_vocab, dtype=torch.float64)
        idx = [(s, tok, p) for s, emit in enumerate(self._emit_dict) for tok, p in emit.items()]
        s_idx, tok_idx, probs = zip(*idx)
        self._emit[torch.tensor(s_idx), torch.tensor(tok_idx)] = torch.tensor(probs, dtype=torch.float64)
        assert torch.allclose(self._emit.sum(-1), torch.ones(self.n_states, dtype=torch.float64))

    # ------------------------------------------------------------------ vocabulário
    @property
    def d_vocab(self) -> int:
        """Tamanho do vocabulário do tokenizador (palavras da gramática + BOS)."""
        return len(self.vocab) + 1

    def tokenizer(self) -> Tokenizer:
        """Tokenizador com vocabulário ["<bos>"] + self.vocab."""
        return Tokenizer([BOS_TOKEN] + self.vocab)

    # ------------------------------------------------------------------ amostragem
    def sample_sentence(self, rng: random.Random) -> list[str]:
        """Sorteia uma frase (lista de palavras terminando em ".") usando `rng`."""
        if not isinstance(rng, random.Random):
            raise TypeError(f"sample_sentence: 'rng' deve ser random.Random, mas veio {type(rng).__name__}.")
        return self._sample_from(0, rng)

    def _sample_from(self, state: int, rng: random.Random) -> list[str]:
        """Sorteia palavras a partir do estado compilado `state` até o "." que volta ao início."""
        words = []
        while True:
            row = self._transitions[state]
            r, acc = rng.random(), 0.0
            for tok, nxt, p in row:
                acc += p
                if r < acc:
                    break
            # (se r cair no arredondamento da soma, fica a última transição)
            words.append(self.vocab[tok - 1])
            state = nxt
            if state == 0:
                return words

    def generate_text(self, n_sentences: int, seed: int = 0) -> str:
        """Texto com `n_sentences` frases sorteadas (determinístico dado `seed`)."""
        _check_int("generate_text", "n_sentences", n_sentences, 1)
        rng = random.Random(seed)
        words = [w for _ in range(n_sentences) for w in self.sample_sentence(rng)]
        return " ".join(words).replace(" .", ".")

    def make_dataset(self, n_seqs: int, n_ctx: int, seed: int = 0) -> torch.Tensor:
        """Tensor [n_seqs, n_ctx]: cada linha é BOS + frases seguidas, cortada em n_ctx tokens."""
        _check_int("make_dataset", "n_seqs", n_seqs, 1)
        _check_int("make_dataset", "n_ctx", n_ctx, 2)
        rng = random.Random(seed)
        rows = []
        for _ in range(n_seqs):
            ids = [0]
            while len(ids) < n_ctx:
                ids += [self._token_to_id[w] for w in self.sample_sentence(rng)]
            rows.append(ids[:n_ctx])
        return torch.tensor(rows, dtype=torch.long)

    # ------------------------------------------------------------------ probabilidades exatas
    def _check_tokens(self, fn: str, tokens) -> torch.Tensor:
        if isinstance(tokens, (list, tuple)):
            tokens = torch.tensor(tokens, dtype=torch.long)
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"{fn}: 'tokens' deve ser lista de int ou tensor, mas veio {type(tokens).__name__}.")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise TypeError(f"{fn}: 'tokens' deve conter inteiros (torch.long), mas veio dtype {tokens.dtype}.")
        if tokens.numel() > 0 and (tokens.min() < 0 or tokens.max() >= self.d_vocab):
            raise ValueError(f"{fn}: 'tokens' tem ids fora do intervalo 0..{self.d_vocab - 1}.")
        return tokens.long()

    def _forward(self, ids: list[int], where: str):
        """Algoritmo forward. Gera, para cada posição i, a distribuição sobre estados depois de ids[:i+1]."""
        if len(ids) == 0 or ids[0] != 0:
            raise ValueError(f"{where}: a sequência deve começar com o BOS (id 0), mas começa com {ids[:1]}.")
        alpha = {0: 1.0}
        yield alpha
        for i in range(1, len(ids)):
            new = {}
            for s, p_s in alpha.items():
                for nxt, p in self._next[s].get(ids[i], ()):
                    new[nxt] = new.get(nxt, 0.0) + p_s * p
            total = sum(new.values())
            if total == 0.0:
                word = BOS_TOKEN if ids[i] == 0 else self.vocab[ids[i] - 1]
                raise ValueError(
                    f"{where}: o token {word!r} na posição {i} tem probabilidade 0 na gramática "
                    "depois do prefixo; a sequência não foi gerada por esta gramática."
                )
            alpha = {s: p / total for s, p in new.items()}
            yield alpha

    def next_token_probs(self, token_ids) -> torch.Tensor:
        """Probabilidade exata do próximo token em cada posição: tensor float64 [pos, d_vocab].

        token_ids: lista de int ou tensor 1-D que começa com o BOS. A linha i é
        P(token i+1 | tokens 0..i).
        """
        tokens = self._check_tokens("next_token_probs", token_ids)
        if tokens.ndim != 1:
            raise ValueError(f"next_token_probs: 'token_ids' deve ser 1-D [pos], mas veio shape {tuple(tokens.shape)}.")
        rows = []
        for alpha in self._forward(tokens.tolist(), "next_token_probs"):
            states = list(alpha)
            weights = torch.tensor([alpha[s] for s in states], dtype=torch.float64)
            rows.append(weights @ self._emit[states])
        return torch.stack(rows)

    def optimal_loss_per_token(self, tokens) -> torch.Tensor:
        """-log P_verdadeira(token i+1 | tokens 0..i) para cada linha: tensor float64 [batch, pos-1]."""
        tokens = self._check_tokens("optimal_loss_per_token", tokens)
        if tokens.ndim == 1:
            tokens = tokens[None]
        if tokens.ndim != 2 or tokens.shape[1] < 2:
            raise ValueError(
                f"optimal_loss_per_token: 'tokens' deve ter shape [batch, pos] com pos >= 2, "
                f"mas veio {tuple(tokens.shape)}."
            )
        out = torch.zeros(tokens.shape[0], tokens.shape[1] - 1, dtype=torch.float64)
        for b, ids in enumerate(tokens.tolist()):
            alphas = self._forward(ids, f"optimal_loss_per_token (linha {b})")
            for i, alpha in enumerate(alphas):
                if i + 1 == len(ids):
                    break
                p = sum(p_s * self._emit_dict[s].get(ids[i + 1], 0.0) for s, p_s in alpha.items())
                out[b, i] = -math.log(p) if p > 0 else math.inf
        return out

    def optimal_loss(self, tokens) -> float:
        """Média de -log P_verdadeira(próximo token): a menor entropia cruzada possível (nats/token)."""
        return self.optimal_loss_per_token(tokens).mean().item()


# =============================================================================
# (a') Passagens: várias frases em que nomes e frases se repetem
# =============================================================================
P_REPEAT_SENTENCE = 0.2   # a frase repete, palavra por palavra, uma frase anterior da passagem
P_REPEAT_SUBJECT = 0.4    # a frase começa com o sujeito de uma frase anterior ("o rei velho ... o rei velho")
P_CONTINUE = 0.0          # depois de repetir a frase j, repete também a frase j+1 (um trecho longo volta)
P_RANDOM = 0.0            # uma frase nova é um trecho sorteado (palavras ao acaso, como um nome nunca visto)
RANDOM_LEN = (4, 8)       # palavras do trecho sorteado: comprimento uniforme entre os dois, mais o "."


class PtPassages:
    """Passagens de várias frases da PtGrammar em que trechos se repetem, como num texto real.

    Cada passagem começa com uma frase nova da gramática. Cada frase seguinte:
      - com probabilidade `p_sentence`, repete palavra por palavra uma frase anterior
        da passagem (sorteada entre as frases anteriores completas, todas com o mesmo peso);
      - com probabilidade `p_subject`, começa com o sujeito (artigo + substantivo
        [+ adjetivo]) de uma frase anterior sorteada e continua pela gramática,
        concordando com ele: as "personagens" da passagem voltam;
      - senão, é uma frase nova da gramática.
    E, logo depois de repetir a frase j, com probabilidade `p_continue` a frase
    seguinte repete a frase j+1: trechos de várias frases voltam inteiros (como uma
    citação ou um refrão).

    Uma frase nova é, com probabilidade `p_random`, um **trecho sorteado**: de
    `random_len[0]` a `random_len[1]` palavras (comprimento uniforme) sorteadas
    uniformemente do vocabulário (sem o BOS e sem o "."), seguidas de ".". A gramática
    não prevê um trecho sorteado (como um nome próprio que o leitor nunca viu); quando
    ele volta (pela repetição de frases acima), só quem copia do contexto o acerta. O
    sujeito repetido (`p_subject`) vem só das frases anteriores que a gramática gera.

    A probabilidade do próximo token continua EXATA: o algoritmo forward soma, além
    dos estados da gramática, as hipóteses "estou copiando a frase j (ou o sujeito j)
    e estou na palavra i da cópia". O que muda em relação à PtGrammar: a distribuição
    depende da passagem inteira (não só da frase atual), e cada linha de
    `make_dataset` é uma passagem só, do BOS até n_ctx tokens (a última frase cortada).
    """

    def __init__(self, grammar: PtGrammar | None = None, p_sentence: float = P_REPEAT_SENTENCE,
                 p_subject: float = P_REPEAT_SUBJECT, p_continue: float = P_CONTINUE,
                 p_random: float = P_RANDOM, random_len: tuple = RANDOM_LEN):
        for name, p in (("p_sentence", p_sentence), ("p_subject", p_subject), ("p_continue", p_continue),
                        ("p_random", p_random)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"PtPassages: '{name}' deve ser um número em [0, 1], mas veio {p!r}.")
        if p_sentence + p_subject > 1:
            raise ValueError(f"PtPassages: 'p_sentence' + 'p_subject' deve ser <= 1, mas veio {p_sentence + p_subject}.")
        if grammar is None:
            grammar = PtGrammar()
        elif not isinstance(grammar, PtGrammar):
            raise TypeError(f"PtPassages: 'grammar' deve ser PtGrammar, mas veio {type(grammar).__name__}.")
        self.grammar, self.p_sentence, self.p_subject = grammar, float(p_sentence), float(p_subject)
        self.p_continue, self.p_random = float(p_continue), float(p_random)
        if (not isinstance(random_len, (tuple, list)) or len(random_len) != 2
                or any(isinstance(x, bool) or not isinstance(x, int) for x in random_len)
                or not 1 <= random_len[0] <= random_len[1]):
            raise ValueError("PtPassages: 'random_len' deve ser um par de inteiros (mínimo, máximo) com "
                             f"1 <= mínimo <= máximo, mas veio {random_len!r}.")
        self.random_len = (int(random_len[0]), int(random_len[1]))
        ids = grammar._token_to_id
        self._adjective_ids = {ids[w] for a in ADJECTIVES for w in a[:4] if w in ids}
        # substantivo (id) -> estado da gramática logo depois do sujeito ("sujeito", gênero, número, classe)
        self._after_subject = {}
        for sg, pl, g, cls in NOUNS:
            for n, w in (("sg", sg), ("pl", pl)):
                state = ("sujeito", g, n, cls[0])
                if w in ids and state in grammar._state_index:
                    self._after_subject[ids[w]] = grammar._state_index[state]
        self._dot = ids["."]
        # palavras de um trecho sorteado: todo o vocabulário menos o BOS (0) e o "."
        self._random_ids = [i for i in range(1, grammar.d_vocab) if i != self._dot]
        self._random_emit = torch.zeros(grammar.d_vocab, dtype=torch.float64)
        self._random_emit[self._random_ids] = 1.0 / len(self._random_ids)
        self._grammatical_cache = {}

    def _grammatical(self, sentence: tuple) -> bool:
        """A frase (ids, terminada em ".") é uma frase que a gramática pode gerar? (tem sujeito)"""
        if sentence not in self._grammatical_cache:
            states = {0}
            for tok in sentence:
                states = {nxt for st in states for nxt, _ in self.grammar._next[st].get(tok, ())}
            self._grammatical_cache[sentence] = 0 in states
        return self._grammatical_cache[sentence]

    def _random_end(self, k: int) -> float:
        """P(o trecho sorteado acaba aqui | já tem k palavras): comprimento uniforme em random_len."""
        lo, hi = self.random_len
        return 0.0 if k < lo else 1.0 / (hi - k + 1)

    @property
    def d_vocab(self) -> int:
        """O mesmo vocabulário da gramática (e do checkpoint `lm`)."""
        return self.grammar.d_vocab

    def tokenizer(self) -> Tokenizer:
        return self.grammar.tokenizer()

    def _subject(self, sentence: tuple) -> tuple[tuple, int]:
        """(ids do sujeito, estado da gramática depois dele) de uma frase completa (ids)."""
        n = 3 if len(sentence) > 2 and sentence[2] in self._adjective_ids else 2
        return sentence[:n], self._after_subject[sentence[1]]

    # ------------------------------------------------------------------ amostragem
    def sample_passage(self, rng: random.Random, n_tokens: int) -> tuple[list[int], list[int]]:
        """Uma passagem de `n_tokens` ids (começando no BOS) e, para cada posição, a fonte da cópia.

        fontes[q] = posição da 1ª ocorrência, nesta passagem, do trecho que o token q
        repete (se a frase copiada já era cópia, aponta para o original), ou -1 se o
        token não é cópia. Determinístico dado `rng`.
        """
        ids, sources, _ = self._sample(rng, n_tokens, "sample_passage")
        return ids, sources

    def _sample(self, rng, n_tokens: int, fn: str):
        """(ids, fontes, sorteado): sorteado[q] = True se o token q é de um trecho sorteado (ou cópia de um)."""
        if not isinstance(rng, random.Random):
            raise TypeError(f"{fn}: 'rng' deve ser random.Random, mas veio {type(rng).__name__}.")
        _check_int(fn, "n_tokens", n_tokens, 1)
        ids, sources, sentences = [0], [-1], []  # sentences: (posição inicial, ids) das frases completas
        is_random, flags = [False], []  # por token; por frase (a frase é um trecho sorteado?)
        with_subject = []  # índices das frases que a gramática gera (de onde um sujeito pode voltar)
        to_ids = lambda words: [self.grammar._token_to_id[w] for w in words]
        root = lambda pos, n: [sources[p] if sources[p] >= 0 else p for p in range(pos, pos + n)]
        copied = None  # índice da frase que a frase anterior repetiu (ou None)
        while len(ids) < n_tokens:
            start = len(ids)
            flag = False
            if copied is not None and rng.random() < self.p_continue:
                copied += 1
                pos, sent = sentences[copied]
                new, src, flag = list(sent), root(pos, len(sent)), flags[copied]
            elif sentences and (r := rng.random()) < self.p_sentence:
                copied = rng.randrange(len(sentences))
                pos, sent = sentences[copied]
                new, src, flag = list(sent), root(pos, len(sent)), flags[copied]
            elif with_subject and r < self.p_sentence + self.p_subject:
                pos, sent = sentences[with_subject[rng.randrange(len(with_subject))]]
                subject, after = self._subject(sent)
                new = list(subject) + to_ids(self.grammar._sample_from(after, rng))
                src = root(pos, len(subject)) + [-1] * (len(new) - len(subject))
                copied = None
            elif self.p_random and rng.random() < self.p_random:
                lo, hi = self.random_len
                new = [rng.choice(self._random_ids) for _ in range(rng.randint(lo, hi))] + [self._dot]
                src, flag, copied = [-1] * len(new), True, None
            else:
                new = to_ids(self.grammar._sample_from(0, rng))
                src = [-1] * len(new)
                copied = None
            if self._grammatical(tuple(new)):
                with_subject.append(len(sentences))
            ids += new
            sources += src
            is_random += [flag] * len(new)
            flags.append(flag)
            sentences.append((start, tuple(new)))
        return ids[:n_tokens], sources[:n_tokens], is_random[:n_tokens]

    def make_dataset(self, n_seqs: int, n_ctx: int, seed: int = 0, return_sources: bool = False,
                     return_random: bool = False):
        """Tensor [n_seqs, n_ctx]: cada linha é uma passagem (BOS + frases), cortada em n_ctx tokens.

        Com return_sources=True devolve também as fontes [n_seqs, n_ctx] (veja `sample_passage`);
        com return_random=True, também a máscara [n_seqs, n_ctx] dos tokens de trechos sorteados
        (1ª ocorrência ou cópia): (tokens, fontes, sorteado).
        """
        _check_int("make_dataset", "n_seqs", n_seqs, 1)
        _check_int("make_dataset", "n_ctx", n_ctx, 2)
        for name, flag in (("return_sources", return_sources), ("return_random", return_random)):
            if not isinstance(flag, bool):
                raise TypeError(f"make_dataset: '{name}' deve ser True ou False, mas veio {flag!r}.")
        rng = random.Random(seed)
        rows, srcs, rand = zip(*(self._sample(rng, n_ctx, "make_dataset") for _ in range(n_seqs)))
        tokens = torch.tensor(rows, dtype=torch.long)
        if return_random:
            return tokens, torch.tensor(srcs, dtype=torch.long), torch.tensor(rand, dtype=torch.bool)
        return (tokens, torch.tensor(srcs, dtype=torch.long)) if return_sources else tokens

    # ------------------------------------------------------------------ probabilidades exatas
    def _forward(self, ids: list[int], where: str):
        """Forward sobre hipóteses. Gera, para cada posição i, {hipótese: prob} depois de ids[:i+1].

        Hipóteses: ("g", estado) = frase da gramática nesse estado; ("s", frase, i, j) = repetindo
        a frase j (ids), a próxima palavra é frase[i]; ("c", sujeito, i, depois) = repetindo o
        sujeito (ids), a próxima palavra é sujeito[i], e no fim volta à gramática no estado
        `depois`; ("r", k) = num trecho sorteado com k palavras até aqui. No "." final, ("fim", j)
        guarda a massa de quem acabou de repetir a frase j.
        """
        if len(ids) == 0 or ids[0] != 0:
            raise ValueError(f"{where}: a sequência deve começar com o BOS (id 0), mas começa com {ids[:1]}.")
        sentences, current = [], []

        def sentence_start(ended: dict):
            """Hipóteses no início de uma frase; `ended` = {hipótese depois do ".": prob}."""
            n, hyps, free = len(sentences), {}, 0.0
            subj = [sent for sent in sentences if self._grammatical(sent)]
            for key, w in ended.items():
                if key[0] == "fim":  # acabou de repetir a frase key[1]: continua na seguinte?
                    nk = ("s", sentences[key[1] + 1], 0, key[1] + 1)
                    hyps[nk] = hyps.get(nk, 0.0) + w * self.p_continue
                    free += w * (1 - self.p_continue)
                else:
                    free += w
            fresh = free * (1.0 - ((self.p_sentence if n else 0.0) + (self.p_subject if subj else 0.0)))
            key = ("g", 0)
            hyps[key] = hyps.get(key, 0.0) + fresh * (1.0 - self.p_random)
            if self.p_random:
                hyps["r", 0] = fresh * self.p_random
            for j, sent in enumerate(sentences):
                key = ("s", sent, 0, j)
                hyps[key] = hyps.get(key, 0.0) + free * self.p_sentence / n
            for sent in subj:
                subject, after = self._subject(sent)
                key = ("c", subject, 0, after)
                hyps[key] = hyps.get(key, 0.0) + free * self.p_subject / len(subj)
            return {k: p for k, p in hyps.items() if p > 0}

        hyps = sentence_start({("g", 0): 1.0})
        yield hyps
        for i in range(1, len(ids)):
            tok, new = ids[i], {}
            for key, w in hyps.items():
                if key[0] == "g":
                    for nxt, p in self.grammar._next[key[1]].get(tok, ()):
                        new["g", nxt] = new.get(("g", nxt), 0.0) + w * p
                elif key[0] == "r":
                    p = self._random_prob(key[1], tok)
                    if p > 0:
                        nk = ("r_fim",) if tok == self._dot else ("r", key[1] + 1)
                        new[nk] = new.get(nk, 0.0) + w * p
                else:
                    kind, span, j, tag = key
                    if span[j] == tok:
                        if j + 1 < len(span):
                            nk = (kind, span, j + 1, tag)
                        else:  # fim da cópia: a frase j acabou, ou o sujeito volta à gramática
                            nk = ("fim", tag) if kind == "s" else ("g", tag)
                        new[nk] = new.get(nk, 0.0) + w
            total = sum(new.values())
            if total == 0.0:
                word = BOS_TOKEN if tok == 0 else self.grammar.vocab[tok - 1]
                raise ValueError(f"{where}: o token {word!r} na posição {i} tem probabilidade 0 depois do prefixo; "
                                 "a sequência não foi gerada por estas passagens.")
            current.append(tok)
            hyps = {k: p / total for k, p in new.items()}
            if tok == self._dot:
                sentences.append(tuple(current))
                current = []
                hyps = sentence_start(hyps)
            yield hyps

    def _random_prob(self, k: int, tok: int) -> float:
        """P(próxima palavra = tok | trecho sorteado com k palavras até aqui)."""
        end = self._random_end(k)
        if tok == self._dot:
            return end
        return (1.0 - end) / len(self._random_ids) if tok != 0 else 0.0

    def _next_probs(self, hyps: dict) -> torch.Tensor:
        probs = torch.zeros(self.d_vocab, dtype=torch.float64)
        for key, w in hyps.items():
            if key[0] == "g":
                probs += w * self.grammar._emit[key[1]]
            elif key[0] == "r":
                end = self._random_end(key[1])
                probs += w * (1.0 - end) * self._random_emit
                probs[self._dot] += w * end
            else:
                probs[key[1][key[2]]] += w
        return probs

    def next_token_probs(self, token_ids) -> torch.Tensor:
        """Probabilidade exata do próximo token em cada posição: tensor float64 [pos, d_vocab]."""
        tokens = self.grammar._check_tokens("next_token_probs", token_ids)
        if tokens.ndim != 1:
            raise ValueError(f"next_token_probs: 'token_ids' deve ser 1-D [pos], mas veio shape {tuple(tokens.shape)}.")
        return torch.stack([self._next_probs(h) for h in self._forward(tokens.tolist(), "next_token_probs")])

    def optimal_loss_per_token(self, tokens) -> torch.Tensor:
        """-log P_verdadeira(token i+1 | tokens 0..i) para cada linha: tensor float64 [batch, pos-1]."""
        tokens = self.grammar._check_tokens("optimal_loss_per_token", tokens)
        if tokens.ndim == 1:
            tokens = tokens[None]
        if tokens.ndim != 2 or tokens.shape[1] < 2:
            raise ValueError("optimal_loss_per_token: 'tokens' deve ter shape [batch, pos] com pos >= 2, "
                             f"mas veio {tuple(tokens.shape)}.")
        out = torch.zeros(tokens.shape[0], tokens.shape[1] - 1, dtype=torch.float64)
        for b, ids in enumerate(tokens.tolist()):
            for i, hyps in enumerate(self._forward(ids, f"optimal_loss_per_token (linha {b})")):
                if i + 1 == len(ids):
                    break
                tok, p = ids[i + 1], 0.0
                for key, w in hyps.items():
                    if key[0] == "g":
                        p += w * self.grammar._emit_dict[key[1]].get(tok, 0.0)
                    elif key[0] == "r":
                        p += w * self._random_prob(key[1], tok)
                    elif key[1][key[2]] == tok:
                        p += w
                out[b, i] = -math.log(p) if p > 0 else math.inf
        return out

    def optimal_loss(self, tokens) -> float:
        """Média de -log P_verdadeira(próximo token) nas passagens: a menor perda possível (nats/token)."""
        return self.optimal_loss_per_token(tokens).mean().item()


# =============================================================================
# (b) Dados de indução
# =============================================================================
def repeated_tokens(batch: int, seq_len: int, d_vocab: int, seed=None, generator=None, bos: int = 0) -> torch.Tensor:
    """BOS + `seq_len` tokens aleatórios + os mesmos tokens de novo: LongTensor [batch, 1 + 2*seq_len].

    Os tokens aleatórios são sorteados entre 0..d_vocab-1 sem o `bos` (com bos=0: 1..d_vocab-1).
    Use `seed` ou `generator` (um torch.Generator); sem nenhum dos dois usa seed=0.
    """
    _check_int("repeated_tokens", "batch", batch, 1)
    _check_int("repeated_tokens", "seq_len", seq_len, 1)
    _check_int("repeated_tokens", "d_vocab", d_vocab, 2)
    _check_int("repeated_tokens", "bos", bos, 0)
    if bos >= d_vocab:
        raise ValueError(f"repeated_tokens: 'bos' deve estar em 0..{d_vocab - 1} (d_vocab={d_vocab}), mas veio {bos}.")
    if seed is not None and generator is not None:
        raise ValueError("repeated_tokens: passe 'seed' ou 'generator', não os dois.")
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else _check_int("repeated_tokens", "seed", seed, 0))
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"repeated_tokens: 'generator' deve ser torch.Generator, mas veio {type(generator).__name__}.")
    rand = torch.randint(0, d_vocab - 1, (batch, seq_len), generator=generator)
    rand = rand + (rand >= bos).long()  # pula o id do BOS
    bos_col = torch.full((batch, 1), bos, dtype=torch.long)
    return torch.cat([bos_col, rand, rand], dim=1)


def induction_training_batch(batch: int, n_ctx: int, d_vocab: int, generator: torch.Generator) -> torch.Tensor:
    """Lote para treinar indução: LongTensor [batch, n_ctx].

    Cada linha é BOS (0) seguido de um trecho aleatório de comprimento L (sorteado
    em 4..31, e no máximo (n_ctx-1)//2 para caber pelo menos duas vezes) de tokens
    1..d_vocab-1, repetido até preencher a janela. Determinístico dado `generator`.
    """
    _check_int("induction_training_batch", "batch", batch, 1)
    _check_int("induction_training_batch", "n_ctx", n_ctx, 9)
    _check_int("induction_training_batch", "d_vocab", d_vocab, 2)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"induction_training_batch: 'generator' deve ser torch.Generator, mas veio {type(generator).__name__}."
        )
    max_len = min(31, (n_ctx - 1) // 2)
    lengths = torch.randint(4, max_len + 1, (batch, 1), generator=generator)
    segments = torch.randint(1, d_vocab, (batch, max_len), generator=generator)
    pos = torch.arange(n_ctx - 1)[None, :] % lengths  # [batch, n_ctx-1]
    body = torch.gather(segments, 1, pos)
    return torch.cat([torch.zeros(batch, 1, dtype=torch.long), body], dim=1)
