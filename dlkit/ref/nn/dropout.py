"""``Dropout``: inverted dropout as a layer, the identity in evaluation mode (chapter 06)."""
from __future__ import annotations

from typing import Any

from dlkit.ref import functional as F
from dlkit.ref.module import Module
from dlkit.ref.nn._utils import RngLike, as_rng, probability
from dlkit.ref.tensor import Tensor, as_tensor


class Dropout(Module):
    """Zeroes each entry with probability ``p`` in training and scales the rest by 1/(1 − p),
    so evaluation (``.eval()``) needs no rescaling (chapter 06). ``rng=None`` uses numpy's
    global generator (seeded by ``dlkit.seed``)."""

    def __init__(self, p: float = 0.5, rng: RngLike = None) -> None:
        self.p = probability(p, "Dropout p")
        self.rng = None if rng is None else as_rng(rng)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(as_tensor(x), self.p, self.training, self.rng)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
