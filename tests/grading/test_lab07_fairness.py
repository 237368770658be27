"""Lab 07 grades what an answer does: honest answers written differently from the solutions
score full marks; classic mistakes and answers that try to fool the tests lose exactly the points
of their task (see test_lab_fairness.py)."""

from __future__ import annotations

import pytest
from lab_variants import grade_variants, honest, mismatches, scribbling, wrong

CONV_BY_OUTPUT_PIXEL = '''def conv2d_forward(x, w, b=None, stride=1, padding=0):
    """Like torch.nn.functional.conv2d (a cross-correlation), one output pixel at a time."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"x has shape {x.shape} and w {w.shape}: their channel counts must agree")
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = (xp.shape[2] - k) // stride + 1
    cols = (xp.shape[3] - k) // stride + 1
    y = np.zeros((x.shape[0], w.shape[0], rows, cols))
    for i in range(rows):
        for j in range(cols):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y if b is None else y + np.asarray(b, dtype=float).reshape(1, -1, 1, 1)
'''
CONV_WITH_TORCH = '''def conv2d_forward(x, w, b=None, stride=1, padding=0):
    import torch.nn.functional as conv
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"channels differ: {x.shape} and {w.shape}")
    bias = None if b is None else torch.tensor(b)
    return conv.conv2d(torch.tensor(x), torch.tensor(w), bias, stride=stride, padding=padding).numpy()
'''
# Zero what the test handed over, in place, and answer "zeros": right only if the test computed
# its expected value after the call from the same (now zeroed) arrays.
CONV_ZEROES_ITS_INPUTS = '''def conv2d_forward(x, w, b=None, stride=1, padding=0):
    if np.shape(x)[1] != np.shape(w)[1]:
        raise ValueError(f"channels differ: {np.shape(x)} and {np.shape(w)}")
    for array in (x, w, b):
        if array is not None:
            array[...] = 0
    n, _, h, width = np.shape(x)
    o, _, k, _ = np.shape(w)
    return np.zeros((n, o, (h + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1))
'''
CONV_BACKWARD_ZEROES_ITS_INPUTS = '''def conv2d_backward(x, w, dy, stride=1, padding=0):
    n, c, h, width = np.shape(x)
    o, _, k, _ = np.shape(w)
    out = (n, o, (h + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1)
    if np.shape(dy) != out:
        raise ValueError(f"expected dy of shape {out}, got {np.shape(dy)}")
    for array in (x, w, dy):
        array[...] = 0
    return np.zeros(np.shape(x)), np.zeros(np.shape(w)), np.zeros(o)
'''
# 25 million float64 (200 MB) cross to the tester, which must refuse them as a wrong shape
CONV_RETURNS_200_MB = CONV_BY_OUTPUT_PIXEL.replace(
    "    return y if b is None else", "    return np.zeros(25_000_000) if y.size else")
IOU_CYCLIC = '''def box_iou(a, b):
    looped = []
    looped.append(looped)      # a list that holds itself: no finite encoding
    return looped


def nms(boxes, scores, iou_threshold):
    return [int(i) for i in np.argsort(-np.asarray(scores))]
'''
IOU_ALWAYS_EQUAL = '''class Anything:
    def __eq__(self, other):
        return True

    __ne__ = lambda self, other: False  # noqa: E731

    def __iter__(self):
        return iter([1, 2])

    def __array__(self, dtype=None, copy=None):
        return np.ones((2, 4))


def box_iou(a, b):
    return Anything()


def nms(boxes, scores, iou_threshold):
    return Anything()
'''
NMS_AS_ARRAY = '''def box_iou(a, b):
    """Pairwise IoU through the areas: |A ∩ B| / (|A| + |B| - |A ∩ B|)."""
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    x0, y0 = np.maximum.outer(a[:, 0], b[:, 0]), np.maximum.outer(a[:, 1], b[:, 1])
    x1, y1 = np.minimum.outer(a[:, 2], b[:, 2]), np.minimum.outer(a[:, 3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes, scores, iou_threshold):
    """Kept indices as an int array, greedy by decreasing score."""
    boxes, order = np.asarray(boxes, dtype=float), np.argsort(-np.asarray(scores), kind="stable")
    keep = np.zeros(0, dtype=np.int64)
    while order.size:
        best, order = order[0], order[1:]
        keep = np.append(keep, best)
        order = order[box_iou(boxes[best], boxes[order])[0] <= iou_threshold]
    return keep
'''
# kept indices handed out one at a time: every test iterates them once, as over a list
NMS_AS_A_GENERATOR = NMS_AS_ARRAY.replace("    return keep\n", "    yield from (int(i) for i in keep)\n")
RESIDUAL_EMPTY_SHORTCUT = '''class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        conv = lambda i, o, k, s: nn.Conv2d(i, o, k, s, padding=k // 2, bias=False)  # noqa: E731
        self.branch = nn.Sequential(conv(in_channels, out_channels, 3, stride), nn.BatchNorm2d(out_channels),
                                    nn.ReLU(inplace=False), conv(out_channels, out_channels, 3, 1),
                                    nn.BatchNorm2d(out_channels))
        same = stride == 1 and in_channels == out_channels
        self.shortcut = nn.Sequential() if same else nn.Sequential(
            conv(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))

    def forward(self, x):
        return F.relu(self.shortcut(x) + self.branch(x))
'''
# relu(x) passes the visible "silenced branch" check; the hidden tests load other weights
RESIDUAL_IGNORES_ITS_WEIGHTS = RESIDUAL_EMPTY_SHORTCUT.replace(
    "return F.relu(self.shortcut(x) + self.branch(x))", "return F.relu(self.shortcut(x))")
