"""Grouped/depthwise conv2d and transposed convolution against torch in float64 (chapter 07)."""
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
    Conv2d,
    ConvTranspose2d,
    conv2d,
    conv_stride_one,
    conv_transpose2d,
    conv_transpose_output_size,
    load_torch_weights,
)
from dlkit.ref.nn import conv as conv_module
from dlkit.ref.tensor import Tensor

PROPERTY = settings(max_examples=25, deadline=None)
pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))


@st.composite
def grouped_cases(draw: st.DrawFn) -> dict:
    groups = draw(st.integers(1, 3))
    kernel = draw(pairs)
    case = dict(n=draw(st.integers(1, 2)), groups=groups, c=groups * draw(st.integers(1, 2)),
                o=groups * draw(st.integers(1, 2)), h=draw(st.integers(1, 6)),
                w=draw(st.integers(1, 6)), kernel=kernel, stride=draw(pairs),
                padding=draw(st.tuples(st.integers(0, 2), st.integers(0, 2))),
                dilation=draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
                seed=draw(st.integers(0, 999)))
    assume_kernel_fits(case)
    return case


def assume_kernel_fits(case: dict) -> None:
    for size, k, p, d in zip((case["h"], case["w"]), case["kernel"], case["padding"],
                             case["dilation"], strict=True):
        assume(size + 2 * p >= d * (k - 1) + 1)


def check_grouped_case(case: dict, grad_inputs: tuple[bool, ...] | None = None) -> None:
    """conv2d on the case's random x, weight and bias equals torch, outputs and gradients."""
    rng = np.random.default_rng(case["seed"])
    g = case["groups"]
    x = rng.normal(size=(case["n"], case["c"], case["h"], case["w"]))
    weight = rng.normal(size=(case["o"], case["c"] // g, *case["kernel"]))
    bias = rng.normal(size=case["o"])
    options = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    check_layer(lambda *a: conv2d(*a, **options), lambda *a: TF.conv2d(*a, **options),
                x, weight, bias, grad_inputs=grad_inputs)


@PROPERTY
@given(grouped_cases())
def test_grouped_conv2d_matches_torch_forward_and_backward(case: dict) -> None:
    check_grouped_case(case)


@st.composite
def stride_one_cases(draw: st.DrawFn) -> dict:
    """Stride 1 takes its own path (dlkit/ref/nn/conv_stride_one.py: columns from the tap grid,
    the backward from one gather of the output gradient): every padding up to past the kernel's
    reach, dilation, groups up to depthwise, and which of x and the weight want a gradient."""
    case = draw(grouped_cases())
    case.update(stride=(1, 1), n=draw(st.integers(1, 3)),
                padding=draw(st.tuples(st.integers(0, 3), st.integers(0, 3))),
                grad_inputs=draw(st.sampled_from([(True, True, True), (False, True, False),
                                                  (True, False, True), (False, False, True)])),
                depthwise=draw(st.booleans()))
    if case["depthwise"]:
        case["groups"] = case["c"] = case["o"]
    assume_kernel_fits(case)
    return case


@PROPERTY
@given(stride_one_cases())
def test_stride_one_gradients_match_torch_in_chunks(case: dict) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_stride_one, "_CHUNK_BYTES", 1)    # one pixel per run of columns
        check_grouped_case(case, case["grad_inputs"])


def test_stride_one_backward_keeps_float32_and_matches_torch() -> None:
    torch.manual_seed(5)
    theirs = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)            # depthwise, float32
    ours = load_torch_weights(Conv2d(8, 8, 3, padding=1, groups=8), theirs)
    x = np.random.default_rng(5).normal(size=(4, 8, 6, 6)).astype(np.float32)
    x_ours, x_torch = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(x_ours).sum().backward()
    theirs(x_torch).sum().backward()
    assert x_ours.grad.dtype == ours.weight.grad.dtype == np.float32
    compare(x_ours.grad, x_torch.grad, rtol=1e-5, atol=1e-5, name="x.grad")
    compare(ours.weight.grad, theirs.weight.grad, rtol=1e-5, atol=1e-4, name="weight.grad")


def test_depthwise_separable_layers_match_torch_and_count_fewer_weights() -> None:
    torch.manual_seed(0)
    depthwise = torch.nn.Conv2d(4, 8, 3, padding=1, groups=4).double()   # 2 filters per channel
    pointwise = torch.nn.Conv2d(8, 6, 1).double()
    ours_dw = load_torch_weights(Conv2d(4, 8, 3, padding=1, groups=4), depthwise)
    ours_pw = load_torch_weights(Conv2d(8, 6, 1), pointwise)
    assert ours_dw.weight.shape == (8, 1, 3, 3)
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 5))
    check_layer(lambda t: ours_pw(ours_dw(t)), lambda t: pointwise(depthwise(t)), x,
                modules=(ours_dw, depthwise))
    assert ours_dw.weight.size + ours_pw.weight.size == 8 * 9 + 8 * 6 < 6 * 4 * 9  # vs a full 3×3


def test_grouped_conv2d_in_chunks_and_gradcheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", 1)      # one image per chunk
    monkeypatch.setattr(conv_stride_one, "_CHUNK_BYTES", 1)  # one pixel per run (stride 1)
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(3, 6, 5, 4)), rng.normal(size=(4, 3, 2, 2)), rng.normal(size=4)
    check_layer(lambda *a: conv2d(*a, stride=2, padding=1, groups=2),
                lambda *a: TF.conv2d(*a, stride=2, padding=1, groups=2), x, w, b)
    gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1, groups=2), x[:1], w, b)


