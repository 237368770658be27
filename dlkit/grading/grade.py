"""``dlkit grade``: a whole class, safely, in parallel, into the gradebook (chapter 00).

collect the submissions -> merge each with the trusted source -> run them in sandboxes
(``Runner``) -> one writer puts scores in the gradebook, autograded notebooks, feedback
-> ``grades.csv`` and a summary. A broken submission costs only its own points.
"""

from __future__ import annotations

import ast
import json
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat
from tqdm import tqdm
from traitlets.log import get_logger

from dlkit.grading.collect import Submission, collect_submissions
from dlkit.grading.course import Course, SourceNotebook
from dlkit.grading.feedback import write_feedback
from dlkit.grading.gradebook import GradebookWriter
from dlkit.grading.jobspec import NotebookJob
from dlkit.grading.merge import blank_sources, plan_notebook
from dlkit.grading.report import summary, write_csv
from dlkit.grading.results import NotebookResult, SubmissionResult, TestOutcome
from dlkit.grading.runner import GraderError, Runner
from dlkit.grading.sandbox import Limits
from dlkit.grading.workdir import make_workdir, remove_workdir, stop_on_signals


def imported_modules(sources: list[SourceNotebook]) -> list[str]:
    """Modules the lab's code imports: what the warm worker loads once (chapter 00)."""
    return modules_imported_by(
        cell.source for source in sources for cell in source.cells if cell.cell_type == "code"
    )


def modules_imported_by(codes: Iterable[str]) -> list[str]:
    """Every module an ``import`` or ``from ... import`` of ``codes`` names, in order (chapter 00)."""
    names: list[str] = []
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # magics; the notebook will import what it needs itself
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
    return list(dict.fromkeys(names))


RAW_SIZE_FACTOR = 64  # a saved notebook may be this many times the limit before outputs go,
RAW_SIZE_FLOOR = 256 << 20  # and at least this large: figures are big, parsing this is cheap


def read_submission(path: Path, limits: Limits) -> tuple[nbformat.NotebookNode | None, str, str]:
    """A submitted notebook, or why it cannot be graded: ``(notebook, status, reason)``.

    The size limit applies to the notebook without its saved outputs (they are never graded),
    so a learner whose figures make the file large loses nothing; a file too large to read
    at all is refused first.
    """
    size = path.stat().st_size
    raw_limit = max(limits.notebook_size * RAW_SIZE_FACTOR, RAW_SIZE_FLOOR)
    if size > raw_limit:
        return None, "oversized", (
            f"notebook too large: {size >> 10} KiB on disk with its outputs, the most that is "
            f"read is {raw_limit >> 10} KiB"
        )
    # The reason reaches the student's feedback: it says what was expected and where the
    # file went wrong, never what the file holds (it may be a link to someone else's file).
    text = path.read_bytes().decode("utf-8", "replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return (
            None,
            "invalid",
            "corrupt notebook: expected notebook JSON, the file is not valid JSON "
            f"(line {error.lineno}, column {error.colno})",
        )
    try:
        # nbformat logs a schema problem quoting the cell: the log stays quiet while it reads
        # (an honest notebook with a small schema problem is still graded, as nbgrader does).
        logger = get_logger()
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            nb = nbformat.reads(text, as_version=4)
        finally:
            logger.setLevel(level)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
        for cell in nb.cells:
            if not isinstance(cell, dict) or not isinstance(cell.get("source", ""), (str, list)):
                raise ValueError("a cell is not a notebook cell")
    except Exception:  # nbformat raises many kinds, some quoting the file: never shown
        return (
            None,
            "invalid",
            "corrupt notebook: expected a Jupyter notebook (nbformat 4 JSON with a list of "
            "cells), the file is JSON but not a notebook",
        )
    for cell in nb.cells:  # outputs are never graded: measured and kept without them
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    stripped = len(nbformat.writes(nb).encode())
    if stripped > limits.notebook_size:
        return None, "oversized", (
            f"notebook too large: {stripped >> 10} KiB without its outputs, the limit is "
            f"{limits.notebook_size >> 10} KiB (dlkit grade --max-notebook-kb changes it)"
        )
    return nb, "ok", ""


def _unrunnable(source: SourceNotebook, status: str, reason: str) -> NotebookResult:
    result = NotebookResult(source.name)
    result.fail(status, reason)
    result.tests = [
        TestOutcome(t.grade_id or "", 0.0, t.points, False, reason) for t in source.tests
    ]
    return result


