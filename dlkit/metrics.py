"""Evaluation metrics: accuracy, confusion matrix, precision/recall/F1, ROC/AUC, IoU, Dice,
non-maximum suppression (chapter 06; IoU, Dice and NMS return in chapter 07).

Every function accepts numpy arrays, torch tensors (any device; they are copied to the CPU)
or nested lists, and returns numpy numbers. Labels are integers ``0 … K-1``. Conventions
follow scikit-learn where it has the metric, so ``sklearn.metrics`` is the oracle in the tests:

- rows of a confusion matrix are the TRUE class, columns the PREDICTED class;
- a precision, recall or F1 whose denominator is zero (no predictions of a class, no examples
  of it) is ``zero_division`` (0 by default, like sklearn's ``zero_division=0``);
- ROC thresholds are the distinct scores in decreasing order after an infinite first one;
  tied scores move together, so a tie between a positive and a negative counts one half in
  the AUC.
"""
from __future__ import annotations

from typing import Any

import numpy as np

AVERAGES = ("macro", "micro", "binary", None)


def _numpy(x: Any, name: str) -> np.ndarray:
    # torch is imported lazily by whoever made the tensor: recognise it without importing it
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.dtype == object:
        raise TypeError(f"expected {name} to be a numeric array or tensor, got {type(x).__name__}")
    return array


def _labels(x: Any, name: str) -> np.ndarray:
    array = _numpy(x, name)
    if array.ndim != 1:
        raise ValueError(f"expected {name} to be a 1-D array of class labels, got shape {array.shape}")
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"expected {name} to hold integer class labels, got non-integer values "
                             f"such as {array[array != np.round(array)][:3]} (scores? take argmax "
                             f"or threshold them first)")
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"expected {name} to hold integer class labels, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"expected {name} to hold labels 0…K-1, got the negative label {array.min()}")
    return array.astype(np.int64)


def _pair(y: Any, y_hat: Any) -> tuple[np.ndarray, np.ndarray]:
    y, y_hat = _labels(y, "y"), _labels(y_hat, "y_hat")
    if y.shape != y_hat.shape:
        raise ValueError(f"expected y and y_hat of the same length, got {y.shape} and {y_hat.shape}")
    if y.size == 0:
        raise ValueError("expected at least one example, got empty y and y_hat")
    return y, y_hat


def _num_classes(y: np.ndarray, y_hat: np.ndarray, num_classes: int | None) -> int:
    seen = int(max(y.max(), y_hat.max())) + 1
    if num_classes is None:
        return seen
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"expected num_classes to be a positive integer, got {num_classes!r}")
    if seen > num_classes:
        raise ValueError(f"expected labels below num_classes={num_classes}, got the label {seen - 1}")
    return int(num_classes)


