"""Everyone in the batch is graded, under their own name (issue 8, item 7).

Names are kept as written (Unicode NFC): CJK, accents, Cyrillic, Arabic, apostrophes, e-mail
addresses; two different names stay two students, whatever their ASCII look-alike; the same
name written twice (NFC and NFD, a folder and a notebook, the Angstrom sign) is a reported
collision naming both, never an overwrite. Each entry's layout is detected on its own.
Symbolic links, in folders and zips, are never followed, and no error quotes a file's bytes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from grading_helpers import SUBMISSIONS, copy_course

from dlkit.grading.collect import collect_submissions, student_id
from dlkit.grading.grade import grade, read_submission
from dlkit.grading.gradebook import scores_in_gradebook
from dlkit.grading.sandbox import Limits

SECRET = "TOPSECRET-7f3a"
NAMES = [
    "张伟",
    "Müller",
    "Möller",
    "Carla Díaz",
    "O'Brien",
    "José-María",
    "Дмитрий",
    "محمد",
    "a.b+c@uni.edu",
    "=1+1 Evil",
]
# entry names that are the same student written twice -> (first entry, second entry)
COLLISIONS = {
    "Schäfer": ("Schäfer", "Scha\u0308fer"),  # NFC folder and NFD folder
    "Ångström": ("\u00c5ngstr\u00f6m", "\u212bngstro\u0308m"),  # Angstrom sign, NFD o-umlaut
    "alice": ("alice", "alice.ipynb"),  # a folder and a notebook
}
CORRUPT = {  # notebooks that are not notebooks: their bytes must never reach the feedback
    "not-json": f"{SECRET} this is not JSON",
    "json-array": json.dumps([SECRET]),
    "no-cells": json.dumps({"metadata": {"x": SECRET}, "nbformat": 4, "nbformat_minor": 5}),
    "cells-not-list": json.dumps({"cells": SECRET, "metadata": {}, "nbformat": 4,
                                  "nbformat_minor": 5}),
    "bad-cell": json.dumps({"cells": [{"cell_type": SECRET, "source": 1, "metadata": {}}],
                            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
    "binary": SECRET + "\x00\xff" * 50,
}


def _correct() -> str:
    return (SUBMISSIONS / "correct.ipynb").read_text()


def _layout(root: Path, name: str, style: str) -> None:
    """``name``'s correct notebook in one of the three layouts."""
    if style == "nbgrader":
        path = root / name / "lab01" / "lab01.ipynb"
    elif style == "folder":
        path = root / name / "lab01.ipynb"
    else:
        path = root / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_correct())


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("names")
    course = copy_course(root)
    secret = root / "secret.txt"
    secret.write_text(SECRET)
    submitted = root / "submitted"
    styles = ["nbgrader", "folder", "file"]
    for i, name in enumerate(NAMES):  # one nbgrader-style folder among the others
        _layout(submitted, name, styles[i % 3])
    for first, second in COLLISIONS.values():
        for entry in (first, second):
            if entry.endswith(".ipynb"):
                (submitted / entry).write_text(_correct())
            else:
                _layout(submitted, entry, "folder")
    for name, text in CORRUPT.items():
        (submitted / name).mkdir()
        (submitted / name / "lab01.ipynb").write_text(text)
    links = {  # each points at the secret or at another student's work
        "link-folder": lambda p: p.symlink_to(submitted / NAMES[0], target_is_directory=True),
        "link-notebook.ipynb": lambda p: p.symlink_to(secret),
    }
    for name, make in links.items():
        make(submitted / name)
    (submitted / "link-inside").mkdir()
    (submitted / "link-inside" / "lab01.ipynb").symlink_to(secret)
    (submitted / "link-lab").mkdir()
    (submitted / "link-lab" / "lab01").symlink_to(submitted / NAMES[1], target_is_directory=True)
    _layout(submitted, "stamp-link", "nbgrader")
    (submitted / "stamp-link" / "lab01" / "timestamp.txt").symlink_to(secret)
    messages: list[str] = []
    results = grade(submitted, "lab01", course, jobs=2, out=root / "out", progress=False,
                    limits=Limits(cell_timeout=20, notebook_timeout=60), log=messages.append)
    return {"root": root, "course": course, "out": root / "out", "messages": messages,
            "results": {r.student: r for r in results}}


def test_every_name_is_graded_as_written(batch: dict) -> None:
    results = batch["results"]
    for name in NAMES:
        assert name in results, f"{name!r} was not graded (have {sorted(results)})"
        assert results[name].score == 6.0, (name, results[name].reason)
    in_gradebook = scores_in_gradebook(f"sqlite:///{batch['course'] / 'gradebook.db'}", "lab01")
    assert {n: in_gradebook[n] for n in NAMES} == {n: 6.0 for n in NAMES}
    for name in NAMES:
        assert (batch["out"] / "feedback" / name / "lab01.html").is_file()


