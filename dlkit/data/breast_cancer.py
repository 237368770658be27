"""scikit-learn's bundled Wisconsin breast-cancer data: a real diagnostic table with no
download (chapter 13, medicine)."""

from __future__ import annotations

import numpy as np

from dlkit.data.dataset import ArrayDataset


def load_breast_cancer() -> ArrayDataset:
    """569 tumours, 30 features measured on a digitised image of a fine-needle aspirate
    (chapter 13). ``X`` float32 (569, 30) in the original units, ``y`` int64 with
    **1 = malignant** (scikit-learn codes malignant as 0; a diagnostic test calls the disease
    "positive"); ``meta["features"]`` names the columns."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

    bunch = sklearn_breast_cancer()
    y = (np.asarray(bunch.target) == 0).astype(np.int64)
    return ArrayDataset(np.asarray(bunch.data, dtype=np.float32), y, "breast cancer", ["benign", "malignant"],
                        {"features": [str(name) for name in bunch.feature_names]})
