"""course_images: the chapters' choice between Fashion-MNIST / MNIST and the offline digits.

A tiny cache in the real IDX format stands in for the downloaded files (their checksums are
patched into the loader's table, as in test_data_download.py); mirrors are a closed local port,
so nothing here touches the internet.
"""
from __future__ import annotations

import gzip
import hashlib
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

import dlkit.data.mnist as mnist_module
from dlkit.data import RemoteFile, course_images


def write_idx_gz(path: Path, array: np.ndarray) -> RemoteFile:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return RemoteFile(path.name, hashlib.sha256(path.read_bytes()).hexdigest())


def fake_cache(root: Path, name: str, n_train: int = 40, n_test: int = 20) -> dict:
    """IDX files of random 28x28 images with balanced labels in root/name; their checksum table."""
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    table = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        table[split] = (write_idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", images),
                        write_idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", labels))
    return table


@pytest.fixture
def closed_port_mirror():
    with socket.socket() as s:                     # bind, then close: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [f"http://127.0.0.1:{port}/"]


def test_quick_mode_uses_the_digits_and_says_so(capsys, monkeypatch):
    monkeypatch.setenv("DLKIT_QUICK", "1")
    train, val, test = course_images("fashion_mnist", val=0.1, test=0.2, seed=0)
    assert {d.meta["source"] for d in (train, val, test)} == {"digits"}
    assert train.X.shape[1] == 64 and len(train) + len(val) + len(test) == 1797
    assert "quick mode" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "table_attribute"), [("fashion_mnist", "FASHION_MNIST_FILES"),
                                                       ("mnist", "MNIST_FILES")])
def test_full_size_uses_the_cached_dataset(tmp_path, monkeypatch, capsys, closed_port_mirror, name, table_attribute):
    monkeypatch.setattr(mnist_module, table_attribute, fake_cache(tmp_path, name))
    train, val, test = course_images(name, val=0.25, seed=3, quick=False, root=tmp_path,
                                     mirrors=closed_port_mirror)
    assert {d.meta["source"] for d in (train, val, test)} == {name}
    assert (len(train), len(val), len(test)) == (30, 10, 20)      # the official test split, val from train
    assert train.X.shape == (30, 784) and train.X.dtype == np.float32 and 0 <= train.X.min() <= train.X.max() <= 1
    assert np.bincount(val.y, minlength=10).tolist() == [1] * 10   # stratified
    again = course_images(name, val=0.25, seed=3, quick=False, root=tmp_path, mirrors=closed_port_mirror)
    np.testing.assert_array_equal(again[1].X, val.X)
    assert "digits" not in capsys.readouterr().out


def test_without_the_files_and_offline_it_falls_back_to_the_digits_with_a_note(tmp_path, capsys, closed_port_mirror):
    train, val, test = course_images("fashion_mnist", quick=False, root=tmp_path, mirrors=closed_port_mirror)
    assert train.meta["source"] == "digits" and train.X.shape[1] == 64
    note = capsys.readouterr().out
    assert "Fashion-MNIST is not available" in note and str(tmp_path / "fashion_mnist") in note


def test_a_corrupt_cache_falls_back_instead_of_training_on_bad_bytes(tmp_path, monkeypatch, capsys):
    table = fake_cache(tmp_path, "fashion_mnist")
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_FILES", table)
    (tmp_path / "fashion_mnist" / table["train"][0].filename).write_bytes(b"not what was verified")
    train, _, _ = course_images("fashion_mnist", quick=False, root=tmp_path, download=False)
    assert train.meta["source"] == "digits"
    assert "not available" in capsys.readouterr().out


def test_an_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected full_size to be one of \['fashion_mnist', 'mnist'\], got 'cifar'"):
        course_images("cifar", quick=False)
