"""Find the submissions, whatever shape they come in (chapter 00, "how labs are graded").

Accepted, and detected in this order:

1. nbgrader's ``submitted/`` layout: ``ROOT/STUDENT/LAB/*.ipynb`` (``timestamp.txt`` read);
2. one folder per student: ``ROOT/STUDENT/*.ipynb`` (as many LMS downloads unpack);
3. one notebook per student: ``ROOT/STUDENT.ipynb`` (single-notebook labs only);
4. a ``.zip`` of any of these, unpacked safely (no absolute paths, no ``..``, no links, capped).
"""

from __future__ import annotations

import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ZIP_MAX_BYTES = 2 << 30
ZIP_MAX_FILES = 100_000
MAX_ID_LENGTH = 128  # nbgrader's gradebook keeps a student id in a String(128) column
_ZIP_UTF8 = 0x800  # zip flag bit 11: the member name is UTF-8


@dataclass
class Submission:
    """One student's lab as found on disk (chapter 00).

    ``problem`` is ``(status, reason)`` when it cannot be graded at all (two entries claim the
    same student id); ``notes`` say what was found but not used (a symbolic link).
    """

    student: str
    notebooks: dict[str, Path] = field(default_factory=dict)  # expected name -> file
    others: list[str] = field(default_factory=list)  # notebooks with unexpected names
    timestamp: str | None = None
    entry: str = ""  # the folder or file it came from, as written
    notes: list[str] = field(default_factory=list)
    problem: tuple[str, str] | None = None


@dataclass
class Found:
    """What ``collect_submissions`` found: the submissions, and entries it did not grade."""

    submissions: list[Submission]
    skipped: list[str]


