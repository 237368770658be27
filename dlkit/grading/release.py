"""``dlkit release``: the student labs, generated from the instructor's source (chapter 00).

nbgrader's own preprocessors, in ``nbgrader generate_assignment``'s order, strip solutions and
hidden tests and lock the graded cells; the result is written only when its bytes change, so a
second run changes nothing. ``release_problems`` is what the tests call to prove that the
released labs are in sync and leak no solution.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from dlkit.grading.course import HIDDEN_BEGIN, HIDDEN_END, Course, SourceNotebook

_LEAKS = ("BEGIN SOLUTION", "END SOLUTION", HIDDEN_BEGIN, HIDDEN_END, "BEGIN MARK SCHEME")


def released_notebook(source: SourceNotebook) -> str:
    """The student version of one source notebook, as the exact text written to disk."""
    nb = copy.deepcopy(source.notebook)
    resources: dict = {}
    steps = (
        LockCells(),
        ClearSolutions(),
        ClearOutput(),
        CheckCellMetadata(),
        ComputeChecksums(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ComputeChecksums(),
        CheckCellMetadata(),
    )
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    return nbformat.writes(nb) + "\n"


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _source_files(course: Course, lab: str) -> list[Path]:
    folder = course.path("source") / lab
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix != ".ipynb"
        and not any(
            part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts
        )
    )


def release_lab(course: Course, lab: str) -> list[Path]:
    """Write ``RELEASE/LAB`` from ``SOURCE/LAB``; returns the files that changed (chapter 00)."""
    target = course.path("release") / lab
    changed = []
    for source in course.source_notebooks(lab):
        path = target / f"{source.name}.ipynb"
        if _write_if_changed(path, released_notebook(source)):
            changed.append(path)
    folder = course.path("source") / lab
    for file in _source_files(course, lab):
        path = target / file.relative_to(folder)
        if not path.exists() or path.read_bytes() != file.read_bytes():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, path)
            changed.append(path)
    return changed


def release(course: Course, labs: list[str] | None = None) -> list[Path]:
    """Release ``labs`` (all labs by default); returns every file that changed (chapter 00)."""
    names = labs or course.labs()
    known = set(course.labs())
    unknown = [lab for lab in names if lab not in known]
    if unknown:
        raise FileNotFoundError(
            f"expected labs from {course.path('source')} ({', '.join(sorted(known)) or 'none'}), "
            f"got {', '.join(unknown)}"
        )
    return [path for lab in names for path in release_lab(course, lab)]


def release_problems(course: Course, lab: str) -> list[str]:
    """Why ``RELEASE/LAB`` is not a faithful, leak-free release of ``SOURCE/LAB`` (empty: fine)."""
    problems = []
    target = course.path("release") / lab
    for source in course.source_notebooks(lab):
        path = target / f"{source.name}.ipynb"
        if not path.exists():
            problems.append(f"{path} is missing: run `dlkit release {lab}`")
            continue
        text = path.read_text(encoding="utf-8")
        if text != released_notebook(source):
            problems.append(f"{path} is out of sync with {source.path}: run `dlkit release {lab}`")
        released = nbformat.reads(text, as_version=4)
        for cell in released.cells:
            for marker in _LEAKS:
                if marker in cell.source:
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
                    problems.append(f"{path}: cell {grade_id!r} still contains {marker!r}")
    folder = course.path("source") / lab
    for file in _source_files(course, lab):
        copy_path = target / file.relative_to(folder)
        if not copy_path.exists() or copy_path.read_bytes() != file.read_bytes():
            problems.append(f"{copy_path} is missing or differs from {file}")
    return problems
