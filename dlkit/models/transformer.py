"""Transformer building blocks in torch (Vaswani et al., 2017) (chapter 09).

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + mask) V

``MultiHeadAttention`` runs h heads of scaled dot-product attention, each in its own
d_k = d_model / h dimensional subspace, and returns the softmax weights too, so a lesson can
plot what each head looks at. It can keep a ``KVCache``: when a decoder writes one token at a
time, the keys and values of the past tokens do not change, so they are stored and only the new
token's are computed.

``TransformerBlock`` (the encoder block, and the GPT block with ``causal=True``) is
self-attention then a position-wise feed-forward net, each wrapped in a residual connection and
a LayerNorm: pre-norm ``x + f(LN(x))`` (``norm_first=True``, GPT-2 and most models since, trains
without warm-up) or post-norm ``LN(x + f(x))`` (the 2017 paper). ``DecoderBlock`` adds
cross-attention: its queries come from the target, its keys and values from the encoder's
output ("memory").

Masks follow ``torch.nn.MultiheadAttention``: ``key_padding_mask`` (N, S) is True at padding,
the keys no query may attend to; ``causal=True`` lets position t attend to positions ≤ t only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model): PE[pos, 2i] = sin(pos/10000^{2i/d}), PE[pos, 2i+1] = cos(·)
    (chapter 09; the same table as ``dlkit.ref.nn.sinusoidal_positional_encoding``)."""
    if max_len < 1 or d_model < 1:
        raise ValueError(f"expected max_len >= 1 and d_model >= 1, got {max_len} and {d_model}")
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000.0 ** (two_i / d_model)
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table.float()


class Positions(nn.Module):
    """Position vectors to add to token embeddings (chapter 09): ``kind="sinusoidal"`` (a fixed
    table, no parameters), ``"learned"`` (one trained vector per position, as in GPT and BERT)
    or ``"none"`` (zeros: the model sees a set, not a sequence). forward(T, offset=0) → (T, d)."""

    def __init__(self, max_len: int, d_model: int, kind: str = "sinusoidal") -> None:
        super().__init__()
        if kind not in ("sinusoidal", "learned", "none"):
            raise ValueError(f"expected positions 'sinusoidal', 'learned' or 'none', got {kind!r}")
        self.kind, self.max_len, self.d_model = kind, max_len, d_model
        if kind == "learned":
            # N(0, 1) like nn.Embedding's tokens: neither drowns the other at the start
            self.table = nn.Parameter(torch.randn(max_len, d_model))
        else:
            table = sinusoidal_table(max_len, d_model)
            self.register_buffer("table", table if kind == "sinusoidal" else torch.zeros_like(table),
                                 persistent=False)

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        if offset + length > self.max_len:
            raise ValueError(f"expected at most max_len={self.max_len} positions, got positions "
                             f"{offset}..{offset + length - 1}")
        return self.table[offset: offset + length]


@dataclass
class KVCache:
    """The keys and values one attention layer has seen so far, each (N, heads, S, d_k)."""
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]


class MultiHeadAttention(nn.Module):
    """h heads of scaled dot-product attention (chapter 09).

    forward(query (N, L, E), memory (N, S, E) or None for self-attention, causal, key_padding_mask
    (N, S) True at padding, cache) → (output (N, L, E), weights (N, h, L, S)); rows of the weights
    sum to 1 (a query with every key masked gets zero weights). With a ``KVCache`` the new keys and
    values are appended to the cached ones, and query i sits at position cache.length + i."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"expected d_model divisible by num_heads, got {d_model} and {num_heads}")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:          # (N, T, E) → (N, h, T, d_k)
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def forward(self, query: torch.Tensor, memory: torch.Tensor | None = None, *,
                causal: bool = False, key_padding_mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention expected a query of shape (N, L, {self.d_model}), "
                             f"got {tuple(query.shape)}")
        source = query if memory is None else memory
        q = self._heads(self.q_proj(query))
        k, v = self._heads(self.k_proj(source)), self._heads(self.v_proj(source))
        past = 0
        if cache is not None:
            past = cache.length
            if cache.keys is not None:
                k, v = torch.cat([cache.keys, k], dim=2), torch.cat([cache.values, v], dim=2)
            cache.keys, cache.values = k, v
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)   # (N, h, L, S)
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device)
        if causal:                               # query i is at position past + i
            rows = torch.arange(scores.shape[-2], device=scores.device)[:, None] + past
            allowed = torch.arange(scores.shape[-1], device=scores.device)[None, :] <= rows
        allowed = allowed.expand(scores.shape)
        if key_padding_mask is not None:
            if key_padding_mask.shape != (scores.shape[0], scores.shape[-1]):
                raise ValueError(f"expected key_padding_mask of shape (N, S) = "
                                 f"{(scores.shape[0], scores.shape[-1])}, got "
                                 f"{tuple(key_padding_mask.shape)}")
            allowed = allowed & ~key_padding_mask.bool()[:, None, None, :]
        scores = scores.masked_fill(~allowed, float("-inf"))
        # a row with every key masked would be softmax(-inf, ..) = NaN: give it zero weights
        weights = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)
        out = (self.dropout(weights) @ v).transpose(1, 2).flatten(2)
        return self.out_proj(out), weights


class FeedForward(nn.Sequential):
    """Linear(d, d_ff) → GELU → Linear(d_ff, d), applied to every position alone (chapter 09)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model),
                         nn.Dropout(dropout))


