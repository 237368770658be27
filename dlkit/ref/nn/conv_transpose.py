"""Transposed convolution ("deconvolution"): the layer that upsamples in a U-Net's decoder or a
GAN's generator (chapter 07).

A convolution maps an H×W input to a smaller Ho×Wo output through y = W·im2col(x). Its
transpose runs that map backwards: every input pixel scatters a kh×kw patch, weighted by the
kernel, into a larger output, and overlapping patches add up:

    cols = Wᵀ x            (N, C_out·kh·kw, H·W)   one patch per input pixel
    y    = col2im(cols)    (N, C_out, Ho, Wo)      patches added into place

which is exactly the gradient of conv2d with respect to its input, so the shapes invert:
Ho = (H − 1)·s − 2p + d·(kh − 1) + output_padding + 1. With stride 2 and a 2×2 kernel each
pixel becomes a 2×2 block: a learned upsampling by 2. ``output_padding`` (< stride) picks
between the several output sizes a strided convolution maps to the same input size; it adds rows
and columns at the bottom and right. Weight layout as torch: (C_in, C_out/groups, kh, kw).
"""
from __future__ import annotations

from typing import Any

import numpy as np
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
from dlkit.ref.nn.conv import IntOrPair, check_groups, col2im, im2col
from dlkit.ref.tensor import Tensor, as_tensor


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """(size − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1 (chapter 07)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose2d(x: Any, weight: Any, bias: Any = None, stride: IntOrPair = 1,
                     padding: IntOrPair = 0, output_padding: IntOrPair = 0, groups: int = 1,
                     dilation: IntOrPair = 1) -> Tensor:
    """Transposed 2-D convolution as one Tensor op with its own backward (chapter 07);
    arguments in ``torch.nn.functional.conv_transpose2d``'s order. x (N, C_in, H, W),
    weight (C_in, C_out/groups, kh, kw), bias (C_out,) or None.

    Supported: any stride, padding, dilation and groups, and ``output_padding`` smaller than the
    stride (torch also accepts output_padding < dilation with a smaller stride; that is refused
    here with a clear error)."""
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    if weight.ndim != 4:
        raise ValueError(f"conv_transpose2d expected weight of shape (C_in, C_out/groups, kh, kw), "
                         f"got {weight.shape}")
    in_channels, group_out, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[1] != in_channels:
        hint = " (for one image use x[None])" if x.ndim == 3 else ""
        raise ValueError(f"conv_transpose2d expected input of shape (N, {in_channels}, H, W), "
                         f"got {x.shape}{hint}")
    g = positive_int(groups, "conv_transpose2d's groups")
    out_channels = group_out * g
    check_groups(g, in_channels, out_channels, "conv_transpose2d")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"conv_transpose2d expected bias of shape ({out_channels},), "
                         f"got {bias.shape}")
    stride, padding = pair(stride, "stride", 1), pair(padding, "padding", 0)
    dilation, extra = pair(dilation, "dilation", 1), pair(output_padding, "output_padding", 0)
    if extra[0] >= stride[0] or extra[1] >= stride[1]:
        raise ValueError(f"conv_transpose2d supports output_padding smaller than the stride, got "
                         f"output_padding={extra} with stride={stride}")
    n, _, h, w = x.shape
    size = tuple(conv_transpose_output_size(*side) for side in
                 zip((h, w), (kh, kw), stride, padding, extra, dilation, strict=True))
    if min(size) < 1:
        raise ValueError(f"conv_transpose2d expected a positive output size, got {size} from an "
                         f"input of {h}x{w} with padding {padding}")
    out_shape = (n, out_channels, *size)
    kernel, rows = (kh, kw), group_out * kh * kw
    dtype = np.result_type(x.dtype, weight.dtype, *(() if bias is None else (bias.dtype,)))
    w3 = weight.data.reshape(g, in_channels // g, rows)           # per group (C_in/G, rows)
    x4 = x.data.reshape(n, g, in_channels // g, h * w)
    cols = (w3.swapaxes(-1, -2) @ x4).reshape(n, out_channels * kh * kw, h * w)   # Wᵀ x
    y = col2im(cols.astype(dtype, copy=False), out_shape, kernel, stride, padding, dilation)
    if bias is not None:
        y = y + bias.data[:, None, None]
    parents = (x, weight) if bias is None else (x, weight, bias)
    out = Tensor._result(y, parents, "conv_transpose2d")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        if bias is not None and bias.requires_grad:
            bias._accumulate(out.grad.sum(axis=(0, 2, 3)))
        # the adjoint of col2im is im2col: gather each input pixel's patch of the gradient
        grad_cols = im2col(out.grad, kernel, stride, padding, dilation).reshape(n, g, rows, h * w)
        if x.requires_grad:
            x._accumulate((w3 @ grad_cols).reshape(x.shape))
        if weight.requires_grad:
            grad_w = (x4 @ grad_cols.swapaxes(-1, -2)).sum(axis=0)   # Σ_n x_n gcols_nᵀ
            weight._accumulate(grad_w.reshape(weight.shape))
    out._backward = _backward
    return out


class ConvTranspose2d(Module):
    """A transposed convolution layer with torch's weight layout (in, out/groups, kh, kw) and
    default init U(±1/√(out/groups·kh·kw)) (chapter 07)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrPair = 1,
                 rng: RngLike = None, dtype: DTypeLike = np.float32) -> None:
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.groups = check_groups(groups, self.in_channels, self.out_channels, "ConvTranspose2d")
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride, self.padding = pair(stride, "stride", 1), pair(padding, "padding", 0)
        self.output_padding = pair(output_padding, "output_padding", 0)
        self.dilation = pair(dilation, "dilation", 1)
        rng = as_rng(rng)
        group_out = self.out_channels // self.groups
        shape = (self.in_channels, group_out, *self.kernel_size)
        self.weight = torch_default_weight(shape, rng, dtype)   # torch's fan_in: dim 1 × kernel
        fan_in = group_out * self.kernel_size[0] * self.kernel_size[1]
        self.bias = torch_default_bias(self.out_channels, fan_in, rng, dtype) if bias else None

    def forward(self, x: Any) -> Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding, self.groups, self.dilation)

    def __repr__(self) -> str:
        return (f"ConvTranspose2d({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, groups={self.groups}, "
                f"dilation={self.dilation}, bias={self.bias is not None})")
