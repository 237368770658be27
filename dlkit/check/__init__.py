"""Checks that explain deep-learning failures in words a learner understands (chapters 00, 03)."""
from dlkit.check.compare import CheckError, compare
from dlkit.check.gradcheck import GradcheckReport, gradcheck

__all__ = ["CheckError", "GradcheckReport", "compare", "gradcheck"]
