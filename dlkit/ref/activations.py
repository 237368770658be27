"""Activation functions and their derivatives, in numpy (chapter 01).

Each activation ``f`` has a partner ``d_f`` giving ``f'(x)`` elementwise, so a learner can
plot both and the autograd ``Tensor`` can reuse them for its backward pass. Softmax and
log-softmax act on a whole axis, so their partners take the upstream gradient and return the
vector-Jacobian product instead of an elementwise derivative.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erf

Array = np.ndarray

# Python floats, not np.float64: numpy 2 would promote a float32 input to float64 with the latter
_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2_PI = math.sqrt(2.0 * math.pi)


def _as_float(x: Array | float) -> Array:
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    return x


def identity(x: Array) -> Array:
    """f(x) = x: the output activation for regression."""
    return _as_float(x)


def d_identity(x: Array) -> Array:
    return np.ones_like(_as_float(x))


def sigmoid(x: Array) -> Array:
    """σ(x) = 1 / (1 + e^{-x}), computed without overflow for large |x|."""
    x = _as_float(x)
    e = np.exp(-np.abs(x))  # never overflows: the exponent is <= 0
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def d_sigmoid(x: Array) -> Array:
    """σ'(x) = σ(x)(1 − σ(x)); at most 1/4, which is why deep sigmoid nets vanish."""
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x: Array) -> Array:
    """tanh(x) = (e^x − e^{-x}) / (e^x + e^{-x}), zero-centred, range (−1, 1)."""
    return np.tanh(_as_float(x))


def d_tanh(x: Array) -> Array:
    """tanh'(x) = 1 − tanh²(x)."""
    t = np.tanh(_as_float(x))
    return 1.0 - t * t


def relu(x: Array) -> Array:
    """ReLU(x) = max(0, x)."""
    x = _as_float(x)
    return np.maximum(x, 0.0).astype(x.dtype, copy=False)


def d_relu(x: Array) -> Array:
    """ReLU'(x) = 1 for x > 0 else 0 (we take 0 at x = 0, as torch does)."""
    x = _as_float(x)
    return (x > 0).astype(x.dtype)


def leaky_relu(x: Array, alpha: float = 0.01) -> Array:
    """LeakyReLU(x) = x for x > 0, αx otherwise: a small slope keeps dead units learning."""
    x = _as_float(x)
    return np.where(x > 0, x, alpha * x)


def d_leaky_relu(x: Array, alpha: float = 0.01) -> Array:
    x = _as_float(x)
    return np.where(x > 0, 1.0, alpha).astype(x.dtype)


def elu(x: Array, alpha: float = 1.0) -> Array:
    """ELU(x) = x for x > 0, α(e^x − 1) otherwise: smooth, negative outputs push means to 0."""
    x = _as_float(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def d_elu(x: Array, alpha: float = 1.0) -> Array:
    x = _as_float(x)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))).astype(x.dtype)


def gelu(x: Array, approximate: str = "none") -> Array:
    """GELU(x) = x Φ(x) with Φ the standard normal CDF (``approximate="tanh"``: the GPT-2 form)."""
    x = _as_float(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    if approximate != "none":
        raise ValueError(f"expected approximate='none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + erf(x / _SQRT_2))


def d_gelu(x: Array, approximate: str = "none") -> Array:
    """GELU'(x) = Φ(x) + x φ(x) (exact form) or the derivative of the tanh form."""
    x = _as_float(x)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x**2)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
    if approximate != "none":
        raise ValueError(f"expected approximate='none' or 'tanh', got {approximate!r}")
    cdf = 0.5 * (1.0 + erf(x / _SQRT_2))
    pdf = np.exp(-0.5 * x * x) / _SQRT_2_PI
    return cdf + x * pdf


def swish(x: Array, beta: float = 1.0) -> Array:
    """Swish(x) = x · σ(βx); with β = 1 it is SiLU. Smooth and non-monotonic."""
    x = _as_float(x)
    return x * sigmoid(beta * x)


def d_swish(x: Array, beta: float = 1.0) -> Array:
    """Swish'(x) = σ(βx) + βx σ(βx)(1 − σ(βx))."""
    x = _as_float(x)
    s = sigmoid(beta * x)
    return s + beta * x * s * (1.0 - s)


silu = swish
d_silu = d_swish


def softmax(z: Array, axis: int = -1) -> Array:
    """softmax(z)_k = e^{z_k} / Σ_j e^{z_j}; subtracting max(z) first changes nothing but overflow."""
    z = _as_float(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_vjp(z: Array, grad_out: Array, axis: int = -1) -> Array:
    """Backward of softmax: J^T g = s ⊙ (g − Σ_k g_k s_k), without building the Jacobian."""
    s = softmax(z, axis=axis)
    return s * (grad_out - (grad_out * s).sum(axis=axis, keepdims=True))


def log_softmax(z: Array, axis: int = -1) -> Array:
    """log softmax(z) = z − max − log Σ e^{z − max}: finite even when softmax underflows to 0."""
    z = _as_float(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_vjp(z: Array, grad_out: Array, axis: int = -1) -> Array:
    """Backward of log-softmax: g − softmax(z) Σ_k g_k."""
    return grad_out - softmax(z, axis=axis) * grad_out.sum(axis=axis, keepdims=True)


ELEMENTWISE: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "identity": (identity, d_identity),
    "sigmoid": (sigmoid, d_sigmoid),
    "tanh": (tanh, d_tanh),
    "relu": (relu, d_relu),
    "leaky_relu": (leaky_relu, d_leaky_relu),
    "elu": (elu, d_elu),
    "gelu": (gelu, d_gelu),
    "swish": (swish, d_swish),
}
"""Name → (f, f') for every elementwise activation: what the activation explorer plots."""
