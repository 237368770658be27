"""Small helpers shared by the layers: argument checks, seeding and torch's default init."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref import init
from dlkit.ref.module import parameter
from dlkit.ref.tensor import Tensor

RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """A Generator from a Generator, an int seed, or None (drawn from numpy's global seed,
    so ``dlkit.seed(n)`` makes layer initialisation repeatable)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"expected rng to be a np.random.Generator, an int seed >= 0 or None, "
                    f"got {rng!r}")


def pair(value: Any, name: str, minimum: int = 0) -> tuple[int, int]:
    """(a, b) from an int or a pair of ints, each at least ``minimum`` (stride, padding, ...)."""
    items = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        a, b = items
    except (TypeError, ValueError):
        raise ValueError(f"expected {name} to be an int or a pair of ints, got {value!r}") from None
    for item in (a, b):
        if not isinstance(item, (int, np.integer)) or isinstance(item, bool) or item < minimum:
            raise ValueError(f"expected {name} to be an int >= {minimum} or a pair of them, "
                             f"got {value!r}")
    return int(a), int(b)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int, or a ValueError when it is not a positive int."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected {name} to be a positive int, got {value!r}")
    return int(value)


def probability(value: Any, name: str) -> float:
    """``value`` as a float in [0, 1], or a ValueError (a dropout probability)."""
    is_number = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not is_number or not 0 <= value <= 1:
        raise ValueError(f"expected {name} in [0, 1], got {value!r}")
    return float(value)


def uniform_parameter(shape: tuple[int, ...], bound: float, rng: np.random.Generator,
                      dtype: DTypeLike) -> Tensor:
    """A parameter drawn from U(−bound, bound): torch's default for biases and RNN weights."""
    return parameter(rng.uniform(-bound, bound, size=shape), dtype=dtype)


def torch_default_weight(shape: tuple[int, ...], rng: np.random.Generator,
                         dtype: DTypeLike) -> Tensor:
    """torch's default Linear/Conv weight: kaiming_uniform with a=√5, i.e. U(±1/√fan_in)."""
    weight = init.kaiming_uniform(shape, a=math.sqrt(5), nonlinearity="leaky_relu", rng=rng)
    return parameter(weight, dtype=dtype)


def torch_default_bias(size: int, fan_in: int, rng: np.random.Generator,
                       dtype: DTypeLike) -> Tensor:
    """torch's default Linear/Conv bias: U(±1/√fan_in)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_parameter((size,), bound, rng, dtype)
