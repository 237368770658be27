"""The grader's temporary folders: gone when it ends, even when it is killed (chapter 00).

Each folder (``TMPDIR/dlkit-grade-*``) holds a lock file that its grader keeps locked while it
runs. A clean end, an exception, SIGINT or SIGTERM (``stop_on_signals``) removes the folder; a
grader killed with SIGKILL cannot, so the next grader removes every such folder whose lock is
free (``sweep_stale``): the kernel releases a lock when its holder dies, whatever killed it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

PREFIX = "dlkit-grade-"
LOCK_NAME = ".lock"
_held: dict[str, int] = {}  # folder -> the locked file descriptor


def sweep_stale(tmp: str | None = None) -> list[str]:
    """Remove the folders of graders that died without cleaning up; returns what was removed."""
    removed = []
    base = Path(tmp or tempfile.gettempdir())
    for folder in base.glob(PREFIX + "*"):
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.geteuid():
            continue
        if str(folder) in _held:
            continue
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # no lock: not ours to judge (another version, or one being created)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its grader is alive
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


def make_workdir(kind: str) -> str:
    """A new private folder ``dlkit-grade-KIND-*``, locked for as long as this process lives."""
    sweep_stale()
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-")
    # Locked before it gets its name: a sweep never sees this lock free while we live.
    fd = os.open(os.path.join(path, ".new-lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(os.path.join(path, ".new-lock"), os.path.join(path, LOCK_NAME))
    _held[path] = fd
    return path


def remove_workdir(path: str) -> None:
    """Delete a folder made by ``make_workdir`` and release its lock."""
    shutil.rmtree(path, ignore_errors=True)
    fd = _held.pop(path, None)
    if fd is not None:
        os.close(fd)


class Stopped(SystemExit):
    """The grader was asked to stop (SIGTERM, SIGHUP): unwinds so every cleanup runs."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``Stopped`` (exit status 128 + signal) while grading, so the
    ``finally`` blocks stop the sandboxes and remove the temporary folders; SIGINT already
    raises ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; the caller's own handling applies
        return

    def stop(signum: int, _frame: object) -> None:
        for other in previous:  # a second signal must not interrupt the cleanup it started
            signal.signal(other, signal.SIG_IGN)
        raise Stopped(128 + signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for signum in previous:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
