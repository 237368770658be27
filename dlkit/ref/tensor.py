"""A vectorised reverse-mode autograd ``Tensor`` on numpy arrays (chapter 03).

It is micrograd's scalar ``Value`` grown up to arrays: every operation

1. coerces its inputs to ``Tensor``,
2. computes ``out`` with numpy,
3. attaches a closure that applies the local chain rule, ``parent.grad += ∂out/∂parent · out.grad``,
4. returns ``out``.

Broadcasting makes one rule essential: when ``x`` of shape (3, 1) is broadcast to (3, 4) in the
forward pass, its gradient is *summed* back over the broadcast axes (``unbroadcast``).
Leaves accumulate ``.grad`` across ``backward()`` calls like torch; ``zero_grad()`` clears them.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from dlkit.ref import activations as act
from dlkit.ref.graph import topological_order

Array = np.ndarray
Operand = Union["Tensor", Array, float, int]

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block operations build no graph (evaluation, parameter updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _as_array(data: Any, dtype: Any = None) -> Array:
    array = np.asarray(data, dtype=dtype)
    if dtype is None and array.dtype.kind not in "fc":
        array = array.astype(np.float64)
    return array


def _lift(x: Operand, like: Tensor) -> Tensor:
    """``x`` as a Tensor; a plain Python number takes ``like``'s float dtype, as in torch.

    Without this, numpy 2 would turn ``float32 * 2.0`` into float64 (a 0-d float64 array is
    not a "weak" Python scalar).
    """
    if isinstance(x, (int, float)) and like.dtype.kind == "f":
        return Tensor(x, dtype=like.dtype)
    return as_tensor(x)


def _broadcast_shape(op: str, a: Tensor, b: Tensor) -> None:
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"cannot broadcast shapes {a.shape} and {b.shape} in '{op}': "
            "aligned from the right, each pair of dimensions must be equal or one of them 1"
        ) from None


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class Tensor:
    """An n-dimensional array that remembers how it was computed (chapter 03)."""

    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 _parents: tuple[Tensor, ...] = (), _op: str = "") -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: Array = _as_array(data, dtype)
        self.grad: Array | None = None
        self.requires_grad = requires_grad
        self._parents = _parents
        self._op = _op
        self._backward: Callable[[], None] = lambda: None

    # ---- plumbing -------------------------------------------------------------------------
    @staticmethod
    def _result(data: Array, parents: tuple[Tensor, ...], op: str) -> Tensor:
        """The output of an op; it joins the graph only if some parent needs a gradient."""
        needs_grad = _grad_enabled and any(p.requires_grad for p in parents)
        return Tensor(data, requires_grad=needs_grad, _parents=parents if needs_grad else (),
                      _op=op if needs_grad else "")

    def _accumulate(self, grad: Array) -> None:
        if not self.requires_grad:
            return
        grad = unbroadcast(np.asarray(grad), self.shape).astype(self.data.dtype, copy=False)
        if self.grad is None:
            # a leaf's gradient outlives the pass, so it must not alias another node's buffer
            self.grad = grad.copy() if self.is_leaf else grad
        else:
            self.grad = self.grad + grad

    @property
    def is_leaf(self) -> bool:
        return not self._parents

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extra = f", grad_fn={self._op}" if self._op else (", requires_grad=True" if self.requires_grad else "")
        return f"Tensor({body}{extra})"

    def numpy(self) -> Array:
        return self.data

    def item(self) -> float:
        if self.size != 1:
            raise ValueError(f"item() expected a tensor with one element, got shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # ---- backward -------------------------------------------------------------------------
    def backward(self, grad: Operand | None = None) -> None:
        """Fill ``.grad`` of every tensor this one depends on with ∂self/∂tensor."""
        if not self.requires_grad:
            raise RuntimeError("backward() expected a tensor that requires grad; this one does not "
                               "(create the leaves with requires_grad=True)")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() without an argument expected a scalar output, got shape "
                                   f"{self.shape}; reduce it first (e.g. .sum() or .mean())")
            seed = np.ones_like(self.data)
        else:
            seed = _as_array(grad.data if isinstance(grad, Tensor) else grad, self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward() expected a gradient of shape {self.shape}, got {seed.shape}")
        order = topological_order(self, lambda node: node._parents)
        for node in order:
            if not node.is_leaf:
                node.grad = None  # intermediate gradients are per pass; leaves accumulate
        self._accumulate(seed)
        for node in reversed(order):
            if node.grad is not None and not node.is_leaf:
                node._backward()

    # ---- arithmetic -----------------------------------------------------------------------
    def __add__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        _broadcast_shape("+", self, other)
        out = Tensor._result(self.data + other.data, (self, other), "add")

        def _backward() -> None:
            self._accumulate(out.grad)
            other._accumulate(out.grad)
        out._backward = _backward
        return out

    def __mul__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        _broadcast_shape("*", self, other)
        out = Tensor._result(self.data * other.data, (self, other), "mul")

        def _backward() -> None:
            self._accumulate(other.data * out.grad)
            other._accumulate(self.data * out.grad)
        out._backward = _backward
        return out

    def __truediv__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        _broadcast_shape("/", self, other)
        out = Tensor._result(self.data / other.data, (self, other), "div")

        def _backward() -> None:
            self._accumulate(out.grad / other.data)
            other._accumulate(-out.grad * self.data / (other.data * other.data))
        out._backward = _backward
        return out

    def __pow__(self, exponent: Operand) -> Tensor:
        if isinstance(exponent, (int, float)):
            out = Tensor._result(self.data ** exponent, (self,), "pow")

            def _backward() -> None:
                if exponent == 0:  # d(x^0)/dx = 0, even at x = 0 where x^-1 is inf (torch agrees)
                    self._accumulate(np.zeros_like(self.data))
                    return
                self._accumulate(exponent * self.data ** (exponent - 1) * out.grad)
            out._backward = _backward
            return out
        exponent = as_tensor(exponent)  # a tensor exponent: d(a^b)/db = a^b ln a, needs a > 0
        _broadcast_shape("**", self, exponent)
        out = Tensor._result(self.data ** exponent.data, (self, exponent), "pow")

        def _backward_tensor() -> None:
            self._accumulate(exponent.data * self.data ** (exponent.data - 1) * out.grad)
            if exponent.requires_grad:  # ln(base) is only needed (and defined) for this one
                exponent._accumulate(out.data * np.log(self.data) * out.grad)
        out._backward = _backward_tensor
        return out

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Operand) -> Tensor:
        return self + (-_lift(other, self))

    def __radd__(self, other: Operand) -> Tensor:
        return _lift(other, self) + self

    def __rsub__(self, other: Operand) -> Tensor:
        return _lift(other, self) - self

    def __rmul__(self, other: Operand) -> Tensor:
        return _lift(other, self) * self

    def __rtruediv__(self, other: Operand) -> Tensor:
        return _lift(other, self) / self

    def __rpow__(self, base: Operand) -> Tensor:
        return _lift(base, self) ** self

    def __matmul__(self, other: Operand) -> Tensor:
        other = as_tensor(other)
        a, b = self.data, other.data
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul expected tensors with at least 1 dimension, got {a.shape} @ {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul expected the inner dimensions to match, got {a.shape} @ {b.shape}: "
                             f"{a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]}")
        if a.ndim > 2 and b.ndim == 2:  # (..., n, k) @ (k, m): a stack of rows, one BLAS call
            return self._stacked_matmul(other)
        out = Tensor._result(a @ b, (self, other), "matmul")

        def _backward() -> None:
            # treat vectors as a row (left) or a column (right) matrix, then undo it
            a2 = a[None, :] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            g = out.grad
            if b.ndim == 1:
                g = np.expand_dims(g, -1)
            if a.ndim == 1:  # after the column axis, so a 0-d grad (vector @ vector) works too
                g = np.expand_dims(g, -2)
            if self.requires_grad:
                self._accumulate(unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape))
            if other.requires_grad:
                other._accumulate(unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape))
        out._backward = _backward
        return out

    def _stacked_matmul(self, other: Tensor) -> Tensor:
        """(..., n, k) @ (k, m) as one (N, k) @ (k, m) product: numpy would loop over the batch."""
        a, b = self.data, other.data
        rows = a.reshape(-1, a.shape[-1])
        out = Tensor._result((rows @ b).reshape(*a.shape[:-1], b.shape[-1]), (self, other), "matmul")

        def _backward() -> None:
            g = out.grad.reshape(-1, b.shape[-1])
            if self.requires_grad:
                self._accumulate((g @ b.T).reshape(a.shape))
            if other.requires_grad:
                other._accumulate(rows.T @ g)
        out._backward = _backward
        return out

    def __rmatmul__(self, other: Operand) -> Tensor:
        return as_tensor(other) @ self

    # ---- elementwise functions ------------------------------------------------------------
    def apply(self, f: Callable[[Array], Array], df: Callable[[Array], Array], name: str) -> Tensor:
        """y = f(x) elementwise, with ∂y/∂x = df(x): how every activation joins the graph."""
        out = Tensor._result(f(self.data), (self,), name)

        def _backward() -> None:
            self._accumulate(df(self.data) * out.grad)
        out._backward = _backward
        return out

    def exp(self) -> Tensor:
        out = Tensor._result(np.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self._accumulate(out.data * out.grad)  # (e^x)' = e^x, already computed
        out._backward = _backward
        return out

    def log(self) -> Tensor:
        return self.apply(np.log, lambda x: 1.0 / x, "log")

    def sqrt(self) -> Tensor:
        return self ** 0.5

    def abs(self) -> Tensor:
        return self.apply(np.abs, np.sign, "abs")

    def tanh(self) -> Tensor:
        out = Tensor._result(np.tanh(self.data), (self,), "tanh")

        def _backward() -> None:
            self._accumulate((1.0 - out.data * out.data) * out.grad)
        out._backward = _backward
        return out

    def sigmoid(self) -> Tensor:
        out = Tensor._result(act.sigmoid(self.data), (self,), "sigmoid")

        def _backward() -> None:
            self._accumulate(out.data * (1.0 - out.data) * out.grad)
        out._backward = _backward
        return out

    def relu(self) -> Tensor:
        return self.apply(act.relu, act.d_relu, "relu")

    def softmax(self, axis: int = -1) -> Tensor:
        out = Tensor._result(act.softmax(self.data, axis), (self,), "softmax")

        def _backward() -> None:
            s, g = out.data, out.grad
            self._accumulate(s * (g - (g * s).sum(axis=axis, keepdims=True)))
        out._backward = _backward
        return out

    def log_softmax(self, axis: int = -1) -> Tensor:
        out = Tensor._result(act.log_softmax(self.data, axis), (self,), "log_softmax")

        def _backward() -> None:
            g = out.grad
            self._accumulate(g - np.exp(out.data) * g.sum(axis=axis, keepdims=True))
        out._backward = _backward
        return out

    def masked_fill(self, mask: Array | Tensor, value: float) -> Tensor:
        """Entries where ``mask`` is True become ``value`` (and get no gradient): attention masks."""
        mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
        try:
            filled = np.where(mask, np.asarray(value, dtype=self.dtype), self.data)
        except ValueError:
            raise ValueError(f"masked_fill expected a mask broadcastable to {self.shape}, got {mask.shape}") from None
        if filled.shape != self.shape:
            raise ValueError(f"masked_fill expected a mask broadcastable to {self.shape}, got {mask.shape}")
        out = Tensor._result(filled, (self,), "masked_fill")

        def _backward() -> None:
            self._accumulate(np.where(mask, 0.0, out.grad))
        out._backward = _backward
        return out

    # ---- reductions -----------------------------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        out = Tensor._result(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward() -> None:
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self._accumulate(np.broadcast_to(g, self.shape))
        out._backward = _backward
        return out

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        count = self.size if axis is None else int(np.prod([self.shape[i] for i in np.atleast_1d(axis)]))
        return self.sum(axis=axis, keepdims=keepdims) / count

    def var(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
            unbiased: bool = False) -> Tensor:
        """Variance; ``unbiased=False`` (divide by N) is what batch and layer norm use."""
        count = self.size if axis is None else int(np.prod([self.shape[i] for i in np.atleast_1d(axis)]))
        centred = self - self.mean(axis=axis, keepdims=True)
        return (centred * centred).sum(axis=axis, keepdims=keepdims) / (count - 1 if unbiased else count)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum; ties share the gradient equally (like ``torch.amax``)."""
        out = Tensor._result(self.data.max(axis=axis, keepdims=keepdims), (self,), "max")

        def _backward() -> None:
            kept = out.data if keepdims or axis is None else np.expand_dims(out.data, axis)
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            winners = (self.data == kept)
            self._accumulate(winners * g / winners.sum(axis=axis, keepdims=True))
        out._backward = _backward
        return out

    # ---- shape ----------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        new_shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        try:
            data = self.data.reshape(new_shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {self.shape} ({self.size} elements) "
                             f"into {new_shape}") from None
        out = Tensor._result(data, (self,), "reshape")

        def _backward() -> None:
            self._accumulate(out.grad.reshape(self.shape))
        out._backward = _backward
        return out

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """``x.transpose(i, j)`` swaps two axes like ``torch.transpose``; ``x.transpose((2, 0, 1))``
        permutes like numpy; ``x.transpose()`` reverses them all."""
        if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            # two separate axes always mean "swap", even on a 2-D tensor: K.transpose(-2, -1)
            full = list(range(self.ndim))
            try:
                full[axes[0]], full[axes[1]] = full[axes[1]], full[axes[0]]
            except IndexError:
                raise ValueError(f"transpose expected two axes in [-{self.ndim}, {self.ndim}) for a tensor "
                                 f"of shape {self.shape}, got {axes}") from None
            order = tuple(full)
        else:
            order = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
            order = order or tuple(reversed(range(self.ndim)))
            if sorted(a % self.ndim if self.ndim else a for a in order) != list(range(self.ndim)):
                raise ValueError(f"transpose expected a permutation of the {self.ndim} axes of a tensor "
                                 f"of shape {self.shape}, got {order}")
            order = tuple(a % self.ndim for a in order)  # argsort below needs non-negative axes
        out = Tensor._result(self.data.transpose(order), (self,), "transpose")

        def _backward() -> None:
            self._accumulate(out.grad.transpose(np.argsort(order)))
        out._backward = _backward
        return out

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data.astype(np.int64)
        elif isinstance(index, tuple):  # x[rows, cols] with Tensors of indices, as in a loss's gather
            index = tuple(i.data.astype(np.int64) if isinstance(i, Tensor) else i for i in index)
        out = Tensor._result(self.data[index], (self,), "index")

        def _backward() -> None:
            grad = np.zeros_like(self.data)
            if _is_basic_index(index):
                grad[index] += out.grad
            else:
                np.add.at(grad, index, out.grad)  # repeated indices must add up
            self._accumulate(grad)
        out._backward = _backward
        return out


def as_tensor(x: Operand) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant Tensor holding it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def cat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Concatenate along ``axis``; each input gets back its own slice of the gradient."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat expected at least one tensor, got none")
    try:
        data = np.concatenate([t.data for t in tensors], axis=axis)
    except ValueError:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"cat expected shapes equal except along axis {axis}, got {shapes}") from None
    out = Tensor._result(data, tuple(tensors), "cat")

    def _backward() -> None:
        bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]
        for t, g in zip(tensors, np.split(out.grad, bounds, axis=axis), strict=True):
            t._accumulate(g)
    out._backward = _backward
    return out


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new ``axis``."""
    tensors = [as_tensor(t) for t in tensors]
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack expected tensors of one shape, got {sorted(shapes)}")
    return cat([t.reshape(np.expand_dims(t.data, axis).shape) for t in tensors], axis=axis)
