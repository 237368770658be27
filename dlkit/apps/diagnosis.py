"""A diagnostic test's numbers: sensitivity, specificity, the threshold a clinic requires, and
calibration (chapter 13, medicine, section "Diagnosis").

A classifier outputs a score; a clinic must turn it into "refer for biopsy" or not. Missing a
cancer (a false negative) costs far more than an extra biopsy, so the threshold is chosen for a
required **sensitivity**, and the **specificity** that remains is the price. Calibration asks a
different question: when the model says 30 %, are 30 % of those patients ill?
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _binary(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y, scores = np.asarray(y).reshape(-1), np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != scores.shape or y.size == 0:
        raise ValueError(f"expected one score per label, got {scores.shape} scores and {y.shape} labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"expected binary labels 0/1 (1 = has the disease), got {np.unique(y)[:5].tolist()}")
    return y.astype(np.int64), scores


def sensitivity_specificity(y: Any, scores: Any, threshold: float) -> tuple[float, float]:
    """(TP / positives, TN / negatives) when ``score >= threshold`` means "positive"."""
    y, scores = _binary(y, scores)
    if y.min() == y.max():
        raise ValueError("expected both classes in y: sensitivity needs positives, specificity negatives")
    flagged = scores >= threshold
    return float(flagged[y == 1].mean()), float((~flagged[y == 0]).mean())


def threshold_for_sensitivity(y: Any, scores: Any, sensitivity: float) -> float:
    """The highest threshold whose sensitivity on (``y``, ``scores``) is at least ``sensitivity``:
    the most specific test that still finds the required share of the sick."""
    y, scores = _binary(y, scores)
    if not 0 < sensitivity <= 1:
        raise ValueError(f"expected a required sensitivity in (0, 1], got {sensitivity}")
    positives = np.sort(scores[y == 1])[::-1]
    if positives.size == 0:
        raise ValueError("expected at least one positive case to set a sensitivity on")
    # flagging every score >= the k-th highest positive score finds at least k positives
    needed = int(np.ceil(sensitivity * positives.size - 1e-9))
    return float(positives[needed - 1])


def reliability_curve(y: Any, probabilities: Any, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width probability bin: the mean predicted probability, the observed fraction
    of positives, and the count (empty bins left out). A calibrated model lies on the diagonal."""
    y, p = _binary(y, probabilities)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("expected probabilities in [0, 1], got values outside")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(which, minlength=bins)
    keep = counts > 0
    predicted = np.bincount(which, weights=p, minlength=bins)[keep] / counts[keep]
    observed = np.bincount(which, weights=y, minlength=bins)[keep] / counts[keep]
    return predicted, observed, counts[keep]


def expected_calibration_error(y: Any, probabilities: Any, bins: int = 10) -> float:
    """The count-weighted mean gap between predicted and observed per bin (ECE)."""
    predicted, observed, counts = reliability_curve(y, probabilities, bins)
    return float(np.sum(counts * np.abs(predicted - observed)) / counts.sum())
