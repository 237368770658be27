"""Recurrent cells: one time step of an RNN, LSTM or GRU, in torch's parameter layout (chapter 08).

    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    LSTM  [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh      one (4H)-row matmul per input
          c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(c')
    GRU   [r, z, n] rows of W_ih x + b_ih and of W_hh h + b_hh (kept apart, because of r ⊙ ·)
          r = σ(·), z = σ(·), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
          h' = (1 − z) ⊙ n + z ⊙ h

Weights are stacked by gate as in torch: an LSTM's ``weight_ih`` is (4H, I) with row blocks
i, f, g, o; a GRU's is (3H, I) with r, z, n. Each step is a few fused Tensor ops with their own
backward, so backpropagation through time records a handful of nodes per step, not dozens.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref.module import Module
from dlkit.ref.nn._utils import RngLike, as_rng, positive_int, uniform_parameter
from dlkit.ref.tensor import Tensor, as_tensor

Array = np.ndarray
State = tuple[Tensor, Tensor]


def _sigmoid(z: Array) -> Array:
    """σ(z) = (1 + tanh(z/2)) / 2: the same function, never overflows, keeps float32, and is
    several times faster in numpy than 1 / (1 + e^{−z}) with its overflow guard."""
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def _matmul_t(x: Array, w: Array) -> Array:
    """x @ wᵀ over the last axis of x; a stack (T, N, I) goes through BLAS as ONE (T·N, I)
    matrix, not as T separate products."""
    return (x.reshape(-1, x.shape[-1]) @ w.T).reshape(*x.shape[:-1], w.shape[0])


def affine_sum(terms: Sequence[tuple[Tensor, Tensor]],
               addends: Sequence[Tensor | None] = ()) -> Tensor:
    """Σₖ xₖ Wₖᵀ + Σ addends as ONE op (chapter 08): all the gates of a cell in one matmul per
    input. Each W has torch's (out, in) layout; ``None`` addends (no bias) are skipped."""
    addends = [as_tensor(a) for a in addends if a is not None]
    data = _matmul_t(terms[0][0].data, terms[0][1].data)
    for x, w in [*terms[1:], *((a, None) for a in addends)]:
        term = x.data if w is None else _matmul_t(x.data, w.data)
        if term.dtype == data.dtype and term.shape == data.shape[data.ndim - term.ndim:]:
            data += term               # in place: one (N, 4H) buffer per step, not one per term
        else:
            data = data + term
    parents = tuple(t for pair in terms for t in pair) + tuple(addends)
    out = Tensor._result(data, parents, "affine")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        g = out.grad
        g2 = g.reshape(-1, g.shape[-1])
        for x, w in terms:
            if x.requires_grad:   # reshaped to the output's rows; _accumulate undoes broadcasting
                x._accumulate((g2 @ w.data).reshape(*g.shape[:-1], w.shape[1]))
            if w.requires_grad:
                rows = np.broadcast_to(x.data, (*g.shape[:-1], x.shape[-1]))
                w._accumulate(g2.T @ rows.reshape(-1, x.shape[-1]))
        for a in addends:
            a._accumulate(g)
    out._backward = _backward
    return out


def lstm_state(gates: Tensor, c: Tensor) -> State:
    """(h', c') from the (N, 4H) pre-activations [i, f, g, o] and the memory c (chapter 08):
    c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),  h' = σ(o) ⊙ tanh(c').

    Two outputs, two Tensor ops; both write their part of ∂L/∂gates into one (N, 4H) buffer,
    and the c' op (whose backward always runs after h''s, since h' depends on c') hands it on."""
    hidden = c.shape[-1]
    z = gates.data
    input_forget = _sigmoid(z[..., :2 * hidden])          # the two neighbouring gates in one call
    i, f = input_forget[..., :hidden], input_forget[..., hidden:]
    g, o = np.tanh(z[..., 2 * hidden:3 * hidden]), _sigmoid(z[..., 3 * hidden:])
    c_new = Tensor._result(f * c.data + i * g, (gates, c), "lstm_memory")
    tanh_c = np.tanh(c_new.data)
    h_new = Tensor._result(o * tanh_c, (gates, c_new), "lstm_output")
    if not h_new.requires_grad:
        return h_new, c_new
    grad_gates: list[Array] = []    # the shared buffer, created by whichever backward runs first

    def buffer() -> Array:
        if not grad_gates:
            grad_gates.append(np.empty_like(z))
        return grad_gates[0]

    def output_backward() -> None:
        dh = h_new.grad
        if gates.requires_grad:
            buffer()[..., 3 * hidden:] = dh * tanh_c * o * (1 - o)
        c_new._accumulate(dh * o * (1 - tanh_c * tanh_c))

    def memory_backward() -> None:
        dc_new = c_new.grad
        if gates.requires_grad:
            if not grad_gates:      # h' got no gradient, so neither did the o gate
                buffer()[..., 3 * hidden:] = 0
            grad = grad_gates.pop()  # the next backward pass starts a fresh buffer
            grad[..., :hidden] = dc_new * g * i * (1 - i)
            grad[..., hidden:2 * hidden] = dc_new * c.data * f * (1 - f)
            grad[..., 2 * hidden:3 * hidden] = dc_new * i * (1 - g * g)
            gates._accumulate(grad)
        c._accumulate(dc_new * f)
    h_new._backward = output_backward
    c_new._backward = memory_backward
    return h_new, c_new


