"""dlkit.ref.Tensor matches torch (float64) op by op, forward and backward (chapter 03).

Every op is checked three ways: the forward value against torch, the gradient of every input
against torch's (with a random upstream gradient, so each output entry counts differently),
and the gradient against central differences (``dlkit.check.gradcheck``).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlkit.check import compare, gradcheck
from dlkit.ref.tensor import Tensor, cat, no_grad, stack

RTOL = 1e-10
ATOL = 1e-12
PARITY = settings(max_examples=20, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def check_op(ours: Callable[..., Tensor], theirs: Callable[..., torch.Tensor], *arrays: np.ndarray,
             grad_check: bool = True, seed: int = 0) -> None:
    """Forward and every input's gradient of ``ours`` equal torch's ``theirs``; then gradcheck."""
    arrays = tuple(np.array(a, dtype=np.float64) for a in arrays)
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*xs), theirs(*ts)
    compare(out, expected, rtol=RTOL, atol=ATOL, name="forward")
    upstream = np.random.default_rng(seed).normal(size=expected.shape)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        compare(x.grad, t.grad, rtol=RTOL, atol=ATOL, name=f"gradient of input {i}")
    if grad_check:
        gradcheck(ours, *arrays)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], low: float = 0.5,
                   high: float = 2.0) -> np.ndarray:
    """Values with |v| in [low, high] and random signs: safe for division, abs, relu kinks."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


# ---- elementwise binary ops with broadcasting ---------------------------------------------------
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a**b, lambda a, b: a**b),
}


def binary_inputs(name: str, shapes: tuple[tuple[int, ...], ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "pow":  # a tensor exponent needs a positive base: d(a^b)/db = a^b ln a
        return [rng.uniform(0.5, 2.0, size=shapes[0]), rng.normal(size=shapes[1])]
    if name == "div":
        return [rng.normal(size=shapes[0]), away_from_zero(rng, shapes[1])]
    return [rng.normal(size=s) for s in shapes]


@pytest.mark.parametrize("name", sorted(BINARY))
@PARITY
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
       seed=seeds)
def test_binary_ops_broadcast_like_torch(name: str, shapes, seed: int) -> None:
    ours, theirs = BINARY[name]
    check_op(ours, theirs, *binary_inputs(name, shapes.input_shapes, seed), seed=seed)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 1, 4), (5, 4)), ((), (2, 3)), ((2, 3), ()),
                                    ((4, 1), (1, 3)), ((1,), (3, 1, 2))])
def test_binary_ops_on_named_broadcast_cases(name: str, shapes) -> None:
    ours, theirs = BINARY[name]
    check_op(ours, theirs, *binary_inputs(name, shapes, 7))


@pytest.mark.parametrize("ours, theirs", [
    (lambda x: 2.5 + x, lambda x: 2.5 + x),
    (lambda x: 2.5 - x, lambda x: 2.5 - x),
    (lambda x: 2.5 * x, lambda x: 2.5 * x),
    (lambda x: 2.5 / x, lambda x: 2.5 / x),
    (lambda x: 2.5**x, lambda x: 2.5**x),
    (lambda x: x**3, lambda x: x**3),
    (lambda x: x**-1.5, lambda x: x**-1.5),
    (lambda x: -x, lambda x: -x),
    (lambda x: np.full((3,), 2.0) * x, lambda x: torch.full((3,), 2.0, dtype=torch.float64) * x),
], ids=["radd", "rsub", "rmul", "rtruediv", "rpow", "pow-int", "pow-float", "neg", "ndarray-mul"])
def test_reflected_and_scalar_ops(ours, theirs) -> None:
    x = np.random.default_rng(0).uniform(0.5, 2.0, size=(2, 3))
    check_op(ours, theirs, x)


def test_pow_zero_exponent_has_zero_gradient_even_at_zero() -> None:
    check_op(lambda x: x**0, lambda x: x**0, np.array([0.0, -1.0, 2.0]), grad_check=False)


def test_constant_exponent_tensor_on_negative_base_gives_no_warning() -> None:
    x = Tensor(np.array([-2.0, 3.0]), requires_grad=True)
    with np.errstate(all="raise"):  # ln(−2) would raise if the constant exponent got a gradient
        (x ** Tensor(np.array([2.0, 2.0]))).sum().backward()
    compare(x.grad, [-4.0, 6.0])


