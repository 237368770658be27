"""Scaled dot-product attention, its masks, and multi-head attention (chapter 09).

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + mask) V

Each query scores every key by a dot product, the softmax turns a row of scores into weights
that sum to 1, and the output is the weighted average of the values. Dividing by √d_k keeps
the scores' variance near 1 whatever the head size, so the softmax does not saturate.

Masks. ``scaled_dot_product_attention`` takes torch's ``F.scaled_dot_product_attention``
convention: a boolean mask is True where a query MAY attend; a float mask is added to the
scores (0 keeps, −inf removes). ``MultiHeadAttention`` takes ``torch.nn.MultiheadAttention``'s
convention instead, so the same masks can be passed to both: ``key_padding_mask`` and a boolean
``attn_mask`` are True where attention is NOT allowed.

A query whose every key is masked has nothing to attend to. The softmax of a row of −inf is
0/0 = NaN; here such rows get all-zero weights, so their output is 0 and their gradient is 0
(``F.scaled_dot_product_attention`` does the same; ``nn.MultiheadAttention`` returns NaN).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref import functional as F
from dlkit.ref import init
from dlkit.ref.module import Module, parameter
from dlkit.ref.nn._utils import RngLike, as_rng, positive_int, probability
from dlkit.ref.nn.cells import affine_sum
from dlkit.ref.nn.linear import Linear
from dlkit.ref.tensor import Tensor, as_tensor

Array = np.ndarray


def causal_mask(T: int) -> Array:
    """(T, T) boolean mask, True on and below the diagonal: position t may attend to 0..t only,
    so a language model cannot peek at the tokens it must predict (chapter 09)."""
    return np.tril(np.ones((positive_int(T, "T"), T), dtype=bool))


def padding_mask(lengths: Any, T: int) -> Array:
    """(N, T) boolean mask, True for the first lengths[n] positions of sequence n (its real
    tokens) and False for the padding after them (chapter 09)."""
    lengths = np.asarray(lengths)
    valid = lengths.ndim == 1 and lengths.dtype.kind in "iu"
    if not valid or np.any(lengths < 0) or np.any(lengths > T):
        raise ValueError(f"padding_mask expected a 1-D array of integer lengths in [0, {T}], "
                         f"got {lengths!r}")
    return np.arange(T)[None, :] < lengths[:, None]


def _check_mask(mask: Any, scores_shape: tuple[int, ...], who: str) -> Array:
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype.kind not in "bf":
        raise TypeError(f"{who} expected a boolean or float mask, got dtype {mask.dtype}")
    try:
        fits = np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{who} expected a mask broadcastable to the scores' shape "
                         f"{scores_shape}, got {mask.shape}")
    return mask


def attention_weights(q: Tensor, k: Tensor, mask: Any = None, causal: bool = False) -> Tensor:
    """softmax(q kᵀ/√d + mask) over the keys, as one op: (..., Tq, d), (..., Tk, d) →
    (..., Tq, Tk) (chapter 09). Fully masked rows come out as zeros instead of NaN."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    # scale q, not the (Tq, Tk) scores: the same product, fewer multiplications
    scores = (q.data * scale) @ np.swapaxes(k.data, -1, -2)
    allowed = None
    if mask is not None:
        mask = _check_mask(mask, scores.shape, "attention")
        if mask.dtype == bool:
            allowed = mask
        else:
            scores += mask.astype(scores.dtype, copy=False)
    if causal:
        tri = np.tril(np.ones(scores.shape[-2:], dtype=bool))  # top-left aligned, like torch
        allowed = tri if allowed is None else allowed & tri
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    # a stable softmax over the keys, in place: subtract the row max, exponentiate, normalise
    row_max = scores.max(axis=-1, keepdims=True)
    scores -= np.where(np.isfinite(row_max), row_max, 0)    # a fully masked row stays at −inf ...
    weights = np.exp(scores, out=scores)
    total = weights.sum(axis=-1, keepdims=True)
    weights /= np.where(total > 0, total, 1)                 # ... so it divides 0 by 1, not 0 by 0
    out = Tensor._result(weights, (q, k), "attention_weights")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        dp = out.grad
        ds = dp - (dp * weights).sum(axis=-1, keepdims=True)   # softmax: s ⊙ (dp − Σ dp s)
        ds *= weights
        if q.requires_grad:
            q._accumulate((ds @ k.data) * scale)
        if k.requires_grad:
            k._accumulate((np.swapaxes(ds, -1, -2) @ q.data) * scale)
    out._backward = _backward
    return out


