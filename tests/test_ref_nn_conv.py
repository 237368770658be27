"""conv2d (im2col), pooling and their layers against torch (chapter 07)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_ref_nn_from_torch import check_layer

from dlkit.check import compare, gradcheck
from dlkit.ref.nn import (
    AvgPool2d,
    Conv2d,
    MaxPool2d,
    avg_pool2d,
    col2im,
    conv2d,
    conv_output_size,
    im2col,
    load_torch_weights,
    max_pool2d,
)
from dlkit.ref.nn import conv as conv_module
from dlkit.ref.tensor import Tensor

PROPERTY = settings(max_examples=25, deadline=None)
sizes = st.integers(1, 3)
pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    kernel = draw(pairs)
    case = dict(n=draw(st.integers(1, 2)), c=draw(sizes), o=draw(sizes), h=draw(st.integers(1, 7)),
                w=draw(st.integers(1, 7)), kernel=kernel, stride=draw(pairs),
                padding=draw(st.tuples(st.integers(0, 2), st.integers(0, 2))),
                dilation=draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
                seed=draw(st.integers(0, 999)))
    sides = zip((case["h"], case["w"]), kernel, case["padding"], case["dilation"], strict=True)
    for size, k, p, d in sides:
        assume(size + 2 * p >= d * (k - 1) + 1)   # the kernel fits
    return case


def _options(case: dict) -> dict:
    return {k: case[k] for k in ("stride", "padding", "dilation")}


@PROPERTY
@given(conv_cases())
def test_conv2d_matches_torch(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["n"], case["c"], case["h"], case["w"]))
    weight = rng.normal(size=(case["o"], case["c"], *case["kernel"]))
    bias = rng.normal(size=case["o"])
    options = _options(case)
    out = check_layer(lambda *a: conv2d(*a, **options), lambda *a: TF.conv2d(*a, **options),
                      x, weight, bias)
    sides = zip(x.shape[2:], case["kernel"], case["stride"], case["padding"], case["dilation"],
                strict=True)
    assert out[0].shape[2:] == tuple(conv_output_size(*side) for side in sides)


@PROPERTY
@given(conv_cases())
def test_im2col_and_col2im_match_torch_unfold_and_fold(case: dict) -> None:
    x = np.random.default_rng(case["seed"]).normal(size=(case["n"], case["c"], case["h"],
                                                         case["w"]))
    options = _options(case)
    cols = im2col(x, case["kernel"], **options)
    compare(cols, TF.unfold(torch.tensor(x), case["kernel"], **options), rtol=0, atol=0,
            name="im2col")
    # col2im adds overlapping entries, exactly like torch's fold
    folded = TF.fold(torch.tensor(cols), x.shape[2:], case["kernel"], **options)
    compare(col2im(cols, x.shape, case["kernel"], **options), folded, rtol=1e-12, atol=1e-12,
            name="col2im")


@pytest.mark.parametrize("options", [dict(), dict(stride=2, padding=1),
                                     dict(stride=(1, 2), dilation=(2, 1))])
def test_conv2d_layer_matches_torch_with_copied_weights(options: dict) -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(3, 4, (3, 2), **options).double()
    ours = load_torch_weights(Conv2d(3, 4, (3, 2), **options), theirs)
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 6))
    check_layer(ours, theirs, x, modules=(ours, theirs))


def test_conv2d_without_bias_and_batch_of_one() -> None:
    torch.manual_seed(1)
    theirs = torch.nn.Conv2d(2, 3, 3, padding=2, bias=False).double()
    ours = load_torch_weights(Conv2d(2, 3, 3, padding=2, bias=False), theirs)
    x = np.random.default_rng(1).normal(size=(1, 2, 4, 5))
    check_layer(ours, theirs, x, modules=(ours, theirs))


def test_conv2d_in_several_chunks_of_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch larger than one chunk (and a last chunk that is shorter) gives the same result."""
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", 1)      # one image per chunk
    torch.manual_seed(2)
    theirs = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    ours = load_torch_weights(Conv2d(2, 3, 3, stride=2, padding=1), theirs)
    x = np.random.default_rng(2).normal(size=(5, 2, 6, 6))
    check_layer(ours, theirs, x, modules=(ours, theirs))
    assert len(conv_module._image_chunks(5, 100)) == 5


