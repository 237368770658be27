"""Two-tower retrieval trained on implicit feedback with in-batch negatives (chapter 13,
recommender systems, section "Retrieval and ranking at YouTube scale").

A user tower and an item tower map each side to a vector; the score is their cosine over a
temperature. Because the item vectors do not depend on the user, they are computed once and
searched with a nearest-neighbour index: that is how YouTube (Covington et al., 2016; Yi et al.,
2019) picks a few hundred candidates out of millions before a heavier model ranks them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _tower(count: int, dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Embedding(count, hidden), nn.ReLU(), nn.Linear(hidden, dim))


class TwoTower(nn.Module):
    """User and item towers, each an id embedding followed by a linear layer (chapter 13).
    Real towers also read features (history, context, item text), which is what lets them
    embed a brand-new item; ids are enough to show the training."""

    def __init__(self, num_users: int, num_items: int, dim: int = 32, hidden: int = 64,
                 temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"expected a temperature > 0, got {temperature}")
        self.user_tower, self.item_tower = _tower(num_users, dim, hidden), _tower(num_items, dim, hidden)
        self.temperature = temperature
        self.num_items = num_items

    def users(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.user_tower(ids), dim=-1)

    def items(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Unit vectors of ``ids``, or of the whole catalogue (the retrieval index)."""
        ids = torch.arange(self.num_items) if ids is None else ids
        return F.normalize(self.item_tower(ids), dim=-1)

    def score_all(self, user_ids: torch.Tensor) -> torch.Tensor:
        """Scores (len(user_ids), num_items): one matrix product against the index."""
        return self.users(user_ids) @ self.items().T / self.temperature


def in_batch_softmax_loss(model: TwoTower, users: torch.Tensor, items: torch.Tensor,
                          log_frequency: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of picking each user's own item among the batch's items (chapter 13): the
    other users' positives are the negatives. A popular item appears as a negative in many
    batches and would be pushed down for being popular; the **logQ correction** (Yi et al.,
    2019) subtracts each item's log sampling frequency ``log_frequency`` from its logit, which
    makes the in-batch loss estimate the full softmax over the catalogue."""
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"expected 1-D user and item ids of equal length, got {tuple(users.shape)} "
                         f"and {tuple(items.shape)}")
    logits = model.users(users) @ model.items(items).T / model.temperature
    if log_frequency is not None:
        logits = logits - log_frequency[items][None, :]
    return F.cross_entropy(logits, torch.arange(len(users)))


def fit_two_tower(model: TwoTower, users: torch.Tensor, items: torch.Tensor, epochs: int = 20,
                  batch_size: int = 256, lr: float = 0.01, generator: torch.Generator | None = None,
                  log_q: bool = True) -> list[float]:
    """Adam on :func:`in_batch_softmax_loss` over shuffled batches of positive (user, item)
    pairs, with the logQ correction from the pairs' item counts unless ``log_q`` is False;
    returns the mean loss of each epoch."""
    counts = torch.bincount(items, minlength=model.num_items).double()
    log_frequency = (counts.clamp(min=1) / len(items)).log().float() if log_q else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        total, batches = 0.0, 0
        for batch in torch.randperm(len(users), generator=generator).split(batch_size):
            if len(batch) < 2:
                continue   # one pair has no negative to compare with
            optimizer.zero_grad()
            loss = in_batch_softmax_loss(model, users[batch], items[batch], log_frequency)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        history.append(total / max(batches, 1))
    return history