class TransformerBlock(nn.Module):
    """Self-attention + feed-forward, each with a residual and a LayerNorm (chapter 09).

    ``norm_first=True`` (pre-norm): x + Attn(LN(x)), then x + FF(LN(x)); the residual path is
    an identity from input to output, so gradients reach early layers unchanged.
    ``norm_first=False`` (post-norm, the 2017 paper): LN(x + Attn(x)), then LN(x + FF(x)).
    forward(x (N, T, d), causal, key_padding_mask, cache) → (N, T, d)."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, norm_first: bool = True) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff or 4 * d_model, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward_with_weights(self, x: torch.Tensor, *, causal: bool = False,
                             key_padding_mask: torch.Tensor | None = None,
                             cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(output (N, T, d), attention weights (N, heads, T, S))."""
        masks = {"causal": causal, "key_padding_mask": key_padding_mask, "cache": cache}
        if self.norm_first:
            a, weights = self.attn(self.norm1(x), **masks)
            x = x + self.drop(a)
            return x + self.ff(self.norm2(x)), weights
        a, weights = self.attn(x, **masks)
        x = self.norm1(x + self.drop(a))
        return self.norm2(x + self.ff(x)), weights

    def forward(self, x: torch.Tensor, *, causal: bool = False,
                key_padding_mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        return self.forward_with_weights(x, causal=causal, key_padding_mask=key_padding_mask,
                                         cache=cache)[0]


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder's memory, feed-forward; each with
    a residual and a LayerNorm, pre- or post-norm as in :class:`TransformerBlock` (chapter 09).
    forward(x (N, T, d), memory (N, S, d), memory_padding_mask (N, S), tgt_padding_mask (N, T))
    → (N, T, d)."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, norm_first: bool = True) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff or 4 * d_model, dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward_with_weights(self, x: torch.Tensor, memory: torch.Tensor, *,
                             memory_padding_mask: torch.Tensor | None = None,
                             tgt_padding_mask: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, self-attention weights (N, h, T, T), cross-attention weights (N, h, T, S))."""
        def self_attention(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.self_attn(h, causal=True, key_padding_mask=tgt_padding_mask)

        def cross_attention(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.cross_attn(h, memory, key_padding_mask=memory_padding_mask)

        found = []
        for sublayer, norm in zip((self_attention, cross_attention), self.norms[:2], strict=True):
            if self.norm_first:
                a, w = sublayer(norm(x))
                x = x + self.drop(a)
            else:
                a, w = sublayer(x)
                x = norm(x + self.drop(a))
            found.append(w)
        x = x + self.ff(self.norms[2](x)) if self.norm_first else self.norms[2](x + self.ff(x))
        return x, found[0], found[1]

    def forward(self, x: torch.Tensor, memory: torch.Tensor, *,
                memory_padding_mask: torch.Tensor | None = None,
                tgt_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_weights(x, memory, memory_padding_mask=memory_padding_mask,
                                         tgt_padding_mask=tgt_padding_mask)[0]


def check_ids(who: str, ids: torch.Tensor, vocab: int) -> None:
    """A clear error for token ids of the wrong shape, dtype or range (chapter 09)."""
    if ids.ndim != 2 or ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{who} expected token ids of shape (N, T) and an integer dtype, "
                         f"got {tuple(ids.shape)} {ids.dtype}")
    if ids.numel() and ids.device.type != "meta" and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(f"{who} expected ids in [0, {vocab}), got [{int(ids.min())}, {int(ids.max())}]")

