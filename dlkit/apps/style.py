"""Neural style transfer's two losses (Gatys, Ecker & Bethge 2016) (chapter 13, section
"Generative AI").

*Content* is where features are: compare feature maps position by position. *Style* is which
features occur together, wherever they are: the Gram matrix ``G = F F^T / (H W)`` of the
(C, H*W) feature matrix ``F`` correlates channels over all positions and forgets the layout.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) feature maps -> (N, C, C) channel correlations ``F F^T / (H W)`` (chapter 13)."""
    if features.ndim != 4:
        raise ValueError(f"expected feature maps of shape (N, C, H, W), got {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the feature maps themselves: sensitive to where things are."""
    if features.shape != target.shape:
        raise ValueError(f"expected features of one shape, got {tuple(features.shape)} and {tuple(target.shape)}")
    return ((features - target) ** 2).mean()


def style_loss(features: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared difference of Gram matrices (chapter 13)."""
    if len(features) != len(targets) or not features:
        raise ValueError(f"expected one target per layer, got {len(features)} layers and {len(targets)} targets")
    return sum(((gram_matrix(f) - gram_matrix(t)) ** 2).mean() for f, t in zip(features, targets, strict=True))
