"""Mixed precision: which autocast dtype a device gets, and when a gradient scaler is needed
(chapter 11).

Autocast runs the matrix products in a 16-bit float and keeps the weights (the "master" copy
the optimizer updates) and the loss in float32. Two 16-bit formats exist:

- **bfloat16** keeps float32's 8 exponent bits (same range, ~3 significant digits): gradients
  do not underflow, so no scaling is needed. Used on GPUs that support it (Ampere and newer)
  and on the CPU when asked (``precision="bf16"``).
- **float16** has 5 exponent bits: small gradients underflow to 0. A ``GradScaler`` multiplies
  the loss by a large factor before ``backward`` and divides the gradients by it before the
  step, skipping steps whose gradients overflowed and shrinking the factor. Used on older GPUs.

Mixed precision speeds training up and saves memory; it does not improve generalization.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    """What the training loop does for one device: ``dtype`` is the autocast dtype (None: plain
    float32), ``scaled`` says whether a ``torch.amp.GradScaler`` guards the backward pass."""

    device_type: str
    dtype: torch.dtype | None
    scaled: bool

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> AbstractContextManager[Any]:
        """The autocast context of the forward pass (a no-op in float32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A fresh ``GradScaler`` for float16, None otherwise."""
        return torch.amp.GradScaler(self.device_type) if self.scaled else None


def choose_precision(device: torch.device | str, precision: str = "auto") -> Precision:
    """The precision to train in on ``device`` (chapter 11).

    ``"auto"``: on CUDA bfloat16 where the GPU supports it, else float16 with a grad scaler;
    float32 everywhere else. ``"bf16"`` and ``"fp16"`` force a 16-bit format (``"bf16"`` works
    on the CPU too; ``"fp16"`` needs CUDA), ``"fp32"`` turns mixed precision off.
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"expected precision to be one of {PRECISIONS}, got {precision!r}")
    kind = device.type
    if precision == "auto":
        if kind != "cuda":
            return Precision(kind, None, False)
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp32":
        return Precision(kind, None, False)
    if precision == "bf16":
        if kind not in ("cuda", "cpu"):
            raise ValueError(f"expected a cuda or cpu device for bf16 autocast, got {device}")
        if kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"expected a GPU with bfloat16 support for precision='bf16', got "
                             f"{torch.cuda.get_device_name(device)}; use precision='fp16'")
        return Precision(kind, torch.bfloat16, False)
    if kind != "cuda":
        raise ValueError(f"expected a CUDA device for precision='fp16' (float16 autocast with a "
                         f"grad scaler), got {device}; on the CPU use 'bf16' or 'fp32'")
    return Precision(kind, torch.float16, True)
