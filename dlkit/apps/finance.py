"""Backtesting a forecast honestly: walk-forward splits, lagged features, and the leaks that
fake a result (chapter 13, finance, section "Stock prediction done right").

In a time series the future must never reach the model: not through a shuffled split (the
days around a test day sit in the training set) and not through a feature computed with a
window that extends past "today" (look-ahead). Walk-forward evaluation trains on days before a
block, tests on the block, moves forward and repeats, exactly as the model would be used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def walk_forward_splits(n: int, first_train: int, test_size: int, window: int | None = None,
                        gap: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays for ``n`` time-ordered samples (chapter 13).

    The first test block starts at ``first_train + gap``; each later block starts where the
    previous ended. Training uses every sample before the block less ``gap`` (expanding), or only
    the last ``window`` of them (rolling). The ``gap`` drops samples whose targets overlap the test
    block. Every training index is smaller than every test index of its split.
    """
    for name, value, minimum in (("n", n, 2), ("first_train", first_train, 1), ("test_size", test_size, 1),
                                 ("gap", gap, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"expected {name} to be an integer >= {minimum}, got {value!r}")
    if window is not None and (not isinstance(window, (int, np.integer)) or window < 1):
        raise ValueError(f"expected window to be None or an integer >= 1, got {window!r}")
    if first_train + gap >= n:
        raise ValueError(f"expected first_train + gap < n to leave a test block, got {first_train} + {gap} >= {n}")
    splits = []
    start = first_train + gap
    while start < n:
        end = min(start + test_size, n)
        train_end = start - gap
        train_start = 0 if window is None else max(0, train_end - window)
        splits.append((np.arange(train_start, train_end), np.arange(start, end)))
        start = end
    return splits


def lagged_returns(prices: np.ndarray, lags: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Features and target for "tomorrow's log return from the last ``lags`` ones" (chapter 13).

    Row t holds the returns of days t-lags+1..t (oldest first) and its target is day t+1's
    return, so every feature is known at the close of day t.
    """
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 1 or np.any(prices <= 0):
        raise ValueError(f"expected a 1-D series of positive prices, got shape {prices.shape}")
    returns = np.diff(np.log(prices))
    if len(returns) <= lags:
        raise ValueError(f"expected more than lags + 1 = {lags + 1} prices, got {len(prices)}")
    X = np.stack([returns[i: len(returns) - lags + i] for i in range(lags)], axis=1)
    return X, returns[lags:]


def centered_mean(values: np.ndarray, half_width: int = 2) -> np.ndarray:
    """The mean of ``values[t-half_width .. t+half_width]`` (edges shrink the window).

    A smoother that looks both ways, as a plotting library's "trend line" does: fine for a
    chart, a **look-ahead leak** as a feature, because row t then contains days after t.
    """
    values = np.asarray(values, dtype=np.float64)
    padded = np.pad(values, half_width, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_width + 1)
    return np.nanmean(windows, axis=1)


def forecast_skill(actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray) -> float:
    """``1 - MSE(predicted) / MSE(naive)`` (chapter 13): 0 is no better than the naive
    forecast, negative is worse, 1 is perfect."""
    actual, predicted, naive = (np.asarray(a, dtype=np.float64) for a in (actual, predicted, naive))
    if not actual.shape == predicted.shape == naive.shape or actual.size == 0:
        raise ValueError(f"expected three non-empty arrays of one shape, got {actual.shape}, "
                         f"{predicted.shape}, {naive.shape}")
    return float(1 - np.mean((predicted - actual) ** 2) / np.mean((naive - actual) ** 2))


def backtest(fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], X: np.ndarray,
             y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for every test index of ``splits``, each made by
    ``fit_predict(X[train], y[train], X[test])``; returns (test indices, predictions)."""
    indices, predictions = [], []
    for train, test in splits:
        predictions.append(np.asarray(fit_predict(X[train], y[train], X[test]), dtype=np.float64).reshape(-1))
        indices.append(test)
    return np.concatenate(indices), np.concatenate(predictions)
