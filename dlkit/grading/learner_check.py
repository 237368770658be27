"""``dlkit check NOTEBOOK``: a learner checks their own lab before submitting (chapter 00).

Runs the notebook top to bottom in the same sandbox as grading, with the tests it contains
(the visible ones: a released lab has no hidden tests), and reports each task as passed or
failed with the test's message. Needs neither ``solutions/`` nor a gradebook.
"""

from __future__ import annotations

from pathlib import Path

from dlkit.grading.course import classify_cell
from dlkit.grading.jobspec import NotebookJob
from dlkit.grading.merge import Plan, PlannedCell
from dlkit.grading.results import NotebookResult
from dlkit.grading.runner import Runner
from dlkit.grading.sandbox import Limits
from dlkit.grading.workdir import stop_on_signals

SIDE_FILES_MAX = 256 << 20  # data files next to the notebook copied into its scratch folder


WARM_LIBRARIES = frozenset({"numpy", "torch", "dlkit", "scipy", "sklearn", "matplotlib"})
"""Libraries ``dlkit check`` may import once before the learner's notebook runs."""


def plan_own_notebook(nb) -> Plan:  # noqa: ANN001 (an nbformat notebook)
    """Run the notebook as it is; its own test cells are scored (chapter 00).

    The cells play the roles grading gives them: a locked code cell (the lab's setup) runs in
    the tester too, so its helpers (``strict_numerics``, ``compare``) are the tester's own; the
    answer cells' names are what the tests see of the learner's process.
    """
    cells = []
    for raw in nb.cells:
        cell = classify_cell(raw)
        if cell.kind == "test":
            cells.append(PlannedCell("test", cell.source, cell.grade_id, cell))
        elif raw.cell_type != "code":
            cells.append(PlannedCell("text", cell.source, cell.grade_id))
        elif cell.kind == "locked":
            cells.append(PlannedCell("setup", cell.source, cell.grade_id, cell))
        else:
            trusted = cell if cell.kind in ("solution", "manual") else None
            cells.append(PlannedCell("student", cell.source, cell.grade_id, trusted))
    return Plan(tuple(cells), ())


def _side_files(folder: Path) -> list[tuple[str, str]]:
    files, total = [], 0
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if (
            not path.is_file()
            or path.suffix == ".ipynb"
            or any(p.startswith(".") for p in rel.parts)
        ):
            continue
        total += path.stat().st_size
        if total > SIDE_FILES_MAX:
            break
        files.append((str(rel), str(path)))
    return files


def check_notebook(
    path: str | Path, *, limits: Limits | None = None, isolation: str = "auto"
) -> NotebookResult:
    """Run ``path`` with its visible tests and return the outcome of each (chapter 00)."""
    from dlkit.grading.grade import modules_imported_by, read_submission

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a notebook file, got {str(path)!r} (no such file)")
    limits = limits or Limits()
    nb, status, reason = read_submission(path, limits)
    if nb is None:
        result = NotebookResult(path.stem)
        result.fail(status, reason)
        return result
    plan = plan_own_notebook(nb)
    job = NotebookJob(path.stem, path.stem, plan, _side_files(path.parent))
    outcome: list[NotebookResult] = []
    # The learner's notebook may import a module of its own folder: warm only known libraries,
    # which the worker imports outside the sandbox (each fork then starts with them loaded).
    warm = [
        name
        for name in modules_imported_by(c.source for c in plan.cells if c.role != "text")
        if name.split(".")[0] in WARM_LIBRARIES
    ]
    with (
        stop_on_signals(),
        Runner(jobs=1, limits=limits, isolation=isolation, warm_modules=warm) as runner,
    ):
        runner.run([job], lambda _job, result: outcome.append(result))
    return outcome[0]


def format_check(result: NotebookResult) -> str:
    """The report a learner reads: one line per task, then the visible score (chapter 00).

    ``✓ sigmoid-tests (3/3)`` or ``✗ relu-tests (0/2): not implemented yet``; a message is kept
    on its one line (no traceback, whatever the check printed).
    """
    lines = [f"checking {result.notebook}.ipynb"]
    for test in result.tests:
        mark = "✓" if test.passed else "✗"
        line = f"  {mark} {test.grade_id} ({test.points:g}/{test.max_points:g})"
        if not test.passed and test.message:
            line += ": " + " ".join(test.message.split())
        lines.append(line)
    if result.fatal:
        lines.append(f"  the notebook could not finish: {result.reason}")
    elif result.status == "error" and result.reason:
        lines.append(f"  note: a cell raised {result.reason}")
    lines.append(f"visible score: {result.score:g} / {result.max_score:g}")
    return "\n".join(lines)
