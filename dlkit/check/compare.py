"""``compare(actual, expected)``: a check whose failure a learner can act on (chapter 00).

Every lab's visible tests go through it. It fails with one message naming the first thing that
is wrong, in the order a learner should fix them: the kind of value, the device, the shape, the
dtype, NaN/inf, and only then the numbers (with the first mismatching index).
"""
from __future__ import annotations

from typing import Any

import numpy as np


class CheckError(AssertionError):
    """A failed check; its message says what was expected, what was found, and a hint.

    ``summary`` says what kind of check failed in fixed words that carry no value of the data,
    so a grader can show it where the values must stay hidden (after a hidden test ran).
    """

    def __init__(self, message: str, summary: str = "the check failed") -> None:
        super().__init__(message)
        self.summary = summary


def _device_of(x: Any) -> str | None:
    device = getattr(x, "device", None)
    return None if device is None else str(device)


def _to_numpy(x: Any, role: str, name: str) -> np.ndarray:
    """numpy view of a number, list, numpy array, dlkit Tensor or torch tensor."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    elif type(x).__name__ in {"Tensor", "Value"} and hasattr(x, "data"):  # dlkit.ref
        x = x.data
    try:
        array = np.asarray(x)
    except Exception as error:
        raise CheckError(f"{name}: expected numbers, got {type(x).__name__} that cannot become an array "
                         f"({error})", "expected numbers") from None
    if array.dtype == object or array.dtype.kind not in "biufc":
        raise CheckError(f"{name}: expected numbers for the {role} value, got {type(x).__name__} "
                         f"(array dtype {array.dtype}). Did the function return None or a string?",
                         "expected numbers")
    return array


def _shape_hint(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    if got == tuple(reversed(want)):
        return " It looks transposed: check the order of your dimensions (W.T or x.T?)."
    if int(np.prod(got)) == int(np.prod(want)):
        return " The number of elements is right: a reshape or flatten is missing or in the wrong order."
    if got == want[1:]:
        return " The first (batch) dimension is missing: keep one row per example."
    if len(got) == len(want) - 1 or len(got) == len(want) + 1:
        return " One dimension too few or too many: check keepdims= in sums/means, or a squeeze."
    return ""


def _normalised_axes(x: np.ndarray, log: bool) -> set[int]:
    """Axes along which ``x`` is a distribution: entries >= 0 summing to 1 (``log``: log-probabilities,
    entries <= 0 whose exponentials sum to 1). Only axes longer than 1 count."""
    if x.ndim < 2 or x.dtype.kind != "f" or not np.isfinite(x).all():
        return set()
    values = x.astype(np.float64)
    if log:
        if (values > 1e-12).any():
            return set()
        values = np.exp(values)
    elif (values < -1e-12).any():
        return set()
    return {axis for axis in range(x.ndim)
            if x.shape[axis] > 1 and np.allclose(values.sum(axis=axis), 1.0, rtol=0, atol=1e-4)}


_LINE = {0: "column", 1: "row"}  # a 2-D array summed over axis 1 gives one sum per row


def _axis_hint(got: np.ndarray, want: np.ndarray) -> str:
    """A softmax (or log-softmax) taken over another axis than the expected one (chapter 01)."""
    if want.ndim == 2 and want.shape[0] == want.shape[1] and np.allclose(got, want.T, equal_nan=True):
        return " It looks transposed: check the order of your dimensions (W.T or x.T?)."
    for log in (False, True):
        wanted, found = _normalised_axes(want, log), _normalised_axes(got, log)
        right, other = sorted(wanted - found), sorted(found - wanted)
        if not (right and other):
            continue
        axis, yours = right[0], other[0]
        sums = (np.exp(got.astype(np.float64)) if log else got.astype(np.float64)).sum(axis=axis)
        spread = f"from {sums.min():.3g} to {sums.max():.3g}"
        exp = "exp of " if log else ""
        if want.ndim == 2:
            found_text = (f" {(exp + 'each').capitalize()} {_LINE[axis]} of the expected result sums to 1, "
                          f"but {exp}each {_LINE[yours]} of yours does (your {_LINE[axis]} sums run {spread})")
        else:
            found_text = (f" The expected values{' (exponentiated)' if log else ''} sum to 1 along axis "
                          f"{axis}, yours along axis {yours} (your sums along axis {axis} run {spread})")
        use = f"axis=-1 (or axis={axis})" if axis == want.ndim - 1 else f"axis={axis}"
        return (f"{found_text}: did you normalise over axis {yours} instead of axis {axis}? "
                f"Use {use} with keepdims=True.")
    return ""


def compare(actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8,
            name: str = "result", check_dtype: bool = False) -> None:
    """Raise ``CheckError`` unless ``actual`` matches ``expected`` within tolerance (chapter 00).

    Both may be numbers, lists, numpy arrays, ``dlkit.ref`` tensors or torch tensors.
    Passes when ``|actual − expected| <= atol + rtol·|expected|`` everywhere, with NaN equal
    only to NaN where ``expected`` has NaN. ``check_dtype`` also demands the same dtype;
    otherwise only float-vs-integer differences fail (a probability is never an integer).
    """
    got_device, want_device = _device_of(actual), _device_of(expected)
    if got_device and want_device and got_device.split(":")[0] != want_device.split(":")[0]:
        raise CheckError(f"{name}: expected a tensor on {want_device}, got one on {got_device}. "
                         f"Move it with .to(device) so both live on the same device.",
                         "the result is on another device")
    got = _to_numpy(actual, "actual", name)
    want = _to_numpy(expected, "expected", name)
    if got.shape != want.shape:
        raise CheckError(f"{name}: expected shape {want.shape}, got {got.shape}.{_shape_hint(got.shape, want.shape)}",
                         "wrong shape")
    if check_dtype and got.dtype != want.dtype:
        raise CheckError(f"{name}: expected dtype {want.dtype}, got {got.dtype}.", "wrong dtype")
    if want.dtype.kind in "fc" and got.dtype.kind in "biu":
        raise CheckError(f"{name}: expected floating-point values, got integers ({got.dtype}). "
                         f"Integer division, rounding or argmax where values were expected?",
                         "integers where floating-point values were expected")
    bad_actual = ~np.isfinite(got) & np.isfinite(want) if got.dtype.kind in "fc" else np.zeros(got.shape, bool)
    if bad_actual.any():
        first = tuple(int(i) for i in np.argwhere(bad_actual)[0])
        kind = "NaN" if np.isnan(got[first]) else "inf"
        raise CheckError(f"{name}: expected finite values, got {kind} at index {first} "
                         f"({int(bad_actual.sum())} of {got.size} entries not finite). Usual causes: log(0), "
                         f"0/0, or exp of a large number; use the numerically stable form.",
                         "NaN or inf where finite values were expected")
    close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        first = tuple(int(i) for i in np.argwhere(~close)[0])
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        where = f" at index {first}" if got.ndim else ""
        raise CheckError(f"{name}: values differ{where}: expected {want[first].item()!r}, got {got[first].item()!r} "
                         f"({int((~close).sum())} of {got.size} entries outside the tolerance "
                         f"rtol={rtol:g}, atol={atol:g}; largest difference {np.nanmax(diff):.3g})."
                         f"{_axis_hint(got, want)}", "values differ beyond the tolerance")
