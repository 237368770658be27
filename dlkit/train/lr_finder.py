"""The learning-rate range test (Leslie Smith, 2015; chapter 11).

Train for a few hundred steps while the learning rate grows exponentially from tiny to huge,
and record the loss. At first nothing happens (too small to move), then the loss falls faster
and faster, then it turns and explodes (too large). A good learning rate sits where the loss
falls fastest (the steepest descent of the smoothed curve), or an order of magnitude below the
minimum (``min/10``): at the minimum itself the run is already at the edge of divergence.
Both are starting points, not answers: on the digits MLP with SGD and momentum 0.9 the
steepest point (about 0.3) trains in one epoch to a loss of 0.28-0.90 over 5 seeds, a third of
it to 0.22-0.31, and min/10 (about 0.1) to 0.24-0.35 (tests/test_train_lr_finder.py).

The test is a probe, not training: the model, the optimizer, the loader's shuffling generator
and every global random generator are put back exactly as they were, so the real run starts
from the same point whether or not the test ran first.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from dlkit.train.checkpoint import loader_generators, rng_state, set_rng_state

SUGGESTIONS = ("steepest", "min/10")


@dataclass
class LRRangeTest:
    """What the range test measured: ``lrs[i]`` was used for step i, whose loss was
    ``losses[i]`` (``smoothed[i]`` after bias-corrected exponential smoothing)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    method: str
    diverged: bool
    extra: dict[str, float] = field(default_factory=dict)

    def plot(self, figure: Figure | None = None) -> Figure:
        """Loss against learning rate on a log axis, the suggestion marked (chapter 11)."""
        figure = figure if figure is not None else Figure(figsize=(5.5, 3.5))
        figure.clear()
        ax = figure.subplots()
        ax.plot(self.lrs, self.losses, color="0.75", linewidth=1, label="loss")
        ax.plot(self.lrs, self.smoothed, color="C0", label="smoothed")
        ax.axvline(self.suggestion, color="C3", linestyle="--",
                   label=f"suggestion ({self.method}): {self.suggestion:.2g}")
        ax.set_xscale("log")
        finite = [s for s in self.smoothed if math.isfinite(s)]
        if finite:   # the exploding tail would squash the interesting part
            low, start = min(finite), finite[0]
            ax.set_ylim(low - 0.1 * (start - low + 1e-12), start + 0.5 * (start - low + 1e-12))
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.set_title("learning-rate range test")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        if not figure.get_constrained_layout():
            figure.tight_layout()
        return figure


def _batches(loader: Iterable[Any]) -> Iterable[Any]:
    """The loader's batches, starting over as often as needed."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("expected a loader with at least one batch, got an empty one")


def _suggest(lrs: np.ndarray, smoothed: np.ndarray, method: str, skip_start: int) -> float:
    lowest = int(np.argmin(smoothed))
    if method == "min/10":
        return float(lrs[lowest] / 10)
    # steepest descent before the minimum, in loss per decade of learning rate
    stop = max(lowest, skip_start + 2)
    slopes = np.gradient(smoothed[skip_start:stop], np.log10(lrs[skip_start:stop]))
    return float(lrs[skip_start + int(np.argmin(slopes))])


def lr_range_test(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Any,
                  loader: Iterable[Any], *, start_lr: float = 1e-6, end_lr: float = 10.0,
                  steps: int = 100, smoothing: float = 0.9, diverge_factor: float = 4.0,
                  suggestion: str = "steepest", skip_start: int = 5,
                  device: torch.device | str | None = None) -> LRRangeTest:
    """Smith's learning-rate range test (chapter 11): ``steps`` optimizer steps on batches of
    ``loader`` (``(input, ..., target)``, like :class:`dlkit.train.Trainer`), the learning rate
    of every parameter group going from ``start_lr`` to ``end_lr`` geometrically. Stops early
    when the smoothed loss exceeds ``diverge_factor`` times its best. ``suggestion``:
    "steepest" or "min/10". The model, optimizer and random generators are restored after."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"expected 0 < start_lr < end_lr, got {start_lr!r} and {end_lr!r}")
    if not isinstance(steps, int) or steps < skip_start + 3:
        raise ValueError(f"expected steps to be an int >= skip_start + 3 = {skip_start + 3}, "
                         f"got {steps!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"expected smoothing in [0, 1), got {smoothing!r}")
    if diverge_factor <= 1:
        raise ValueError(f"expected diverge_factor > 1, got {diverge_factor!r}")
    if suggestion not in SUGGESTIONS:
        raise ValueError(f"expected suggestion in {SUGGESTIONS}, got {suggestion!r}")
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))

    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = rng_state()
    saved_loaders = [g.get_state() for g in loader_generators(loader)]
    was_training = model.training
    lrs, losses, smoothed = [], [], []
    average, best, diverged = 0.0, math.inf, False
    ratio = (end_lr / start_lr) ** (1 / (steps - 1))
    try:
        model.train()
        for step, batch in zip(range(steps), _batches(loader), strict=False):
            lr = start_lr * ratio**step
            for group in optimizer.param_groups:
                group["lr"] = lr
            *inputs, target = [b.to(device) if torch.is_tensor(b) else b for b in batch]
            output = model(*inputs)
            if isinstance(output, (tuple, list)):
                output = output[0]
            loss = loss_fn(output, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            # exponential moving average, bias-corrected so the first steps are not pulled to 0
            average = smoothing * average + (1 - smoothing) * value
            current = average / (1 - smoothing ** (step + 1))
            lrs.append(lr)
            losses.append(value)
            smoothed.append(current)
            if not math.isfinite(current) or current > diverge_factor * best:
                diverged = True
                break
            best = min(best, current)
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        optimizer.zero_grad(set_to_none=True)
        model.train(was_training)
        set_rng_state(saved_rng)
        for generator, state in zip(loader_generators(loader), saved_loaders, strict=True):
            generator.set_state(state)
    if len(lrs) < skip_start + 3:
        raise FloatingPointError(f"the loss diverged after {len(lrs)} steps, at learning rate "
                                 f"{lrs[-1]:.3g}: lower start_lr (now {start_lr:g})")
    finite = np.array([s if math.isfinite(s) else np.inf for s in smoothed])
    value = _suggest(np.array(lrs), finite, suggestion, skip_start)
    return LRRangeTest(lrs, losses, smoothed, value, suggestion, diverged,
                       {"min_loss_lr": float(lrs[int(np.argmin(finite))])})
