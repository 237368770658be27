"""Linear, the activation layers, Flatten/Identity and Dropout against torch
(chapters 01, 02, 06)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ref_nn_from_torch import check_layer

from dlkit.check import gradcheck
from dlkit.ref.nn import (
    GELU,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    load_torch_weights,
)
from dlkit.ref.tensor import Tensor


@pytest.mark.parametrize("shape", [(1, 5), (7, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape: tuple[int, ...], bias: bool) -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Linear(5, 4, bias=bias).double()
    ours = load_torch_weights(Linear(5, 4, bias=bias), theirs)
    check_layer(ours, theirs, np.random.default_rng(0).normal(size=shape), modules=(ours, theirs))


def test_linear_init_is_torch_default_and_float32() -> None:
    layer = Linear(64, 300, rng=0)
    bound = 1 / np.sqrt(64)
    assert layer.weight.shape == (300, 64) and layer.bias.shape == (300,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound            # U(−b, b), not a narrower range
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound
    np.testing.assert_array_equal(Linear(64, 300, rng=0).weight.data, layer.weight.data)
    assert layer(np.ones((2, 64), dtype=np.float32)).dtype == np.float32


def test_linear_gradcheck() -> None:
    rng = np.random.default_rng(2)
    layer = Linear(3, 2, rng=2, dtype=np.float64)

    def f(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        layer.weight, layer.bias = w, b
        return layer(x)
    gradcheck(f, rng.normal(size=(4, 3)), layer.weight.data, layer.bias.data)


def test_linear_rejects_a_wrong_last_dimension() -> None:
    with pytest.raises(ValueError, match="Linear expected last dimension 64, got 63"):
        Linear(64, 10)(np.zeros((8, 63)))
    with pytest.raises(ValueError, match="expected in_features to be a positive int, got 0"):
        Linear(0, 3)
    with pytest.raises(TypeError, match="expected rng to be a np.random.Generator"):
        Linear(2, 3, rng="seed")


@pytest.mark.parametrize("ours, theirs", [
    (ReLU(), torch.nn.ReLU()), (LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (Tanh(), torch.nn.Tanh()), (Sigmoid(), torch.nn.Sigmoid()), (GELU(), torch.nn.GELU()),
    (GELU("tanh"), torch.nn.GELU("tanh")),
])
def test_activation_layers_match_torch(ours, theirs) -> None:
    check_layer(ours, theirs, np.random.default_rng(3).normal(size=(4, 6)) * 3)


def test_flatten_and_identity() -> None:
    rng = np.random.default_rng(4)
    check_layer(Flatten(), torch.nn.Flatten(), rng.normal(size=(2, 3, 4, 5)))
    check_layer(Flatten(0, 1), torch.nn.Flatten(0, 1), rng.normal(size=(2, 3, 4)))
    x = Tensor(np.ones(3))
    assert Identity()(x) is x
    with pytest.raises(ValueError, match="Flatten expected"):
        Flatten()(Tensor(1.0))


def test_dropout_is_inverted_in_training_and_identity_in_eval() -> None:
    layer = Dropout(0.25, rng=0)
    x = Tensor(np.ones((200, 100)), requires_grad=True)
    y = layer(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)          # survivors scaled by 1/(1 − p)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(kept, 1 / 0.75, 0.0))  # through the same mask
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x.data)
    with pytest.raises(ValueError, match=r"expected Dropout p in \[0, 1\], got 1.5"):
        Dropout(1.5)


def test_dropout_keeps_float32() -> None:
    assert Dropout(0.5, rng=1)(np.ones((4, 4), dtype=np.float32)).dtype == np.float32
