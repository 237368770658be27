"""Download loaders, offline: tiny files in the real formats, a local HTTP server as mirror.

Nothing here touches the internet: mirrors are ``http://127.0.0.1:<port>/`` served from a
temporary folder, a closed local port (offline), or ``file://`` URLs.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import pickle
import socket
import struct
import tarfile
import threading
import warnings
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import dlkit.data.cifar as cifar_module
import dlkit.data.mnist as mnist_module
from dlkit.data import (
    ChecksumMismatch,
    DatasetUnavailable,
    RemoteFile,
    dataset_dir,
    fetch,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    read_cifar10,
    read_idx,
    read_idx_pair,
)

# -- writers of the original formats -----------------------------------------------------------

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: 00 00 <dtype> <ndim>, big-endian dims, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_mnist_split(
    folder: Path, prefix: str, n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_gz(folder / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(images))
    write_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(labels))
    return images, labels


def mnist_files(folder: Path, n_train: int = 5, n_test: int = 3):
    """Tiny train and test IDX files in ``folder``, and a checksum table for them."""
    train = write_mnist_split(folder, "train", n_train, seed=0)
    test = write_mnist_split(folder, "t10k", n_test, seed=1)
    return train, test, mnist_table(folder)


def mnist_table(folder: Path) -> dict[str, tuple[RemoteFile, RemoteFile]]:
    """The loader's checksum table, pointing at the tiny files in ``folder``."""
    table = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        names = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
        table[split] = tuple(RemoteFile(name, sha256(folder / name)) for name in names)
    return table


