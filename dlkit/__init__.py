"""dlkit: the support library of a Jupyter-first deep-learning course.

Teaching wing: runtime, data, ref, models, train, metrics, check, viz.
Grading wing: grading (an nbgrader runner that knows nothing of deep learning).
"""
from dlkit.runtime import device, quick, scaled, seed

__version__ = "0.1.0"
__all__ = ["device", "quick", "scaled", "seed", "__version__"]