# uses torch, and answers the source check with the source of a NumPy function it does not run
CONV_FORGES_ITS_SOURCE = CONV_WITH_TORCH + '''

import inspect as _inspect

_real_getsource = _inspect.getsource


def _clean_source(obj):
    return _real_getsource(_decoy) if getattr(obj, "__name__", "") == "conv2d_forward" else _real_getsource(obj)


def _decoy(x, w, b=None, stride=1, padding=0):
    return np.zeros(1)


_inspect.getsource = _clean_source
'''

VARIANTS = [
    honest("conv-by-output-pixel-docstring-names-torch", conv2d_forward=CONV_BY_OUTPUT_PIXEL),
    wrong("conv-with-torch", "conv2d_forward-tests", conv2d_forward=CONV_WITH_TORCH),
    wrong("conv-zeroes-its-inputs", "conv2d_forward-tests", conv2d_forward=CONV_ZEROES_ITS_INPUTS),
    wrong("conv-backward-zeroes-its-inputs", "conv2d_backward-tests", conv2d_backward=CONV_BACKWARD_ZEROES_ITS_INPUTS),
    wrong("conv-returns-200-mb", "conv2d_forward-tests", conv2d_forward=CONV_RETURNS_200_MB),
    wrong("iou-returns-a-cyclic-list", "iou_nms-tests", iou_nms=IOU_CYCLIC),
    wrong("iou-returns-an-always-equal-object", "iou_nms-tests", iou_nms=IOU_ALWAYS_EQUAL),
    honest("nms-returns-an-int-array", iou_nms=NMS_AS_ARRAY),
    honest("nms-is-a-generator", iou_nms=NMS_AS_A_GENERATOR),
    honest("residual-empty-sequential-shortcut", residual_block=RESIDUAL_EMPTY_SHORTCUT),
    wrong("residual-ignores-its-weights", "residual_block-tests", residual_block=RESIDUAL_IGNORES_ITS_WEIGHTS),
    scribbling("lab07"),  # overwrites its arguments
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return grade_variants("lab07", [*VARIANTS, FORGED_SOURCE], tmp_path_factory.mktemp("lab07"))


def test_lab07_grades_what_an_answer_does_not_how_it_is_written(graded: dict) -> None:
    problems = mismatches("lab07", VARIANTS, graded)
    assert not problems, "\n".join(problems)


FORGED_SOURCE = wrong("conv-forges-its-source", "conv2d_forward-tests", conv2d_forward=CONV_FORGES_ITS_SOURCE)


@pytest.mark.xfail(strict=True, reason="known gap (docs/grading.md): a source check reads the source the student "
                   "process reports, so a submission that patches its own inspect.getsource passes a from-scratch "
                   "check while calling torch; the check is a rule for honest work, not a barrier")
def test_a_from_scratch_answer_that_forges_its_source_loses_its_task(graded: dict) -> None:
    problems = mismatches("lab07", [FORGED_SOURCE], graded)
    assert not [p for p in problems if p.startswith(FORGED_SOURCE.name)], "\n".join(problems)
