"""Structural layers: ``Sequential`` chains layers; ``Flatten`` and ``Identity`` reshape or pass
through, so a whole network can be written as one list (chapters 02, 07)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dlkit.ref.module import Module
from dlkit.ref.tensor import Tensor, as_tensor


class Sequential(Module):
    """Applies its layers in order: ``Sequential(Linear(784, 64), ReLU(), Linear(64, 10))``
    (chapter 02). Parameters are named like torch's: ``0.weight``, ``2.bias``, ..."""

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential expected Module layers, got {type(layer).__name__} "
                                f"at position {i}")
        self.layers = list(layers)

    def _children(self) -> Iterator[tuple[str, Any]]:
        # torch names a Sequential's parameters by position alone ("0.weight"): weights copy across
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        body = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({body}\n)"


class Flatten(Module):
    """Flattens dimensions ``start_dim`` .. ``end_dim`` into one, e.g. (N, C, H, W) → (N, C·H·W)
    before the classifier of a CNN (chapter 07)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        start = self.start_dim % x.ndim if x.ndim else 0
        end = self.end_dim % x.ndim if x.ndim else 0
        if x.ndim == 0 or start > end:
            raise ValueError(f"Flatten expected an input with dimensions "
                             f"{self.start_dim}..{self.end_dim}, got shape {x.shape}")
        return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class Identity(Module):
    """Returns its input unchanged: a placeholder, e.g. a skip connection with no projection."""

    def forward(self, x: Any) -> Any:
        return x

    def __repr__(self) -> str:
        return "Identity()"
