"""Gradient checking by central differences (chapter 03).

    ∂L/∂x_i ≈ (L(x + ε e_i) − L(x − ε e_i)) / 2ε        (error O(ε²))

The analytic gradient from ``backward()`` is compared entry by entry with this estimate; the
report names the worst entry and its relative error |a − n| / max(|a|, |n|), which should be
around 1e-7 or smaller in float64 when backward is right, and near 1 when it is wrong.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlkit.ref.tensor import Tensor


@dataclass
class GradcheckReport:
    """What ``gradcheck`` found: ``ok`` and the worst entry over all inputs."""

    ok: bool
    max_rel_error: float
    worst_input: int
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    checked: int

    def __str__(self) -> str:
        verdict = "gradients match" if self.ok else "GRADIENT MISMATCH"
        return (f"{verdict}: worst entry is input {self.worst_input} at index {self.worst_index}: "
                f"backward gave {self.analytic:.6g}, finite differences gave {self.numeric:.6g} "
                f"(relative error {self.max_rel_error:.2e}; {self.checked} entries checked)")


def _scalar_objective(f: Callable[..., Tensor], tensors: list[Tensor], projection: list) -> Tensor:
    out = f(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck expected f to return a dlkit.ref.Tensor, got {type(out).__name__}")
    if not projection:  # project a non-scalar output on fixed random weights: L = Σ out ⊙ R
        projection.append(None if out.size == 1 else
                          np.random.default_rng(1234).normal(size=out.shape))
    return out.sum() if projection[0] is None else (out * projection[0]).sum()


def gradcheck(f: Callable[..., Tensor], *inputs: Tensor | np.ndarray, eps: float = 1e-6,
              atol: float = 1e-6, rtol: float = 1e-4, max_entries: int | None = 2000,
              raise_on_failure: bool = True, seed: int = 0) -> GradcheckReport:
    """Check ``f``'s backward pass against central differences (chapter 03).

    ``f`` takes one Tensor per input and returns a Tensor (a non-scalar output is reduced with
    fixed random weights, so every output entry is tested). Inputs are copied to float64.
    An entry passes when ``|analytic − numeric| <= atol + rtol·|numeric|``. With more than
    ``max_entries`` entries, a seeded random subset is checked. Raises ``AssertionError`` with the
    worst entry when ``raise_on_failure`` and some entry fails.
    """
    if not inputs:
        raise ValueError("gradcheck expected at least one input, got none")
    arrays = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    projection: list = []
    _scalar_objective(f, tensors, projection).backward()
    analytic = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]

    def objective(values: list[np.ndarray]) -> float:
        return _scalar_objective(f, [Tensor(v) for v in values], projection).item()

    entries = [(i, idx) for i, a in enumerate(arrays) for idx in np.ndindex(a.shape)]
    if max_entries is not None and len(entries) > max_entries:
        picks = np.random.default_rng(seed).choice(len(entries), size=max_entries, replace=False)
        entries = [entries[k] for k in sorted(picks)]
    worst = (-1.0, 0, (), 0.0, 0.0)
    for i, idx in entries:
        original = arrays[i][idx]
        arrays[i][idx] = original + eps
        plus = objective(arrays)
        arrays[i][idx] = original - eps
        minus = objective(arrays)
        arrays[i][idx] = original
        numeric = (plus - minus) / (2 * eps)
        a = float(analytic[i][idx])
        # rank entries by how far past the tolerance they are, so round-off on ~0 values
        # never outranks a real mismatch
        excess = abs(a - numeric) / (atol + rtol * abs(numeric))
        if excess > worst[0]:
            worst = (excess, i, tuple(int(k) for k in idx), a, numeric)
    excess, i, idx, a, numeric = worst
    rel = abs(a - numeric) / max(abs(a), abs(numeric), 1e-12) if excess > 0 else 0.0
    report = GradcheckReport(excess <= 1.0, rel, i, idx, a, numeric, len(entries))
    if raise_on_failure and not report.ok:
        raise AssertionError(str(report))
    return report
