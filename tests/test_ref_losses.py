"""dlkit.ref.losses against torch.nn.functional: values, gradients, reductions, stability and
error messages (chapters 02, 06)."""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.check import compare, gradcheck
from dlkit.ref import losses as L
from dlkit.ref.activations import sigmoid, softmax
from dlkit.ref.tensor import Tensor

RTOL = 1e-10
ATOL = 1e-12
REDUCTIONS = ["mean", "sum", "none"]
seeds = st.integers(0, 2**32 - 1)


def check_loss(ours: Callable[..., Tensor], theirs: Callable[..., torch.Tensor],
               *arrays: np.ndarray, grad_check: bool = True, seed: int = 0) -> None:
    """Value and the gradient of every array argument equal torch's; then gradcheck.

    ``ours``/``theirs`` take only the differentiable inputs: targets are baked into them.
    """
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*xs), theirs(*ts)
    compare(out, expected, rtol=RTOL, atol=ATOL, name="loss")
    upstream = np.random.default_rng(seed).normal(size=expected.shape)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        compare(x.grad, t.grad, rtol=1e-9, atol=ATOL, name=f"gradient of input {i}")
    if grad_check:
        gradcheck(ours, *arrays)


# ---- mse -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (2, 3, 2)])
def test_mse_matches_torch_for_both_inputs(reduction: str, shape) -> None:
    rng = np.random.default_rng(0)
    check_loss(lambda a, b: L.mse_loss(a, b, reduction=reduction),
               lambda a, b: F.mse_loss(a, b, reduction=reduction),
               rng.normal(size=shape), rng.normal(size=shape))


def test_mse_refuses_shapes_that_would_broadcast() -> None:
    with pytest.raises(ValueError, match=r"mse_loss expected y_hat and y of the same shape, "
                                         r"got \(4, 1\) and \(4,\) "
                                         r"\(an \(N, 1\) against an \(N,\) would broadcast"):
        L.mse_loss(np.zeros((4, 1)), np.zeros(4))


# ---- binary cross-entropy ------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 6), seed=seeds, soft=st.booleans())
def test_bce_on_probabilities_matches_torch(reduction: str, n: int, seed: int, soft: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, size=(n, 2))
    y = rng.uniform(0, 1, size=(n, 2)) if soft else rng.integers(0, 2, size=(n, 2)) * 1.0
    check_loss(lambda q: L.binary_cross_entropy(q, y, reduction=reduction),
               lambda q: F.binary_cross_entropy(q, torch.from_numpy(y), reduction=reduction),
               p, seed=seed)


def test_bce_clamps_log_at_minus_100_like_torch() -> None:
    p, y = np.array([0.0, 1.0, 0.0, 1.0, 1e-50]), np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    with np.errstate(all="raise"):
        ours = L.binary_cross_entropy(p, y, reduction="none")
    theirs = F.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(y), reduction="none")
    compare(ours, theirs, rtol=RTOL)
    compare(ours, [100.0, 100.0, 0.0, 0.0, 100.0], rtol=RTOL)
    q = Tensor(p, requires_grad=True)
    with np.errstate(divide="raise", invalid="raise"):
        L.binary_cross_entropy(q, y).backward()
    assert np.isfinite(q.grad).all()  # the clamped log is flat there: gradient 0, never NaN


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=10, deadline=None)
@given(shape=st.sampled_from([(5,), (4, 3), (2, 2, 3)]), seed=seeds,
       scale=st.sampled_from([1.0, 30.0]))
def test_bce_with_logits_matches_torch(reduction: str, shape, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    z, y = rng.normal(scale=scale, size=shape), rng.uniform(0, 1, size=shape)
    check_loss(lambda t: L.binary_cross_entropy_with_logits(t, y, reduction=reduction),
               lambda t: F.binary_cross_entropy_with_logits(t, torch.from_numpy(y),
                                                            reduction=reduction),
               z, seed=seed)


def test_bce_with_logits_gradient_is_sigmoid_minus_y_even_at_zero() -> None:
    z, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 1.0, 0.25])
    target = torch.from_numpy(y)
    check_loss(lambda t: L.binary_cross_entropy_with_logits(t, y, reduction="sum"),
               lambda t: F.binary_cross_entropy_with_logits(t, target, reduction="sum"), z)
    t = Tensor(z, requires_grad=True)
    L.binary_cross_entropy_with_logits(t, y, reduction="sum").backward()
    compare(t.grad, sigmoid(z) - y, rtol=RTOL)


