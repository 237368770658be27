"""``LeNet``: LeCun's LeNet-5 (1998), the first convolutional network chapter 07 trains.

    conv 5×5, 6 maps, padding 2 → act → pool 2   (s → s/2)
    conv 5×5, 16 maps           → act → pool 2   (s/2 → (s/2 − 4)/2)
    flatten → 120 → 84 → classes

For 28×28 digits the last maps are 16×5×5 = 400 features. Average pooling and tanh are the
original; ReLU and max pooling (``modern=True``) train faster.
"""
from __future__ import annotations

import torch
from torch import nn


def lenet_feature_size(image_size: int) -> int:
    """Side of LeNet's last feature maps for a square input of ``image_size`` pixels."""
    return (image_size // 2 - 4) // 2


class LeNet(nn.Module):
    """LeNet-5 for ``in_channels``×``image_size``×``image_size`` images (chapter 07)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 modern: bool = True) -> None:
        super().__init__()
        side = lenet_feature_size(image_size)
        if side < 1:
            raise ValueError(f"LeNet expected image_size >= 12 (two 5x5 convolutions and two "
                             f"poolings must leave a map), got {image_size}")
        act, pool = (nn.ReLU, nn.MaxPool2d) if modern else (nn.Tanh, nn.AvgPool2d)
        self.in_channels, self.image_size = in_channels, image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), act(), pool(2),
            nn.Conv2d(6, 16, 5), act(), pool(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * side * side, 120), act(), nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"LeNet expected input of shape (N, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        return self.classifier(self.features(x))
