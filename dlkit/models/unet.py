"""``TinyUNet``: an encoder-decoder for segmentation with skip connections (Ronneberger et al.,
2015), small enough to train on generated shapes in seconds (chapter 07).

The encoder halves the resolution ``depth`` times and doubles the channels; the decoder
upsamples with a transposed convolution and concatenates the encoder's maps of the same
resolution (the skip), so the fine detail lost by pooling comes back for the pixel-wise output.
"""
from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """(conv 3×3 → BN → ReLU) twice, resolution kept."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU())


class TinyUNet(nn.Module):
    """A U-Net with ``depth`` poolings and ``base`` channels at full resolution (chapter 07).

    Input (N, in_channels, H, W) with H and W divisible by 2**depth; output (N, out_channels,
    H, W) logits per pixel (one channel: a binary mask through sigmoid; C channels: softmax)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base: int = 16,
                 depth: int = 2) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"expected depth >= 1, got {depth}")
        self.in_channels, self.depth = in_channels, depth
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([double_conv(in_channels, widths[0])] +
                                  [double_conv(a, b) for a, b in pairwise(widths)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2)
                                 for a, b in pairwise(widths)])
        self.merge = nn.ModuleList([double_conv(2 * a, a) for a in widths[:-1]])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.depth
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % step or x.shape[3] % step:
            raise ValueError(f"TinyUNet expected input of shape (N, {self.in_channels}, H, W) with "
                             f"H and W divisible by {step}, got {tuple(x.shape)}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()                                       # the bottleneck
        for up, merge in zip(reversed(self.up), reversed(self.merge), strict=True):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))   # skip first, then upsampled
        return self.head(x)
