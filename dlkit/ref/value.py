"""micrograd's scalar autograd ``Value`` (chapter 03).

A ``Value`` wraps one float and remembers the operation and the inputs that produced it, so the
whole computation is a graph. ``backward()`` walks that graph from the output back to the inputs
in reverse topological order, and each node applies the chain rule locally:

    parent.grad += ∂out/∂parent · out.grad

``+=`` (not ``=``) is what makes a value used twice (``x * x``, or a diamond ``a → b, c → d``)
receive the *sum* of its gradients. Like torch, inputs (leaves) keep accumulating across
``backward()`` calls until ``zero_grad``; intermediate values get fresh gradients each pass.
``dlkit.ref.Tensor`` is the same idea on whole arrays.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from numbers import Real

from dlkit.ref import graph

Number = int | float


def _check_number(data: object, what: str) -> float:
    if isinstance(data, bool) or not isinstance(data, Real):
        raise TypeError(f"{what} expected a real number (int or float), got {type(data).__name__} "
                        f"({data!r})")
    return float(data)


class Value:
    """A scalar that remembers how it was computed (chapter 03)."""

    __array_ufunc__ = None  # make `np.float64(2) * v` call Value.__rmul__ instead of numpy's loop

    def __init__(self, data: Number, _prev: tuple[Value, ...] = (), _op: str = "",
                 label: str = "") -> None:
        self.data = _check_number(data, "Value")
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._op = _op
        self.label = label
        self._backward: Callable[[], None] = lambda: None

    # ---- public view of the graph (for dlkit.viz) ---------------------------------------------
    @property
    def op(self) -> str:
        """The operation that produced this value ("" for an input)."""
        return self._op

    def parents(self) -> tuple[Value, ...]:
        """The values this one was computed from (a value used twice appears twice)."""
        return self._prev

    def __repr__(self) -> str:
        name = f"label={self.label!r}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # ---- arithmetic ------------------------------------------------------------------------------
    def __add__(self, other: Value | Number) -> Value:
        other = _lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = _lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __truediv__(self, other: Value | Number) -> Value:
        other = _lift(other)
        if other.data == 0:
            raise ZeroDivisionError(f"division expected a nonzero divisor, got {other!r}")
        out = Value(self.data / other.data, (self, other), "/")

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad += -self.data / other.data**2 * out.grad
        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        if isinstance(exponent, Value):
            raise TypeError("Value ** expected a number exponent (int or float), got a Value; "
                            "write (b * a.log()).exp() for a ** b")
        k = _check_number(exponent, "Value **")
        if self.data < 0 and not k.is_integer():
            raise ValueError(f"pow expected a non-negative base for the non-integer exponent "
                             f"{k:g}, got {self.data:g} (the result would not be a real number)")
        if self.data == 0 and k < 0:
            raise ValueError(f"pow expected a nonzero base for the negative exponent {k:g}, got 0")
        out = Value(self.data**k, (self,), f"**{k:g}")

        def _backward() -> None:
            # d(x^0)/dx = 0 everywhere; k * x^(k-1) would be 0 * 0^-1 at x = 0
            self.grad += (k * self.data ** (k - 1) if k != 0 else 0.0) * out.grad
        out._backward = _backward
        return out

    def __rpow__(self, base: Number) -> Value:
        b = _check_number(base, "number ** Value")
        if b <= 0:
            raise ValueError(f"number ** Value expected a positive base (its gradient needs "
                             f"ln(base)), got {b:g}")
        return (self * math.log(b)).exp()

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-_lift(other))

    def __radd__(self, other: Number) -> Value:
        return _lift(other) + self

    def __rsub__(self, other: Number) -> Value:
        return _lift(other) - self

    def __rmul__(self, other: Number) -> Value:
        return _lift(other) * self

    def __rtruediv__(self, other: Number) -> Value:
        return _lift(other) / self

    # ---- functions -------------------------------------------------------------------------------
    def exp(self) -> Value:
        try:
            e = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp expected an argument below about 709.78 (the largest float "
                                f"is e^709.78), got {self.data:g}") from None
        out = Value(e, (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad  # (e^x)' = e^x, already computed
        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log expected a positive number, got {self.data:g}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self) -> Value:
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - out.data**2) * out.grad
        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        x = self.data
        # two forms so that e is never e^{+large}: no overflow for x = ±1000
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:
            self.grad += out.data * (1.0 - out.data) * out.grad
        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward() -> None:
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad  # 0 at x = 0, as in torch
        out._backward = _backward
        return out

    # ---- backward --------------------------------------------------------------------------------
    def backward(self) -> None:
        """Fill ``.grad`` of every value this one depends on with ∂self/∂value (chapter 03)."""
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0  # intermediate gradients are per pass; inputs accumulate
        self.grad += 1.0  # ∂self/∂self
        for node in reversed(order):
            node._backward()


def _lift(x: Value | Number) -> Value:
    if isinstance(x, Value):
        return x
    return Value(_check_number(x, "Value arithmetic"))


def topological_order(root: Value) -> list[Value]:
    """Every value ``root`` depends on, each after its parents, ``root`` last (chapter 03)."""
    return graph.topological_order(root, lambda node: node._prev)


def trace(root: Value) -> tuple[list[Value], list[tuple[Value, Value]]]:
    """The graph behind ``root`` for drawing (chapter 03): nodes in topological order, and one
    ``(parent, child)`` edge per distinct input of each operation."""
    nodes = topological_order(root)
    edges: list[tuple[Value, Value]] = []
    for child in nodes:
        seen: set[int] = set()
        for parent in child.parents():
            if id(parent) not in seen:
                seen.add(id(parent))
                edges.append((parent, child))
    return nodes, edges


def zero_grad(values: Iterable[Value]) -> None:
    """Reset ``.grad`` to 0 for each value, e.g. a neuron's weights before a step (chapter 03)."""
    for i, v in enumerate(values):
        if not isinstance(v, Value):
            raise TypeError(f"zero_grad expected Values, got {type(v).__name__} at position {i}")
        v.grad = 0.0