def accuracy(y_hat: Any, y: Any) -> float:
    """Fraction of correct predictions (chapter 06).

    ``y_hat`` is either labels of shape (N,) or scores/logits/probabilities of shape (N, K),
    in which case the prediction is the arg-max of each row. ``y`` holds the true labels (N,).
    """
    scores = _numpy(y_hat, "y_hat")
    if scores.ndim == 2:
        y_true = _labels(y, "y")
        if scores.shape[0] != y_true.shape[0]:
            raise ValueError(f"expected y_hat of shape (N, K) with N = len(y) = {y_true.shape[0]}, "
                             f"got {scores.shape}")
        if scores.shape[1] == 1:
            raise ValueError("expected y_hat of shape (N, K) with K >= 2 columns, got one column "
                             f"{scores.shape}: threshold binary scores into labels first")
        if y_true.size and y_true.max() >= scores.shape[1]:
            raise ValueError(f"expected labels below K = {scores.shape[1]} (the columns of y_hat), "
                             f"got the label {y_true.max()}")
        y_hat = scores.argmax(axis=1)
    elif scores.ndim != 1:
        raise ValueError(f"expected y_hat of shape (N,) (labels) or (N, K) (scores), got {scores.shape}")
    y_true, y_pred = _pair(y, y_hat)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y: Any, y_hat: Any, num_classes: int | None = None) -> np.ndarray:
    """K × K counts: entry [i, j] is how many examples of true class i were predicted j
    (chapter 06). ``num_classes`` defaults to 1 + the largest label seen."""
    y, y_hat = _pair(y, y_hat)
    k = _num_classes(y, y_hat, num_classes)
    # each (true, predicted) pair is one cell index i·K + j; bincount counts them all at once
    return np.bincount(y * k + y_hat, minlength=k * k).reshape(k, k)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(numerator.shape, float(zero_division))
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def precision_recall_f1(y: Any, y_hat: Any, average: str | None = "macro",
                        num_classes: int | None = None, zero_division: float = 0.0
                        ) -> tuple[Any, Any, Any]:
    """Precision TP/(TP+FP), recall TP/(TP+FN) and F1 = 2TP/(2TP+FP+FN) (chapter 06).

    ``average``: ``"macro"`` (mean of the per-class scores), ``"micro"`` (from the summed
    counts; equals accuracy for single-label problems), ``"binary"`` (class 1 is positive;
    labels must be 0/1) or ``None`` (one score per class, as arrays).
    Classes: ``0 … num_classes-1`` when given, else those that occur in ``y`` or ``y_hat``
    (like scikit-learn). A zero denominator gives ``zero_division``.
    """
    if average not in AVERAGES:
        raise ValueError(f"expected average among {AVERAGES}, got {average!r}")
    y, y_hat = _pair(y, y_hat)
    k = _num_classes(y, y_hat, num_classes)
    if average == "binary" and k > 2:
        raise ValueError(f"average='binary' expected labels 0 and 1, got labels up to {k - 1}; "
                         f"use 'macro', 'micro' or None for several classes")
    k = 2 if average == "binary" else k    # all-zero labels still have a positive class
    counts = confusion_matrix(y, y_hat, k)
    tp = np.diag(counts).astype(np.float64)
    fp = counts.sum(axis=0) - tp          # predicted as the class, but something else
    fn = counts.sum(axis=1) - tp          # of the class, but predicted as something else
    if average == "binary":
        tp, fp, fn = tp[1:2], fp[1:2], fn[1:2]
    elif num_classes is None:
        present = np.union1d(y, y_hat)
        tp, fp, fn = tp[present], fp[present], fn[present]
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    precision = _safe_divide(tp, tp + fp, zero_division)
    recall = _safe_divide(tp, tp + fn, zero_division)
    f1 = _safe_divide(2 * tp, 2 * tp + fp + fn, zero_division)
    if average is None:
        return precision, recall, f1
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def _binary_scores(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y, "y")
    scores = _numpy(scores, "scores").astype(np.float64)
    if scores.ndim != 1 or scores.shape != y.shape:
        raise ValueError(f"expected scores of shape (N,) matching y {y.shape}, got {scores.shape}")
    if y.size and y.max() > 1:
        raise ValueError(f"expected binary labels 0/1, got the label {y.max()}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("expected finite scores, got NaN or infinity")
    if y.size == 0 or y.min() == y.max():
        raise ValueError("expected both classes (0 and 1) in y: the ROC curve needs positives "
                         f"and negatives, got only {np.unique(y).tolist()}")
    return y, scores


def roc_curve(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds of a binary scorer (chapter 06).

    Predicting "positive" when ``score >= threshold`` for each threshold from +∞ (nothing
    positive: the point (0, 0)) down to the smallest score (everything positive: (1, 1)).
    Every distinct score is one threshold (scikit-learn's ``drop_intermediate=False``).
    """
    y, scores = _binary_scores(y, scores)
    order = np.argsort(-scores, kind="stable")
    scores, y = scores[order], y[order]
    # the last index of each run of equal scores: ties cross the threshold together
    last_of_run = np.r_[np.flatnonzero(np.diff(scores)), y.size - 1]
    tps = np.cumsum(y)[last_of_run]
    fps = (last_of_run + 1) - tps
    tpr = np.r_[0, tps] / tps[-1]
    fpr = np.r_[0, fps] / fps[-1]
    return fpr, tpr, np.r_[np.inf, scores[last_of_run]]


def roc_auc(y: Any, scores: Any) -> float:
    """Area under the ROC curve (chapter 06): the probability that a random positive scores
    above a random negative, a tie counting one half."""
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # the trapezoid rule


def _boxes(x: Any, name: str) -> np.ndarray:
    boxes = _numpy(x, name).astype(np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"expected {name} of shape (N, 4) as (x0, y0, x1, y1), got {boxes.shape}")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError(f"expected {name} with x1 >= x0 and y1 >= y0 (corners, not width/height?)")
    return boxes


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """Intersection over union of every box in ``boxes_a`` (N, 4) with every box in
    ``boxes_b`` (M, 4), as an (N, M) array; boxes are (x0, y0, x1, y1) (chapters 06, 07).
    Two boxes whose union has zero area get IoU 0."""
    a, b = _boxes(boxes_a, "boxes_a"), _boxes(boxes_b, "boxes_b")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    # the overlap is the box between the larger top-left and the smaller bottom-right corner
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    sides = np.clip(bottom_right - top_left, 0.0, None)
    intersection = sides[..., 0] * sides[..., 1]
    union = area_a[:, None] + area_b[None, :] - intersection
    return _safe_divide(intersection, union, 0.0)


def iou(box_a: Any, box_b: Any) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1) (chapters 06, 07)."""
    a, b = _numpy(box_a, "box_a"), _numpy(box_b, "box_b")
    for name, box in (("box_a", a), ("box_b", b)):
        if box.shape != (4,):
            raise ValueError(f"expected {name} of shape (4,) as (x0, y0, x1, y1), got {box.shape}")
    return float(box_iou(a[None], b[None])[0, 0])


def _masks(mask_a: Any, mask_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _numpy(mask_a, "mask_a"), _numpy(mask_b, "mask_b")
    if a.shape != b.shape:
        raise ValueError(f"expected masks of the same shape, got {a.shape} and {b.shape}")
    for name, m in (("mask_a", a), ("mask_b", b)):
        if m.dtype.kind != "b" and not np.all((m == 0) | (m == 1)):
            raise ValueError(f"expected {name} to be a binary mask (bool or 0/1), got values such "
                             f"as {np.unique(m)[:4]} (threshold probabilities first)")
    return a.astype(bool), b.astype(bool)


def _per_sample(a: np.ndarray, per_sample: bool) -> tuple[int, ...] | None:
    """Axes to sum over: all of them, or all but the first (the batch) with ``per_sample``."""
    if not per_sample:
        return None
    if a.ndim < 2:
        raise ValueError(f"expected masks of shape (N, ...) with per_sample=True, got {a.shape}")
    return tuple(range(1, a.ndim))


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> Any:
    scores = _safe_divide(numerator.astype(np.float64), denominator, float(empty))
    return float(scores) if np.ndim(scores) == 0 else scores


def mask_iou(mask_a: Any, mask_b: Any, empty: float = 1.0, per_sample: bool = False) -> Any:
    """|A ∩ B| / |A ∪ B| of two binary masks of the same shape (chapters 06, 07).

    By default the whole arrays count as one mask (a float). With ``per_sample`` the first axis
    is the batch: one IoU per image, an array (N,), whose mean is the usual "mean IoU over
    images". Two empty masks agree perfectly: they score ``empty`` (1 by default), per image."""
    a, b = _masks(mask_a, mask_b)
    axes = _per_sample(a, per_sample)
    intersection = np.logical_and(a, b).sum(axis=axes)
    return _ratio(intersection, np.logical_or(a, b).sum(axis=axes), empty)


def dice(mask_a: Any, mask_b: Any, empty: float = 1.0, per_sample: bool = False) -> Any:
    """2|A ∩ B| / (|A| + |B|) of two binary masks (chapters 06, 07); equals 2·IoU/(1 + IoU).
    Two empty masks score ``empty`` (1 by default); ``per_sample`` as in :func:`mask_iou`."""
    a, b = _masks(mask_a, mask_b)
    axes = _per_sample(a, per_sample)
    intersection = np.logical_and(a, b).sum(axis=axes)
    return _ratio(2 * intersection, a.sum(axis=axes) + b.sum(axis=axes), empty)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> np.ndarray:
    """Non-maximum suppression (chapter 07), with ``torchvision.ops.nms``'s semantics: visit the
    boxes from the highest score down; keep a box unless a box kept before it overlaps it with
    IoU strictly greater than ``iou_threshold``. Returns the kept indices (int64), in decreasing
    order of score; equal scores are visited in index order (torchvision leaves ties unordered).
    Boxes are (x0, y0, x1, y1)."""
    b = _boxes(boxes, "boxes")
    s = _numpy(scores, "scores").astype(np.float64)
    if s.shape != (len(b),):
        raise ValueError(f"expected scores of shape ({len(b)},), one per box, got {s.shape}")
    if np.isnan(s).any():
        raise ValueError("expected scores without NaN, got NaN")
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"expected iou_threshold in [0, 1], got {iou_threshold!r}")
    overlaps = box_iou(b, b)
    suppressed = np.zeros(len(b), dtype=bool)
    keep = []
    for i in np.argsort(-s, kind="stable"):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= overlaps[i] > iou_threshold
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes: Any, scores: Any, labels: Any, iou_threshold: float) -> np.ndarray:
    """NMS within each class separately (``torchvision.ops.batched_nms``): boxes of different
    ``labels`` never suppress each other (chapter 07). Kept indices, by decreasing score."""
    b, s = _boxes(boxes, "boxes"), _numpy(scores, "scores").astype(np.float64)
    classes = _numpy(labels, "labels")
    if classes.shape != (len(b),):
        raise ValueError(f"expected labels of shape ({len(b)},), one per box, got {classes.shape}")
    keep = [np.flatnonzero(classes == c)[nms(b[classes == c], s[classes == c], iou_threshold)]
            for c in np.unique(classes)]
    kept = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return kept[np.lexsort((kept, -s[kept]))].astype(np.int64)   # by score, ties by index


def average_precision(detections: Any, gt_boxes: Any, gt_labels: Any, label: int,
                      iou_threshold: float = 0.5) -> float:
    """Average precision of one class over a set of images (chapter 07), the VOC/COCO way.

    ``detections``: per image (boxes (k, 4), scores (k,), labels (k,)); ``gt_boxes`` and
    ``gt_labels``: per image (m, 4) and (m,). All detections of the class, from every image,
    are ranked by score; each is a true positive if it overlaps a not-yet-matched ground-truth
    box of its class in its image with IoU >= ``iou_threshold`` (the best such box is taken),
    else a false positive (a second detection of a matched object counts as a false positive).
    AP is the area under the precision–recall curve after making precision non-increasing
    (all-point interpolation). A class without ground truth raises ValueError."""
    if not (len(detections) == len(gt_boxes) == len(gt_labels)):
        raise ValueError(f"expected one entry per image in detections, gt_boxes and gt_labels, "
                         f"got {len(detections)}, {len(gt_boxes)} and {len(gt_labels)}")
    ranked, num_truths, truths = [], 0, []
    for image, ((boxes, scores, labels), truth, truth_labels) in enumerate(
            zip(detections, gt_boxes, gt_labels, strict=True)):
        mine = np.asarray(labels) == label
        truth = np.asarray(truth, dtype=np.float64).reshape(-1, 4)[np.asarray(truth_labels) == label]
        truths.append(truth)
        num_truths += len(truth)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[mine]
        ranked += [(float(s), image, box) for s, box in zip(np.asarray(scores)[mine], boxes,
                                                           strict=True)]
    if num_truths == 0:
        raise ValueError(f"expected at least one ground-truth box of class {label}, got none")
    ranked.sort(key=lambda item: -item[0])
    matched = [np.zeros(len(t), dtype=bool) for t in truths]
    hits = np.zeros(len(ranked))
    for k, (_, image, box) in enumerate(ranked):
        if len(truths[image]):
            overlaps = box_iou(box[None], truths[image])[0]
            overlaps[matched[image]] = -1.0                 # each object is found once
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold:
                matched[image][best] = True
                hits[k] = 1.0
    true_positives = np.cumsum(hits)
    recall = np.concatenate([[0.0], true_positives / num_truths])
    precision = np.concatenate([[1.0], true_positives / np.arange(1, len(ranked) + 1)])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]   # best precision at recall >= r
    return float(np.sum(np.diff(recall) * envelope[1:]))


def mean_average_precision(detections: Any, gt_boxes: Any, gt_labels: Any,
                           iou_threshold: float = 0.5) -> float:
    """mAP@``iou_threshold``: the mean of :func:`average_precision` over the classes that have
    ground truth (chapter 07)."""
    classes = np.unique(np.concatenate([np.asarray(t).ravel() for t in gt_labels]))
    return float(np.mean([average_precision(detections, gt_boxes, gt_labels, int(c),
                                            iou_threshold) for c in classes]))
