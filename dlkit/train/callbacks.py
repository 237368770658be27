"""Callbacks: code the training loop calls at the end of every epoch (chapter 11).

Kept minimal on purpose: one hook per epoch, one at the end of ``fit``, and one per optimizer
step for the callbacks that watch training live (the dashboard); the loop measures a step's
gradient norm only when such a callback is there (one that overrides ``on_step_end`` can set
``watches_steps = False`` to opt out at run time). A callback that keeps
state (early stopping's best score) saves it with the checkpoint through ``state_dict``, so a
resumed run stops at the same epoch as an uninterrupted one.
"""
from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlkit.train.trainer import Trainer


class Callback:
    """Override what you need; every hook receives the trainer."""

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """After epoch ``trainer.epoch`` (1-based), with that epoch's ``logs``."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Once, when ``fit`` returns (after the last epoch or an early stop)."""

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """After optimizer step ``logs["step"]`` (1-based, counted over the whole run), with
        its mean ``loss`` and metrics over the step's ``samples``, the ``lr`` it used and the
        gradient norm before clipping (``grad_norm``)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs
    (chapter 06). With ``restore_best``, the model gets back its weights from the best epoch when
    training ends: early stopping picks the epoch by validation score, so keep that epoch's model.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"expected mode 'min' or 'max', got {mode!r}")
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"expected patience to be a positive int, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"expected min_delta >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.mode = monitor, patience, mode
        self.min_delta, self.restore_best = float(min_delta), restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict[str, Any] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping expected {self.monitor!r} among the epoch's logs, "
                           f"found {sorted(logs)} (pass val_loader to fit for 'val_*' keys)")
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, trainer.epoch, 0
            if self.restore_best:
                self.best_weights = copy.deepcopy(trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_training = True

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.best_weights = state["wait"], state["best_weights"]

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"mode={self.mode!r}, best={self.best:.4g} at epoch {self.best_epoch})")