def test_conv2d_gradcheck() -> None:
    rng = np.random.default_rng(2)
    gradcheck(lambda x, w, b: conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
              rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3))


def test_conv2d_default_init_and_float32() -> None:
    layer = Conv2d(16, 32, 3, rng=0)
    bound = 1 / np.sqrt(16 * 9)
    assert layer.weight.shape == (32, 16, 3, 3) and layer.weight.dtype == np.float32
    assert bound * 0.9 < np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.bias.data).max() <= bound
    x = Tensor(np.ones((2, 16, 8, 8), dtype=np.float32), requires_grad=True)
    y = layer(x)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == x.grad.dtype == layer.weight.grad.dtype == np.float32


def test_conv_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"Conv2d expected input of shape \(N, 3, H, W\), "
                                         r"got \(32, 1, 28, 28\)"):
        Conv2d(3, 8, 3)(np.zeros((32, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"expected the kernel \(5, 5\).*to fit in the padded "
                                         r"input \(4, 4\)"):
        conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 5, 5)), padding=1)
    with pytest.raises(ValueError, match=r"expected stride to be an int >= 1 or a pair of them, "
                                         r"got 0"):
        Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match=r"conv2d expected bias of shape \(2,\), got \(3,\)"):
        conv2d(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"for one image use x\[None\]"):
        conv2d(np.zeros((1, 4, 4)), np.zeros((2, 1, 3, 3)))


@st.composite
def pool_cases(draw: st.DrawFn) -> dict:
    kernel = draw(pairs)
    stride = draw(st.one_of(st.none(), pairs))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(h + 2 * padding[0] >= kernel[0] and w + 2 * padding[1] >= kernel[1])
    return dict(shape=(draw(st.integers(1, 2)), draw(sizes), h, w), kernel=kernel, stride=stride,
                padding=padding, seed=draw(st.integers(0, 999)))


@PROPERTY
@given(pool_cases())
def test_pooling_matches_torch(case: dict) -> None:
    x = np.random.default_rng(case["seed"]).normal(size=case["shape"])
    args = (case["kernel"], case["stride"], case["padding"])
    check_layer(lambda t: max_pool2d(t, *args), lambda t: TF.max_pool2d(t, *args), x)
    check_layer(lambda t: avg_pool2d(t, *args), lambda t: TF.avg_pool2d(t, *args), x)


def test_max_pool_sends_the_gradient_to_one_winner_per_window_like_torch() -> None:
    x = np.zeros((1, 1, 4, 4))           # every entry ties
    x[0, 0, 1:3, 1:3] = 1.0              # and a block of tied maxima shared by overlapping windows
    for args in [(2, 2, 0), (3, 1, 1), (2, 1, 0)]:
        check_layer(lambda t, a=args: max_pool2d(t, *a), lambda t, a=args: TF.max_pool2d(t, *a), x)
    x_t = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    max_pool2d(x_t, 2).sum().backward()
    assert x_t.grad.sum() == 1.0 and x_t.grad[0, 0, 0, 0] == 1.0   # the first maximum wins


def test_pool_layers_and_gradcheck() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 6, 5))
    check_layer(MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0)),
                torch.nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0)), x)
    check_layer(AvgPool2d(2), torch.nn.AvgPool2d(2), x)
    gradcheck(lambda t: avg_pool2d(t, 3, 2, 1), rng.normal(size=(1, 2, 5, 5)))
    gradcheck(lambda t: max_pool2d(t, 2, 1), rng.normal(size=(1, 2, 4, 4)))


def test_pool_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"max_pool2d expected input of shape \(N, C, H, W\), "
                                         r"got \(3, 4, 4\)"):
        max_pool2d(np.zeros((3, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"expected padding at most half the kernel size "
                                         r"\(2, 2\), got \(2, 2\)"):
        avg_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2)
    with pytest.raises(ValueError, match=r"expected the kernel \(5, 5\) to fit in the padded "
                                         r"input \(3, 3\)"):
        MaxPool2d(5)(np.zeros((1, 1, 3, 3)))
