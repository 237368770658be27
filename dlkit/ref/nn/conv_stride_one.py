"""Stride-1 convolution by im2col on the tap grid, a cache-sized run of pixels at a time
(chapter 07).

The same math as ``conv2d``'s im2col, per group g of G:

    y_g = W_g cols_g         W_g (O/G, C/G·kh·kw), cols_g (C/G·kh·kw, pixels)

but the columns are built differently. ``im2col`` copies windows of Ho·Wo pixels per image and
channel, so its copies run over short rows (Wo numbers). On the tap grid (``TapGrid``) each
tap's row of the columns is one contiguous slice of the padded input, for every image at once:
a row of the columns is a single long copy. And rather than all the columns at once (9× the
input for a 3×3 kernel, far bigger than the cache), a run of about 1 MB of them is built, used
by one matmul per group while it is still in cache, and overwritten by the next run.

The backward pass reads the output gradient g the same way. Input position q meets tap t in
output pixel q − off_t, so both gradients are sums over the columns of g,
cols_g[(o, t), q] = g[o, q − off_t] (a *full* correlation with the flipped kernel):

    ∂L/∂xp[c, q] = Σ_o,t W[o, c, t] cols_g[(o, t), q]      ∂L/∂W[o, c, t] = Σ_q cols_g[(o, t), q] xp[c, q]

two matmuls per run of q, and no col2im (whose adds into strided slices run several times
slower in numpy than copies). With a stride, g would be mostly zeros on this grid (one pixel in
s²), so ``conv2d`` keeps plain im2col and col2im for strided convolutions.
"""
from __future__ import annotations

import numpy as np

from dlkit.ref.nn.tap_grid import TapGrid
from dlkit.ref.tensor import Tensor

Array = np.ndarray

# about the columns that fit in a core's L2 cache (measured: 1 MB runs 2x faster than 4 MB)
_CHUNK_BYTES = 1 << 20


def _runs(stop: int, bytes_per_pixel: int) -> list[tuple[int, int]]:
    """Pixels 0 … stop − 1 in runs whose columns take about ``_CHUNK_BYTES``."""
    step = max(1, _CHUNK_BYTES // bytes_per_pixel)
    return [(start, min(start + step, stop)) for start in range(0, stop, step)]


def conv2d_stride_one(x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int],
                      dilation: tuple[int, int], groups: int, output_size: tuple[int, int]
                      ) -> Tensor:
    """conv2d with stride 1 (chapter 07), for arguments ``conv2d`` has checked: x (N, C, H, W),
    weight (O, C/G, kh, kw), bias (O,) or None, output (N, O, Ho, Wo)."""
    n, in_channels, h, w = x.shape
    out_channels, group_in, kh, kw = weight.shape
    g, og, taps = groups, out_channels // groups, kh * kw
    rows = group_in * taps                                   # of each group's columns
    dtype = np.result_type(x.dtype, weight.dtype, *(() if bias is None else (bias.dtype,)))
    grid = TapGrid(n, (h, w), (kh, kw), (1, 1), padding, dilation, output_size)
    vectors = grid.vectors(x.data, dtype).reshape(g, group_in, grid.width)  # kept for backward
    w3 = weight.data.reshape(g, og, rows).astype(dtype, copy=False)
    runs = _runs(grid.length, g * rows * dtype.itemsize)
    buffer = np.empty(g * rows * (runs[0][1] - runs[0][0]), dtype=dtype)
    y_grid = np.empty((g, og, grid.cells), dtype=dtype)   # pixels() reads only what is written
    for start, stop in runs:
        cols = buffer[: g * rows * (stop - start)].reshape(g, group_in, taps, stop - start)
        for t in range(taps):                           # row (c, t) of the columns: one copy
            cols[:, :, t] = grid.tap(vectors, t, start, stop)
        np.matmul(w3, cols.reshape(g, rows, -1), out=y_grid[:, :, start:stop])
    y = np.empty((n, out_channels, *output_size), dtype=dtype)
    y[...] = grid.pixels(y_grid.reshape(out_channels, grid.cells)).transpose(1, 0, 2, 3)
    if bias is not None:
        y += bias.data.reshape(out_channels, 1, 1)
    parents = (x, weight) if bias is None else (x, weight, bias)
    out = Tensor._result(y, parents, "conv2d")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        if bias is not None and bias.requires_grad:
            bias._accumulate(out.grad.sum(axis=(0, 2, 3)))
        need_w, need_x = weight.requires_grad, x.requires_grad
        if not (need_w or need_x):
            return
        # g on the grid (zeros off the real pixels) after a margin of zeros as long as the
        # farthest tap reaches: cols_g's tap t of position q is then margin[reach − off_t + q]
        reach = grid.offsets[-1]
        margin = np.zeros((out_channels, reach + grid.cells), dtype=dtype)
        grid.pixels(margin[:, reach:])[...] = out.grad.transpose(1, 0, 2, 3)
        margin = margin.reshape(g, og, -1)
        by_channel = weight.data.reshape(g, og, group_in, taps).transpose(0, 2, 1, 3)
        w_c = np.ascontiguousarray(by_channel, dtype=dtype).reshape(g, group_in, og * taps)
        grad_w = np.zeros((g, og * taps, group_in), dtype=dtype) if need_w else None
        grad_vectors = np.zeros(vectors.shape, dtype=dtype) if need_x else None
        runs = _runs(grid.cells, out_channels * taps * dtype.itemsize)   # every q of the images
        buffer = np.empty(out_channels * taps * (runs[0][1] - runs[0][0]), dtype=dtype)
        for start, stop in runs:
            cols_g = buffer[: out_channels * taps * (stop - start)].reshape(g, og, taps, -1)
            for t, offset in enumerate(grid.offsets):
                first = reach - offset + start
                cols_g[:, :, t] = margin[:, :, first: first + stop - start]
            cols_g = cols_g.reshape(g, og * taps, -1)
            if grad_vectors is not None:
                np.matmul(w_c, cols_g, out=grad_vectors[:, :, start:stop])
            if grad_w is not None:
                grad_w += cols_g @ vectors[:, :, start:stop].swapaxes(-1, -2)
        if grad_w is not None:   # (G, O/G·kh·kw, C/G) back to (O, C/G, kh, kw)
            grad_w = grad_w.reshape(g, og, taps, group_in).transpose(0, 1, 3, 2)
            weight._accumulate(grad_w.reshape(weight.shape))
        if grad_vectors is not None:
            images = grid.images(grad_vectors.reshape(in_channels, grid.width))
            x._accumulate(np.ascontiguousarray(images.transpose(1, 0, 2, 3)))
    out._backward = _backward
    return out
