"""Batched IoU/Dice for masks, and box IoU / NMS with torchvision.ops semantics written out
(torchvision does not install beside the pinned torch, so its documented behaviour is the oracle):

- ``box_iou(a, b)``: the (N, M) matrix of IoU of every a-box with every b-box, boxes x0, y0, x1, y1;
- ``nms(boxes, scores, t)``: visit boxes by decreasing score; a box is dropped when a KEPT box
  overlaps it with IoU > t (strictly); the result lists kept indices by decreasing score;
- ``batched_nms``: the same within each class; classes never suppress each other.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.metrics import batched_nms, box_iou, dice, mask_iou, nms

FAST = settings(max_examples=40, deadline=None)


def reference_iou(a, b):
    """IoU of two boxes, the definition spelled out."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes, scores, threshold):
    """torchvision's algorithm, one box at a time: take the best remaining box, keep it, and
    remove every remaining box whose IoU with it is > threshold."""
    remaining = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [i for i in remaining if reference_iou(boxes[best], boxes[i]) <= threshold]
    return keep


boxes_strategy = st.lists(
    st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(1, 5), st.integers(1, 5)),
    min_size=0, max_size=12).map(lambda raw: np.array([[x, y, x + w, y + h] for x, y, w, h in raw],
                                                      dtype=np.float64).reshape(-1, 4))


@FAST
@given(boxes_strategy, st.data(), st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]))
def test_nms_matches_the_reference_algorithm(boxes, data, threshold):
    # few distinct scores, so ties are common
    scores = np.array(data.draw(st.lists(st.sampled_from([0.1, 0.5, 0.5, 0.9]),
                                         min_size=len(boxes), max_size=len(boxes))))
    kept = nms(boxes, scores, threshold)
    assert kept.dtype == np.int64
    assert kept.tolist() == reference_nms(boxes, scores, threshold)
    assert np.all(np.diff(scores[kept]) <= 0)                      # by decreasing score
    for i, j in zip(*np.triu_indices(len(kept), 1), strict=True):  # survivors overlap ≤ t
        assert box_iou(boxes[kept[i]][None], boxes[kept[j]][None])[0, 0] <= threshold


@FAST
@given(boxes_strategy, boxes_strategy)
def test_box_iou_is_the_pairwise_matrix(a, b):
    table = box_iou(a, b)
    assert table.shape == (len(a), len(b))
    for i in range(len(a)):
        for j in range(len(b)):
            assert table[i, j] == pytest.approx(reference_iou(a[i], b[j]))


def test_nms_hand_cases():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # box 3 (best) suppresses its twin 0 (IoU 1) and 1 (IoU 81/119 = 0.68); 2 is far away
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.7).tolist() == [3, 1, 2]           # 0.68 ≤ 0.7 survives
    # exactly at the threshold a box survives: the rule is IoU > threshold
    half = np.array([[0, 0, 2, 1], [1, 0, 3, 1.0]])                # IoU = 1/3
    assert nms(half, [1.0, 0.5], 1 / 3).tolist() == [0, 1]
    assert nms(half, [1.0, 0.5], 0.33).tolist() == [0]
    # equal scores: the lower index is visited first
    assert nms(half, [0.5, 0.5], 0.1).tolist() == [0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    # torch tensors in, numpy indices out (they index a tensor as well)
    kept = nms(torch.tensor(boxes), torch.tensor(scores), 0.5)
    assert torch.tensor(boxes)[kept].shape == (2, 4)


def test_batched_nms_keeps_overlapping_boxes_of_different_classes():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60.0]])
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    labels = np.array([0, 1, 0, 1])
    # class 0: box 2 (0.8) suppresses box 0 (IoU 0.81); class 1: boxes 1 and 3 do not overlap
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == [1, 2, 3]
    assert batched_nms(boxes, scores, np.zeros(4, int), 0.5).tolist() == [1, 3]
    with pytest.raises(ValueError, match=r"labels of shape \(4,\)"):
        batched_nms(boxes, scores, labels[:3], 0.5)


def test_nms_errors_are_clear():
    boxes = np.array([[0, 0, 1, 1.0]])
    with pytest.raises(ValueError, match=r"scores of shape \(1,\), one per box, got \(2,\)"):
        nms(boxes, [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match=r"iou_threshold in \[0, 1\]"):
        nms(boxes, [0.1], 1.5)
    with pytest.raises(ValueError, match="NaN"):
        nms(boxes, [float("nan")], 0.5)
    with pytest.raises(ValueError, match="x1 >= x0"):
        nms(np.array([[0, 0, -1, 1]]), [0.1], 0.5)


def test_per_sample_iou_and_dice_with_the_empty_mask_convention():
    pred = np.zeros((3, 4, 4), bool)
    true = np.zeros((3, 4, 4), bool)
    pred[0, :2, :2] = True                 # image 0: 4 pixels vs 4 pixels, 1 shared
    true[0, 1:3, 1:3] = True
    pred[1, :, :] = True                   # image 1: all vs half
    true[1, :2, :] = True
    # image 2: both empty → perfect agreement, scored `empty`
    ious = mask_iou(pred, true, per_sample=True)
    np.testing.assert_allclose(ious, [1 / 7, 8 / 16, 1.0])
    np.testing.assert_allclose(dice(pred, true, per_sample=True), [2 / 8, 16 / 24, 1.0])
    np.testing.assert_allclose(dice(pred, true, per_sample=True), 2 * ious / (1 + ious))
    np.testing.assert_allclose(mask_iou(pred, true, per_sample=True, empty=0.0), [1 / 7, 0.5, 0.0])
    # pooled over the batch: one IoU of all pixels, not the mean of per-image IoUs
    assert mask_iou(pred, true) == pytest.approx((1 + 8) / (7 + 16))
    # predicting something where the truth is empty scores 0, not `empty`
    only_pred = np.ones((1, 2, 2))
    assert dice(only_pred, np.zeros((1, 2, 2)), per_sample=True).tolist() == [0.0]
    torch_masks = torch.from_numpy(pred), torch.from_numpy(true).int()
    np.testing.assert_allclose(mask_iou(*torch_masks, per_sample=True), ious)
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\) with per_sample=True, got \(4,\)"):
        dice(np.ones(4), np.ones(4), per_sample=True)
