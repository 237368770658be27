"""Connectionist temporal classification (CTC): how a speech model that emits one symbol per
audio frame is read as a shorter transcript (chapter 13, section "Speech recognition").

A frame-level *path* becomes a label sequence by the collapse map B: merge repeated symbols,
then drop the blank. The CTC probability of a transcript sums the probabilities of every path
that collapses to it; :func:`ctc_loss_brute_force` does exactly that by enumeration, the
definition that ``torch.nn.CTCLoss`` computes with dynamic programming.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def ctc_collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """The collapse map B: merge runs of the same symbol, then remove blanks (chapter 13).

    ``[a, a, blank, a, b, b] -> [a, a, b]``: a blank between two equal symbols keeps both.
    """
    out: list[int] = []
    previous = None
    for symbol in (int(s) for s in path):
        if symbol != previous and symbol != blank:
            out.append(symbol)
        previous = symbol
    return out


def greedy_ctc_decode(log_probs, blank: int = 0) -> list[int] | list[list[int]]:
    """Best-path decoding: the most probable symbol in each frame, then :func:`ctc_collapse`
    (chapter 13).

    ``log_probs`` is (T, C) for one utterance or (T, N, C) for a batch (``nn.CTCLoss``'s
    layout), numpy or torch; returns a label list, or one list per utterance.
    """
    scores = np.asarray(log_probs.detach().cpu() if hasattr(log_probs, "detach") else log_probs)
    if scores.ndim == 2:
        return ctc_collapse(scores.argmax(-1), blank)
    if scores.ndim == 3:
        best = scores.argmax(-1)
        return [ctc_collapse(best[:, n], blank) for n in range(best.shape[1])]
    raise ValueError(f"expected log_probs of shape (T, C) or (T, N, C), got {scores.shape}")


def ctc_loss_brute_force(log_probs, target: Sequence[int], blank: int = 0) -> float:
    """``-log sum_{paths pi: B(pi) = target} prod_t p_t(pi_t)`` by enumerating all C**T paths
    (chapter 13). Only for tiny examples (at most a million paths); it is the definition that the
    CTC forward algorithm computes in O(T * len(target))."""
    scores = np.asarray(log_probs.detach().cpu() if hasattr(log_probs, "detach") else log_probs, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"expected log_probs of shape (T, C), got {scores.shape}")
    steps, classes = scores.shape
    if classes ** steps > 1_000_000:
        raise ValueError(f"expected at most a million paths, got C**T = {classes}**{steps}")
    target = [int(s) for s in target]
    if blank in target or any(not 0 <= s < classes for s in target):
        raise ValueError(f"expected target labels in [0, {classes}) other than blank {blank}, got {target}")
    total = [sum(scores[t, s] for t, s in enumerate(path))
             for path in itertools.product(range(classes), repeat=steps) if ctc_collapse(path, blank) == target]
    if not total:
        return float("inf")                                # no path fits: probability 0
    return float(-np.logaddexp.reduce(total))
