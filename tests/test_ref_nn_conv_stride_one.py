"""Grouped conv2d on the tap grid (stride 1, dlkit/ref/nn/conv_stride_one.py) and through im2col
(stride 2) against torch: output, ∂x, ∂weight and ∂bias in float32 and float64 (chapter 07)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_ref_nn_conv_groups import check_grouped_case
from test_ref_nn_depthwise import check_in_dtype
from test_ref_nn_from_torch import check_layer

from dlkit.check import compare
from dlkit.ref.nn import Conv2d, conv2d, conv_output_size, conv_stride_one, im2col, load_torch_weights
from dlkit.ref.nn import conv as conv_module
from dlkit.ref.nn.tap_grid import TapGrid
from dlkit.ref.tensor import Tensor

GRID = list(itertools.product([2, 4], [1, 2], [0, 1, 2], [1, 2, (1, 2)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("groups", "stride", "padding", "dilation"), GRID)
def test_grouped_conv_matches_torch_and_keeps_the_dtype(groups: int, stride: int, padding: int,
                                                        dilation: int | tuple[int, int],
                                                        dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2 * groups, 9, 8)).astype(dtype)
    weight = rng.normal(size=(3 * groups, 2, 3, 2)).astype(dtype)      # 2 in, 3 out per group
    bias = rng.normal(size=3 * groups).astype(dtype)
    check_in_dtype(x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation,
                                         groups=groups))


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    groups = draw(st.sampled_from([1, 2, 4]))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    case = dict(n=draw(st.integers(1, 3)), groups=groups, c=groups * draw(st.integers(1, 2)),
                o=groups * draw(st.integers(1, 3)), h=draw(st.integers(1, 9)),
                w=draw(st.integers(1, 9)), kernel=kernel,
                stride=draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)])),
                padding=(draw(st.integers(0, 3)), draw(st.integers(0, 3))),
                dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                chunk_bytes=draw(st.sampled_from([1, 100, 1 << 20])),
                seed=draw(st.integers(0, 999)))
    for size, k, p, d in zip((case["h"], case["w"]), kernel, case["padding"], case["dilation"],
                             strict=True):
        assume(size + 2 * p >= d * (k - 1) + 1)   # the kernel fits
    return case


@settings(max_examples=40, deadline=None)
@given(conv_cases())
def test_conv2d_matches_torch_on_any_shape_and_run_length(case: dict) -> None:
    """Any shape, padding past the kernel's reach, dilation, groups 1/2/4, stride 1 and 2, and
    runs of columns from one pixel to all of them: output and the three gradients as torch's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_stride_one, "_CHUNK_BYTES", case["chunk_bytes"])
        check_grouped_case(case)


@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_tap_grid_slices_are_the_rows_of_im2col(case: dict) -> None:
    """The layout claim of dlkit/ref/nn/tap_grid.py: tap t's slice, read at the real output
    pixels, is row (c, t) of im2col's columns, for any stride, padding and dilation."""
    x = np.random.default_rng(case["seed"]).normal(size=(case["n"], case["c"], case["h"],
                                                         case["w"]))
    options = {k: case[k] for k in ("stride", "padding", "dilation")}
    size = tuple(conv_output_size(*side) for side in zip(
        (case["h"], case["w"]), case["kernel"], case["stride"], case["padding"], case["dilation"],
        strict=True))
    grid = TapGrid(case["n"], (case["h"], case["w"]), case["kernel"], case["stride"],
                   case["padding"], case["dilation"], size)
    vectors = grid.vectors(x, x.dtype)
    compare(grid.images(vectors).transpose(1, 0, 2, 3), x, rtol=0, atol=0, name="images")
    cols = im2col(x, case["kernel"], **options).reshape(case["n"], case["c"], len(grid.offsets), -1)
    every_tap = grid.taps(vectors).reshape(case["c"], len(grid.offsets), grid.length)
    for t in range(len(grid.offsets)):
        on_grid = np.zeros((case["c"], grid.cells))
        on_grid[:, :grid.length] = grid.tap(vectors, t)
        compare(grid.pixels(on_grid).reshape(case["c"], case["n"], -1).transpose(1, 0, 2),
                cols[:, :, t], rtol=0, atol=0, name=f"tap {t}")
        compare(every_tap[:, t], grid.tap(vectors, t), rtol=0, atol=0, name=f"taps()[{t}]")
    with pytest.raises(ValueError, match="TapGrid.taps expected vectors longer than"):
        grid.taps(vectors[:, :grid.offsets[-1] + grid.step * (grid.length - 1)])


