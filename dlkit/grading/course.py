"""The course model: an nbgrader course directory, its labs, notebooks, graded cells (chapter 00).

Any standard nbgrader course works: its ``nbgrader_config.py`` names the source, release,
submitted, autograded and feedback directories and the gradebook URL; nbgrader's defaults
apply to what it leaves out (``source/``, ``release/``, ``sqlite:///ROOT/gradebook.db``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils
from traitlets.config.loader import PyFileConfigLoader

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
_DEFAULT_DIRECTORIES = {
    "source_directory": "source",
    "release_directory": "release",
    "submitted_directory": "submitted",
    "autograded_directory": "autograded",
    "feedback_directory": "feedback",
}


@dataclass(frozen=True)
class TrustedCell:
    """One cell of a source notebook, as the instructor wrote it (chapter 00).

    ``kind``: ``"test"`` (autograded), ``"solution"``, ``"manual"`` (graded by hand),
    ``"task"``, ``"locked"`` (read-only setup) or ``"free"`` (not tracked by nbgrader).
    """

    kind: str
    cell_type: str
    source: str
    grade_id: str | None
    points: float
    hidden_lines: frozenset[int]  # 1-based line numbers inside BEGIN/END HIDDEN TESTS

    def visible_source(self) -> str:
        """The test source a learner sees: hidden lines and their markers removed."""
        return "\n".join(
            line for n, line in enumerate(self.source.split("\n"), 1) if n not in self.hidden_lines
        )


def _hidden_lines(source: str) -> frozenset[int]:
    hidden: set[int] = set()
    inside = False
    for n, line in enumerate(source.split("\n"), 1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            hidden.add(n)
        if HIDDEN_END in line:
            inside = False
    return frozenset(hidden)


def classify_cell(cell: nbformat.NotebookNode) -> TrustedCell:
    """What an nbgrader cell is, from its metadata (chapter 00)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id") if meta else None
    is_grade, is_solution = nbutils.is_grade(cell), nbutils.is_solution(cell)
    if is_grade and not is_solution and cell.cell_type == "code":
        kind = "test"
    elif is_grade or nbutils.is_task(cell):
        kind = "manual" if is_grade else "task"
    elif is_solution:
        kind = "solution"
    elif nbutils.is_locked(cell):
        kind = "locked"
    else:
        kind, grade_id = "free", None
    points = float(meta.get("points", 0) or 0) if kind in ("test", "manual", "task") else 0.0
    hidden = _hidden_lines(cell.source) if kind == "test" else frozenset()
    return TrustedCell(kind, cell.cell_type, cell.source, grade_id, points, hidden)


@dataclass(frozen=True)
class SourceNotebook:
    """A lab notebook from the course's source directory (chapter 00)."""

    lab: str
    name: str  # file stem, as nbgrader names notebooks
    path: Path
    cells: tuple[TrustedCell, ...]
    notebook: nbformat.NotebookNode

    @property
    def tests(self) -> list[TrustedCell]:
        return [c for c in self.cells if c.kind == "test"]

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.tests)


def read_source_notebook(lab: str, path: Path) -> SourceNotebook:
    """Parse an nbgrader source notebook (chapter 00); duplicate grade ids are an error."""
    nb = nbformat.read(str(path), as_version=4)
    cells = tuple(classify_cell(c) for c in nb.cells)
    seen: set[str] = set()
    for cell in cells:
        if cell.grade_id is None:
            continue
        if cell.grade_id in seen:
            raise ValueError(f"expected unique grade ids in {path}, got {cell.grade_id!r} twice")
        seen.add(cell.grade_id)
    return SourceNotebook(lab, path.stem, path, cells, nb)


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory and its configured layout (chapter 00)."""

    root: Path
    source_directory: str
    release_directory: str
    submitted_directory: str
    autograded_directory: str
    feedback_directory: str
    db_url: str

    @classmethod
    def load(cls, root: str | os.PathLike[str], db_url: str | None = None) -> Course:
        """Read ``ROOT/nbgrader_config.py`` if there is one; nbgrader's defaults otherwise."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise FileNotFoundError(
                f"expected a course directory, got {str(root)!r} (not a folder)"
            )
        values = dict(_DEFAULT_DIRECTORIES)
        configured_db = ""
        if (root / "nbgrader_config.py").exists():
            config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
            course_dir = config.get("CourseDirectory", {})
            for key in values:
                if key in course_dir:
                    values[key] = str(course_dir[key])
            if "root" in course_dir and course_dir["root"]:
                root = (root / str(course_dir["root"])).resolve()
            configured_db = str(course_dir.get("db_url", "") or "")
        url = db_url or configured_db or f"sqlite:///{root / 'gradebook.db'}"
        return cls(root=root, db_url=url, **values)

    def path(self, directory: str) -> Path:
        return self.root / getattr(self, f"{directory}_directory")

    def labs(self) -> list[str]:
        """Lab (assignment) names in the source directory, sorted."""
        source = self.path("source")
        if not source.is_dir():
            return []
        return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def source_notebooks(self, lab: str) -> list[SourceNotebook]:
        """The lab's source notebooks; a clear error if the lab does not exist."""
        folder = self.path("source") / lab
        paths = sorted(folder.glob("*.ipynb"))
        if not paths:
            known = ", ".join(self.labs()) or "none"
            raise FileNotFoundError(
                f"expected lab {lab!r} as {folder}/*.ipynb, found no notebook (labs: {known})"
            )
        return [read_source_notebook(lab, p) for p in paths]

    def lab_files(self, lab: str) -> list[tuple[str, Path]]:
        """Non-notebook files a lab ships (data, helpers): (relative name, path in release)."""
        folder = self.path("release") / lab
        if not folder.is_dir():
            folder = self.path("source") / lab
        files = []
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and path.suffix != ".ipynb" and not _ignored(rel):
                files.append((str(rel), path))
        return files


def _ignored(rel: Path) -> bool:
    return any(part.startswith(".") or part in ("__pycache__", "feedback") for part in rel.parts)
