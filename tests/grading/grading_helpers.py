"""Shared helpers for the grading tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUBMISSIONS = FIXTURES / "submissions"


def copy_course(target: Path) -> Path:
    """A writable copy of the fixture course (solutions/ -> labs/, one lab: lab01)."""
    course = target / "course"
    shutil.copytree(FIXTURES / "course", course)
    return course


def submit(submitted: Path, student: str, fixture: str, course: Path, lab: str = "lab01") -> Path:
    """Put fixture ``fixture``.ipynb in nbgrader's layout as ``student``'s ``lab`` notebook."""
    folder = submitted / student / lab
    folder.mkdir(parents=True, exist_ok=True)
    text = (SUBMISSIONS / f"{fixture}.ipynb").read_text()
    path = folder / f"{lab}.ipynb"
    path.write_text(text.replace("@@COURSE@@", str(course)))
    return path


def _answer(source: str) -> str:
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "\n".join(line for line in source.split("\n") if line.strip() not in markers)


def solved_release(lab: str, root: Path = REPO) -> nbformat.NotebookNode:
    """The course's released ``lab`` with every answer cell holding the worked solution."""
    released = nbformat.read(str(root / "labs" / lab / f"{lab}.ipynb"), 4)
    solution = nbformat.read(str(root / "solutions" / lab / f"{lab}.ipynb"), 4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: _answer(c.source)
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    }
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return released


def answer_cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """The cell of ``nb`` with nbgrader grade id ``grade_id``."""
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell
