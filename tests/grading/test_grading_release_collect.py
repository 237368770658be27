"""`dlkit release` (deterministic, leak-free, in sync) and submission collection (any shape)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from grading_helpers import FIXTURES, SUBMISSIONS, copy_course

from dlkit.cli import main
from dlkit.grading.collect import collect_submissions, student_id, unzip_safely
from dlkit.grading.course import Course
from dlkit.grading.release import release, release_problems

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("root", [REPO, FIXTURES / "course"], ids=["repo", "fixture-course"])
def test_released_labs_are_in_sync_and_leak_nothing(root: Path) -> None:
    course = Course.load(root)
    problems = [p for lab in course.labs() for p in release_problems(course, lab)]
    assert problems == []


def test_release_is_deterministic_and_removes_solutions(tmp_path: Path) -> None:
    course_dir = copy_course(tmp_path)
    released = course_dir / "labs" / "lab01" / "lab01.ipynb"
    released.unlink()
    assert main(["release", "--course", str(course_dir)]) == 0
    first = released.read_bytes()
    assert b"BEGIN SOLUTION" not in first and b"np.arange(5.0)" not in first
    assert b"raise NotImplementedError()" in first
    assert release(Course.load(course_dir)) == []  # a second run changes no file
    assert released.read_bytes() == first
    assert first == (FIXTURES / "course" / "labs" / "lab01" / "lab01.ipynb").read_bytes()


def test_release_problems_name_a_stale_or_leaking_lab(tmp_path: Path) -> None:
    course_dir = copy_course(tmp_path)
    released = course_dir / "labs" / "lab01" / "lab01.ipynb"
    source = course_dir / "solutions" / "lab01" / "lab01.ipynb"
    released.write_text(source.read_text())  # the solution notebook shipped by mistake
    problems = release_problems(Course.load(course_dir), "lab01")
    assert any("out of sync" in p for p in problems)
    assert any("BEGIN SOLUTION" in p for p in problems)
    assert any("BEGIN HIDDEN TESTS" in p for p in problems)


def test_release_of_an_unknown_lab_is_a_clear_error(tmp_path: Path) -> None:
    course_dir = copy_course(tmp_path)
    with pytest.raises(FileNotFoundError, match="lab99"):
        release(Course.load(course_dir), ["lab99"])
    assert main(["release", "lab99", "--course", str(course_dir)]) == 2


def _notebook(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((SUBMISSIONS / "correct.ipynb").read_text())
    return path


def test_collects_nbgrader_layout_with_timestamps(tmp_path: Path) -> None:
    _notebook(tmp_path / "ann" / "lab01" / "lab01.ipynb")
    (tmp_path / "ann" / "lab01" / "timestamp.txt").write_text("2024-01-02 03:04:05 UTC")
    _notebook(tmp_path / "bob" / "lab01" / "other.ipynb")
    found = collect_submissions(tmp_path, "lab01", ["lab01"], tmp_path / "work").submissions
    assert [s.student for s in found] == ["ann", "bob"]
    assert found[0].timestamp == "2024-01-02 03:04:05 UTC"
    assert found[1].notebooks == {} and found[1].others == ["other"]


def test_collects_a_folder_per_student_and_a_notebook_per_student(tmp_path: Path) -> None:
    _notebook(tmp_path / "a" / "Carla Díaz" / "lab01.ipynb")
    found = collect_submissions(tmp_path / "a", "lab01", ["lab01"], tmp_path / "w1").submissions
    assert [s.student for s in found] == ["Carla Díaz"]
    _notebook(tmp_path / "b" / "dan.ipynb")
    found = collect_submissions(tmp_path / "b", "lab01", ["lab01"], tmp_path / "w2").submissions
    assert found[0].student == "dan" and "lab01" in found[0].notebooks
    with pytest.raises(ValueError, match="ambiguous"):
        collect_submissions(tmp_path / "b", "lab01", ["part1", "part2"], tmp_path / "w3")


def test_collects_a_zip_and_refuses_paths_that_escape(tmp_path: Path) -> None:
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(SUBMISSIONS / "correct.ipynb", "submissions/eve/lab01/lab01.ipynb")
        zf.writestr("../../escaped.txt", "no")
        zf.writestr("/abs.txt", "no")
    found = collect_submissions(archive, "lab01", ["lab01"], tmp_path / "work").submissions
    assert [s.student for s in found] == ["eve"]
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs.txt").exists()
    assert unzip_safely(archive, tmp_path / "again")[0].name == "submissions"


def test_collect_errors_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected submissions"):
        collect_submissions(tmp_path / "nope", "lab01", ["lab01"], tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="found none"):
        collect_submissions(tmp_path / "empty", "lab01", ["lab01"], tmp_path)
    for bad in ("..", " ", "a\nb", "x" * 129):
        with pytest.raises(ValueError, match="expected a student name"):
            student_id(bad)
