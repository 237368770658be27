"""dlkit.ref.value.Value: micrograd's scalar autograd, checked against torch (chapter 03)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.ref.value import Value, topological_order, trace, zero_grad

RTOL = 1e-10


def torch_scalar(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def assert_matches_torch(f: Callable, *inputs: float, rtol: float = RTOL,
                         atol: float = 1e-12) -> None:
    """f written once works on Values and on 0-d torch tensors; value and gradients must agree."""
    vs = [Value(x) for x in inputs]
    ts = [torch_scalar(x) for x in inputs]
    out, expected = f(*vs), f(*ts)
    assert isinstance(out, Value)
    assert out.data == pytest.approx(expected.item(), rel=rtol, abs=atol)
    out.backward()
    expected.backward()
    for i, (v, t) in enumerate(zip(vs, ts, strict=True)):
        want = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(want, rel=rtol, abs=atol), f"gradient of input {i}"


# ---- each operation ------------------------------------------------------------------------------
OPS = {
    "add": (lambda a, b: a + b, (1.5, -2.0)),
    "sub": (lambda a, b: a - b, (1.5, -2.0)),
    "mul": (lambda a, b: a * b, (1.5, -2.0)),
    "div": (lambda a, b: a / b, (1.5, -2.0)),
    "pow int": (lambda a: a**3, (-1.5,)),
    "pow float": (lambda a: a**0.5, (2.0,)),
    "pow negative": (lambda a: a**-2, (-1.5,)),
    "neg": (lambda a: -a, (1.5,)),
    "exp": (lambda a: a.exp(), (1.5,)),
    "log": (lambda a: a.log(), (1.5,)),
    "tanh": (lambda a: a.tanh(), (0.7,)),
    "sigmoid": (lambda a: a.sigmoid(), (-0.7,)),
    "relu positive": (lambda a: a.relu(), (0.7,)),
    "relu negative": (lambda a: a.relu(), (-0.7,)),
    "relu at zero": (lambda a: a.relu(), (0.0,)),  # gradient 0 at the kink, as torch
    "radd": (lambda a: 2 + a, (1.5,)),
    "rsub": (lambda a: 2 - a, (1.5,)),
    "rmul": (lambda a: 2 * a, (1.5,)),
    "rtruediv": (lambda a: 2 / a, (1.5,)),
    "rpow": (lambda a: 2**a, (1.5,)),
    "number on the right": (lambda a: (a + 1) * 3 - 0.5, (1.5,)),
    "pow zero at zero": (lambda a: a**0, (0.0,)),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_each_op_matches_torch(name: str) -> None:
    f, inputs = OPS[name]
    assert_matches_torch(f, *inputs)


def test_sigmoid_is_finite_at_extremes() -> None:
    for x, want in ((1000.0, 1.0), (-1000.0, 0.0)):
        assert_matches_torch(lambda a: a.sigmoid(), x)
        assert Value(x).sigmoid().data == want


# ---- random expressions --------------------------------------------------------------------------
# Each entry works on a Value and on a torch tensor alike; the "safe" forms keep every input of
# log, / and ** inside the domain whatever values flow in.
UNARY = {
    "neg": lambda a: -a,
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "exp": lambda a: a.tanh().exp(),
    "log": lambda a: (1 + a * a).log(),
    "square": lambda a: a**2,
    "rsqrt": lambda a: (1 + a * a) ** -0.5,
    "rpow": lambda a: 2 ** a.tanh(),
    "rsub": lambda a: 0.5 - a,
    "rdiv": lambda a: 1 / (1 + a * a),
}
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / (2 + b.tanh()),
}

expressions = st.recursive(
    st.sampled_from(["x", "y", "z"]),
    lambda children: st.one_of(st.tuples(st.sampled_from(sorted(UNARY)), children),
                               st.tuples(st.sampled_from(sorted(BINARY)), children, children)),
    max_leaves=8,
)


def evaluate(tree, env: dict):
    if isinstance(tree, str):
        return env[tree]
    if len(tree) == 2:
        return UNARY[tree[0]](evaluate(tree[1], env))
    return BINARY[tree[0]](evaluate(tree[1], env), evaluate(tree[2], env))


@settings(max_examples=25, deadline=None)
@given(tree=expressions, xyz=st.tuples(*[st.floats(-2.0, 2.0)] * 3))
def test_random_expressions_match_torch(tree, xyz) -> None:
    assert_matches_torch(lambda x, y, z: evaluate(tree, {"x": x, "y": y, "z": z}), *xyz,
                         rtol=1e-9, atol=1e-9)


# ---- gradient bookkeeping ------------------------------------------------------------------------
def test_a_value_used_twice_gets_the_summed_gradient() -> None:
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    y = Value(3.0)
    (y + y).backward()
    assert y.grad == 2.0


def test_diamond_graph_sums_both_paths() -> None:
    a = Value(0.5)
    b = a * 2
    (b.exp() + b * b).backward()  # d/da [e^{2a} + 4a²] = 2e^{2a} + 8a
    assert a.grad == pytest.approx(2 * math.e + 4.0, rel=RTOL)


def test_leaves_accumulate_across_backward_like_torch_and_zero_grad_resets() -> None:
    x, t = Value(2.0), torch_scalar(2.0)
    for _ in range(2):
        (x * x * 3).backward()
        (t * t * 3).backward()
    assert x.grad == pytest.approx(t.grad.item()) == 24.0
    zero_grad([x])
    assert x.grad == 0.0
    (x * 5).backward()
    assert x.grad == 5.0


def test_intermediate_gradients_are_per_pass() -> None:
    x = Value(2.0)
    hidden = x * 3
    loss = hidden * hidden
    loss.backward()
    loss.backward()
    assert hidden.grad == 12.0      # d(h²)/dh = 2h, once
    assert loss.grad == 1.0
    assert x.grad == 2 * 36.0       # two passes of d(9x²)/dx = 18x


def test_backward_on_a_value_that_depends_on_nothing() -> None:
    x = Value(4.0)
    x.backward()
    assert x.grad == 1.0


def test_a_long_chain_needs_no_recursion() -> None:
    x = Value(1.0)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000, rel=1e-9)


def test_a_neuron_matches_torch() -> None:
    # micrograd's example neuron: tanh(x1 w1 + x2 w2 + b) with b chosen so the output is 1/√2
    def neuron(x1, x2, w1, w2, b):
        return (x1 * w1 + x2 * w2 + b).tanh()

    inputs = (2.0, 0.0, -3.0, 1.0, 6.8813735870195432)
    assert_matches_torch(neuron, *inputs)
    vs = [Value(v) for v in inputs]
    out = neuron(*vs)
    out.backward()
    assert out.data == pytest.approx(math.sqrt(0.5), rel=1e-12)
    assert [v.grad for v in vs] == pytest.approx([-1.5, 0.5, 1.0, 0.0, 0.5], rel=1e-9)


def test_training_a_neuron_reduces_its_loss() -> None:
    rng = np.random.default_rng(0)
    w = [Value(float(v)) for v in rng.normal(size=2)]
    b = Value(0.0)
    X = [(1.0, 2.0), (-1.0, 0.5), (2.0, -1.0)]
    y = [1.0, -1.0, 1.0]

    def loss() -> Value:
        total = Value(0.0)
        for (x1, x2), target in zip(X, y, strict=True):
            total = total + ((w[0] * x1 + w[1] * x2 + b).tanh() - target) ** 2
        return total

    first = loss().data
    for _ in range(20):
        zero_grad([*w, b])
        loss().backward()
        for p in (*w, b):
            p.data -= 0.1 * p.grad
    assert loss().data < 0.5 * first


# ---- the graph, for drawing ----------------------------------------------------------------------
def test_trace_lists_nodes_in_order_and_each_edge_once() -> None:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    c.label = "c"
    d = c + a
    e = d * d
    nodes, edges = trace(e)
    assert nodes[-1] is e and set(map(id, nodes)) == {id(v) for v in (a, b, c, d, e)}
    position = {id(n): i for i, n in enumerate(nodes)}
    assert all(position[id(p)] < position[id(ch)] for p, ch in edges)  # parents come first
    assert [(p.label or p.op, ch.op) for p, ch in edges if ch is e] == [("+", "*")]  # d*d: one edge
    assert {(id(p), id(ch)) for p, ch in edges} == {(id(a), id(c)), (id(b), id(c)), (id(c), id(d)),
                                                    (id(a), id(d)), (id(d), id(e))}
    assert c.op == "*" and c.parents() == (a, b) and a.op == "" and a.parents() == ()
    assert e.parents() == (d, d)
    assert topological_order(e) == nodes
    assert repr(a) == "Value(label='a', data=2, grad=0)"


# ---- errors --------------------------------------------------------------------------------------
def test_non_number_data_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Value expected a real number \(int or float\), "
                                        r"got str \('a'\)"):
        Value("a")
    with pytest.raises(TypeError, match="got bool"):
        Value(True)
    with pytest.raises(TypeError, match="got list"):
        Value(1.0) + [1.0]
    assert Value(np.float32(1.5)).data == 1.5


def test_log_of_a_non_positive_number_says_so() -> None:
    with pytest.raises(ValueError, match="log expected a positive number, got -1"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="log expected a positive number, got 0"):
        Value(0.0).log()


def test_pow_errors() -> None:
    with pytest.raises(TypeError, match="expected a number exponent .* got a Value"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="non-negative base for the non-integer exponent 0.5, "
                                         "got -4"):
        Value(-4.0) ** 0.5
    with pytest.raises(ValueError, match="nonzero base for the negative exponent -1, got 0"):
        Value(0.0) ** -1
    with pytest.raises(ValueError, match="positive base .* got -2"):
        (-2) ** Value(2.0)


def test_division_by_zero_and_exp_overflow_are_explained() -> None:
    with pytest.raises(ZeroDivisionError, match="nonzero divisor"):
        Value(1.0) / 0
    with pytest.raises(OverflowError, match="exp expected an argument below about 709.78"
                                            ".*got 1000"):
        Value(1000.0).exp()


def test_zero_grad_refuses_non_values() -> None:
    with pytest.raises(TypeError, match="zero_grad expected Values, got float at position 1"):
        zero_grad([Value(1.0), 2.0])


def test_numpy_scalars_on_the_left_give_values() -> None:
    out = np.float64(2.0) * Value(3.0)
    assert isinstance(out, Value) and out.data == 6.0
