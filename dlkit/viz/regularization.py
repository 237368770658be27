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
    train_losses, val_losses = [], []
    with torch_threads(1), torch.random.fork_rng(devices=[]):  # the learner's RNG stays untouched
        torch.manual_seed(seed)
        model = _model(state["width"], p)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=decay)
        for _ in range(steps):
            model.train()
            loss = torch.mean((model(Xt) - yt) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                train_losses.append(torch.mean((model(Xt) - yt) ** 2).item())
                val_losses.append(torch.mean((model(Xv) - yv) ** 2).item())
        with torch.no_grad():
            y_grid_hat = model(Xg).reshape(-1).numpy().astype(np.float64)
            weights = [m.weight for m in model if isinstance(m, nn.Linear)]
            weight_norm = float(torch.sqrt(sum((w ** 2).sum() for w in weights)))
    return History(np.array(train_losses), np.array(val_losses), y_grid_hat, weight_norm)


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
    return {**state, "strength": round(float(strength), 4), "width": int(width)}


class RegularizationDemo(Demo):
    """Regularization strength against the train/validation curves (chapter 06).

    State: ``method`` (in ``METHODS``), ``strength`` (weight decay or drop probability, 0 to
    0.9), ``width`` (units per hidden layer). ``history`` is the ``History`` drawn now.
    """

    def __init__(self, **state: Any) -> None:
        self._histories: dict[tuple, History] = {}
        super().__init__(**state)

    def defaults(self) -> dict[str, Any]:
        return {"method": "weight decay", "strength": 0.0, "width": 128}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        return _validated(state)

    def controls(self) -> dict[str, widgets.ValueWidget]:
        style = {"description_width": "initial"}
        slider = {"continuous_update": False, "style": style, "layout": widgets.Layout(width="300px")}
        return {
            "method": widgets.Dropdown(options=list(METHODS), description="method", style=style,
                                       layout=widgets.Layout(width="220px")),
            "strength": widgets.FloatSlider(min=0.0, max=MAX_STRENGTH, step=0.05,
                                            description="strength", readout_format=".2f", **slider),
            "width": widgets.IntSlider(min=4, max=MAX_WIDTH, step=4, description="width", **slider),
        }

    def _history_for(self, state: dict[str, Any]) -> History:
        key = (state["method"], state["strength"], state["width"])
        if key not in self._histories:
            self._histories[key] = train_regularized(*key)
        return self._histories[key]

    def draw_initial(self) -> None:
        self.figure.set_size_inches(11, 4.4)
        self.ax_fit, self.ax_loss = self.figure.subplots(1, 2)
        X_train, y_train, X_val, y_val = make_curve_data()
        self.ax_fit.plot(X_GRID, np.sin(np.pi * X_GRID), color="grey", linewidth=4, alpha=0.4,
                         label="true sin(πx)")
        self.ax_fit.plot(X_val, y_val, ".", color="C2", markersize=3, alpha=0.5, label="validation")
        self.ax_fit.plot(X_train, y_train, "o", color="C0", markersize=6, label="training")
        self.line_fit, = self.ax_fit.plot([], [], color="C1", linewidth=2, label="network")
        self.ax_fit.set(xlim=(-1.05, 1.05), ylim=(-2.0, 2.0), xlabel="x", ylabel="y",
                        xticks=[-1, -0.5, 0, 0.5, 1])
        self.ax_fit.legend(loc="lower right", fontsize=9, ncols=2)
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
        self.ax_loss.legend(loc="lower left", fontsize=9)

    def redraw(self) -> None:
        self.history = h = self._history_for(self.state)
        s = self.state
        knob = "AdamW weight_decay" if s["method"] == "weight decay" else "dropout p"
        self.line_fit.set_data(X_GRID, h.y_grid_hat)
        self.ax_fit.set_title(f"{knob} = {s['strength']:.2f}, width {s['width']}\n"
                              f"‖W‖ = {h.weight_norm:.3g}")
        steps = np.arange(1, len(h.train_losses) + 1)
        self.line_train.set_data(steps, h.train_losses)
        self.line_val.set_data(steps, h.val_losses)
        self.best_line.set_xdata([h.best_step, h.best_step])
        self.ax_loss.set_title(f"final gap (val − train) = {h.gap:.3g}\n"
                               f"best validation {h.val_losses.min():.3g} at step {h.best_step}")
