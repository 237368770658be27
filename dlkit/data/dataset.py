"""``ArrayDataset``: the one object every dlkit loader returns (chapter 06).

A dataset is a pair of arrays ``X`` (features) and ``y`` (targets) with a name, optional class
names and a ``meta`` dict of extras (segmentation masks, boxes, a tokenizer, ...). It splits
itself into train/val/test, standardizes with training statistics, yields numpy mini-batches,
and turns into a torch ``TensorDataset`` or ``DataLoader`` when a chapter moves to torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlkit.data._checks import check_positive_int, check_seed
from dlkit.data._stratify import stratified_counts

Stats = tuple[np.ndarray, np.ndarray]


@dataclass
class ArrayDataset:
    """Features ``X``, targets ``y`` and what a learner needs to read them (chapter 06).

    ``meta`` holds extras; the keys named in ``per_sample`` are arrays with one row per sample
    (e.g. ``masks``), so subsets index them along with ``X`` and ``y``.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    name: str = "dataset"
    classes: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    per_sample: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.X, np.ndarray) or self.X.ndim == 0:
            raise TypeError(
                f"expected X to be a numpy array with a sample axis, got {self.X!r:.80}"
            )
        n = len(self.X)
        if self.y is not None:
            if not isinstance(self.y, np.ndarray):
                raise TypeError(
                    f"expected y to be a numpy array or None, got {type(self.y).__name__}"
                )
            if len(self.y) != n:
                raise ValueError(
                    f"expected y with {n} rows to match X {self.X.shape}, got {self.y.shape}"
                )
        self.per_sample = tuple(self.per_sample)
        for key in self.per_sample:
            if key not in self.meta:
                raise KeyError(
                    f"per_sample names meta[{key!r}], but meta has only {sorted(self.meta)}"
                )
            if len(self.meta[key]) != n:
                raise ValueError(
                    f"expected meta[{key!r}] to have one row per sample ({n}), "
                    f"got {len(self.meta[key])}"
                )
        if self.classes is not None:
            self.classes = [str(c) for c in self.classes]

    # -- basics ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """``(X[i], y[i])``; ``y`` part is None for a dataset without targets."""
        return self.X[i], (None if self.y is None else self.y[i])

    @property
    def is_classification(self) -> bool:
        """True when ``y`` holds one integer class label per sample."""
        return self.y is not None and self.y.ndim == 1 and np.issubdtype(self.y.dtype, np.integer)

    def __repr__(self) -> str:
        lines = [f"ArrayDataset {self.name!r}: {len(self)} samples"]
        lines.append(f"  X: shape {self.X.shape}, {self.X.dtype}")
        if self.y is None:
            lines.append("  y: none")
        else:
            lines.append(f"  y: shape {self.y.shape}, {self.y.dtype}")
        if self.classes is not None:
            shown = self.classes if len(self.classes) <= 12 else self.classes[:12] + ["..."]
            text = f"  classes ({len(self.classes)}): {shown}"
            if self.is_classification and len(self.classes) <= 12:
                counts = np.bincount(self.y, minlength=len(self.classes))  # type: ignore[arg-type]
                text += f", counts {counts.tolist()}"
            lines.append(text)
        for key, value in self.meta.items():
            if isinstance(value, np.ndarray):
                kind = f"array {value.shape} {value.dtype}"
            else:
                text = repr(value)
                kind = text if len(text) <= 72 else text[:69] + "..."
            tag = ", per sample" if key in self.per_sample else ""
            lines.append(f"  meta[{key!r}]: {kind}{tag}")
        return "\n".join(lines)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> ArrayDataset:
        """The samples at ``indices``, keeping classes and meta (per-sample meta indexed too)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"expected a 1-D list of sample indices, got shape {idx.shape}")
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(
                f"expected indices in [0, {len(self)}), got min {idx.min()}, max {idx.max()}"
            )
        meta = {k: (v[idx] if k in self.per_sample else v) for k, v in self.meta.items()}
        return ArrayDataset(
            X=self.X[idx],
            y=None if self.y is None else self.y[idx],
            name=self.name if name is None else name,
            classes=None if self.classes is None else list(self.classes),
            meta=meta,
            per_sample=self.per_sample,
        )

    # -- evaluation protocol (chapter 06) -------------------------------------------------------
    def split(
        self, val: float = 0.1, test: float = 0.1, seed: int = 0, stratify: bool = True
    ) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
        """Deterministic train/val/test split by fractions ``val`` and ``test`` (chapter 06).

        With ``stratify`` and integer class labels, every split keeps the class proportions:
        each class count is its exact share rounded down or up. Sizes are ``round(val * N)`` and
        ``round(test * N)``; the rest is training data.
        """
        for label, frac in (("val", val), ("test", test)):
            if not isinstance(frac, (int, float)) or not 0 <= frac < 1:
                raise ValueError(f"expected {label} to be a fraction in [0, 1), got {frac!r}")
        seed = check_seed(seed)
        n = len(self)
        n_val, n_test = round(val * n), round(test * n)
        for label, frac, count in (("val", val, n_val), ("test", test, n_test)):
            if frac > 0 and count == 0:
                raise ValueError(
                    f"{label}={frac} of {n} samples is 0 samples; use a larger fraction or 0"
                )
        if n - n_val - n_test < 1:
            raise ValueError(
                f"expected val + test < 1 to leave training data, got val={val}, test={test}"
            )
        sizes = (n - n_val - n_test, n_val, n_test)
        train_idx, val_idx, test_idx = self._split_indices(sizes, seed, stratify)
        return (
            self.subset(train_idx, f"{self.name} (train)"),
            self.subset(val_idx, f"{self.name} (val)"),
            self.subset(test_idx, f"{self.name} (test)"),
        )

    def _split_indices(
        self, sizes: tuple[int, int, int], seed: int, stratify: bool
    ) -> list[np.ndarray]:
        """Sorted sample indices of each split; with stratification each class is shuffled
        and dealt out by :func:`stratified_counts`."""
        rng = np.random.default_rng(seed)
        if not (stratify and self.is_classification):
            groups, counts = [rng.permutation(len(self))], np.array([sizes])
        else:
            labels = np.unique(self.y)  # type: ignore[arg-type]
            groups = [rng.permutation(np.flatnonzero(self.y == c)) for c in labels]
            counts = stratified_counts(np.array([len(g) for g in groups]), np.array(sizes))
        parts: list[list[np.ndarray]] = [[], [], []]
        for group, row in zip(groups, counts, strict=True):
            bounds = np.cumsum(row)[:-1]
            for part, chunk in zip(parts, np.split(group, bounds), strict=True):
                part.append(chunk)
        return [np.sort(np.concatenate(part)) for part in parts]

    def _stat_axes(self) -> tuple[int, ...]:
        """Axes to average over: per feature for (N, D), per channel for (N, C, H, W),
        per last-axis feature for (N, T, F), and everything for (N,)."""
        if self.X.ndim == 4:
            return (0, 2, 3)
        return tuple(range(max(self.X.ndim - 1, 1)))

    def standardize(self, stats: Stats | None = None) -> tuple[ArrayDataset, Stats]:
        """``(X - mean) / std`` and the ``(mean, std)`` used (chapter 06).

        Call it on the training set with ``stats=None``, then pass the returned stats to the
        validation and test sets: normalisation statistics must never come from test data.
        Features with zero spread keep std 1 so they stay 0 instead of becoming NaN.
        """
        if not np.issubdtype(self.X.dtype, np.floating):
            raise TypeError(
                f"expected float features to standardize, got X of dtype {self.X.dtype}"
            )
        if stats is None:
            axes = self._stat_axes()
            mean = self.X.mean(axis=axes, keepdims=True, dtype=np.float64)[0]
            std = self.X.std(axis=axes, keepdims=True, dtype=np.float64)[0]
            std = np.where(std > 0, std, 1.0)
            stats = (mean.astype(np.float32), std.astype(np.float32))
        else:
            mean, std = (np.asarray(s, dtype=np.float32) for s in stats)
            try:
                np.broadcast_shapes(mean.shape, std.shape, self.X.shape[1:])
            except ValueError:
                raise ValueError(
                    f"expected stats that broadcast to one sample of shape {self.X.shape[1:]}, "
                    f"got mean {mean.shape} and std {std.shape}"
                ) from None
            if np.any(std <= 0):
                raise ValueError(
                    "expected std > 0 everywhere in stats, got a zero or negative entry"
                )
            stats = (mean, std)
        X = ((self.X - stats[0]) / stats[1]).astype(np.float32)
        out = ArrayDataset(X, self.y, self.name, self.classes, dict(self.meta), self.per_sample)
        return out, stats

    # -- mini-batches ---------------------------------------------------------------------------
    def batches(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield numpy mini-batches ``(X_batch, y_batch)`` covering one epoch (chapter 04)."""
        batch_size = check_positive_int("batch_size", batch_size)
        seed = check_seed(seed)
        n = len(self)
        order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.X[idx], (None if self.y is None else self.y[idx])

    def to_torch(self, device: Any = None):
        """A ``torch.utils.data.TensorDataset`` (chapter 02).

        Float features become float32; integer features (token ids) stay int64 for embeddings.
        Integer targets (class labels, next tokens) become int64, float targets float32.
        """
        from torch.utils.data import TensorDataset

        tensors = [_as_tensor(self.X, device)]
        if self.y is not None:
            tensors.append(_as_tensor(self.y, device))
        return TensorDataset(*tensors)

    def loader(self, batch_size: int, shuffle: bool = True, seed: int = 0, device: Any = None,
               pin_memory: bool | None = None):
        """A torch ``DataLoader`` over :meth:`to_torch`, shuffled reproducibly by ``seed``
        (chapters 02 and 11).

        ``device`` is where the whole dataset lives: None keeps it on the CPU, and the training
        loop moves each batch with ``.to(device, non_blocking=True)``. ``pin_memory`` puts those
        CPU batches in page-locked memory, which a CUDA GPU copies from asynchronously, so the
        copy of the next batch overlaps the work on this one. None (the default) pins exactly
        when that helps: the data is on the CPU and ``dlkit.device()`` is a CUDA GPU.
        """
        import torch
        from torch.utils.data import DataLoader

        from dlkit.runtime import device as default_device

        batch_size = check_positive_int("batch_size", batch_size)
        data_device = torch.device("cpu" if device is None else device)
        pin = _pin_memory(pin_memory, data_device, default_device())
        generator = torch.Generator().manual_seed(check_seed(seed))
        return DataLoader(
            self.to_torch(device),
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            pin_memory=pin,
        )


