"""The full-size path of the lessons that train on Fashion-MNIST (03 and 04), run end to end.

There is no internet in CI, so the real files cannot be fetched here. Instead the lesson runs
without quick mode against a cache of synthetic, learnable 28x28 images written in the real IDX
format (a class-specific bright stripe plus noise), with the loader's checksum table pointed at
them by one injected first cell. What this proves: `course_images` picks the cached dataset, and
every cell of the lesson works at 784 inputs and passes its asserts. What it cannot prove: the
accuracy the lessons quote for the real Fashion-MNIST.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from test_lesson_runs import kernel_name, stderr_outputs

ROOT = Path(__file__).resolve().parents[1]
FULL_SIZE_LESSONS = ["03-backpropagation.ipynb", "04-optimizers.ipynb"]


def write_idx(folder: Path, name: str, array: np.ndarray) -> tuple[str, str]:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    (folder / name).write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return name, hashlib.sha256((folder / name).read_bytes()).hexdigest()


def synthetic_fashion_mnist(root: Path) -> dict[str, tuple[tuple[str, str], tuple[str, str]]]:
    folder = root / "fashion_mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    table = {}
    for split, prefix, n in (("train", "train", 2000), ("test", "t10k", 500)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for k in range(10):
            images[labels == k, 2 + 2 * k:4 + 2 * k, 4:24] += 150
        table[split] = (write_idx(folder, f"{prefix}-images-idx3-ubyte.gz", images.clip(0, 255)),
                        write_idx(folder, f"{prefix}-labels-idx1-ubyte.gz", labels))
    return table


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL_SIZE_LESSONS)
def test_full_size_lesson_trains_on_the_cached_fashion_mnist(tmp_path, name):
    table = synthetic_fashion_mnist(tmp_path)
    lesson = nbformat.read(ROOT / "course" / name, as_version=4)
    lesson.cells.insert(0, nbformat.v4.new_code_cell(
        "import dlkit.data.mnist\nfrom dlkit.data import RemoteFile\n"
        f"dlkit.data.mnist.FASHION_MNIST_FILES = {{split: tuple(RemoteFile(*f) for f in files) "
        f"for split, files in {table!r}.items()}}"))
    env = {key: value for key, value in os.environ.items() if key != "DLKIT_QUICK"}
    env["DLKIT_DATA"] = str(tmp_path)
    NotebookClient(lesson, kernel_name=kernel_name(), timeout=900,
                   resources={"metadata": {"path": str(ROOT / "course")}}).execute(env=env)
    printed = "".join(o.get("text", "") for cell in lesson.cells for o in cell.get("outputs", []))
    assert re.search(r"Fashion-MNIST: \d+ training, \d+ validation, 500 test images of 784 pixels", printed)
    assert "not available" not in printed and "stand in" not in printed
    assert not stderr_outputs(lesson)
