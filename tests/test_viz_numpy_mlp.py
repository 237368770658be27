"""The demos' numpy MLP: its hand-written backward is torch's autograd (the oracle), with and
without dropout, for every activation and depth; its fused optimizer steps its own memory."""
import copy

import numpy as np
import pytest
import torch

from dlkit.viz.numpy_mlp import ACTIVATIONS, NumpyMLP

TORCH_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                     "gelu": torch.nn.functional.gelu}


def autograd_mse(model: NumpyMLP, X, y, twin_rng, activation: str) -> dict[str, torch.Tensor]:
    """The same loss in torch on the same weights (and the same masks, drawn from a copy of the
    generator in the same order); returns the gradients by parameter name."""
    w = {name: torch.tensor(value, requires_grad=True) for name, value in model.params.values.items()}
    keep = 1 - model.dropout
    a = torch.tensor(X)
    for i in range(1, model.num_layers):
        z = a @ w[f"W{i}"].T + w[f"b{i}"]
        mask = torch.tensor((twin_rng.random(z.shape) < keep).astype(np.float32) / keep) if model.dropout else 1.0
        a = TORCH_ACTIVATIONS[activation](z) * mask
    y_hat = a @ w[f"W{model.num_layers}"].T + w[f"b{model.num_layers}"]
    loss = torch.mean((y_hat - torch.tensor(y)) ** 2)
    loss.backward()
    return {name: tensor.grad for name, tensor in w.items()}, loss.item()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("sizes", [[1, 9, 1], [1, 12, 12, 1], [2, 7, 5, 6, 3]])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_the_hand_written_backward_is_torch_autograd(activation, sizes, dropout):
    model = NumpyMLP(sizes, activation, np.random.default_rng(3), dropout=dropout)
    g = np.random.default_rng(7)
    X = g.uniform(-2, 2, (11, sizes[0])).astype(np.float32)
    y = g.standard_normal((11, sizes[-1])).astype(np.float32)
    rng = np.random.default_rng(5)
    twin = copy.deepcopy(rng)
    loss = model.mse_backward(X, y, rng)
    expected, expected_loss = autograd_mse(model, X, y, twin, activation)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for name, grad in model.params.grads.items():
        np.testing.assert_allclose(grad, expected[name].numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    assert np.any(model.params.grad != 0)


def test_evaluation_mode_has_no_dropout_and_the_initialization_is_torchs():
    model = NumpyMLP([1, 400, 1], "tanh", np.random.default_rng(0), dropout=0.5)
    X = np.linspace(-1, 1, 5, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_array_equal(model(X), model(X))      # no mask, no randomness
    W1, W2 = model.params.values["W1"], model.params.values["W2"]
    assert np.abs(W1).max() <= 1.0 and np.abs(W2).max() <= 1 / np.sqrt(400)   # ±1/√fan_in
    assert W1.dtype == np.float32


def test_the_fused_optimizer_updates_the_networks_own_memory():
    model = NumpyMLP([1, 4, 1], "relu", np.random.default_rng(0))
    before = model.params.data.copy()
    optimizer = model.params.torch_optimizer(torch.optim.Adam, lr=0.1)
    model.mse_backward(np.ones((3, 1), np.float32), np.zeros((3, 1), np.float32))
    optimizer.step()
    assert not np.array_equal(model.params.data, before)
    # Adam's first step moves every weight with a gradient by lr·sign(grad)
    moved = model.params.grad != 0
    np.testing.assert_allclose((before - model.params.data)[moved], 0.1 * np.sign(model.params.grad[moved]),
                               rtol=1e-4)


def test_an_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="expected an activation among .* got 'swish'"):
        NumpyMLP([1, 2, 1], "swish", np.random.default_rng(0))
