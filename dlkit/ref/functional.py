"""Activations and layer functions on autograd ``Tensor`` s, shaped like ``torch.nn.functional``
(chapters 01, 02, 06).

Each activation joins the graph through ``Tensor.apply(f, df, name)`` with the numpy pair
``(f, f')`` from ``dlkit.ref.activations``: the math lives there once, and here it only gains a
backward pass (``x.grad += f'(x) · out.grad``).
"""
from __future__ import annotations

import numpy as np

from dlkit.ref import activations as act
from dlkit.ref.tensor import Operand, Tensor, as_tensor


def identity(x: Operand) -> Tensor:
    """f(x) = x, the regression output activation (chapter 01)."""
    return as_tensor(x).apply(act.identity, act.d_identity, "identity")


def sigmoid(x: Operand) -> Tensor:
    """σ(x) = 1 / (1 + e^{-x}), like ``torch.sigmoid`` (chapter 01)."""
    return as_tensor(x).apply(act.sigmoid, act.d_sigmoid, "sigmoid")


def tanh(x: Operand) -> Tensor:
    """tanh(x), like ``torch.tanh`` (chapter 01)."""
    return as_tensor(x).apply(act.tanh, act.d_tanh, "tanh")


def relu(x: Operand) -> Tensor:
    """max(0, x), like ``torch.relu`` (gradient 0 at x = 0) (chapter 01)."""
    return as_tensor(x).apply(act.relu, act.d_relu, "relu")


def leaky_relu(x: Operand, alpha: float = 0.01) -> Tensor:
    """x for x > 0 else αx, like ``F.leaky_relu(x, negative_slope=alpha)`` (chapter 01)."""
    return as_tensor(x).apply(lambda z: act.leaky_relu(z, alpha),
                              lambda z: act.d_leaky_relu(z, alpha), "leaky_relu")


def elu(x: Operand, alpha: float = 1.0) -> Tensor:
    """x for x > 0 else α(e^x − 1), like ``F.elu`` (chapter 01)."""
    return as_tensor(x).apply(lambda z: act.elu(z, alpha), lambda z: act.d_elu(z, alpha), "elu")


def gelu(x: Operand, approximate: str = "none") -> Tensor:
    """x Φ(x) (``approximate="tanh"``: the GPT-2 form), like ``F.gelu`` (chapter 01)."""
    return as_tensor(x).apply(lambda z: act.gelu(z, approximate),
                              lambda z: act.d_gelu(z, approximate), "gelu")


def swish(x: Operand, beta: float = 1.0) -> Tensor:
    """x σ(βx); with β = 1 it is ``F.silu`` (chapter 01)."""
    return as_tensor(x).apply(lambda z: act.swish(z, beta), lambda z: act.d_swish(z, beta), "swish")


silu = swish


def softmax(x: Operand, axis: int = -1) -> Tensor:
    """e^{x_k} / Σ_j e^{x_j} along ``axis``; shifted by the max, so e^{1e4} never overflows
    (chapter 01)."""
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: Operand, axis: int = -1) -> Tensor:
    """log softmax along ``axis``, finite even where softmax underflows to 0 (chapter 02)."""
    return as_tensor(x).log_softmax(axis=axis)


def linear(x: Operand, W: Operand, b: Operand | None = None) -> Tensor:
    """x @ W.T + b with W of shape (out_features, in_features), like ``F.linear`` (chapter 02)."""
    x, W = as_tensor(x), as_tensor(W)
    if W.ndim != 2:
        raise ValueError(f"linear expected W of shape (out_features, in_features), got {W.shape}")
    if x.ndim == 0 or x.shape[-1] != W.shape[1]:
        raise ValueError(f"linear expected x with last dimension {W.shape[1]} (W is {W.shape}), "
                         f"got {x.shape}")
    out = x @ W.T
    if b is None:
        return out
    b = as_tensor(b)
    if b.shape != (W.shape[0],):
        raise ValueError(f"linear expected b of shape ({W.shape[0]},) (W is {W.shape}), "
                         f"got {b.shape}")
    return out + b


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout, like ``F.dropout`` (chapter 06).

    In training each entry is zeroed with probability ``p`` and the kept ones are scaled by
    1/(1 − p), so the expected output equals ``x`` and evaluation needs no rescaling; in
    evaluation (``training=False``) it is the identity. ``rng=None`` draws from numpy's global
    generator, which ``dlkit.seed(n)`` seeds.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout expected a probability p in [0, 1], got {p!r}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    uniform = (rng if rng is not None else np.random).random(x.shape)
    keep = (uniform >= p).astype(x.dtype)
    # p = 1 drops everything (as torch does) instead of dividing by zero
    scale = keep / (1.0 - p) if p < 1.0 else keep
    return x * scale
