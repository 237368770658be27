"""MNIST and Fashion-MNIST from their original IDX files (chapters 02 and 07).

IDX format (big-endian): two zero bytes, a dtype code (0x08 = uint8, ...), the number of
dimensions, then one uint32 per dimension and the data in C order. MNIST ships four gzip'd
IDX files: training and test images (magic 0x00000803, 3-D) and labels (0x00000801, 1-D).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlkit.data._checks import check_choice
from dlkit.data.dataset import ArrayDataset
from dlkit.data.download import RemoteFile, fetch

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# SHA-256 of the original files as published (the same bytes on every mirror below).
MNIST_FILES: dict[str, tuple[RemoteFile, RemoteFile]] = {
    "train": (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
    ),
    "test": (
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
}
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

FASHION_MNIST_FILES: dict[str, tuple[RemoteFile, RemoteFile]] = {
    "train": (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
    ),
    "test": (
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
}
FASHION_MNIST_MIRRORS: list[str] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzip'd if its name ends in ``.gz``) into a native-endian array
    (chapter 02). Corrupt or truncated files raise ``ValueError`` saying what is wrong."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise ValueError(
            f"{path.name} is not a readable gzip file ({error}); delete it and retry"
        ) from None
    if len(raw) < 4:
        raise ValueError(f"{path.name}: expected an IDX header of at least 4 bytes, got {len(raw)}")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(
            f"{path.name}: expected IDX magic 00 00 <dtype code> <ndim> with a dtype code in "
            f"{[hex(c) for c in IDX_DTYPES]}, got {raw[:4].hex(' ')}"
        )
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path.name}: truncated header, expected {header} bytes, got {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{path.name} {what}: shape {shape} of {dtype.name} needs {expected} data bytes, "
            f"found {found}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) uint8 and labels (N,) uint8 from an MNIST-style pair of IDX files,
    checked to belong together (chapter 02)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        found = f"{images.dtype} {images.shape}"
        raise ValueError(f"{Path(images_path).name}: expected uint8 images (N, H, W), got {found}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        found = f"{labels.dtype} {labels.shape}"
        raise ValueError(f"{Path(labels_path).name}: expected uint8 labels (N,), got {found}")
    if len(images) != len(labels):
        raise ValueError(
            f"expected as many labels as images, got {len(labels)} labels for {len(images)} images"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"expected labels 0..9, got a label {labels.max()}")
    return images, labels


def load_mnist(
    root: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    images: bool = False,
    mirrors: Sequence[str] | None = None,
) -> ArrayDataset:
    """MNIST handwritten digits, 60000 train / 10000 test (chapter 02).

    ``X`` float32 in [0, 1], shape (N, 784), or (N, 1, 28, 28) with ``images=True``; ``y``
    int64. Files are cached (see :func:`dlkit.data.download.dataset_dir`) and verified by
    their published SHA-256. Offline, use :func:`load_digits`.
    """
    return _load_idx_dataset(
        "mnist",
        MNIST_FILES,
        mirrors or MNIST_MIRRORS,
        [str(d) for d in range(10)],
        root,
        split,
        download,
        images,
    )


def load_fashion_mnist(
    root: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    images: bool = False,
    mirrors: Sequence[str] | None = None,
) -> ArrayDataset:
    """Fashion-MNIST clothing images, 60000 train / 10000 test, same format as MNIST
    (chapter 06). Offline, use :func:`load_digits`."""
    return _load_idx_dataset(
        "fashion_mnist",
        FASHION_MNIST_FILES,
        mirrors or FASHION_MNIST_MIRRORS,
        FASHION_MNIST_CLASSES,
        root,
        split,
        download,
        images,
    )


def _load_idx_dataset(
    name: str,
    table: dict[str, tuple[RemoteFile, RemoteFile]],
    mirrors: Sequence[str],
    classes: list[str],
    root: str | os.PathLike | None,
    split: str,
    download: bool,
    images: bool,
) -> ArrayDataset:
    split = check_choice("split", split, tuple(table))
    image_file, label_file = table[split]
    paths = fetch(name, table[split], mirrors, root, download, offline_alternative="load_digits()")
    pixels, labels = read_idx_pair(paths[image_file.filename], paths[label_file.filename])
    X = pixels.astype(np.float32) / 255.0
    X = X[:, None] if images else X.reshape(len(X), -1)
    meta = {"split": split, "image_shape": (1, *pixels.shape[1:])}
    return ArrayDataset(X, labels.astype(np.int64), name, list(classes), meta)
