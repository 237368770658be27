"""A recommender's feedback loop, simulated: it learns from what it showed (chapter 13,
recommender systems, section "Feedback loops").

Each round the system recommends each user the ``k`` items with the most interactions so far
(some slots random when it explores); users take the recommended items they truly like; those
interactions are added to the counts the next round ranks by. Without exploration the items
that start ahead stay ahead, and the rest of the catalogue is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LoopHistory:
    """Per round: the share of all interactions held by the most-interacted 10 % of items, and
    the fraction of the catalogue recommended at least once so far."""

    top_share: list[float]
    coverage: list[float]


def _top_share(counts: np.ndarray) -> float:
    top = max(1, int(round(0.1 * counts.size)))
    return float(np.sort(counts)[::-1][:top].sum() / max(counts.sum(), 1e-12))


def simulate_feedback_loop(true_scores: np.ndarray, counts: np.ndarray, rounds: int = 8, k: int = 10,
                           explore: float = 0.0, like_threshold: float = 4.0,
                           rng: np.random.Generator | None = None) -> LoopHistory:
    """Run the popularity recommender's loop (chapter 13). ``true_scores`` (users, items) are
    the ratings users would give; ``counts`` (items,) the interactions logged so far; a user
    takes a recommended item if its true score is at least ``like_threshold``, once. A share
    ``explore`` of each list is drawn at random from the items the user has not taken."""
    true_scores, counts = np.asarray(true_scores, dtype=np.float64), np.asarray(counts, dtype=np.float64).copy()
    if true_scores.ndim != 2 or counts.shape != (true_scores.shape[1],):
        raise ValueError(f"expected true_scores (users, items) and counts (items,), got "
                         f"{true_scores.shape} and {counts.shape}")
    num_users, num_items = true_scores.shape
    if not 1 <= k <= num_items or not 0 <= explore <= 1:
        raise ValueError(f"expected k in [1, {num_items}] and explore in [0, 1], got k={k}, explore={explore}")
    rng = np.random.default_rng() if rng is None else rng
    taken = np.zeros(true_scores.shape, dtype=bool)
    shown = np.zeros(num_items, dtype=bool)
    history = LoopHistory([_top_share(counts)], [0.0])
    random_slots = int(round(explore * k))
    for _ in range(rounds):
        new = np.zeros(num_items)
        for user in range(num_users):
            available = np.flatnonzero(~taken[user])
            if available.size == 0:
                continue
            by_popularity = available[np.argsort(-counts[available], kind="stable")]
            chosen = by_popularity[: k - random_slots]
            rest = np.setdiff1d(available, chosen)
            if random_slots and rest.size:
                chosen = np.r_[chosen, rng.choice(rest, size=min(random_slots, rest.size), replace=False)]
            shown[chosen] = True
            liked = chosen[true_scores[user, chosen] >= like_threshold]
            taken[user, liked] = True
            new[liked] += 1
        counts += new
        history.top_share.append(_top_share(counts))
        history.coverage.append(float(shown.mean()))
    return history
