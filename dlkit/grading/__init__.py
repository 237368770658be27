"""The grading wing: a safe, fast nbgrader runner (chapter 00, "how labs are graded").

It knows nothing of deep learning and never imports the teaching modules. Modules, one concept
each: ``course`` (the nbgrader course model), ``merge`` (trusted source + submission),
``sandbox`` (OS isolation), ``guard`` (anti-monkeypatching inside the notebook process),
``harness`` (the notebook process), ``zygote`` (the warm pre-forked worker), ``runner``
(parallel scheduling), ``progress`` (one notebook's result, cell by cell), ``results``,
``collect`` (submissions in any shape), ``gradebook`` (the nbgrader gradebook writer),
``feedback``, ``report`` (CSV, summary), ``grade``, ``release`` and ``learner_check``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the warm worker imports ``dlkit.grading.zygote`` (and with it this
# package) in every run, and nbgrader and nbformat cost it seconds it never needs.
_EXPORTS = {
    "Course": "course",
    "GraderError": "runner",
    "Limits": "sandbox",
    "check_notebook": "learner_check",
    "grade": "grade",
    "release": "release",
    "release_problems": "release",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dlkit.grading' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dlkit.grading.{_EXPORTS[name]}"), name)
