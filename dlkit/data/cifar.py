"""CIFAR-10 from its original ``cifar-10-python.tar.gz`` (chapter 07).

The archive holds ``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5`` (training),
``test_batch`` and ``batches.meta``: Python pickles of dicts with bytes keys. A batch has
``b"data"``, a uint8 array (N, 3072) of 32x32 images stored as 1024 red, 1024 green, then
1024 blue values, and ``b"labels"``, N ints in 0..9; the meta has ``b"label_names"``.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlkit.data._checks import check_choice
from dlkit.data.dataset import ArrayDataset
from dlkit.data.download import RemoteFile, fetch

CIFAR10_FILE = RemoteFile(
    "cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
)
CIFAR10_MIRRORS: list[str] = ["https://www.cs.toronto.edu/~kriz/"]
CIFAR10_BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
IMAGE_BYTES = 3 * 32 * 32

# A pickle can run any code; these are the only things a CIFAR batch needs to rebuild its
# numpy array (numpy 1 and numpy 2 spellings) and its bytes (protocol-2 pickles written by
# Python 3 spell bytes as _codecs.encode), so nothing else is allowed to load.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"a CIFAR batch may not load {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")  # numpy 2 renamed it
        return super().find_class(module, name)


def read_cifar10(
    path: str | os.PathLike, split: str = "train"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images (N, 3, 32, 32) uint8, labels (N,) int64 and class names of one split, read
    from the original archive (chapter 07). Corrupt archives raise ``ValueError``."""
    split = check_choice("split", split, tuple(CIFAR10_BATCHES))
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as archive:
            wanted = [*CIFAR10_BATCHES[split], "batches.meta"]
            loaded = {}
            for member in archive:  # one pass, in archive order: gzip cannot seek back cheaply
                name = Path(member.name).name
                f = archive.extractfile(member) if name in wanted else None
                if f is not None:
                    loaded[name] = _unpickle(f.read(), f"{path.name}: {member.name}")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"{path.name} is not a readable tar.gz archive ({error}); delete it and retry"
        ) from None

    missing = [name for name in wanted if name not in loaded]
    if missing:
        raise ValueError(f"{path.name}: expected members {wanted}, missing {missing}")
    classes = [
        c.decode() if isinstance(c, bytes) else str(c)
        for c in _get(loaded["batches.meta"], "label_names", path.name)
    ]
    if len(classes) != 10:
        raise ValueError(
            f"{path.name}: expected 10 label names in batches.meta, got {len(classes)}"
        )
    parts = [_batch_arrays(loaded[name], name) for name in CIFAR10_BATCHES[split]]
    X = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)
    y = np.concatenate([p[1] for p in parts])
    return X, y, classes


def _unpickle(data: bytes, where: str) -> dict:
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{where} is not a valid CIFAR pickle ({error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{where}: expected a pickled dict, got {type(batch).__name__}")
    return batch


def _get(batch: dict, key: str, where: str) -> Any:
    # the original pickles were written by Python 2, so keys come back as bytes
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise ValueError(
        f"{where}: expected key {key.encode()!r}, found keys {sorted(map(repr, batch))}"
    )


def _batch_arrays(batch: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(_get(batch, "data", name))
    labels = np.asarray(_get(batch, "labels", name), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise ValueError(
            f"{name}: expected data of uint8 (N, {IMAGE_BYTES}), got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),):
        raise ValueError(f"{name}: expected {len(data)} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{name}: expected labels 0..9, got range {labels.min()}..{labels.max()}")
    return data, labels


def load_cifar10(
    root: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> ArrayDataset:
    """CIFAR-10 colour images, 50000 train / 10000 test (chapter 07).

    ``X`` float32 (N, 3, 32, 32) in [0, 1], ``y`` int64, classes from ``batches.meta``. The
    archive (163 MiB) is cached and verified by its published SHA-256. Offline, use
    :func:`make_shapes`.
    """
    split = check_choice("split", split, tuple(CIFAR10_BATCHES))
    paths = fetch(
        "cifar10",
        [CIFAR10_FILE],
        mirrors or CIFAR10_MIRRORS,
        root,
        download,
        offline_alternative="make_shapes()",
    )
    pixels, y, classes = read_cifar10(paths[CIFAR10_FILE.filename], split)
    X = pixels.astype(np.float32) / 255.0
    return ArrayDataset(X, y, "cifar10", classes, {"split": split})
