"""dlkit.metrics against scikit-learn (the oracle), plus hand-checked IoU and Dice cases."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from dlkit.metrics import (
    accuracy,
    box_iou,
    confusion_matrix,
    dice,
    iou,
    mask_iou,
    precision_recall_f1,
    roc_auc,
    roc_curve,
)

FAST = settings(max_examples=25, deadline=None)


@st.composite
def label_pairs(draw, max_classes=5):
    k = draw(st.integers(1, max_classes))
    n = draw(st.integers(1, 30))
    y = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    y_hat = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return np.array(y), np.array(y_hat), k


@st.composite
def binary_scores(draw):
    n = draw(st.integers(2, 30))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    # few distinct values, so that ties between positives and negatives are common
    scores = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 0.5, 2.0]) | st.floats(-3, 3),
                           min_size=n, max_size=n))
    return np.array(y), np.array(scores)


@FAST
@given(label_pairs())
def test_confusion_matrix_and_accuracy_match_sklearn(data):
    y, y_hat, k = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # sklearn warns when a single label occurs
        expected = skm.confusion_matrix(y, y_hat, labels=list(range(k)))
    np.testing.assert_array_equal(confusion_matrix(y, y_hat, num_classes=k), expected)
    assert confusion_matrix(y, y_hat, k)[1:, 0].sum() == np.sum((y > 0) & (y_hat == 0))  # rows = true
    assert accuracy(y_hat, y) == pytest.approx(skm.accuracy_score(y, y_hat))


@FAST
@given(label_pairs(), st.sampled_from(["macro", "micro", None]), st.booleans(),
       st.sampled_from([0.0, 1.0]))
def test_precision_recall_f1_match_sklearn_including_absent_classes(data, average, all_classes,
                                                                   zero_division):
    y, y_hat, k = data
    labels = list(range(k)) if all_classes else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = skm.precision_recall_fscore_support(y, y_hat, labels=labels, average=average,
                                                       zero_division=zero_division)[:3]
    got = precision_recall_f1(y, y_hat, average=average, num_classes=k if all_classes else None,
                              zero_division=zero_division)
    for name, g, e in zip(("precision", "recall", "f1"), got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-12, err_msg=name)


@FAST
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=30))
def test_binary_average_matches_sklearn(pairs):
    y, y_hat = np.array(pairs).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = skm.precision_recall_fscore_support(y, y_hat, average="binary", zero_division=0)[:3]
    np.testing.assert_allclose(precision_recall_f1(y, y_hat, average="binary"), expected)


def test_hand_checked_binary_counts_and_zero_division():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    y_hat = np.array([1, 0, 0, 1, 0, 0, 0, 0])   # TP 1, FN 2, FP 1, TN 4
    p, r, f1 = precision_recall_f1(y, y_hat, average="binary")
    assert (p, r) == (0.5, pytest.approx(1 / 3)) and f1 == pytest.approx(2 * 1 / (2 + 1 + 2))
    # a class never predicted and never present: 0 by default, or what zero_division says
    p, r, f1 = precision_recall_f1([0, 0], [0, 0], average=None, num_classes=2, zero_division=1.0)
    np.testing.assert_array_equal(p, [1.0, 1.0])
    # accuracy misleads on imbalanced data: always "negative" is 95% accurate, recall 0
    y = np.r_[np.ones(5, int), np.zeros(95, int)]
    assert accuracy(np.zeros(100, int), y) == 0.95
    assert precision_recall_f1(y, np.zeros(100, int), average="binary")[1] == 0.0


def test_accuracy_from_scores_and_torch_tensors():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 0.0], [4.0, 0.0, 0.0]])
    y = torch.tensor([0, 2, 0, 0])
    assert accuracy(logits, y) == 0.75
    assert accuracy(logits.argmax(1), y.numpy()) == 0.75
    np.testing.assert_array_equal(confusion_matrix(y, logits.argmax(1)), [[2, 1, 0], [0, 0, 0], [0, 0, 1]])


@FAST
@given(binary_scores())
def test_roc_curve_and_auc_match_sklearn_with_ties(data):
    y, scores = data
    fpr, tpr, thresholds = roc_curve(y, scores)
    e_fpr, e_tpr, e_thr = skm.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, e_fpr)
    np.testing.assert_allclose(tpr, e_tpr)
    np.testing.assert_allclose(thresholds[1:], e_thr[1:])
    assert thresholds[0] == np.inf
    assert roc_auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    # AUC is the probability that a positive outscores a negative, ties counting one half
    pos, neg = scores[y == 1], scores[y == 0]
    pairwise = np.mean((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None]))
    assert roc_auc(y, scores) == pytest.approx(pairwise)


def test_roc_auc_hand_cases():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5        # one tie: a coin flip


@FAST
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10), st.floats(0, 5), st.floats(0, 5)),
                min_size=1, max_size=6),
       st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10), st.floats(0, 5), st.floats(0, 5)),
                min_size=1, max_size=6))
def test_box_iou_agrees_with_a_rasterized_mask_iou_on_integer_boxes(raw_a, raw_b):
    def boxes(raw):  # integer corners, so a 20×20 pixel grid measures the areas exactly
        return np.array([[int(x), int(y), int(x) + int(w), int(y) + int(h)] for x, y, w, h in raw])

    def raster(box):
        mask = np.zeros((20, 20), bool)
        mask[box[1]:box[3], box[0]:box[2]] = True
        return mask

    a, b = boxes(raw_a), boxes(raw_b)
    table = box_iou(a, b)
    assert table.shape == (len(a), len(b))
    for i in range(len(a)):
        for j in range(len(b)):
            if raster(a[i]).any() or raster(b[j]).any():
                assert table[i, j] == pytest.approx(mask_iou(raster(a[i]), raster(b[j])))
            assert iou(a[i], b[j]) == table[i, j] == box_iou(b, a)[j, i]   # symmetric


def test_iou_and_dice_hand_cases():
    assert iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)   # overlap 1, union 4 + 4 - 1
    assert iou([0, 0, 2, 2], [0, 0, 2, 2]) == 1.0
    assert iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0                    # disjoint
    assert iou([0, 0, 1, 1], [1, 0, 2, 1]) == 0.0                    # touching edges
    assert iou(torch.tensor([0.0, 0, 4, 2]), np.array([2, 0, 6, 2])) == pytest.approx(1 / 3)
    a = np.zeros((4, 4), bool)
    a[:2, :2] = True                                                 # 4 pixels
    b = np.zeros((4, 4), int)
    b[1:3, 1:3] = 1                                                  # 4 pixels, 1 shared
    assert mask_iou(a, b) == pytest.approx(1 / 7)
    assert dice(a, b) == pytest.approx(2 / 8)
    assert dice(a, b) == pytest.approx(2 * mask_iou(a, b) / (1 + mask_iou(a, b)))
    empty = np.zeros((3, 3))
    assert mask_iou(empty, empty) == 1.0 and dice(empty, empty, empty=0.0) == 0.0


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="below num_classes=2"):
        confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="negative"):
        confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match="integer class labels"):
        precision_recall_f1([0, 1], [0.3, 0.9])
    with pytest.raises(ValueError, match="binary"):
        precision_recall_f1([0, 2], [0, 1], average="binary")
    with pytest.raises(ValueError, match="average"):
        precision_recall_f1([0, 1], [0, 1], average="weighted")
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        accuracy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="one column"):
        accuracy(np.array([[0.9], [0.1]]), [1, 0])   # argmax of one column would always say 0
    with pytest.raises(ValueError, match="below K = 2"):
        accuracy(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary labels"):
        roc_curve([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        box_iou(np.zeros((2, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="x1 >= x0"):
        iou([2, 0, 1, 1], [0, 0, 1, 1])
    with pytest.raises(ValueError, match="binary mask"):
        dice(np.full((2, 2), 0.7), np.ones((2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        mask_iou(np.ones((2, 2)), np.ones((2, 3)))
