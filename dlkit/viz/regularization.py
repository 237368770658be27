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

from dlkit.runtime import cpu_threads
from dlkit.viz.demo import Demo
from dlkit.viz.numpy_mlp import NumpyMLP

Array = np.ndarray

METHODS = ("weight decay", "dropout")
"""``weight decay``: ``strength`` is AdamW's ``weight_decay``; ``dropout``: it is the drop
probability p."""

NUM_TRAIN, NUM_VAL, NOISE = 16, 200, 0.3
LR, STEPS, SEED = 3e-3, 600, 0
SNAPSHOT_EVERY = 25   # the fit is kept every 25 steps, so "play" can replay the training
EVAL_EVERY = 5        # both losses are measured every 5 steps, as a training loop validates
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

    train_losses: Array     # training MSE (evaluation mode, no dropout) after steps 5, 10, ...
    val_losses: Array       # validation MSE after the same steps
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
    def steps(self) -> Array:
        """The steps after which the losses were measured: 5, 10, ..., 600."""
        return EVAL_EVERY * np.arange(1, len(self.val_losses) + 1)

    @property
    def best_step(self) -> int:
        """The measured step with the lowest validation loss (where early stopping would restore)."""
        return int(self.steps[np.argmin(self.val_losses)])

    @property
    def gap(self) -> float:
        """Final validation MSE minus final training MSE."""
        return float(self.val_losses[-1] - self.train_losses[-1])


def train_regularized(method: str = "weight decay", strength: float = 0.0, width: int = 128,
                      steps: int = STEPS, seed: int = SEED) -> History:
    """Train the demo's MLP with full-batch AdamW for ``steps`` steps (chapter 06).

    Same arguments, same numbers. Losses are measured in evaluation mode (dropout off) every
    ``EVAL_EVERY`` steps, so train and validation curves are comparable. The network is a
    ``NumpyMLP`` (its backward written out; a third of autograd's time at this size) with
    torch's fused AdamW.
    """
    state = _validated({"method": method, "strength": strength, "width": width})
    with cpu_threads(1):   # the whole run: a BLAS call outside it wakes threads that then spin
        X_train, y_train, X_val, y_val = make_curve_data()
        as_column = lambda a: np.asarray(a, dtype=np.float32).reshape(-1, 1)  # noqa: E731
        Xt, yt, Xg = map(as_column, (X_train, y_train, X_GRID))
        X_both, y_both = as_column(np.concatenate([X_train, X_val])), as_column(np.concatenate([y_train, y_val]))
        p = state["strength"] if state["method"] == "dropout" else 0.0
        decay = state["strength"] if state["method"] == "weight decay" else 0.0
        init_rng, dropout_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        model = NumpyMLP([1, state["width"], state["width"], 1], "tanh", init_rng, dropout=p)
        optimizer = model.params.torch_optimizer(torch.optim.AdamW, lr=LR, weight_decay=decay)
        n_train, train_losses, val_losses = len(Xt), [], []
        snapshots = [model(Xg).reshape(-1)]
        for step in range(1, steps + 1):
            model.mse_backward(Xt, yt, dropout_rng)
            optimizer.step()
            if step % EVAL_EVERY == 0:
                squared = (model(X_both) - y_both) ** 2      # one evaluation pass for both curves
                train_losses.append(squared[:n_train].mean())
                val_losses.append(squared[n_train:].mean())
            if step % SNAPSHOT_EVERY == 0:
                snapshots.append(model(Xg).reshape(-1))
        weights = [model.params.values[name] for name in ("W1", "W2", "W3")]
        weight_norm = float(np.sqrt(sum(float((w.astype(np.float64) ** 2).sum()) for w in weights)))
        as_float64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        return History(as_float64(train_losses), as_float64(val_losses), as_float64(model(Xg).reshape(-1)),
                       weight_norm, as_float64(snapshots))


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
        measured = shown // EVAL_EVERY     # the losses measured up to the shown step
        self.line_train.set_data(h.steps[:measured], h.train_losses[:measured])
        self.line_val.set_data(h.steps[:measured], h.val_losses[:measured])
        if shown == 0:
            self.best_line.set_visible(False)
            self.ax_loss.set_title("step 0: the untrained network\n")
            return
        best = int(np.argmin(h.val_losses[:measured]))
        self.best_line.set_visible(True)
        self.best_line.set_xdata([h.steps[best]] * 2)
        gap = h.val_losses[measured - 1] - h.train_losses[measured - 1]
        head = "final gap" if shown == STEPS else f"step {shown}: gap"
        self.ax_loss.set_title(f"{head} (val − train) = {gap:.3g}\n"
                               f"best validation {h.val_losses[best]:.3g} at step {h.steps[best]}")
