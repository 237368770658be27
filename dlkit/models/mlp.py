"""``MLP``: a multilayer perceptron, the network of chapters 02-06 as a reusable module."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """Flatten, then ``Linear → activation (→ dropout)`` for each hidden width, then a last
    ``Linear`` to ``out_features`` logits (chapter 02).

    Parameters: Σ over consecutive widths (a, b) of a·b + b, widths being
    ``(in_features, *hidden, out_features)``.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int,
                 activation: Callable[[], nn.Module] = nn.ReLU, dropout: float = 0.0) -> None:
        widths = [in_features, *hidden, out_features]
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"expected positive int widths, got in_features={in_features}, "
                             f"hidden={list(hidden)}, out_features={out_features}")
        if not 0 <= dropout < 1:
            raise ValueError(f"expected dropout in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-2], widths[1:-1], strict=True):
            layers += [nn.Linear(a, b), activation()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-2], widths[-1]))
        super().__init__(*layers)
        self.in_features = in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x[0].numel() != self.in_features:
            raise ValueError(f"MLP expected inputs of shape (N, {self.in_features}) or (N, ...) "
                             f"with {self.in_features} values per sample, got {tuple(x.shape)}")
        return super().forward(x)
