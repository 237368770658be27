"""dlkit.check: gradcheck catches wrong backward passes; compare's messages name the problem."""
import numpy as np
import pytest
import torch

from dlkit.check import CheckError, compare, gradcheck
from dlkit.ref import Tensor


def test_gradcheck_passes_a_correct_backward():
    rng = np.random.default_rng(0)
    report = gradcheck(lambda a, b: (a @ b).tanh(), rng.normal(size=(3, 4)), rng.normal(size=(4, 2)))
    assert report.ok and report.max_rel_error < 1e-6 and report.checked == 20


def test_gradcheck_names_the_worst_entry_of_a_wrong_backward():
    def wrong_square(x: Tensor) -> Tensor:
        out = Tensor._result(x.data**2, (x,), "bad_square")
        out._backward = lambda: x._accumulate(x.data * out.grad)  # should be 2·x
        return out

    x = np.array([1.0, -3.0, 2.0])
    with pytest.raises(AssertionError, match=r"GRADIENT MISMATCH: worst entry is input 0 at index \(1,\)"):
        gradcheck(lambda t: wrong_square(t).sum(), x)
    report = gradcheck(lambda t: wrong_square(t).sum(), x, raise_on_failure=False)
    assert not report.ok and report.analytic == pytest.approx(-3.0) and report.numeric == pytest.approx(-6.0)


def test_gradcheck_samples_large_inputs_deterministically():
    x = np.random.default_rng(0).normal(size=(50, 50))
    first = gradcheck(lambda t: (t * t).sum(), x, max_entries=30)
    second = gradcheck(lambda t: (t * t).sum(), x, max_entries=30)
    assert first.checked == 30 and first == second


def test_gradcheck_rejects_a_non_tensor_output():
    with pytest.raises(TypeError, match="expected f to return a dlkit.ref.Tensor, got float"):
        gradcheck(lambda t: 1.0, np.ones(2))


def test_compare_accepts_close_values_of_any_kind():
    compare(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    compare(Tensor([[1.0]]), [[1.0]])
    compare(3.0, 3.0)
    compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))


@pytest.mark.parametrize(("actual", "expected", "message"), [
    (np.ones((3, 4)), np.ones((4, 3)), r"expected shape \(4, 3\), got \(3, 4\)\. It looks transposed"),
    (np.ones(12), np.ones((3, 4)), r"expected shape \(3, 4\), got \(12,\)\. The number of elements is right"),
    (np.ones(4), np.ones((2, 4)), r"The first \(batch\) dimension is missing"),
    (np.array([1, 2]), np.array([1.0, 2.0]), r"expected floating-point values, got integers \(int64\)"),
    (np.array([1.0, np.inf]), np.array([1.0, 2.0]), r"expected finite values, got inf at index \(1,\)"),
    (np.array([1.0, 2.5, 3.0]), np.array([1.0, 2.0, 3.0]),
     r"values differ at index \(1,\): expected 2\.0, got 2\.5 \(1 of 3 entries"),
    (None, np.ones(2), r"expected numbers for the actual value, got NoneType"),
])
def test_compare_failure_messages(actual, expected, message):
    with pytest.raises(CheckError, match=message):
        compare(actual, expected)


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


LOGITS = np.random.default_rng(0).normal(0, 2, size=(4, 6))
CUBE = np.random.default_rng(1).normal(0, 2, size=(2, 3, 5))


@pytest.mark.parametrize(("actual", "expected", "message"), [
    (_softmax(LOGITS, 0), _softmax(LOGITS, 1),
     r"Each row of the expected result sums to 1, but each column of yours does \(your row sums run "
     r"from [\d.]+ to [\d.]+\): did you normalise over axis 0 instead of axis 1\? Use axis=-1"),
    (_softmax(LOGITS, 1), _softmax(LOGITS, 0),
     r"Each column of the expected result sums to 1, but each row of yours does .* over axis 1 instead "
     r"of axis 0\? Use axis=0 with keepdims=True"),
    (np.log(_softmax(LOGITS, 0)), np.log(_softmax(LOGITS, 1)),
     r"Exp of each row of the expected result sums to 1, but exp of each column of yours does"),
    (_softmax(CUBE, 1), torch.softmax(torch.from_numpy(CUBE), dim=-1),
     r"The expected values sum to 1 along axis 2, yours along axis 1 \(your sums along axis 2 run "
     r"from [\d.]+ to [\d.]+\): did you normalise over axis 1 instead of axis 2\?"),
    (_softmax(CUBE, 0).astype(np.float32), _softmax(CUBE, 2).astype(np.float32),
     r"yours along axis 0 .* over axis 0 instead of axis 2"),
])
def test_compare_says_when_a_softmax_normalises_the_wrong_axis(actual, expected, message):
    with pytest.raises(CheckError, match=message):
        compare(actual, expected, name="softmax")


@pytest.mark.parametrize(("actual", "expected"), [
    (_softmax(LOGITS / 2, 1), _softmax(LOGITS, 1)),          # right axis, wrong temperature
    (np.exp(LOGITS), _softmax(LOGITS, 1)),                   # the division is missing: no axis sums to 1
    (LOGITS + 1, LOGITS),                                    # not probabilities at all
    (_softmax(LOGITS, 0) * 2 - 0.25, _softmax(LOGITS, 1)),   # columns sum to 1, but some entries are < 0
    (_softmax(LOGITS, 1), np.full((4, 6), 1 / 6) * 1.1),     # expected is not a distribution
    (np.full((3, 3), 0.5), np.full((3, 3), 1 / 3)),          # doubly stochastic expected, other values
])
def test_compare_gives_no_axis_hint_to_an_ordinary_mismatch(actual, expected):
    with pytest.raises(CheckError) as error:
        compare(actual, expected)
    assert "normalise" not in str(error.value) and "transposed" not in str(error.value), str(error.value)


def test_compare_calls_a_transposed_square_result_transposed():
    square = _softmax(LOGITS[:, :4], 1)
    with pytest.raises(CheckError, match="It looks transposed"):
        compare(square.T, square)


def test_compare_is_not_fooled_by_an_always_equal_object():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(CheckError, match="expected numbers"):
        compare(AlwaysEqual(), np.ones(3))


def test_compare_checks_dtype_only_when_asked():
    compare(np.ones(2, np.float32), np.ones(2, np.float64))
    with pytest.raises(CheckError, match="expected dtype float64, got float32"):
        compare(np.ones(2, np.float32), np.ones(2, np.float64), check_dtype=True)


def test_compare_reports_device_mismatch():
    class OnGpu:
        device = "cuda:0"

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.ones(2)

    with pytest.raises(CheckError, match="expected a tensor on cpu, got one on cuda:0"):
        compare(OnGpu(), torch.ones(2))
