"""The sandbox's view of the host is an allowlist (issue 8, items 4 and 5).

Copies of the course are planted where an instructor might keep them (a clone with ``.git`` in
/tmp, a backup in /var/tmp, one in the home folder, the graded course itself, the repository
the editable ``dlkit`` comes from) and a family of hostile blank submissions searches for them:
walking and globbing the whole tree, through /proc (every pid's root and cwd, open fds, the
mount table), at guessed paths, through symbolic links, and after trying to leave its
namespaces. None may find one, at either isolation level. Each search is first run on the host,
unsandboxed, to show it does find the copies there. SysV IPC objects one student creates are
not visible to the next and do not outlive the batch.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest
from grading_helpers import (
    attack_batch,
    copy_course,
    dlkit_command,
    printed,
    unprivileged,
    write_attacks,
)

import dlkit
from dlkit.grading.sandbox import detect_isolation

REPO = Path(dlkit.__file__).resolve().parents[1]
MARKER = f"REDTEAM-{uuid.uuid4().hex}"

PRELUDE = """import glob, json, os
MARKER, ROOTS, PATHS = json.loads({config!r})
_found, _gits = set(), set()
def _check(path):
    try:
        if os.path.isdir(path):
            if path.rstrip("/").endswith("/.git") or os.path.isdir(os.path.join(path, ".git")):
                _gits.add(path)
            return
        with open(path, "rb") as f:
            if MARKER.encode() in f.read(1 << 20):
                _found.add(path)
    except Exception:
        pass
def _tops(root):
    if root != "/":
        return [root]
    return ["/" + d for d in os.listdir("/") if d not in ("proc", "sys", "dev")]
"""
SEARCHES = {
    "walk": """for root in ROOTS:
    for top in _tops(root):
        for base, dirs, files in os.walk(top):
            if ".git" in dirs:
                _gits.add(os.path.join(base, ".git"))
            for name in files:
                if name.endswith(".ipynb"):
                    _check(os.path.join(base, name))
""",
    "glob": """for root in ROOTS:  # depth by depth: "**" would loop through /usr/bin/X11 -> .
    for depth in range(8):
        stars = os.path.join(root, *["*"] * depth)
        for path in glob.glob(os.path.join(stars, "*.ipynb"), include_hidden=True):
            _check(path)
        for path in glob.glob(os.path.join(stars, ".git"), include_hidden=True):
            _check(path)
""",
    "proc": """for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self", "thread-self"]:
    for link in ("root", "cwd"):
        for path in PATHS:
            _check(f"/proc/{pid}/{link}{path}")
            _check(f"/proc/{pid}/{link}/../../../../..{path}")
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    for path in PATHS:
        _check(f"/proc/self/fd/{fd}/../../../../../..{path}")
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    for path in PATHS:
        if path.startswith(fields[3]):
            _check(fields[4] + path[len(fields[3]):])
""",
    "guess": """import pathlib, dlkit
repo = pathlib.Path(dlkit.__file__).resolve().parents[1]
for path in PATHS + [str(repo / "solutions"), str(repo / ".git"), str(repo),
                     os.path.expanduser("~root"), "/root", "/home"]:
    _check(path)
    _check(os.path.dirname(path))
print("repo holds", sorted(os.listdir(repo)) if os.path.isdir(repo) else None)
""",
    "links": """for name, target in (("up", "/"), ("r1", "/proc/1/root"), ("rel", "../" * 12)):
    try:
        os.symlink(target, name)
    except OSError:
        pass
    for path in PATHS:
        _check(name + path)
        try:
            os.link(path, name + "-hard")
            _check(name + "-hard")
        except OSError:
            pass
""",
    "escape": """import ctypes
