"""Argument checks and small helpers shared by the dataset generators (private)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"expected {name} to be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_non_negative(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"expected {name} to be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number > 0."""
    if check_non_negative(name, value) == 0:
        raise ValueError(f"expected {name} to be a finite number > 0, got {value!r}")
    return float(value)


def check_seed(seed: object) -> int:
    """Return ``seed`` as an int, or raise if it is not a non-negative integer."""
    return check_positive_int("seed", seed, minimum=0)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming all of them."""
    if value not in choices:
        raise ValueError(f"expected {name} to be one of {list(choices)}, got {value!r}")
    return str(value)


def balanced_labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` shuffled int64 labels whose class counts differ by at most one."""
    if n < num_classes:
        raise ValueError(
            f"expected n >= num_classes so that every class has a sample, "
            f"got n={n}, num_classes={num_classes}"
        )
    y = np.arange(n, dtype=np.int64) % num_classes
    return rng.permutation(y)
