"""Depthwise convolution without im2col: a few long multiply-adds per kernel tap (chapter 07).

In a depthwise convolution (``groups`` = input channels) output channel o = c·M + m sees input
channel c alone, through its own kh×kw filter (M filters per channel: the channel multiplier).
An output pixel is then only kh·kw products, far too few for im2col's matrix product to pay
for copying every window. So turn the loop inside out: one pass per tap over the whole layer,
on the tap grid (``dlkit.ref.nn.tap_grid``, whose docstring derives these slices):

    y_c,m = Σ_ij w[c·M + m, i, j] · xp_c[off_ij :: s_w]        off_ij = i·d_h·Wp + j·d_w

kh·kw multiply-adds of long vectors (xp_c: channel c's padded images end to end; k: the
grid's output pixels). The backward pass uses the same slices, with the output gradient g_c,m
laid on the same grid of k (zeros on the k that are no real pixel, so they add nothing):

    ∂L/∂w[c·M + m, i, j] = ⟨g_c,m, xp_c[off_ij :: s_w]⟩          a dot product
    ∂L/∂xp_c[off_ij :: s_w] += w[c·M + m, i, j] · g_c,m           the read, written back

The channels go a few at a time (``_channel_chunks``) so that the vectors stay in cache. On few
pixels (short vectors) numpy's passes slow down and ``conv2d`` keeps im2col (``taps_pay_off``).
"""
from __future__ import annotations

import numpy as np

from dlkit.ref.nn.tap_grid import TapGrid
from dlkit.ref.tensor import Tensor

Array = np.ndarray

_CHUNK_BYTES = 1 << 18
# numpy runs a broadcast multiply over rows shorter than about 3000 numbers several times slower
# per number (measured on numpy 2.4: 3.2x at 2700 floats than at 3000): there im2col wins
MIN_VECTOR = 3000


def taps_pay_off(n: int, h: int, w: int, padding: tuple[int, int]) -> bool:
    """Whether a depthwise conv of n images of h×w goes faster by taps than by im2col: when
    each channel's vector (its padded images end to end) is long enough."""
    return n * (h + padding[0]) * (w + padding[1]) >= MIN_VECTOR


def _channel_chunks(channels: int, bytes_per_channel: int) -> list[slice]:
    """Channels in groups whose padded images take about 256 kB: each tap's pass over the
    group's vectors then runs in cache instead of main memory."""
    step = max(1, _CHUNK_BYTES // max(bytes_per_channel, 1))
    return [slice(start, min(start + step, channels)) for start in range(0, channels, step)]


def depthwise_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                     padding: tuple[int, int], dilation: tuple[int, int],
                     output_size: tuple[int, int]) -> Tensor:
    """conv2d with groups = in_channels (chapter 07), for arguments ``conv2d`` has checked:
    x (N, C, H, W), weight (C·M, 1, kh, kw), bias (C·M,) or None, output (N, C·M, Ho, Wo)."""
    n, c, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    mult, (ho, wo) = out_channels // c, output_size
    dtype = np.result_type(x.dtype, weight.dtype, *(() if bias is None else (bias.dtype,)))
    layout = TapGrid(n, (h, w), (kh, kw), stride, padding, dilation, output_size)
    length, tap, pixels = layout.length, layout.tap, layout.pixels
    taps = weight.data.reshape(c, mult, kh * kw).astype(dtype, copy=False)
    vectors = np.zeros((c, layout.width), dtype=dtype)    # kept for the backward pass
    padded = layout.images(vectors)                        # the same memory, by image
    y = np.empty((n, c, mult, ho, wo), dtype=dtype)
    chunks = _channel_chunks(c, vectors[0].nbytes)
    width = chunks[0].stop                                # channels in the largest chunk
    grid, products = np.empty((2, width, layout.cells), dtype=dtype)  # reused by each chunk
    for cs in chunks:
        size = cs.stop - cs.start
        padded[cs] = x.data[:, cs].transpose(1, 0, 2, 3)
        acc, product = grid[:size, :length], products[:size, :length]
        for m in range(mult):
            np.multiply(tap(vectors[cs], 0), taps[cs, m, 0, None], out=acc)
            for t in range(1, kh * kw):
                np.multiply(tap(vectors[cs], t), taps[cs, m, t, None], out=product)
                acc += product
            if bias is not None:
                acc += bias.data.reshape(c, mult)[cs, m, None]
            y[:, cs, m] = pixels(grid[:size]).transpose(1, 0, 2, 3)
    parents = (x, weight) if bias is None else (x, weight, bias)
    out = Tensor._result(y.reshape(n, out_channels, ho, wo), parents, "conv2d")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        grad = out.grad.reshape(n, c, mult, ho, wo)
        need_b = bias is not None and bias.requires_grad
        grad_b = np.empty((c, mult), dtype=dtype) if need_b else None
        grad_w = np.empty((c, mult, kh * kw), dtype=dtype) if weight.requires_grad else None
        grad_x = np.empty((n, c, h, w), dtype=dtype) if x.requires_grad else None
        grid = np.zeros((width, layout.cells), dtype=dtype)     # stays 0 off the pixels
        products = np.empty((width, length), dtype=dtype)
        for cs in chunks:
            size = cs.stop - cs.start
            g, product = grid[:size, :length], products[:size]
            grad_xp = None if grad_x is None else np.zeros((size, vectors.shape[1]), dtype=dtype)
            for m in range(mult):
                pixels(grid[:size])[...] = grad[:, cs, m].transpose(1, 0, 2, 3)
                if grad_b is not None:
                    grad_b[cs, m] = g.sum(axis=1)
                for t in range(kh * kw):
                    if grad_w is not None:   # one dot product per channel: (1, K) @ (K, 1)
                        grad_w[cs, m, t] = (g[:, None, :] @ tap(vectors[cs], t)[:, :, None])[:, 0, 0]
                    if grad_xp is not None:
                        np.multiply(g, taps[cs, m, t, None], out=product)
                        tap(grad_xp, t)[...] += product
            if grad_x is not None and grad_xp is not None:
                grad_x[:, cs] = layout.images(grad_xp).transpose(1, 0, 2, 3)
        if grad_b is not None:
            bias._accumulate(grad_b.reshape(out_channels))
        if grad_w is not None:
            weight._accumulate(grad_w.reshape(weight.shape))
        if grad_x is not None:
            x._accumulate(grad_x)
    out._backward = _backward
    return out
