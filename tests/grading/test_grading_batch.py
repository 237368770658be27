"""One batch: every hostile or broken fixture submission graded together with honest ones.

Each case's score and reason are asserted; honest submissions get full marks; the gradebook,
the CSV and the feedback agree; nothing outside the grading output changed.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
from grading_helpers import SUBMISSIONS, copy_course, submit

from dlkit.grading.grade import grade
from dlkit.grading.gradebook import scores_in_gradebook
from dlkit.grading.sandbox import Limits, detect_isolation

FULL = 6.0
# fixture -> (score, status, words the reason must contain)
EXPECTED: dict[str, tuple[float, str, str]] = {
    "correct": (FULL, "ok", ""),
    "noisy-correct": (FULL, "ok", ""),
    "deleted-test-cell": (FULL, "ok", ""),
    "blank": (0.0, "ok", "not implemented yet"),
    "partial": (2.0, "ok", "test_softmax"),
    "wrong-deleted-test-cell": (0.0, "ok", "square([1, 2, 3]) should be [1, 4, 9]"),
    "duplicated-test-cell": (2.0, "ok", "duplicate cell 'test_softmax' ignored"),
    "changed-points-and-types": (2.0, "ok", "test_mean"),
    "monkeypatch-allclose": (0.0, "ok", "softmax should sum to 1"),
    "suppressed-errors": (0.0, "ok", "square([1, 2, 3]) should be [1, 4, 9]"),
    # after a hidden test ran, the class name (the student's text) is withheld (issue 8.3)
    "always-equal": (0.0, "ok", "whose … is defined in the notebook; return a plain number"),
    "infinite-loop": (0.0, "timeout", "a cell ran longer than"),
    "sigint-ignored-loop": (0.0, "timeout", "a cell ran longer than"),
    "os-exit": (0.0, "exit", "os._exit"),
    "exit-call": (0.0, "exit", "called exit()"),
    "sys-exit": (0.0, "exit", "sys.exit()"),
    "memory-bomb": (0.0, "memory", "memory limit"),
    "fork-bomb": (0.0, "process-limit", "too many processes"),
    "fork-bomb-ignoring-errors": (0.0, "process-limit", "too many processes"),
    "spawn-sleepers": (0.0, "process-limit", "too many processes"),
    "output-flood": (0.0, "output-flood", "printed more than"),
    "disk-filling": (0.0, "disk-full", "disk limit"),
    "network-access": (0.0, "network", "network access is not allowed"),
    "read-outside-scratch": (0.0, "file-access", "solutions/lab01/lab01.ipynb"),
    "write-outside-scratch": (0.0, "file-access", "hacked.txt"),
    "forged-result": (0.0, "tampering", "forged"),
    "corrupt-json": (0.0, "invalid", "not valid JSON"),
    "oversized": (0.0, "oversized", "too large"),
    "missing-notebook": (0.0, "missing", "found no notebook"),
    "renamed-notebook": (0.0, "missing", "found lab01-copy.ipynb"),
}
# Without namespaces (not root, no user namespaces) these are not contained: never run them.
NEEDS_NAMESPACES = {
    "network-access",
    "read-outside-scratch",
    "write-outside-scratch",
    "disk-filling",
}
LIMITS = Limits(
    cell_timeout=4,
    notebook_timeout=30,
    memory=512 << 20,
    output=256 << 10,
    disk=32 << 20,
    file_size=32 << 20,
    notebook_size=24 << 10,
)


def _tree_digest(root: Path, skip: tuple[str, ...]) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith(skip)
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    level, _ = detect_isolation()
    cases = {k: v for k, v in EXPECTED.items() if level != "none" or k not in NEEDS_NAMESPACES}
    root = tmp_path_factory.mktemp("batch")
    course = copy_course(root)
    submitted = root / "submitted"
    for name in cases:
        if name == "missing-notebook":
            (submitted / name / "lab01").mkdir(parents=True)
        elif name == "renamed-notebook":
            folder = submitted / name / "lab01"
            folder.mkdir(parents=True)
            shutil.copy(SUBMISSIONS / "correct.ipynb", folder / "lab01-copy.ipynb")
        else:
            submit(submitted, name, name, course)
    before_course = _tree_digest(course, ("gradebook.db", "autograded"))
    before_submitted = _tree_digest(submitted, ())
    out = root / "out"
    messages: list[str] = []
    results = grade(
        submitted,
        "lab01",
        course,
        jobs=2,
        limits=LIMITS,
        out=out,
        progress=False,
        log=messages.append,
    )
    return {
        "cases": cases,
        "course": course,
        "out": out,
        "results": {r.student: r for r in results},
        "changed_course": before_course != _tree_digest(course, ("gradebook.db", "autograded")),
        "changed_submitted": before_submitted != _tree_digest(submitted, ()),
        "root": root,
        "messages": messages,
    }


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_case_scores_and_says_why(batch: dict, case: str) -> None:
    if case not in batch["cases"]:
        pytest.skip("this machine gives no namespaces: the case would not be contained")
    score, status, words = EXPECTED[case]
    result = batch["results"][case]
    assert (result.score, result.status) == (score, status), result.reason
    assert result.max_score == FULL  # points come from the source, never the submission
    assert words in result.reason + " ".join(n for nb in result.notebooks for n in nb.notes)


def test_gradebook_and_csv_agree_with_results(batch: dict) -> None:
    course: Path = batch["course"]
    in_gradebook = scores_in_gradebook(f"sqlite:///{course / 'gradebook.db'}", "lab01")
    assert in_gradebook == {k: r.score for k, r in batch["results"].items()}
    with open(batch["out"] / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(batch["results"])
    for student, result in batch["results"].items():
        row = rows[student]
        assert float(row["total"]) == result.score
        assert float(row["max"]) == FULL
        assert row["status"] == result.status
        parts = float(row["test_square"]) + float(row["test_softmax"]) + float(row["test_mean"])
        assert parts == result.score
    assert (course / "autograded" / "correct" / "lab01" / "lab01.ipynb").is_file()


def test_feedback_never_shows_hidden_tests(batch: dict) -> None:
    for student in batch["results"]:
        page = (batch["out"] / "feedback" / student / "lab01.html").read_text()
        assert "HIDDEN" not in page and "np.arange(5.0)" not in page and "1000.0" not in page
    blank = (batch["out"] / "feedback" / "blank" / "lab01.html").read_text()
    assert "square([1, 2, 3])" in blank and "failed" in blank  # the visible test is shown


def test_nothing_outside_the_grading_output_changed(batch: dict) -> None:
    assert not batch["changed_course"], "a submission changed the course"
    assert not batch["changed_submitted"], "grading changed the submissions"
    assert not list(batch["root"].rglob("hacked.txt"))
    assert not list(Path("/tmp").glob("fill-*.bin"))


def test_summary_reports_distribution_and_reasons(batch: dict) -> None:
    text = "\n".join(batch["messages"])
    assert f"graded {len(batch['cases'])} submission(s)" in text
    assert "timeout" in text and "score distribution" in text


def test_grading_twice_gives_the_same_scores(batch: dict, tmp_path: Path) -> None:
    course = copy_course(tmp_path)
    submitted = tmp_path / "submitted"
    names = ("correct", "noisy-correct", "partial", "always-equal")
    for name in names:
        submit(submitted, name, name, course)
    again = grade(
        submitted,
        "lab01",
        course,
        jobs=1,
        limits=LIMITS,
        out=tmp_path / "again",
        progress=False,
        log=lambda _: None,
    )
    first = {n: (batch["results"][n].score, batch["results"][n].reason) for n in names}
    assert {r.student: (r.score, r.reason) for r in again} == first
