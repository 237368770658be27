"""Depthwise conv2d (groups = in_channels), which skips im2col (dlkit/ref/nn/depthwise.py),
against torch: output, ∂x, ∂weight and ∂bias in float32 and float64 (chapter 07)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_ref_nn_from_torch import check_layer

from dlkit.check import compare, gradcheck
from dlkit.ref.nn import Conv2d, conv2d, load_torch_weights
from dlkit.ref.nn import conv as conv_module
from dlkit.ref.nn import depthwise as depthwise_module
from dlkit.ref.tensor import Tensor


@pytest.fixture(autouse=True)
def taps_on_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tap path even for the small shapes these tests use (conv2d sends small batches of
    small images through im2col, which test_ref_nn_conv_groups.py checks)."""
    monkeypatch.setattr(depthwise_module, "MIN_VECTOR", 0)


GRID = list(itertools.product([1, 2, (2, 1)], [0, 1], [1, 2, (1, 2)], [1, 2]))


def run_both(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, options: dict
             ) -> tuple[list[Tensor], list[torch.Tensor]]:
    """Output and the gradients of x, weight and bias of ours in x's dtype and of torch in
    float64 (the reference), for the loss Σ out ⊙ R with a fixed random R."""
    ours = [Tensor(a, requires_grad=True) for a in (x, weight, bias)]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, weight, bias)]
    out, want = conv2d(*ours, **options), TF.conv2d(*theirs, **options)
    upstream = np.random.default_rng(1).normal(size=want.shape)
    out.backward(upstream.astype(x.dtype))
    want.backward(torch.from_numpy(upstream))
    return [out] + [t.grad for t in ours], [want.detach()] + [t.grad for t in theirs]


def check_in_dtype(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, options: dict) -> None:
    """``run_both``: ours stays in x's dtype (float32 or float64) and equals torch's float64
    results within that dtype's rounding (the shapes here sum at most a few hundred terms)."""
    got, want = run_both(x, weight, bias, options)
    # float32 rounds each of the ≤ 3·9·8 terms of a weight gradient at 6e-8 relative
    tolerance = dict(rtol=1e-5, atol=1e-4) if x.dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for name, mine, theirs in zip(("output", "x.grad", "weight.grad", "bias.grad"), got, want,
                                  strict=True):
        assert np.asarray(mine.data if isinstance(mine, Tensor) else mine).dtype == x.dtype, name
        compare(mine, theirs, name=name, **tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("stride", "padding", "dilation", "multiplier"), GRID)
def test_depthwise_matches_torch_and_keeps_the_dtype(stride: int | tuple[int, int], padding: int,
                                                     dilation: int, multiplier: int,
                                                     dtype: type) -> None:
    rng = np.random.default_rng(0)
    channels = 5
    x = rng.normal(size=(3, channels, 9, 8)).astype(dtype)
    weight = rng.normal(size=(channels * multiplier, 1, 3, 2)).astype(dtype)
    bias = rng.normal(size=channels * multiplier).astype(dtype)
    check_in_dtype(x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation,
                                         groups=channels))


def test_depthwise_never_builds_im2col_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_columns(*args: object, **kwargs: object) -> None:
        raise AssertionError("the depthwise path called im2col")
    monkeypatch.setattr(conv_module, "im2col", no_columns)
    monkeypatch.setattr(conv_module, "col2im", no_columns)
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 4, 7, 7)), rng.normal(size=(8, 1, 3, 3)), rng.normal(size=8)
    for stride in (1, 2):
        check_layer(lambda *a, s=stride: conv2d(*a, stride=s, padding=1, groups=4),
                    lambda *a, s=stride: TF.conv2d(*a, stride=s, padding=1, groups=4), x, w, b)


