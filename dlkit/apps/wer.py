"""Word error rate, the score of a speech recogniser (chapter 13, section "Speech recognition").

``WER = (S + D + I) / N``: the fewest word substitutions, deletions and insertions that turn the
reference transcript (N words) into the recogniser's hypothesis, found by the Levenshtein
dynamic programme over words.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class EditCounts(NamedTuple):
    """The operations of one cheapest alignment of hypothesis to reference."""
    substitutions: int
    deletions: int
    insertions: int

    @property
    def total(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def _words(text: str | Sequence[str], name: str) -> list[str]:
    if isinstance(text, str):
        return text.split()
    if all(isinstance(w, str) for w in text):
        return list(text)
    raise TypeError(f"expected {name} as a string or a sequence of words, got {type(text).__name__}")


def edit_counts(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> EditCounts:
    """Substitutions, deletions and insertions of a cheapest word alignment (chapter 13).

    ``cost[i][j]`` is the edit distance between the first ``i`` reference words and the first
    ``j`` hypothesis words; each cell keeps the operation counts of its cheapest path.
    """
    ref, hyp = _words(reference, "reference"), _words(hypothesis, "hypothesis")
    # each cell: (total, substitutions, deletions, insertions); tuples compare by total first
    previous = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        current = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            t, s, d, n = previous[j - 1]
            same = ref[i - 1] == hyp[j - 1]
            diagonal = (t + (not same), s + (not same), d, n)
            t, s, d, n = previous[j]
            deletion = (t + 1, s, d + 1, n)
            t, s, d, n = current[j - 1]
            insertion = (t + 1, s, d, n + 1)
            current.append(min(diagonal, deletion, insertion))
        previous = current
    _, s, d, n = previous[-1]
    return EditCounts(s, d, n)


def word_error_rate(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """``(S + D + I) / N`` (chapter 13). It can exceed 1 when the hypothesis inserts many words."""
    ref = _words(reference, "reference")
    if not ref:
        raise ValueError("expected a reference with at least one word, got an empty one")
    return edit_counts(ref, hypothesis).total / len(ref)
