"""Which input pixels a prediction rests on: saliency, Grad-CAM, occlusion and integrated
gradients, each from scratch in a few lines (chapter 12). The tests check each one against
Captum, the library practitioners use.

- saliency (Simonyan et al., 2014): ``|∂f_c/∂x|``, how much the class score moves per pixel.
- Grad-CAM (Selvaraju et al., 2017): weight a conv layer's maps by the spatial mean of their
  gradients, sum over maps, keep the positive part; coarse (the layer's resolution), upsampled
  to the input for display.
- occlusion (Zeiler & Fergus, 2014): slide a patch of baseline values over the image and record
  how much the class score drops; needs no gradient at all.
- integrated gradients (Sundararajan et al., 2017): ``(x − x')·∫₀¹ ∇f(x' + α(x − x')) dα``, the
  gradient averaged along the straight path from a baseline ``x'``. Its attributions add up to
  ``f(x) − f(x')`` (completeness), which plain gradients do not.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlkit.trust._checks import check_batch

Target = int | torch.Tensor
IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def _targets(target: Target, n: int, device: torch.device) -> torch.Tensor:
    if isinstance(target, int) and not isinstance(target, bool):
        return torch.full((n,), target, dtype=torch.long, device=device)
    if isinstance(target, torch.Tensor) and target.shape == (n,) and not target.is_floating_point():
        return target.to(device=device, dtype=torch.long)
    found = repr(target) if not isinstance(target, torch.Tensor) else f"{target.dtype} of shape {tuple(target.shape)}"
    raise ValueError(f"expected target to be a class index or integer tensor of shape ({n},), got {found}")


def _scores(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target class's score of each example, shape (N,)."""
    if output.ndim != 2:
        raise ValueError(f"expected the model to output scores of shape (N, classes), got {tuple(output.shape)}")
    return output.gather(1, target[:, None]).squeeze(1)


def saliency(model: nn.Module, x: torch.Tensor, target: Target, absolute: bool = True) -> torch.Tensor:
    """``|∂ score_target / ∂x|`` (or the signed gradient), shaped like ``x`` (chapter 12)."""
    check_batch(x)
    x = x.detach().requires_grad_(True)
    scores = _scores(model(x), _targets(target, x.shape[0], x.device))
    (gradient,) = torch.autograd.grad(scores.sum(), x)
    return gradient.abs() if absolute else gradient


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: Target, relu: bool = True,
             upsample: bool = True, mode: str = "nearest") -> torch.Tensor:
    """Grad-CAM of ``layer`` (a module of ``model`` whose output is (N, K, h, w)) for ``target``
    (chapter 12).

    ``αₖ = mean over positions of ∂score/∂Aₖ``, map ``= relu(Σₖ αₖ Aₖ)`` of shape (N, 1, h, w);
    with ``upsample`` it is resized to x's height and width by ``F.interpolate`` in ``mode``
    (Captum's ``LayerAttribution.interpolate`` does the same, nearest by default).
    """
    check_batch(x)
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"expected layer to be a module inside model, got {type(layer).__name__} that is not")
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    try:
        scores = _scores(model(x), _targets(target, x.shape[0], x.device))
    finally:
        handle.remove()
    maps = captured[-1]
    if maps.ndim < 3:
        raise ValueError(f"expected the layer to output feature maps (N, K, h, w), got {tuple(maps.shape)}")
    (gradient,) = torch.autograd.grad(scores.sum(), maps)
    weights = gradient.mean(dim=tuple(range(2, gradient.ndim)), keepdim=True)
    cam = (weights * maps).sum(dim=1, keepdim=True).detach()
    if relu:
        cam = F.relu(cam)
    if upsample:
        cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode=mode)
    return cam


def _window_starts(size: int, window: int, stride: int) -> list[int]:
    # Captum's placement: ceil((size − window) / stride) + 1 windows from 0 by stride; the last
    # may hang over the edge and is cut to the image
    return [k * stride for k in range(int(np.ceil((size - window) / stride)) + 1)]


