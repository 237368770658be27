"""``Vocab``: a two-way map between tokens and integer ids (chapter 08).

Token conventions shared by every dlkit sequence dataset and tokenizer:

=====  =========  ===============================================================
 id     token      meaning
=====  =========  ===============================================================
 0      <pad>      padding that fills short sequences to a fixed length
 1      <unk>      a token outside the vocabulary
 2      <bos>      beginning of sequence (the first decoder input)
 3      <eos>      end of sequence
 4..    ...        the real tokens, most frequent first, ties in token order
=====  =========  ===============================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from dlkit.data._checks import check_positive_int

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")


class Vocab:
    """Tokens numbered by frequency (chapter 08): specials first, then ``count`` descending,
    ties broken by the token itself, so the same text always gives the same ids.

    ``min_freq`` drops rarer tokens (they encode to ``<unk>``); ``max_size`` caps the total
    size, specials included.
    """

    def __init__(
        self, tokens: Iterable[str] = (), min_freq: int = 1, max_size: int | None = None
    ) -> None:
        min_freq = check_positive_int("min_freq", min_freq)
        if max_size is not None:
            max_size = check_positive_int("max_size", max_size, minimum=len(SPECIALS))
        if isinstance(tokens, str):
            raise TypeError(
                "expected an iterable of tokens, got one string; tokenize it first "
                "(e.g. list(text) for characters)"
            )
        counts = Counter(tokens)
        bad = [t for t in counts if not isinstance(t, str)]
        if bad:
            raise TypeError(f"expected string tokens, got {type(bad[0]).__name__} {bad[0]!r}")
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        self.counts: dict[str, int] = {t: counts[t] for t in ranked}
        self.itos: list[str] = [*SPECIALS, *ranked]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        shown = self.itos[len(SPECIALS) : len(SPECIALS) + 10]
        more = ", ..." if len(self) > len(SPECIALS) + 10 else ""
        return f"Vocab({len(self)} tokens: {list(SPECIALS)} + {shown}{more})"

    def token_to_id(self, token: str) -> int:
        """The id of ``token``, or the ``<unk>`` id if it is not in the vocabulary."""
        return self.stoi.get(token, UNK)

    def id_to_token(self, index: int) -> str:
        """The token with id ``index``."""
        if not 0 <= int(index) < len(self):
            raise IndexError(f"expected a token id in [0, {len(self)}), got {index}")
        return self.itos[int(index)]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens`` (unknown tokens map to ``<unk>``)."""
        if isinstance(tokens, str) and len(tokens) != 1:
            raise TypeError(
                "expected a sequence of tokens, got one string; use a tokenizer's encode"
            )
        return [self.token_to_id(t) for t in tokens]

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> list[str]:
        """Tokens of ``ids``; ``skip_specials`` drops ``<pad>``, ``<bos>`` and ``<eos>``."""
        tokens = [self.id_to_token(i) for i in ids]
        if skip_specials:
            dropped = {SPECIALS[PAD], SPECIALS[BOS], SPECIALS[EOS]}
            tokens = [t for t in tokens if t not in dropped]
        return tokens
