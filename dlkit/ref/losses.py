"""Loss functions on autograd ``Tensor`` s, with torch's conventions (chapters 02, 06).

Every loss takes ``reduction``: ``"mean"`` (the default, as in torch), ``"sum"`` or ``"none"``
(one loss per example). Classification losses come in the numerically stable form:

* ``softmax`` then ``log`` is unstable: for logits like [1e4, 0] softmax underflows to exactly 0
  and log(0) = −inf. ``cross_entropy`` works from the logits with
  log_softmax(z) = z − max z − log Σ e^{z − max z}, which is always finite.
* ``sigmoid`` then ``binary_cross_entropy`` has the same trap (σ(40) rounds to 1, log(1 − 1) =
  −inf); ``binary_cross_entropy_with_logits`` takes the raw score instead.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlkit.ref.activations import sigmoid as _np_sigmoid
from dlkit.ref.tensor import Operand, Tensor, as_tensor

Array = np.ndarray

_REDUCTIONS = ("mean", "sum", "none")
_LOG_FLOOR = -100.0  # torch clamps log(p) at −100 inside binary_cross_entropy
_TINY = math.exp(_LOG_FLOOR)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name} expected reduction 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(name: str, a: Tensor, b: Tensor, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        hint = ""
        if a.shape == b.shape + (1,) or b.shape == a.shape + (1,):
            hint = " (an (N, 1) against an (N,) would broadcast to (N, N): reshape one of them)"
        raise ValueError(f"{name} expected {a_name} and {b_name} of the same shape, got {a.shape} "
                         f"and {b.shape}{hint}")


def _where(position: tuple[int, ...]) -> str:
    return str(position[0]) if len(position) == 1 else str(position)


def _check_unit_interval(name: str, what: str, values: Array, hint: str = "") -> None:
    inside = (values >= 0) & (values <= 1)  # NaN is outside too
    if not inside.all():
        position = tuple(int(i) for i in np.argwhere(~inside)[0])
        raise ValueError(f"{name} expected {what} in [0, 1], got {values[position].item()!r} at "
                         f"position {_where(position)}{hint}")


def _array_of(y: Any) -> Array:
    return np.asarray(y.data if isinstance(y, Tensor) else y)


# ---- regression --------------------------------------------------------------------------------
def mse_loss(y_hat: Operand, y: Operand, reduction: str = "mean") -> Tensor:
    """Mean squared error (1/n) Σ (ŷ_i − y_i)², like ``torch.nn.functional.mse_loss``
    (chapter 02).

    Unlike torch, shapes must match exactly: broadcasting (N, 1) against (N,) silently
    averages N² differences instead of N.
    """
    _check_reduction("mse_loss", reduction)
    y_hat, y = as_tensor(y_hat), as_tensor(y)
    _check_same_shape("mse_loss", y_hat, y, "y_hat", "y")
    diff = y_hat - y
    return _reduce(diff * diff, reduction)


# ---- binary classification ---------------------------------------------------------------------
def _clamped_log(x: Array) -> Array:
    # log(0) = −inf would make the loss inf and its gradient NaN; torch floors it at −100
    return np.maximum(np.log(np.maximum(x, _TINY)), _LOG_FLOOR)


def _d_clamped_log(x: Array) -> Array:
    above = x > _TINY
    return np.where(above, 1.0 / np.where(above, x, 1.0), 0.0).astype(x.dtype, copy=False)


def binary_cross_entropy(p: Operand, y: Operand, reduction: str = "mean") -> Tensor:
    """−[y log p + (1 − y) log(1 − p)] on probabilities ``p``, like
    ``torch.nn.functional.binary_cross_entropy`` (chapter 02).

    As in torch each log is clamped at −100, so p = 0 or 1 gives a large finite loss instead of
    inf. Gradients match torch's wherever p(1 − p) > 1e-12; at an exact 0 or 1 this one is the
    derivative of the clamped log (0, never NaN), where torch substitutes (p − y)/1e-12.

    Computing p = sigmoid(z) first and then this loss is unstable for large |z| (σ(40) rounds
    to 1.0): use ``binary_cross_entropy_with_logits`` on the raw scores.
    """
    _check_reduction("binary_cross_entropy", reduction)
    p, y = as_tensor(p), as_tensor(y)
    _check_same_shape("binary_cross_entropy", p, y, "p", "y")
    _check_unit_interval("binary_cross_entropy", "probabilities p", p.data,
                         "; for raw scores (logits) use binary_cross_entropy_with_logits")
    _check_unit_interval("binary_cross_entropy", "targets y", y.data)
    log_p = p.apply(_clamped_log, _d_clamped_log, "log")
    log_1mp = (1 - p).apply(_clamped_log, _d_clamped_log, "log")
    return _reduce(-(y * log_p + (1 - y) * log_1mp), reduction)


def _softplus(z: Array) -> Array:
    # log(1 + e^z) = max(z, 0) + log(1 + e^{−|z|}): the exponent is never positive, so no overflow
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def binary_cross_entropy_with_logits(logits: Operand, y: Operand,
                                     reduction: str = "mean") -> Tensor:
    """BCE on raw scores z, like ``torch.nn.functional.binary_cross_entropy_with_logits``
    (chapter 02):

        −[y log σ(z) + (1 − y) log(1 − σ(z))] = max(z, 0) − z·y + log(1 + e^{−|z|})

    The right-hand side never computes e^{+large} nor log(0), so it is finite for z = ±1e4,
    where sigmoid-then-log gives inf. Its gradient is exactly σ(z) − y.
    """
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    z, y = as_tensor(logits), as_tensor(y)
    _check_same_shape("binary_cross_entropy_with_logits", z, y, "logits", "y")
    _check_unit_interval("binary_cross_entropy_with_logits", "targets y", y.data,
                         " (labels are 0/1, not −1/+1)")
    # softplus' = σ, so softplus(z) − z·y has the gradient σ(z) − y even at z = 0, where the
    # kinks of max(z, 0) and |z| would each need a subgradient
    softplus = z.apply(_softplus, _np_sigmoid, "softplus")
    return _reduce(softplus - z * y, reduction)


# ---- multi-class classification ----------------------------------------------------------------
def _rows(t: Tensor) -> Tensor:
    """(N, C, d1, ...) → (N·d1·..., C) and (C,) → (1, C): a row of class scores per prediction."""
    if t.ndim == 1:
        return t.reshape(1, -1)
    if t.ndim > 2:
        t = t.transpose((0, *range(2, t.ndim), 1))  # class axis last
    return t.reshape(-1, t.shape[-1])


def _class_indices(name: str, scores: Tensor, y: Any, ignore_index: int) -> Array:
    """``y`` as int64 class indices, checked against the class axis of ``scores``."""
    target = _array_of(y)
    num_classes = scores.shape[0 if scores.ndim == 1 else 1]
    if target.dtype.kind == "f":
        fractional = target != np.round(target)  # a float Tensor of whole numbers is fine
        if fractional.any():
            position = tuple(int(i) for i in np.argwhere(fractional)[0])
            raise ValueError(f"{name} expected integer class indices, got "
                             f"{target[position].item()!r} at position {_where(position)}")
    elif target.dtype.kind not in "iu":
        raise ValueError(f"{name} expected integer class indices, got an array of dtype "
                         f"{target.dtype}")
    target = target.astype(np.int64)
    bad = ((target < 0) | (target >= num_classes)) & (target != ignore_index)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} expected class indices in [0, {num_classes}), got "
                         f"{target[position].item()} at position {_where(position)}")
    return target


def _target_kind(name: str, scores: Tensor, y: Any) -> str:
    """'indices' or 'probabilities', from the target's shape (as torch decides)."""
    if scores.ndim == 0:
        raise ValueError(f"{name} expected scores of shape (N, C), (C,) or (N, C, d1, ...), "
                         f"got a scalar")
    shape = _array_of(y).shape
    index_shape = scores.shape[1:] if scores.ndim == 1 else scores.shape[:1] + scores.shape[2:]
    if shape == index_shape:
        return "indices"
    if shape == scores.shape:
        return "probabilities"
    raise ValueError(f"{name} expected targets of shape {index_shape} (class indices) or "
                     f"{scores.shape} (class probabilities) for scores of shape {scores.shape}, "
                     f"got {shape}")


