"""Sinusoidal positional encoding (Vaswani et al., 2017) (chapter 09).

Attention treats its input as a set: permuting the tokens permutes the outputs. Adding

    PE[pos, 2i] = sin(pos / 10000^{2i/d}),   PE[pos, 2i+1] = cos(pos / 10000^{2i/d})

to the embeddings gives each position a distinct pattern: every pair of dimensions is a
sinusoid with its own wavelength, from 2π up to 10000·2π, and PE[pos + k] is a fixed rotation
of PE[pos], so relative offsets are easy for attention to pick up.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref import functional as F
from dlkit.ref.module import Module
from dlkit.ref.nn._utils import RngLike, as_rng, positive_int, probability
from dlkit.ref.tensor import Tensor, as_tensor

Array = np.ndarray


def sinusoidal_positional_encoding(max_len: int, d_model: int,
                                   dtype: DTypeLike = np.float32) -> Array:
    """The (max_len, d_model) table PE[pos, 2i] = sin(pos/10000^{2i/d}), PE[pos, 2i+1] = cos(·)
    (chapter 09). An odd d_model keeps the sine of the last pair."""
    max_len, d_model = positive_int(max_len, "max_len"), positive_int(d_model, "d_model")
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)                 # 2i = 0, 2, 4, ...
    angle = pos / 10000.0 ** (two_i / d_model)                          # (max_len, ⌈d/2⌉)
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe.astype(dtype)


class PositionalEncoding(Module):
    """Adds the sinusoidal table to x of shape (N, T, d_model) (``batch_first=False``: (T, N,
    d_model)), then applies dropout, as in the Transformer (chapter 09). It has no parameters."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = True, rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        self.d_model = positive_int(d_model, "d_model")
        self.max_len = positive_int(max_len, "max_len")
        self.dropout = probability(dropout, "dropout")
        self.batch_first = batch_first
        self.rng = None if rng is None else as_rng(rng)
        self.pe = sinusoidal_positional_encoding(self.max_len, self.d_model, dtype)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        layout = "(N, T, {})" if self.batch_first else "(T, N, {})"
        if x.ndim != 3 or x.shape[2] != self.d_model:
            raise ValueError(f"PositionalEncoding expected input of shape "
                             f"{layout.format(self.d_model)}, got {x.shape}")
        length = x.shape[1] if self.batch_first else x.shape[0]
        if length > self.max_len:
            raise ValueError(f"PositionalEncoding expected sequences of at most "
                             f"max_len={self.max_len} positions, got {length}")
        pe = self.pe[:length] if self.batch_first else self.pe[:length, None, :]
        return F.dropout(x + pe.astype(x.dtype, copy=False), self.dropout, self.training, self.rng)

    def __repr__(self) -> str:
        return (f"PositionalEncoding(d_model={self.d_model}, max_len={self.max_len}, "
                f"dropout={self.dropout})")
