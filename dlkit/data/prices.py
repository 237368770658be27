"""A generated daily price series with no predictable part (chapter 13, finance).

A geometric random walk: each day's log return is independent Gaussian noise plus a tiny
drift, so by construction no forecast of tomorrow's return beats "no change" out of sample.
That makes it the honest test bed for a backtest: any method that seems to beat it is leaking.
"""

from __future__ import annotations

import numpy as np

from dlkit.data._checks import check_non_negative, check_positive, check_positive_int, check_seed


def make_random_walk_prices(n: int = 1500, volatility: float = 0.01, drift: float = 0.0,
                            start: float = 100.0, seed: int = 0) -> np.ndarray:
    """``n`` daily prices (float64, shape (n,)) starting at ``start`` (chapter 13): log returns
    are i.i.d. normal with mean ``drift`` and standard deviation ``volatility``."""
    n = check_positive_int("n", n, 2)
    volatility, start = check_non_negative("volatility", volatility), check_positive("start", start)
    if not isinstance(drift, (int, float)) or not np.isfinite(drift):
        raise ValueError(f"expected drift to be a finite number, got {drift!r}")
    rng = np.random.default_rng(check_seed(seed))
    log_returns = rng.normal(drift, volatility, n - 1)
    return start * np.exp(np.r_[0.0, np.cumsum(log_returns)])
