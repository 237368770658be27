"""The regularization demo (chapter 06): how strength of a regularizer moves the train and
validation curves.

Sixteen noisy samples of sin(πx) are far too few for a wide 2-hidden-layer MLP: without help it
threads every noisy point, its training loss falls to almost nothing while its validation loss
(on 200 fresh points) rises again. That gap between the curves is overfitting. Pick a
``method`` (AdamW's decoupled ``weight decay`` or ``dropout`` after each hidden layer),
turn up its ``strength`` and watch the fit become smoother and the gap close; turn it too high
and both losses rise together (underfitting). The dotted line marks the step with the lowest
validation loss: where early stopping with the best weights restored would have ended.

Training is deterministic (a fixed seed, CPU, one thread, no global RNG touched) and cached
per state, so moving a control back is instant.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.ticker import NullFormatter
from torch import nn

from dlkit.runtime import torch_threads
from dlkit.viz.demo import Demo

Array = np.ndarray

METHODS = ("weight decay", "dropout")
"""``weight decay``: ``strength`` is AdamW's ``weight_decay``; ``dropout``: it is the drop
probability p."""

NUM_TRAIN, NUM_VAL, NOISE = 16, 200, 0.3
LR, STEPS, SEED = 3e-3, 600, 0
SNAPSHOT_EVERY = 25   # the fit is kept every 25 steps, so "play" can replay the training
MAX_STRENGTH, MAX_WIDTH = 0.9, 256
X_GRID = np.linspace(-1.0, 1.0, 301)


def make_curve_data(seed: int = SEED) -> tuple[Array, Array, Array, Array]:
    """The demo's data (chapter 06): 16 training and 200 validation points of
    y = sin(πx) + N(0, 0.3²) on [−1, 1], as ``X_train, y_train, X_val, y_val``."""
    rng = np.random.default_rng(seed)
    X_train = np.sort(rng.uniform(-1, 1, NUM_TRAIN))
    X_val = rng.uniform(-1, 1, NUM_VAL)
    y_train = np.sin(np.pi * X_train) + NOISE * rng.standard_normal(NUM_TRAIN)
    y_val = np.sin(np.pi * X_val) + NOISE * rng.standard_normal(NUM_VAL)
    return X_train, y_train, X_val, y_val


@dataclass(frozen=True)
class History:
    """One training run, as numbers: what the demo plots (chapter 06)."""

    train_losses: Array     # training MSE (evaluation mode, no dropout) after each step
    val_losses: Array       # validation MSE after each step
    y_grid_hat: Array       # the final network's predictions on X_GRID
    weight_norm: float      # ‖W‖ over all weight matrices (biases excluded) at the end
    snapshots: Array = None  # predictions on X_GRID after steps 0, 25, 50, ... (row k: step 25k)

    def fit_at(self, step: int) -> Array:
        """The network's predictions on X_GRID after ``step`` steps (a multiple of 25)."""
        if self.snapshots is None or step % SNAPSHOT_EVERY or not 0 <= step // SNAPSHOT_EVERY < len(self.snapshots):
            raise ValueError(f"expected step a multiple of {SNAPSHOT_EVERY} from 0 to "
                             f"{SNAPSHOT_EVERY * (len(self.snapshots) - 1)}, got {step!r}")
        return self.snapshots[step // SNAPSHOT_EVERY]

    @property
    def best_step(self) -> int:
        """1-based step with the lowest validation loss (where early stopping would restore)."""
        return int(np.argmin(self.val_losses)) + 1

    @property
    def gap(self) -> float:
        """Final validation MSE minus final training MSE."""
        return float(self.val_losses[-1] - self.train_losses[-1])


def _model(width: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Dropout(dropout),
                         nn.Linear(width, width), nn.Tanh(), nn.Dropout(dropout),
                         nn.Linear(width, 1))


def train_regularized(method: str = "weight decay", strength: float = 0.0, width: int = 128,
                      steps: int = STEPS, seed: int = SEED) -> History:
    """Train the demo's MLP with full-batch AdamW for ``steps`` steps (chapter 06).

    Same arguments, same numbers. Losses are measured in evaluation mode (dropout off) after
    each step, so train and validation curves are comparable.
    """
    state = _validated({"method": method, "strength": strength, "width": width})
    X_train, y_train, X_val, y_val = make_curve_data()
    as_column = lambda a: torch.tensor(a, dtype=torch.float32).reshape(-1, 1)  # noqa: E731
    Xt, yt, Xv, yv, Xg = map(as_column, (X_train, y_train, X_val, y_val, X_GRID))
    p = state["strength"] if state["method"] == "dropout" else 0.0
    decay = state["strength"] if state["method"] == "weight decay" else 0.0
    train_losses, val_losses, snapshots = [], [], []
    X_both, n_train = torch.cat([Xt, Xv]), len(Xt)   # one evaluation pass for both curves
    with torch_threads(1), torch.random.fork_rng(devices=[]):  # the learner's RNG stays untouched
        torch.manual_seed(seed)
        model = _model(state["width"], p)
        dropouts = [m for m in model if isinstance(m, nn.Dropout)] if p > 0 else []
        model.eval()
        # fused: one kernel per step for all parameters (a third faster than foreach here)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=decay, fused=True)
        with torch.no_grad():
            snapshots.append(model(Xg).reshape(-1).numpy().astype(np.float64))
        for step in range(1, steps + 1):
            for dropout in dropouts:   # dropout only while training, never while measuring
                dropout.train()
            loss = torch.mean((model(Xt) - yt) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for dropout in dropouts:
                dropout.eval()
            with torch.no_grad():
                squared = (model(X_both) - torch.cat([yt, yv])) ** 2
                train_losses.append(squared[:n_train].mean().item())
                val_losses.append(squared[n_train:].mean().item())
                if step % SNAPSHOT_EVERY == 0:
                    snapshots.append(model(Xg).reshape(-1).numpy().astype(np.float64))
        with torch.no_grad():
            y_grid_hat = model(Xg).reshape(-1).numpy().astype(np.float64)
            weights = [m.weight for m in model if isinstance(m, nn.Linear)]
            weight_norm = float(torch.sqrt(sum((w ** 2).sum() for w in weights)))
    return History(np.array(train_losses), np.array(val_losses), y_grid_hat, weight_norm,
                   np.array(snapshots))


def _validated(state: dict[str, Any]) -> dict[str, Any]:
    if state["method"] not in METHODS:
        raise ValueError(f"expected method among {METHODS}, got {state['method']!r}")
    strength = state["strength"]
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating)) \
            or not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"expected strength to be a number from 0 to {MAX_STRENGTH}, got {strength!r}")
    width = state["width"]
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"expected width to be an integer from 1 to {MAX_WIDTH}, got {width!r}")
    checked = {**state, "strength": round(float(strength), 4), "width": int(width)}
    if "steps" in state:
        steps = state["steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
                or not 0 <= steps <= STEPS or steps % SNAPSHOT_EVERY:
            raise ValueError(f"expected steps to be a multiple of {SNAPSHOT_EVERY} from 0 to {STEPS}, "
                             f"got {steps!r}")
        checked["steps"] = int(steps)
    return checked


class RegularizationDemo(Demo):
    """Regularization strength against the train/validation curves (chapter 06).

    State: ``method`` (in ``METHODS``), ``strength`` (weight decay or drop probability, 0 to
    0.9), ``width`` (units per hidden layer), ``steps`` (how far into the 600 AdamW steps the
    picture is: "play" replays the training 25 steps a frame). ``history`` is the ``History``
    of the whole run.
    """

    figure_px = (520, 520)

    def __init__(self, **state: Any) -> None:
        self._histories: dict[tuple, History] = {}
        super().__init__(**state)

    def defaults(self) -> dict[str, Any]:
        return {"method": "weight decay", "strength": 0.0, "width": 128, "steps": STEPS}

    def tick(self) -> None:
        """One frame of "play": 25 steps further into the run (from step 0 again at the end)."""
        steps = self.state["steps"]
        self.set(steps=0 if steps >= STEPS else steps + SNAPSHOT_EVERY)

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        return _validated(state)

    def controls(self) -> dict[str, widgets.ValueWidget]:
        slider = {"continuous_update": False}
        return {
            "method": widgets.Dropdown(options=list(METHODS), description="method"),
            "strength": widgets.FloatSlider(min=0.0, max=MAX_STRENGTH, step=0.05,
                                            description="strength", readout_format=".2f", **slider),
            "width": widgets.IntSlider(min=4, max=MAX_WIDTH, step=4, description="width", **slider),
            "steps": widgets.IntSlider(min=0, max=STEPS, step=SNAPSHOT_EVERY, description="steps",
                                       tooltip="AdamW steps shown", **slider),
        }

    def _history_for(self, state: dict[str, Any]) -> History:
        key = (state["method"], state["strength"], state["width"])
        if key not in self._histories:
            self._histories[key] = train_regularized(*key)
        return self._histories[key]

    def draw_initial(self) -> None:
        self.ax_fit, self.ax_loss = self.figure.subplots(2, 1)
        X_train, y_train, X_val, y_val = make_curve_data()
        self.ax_fit.plot(X_GRID, np.sin(np.pi * X_GRID), color="grey", linewidth=4, alpha=0.4,
                         label="true sin(πx)")
        self.ax_fit.plot(X_val, y_val, ".", color="C2", markersize=3, alpha=0.5, label="validation")
        self.ax_fit.plot(X_train, y_train, "o", color="C0", markersize=6, label="training")
        self.line_fit, = self.ax_fit.plot([], [], color="C1", linewidth=2, label="network")
        self.ax_fit.set(xlim=(-1.05, 1.05), ylim=(-2.0, 2.0), xlabel="x", ylabel="y",
                        xticks=[-1, -0.5, 0, 0.5, 1])
        self.ax_fit.legend(loc="lower right", fontsize=8, ncols=2)
        self.line_train, = self.ax_loss.plot([], [], color="C0", label="train MSE")
        self.line_val, = self.ax_loss.plot([], [], color="C2", label="validation MSE")
        self.best_line = self.ax_loss.axvline(1, color="grey", linestyle=":",
                                              label="best validation (early stop)")
        self.ax_loss.set_yscale("log")
        self.ax_loss.yaxis.set_minor_formatter(NullFormatter())
        self.ax_loss.axhline(NOISE ** 2, color="grey", linewidth=1, alpha=0.6,
                             label=f"noise variance {NOISE ** 2:.2f}")
        # one fixed range for every state, so moving a control moves the curves, not the axis
        self.ax_loss.set(xlabel="AdamW step", xlim=(0, STEPS), ylim=(0.01, 3.0))
        self.ax_loss.legend(loc="upper right", fontsize=7, ncols=2)

    def redraw(self) -> None:
        self.history = h = self._history_for(self.state)
        s, shown = self.state, self.state["steps"]
        knob = "AdamW weight_decay" if s["method"] == "weight decay" else "dropout p"
        self.line_fit.set_data(X_GRID, h.fit_at(shown))
        where = f"‖W‖ = {h.weight_norm:.3g}" if shown == STEPS else f"after {shown} of {STEPS} steps"
        self.ax_fit.set_title(f"{knob} = {s['strength']:.2f}, width {s['width']}\n{where}")
        steps = np.arange(1, shown + 1)
        self.line_train.set_data(steps, h.train_losses[:shown])
        self.line_val.set_data(steps, h.val_losses[:shown])
        if shown == 0:
            self.best_line.set_visible(False)
            self.ax_loss.set_title("step 0: the untrained network\n")
            return
        best = int(np.argmin(h.val_losses[:shown])) + 1
        self.best_line.set_visible(True)
        self.best_line.set_xdata([best, best])
        gap = h.val_losses[shown - 1] - h.train_losses[shown - 1]
        head = "final gap" if shown == STEPS else f"step {shown}: gap"
        self.ax_loss.set_title(f"{head} (val − train) = {gap:.3g}\n"
                               f"best validation {h.val_losses[best - 1]:.3g} at step {best}")