def cifar_batch(n: int, seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    batch = {
        b"batch_label": b"tiny",
        b"labels": labels,
        b"data": images.reshape(n, -1),
        b"filenames": [],
    }
    return batch, images, np.array(labels)


CIFAR_NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


def write_cifar_archive(path: Path, batches: dict[str, object], meta: object | None = None) -> Path:
    members = dict(batches)
    members["batches.meta"] = (
        {b"label_names": CIFAR_NAMES, b"num_vis": 3072} if meta is None else meta
    )
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            data = content if isinstance(content, bytes) else pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def tiny_cifar(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Five training batches of 2 images and a test batch of 3, in the original layout."""
    batches, train_x, train_y = {}, [], []
    for i in range(1, 6):
        batches[f"data_batch_{i}"], x, y = cifar_batch(2, seed=i)
        train_x.append(x)
        train_y.append(y)
    batches["test_batch"], test_x, test_y = cifar_batch(3, seed=99)
    write_cifar_archive(path, batches)
    return np.concatenate(train_x), np.concatenate(train_y), test_x, test_y


# -- a local mirror ----------------------------------------------------------------------------


class Mirror:
    """An HTTP server on 127.0.0.1 serving ``folder``, remembering the paths asked for."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep test output quiet
                return None

        handler = functools.partial(Handler, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    mirror = Mirror(folder)
    yield folder, mirror
    mirror.close()


def closed_port_url() -> str:
    """A local URL where nothing listens: connecting is refused, as when offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# -- IDX parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28),
        np.array([1, -2, 70000], dtype=np.int32),
        np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
    ],
)
def test_read_idx_parses_big_endian_files(tmp_path, array):
    gz = write_gz(tmp_path / "a.idx.gz", idx_bytes(array))
    raw = tmp_path / "a.idx"
    raw.write_bytes(idx_bytes(array))
    for path in (gz, raw):
        parsed = read_idx(path)
        assert parsed.shape == array.shape and parsed.dtype == array.dtype
        np.testing.assert_array_equal(parsed, array)
        assert parsed.dtype.isnative


def test_read_idx_matches_the_magic_numbers_of_mnist(tmp_path):
    images, labels = write_mnist_split(tmp_path, "train", 5)
    assert (tmp_path / "train-images-idx3-ubyte.gz").exists()
    header = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())[:16]
    assert struct.unpack(">IIII", header) == (2051, 5, 28, 28)
    X, y = read_idx_pair(
        tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"
    )
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


def test_read_idx_reports_corrupt_files(tmp_path):
    good = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    cases = {
        "truncated": (
            good[:-10],
            r"truncated: shape \(5, 28, 28\) of uint8 needs 3920 data bytes, found 3910",
        ),
        "trailing": (good + b"xx", "has trailing bytes"),
        "magic": (b"\x08\x03" + good[2:], "expected IDX magic 00 00"),
        "dtype": (b"\x00\x00\x42" + good[3:], "dtype code"),
        "header": (good[:9], "truncated header"),
        "tiny": (b"\x00", "at least 4 bytes"),
    }
    for name, (payload, message) in cases.items():
        path = write_gz(tmp_path / f"{name}.gz", payload)
        with pytest.raises(ValueError, match=message):
            read_idx(path)
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_bytes(b"this is not gzip data at all")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_idx(not_gzip)
    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(good)[:-30])
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_idx(cut_gzip)


def test_read_idx_pair_checks_that_files_belong_together(tmp_path):
    write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    write_gz(tmp_path / "l.gz", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="got 3 labels for 4 images"):
        read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz")
    write_gz(tmp_path / "l.gz", idx_bytes(np.full(4, 12, np.uint8)))
    with pytest.raises(ValueError, match="labels 0..9, got a label 12"):
        read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz")
    with pytest.raises(ValueError, match=r"uint8 images \(N, H, W\), got uint8 \(4,\)"):
        read_idx_pair(tmp_path / "l.gz", tmp_path / "l.gz")


# -- cache folder ------------------------------------------------------------------------------


def test_dataset_dir_prefers_root_then_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DLKIT_DATA", raising=False)
    assert dataset_dir("mnist") == tmp_path / "home" / ".cache" / "dlkit" / "datasets" / "mnist"
    monkeypatch.setenv("DLKIT_DATA", str(tmp_path / "env"))
    assert dataset_dir("mnist") == tmp_path / "env" / "mnist"
    assert dataset_dir("mnist", root=tmp_path / "root") == tmp_path / "root" / "mnist"


# -- MNIST download path -----------------------------------------------------------------------


def test_load_mnist_downloads_verifies_caches_and_parses(served, tmp_path, monkeypatch):
    folder, mirror = served
    (images, labels), _, table = mnist_files(folder)
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    cache = tmp_path / "cache"
    ds = load_mnist(root=cache, split="train", mirrors=[mirror.url])
    assert ds.X.shape == (5, 784) and ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_allclose(ds.X, images.reshape(5, -1) / 255.0)
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.classes == [str(d) for d in range(10)] and ds.name == "mnist"
    assert sorted(mirror.requests) == ["/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz"]
    cached = sorted(p.name for p in (cache / "mnist").iterdir())
    assert cached == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # no .part left
    # second time from the cache: no request, even with a dead mirror and download=False
    again = load_mnist(
        root=cache, split="train", download=False, mirrors=[closed_port_url()], images=True
    )
    assert again.X.shape == (5, 1, 28, 28) and len(mirror.requests) == 2


def test_fashion_mnist_test_split_falls_back_to_the_next_mirror(served, tmp_path, monkeypatch):
    folder, mirror = served
    _, (images, labels), table = mnist_files(folder, n_test=4)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_FILES", table)
    ds = load_fashion_mnist(root=tmp_path, split="test", mirrors=[closed_port_url(), mirror.url])
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and len(ds) == 4


def test_file_urls_work_as_mirrors(tmp_path, monkeypatch):
    folder = tmp_path / "files"
    folder.mkdir()
    (images, _), _, table = mnist_files(folder, n_train=3)
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    ds = load_mnist(root=tmp_path / "cache", mirrors=[folder.as_uri()])
    np.testing.assert_allclose(ds.X.reshape(3, 28, 28) * 255, images, atol=1e-4)


def test_corrupt_cached_file_is_deleted_and_downloaded_again(served, tmp_path, monkeypatch):
    folder, mirror = served
    _, _, table = mnist_files(folder)
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    cached = tmp_path / "mnist"
    cached.mkdir()
    (cached / "train-images-idx3-ubyte.gz").write_bytes(b"half a download")
    (cached / "train-labels-idx1-ubyte.gz").write_bytes(
        (folder / "train-labels-idx1-ubyte.gz").read_bytes()
    )
    ds = load_mnist(root=tmp_path, mirrors=[mirror.url])
    assert len(ds) == 5
    assert mirror.requests == ["/train-images-idx3-ubyte.gz"]  # only the bad file again
    assert sha256(cached / "train-images-idx3-ubyte.gz") == sha256(
        folder / "train-images-idx3-ubyte.gz"
    )


def test_checksum_mismatch_after_download_again_is_a_clear_error(served, tmp_path, monkeypatch):
    folder, mirror = served
    _, _, table = mnist_files(folder)
    wrong = "0" * 64
    table["train"] = (RemoteFile(table["train"][0].filename, wrong), table["train"][1])
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    cached = tmp_path / "mnist"
    cached.mkdir()
    (cached / "train-images-idx3-ubyte.gz").write_bytes(b"corrupt")
    with pytest.raises(ChecksumMismatch) as info:
        load_mnist(root=tmp_path, mirrors=[mirror.url])
    message = str(info.value)
    assert "failed verification" in message and wrong in message
    assert sha256(folder / "train-images-idx3-ubyte.gz") in message  # what was found
    assert mirror.requests == ["/train-images-idx3-ubyte.gz"]  # downloaded again exactly once
    assert not (cached / "train-images-idx3-ubyte.gz").exists()  # no corrupt file kept
    assert [p.name for p in cached.iterdir()] == []  # no temporary file either
    assert isinstance(info.value, DatasetUnavailable)


@pytest.mark.parametrize(
    "load, alternative, name",
    [
        (load_mnist, "load_digits()", "mnist"),
        (load_fashion_mnist, "load_digits()", "fashion_mnist"),
        (load_cifar10, "make_shapes()", "cifar10"),
    ],
)
def test_offline_raises_dataset_unavailable_naming_the_offline_dataset(
    tmp_path, load, alternative, name
):
    with pytest.raises(DatasetUnavailable) as info:
        load(root=tmp_path, mirrors=[closed_port_url()])
    message = str(info.value)
    assert alternative in message
    assert str(tmp_path / name) in message  # where the files can be placed by hand
    assert "offline" in message
    assert not any((tmp_path / name).iterdir())  # nothing half-written left


def test_corrupt_cached_file_is_never_used_without_download(tmp_path, monkeypatch):
    folder = tmp_path / "files"
    folder.mkdir()
    _, _, table = mnist_files(folder)
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    cached = tmp_path / "mnist"
    cached.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (cached / name).write_bytes((folder / name).read_bytes())
    (cached / "train-labels-idx1-ubyte.gz").write_bytes(b"flipped bits")
    with pytest.raises(DatasetUnavailable, match="no verified train-labels-idx1-ubyte.gz"):
        load_mnist(root=tmp_path, download=False)
    assert not (cached / "train-labels-idx1-ubyte.gz").exists()


class TruncatingHandler(BaseHTTPRequestHandler):
    """Promises 10000 bytes, sends 100, hangs up: a download cut off half way."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", "10000")
        self.end_headers()
        self.wfile.write(b"x" * 100)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        return None


def test_interrupted_download_leaves_no_file_and_tries_the_next_mirror(served, tmp_path):
    folder, good = served
    (folder / "blob.bin").write_bytes(b"the real content")
    remote = RemoteFile("blob.bin", sha256(folder / "blob.bin"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), TruncatingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cutting = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with pytest.raises(DatasetUnavailable, match="could not download blob.bin"):
            fetch("blobs", [remote], [cutting], root=tmp_path)
        assert list((tmp_path / "blobs").iterdir()) == []  # neither a half file nor a .part
        paths = fetch("blobs", [remote], [cutting, good.url], root=tmp_path)
        assert paths["blob.bin"].read_bytes() == b"the real content"
    finally:
        server.shutdown()
        server.server_close()


def test_missing_files_without_download_raise_with_advice(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"download=False.*load_digits\(\)"):
        load_mnist(root=tmp_path, download=False)


def test_wrong_split_name_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"split to be one of \['train', 'test'\], got 'val'"):
        load_mnist(root=tmp_path, split="val", download=False)
    with pytest.raises(ValueError, match=r"split to be one of \['train', 'test'\], got 'valid'"):
        load_cifar10(root=tmp_path, split="valid", download=False)


def test_fetch_needs_a_mirror(tmp_path):
    with pytest.raises(ValueError, match="at least one mirror"):
        fetch("x", [RemoteFile("a", "0" * 64)], [], root=tmp_path)


# -- CIFAR-10 ----------------------------------------------------------------------------------


def test_read_cifar10_parses_the_pickled_batches(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    train_x, train_y, test_x, test_y = tiny_cifar(path)
    X, y, classes = read_cifar10(path, "train")
    assert X.shape == (10, 3, 32, 32) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, train_x)  # rows are 1024 red, 1024 green, 1024 blue
    np.testing.assert_array_equal(y, train_y)
    assert classes[0] == "airplane" and classes[9] == "truck"
    X, y, _ = read_cifar10(path, "test")
    np.testing.assert_array_equal(X, test_x)
    np.testing.assert_array_equal(y, test_y)


def test_load_cifar10_downloads_and_scales(served, tmp_path, monkeypatch):
    folder, mirror = served
    archive = folder / "cifar-10-python.tar.gz"
    train_x, train_y, _, _ = tiny_cifar(archive)
    monkeypatch.setattr(cifar_module, "CIFAR10_FILE", RemoteFile(archive.name, sha256(archive)))
    ds = load_cifar10(root=tmp_path, split="train", mirrors=[mirror.url])
    assert ds.X.shape == (10, 3, 32, 32) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X, train_x / 255.0, atol=1e-7)
    np.testing.assert_array_equal(ds.y, train_y)
    assert ds.name == "cifar10" and len(ds.classes) == 10
    assert load_cifar10(root=tmp_path, split="test", download=False).X.shape == (3, 3, 32, 32)
    assert mirror.requests == ["/cifar-10-python.tar.gz"]


def test_read_cifar10_reads_numpy1_pickles_as_in_the_original_files(tmp_path):
    # the original batches were pickled by Python 2 with numpy 1: numpy.core.multiarray
    batch, images, labels = cifar_batch(3, seed=4)
    payload = pickle.dumps(batch, protocol=2)
    assert b"numpy._core.multiarray" in payload
    old_style = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = write_cifar_archive(tmp_path / "old.tar.gz", {"test_batch": old_style})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DeprecationWarning from numpy.core either
        X, y, _ = read_cifar10(path, "test")
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_read_cifar10_reports_corrupt_archives(tmp_path):
    good = tmp_path / "good.tar.gz"
    tiny_cifar(good)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ValueError, match="not a readable tar.gz archive"):
        read_cifar10(truncated)
    missing = write_cifar_archive(
        tmp_path / "missing.tar.gz", {"data_batch_1": cifar_batch(2, 0)[0]}
    )
    with pytest.raises(
        ValueError,
        match=r"missing \['data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5'\]",
    ):
        read_cifar10(missing)
    bad_shape = {"test_batch": {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}}
    with pytest.raises(ValueError, match=r"uint8 \(N, 3072\), got uint8 \(2, 100\)"):
        read_cifar10(write_cifar_archive(tmp_path / "shape.tar.gz", bad_shape), "test")
    bad_labels = {"test_batch": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}}
    with pytest.raises(ValueError, match=r"expected 2 labels, got shape \(1,\)"):
        read_cifar10(write_cifar_archive(tmp_path / "labels.tar.gz", bad_labels), "test")
    no_key = {"test_batch": {b"labels": [0]}}
    with pytest.raises(ValueError, match="expected key b'data'"):
        read_cifar10(write_cifar_archive(tmp_path / "nokey.tar.gz", no_key), "test")
    garbage = {"test_batch": b"\x80\x02not a pickle"}
    with pytest.raises(ValueError, match="not a valid CIFAR pickle"):
        read_cifar10(write_cifar_archive(tmp_path / "garbage.tar.gz", garbage), "test")


def test_read_cifar10_refuses_pickles_that_would_run_code(tmp_path, capsys):
    hostile = {"test_batch": {b"data": Exploit(), b"labels": []}}
    with pytest.raises(ValueError, match=r"may not load (__builtin__|builtins)\.print"):
        read_cifar10(write_cifar_archive(tmp_path / "hostile.tar.gz", hostile), "test")
    assert "this must never run" not in capsys.readouterr().out
