"""Weight initializers: Xavier/Glorot and Kaiming/He, uniform and normal (chapter 05).

Why they matter: each layer's output is a sum of ``fan_in`` products w·x. If Var(w) is too
large the activations (and gradients) grow layer after layer; too small and they vanish.
Choosing Var(w) from the fan keeps the variance of activations about constant with depth:

- Xavier/Glorot (tanh, sigmoid, linear): Var(w) = gain² · 2 / (fan_in + fan_out), a compromise
  between keeping the forward variance (1/fan_in) and the backward variance (1/fan_out).
- Kaiming/He (ReLU family): Var(w) = gain² / fan, gain² = 2 for ReLU, so Var = 2 / fan_in:
  ReLU zeroes half of its inputs, halving the variance, and the 2 puts it back.

Shapes follow torch: a linear weight is (out_features, in_features), a conv weight is
(out_channels, in_channels, kh, kw). A weight used as ``X @ W`` has shape (in, out): build it
with the torch shape ``(out, in)`` and transpose, so that fan_in really counts the inputs.

Every sampler takes an explicit ``rng`` (a ``np.random.Generator`` or an int seed), so the
same seed gives the same array.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np

Array = np.ndarray

_GAIN_ONE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
             "conv_transpose3d", "sigmoid")
_NONLINEARITIES = (*_GAIN_ONE, "tanh", "relu", "leaky_relu", "selu")


def _as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(f"expected a shape (an int or a tuple of ints), got {shape!r}") from None
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0
               for d in dims):
        raise ValueError(f"expected a shape of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"expected rng to be a np.random.Generator or an int seed >= 0, got {rng!r}")


def fan_in_and_fan_out(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape, torch's convention (chapter 05).

    For (out, in, *kernel): fan_in = in · ∏kernel, fan_out = out · ∏kernel; a linear weight
    (out, in) has fan_in = in, fan_out = out.
    """
    dims = _as_shape(shape)
    if len(dims) < 2:
        raise ValueError(f"expected a weight shape with at least 2 dimensions (out, in, ...) "
                         f"to compute fan_in and fan_out, got {dims}")
    receptive_field = math.prod(dims[2:])
    return dims[1] * receptive_field, dims[0] * receptive_field


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain torch recommends for a nonlinearity, to scale the init's std (chapter 05).

    linear, conv and sigmoid: 1; tanh: 5/3; relu: √2; selu: 3/4;
    leaky_relu with negative slope a (``param``, default 0.01): √(2 / (1 + a²)).
    """
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"expected nonlinearity to be one of {list(_NONLINEARITIES)}, "
                         f"got {nonlinearity!r}")
    if nonlinearity != "leaky_relu" and param is not None:
        raise ValueError(f"expected param (a negative slope) only with 'leaky_relu', "
                         f"got nonlinearity={nonlinearity!r} with param={param!r}")
    if nonlinearity in _GAIN_ONE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else param
    if not isinstance(slope, Real) or isinstance(slope, bool) or not math.isfinite(slope):
        raise ValueError(f"expected a finite number as the leaky_relu negative slope, "
                         f"got {param!r}")
    return math.sqrt(2.0 / (1 + slope**2))


def _check_gain(gain: float) -> float:
    if not isinstance(gain, Real) or isinstance(gain, bool) or not gain > 0:
        raise ValueError(f"expected gain > 0, got {gain!r}")
    return float(gain)


def xavier_std(shape: Sequence[int], gain: float = 1.0) -> float:
    """Xavier/Glorot std (chapter 05): gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if fan_in + fan_out == 0:
        raise ValueError(f"expected a weight shape with fan_in + fan_out > 0, got {tuple(shape)}")
    return _check_gain(gain) * math.sqrt(2.0 / (fan_in + fan_out))


def kaiming_std(shape: Sequence[int], a: float = 0.0, mode: str = "fan_in",
                nonlinearity: str = "relu") -> float:
    """Kaiming/He std (chapter 05): gain / √fan, so Var = 2 / fan_in for ReLU.

    ``mode="fan_in"`` keeps the forward activations' variance, ``"fan_out"`` the gradients'.
    ``a`` is the negative slope of ``nonlinearity="leaky_relu"``.
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"expected mode 'fan_in' or 'fan_out', got {mode!r}")
    if nonlinearity != "leaky_relu" and a != 0:
        raise ValueError(f"expected a (the negative slope) only with nonlinearity='leaky_relu', "
                         f"got nonlinearity={nonlinearity!r} with a={a!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"expected a weight shape with {mode} > 0, got {tuple(shape)}")
    gain = calculate_gain(nonlinearity, a if nonlinearity == "leaky_relu" else None)
    return gain / math.sqrt(fan)


def xavier_uniform(shape: Sequence[int], gain: float = 1.0, *,
                   rng: np.random.Generator | int) -> Array:
    """Xavier/Glorot uniform (chapter 05): U(−b, b), b = gain · √(6 / (fan_in + fan_out)).

    A uniform on (−b, b) has variance b²/3, so this gives Var = gain² · 2 / (fan_in + fan_out).
    """
    bound = math.sqrt(3.0) * xavier_std(shape, gain)
    return _as_rng(rng).uniform(-bound, bound, size=_as_shape(shape))


def xavier_normal(shape: Sequence[int], gain: float = 1.0, *,
                  rng: np.random.Generator | int) -> Array:
    """Xavier/Glorot normal (chapter 05): N(0, σ²), σ = gain · √(2 / (fan_in + fan_out))."""
    std = xavier_std(shape, gain)
    return _as_rng(rng).normal(0.0, std, size=_as_shape(shape))


def kaiming_uniform(shape: Sequence[int], a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "relu", *, rng: np.random.Generator | int) -> Array:
    """Kaiming/He uniform (chapter 05): U(−b, b), b = gain · √(3 / fan); ReLU: √(6 / fan_in)."""
    bound = math.sqrt(3.0) * kaiming_std(shape, a, mode, nonlinearity)
    return _as_rng(rng).uniform(-bound, bound, size=_as_shape(shape))


def kaiming_normal(shape: Sequence[int], a: float = 0.0, mode: str = "fan_in",
                   nonlinearity: str = "relu", *, rng: np.random.Generator | int) -> Array:
    """Kaiming/He normal (chapter 05): N(0, σ²), σ = gain / √fan; ReLU: σ² = 2 / fan_in."""
    std = kaiming_std(shape, a, mode, nonlinearity)
    return _as_rng(rng).normal(0.0, std, size=_as_shape(shape))


def zeros(shape: int | Sequence[int]) -> Array:
    """All zeros, float64 (chapter 05): right for biases; for weights every unit would
    compute the same thing and get the same gradient, so they would never differ.
    """
    return np.zeros(_as_shape(shape))


def normal(shape: int | Sequence[int], std: float, *, rng: np.random.Generator | int,
           mean: float = 0.0) -> Array:
    """N(mean, std²) samples (chapter 05), e.g. the classic small init N(0, 0.01²)."""
    if not isinstance(std, Real) or isinstance(std, bool) or not std >= 0:
        raise ValueError(f"expected std >= 0, got {std!r}")
    return _as_rng(rng).normal(mean, std, size=_as_shape(shape))