def student_id(name: str) -> str:
    """The student id of a folder or file name: the name as written, Unicode NFC (chapter 00).

    ``张伟``, ``Müller``, ``Carla Díaz`` are kept as they are; ``Müller`` written with a combining
    diaeresis (NFD, as macOS names files) becomes the same id as the precomposed one.
    """
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned or cleaned in (".", "..") or "/" in cleaned or "\\" in cleaned:
        raise ValueError(f"expected a student name, got {name!r}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in cleaned):
        raise ValueError(f"expected a student name without control characters, got {name!r}")
    if len(cleaned) > MAX_ID_LENGTH:
        raise ValueError(
            f"expected a student name of at most {MAX_ID_LENGTH} characters (the gradebook's "
            f"limit), got {len(cleaned)}: {cleaned[:40]!r}..."
        )
    return cleaned


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its author wrote it: UTF-8 names stored without the UTF-8 flag (as
    many zip tools write them) are read as UTF-8, not as the legacy code page."""
    if info.flag_bits & _ZIP_UTF8:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def unzip_safely(archive: Path, target: Path) -> tuple[Path, set[Path]]:
    """Unpack ``archive`` into ``target``, refusing anything that could escape it (chapter 00).

    Returns the folder holding the submissions and the files the archive holds twice (the
    first copy is kept, never overwritten; the student it belongs to is reported).
    """
    total = 0
    twice: set[Path] = set()
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > ZIP_MAX_FILES:
            raise ValueError(
                f"expected at most {ZIP_MAX_FILES} files in {archive.name}, got {len(members)}"
            )
        for info in members:
            name = unicodedata.normalize("NFC", _member_name(info)).replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or ".." in parts or "__MACOSX" in parts or not parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                continue  # a link could point anywhere: never created
            total += info.file_size
            if total > ZIP_MAX_BYTES:
                raise ValueError(
                    f"expected at most {ZIP_MAX_BYTES >> 20} MiB unpacked from {archive.name}"
                )
            path = target.joinpath(*parts)
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(path, "xb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except FileExistsError:
                twice.add(path)
    entries = [p for p in target.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        only = entries[0]  # "submissions/..." zipped as one folder
        if not (only / "timestamp.txt").exists() and not any(only.glob("*.ipynb")):
            return only, twice
    return target, twice


def _is_plain(path: Path, kind: str) -> bool:
    """``path`` is a real file or folder: a symbolic link is never followed."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) if kind == "dir" else stat.S_ISREG(mode)


def _notebooks(folder: Path, notes: list[str]) -> list[Path]:
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        if path.name.startswith("."):
            continue
        if _is_plain(path, "file"):
            found.append(path)
        else:
            notes.append(f"{path.name} is a symbolic link or not a file: not read")
    return found


def _match(student: str, entry: str, found: list[Path], expected: list[str], notes: list[str]) -> Submission:
    submission = Submission(student, entry=entry, notes=notes)
    by_name = {unicodedata.normalize("NFC", p.stem): p for p in found}
    for name in expected:
        if name in by_name:
            submission.notebooks[name] = by_name.pop(name)
    submission.others = sorted(by_name)
    return submission


def _read_timestamp(folder: Path) -> str | None:
    stamp = folder / "timestamp.txt"
    if not _is_plain(stamp, "file"):
        return None
    with open(stamp, "rb") as f:
        text = f.read(64).decode("utf-8", "replace").strip()
    return text or None


def _entry(path: Path, lab: str, expected: list[str], skipped: list[str]) -> Submission | None:
    """One root entry as one student's submission, its layout detected on its own."""
    name = path.name
    if path.is_symlink():
        skipped.append(f"{name!r}: a symbolic link, not followed")
        return None
    kind = "dir" if _is_plain(path, "dir") else "file" if _is_plain(path, "file") else None
    if kind == "file" and path.suffix != ".ipynb":
        return None  # a README or an LMS index next to the submissions
    try:
        student = student_id(path.stem if kind == "file" else name)
    except ValueError as error:
        skipped.append(f"{name!r}: {error}")
        return None
    notes: list[str] = []
    if kind == "file":
        if len(expected) != 1:
            skipped.append(
                f"{name!r}: lab {lab!r} has {len(expected)} notebooks, so a notebook named by "
                "student is ambiguous; expected one folder per student"
            )
            return None
        return Submission(student, {expected[0]: path}, entry=name)
    if kind is None:
        return None
    lab_folder = path / lab
    if lab_folder.is_symlink():
        notes.append(f"{name}/{lab} is a symbolic link: not followed")
        return Submission(student, entry=name, notes=notes)
    if _is_plain(lab_folder, "dir"):  # nbgrader's submitted/STUDENT/LAB/
        sub = _match(student, name, _notebooks(lab_folder, notes), expected, notes)
        sub.timestamp = _read_timestamp(lab_folder)
        return sub
    found = _notebooks(path, notes)
    if found or notes:  # one folder per student: STUDENT/*.ipynb
        return _match(student, name, found, expected, notes)
    skipped.append(f"{name!r}: no {lab}/ folder and no notebook in it")
    return None


def _collision(student: str, entries: list[Submission]) -> Submission:
    written = [e.entry for e in entries]
    if len({w.removesuffix(".ipynb") for w in written}) > 1:
        names = " and ".join(ascii(w) for w in written)  # \u escapes show the spellings differ
        how = "the same name in two Unicode spellings"
    else:
        names = " and ".join(repr(w) for w in written)
        how = "a folder and a notebook for one student"
    return Submission(
        student,
        entry=written[0],
        problem=(
            "collision",
            f"not graded: {names} both map to student {student!r} ({how}); "
            "keep one of them and grade again",
        ),
    )


def collect_submissions(root: Path, lab: str, expected: list[str], workdir: Path) -> Found:
    """Every student's submission under ``root`` (a folder or a ``.zip``), sorted (chapter 00).

    ``expected`` lists the lab's notebook names (from the source); ``workdir`` receives unzips.
    Each entry of ``root`` is read on its own (``STUDENT/LAB/``, ``STUDENT/`` or
    ``STUDENT.ipynb``); two entries that map to one student are a reported collision, never
    an overwrite; symbolic links are never followed.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"expected submissions at {str(root)!r}, found nothing there")
    twice: set[Path] = set()
    if root.is_file():
        if root.suffix.lower() != ".zip":
            raise ValueError(f"expected a folder or a .zip of submissions, got {root.name!r}")
        root, twice = unzip_safely(root, workdir / "unzipped")
    skipped: list[str] = []
    by_student: dict[str, list[Submission]] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name == "__MACOSX":
            continue
        sub = _entry(path, lab, expected, skipped)
        if sub is not None:
            by_student.setdefault(sub.student, []).append(sub)
    submissions = []
    for student in sorted(by_student):
        entries = by_student[student]
        sub = entries[0] if len(entries) == 1 else _collision(student, entries)
        doubled = sorted(str(p.relative_to(root)) for p in sub.notebooks.values() if p in twice)
        if doubled and sub.problem is None:
            sub.problem = (
                "collision",
                f"not graded: the archive holds {doubled[0]!r} twice; keep one and grade again",
            )
        submissions.append(sub)
    if not submissions:
        why = f" ({'; '.join(skipped[:5])})" if skipped else ""
        raise ValueError(
            f"expected submissions in {str(root)!r} as STUDENT/{lab}/*.ipynb, STUDENT/*.ipynb "
            f"or STUDENT.ipynb, found none{why}"
        )
    return Found(submissions, skipped)
