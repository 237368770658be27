"""Differentially private SGD from scratch: per-sample gradients, clipping, Gaussian noise, and
the privacy accounting (chapter 12).

DP-SGD (Abadi et al., 2016) bounds how much any one training example can move the model: each
example's gradient is clipped to L2 norm at most ``C`` (``max_grad_norm``), the clipped gradients
are summed, Gaussian noise of standard deviation ``σ·C`` (σ = ``noise_multiplier``) is added to
the sum, and the result is divided by the batch size ``B``. On the averaged gradient the noise
therefore has standard deviation ``σ·C/B`` per coordinate (:func:`noise_std`). How much privacy
the whole run spends, the (ε, δ) of differential privacy, follows from σ, the sampling rate B/N
and the number of steps; :func:`privacy_spent` asks Opacus's RDP accountant.

The per-sample gradients come from ``torch.func``: ``vmap`` over ``grad`` of the loss of one
example, the same numbers Opacus's hooks compute (the tests check it).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from dlkit.trust._checks import check_batch, check_epsilon

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Gradients = dict[str, torch.Tensor]

# Opacus divides by ``norm + 1e-6`` so that a zero gradient does not divide by zero; the same
# constant here keeps the two implementations equal to rounding.
_NORM_FLOOR = 1e-6


def _check_model(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            raise ValueError(f"expected a model without batch norm (it mixes the examples of a batch, so "
                             f"per-sample gradients are not defined), found {module}; use GroupNorm")


def per_sample_gradients(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor) -> Gradients:
    """The gradient of ``loss_fn`` on each example alone, for every trainable parameter (chapter 12).

    Returns ``{name: tensor of shape (N, *parameter.shape)}``; row ``i`` is ∇θ loss(model(xᵢ), yᵢ).
    ``loss_fn`` takes a batch of outputs and targets (e.g. ``F.cross_entropy``); it sees batches
    of one example.
    """
    check_batch(x)
    if y.shape[:1] != x.shape[:1]:
        raise ValueError(f"expected one target per example, {x.shape[0]}, got targets of shape {tuple(y.shape)}")
    _check_model(model)
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def loss_of_one(parameters: Gradients, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (parameters, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(loss_of_one), in_dims=(None, 0, 0))(params, x, y)


def per_sample_norms(grads: Gradients) -> torch.Tensor:
    """The L2 norm of each example's whole gradient (all parameters together), shape (N,)."""
    if not grads:
        raise ValueError("expected at least one parameter's per-sample gradients, got none")
    flat = [g.reshape(g.shape[0], -1) for g in grads.values()]
    return torch.cat(flat, dim=1).norm(dim=1)


def clip_per_sample(grads: Gradients, max_grad_norm: float) -> Gradients:
    """Scale each example's gradient by ``min(1, C / ‖gᵢ‖)`` so no example's norm exceeds ``C``
    (chapter 12). Directions are kept; only long gradients shrink."""
    max_grad_norm = check_epsilon("max_grad_norm", max_grad_norm, allow_zero=False)
    factor = (max_grad_norm / (per_sample_norms(grads) + _NORM_FLOOR)).clamp(max=1.0)
    return {name: g * factor.reshape(-1, *([1] * (g.ndim - 1))) for name, g in grads.items()}


def noise_std(noise_multiplier: float, max_grad_norm: float, batch_size: int) -> float:
    """Standard deviation of DP-SGD's noise on the *averaged* gradient: ``σ·C/B`` (chapter 12).

    The noise ``N(0, σ²C²)`` is added to the sum of ``B`` clipped gradients; dividing by ``B`` to
    average divides its standard deviation by ``B`` too. Bigger batches dilute the same noise.
    """
    sigma = check_epsilon("noise_multiplier", noise_multiplier)
    clip = check_epsilon("max_grad_norm", max_grad_norm, allow_zero=False)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"expected batch_size to be a positive int, got {batch_size!r}")
    return sigma * clip / batch_size


def private_gradient(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor,
                     max_grad_norm: float, noise_multiplier: float, expected_batch_size: int | None = None,
                     generator: torch.Generator | None = None) -> Gradients:
    """DP-SGD's gradient for one batch: clip each example's gradient to ``max_grad_norm``, sum,
    add ``N(0, (σ·C)²)`` noise per coordinate, divide by the batch size (chapter 12).

    ``expected_batch_size`` is the divisor (default: this batch's size); with Poisson sampling the
    batch size varies and the expected one is used, as Opacus does. ``generator`` seeds the noise.
    """
    sigma = check_epsilon("noise_multiplier", noise_multiplier)
    batch = x.shape[0] if expected_batch_size is None else expected_batch_size
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"expected expected_batch_size to be a positive int, got {expected_batch_size!r}")
    clipped = clip_per_sample(per_sample_gradients(model, loss_fn, x, y), max_grad_norm)
    noisy = {}
    for name, g in clipped.items():
        summed = g.sum(dim=0)
        if sigma:
            summed = summed + sigma * max_grad_norm * torch.randn(
                summed.shape, generator=generator, dtype=summed.dtype, device=summed.device)
        noisy[name] = summed / batch
    return noisy


def dp_sgd_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, x: torch.Tensor,
                y: torch.Tensor, max_grad_norm: float, noise_multiplier: float,
                expected_batch_size: int | None = None, generator: torch.Generator | None = None) -> Gradients:
    """One private optimizer step: :func:`private_gradient` written into each parameter's
    ``.grad``, then ``optimizer.step()`` (chapter 12). Returns the gradient it used."""
    gradient = private_gradient(model, loss_fn, x, y, max_grad_norm, noise_multiplier,
                                expected_batch_size, generator)
    optimizer.zero_grad()
    for name, p in model.named_parameters():
        if name in gradient:
            p.grad = gradient[name].clone()
    optimizer.step()
    return gradient


def privacy_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float = 1e-5) -> float:
    """The ε that ``steps`` DP-SGD steps at ``noise_multiplier`` σ and ``sample_rate`` B/N spend, at
    ``delta``, by Opacus's Rényi-DP accountant (chapter 12).

    In words: every step is a subsampled Gaussian mechanism; RDP composes them by adding up
    their Rényi divergences at each order α, then converts the total into the smallest ε with
    failure probability δ. More noise or a smaller sampling rate: smaller ε; more steps: larger.
    """
    from opacus.accountants import RDPAccountant

    sigma = check_epsilon("noise_multiplier", noise_multiplier, allow_zero=False)
    if not 0 < sample_rate <= 1:
        raise ValueError(f"expected sample_rate in (0, 1], got {sample_rate}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"expected steps to be a positive int, got {steps!r}")
    if not 0 < delta < 1:
        raise ValueError(f"expected delta in (0, 1), got {delta}")
    accountant = RDPAccountant()
    accountant.history.append((sigma, float(sample_rate), steps))
    return float(accountant.get_epsilon(delta=delta))
