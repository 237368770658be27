"""Batch and layer normalization, each one Tensor op with a closed-form backward (chapter 05).

Both standardise x over some axes and then scale and shift it:

    μ = mean(x),  σ² = mean((x − μ)²) (the BIASED variance),  x̂ = (x − μ) / √(σ² + ε),
    y = γ ⊙ x̂ + β                                            (ε sits inside the square root)

Batch norm averages over the batch (and the spatial positions) of each channel; layer norm over
the features of each example. Differentiating through μ and σ² by hand gives, with m the number
of values averaged and g = ∂L/∂x̂ = γ ⊙ ∂L/∂y,

    ∂L/∂x = (1/m) · (1/√(σ² + ε)) · (m·g − Σg − x̂ ⊙ Σ(g ⊙ x̂))

one expression instead of the dozen small nodes autograd would record (``batch_norm_composed``
builds those nodes, so the two can be compared).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref.module import Module, parameter
from dlkit.ref.nn._utils import positive_int
from dlkit.ref.tensor import Tensor, as_tensor

Array = np.ndarray
Axes = tuple[int, ...]


def normalize_backward(grad_x_hat: Array, x_hat: Array, inv_std: Array, axes: Axes) -> Array:
    """∂L/∂x from g = ∂L/∂x̂ when x̂ = (x − μ)/σ uses the μ, σ² of x itself over ``axes``
    (chapter 05): (1/m)(1/σ)(m·g − Σg − x̂ Σ(g x̂))."""
    m = int(np.prod([x_hat.shape[a] for a in axes]))
    sum_g = grad_x_hat.sum(axis=axes, keepdims=True)
    sum_g_x_hat = (grad_x_hat * x_hat).sum(axis=axes, keepdims=True)
    return (inv_std / m) * (m * grad_x_hat - sum_g - x_hat * sum_g_x_hat)


def batch_norm_backward(grad_y: Array, x_hat: Array, gamma: Array,
                        inv_std: Array) -> tuple[Array, Array, Array]:
    """The fused batch-norm backward in training mode (chapter 05): (∂L/∂x, ∂L/∂γ, ∂L/∂β) for
    x of shape (N, C, ...), from ∂L/∂y, x̂, γ (C,) and 1/√(σ² + ε) (broadcastable to x)."""
    axes = _channel_reduce_axes(grad_y.ndim)
    shape = _channel_shape(grad_y.ndim, gamma.size)
    grad_x = normalize_backward(grad_y * gamma.reshape(shape), x_hat, inv_std, axes)
    return grad_x, (grad_y * x_hat).sum(axis=axes), grad_y.sum(axis=axes)


def _channel_reduce_axes(ndim: int) -> Axes:
    return (0, *range(2, ndim))     # everything except the channel axis 1


def _channel_shape(ndim: int, channels: int) -> tuple[int, ...]:
    return (1, channels) + (1,) * (ndim - 2)


def batch_norm(x: Any, weight: Any = None, bias: Any = None, running_mean: Array | None = None,
               running_var: Array | None = None, training: bool = True, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization of x (N, C, ...) per channel, as one op (chapter 05).

    Training: normalise with the batch mean and biased variance, and update ``running_mean`` and
    ``running_var`` IN PLACE with running = (1 − momentum)·running + momentum·batch, using the
    unbiased batch variance (as torch does). Evaluation: normalise with the running statistics.
    ``weight`` (γ) and ``bias`` (β) of shape (C,) are optional."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm expected input of shape (N, C, ...), got {x.shape}")
    channels = x.shape[1]
    weight = None if weight is None else as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    for name, value in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                        ("running_var", running_var)):
        if value is not None and value.shape != (channels,):
            raise ValueError(f"batch_norm expected {name} of shape ({channels},), "
                             f"got {value.shape}")
    axes, shape = _channel_reduce_axes(x.ndim), _channel_shape(x.ndim, channels)
    use_batch_stats = training or running_mean is None or running_var is None
    if use_batch_stats:
        m = x.size // channels
        if m < 2:
            raise ValueError(f"batch_norm expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")
        mean = x.data.mean(axis=axes, keepdims=True)
        centred = x.data - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        if training and running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(channels)
            running_var *= 1 - momentum
            running_var += momentum * var.reshape(channels) * (m / (m - 1))
    else:
        centred = x.data - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    x_hat = centred * inv_std
    y = x_hat if weight is None else x_hat * weight.data.reshape(shape)
    if bias is not None:
        y = y + bias.data.reshape(shape)
    parents = tuple(t for t in (x, weight, bias) if t is not None)
    out = Tensor._result(y, parents, "batch_norm")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        g = out.grad
        if weight is not None and weight.requires_grad:
            weight._accumulate((g * x_hat).sum(axis=axes))
        if bias is not None and bias.requires_grad:
            bias._accumulate(g.sum(axis=axes))
        if x.requires_grad:
            g_x_hat = g if weight is None else g * weight.data.reshape(shape)
            # with running statistics μ and σ are constants: only the 1/σ scaling remains
            x._accumulate(normalize_backward(g_x_hat, x_hat, inv_std, axes) if use_batch_stats
                          else g_x_hat * inv_std)
    out._backward = _backward
    return out


def batch_norm_composed(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """Training-mode batch norm built from small Tensor ops (mean, var, sqrt, ...), whose
    backward autograd derives; the fused ``batch_norm`` must agree with it (chapter 05)."""
    x = as_tensor(x)
    axes, shape = _channel_reduce_axes(x.ndim), _channel_shape(x.ndim, x.shape[1])
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    x_hat = (x - mean) / (var + eps).sqrt()
    return x_hat * as_tensor(weight).reshape(shape) + as_tensor(bias).reshape(shape)


def layer_norm(x: Any, normalized_shape: tuple[int, ...], weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalization over the last ``len(normalized_shape)`` axes of x, one op (chapter 05).

    Each example is standardised by its own statistics, so training and evaluation agree and
    the batch size does not matter (why Transformers use it)."""
    x = as_tensor(x)
    k = len(normalized_shape)
    if x.shape[x.ndim - k:] != tuple(normalized_shape) or x.ndim < k:
        dims = ", ".join(map(str, normalized_shape))
        raise ValueError(f"layer_norm expected input of shape (*, {dims}), got {x.shape}")
    weight = None if weight is None else as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.data.mean(axis=axes, keepdims=True)
    centred = x.data - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    x_hat = centred * inv_std
    y = x_hat if weight is None else x_hat * weight.data
    if bias is not None:
        y = y + bias.data
    parents = tuple(t for t in (x, weight, bias) if t is not None)
    out = Tensor._result(y, parents, "layer_norm")
    if not out.requires_grad:
        return out
    leading = tuple(range(x.ndim - k))

    def _backward() -> None:
        g = out.grad
        if weight is not None and weight.requires_grad:
            weight._accumulate((g * x_hat).sum(axis=leading))
        if bias is not None and bias.requires_grad:
            bias._accumulate(g.sum(axis=leading))
        if x.requires_grad:
            g_x_hat = g if weight is None else g * weight.data
            x._accumulate(normalize_backward(g_x_hat, x_hat, inv_std, axes))
    out._backward = _backward
    return out


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: γ = 1, β = 0, running mean 0 and variance 1 at the start."""

    _ndims: tuple[int, ...] = ()       # the input ranks a subclass accepts
    _layouts: tuple[str, ...] = ()     # how its error message spells them, {c} for the channels

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: DTypeLike = np.float32) -> None:
        self.num_features = positive_int(num_features, "num_features")
        if not eps > 0:
            raise ValueError(f"expected eps > 0, got {eps!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"expected momentum in [0, 1] or None (a cumulative average), "
                             f"got {momentum!r}")
        self.eps, self.momentum = float(eps), momentum
        self.weight = parameter(np.ones(num_features), dtype=dtype) if affine else None
        self.bias = parameter(np.zeros(num_features), dtype=dtype) if affine else None
        self.track_running_stats = track_running_stats
        self.running_mean = np.zeros(num_features, dtype=dtype) if track_running_stats else None
        self.running_var = np.ones(num_features, dtype=dtype) if track_running_stats else None
        self.num_batches_tracked = 0

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            layouts = " or ".join(f.format(c=self.num_features) for f in self._layouts)
            raise ValueError(f"{type(self).__name__} expected input of shape {layouts}, "
                             f"got {x.shape}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if momentum is None:  # torch: a plain average over all batches seen so far
                momentum = 1.0 / self.num_batches_tracked
        return batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                          self.training, 0.0 if momentum is None else momentum, self.eps)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.weight is not None}, "
                f"track_running_stats={self.track_running_stats})")


class BatchNorm1d(_BatchNorm):
    """Batch norm for (N, C) or (N, C, L) inputs, per channel C (chapter 05)."""

    _ndims, _layouts = (2, 3), ("(N, {c})", "(N, {c}, L)")


class BatchNorm2d(_BatchNorm):
    """Batch norm for (N, C, H, W) images, per channel C over batch and positions (chapter 05)."""

    _ndims, _layouts = (4,), ("(N, {c}, H, W)",)


class LayerNorm(Module):
    """Layer norm over the trailing ``normalized_shape`` of each example (chapter 05)."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, dtype: DTypeLike = np.float32) -> None:
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(positive_int(s, "normalized_shape") for s in normalized_shape)
        if not eps > 0:
            raise ValueError(f"expected eps > 0, got {eps!r}")
        self.eps = float(eps)
        self.weight, self.bias = None, None
        if elementwise_affine:
            self.weight = parameter(np.ones(self.normalized_shape), dtype=dtype)
            self.bias = parameter(np.zeros(self.normalized_shape), dtype=dtype)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k:] != self.normalized_shape:
            dims = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"LayerNorm expected input of shape (*, {dims}), got {x.shape}")
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.weight is not None})"
