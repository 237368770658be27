"""Scenes of several generated shapes with their boxes and classes: the detection set of
chapter 07 (``make_shapes`` draws one shape per image; a detector must find several)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlkit.data._checks import check_positive_int, check_seed
from dlkit.data.shapes import make_shapes


def make_shape_scenes(n: int = 400, tiles: int = 3, tile_size: int = 16, max_objects: int = 3,
                      seed: int = 0, classes: Sequence[str] = ("circle", "square", "triangle"),
                      noise: float = 0.05) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """``n`` images of ``tiles × tiles`` tiles of ``tile_size`` pixels, 1..``max_objects`` of
    them holding one shape of ``make_shapes`` (chapter 07).

    Returns ``images`` float32 (n, 1, S, S) with S = tiles·tile_size, and per image the boxes
    (k, 4) float32 as (x0, y0, x1, y1) in pixel edges and the class labels (k,) int64. Shapes
    in different tiles never overlap, so every box is fully visible."""
    n, seed = check_positive_int("n", n), check_seed(seed)
    tiles = check_positive_int("tiles", tiles)
    max_objects = check_positive_int("max_objects", max_objects)
    if max_objects > tiles * tiles:
        raise ValueError(f"expected max_objects <= tiles² = {tiles * tiles}, got {max_objects}")
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_objects + 1, size=n)
    shapes = make_shapes(int(counts.sum()), size=tile_size, seed=seed, classes=classes,
                         noise=0.0)
    order = rng.permutation(len(shapes))           # make_shapes deals the classes in turn
    side = tiles * tile_size
    images = np.zeros((n, 1, side, side), dtype=np.float32)
    boxes, labels, used = [], [], 0
    for i, count in enumerate(counts):
        cells = rng.choice(tiles * tiles, size=count, replace=False)
        picked = order[used: used + count]
        used += count
        image_boxes = []
        for cell, k in zip(cells, picked, strict=True):
            top, left = (cell // tiles) * tile_size, (cell % tiles) * tile_size
            images[i, 0, top: top + tile_size, left: left + tile_size] = shapes.X[k, 0]
            image_boxes.append(shapes.meta["boxes"][k] + np.array([left, top, left, top]))
        boxes.append(np.array(image_boxes, dtype=np.float32))
        labels.append(shapes.y[picked].astype(np.int64))
    images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    return images.clip(0.0, 1.0), boxes, labels
