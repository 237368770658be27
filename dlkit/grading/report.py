"""The batch's CSV (for an LMS) and its end-of-run summary (chapter 00)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from dlkit.grading.course import SourceNotebook
from dlkit.grading.results import SubmissionResult

BINS = 5  # score distribution in fifths of the maximum
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-`` or ``@`` would
    make a student-chosen name (or file name in a reason) a formula, so it gets a ``'``."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_csv(path: Path, results: list[SubmissionResult], sources: list[SourceNotebook]) -> Path:
    """``student, lab, <points per test>, total, max, status, reason``, one row per student."""
    task_ids = [c.grade_id for s in sources for c in s.tests]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lab", *task_ids, "total", "max", "status", "reason"])
        for result in sorted(results, key=lambda r: r.student):
            points = result.task_points()
            writer.writerow(
                [
                    _text(result.student),
                    _text(result.lab),
                    *(f"{points.get(t, 0.0):g}" for t in task_ids),
                    f"{result.score:g}",
                    f"{result.max_score:g}",
                    result.status,
                    _text(result.reason),
                ]
            )
    return path


def summary(results: list[SubmissionResult]) -> str:
    """Score distribution and failures by reason, as text for the terminal (chapter 00)."""
    if not results:
        return "no submissions graded"
    lines = [f"graded {len(results)} submission(s)"]
    top = max(r.max_score for r in results) or 1.0
    bins = Counter(min(int(r.score / top * BINS), BINS - 1) for r in results)
    lines.append("score distribution:")
    for b in range(BINS):
        low, high = b * top / BINS, (b + 1) * top / BINS
        lines.append(f"  {low:6.1f} - {high:6.1f}  {'#' * bins[b]} {bins[b]}")
    mean = sum(r.score for r in results) / len(results)
    lines.append(f"mean {mean:.2f} / {top:g}")
    statuses = Counter(r.status for r in results if r.status != "ok")
    if statuses:
        lines.append("problems by reason:")
        for status, count in statuses.most_common():
            lines.append(f"  {status:14s} {count}")
    return "\n".join(lines)
