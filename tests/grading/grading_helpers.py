"""Shared helpers for the grading tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

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
