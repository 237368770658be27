"""dlkit: the support library of a Jupyter-first deep-learning course.

Teaching wing: runtime, data, ref, models, train, metrics, check, viz, trust.
Grading wing: grading (an nbgrader runner that knows nothing of deep learning).

``dlkit.seed``, ``dlkit.device``, ``dlkit.quick`` and ``dlkit.scaled`` are loaded on first use,
so that importing the grading wing never loads the teaching wing.
"""
from typing import Any

__version__ = "0.1.0"
__all__ = ["device", "quick", "scaled", "seed", "__version__"]

_RUNTIME = {"device", "quick", "scaled", "seed"}


def __getattr__(name: str) -> Any:
    if name in _RUNTIME:
        from dlkit import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'dlkit' has no attribute {name!r}")