def _picked_loss(name: str, log_probs: Tensor, y: Any, ignore_index: int, label_smoothing: float,
                 reduction: str) -> Tensor:
    """−(1 − ε) log p[y] − (ε/C) Σ_c log p[c] per prediction; ``ignore_index`` masked out."""
    target = _class_indices(name, log_probs, y, ignore_index)
    rows = _rows(log_probs)
    flat = target.reshape(-1)
    keep = flat != ignore_index
    picked = rows[np.arange(len(flat)), np.where(keep, flat, 0)]  # gather log p[y] row by row
    loss = -picked
    if label_smoothing > 0:
        loss = (1 - label_smoothing) * loss - (label_smoothing / rows.shape[1]) * rows.sum(axis=1)
    loss = loss * keep.astype(loss.dtype)  # ignored positions: zero loss and zero gradient
    if reduction == "none":
        return loss.reshape(target.shape)
    if reduction == "sum":
        return loss.sum()
    count = int(keep.sum())  # torch averages over the positions that count
    if count == 0:  # all ignored: the mean is 0/0 = nan as in torch, and every gradient is 0
        return loss.sum() + float("nan")
    return loss.sum() / count


def nll_loss(log_probs: Operand, y: Any, reduction: str = "mean",
             ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood −log p[y] from log-probabilities (N, C) and class indices (N,),
    like ``torch.nn.functional.nll_loss`` (chapter 02). Pair it with ``log_softmax``."""
    _check_reduction("nll_loss", reduction)
    log_probs = as_tensor(log_probs)
    if _target_kind("nll_loss", log_probs, y) != "indices":
        index_shape = log_probs.shape[:1] + log_probs.shape[2:]
        raise ValueError(f"nll_loss expected class indices of shape {index_shape} for log_probs "
                         f"of shape {log_probs.shape}, got probabilities of shape "
                         f"{_array_of(y).shape}; use cross_entropy for probability targets")
    return _picked_loss("nll_loss", log_probs, y, ignore_index, 0.0, reduction)


def cross_entropy(logits: Operand, y: Any, reduction: str = "mean", label_smoothing: float = 0.0,
                  ignore_index: int = -100) -> Tensor:
    """Softmax cross-entropy from raw logits, like ``torch.nn.functional.cross_entropy``
    (chapters 02, 06).

    Logits (N, C) [or (C,), or (N, C, d1, ...)] with either class indices y of shape (N,)
    [(), (N, d1, ...)] or class probabilities of the logits' shape:

        loss_i = −Σ_c q_ic log softmax(z_i)_c,   q = (1 − ε) y + ε/C   (label smoothing ε)

    For index targets q is one-hot; positions whose target is ``ignore_index`` add nothing and
    are left out of the mean. log softmax comes from ``log_softmax`` (finite for logits of 1e4),
    never from log(softmax(z)), which is −inf wherever softmax underflows to 0.
    """
    _check_reduction("cross_entropy", reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy expected label_smoothing in [0, 1], "
                         f"got {label_smoothing!r}")
    z = as_tensor(logits)
    kind = _target_kind("cross_entropy", z, y)
    class_axis = 0 if z.ndim == 1 else 1
    log_probs = z.log_softmax(axis=class_axis)
    if kind == "indices":
        return _picked_loss("cross_entropy", log_probs, y, ignore_index, label_smoothing, reduction)
    q = as_tensor(y)
    _check_unit_interval("cross_entropy", "target probabilities", q.data)
    if label_smoothing > 0:
        q = (1 - label_smoothing) * q + label_smoothing / z.shape[class_axis]
    loss = -(q * log_probs).sum(axis=class_axis)
    return _reduce(loss, reduction)
