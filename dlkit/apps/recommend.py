"""Matrix factorization with biases for explicit ratings, and the baselines it must beat
(chapter 13, recommender systems, section "Matrix factorization").

The model of the Netflix Prize: a rating is the global mean plus how generous the user is plus
how liked the item is plus the agreement of a user vector and an item vector,
``r̂_ui = μ + b_u + b_i + p_u · q_i``, fitted to the observed ratings only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _pairs(users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int) -> None:
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"expected users and items as 1-D tensors of equal length, got {tuple(users.shape)} "
                         f"and {tuple(items.shape)}")
    if users.dtype not in (torch.int32, torch.int64) or items.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"expected integer user and item ids, got {users.dtype} and {items.dtype}")
    for name, ids, size in (("user", users, num_users), ("item", items, num_items)):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
            raise IndexError(f"expected {name} ids in [0, {size}), got {int(ids.min())}..{int(ids.max())}")


class MatrixFactorization(nn.Module):
    """``r̂_ui = μ + b_u + b_i + p_u · q_i`` (chapter 13). ``global_mean`` is μ, fixed from the
    training ratings; biases start at 0, factors small and random (``std``)."""

    def __init__(self, num_users: int, num_items: int, rank: int = 8, global_mean: float = 0.0,
                 std: float = 0.1) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"expected rank >= 1, got {rank}")
        self.num_users, self.num_items = num_users, num_items
        self.user_factors = nn.Parameter(torch.randn(num_users, rank) * std)
        self.item_factors = nn.Parameter(torch.randn(num_items, rank) * std)
        self.user_bias = nn.Parameter(torch.zeros(num_users))
        self.item_bias = nn.Parameter(torch.zeros(num_items))
        self.register_buffer("global_mean", torch.tensor(float(global_mean)))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        _pairs(users, items, self.num_users, self.num_items)
        agreement = (self.user_factors[users] * self.item_factors[items]).sum(-1)
        return self.global_mean + self.user_bias[users] + self.item_bias[items] + agreement

    def score_all(self) -> torch.Tensor:
        """Predicted ratings for every (user, item): the (num_users, num_items) matrix to rank."""
        return (self.global_mean + self.user_bias[:, None] + self.item_bias[None, :]
                + self.user_factors @ self.item_factors.T)

    def penalty(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The L2 penalty on the parameters a batch touches, summed over the batch (the
        regulariser of Koren et al. 2009: a rarely rated user or item is pulled to 0 more)."""
        return (self.user_factors[users].pow(2).sum() + self.item_factors[items].pow(2).sum()
                + self.user_bias[users].pow(2).sum() + self.item_bias[items].pow(2).sum())


def fit_matrix_factorization(model: MatrixFactorization, users: torch.Tensor, items: torch.Tensor,
                             ratings: torch.Tensor, steps: int = 300, lr: float = 0.05,
                             weight_decay: float = 0.05) -> list[float]:
    """Full-batch Adam on ``mean((r̂ - r)²) + weight_decay · penalty / n`` (chapter 13).
    Returns the training loss of each step."""
    if ratings.shape != users.shape:
        raise ValueError(f"expected one rating per (user, item) pair, got {tuple(ratings.shape)} "
                         f"ratings for {tuple(users.shape)} pairs")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (model(users, items) - ratings).pow(2).mean()
        (loss + weight_decay * model.penalty(users, items) / len(ratings)).backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def rmse(predicted: torch.Tensor | np.ndarray, actual: torch.Tensor | np.ndarray) -> float:
    """Root mean squared error, the Netflix Prize metric (chapter 13)."""
    predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape or predicted.size == 0:
        raise ValueError(f"expected two non-empty arrays of one shape, got {predicted.shape} and {actual.shape}")
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def item_means(items: np.ndarray, ratings: np.ndarray, num_items: int, shrink: float = 0.0) -> np.ndarray:
    """Each item's mean training rating (chapter 13's baseline); an item never rated gets the
    global mean. ``shrink`` adds that many pseudo-ratings at the global mean (a damped mean)."""
    items, ratings = np.asarray(items), np.asarray(ratings, dtype=np.float64)
    if items.shape != ratings.shape:
        raise ValueError(f"expected one rating per item id, got {ratings.shape} and {items.shape}")
    mean = ratings.mean()
    sums = np.bincount(items, weights=ratings, minlength=num_items) + shrink * mean
    counts = np.bincount(items, minlength=num_items) + shrink
    return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), mean)
