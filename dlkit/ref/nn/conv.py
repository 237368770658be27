"""2-D convolution by im2col: every receptive field becomes a column, and the whole layer
becomes one matrix product (chapter 07).

For an input x of shape (N, C, H, W) and a weight W of shape (O, C, kh, kw):

    cols = im2col(x)                      (N, C·kh·kw, Ho·Wo)   one column per output pixel
    y    = W.reshape(O, C·kh·kw) @ cols   (N, O, Ho·Wo)         → reshape to (N, O, Ho, Wo)

with Ho = ⌊(H + 2p − d(kh − 1) − 1) / s⌋ + 1 (the same for Wo). The backward pass is the
same product read the other way round: ∂L/∂W = Σ_n g_n colsₙᵀ, ∂L/∂cols = Wᵀ g, and col2im
adds each column's gradient back onto the pixels it was copied from (pixels shared by several
windows collect several contributions). Stride-1 layers, the most common, take the same math
with the columns laid out for speed: see ``dlkit.ref.nn.conv_stride_one``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike

from dlkit.ref.module import Module
from dlkit.ref.nn._utils import (
    RngLike,
    as_rng,
    pair,
    positive_int,
    torch_default_bias,
    torch_default_weight,
)
from dlkit.ref.nn.conv_stride_one import conv2d_stride_one
from dlkit.ref.nn.depthwise import depthwise_conv2d, taps_pay_off
from dlkit.ref.tensor import Tensor, as_tensor

Array = np.ndarray
IntOrPair = int | tuple[int, int]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 (chapter 07)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_fits(who: str, hw: tuple[int, int], kernel: tuple[int, int], padding: tuple[int, int],
                dilation: tuple[int, int]) -> None:
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    padded = tuple(s + 2 * p for s, p in zip(hw, padding, strict=True))
    if extent[0] > padded[0] or extent[1] > padded[1]:
        raise ValueError(f"{who} expected the kernel {kernel} (extent {extent} with dilation "
                         f"{dilation}) to fit in the padded input {padded}, got an input of "
                         f"{hw[0]}x{hw[1]} with padding {padding}")


def im2col(x: Array, kernel_size: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
           dilation: IntOrPair = 1, pad_value: float = 0.0) -> Array:
    """Columns of x: shape (N, C·kh·kw, Ho·Wo), rows ordered (c, i, j) like W.reshape(O, -1)
    (chapter 07). ``pad_value`` fills the border (max pooling pads with −inf)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"im2col expected x of shape (N, C, H, W), got {x.shape}")
    (kh, kw), (sh, sw) = pair(kernel_size, "kernel_size", 1), pair(stride, "stride", 1)
    (ph, pw), (dh, dw) = pair(padding, "padding", 0), pair(dilation, "dilation", 1)
    _check_fits("im2col", x.shape[2:], (kh, kw), (ph, pw), (dh, dw))
    n, c, h, w = x.shape
    if ph or pw:
        padded = np.full((n, c, h + 2 * ph, w + 2 * pw), pad_value, dtype=x.dtype)
        padded[:, :, ph: ph + h, pw: pw + w] = x
        x = padded
    # a read-only view (N, C, H', W', extent_h, extent_w) of every window; striding picks the
    # windows (stride) and the taps inside each window (dilation) without copying anything
    windows = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]
    ho, wo = windows.shape[2:4]
    # (N, C, kh, kw, Ho, Wo): this reshape is the one copy im2col makes
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)