# ---- elementwise unary ops -----------------------------------------------------------------------
def _unary_input(name: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if name in ("log", "sqrt"):
        return rng.uniform(0.3, 3.0, size=shape)
    if name in ("abs", "relu"):
        return away_from_zero(rng, shape, 0.1, 2.0)
    return rng.normal(size=shape)


UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "exp": (Tensor.exp, torch.exp),
    "log": (Tensor.log, torch.log),
    "sqrt": (Tensor.sqrt, torch.sqrt),
    "abs": (Tensor.abs, torch.abs),
    "tanh": (Tensor.tanh, torch.tanh),
    "sigmoid": (Tensor.sigmoid, torch.sigmoid),
    "relu": (Tensor.relu, torch.relu),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@PARITY
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), seed=seeds)
def test_unary_ops_match_torch(name: str, shape: tuple[int, ...], seed: int) -> None:
    ours, theirs = UNARY[name]
    check_op(ours, theirs, _unary_input(name, np.random.default_rng(seed), shape), seed=seed)


def test_relu_and_abs_have_zero_gradient_at_zero_like_torch() -> None:
    for ours, theirs in (UNARY["relu"], UNARY["abs"]):
        check_op(ours, theirs, np.array([-1.0, 0.0, 1.0]), grad_check=False)


def test_apply_uses_the_given_derivative() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.apply(np.sin, np.cos, "sin").sum().backward()
    compare(x.grad, np.cos([1.0, 2.0]), rtol=RTOL)


# ---- softmax, log_softmax, masked_fill -----------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@PARITY
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds,
       data=st.data())
def test_softmax_family_matches_torch(name: str, shape, seed: int, data) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = np.random.default_rng(seed).normal(scale=3.0, size=shape)
    check_op(lambda t: getattr(t, name)(axis=axis), lambda t: getattr(torch, name)(t, dim=axis), x,
             seed=seed)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_is_finite_for_logits_of_1e4(name: str) -> None:
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4, 0.0]])
    check_op(lambda t: getattr(t, name)(axis=-1), lambda t: getattr(torch, name)(t, dim=-1), x,
             grad_check=False)
    out = getattr(Tensor(x), name)(axis=-1)
    assert np.isfinite(out.data).all()


@PARITY
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=4),
       seed=seeds)
def test_masked_fill_matches_torch(shapes, seed: int) -> None:
    x_shape, mask_shape = shapes.input_shapes
    if shapes.result_shape != x_shape:  # the mask may broadcast up to x, never x up to the mask
        mask_shape = x_shape
    rng = np.random.default_rng(seed)
    mask = rng.random(mask_shape) < 0.4
    # a moderate fill value: with −1e9 the loss that gradcheck differentiates would be ~1e9 and
    # its central differences pure round-off
    check_op(lambda t: t.masked_fill(mask, -3.0),
             lambda t: t.masked_fill(torch.from_numpy(mask), -3.0),
             rng.normal(size=x_shape), seed=seed)


def test_masked_fill_then_softmax_gives_zero_weight_to_masked_entries() -> None:
    scores = Tensor(np.zeros((2, 3)), requires_grad=True)
    mask = np.array([[False, True, False], [False, False, True]])
    weights = scores.masked_fill(mask, -np.inf).softmax(axis=-1)
    compare(weights, [[0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


# ---- reductions ----------------------------------------------------------------------------------
@st.composite
def shape_axis_keepdims(draw, min_side: int = 1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=4))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-len(shape), len(shape) - 1))
    else:
        axes = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                             unique=True))
        negate = draw(st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)))
        axis = tuple(a - len(shape) if n else a for a, n in zip(axes, negate, strict=True))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean"])
@PARITY
@given(case=shape_axis_keepdims(), seed=seeds)
def test_sum_and_mean_match_torch(name: str, case, seed: int) -> None:
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).normal(size=shape)
    check_op(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
             lambda t: getattr(torch, name)(t, dim=axis, keepdim=keepdims), x, seed=seed)


@pytest.mark.parametrize("unbiased", [False, True])
@PARITY
@given(case=shape_axis_keepdims(min_side=2), seed=seeds)
def test_var_matches_torch(unbiased: bool, case, seed: int) -> None:
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).normal(size=shape)
    check_op(lambda t: t.var(axis=axis, keepdims=keepdims, unbiased=unbiased),
             lambda t: torch.var(t, dim=axis, keepdim=keepdims, correction=int(unbiased)),
             x, seed=seed)


