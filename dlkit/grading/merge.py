"""Merge a submission with its trusted source notebook (chapter 00, "how labs are graded").

What runs is decided by the instructor's source notebook, matched by grade id:

* test cells, locked cells and their points come from the source, whatever the submission did
  to them (deleted, edited, duplicated, retyped, re-pointed);
* a solution cell runs the submission's text (the released stub if the learner deleted it);
* the learner's own extra cells run where they put them (after the tracked cell before them);
* the submission's kernelspec and metadata are ignored.

``solution_names`` reads from the merged plan which names of the student process the tester
may see.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat
from nbgrader.preprocessors import ClearSolutions

from dlkit.grading.course import SourceNotebook, TrustedCell
from dlkit.grading.guard import bound_names


@dataclass(frozen=True)
class PlannedCell:
    """One cell to run (or show), and who wrote it (chapter 00).

    ``role``: ``"student"`` (untrusted code), ``"setup"`` (trusted, locked), ``"test"``
    (trusted, scored) or ``"text"`` (markdown/raw, never run).
    """

    role: str
    source: str
    grade_id: str | None = None
    trusted: TrustedCell | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def runs(self) -> bool:
        return self.role != "text"


@dataclass(frozen=True)
class Plan:
    """The merged notebook and what the merge noticed (chapter 00)."""

    cells: tuple[PlannedCell, ...]
    notes: tuple[str, ...]


def blank_sources(source: SourceNotebook) -> dict[str, str]:
    """Solution cells as released (solutions cleared), by grade id (chapter 00)."""
    nb = copy.deepcopy(source.notebook)
    nb, _ = ClearSolutions().preprocess(nb, {})
    blanks = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            blanks[grade_id] = cell.source
    return blanks


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    meta = cell.get("metadata", {})
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _text(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def plan_notebook(
    source: SourceNotebook, submission: nbformat.NotebookNode, blanks: dict[str, str]
) -> Plan:
    """The cells to run for ``submission``, trusted parts taken from ``source`` (chapter 00)."""
    tracked = {c.grade_id: c for c in source.cells if c.grade_id is not None}
    notes: list[str] = []
    answers: dict[str, nbformat.NotebookNode] = {}
    extras: dict[str | None, list[nbformat.NotebookNode]] = {None: []}
    anchor: str | None = None
    for cell in submission.get("cells", []):
        grade_id = _grade_id(cell)
        if grade_id in tracked:
            if grade_id in answers:
                notes.append(f"duplicate cell {grade_id!r} ignored")
                continue
            answers[grade_id] = cell
            anchor = grade_id
            extras.setdefault(anchor, [])
            continue
        extras.setdefault(anchor, []).append(cell)

    def student(cell: nbformat.NotebookNode) -> PlannedCell:
        role = "student" if cell.get("cell_type") == "code" else "text"
        return PlannedCell(role, _text(cell))

    planned = [student(c) for c in extras[None]]
    for trusted, raw in zip(source.cells, source.notebook.cells, strict=True):
        if trusted.grade_id is None:
            continue  # untracked source cells live in the learner's copy as free cells
        meta = {"nbgrader": dict(raw.metadata.get("nbgrader", {}))}
        if trusted.kind == "test":
            if trusted.grade_id not in answers:
                notes.append(f"test cell {trusted.grade_id!r} was missing; restored from source")
            planned.append(PlannedCell("test", trusted.source, trusted.grade_id, trusted, meta))
        elif trusted.cell_type != "code":
            answered = trusted.kind != "locked" and trusted.grade_id in answers
            text = _text(answers[trusted.grade_id]) if answered else trusted.source
            planned.append(PlannedCell("text", text, trusted.grade_id, trusted, meta))
        elif trusted.kind == "locked":
            planned.append(PlannedCell("setup", trusted.source, trusted.grade_id, trusted, meta))
        else:  # a code answer: the learner's text, or the released stub if they deleted it
            if trusted.grade_id in answers:
                text = _text(answers[trusted.grade_id])
            else:
                notes.append(f"answer cell {trusted.grade_id!r} was missing; the blank stub ran")
                text = blanks.get(trusted.grade_id, "")
            planned.append(PlannedCell("student", text, trusted.grade_id, trusted, meta))
        planned.extend(student(c) for c in extras.get(trusted.grade_id, []))
    return Plan(tuple(planned), tuple(notes))


def solution_names(plan: Plan) -> dict[int, set[str]]:
    """Per answer cell, the names its SOURCE solution cell defines and no setup cell binds.

    These are the only names of the student process a test (and a trusted helper) sees: a
    student's ``def all``, ``compare = ...`` or ``np = fake`` never reach the tester (chapter 00).
    """
    trusted: set[str] = set()
    for cell in plan.cells:
        if cell.role == "setup":
            imports, names = bound_names(cell.source)
            trusted |= set(imports) | names
    found: dict[int, set[str]] = {}
    for index, cell in enumerate(plan.cells):
        source = cell.trusted
        if cell.role == "student" and source is not None and source.kind in ("solution", "manual"):
            imports, names = bound_names(source.source)
            found[index] = (set(imports) | names) - trusted
    return found