def test_grouped_conv_layer_init_and_errors() -> None:
    layer = Conv2d(6, 9, 3, groups=3, rng=0)
    bound = 1 / np.sqrt(2 * 9)                              # fan_in = in/groups · kh · kw
    assert layer.weight.shape == (9, 2, 3, 3)
    assert bound * 0.8 < np.abs(layer.weight.data).max() <= bound
    assert "groups=3" in repr(layer)
    with pytest.raises(ValueError, match=r"groups to divide both.*groups=4 with 6 in and 8 out"):
        Conv2d(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match=r"\(N, 6, H, W\) \(weight \(9, 2, 3, 3\) with groups=3\)"
                                         r", got \(1, 4, 5, 5\)"):
        conv2d(np.zeros((1, 4, 5, 5)), layer.weight, groups=3)
    with pytest.raises(ValueError, match="groups to be a positive int, got 0"):
        conv2d(np.zeros((1, 4, 5, 5)), layer.weight, groups=0)


@st.composite
def transposed_cases(draw: st.DrawFn) -> dict:
    groups = draw(st.integers(1, 2))
    stride = draw(pairs)
    case = dict(n=draw(st.integers(1, 2)), groups=groups, c=groups * draw(st.integers(1, 2)),
                o=groups * draw(st.integers(1, 2)), h=draw(st.integers(1, 5)),
                w=draw(st.integers(1, 5)), kernel=draw(pairs), stride=stride,
                padding=draw(st.tuples(st.integers(0, 2), st.integers(0, 2))),
                output_padding=(draw(st.integers(0, stride[0] - 1)),
                                draw(st.integers(0, stride[1] - 1))),
                dilation=draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
                seed=draw(st.integers(0, 999)))
    sides = zip((case["h"], case["w"]), case["kernel"], stride, case["padding"],
                case["output_padding"], case["dilation"], strict=True)
    assume(all(conv_transpose_output_size(*side) >= 1 for side in sides))
    return case


@PROPERTY
@given(transposed_cases())
def test_conv_transpose2d_matches_torch_forward_and_backward(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    g = case["groups"]
    x = rng.normal(size=(case["n"], case["c"], case["h"], case["w"]))
    weight = rng.normal(size=(case["c"], case["o"] // g, *case["kernel"]))
    bias = rng.normal(size=case["o"])
    options = {k: case[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}
    out = check_layer(lambda *a: conv_transpose2d(*a, **options),
                      lambda *a: TF.conv_transpose2d(*a, **options), x, weight, bias)
    sides = zip(x.shape[2:], case["kernel"], case["stride"], case["padding"],
                case["output_padding"], case["dilation"], strict=True)
    assert out[0].shape[2:] == tuple(conv_transpose_output_size(*side) for side in sides)


def test_stride_2_transposed_conv_doubles_the_size_and_inverts_conv_shapes() -> None:
    torch.manual_seed(1)
    theirs = torch.nn.ConvTranspose2d(3, 2, 2, stride=2).double()
    ours = load_torch_weights(ConvTranspose2d(3, 2, 2, stride=2), theirs)
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    out = check_layer(ours, theirs, x, modules=(ours, theirs))
    assert out[0].shape == (2, 2, 8, 10)
    # a 3×3 stride-2 conv maps both 7 and 8 to 4; output_padding picks which one comes back
    for extra, size in ((0, 7), (1, 8)):
        assert TF.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, 3, 3), stride=2,
                         padding=1).shape[-1] == 4
        assert conv_transpose_output_size(4, 3, 2, 1, extra) == size


def test_transposed_conv_is_the_adjoint_of_conv() -> None:
    """⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩ with the same weight: it is conv's transpose."""
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(1, 3, 7, 7)), rng.normal(size=(4, 3, 3, 2))
    y = rng.normal(size=(1, 4, 4, 4))
    options = dict(stride=2, padding=1, dilation=1)
    lhs = (conv2d(x, w, **options).data * y).sum()
    rhs = (x * conv_transpose2d(y, w, output_padding=(0, 1), **options).data).sum()
    assert np.isclose(lhs, rhs, rtol=1e-12)


def test_conv_transpose_gradcheck_init_and_errors() -> None:
    rng = np.random.default_rng(4)
    gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
              rng.normal(size=(2, 2, 3, 3)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=3))
    layer = ConvTranspose2d(4, 6, 3, groups=2, rng=0)
    bound = 1 / np.sqrt(3 * 9)                           # torch's fan_in: weight dim 1 × kernel
    assert layer.weight.shape == (4, 3, 3, 3) and layer.weight.dtype == np.float32
    assert bound * 0.8 < np.abs(layer.weight.data).max() <= bound
    assert layer(np.zeros((1, 4, 2, 2), dtype=np.float32)).shape == (1, 6, 4, 4)
    with pytest.raises(ValueError, match=r"output_padding smaller than the stride, got "
                                         r"output_padding=\(1, 1\) with stride=\(1, 1\)"):
        conv_transpose2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), dilation=2,
                         output_padding=1)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4, H, W\), got \(1, 3, 2, 2\)"):
        layer(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="positive output size"):
        conv_transpose2d(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1)), padding=1)
