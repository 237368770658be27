"""A small ResNet (He et al., 2016): residual blocks ``y = relu(F(x) + shortcut(x))``.

The skip gives the gradient a path that skips F: ∂y/∂x = ∂F/∂x + I, so even where ∂F/∂x is tiny
the gradient reaches the early layers, and a deep stack of blocks trains where the same stack
without skips (``residual=False``, the "plain" net of chapter 07's comparison) does not.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class BasicBlock(nn.Module):
    """conv 3×3 → BN → ReLU → conv 3×3 → BN, plus the shortcut, then ReLU (chapter 07).

    When the block changes the width or the resolution (``stride`` 2), the shortcut is a 1×1
    convolution with that stride and a BN, so the two branches have the same shape."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return torch.relu(out)


class ResNet(nn.Module):
    """A stem conv, then stages of ``BasicBlock``s (each stage after the first halves the
    resolution), global average pooling and a linear classifier (chapter 07).

    ``widths=(16, 32, 64)`` with ``blocks=(2, 2, 2)`` is a ResNet-14 for 32×32 images (1 stem
    conv + 12 block convs + 1 linear layer). ``residual=False`` removes every skip: the plain net
    of equal depth."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10,
                 widths: Sequence[int] = (16, 32, 64), blocks: Sequence[int] = (2, 2, 2),
                 residual: bool = True) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"expected one block count per stage width, got widths={widths} "
                             f"and blocks={blocks}")
        self.in_channels = in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, previous = [], widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for j in range(count):
                stride = 2 if i > 0 and j == 0 else 1
                stages.append(BasicBlock(previous, width, stride, residual))
                previous = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(previous, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNet expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        return self.head(self.stages(self.stem(x)))
