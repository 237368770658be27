"""One notebook's way through its cells, and what it adds up to (chapter 00).

``ActiveNotebook`` is the state the grader keeps for each running notebook. The functions here
turn what the runner saw (output, a cell's reply, the process ending) into its
``NotebookResult``: which cell it was in, an error's rule, a test's points, why an ended
process failed, the tests that never ran. They do no I/O: ``runner.Runner`` reads the pipes,
keeps the time and kills, and calls them.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlkit.grading.merge import Plan
from dlkit.grading.results import (
    CellRecord,
    NotebookResult,
    TestOutcome,
    classify_error,
    describe_error,
)
from dlkit.grading.sandbox import SCRATCH

if TYPE_CHECKING:
    from dlkit.grading.jobspec import NotebookJob

CELL_OUTPUT_KEEP = 8 << 10  # output kept per cell for the feedback; the rest is counted only


@dataclass
class ActiveNotebook:
    """A notebook being graded: its pipes, deadlines, current cell and result (chapter 00)."""

    job: NotebookJob
    slot: int
    result: NotebookResult
    cmd_w: int
    streams: dict[int, str]  # fd -> "res" | "out" | "status"
    started: float
    deadline: float
    cell_deadline: float
    buffers: dict[str, bytes] = field(default_factory=lambda: {"res": b"", "status": b""})
    notebook_pid: int | None = None
    current: int | None = None
    nonce: str | None = None
    ready: bool = False
    output_bytes: int = 0
    exit_code: int | None = None
    killed_at: float | None = None
    kill_pending: bool = False
    scratch: str | None = None
    preamble: str = ""  # output before the first cell: where a sandbox failure explains itself


def fresh_result(notebook: str, plan: Plan) -> NotebookResult:
    """The result before anything ran: every planned cell recorded, the merge's notes kept."""
    result = NotebookResult(notebook, notes=list(plan.notes))
    result.cells = [CellRecord(c.role, c.source, c.grade_id) for c in plan.cells]
    return result


def where(run: ActiveNotebook) -> str:
    """`` (in cell 'grade-id')`` for the cell running now, or ``""`` between cells (chapter 00)."""
    if run.current is None:
        return ""
    record = run.result.cells[run.current]
    name = f"cell {record.grade_id!r}" if record.grade_id else f"cell {run.current + 1}"
    return f" (in {name})"


def record_output(run: ActiveNotebook, data: bytes) -> None:
    """Count ``data`` and keep the first ``CELL_OUTPUT_KEEP`` characters per cell (chapter 00).

    Output before the first cell goes to ``run.preamble`` (its last 2000 characters).
    """
    run.output_bytes += len(data)
    if run.current is None:
        run.preamble = (run.preamble + data.decode("utf-8", "replace"))[-2000:]
        return
    record = run.result.cells[run.current]
    if len(record.output) < CELL_OUTPUT_KEEP:
        record.output += data.decode("utf-8", "replace")[: CELL_OUTPUT_KEEP - len(record.output)]


def record_cell(run: ActiveNotebook, message: dict[str, Any]) -> None:
    """Record the tester's reply for the current cell: ran, error, test outcome (chapter 00).

    The caller checked the reply's nonce and index; it kills the process when the result
    turns fatal.
    """
    assert run.current is not None
    record = run.result.cells[run.current]
    record.ran = True
    record.error = message.get("error") if isinstance(message.get("error"), dict) else None
    if record.role == "test":
        _record_test(run, record, message)
    elif message.get("exit_now"):
        run.result.fail("exit", f"the notebook called exit(){where(run)}")
    elif record.error:
        _record_error(run, record.error, describe_error(record.error))


def _record_error(run: ActiveNotebook, error: dict[str, Any], text: str) -> None:
    rule = classify_error(error, (run.scratch or SCRATCH,))
    if rule is not None:
        run.result.fail(rule[0], rule[1] + where(run))
    elif run.result.status == "ok":
        run.result.status = "error"
        run.result.reason = f"{text}{where(run)}"


def _record_test(run: ActiveNotebook, record: CellRecord, message: dict[str, Any]) -> None:
    planned = run.job.plan.cells[run.current or 0]
    points = planned.trusted.points if planned.trusted else 0.0
    if message.get("ok") is True:
        run.result.tests.append(TestOutcome(planned.grade_id or "", points, points, True))
        return
    error = record.error or {}
    hidden = bool(message.get("hidden"))
    if hidden:  # made by the tester from the trusted source only (hidden_feedback)
        made = message.get("message")
        text = made[:500] if type(made) is str else "a hidden check failed"
    elif error.get("ename") == "NotImplementedError":
        text = "not implemented yet"  # the released stub, still there
    else:
        text = describe_error(error)
    run.result.tests.append(TestOutcome(planned.grade_id or "", 0.0, points, False, text, hidden))
    rule = classify_error(error, (run.scratch or SCRATCH,))
    if rule is not None:
        run.result.fail(rule[0], rule[1] + where(run))


def ended_in_cell(run: ActiveNotebook, code: int | None) -> None:
    """A process ended while a cell was running: os._exit, a crash, a signal (chapter 00).

    ``code`` is its exit status, negative for a signal, ``None`` when unknown.
    """
    result = run.result
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        if -code == signal.SIGXCPU:
            result.fail("timeout", f"CPU time limit exceeded{where(run)}")
        elif -code == signal.SIGKILL:
            result.fail("crash", f"killed by {name} (out of memory?){where(run)}")
        else:
            result.fail("crash", f"the notebook process crashed ({name}){where(run)}")
    else:
        result.fail(
            "exit",
            f"the notebook process exited (os._exit or exit, code {code}){where(run)}",
        )


def complete(run: ActiveNotebook) -> None:
    """Finish the result once the process is gone and its pipes are closed (chapter 00).

    An ending inside a cell or before the first one fails the notebook; every test that did
    not run scores zero, with the reason; tests follow the notebook's order; a notebook whose
    only problems are failed tests says which ones failed.
    """
    result = run.result
    if not result.fatal and run.current is not None:
        ended_in_cell(run, run.exit_code)
    if not result.fatal and not run.ready:
        result.fail(
            "sandbox",
            "the notebook process ended before it started"
            + (f": {run.preamble.strip()[-500:]}" if run.preamble else ""),
        )
    graded = {t.grade_id for t in result.tests}
    for planned in run.job.plan.cells:
        if planned.role == "test" and planned.grade_id not in graded and planned.trusted:
            result.tests.append(
                TestOutcome(
                    planned.grade_id or "",
                    0.0,
                    planned.trusted.points,
                    False,
                    "not run: " + (result.reason or "stopped"),
                )
            )
    order = {c.grade_id: i for i, c in enumerate(run.job.plan.cells)}
    result.tests.sort(key=lambda t: order.get(t.grade_id, 0))
    if result.status == "ok":
        failed = [t for t in result.tests if not t.passed]
        if failed:
            result.reason = "failed: " + ", ".join(f"{t.grade_id} ({t.message})" for t in failed)