def scaled_dot_product_attention(q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False,
                                 dropout_p: float = 0.0,
                                 rng: RngLike = None) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ/√d + mask) v, returning (output, weights) (chapter 09).

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv) → output (..., Tq, dv), weights (..., Tq, Tk).
    ``mask``: boolean, True where a query may attend, or float, added to the scores; broadcastable
    to (..., Tq, Tk). ``causal``: position i attends to keys 0..i only. ``dropout_p`` drops
    weights (always, like torch's function; pass 0 in evaluation). The returned weights are the
    softmax before dropout; fully masked rows give zero weights and zero output."""
    q, k, v = (as_tensor(t) for t in (q, k, v))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention expected q, k, v of shape (..., T, d), got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention expected q and k with the same last "
                         f"dimension d, got {q.shape} and {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention expected k and v with the same number of "
                         f"keys, got {k.shape} and {v.shape}")
    dropout_p = probability(dropout_p, "dropout_p")
    weights = attention_weights(q, k, mask, causal)
    dropped = weights
    if dropout_p > 0:
        dropped = F.dropout(weights, dropout_p, True, None if rng is None else as_rng(rng))
    return dropped @ v, weights


class MultiHeadAttention(Module):
    """Multi-head attention with ``torch.nn.MultiheadAttention``'s parameters: the packed
    ``in_proj_weight`` (3E, E) (rows for q, k, v), ``in_proj_bias`` (3E,) and ``out_proj``
    (chapter 09).

    forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights,
    is_causal) → (output, weights) as in torch, with ``batch_first=True`` by default (inputs
    (N, L, E)). Each of the h heads attends in its own d = E/h dimensional subspace; the heads'
    outputs are concatenated and mixed by ``out_proj``. Masks follow torch's MultiheadAttention:
    True = NOT allowed. ``is_causal=True`` adds the causal mask itself."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = True, rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        self.embed_dim = positive_int(embed_dim, "embed_dim")
        self.num_heads = positive_int(num_heads, "num_heads")
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention expected embed_dim divisible by num_heads, "
                             f"got {embed_dim} and {num_heads}")
        self.head_dim = embed_dim // num_heads
        self.dropout = probability(dropout, "dropout")
        self.batch_first = batch_first
        self.rng = as_rng(rng)
        e = embed_dim
        self.in_proj_weight = parameter(init.xavier_uniform((3 * e, e), rng=self.rng), dtype=dtype)
        self.in_proj_bias = parameter(np.zeros(3 * e), dtype=dtype) if bias else None
        self.out_proj = Linear(e, e, bias=bias, rng=self.rng, dtype=dtype)
        if self.out_proj.bias is not None:
            self.out_proj.bias.data[...] = 0.0  # torch zeroes both biases

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        layout = "(N, {}, E)" if self.batch_first else "({}, N, E)"
        for name, t, length in (("query", query, "L"), ("key", key, "S"), ("value", value, "S")):
            if t.ndim != 3 or t.shape[2] != self.embed_dim:
                shape = layout.format(length).replace("E", str(self.embed_dim))
                raise ValueError(f"MultiHeadAttention expected {name} of shape {shape}, "
                                 f"got {t.shape}")
        if key.shape != value.shape:
            raise ValueError(f"MultiHeadAttention expected key and value of the same shape, "
                             f"got {key.shape} and {value.shape}")
        batch = 0 if self.batch_first else 1   # sequence-first inputs are (L, N, E), (S, N, E)
        if query.shape[batch] != key.shape[batch]:
            layout = "(N, L, E) and (N, S, E)" if self.batch_first else "(L, N, E) and (S, N, E)"
            raise ValueError(f"MultiHeadAttention expected query and key with the same batch size "
                             f"N (layout {layout}), got {query.shape} and {key.shape}")

    def _merged_mask(self, n: int, length: int, source: int, key_padding_mask: Any, attn_mask: Any,
                     is_causal: bool) -> Array | None:
        """One mask broadcastable to (N, h, L, S): boolean True = may attend, or float additive."""
        # each part is bool "masked out" or float additive, of shape (N|1, h|1, L|1, S)
        parts: list[Array] = []
        if attn_mask is not None:
            m = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
            if m.shape == (length, source):
                parts.append(m[None, None])
            elif m.shape == (n * self.num_heads, length, source):
                parts.append(m.reshape(n, self.num_heads, length, source))
            else:
                per_head = (n * self.num_heads, length, source)
                raise ValueError(f"MultiHeadAttention expected attn_mask of shape (L, S) = "
                                 f"{(length, source)} or (N·num_heads, L, S) = {per_head}, "
                                 f"got {m.shape}")
        if key_padding_mask is not None:
            m = np.asarray(key_padding_mask.data if isinstance(key_padding_mask, Tensor)
                           else key_padding_mask)
            if m.shape != (n, source):
                raise ValueError(f"MultiHeadAttention expected key_padding_mask of shape (N, S) = "
                                 f"{(n, source)}, got {m.shape}")
            parts.append(m[:, None, None, :])
        if is_causal:
            parts.append(~causal_mask(length)[None, None] if length == source
                         else ~np.tril(np.ones((length, source), dtype=bool))[None, None])
        for m in parts:
            if m.dtype.kind not in "bf":
                raise TypeError(f"MultiHeadAttention expected boolean or float masks, "
                                f"got dtype {m.dtype}")
        if not parts:
            return None
        if all(m.dtype == bool for m in parts):
            return ~np.logical_or.reduce(np.broadcast_arrays(*parts))
        additive = [np.where(m, -np.inf, 0.0) if m.dtype == bool else m for m in parts]
        return sum(additive[1:], additive[0])

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        query, key, value = (as_tensor(t) for t in (query, key, value))
        self._check_inputs(query, key, value)
        if not self.batch_first:   # work in (N, L, E)
            query, key, value = (t.transpose(1, 0, 2) for t in (query, key, value))
        n, length, e = query.shape
        source, h, d = key.shape[1], self.num_heads, self.head_dim
        mask = self._merged_mask(n, length, source, key_padding_mask, attn_mask, is_causal)

        w, b = self.in_proj_weight, self.in_proj_bias

        def project(x: Tensor, i: int) -> Tensor:
            """x W_iᵀ + b_i with the i-th (E, E) block of the packed weight, split into heads."""
            rows = slice(i * e, (i + 1) * e)
            y = affine_sum([(x, w[rows])], [None if b is None else b[rows]])
            return y.reshape(n, x.shape[1], h, d).transpose(1, 2)          # (N, h, T, d)

        q, k, v = project(query, 0), project(key, 1), project(value, 2)
        dropout_p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p,
                                                    rng=self.rng)
        out = self.out_proj(out.transpose(1, 2).reshape(n, length, e))   # concatenate the heads
        if not self.batch_first:
            out = out.transpose(1, 0, 2)
        if not need_weights:
            return out, None
        return out, weights.mean(axis=1) if average_attn_weights else weights

    def __repr__(self) -> str:
        return (f"MultiHeadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first})")
