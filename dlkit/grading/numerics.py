"""The test's numerics policy holds where the student's code runs (chapter 00).

A lab may call a student function inside ``with np.errstate(over="raise"), warnings.catch_warnings():``
(lab01's ``strict_numerics``). That block changes the tester's process only; the function runs
in the student process. So each call request carries the tester's current NumPy error state and
warning filters as data (``capture``), and the student process runs the call under exactly that
policy (``applied``), restoring its own afterwards. A naive ``1 / (1 + np.exp(-x))`` then
overflows in the student process just as it would have in nbgrader's single kernel.
"""

from __future__ import annotations

import builtins
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_ERR_KEYS = ("divide", "over", "under", "invalid")
_ERR_MODES = ("ignore", "warn", "raise", "call", "print", "log")
_ACTIONS = ("error", "ignore", "always", "all", "default", "module", "once")
MAX_FILTERS = 64


def _warning_categories() -> dict[str, type[Warning]]:
    found = {
        name: value
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, Warning)
    }
    for name in ("ComplexWarning", "RankWarning", "VisibleDeprecationWarning"):
        value = getattr(np.exceptions, name, None)
        if isinstance(value, type) and issubclass(value, Warning):
            found[f"numpy.{name}"] = value
    return found


CATEGORIES = _warning_categories()
_CATEGORY_NAMES = {cls: name for name, cls in CATEGORIES.items()}


def capture() -> dict[str, Any]:
    """The tester's policy now, as plain data: NumPy's error state and the warning filters."""
    filters = []
    for action, message, category, module, lineno in warnings.filters[:MAX_FILTERS]:
        name = _CATEGORY_NAMES.get(category)
        if name is None:  # a category only this process knows: it cannot be named over there
            continue
        filters.append([
            action,
            message.pattern if isinstance(message, re.Pattern) else None,
            name,
            module.pattern if isinstance(module, re.Pattern) else None,
            int(lineno),
        ])
    return {"err": {k: v for k, v in np.geterr().items() if k in _ERR_KEYS}, "filters": filters}


def _valid(policy: object) -> tuple[dict[str, str], list[tuple[Any, ...]]] | None:
    if type(policy) is not dict:
        return None
    err, filters = policy.get("err"), policy.get("filters")
    if type(err) is not dict or type(filters) is not list or len(filters) > MAX_FILTERS:
        return None
    if any(k not in _ERR_KEYS or v not in _ERR_MODES for k, v in err.items()):
        return None
    rebuilt = []
    for entry in filters:
        if type(entry) is not list or len(entry) != 5:
            return None
        action, message, category, module, lineno = entry
        if action not in _ACTIONS or category not in CATEGORIES or type(lineno) is not int:
            return None
        if not all(p is None or (type(p) is str and len(p) < 500) for p in (message, module)):
            return None
        try:  # compiled as ``warnings.filterwarnings`` compiles them
            message_re = None if message is None else re.compile(message, re.I)
            module_re = None if module is None else re.compile(module)
        except re.error:
            return None
        rebuilt.append((action, message_re, CATEGORIES[category], module_re, lineno))
    return err, rebuilt


@contextmanager
def applied(policy: object) -> Iterator[None]:
    """Run the block under the tester's policy; a malformed policy leaves things as they are."""
    valid = _valid(policy)
    if valid is None:
        yield
        return
    err, filters = valid
    with np.errstate(**err), warnings.catch_warnings():  # type: ignore[arg-type]
        warnings.filters[:] = filters
        mutated = getattr(warnings, "_filters_mutated", None)  # the "once" registries reset
        if mutated is not None:
            mutated()
        yield


__all__ = ["applied", "capture"]
