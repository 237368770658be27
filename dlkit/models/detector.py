"""``GridDetector``: a one-stage detector in the style of YOLO (Redmon et al., 2016), small
enough to train on generated shapes in seconds (chapter 07).

A convolutional backbone with total stride ``s`` turns an image of S×S pixels into a grid of
(S/s)×(S/s) cells; every cell predicts, from its own feature vector (a 1×1 convolution):

    objectness logit             is the centre of an object inside this cell?
    tx, ty  (through a sigmoid)  where in the cell the centre is, in [0, 1]
    tw, th                       log(width / s), log(height / s)
    class logits                 which shape it is

``encode_targets`` writes ground-truth boxes into that grid (the cell holding the box centre
is responsible for it), ``detection_loss`` compares, and ``decode_detections`` turns the grid
back into scored boxes and removes duplicates with per-class NMS.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlkit.metrics import batched_nms

BOX_CHANNELS = 5                      # objectness, tx, ty, tw, th; then one logit per class


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU()]


class GridDetector(nn.Module):
    """Backbone of stride 4 (two stride-2 convolutions) and a 1×1 prediction head (chapter 07).
    Output (N, 5 + num_classes, H/4, W/4)."""

    stride = 4

    def __init__(self, in_channels: int = 1, num_classes: int = 3, width: int = 32) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.backbone = nn.Sequential(
            *_conv(in_channels, width // 2), *_conv(width // 2, width, stride=2),
            *_conv(width, width), *_conv(width, 2 * width, stride=2), *_conv(2 * width, 2 * width))
        self.head = nn.Conv2d(2 * width, BOX_CHANNELS + num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"GridDetector expected input of shape (N, {self.in_channels}, H, W) "
                             f"with H and W divisible by 4, got {tuple(x.shape)}")
        return self.head(self.backbone(x))


def encode_targets(boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], grid: int,
                   stride: int) -> torch.Tensor:
    """Ground truth as a grid (N, 6, grid, grid): objectness, tx, ty, tw, th, class index.

    The cell (i, j) that holds a box's centre gets objectness 1 and the box; the other cells
    objectness 0 (their box entries are ignored by the loss)."""
    target = torch.zeros(len(boxes), 6, grid, grid)
    for n, (image_boxes, image_labels) in enumerate(zip(boxes, labels, strict=True)):
        for (x0, y0, x1, y1), label in zip(np.asarray(image_boxes), image_labels, strict=True):
            cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
            j, i = min(int(cx), grid - 1), min(int(cy), grid - 1)
            target[n, :, i, j] = torch.tensor([1.0, cx - j, cy - i, np.log((x1 - x0) / stride),
                                               np.log((y1 - y0) / stride), float(label)])
    return target


def detection_loss(output: torch.Tensor, target: torch.Tensor, box_weight: float = 5.0) -> torch.Tensor:
    """Objectness BCE over every cell + (box L1 + class cross-entropy) over the responsible
    cells (chapter 07)."""
    if output.shape[0] != target.shape[0] or output.shape[2:] != target.shape[2:] \
            or target.shape[1] != 6:
        raise ValueError(f"expected output (N, 5 + C, G, G) and target (N, 6, G, G) on the same "
                         f"grid, got {tuple(output.shape)} and {tuple(target.shape)}")
    objectness = F.binary_cross_entropy_with_logits(output[:, 0], target[:, 0])
    positive = target[:, 0] > 0.5                                       # (N, G, G)
    if not positive.any():
        return objectness
    predicted = output.permute(0, 2, 3, 1)[positive]                    # (P, 5 + C)
    wanted = target.permute(0, 2, 3, 1)[positive]                       # (P, 6)
    box = F.l1_loss(torch.sigmoid(predicted[:, 1:3]), wanted[:, 1:3]) + \
        F.l1_loss(predicted[:, 3:5], wanted[:, 3:5])
    classes = F.cross_entropy(predicted[:, BOX_CHANNELS:], wanted[:, 5].long())
    return objectness + box_weight * box + classes


def decode_detections(output: torch.Tensor, stride: int, score_threshold: float = 0.05,
                      iou_threshold: float = 0.5) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (boxes (k, 4), scores (k,), labels (k,)) after per-class NMS (chapter 07).
    A cell's score is P(object) · P(class | object) of its most likely class."""
    output = output.detach().float().cpu()
    grid_h, grid_w = output.shape[2:]
    ii, jj = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    cx = (jj + torch.sigmoid(output[:, 1])) * stride
    cy = (ii + torch.sigmoid(output[:, 2])) * stride
    w, h = torch.exp(output[:, 3]) * stride, torch.exp(output[:, 4]) * stride
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    class_prob, label = torch.softmax(output[:, BOX_CHANNELS:], dim=1).max(dim=1)
    score = torch.sigmoid(output[:, 0]) * class_prob
    results = []
    for n in range(len(output)):
        keep = score[n] > score_threshold
        b, s, c = boxes[n][keep].numpy(), score[n][keep].numpy(), label[n][keep].numpy()
        kept = batched_nms(b, s, c, iou_threshold) if len(b) else np.zeros(0, dtype=np.int64)
        results.append((b[kept], s[kept], c[kept].astype(np.int64)))
    return results
