"""``Trainer``: the one training loop of chapters 07-12 (chapters 00-06 write theirs inline,
because that loop is what they teach).

One optimizer step, in order::

    with autocast:  output = model(*inputs); loss = loss_fn(output, target)
    (loss / k).backward()                 # k micro-batches add their gradients (accumulation)
    every k-th micro-batch:
        unscale, clip the gradient norm   # clipping sees the true gradients, not scaled ones
        optimizer.step(); zero_grad()     # through the GradScaler under float16
        scheduler.step()                  # if it steps per batch

A batch from the loader is ``(input, ..., target)``: the last item is the target, the others go
to the model. A model that returns a tuple (``CharLM``'s ``(logits, state)``) has its first item
taken as the prediction for the loss and the metrics. At the end of each epoch: validation, the
scheduler's per-epoch step, the history, the live curves, the callbacks, and the checkpoint;
then the next epoch.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from dlkit.runtime import device as default_device
from dlkit.train.callbacks import Callback
from dlkit.train.checkpoint import (
    CheckpointMismatch,
    check_model_state,
    load_checkpoint,
    loader_generators,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from dlkit.train.checks import check_output_and_target
from dlkit.train.curves import LiveCurves
from dlkit.train.precision import choose_precision

Metric = Callable[[torch.Tensor, torch.Tensor], float]
PLATEAU = torch.optim.lr_scheduler.ReduceLROnPlateau


def _length(loader: Any) -> int | None:
    """Batches per epoch, or None for a loader that does not know (an IterableDataset)."""
    try:
        return len(loader)
    except TypeError:
        return None


class Trainer:
    """Train ``model`` with ``optimizer`` on ``loss_fn`` (chapter 11).

    ``device``: where to train (default ``dlkit.device()``). ``precision``: "auto" (bf16 or
    fp16 + grad scaler on CUDA, fp32 elsewhere), "bf16", "fp16" or "fp32".
    ``clip_grad_norm``: clip the global gradient norm to this value (the epoch's mean norm before
    clipping is logged as ``grad_norm``). ``accumulate``: micro-batches per optimizer step (a
    short last group is averaged over its own size when the loader has a length).
    ``metrics``: name → f(output, target) → float, averaged over the epoch weighted by batch size.
    ``scheduler_step``: "epoch" or "batch". ``progress``: a tqdm bar (notebook or terminal).
    ``plot``: live curves; None means only inside a notebook.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable[..., torch.Tensor], *, scheduler: Any = None,
                 device: torch.device | str | None = None, precision: str = "auto",
                 clip_grad_norm: float | None = None, accumulate: int = 1,
                 metrics: dict[str, Metric] | None = None, callbacks: Sequence[Callback] = (),
                 scheduler_step: str = "epoch", progress: bool = True,
                 plot: bool | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected model to be a torch nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"expected a torch optimizer, got {type(optimizer).__name__}")
        if not isinstance(accumulate, int) or accumulate < 1:
            raise ValueError(f"expected accumulate to be a positive int, got {accumulate!r}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"expected clip_grad_norm > 0 or None, got {clip_grad_norm!r}")
        if scheduler_step not in ("epoch", "batch"):
            raise ValueError(f"expected scheduler_step 'epoch' or 'batch', got {scheduler_step!r}")
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.optimizer, self.loss_fn, self.scheduler = optimizer, loss_fn, scheduler
        self.precision = choose_precision(self.device, precision)
        self.scaler = self.precision.grad_scaler()
        self.clip_grad_norm, self.accumulate = clip_grad_norm, accumulate
        self.metrics = dict(metrics or {})
        self.callbacks = list(callbacks)
        self.scheduler_step, self.progress = scheduler_step, progress
        self.curves = LiveCurves(plot)
        self.epoch = 0                     # epochs completed
        self.step = 0                      # optimizer steps taken
        self.history: dict[str, list[float]] = {}
        self.stop_training = False
        self._pending_loader_states: list[torch.Tensor] | None = None

    # ---- one batch ----------------------------------------------------------------------------
    def _split(self, batch: Any) -> tuple[tuple[Any, ...], Any]:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(f"expected each batch to be (input, ..., target), got "
                             f"{type(batch).__name__}" + (f" of length {len(batch)}"
                                                          if isinstance(batch, (tuple, list)) else ""))
        moved = [b.to(self.device, non_blocking=True) if torch.is_tensor(b) else b for b in batch]
        return tuple(moved[:-1]), moved[-1]

    def _forward(self, batch: Any, check: bool) -> tuple[torch.Tensor, torch.Tensor, Any]:
        inputs, target = self._split(batch)
        with self.precision.autocast():
            output = self.model(*inputs)
            if isinstance(output, (tuple, list)):   # (prediction, state) from a recurrent model
                output = output[0]
            if check:
                check_output_and_target(output, target, self.loss_fn)
            loss = self.loss_fn(output, target)
        if not torch.is_tensor(loss) or loss.numel() != 1:
            raise ValueError(f"expected loss_fn to return a scalar tensor, got "
                             f"{tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__}")
        return output, loss, target

    def _step_callbacks(self) -> list[Callback]:
        """The callbacks that watch every step (only they make the loop measure each step)."""
        return [c for c in self.callbacks if type(c).on_step_end is not Callback.on_step_end
                and getattr(c, "watches_steps", True)]

    def _step(self, norms: list[float], group: dict[str, float] | None = None) -> None:
        """One optimizer step; ``group``: the sums over its micro-batches (loss and metrics
        times samples, and ``samples``) for the callbacks that watch every step."""
        watchers = self._step_callbacks() if group is not None else []
        lr = self.optimizer.param_groups[0]["lr"]
        norm = None
        if self.clip_grad_norm is not None or watchers:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)   # measure and clip the true gradients
            if self.clip_grad_norm is not None:
                norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm))
                norms.append(norm)
            else:
                norm = float(nn.utils.get_total_norm(
                    [p.grad for p in self.model.parameters() if p.grad is not None]))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)           # skipped if the gradients overflowed
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None and self.scheduler_step == "batch":
            self.scheduler.step()
        self.step += 1
        if watchers:
            samples = group["samples"]
            logs = {"step": float(self.step), "epoch": float(self.epoch + 1),
                    **{name: total / samples for name, total in group.items() if name != "samples"},
                    "lr": lr, "grad_norm": norm, "samples": samples}
            for callback in watchers:
                callback.on_step_end(self, logs)

    # ---- one epoch ----------------------------------------------------------------------------
    def _run_epoch(self, loader: Iterable[Any], train: bool, bar: Any) -> dict[str, float]:
        self.model.train(train)
        totals = {"loss": 0.0, **{name: 0.0 for name in self.metrics}}
        seen, norms = 0, []
        n_batches = _length(loader)
        pending = 0                                     # micro-batches since the last step
        group = {name: 0.0 for name in ("samples", *totals)}   # sums since the last step
        with torch.set_grad_enabled(train):
            for i, batch in enumerate(loader):
                output, loss, target = self._forward(batch, check=i == 0)
                value = loss.item()
                if not math.isfinite(value) and self.scaler is None:
                    raise FloatingPointError(f"the loss became {value} at epoch {self.epoch + 1}, "
                                             f"batch {i}: lower the learning rate or clip gradients")
                size = len(target) if hasattr(target, "__len__") else 1
                batch_values = {"loss": value}
                for name, fn in self.metrics.items():   # in float32: numpy has no bfloat16
                    batch_values[name] = float(fn(output.detach().float(), target))
                seen += size
                for name, batch_value in batch_values.items():
                    totals[name] += batch_value * size
                    group[name] += batch_value * size
                group["samples"] += size
                if train:
                    start = i - i % self.accumulate
                    size_of_group = self.accumulate if n_batches is None else min(
                        self.accumulate, n_batches - start)
                    scaled = loss / size_of_group       # the mean over the group's micro-batches
                    (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
                    pending += 1
                    if pending == size_of_group:
                        self._step(norms, group)
                        pending = 0
                        group = dict.fromkeys(group, 0.0)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=self.epoch + 1, loss=f"{totals['loss'] / seen:.4f}")
            if train and pending:                       # a loader without len: step the rest
                self._step(norms, group)
        if seen == 0:
            raise ValueError("expected a loader with at least one batch, got an empty one")
        logs = {name: total / seen for name, total in totals.items()}
        if norms:
            logs["grad_norm"] = sum(norms) / len(norms)
        return logs

    def evaluate(self, loader: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over ``loader`` in evaluation mode, without gradients."""
        return self._run_epoch(loader, train=False, bar=None)

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, train_loader: Iterable[Any], val_loader: Iterable[Any] | None = None,
            epochs: int = 1, checkpoint: str | os.PathLike[str] | None = None,
            resume: bool = False) -> dict[str, list[float]]:
        """Train until ``epochs`` epochs are done in total (a resumed run continues from where
        its checkpoint stopped) or a callback stops it; returns the history.

        ``checkpoint``: save there after every epoch. ``resume``: first load that checkpoint if
        it exists, so calling ``fit`` again after an interruption ends where an uninterrupted
        run would."""
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"expected epochs to be a positive int, got {epochs!r}")
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            self.load(checkpoint, train_loader)
        self._restore_loader(train_loader)
        self.stop_training = False
        bar = None
        if self.progress and self.epoch < epochs:
            from tqdm.auto import tqdm

            per_epoch = _length(train_loader)
            total = None if per_epoch is None else per_epoch * (epochs - self.epoch)
            bar = tqdm(total=total, desc="training", unit="batch")
        try:
            while self.epoch < epochs and not self.stop_training:
                lr = self.optimizer.param_groups[0]["lr"]
                logs = {f"train_{k}": v for k, v in self._run_epoch(train_loader, True, bar).items()}
                if "train_grad_norm" in logs:
                    logs["grad_norm"] = logs.pop("train_grad_norm")
                logs["lr"] = lr
                if val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                self.epoch += 1
                self._step_scheduler(logs)
                for key, value in logs.items():
                    self.history.setdefault(key, []).append(value)
                self.curves.update(self.history)
                for callback in self.callbacks:
                    callback.on_epoch_end(self, logs)
                if checkpoint is not None:
                    self.save(checkpoint, train_loader)
        finally:
            if bar is not None:
                bar.close()
        for callback in self.callbacks:
            callback.on_fit_end(self)
        return self.history

    def _step_scheduler(self, logs: dict[str, float]) -> None:
        if self.scheduler is None or self.scheduler_step != "epoch":
            return
        if isinstance(self.scheduler, PLATEAU):
            self.scheduler.step(logs.get("val_loss", logs["train_loss"]))
        else:
            self.scheduler.step()

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self, train_loader: Any = None) -> dict[str, Any]:
        """Everything a resumed run needs (see :mod:`dlkit.train.checkpoint`)."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model_class": type(self.model).__qualname__,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "history": self.history,
            "callbacks": [c.state_dict() for c in self.callbacks],
            "rng": rng_state(),
            "loader_generators": [g.get_state() for g in loader_generators(train_loader)],
        }

    def save(self, path: str | os.PathLike[str], train_loader: Any = None) -> None:
        """Save a checkpoint; pass the training loader if it shuffles with its own generator."""
        save_checkpoint(path, self.state_dict(train_loader))

    def load(self, path: str | os.PathLike[str], train_loader: Any = None) -> None:
        """Load a checkpoint saved by :meth:`save` into this trainer: weights, optimizer,
        scheduler, scaler, history, callbacks, random generators and the epoch count.

        A checkpoint saved on another device loads too (a GPU run continued on the CPU); it
        resumes bit-identically only on the device and precision it was saved with."""
        state = load_checkpoint(path, map_location=self.device)
        check_model_state(state["model"], self.model, state["model_class"])
        if (state["scheduler"] is None) != (self.scheduler is None):
            mine = self.scheduler is not None
            raise CheckpointMismatch(
                f"expected a checkpoint {'with' if mine else 'without'} a scheduler (this trainer "
                f"has {'one' if mine else 'none'}), found one "
                f"{'without' if state['scheduler'] is None else 'with'}")
        if len(state["callbacks"]) != len(self.callbacks):
            raise CheckpointMismatch(f"expected state for {len(self.callbacks)} callbacks, found "
                                     f"{len(state['callbacks'])} in {path}")
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as error:
            raise CheckpointMismatch(f"the checkpoint's optimizer state does not fit this "
                                     f"optimizer: {error}") from error
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        # a float16 run resumed in another precision (on the CPU, say) has no use for the
        # scale factor, and one that starts float16 from an fp32 checkpoint starts a fresh one
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        for callback, callback_state in zip(self.callbacks, state["callbacks"], strict=True):
            callback.load_state_dict(callback_state)
        self.epoch, self.history = state["epoch"], state["history"]
        self.step = state.get("step", 0)                # checkpoints before steps were counted
        set_rng_state(state["rng"])
        self._pending_loader_states = state["loader_generators"]
        if train_loader is not None:
            self._restore_loader(train_loader)

    def _restore_loader(self, train_loader: Any) -> None:
        states, self._pending_loader_states = self._pending_loader_states, None
        if states is None:
            return
        generators = loader_generators(train_loader)
        if len(generators) != len(states):
            raise CheckpointMismatch(f"expected a training loader with {len(states)} own random "
                                     f"generator(s) like the checkpointed one, found "
                                     f"{len(generators)}")
        for generator, saved in zip(generators, states, strict=True):
            generator.set_state(saved.cpu())
