"""BatchNorm1d/2d and LayerNorm against torch, and the fused batch-norm backward against the
composed-ops version (chapter 05)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ref_nn_from_torch import check_layer

from dlkit.check import compare, gradcheck
from dlkit.ref.nn import (
    BatchNorm1d,
    BatchNorm2d,
    LayerNorm,
    batch_norm,
    batch_norm_backward,
    batch_norm_composed,
    layer_norm,
    load_torch_weights,
)
from dlkit.ref.tensor import Tensor

CASES = [(BatchNorm1d, torch.nn.BatchNorm1d, (8, 4)),
         (BatchNorm1d, torch.nn.BatchNorm1d, (5, 4, 3)),
         (BatchNorm2d, torch.nn.BatchNorm2d, (3, 4, 5, 2)),
         (BatchNorm2d, torch.nn.BatchNorm2d, (1, 4, 3, 3))]


def _random_affine(module: torch.nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-1, 1)


@pytest.mark.parametrize("ours_cls, theirs_cls, shape", CASES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batch_norm_train_then_eval_matches_torch(ours_cls, theirs_cls, shape, momentum) -> None:
    theirs = theirs_cls(4, momentum=momentum).double()
    _random_affine(theirs, 0)
    ours = load_torch_weights(ours_cls(4, momentum=momentum), theirs)
    rng = np.random.default_rng(0)
    for step in range(3):   # running statistics over several steps, inputs far from N(0, 1)
        x = rng.normal(loc=2.0, scale=3.0, size=shape)
        check_layer(ours, theirs, x, modules=(ours, theirs), seed=step)
        ours.zero_grad()
        theirs.zero_grad()
        compare(ours.running_mean, theirs.running_mean, rtol=1e-12, atol=1e-12,
                name="running_mean")
        compare(ours.running_var, theirs.running_var, rtol=1e-12, atol=1e-12, name="running_var")
    assert ours.num_batches_tracked == 3
    ours.eval()
    theirs.eval()
    before = ours.running_mean.copy(), ours.running_var.copy()
    check_layer(ours, theirs, rng.normal(size=shape), modules=(ours, theirs))
    np.testing.assert_array_equal(ours.running_mean, before[0])   # eval leaves the statistics
    np.testing.assert_array_equal(ours.running_var, before[1])


@pytest.mark.parametrize("options", [dict(affine=False), dict(track_running_stats=False)])
def test_batch_norm_options_match_torch(options: dict) -> None:
    theirs = torch.nn.BatchNorm1d(3, **options).double()
    ours = load_torch_weights(BatchNorm1d(3, **options), theirs)
    x = np.random.default_rng(1).normal(size=(6, 3))
    check_layer(ours, theirs, x, modules=(ours, theirs))
    ours.eval()
    theirs.eval()
    check_layer(ours, theirs, x, modules=(ours, theirs))


def test_fused_batch_norm_backward_equals_autograd_through_composed_ops() -> None:
    rng = np.random.default_rng(2)
    x_data, gamma, beta = rng.normal(size=(6, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)
    upstream = rng.normal(size=x_data.shape)
    results = []
    for f in (lambda x, g, b: batch_norm(x, g, b), batch_norm_composed):
        leaves = [Tensor(a.copy(), requires_grad=True) for a in (x_data, gamma, beta)]
        y = f(*leaves)
        y.backward(upstream)
        results.append((y.data, *(t.grad for t in leaves)))
    fused, composed = results
    for name, a, b in zip(["y", "dx", "dgamma", "dbeta"], fused, composed, strict=True):
        compare(a, b, rtol=1e-10, atol=1e-12, name=name)
    # the lab-facing numpy backward gives the same three gradients
    mean = x_data.mean(axis=(0, 2, 3), keepdims=True)
    inv_std = 1 / np.sqrt(x_data.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    by_hand = batch_norm_backward(upstream, (x_data - mean) * inv_std, gamma, inv_std)
    for name, got, want in zip(["dx", "dgamma", "dbeta"], by_hand, fused[1:], strict=True):
        compare(got, want, rtol=1e-10, atol=1e-12, name=name)


def test_batch_norm_puts_eps_inside_the_square_root() -> None:
    x = np.array([[0.0], [0.02]])        # σ² = 1e-4, comparable to eps
    y = batch_norm(x, eps=1e-4).data
    np.testing.assert_allclose(y[:, 0], [-0.01, 0.01] / np.sqrt(1e-4 + 1e-4))   # not / (σ + ε)
    constant = batch_norm(np.full((4, 2), 3.0), np.ones(2), np.array([0.5, -1.0])).data
    np.testing.assert_array_equal(constant, [[0.5, -1.0]] * 4)   # σ² = 0: x̂ = 0, no NaN


def test_batch_norm_gradcheck_train_and_eval() -> None:
    rng = np.random.default_rng(3)
    gradcheck(lambda x, g, b: batch_norm(x, g, b), rng.normal(size=(4, 3, 2)), rng.normal(size=3),
              rng.normal(size=3))
    running_mean, running_var = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    gradcheck(lambda x, g, b: batch_norm(x, g, b, running_mean, running_var, training=False),
              rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3))


def test_batch_norm_keeps_float32_and_errors_say_what_was_expected() -> None:
    layer = BatchNorm2d(2)
    assert layer(np.ones((2, 2, 3, 3), dtype=np.float32)).dtype == np.float32
    assert layer.running_var.dtype == np.float32
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        BatchNorm1d(3)(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm1d expected input of shape \(N, 16\) or "
                                         r"\(N, 16, L\), got \(8, 15\)"):
        BatchNorm1d(16)(np.zeros((8, 15)))
    with pytest.raises(ValueError, match=r"BatchNorm2d expected input of shape \(N, 3, H, W\), "
                                         r"got \(2, 3, 4\)"):
        BatchNorm2d(3)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="expected momentum in"):
        BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"batch_norm expected weight of shape \(3,\), got \(2,\)"):
        batch_norm(np.zeros((4, 3)), np.ones(2))


@pytest.mark.parametrize("normalized_shape, shape", [(6, (4, 6)), (6, (2, 3, 6)),
                                                     ((3, 4), (2, 3, 4)), (5, (1, 5))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(normalized_shape, shape, affine) -> None:
    theirs = torch.nn.LayerNorm(normalized_shape, elementwise_affine=affine).double()
    if affine:
        _random_affine(theirs, 4)
    ours = load_torch_weights(LayerNorm(normalized_shape, elementwise_affine=affine), theirs)
    x = np.random.default_rng(4).normal(loc=1.0, scale=2.0, size=shape)
    check_layer(ours, theirs, x, modules=(ours, theirs))


def test_layer_norm_gradcheck_and_errors() -> None:
    rng = np.random.default_rng(5)
    gradcheck(lambda x, g, b: layer_norm(x, (2, 3), g, b), rng.normal(size=(2, 2, 3)),
              rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match=r"LayerNorm expected input of shape \(\*, 64\), "
                                         r"got \(2, 63\)"):
        LayerNorm(64)(np.zeros((2, 63)))
    assert LayerNorm(4)(np.ones((2, 4), dtype=np.float32)).dtype == np.float32
