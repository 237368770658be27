"""``Linear``: y = x Wᵀ + b, torch's layout and default init (chapter 02)."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref import functional as F
from dlkit.ref.module import Module
from dlkit.ref.nn._utils import (
    RngLike,
    as_rng,
    positive_int,
    torch_default_bias,
    torch_default_weight,
)
from dlkit.ref.tensor import Tensor, as_tensor


class Linear(Module):
    """A fully connected layer, y = x Wᵀ + b, over the last dimension of x (chapter 02).

    ``weight`` has torch's shape (out_features, in_features), so a torch layer's weights copy
    straight in; both start as U(±1/√in_features), torch's default.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: RngLike = None, dtype: DTypeLike = np.float32) -> None:
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        rng = as_rng(rng)
        self.weight = torch_default_weight((self.out_features, self.in_features), rng, dtype)
        self.bias = (torch_default_bias(self.out_features, self.in_features, rng, dtype) if bias
                     else None)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            got = x.shape[-1] if x.ndim else "a scalar"
            raise ValueError(f"Linear expected last dimension {self.in_features}, got {got} "
                             f"(input of shape {x.shape})")
        return F.linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None})"