@PARITY
@given(case=shape_axis_keepdims(), seed=seeds)
def test_max_matches_torch_amax_including_ties(case, seed: int) -> None:
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    tied = rng.integers(0, 3, size=shape).astype(np.float64)  # few values: many ties
    dims = tuple(range(len(shape))) if axis is None else axis
    # torch.amax shares the gradient equally among tied maxima, as Tensor.max promises
    check_op(lambda t: t.max(axis=axis, keepdims=keepdims),
             lambda t: torch.amax(t, dim=dims, keepdim=keepdims), tied, grad_check=False, seed=seed)
    distinct = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)
    check_op(lambda t: t.max(axis=axis, keepdims=keepdims),
             lambda t: torch.amax(t, dim=dims, keepdim=keepdims), distinct, seed=seed)


def test_max_splits_gradient_between_ties() -> None:
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    compare(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


# ---- matmul --------------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3, 4)),          # vector @ matrix
    ((2, 3), (3,)),          # matrix @ vector
    ((3,), (3,)),            # dot product
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),     # batched @ shared matrix
    ((2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),  # batch dims broadcast: (5, 1) with (4,)
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_torch(shapes) -> None:
    rng = np.random.default_rng(len(shapes[0]) * 10 + len(shapes[1]))
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    check_op(lambda x, y: x @ y, torch.matmul, a, b)


@PARITY
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), seed=seeds)
def test_batched_matmul_broadcasts_like_torch(batch, n: int, k: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=batch.input_shapes[0] + (n, k))
    b = rng.normal(size=batch.input_shapes[1] + (k, m))
    check_op(lambda x, y: x @ y, torch.matmul, a, b, seed=seed)


def test_rmatmul_with_an_ndarray_on_the_left() -> None:
    W = np.random.default_rng(1).normal(size=(2, 3))
    check_op(lambda x: W @ x, lambda x: torch.from_numpy(W) @ x, np.ones((3, 4)))


# ---- shape ops -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, new_shape", [((2, 3), (3, 2)), ((2, 3, 4), (-1,)), ((6,), (2, -1)),
                                              ((2, 3, 4), (4, 1, 6)), ((1,), ())])
def test_reshape_matches_torch(shape, new_shape) -> None:
    x = np.random.default_rng(0).normal(size=shape)
    check_op(lambda t: t.reshape(new_shape), lambda t: t.reshape(new_shape), x)
    if new_shape:  # torch's reshape() needs at least one argument
        check_op(lambda t: t.reshape(*new_shape), lambda t: t.reshape(*new_shape), x,
                 grad_check=False)


@pytest.mark.parametrize("ours, theirs, shape", [
    (lambda t: t.transpose(), lambda t: t.permute(2, 1, 0), (2, 3, 4)),
    (lambda t: t.T, lambda t: t.T, (2, 3)),
    (lambda t: t.transpose(0, 1), lambda t: t.transpose(0, 1), (2, 3)),  # torch-style swap, 2-D
    (lambda t: t.transpose(-2, -1), lambda t: t.transpose(-2, -1), (2, 3)),  # K.transpose(-2, -1)
    (lambda t: t.transpose(-2, -1), lambda t: t.transpose(-2, -1), (2, 3, 4)),
    (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2), (2, 3, 4)),
    (lambda t: t.transpose((2, 0, 1)), lambda t: t.permute(2, 0, 1), (2, 3, 4)),  # a permutation
    (lambda t: t.transpose((-1, 0, 1)), lambda t: t.permute(-1, 0, 1), (2, 3, 4)),
    (lambda t: t.transpose([1, 0]), lambda t: t.permute(1, 0), (2, 3)),
], ids=["reverse", "T", "swap01-2d", "swap-neg-2d", "swap-neg-3d", "swap02", "perm", "perm-neg",
        "perm-list"])
def test_transpose_matches_torch(ours, theirs, shape) -> None:
    check_op(ours, theirs, np.random.default_rng(0).normal(size=shape))


