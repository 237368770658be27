"""Learning-rate schedules: step decay, exponential, cosine annealing, warmup + cosine (chapter 04).

Two faces of each schedule:

- a pure function ``lr(t)`` in closed form (``step_lr``, ``exponential_lr``,
  ``cosine_annealing_lr``, ``warmup_cosine_lr``), so a notebook can plot a whole schedule
  without an optimizer: ``[warmup_cosine_lr(t, 0.1, 5, 50) for t in range(50)]``;
- a torch-shaped scheduler (``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``,
  ``WarmupCosine``) that writes that value into ``optimizer.lr``. Call ``scheduler.step()``
  after ``optimizer.step()``, as in torch; ``last_epoch`` counts those calls.

Step t is the number of ``scheduler.step()`` calls so far; t = 0 is the lr of the first update.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Protocol

from dlkit.ref.optim import _check_number


class HasLR(Protocol):
    """Anything with a float ``lr`` that is read at every step, e.g. ``dlkit.ref.optim.SGD``."""

    lr: float


def _check_step(name: str, t: Any, low: int = 0) -> int:
    if not isinstance(t, int) or isinstance(t, bool) or t < low:
        raise ValueError(f"expected {name} to be an int >= {low}, got {t!r}")
    return t


def step_lr(t: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Step decay (chapter 04): multiply by ``gamma`` every ``step_size`` steps.

    lr(t) = base_lr · γ^⌊t / step_size⌋
    """
    _check_step("t", t)
    _check_step("step_size", step_size, low=1)
    _check_number("base_lr", base_lr, 0.0)
    _check_number("gamma", gamma, 0.0)
    return base_lr * gamma ** (t // step_size)


def exponential_lr(t: int, base_lr: float, gamma: float) -> float:
    """Exponential decay (chapter 04): lr(t) = base_lr · γ^t."""
    _check_step("t", t)
    _check_number("base_lr", base_lr, 0.0)
    _check_number("gamma", gamma, 0.0)
    return base_lr * gamma**t


def cosine_annealing_lr(t: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """Cosine annealing (chapter 04), from ``base_lr`` at t = 0 to ``eta_min`` at t = T_max.

    lr(t) = η_min + ½ (base_lr − η_min) (1 + cos(π t / T_max))

    Large steps early to explore, small steps at the end to settle, with no cliff to tune.
    Past ``T_max`` the cosine goes on (back up, then down again), as torch's does.
    """
    _check_step("t", t)
    _check_step("T_max", T_max, low=1)
    _check_number("base_lr", base_lr, 0.0)
    _check_number("eta_min", eta_min, 0.0)
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def warmup_cosine_lr(t: int, base_lr: float, warmup_steps: int, total_steps: int,
                     eta_min: float = 0.0, warmup_start_factor: float = 0.01) -> float:
    """Linear warmup, then cosine annealing to ``eta_min`` (chapter 04).

    For t < W (``warmup_steps``): lr(t) = base_lr · (f + (1 − f) · t / W), f the start factor;
    for W <= t <= T (``total_steps``): cosine_annealing_lr(t − W, base_lr, T − W, eta_min);
    after T it stays at ``eta_min``.

    Why warm up: at the start the weights are random and Adam's second-moment estimate rests
    on a few gradients, so full-size steps can throw training somewhere it never recovers from.
    """
    _check_step("t", t)
    _check_step("warmup_steps", warmup_steps)
    _check_step("total_steps", total_steps, low=1)
    if total_steps <= warmup_steps:
        raise ValueError(f"expected total_steps > warmup_steps, got total_steps={total_steps}, "
                         f"warmup_steps={warmup_steps}")
    _check_number("warmup_start_factor", warmup_start_factor, 0.0, 1.0, high_inclusive=True)
    _check_number("base_lr", base_lr, 0.0)
    _check_number("eta_min", eta_min, 0.0)
    if t < warmup_steps:
        return base_lr * (warmup_start_factor + (1 - warmup_start_factor) * t / warmup_steps)
    t_cosine = min(t, total_steps) - warmup_steps
    return cosine_annealing_lr(t_cosine, base_lr, total_steps - warmup_steps, eta_min)


class LRScheduler(ABC):
    """Base scheduler (chapter 04): remembers the optimizer's initial lr as ``base_lr`` and
    writes ``lr_at(last_epoch)`` into ``optimizer.lr`` at construction and at every ``step()``.
    """

    def __init__(self, optimizer: HasLR) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"expected an optimizer with a float .lr, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = _check_number("the optimizer's lr", optimizer.lr, 0.0)
        self.last_epoch = 0
        self._set_lr()

    @abstractmethod
    def lr_at(self, t: int) -> float:
        """The learning rate at step ``t``, in closed form (no state is touched)."""
        raise NotImplementedError

    def _set_lr(self) -> None:
        self._last_lr = self.lr_at(self.last_epoch)
        self.optimizer.lr = self._last_lr

    def step(self) -> None:
        """Advance one step and set the optimizer's lr; call it after ``optimizer.step()``."""
        self.last_epoch += 1
        self._set_lr()

    def get_last_lr(self) -> float:
        """The lr set last. One float: our optimizers have one lr (torch returns a list)."""
        return self._last_lr

    def lrs(self, num_steps: int) -> list[float]:
        """The whole schedule ``[lr_at(0), ..., lr_at(num_steps − 1)]``, e.g. to plot it."""
        _check_step("num_steps", num_steps)
        return [self.lr_at(t) for t in range(num_steps)]

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: the step count and the base lr."""
        return {"last_epoch": self.last_epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume from ``state_dict()``: restores the step count and sets the optimizer's lr."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"last_epoch", "base_lr"}:
            raise ValueError("expected a dict from LRScheduler.state_dict() with keys "
                             "'last_epoch', 'base_lr'")
        self.last_epoch = _check_step("last_epoch", state_dict["last_epoch"])
        self.base_lr = _check_number("base_lr", state_dict["base_lr"], 0.0)
        self._set_lr()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr!r})"


class StepLR(LRScheduler):
    """torch's StepLR: multiply the lr by ``gamma`` every ``step_size`` steps (chapter 04)."""

    def __init__(self, optimizer: HasLR, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        """lr at step ``t``: see ``step_lr``."""
        return step_lr(t, self.base_lr, self.step_size, self.gamma)


class ExponentialLR(LRScheduler):
    """torch's ExponentialLR: multiply the lr by ``gamma`` every step (chapter 04)."""

    def __init__(self, optimizer: HasLR, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        """lr at step ``t``: see ``exponential_lr``."""
        return exponential_lr(t, self.base_lr, self.gamma)


class CosineAnnealingLR(LRScheduler):
    """torch's CosineAnnealingLR, in closed form (torch computes it recursively) (chapter 04)."""

    def __init__(self, optimizer: HasLR, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        """lr at step ``t``: see ``cosine_annealing_lr``."""
        return cosine_annealing_lr(t, self.base_lr, self.T_max, self.eta_min)


class WarmupCosine(LRScheduler):
    """Linear warmup, then cosine down to ``eta_min`` at ``total_steps`` (chapter 04).

    The same as torch's ``SequentialLR([LinearLR(start_factor=warmup_start_factor,
    total_iters=warmup_steps), CosineAnnealingLR(T_max=total_steps − warmup_steps)],
    milestones=[warmup_steps])`` up to ``total_steps``; afterwards it holds ``eta_min``.
    """

    def __init__(self, optimizer: HasLR, warmup_steps: int, total_steps: int,
                 eta_min: float = 0.0, warmup_start_factor: float = 0.01) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.eta_min = eta_min
        self.warmup_start_factor = warmup_start_factor
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        """lr at step ``t``: see ``warmup_cosine_lr``."""
        return warmup_cosine_lr(t, self.base_lr, self.warmup_steps, self.total_steps,
                                self.eta_min, self.warmup_start_factor)
