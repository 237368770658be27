"""Checkpoints that resume exactly (chapter 11).

A run that stops after epoch k and resumes ends bit-identical (on the CPU) to one that never
stopped only if EVERYTHING that decides the next step is saved: the weights, the optimizer's
state (momenta, Adam's moments and step count), the scheduler, the grad scaler, the early-stopping
state, the history, every random number generator (Python's, NumPy's, torch's CPU and CUDA
generators: they decide dropout masks and the shuffling order) and the generator of a data loader
that shuffles with its own ``torch.Generator``. This module saves and restores those; the
training loop (:class:`dlkit.train.Trainer`) decides what goes in.

Checkpoints hold only tensors, numbers, strings, lists and dicts, so ``torch.load`` reads them
with ``weights_only=True`` (no pickled code runs when a checkpoint is opened).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "dlkit.train/1"


class CheckpointMismatch(ValueError):
    """A checkpoint that does not fit the model, optimizer or loader it is loaded into."""


def rng_state() -> dict[str, Any]:
    """The state of every global random number generator (Python, NumPy, torch CPU and CUDA)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())   # a checkpoint may have been mapped to a GPU
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The ``torch.Generator``s a DataLoader shuffles with (its own and its sampler's), once each.
    A loader without one draws from torch's global generator, which :func:`rng_state` covers."""
    found: list[torch.Generator] = []
    for owner in (loader, getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format tag) to ``path`` atomically: a crash mid-write leaves the
    previous checkpoint intact, never a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"format": FORMAT, **state}, partial)
    os.replace(partial, path)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors onto ``map_location``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a checkpoint file at {path}, found none")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise CheckpointMismatch(f"expected a dlkit.train checkpoint at {path}, but it could not "
                                 f"be read: {type(error).__name__}: {error}") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointMismatch(f"expected a checkpoint in format {FORMAT!r} at {path}, "
                                 f"found {found!r}")
    return state


def check_model_state(saved: dict[str, torch.Tensor], model: torch.nn.Module,
                      saved_class: str) -> None:
    """Raise :class:`CheckpointMismatch` naming every missing, unexpected or reshaped tensor
    when a checkpoint's weights do not fit ``model``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    reshaped = [f"{k}: checkpoint {tuple(saved[k].shape)}, model {tuple(expected[k].shape)}"
                for k in expected if k in saved and saved[k].shape != expected[k].shape]
    if not (missing or unexpected or reshaped):
        return
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {_few(missing)}")
    if unexpected:
        problems.append(f"not in the model: {_few(unexpected)}")
    if reshaped:
        problems.append(f"shapes differ: {_few(reshaped)}")
    raise CheckpointMismatch(f"expected a checkpoint of this model ({type(model).__name__}), found "
                             f"one saved from a {saved_class}: " + "; ".join(problems))


def _few(items: list[str], shown: int = 5) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
