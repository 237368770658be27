"""Per-student feedback: what passed, what failed and why; never a hidden test (chapter 00)."""

from __future__ import annotations

import html
from pathlib import Path

from dlkit.grading.course import SourceNotebook
from dlkit.grading.results import SubmissionResult

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; }
td { vertical-align: top; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; }
.status { padding: .6rem; background: #fff4e5; border-left: 4px solid #f0a020; }
"""


def feedback_html(result: SubmissionResult, sources: list[SourceNotebook]) -> str:
    """One HTML page for one student's lab (chapter 00).

    Shows each test's points and, for failures, the message and the *visible* part of the test.
    """
    esc = html.escape
    tests = {c.grade_id: c for s in sources for c in s.tests}
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(result.lab)}: {esc(result.student)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(result.lab)}: feedback for {esc(result.student)}</h1>",
        f"<p><b>Score: {result.score:g} / {result.max_score:g}</b></p>",
    ]
    if result.status not in ("ok", "error"):
        parts.append(f"<p class='status'>This submission scored zero: {esc(result.reason)}</p>")
    for notebook in result.notebooks:
        parts.append(f"<h2>{esc(notebook.notebook)}.ipynb</h2>")
        for note in notebook.notes:
            parts.append(f"<p><i>{esc(note)}</i></p>")
        parts.append("<table><tr><th>test</th><th>points</th><th>result</th></tr>")
        for test in notebook.tests:
            verdict = (
                "<span class='pass'>passed</span>"
                if test.passed
                else "<span class='fail'>failed</span>"
            )
            detail = ""
            if not test.passed:
                detail = f"<div>{esc(test.message)}</div>"
                trusted = tests.get(test.grade_id)
                if trusted is not None and trusted.visible_source().strip():
                    detail += f"<pre>{esc(trusted.visible_source())}</pre>"
            points = 0.0 if notebook.fatal else test.points
            parts.append(
                f"<tr><td>{esc(test.grade_id)}</td><td>{points:g} / {test.max_points:g}</td>"
                f"<td>{verdict}{detail}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_feedback(out: Path, result: SubmissionResult, sources: list[SourceNotebook]) -> Path:
    """Write ``OUT/feedback/STUDENT/LAB.html`` and return its path (chapter 00)."""
    path = Path(out) / "feedback" / result.student / f"{result.lab}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result, sources), encoding="utf-8")
    return path
