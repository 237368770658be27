"""``Embedding``: a lookup table of learned vectors, one row per token id (chapter 08).

Looking up row i is the same as multiplying a one-hot vector by the table, so the gradient of
row i is the sum of the output gradients at every position where id i occurs (repeated ids add
up), and rows that never occur get zero.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref.module import Module, parameter
from dlkit.ref.nn._utils import RngLike, as_rng, positive_int
from dlkit.ref.tensor import Tensor, as_tensor

Array = np.ndarray


def _as_ids(ids: Any, num_embeddings: int, who: str) -> Array:
    array = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype(np.int64)  # Tensor([3, 1]) holds floats: accept whole numbers
    if array.dtype.kind not in "iu":
        raise TypeError(f"{who} expected integer ids, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_embeddings):
        bad = array.min() if array.min() < 0 else array.max()
        raise ValueError(f"{who} expected ids in [0, {num_embeddings}), got {bad}")
    return array


def embedding(ids: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``ids`` of any shape; the
    output has shape ids.shape + (dim,) (chapter 08). Row ``padding_idx`` gets no gradient."""
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding expected weight of shape (num_embeddings, embedding_dim), "
                         f"got {weight.shape}")
    ids = _as_ids(ids, weight.shape[0], "embedding")
    out = Tensor._result(weight.data[ids], (weight,), "embedding")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        grad = np.zeros_like(weight.data)
        np.add.at(grad, ids.reshape(-1), out.grad.reshape(-1, weight.shape[1]))  # repeats add up
        if padding_idx is not None:
            grad[padding_idx] = 0
        weight._accumulate(grad)
    out._backward = _backward
    return out


class Embedding(Module):
    """A table of ``num_embeddings`` learned vectors of size ``embedding_dim``, initialised
    N(0, 1) like torch; the ``padding_idx`` row starts at zero and is never updated (chapter 08)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: RngLike = None, dtype: DTypeLike = np.float32) -> None:
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"expected padding_idx in [-{num_embeddings}, {num_embeddings}), "
                                 f"got {padding_idx}")
            padding_idx %= num_embeddings  # torch counts a negative index from the end
        self.padding_idx = padding_idx
        table = as_rng(rng).standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            table[padding_idx] = 0.0
        self.weight = parameter(table, dtype=dtype)

    def forward(self, ids: Any) -> Tensor:
        _as_ids(ids, self.num_embeddings, "Embedding")  # checked here so the error names the layer
        return embedding(ids, self.weight, self.padding_idx)

    def __repr__(self) -> str:
        return (f"Embedding({self.num_embeddings}, {self.embedding_dim}, "
                f"padding_idx={self.padding_idx})")
