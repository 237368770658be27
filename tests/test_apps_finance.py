"""dlkit.apps.finance (chapter 13): walk-forward splits never train on the future (a hypothesis
property), the lagged features are known before their target, the centered smoother does look
ahead, and the skill score and backtest on hand cases."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.apps.finance import backtest, centered_mean, forecast_skill, lagged_returns, walk_forward_splits

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(st.integers(2, 200), st.integers(1, 150), st.integers(1, 40), st.one_of(st.none(), st.integers(1, 60)),
       st.integers(0, 5))
def test_walk_forward_never_trains_on_the_future(n, first_train, test_size, window, gap):
    if first_train + gap >= n:
        with pytest.raises(ValueError, match="leave a test block"):
            walk_forward_splits(n, first_train, test_size, window, gap)
        return
    splits = walk_forward_splits(n, first_train, test_size, window, gap)
    tested = np.concatenate([test for _, test in splits])
    # the test blocks tile [first_train + gap, n) in time order, each at most test_size long
    assert np.array_equal(tested, np.arange(first_train + gap, n))
    for train, test in splits:
        assert len(train) >= 1 and 1 <= len(test) <= test_size
        assert train.max() + gap < test.min(), "a training sample is at or after the test block"
        assert window is None or len(train) <= window
        assert np.array_equal(train, np.arange(train.min(), train.max() + 1))   # contiguous history


def test_backtest_hands_each_fit_only_the_past():
    X = np.arange(20, dtype=float)[:, None]
    y = X[:, 0] * 2
    seen = []

    def fit_predict(X_train, y_train, X_test):
        seen.append((X_train[:, 0].max(), X_test[:, 0].min()))
        return np.full(len(X_test), y_train[-1])   # "same as the last known value"

    indices, predictions = backtest(fit_predict, X, y, walk_forward_splits(20, 10, 5))
    assert np.array_equal(indices, np.arange(10, 20))
    assert all(last_train < first_test for last_train, first_test in seen)
    assert np.array_equal(predictions, np.r_[np.full(5, 18.0), np.full(5, 28.0)])


def test_lagged_features_are_known_before_their_target():
    prices = np.exp(np.cumsum([0.0, 0.1, -0.2, 0.3, 0.05, -0.1]))
    X, y = lagged_returns(prices, lags=2)
    returns = np.diff(np.log(prices))
    assert np.allclose(X, [[returns[0], returns[1]], [returns[1], returns[2]], [returns[2], returns[3]]])
    assert np.allclose(y, returns[2:])
    with pytest.raises(ValueError, match="positive prices"):
        lagged_returns(np.array([1.0, -1.0, 2.0]), 1)


def test_centered_mean_looks_ahead():
    values = np.array([1.0, 2.0, 3.0, 10.0])
    assert np.allclose(centered_mean(values, 1), [1.5, 2.0, 5.0, 6.5])
    # changing only the future changes today's smoothed value: the leak
    assert centered_mean(np.array([1.0, 2.0, 3.0, 0.0]), 1)[2] != centered_mean(values, 1)[2]


def test_forecast_skill():
    actual, naive = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0])
    assert forecast_skill(actual, naive, naive) == 0.0
    assert forecast_skill(actual, actual, naive) == 1.0
    assert forecast_skill(actual, 2 * naive - actual, naive) == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="one shape"):
        forecast_skill(actual, actual[:2], naive)
