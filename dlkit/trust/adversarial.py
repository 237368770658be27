"""Adversarial examples and adversarial training (chapter 12).

An adversarial example is an input moved a little, within an L∞ ball of radius ε around a clean
input, in the direction that raises the loss most. FGSM (Goodfellow et al., 2015) takes one step
of size ε along sign(∇ₓ loss); PGD (Madry et al., 2018) starts at a random point of the ball and
takes several smaller signed steps, projecting back into the ball (and the valid data range) after
each. Adversarial training fits the model on such examples made on the fly, the min-max game
``min_θ E max_{‖δ‖∞≤ε} loss(f_θ(x+δ), y)``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dlkit.metrics import accuracy
from dlkit.trust._checks import check_batch, check_epsilon

DataRange = tuple[float, float] | None


def _check_range(data_range: DataRange) -> None:
    if data_range is not None:
        low, high = data_range
        if not low < high:
            raise ValueError(f"expected data_range (low, high) with low < high, got {data_range}")


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∇ₓ of the mean cross-entropy, without touching the parameters' ``.grad``."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _clamp(x: torch.Tensor, data_range: DataRange) -> torch.Tensor:
    return x if data_range is None else x.clamp(*data_range)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float,
         data_range: DataRange = (0.0, 1.0)) -> torch.Tensor:
    """The fast gradient sign method: ``x + ε·sign(∇ₓ loss(model(x), y))``, clamped to
    ``data_range`` (chapter 12).

    ``model`` should be in eval mode (dropout and batch norm would otherwise change the gradient);
    its parameters' gradients are left untouched. Returns a detached tensor shaped like ``x``.
    """
    check_batch(x, y)
    epsilon = check_epsilon("epsilon", epsilon)
    _check_range(data_range)
    step = epsilon * _input_gradient(model, x, y).sign()
    return _clamp(x.detach() + step, data_range).detach()


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, epsilon: float,
                 data_range: DataRange = (0.0, 1.0)) -> torch.Tensor:
    """The nearest point to ``x_adv`` in the L∞ ball of radius ε around ``x`` that lies in
    ``data_range``: a clamp per pixel, since the L∞ ball is a box (chapter 12)."""
    if x_adv.shape != x.shape:
        raise ValueError(f"expected x_adv shaped like x {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    projected = torch.max(torch.min(x_adv, x + epsilon), x - epsilon)
    return _clamp(projected, data_range)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, step_size: float | None = None,
        steps: int = 10, random_start: bool = True, data_range: DataRange = (0.0, 1.0),
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent on the loss, L∞ version (chapter 12).

    Start at ``x`` plus uniform noise in [-ε, ε] (``random_start``), then ``steps`` times: move
    ``step_size`` (default 2.5·ε/steps, Madry et al.) along the gradient's sign and project back
    into the ε-ball and ``data_range``. ``generator`` seeds the random start.
    """
    check_batch(x, y)
    epsilon = check_epsilon("epsilon", epsilon)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"expected steps to be a positive int, got {steps!r}")
    step_size = 2.5 * epsilon / steps if step_size is None else check_epsilon("step_size", step_size)
    _check_range(data_range)
    x = x.detach()
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x_adv = project_linf(x + (2 * noise - 1) * epsilon, x, epsilon, data_range)
    for _ in range(steps):
        grad = _input_gradient(model, x_adv, y)
        x_adv = project_linf(x_adv + step_size * grad.sign(), x, epsilon, data_range).detach()
    return x_adv


def adversarial_training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                              y: torch.Tensor, epsilon: float, attack: str = "fgsm",
                              clean_weight: float = 0.0, data_range: DataRange = (0.0, 1.0),
                              **attack_kwargs) -> float:
    """One optimizer step on adversarial examples made against the current model (chapter 12).

    The attack (``"fgsm"`` or ``"pgd"``) runs with the model in eval mode; the update then runs in
    the mode the model was in. The loss is ``(1 − clean_weight)·loss(x_adv) + clean_weight·loss(x)``
    (Goodfellow et al. mix both halves; Madry et al. use only x_adv). Returns the loss.
    """
    attacks = {"fgsm": fgsm, "pgd": pgd}
    if attack not in attacks:
        raise ValueError(f"expected attack to be one of {sorted(attacks)}, got {attack!r}")
    if not 0 <= clean_weight <= 1:
        raise ValueError(f"expected clean_weight in [0, 1], got {clean_weight}")
    was_training = model.training
    model.eval()
    x_adv = attacks[attack](model, x, y, epsilon, data_range=data_range, **attack_kwargs)
    model.train(was_training)
    optimizer.zero_grad()
    loss = (1 - clean_weight) * F.cross_entropy(model(x_adv), y)
    if clean_weight:
        loss = loss + clean_weight * F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float,
                    attack: str = "fgsm", data_range: DataRange = (0.0, 1.0), **attack_kwargs) -> float:
    """Accuracy of ``model`` on ``attack``'s adversarial versions of ``(x, y)`` at radius ε (chapter 12).

    ε = 0 gives the clean accuracy. The model is put in eval mode and left there.
    """
    attacks = {"fgsm": fgsm, "pgd": pgd}
    if attack not in attacks:
        raise ValueError(f"expected attack to be one of {sorted(attacks)}, got {attack!r}")
    model.eval()
    x_adv = attacks[attack](model, x, y, epsilon, data_range=data_range, **attack_kwargs)
    with torch.no_grad():
        return accuracy(model(x_adv), y)
