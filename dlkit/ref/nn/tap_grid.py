"""The tap grid: a layout in which every kernel tap of a convolution reads one long slice
(chapter 07). ``conv2d`` builds its im2col columns from it and ``depthwise_conv2d`` multiplies
its slices directly.

Lay each channel's zero-padded images end to end, row after row, in one long vector xp_c.
Neighbours share their zero border: the p_h rows of zeros under an image are the ones above
the next image, and the p_w zeros right of a row are the ones left of the next row, so an image
takes Hp ≥ H + p_h rows of Wp ≥ W + p_w numbers (rounded up to multiples of the strides s_h and
s_w), and p_h more rows of zeros close the vector. Number the output pixels
k = (image·Hp/s_h + row)·R + column, with R = s_h·Wp/s_w. Then tap (i, j) of output pixel k
reads xp_c[s_w·k + i·d_h·Wp + j·d_w], so for a fixed tap the reads of all the pixels of all
the images form one strided slice of xp_c (contiguous when s_w = 1):

    tap_ij = xp_c[off_ij :: s_w]        off_ij = i·d_h·Wp + j·d_w

Some k are no real pixel (a column past the output width, a row past the output height): they
read pixels of the next row or image, and ``pixels`` drops them. A gradient laid on the grid
with zeros on those k adds nothing through them, so the backward pass can write each tap's
gradient back onto the same slice.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import DTypeLike

Array = np.ndarray


def _round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


class TapGrid:
    """The grid of a convolution of n images of ``size`` (see the module docstring), for
    arguments the caller has checked. ``output_size`` is (Ho, Wo)."""

    def __init__(self, n: int, size: tuple[int, int], kernel: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
                 output_size: tuple[int, int]) -> None:
        (h, w), (kh, kw), (ho, wo) = size, kernel, output_size
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        self.n, self.size, self.output_size = n, size, output_size
        self.kernel, self.dilation = kernel, dilation
        self.padding, self.step = padding, sw
        # shared borders; a block also holds every output row and column, which can be more
        # than H + p_h when the padding reaches further than the kernel
        self.hp, self.wp = max(_round_up(h + ph, sh), ho * sh), max(_round_up(w + pw, sw), wo * sw)
        self.rows, self.row = self.hp // sh, sh * self.wp // sw   # the grid of k of one image
        self.cells = n * self.rows * self.row                     # k of every image
        self.length = (n - 1) * self.rows * self.row + (ho - 1) * self.row + wo  # up to the last pixel
        self.offsets = [i * dh * self.wp + j * dw for i in range(kh) for j in range(kw)]
        self.width = (n * self.hp + ph + 1) * self.wp             # one channel's vector

    def images(self, vectors: Array) -> Array:
        """The view (C, N, H, W) of the images inside vectors (C, width), without padding."""
        (h, w), (ph, pw) = self.size, self.padding
        blocks = vectors[:, :self.n * self.hp * self.wp].reshape(-1, self.n, self.hp, self.wp)
        return blocks[:, :, ph: ph + h, pw: pw + w]

    def vectors(self, x: Array, dtype: DTypeLike) -> Array:
        """x (N, C, H, W) laid out as (C, width): zero-padded images end to end."""
        vectors = np.zeros((x.shape[1], self.width), dtype=dtype)
        self.images(vectors)[...] = x.transpose(1, 0, 2, 3)
        return vectors

    def tap(self, vectors: Array, t: int, start: int = 0, stop: int | None = None) -> Array:
        """What tap t reads for the pixels k = start … stop − 1 (default: up to ``length``),
        as a view of vectors (..., width)."""
        stop = self.length if stop is None else stop
        first = self.offsets[t] + self.step * start
        return vectors[..., first: first + self.step * (stop - start - 1) + 1: self.step]

    def taps(self, vectors: Array, pixels: int | None = None) -> Array:
        """Every tap's slice at once: the read-only view (..., kh, kw, pixels) of vectors
        (..., width) whose [..., i, j, k] is what tap (i, j) reads for pixel k (k up to
        ``length`` unless told). Stepping i moves d_h·Wp numbers, j moves d_w, k moves s_w:
        three strides over the same memory, which must reach offsets[-1] + s_w·(pixels − 1)."""
        pixels = self.length if pixels is None else pixels
        if vectors.shape[-1] <= self.offsets[-1] + self.step * (pixels - 1):
            raise ValueError(f"TapGrid.taps expected vectors longer than "
                             f"{self.offsets[-1] + self.step * (pixels - 1)}, got {vectors.shape}")
        step = vectors.strides[-1]
        kh, kw = self.kernel
        (dh, dw) = self.dilation
        return as_strided(vectors, (*vectors.shape[:-1], kh, kw, pixels),
                          (*vectors.strides[:-1], dh * self.wp * step, dw * step, self.step * step),
                          writeable=False)

    def pixels(self, grid: Array) -> Array:
        """The real output pixels (C, N, Ho, Wo) of grid (C, cells), as a view."""
        ho, wo = self.output_size
        return grid.reshape(len(grid), self.n, self.rows, self.row)[:, :, :ho, :wo]

    def chunks(self, step: int) -> list[tuple[int, int]]:
        """The pixels 0 … length − 1 in runs of ``step``, as (start, stop) pairs."""
        return [(start, min(start + step, self.length)) for start in range(0, self.length, step)]
