"""A live training dashboard: loss, accuracy, learning rate, gradient norm and throughput at
every optimizer step while ``Trainer.fit`` runs (chapter 11's demo).

>>> dashboard = TrainingDashboard()
>>> Trainer(model, optimizer, loss_fn, metrics={"accuracy": accuracy}, callbacks=[dashboard],
...         scheduler=..., scheduler_step="batch").fit(train_loader, val_loader, epochs=5)

In a notebook the dashboard is one PNG output redrawn in place (at most every ``every_s``
seconds, and once at the end), so it also stays in a saved notebook or an HTML export; in a
terminal it prints one line per ``every_s`` seconds. ``save_to`` writes the final PNG, no
browser needed. The numbers are the run's own (what ``Trainer`` computed for each step);
throughput is samples over wall time (from the end of the previous step, drawing time excluded;
the first step of each epoch has none: validation ran before it), drawn over a window of
steps because one millisecond-long step is at the mercy of the operating system's scheduler.
"""
from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from dlkit.train.callbacks import Callback
from dlkit.train.curves import InPlaceImage, in_notebook

if TYPE_CHECKING:
    from dlkit.train.trainer import Trainer

PER_STEP = ("step", "epoch", "loss", "lr", "grad_norm", "samples", "seconds")


class TrainingDashboard(Callback):
    """Records every optimizer step and draws the dashboard (chapter 11).

    ``enabled``: draw while training (None: in a notebook draw, in a terminal print a line);
    False only records. ``every_s``: the least time between two redraws. ``save_to``: a PNG
    path written when ``fit`` ends. ``metric``: the metric panel (default: "accuracy" if the
    trainer has it, else its first metric)."""

    def __init__(self, enabled: bool | None = None, every_s: float = 1.0,
                 save_to: str | os.PathLike[str] | None = None, metric: str | None = None,
                 window: int = 10) -> None:
        if not every_s >= 0:
            raise ValueError(f"expected every_s >= 0, got {every_s!r}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"expected window to be a positive int, got {window!r}")
        self.enabled, self.every_s, self.save_to, self.metric = enabled, every_s, save_to, metric
        self.window = window
        self.notebook = in_notebook()
        self.steps: dict[str, list[float]] = {name: [] for name in PER_STEP}
        self.epochs: dict[str, list[float]] = {"step": []}   # validation, at each epoch's end
        self._last: float | None = None
        self._drawn = -math.inf
        self._shown_step = 0.0
        self._image = InPlaceImage()
        self._figure: Figure | None = None

    # ---- recording ----------------------------------------------------------------------------
    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        seconds = math.nan if self._last is None else now - self._last
        if self.metric is None and trainer.metrics:
            self.metric = "accuracy" if "accuracy" in trainer.metrics else next(iter(trainer.metrics))
        for name in ("step", "epoch", "loss", "lr", "samples"):
            self.steps[name].append(float(logs[name]))
        self.steps["grad_norm"].append(math.nan if logs["grad_norm"] is None else logs["grad_norm"])
        self.steps["seconds"].append(seconds)
        if self.metric is not None:
            self.steps.setdefault(self.metric, []).append(float(logs[self.metric]))
        if now - self._drawn >= self.every_s:
            self._show()
            self._drawn = time.perf_counter()
        self._last = time.perf_counter()          # drawing is not training: leave it out

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        self._last = None                         # validation ran: the next interval is not a step
        if not any(key.startswith("val_") for key in logs):
            return
        self.epochs["step"].append(float(trainer.step))
        for key, value in logs.items():
            if key.startswith("val_"):
                self.epochs.setdefault(key, []).append(float(value))

    def on_fit_end(self, trainer: Trainer) -> None:
        self._show(final=True)
        if self.save_to is not None and self.steps["step"]:
            self.figure().savefig(self.save_to, dpi=80)

    # ---- showing ------------------------------------------------------------------------------
    def _drawing(self) -> bool:
        return self.enabled is not False and bool(self.steps["step"])

    def throughput(self) -> list[float]:
        """Samples per second at each step: the last ``window`` timed steps' samples over their
        seconds (NaN until a step was timed)."""
        rates, samples, seconds = [], self.steps["samples"], self.steps["seconds"]
        for i in range(len(samples)):
            timed = [j for j in range(max(0, i - self.window + 1), i + 1) if not math.isnan(seconds[j])]
            total = sum(seconds[j] for j in timed)
            rates.append(sum(samples[j] for j in timed) / total if timed and total > 0 else math.nan)
        return rates

    def _show(self, final: bool = False) -> None:
        if not self._drawing() or (final and self._shown_step == self.steps["step"][-1]):
            return
        self._shown_step = self.steps["step"][-1]
        if self.notebook and self.enabled is not False:
            self._figure = self.figure(self._figure)
            self._image.show(self._figure)
        elif self.enabled is None or self.enabled:
            print(self.summary(), flush=True)

    def summary(self) -> str:
        """The latest step in one line (what a terminal shows)."""
        s = self.steps
        parts = [f"step {int(s['step'][-1])}", f"loss {s['loss'][-1]:.4f}"]
        if self.metric is not None:
            parts.append(f"{self.metric} {s[self.metric][-1]:.3f}")
        parts += [f"lr {s['lr'][-1]:.3g}", f"grad norm {s['grad_norm'][-1]:.3g}"]
        rate = self.throughput()[-1]
        parts.append("- samples/s" if math.isnan(rate) else f"{rate:,.0f} samples/s")
        return " | ".join(parts)

    def figure(self, figure: Figure | None = None) -> Figure:
        """The dashboard as a matplotlib Figure: five panels against the optimizer step."""
        if not self.steps["step"]:
            raise ValueError("expected at least one recorded step: call Trainer.fit with this "
                             "dashboard among its callbacks first")
        figure = figure if figure is not None else Figure(figsize=(15, 3.0))
        figure.clear()
        axes = figure.subplots(1, 5)
        steps = self.steps["step"]
        series = {**self.steps, "samples_per_s": self.throughput()}
        panels = [("loss", "loss", "val_loss"),
                  (self.metric or "metric", self.metric, f"val_{self.metric}"),
                  ("learning rate", "lr", None),
                  ("gradient norm", "grad_norm", None),
                  ("throughput (samples/s)", "samples_per_s", None)]
        for ax, (title, key, validation) in zip(axes, panels, strict=True):
            if key is not None and key in series:
                ax.plot(steps, series[key], linewidth=1, label="train")
            if validation in self.epochs:
                ax.plot(self.epochs["step"], self.epochs[validation], "o--", markersize=4,
                        label="validation")
                ax.legend(fontsize=8)
            if key == "lr" and min(self.steps["lr"]) > 0 and max(self.steps["lr"]) > 20 * min(self.steps["lr"]):
                ax.set_yscale("log")
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        if not figure.get_constrained_layout():
            figure.tight_layout()
        return figure

    def __repr__(self) -> str:
        return f"TrainingDashboard({len(self.steps['step'])} steps recorded)"


def run_dashboard_demo(epochs: int = 3, seed: int = 0, save_to: Any = None,
                       enabled: bool | None = None, every_s: float = 1.0) -> TrainingDashboard:
    """Chapter 11's demo: a digits MLP trained with a one-cycle schedule and clipping, the
    dashboard live while it runs. Returns the dashboard (its numbers and its figure)."""
    import torch
    from torch import nn

    import dlkit
    from dlkit.data import load_digits
    from dlkit.metrics import accuracy
    from dlkit.train.trainer import Trainer

    dlkit.seed(seed)
    digits = load_digits()
    X, y = torch.from_numpy(digits.X), torch.from_numpy(digits.y)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    train, val = order[:1400], order[1400:]
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X[train], y[train]),
                                               batch_size=32, shuffle=True)
    val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X[val], y[val]),
                                             batch_size=256)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, epochs=epochs,
                                                    steps_per_epoch=len(train_loader))
    dashboard = TrainingDashboard(enabled=enabled, every_s=every_s, save_to=save_to)
    Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, scheduler_step="batch",
            clip_grad_norm=5.0, metrics={"accuracy": accuracy}, callbacks=[dashboard],
            device="cpu", progress=False, plot=False).fit(train_loader, val_loader, epochs=epochs)
    return dashboard
