"""What one process did to a call's arguments, copied onto the other's objects (chapter 00).

Both directions use one merge: after a call, the tester copies the student's in-place changes of
its arguments back onto the test's own objects (``sync``), as nbgrader's one process would show
them; before a call, the student process updates the object it built for an argument passed
again (``adopt``), so an alias a student kept sees what the test changed since. Containers and
arrays are updated in place where their shape allows, else replaced; only what differs is
written. Adopting also carries each tensor's ``.grad`` and keeps a tensor only when it is still
the same kind of leaf (device, ``requires_grad``).
"""

from __future__ import annotations

import numpy as np

from dlkit.grading import byvalue
from dlkit.grading.codec import is_tensor


def _tensor_fits(old: object, new: object, adopting: bool) -> bool:
    if adopting:
        return type(old) is type(new) and (
            old.shape, old.dtype, old.device, old.requires_grad, old.is_leaf  # type: ignore[attr-defined]
        ) == (new.shape, new.dtype, new.device, new.requires_grad, True)  # type: ignore[attr-defined]
    return (old.shape, old.dtype) == (new.shape, new.dtype)  # type: ignore[attr-defined]


def _sync_tensor(old: object, new: object, adopting: bool) -> None:
    import torch

    with torch.no_grad():
        if not torch.equal(old.detach(), new.detach()):  # type: ignore[attr-defined]
            old.copy_(new)  # type: ignore[attr-defined]
    if adopting:
        old_grad, new_grad = old.grad, new.grad  # type: ignore[attr-defined]
        if (old_grad is None) != (new_grad is None) or (new_grad is not None and not torch.equal(old_grad, new_grad)):
            old.grad = new_grad  # type: ignore[attr-defined]


def _array_fits(old: object, new: object) -> bool:
    return (type(old) is np.ndarray and type(new) is np.ndarray and old.shape == new.shape
            and old.dtype == new.dtype and old.flags.writeable)


def sync(old: object, new: object, *, adopting: bool = False) -> None:
    """Make ``old`` equal to ``new`` in place, as far as its kind and shape allow."""
    if byvalue.sync_generator(old, new):
        return
    if _array_fits(old, new):
        if not np.array_equal(old, new, equal_nan=old.dtype.kind in "fc"):  # type: ignore[attr-defined]
            old[...] = new  # type: ignore[index]
    elif is_tensor(old) and is_tensor(new):
        if _tensor_fits(old, new, adopting):
            _sync_tensor(old, new, adopting)
    elif type(old) is list and type(new) is list:
        if len(old) != len(new):
            old[:] = new
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            old[i] = merged(a, b, adopting=adopting)
    elif type(old) is dict and type(new) is dict:
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = merged(old[key], value, adopting=adopting) if key in old else value
    elif type(old) is tuple and type(new) is tuple and len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            sync(a, b, adopting=adopting)


def merged(old: object, new: object, *, adopting: bool = False) -> object:
    """``old`` updated in place when it can be (arrays, tensors, lists, dicts), else ``new``."""
    if old is new:
        return old
    if is_tensor(old) and is_tensor(new):
        fits = _tensor_fits(old, new, adopting)
    else:
        fits = (type(old) is type(new) and type(old) in (list, dict)) or _array_fits(old, new)
    if not fits:
        return new
    sync(old, new, adopting=adopting)
    return old


def adopt(kept: object, new: object) -> object:
    """S: the object built for an argument passed before, made equal to its new value."""
    return merged(kept, new, adopting=True)


__all__ = ["adopt", "merged", "sync"]