def _pin_memory(pin_memory: Any, data_device: Any, target_device: Any) -> bool:
    """Whether a loader pins its batches: ``pin_memory`` (True, False or None for "when it
    helps") checked against where the data lives and where the batches go (chapter 11)."""
    if pin_memory is None:
        return data_device.type == "cpu" and target_device.type == "cuda"
    if not isinstance(pin_memory, bool):
        raise TypeError(f"expected pin_memory to be True, False or None, got {pin_memory!r}")
    if pin_memory and data_device.type != "cpu":
        raise ValueError(
            f"pin_memory=True pins CPU batches for a fast copy to the GPU, but device="
            f"{str(data_device)!r} already keeps the data there; drop pin_memory or device"
        )
    if pin_memory and target_device.type != "cuda":
        raise ValueError(
            f"pin_memory=True speeds up copies to a CUDA GPU, but the batches go to "
            f"{str(target_device)!r} (dlkit.device()); use pin_memory=None to pin only "
            f"where there is a GPU"
        )
    return pin_memory


def _as_tensor(array: np.ndarray, device: Any):
    """float -> float32, integer/bool -> int64, on ``device``."""
    import torch

    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32, copy=False)
    elif np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        array = array.astype(np.int64, copy=False)
    else:
        raise TypeError(f"expected numeric arrays to convert to torch, got dtype {array.dtype}")
    return torch.as_tensor(np.ascontiguousarray(array), device=device)