def test_stride_one_layers_take_the_grid_and_strided_ones_im2col(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(conv_module, "im2col", lambda *a, **k: calls.append("im2col") or im2col(*a, **k))
    rng = np.random.default_rng(4)
    x, w = rng.normal(size=(2, 8, 6, 6)), rng.normal(size=(8, 2, 3, 3))
    conv2d(x, w, padding=1, groups=4)
    assert calls == []
    conv2d(x, w, stride=2, padding=1, groups=4)
    assert calls == ["im2col"]


def test_resnext_block_conv_in_float32_matches_torch() -> None:
    """The benchmark's layer (4 groups of 8 channels, 3×3, 'same' padding) on a smaller batch:
    float32 in, float32 out and gradients, within float32 rounding of torch."""
    torch.manual_seed(6)
    theirs = torch.nn.Conv2d(32, 32, 3, padding=1, groups=4)
    ours = load_torch_weights(Conv2d(32, 32, 3, padding=1, groups=4), theirs)
    x = np.random.default_rng(6).normal(size=(4, 32, 16, 16)).astype(np.float32)
    upstream = np.random.default_rng(7).normal(size=(4, 32, 16, 16)).astype(np.float32)
    x_ours, x_torch = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_torch = ours(x_ours), theirs(x_torch)
    y_ours.backward(upstream)
    y_torch.backward(torch.from_numpy(upstream))
    for name, mine, want in (("output", y_ours.data, y_torch), ("x.grad", x_ours.grad, x_torch.grad),
                             ("weight.grad", ours.weight.grad, theirs.weight.grad),
                             ("bias.grad", ours.bias.grad, theirs.bias.grad)):
        assert mine.dtype == np.float32, name
        # a weight gradient sums 4·16·16 = 1024 products: float32 rounding grows to ~1e-4
        compare(mine, want, rtol=1e-4, atol=1e-3, name=name)


def test_runs_on_two_blas_threads_match_one_thread_and_a_forked_child() -> None:
    """The runs of columns split over BLAS's threads give torch's result on 1 and 2 threads,
    and a child forked after the pool exists still computes (its own pool, not a dead one)."""
    import multiprocessing

    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(8)
    x, w = rng.normal(size=(3, 8, 12, 12)), rng.normal(size=(8, 2, 3, 3))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_stride_one, "_CHUNK_BYTES", 4096)      # several runs per thread
        for threads in (1, 2):
            with threadpool_limits(threads):
                check_layer(lambda *a: conv2d(*a, padding=1, groups=4),
                            lambda *a: TF.conv2d(*a, padding=1, groups=4), x, w)
        with threadpool_limits(2):
            conv2d(x, w, padding=1, groups=4)                      # the pool exists now
            child = multiprocessing.get_context("fork").Process(
                target=conv2d, args=(x, w), kwargs=dict(padding=1, groups=4))
            child.start()
            child.join(timeout=30)
            hung = child.is_alive()
            if hung:
                child.kill()
                child.join()
            assert not hung and child.exitcode == 0, f"forked child: hung={hung}, exit code " \
                                                     f"{child.exitcode}"


def test_runs_follow_numpy_blas_thread_limit_not_another_blas() -> None:
    """The thread count is numpy's BLAS's: another BLAS in the process (scipy ships its own)
    may allow more threads, and must not make a one-thread numpy use two."""
    from threadpoolctl import threadpool_limits
    runs = [(0, 1), (1, 2), (2, 3)]
    with threadpool_limits(2):                    # every BLAS allows 2, numpy's included
        assert len(conv_stride_one._on_blas_threads(lambda share: share, runs)) == 2
        numpy_blas = conv_stride_one._NUMPY_BLAS[0]
        numpy_blas.set_num_threads(1)             # numpy's alone says 1
        try:
            shares = conv_stride_one._on_blas_threads(lambda share: share, runs)
        finally:
            numpy_blas.set_num_threads(2)
        assert shares == [runs]
    assert "numpy" in numpy_blas.filepath
