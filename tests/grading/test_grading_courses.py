"""Whole courses through the CLI: solutions score full, blanks zero, a foreign nbgrader course,
`dlkit check` for a learner, weak isolation, and the grader's own failures."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest
from grading_helpers import FIXTURES, SUBMISSIONS, copy_course, processes_running, submit

from dlkit.cli import main
from dlkit.grading.course import Course
from dlkit.grading.grade import grade
from dlkit.grading.gradebook import scores_in_gradebook
from dlkit.grading.sandbox import Limits

REPO = Path(__file__).resolve().parents[2]
FAST = Limits(cell_timeout=10, notebook_timeout=60)


def _courses() -> list[tuple[Path, str]]:
    cases = [(FIXTURES / "course", "lab01")]
    cases += [(REPO, lab) for lab in Course.load(REPO).labs()]  # the course's own labs
    return cases


@pytest.mark.parametrize(("root", "lab"), _courses(), ids=lambda v: str(v)[-20:])
def test_solutions_score_full_and_released_blanks_score_zero(
    tmp_path: Path, root: Path, lab: str
) -> None:
    root = _scratch_copy(Course.load(root), lab, tmp_path / "course")  # grading writes autograded/
    course = Course.load(root)
    submitted = tmp_path / "submitted"
    for student, directory in (("solution", "source"), ("blank", "release")):
        folder = submitted / student / lab
        folder.mkdir(parents=True)
        for nb in (course.path(directory) / lab).glob("*.ipynb"):
            shutil.copy(nb, folder / nb.name)
    results = grade(
        submitted,
        lab,
        root,
        jobs=2,
        limits=FAST,
        out=tmp_path / "out",
        db_url=f"sqlite:///{tmp_path / 'gradebook.db'}",
        progress=False,
        log=lambda _: None,
    )
    by_student = {r.student: r for r in results}
    assert by_student["solution"].score == by_student["solution"].max_score > 0
    assert by_student["blank"].score == 0


def _scratch_copy(course: Course, lab: str, target: Path) -> Path:
    """The config and ``lab``'s source and release folders of ``course``, copied to ``target``."""
    target.mkdir(parents=True)
    config = course.root / "nbgrader_config.py"
    if config.exists():
        shutil.copy(config, target / config.name)
    for directory in ("source", "release"):
        relative = course.path(directory).relative_to(course.root)
        shutil.copytree(course.path(directory) / lab, target / relative / lab)
    return target


def _foreign_course(root: Path) -> Path:
    """A standard nbgrader course, not ours: default directory names, no config file."""
    source = nbformat.read(str(FIXTURES / "course" / "solutions" / "lab01" / "lab01.ipynb"), 4)
    for cell in source.cells:  # different names, so nothing of ours is assumed
        if "grade_id" in cell.metadata.get("nbgrader", {}):
            cell.metadata["nbgrader"]["grade_id"] = "q_" + cell.metadata["nbgrader"]["grade_id"]
    course = root / "foreign"
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(source, str(course / "source" / "ps1" / "problems.ipynb"))
    (course / "source" / "ps1" / "data.txt").write_text("3\n")
    assert main(["release", "--course", str(course)]) == 0
    released = nbformat.read(str(course / "release" / "ps1" / "problems.ipynb"), 4)
    answers = {
        "q_square": "def square(x):\n    return np.asarray(x) ** 2",
        "q_mean": "def mean(x):\n    return sum(x) / len(x) * int(open('data.txt').read()) / 3",
    }
    for student, ids in (("alice", ("q_square", "q_mean")), ("bob", ("q_mean",))):
        nb = nbformat.reads(nbformat.writes(released), 4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in ids:
                cell.source = answers[grade_id]
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / "problems.ipynb"))
    return course