X34 = np.arange(12.0).reshape(3, 4)
INDEXES = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, None),
    "step slice": (slice(None), slice(None, None, 2)),
    "int and slice": (1, slice(0, 3)),
    "none and ellipsis": (None, Ellipsis, 2),
    "int array with repeats": np.array([0, 2, 0, 0]),
    "2-D int array": np.array([[0, 1], [1, 1]]),
    "pair of int arrays": (np.array([0, 0, 2]), np.array([1, 1, 3])),
    "array and slice": (np.array([2, 2]), slice(1, 3)),
    "boolean mask": X34 % 3 == 0,
    "boolean rows": np.array([True, False, True]),
}


def _torch_index(index):
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    return index


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_indexing_matches_torch(name: str) -> None:
    index = INDEXES[name]
    check_op(lambda t: t[index], lambda t: t[_torch_index(index)],
             np.random.default_rng(0).normal(size=(3, 4)))


def test_repeated_indices_add_up_their_gradients() -> None:
    x = Tensor(np.zeros(3), requires_grad=True)
    x[np.array([1, 1, 1, 2])].sum().backward()
    compare(x.grad, [0.0, 3.0, 1.0])


def test_negative_step_slice_passes_gradcheck() -> None:
    x = np.random.default_rng(0).normal(size=(2, 4))
    gradcheck(lambda t: t[::-1, 1:] * np.arange(6.0).reshape(2, 3), x)


def test_tensor_indices_work_alone_and_in_a_tuple() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    rows, cols = Tensor(np.array([0, 2, 2])), Tensor(np.array([3, 0, 0]))
    torch_rows, torch_cols = torch.tensor([0, 2, 2]), torch.tensor([3, 0, 0])
    check_op(lambda t: t[rows], lambda t: t[torch_rows], x)
    check_op(lambda t: t[rows, cols], lambda t: t[torch_rows, torch_cols], x)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cat_matches_torch(axis: int) -> None:
    rng = np.random.default_rng(0)
    shapes = [(1, 3), (2, 3), (3, 3)] if axis == 0 else [(2, 1), (2, 3), (2, 2)]
    check_op(lambda *ts: cat(ts, axis=axis), lambda *ts: torch.cat(ts, dim=axis),
             *[rng.normal(size=s) for s in shapes])


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_matches_torch(axis: int) -> None:
    rng = np.random.default_rng(0)
    check_op(lambda *ts: stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis),
             *[rng.normal(size=(2, 3)) for _ in range(3)])


# ---- a composite: a two-layer network ------------------------------------------------------------
def test_two_layer_network_matches_torch() -> None:
    rng = np.random.default_rng(0)
    X, W1, b1, W2 = (rng.normal(size=s) for s in [(5, 4), (4, 3), (3,), (3, 2)])
    y = np.array([0, 1, 1, 0, 1])

    def ours(X, W1, b1, W2):
        log_p = ((X @ W1 + b1).tanh() @ W2).log_softmax(axis=1)
        return -log_p[np.arange(5), y].mean()

    def theirs(X, W1, b1, W2):
        log_p = torch.log_softmax(torch.tanh(X @ W1 + b1) @ W2, dim=1)
        return -log_p[torch.arange(5), torch.from_numpy(y)].mean()

    check_op(ours, theirs, X, W1, b1, W2)


# ---- gradient bookkeeping ------------------------------------------------------------------------
def test_two_backward_calls_accumulate_like_torch() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for _ in range(2):
        (x * x * 3).sum().backward()
        (t * t * 3).sum().backward()
    compare(x.grad, t.grad, rtol=RTOL)
    compare(x.grad, [12.0, 24.0])


def test_zero_grad_clears_the_accumulated_gradient() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 5).sum().backward()
    x.zero_grad()
    assert x.grad is None
    (x * 2).sum().backward()
    compare(x.grad, [2.0, 2.0])


def test_a_node_used_twice_gets_the_summed_gradient() -> None:
    x = Tensor(np.array(3.0), requires_grad=True)
    (x * x).backward()
    compare(x.grad, 6.0)


def test_diamond_graph_sums_both_paths() -> None:
    check_op(lambda a: ((a * 2).exp() + (a * 2).tanh() * a).sum(),
             lambda a: ((a * 2).exp() + (a * 2).tanh() * a).sum(), np.array([0.3, -0.7]))
    a = Tensor(np.array(0.5), requires_grad=True)
    b = a * 2                 # shared node: both branches below reuse b
    (b.exp() + b * b).backward()
    compare(a.grad, 2 * np.exp(1.0) + 2 * 2 * 1.0, rtol=RTOL)