def col2im(cols: Array, x_shape: tuple[int, int, int, int], kernel_size: IntOrPair,
           stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1) -> Array:
    """The adjoint of ``im2col`` (chapter 07): add every column entry back onto the pixel of
    x (shape ``x_shape``) it came from; overlapping windows add up."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw) = pair(kernel_size, "kernel_size", 1), pair(stride, "stride", 1)
    (ph, pw), (dh, dw) = pair(padding, "padding", 0), pair(dilation, "dilation", 1)
    ho = conv_output_size(h, kh, sh, ph, dh)
    wo = conv_output_size(w, kw, sw, pw, dw)
    if cols.shape != (n, c * kh * kw, ho * wo):
        raise ValueError(f"col2im expected cols of shape {(n, c * kh * kw, ho * wo)} for input "
                         f"{tuple(x_shape)}, got {cols.shape}")
    cols = cols.reshape(n, c, kh, kw, ho, wo)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    # one strided add per kernel tap: tap (i, j) of every window lands on a regular grid
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh,
                   j * dw: j * dw + sw * (wo - 1) + 1: sw] += cols[:, :, i, j]
    return padded[:, :, ph: ph + h, pw: pw + w]


_CHUNK_BYTES = 1 << 22


def _image_chunks(n: int, cols_bytes_per_image: int) -> list[slice]:
    """Batches of images whose columns take about 4 MB: the same math as one im2col of the whole
    batch, but the columns stay in cache and the buffers are reused instead of fresh memory."""
    step = max(1, _CHUNK_BYTES // max(cols_bytes_per_image, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def check_groups(groups: Any, in_channels: int, out_channels: int, who: str) -> int:
    """``groups`` as an int that divides both channel counts, or a ValueError."""
    groups = positive_int(groups, f"{who}'s groups")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{who} expected groups to divide both in_channels and out_channels, "
                         f"got groups={groups} with {in_channels} in and {out_channels} out")
    return int(groups)


def conv2d(x: Any, weight: Any, bias: Any = None, stride: IntOrPair = 1, padding: IntOrPair = 0,
           dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation (what deep learning calls convolution), as one Tensor op with its
    own backward (chapter 07). x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None.

    ``groups`` splits the channels into G independent convolutions: output channels
    g·O/G … (g+1)·O/G − 1 see only input channels g·C/G … (g+1)·C/G − 1, so a grouped layer has
    G times fewer weights. ``groups = C`` is a depthwise convolution (one filter per channel);
    followed by a 1×1 convolution it is the depthwise-separable convolution of MobileNet.
    In im2col terms the rows of the columns come in channel order, so group g's rows are one
    contiguous block and the layer is one batched matmul over (image, group): no loop over groups.
    A depthwise layer on enough pixels skips im2col (``dlkit.ref.nn.depthwise``), and a stride-1
    layer builds its columns from long slices of the input (``dlkit.ref.nn.conv_stride_one``).

    The backward pass has the same shape as the forward one (see ``_backward``). The batch goes
    through im2col a few images at a time (``_image_chunks``): the same matmul per image as one
    im2col of the whole batch, with columns small enough to stay in cache."""
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    if weight.ndim != 4:
        raise ValueError(f"conv2d expected weight of shape (C_out, C_in/groups, kh, kw), "
                         f"got {weight.shape}")
    out_channels, group_in, kh, kw = weight.shape
    in_channels = group_in * positive_int(groups, "conv2d's groups")
    if x.ndim != 4 or x.shape[1] != in_channels:
        hint = " (for one image use x[None])" if x.ndim == 3 else ""
        per_group = f" (weight {weight.shape} with groups={groups})" if groups != 1 else ""
        raise ValueError(f"conv2d expected input of shape (N, {in_channels}, H, W){per_group}, "
                         f"got {x.shape}{hint}")
    groups = check_groups(groups, in_channels, out_channels, "conv2d")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"conv2d expected bias of shape ({out_channels},), got {bias.shape}")
    stride, padding = pair(stride, "stride", 1), pair(padding, "padding", 0)
    dilation = pair(dilation, "dilation", 1)
    _check_fits("conv2d", x.shape[2:], (kh, kw), padding, dilation)
    n, _, h, w = x.shape
    ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    if group_in == 1 and taps_pay_off(n, h, w, padding):
        # depthwise: kh·kw long multiply-adds instead of im2col's copies and a matmul with K = kh·kw
        return depthwise_conv2d(x, weight, bias, stride, padding, dilation, (ho, wo))
    if stride == (1, 1):
        return conv2d_stride_one(x, weight, bias, padding, dilation, groups, (ho, wo))
    g, og, rows = groups, out_channels // groups, group_in * kh * kw

    dtype = np.result_type(x.dtype, weight.data.dtype, *(() if bias is None else (bias.dtype,)))
    w3 = weight.data.reshape(g, og, rows)                          # one (O/G, C/G·kh·kw) per group
    chunks = _image_chunks(n, g * rows * ho * wo * dtype.itemsize)
    y = np.empty((n, out_channels, ho * wo), dtype=dtype)         # NCHW with H, W flattened
    y4 = y.reshape(n, g, og, ho * wo)                              # the same memory, by group

    def columns(images: slice) -> Array:                          # (m, G, C/G·kh·kw, Ho·Wo)
        cols = im2col(x.data[images], (kh, kw), stride, padding, dilation)
        return cols.reshape(len(cols), g, rows, ho * wo)

    for images in chunks:
        np.matmul(w3, columns(images), out=y4[images])
    if bias is not None:
        y += bias.data[:, None]
    parents = (x, weight) if bias is None else (x, weight, bias)
    out = Tensor._result(y.reshape(n, out_channels, ho, wo), parents, "conv2d")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        """∂L/∂W = Σ_n g_n cols_nᵀ and ∂L/∂x = col2im(Wᵀ g)."""
        grad = out.grad.reshape(n, g, og, ho * wo)
        if bias is not None and bias.requires_grad:
            bias._accumulate(grad.sum(axis=(0, 3)).reshape(out_channels))
        need_w, need_x = weight.requires_grad, x.requires_grad
        if not (need_w or need_x):
            return
        grad_w = np.zeros(w3.shape, dtype=dtype) if need_w else None
        grad_x = np.empty(x.shape, dtype=dtype) if need_x else None
        for images in chunks:
            g_images = grad[images]
            if grad_w is not None:   # columns made again, not kept: memory for time
                # (cols gᵀ)ᵀ = g colsᵀ: the same product, in the order BLAS runs fastest
                cols = columns(images)
                grad_w += (cols @ g_images.swapaxes(-1, -2)).sum(axis=0).swapaxes(-1, -2)
            if grad_x is not None:
                w_t = w3.swapaxes(-1, -2)
                # one output channel per group (depthwise): Wᵀ g is an outer product, and a
                # broadcast multiply does it several times faster than a matmul with K = 1
                cols_grad = w_t * g_images if og == 1 else w_t @ g_images
                cols_grad = cols_grad.reshape(len(g_images), -1, ho * wo)
                shape = (len(g_images), *x.shape[1:])
                grad_x[images] = col2im(cols_grad, shape, (kh, kw), stride, padding, dilation)
        if grad_w is not None:
            weight._accumulate(grad_w.reshape(weight.shape))
        if grad_x is not None:
            x._accumulate(grad_x)
    out._backward = _backward
    return out


class Conv2d(Module):
    """A 2-D convolution layer with torch's weight layout (out, in, kh, kw) and default init
    U(±1/√(in/groups·kh·kw)) (chapter 07). ``kernel_size``, ``stride``, ``padding`` and
    ``dilation`` take an int or an (h, w) pair; ``groups`` as in :func:`conv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: bool = True, rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.groups = check_groups(groups, self.in_channels, self.out_channels, "Conv2d")
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.dilation = pair(dilation, "dilation", 1)
        rng = as_rng(rng)
        group_in = self.in_channels // self.groups
        shape = (self.out_channels, group_in, *self.kernel_size)
        self.weight = torch_default_weight(shape, rng, dtype)
        fan_in = group_in * self.kernel_size[0] * self.kernel_size[1]
        self.bias = torch_default_bias(self.out_channels, fan_in, rng, dtype) if bias else None

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {x.shape}")
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None})")
