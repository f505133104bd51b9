"""Tokenizador de palavras para português do Brasil.

Cada palavra (ou sinal de pontuação) é um token. O texto é normalizado
(Unicode NFC e minúsculas, mantendo os acentos) antes de ser dividido.
O token de índice 0 é sempre o BOS, "<bos>", como no TransformerLens.

Exemplo:
    >>> tok = Tokenizer(["<bos>", "o", "gato", "dorme", "."])
    >>> tok.encode("O gato dorme.")
    [0, 1, 2, 3, 4]
    >>> tok.decode([0, 1, 2, 3, 4])
    'o gato dorme.'
"""

import difflib
import json
import re
import unicodedata

import torch

BOS_TOKEN = "<bos>"

# Uma palavra: letras (acentuadas também) e dígitos, com hífens internos
# ("disse-lhe" é um token só). Qualquer outro caractere visível (pontuação)
# vira um token sozinho. "<bos>" escrito no texto é reconhecido como o BOS.
_TOKEN_RE = re.compile(r"<bos>|[^\W_]+(?:-[^\W_]+)*|\S")

# Pontuação que se cola à palavra anterior ao decodificar ("dorme." e não "dorme .").
_NO_SPACE_BEFORE = set(".,;:!?)]}»…%")


def normalize(text: str) -> str:
    """Normaliza o texto: minúsculas e Unicode NFC (acentos compostos num só caractere)."""
    if not isinstance(text, str):
        raise TypeError(f"normalize: 'text' deve ser str, mas veio {type(text).__name__}.")
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


