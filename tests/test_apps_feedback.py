"""dlkit.apps.feedback (chapter 13): the popularity loop on hand cases: without exploration it
never shows more than the top k items, exploration widens what is shown, and each user takes an
item at most once."""
import numpy as np
import pytest

from dlkit.apps.feedback import simulate_feedback_loop


def test_without_exploration_only_the_leaders_are_ever_shown():
    true_scores = np.full((5, 20), 5.0)              # everyone would like everything
    counts = np.arange(20, 0, -1, dtype=float)       # item 0 leads, item 19 trails
    history = simulate_feedback_loop(true_scores, counts, rounds=1, k=3)
    # all five users take the three leaders, nothing else is seen
    assert history.coverage[-1] == pytest.approx(3 / 20)
    assert history.top_share[-1] > history.top_share[0]


def test_taken_items_make_room_and_exploration_widens_coverage():
    true_scores = np.full((5, 20), 5.0)
    counts = np.arange(20, 0, -1, dtype=float)
    greedy = simulate_feedback_loop(true_scores, counts, rounds=2, k=3)
    assert greedy.coverage[-1] == pytest.approx(6 / 20)   # round 2 shows the next three
    explored = simulate_feedback_loop(true_scores, counts, rounds=2, k=3, explore=2 / 3,
                                      rng=np.random.default_rng(0))
    assert explored.coverage[-1] > greedy.coverage[-1]


def test_disliked_items_are_not_taken():
    true_scores = np.full((3, 4), 1.0)
    history = simulate_feedback_loop(true_scores, np.array([4.0, 3.0, 2.0, 1.0]), rounds=3, k=2)
    assert history.top_share == [history.top_share[0]] * 4     # no one took anything
    with pytest.raises(ValueError, match=r"counts \(items,\)"):
        simulate_feedback_loop(true_scores, np.zeros(3))
