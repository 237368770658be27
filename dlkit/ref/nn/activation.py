"""Activation functions as layers, for ``Sequential`` (chapter 01); the math is in
``dlkit.ref.functional`` and ``dlkit.ref.activations``."""
from __future__ import annotations

from typing import Any

from dlkit.ref import functional as F
from dlkit.ref.module import Module
from dlkit.ref.tensor import Tensor


class ReLU(Module):
    """max(0, x) (chapter 01)."""

    def forward(self, x: Any) -> Tensor:
        return F.relu(x)

    def __repr__(self) -> str:
        return "ReLU()"


class LeakyReLU(Module):
    """x for x > 0 else negative_slope·x (chapter 01)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Tanh(Module):
    """tanh(x) (chapter 01)."""

    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)

    def __repr__(self) -> str:
        return "Tanh()"


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e^{-x}) (chapter 01)."""

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)

    def __repr__(self) -> str:
        return "Sigmoid()"


class GELU(Module):
    """x·Φ(x), the Transformer activation; ``approximate="tanh"`` is GPT-2's form (chapter 01)."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU expected approximate 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def __repr__(self) -> str:
        return f"GELU(approximate={self.approximate!r})"