class Tokenizer:
    """Tokenizador de palavras com vocabulário fixo; o índice 0 é o BOS ("<bos>")."""

    bos_token = BOS_TOKEN
    bos_token_id = 0

    def __init__(self, vocab: list[str]):
        if not isinstance(vocab, (list, tuple)) or not all(isinstance(w, str) for w in vocab):
            raise TypeError(f"Tokenizer: 'vocab' deve ser uma lista de str, mas veio {type(vocab).__name__}.")
        if len(vocab) == 0 or vocab[0] != BOS_TOKEN:
            primeiro = repr(vocab[0]) if len(vocab) > 0 else "nada (lista vazia)"
            raise ValueError(
                f"Tokenizer: 'vocab' deve começar com {BOS_TOKEN!r} no índice 0, mas o índice 0 é {primeiro}. "
                f"Use Tokenizer([{BOS_TOKEN!r}] + palavras)."
            )
        for i, w in enumerate(vocab[1:], start=1):
            if w != normalize(w) or len(_TOKEN_RE.findall(w)) != 1 or w == BOS_TOKEN:
                raise ValueError(
                    f"Tokenizer: a entrada {i} de 'vocab' ({w!r}) não é um único token normalizado "
                    f"(esperado algo como {normalize(w)!r}, uma só palavra ou um só sinal de pontuação)."
                )
        self.vocab = list(vocab)
        self.token_to_id = {w: i for i, w in enumerate(self.vocab)}
        if len(self.token_to_id) != len(self.vocab):
            repetidas = sorted({w for w in self.vocab if self.vocab.count(w) > 1})
            raise ValueError(f"Tokenizer: 'vocab' tem palavras repetidas: {repetidas}.")

    @property
    def d_vocab(self) -> int:
        """Tamanho do vocabulário (incluindo o BOS)."""
        return len(self.vocab)

    def __len__(self) -> int:
        return self.d_vocab

    def __repr__(self) -> str:
        return f"Tokenizer(d_vocab={self.d_vocab})"

    # ------------------------------------------------------------------ texto -> tokens
    def split(self, text: str) -> list[str]:
        """Normaliza e divide o texto em palavras e sinais de pontuação (sem BOS)."""
        if not isinstance(text, str):
            raise TypeError(f"split: 'text' deve ser str, mas veio {type(text).__name__}.")
        return _TOKEN_RE.findall(normalize(text))

    def encode(self, text: str, prepend_bos: bool = True) -> list[int]:
        """Converte o texto numa lista de ids. Com prepend_bos=True, começa com o BOS (id 0).

        Uma palavra fora do vocabulário levanta ValueError dizendo qual palavra, sua
        posição (o índice que ela teria na sequência de tokens, contando o BOS) e
        palavras parecidas do vocabulário.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode: 'text' deve ser str, mas veio {type(text).__name__}.")
        words = ([BOS_TOKEN] if prepend_bos else []) + self.split(text)
        ids = []
        for pos, w in enumerate(words):
            if w not in self.token_to_id:
                raise ValueError(self._unknown_message(w, pos))
            ids.append(self.token_to_id[w])
        return ids

    def _unknown_message(self, word: str, pos: int) -> str:
        close = difflib.get_close_matches(word, self.vocab[1:], n=3, cutoff=0.6)
        if close:
            hint = "Você quis dizer: " + ", ".join(repr(w) for w in close) + "?"
        else:
            hint = "Nenhuma palavra parecida no vocabulário."
        return (
            f"Palavra desconhecida {word!r} (posição {pos}) no texto: "
            f"não está no vocabulário de {self.d_vocab} tokens. {hint}"
        )

    def to_tokens(self, text, prepend_bos: bool = True) -> torch.Tensor:
        """Texto (ou lista de textos) -> tensor LongTensor [batch, pos].

        Não há padding: todos os textos de uma lista precisam ter o mesmo número de tokens.
        """
        if isinstance(text, str):
            texts = [text]
        elif isinstance(text, (list, tuple)):
            texts = list(text)
            if len(texts) == 0:
                raise ValueError("to_tokens: 'text' é uma lista vazia; esperado pelo menos um texto.")
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise TypeError(f"to_tokens: 'text[{i}]' deve ser str, mas veio {type(t).__name__}.")
        else:
            raise TypeError(f"to_tokens: 'text' deve ser str ou lista de str, mas veio {type(text).__name__}.")
        rows = [self.encode(t, prepend_bos=prepend_bos) for t in texts]
        lengths = [len(r) for r in rows]
        if len(set(lengths)) > 1:
            raise ValueError(
                f"to_tokens: os textos têm números de tokens diferentes ({lengths}) e este tokenizador "
                "não faz padding; passe textos com o mesmo número de tokens ou tokenize um por vez."
            )
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), lengths[0])

    def to_single_token(self, word: str) -> int:
        """Id de uma única palavra (ValueError se o texto não for exatamente um token)."""
        if not isinstance(word, str):
            raise TypeError(f"to_single_token: 'word' deve ser str, mas veio {type(word).__name__}.")
        ids = self.encode(word, prepend_bos=False)
        if len(ids) != 1:
            raise ValueError(
                f"to_single_token: 'word' deve ser exatamente um token, mas {word!r} "
                f"vira {len(ids)} tokens: {self.split(word)}."
            )
        return ids[0]

    # ------------------------------------------------------------------ tokens -> texto
    def _check_ids(self, ids, fn: str) -> list[int]:
        """Valida uma sequência de ids (lista de int ou tensor 1-D inteiro) e devolve lista de int."""
        if isinstance(ids, torch.Tensor):
            if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
                raise TypeError(f"{fn}: 'ids' deve ser um tensor de inteiros (torch.long), mas veio dtype {ids.dtype}.")
            if ids.ndim == 2 and ids.shape[0] == 1:
                ids = ids[0]
            if ids.ndim != 1:
                raise ValueError(
                    f"{fn}: 'ids' deve ser um tensor 1-D [pos] (ou [1, pos]), mas veio shape {tuple(ids.shape)}."
                )
            ids = ids.tolist()
        elif isinstance(ids, (list, tuple)):
            for i, x in enumerate(ids):
                if isinstance(x, bool) or not isinstance(x, int):
                    raise TypeError(f"{fn}: 'ids[{i}]' deve ser int, mas veio {type(x).__name__} ({x!r}).")
            ids = list(ids)
        else:
            raise TypeError(f"{fn}: 'ids' deve ser lista de int ou tensor 1-D, mas veio {type(ids).__name__}.")
        for i, x in enumerate(ids):
            if not 0 <= x < self.d_vocab:
                raise ValueError(
                    f"{fn}: 'ids[{i}]' = {x} está fora do vocabulário; esperado 0 <= id < {self.d_vocab}."
                )
        return ids

    def to_str_tokens(self, text_or_ids, prepend_bos: bool = True) -> list[str]:
        """Lista das strings de cada token, incluindo "<bos>" (como no TransformerLens).

        Aceita um texto (str) ou ids (lista de int / tensor 1-D). prepend_bos só vale para texto.
        """
        if isinstance(text_or_ids, str):
            ids = self.encode(text_or_ids, prepend_bos=prepend_bos)
        else:
            ids = self._check_ids(text_or_ids, "to_str_tokens")
        return [self.vocab[i] for i in ids]

    def decode(self, ids) -> str:
        """Ids -> texto. Palavras separadas por espaço, sem espaço antes da pontuação; o BOS é omitido."""
        words = [self.vocab[i] for i in self._check_ids(ids, "decode") if i != self.bos_token_id]
        out = ""
        for w in words:
            if out and w not in _NO_SPACE_BEFORE:
                out += " "
            out += w
        return out

    # ------------------------------------------------------------------ salvar / carregar
    def save(self, path) -> None:
        """Salva o vocabulário em JSON (UTF-8, acentos legíveis)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"vocab": self.vocab}, f, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path) -> "Tokenizer":
        """Carrega um tokenizador salvo com save()."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or "vocab" not in data:
            raise ValueError(f"Tokenizer.load: o arquivo {str(path)!r} não tem a chave 'vocab' esperada.")
        return cls(data["vocab"])