def test_bce_with_logits_is_stable_where_sigmoid_then_bce_is_not() -> None:
    z, y = np.array([1e4, -1e4, 40.0, -40.0]), np.array([0.0, 1.0, 0.0, 1.0])
    target = torch.from_numpy(y)
    check_loss(lambda t: L.binary_cross_entropy_with_logits(t, y, reduction="none"),
               lambda t: F.binary_cross_entropy_with_logits(t, target, reduction="none"),
               z, grad_check=False)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        stable = L.binary_cross_entropy_with_logits(z, y, reduction="none")
        naive = L.binary_cross_entropy(sigmoid(z), y, reduction="none")
    compare(stable, [1e4, 1e4, 40.0, 40.0], rtol=1e-12)
    # σ(40) rounds to 1.0, so log(1 − σ(40)) hits the clamp: 100 instead of 40. (σ(−40) ≈ 4e-18 is
    # still representable, which is why the last entry survives.)
    compare(naive, [100.0, 100.0, 100.0, 40.0], rtol=1e-12)


# ---- cross-entropy and nll -----------------------------------------------------------------------
def check_cross_entropy(z: np.ndarray, y: np.ndarray, grad_check: bool = True, seed: int = 0,
                        **kwargs) -> None:
    """``L.cross_entropy`` and ``F.cross_entropy`` agree on logits ``z`` and targets ``y``."""
    target = torch.from_numpy(y)
    check_loss(lambda t: L.cross_entropy(t, y, **kwargs),
               lambda t: F.cross_entropy(t, target, **kwargs), z, grad_check=grad_check, seed=seed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 5), seed=seeds,
       label_smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_cross_entropy_with_class_indices_matches_torch(reduction: str, n: int, c: int, seed: int,
                                                        label_smoothing: float) -> None:
    rng = np.random.default_rng(seed)
    z, y = rng.normal(scale=3.0, size=(n, c)), rng.integers(0, c, size=n)
    check_cross_entropy(z, y, seed=seed, reduction=reduction, label_smoothing=label_smoothing)


SHAPE_CASES = [((4, 3), (4,)), ((3,), ()), ((2, 3, 4), (2, 4)), ((2, 3, 2, 2), (2, 2, 2))]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("logit_shape, target_shape", SHAPE_CASES, ids=str)
def test_cross_entropy_shapes_like_torch(reduction: str, label_smoothing: float, logit_shape,
                                         target_shape) -> None:
    rng = np.random.default_rng(1)
    c = logit_shape[0] if len(logit_shape) == 1 else logit_shape[1]
    z, y = rng.normal(size=logit_shape), rng.integers(0, c, size=target_shape)
    check_cross_entropy(z, y, reduction=reduction, label_smoothing=label_smoothing)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_cross_entropy_ignore_index_like_torch(reduction: str, label_smoothing: float,
                                               ignore_index: int) -> None:
    z = np.random.default_rng(2).normal(size=(6, 4))
    y = np.array([0, ignore_index, 3, 1, ignore_index, 2])
    check_cross_entropy(z, y, reduction=reduction, label_smoothing=label_smoothing,
                        ignore_index=ignore_index)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_cross_entropy_with_probability_targets_matches_torch(reduction: str,
                                                              label_smoothing: float,
                                                              shape) -> None:
    rng = np.random.default_rng(3)
    z, q = rng.normal(size=shape), softmax(rng.normal(size=shape), axis=1)
    check_cross_entropy(z, q, reduction=reduction, label_smoothing=label_smoothing)


def test_cross_entropy_accepts_a_tensor_of_whole_number_targets() -> None:
    z = np.random.default_rng(4).normal(size=(3, 4))
    y = np.array([3, 0, 2])
    compare(L.cross_entropy(z, Tensor(y)), L.cross_entropy(z, y), rtol=RTOL)


