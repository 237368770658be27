"""Argument checks shared by ``dlkit.trust``: errors that say what was expected and what was found."""
from __future__ import annotations

import math

import torch


def check_epsilon(name: str, value: float, allow_zero: bool = True) -> float:
    """``value`` as a float, or a ValueError when it is negative (or zero, if not allowed) or not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected {name} to be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"expected {name} {bound}, got {value}")
    return float(value)


def check_batch(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """A float batch ``x`` (N, ...) with, if given, one integer label per sample in ``y``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        found = f"{type(x).__name__}" if not isinstance(x, torch.Tensor) else f"{x.dtype} of shape {tuple(x.shape)}"
        raise ValueError(f"expected a float tensor batch of shape (N, ...), got {found}")
    if y is not None:
        if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1] or y.is_floating_point():
            found = f"{type(y).__name__}" if not isinstance(y, torch.Tensor) else f"{y.dtype} of shape {tuple(y.shape)}"
            raise ValueError(f"expected integer labels of shape ({x.shape[0]},), got {found}")
