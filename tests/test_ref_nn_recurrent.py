"""RNN/LSTM/GRU cells and layers against torch, and backpropagation through time (chapter 08)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ref_nn_from_torch import check_layer

from dlkit.check import gradcheck
from dlkit.ref.nn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
    affine_sum,
    load_torch_weights,
    lstm_cell,
    rnn_cell,
    unbind,
)
from dlkit.ref.tensor import Tensor

CELLS = [(RNNCell, torch.nn.RNNCell, {}), (RNNCell, torch.nn.RNNCell, dict(nonlinearity="relu")),
         (LSTMCell, torch.nn.LSTMCell, {}), (GRUCell, torch.nn.GRUCell, {}),
         (GRUCell, torch.nn.GRUCell, dict(bias=False))]


def _pair(ours_cls, theirs_cls, *args, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    theirs = theirs_cls(*args, **kwargs).double()
    return load_torch_weights(ours_cls(*args, **kwargs), theirs), theirs


@pytest.mark.parametrize("ours_cls, theirs_cls, kwargs", CELLS)
@pytest.mark.parametrize("batch", [1, 3])
def test_cells_match_torch(ours_cls, theirs_cls, kwargs, batch) -> None:
    ours, theirs = _pair(ours_cls, theirs_cls, 4, 5, **kwargs)
    rng = np.random.default_rng(batch)
    x, h, c = rng.normal(size=(batch, 4)), rng.normal(size=(batch, 5)), rng.normal(size=(batch, 5))
    if ours_cls is LSTMCell:
        check_layer(lambda *a: ours(a[0], a[1:]), lambda *a: theirs(a[0], a[1:]), x, h, c,
                    modules=(ours, theirs))
    else:
        check_layer(ours, theirs, x, h, modules=(ours, theirs))


@pytest.mark.parametrize("ours_cls, theirs_cls, kwargs", CELLS)
def test_cells_default_zero_state_and_unbatched_input(ours_cls, theirs_cls, kwargs) -> None:
    ours, theirs = _pair(ours_cls, theirs_cls, 3, 2, **kwargs)
    x = np.random.default_rng(7).normal(size=3)
    check_layer(ours, theirs, x, modules=(ours, theirs))            # (I,) in, (H,) out
    check_layer(ours, theirs, x[None], modules=(ours, theirs))


LAYERS = [(RNN, torch.nn.RNN, {}), (RNN, torch.nn.RNN, dict(nonlinearity="relu")),
          (LSTM, torch.nn.LSTM, {}), (GRU, torch.nn.GRU, {}),
          (LSTM, torch.nn.LSTM, dict(batch_first=True, bias=False)),
          (GRU, torch.nn.GRU, dict(batch_first=True, bias=False))]


@pytest.mark.parametrize("ours_cls, theirs_cls, kwargs", LAYERS)
def test_sequence_layers_match_torch_through_time(ours_cls, theirs_cls, kwargs) -> None:
    ours, theirs = _pair(ours_cls, theirs_cls, 3, 4, **kwargs)
    rng = np.random.default_rng(1)
    seq_len, batch = 6, 2
    x = rng.normal(size=(batch, seq_len, 3) if kwargs.get("batch_first") else (seq_len, batch, 3))
    h0, c0 = rng.normal(size=(1, batch, 4)), rng.normal(size=(1, batch, 4))
    if ours_cls is LSTM:
        check_layer(lambda x, h, c: ours(x, (h, c)), lambda x, h, c: theirs(x, (h, c)), x, h0, c0,
                    modules=(ours, theirs))
    else:
        check_layer(ours, theirs, x, h0, modules=(ours, theirs))
    ours.zero_grad()
    theirs.zero_grad()
    check_layer(ours, theirs, x, modules=(ours, theirs))             # zero initial state


@pytest.mark.parametrize("output", [0, 1])
def test_lstm_cell_when_only_h_or_only_c_is_used(output: int) -> None:
    """The two outputs share one gradient buffer for the gates; each alone must still be right."""
    ours, theirs = _pair(LSTMCell, torch.nn.LSTMCell, 3, 4, seed=output)
    rng = np.random.default_rng(5)
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    check_layer(lambda *a: ours(a[0], a[1:])[output], lambda *a: theirs(a[0], a[1:])[output],
                x, h, c, modules=(ours, theirs))


def test_affine_sum_gradcheck_with_broadcast_addends() -> None:
    rng = np.random.default_rng(6)
    gradcheck(lambda x, w, h, u, a: affine_sum([(x, w), (h, u)], [a]), rng.normal(size=(2, 3, 2)),
              rng.normal(size=(4, 2)), rng.normal(size=(3, 3)), rng.normal(size=(4, 3)),
              rng.normal(size=(1, 3, 4)))


def test_lstm_gate_order_is_torch_i_f_g_o() -> None:
    """Only the forget gate open: c' = σ(f)·c keeps the old memory, nothing else does."""
    cell = LSTMCell(1, 1, dtype=np.float64)
    for p in cell.parameters():
        p.data[...] = 0.0
    cell.bias_ih.data[:] = [-50.0, 50.0, 0.0, 50.0]      # i ≈ 0, f ≈ 1, g = 0, o ≈ 1
    h, c = cell(np.zeros((1, 1)), (np.zeros((1, 1)), np.full((1, 1), 0.7)))
    np.testing.assert_allclose(c.data, 0.7)
    np.testing.assert_allclose(h.data, np.tanh(0.7))


def test_lstm_gradcheck_through_time() -> None:
    rng = np.random.default_rng(2)
    layer = LSTM(2, 3, dtype=np.float64, rng=2)

    def f(x: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor) -> Tensor:
        layer.weight_hh_l0 = w_hh
        out, (h_n, c_n) = layer(x, (h0, c0))
        return out.sum() + (c_n * c_n).sum()
    gradcheck(f, rng.normal(size=(4, 2, 2)), rng.normal(size=(1, 2, 3)),
              rng.normal(size=(1, 2, 3)), layer.weight_hh_l0.data)
    weights = [p.data for p in LSTMCell(2, 3, rng=3, dtype=np.float64).parameters()]

    def cell(x: Tensor, h: Tensor, c: Tensor, *w: Tensor) -> Tensor:
        h_new, c_new = lstm_cell(x, (h, c), *w)
        return h_new.sum() + 2 * c_new.sum()
    gradcheck(cell, rng.normal(size=(2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3)),
              *weights)


def test_gru_and_rnn_gradcheck() -> None:
    rng = np.random.default_rng(3)
    for layer in (GRU(2, 3, dtype=np.float64, rng=3), RNN(2, 3, dtype=np.float64, rng=3)):
        def f(x: Tensor, h0: Tensor, w_ih: Tensor, layer=layer) -> Tensor:
            layer.weight_ih_l0 = w_ih
            return layer(x, h0)[0]
        gradcheck(f, rng.normal(size=(3, 2, 2)), rng.normal(size=(1, 2, 3)),
                  layer.weight_ih_l0.data)


def test_unbind_gives_every_piece_its_slice_of_the_gradient() -> None:
    x = Tensor(np.arange(12.0).reshape(3, 2, 2), requires_grad=True)
    pieces = unbind(x * 1.0)
    np.testing.assert_array_equal(pieces[1].data, x.data[1])
    loss = (pieces[0] * 2.0).sum() + (pieces[2] * pieces[2]).sum()    # piece 1 unused
    loss.backward()
    expected = np.zeros((3, 2, 2))
    expected[0], expected[2] = 2.0, 2 * x.data[2]
    np.testing.assert_array_equal(x.grad, expected)
    loss.backward()                                      # leaves accumulate, like torch
    np.testing.assert_array_equal(x.grad, 2 * expected)


def test_recurrent_layers_keep_float32() -> None:
    out, (h, c) = LSTM(3, 4)(np.ones((5, 2, 3), dtype=np.float32))
    assert out.dtype == h.dtype == c.dtype == np.float32
    assert GRUCell(3, 4)(np.ones((2, 3), dtype=np.float32)).dtype == np.float32


def test_recurrent_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"LSTMCell expected input of shape \(N, 10\) or \(10,\), "
                                         r"got \(4, 9\)"):
        LSTMCell(10, 5)(np.zeros((4, 9)))
    with pytest.raises(ValueError, match=r"GRUCell expected h of shape \(4, 5\), got \(4, 6\)"):
        GRUCell(3, 5)(np.zeros((4, 3)), np.zeros((4, 6)))
    with pytest.raises(ValueError, match=r"LSTM expected input of shape \(T, N, 3\), got \(5, 3\)"):
        LSTM(3, 4)(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="GRU expected a sequence of at least one step"):
        GRU(3, 4)(np.zeros((0, 2, 3)))
    with pytest.raises(ValueError, match=r"LSTM expected c0 of shape \(1, 2, 4\), got \(2, 4\)"):
        LSTM(3, 4)(np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 4))))
    with pytest.raises(ValueError, match="RNNCell expected nonlinearity 'tanh' or 'relu', "
                                         "got 'sigmoid'"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    cell = RNNCell(3, 4)
    with pytest.raises(ValueError, match="rnn_cell expected nonlinearity 'tanh' or 'relu'"):
        rnn_cell(np.zeros((1, 3)), Tensor(np.zeros((1, 4))), cell.weight_ih, cell.weight_hh,
                 nonlinearity="gelu")