def gru_hidden(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """h' = (1 − z) ⊙ n + z ⊙ h from gi = W_ih x + b_ih and gh = W_hh h + b_hh, each (N, 3H)
    with row blocks r, z, n, using torch's n = tanh(gi_n + r ⊙ gh_n) (chapter 08)."""
    hidden = h.shape[-1]
    a, b = gi.data, gh.data
    reset_update = _sigmoid(a[..., :2 * hidden] + b[..., :2 * hidden])
    r, z = reset_update[..., :hidden], reset_update[..., hidden:]
    gh_n = b[..., 2 * hidden:]
    n = np.tanh(a[..., 2 * hidden:] + r * gh_n)
    out = Tensor._result((1 - z) * n + z * h.data, (gi, gh, h), "gru_hidden")
    if not out.requires_grad:
        return out

    def _backward() -> None:
        dh_new = out.grad
        dn = dh_new * (1 - z) * (1 - n * n)          # through n = tanh(·)
        dr = dn * gh_n * r * (1 - r)
        dz = dh_new * (h.data - n) * z * (1 - z)
        if gi.requires_grad:
            gi._accumulate(np.concatenate([dr, dz, dn], axis=-1))
        if gh.requires_grad:
            gh._accumulate(np.concatenate([dr, dz, dn * r], axis=-1))
        h._accumulate(dh_new * z)
    out._backward = _backward
    return out


def rnn_cell(x: Any, h: Tensor, weight_ih: Tensor, weight_hh: Tensor,
             bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
             nonlinearity: str = "tanh") -> Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu) (chapter 08)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell expected nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
    pre = affine_sum([(as_tensor(x), weight_ih), (h, weight_hh)], [bias_ih, bias_hh])
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_cell(x: Any, state: State, weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor | None = None, bias_hh: Tensor | None = None) -> State:
    """One LSTM step: (h, c) → (h', c') (chapter 08)."""
    h, c = state
    gates = affine_sum([(as_tensor(x), weight_ih), (h, weight_hh)], [bias_ih, bias_hh])
    return lstm_state(gates, c)


def gru_cell(x: Any, h: Tensor, weight_ih: Tensor, weight_hh: Tensor,
             bias_ih: Tensor | None = None, bias_hh: Tensor | None = None) -> Tensor:
    """One GRU step: h → h' (chapter 08)."""
    gi = affine_sum([(as_tensor(x), weight_ih)], [bias_ih])
    gh = affine_sum([(h, weight_hh)], [bias_hh])
    return gru_hidden(gi, gh, h)


def recurrent_parameters(owner: Module, suffix: str, gates: int, input_size: int,
                         hidden_size: int, bias: bool, rng: RngLike, dtype: DTypeLike) -> None:
    """Create weight_ih, weight_hh (and biases) on ``owner``, each U(±1/√hidden_size) like
    torch; ``suffix`` is "" for a cell and "_l0" for a sequence layer (torch's names)."""
    rng = as_rng(rng)
    bound = 1.0 / math.sqrt(hidden_size)
    rows = gates * hidden_size
    setattr(owner, f"weight_ih{suffix}", uniform_parameter((rows, input_size), bound, rng, dtype))
    setattr(owner, f"weight_hh{suffix}", uniform_parameter((rows, hidden_size), bound, rng, dtype))
    for name in ("bias_ih", "bias_hh"):
        value = uniform_parameter((rows,), bound, rng, dtype) if bias else None
        setattr(owner, name + suffix, value)


class _Cell(Module):
    """Shared by the cells: sizes, parameters and the checks on x and the state."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        recurrent_parameters(self, "", self.gates, self.input_size, self.hidden_size, bias, rng,
                             dtype)

    def _input(self, x: Any) -> tuple[Tensor, bool]:
        """x as (N, input_size), and whether it came unbatched as (input_size,)."""
        x = as_tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__} expected input of shape "
                             f"(N, {self.input_size}) or ({self.input_size},), got {x.shape}")
        return (x.reshape(1, -1), True) if x.ndim == 1 else (x, False)

    def _state(self, state: Any, batch: int, name: str, unbatched: bool) -> Tensor:
        if state is None:
            return Tensor(np.zeros((batch, self.hidden_size), dtype=self.weight_hh.dtype))
        state = as_tensor(state)
        expected = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
        if state.shape != expected:
            raise ValueError(f"{type(self).__name__} expected {name} of shape {expected}, "
                             f"got {state.shape}")
        return state.reshape(1, -1) if unbatched else state

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class RNNCell(_Cell):
    """A vanilla RNN cell, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (chapter 08)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell expected nonlinearity 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, rng, dtype)

    def forward(self, x: Any, h: Any = None) -> Tensor:
        x, unbatched = self._input(x)
        h = self._state(h, x.shape[0], "h", unbatched)
        h_new = rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                         self.nonlinearity)
        return h_new.reshape(-1) if unbatched else h_new


class LSTMCell(_Cell):
    """An LSTM cell: forward(x, (h, c)) → (h', c'); weight_ih is (4H, I) with gates i, f, g, o
    (chapter 08)."""

    gates = 4

    def forward(self, x: Any, state: tuple[Any, Any] | None = None) -> State:
        x, unbatched = self._input(x)
        h, c = (None, None) if state is None else state
        h = self._state(h, x.shape[0], "h", unbatched)
        c = self._state(c, x.shape[0], "c", unbatched)
        h_new, c_new = lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih,
                                 self.bias_hh)
        return (h_new.reshape(-1), c_new.reshape(-1)) if unbatched else (h_new, c_new)


class GRUCell(_Cell):
    """A GRU cell: forward(x, h) → h'; weight_ih is (3H, I) with gates r, z, n (chapter 08)."""

    gates = 3

    def forward(self, x: Any, h: Any = None) -> Tensor:
        x, unbatched = self._input(x)
        h = self._state(h, x.shape[0], "h", unbatched)
        h_new = gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h_new.reshape(-1) if unbatched else h_new
