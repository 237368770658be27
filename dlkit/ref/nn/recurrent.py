"""Recurrent layers over a whole sequence: the cell unrolled in time (chapter 08).

For x of shape (T, N, I) (``batch_first=True``: (N, T, I)) the input part W_ih x_t + b_ih of
every step is computed at once, one big matmul for the whole sequence, because it does not
depend on the state; only W_hh h_{t−1} has to wait for the previous step. Calling
``backward()`` on the outputs is backpropagation through time: the graph holds every step, so
the gradient flows from the last step back to the first (which is why long sequences vanish or
explode, chapter 08).

Parameters carry torch's names for layer 0 (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``), so ``load_torch_weights`` copies a one-layer ``torch.nn.LSTM`` straight in.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dlkit.ref.module import Module
from dlkit.ref.nn._utils import RngLike, positive_int
from dlkit.ref.nn.cells import affine_sum, gru_hidden, lstm_state, recurrent_parameters
from dlkit.ref.tensor import Tensor, as_tensor, stack


def unbind(x: Tensor) -> list[Tensor]:
    """x[0], x[1], ... as separate tensors whose gradients are written into ONE buffer (chapter 08).

    Indexing x[t] for every t would give each step a backward that allocates a zero array the
    size of all of x; here every piece writes its gradient into its own slice of a shared
    buffer, and a single node passes the whole buffer on to x."""
    x = as_tensor(x)
    hub = Tensor._result(x.data, (x,), "unbind")
    pieces = [Tensor._result(x.data[t], (hub,), "unbind_piece") for t in range(x.shape[0])]
    if not hub.requires_grad:
        return pieces
    written = np.zeros(x.shape[0], dtype=bool)

    def piece_backward(t: int) -> None:
        if hub.grad is None:  # the first piece of this backward pass: a buffer we own
            hub.grad = np.empty_like(x.data)
            written[:] = False
        hub.grad[t] = pieces[t].grad      # each piece's backward runs once per pass
        written[t] = True

    def hub_backward() -> None:
        hub.grad[~written] = 0            # pieces that got no gradient (unused steps)
        x._accumulate(hub.grad)

    for t, piece in enumerate(pieces):
        piece._backward = lambda t=t: piece_backward(t)
    hub._backward = hub_backward
    return pieces


class _Recurrent(Module):
    """Shared by RNN, LSTM and GRU: parameters, input checks and the time loop's plumbing."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = False, rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.batch_first = batch_first
        recurrent_parameters(self, "_l0", self.gates, self.input_size, self.hidden_size, bias, rng,
                             dtype)

    def _sequence(self, x: Any) -> Tensor:
        """x as (T, N, I)."""
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            layout = "(N, T, {})" if self.batch_first else "(T, N, {})"
            raise ValueError(f"{type(self).__name__} expected input of shape "
                             f"{layout.format(self.input_size)}, got {x.shape}")
        x = x.transpose(1, 0, 2) if self.batch_first else x
        if x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__} expected a sequence of at least one step, "
                             f"got input of shape {x.shape}")
        return x

    def _initial(self, state: Any, batch: int, name: str) -> Tensor:
        """A (1, N, H) initial state (torch's layout, one layer) as (N, H); zeros when None."""
        if state is None:
            return Tensor(np.zeros((batch, self.hidden_size), dtype=self.weight_hh_l0.dtype))
        state = as_tensor(state)
        if state.shape != (1, batch, self.hidden_size):
            raise ValueError(f"{type(self).__name__} expected {name} of shape "
                             f"(1, {batch}, {self.hidden_size}), got {state.shape}")
        return state.reshape(batch, self.hidden_size)

    def _input_gates(self, x: Tensor, with_hidden_bias: bool) -> list[Tensor]:
        """W_ih x_t + b_ih (+ b_hh, where it is simply added) for all t in one matmul, then split
        into steps: each step is left with W_hh h_{t−1} alone."""
        biases = [self.bias_ih_l0, self.bias_hh_l0 if with_hidden_bias else None]
        return unbind(affine_sum([(x, self.weight_ih_l0)], biases))

    def _outputs(self, hs: list[Tensor]) -> Tensor:
        out = stack(hs, axis=0)
        return out.transpose(1, 0, 2) if self.batch_first else out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"bias={self.bias_ih_l0 is not None}, batch_first={self.batch_first})")


class RNN(_Recurrent):
    """A one-layer Elman RNN over a sequence: forward(x, h0) → (output, h_n) with output (T, N, H)
    holding every h_t and h_n (1, N, H) the last one (chapter 08)."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, rng: RngLike = None,
                 dtype: DTypeLike = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN expected nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, batch_first, rng, dtype)

    def forward(self, x: Any, h0: Any = None) -> tuple[Tensor, Tensor]:
        x = self._sequence(x)
        h = self._initial(h0, x.shape[1], "h0")
        hs = []
        for x_gates in self._input_gates(x, with_hidden_bias=True):
            pre = affine_sum([(h, self.weight_hh_l0)], [x_gates])
            h = pre.tanh() if self.nonlinearity == "tanh" else pre.relu()
            hs.append(h)
        return self._outputs(hs), h.reshape(1, *h.shape)


class LSTM(_Recurrent):
    """A one-layer LSTM over a sequence: forward(x, (h0, c0)) → (output, (h_n, c_n)), torch's
    shapes (chapter 08). Each step is one (N, H) × (H, 4H) matmul for all four gates."""

    gates = 4

    def forward(self, x: Any,
                state: tuple[Any, Any] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x = self._sequence(x)
        h0, c0 = (None, None) if state is None else state
        h, c = self._initial(h0, x.shape[1], "h0"), self._initial(c0, x.shape[1], "c0")
        hs = []
        for x_gates in self._input_gates(x, with_hidden_bias=True):
            gates = affine_sum([(h, self.weight_hh_l0)], [x_gates])
            h, c = lstm_state(gates, c)
            hs.append(h)
        return self._outputs(hs), (h.reshape(1, *h.shape), c.reshape(1, *c.shape))


class GRU(_Recurrent):
    """A one-layer GRU over a sequence: forward(x, h0) → (output, h_n), torch's shapes
    (chapter 08)."""

    gates = 3

    def forward(self, x: Any, h0: Any = None) -> tuple[Tensor, Tensor]:
        x = self._sequence(x)
        h = self._initial(h0, x.shape[1], "h0")
        hs = []
        # b_hh stays per step: it sits inside r ⊙ (W_hn h + b_hn)
        for gi in self._input_gates(x, with_hidden_bias=False):
            gh = affine_sum([(h, self.weight_hh_l0)], [self.bias_hh_l0])
            h = gru_hidden(gi, gh, h)
            hs.append(h)
        return self._outputs(hs), h.reshape(1, *h.shape)