def grade(
    submissions: str | Path,
    lab: str,
    course_dir: str | Path = ".",
    *,
    jobs: int = 0,
    limits: Limits | None = None,
    out: str | Path | None = None,
    db_url: str | None = None,
    isolation: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[SubmissionResult]:
    """Grade every submission of ``lab``; returns the results (chapter 00).

    Raises ``GraderError`` (or ``FileNotFoundError``/``ValueError`` with a clear message) only
    when the grader itself cannot run; a bad submission is a result, never an exception.
    """
    limits = limits or Limits()
    course = Course.load(course_dir, db_url=db_url)
    sources = course.source_notebooks(lab)
    out_dir = Path(out) if out is not None else course.root / "grading" / lab
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, SubmissionResult] = {}
    # SIGTERM/SIGHUP unwind like an exception: the sandboxes stop, the temporary folders go.
    with stop_on_signals():
        workdir = make_workdir("submissions")
        runner: Runner | None = None
        try:
            runner = Runner(
                jobs=jobs,
                limits=limits,
                isolation=isolation,
                warm_modules=imported_modules(sources),
            )
            runner.spawn()  # the warm worker imports the lab's libraries while we collect
            _grade_batch(
                runner,
                submissions,
                lab,
                course,
                sources,
                limits,
                out_dir,
                progress,
                log,
                results,
                Path(workdir),
            )
        finally:
            if runner is not None:
                runner.close()
            remove_workdir(workdir)
    ordered = [results[k] for k in sorted(results)]
    csv_path = write_csv(out_dir / "grades.csv", ordered, sources)
    log(summary(ordered))
    log(f"grades: {csv_path}\nfeedback: {out_dir / 'feedback'}\ngradebook: {course.db_url}")
    return ordered


def _grade_batch(
    runner: Runner,
    submissions: str | Path,
    lab: str,
    course: Course,
    sources: list[SourceNotebook],
    limits: Limits,
    out_dir: Path,
    progress: bool,
    log: Callable[[str], None],
    results: dict[str, SubmissionResult],
    workdir: Path,
) -> None:
    collected = collect_submissions(Path(submissions), lab, [s.name for s in sources], workdir)
    for note in collected.skipped:
        log(f"not graded: {note}")
    found = collected.submissions
    blanks = {s.name: blank_sources(s) for s in sources}
    scratch = [(name, str(path)) for name, path in course.lab_files(lab)]
    jobs_list: list[NotebookJob] = []
    pending: dict[str, int] = {}
    unclear: set[str] = set()
    for sub in found:
        result = SubmissionResult(sub.student, lab, timestamp=sub.timestamp)
        results[sub.student] = result
        if sub.problem is not None:  # whose work it is is unclear: nothing is written for it
            log(f"{sub.student}: {sub.problem[1]}")
            result.notebooks = [_unrunnable(s, *sub.problem) for s in sources]
            unclear.add(sub.student)
            continue
        for source in sources:
            job_or_result = _prepare(sub, source, blanks[source.name], scratch, limits)
            if isinstance(job_or_result, NotebookResult):
                result.notebooks.append(job_or_result)
            else:
                jobs_list.append(job_or_result)
                pending[sub.student] = pending.get(sub.student, 0) + 1
    writer = GradebookWriter(course, lab, sources)
    bar = tqdm(
        total=len(found),
        desc=f"grading {lab}",
        unit="sub",
        disable=not progress,
        file=sys.stderr,
    )

    def finish(result: SubmissionResult) -> None:
        order = {s.name: i for i, s in enumerate(sources)}
        result.notebooks.sort(key=lambda n: order.get(n.notebook, 0))
        writer.write(result)
        write_feedback(out_dir, result, sources)
        bar.update(1)

    try:
        for student, result in results.items():
            if student in unclear:
                bar.update(1)
            elif student not in pending:
                finish(result)

        def on_result(job: NotebookJob, nb_result: NotebookResult) -> None:
            student = job.key[0]  # type: ignore[index]
            results[student].notebooks.append(nb_result)
            pending[student] -= 1
            if pending[student] == 0:
                finish(results[student])

        if jobs_list:
            runner.start()
            if runner.warning:
                log(runner.warning)
            runner.run(jobs_list, on_result)
    finally:
        bar.close()
        writer.close()


def _prepare(
    sub: Submission,
    source: SourceNotebook,
    blanks: dict[str, str],
    scratch: list[tuple[str, str]],
    limits: Limits,
) -> NotebookJob | NotebookResult:
    path = sub.notebooks.get(source.name)
    if path is None:
        found = ", ".join(f"{n}.ipynb" for n in sub.others) or "no notebook"
        notes = "".join(f"; {note}" for note in sub.notes)
        return _unrunnable(
            source,
            "missing",
            f"missing notebook: expected {source.name}.ipynb, found {found}{notes}",
        )
    nb, status, reason = read_submission(path, limits)
    if nb is None:
        return _unrunnable(source, status, reason)
    plan = plan_notebook(source, nb, blanks)
    return NotebookJob((sub.student, source.name), source.name, plan, list(scratch))


__all__ = ["GraderError", "grade", "imported_modules", "read_submission"]
