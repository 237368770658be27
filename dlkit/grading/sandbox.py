"""OS-level isolation for one untrusted notebook (chapter 00, "how labs are graded").

A submission runs in its own process tree, set up here in two steps:

* ``enter_namespaces`` (in the worker that forks the notebook process): new network, mount,
  PID, IPC and UTS namespaces, so there is no network, SysV shared memory and message queues
  die with the sandbox, and the whole tree dies with its first process;
* ``confine`` (in the notebook process, PID 1 of that namespace): its own session and process
  group, an allowlisted root file system (``view``: system libraries and the interpreter's
  environment read-only, a size-capped scratch ``tmpfs``, nothing else of the host), an
  unprivileged user id, and rlimits on memory, processes, file size and CPU time.

Three levels, chosen by ``detect_isolation``: ``"root"`` (all of the above), ``"userns"``
(namespaces through an unprivileged user namespace: no uid drop), ``"none"`` (rlimits, its own
session and process group only; the caller warns that network and files are not isolated).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sys
from dataclasses import dataclass, field

from dlkit.grading import view
from dlkit.grading.syscalls import (
    CLONE_NEWUSER,
    MS_PRIVATE,
    MS_REC,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_NO_NEW_PRIVS,
    SANDBOX_NAMESPACES,
    deny_signals_beyond_own_group,
    libc,
    mount,
    pivot_root,
    prctl,
    unshare,
)

ISOLATION_LEVELS = ("root", "userns", "none")
SCRATCH = "/tmp/work"  # the submission's only writable place, inside its private /tmp
UID_BASE = 1_900_000  # one unprivileged uid per parallel slot, so RLIMIT_NPROC is per sandbox
SLOTS_PER_GRADER = 512


def machine_slot(grader_pid: int, slot: int) -> int:
    """The sandbox slot (its uid is ``UID_BASE`` + this) of a grader's parallel ``slot``, made
    unique on the machine by the grader's pid: RLIMIT_NPROC counts every process of a uid, so a
    fork bomb graded in one ``dlkit grade`` must not use up the processes of a sandbox in another
    run, or of a learner's ``dlkit check``, beside it (below 2**31 for any pid)."""
    return (grader_pid % 2**21) * SLOTS_PER_GRADER + slot % SLOTS_PER_GRADER



@dataclass(frozen=True)
class Limits:
    """Caps for one notebook run (chapter 00). Sizes in bytes, times in seconds."""

    cell_timeout: float = 30.0
    notebook_timeout: float = 120.0
    memory: int = 2 << 30
    processes: int = 64
    file_size: int = 64 << 20
    disk: int = 64 << 20
    output: int = 2 << 20
    notebook_size: int = 4 << 20

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"expected a positive limit for {name}, got {value!r}")


@dataclass(frozen=True)
class SandboxSpec:
    """Where one notebook process may look and write (chapter 00)."""

    isolation: str
    slot: int
    limits: Limits
    scratch_files: tuple[tuple[str, str], ...] = ()  # (relative name in scratch, host path)
    env: dict[str, str] = field(default_factory=dict)


