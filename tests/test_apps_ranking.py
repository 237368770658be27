"""dlkit.apps.ranking (chapter 13): recall@k and NDCG@k on hand cases, masking of seen items,
and the perfect-ranking property."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.apps.ranking import ndcg_at_k, recall_at_k

FAST = settings(max_examples=30, deadline=None)


def test_hand_case():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    relevant = torch.tensor([[False, True, False, True]])
    # top 2 = items 0, 1: one of the two relevant items, found at rank 2
    assert recall_at_k(scores, relevant, 2) == pytest.approx(0.5)
    dcg, ideal = 1 / math.log2(3), 1 + 1 / math.log2(3)
    assert ndcg_at_k(scores, relevant, 2) == pytest.approx(dcg / ideal)
    # masking item 0 (seen in training) lifts item 1 to rank 1
    seen = torch.tensor([[True, False, False, False]])
    assert ndcg_at_k(scores, relevant, 2, exclude=seen) == pytest.approx(1 / ideal)
    assert recall_at_k(scores, relevant, 4) == pytest.approx(1.0)


def test_users_without_relevant_items_are_left_out_and_more_than_k_relevant_can_score_one():
    scores = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    relevant = torch.tensor([[True, True, True], [False, False, False]])
    assert recall_at_k(scores, relevant, 1) == pytest.approx(1.0)
    assert ndcg_at_k(scores, relevant, 2) == pytest.approx(1.0)


@FAST
@given(st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=5), st.integers(1, 6))
def test_ranking_the_relevant_items_first_scores_one_and_reversing_never_scores_more(rows, k):
    relevant = torch.tensor(rows)
    if not relevant.any():
        return
    perfect = relevant.float() + torch.linspace(0, 0.1, 6)   # relevant first, ties broken
    assert recall_at_k(perfect, relevant, k) == pytest.approx(1.0)
    assert ndcg_at_k(perfect, relevant, k) == pytest.approx(1.0)
    worst = -perfect
    assert ndcg_at_k(worst, relevant, k) <= 1.0 + 1e-12
    assert 0.0 <= recall_at_k(worst, relevant, k) <= recall_at_k(perfect, relevant, k)


def test_bad_input_is_named():
    scores, relevant = torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"k in \[1, 3\]"):
        recall_at_k(scores, relevant, 4)
    with pytest.raises(ValueError, match="of one shape"):
        ndcg_at_k(scores, relevant[:1], 1)
    with pytest.raises(ValueError, match="at least one user"):
        ndcg_at_k(scores, torch.zeros(2, 3, dtype=torch.bool), 1)
