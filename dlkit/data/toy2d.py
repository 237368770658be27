"""Two-dimensional toy datasets to draw decision boundaries on (chapters 01, 02 and 10).

All are plain numpy, deterministic per ``seed``, shuffled, with balanced classes (class sizes
differ by at most one). ``X`` is float32 of shape (n, 2), ``y`` int64 class indices.
"""

from __future__ import annotations

import numpy as np

from dlkit.data._checks import (
    balanced_labels,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_seed,
)
from dlkit.data.dataset import ArrayDataset


def _dataset(X: np.ndarray, y: np.ndarray, name: str, classes: list[str], **meta) -> ArrayDataset:
    return ArrayDataset(X.astype(np.float32), y.astype(np.int64), name, classes, dict(meta))


def make_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> ArrayDataset:
    """Two interleaving half circles (chapter 02): not separable by a straight line."""
    n, noise, rng = check_positive_int("n", n, 2), check_non_negative("noise", noise), _rng(seed)
    y = balanced_labels(n, 2, rng)
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    X = np.where(y[:, None] == 0, upper, lower) + rng.normal(0.0, noise, size=(n, 2))
    return _dataset(X, y, "moons", ["upper moon", "lower moon"])


def make_circles(
    n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0
) -> ArrayDataset:
    """An inner circle of radius ``factor`` inside a unit circle (chapter 02)."""
    n, noise, rng = check_positive_int("n", n, 2), check_non_negative("noise", noise), _rng(seed)
    if not isinstance(factor, (int, float)) or not 0 < factor < 1:
        raise ValueError(f"expected factor (inner/outer radius) in (0, 1), got {factor!r}")
    y = balanced_labels(n, 2, rng)
    t = rng.uniform(0.0, 2 * np.pi, size=n)
    radius = np.where(y == 0, 1.0, factor)
    X = radius[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    X += rng.normal(0.0, noise, size=(n, 2))
    return _dataset(X, y, "circles", ["outer", "inner"])


def make_spirals(
    n: int = 300, num_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> ArrayDataset:
    """``num_classes`` interleaved spiral arms (chapter 02); ``noise`` jitters the angle."""
    num_classes = check_positive_int("num_classes", num_classes, 2)
    n, noise, rng = check_positive_int("n", n, 1), check_non_negative("noise", noise), _rng(seed)
    y = balanced_labels(n, num_classes, rng)
    r = rng.uniform(0.05, 1.0, size=n)
    # each arm turns through the same angle, offset by 2*pi/num_classes from its neighbour
    theta = 4.0 * r + 2 * np.pi * y / num_classes + rng.normal(0.0, noise, size=n)
    X = r[:, None] * np.stack([np.sin(theta), np.cos(theta)], axis=1)
    return _dataset(X, y, "spirals", [f"arm {c}" for c in range(num_classes)])


def make_ring_gaussians(
    n: int = 800, num_modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0
) -> ArrayDataset:
    """Gaussians evenly spaced on a circle: the GAN target in 2-D (chapter 10).

    ``y`` is the mode each point came from; ``meta["centers"]`` holds the mode centres, so a
    generator's mode coverage can be measured.
    """
    num_modes = check_positive_int("num_modes", num_modes, 1)
    n, rng = check_positive_int("n", n, 1), _rng(seed)
    radius, std = check_positive("radius", radius), check_non_negative("std", std)
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y = balanced_labels(n, num_modes, rng)
    X = centers[y] + rng.normal(0.0, std, size=(n, 2))
    classes = [f"mode {m}" for m in range(num_modes)]
    return _dataset(X, y, "ring of gaussians", classes, centers=centers.astype(np.float32))


def make_blobs(n: int = 300, num_classes: int = 3, std: float = 0.5, seed: int = 0) -> ArrayDataset:
    """Isotropic Gaussian blobs around centres drawn in [-4, 4]^2 (chapter 01)."""
    num_classes = check_positive_int("num_classes", num_classes, 2)
    n, std, rng = check_positive_int("n", n, 1), check_non_negative("std", std), _rng(seed)
    centers = rng.uniform(-4.0, 4.0, size=(num_classes, 2))
    y = balanced_labels(n, num_classes, rng)
    X = centers[y] + rng.normal(0.0, std, size=(n, 2))
    classes = [f"blob {c}" for c in range(num_classes)]
    return _dataset(X, y, "blobs", classes, centers=centers.astype(np.float32))


def make_xor(n: int = 200, noise: float = 0.1, seed: int = 0) -> ArrayDataset:
    """Points in [-1, 1]^2 labelled by whether x0 and x1 have opposite signs (chapter 01):
    the classic set that one neuron cannot learn. ``noise`` blurs points across the axes."""
    n, noise, rng = check_positive_int("n", n, 2), check_non_negative("noise", noise), _rng(seed)
    y = balanced_labels(n, 2, rng)
    magnitude = rng.uniform(0.05, 1.0, size=(n, 2))
    first_sign = rng.choice([-1.0, 1.0], size=n)
    # class 0: same signs (quadrants I and III); class 1: opposite signs (II and IV)
    signs = np.stack([first_sign, np.where(y == 0, first_sign, -first_sign)], axis=1)
    X = signs * magnitude + rng.normal(0.0, noise, size=(n, 2))
    return _dataset(X, y, "xor", ["same sign", "opposite sign"])


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(check_seed(seed))
