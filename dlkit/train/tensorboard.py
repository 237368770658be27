"""Experiment tracking with TensorBoard (chapter 11): a callback that writes what ``Trainer``
measures into a TensorBoard log folder, one folder per run, so runs can be compared side by
side with ``tensorboard --logdir runs`` (or ``%tensorboard --logdir runs`` in a notebook).

Per epoch: every value of the epoch's logs (``train_loss``, ``val_accuracy``, ``lr``, ...) under
``epoch/<name>``. Per optimizer step (``log_steps=True``): the step's loss, metrics, learning
rate and gradient norm under ``step/<name>``. At the end, the run's hyper-parameters with its
final numbers (TensorBoard's HPARAMS tab), when ``hparams`` is given.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dlkit.train.callbacks import Callback

if TYPE_CHECKING:
    from dlkit.train.trainer import Trainer

STEP_KEYS_SKIPPED = ("step", "epoch", "samples")


class TensorBoardLogger(Callback):
    """Write a run's numbers to the TensorBoard log folder ``log_dir`` (chapter 11).

    ``log_steps``: also every optimizer step (makes the loop measure each step's gradient norm).
    ``hparams``: the run's settings (numbers, strings, booleans), logged with its final epoch's
    numbers when training ends."""

    def __init__(self, log_dir: str | os.PathLike[str], log_steps: bool = False,
                 hparams: dict[str, Any] | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        bad = {k: type(v).__name__ for k, v in (hparams or {}).items()
               if not isinstance(v, (int, float, str, bool))}
        if bad:
            raise TypeError(f"expected hparams values to be numbers, strings or booleans, got {bad}")
        self.log_dir, self.hparams = str(log_dir), dict(hparams or {})
        self.watches_steps = log_steps       # without it the loop skips measuring every step
        self.writer = SummaryWriter(self.log_dir)
        self._final: dict[str, float] = {}

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        step = int(logs["step"])
        for name, value in logs.items():
            if name not in STEP_KEYS_SKIPPED and value is not None:
                self.writer.add_scalar(f"step/{name}", value, step)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        for name, value in logs.items():
            self.writer.add_scalar(f"epoch/{name}", value, trainer.epoch)
        self._final = {f"final/{name}": float(value) for name, value in logs.items()}
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.hparams and self._final:
            # run_name="." keeps the hparams summary in this run's folder, not a new sub-folder
            self.writer.add_hparams(self.hparams, self._final, run_name=".")
        self.writer.flush()

    def close(self) -> None:
        """Close the log file (training again with this logger reopens it)."""
        self.writer.close()

