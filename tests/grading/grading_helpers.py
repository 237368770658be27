"""Shared helpers for the grading tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUBMISSIONS = FIXTURES / "submissions"


def copy_course(target: Path) -> Path:
    """A writable copy of the fixture course (solutions/ -> labs/, one lab: lab01)."""
    course = target / "course"
    shutil.copytree(FIXTURES / "course", course)
    return course


def submit(submitted: Path, student: str, fixture: str, course: Path, lab: str = "lab01") -> Path:
    """Put fixture ``fixture``.ipynb in nbgrader's layout as ``student``'s ``lab`` notebook."""
    folder = submitted / student / lab
    folder.mkdir(parents=True, exist_ok=True)
    text = (SUBMISSIONS / f"{fixture}.ipynb").read_text()
    path = folder / f"{lab}.ipynb"
    path.write_text(text.replace("@@COURSE@@", str(course)))
    return path


def attack_batch(
    tmp_path: Path,
    attacks: dict[str, str | tuple[str, str]],
    *,
    base: str = "blank",
    isolation: str = "auto",
    jobs: int = 1,
    limits: object | None = None,
) -> dict[str, tuple[object, str]]:
    """Grade one student per attack (``base`` fixture, or the one given with the attack as
    ``(fixture, code)``, plus the attack as a cell after the setup cell), in one batch;
    returns ``student -> (SubmissionResult, everything it printed)``."""

    from dlkit.grading.grade import grade
    from dlkit.grading.sandbox import Limits

    course = copy_course(tmp_path)
    write_attacks(tmp_path / "submitted", attacks, base)
    results = grade(
        tmp_path / "submitted",
        "lab01",
        course,
        jobs=jobs,
        isolation=isolation,
        limits=limits or Limits(cell_timeout=60, notebook_timeout=120),
        out=tmp_path / "out",
        progress=False,
        log=lambda _: None,
    )
    return {
        r.student: (r, "".join(c.output for nb in r.notebooks for c in nb.cells))
        for r in results
    }


def write_attacks(
    submitted: Path, attacks: dict[str, str | tuple[str, str]], base: str = "blank"
) -> None:
    """One ``STUDENT/lab01/lab01.ipynb`` per attack (see ``attack_batch``)."""
    import nbformat

    for student, attack in attacks.items():
        fixture, code = attack if isinstance(attack, tuple) else (base, attack)
        notebook = nbformat.read(str(SUBMISSIONS / f"{fixture}.ipynb"), as_version=4)
        notebook.cells.insert(2, nbformat.v4.new_code_cell(code))
        folder = submitted / student / "lab01"
        folder.mkdir(parents=True)
        nbformat.write(notebook, str(folder / "lab01.ipynb"))


def unprivileged(workdir: Path) -> list[str] | str:
    """A command prefix that runs the grader as an unprivileged user (so it can only use
    ``--isolation userns``), or the reason there is none on this machine.

    ``unshare`` into a user namespace as uid 1000: not root there and without any capability,
    it reads the files root reads (this interpreter may live under ``/root``); otherwise
    ``setpriv`` to ``nobody``, who then owns ``workdir`` (which must be outside pytest's
    private temporary folder).
    """
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:
        return []
    check = [sys.executable, "-c", "import os, dlkit.grading; assert os.geteuid() != 0"]
    candidates = []
    if shutil.which("unshare"):
        candidates.append(["unshare", "--user", "--map-user=1000", "--map-group=1000"])
    if shutil.which("setpriv"):
        candidates.append(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    for prefix in candidates:
        if subprocess.run([*prefix, *check], capture_output=True).returncode == 0:
            if prefix[0] == "setpriv":
                for path in [workdir, *workdir.rglob("*")]:
                    os.chown(path, 65534, 65534, follow_symlinks=False)
            return prefix
    return "no unprivileged user here can run this interpreter (setpriv/unshare unavailable)"


def processes_running(*argv: str) -> int:
    """How many processes on the machine run exactly this command line (``"sleep", "600"``)."""
    cmdline = "".join(f"{arg}\x00" for arg in argv).encode()
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            count += (proc / "cmdline").read_bytes() == cmdline
        except OSError:
            pass
    return count


def dlkit_command() -> list[str]:
    """The ``dlkit`` command of this environment."""
    import sys

    return [sys.executable, "-c", "import sys; from dlkit.cli import main; sys.exit(main())"]


def printed(course: Path, student: str, lab: str = "lab01") -> str:
    """Everything a student's cells printed, read back from the autograded notebook."""
    import nbformat

    nb = nbformat.read(str(course / "autograded" / student / lab / f"{lab}.ipynb"), as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def _answer(source: str) -> str:
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "\n".join(line for line in source.split("\n") if line.strip() not in markers)


def solved_release(lab: str, root: Path = REPO) -> nbformat.NotebookNode:
    """The course's released ``lab`` with every answer cell holding the worked solution."""
    released = nbformat.read(str(root / "labs" / lab / f"{lab}.ipynb"), 4)
    solution = nbformat.read(str(root / "solutions" / lab / f"{lab}.ipynb"), 4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: _answer(c.source)
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    }
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return released


def answer_cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """The cell of ``nb`` with nbgrader grade id ``grade_id``."""
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell
