"""Embedding and the sinusoidal positional encoding (chapters 08, 09)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlkit.check import compare, gradcheck
from dlkit.ref.nn import (
    Embedding,
    PositionalEncoding,
    embedding,
    load_torch_weights,
    sinusoidal_positional_encoding,
)
from dlkit.ref.tensor import Tensor


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch_with_repeated_ids(padding_idx) -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(7, 3, padding_idx=padding_idx).double()
    ours = load_torch_weights(Embedding(7, 3, padding_idx=padding_idx), theirs)
    ids = np.array([[1, 2, 1, 6], [6, 1, 2, 1]])        # 1 four times, 2 and 6 twice each
    upstream = np.random.default_rng(0).normal(size=(2, 4, 3))
    y, y_t = ours(ids), theirs(torch.tensor(ids))
    compare(y, y_t, rtol=0, atol=0, name="lookup")
    y.backward(upstream)
    y_t.backward(torch.tensor(upstream))
    compare(ours.weight.grad, theirs.weight.grad, rtol=1e-12, atol=1e-12, name="gradient")
    np.testing.assert_allclose(ours.weight.grad[1], upstream[ids == 1].sum(axis=0))  # repeats add
    if padding_idx is not None:
        assert not ours.weight.grad[padding_idx].any()        # the padding row never learns


def test_embedding_init_and_padding_row() -> None:
    layer = Embedding(1000, 16, padding_idx=0, rng=0)
    assert layer.weight.dtype == np.float32
    assert not layer.weight.data[0].any()
    assert abs(layer.weight.data[1:].std() - 1.0) < 0.02    # N(0, 1), like torch


def test_embedding_gradcheck_and_accepts_whole_float_ids() -> None:
    ids = np.array([0, 2, 2, 1])
    gradcheck(lambda w: embedding(ids, w), np.random.default_rng(1).normal(size=(3, 2)))
    layer = Embedding(5, 2)
    np.testing.assert_array_equal(layer(Tensor([3.0, 1.0])).data, layer.weight.data[[3, 1]])


def test_embedding_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"Embedding expected ids in \[0, 10\), got 12"):
        Embedding(10, 4)(np.array([1, 12]))
    with pytest.raises(ValueError, match=r"Embedding expected ids in \[0, 10\), got -1"):
        Embedding(10, 4)(np.array([-1, 3]))
    with pytest.raises(TypeError, match="Embedding expected integer ids, got dtype float64"):
        Embedding(10, 4)(np.array([0.5]))
    with pytest.raises(ValueError, match=r"expected padding_idx in \[-10, 10\), got 10"):
        Embedding(10, 4, padding_idx=10)


def test_sinusoidal_positional_encoding_is_the_vaswani_formula() -> None:
    for d_model in (6, 7):
        pe = sinusoidal_positional_encoding(50, d_model, dtype=np.float64)
        assert pe.shape == (50, d_model)
        for pos in (0, 1, 17, 49):
            for i in range(d_model):
                angle = pos / 10000 ** ((i - i % 2) / d_model)     # 2i for both members of a pair
                expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
                assert pe[pos, i] == pytest.approx(expected, abs=1e-12)
    assert sinusoidal_positional_encoding(4, 8).dtype == np.float32


def test_positional_encoding_layer_adds_the_table() -> None:
    x = Tensor(np.random.default_rng(2).normal(size=(2, 5, 8)), requires_grad=True)
    layer = PositionalEncoding(8, max_len=10)
    y = layer(x)
    compare(y, x.data + sinusoidal_positional_encoding(10, 8)[:5], rtol=1e-6, atol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones_like(x.data))
    seq_first = PositionalEncoding(8, max_len=10, batch_first=False)(x.data.transpose(1, 0, 2))
    compare(seq_first.data.transpose(1, 0, 2), y, rtol=0, atol=0)
    with pytest.raises(ValueError, match="expected sequences of at most max_len=10 positions, "
                                         "got 11"):
        layer(np.zeros((1, 11, 8)))
    with pytest.raises(ValueError, match=r"PositionalEncoding expected input of shape "
                                         r"\(N, T, 8\), got \(1, 3, 6\)"):
        layer(np.zeros((1, 3, 6)))