def test_the_csv_keeps_names_and_never_starts_a_formula(batch: dict) -> None:
    with open(batch["out"] / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    for name in NAMES:
        shown = "'" + name if name.startswith("=") else name
        assert rows[shown]["total"] == "6", name
    assert not any(cell.startswith(("=", "+", "@")) for r in rows.values() for cell in r.values())


def test_a_name_written_twice_is_a_collision_naming_both(batch: dict) -> None:
    results = batch["results"]
    gradebook = scores_in_gradebook(f"sqlite:///{batch['course'] / 'gradebook.db'}", "lab01")
    for student, (first, second) in COLLISIONS.items():
        nfc = student_id(first.removesuffix(".ipynb"))
        assert nfc == student_id(second.removesuffix(".ipynb")) == student
        result = results[student]
        assert (result.status, result.score) == ("collision", 0.0), result.reason
        for entry in (first, second):
            assert ascii(entry) in result.reason or repr(entry) in result.reason, result.reason
        assert student not in gradebook  # neither entry was written under the shared id
        assert any(student in m and "not graded" in m for m in batch["messages"])
    assert (batch["root"] / "submitted" / "alice.ipynb").read_text() == _correct()


def test_links_are_never_followed(batch: dict) -> None:
    results, messages = batch["results"], "\n".join(batch["messages"])
    assert "link-folder" not in results and "link-notebook" not in results
    assert "'link-folder': a symbolic link" in messages
    assert "'link-notebook.ipynb': a symbolic link" in messages
    for student in ("link-inside", "link-lab"):
        assert results[student].status == "missing", results[student].reason
        assert "symbolic link" in results[student].reason
    assert results["stamp-link"].score == 6.0 and results["stamp-link"].timestamp is None


def test_no_output_quotes_a_files_bytes(batch: dict) -> None:
    for name in CORRUPT:
        result = batch["results"][name]
        assert result.status == "invalid" and "expected" in result.reason, result.reason
    texts = [*batch["messages"], (batch["out"] / "grades.csv").read_text()]
    texts += [p.read_text() for p in (batch["out"] / "feedback").rglob("*.html")]
    texts += [str(r.reason) for r in batch["results"].values()]
    assert not [t for t in texts if SECRET in t]


@pytest.mark.parametrize("text", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_parse_error_says_what_was_expected_not_what_was_found(tmp_path, text) -> None:
    path = tmp_path / "lab01.ipynb"
    path.write_text(text)
    nb, status, reason = read_submission(path, Limits())
    assert nb is None and status == "invalid" and SECRET not in reason
    assert reason.startswith("corrupt notebook: expected"), reason


def test_a_zip_keeps_names_refuses_links_and_never_overwrites(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("张伟/lab01/lab01.ipynb", _correct())
        zf.writestr("Müller/lab01.ipynb", _correct())
        zf.writestr("Möller.ipynb", _correct())
        link = zipfile.ZipInfo("mallory/lab01.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, str(secret))
        zf.writestr("dup/lab01.ipynb", _correct())
        zf.writestr("dup/lab01.ipynb", SECRET)  # the same member twice
    legacy = tmp_path / "legacy.zip"  # UTF-8 names without the UTF-8 flag (older zip tools)
    with zipfile.ZipFile(legacy, "w") as zf:
        zf.writestr("XXXXXX/lab01.ipynb", _correct())  # an ASCII name: no UTF-8 flag
    # the name's bytes become UTF-8 (the same length); the flag still says "legacy code page"
    legacy.write_bytes(legacy.read_bytes().replace(b"XXXXXX", "张伟".encode()))
    found = collect_submissions(archive, "lab01", ["lab01"], tmp_path / "work")
    by_name = {s.student: s for s in found.submissions}
    assert {"张伟", "Müller", "Möller", "dup"} <= set(by_name)
    assert "mallory" not in by_name or not by_name["mallory"].notebooks
    assert not list((tmp_path / "work").rglob("mallory/lab01.ipynb"))
    assert by_name["dup"].problem is not None and "twice" in by_name["dup"].problem[1]
    assert SECRET not in (tmp_path / "work" / "unzipped" / "dup" / "lab01.ipynb").read_text()
    found = collect_submissions(legacy, "lab01", ["lab01"], tmp_path / "work2")
    assert [s.student for s in found.submissions] == ["张伟"]


def test_student_ids_follow_the_gradebook_rules() -> None:
    assert student_id("  Mu\u0308ller ") == "Müller"
    for good in ("张伟", "O'Brien", "a b", "x" * 128):
        assert student_id(good) == good
    for bad in ("", "..", ".", "a\tb", "a\x00b", "x" * 129, "a/b"):
        with pytest.raises(ValueError, match="expected a student name"):
            student_id(bad)


def test_one_nbgrader_folder_does_not_drop_the_others(tmp_path: Path) -> None:
    _layout(tmp_path / "s", "ann", "nbgrader")
    _layout(tmp_path / "s", "bob", "folder")
    _layout(tmp_path / "s", "cat", "file")
    (tmp_path / "s" / "dan" / "lab02").mkdir(parents=True)  # another lab only: not this one
    found = collect_submissions(tmp_path / "s", "lab01", ["lab01"], tmp_path / "w")
    assert [s.student for s in found.submissions] == ["ann", "bob", "cat"]
    assert all("lab01" in s.notebooks for s in found.submissions)
    assert found.skipped == ["'dan': no lab01/ folder and no notebook in it"]
    shutil.rmtree(tmp_path / "s")
    os.makedirs(tmp_path / "s")
    with pytest.raises(ValueError, match="found none"):
        collect_submissions(tmp_path / "s", "lab01", ["lab01"], tmp_path / "w")
