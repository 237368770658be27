"""Chapter 07's detection pieces: scenes of shapes, the grid encoding and its decoding,
the detection loss, and average precision / mAP by hand-computed cases."""
import numpy as np
import pytest
import torch

from dlkit.data import make_shape_scenes
from dlkit.metrics import average_precision, box_iou, mean_average_precision
from dlkit.models import GridDetector, decode_detections, detection_loss, encode_targets


def test_scenes_have_visible_disjoint_boxes_that_cover_the_shapes():
    images, boxes, labels = make_shape_scenes(50, tiles=2, tile_size=16, max_objects=3, seed=3, noise=0.0)
    assert images.shape == (50, 1, 32, 32) and images.dtype == np.float32
    for image, image_boxes, image_labels in zip(images, boxes, labels, strict=True):
        assert 1 <= len(image_boxes) == len(image_labels) <= 3
        assert set(image_labels.tolist()) <= {0, 1, 2}
        inside = np.zeros((32, 32), dtype=bool)
        for x0, y0, x1, y1 in image_boxes.astype(int):
            inside[y0:y1, x0:x1] = True
        assert np.all(image[0][~inside] == 0)                    # nothing drawn outside the boxes
        overlaps = box_iou(image_boxes, image_boxes)
        assert np.allclose(overlaps, np.eye(len(image_boxes)))   # different tiles never overlap
    with pytest.raises(ValueError, match="max_objects"):
        make_shape_scenes(5, tiles=1, max_objects=2)


def perfect_output(target, num_classes=3):
    """Logits that decode exactly to the encoded boxes (what a perfect detector outputs)."""
    n, _, g, _ = target.shape
    out = torch.zeros(n, 5 + num_classes, g, g)
    out[:, 0] = torch.where(target[:, 0] > 0, 20.0, -20.0)
    out[:, 1:3] = torch.logit(target[:, 1:3].clamp(1e-6, 1 - 1e-6))
    out[:, 3:5] = target[:, 3:5]
    out[:, 5:] = 20.0 * torch.nn.functional.one_hot(target[:, 5].long(), num_classes).permute(0, 3, 1, 2)
    return out


def test_encoding_then_decoding_gives_back_the_boxes_and_map_one():
    _, boxes, labels = make_shape_scenes(30, tiles=2, seed=1)
    target = encode_targets(boxes, labels, grid=8, stride=4)
    assert target.shape == (30, 6, 8, 8)
    assert int(target[:, 0].sum()) == sum(len(b) for b in boxes)
    detections = decode_detections(perfect_output(target), stride=4)
    for (b, _, c), truth, truth_labels in zip(detections, boxes, labels, strict=True):
        order = np.lexsort((truth[:, 1], truth[:, 0]))
        mine = np.lexsort((b[:, 1], b[:, 0]))
        np.testing.assert_allclose(b[mine], truth[order], atol=1e-3)
        assert c[mine].tolist() == truth_labels[order].tolist()
    assert mean_average_precision(detections, boxes, labels) == pytest.approx(1.0)
    # the loss of a perfect output is tiny; of a zero output it is not
    assert detection_loss(perfect_output(target), target) < 1e-3
    assert detection_loss(torch.zeros(30, 8, 8, 8), target) > 0.5


def test_detector_output_shape_and_bad_input():
    model = GridDetector(1, 3, width=8)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 8, 8, 8)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.zeros(2, 1, 30, 30))
    with pytest.raises(ValueError, match="same grid"):
        detection_loss(torch.zeros(2, 8, 8, 8), torch.zeros(2, 6, 4, 4))


def dets(*rows):
    """One image's detections from (x0, y0, x1, y1, score, label) rows."""
    a = np.array(rows, dtype=float).reshape(-1, 6)
    return a[:, :4], a[:, 4], a[:, 5].astype(int)


def test_average_precision_by_hand():
    truth = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]
    labels = [np.array([0, 0])]
    # ranked: hit, miss, hit → precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; envelope → 1/2·1 + 1/2·2/3
    d = [dets((0, 0, 10, 10, 0.9, 0), (50, 50, 60, 60, 0.8, 0), (20, 20, 30, 30, 0.7, 0))]
    assert average_precision(d, truth, labels, 0) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # a second detection of an already found object is a false positive
    d = [dets((0, 0, 10, 10, 0.9, 0), (1, 0, 10, 10, 0.8, 0))]
    assert average_precision(d, truth, labels, 0) == pytest.approx(0.5)
    # below the IoU threshold: no hit; other class: ignored
    d = [dets((0, 0, 10, 4, 0.9, 0), (20, 20, 30, 30, 0.8, 1))]
    assert average_precision(d, truth, labels, 0) == 0.0
    with pytest.raises(ValueError, match="class 1"):
        average_precision(d, truth, labels, 1)
    # two images, two classes: mAP averages the classes that have ground truth
    truth2 = truth + [np.array([[5, 5, 15, 15]], float)]
    labels2 = labels + [np.array([1])]
    d2 = [dets((0, 0, 10, 10, 0.9, 0), (20, 20, 30, 30, 0.7, 0)), dets((5, 5, 15, 15, 0.6, 1))]
    assert mean_average_precision(d2, truth2, labels2) == pytest.approx(1.0)
