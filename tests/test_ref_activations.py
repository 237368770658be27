"""Activations: the numpy pairs in dlkit.ref.activations and their Tensor versions in
dlkit.ref.functional, against torch (chapters 01, 02, 06)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlkit.check import compare, gradcheck
from dlkit.ref import activations as act
from dlkit.ref import functional as fn
from dlkit.ref.tensor import Tensor

RTOL = 1e-10
ATOL = 1e-12
# Overflow, 0/0 and x/0 must never happen; underflow must be allowed: e^{-1000} rounding to 0 is
# the right answer, not an error.
STRICT = {"over": "raise", "divide": "raise", "invalid": "raise", "under": "ignore"}

EXTREMES = np.array([-1000.0, -100.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 100.0, 1000.0])
GRID = np.concatenate([EXTREMES, np.linspace(-6.0, 6.0, 49)])

# name → (numpy f, numpy f', torch f, kwargs)
ACTIVATIONS = {
    "identity": (act.identity, act.d_identity, lambda x: x * 1, {}),
    "sigmoid": (act.sigmoid, act.d_sigmoid, torch.sigmoid, {}),
    "tanh": (act.tanh, act.d_tanh, torch.tanh, {}),
    "relu": (act.relu, act.d_relu, F.relu, {}),
    "leaky_relu": (act.leaky_relu, act.d_leaky_relu, F.leaky_relu, {}),
    "leaky_relu alpha=0.2": (act.leaky_relu, act.d_leaky_relu,
                             lambda x: F.leaky_relu(x, negative_slope=0.2), {"alpha": 0.2}),
    "elu": (act.elu, act.d_elu, F.elu, {}),
    "elu alpha=0.5": (act.elu, act.d_elu, lambda x: F.elu(x, alpha=0.5), {"alpha": 0.5}),
    "gelu": (act.gelu, act.d_gelu, F.gelu, {}),
    "gelu tanh": (act.gelu, act.d_gelu, lambda x: F.gelu(x, approximate="tanh"),
                  {"approximate": "tanh"}),
    "swish": (act.swish, act.d_swish, F.silu, {}),
    "swish beta=2": (act.swish, act.d_swish, lambda x: x * torch.sigmoid(2.0 * x), {"beta": 2.0}),
}


def torch_value_and_derivative(torch_f, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = torch.tensor(x, requires_grad=True)
    y = torch_f(t)
    (dy,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), dy.numpy()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_numpy_activation_and_derivative_match_torch(name: str) -> None:
    f, df, torch_f, kwargs = ACTIVATIONS[name]
    want_y, want_dy = torch_value_and_derivative(torch_f, GRID)
    with np.errstate(**STRICT):
        y, dy = f(GRID, **kwargs), df(GRID, **kwargs)
    compare(y, want_y, rtol=RTOL, atol=ATOL, name=f"{name}(x)")
    compare(dy, want_dy, rtol=1e-9, atol=ATOL, name=f"{name}'(x)")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extremes_are_finite_without_overflow_and_keep_the_dtype(name: str, dtype) -> None:
    f, df, _, kwargs = ACTIVATIONS[name]
    x = EXTREMES.astype(dtype)
    with np.errstate(**STRICT):
        y, dy = f(x, **kwargs), df(x, **kwargs)
    assert np.isfinite(y).all() and np.isfinite(dy).all()
    assert y.dtype == dtype and dy.dtype == dtype


def test_elementwise_table_lists_every_pair() -> None:
    assert set(act.ELEMENTWISE) == {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu",
                                    "gelu", "swish"}
    for name, (f, df) in act.ELEMENTWISE.items():
        assert f is getattr(act, name) and df is getattr(act, f"d_{name}")
    assert act.silu is act.swish and act.d_silu is act.d_swish


def test_gelu_rejects_an_unknown_approximation() -> None:
    for f in (act.gelu, act.d_gelu):
        with pytest.raises(ValueError, match=r"expected approximate='none' or 'tanh', got 'erf'"):
            f(np.zeros(2), approximate="erf")


def test_integer_input_becomes_float() -> None:
    assert act.relu(np.array([-1, 2])).dtype == np.float64
    compare(act.sigmoid(np.array([0])), [0.5])


# ---- softmax and log-softmax ---------------------------------------------------------------------
logit_arrays = hnp.arrays(np.float64,
                          hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
                          elements=st.floats(-50.0, 50.0))


@settings(max_examples=25, deadline=None)
@given(z=logit_arrays, shift=st.floats(-1e3, 1e3), data=st.data())
def test_softmax_sums_to_one_and_ignores_a_constant_shift(z: np.ndarray, shift: float,
                                                          data) -> None:
    axis = data.draw(st.integers(-z.ndim, z.ndim - 1), label="axis")
    s = act.softmax(z, axis=axis)
    compare(s.sum(axis=axis), np.ones_like(s.sum(axis=axis)), rtol=1e-12)
    assert (s >= 0).all()
    compare(act.softmax(z + shift, axis=axis), s, rtol=1e-9, atol=1e-12)
    compare(act.log_softmax(z + shift, axis=axis), act.log_softmax(z, axis=axis),
            rtol=1e-9, atol=1e-9)
    compare(s, torch.softmax(torch.from_numpy(z), dim=axis), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_at_1e4_is_finite_and_matches_torch(name: str) -> None:
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]])
    with np.errstate(**STRICT):
        out = getattr(act, name)(z, axis=-1)
    assert np.isfinite(out).all()
    compare(out, getattr(torch, name)(torch.from_numpy(z), dim=-1), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_vjps_match_torch(name: str, axis: int) -> None:
    rng = np.random.default_rng(0)
    z, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    t = torch.tensor(z, requires_grad=True)
    getattr(torch, name)(t, dim=axis).backward(torch.from_numpy(g))
    compare(getattr(act, f"{name}_vjp")(z, g, axis=axis), t.grad, rtol=RTOL, atol=ATOL)


# ---- Tensor-level versions (dlkit.ref.functional) ------------------------------------------------
# name → (ours on a Tensor, torch f)
FUNCTIONAL = {
    "identity": (fn.identity, lambda x: x * 1),
    "sigmoid": (fn.sigmoid, torch.sigmoid),
    "tanh": (fn.tanh, torch.tanh),
    "relu": (fn.relu, F.relu),
    "leaky_relu": (lambda x: fn.leaky_relu(x, alpha=0.1),
                   lambda x: F.leaky_relu(x, negative_slope=0.1)),
    "elu": (lambda x: fn.elu(x, alpha=0.7), lambda x: F.elu(x, alpha=0.7)),
    "gelu": (fn.gelu, F.gelu),
    "gelu tanh": (lambda x: fn.gelu(x, approximate="tanh"),
                  lambda x: F.gelu(x, approximate="tanh")),
    "swish": (lambda x: fn.swish(x, beta=1.5), lambda x: x * torch.sigmoid(1.5 * x)),
    "silu": (fn.silu, F.silu),
    "softmax": (lambda x: fn.softmax(x, axis=0), lambda x: torch.softmax(x, dim=0)),
    "log_softmax": (fn.log_softmax, lambda x: torch.log_softmax(x, dim=-1)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
@settings(max_examples=10, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       seed=st.integers(0, 2**32 - 1))
def test_functional_forward_and_gradient_match_torch(name: str, shape, seed: int) -> None:
    ours, theirs = FUNCTIONAL[name]
    rng = np.random.default_rng(seed)
    # |x| >= 0.05 keeps central differences away from the kinks of relu, leaky_relu and elu
    x = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.05, 3.0, size=shape)
    upstream = rng.normal(size=shape)
    xt, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(xt), theirs(t)
    compare(out, expected, rtol=RTOL, atol=ATOL, name="forward")
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    compare(xt.grad, t.grad, rtol=1e-9, atol=ATOL, name="gradient")
    gradcheck(ours, x)


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_keeps_float32(name: str) -> None:
    ours, _ = FUNCTIONAL[name]
    x = Tensor(np.array([[-1000.0, -0.5, 0.0], [0.5, 2.0, 1000.0]], dtype=np.float32),
               requires_grad=True)
    with np.errstate(**STRICT):
        out = ours(x)
        out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()


def test_functional_accepts_numpy_input() -> None:
    compare(fn.relu(np.array([-1.0, 2.0])), [0.0, 2.0])


# ---- linear --------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape", [(5, 4), (4,), (2, 5, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch(x_shape, with_bias: bool) -> None:
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=x_shape), rng.normal(size=(3, 4)), rng.normal(size=3)
    arrays = [x, W, b] if with_bias else [x, W]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = fn.linear(*ours), F.linear(*theirs)
    compare(out, expected, rtol=RTOL, atol=ATOL)
    upstream = rng.normal(size=expected.shape)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        compare(o.grad, t.grad, rtol=RTOL, atol=ATOL, name=f"gradient of input {i}")
    gradcheck(fn.linear, *arrays)


def test_linear_shape_errors_name_the_expected_shape() -> None:
    W = np.zeros((10, 64))
    with pytest.raises(ValueError, match=r"linear expected x with last dimension 64 "
                                         r"\(W is \(10, 64\)\), got \(32, 63\)"):
        fn.linear(np.zeros((32, 63)), W)
    with pytest.raises(ValueError, match=r"linear expected W of shape "
                                         r"\(out_features, in_features\), got \(64,\)"):
        fn.linear(np.zeros((32, 64)), np.zeros(64))
    with pytest.raises(ValueError, match=r"linear expected b of shape \(10,\) \(W is \(10, 64\)\), "
                                         r"got \(64,\)"):
        fn.linear(np.zeros((32, 64)), W, np.zeros(64))


# ---- dropout -------------------------------------------------------------------------------------
def test_dropout_in_eval_and_with_p_zero_is_the_identity() -> None:
    x = Tensor(np.ones((4, 5)), requires_grad=True)
    assert fn.dropout(x, p=0.5, training=False) is x
    assert fn.dropout(x, p=0.0, training=True) is x


def test_dropout_zeroes_about_p_and_scales_the_rest() -> None:
    p = 0.3
    x = Tensor(np.full((200, 500), 2.0), requires_grad=True)
    out = fn.dropout(x, p=p, rng=np.random.default_rng(0))
    kept = out.data != 0
    assert abs(kept.mean() - (1 - p)) < 0.01                         # 100 000 draws: σ ≈ 0.0015
    compare(out.data[kept], np.full(kept.sum(), 2.0 / (1 - p)), rtol=1e-12)
    assert abs(out.data.mean() - 2.0) < 0.03                         # inverted: E[out] = x
    out.sum().backward()
    compare(x.grad, kept / (1 - p), rtol=1e-12)                      # same mask, same scale


def test_dropout_is_reproducible_and_uses_the_global_generator_by_default() -> None:
    x = Tensor(np.ones((6, 7)))
    same_rng = [fn.dropout(x, 0.5, rng=np.random.default_rng(3)).data for _ in range(2)]
    compare(same_rng[0], same_rng[1])
    np.random.seed(11)
    first = fn.dropout(x, 0.5).data
    np.random.seed(11)
    compare(fn.dropout(x, 0.5).data, first)
    assert not np.array_equal(first, fn.dropout(x, 0.5).data)


def test_dropout_with_p_one_drops_everything_and_keeps_float32() -> None:
    x = Tensor(np.ones((3, 3), dtype=np.float32), requires_grad=True)
    with np.errstate(**STRICT):
        out = fn.dropout(x, p=1.0)
    compare(out, np.zeros((3, 3)))
    assert fn.dropout(x, p=0.5).dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True])
def test_dropout_rejects_a_bad_probability(p) -> None:
    with pytest.raises(ValueError, match=r"dropout expected a probability p in \[0, 1\], got"):
        fn.dropout(Tensor(np.ones(3)), p=p)
