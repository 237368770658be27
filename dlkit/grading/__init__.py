"""The grading wing: a safe, fast nbgrader runner (chapter 00, "how labs are graded").

It knows nothing of deep learning and never imports the teaching modules. Modules, one concept
each: ``course`` (the nbgrader course model), ``merge`` (trusted source + submission),
``sandbox`` (OS isolation), ``guard`` (anti-monkeypatching inside the notebook process),
``harness`` (the notebook process), ``zygote`` (the warm pre-forked worker), ``runner``
(parallel scheduling), ``results``, ``collect`` (submissions in any shape), ``gradebook``
(the nbgrader gradebook writer), ``feedback``, ``report`` (CSV, summary), ``grade``,
``release`` and ``learner_check``.
"""

from dlkit.grading.course import Course
from dlkit.grading.grade import grade
from dlkit.grading.learner_check import check_notebook
from dlkit.grading.release import release, release_problems
from dlkit.grading.runner import GraderError
from dlkit.grading.sandbox import Limits

__all__ = [
    "Course",
    "GraderError",
    "Limits",
    "check_notebook",
    "grade",
    "release",
    "release_problems",
]
