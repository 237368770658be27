"""Find the submissions, whatever shape they come in (chapter 00, "how labs are graded").

Accepted, and detected in this order:

1. nbgrader's ``submitted/`` layout: ``ROOT/STUDENT/LAB/*.ipynb`` (``timestamp.txt`` read);
2. one folder per student: ``ROOT/STUDENT/*.ipynb`` (as many LMS downloads unpack);
3. one notebook per student: ``ROOT/STUDENT.ipynb`` (single-notebook labs only);
4. a ``.zip`` of any of these, unpacked safely (no absolute paths, no ``..``, no links, capped).
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ZIP_MAX_BYTES = 2 << 30
ZIP_MAX_FILES = 100_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")


@dataclass
class Submission:
    """One student's lab as found on disk (chapter 00)."""

    student: str
    notebooks: dict[str, Path] = field(default_factory=dict)  # expected name -> file
    others: list[str] = field(default_factory=list)  # notebooks with unexpected names
    timestamp: str | None = None


def student_id(name: str) -> str:
    """A gradebook-safe student id from a folder or file name (chapter 00)."""
    cleaned = _UNSAFE.sub("_", name.strip()).strip("._")
    if not cleaned:
        raise ValueError(f"expected a student name with letters or digits, got {name!r}")
    return cleaned


def unzip_safely(archive: Path, target: Path) -> Path:
    """Unpack ``archive`` into ``target``, refusing anything that could escape it (chapter 00)."""
    total = 0
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > ZIP_MAX_FILES:
            raise ValueError(
                f"expected at most {ZIP_MAX_FILES} files in {archive}, got {len(members)}"
            )
        for info in members:
            name = info.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or ".." in parts or "__MACOSX" in parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                continue
            total += info.file_size
            if total > ZIP_MAX_BYTES:
                raise ValueError(
                    f"expected at most {ZIP_MAX_BYTES >> 20} MiB unpacked from {archive}"
                )
            zf.extract(info, target)
    entries = [p for p in target.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        only = entries[0]  # "submissions/..." zipped as one folder
        if not (only / "timestamp.txt").exists() and not any(only.glob("*.ipynb")):
            return only
    return target


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))


def _match(student: str, found: list[Path], expected: list[str]) -> Submission:
    submission = Submission(student)
    by_name = {p.stem: p for p in found}
    for name in expected:
        if name in by_name:
            submission.notebooks[name] = by_name.pop(name)
    submission.others = sorted(by_name)
    return submission


def collect_submissions(
    root: Path, lab: str, expected: list[str], workdir: Path
) -> list[Submission]:
    """Every student's submission under ``root`` (a folder or a ``.zip``), sorted (chapter 00).

    ``expected`` lists the lab's notebook names (from the source); ``workdir`` receives unzips.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"expected submissions at {str(root)!r}, found nothing there")
    if root.is_file():
        if root.suffix.lower() != ".zip":
            raise ValueError(f"expected a folder or a .zip of submissions, got {root.name!r}")
        root = unzip_safely(root, workdir / "unzipped")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    submissions: dict[str, Submission] = {}
    if any((f / lab).is_dir() for f in folders):
        for folder in folders:
            if (folder / lab).is_dir():
                sub = _match(student_id(folder.name), _notebooks(folder / lab), expected)
                stamp = folder / lab / "timestamp.txt"
                if stamp.is_file():
                    sub.timestamp = stamp.read_text(errors="replace").strip()[:64] or None
                submissions[sub.student] = sub
    elif any(_notebooks(f) for f in folders):
        for folder in folders:
            sub = _match(student_id(folder.name), _notebooks(folder), expected)
            submissions[sub.student] = sub
    else:
        files = _notebooks(root)
        if files and len(expected) != 1:
            raise ValueError(
                f"expected one folder per student: lab {lab!r} has {len(expected)} notebooks, "
                f"so notebooks named by student ({files[0].name}, ...) are ambiguous"
            )
        for path in files:
            sub = Submission(student_id(path.stem), {expected[0]: path})
            submissions[sub.student] = sub
    if not submissions:
        raise ValueError(
            f"expected submissions in {str(root)!r} as STUDENT/{lab}/*.ipynb, STUDENT/*.ipynb "
            "or STUDENT.ipynb, found none"
        )
    return [submissions[k] for k in sorted(submissions)]
