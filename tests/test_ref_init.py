"""dlkit.ref.init follows torch.nn.init's formulas (chapter 05)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import init as tinit

from dlkit.ref.init import (
    calculate_gain,
    fan_in_and_fan_out,
    kaiming_normal,
    kaiming_std,
    kaiming_uniform,
    normal,
    xavier_normal,
    xavier_std,
    xavier_uniform,
    zeros,
)

LINEAR_AND_CONV_SHAPES = [(10, 20), (1, 7), (64, 3, 3, 3), (16, 8, 5), (4, 2, 3, 3, 3)]
# big enough that the sample std is within ~0.3% of the true std (1% is > 6 standard errors)
SAMPLE_SHAPE = (400, 250)


@pytest.mark.parametrize("shape", LINEAR_AND_CONV_SHAPES)
def test_fans_match_torch(shape: tuple[int, ...]) -> None:
    assert fan_in_and_fan_out(shape) == tinit._calculate_fan_in_and_fan_out(torch.empty(shape))


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple))
def test_fans_match_torch_for_any_shape(shape: tuple[int, ...]) -> None:
    assert fan_in_and_fan_out(shape) == tinit._calculate_fan_in_and_fan_out(torch.empty(shape))


GAIN_CASES = [("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None),
              ("tanh", None), ("relu", None), ("selu", None), ("leaky_relu", None),
              ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", -0.5), ("leaky_relu", 3)]


@pytest.mark.parametrize(("nonlinearity", "param"), GAIN_CASES)
def test_gain_matches_torch(nonlinearity: str, param: float | None) -> None:
    assert calculate_gain(nonlinearity, param) == pytest.approx(
        tinit.calculate_gain(nonlinearity, param), rel=1e-15)


def test_gains_by_hand() -> None:
    assert calculate_gain("relu") == math.sqrt(2)
    assert calculate_gain("tanh") == 5 / 3
    assert calculate_gain("leaky_relu", 1.0) == 1.0  # slope 1 is the identity


def _check_uniform(W: np.ndarray, bound: float) -> None:
    assert np.all(np.abs(W) <= bound)
    assert np.abs(W).max() > 0.99 * bound  # fills the whole interval
    assert W.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(W.mean()) < 5 * bound / math.sqrt(3 * W.size)


def _check_normal(W: np.ndarray, std: float) -> None:
    assert W.std() == pytest.approx(std, rel=0.01)
    assert abs(W.mean()) < 5 * std / math.sqrt(W.size)
    assert np.abs(W).max() > 3 * std  # tails, not a uniform with the same std


@pytest.mark.parametrize("gain", [1.0, calculate_gain("tanh")])
def test_xavier_follows_torch_formula(gain: float) -> None:
    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(torch.empty(SAMPLE_SHAPE))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    assert xavier_std(SAMPLE_SHAPE, gain) == pytest.approx(std, rel=1e-15)
    _check_uniform(xavier_uniform(SAMPLE_SHAPE, gain, rng=0), math.sqrt(3.0) * std)
    _check_normal(xavier_normal(SAMPLE_SHAPE, gain, rng=1), std)
    # torch's own samples agree with the same formula
    assert tinit.xavier_uniform_(torch.empty(SAMPLE_SHAPE, dtype=torch.float64), gain
                                 ).std().item() == pytest.approx(std, rel=0.01)


KAIMING_CASES = [(0.0, "fan_in", "relu"), (0.0, "fan_out", "relu"),
                 (0.2, "fan_in", "leaky_relu"), (0.0, "fan_in", "tanh"),
                 (0.0, "fan_out", "linear")]


@pytest.mark.parametrize(("a", "mode", "nonlinearity"), KAIMING_CASES)
def test_kaiming_follows_torch_formula(a: float, mode: str, nonlinearity: str) -> None:
    shape = (50, 20, 3, 3)  # conv: fan_in = 180, fan_out = 450; 9000 samples
    torch_fan = tinit._calculate_correct_fan(torch.empty(shape), mode)
    std = tinit.calculate_gain(nonlinearity, a) / math.sqrt(torch_fan)
    assert kaiming_std(shape, a, mode, nonlinearity) == pytest.approx(std, rel=1e-15)
    big = (400, 250, 1, 2)
    big_std = tinit.calculate_gain(nonlinearity, a) / math.sqrt(
        tinit._calculate_correct_fan(torch.empty(big), mode))
    _check_uniform(kaiming_uniform(big, a, mode, nonlinearity, rng=2), math.sqrt(3) * big_std)
    _check_normal(kaiming_normal(big, a, mode, nonlinearity, rng=3), big_std)
    t = torch.empty(big, dtype=torch.float64)
    assert tinit.kaiming_normal_(t, a, mode, nonlinearity).std().item() == pytest.approx(
        big_std, rel=0.01)


def test_he_variance_is_two_over_fan_in() -> None:
    assert kaiming_std((30, 200)) ** 2 == pytest.approx(2 / 200)


def test_same_seed_same_array_and_generators_advance() -> None:
    for sampler in (xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal):
        np.testing.assert_array_equal(sampler((5, 4), rng=7), sampler((5, 4), rng=7))
        np.testing.assert_array_equal(sampler((5, 4), rng=np.random.default_rng(7)),
                                      sampler((5, 4), rng=7))
        rng = np.random.default_rng(0)
        assert not np.array_equal(sampler((5, 4), rng=rng), sampler((5, 4), rng=rng))
        assert not np.array_equal(sampler((5, 4), rng=1), sampler((5, 4), rng=2))
    np.testing.assert_array_equal(normal((3, 2), 0.5, rng=4), normal((3, 2), 0.5, rng=4))


def test_zeros_and_normal() -> None:
    Z = zeros((3, 2))
    assert Z.shape == (3, 2) and Z.dtype == np.float64 and not Z.any()
    assert zeros(4).shape == (4,)
    W = normal((200, 500), 0.01, rng=0)
    assert W.shape == (200, 500) and W.dtype == np.float64
    _check_normal(W, 0.01)
    assert normal(10_000, 0.5, rng=1, mean=3.0).mean() == pytest.approx(3.0, abs=0.05)


def test_bad_input_is_rejected_with_clear_messages() -> None:
    with pytest.raises(ValueError, match=r"at least 2 dimensions \(out, in, ...\) to compute "
                                         r"fan_in and fan_out, got \(784,\)"):
        fan_in_and_fan_out((784,))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        xavier_uniform(10, rng=0)
    with pytest.raises(ValueError, match="expected a shape of non-negative ints, got"):
        fan_in_and_fan_out((3, -1))
    with pytest.raises(TypeError, match="expected a shape"):
        zeros(None)
    with pytest.raises(ValueError, match=r"expected a weight shape with fan_in > 0, got "
                                         r"\(3, 0\)"):
        kaiming_normal((3, 0), rng=0)
    with pytest.raises(ValueError, match="expected nonlinearity to be one of .*, got 'gelu'"):
        calculate_gain("gelu")
    with pytest.raises(ValueError, match="expected a finite number as the leaky_relu negative "
                                         "slope, got 'x'"):
        calculate_gain("leaky_relu", "x")
    with pytest.raises(ValueError, match="expected param .* only with 'leaky_relu', got "
                                         "nonlinearity='relu' with param=0.2"):
        calculate_gain("relu", 0.2)
    with pytest.raises(ValueError, match="expected a .* only with nonlinearity='leaky_relu', "
                                         "got nonlinearity='relu' with a=0.1"):
        kaiming_uniform((3, 4), a=0.1, rng=0)
    with pytest.raises(ValueError, match="expected mode 'fan_in' or 'fan_out', got 'fan_avg'"):
        kaiming_normal((3, 4), mode="fan_avg", rng=0)
    with pytest.raises(ValueError, match="expected gain > 0, got -1.0"):
        xavier_normal((3, 4), gain=-1.0, rng=0)
    with pytest.raises(ValueError, match="expected std >= 0, got -0.1"):
        normal((3, 4), -0.1, rng=0)
    with pytest.raises(TypeError, match="expected rng to be a np.random.Generator or an int "
                                        "seed >= 0, got 'abc'"):
        xavier_uniform((3, 4), rng="abc")
    with pytest.raises(TypeError, match="rng"):
        xavier_uniform((3, 4))  # rng is required: no hidden global randomness
