"""Graph neural networks: GCN and GAT on a dense adjacency matrix (chapter 09).

A graph network updates each node from its neighbours (**message passing**): every node sends
a message (its features times a weight matrix), every node sums the messages from its
neighbourhood, and a nonlinearity follows. Stacking k layers lets information travel k hops.

GCN (Kipf & Welling, 2017) averages with fixed weights from the graph's structure:

    H' = Â H W,   Â = D^{-1/2} (A + I) D^{-1/2},   D = the degrees of A + I

(the self-loop keeps a node's own features; the symmetric normalisation keeps the scale of H
from growing with the degree). GAT (Veličković et al., 2018) learns the weights instead: it is
attention whose keys are restricted to a node's neighbours,

    e_ij = LeakyReLU(aᵀ [W h_i ‖ W h_j]),   α_ij = softmax_j over neighbours of i (e_ij),

with several heads concatenated (or averaged in the last layer). Dense (n, n) matrices are fine
at the course's sizes (a few hundred nodes).
"""
from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F


def _check_adjacency(adjacency: torch.Tensor, n: int, who: str) -> None:
    if adjacency.ndim != 2 or adjacency.shape != (n, n):
        raise ValueError(f"{who} expected a dense (n, n) adjacency matrix for n={n} nodes, "
                         f"got {tuple(adjacency.shape)}")


def normalized_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    """Â = D^{-1/2} (A + I) D^{-1/2} for a dense (n, n) adjacency matrix A (chapter 09)."""
    _check_adjacency(adjacency, len(adjacency), "normalized_adjacency")
    a = adjacency.float() if not adjacency.is_floating_point() else adjacency
    a = a + torch.eye(len(a), dtype=a.dtype, device=a.device)
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


class GCNLayer(nn.Module):
    """H' = Â H W + b (chapter 09). forward(h (n, in), adjacency_norm (n, n) = Â) → (n, out).
    Pass Â from :func:`normalized_adjacency` (computed once per graph, not per layer)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, h: torch.Tensor, adjacency_norm: torch.Tensor) -> torch.Tensor:
        _check_adjacency(adjacency_norm, len(h), "GCNLayer")
        out = adjacency_norm @ self.linear(h)       # each node: the weighted sum of its messages
        return out if self.bias is None else out + self.bias


class GCN(nn.Module):
    """GCNLayer → ReLU → dropout → … → GCNLayer to class logits (chapter 09).
    forward(features (n, in), adjacency (n, n) 0/1) → logits (n, classes)."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, num_layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        sizes = [in_features] + [hidden] * (num_layers - 1) + [num_classes]
        self.layers = nn.ModuleList(GCNLayer(a, b) for a, b in itertools.pairwise(sizes))
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        a_hat = normalized_adjacency(adjacency)
        h = features
        for i, layer in enumerate(self.layers):
            h = layer(self.dropout(h), a_hat)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h


class GATLayer(nn.Module):
    """Multi-head graph attention (chapter 09). forward(h (n, in), adjacency (n, n) 0/1) →
    (n, heads·out) with ``concat=True``, else the heads' mean (n, out). Each node attends to its
    neighbours and itself only; ``attention(h, adjacency)`` returns the weights (heads, n, n)."""

    def __init__(self, in_features: int, out_features: int, num_heads: int = 1,
                 concat: bool = True, dropout: float = 0.0, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.num_heads, self.out_features, self.concat = num_heads, out_features, concat
        self.linear = nn.Linear(in_features, num_heads * out_features, bias=False)
        # a = [a_src ‖ a_dst] per head: aᵀ[Wh_i ‖ Wh_j] = a_srcᵀ Wh_i + a_dstᵀ Wh_j
        self.a_src = nn.Parameter(torch.randn(num_heads, out_features) * 0.1)
        self.a_dst = nn.Parameter(torch.randn(num_heads, out_features) * 0.1)
        self.bias = nn.Parameter(torch.zeros(num_heads * out_features if concat else out_features))
        self.negative_slope = negative_slope
        self.dropout = nn.Dropout(dropout)

    def _scores(self, h: torch.Tensor, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_adjacency(adjacency, len(h), "GATLayer")
        wh = self.linear(h).view(len(h), self.num_heads, self.out_features)      # (n, H, out)
        e = (wh * self.a_src).sum(-1).T[:, :, None] + (wh * self.a_dst).sum(-1).T[:, None, :]
        e = F.leaky_relu(e, self.negative_slope)                                  # (H, n, n)
        neighbours = (adjacency != 0) | torch.eye(len(h), dtype=torch.bool, device=h.device)
        alpha = torch.softmax(e.masked_fill(~neighbours, float("-inf")), dim=-1)
        return alpha, wh

    def attention(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """The attention weights (heads, n, n): row i sums to 1 over i's neighbours and i."""
        return self._scores(h, adjacency)[0]

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        alpha, wh = self._scores(h, adjacency)
        out = self.dropout(alpha) @ wh.transpose(0, 1)                             # (H, n, out)
        out = out.transpose(0, 1).flatten(1) if self.concat else out.mean(0)
        return out + self.bias


class GAT(nn.Module):
    """GATLayer (``num_heads`` heads, concatenated) → ELU → GATLayer (one head) to class logits
    (chapter 09). forward(features (n, in), adjacency (n, n)) → logits (n, classes)."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, num_heads: int = 4,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.layer1 = GATLayer(in_features, hidden, num_heads, concat=True, dropout=dropout)
        self.layer2 = GATLayer(hidden * num_heads, num_classes, 1, concat=False, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        h = F.elu(self.layer1(self.dropout(features), adjacency))
        return self.layer2(self.dropout(h), adjacency)
