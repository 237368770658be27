"""What grading a notebook produced: per-test outcomes, a status and a reason (chapter 00).

A status other than ``"ok"`` or ``"error"`` is *fatal*: the submission broke a sandbox rule
(ran too long, flooded output, forked, touched the network ...) and scores zero, with the
reason in the CSV and the feedback. ``"error"`` means some cell raised an ordinary exception:
the tests that still pass keep their points.
"""

from __future__ import annotations

import errno as errnos
import os
from dataclasses import dataclass, field
from typing import Any

FATAL = (
    "timeout",
    "memory",
    "output-flood",
    "disk-full",
    "process-limit",
    "network",
    "file-access",
    "exit",
    "crash",
    "tampering",
    "invalid",
    "oversized",
    "missing",
    "collision",
    "sandbox",
)
STATUSES = ("ok", "error", *FATAL)


@dataclass(frozen=True)
class TestOutcome:
    """One autograded test cell's result (chapter 00)."""

    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""  # what failed, safe to show the learner (never hidden-test source)
    hidden: bool = False  # the failure happened in the hidden part of the test


@dataclass
class CellRecord:
    """A cell as it ran: for the autograded notebook and the feedback (chapter 00)."""

    role: str
    source: str
    grade_id: str | None
    output: str = ""
    error: dict[str, Any] | None = None
    ran: bool = False


@dataclass
class NotebookResult:
    """One notebook of one submission, graded (chapter 00)."""

    notebook: str
    status: str = "ok"
    reason: str = ""
    tests: list[TestOutcome] = field(default_factory=list)
    cells: list[CellRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return self.status in FATAL

    @property
    def score(self) -> float:
        return 0.0 if self.fatal else sum(t.points for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_points for t in self.tests)

    def fail(self, status: str, reason: str) -> None:
        """Record the first fatal problem (later ones are consequences of it)."""
        if status not in STATUSES:
            raise ValueError(f"expected a status in {STATUSES}, got {status!r}")
        if not self.fatal:
            self.status, self.reason = status, reason


@dataclass
class SubmissionResult:
    """One student's lab: all its notebooks (chapter 00)."""

    student: str
    lab: str
    notebooks: list[NotebookResult] = field(default_factory=list)
    timestamp: str | None = None

    @property
    def score(self) -> float:
        return sum(n.score for n in self.notebooks)

    @property
    def max_score(self) -> float:
        return sum(n.max_score for n in self.notebooks)

    @property
    def status(self) -> str:
        for nb in self.notebooks:
            if nb.fatal:
                return nb.status
        return "error" if any(nb.status == "error" for nb in self.notebooks) else "ok"

    @property
    def reason(self) -> str:
        reasons = [f"{nb.notebook}: {nb.reason}" for nb in self.notebooks if nb.reason]
        return "; ".join(reasons)

    def task_points(self) -> dict[str, float]:
        """Points per test cell (grade id), zero for every test when a notebook is fatal."""
        points: dict[str, float] = {}
        for nb in self.notebooks:
            for test in nb.tests:
                points[test.grade_id] = 0.0 if nb.fatal else test.points
        return points


_NETWORK_ERRNOS = {
    errnos.ENETUNREACH,
    errnos.EHOSTUNREACH,
    errnos.ENETDOWN,
    errnos.ECONNREFUSED,
    errnos.EADDRNOTAVAIL,
}


def classify_error(
    error: dict[str, Any] | None, scratch_roots: tuple[str, ...]
) -> tuple[str, str] | None:
    """The sandbox rule an exception shows was hit, as ``(status, reason)``, or None (chapter 00).

    ``error`` is the harness's description of the exception (name, class names, errno, file).
    """
    if not error:
        return None
    mro = set(error.get("mro") or [])
    code = error.get("errno")
    filename = error.get("filename") or ""
    text = f"{error.get('ename')}: {error.get('evalue', '')}"[:300]
    withheld = bool(error.get("withheld"))  # after a hidden test: no text of the student's
    if "MemoryError" in mro:
        return "memory", f"memory limit exceeded ({text})"
    if "SystemExit" in mro:
        return "exit", "the notebook called exit() or sys.exit()"
    if code == errnos.EAGAIN and "BlockingIOError" in mro:
        return "process-limit", f"process limit exceeded: too many processes ({text})"
    if code in (errnos.ENOSPC, errnos.EFBIG, errnos.EDQUOT):
        return "disk-full", f"disk limit exceeded: wrote too much to disk ({text})"
    if code in _NETWORK_ERRNOS or "gaierror" in mro:
        return "network", f"network access is not allowed ({text})"
    if filename and code in (errnos.EACCES, errnos.EPERM, errnos.EROFS, errnos.ENOENT):
        path = os.path.normpath(os.path.join(scratch_roots[0], filename))
        outside = not any(path == r or path.startswith(r.rstrip("/") + "/") for r in scratch_roots)
        # A missing file is the learner's bug, unless the sandbox hid it (it, or the folder it
        # was to be written in, exists outside).
        hidden = os.path.exists(path) or os.path.isdir(os.path.dirname(path))
        if outside and (code != errnos.ENOENT or hidden):
            where = "a path (withheld: after a hidden test)" if withheld else path
            return "file-access", f"file access outside its scratch copy denied: {where}"
    return None


def describe_error(error: dict[str, Any] | None) -> str:
    """``Name: message``, short, for the CSV and the feedback (chapter 00)."""
    if not error:
        return ""
    value = str(error.get("evalue", "")).strip()
    name = str(error.get("ename", "Error"))
    return f"{name}: {value}"[:500] if value else name