def test_cross_entropy_is_finite_for_logits_of_1e4() -> None:
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0], [-1e4, -1e4, -1e4]])
    y = np.array([2, 0, 1])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        check_cross_entropy(z, y, grad_check=False, reduction="none")
        check_cross_entropy(z, y, grad_check=False, label_smoothing=0.1)
    compare(L.cross_entropy(z, y, reduction="none"), [2e4, 1e4, np.log(3.0)], rtol=1e-12)


def test_label_smoothing_one_ignores_the_labels() -> None:
    z = np.random.default_rng(5).normal(size=(3, 4))
    uniform = np.full((3, 4), 0.25)
    compare(L.cross_entropy(z, np.array([0, 1, 2]), label_smoothing=1.0),
            L.cross_entropy(z, uniform), rtol=RTOL)


def test_all_targets_ignored_gives_nan_mean_and_zero_gradients_like_torch() -> None:
    z, y = np.random.default_rng(8).normal(size=(2, 3)), np.array([-100, -100])
    check_cross_entropy(z, y, grad_check=False)
    t = Tensor(z, requires_grad=True)
    loss = L.cross_entropy(t, y)
    loss.backward()
    assert np.isnan(loss.item())
    compare(t.grad, np.zeros((2, 3)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("logit_shape, target_shape", SHAPE_CASES[:3], ids=str)
def test_nll_loss_matches_torch(reduction: str, logit_shape, target_shape) -> None:
    rng = np.random.default_rng(6)
    c = logit_shape[0] if len(logit_shape) == 1 else logit_shape[1]
    log_p = rng.normal(size=logit_shape)  # nll_loss only picks entries: any numbers will do
    y = rng.integers(0, c, size=target_shape)
    y_ignored = np.where(np.arange(y.size).reshape(y.shape) % 2 == 0, -100, y)
    for target in (y, y_ignored):
        torch_target = torch.from_numpy(target)
        check_loss(lambda t, target=target: L.nll_loss(t, target, reduction=reduction),
                   lambda t, target=torch_target: F.nll_loss(t, target, reduction=reduction), log_p)


def test_cross_entropy_is_nll_of_log_softmax() -> None:
    z = Tensor(np.random.default_rng(7).normal(size=(4, 5)))
    y = np.array([4, 0, 0, 2])
    compare(L.cross_entropy(z, y), L.nll_loss(z.log_softmax(axis=1), y), rtol=RTOL)


# ---- float32 -------------------------------------------------------------------------------------
ONES32 = np.ones((2, 3), np.float32)
LOSSES_ON_FLOAT32 = {
    "mse": lambda t: L.mse_loss(t, 0 * ONES32),
    "bce": lambda t: L.binary_cross_entropy(t.sigmoid(), ONES32),
    "bce_with_logits": lambda t: L.binary_cross_entropy_with_logits(t, ONES32),
    "cross_entropy": lambda t: L.cross_entropy(t, np.array([0, 2]), label_smoothing=0.1),
    "cross_entropy probabilities": lambda t: L.cross_entropy(t, ONES32 / 3),
    "nll": lambda t: L.nll_loss(t.log_softmax(axis=1), np.array([1, 1])),
}


@pytest.mark.parametrize("name", sorted(LOSSES_ON_FLOAT32))
def test_losses_keep_float32(name: str) -> None:
    t = Tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=np.float32), requires_grad=True)
    loss = LOSSES_ON_FLOAT32[name](t)
    loss.backward()
    assert loss.dtype == np.float32 and t.grad.dtype == np.float32


# ---- bad input -----------------------------------------------------------------------------------
def raises(message: str):
    """``pytest.raises(ValueError)`` whose message must contain ``message`` literally."""
    return pytest.raises(ValueError, match=re.escape(message))


INT_TARGETS = np.zeros(2, dtype=int)