@torch.no_grad()
def occlusion(model: nn.Module, x: torch.Tensor, target: Target, window: tuple[int, int],
              stride: tuple[int, int] | int = 1, baseline: float = 0.0) -> torch.Tensor:
    """Slide a ``window`` (height, width; all channels) of ``baseline`` values over each image of
    ``x`` (N, C, H, W); each pixel gets the mean drop of the target score over the windows that
    covered it (chapter 12)."""
    check_batch(x)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    strides = (stride, stride) if isinstance(stride, int) else tuple(stride)
    (height, width), (wh, ww) = x.shape[2:], window
    if not (0 < wh <= height and 0 < ww <= width) or min(strides) < 1:
        raise ValueError(f"expected a window within the image {height}x{width} and strides >= 1, "
                         f"got window {window}, stride {stride}")
    target = _targets(target, x.shape[0], x.device)
    reference = _scores(model(x), target)
    total = torch.zeros_like(x)
    count = torch.zeros_like(x)
    for top in _window_starts(height, wh, strides[0]):
        for left in _window_starts(width, ww, strides[1]):
            occluded = x.clone()
            occluded[:, :, top:top + wh, left:left + ww] = baseline
            drop = reference - _scores(model(occluded), target)
            total[:, :, top:top + wh, left:left + ww] += drop[:, None, None, None]
            count[:, :, top:top + wh, left:left + ww] += 1
    return total / count


def integration_points(steps: int, method: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``α`` in [0, 1] and weights that approximate ``∫₀¹ g(α) dα ≈ Σ wᵢ g(αᵢ)`` (chapter 12).

    Gauss-Legendre is exact for polynomials of degree < 2·steps; the Riemann rules take equal
    steps (left, right or middle of each). "Trapezoid" is Captum's: ``steps`` points from 0 to 1
    with weights 1/steps, the two ends halved, so its weights add up to 1 − 1/steps (a true
    trapezoid rule would use 1/(steps − 1)); kept so that results equal Captum's.
    """
    if method not in IG_METHODS:
        raise ValueError(f"expected method to be one of {list(IG_METHODS)}, got {method!r}")
    minimum = 1 if method == "gausslegendre" else 2
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < minimum:
        raise ValueError(f"expected steps to be an int >= {minimum} for {method}, got {steps!r}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        # [-1, 1] → [0, 1]: halve the weights, shift and halve the nodes
        return torch.tensor(0.5 * (1 + nodes)), torch.tensor(0.5 * weights)
    weights = torch.full((steps,), 1 / steps, dtype=torch.float64)
    rule = method.split("_")[1]
    if rule == "trapezoid":
        weights[[0, -1]] /= 2
        return torch.linspace(0, 1, steps, dtype=torch.float64), weights
    start = {"left": 0.0, "right": 1 / steps, "middle": 1 / (2 * steps)}[rule]
    return torch.linspace(start, start + 1 - 1 / steps, steps, dtype=torch.float64), weights


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: Target, baseline: torch.Tensor | None = None,
                         steps: int = 50, method: str = "gausslegendre") -> torch.Tensor:
    """``(x − x')·Σᵢ wᵢ ∇f(x' + αᵢ(x − x'))``, shaped like ``x`` (chapter 12).

    ``baseline`` x' defaults to zeros (a black image); the points and weights come from
    :func:`integration_points`. All ``steps`` points of all examples go through the model as one
    batch. ``attributions.sum(dims) ≈ f(x) − f(x')`` (completeness); :func:`completeness_gap`
    measures how far a given ``steps`` is from it.
    """
    check_batch(x)
    baseline = torch.zeros_like(x) if baseline is None else baseline.to(x)
    if baseline.shape != x.shape:
        raise ValueError(f"expected baseline shaped like x {tuple(x.shape)}, got {tuple(baseline.shape)}")
    alphas, weights = integration_points(steps, method)
    alphas = alphas.to(x).reshape(-1, 1, *([1] * (x.ndim - 1)))                   # (S, 1, ...)
    path = (baseline + alphas * (x - baseline)).reshape(-1, *x.shape[1:]).detach()  # (S·N, ...)
    path.requires_grad_(True)
    target = _targets(target, x.shape[0], x.device).repeat(len(weights))
    (gradient,) = torch.autograd.grad(_scores(model(path), target).sum(), path)
    gradient = gradient.reshape(len(weights), *x.shape)
    average = (weights.to(x).reshape(-1, *([1] * x.ndim)) * gradient).sum(dim=0)
    return ((x - baseline) * average).detach()


@torch.no_grad()
def completeness_gap(model: nn.Module, attributions: torch.Tensor, x: torch.Tensor, target: Target,
                     baseline: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ attributions − (f(x) − f(x'))`` per example: zero for exact integrated gradients."""
    baseline = torch.zeros_like(x) if baseline is None else baseline
    target = _targets(target, x.shape[0], x.device)
    difference = _scores(model(x), target) - _scores(model(baseline), target)
    return attributions.reshape(x.shape[0], -1).sum(dim=1) - difference