libc = ctypes.CDLL(None, use_errno=True)
uid = os.getuid()
if libc.unshare(0x10000000 | 0x00020000) == 0:  # a nested user and mount namespace
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {uid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            pass
    libc.mount(b"proc", b"/tmp/work", b"proc", 0, None)
    for path in PATHS:
        _check("/tmp/work/1/root" + path)
    try:  # the classic chroot escape
        os.mkdir("jail")
        os.chroot("jail")
        for _ in range(30):
            os.chdir("..")
        os.chroot(".")
    except OSError:
        pass
for path in PATHS:
    _check(path)
""",
}
REPORT = 'print(f"FOUND {len(_found)} GIT {len(_gits)}", sorted(_found)[:3], sorted(_gits)[:3])\n'


def _payload(name: str, roots: list[str], paths: list[str]) -> str:
    config = json.dumps([MARKER, roots, paths])
    return PRELUDE.format(config=config) + SEARCHES[name] + REPORT


def _found(text: str) -> tuple[int, int]:
    line = next(line for line in text.splitlines() if line.startswith("FOUND "))
    words = line.split()
    return int(words[1]), int(words[3])


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    """Copies of the course's solutions around the host; yields (where, paths to them)."""
    tag = uuid.uuid4().hex[:8]
    source = copy_course(tmp_path_factory.mktemp("src")) / "solutions" / "lab01" / "lab01.ipynb"
    notebook = nbformat.read(str(source), as_version=4)
    notebook.cells[2].source += f"\n# {MARKER}"
    places = [
        Path(f"/tmp/dlkit-redteam-{tag}/clone/solutions/lab01"),
        Path(f"/var/tmp/dlkit-redteam-{tag}/backup"),
        Path.home() / f".dlkit-redteam-{tag}",
    ]
    paths = []
    for place in places:
        place.mkdir(parents=True)
        nbformat.write(notebook, str(place / "lab01.ipynb"))
        os.chmod(place / "lab01.ipynb", 0o644)
        paths.append(str(place / "lab01.ipynb"))
    clone = places[0].parents[1]
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    paths.append(str(clone))
    for path in {Path(p).parents[i] for p in paths[:2] for i in range(4)}:
        if str(path).startswith(("/tmp/dlkit-redteam", "/var/tmp/dlkit-redteam")):
            os.chmod(path, 0o755)  # readable by anyone: only the sandbox view may hide it
    roots = [str(p.parents[1] if p.name == "lab01" else p.parent) for p in places]
    yield roots, paths, notebook
    for place in places:
        shutil.rmtree(place.parents[1] if place.name == "lab01" else place, ignore_errors=True)
    shutil.rmtree(f"/tmp/dlkit-redteam-{tag}", ignore_errors=True)
    shutil.rmtree(f"/var/tmp/dlkit-redteam-{tag}", ignore_errors=True)


@pytest.mark.parametrize("search", sorted(set(SEARCHES) - {"escape"}))
def test_each_search_finds_the_copies_on_the_host(planted, tmp_path: Path, search: str) -> None:
    roots, paths, _ = planted
    run = subprocess.run(
        [sys.executable, "-c", _payload(search, roots, paths)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    found, gits = _found(run.stdout)
    assert found >= 1 and (gits >= 1 or search in ("proc", "links")), run.stdout + run.stderr


def _attacks(paths: list[str]) -> dict[str, str]:
    return {f"search-{name}": _payload(name, ["/"], paths) for name in SEARCHES}


def _assert_nothing_found(outputs: dict[str, str], scores: dict[str, float]) -> None:
    for student, text in outputs.items():
        assert "FOUND " in text, f"{student} did not run: {text[-2000:]}"
        assert _found(text) == (0, 0), f"{student} found a copy of the course: {text[-2000:]}"
        assert scores[student] == 0.0, student
    repo_listing = next(t for s, t in outputs.items() if s == "search-guess")
    held = repo_listing.split("repo holds", 1)[1].splitlines()[0]
    assert ".git" not in held and "solutions" not in held and "course" not in held, held


def test_no_search_finds_a_copy_of_the_course_as_root(planted, tmp_path: Path) -> None:
    level, _ = detect_isolation()
    if level != "root":
        pytest.skip(f"the grader is not root here (isolation {level!r})")
    roots, paths, notebook = planted
    results = attack_batch(tmp_path, _attacks(paths), jobs=2)
    _assert_nothing_found(
        {s: text for s, (_, text) in results.items()},
        {s: r.score for s, (r, _) in results.items()},
    )


def test_no_search_finds_a_copy_of_the_course_in_a_user_namespace(
    planted, unprivileged_grader
) -> None:
    _, paths, _ = planted
    prefix, work = unprivileged_grader
    course = copy_course(work)
    write_attacks(work / "submitted", _attacks(paths))
    unprivileged(work)  # what was just written becomes theirs too
    run = subprocess.run(
        [*prefix, *dlkit_command(), "grade", str(work / "submitted"), "--lab", "lab01",
         "--course", str(course), "--out", str(work / "out"), "--isolation", "userns",
         "--timeout", "60", "--quiet", "--jobs", "2"],
        capture_output=True, text=True, timeout=600, start_new_session=True,
    )
    if run.returncode == 2 and "user namespaces" in run.stderr:
        pytest.skip(f"unprivileged user namespaces are not allowed here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr[-3000:]
    with open(work / "out" / "grades.csv", newline="") as f:
        scores = {row["student"]: float(row["total"]) for row in csv.DictReader(f)}
    assert set(scores) == set(_attacks(paths))
    _assert_nothing_found({s: printed(course, s) for s in scores}, scores)
    assert "userns" in run.stdout + run.stderr or "user namespaces only" in run.stdout + run.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="building the view needs root (a mount namespace)")
def test_a_shown_folder_under_tmp_is_not_covered_by_the_sandbox_tmp(tmp_path: Path, monkeypatch) -> None:
    """A clone (and its .venv) under /tmp: its bind must sit on top of the sandbox's own /tmp."""
    from dlkit.grading import view
    from dlkit.grading.syscalls import CLONE_NEWNS, mount, unshare

    shown = Path(tempfile.mkdtemp(dir="/tmp")) / "venv"
    shown.mkdir()
    (shown / "marker.txt").write_text("seen")
    new_root = tmp_path / "root"
    new_root.mkdir()
    binds, links = view.allowlist()
    monkeypatch.setattr(view, "allowlist", lambda: ([*binds, view.Bind(str(shown), True)], links))
    child = os.fork()
    if child == 0:  # the child builds the view in its own mount namespace and reports by exit code
        try:
            unshare(CLONE_NEWNS)
            mount(None, "/", None, 0x4000 | 0x40000)  # MS_REC | MS_PRIVATE: nothing leaks to the host
            view.build_root(str(new_root), 0, 1 << 20)
            os._exit(0 if (Path(str(new_root) + str(shown)) / "marker.txt").read_text() == "seen" else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    shutil.rmtree(shown.parent)
    assert os.waitstatus_to_exitcode(status) == 0, "the folder under /tmp was not visible in the view"