def _probe(flags: int) -> bool:
    """Try ``unshare(flags)`` in a throw-away child; True if the kernel allows it."""
    pid = os.fork()
    if pid == 0:
        try:
            unshare(flags)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def detect_isolation(requested: str = "auto") -> tuple[str, str]:
    """The strongest isolation level this machine allows, and a warning if it is weak (chapter 00).

    ``requested`` is ``"auto"`` or one of ``ISOLATION_LEVELS``; asking for a level the machine
    cannot give raises ``RuntimeError`` saying why.
    """
    if requested not in ("auto", *ISOLATION_LEVELS):
        raise ValueError(
            f"expected isolation 'auto', 'root', 'userns' or 'none', got {requested!r}"
        )
    namespaces = SANDBOX_NAMESPACES
    can_root = os.geteuid() == 0 and _probe(namespaces)
    can_userns = not can_root and _probe(CLONE_NEWUSER | namespaces)
    if requested == "root" and not can_root:
        raise RuntimeError("isolation 'root' needs root and namespaces; run as root or use 'auto'")
    if requested == "userns" and not (can_userns or _probe(CLONE_NEWUSER | namespaces)):
        raise RuntimeError(
            "isolation 'userns' needs unprivileged user namespaces, not allowed here"
        )
    if requested != "auto":
        level = requested
    else:
        level = "root" if can_root else "userns" if can_userns else "none"
    warning = ""
    if level == "userns":
        warning = "sandbox: user namespaces only (not root): submissions keep your user id"
    elif level == "none":
        warning = (
            "sandbox: WEAK isolation (not root and user namespaces are unavailable): submissions "
            "run with your rights and can reach the network and your files; grade as root, or "
            "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        )
    return level, warning


def enter_namespaces(isolation: str) -> None:
    """Move the calling worker into fresh net/mount/PID/IPC/UTS namespaces (chapter 00).

    Its next child becomes PID 1 of the new PID namespace: when that child dies, the kernel kills
    every process the submission started.
    """
    if isolation == "none":
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans come back to us, to be killed at the end
        return
    if isolation == "userns":
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    unshare(SANDBOX_NAMESPACES)


def _limit_ipc(limits: Limits) -> None:
    """Cap what SysV shared memory and message queues may hold in this IPC namespace: they live
    outside any process, so the memory rlimit does not see them."""
    pages = max(1, limits.disk // os.sysconf("SC_PAGE_SIZE"))
    for name, value in (("shmmax", limits.disk), ("shmall", pages), ("shmmni", 16),
                        ("msgmni", 16), ("msgmnb", 1 << 16)):
        try:
            with open(f"/proc/sys/kernel/{name}", "w") as f:
                f.write(str(value))
        except OSError:
            pass  # an older kernel keeps these global: the namespace still ends with the sandbox


def _confine_files(spec: SandboxSpec) -> None:
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    sources = [(name, os.open(host, os.O_RDONLY)) for name, host in spec.scratch_files]
    new_root = "/tmp"  # private to this mount namespace: the host's /tmp is untouched
    uid = UID_BASE + spec.slot if spec.isolation == "root" else 0
    view.build_root(new_root, uid, spec.limits.disk)
    pivot_root(new_root)
    _limit_ipc(spec.limits)
    libc.sethostname(b"sandbox", 7)
    os.makedirs(SCRATCH)
    for name, fd in sources:
        target = os.path.join(SCRATCH, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with os.fdopen(fd, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)


def _copy_scratch_files(spec: SandboxSpec, scratch: str) -> None:
    for name, host in spec.scratch_files:
        target = os.path.join(scratch, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(host, target)


def _set_rlimits(limits: Limits, processes: int) -> None:
    with open("/proc/self/status") as f:
        vm_size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    # Address space already mapped (numpy, torch) is not the submission's: cap what it adds.
    resource.setrlimit(resource.RLIMIT_AS, (vm_size + limits.memory,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (processes,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size,) * 2)
    cpu = int(limits.notebook_timeout) + 5  # backstop for the parent's wall-clock limit
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _own_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def confine(spec: SandboxSpec) -> str:
    """Lock the calling notebook process in (chapter 00); returns its scratch directory.

    Call it in the first process of the new namespaces, before any submission code runs.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # Its own session and process group at every level: kill(0), killpg(getpgid(0)) reach
    # only this sandbox, never the grader, the zygote or another sandbox.
    os.setsid()
    if spec.isolation in ("root", "userns"):
        _confine_files(spec)
        scratch = SCRATCH
    else:
        scratch = spec.env["DLKIT_SCRATCH"]
        _copy_scratch_files(spec, scratch)
    processes = spec.limits.processes
    if spec.isolation == "root":
        uid = UID_BASE + spec.slot
        os.chown(scratch, uid, uid)
        for dirpath, dirnames, filenames in os.walk(scratch):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    else:
        # RLIMIT_NPROC counts every process of this user id: leave room for what already runs.
        processes += _own_process_count()
    prctl(PR_SET_NO_NEW_PRIVS, 1)  # no setuid binaries (sudo, su) from here on
    if spec.isolation == "none":  # no PID namespace: kill(-1) would reach all our processes
        deny_signals_beyond_own_group()
    _set_rlimits(spec.limits, processes)
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update(spec.env)
    os.environ["HOME"] = scratch
    os.environ["TMPDIR"] = scratch
    return scratch


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its last ")"
        parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def kill_descendants(pid: int) -> None:
    """SIGKILL every process whose parent chain reaches ``pid`` (chapter 00, "none" isolation)."""
    for _ in range(5):  # new children may appear while we kill: sweep until none is left
        parents = _parent_map()
        victims = [p for p in parents if _descends(p, pid, parents)]
        if not victims:
            return
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass


def descendant_count(pid: int) -> int:
    """How many processes descend from ``pid`` now (chapter 00)."""
    parents = _parent_map()
    return sum(_descends(p, pid, parents) for p in parents)


def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    seen = set()
    while pid in parents and pid not in seen:
        seen.add(pid)
        pid = parents[pid]
        if pid == ancestor:
            return True
    return False


def python_executable_dir() -> str:
    """The directory of this interpreter's scripts (``alembic``, ``jupyter``) (chapter 00)."""
    return os.path.dirname(sys.executable)