def test_non_leaf_gradients_reset_each_pass_while_leaves_accumulate() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    hidden = x * 3
    loss = (hidden * hidden).sum()
    loss.backward()
    loss.backward()
    compare(hidden.grad, 2 * 3 * np.array([1.0, 2.0]))       # one pass: d/dh h² = 2h
    compare(x.grad, 2 * 18 * np.array([1.0, 2.0]))           # two passes of d/dx 9x² = 18x


def test_no_grad_builds_no_graph() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        y = (x * 2).sum()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="expected a tensor that requires grad"):
        y.backward()
    assert (x * 2).requires_grad  # switched back on after the block


def test_constants_get_no_gradient() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    compare(x.grad, [3.0, 4.0])


def test_backward_through_a_long_chain_needs_no_recursion() -> None:
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.backward()
    compare(x.grad, 1.0001**3000, rtol=1e-9)


def test_backward_with_an_explicit_upstream_gradient() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 2).backward(np.array([1.0, -1.0]))
    compare(x.grad, [2.0, -2.0])


# ---- dtypes --------------------------------------------------------------------------------------
FLOAT32_OPS = {
    "scalar arithmetic": lambda x: ((x + 1) * 2.0 - 0.5) / 3,
    "reflected": lambda x: 1 - 2.0 / x + 2**x,
    "pow": lambda x: x**2 + x.abs().sqrt(),
    "exp log": lambda x: x.exp().log(),
    "activations": lambda x: x.tanh() + x.sigmoid() + x.relu(),
    "softmax": lambda x: x.softmax(axis=1) + x.log_softmax(axis=0),
    "reductions": lambda x: x.mean(axis=0) + x.var(axis=0) + x.max(axis=0) + x.sum(axis=0),
    "matmul": lambda x: x @ x.T,
    "shape": lambda x: cat([x.reshape(-1), x.T.reshape(-1), x[np.array([0, 0])].reshape(-1)]),
    "masked_fill": lambda x: x.masked_fill(np.eye(2, 3, dtype=bool), 0.0),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_OPS))
def test_float32_stays_float32(name: str) -> None:
    x = Tensor(np.array([[0.5, 1.0, 1.5], [2.0, 0.25, 0.75]], dtype=np.float32), requires_grad=True)
    out = FLOAT32_OPS[name](x)
    assert out.dtype == np.float32, f"{name}: forward became {out.dtype}"
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_data_becomes_float64() -> None:
    assert Tensor([1, 2, 3]).dtype == np.float64


# ---- errors say what was expected and what was found ---------------------------------------------
def test_broadcast_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"cannot broadcast shapes \(3, 4\) and \(5,\) in '\+'"):
        Tensor(np.ones((3, 4))) + Tensor(np.ones(5))


def test_matmul_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"inner dimensions to match, got \(2, 3\) @ \(4, 5\): "
                                         r"3 != 4"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"at least 1 dimension, got \(\) @ \(3,\)"):
        Tensor(2.0) @ Tensor(np.ones(3))


def test_backward_on_a_non_scalar_without_a_gradient_says_to_reduce() -> None:
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"expected a scalar output, got shape \(2, 3\)"
                                           r".*\.sum\(\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(2, 3\), got \(3,\)"):
        y.backward(np.ones(3))


def test_reshape_size_mismatch_counts_elements() -> None:
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) "
                                         r"\(6 elements\) into \(4,\)"):
        Tensor(np.ones((2, 3))).reshape(4)


def test_transpose_with_bad_axes_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match=r"two axes in \[-2, 2\) .* shape \(2, 3\), got \(0, 2\)"):
        Tensor(np.ones((2, 3))).transpose(0, 2)
    with pytest.raises(ValueError, match=r"permutation of the 3 axes .* got \(0, 0, 1\)"):
        Tensor(np.ones((2, 3, 4))).transpose((0, 0, 1))


def test_shape_errors_of_masked_fill_cat_stack_and_item() -> None:
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"mask broadcastable to \(2, 3\), got \(3, 3\)"):
        x.masked_fill(np.zeros((3, 3), dtype=bool), 0.0)
    with pytest.raises(ValueError, match=r"equal except along axis 0, got \(2, 3\), \(2, 4\)"):
        cat([x, Tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r"one shape, got \[\(2, 3\), \(2, 4\)\]"):
        stack([x, Tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r"one element, got shape \(2, 3\)"):
        x.item()
