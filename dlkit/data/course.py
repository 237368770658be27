"""The image data a chapter trains its real model on (chapters 03 and 04).

At full size a chapter trains on Fashion-MNIST (or MNIST), as d2l does from its chapter 4. In
quick mode (``DLKIT_QUICK=1``, CI and smoke runs), and on a machine that has neither the files
in its cache nor a connection to download them, it falls back to the 8x8 digits that ship with
scikit-learn, and prints one line saying so, so that a learner knows which numbers to expect.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dlkit.data._checks import check_choice
from dlkit.data.dataset import ArrayDataset
from dlkit.data.digits import load_digits
from dlkit.data.download import DatasetUnavailable, dataset_dir
from dlkit.data.mnist import load_fashion_mnist, load_mnist
from dlkit.runtime import quick as quick_mode

FULL_SIZE = {"fashion_mnist": ("Fashion-MNIST", load_fashion_mnist), "mnist": ("MNIST", load_mnist)}


def course_images(
    full_size: str = "fashion_mnist",
    val: float = 0.1,
    test: float = 0.2,
    seed: int = 0,
    *,
    quick: bool | None = None,
    root: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
    """Train, validation and test sets of flat images in [0, 1], and a printed note saying
    which data they are (chapters 03 and 04).

    ``full_size`` ("fashion_mnist" or "mnist") is used unless ``quick`` (default:
    :func:`dlkit.quick`) or the dataset is unavailable (not cached and ``download`` fails or is
    off); then the 8x8 digits are used. The full-size test set is the official one and the
    validation set is the fraction ``val`` of the official training set; the digits are split
    ``val`` / ``test`` / rest. Splits are stratified by class and repeat for equal ``seed``.
    ``meta["source"]`` of each set names the data ("fashion_mnist", "mnist" or "digits").
    """
    full_size = check_choice("full_size", full_size, tuple(FULL_SIZE))
    title, load = FULL_SIZE[full_size]
    if quick_mode() if quick is None else quick:
        print(f"quick mode: the 8x8 digits stand in for {title} (run without DLKIT_QUICK for the full size)")
        return _digits(val, test, seed)
    try:
        pool = load(root=root, split="train", download=download, mirrors=mirrors)
        test_set = load(root=root, split="test", download=download, mirrors=mirrors)
    except DatasetUnavailable as error:
        reason = str(error).splitlines()[0].rstrip(": ")
        print(f"{title} is not available here ({reason}); using the 8x8 digits instead. To train on "
              f"{title}, connect to the internet once or put its files in {dataset_dir(full_size, root)}")
        return _digits(val, test, seed)
    for dataset in (pool, test_set):
        dataset.meta["source"] = full_size
    train_set, val_set, _ = pool.split(val=val, test=0.0, seed=seed)
    print(f"{title}: {len(train_set)} training, {len(val_set)} validation, {len(test_set)} test "
          f"images of {pool.X.shape[1]} pixels")
    return train_set, val_set, test_set


def _digits(val: float, test: float, seed: int) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
    digits = load_digits()
    digits.meta["source"] = "digits"
    return digits.split(val=val, test=test, seed=seed)
