"""Sequence tasks: sine forecasting, copy, reverse, addition, teacher-forcing inputs."""

from __future__ import annotations

import numpy as np
import pytest

from dlkit.data import BOS, EOS, PAD, make_addition, make_copy, make_reverse, make_sine, shift_right


def test_sine_windows_shapes_and_determinism():
    ds = make_sine(n=40, seq_len=15, horizon=3, noise=0.1, seed=2)
    assert ds.X.shape == (40, 15, 1) and ds.X.dtype == np.float32
    assert ds.y.shape == (40, 3) and ds.y.dtype == np.float32
    np.testing.assert_array_equal(ds.X, make_sine(n=40, seq_len=15, horizon=3, noise=0.1, seed=2).X)
    assert not np.array_equal(ds.X, make_sine(n=40, seq_len=15, horizon=3, noise=0.1, seed=3).X)


def test_sine_targets_are_the_values_that_follow_the_window():
    # a noise-free sine obeys s[t+1] = c * s[t] - s[t-1] with c = 2 cos(w): fit c on the
    # window alone, then the targets must continue the same recurrence
    ds = make_sine(n=25, seq_len=12, horizon=4, noise=0.0)
    for x, y in zip(ds.X[:, :, 0].astype(np.float64), ds.y.astype(np.float64), strict=True):
        c = np.linalg.lstsq(x[1:-1, None], x[2:] + x[:-2], rcond=None)[0][0]
        series = list(x)
        for _ in range(4):
            series.append(c * series[-1] - series[-2])
        np.testing.assert_allclose(y, series[-4:], atol=1e-4)


def test_noisy_sine_targets_equal_the_next_values_of_the_series():
    ds = make_sine(n=10, seq_len=8, horizon=2, noise=0.3)
    series = ds.meta["series"]
    np.testing.assert_array_equal(ds.X[:, :, 0], series[:, :8])
    np.testing.assert_array_equal(ds.y, series[:, 8:])
    sub = ds.subset([3, 1])
    np.testing.assert_array_equal(sub.y, sub.meta["series"][:, 8:])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n to be an integer >= 1, got 0"),
        ({"seq_len": -2}, "seq_len to be an integer >= 1, got -2"),
        ({"horizon": 0}, "horizon to be an integer >= 1, got 0"),
        ({"noise": -0.5}, "noise to be a finite number >= 0, got -0.5"),
    ],
)
def test_sine_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_sine(**kwargs)


@pytest.mark.parametrize("make", [make_copy, make_reverse])
def test_copy_and_reverse_tokens_and_targets(make):
    ds = make(n=50, seq_len=7, vocab_size=9, seed=1)
    assert ds.X.shape == ds.y.shape == (50, 7)
    assert ds.X.dtype == ds.y.dtype == np.int64
    assert ds.X.min() >= 4 and ds.X.max() <= 8  # real tokens start after the 4 specials
    assert set(np.unique(ds.X)) == set(range(4, 9))
    expected = ds.X if make is make_copy else ds.X[:, ::-1]
    np.testing.assert_array_equal(ds.y, expected)
    assert ds.meta["vocab_size"] == 9
    assert ds.meta["specials"] == {"<pad>": PAD, "<unk>": 1, "<bos>": BOS, "<eos>": EOS}
    np.testing.assert_array_equal(ds.X, make(n=50, seq_len=7, vocab_size=9, seed=1).X)
    with pytest.raises(ValueError, match="vocab_size to be an integer >= 5, got 4"):
        make(vocab_size=4)


@pytest.mark.parametrize("num_digits", [1, 2, 4])
def test_addition_targets_are_correct_sums(num_digits):
    ds = make_addition(n=200, num_digits=num_digits, seed=0)
    tokenizer = ds.meta["tokenizer"]
    assert ds.X.shape == (200, 2 * num_digits + 2) and ds.y.shape == (200, num_digits + 2)
    assert ds.X.dtype == ds.y.dtype == np.int64
    for x, y, question, answer in zip(
        ds.X, ds.y, ds.meta["questions"], ds.meta["answers"], strict=True
    ):
        assert tokenizer.decode(x) == question and tokenizer.decode(y) == answer
        a, b = question.split("+")
        assert len(a) <= num_digits and len(b) <= num_digits
        assert int(a) + int(b) == int(answer)
        for row, text in ((x, question), (y, answer)):
            # the characters, then <eos>, then only <pad>
            assert row[len(text)] == EOS and np.all(row[len(text) + 1 :] == PAD)
            assert np.all(row[: len(text)] >= 4)
    assert ds.meta["vocab_size"] == len(tokenizer) == 4 + 11


def test_addition_is_deterministic_and_checks_arguments():
    np.testing.assert_array_equal(make_addition(30, seed=5).X, make_addition(30, seed=5).X)
    with pytest.raises(ValueError, match="num_digits to be an integer >= 1, got 0"):
        make_addition(num_digits=0)
    with pytest.raises(ValueError, match="num_digits <= 18, got 19"):
        make_addition(num_digits=19)
    with pytest.raises(ValueError, match="n to be an integer >= 1, got -1"):
        make_addition(n=-1)


def test_shift_right_puts_bos_first_for_teacher_forcing():
    y = np.array([[5, 6, 3, 0], [7, 3, 0, 0]])
    np.testing.assert_array_equal(shift_right(y), [[BOS, 5, 6, 3], [BOS, 7, 3, 0]])
    with pytest.raises(ValueError, match=r"targets of shape \(N, T\), got \(4,\)"):
        shift_right(y[0])
