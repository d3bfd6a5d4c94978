"""BERT's uncased tokenizer (Devlin et al. 2019, https://arxiv.org/abs/1810.04805; Wu et al. 2016's WordPiece):
the normalisation and splitting of Hugging Face's ``BertNormalizer`` + ``BertPreTokenizer``, then greedy
longest-match-first WordPiece over the model's ``vocab.txt``, framed by [CLS] ... [SEP]."""
from __future__ import annotations

import unicodedata

MAX_WORD_CHARS = 100  # longer words become [UNK], as in BERT


def _is_punctuation(ch: str) -> bool:
    code = ord(ch)
    # ASCII non-alphanumerics count as punctuation although Unicode files some ($, ^, `) as symbols
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                               (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                               (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def _normalise(text: str) -> str:
    """Drop control characters, map whitespace to ' ', space out CJK characters, lowercase, strip accents."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0 or code == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch.isspace():
            out.append(" ")
        elif _is_cjk(code):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def _words(text: str) -> list[str]:
    """Whitespace split, then every punctuation character is a word of its own."""
    words = []
    for chunk in text.split():
        current = ""
        for ch in chunk:
            if _is_punctuation(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words


class WordPieceTokenizer:
    def __init__(self, vocab: list[str]) -> None:
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.cls, self.sep, self.unk = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]

    @classmethod
    def from_vocab_text(cls, text: str) -> WordPieceTokenizer:
        return cls([line.rstrip("\n") for line in text.splitlines()])

    def _pieces(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    start = end
                    break
            else:  # no prefix of the rest is in the vocabulary: the whole word is unknown
                return [self.unk]
        return pieces

    def encode(self, text: str, *, max_length: int = 256) -> list[int]:
        """[CLS] pieces [SEP], truncated to ``max_length`` ids (the sentence-transformers default is 256)."""
        ids = [piece for word in _words(_normalise(text)) for piece in self._pieces(word)]
        return [self.cls, *ids[:max_length - 2], self.sep]
