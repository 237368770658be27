"""Character and word tokenizers, both built on :class:`~dlkit.data.vocab.Vocab` (chapter 08).

A tokenizer splits text into tokens and numbers them with a vocabulary fitted on a text:

>>> tok = CharTokenizer("hello")
>>> tok.decode(tok.encode("hello"))
'hello'
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from dlkit.data.vocab import Vocab

WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


class Tokenizer(ABC):
    """Shared behaviour: ``encode``, ``decode`` and the vocabulary; subclasses say how text
    splits into tokens (``tokenize``) and how tokens join back (``join``)."""

    def __init__(self, text: str, min_freq: int = 1, max_size: int | None = None) -> None:
        if not isinstance(text, str):
            raise TypeError(
                f"expected the text to fit the vocabulary on, got {type(text).__name__}"
            )
        self.vocab = Vocab(self.tokenize(text), min_freq=min_freq, max_size=max_size)

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into tokens."""

    @abstractmethod
    def join(self, tokens: list[str]) -> str:
        """Put tokens back together into text."""

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (chapter 08)."""
        if not isinstance(text, str):
            raise TypeError(f"expected text (str) to encode, got {type(text).__name__}")
        return self.vocab.encode(self.tokenize(text))

    def decode(self, ids: Iterable[int] | np.ndarray, skip_specials: bool = True) -> str:
        """Text of token ids; by default ``<pad>``, ``<bos>`` and ``<eos>`` are dropped."""
        return self.join(self.vocab.decode(np.asarray(ids).ravel().tolist(), skip_specials))


class CharTokenizer(Tokenizer):
    """One token per character (chapter 08): ``decode(encode(s)) == s`` for known characters."""

    def tokenize(self, text: str) -> list[str]:
        """The characters of ``text``."""
        return list(text)

    def join(self, tokens: list[str]) -> str:
        """Characters concatenated."""
        return "".join(tokens)


class WordTokenizer(Tokenizer):
    """Lowercased words and single punctuation marks (chapter 08): ``"Don't!"`` becomes
    ``["don", "'", "t", "!"]``. Decoding joins tokens with spaces, so it gives back the tokens,
    not the original spacing: ``tokenize(decode(encode(s))) == tokenize(s)``."""

    def tokenize(self, text: str) -> list[str]:
        """Lowercased ``\\w+`` runs and single non-space symbols, in order."""
        return WORD_PATTERN.findall(text.lower())

    def join(self, tokens: list[str]) -> str:
        """Tokens separated by single spaces."""
        return " ".join(tokens)
