"""Stride-1 convolution by im2col on the tap grid, a cache-sized run of pixels at a time
(chapter 07).

The same math as ``conv2d``'s im2col, per group g of G:

    y_g = W_g cols_g         W_g (O/G, C/G·kh·kw), cols_g (C/G·kh·kw, pixels)

but the columns are built differently. ``im2col`` copies windows of Ho·Wo pixels per image and
channel, so its copies run over short rows (Wo numbers). On the tap grid (``TapGrid``) each
tap's row of the columns is one contiguous slice of the padded input, for every image at once,
and all the rows are one strided view (``TapGrid.taps``): the columns are one copy of long
rows. And rather than all the columns at once (9× the
input for a 3×3 kernel, far bigger than the cache), a run of about 1 MB of them is built, used
by one matmul per group while it is still in cache, and overwritten by the next run.

The backward pass reads the output gradient g the same way. Input position q meets tap t in
output pixel q − off_t, so both gradients are sums over the columns of g,
cols_g[(o, t), q] = g[o, q − off_t] (a *full* correlation with the flipped kernel):

    ∂L/∂xp[c, q] = Σ_o,t W[o, c, t] cols_g[(o, t), q]      ∂L/∂W[o, c, t] = Σ_q cols_g[(o, t), q] xp[c, q]

two matmuls per run of q, and no col2im (whose adds into strided slices run several times
slower in numpy than copies). With a stride, g would be mostly zeros on this grid (one pixel in
s²), so ``conv2d`` keeps plain im2col and col2im for strided convolutions.

The runs are independent, so they go to as many threads as BLAS may use (``_on_blas_threads``):
a matmul of one run is too small for BLAS to spread over cores by itself, and the copies that
build the columns would stay on one core. numpy lets go of the GIL in both.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from dlkit.ref.nn.tap_grid import TapGrid
from dlkit.ref.tensor import Tensor

Array = np.ndarray
Run = tuple[int, int]
Result = TypeVar("Result")

# about the columns that fit in a core's L2 cache (measured: 1 MB runs 2x faster than 4 MB)
_CHUNK_BYTES = 1 << 20
_BLAS = ThreadpoolController().select(user_api="blas")
# numpy's own BLAS (a wheel ships it in numpy.libs) decides how many threads numpy's matmul
# uses; another copy (scipy's, loaded later) can have another limit, so it is not asked
_NUMPY_BLAS = [lib for lib in _BLAS.lib_controllers
               if "numpy" in os.path.basename(os.path.dirname(lib.filepath))] or _BLAS.lib_controllers
_POOL: dict[int, ThreadPoolExecutor] = {}       # one pool per thread count, made on first use
# a forked child (multiprocessing's default on Linux) inherits the pools but not their threads:
# work sent to them would wait forever, so the child starts with none
os.register_at_fork(after_in_child=_POOL.clear)


def _runs(stop: int, bytes_per_pixel: int) -> list[Run]:
    """Pixels 0 … stop − 1 in runs whose columns take about ``_CHUNK_BYTES``."""
    step = max(1, _CHUNK_BYTES // bytes_per_pixel)
    return [(start, min(start + step, stop)) for start in range(0, stop, step)]


def _on_blas_threads(work: Callable[[list[Run]], Result], runs: list[Run]) -> list[Result]:
    """work(share) for each thread's share of the runs, on as many threads as BLAS may use
    (``threadpoolctl.threadpool_limits`` sets it), each calling a one-thread BLAS: the cores
    stay as busy as one BLAS call would keep them, never more. Shares are fixed (every k-th
    run), so the results come back in the same order, and sum the same way, on every call."""
    threads = min(len(runs), max((lib.num_threads for lib in _NUMPY_BLAS), default=1))
    if threads <= 1:
        return [work(runs)]
    pool = _POOL.setdefault(threads, ThreadPoolExecutor(threads, "dlkit-conv"))
    with _BLAS.limit(limits=1):
        return list(pool.map(work, [runs[i::threads] for i in range(threads)]))


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
    y_grid = np.empty((g, og, grid.cells), dtype=dtype)   # pixels() reads only what is written

    reads = grid.taps(vectors)                          # (G, C/G, kh, kw, length), a view

    def forward(share: list[Run]) -> None:
        buffer = np.empty(g * rows * (runs[0][1] - runs[0][0]), dtype=dtype)  # reused per run
        for start, stop in share:
            cols = buffer[: g * rows * (stop - start)].reshape(g, group_in, kh, kw, -1)
            cols[...] = reads[..., start:stop]          # the run's columns: one copy
            np.matmul(w3, cols.reshape(g, rows, -1), out=y_grid[:, :, start:stop])
    _on_blas_threads(forward, runs)
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
        # farthest tap reaches: cols_g's tap t of position q is then margin[reach − off_t + q],
        # and reach − off_t is the offset of the flipped tap (kh − 1 − i, kw − 1 − j)
        reach = grid.offsets[-1]
        margin = np.zeros((out_channels, reach + grid.cells), dtype=dtype)
        grid.pixels(margin[:, reach:])[...] = out.grad.transpose(1, 0, 2, 3)
        flipped = grid.taps(margin.reshape(g, og, -1), grid.cells)[:, :, ::-1, ::-1]
        by_channel = weight.data.reshape(g, og, group_in, taps).transpose(0, 2, 1, 3)
        w_c = np.ascontiguousarray(by_channel, dtype=dtype).reshape(g, group_in, og * taps)
        grad_vectors = np.zeros(vectors.shape, dtype=dtype) if need_x else None
        runs = _runs(grid.cells, out_channels * taps * dtype.itemsize)   # every q of the images

        def backward(share: list[Run]) -> Array | None:   # this share's part of ∂L/∂W
            buffer = np.empty(out_channels * taps * (runs[0][1] - runs[0][0]), dtype=dtype)
            grad_w = np.zeros((g, og * taps, group_in), dtype=dtype) if need_w else None
            for start, stop in share:
                cols_g = buffer[: out_channels * taps * (stop - start)].reshape(g, og, kh, kw, -1)
                cols_g[...] = flipped[..., start:stop]
                cols_g = cols_g.reshape(g, og * taps, -1)
                if grad_vectors is not None:
                    np.matmul(w_c, cols_g, out=grad_vectors[:, :, start:stop])
                if grad_w is not None:
                    grad_w += cols_g @ vectors[:, :, start:stop].swapaxes(-1, -2)
            return grad_w
        parts = _on_blas_threads(backward, runs)
        if need_w:   # (G, O/G·kh·kw, C/G) back to (O, C/G, kh, kw)
            grad_w = sum(parts[1:], start=parts[0]).reshape(g, og, taps, group_in)
            weight._accumulate(grad_w.transpose(0, 1, 3, 2).reshape(weight.shape))
        if grad_vectors is not None:
            images = grid.images(grad_vectors.reshape(in_channels, grid.width))
            x._accumulate(np.ascontiguousarray(images.transpose(1, 0, 2, 3)))
    out._backward = _backward
    return out