def test_depthwise_takes_the_tap_path_when_each_channel_has_enough_pixels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(depthwise_module, "MIN_VECTOR", 3000)
    calls = []

    def spy(*args: object) -> Tensor:
        calls.append(args[0].shape)
        return depthwise_module.depthwise_conv2d(*args)
    monkeypatch.setattr(conv_module, "depthwise_conv2d", spy)
    rng = np.random.default_rng(5)
    weight = rng.normal(size=(3, 1, 3, 3))
    for n, size in ((1, 8), (16, 13), (1, 16)):       # 1·9·9, 16·14·14 = 3136, 1·17·17 pixels
        conv2d(rng.normal(size=(n, 3, size, size)), weight, padding=1, groups=3)
    conv2d(rng.normal(size=(16, 3, 13, 13)), rng.normal(size=(3, 3, 3, 3)), padding=1)  # not depthwise
    assert calls == [(16, 3, 13, 13)]


def test_depthwise_gradcheck_with_stride_dilation_and_two_filters_per_channel() -> None:
    rng = np.random.default_rng(3)
    gradcheck(lambda x, w, b: conv2d(x, w, b, stride=2, padding=2, dilation=2, groups=3),
              rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(6, 1, 3, 3)), rng.normal(size=6))


def test_depthwise_layer_of_a_mobilenet_block_matches_torch_in_float32() -> None:
    torch.manual_seed(4)
    theirs = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
    ours = load_torch_weights(Conv2d(16, 16, 3, stride=2, padding=1, groups=16), theirs)
    x = np.random.default_rng(4).normal(size=(8, 16, 14, 14)).astype(np.float32)
    x_ours, x_torch = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, want = ours(x_ours), theirs(x_torch)
    (out * out).sum().backward()
    (want * want).sum().backward()
    assert out.dtype == x_ours.grad.dtype == ours.weight.grad.dtype == np.float32
    compare(out, want, rtol=1e-5, atol=1e-5, name="output")
    compare(x_ours.grad, x_torch.grad, rtol=1e-5, atol=1e-4, name="x.grad")
    compare(ours.weight.grad, theirs.weight.grad, rtol=1e-5, atol=1e-3, name="weight.grad")
    compare(ours.bias.grad, theirs.bias.grad, rtol=1e-5, atol=1e-3, name="bias.grad")


pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))


@st.composite
def depthwise_cases(draw: st.DrawFn) -> dict:
    """Any shape the depthwise path takes, in chunks from one channel to all of them, and any
    choice of which inputs want a gradient."""
    case = dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 4)),
                multiplier=draw(st.integers(1, 3)), h=draw(st.integers(1, 8)),
                w=draw(st.integers(1, 8)), kernel=draw(pairs), stride=draw(pairs),
                padding=draw(st.tuples(st.integers(0, 3), st.integers(0, 3))),
                dilation=draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
                chunk_bytes=draw(st.sampled_from([1, 600, 1 << 18])),
                grad_inputs=draw(st.sampled_from([(True, True, True), (True, False, False),
                                                  (False, True, False), (False, False, True)])),
                seed=draw(st.integers(0, 999)))
    for size, k, p, d in zip((case["h"], case["w"]), case["kernel"], case["padding"],
                             case["dilation"], strict=True):
        assume(size + 2 * p >= d * (k - 1) + 1)   # the kernel fits
    return case


@settings(max_examples=40, deadline=None)
@given(depthwise_cases())
def test_depthwise_matches_torch_on_any_shape(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    c, out_channels = case["c"], case["c"] * case["multiplier"]
    x = rng.normal(size=(case["n"], c, case["h"], case["w"]))
    weight = rng.normal(size=(out_channels, 1, *case["kernel"]))
    bias = rng.normal(size=out_channels)
    options = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                   groups=c)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(depthwise_module, "_CHUNK_BYTES", case["chunk_bytes"])
        check_layer(lambda *a: conv2d(*a, **options), lambda *a: TF.conv2d(*a, **options),
                    x, weight, bias, grad_inputs=case["grad_inputs"])