def test_a_standard_nbgrader_course_that_is_not_ours(tmp_path: Path) -> None:
    course = _foreign_course(tmp_path)
    code = main(
        [
            "grade",
            str(course / "submitted"),
            "--lab",
            "ps1",
            "--course",
            str(course),
            "--jobs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert scores_in_gradebook(f"sqlite:///{course / 'gradebook.db'}", "ps1") == {
        "alice": 3.0,
        "bob": 1.0,
    }
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["alice"]["q_test_square"] == "2" and rows["alice"]["q_test_softmax"] == "0"
    assert (course / "autograded" / "alice" / "ps1" / "problems.ipynb").is_file()


def test_grader_failures_exit_2_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    course = copy_course(tmp_path)
    submit(tmp_path / "submitted", "ann", "correct", course)
    code = main(["grade", str(tmp_path / "submitted"), "--lab", "lab99", "--course", str(course)])
    assert code == 2 and "lab99" in capsys.readouterr().err
    code = main(["grade", str(tmp_path / "nothing"), "--lab", "lab01", "--course", str(course)])
    assert code == 2 and "expected submissions" in capsys.readouterr().err
    unreachable = f"sqlite:///{tmp_path / 'no-such-dir' / 'gradebook.db'}"
    code = main(["grade", str(tmp_path / "submitted"), "--lab", "lab01", "--course", str(course),
                 "--db", unreachable, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot open the gradebook" in err and "no-such-dir" in err, err


def _sleepers() -> int:
    return processes_running("sleep", "600")


def test_weak_isolation_still_grades_and_kills_runaways(tmp_path: Path) -> None:
    course = copy_course(tmp_path)
    for name in ("correct", "sigint-ignored-loop", "spawn-sleepers"):
        submit(tmp_path / "submitted", name, name, course)
    before = _sleepers()
    messages: list[str] = []
    results = grade(
        tmp_path / "submitted",
        "lab01",
        course,
        jobs=2,
        isolation="none",
        limits=Limits(cell_timeout=3, notebook_timeout=20),
        out=tmp_path / "out",
        progress=False,
        log=messages.append,
    )
    by_student = {r.student: (r.score, r.status) for r in results}
    assert by_student["correct"] == (6.0, "ok")
    assert by_student["sigint-ignored-loop"] == (0.0, "timeout")
    # root ignores RLIMIT_NPROC, so the sleepers may start: they must not outlive the grading
    assert by_student["spawn-sleepers"] in ((0.0, "process-limit"), (6.0, "ok"))
    assert _sleepers() <= before
    assert any("WEAK isolation" in m for m in messages)


def test_learner_check_reports_each_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = tmp_path / "lab01.ipynb"
    shutil.copy(SUBMISSIONS / "partial.ipynb", notebook)
    assert main(["check", str(notebook), "--timeout", "10"]) == 1
    out = capsys.readouterr().out
    assert "✓ test_square (2/2)" in out
    assert "✗ test_softmax (0/3): AssertionError: softmax should sum to 1" in out
    assert "visible score: 2 / 6" in out
    shutil.copy(SUBMISSIONS / "correct.ipynb", notebook)
    assert main(["check", str(notebook)]) == 0
    assert "visible score: 6 / 6" in capsys.readouterr().out


def test_a_lab_of_two_notebooks_is_graded_as_one(tmp_path: Path) -> None:
    source = nbformat.read(str(FIXTURES / "course" / "solutions" / "lab01" / "lab01.ipynb"), 4)
    course = tmp_path / "two"
    (course / "source" / "ps2").mkdir(parents=True)
    for part in ("one", "two"):  # the same tasks twice, under grade ids of their own
        notebook = nbformat.reads(nbformat.writes(source), 4)
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if "grade_id" in meta:
                meta["grade_id"] = f"{part}_{meta['grade_id']}"
        nbformat.write(notebook, str(course / "source" / "ps2" / f"{part}.ipynb"))
    assert main(["release", "--course", str(course)]) == 0
    for student, parts in (("alice", ("one", "two")), ("bob", ("one",))):
        folder = course / "submitted" / student / "ps2"
        folder.mkdir(parents=True)
        for part in parts:  # the solutions themselves: every test passes
            shutil.copy(course / "source" / "ps2" / f"{part}.ipynb", folder / f"{part}.ipynb")
    results = grade(course / "submitted", "ps2", course, jobs=2, limits=FAST, out=tmp_path / "out",
                    progress=False, log=lambda _: None)
    by_student = {r.student: r for r in results}
    full = by_student["alice"].max_score
    assert by_student["alice"].score == full > 0
    assert by_student["bob"].max_score == full and by_student["bob"].score == full / 2
    assert "two" in by_student["bob"].reason, by_student["bob"].reason


def test_a_helper_defined_in_one_test_cell_works_in_the_next(tmp_path: Path) -> None:
    # nbgrader runs test cells in one kernel: a check a test cell defines is there for later ones
    source = nbformat.read(str(FIXTURES / "course" / "solutions" / "lab01" / "lab01.ipynb"), 4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    tests["test_square"].source = (
        "def close_to(actual, expected):\n    assert np.allclose(actual, expected), f'got {actual}'\n\n"
        "TOLERANCE = 1e-9\n" + tests["test_square"].source
    )
    tests["test_softmax"].source += "\nclose_to(softmax([0.0, 0.0]), [0.5, 0.5])\nassert TOLERANCE < 1e-6"
    tests["test_mean"].source += "\nclose_to(mean([2.0, 4.0]), 3.0)"
    course = tmp_path / "shared-helper"
    (course / "source" / "ps3").mkdir(parents=True)
    nbformat.write(source, str(course / "source" / "ps3" / "ps3.ipynb"))
    assert main(["release", "--course", str(course)]) == 0
    folder = course / "submitted" / "alice" / "ps3"
    folder.mkdir(parents=True)
    shutil.copy(course / "source" / "ps3" / "ps3.ipynb", folder / "ps3.ipynb")
    (result,) = grade(course / "submitted", "ps3", course, jobs=1, limits=FAST, out=tmp_path / "out",
                      progress=False, log=lambda _: None)
    assert result.score == result.max_score == 6, result.reason
