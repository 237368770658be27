"""Max and average pooling on (N, C, H, W), reusing im2col on each channel alone (chapter 07).

Each channel is treated as a one-channel image, so ``im2col`` turns every pooling window into a
column of kh·kw values and pooling becomes a reduction over that axis. Max pooling sends the
gradient to ONE winner per window (the first maximum, as torch does); average pooling spreads it
evenly over the kh·kw entries (padding counts in the average, torch's default).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dlkit.ref.module import Module
from dlkit.ref.nn._utils import pair
from dlkit.ref.nn.conv import col2im, conv_output_size, im2col
from dlkit.ref.tensor import Tensor, as_tensor

IntOrPair = int | tuple[int, int]


Pair = tuple[int, int]


def _pool_setup(who: str, x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None,
                padding: IntOrPair) -> tuple[Pair, Pair, Pair, int, int]:
    if x.ndim != 4:
        raise ValueError(f"{who} expected input of shape (N, C, H, W), got {x.shape}")
    kernel = pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{who} expected padding at most half the kernel size {kernel}, "
                         f"got {padding}")
    h, w = x.shape[2:]
    if kernel[0] > h + 2 * padding[0] or kernel[1] > w + 2 * padding[1]:
        raise ValueError(f"{who} expected the kernel {kernel} to fit in the padded input "
                         f"{(h + 2 * padding[0], w + 2 * padding[1])}, got an input of {h}x{w} "
                         f"with padding {padding}")
    ho = conv_output_size(h, kernel[0], stride[0], padding[0])
    wo = conv_output_size(w, kernel[1], stride[1], padding[1])
    return kernel, stride, padding, ho, wo


def max_pool2d(x: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> Tensor:
    """The maximum of each kh×kw window (stride defaults to the kernel size) (chapter 07).

    Padding is −inf, so it never wins; the gradient goes to the first maximum of each window."""
    x = as_tensor(x)
    kernel, stride, padding, ho, wo = _pool_setup("max_pool2d", x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    single_channel = (n * c, 1, h, w)
    cols = im2col(x.data.reshape(single_channel), kernel, stride, padding, pad_value=-np.inf)
    winner = cols.argmax(axis=1)[:, None, :]                      # (N·C, 1, Ho·Wo)
    y = np.take_along_axis(cols, winner, axis=1).reshape(n, c, ho, wo)
    out = Tensor._result(y, (x,), "max_pool2d")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        grad_cols = np.zeros_like(cols)
        np.put_along_axis(grad_cols, winner, out.grad.reshape(n * c, 1, ho * wo), axis=1)
        x._accumulate(col2im(grad_cols, single_channel, kernel, stride, padding).reshape(x.shape))
    out._backward = _backward
    return out


def avg_pool2d(x: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> Tensor:
    """The mean of each kh×kw window, zero padding included in the count (chapter 07)."""
    x = as_tensor(x)
    kernel, stride, padding, ho, wo = _pool_setup("avg_pool2d", x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    single_channel = (n * c, 1, h, w)
    cols = im2col(x.data.reshape(single_channel), kernel, stride, padding)
    out = Tensor._result(cols.mean(axis=1).reshape(n, c, ho, wo), (x,), "avg_pool2d")
    if not out.requires_grad:
        return out
    window = kernel[0] * kernel[1]

    def _backward() -> None:
        share = (out.grad.reshape(n * c, 1, ho * wo) / window).astype(x.dtype, copy=False)
        grad_cols = np.broadcast_to(share, (n * c, window, ho * wo))
        x._accumulate(col2im(grad_cols, single_channel, kernel, stride, padding).reshape(x.shape))
    out._backward = _backward
    return out


class _Pool2d(Module):
    """A pooling function (``pool``, set by each subclass) as a layer with a fixed window."""

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0) -> None:
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)

    def forward(self, x: Any) -> Tensor:
        return self.pool(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")


class MaxPool2d(_Pool2d):
    """``max_pool2d`` as a layer (chapter 07)."""

    pool = staticmethod(max_pool2d)


class AvgPool2d(_Pool2d):
    """``avg_pool2d`` as a layer (chapter 07)."""

    pool = staticmethod(avg_pool2d)
