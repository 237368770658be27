"""Generated images of filled shapes, with masks and boxes (chapter 07).

A small, offline image set for CNNs, segmentation (Dice, IoU of masks) and detection (IoU of
boxes, NMS), and the offline stand-in for CIFAR-10. Rasterised with numpy on the pixel grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dlkit.data._checks import balanced_labels, check_non_negative, check_positive_int, check_seed
from dlkit.data.dataset import ArrayDataset

Grid = tuple[np.ndarray, np.ndarray]


def _circle(
    xx: np.ndarray, yy: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: np.ndarray
) -> np.ndarray:
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


def _square(
    xx: np.ndarray, yy: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: np.ndarray
) -> np.ndarray:
    return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)


def _triangle(
    xx: np.ndarray, yy: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: np.ndarray
) -> np.ndarray:
    # apex (cx, cy - r), base from (cx - r, cy + r) to (cx + r, cy + r): the half-width grows
    # by 1/2 per row going down from the apex
    return (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)


SHAPES: dict[str, Callable[..., np.ndarray]] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
}


def make_shapes(
    n: int = 600,
    size: int = 32,
    seed: int = 0,
    classes: Sequence[str] = ("circle", "square", "triangle"),
    noise: float = 0.05,
) -> ArrayDataset:
    """``n`` grayscale images with one filled shape each (chapter 07).

    ``X`` float32 (n, 1, size, size) in [0, 1]: a shape of random size, position and
    intensity (0.5..1) on a black background, plus Gaussian pixel noise of std ``noise``.
    ``y`` int64 index into ``classes``. ``meta["masks"]`` (n, size, size) bool marks exactly
    the drawn pixels; ``meta["boxes"]`` (n, 4) float32 is the tight box (x0, y0, x1, y1) of the
    mask in pixel edges: columns x0..x1-1 and rows y0..y1-1 are inside.
    """
    n, noise, seed = (
        check_positive_int("n", n),
        check_non_negative("noise", noise),
        check_seed(seed),
    )
    size = check_positive_int("size", size, minimum=8)
    classes = _check_classes(classes)
    rng = np.random.default_rng(seed)
    y = balanced_labels(n, len(classes), rng)

    # radius >= 0.15 * size >= 1.2 px, so every shape covers at least one pixel centre
    r = rng.uniform(0.15 * size, 0.35 * size, size=n)
    cx = rng.uniform(r, size - 1 - r)
    cy = rng.uniform(r, size - 1 - r)
    intensity = rng.uniform(0.5, 1.0, size=n).astype(np.float32)

    yy, xx = np.mgrid[0:size, 0:size]
    masks = np.zeros((n, size, size), dtype=bool)
    for k, shape in enumerate(classes):
        rows = np.flatnonzero(y == k)
        params = (v[rows, None, None] for v in (cx, cy, r))
        masks[rows] = SHAPES[shape](xx, yy, *params)

    X = masks * intensity[:, None, None] + rng.normal(0.0, noise, size=masks.shape)
    X = X.clip(0.0, 1.0).astype(np.float32)[:, None]
    meta = {"masks": masks, "boxes": mask_to_box(masks)}
    return ArrayDataset(X, y, "shapes", list(classes), meta, per_sample=("masks", "boxes"))


def mask_to_box(masks: np.ndarray) -> np.ndarray:
    """Tight boxes (x0, y0, x1, y1), exclusive x1/y1, of boolean masks (N, H, W) (chapter 07)."""
    if masks.ndim != 3 or masks.dtype != bool:
        raise ValueError(
            f"expected boolean masks of shape (N, H, W), got {masks.dtype} {masks.shape}"
        )
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    empty = ~rows.any(axis=1)
    if empty.any():
        raise ValueError(
            f"expected every mask to have a pixel, masks {np.flatnonzero(empty)[:5]} are empty"
        )
    height, width = masks.shape[1:]
    y0, y1 = rows.argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)
    x0, x1 = cols.argmax(axis=1), width - cols[:, ::-1].argmax(axis=1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(classes, str):
        raise ValueError(f"expected a sequence of shape names, got the single string {classes!r}")
    classes = tuple(classes)
    unknown = [c for c in classes if c not in SHAPES]
    if not classes or unknown:
        raise ValueError(f"expected shape names from {sorted(SHAPES)}, got {list(classes)}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"expected distinct shape names, got {list(classes)}")
    return classes
