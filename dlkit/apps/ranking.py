"""Ranking metrics for recommendations: recall@k and NDCG@k (chapter 13, recommender
systems, section "Ranking metrics").

A recommender shows a short list, so what matters is whether the items a user will like are
near the top, not the error of every predicted star. Both metrics take a score for every
(user, item) and a boolean matrix of the held-out items each user liked; items the user already
saw in training are masked out (``exclude``) so they cannot be recommended again.
"""

from __future__ import annotations

import torch


def _top_k(scores: torch.Tensor, relevant: torch.Tensor, k: int, exclude: torch.Tensor | None) -> torch.Tensor:
    if scores.ndim != 2 or relevant.shape != scores.shape:
        raise ValueError(f"expected scores and relevant of one shape (users, items), got "
                         f"{tuple(scores.shape)} and {tuple(relevant.shape)}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"expected k in [1, {scores.shape[1]}] (the number of items), got {k}")
    if exclude is not None:
        if exclude.shape != scores.shape:
            raise ValueError(f"expected exclude of shape {tuple(scores.shape)}, got {tuple(exclude.shape)}")
        scores = scores.masked_fill(exclude.bool(), float("-inf"))
    # ties broken by the lower item id: a stable sort of the negated scores
    return torch.sort(-scores, dim=1, stable=True).indices[:, :k]


def recall_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int,
                exclude: torch.Tensor | None = None) -> float:
    """Mean over users with at least one relevant item of (relevant items in the top k) /
    min(k, relevant items), so a perfect list scores 1 even when a user liked more than k."""
    top = _top_k(scores, relevant, k, exclude)
    relevant = relevant.bool()
    hits = relevant.gather(1, top).sum(1).double()
    counts = relevant.sum(1)
    users = counts > 0
    if not users.any():
        raise ValueError("expected at least one user with a relevant item, got none")
    return float((hits[users] / counts[users].clamp(max=k)).mean())


def ndcg_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int,
              exclude: torch.Tensor | None = None) -> float:
    """Normalised discounted cumulative gain with binary relevance: a hit at rank r counts
    ``1 / log2(r + 1)``, the sum is divided by the best possible sum for that user."""
    top = _top_k(scores, relevant, k, exclude)
    relevant = relevant.bool()
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    dcg = (relevant.gather(1, top).double() * discount).sum(1)
    counts = relevant.sum(1)
    users = counts > 0
    if not users.any():
        raise ValueError("expected at least one user with a relevant item, got none")
    ideal = torch.cumsum(discount, 0)[counts.clamp(min=1, max=k) - 1]
    return float((dcg[users] / ideal[users]).mean())