@pytest.mark.parametrize("loss", [
    lambda r: L.mse_loss(np.zeros(2), np.zeros(2), reduction=r),
    lambda r: L.binary_cross_entropy(np.full(2, 0.5), np.zeros(2), reduction=r),
    lambda r: L.binary_cross_entropy_with_logits(np.zeros(2), np.zeros(2), reduction=r),
    lambda r: L.cross_entropy(np.zeros((2, 3)), INT_TARGETS, reduction=r),
    lambda r: L.nll_loss(np.zeros((2, 3)), INT_TARGETS, reduction=r),
], ids=["mse", "bce", "bce_with_logits", "cross_entropy", "nll"])
def test_unknown_reduction_is_refused(loss) -> None:
    with raises("expected reduction 'mean', 'sum' or 'none', got 'avg'"):
        loss("avg")


def test_cross_entropy_class_index_errors() -> None:
    z = np.zeros((5, 10))
    with raises("cross_entropy expected class indices in [0, 10), got 10 at position 3"):
        L.cross_entropy(z, np.array([0, 1, 2, 10, 4]))
    with raises("cross_entropy expected class indices in [0, 10), got -1 at position 0"):
        L.cross_entropy(z, np.array([-1, 1, 2, 3, 4]))
    with raises("cross_entropy expected class indices in [0, 3), got 3 at position (1, 0)"):
        L.cross_entropy(np.zeros((2, 3, 2)), np.array([[0, 1], [3, 0]]))
    with raises("cross_entropy expected integer class indices, got 1.5 at position 1"):
        L.cross_entropy(z, np.array([0.0, 1.5, 2.0, 3.0, 4.0]))
    with raises("cross_entropy expected integer class indices, got an array of dtype <U1"):
        L.cross_entropy(z, np.array(["a", "b", "c", "d", "e"]))
    with raises("nll_loss expected class indices in [0, 10), got 12 at position 4"):
        L.nll_loss(z, np.array([0, 1, 2, 3, 12]))


def test_cross_entropy_shape_errors_say_both_accepted_shapes() -> None:
    with raises("cross_entropy expected targets of shape (32,) (class indices) or (32, 10) "
                "(class probabilities) for scores of shape (32, 10), got (31,)"):
        L.cross_entropy(np.zeros((32, 10)), np.zeros(31, dtype=int))
    with raises("expected scores of shape (N, C), (C,) or (N, C, d1, ...), got a scalar"):
        L.cross_entropy(np.float64(1.0), np.array(0))
    with raises("nll_loss expected class indices of shape (4,) for log_probs of shape (4, 3), "
                "got probabilities of shape (4, 3); use cross_entropy"):
        L.nll_loss(np.zeros((4, 3)), np.full((4, 3), 1 / 3))


def test_probability_and_smoothing_errors() -> None:
    with raises("cross_entropy expected target probabilities in [0, 1], got 1.5 "
                "at position (0, 1)"):
        L.cross_entropy(np.zeros((2, 2)), np.array([[0.0, 1.5], [0.5, 0.5]]))
    with raises("cross_entropy expected label_smoothing in [0, 1], got 1.2"):
        L.cross_entropy(np.zeros((2, 2)), np.array([0, 1]), label_smoothing=1.2)


def test_bce_range_and_shape_errors() -> None:
    with raises("binary_cross_entropy expected probabilities p in [0, 1], got 1.5 at position 1; "
                "for raw scores (logits) use binary_cross_entropy_with_logits"):
        L.binary_cross_entropy(np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    with raises("expected probabilities p in [0, 1], got nan at position 0"):
        L.binary_cross_entropy(np.array([np.nan, 0.5]), np.array([0.0, 1.0]))
    with raises("binary_cross_entropy expected targets y in [0, 1], got 2.0 at position 1"):
        L.binary_cross_entropy(np.array([0.5, 0.5]), np.array([0.0, 2.0]))
    with raises("binary_cross_entropy_with_logits expected targets y in [0, 1], got -1.0 at "
                "position 0 (labels are 0/1, not −1/+1)"):
        L.binary_cross_entropy_with_logits(np.array([0.5, 1.5]), np.array([-1.0, 1.0]))
    with raises("binary_cross_entropy_with_logits expected logits and y of the same shape, "
                "got (3,) and (2,)"):
        L.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(2))
    with raises("binary_cross_entropy expected p and y of the same shape, got (2, 1) and (2,)"):
        L.binary_cross_entropy(np.full((2, 1), 0.5), np.zeros(2))
