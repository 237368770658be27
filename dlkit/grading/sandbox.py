"""OS-level isolation for one untrusted notebook (chapter 00, "how labs are graded").

A submission runs in its own process tree, set up here in two steps:

* ``enter_namespaces`` (in the worker that forks the notebook process): new network, mount and
  PID namespaces, so there is no network and the whole tree dies with its first process;
* ``confine`` (in the notebook process, PID 1 of that namespace): the file system read-only
  except a size-capped scratch ``tmpfs``, secret paths (solutions, gradebook, other students'
  work) hidden behind empty mounts, an unprivileged user id, and rlimits on memory, processes,
  file size and CPU time.

Three levels, chosen by ``detect_isolation``: ``"root"`` (all of the above), ``"userns"``
(namespaces through an unprivileged user namespace: no uid drop), ``"none"`` (rlimits and a
process group only; the caller warns that network and files are not isolated).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import shutil
import signal
import sys
from dataclasses import dataclass, field

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

ISOLATION_LEVELS = ("root", "userns", "none")
SCRATCH = "/tmp/work"  # the submission's only writable place, inside its private /tmp
UID_BASE = 1_900_000  # one unprivileged uid per parallel slot, so RLIMIT_NPROC is per sandbox

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


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
    hidden_paths: tuple[str, ...] = ()
    scratch_files: tuple[tuple[str, str], ...] = ()  # (relative name in scratch, host path)
    env: dict[str, str] = field(default_factory=dict)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what} failed: {os.strerror(errno)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount {target}")


def prctl(option: int, value: int) -> None:
    """Set a process attribute (death signal, subreaper, no-new-privs) (chapter 00)."""
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _probe(flags: int) -> bool:
    """Try ``unshare(flags)`` in a throw-away child; True if the kernel allows it."""
    pid = os.fork()
    if pid == 0:
        try:
            _unshare(flags)
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
    namespaces = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
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
    """Move the calling worker into fresh net/mount/PID namespaces (chapter 00).

    Its next child becomes PID 1 of the new PID namespace: when that child dies, the kernel kills
    every process the submission started.
    """
    if isolation == "none":
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans come back to us, to be killed at the end
        return
    if isolation == "userns":
        uid, gid = os.getuid(), os.getgid()
        _unshare(CLONE_NEWUSER)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    _unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID)


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            points.append(point.encode().decode("unicode_escape"))  # "\040" is a space
    return points


def _hide(path: str) -> None:
    """Cover ``path`` with an empty mount, so the submission cannot read what is there."""
    if os.path.isdir(path):
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    elif os.path.exists(path):
        _mount("/dev/null", path, None, MS_BIND)


def _interpreter_paths() -> list[str]:
    """Directories the notebook process must still read: the interpreter, its site-packages and
    this package (an editable install lives in the course repository)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, package}
    paths.update(p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p))
    paths.discard(os.getcwd())  # `python -m` puts the working directory first: not needed
    roots: list[str] = []
    for path in sorted(os.path.realpath(p) for p in paths):  # keep only outermost directories
        if not any(_inside(path, r) for r in roots):
            roots.append(path)
    return roots


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _blocking_ancestor(path: str, covered: list[str], drop_uid: bool) -> str | None:
    """The first directory that hides ``path`` in the sandbox: one we cover with an empty mount
    (/tmp, a hidden course) or one the unprivileged uid cannot traverse (Python under /root)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        ancestor = "/" + "/".join(parts[:i])
        if ancestor in covered:
            return ancestor
        if drop_uid and i < len(parts) and not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _confine_files(spec: SandboxSpec) -> None:
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    sources = [(name, os.open(host, os.O_RDONLY)) for name, host in spec.scratch_files]
    hidden = [p for p in spec.hidden_paths if not _inside(p, "/tmp")]  # the new /tmp hides those
    hidden_dirs = [p for p in hidden if os.path.isdir(p)]
    covered = ["/tmp", *hidden_dirs]
    keep = []  # (path, blocking ancestor, fd opened now, while the path is still reachable)
    for path in _interpreter_paths():
        ancestor = _blocking_ancestor(path, covered, spec.isolation == "root")
        if ancestor is not None and ancestor != path:
            keep.append((path, ancestor, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    for point in _mount_points():  # everything read-only: scratch is the one writable place
        if point.startswith(("/proc", "/sys", "/dev")):
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        except OSError:
            pass  # a mount we may not touch stays as it is; it is not writable for us anyway
    for path in hidden:
        _hide(path)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec.limits.disk},mode=1777")
    stand_ins = set()
    for path, ancestor, fd in keep:
        if ancestor not in covered and ancestor not in stand_ins:  # e.g. /root, made traversable
            _mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            stand_ins.add(ancestor)
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        os.close(fd)
    for mount_point in [*hidden_dirs, *stand_ins]:
        _mount(None, mount_point, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for small in ("/dev/shm", "/var/tmp", "/run/lock"):
        if os.path.isdir(small):
            _mount("tmpfs", small, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
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
    if spec.isolation in ("root", "userns"):
        _confine_files(spec)
        scratch = SCRATCH
    else:
        os.setsid()  # one process group: the parent can kill the whole tree
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
