"""scikit-learn's bundled 8x8 handwritten digits: a real image dataset with no download
(chapters 02 and 06); the offline stand-in for MNIST."""

from __future__ import annotations

import numpy as np

from dlkit.data.dataset import ArrayDataset


def load_digits(images: bool = False) -> ArrayDataset:
    """1797 grayscale 8x8 digits (chapter 02).

    ``X`` is float32 in [0, 1], shape (1797, 64), or (1797, 1, 8, 8) with ``images=True``;
    ``y`` int64 in 0..9; classes "0".."9".
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    # pixel values in the bundled file are counts 0..16 of a 4x4 block
    X = (np.asarray(bunch.data, dtype=np.float32) / 16.0).clip(0.0, 1.0)
    if images:
        X = X.reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    return ArrayDataset(X, y, "digits", [str(d) for d in range(10)], {"image_shape": (1, 8, 8)})
