"""Grade other people's answers to the course labs: honest variants must score full, wrong ones
must lose exactly their task's points (imported by name: pytest puts this folder on sys.path).

A variant is a submission made of the lab's own solutions with some answer cells replaced.
Every variant of a lab is graded in ONE ``dlkit grade`` batch on a scratch copy of the course.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dlkit.grading.course import Course
from dlkit.grading.grade import grade
from dlkit.grading.results import SubmissionResult
from dlkit.grading.sandbox import Limits

REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(cell_timeout=60, notebook_timeout=240)


@dataclass(frozen=True)
class Variant:
    """``answers`` (answer cell grade id → source) replace the solution; ``loses`` names the test
    cells (grade ids) that must score 0; every other test cell must score its full points. What
    ``dlkit check`` tells a learner about a lost test must contain ``says`` (the graded feedback
    shows the same check's message with its values withheld once a hidden test has run)."""

    name: str
    answers: dict[str, str]
    loses: frozenset[str] = field(default_factory=frozenset)
    says: str = ""


def honest(name: str, **answers: str) -> Variant:
    return Variant(name, _by_grade_id(answers))


def wrong(name: str, loses: str | tuple[str, ...], says: str = "", **answers: str) -> Variant:
    lost = (loses,) if isinstance(loses, str) else loses
    return Variant(name, _by_grade_id(answers), frozenset(lost), says)


def _by_grade_id(answers: dict[str, str]) -> dict[str, str]:
    # keyword arguments cannot hold '-': answer cells are named with '_' in the tables
    return {key.replace("__", "-"): source for key, source in answers.items()}


def source_notebook(lab: str) -> Path:
    (path,) = (REPO / "solutions" / lab).glob("*.ipynb")
    return path


def write_submission(lab: str, variant: Variant, submitted: Path) -> None:
    path = source_notebook(lab)
    notebook = nbformat.read(str(path), 4)
    found = set()
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in variant.answers:
            cell.source = variant.answers[grade_id]
            found.add(grade_id)
    missing = set(variant.answers) - found
    assert not missing, f"{lab} has no answer cells {sorted(missing)} (variant {variant.name})"
    folder = submitted / variant.name / lab
    folder.mkdir(parents=True)
    nbformat.write(notebook, str(folder / path.name))


def grade_variants(lab: str, variants: list[Variant], tmp_path: Path) -> dict[str, SubmissionResult]:
    """Every variant (and ``solution``, the lab's own answers) graded in one batch."""
    course = Course.load(REPO)
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for directory in ("source", "release"):
        relative = course.path(directory).relative_to(course.root)
        shutil.copytree(course.path(directory) / lab, root / relative / lab)
    submitted = tmp_path / "submitted"
    for variant in [Variant("solution", {}), *variants]:
        write_submission(lab, variant, submitted)
    results = grade(submitted, lab, root, jobs=2, limits=LIMITS, out=tmp_path / "out",
                    db_url=f"sqlite:///{tmp_path / 'gradebook.db'}", progress=False,
                    log=lambda _: None)
    return {r.student: r for r in results}


def solution_answer(lab: str, grade_id: str) -> str:
    """The source lab's own answer cell ``grade_id``."""
    notebook = nbformat.read(str(source_notebook(lab)), 4)
    (source,) = [c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return source


def max_points(lab: str) -> dict[str, float]:
    notebook = nbformat.read(str(source_notebook(lab)), 4)
    return {
        meta["grade_id"]: float(meta["points"])
        for meta in (c.metadata.get("nbgrader", {}) for c in notebook.cells)
        if meta.get("grade") and not meta.get("solution")
    }


def mismatches(lab: str, variants: list[Variant], results: dict[str, SubmissionResult]) -> list[str]:
    """What scored other than expected, one line per variant and test cell, with the reason."""
    full = max_points(lab)
    problems = []
    for variant in [Variant("solution", {}), *variants]:
        result = results[variant.name]
        got = result.task_points()
        messages = {t.grade_id: t.message for nb in result.notebooks for t in nb.tests}
        for grade_id, most in full.items():
            want = 0.0 if grade_id in variant.loses else most
            if got.get(grade_id) != want:
                problems.append(f"{variant.name}: {grade_id} scored {got.get(grade_id)}, expected {want} "
                                f"[{result.status} {result.reason}] {messages.get(grade_id, '')}")
    return problems


# A function that overwrites the arrays and tensors it was given (zeros) and then answers, right,
# for what it left: it scores wherever a test computes its expected value after the call from the
# arguments it passed, since the grader, like nbgrader, lets the caller see in-place changes.
_SCRIBBLER = '''
import functools as _functools


def _scribble(value):
    import numpy as _np
    import torch as _torch

    if type(value) is _np.ndarray and value.dtype.kind in "fc" and value.flags.writeable:
        value[...] = 0
    elif isinstance(value, _torch.Tensor) and value.is_floating_point():
        with _torch.no_grad():
            value.zero_()
    elif type(value) in (list, tuple):
        for item in value:
            _scribble(item)
    elif type(value) is dict:  # arrays inside are zeroed; a dict of settings is emptied
        if any(isinstance(item, (_np.ndarray, _torch.Tensor)) for item in value.values()):
            for item in value.values():
                _scribble(item)
        else:
            value.clear()


def _scribbling(answer):
    if isinstance(answer, type) and hasattr(answer, "forward"):
        answer.forward = _scribbling(answer.forward)
        return answer

    @_functools.wraps(answer)  # inspect.getsource follows __wrapped__: the source checks pass
    def scribbled(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            _scribble(value)
        return answer(*args, **kwargs)

    return scribbled
'''


def scribbling(lab: str, keeps: tuple[str, ...] = ()) -> Variant:
    """The lab's own solutions, each function and module class wrapped by the scribbler above:
    it must lose every task but ``keeps`` (tasks whose tests pass no arrays or tensors)."""
    import ast

    notebook = nbformat.read(str(source_notebook(lab)), 4)
    answers: dict[str, str] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        names = [node.name for node in ast.parse(cell.source).body
                 if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        prefix = "" if answers else _SCRIBBLER
        answers[meta["grade_id"]] = prefix + cell.source + "".join(
            f"\n{name} = _scribbling({name})" for name in names) + "\n"
    lost = frozenset(set(max_points(lab)) - set(keeps))
    return Variant("scribbles-over-its-arguments", answers, lost)

