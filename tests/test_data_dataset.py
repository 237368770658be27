"""ArrayDataset: indexing, repr, subsets, split, standardize, batches, torch conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlkit.data import ArrayDataset
from dlkit.data.dataset import _pin_memory


def labelled(n: int = 100, num_classes: int = 4, seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(3.0, 2.0, size=(n, 5)).astype(np.float32)
    y = (np.arange(n) % num_classes).astype(np.int64)
    meta = {"row_id": np.arange(n), "note": "shared"}
    classes = [f"c{k}" for k in range(num_classes)]
    return ArrayDataset(X, y, "toy", classes, meta, per_sample=("row_id",))


def test_len_and_getitem_return_x_and_y_rows():
    ds = labelled(10)
    assert len(ds) == 10
    x, y = ds[3]
    np.testing.assert_array_equal(x, ds.X[3])
    assert y == ds.y[3]
    x_only, none = ArrayDataset(ds.X)[2]
    np.testing.assert_array_equal(x_only, ds.X[2])
    assert none is None


def test_constructor_rejects_mismatched_rows_and_bad_meta():
    X = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"expected y with 5 rows.*got \(4,\)"):
        ArrayDataset(X, np.zeros(4, dtype=np.int64))
    with pytest.raises(KeyError, match="masks"):
        ArrayDataset(X, None, meta={}, per_sample=("masks",))
    with pytest.raises(ValueError, match=r"meta\['masks'\].*one row per sample \(5\), got 3"):
        ArrayDataset(X, None, meta={"masks": np.zeros(3)}, per_sample=("masks",))
    with pytest.raises(TypeError, match="numpy array"):
        ArrayDataset([[1.0, 2.0]])  # type: ignore[arg-type]


def test_repr_names_size_shapes_dtypes_and_classes():
    text = repr(labelled(12, 3))
    for part in (
        "'toy'",
        "12 samples",
        "(12, 5)",
        "float32",
        "(12,)",
        "int64",
        "'c0'",
        "[4, 4, 4]",
    ):
        assert part in text
    assert "row_id" in text and "per sample" in text


def test_subset_indexes_per_sample_meta_and_keeps_the_rest():
    ds = labelled(20)
    sub = ds.subset([7, 2, 9])
    np.testing.assert_array_equal(sub.X, ds.X[[7, 2, 9]])
    np.testing.assert_array_equal(sub.meta["row_id"], [7, 2, 9])
    assert sub.meta["note"] == "shared" and sub.classes == ds.classes and sub.name == ds.name
    with pytest.raises(IndexError, match=r"\[0, 20\)"):
        ds.subset([25])


@settings(max_examples=25, deadline=None)
@given(
    class_sizes=st.lists(st.integers(1, 80), min_size=2, max_size=8),
    val=st.sampled_from([0.0, 0.1, 0.2, 0.25]),
    test=st.sampled_from([0.1, 0.15, 0.3]),
    seed=st.integers(0, 1000),
)
def test_split_sizes_disjoint_cover_and_stratified(class_sizes, val, test, seed):
    n = sum(class_sizes)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(class_sizes)), class_sizes))
    X = np.arange(n, dtype=np.float32)[:, None]
    ds = ArrayDataset(X, y, meta={"row_id": np.arange(n)}, per_sample=("row_id",))
    assume(round(test * n) > 0 and (val == 0 or round(val * n) > 0))  # else an error, see below
    train, valid, held_out = ds.split(val=val, test=test, seed=seed)
    assert (len(valid), len(held_out)) == (round(val * n), round(test * n))
    assert len(train) + len(valid) + len(held_out) == n
    ids = [part.meta["row_id"] for part in (train, valid, held_out)]
    assert len(np.unique(np.concatenate(ids))) == n  # disjoint and covering
    for part, row_id in zip((train, valid, held_out), ids, strict=True):
        np.testing.assert_array_equal(part.X[:, 0], row_id)  # meta stays aligned with X
        np.testing.assert_array_equal(part.y, y[row_id])
        exact_share = np.array(class_sizes) * len(part) / n
        counts = np.bincount(part.y, minlength=len(class_sizes))
        # stratified: each class count is its exact share rounded down or up
        assert np.all(np.abs(counts - exact_share) < 1)


def test_split_is_deterministic_per_seed():
    ds = labelled(200)
    first = [p.meta["row_id"] for p in ds.split(seed=3)]
    again = [p.meta["row_id"] for p in ds.split(seed=3)]
    other = [p.meta["row_id"] for p in ds.split(seed=4)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], other[2])


def test_split_keeps_rare_class_in_every_split_when_stratified():
    y = np.array([0] * 90 + [1] * 10, dtype=np.int64)
    ds = ArrayDataset(np.zeros((100, 1), np.float32), y)
    for part in ds.split(val=0.2, test=0.2, seed=0):
        assert np.bincount(part.y, minlength=2)[1] == round(0.1 * len(part))


def test_split_without_class_labels_still_splits():
    ds = ArrayDataset(np.arange(50, dtype=np.float32)[:, None], np.linspace(0, 1, 50))
    train, valid, test = ds.split(val=0.2, test=0.2)
    assert (len(train), len(valid), len(test)) == (30, 10, 10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val": 1.2}, r"val to be a fraction in \[0, 1\), got 1.2"),
        ({"test": -0.1}, r"test to be a fraction"),
        ({"val": 0.6, "test": 0.5}, r"val \+ test < 1"),
        ({"val": 0.001}, r"val=0.001 of 100 samples is 0 samples"),
        ({"seed": -1}, r"seed to be an integer >= 0, got -1"),
    ],
)
def test_split_rejects_bad_fractions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        labelled(100).split(**kwargs)


def test_standardize_uses_training_statistics_for_test_data():
    train, _, test = labelled(400).split(val=0.0, test=0.25)
    train_std, (mean, std) = train.standardize()
    np.testing.assert_allclose(train_std.X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train_std.X.std(axis=0), 1.0, atol=1e-4)
    test_std, stats = test.standardize((mean, std))
    assert stats[0] is mean or np.array_equal(stats[0], mean)
    expected = (test.X - train.X.mean(0, dtype=np.float64)) / train.X.std(0, dtype=np.float64)
    np.testing.assert_allclose(test_std.X, expected, atol=1e-5)
    # the test set's own statistics were not used: its mean is not exactly zero
    assert np.abs(test_std.X.mean(axis=0)).max() > 1e-3
    assert test_std.meta["row_id"] is test.meta["row_id"]


def test_standardize_images_per_channel_and_constant_features_stay_finite():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3, 4, 4)).astype(np.float32) * np.array([1, 5, 10]).reshape(1, 3, 1, 1)
    X[:, 2] = 7.0  # a constant channel
    out, (mean, std) = ArrayDataset(X).standardize()
    assert mean.shape == (3, 1, 1) and std.shape == (3, 1, 1)
    np.testing.assert_allclose(out.X[:, :2].std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    np.testing.assert_array_equal(out.X[:, 2], 0.0)


def test_standardize_rejects_wrong_stats_and_integer_features():
    ds = labelled(20)
    with pytest.raises(ValueError, match=r"broadcast to one sample of shape \(5,\)"):
        ds.standardize((np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="std > 0"):
        ds.standardize((np.zeros(5), np.zeros(5)))
    with pytest.raises(TypeError, match="float features.*int64"):
        ArrayDataset(np.zeros((4, 3), dtype=np.int64)).standardize()


def test_batches_cover_each_sample_once_and_repeat_per_seed():
    ds = labelled(23)
    batches = list(ds.batches(5, shuffle=True, seed=1))
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    rows = np.concatenate([yb for _, yb in batches])
    X_seen = np.concatenate([xb for xb, _ in batches])
    assert sorted(map(tuple, X_seen.tolist())) == sorted(map(tuple, ds.X.tolist()))
    assert len(rows) == 23
    again = np.concatenate([xb for xb, _ in ds.batches(5, shuffle=True, seed=1)])
    np.testing.assert_array_equal(X_seen, again)
    assert not np.array_equal(X_seen, ds.X)  # shuffled
    np.testing.assert_array_equal(
        np.concatenate([xb for xb, _ in ds.batches(5, shuffle=False)]), ds.X
    )
    assert [len(xb) for xb, _ in ds.batches(5, drop_last=True)] == [5, 5, 5, 5]
    with pytest.raises(ValueError, match="batch_size to be an integer >= 1, got 0"):
        next(ds.batches(0))


def test_to_torch_dtypes_follow_the_task():
    X, y = labelled(6).to_torch().tensors
    assert X.dtype == torch.float32 and y.dtype == torch.int64 and X.shape == (6, 5)
    regression = ArrayDataset(np.zeros((4, 2), np.float64), np.zeros((4, 1), np.float64))
    Xr, yr = regression.to_torch().tensors
    assert Xr.dtype == torch.float32 and yr.dtype == torch.float32
    tokens = ArrayDataset(np.ones((3, 7), np.int32), np.ones((3, 7), np.int32))
    assert all(t.dtype == torch.int64 for t in tokens.to_torch().tensors)
    (only_x,) = ArrayDataset(np.zeros((2, 3), np.float32)).to_torch().tensors
    assert only_x.shape == (2, 3)


def test_loader_batches_shapes_and_reproducible_shuffle():
    ds = labelled(10)
    shapes = [(xb.shape, yb.shape) for xb, yb in ds.loader(4, shuffle=False)]
    assert shapes == [((4, 5), (4,)), ((4, 5), (4,)), ((2, 5), (2,))]
    order = [yb for _, yb in ds.loader(10, shuffle=True, seed=5)][0]
    again = [yb for _, yb in ds.loader(10, shuffle=True, seed=5)][0]
    torch.testing.assert_close(order, again)
    first_x = next(iter(ds.loader(10, shuffle=False)))[0]
    torch.testing.assert_close(first_x, torch.from_numpy(ds.X))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_to_torch_and_loader_place_tensors_on_the_gpu():
    ds = labelled(8)
    X, y = ds.to_torch(device="cuda").tensors
    assert X.is_cuda and y.is_cuda
    xb, yb = next(iter(ds.loader(4, shuffle=True, device="cuda")))
    assert xb.is_cuda and xb.shape == (4, 5) and yb.shape == (4,)


@pytest.mark.parametrize(
    ("pin_memory", "data", "target", "pinned"),
    [
        (None, "cpu", "cuda", True),  # CPU batches bound for a GPU: pin them
        (None, "cpu", "cpu", False),  # no GPU: nothing to gain
        (None, "cuda", "cuda", False),  # the data is on the GPU already
        (False, "cpu", "cuda", False),
        (True, "cpu", "cuda", True),
    ],
)
def test_pin_memory_pins_cpu_batches_bound_for_a_cuda_gpu(pin_memory, data, target, pinned):
    assert _pin_memory(pin_memory, torch.device(data), torch.device(target)) is pinned


def test_pin_memory_refuses_what_cannot_help():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with pytest.raises(ValueError, match=r"device='cuda' already keeps the data there"):
        _pin_memory(True, cuda, cuda)
    with pytest.raises(ValueError, match=r"copies to a CUDA GPU, but the batches go to 'cpu'"):
        _pin_memory(True, cpu, cpu)
    with pytest.raises(TypeError, match=r"pin_memory to be True, False or None, got 'yes'"):
        _pin_memory("yes", cpu, cuda)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_loader_on_a_cpu_only_machine_does_not_pin_and_says_why_it_cannot():
    ds = labelled(8)
    loader = ds.loader(4)
    assert loader.pin_memory is False
    xb, _ = next(iter(loader))
    assert xb.device.type == "cpu"
    with pytest.raises(ValueError, match=r"use pin_memory=None to pin only where there is a GPU"):
        ds.loader(4, pin_memory=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_loader_pins_cpu_batches_that_land_on_the_gpu_without_blocking():
    ds = labelled(8)
    loader = ds.loader(4, shuffle=False)
    assert loader.pin_memory is True
    xb, yb = next(iter(loader))
    assert xb.device.type == "cpu" and xb.is_pinned() and yb.is_pinned()
    on_gpu = xb.to("cuda", non_blocking=True)
    torch.cuda.synchronize()
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), torch.from_numpy(ds.X[:4]))
    assert not ds.loader(4, pin_memory=False).pin_memory


def test_to_torch_on_an_explicit_cpu_device():
    X, y = labelled(3).to_torch(device="cpu").tensors
    assert X.device.type == "cpu" and y.device.type == "cpu"
