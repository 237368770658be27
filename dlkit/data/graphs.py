"""A generated graph for node classification (chapter 09).

:func:`make_sbm_graph` draws a **stochastic block model**: n nodes in ``num_classes``
communities; two nodes of the same community are linked with probability ``p_in``, of different
communities with ``p_out`` (much smaller), so neighbours mostly share a label (homophily). Each
node's features are its community's mean vector plus Gaussian noise loud enough that the
features alone classify poorly: a model that also reads the neighbours (a GCN, a GAT) averages
the noise away. Offline, deterministic per ``seed``.
"""
from __future__ import annotations

import numpy as np

from dlkit.data._checks import check_non_negative, check_positive_int, check_seed
from dlkit.data.dataset import ArrayDataset


def _probability(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"expected {name} to be a probability in [0, 1], got {value!r}")
    return float(value)


def make_sbm_graph(n: int = 300, num_classes: int = 3, num_features: int = 16,
                   p_in: float = 0.05, p_out: float = 0.005, noise: float = 2.0,
                   train_per_class: int = 10, num_val: int = 60, seed: int = 0) -> ArrayDataset:
    """A stochastic-block-model graph with noisy node features (chapter 09).

    Returns an :class:`ArrayDataset` with ``X`` (n, num_features) float32 features, ``y`` (n,)
    int64 communities, and in ``meta``: ``adjacency`` (n, n) float32, symmetric 0/1 with a zero
    diagonal, and boolean node masks ``train_mask`` (``train_per_class`` labelled nodes per class,
    the semi-supervised setting of Kipf & Welling), ``val_mask`` (``num_val`` nodes) and
    ``test_mask`` (the rest)."""
    n = check_positive_int("n", n, 2)
    num_classes = check_positive_int("num_classes", num_classes, 2)
    num_features = check_positive_int("num_features", num_features)
    p_in, p_out = _probability("p_in", p_in), _probability("p_out", p_out)
    noise = check_non_negative("noise", noise)
    train_per_class = check_positive_int("train_per_class", train_per_class)
    num_val = check_positive_int("num_val", num_val, 0)
    if train_per_class * num_classes + num_val >= n:
        raise ValueError(f"expected fewer labelled and validation nodes than n={n}, got "
                         f"{train_per_class} × {num_classes} + {num_val}")
    rng = np.random.default_rng(check_seed(seed))
    y = rng.permutation(np.arange(n) % num_classes)                 # balanced communities
    same = y[:, None] == y[None, :]
    upper = np.triu(rng.random((n, n)) < np.where(same, p_in, p_out), k=1)
    adjacency = (upper | upper.T).astype(np.float32)
    means = rng.normal(0.0, 1.0, size=(num_classes, num_features))
    X = means[y] + rng.normal(0.0, noise, size=(n, num_features))
    train_mask = np.zeros(n, dtype=bool)
    for c in range(num_classes):
        train_mask[rng.choice(np.flatnonzero(y == c), train_per_class, replace=False)] = True
    rest = rng.permutation(np.flatnonzero(~train_mask))
    val_mask = np.zeros(n, dtype=bool)
    val_mask[rest[:num_val]] = True
    test_mask = ~(train_mask | val_mask)
    meta = {"adjacency": adjacency, "train_mask": train_mask, "val_mask": val_mask,
            "test_mask": test_mask, "p_in": p_in, "p_out": p_out}
    classes = [f"community {c}" for c in range(num_classes)]
    return ArrayDataset(X.astype(np.float32), y.astype(np.int64), "sbm_graph", classes, meta)
