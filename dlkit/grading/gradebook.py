"""Write scores into the course's nbgrader gradebook, from one writer (chapter 00).

The gradebook stays nbgrader's (SQLite by default, any SQLAlchemy URL such as PostgreSQL), so
formgrader, manual grading and ``nbgrader export`` keep working on what ``dlkit grade`` wrote.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbgrader import api as nbgrader_api
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.dbutil import ALEMBIC_DIR
from nbgrader.preprocessors import (
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
    SaveCells,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning, SQLAlchemyError

from dlkit.grading.course import Course, SourceNotebook
from dlkit.grading.results import NotebookResult, SubmissionResult
from dlkit.grading.runner import GraderError
from dlkit.grading.sandbox import python_executable_dir


@contextlib.contextmanager
def tools_on_path() -> Iterator[None]:
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook: put ours first."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{python_executable_dir()}{os.pathsep}{old}"
    try:
        yield
    finally:
        os.environ["PATH"] = old


_REVISION = re.compile(r"""^(down_)?revision\s*=\s*['"]?([0-9a-f]+|None)['"]?""", re.M)


def alembic_head() -> str | None:
    """The gradebook schema's newest revision, read from nbgrader's migration scripts.

    nbgrader learns it by starting an ``alembic`` process for every new gradebook (seconds);
    the scripts say it directly. None when they cannot be read: then nbgrader's way is used.
    """
    revisions, parents = set(), set()
    for script in Path(ALEMBIC_DIR, "versions").glob("*.py"):
        for down, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (parents if down else revisions).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def open_gradebook(db_url: str) -> Gradebook:
    """nbgrader's ``Gradebook`` at ``db_url``, created if missing (chapter 00)."""
    head = alembic_head()
    original = nbgrader_api.get_alembic_version
    if head is not None:
        nbgrader_api.get_alembic_version = lambda: head
    try:
        with tools_on_path():
            return Gradebook(db_url)
    except (ImportError, SQLAlchemyError) as error:  # no driver, server down, bad URL
        shown = make_url(db_url).render_as_string(hide_password=True)
        hint = " (PostgreSQL needs a driver: pip install psycopg2-binary, URL postgresql+psycopg2://...)" \
            if isinstance(error, ImportError) else ""
        raise GraderError(f"cannot open the gradebook {shown}: {type(error).__name__}: {error}{hint}") from None
    finally:
        nbgrader_api.get_alembic_version = original


def _in_gradebook(gb: Gradebook, lab: str, source: SourceNotebook) -> bool:
    try:
        notebook = gb.find_notebook(source.name, lab)
    except MissingEntry:
        return False
    known = {c.name for c in notebook.grade_cells}
    return {c.grade_id for c in source.cells if c.kind in ("test", "manual")} <= known


def record_assignment(course: Course, lab: str, sources: list[SourceNotebook]) -> None:
    """Put the lab, its notebooks and graded cells in the gradebook, as nbgrader's release would."""
    with open_gradebook(course.db_url) as gb:
        gb.update_or_create_assignment(lab)
        missing = [s for s in sources if not _in_gradebook(gb, lab, s)]
    for source in missing:
        nb = copy.deepcopy(source.notebook)
        resources = {
            "nbgrader": {"notebook": source.name, "assignment": lab, "db_url": course.db_url}
        }
        for step in (LockCells(), ClearSolutions(), ClearOutput(), ComputeChecksums()):
            nb, resources = step.preprocess(nb, resources)
        with tools_on_path():
            SaveCells().preprocess(nb, resources)


class GradebookWriter:
    """The one writer of a grading run: scores, students, autograded notebooks (chapter 00)."""

    def __init__(self, course: Course, lab: str, sources: list[SourceNotebook]) -> None:
        record_assignment(course, lab, sources)
        self.course, self.lab, self.sources = course, lab, sources
        self.gb = open_gradebook(course.db_url)

    def close(self) -> None:
        self.gb.close()

    def write(self, result: SubmissionResult) -> None:
        """Scores of one submission; manual cells are left for a human (chapter 00)."""
        with warnings.catch_warnings():
            # nbgrader 0.9 builds submissions in a way SQLAlchemy 2 warns about; rows are right.
            warnings.simplefilter("ignore", SAWarning)
            self._write(result)

    def _write(self, result: SubmissionResult) -> None:
        gb, lab, student = self.gb, self.lab, result.student
        gb.update_or_create_student(student)
        extra = {"timestamp": result.timestamp} if result.timestamp else {}
        gb.update_or_create_submission(lab, student, **extra)
        points = result.task_points()
        for source in self.sources:
            for cell in source.cells:
                if cell.kind not in ("test", "manual") or cell.grade_id is None:
                    continue
                grade = gb.find_grade(cell.grade_id, source.name, lab, student)
                if cell.kind == "test":
                    grade.auto_score = points.get(cell.grade_id, 0.0)
                    grade.needs_manual_grade = grade.manual_score is not None
                else:
                    grade.auto_score = None
                    grade.needs_manual_grade = True
        gb.db.commit()
        for notebook in result.notebooks:
            self.write_autograded(student, notebook)

    def write_autograded(self, student: str, result: NotebookResult) -> None:
        """The notebook as it ran (trusted cells, outputs) where formgrader looks for it."""
        if not result.cells:
            return
        nb = nbformat.v4.new_notebook()
        source = next((s for s in self.sources if s.name == result.notebook), None)
        if source is not None:
            nb.metadata = copy.deepcopy(source.notebook.metadata)
        by_id = {}
        if source is not None:
            by_id = {
                c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.notebook.cells
            }
        for record in result.cells:
            original = by_id.get(record.grade_id) if record.grade_id else None
            if record.role == "text":
                kind = original.cell_type if original is not None else "markdown"
                cell = (
                    nbformat.v4.new_raw_cell(record.source)
                    if kind == "raw"
                    else nbformat.v4.new_markdown_cell(record.source)
                )
            else:
                cell = nbformat.v4.new_code_cell(record.source)
                if record.output:
                    cell.outputs.append(
                        nbformat.v4.new_output("stream", name="stdout", text=record.output)
                    )
                if record.error:
                    cell.outputs.append(
                        nbformat.v4.new_output(
                            "error",
                            ename=str(record.error.get("ename")),
                            evalue=str(record.error.get("evalue")),
                            traceback=[],
                        )
                    )
            if original is not None and "nbgrader" in original.metadata:
                cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
            nb.cells.append(cell)
        folder = self.course.path("autograded") / student / self.lab
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(folder / f"{result.notebook}.ipynb"))


def scores_in_gradebook(db_url: str, lab: str) -> dict[str, float]:
    """Total autograded score per student for ``lab``, read back from the gradebook."""
    with open_gradebook(db_url) as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(lab).submissions}


def gradebook_path(db_url: str) -> Path | None:
    """The file of a SQLite gradebook (to hide it from submissions), else None."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None
