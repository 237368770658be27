"""dlkit.apps.diagnosis and credit (chapter 13): sensitivity and specificity on a hand case,
the threshold for a required sensitivity (a hypothesis property), the reliability curve and
ECE, scorecard points and reason codes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.apps.credit import reason_codes, score_points
from dlkit.apps.diagnosis import (
    expected_calibration_error,
    reliability_curve,
    sensitivity_specificity,
    threshold_for_sensitivity,
)

FAST = settings(max_examples=60, deadline=None)


def test_sensitivity_and_specificity_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05])
    # at 0.5: 2 of 3 sick flagged; 3 of 4 healthy cleared
    assert sensitivity_specificity(y, scores, 0.5) == pytest.approx((2 / 3, 3 / 4))
    assert threshold_for_sensitivity(y, scores, 1.0) == 0.2
    assert threshold_for_sensitivity(y, scores, 0.6) == 0.6


@FAST
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=40), st.floats(0.05, 1.0))
def test_the_threshold_is_the_highest_that_meets_the_sensitivity(cases, required):
    y, scores = np.array([c[0] for c in cases]), np.array([c[1] for c in cases])
    if y.min() == y.max():
        return
    threshold = threshold_for_sensitivity(y, scores, required)
    sensitivity, _ = sensitivity_specificity(y, scores, threshold)
    assert sensitivity >= required - 1e-9
    higher = scores[(y == 1) & (scores > threshold)]
    if higher.size:   # the next higher candidate threshold misses the requirement
        assert sensitivity_specificity(y, scores, higher.min())[0] < required - 1e-9


def test_reliability_curve_and_ece():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    predicted, observed, counts = reliability_curve(y, p, bins=10)
    assert np.allclose(predicted, [0.1, 0.9]) and np.allclose(observed, [0.25, 0.75])
    assert np.array_equal(counts, [4, 4])
    assert expected_calibration_error(y, p) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="binary labels"):
        reliability_curve(np.array([2, 0]), np.array([0.1, 0.2]))


def test_score_points_scale():
    log_odds_default = -np.log(19.0)   # 19 good : 1 bad
    assert score_points(log_odds_default) == pytest.approx(600.0)
    assert score_points(log_odds_default - np.log(2)) == pytest.approx(640.0)   # odds doubled


def test_reason_codes_rank_what_raises_the_risk():
    names = ["income", "debt", "late"]
    weights = np.array([-1.0, 2.0, 0.5])
    codes = reason_codes(weights, np.array([-1.0, 0.5, 4.0]), np.zeros(3), names)
    # contributions: +1.0 (low income), +1.0 (debt), +2.0 (late payments)
    assert codes == [("late", 2.0), ("income", 1.0), ("debt", 1.0)]
    assert reason_codes(weights, np.array([1.0, -1.0, 0.0]), np.zeros(3), names) == []
    with pytest.raises(ValueError, match="one per name"):
        reason_codes(weights, np.zeros(2), np.zeros(3), names)
