"""What a submission sees of the host: an allowlist, never a denylist (chapter 00).

The sandbox gets a fresh root file system (a small ``tmpfs``) holding only:

* the system's programs and libraries, read-only (``/usr/bin``, ``/usr/lib``, ``/lib``...,
  a few files of ``/etc`` the C library and fonts need);
* the interpreter and its environment, read-only: the virtual environment (or conda prefix),
  the base installation's standard library, and for a package imported from outside them (an
  editable install such as ``dlkit``), that package's own folder, never the repository;
* a private ``/proc`` (own PID namespace), a ``/dev`` with only ``null``, ``zero``, ``full``,
  ``random``, ``urandom`` (and GPU devices when present), read-only hardware info from ``/sys``;
* ``/tmp``, a size-capped ``tmpfs`` holding the scratch copy (``/tmp/work``), the one writable
  place.

Everything else of the host (the course, its solutions and ``.git``, other clones and backups,
home folders, ``/tmp`` and ``/root``) does not exist in that view. This is the view bubblewrap
gives with ``--ro-bind`` and ``--tmpfs``; it is built here with the same system calls because
each sandbox is forked from a warm process, which an ``exec`` of ``bwrap`` cannot wrap.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from dlkit.grading.syscalls import (
    LOCKED_OPTIONS,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    mount,
)

SYSTEM_DIRS = (
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
    "/usr/libexec",
    "/usr/share",
    "/usr/local/bin",
    "/usr/local/lib",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
)
# Only what the dynamic loader, time zones, text encodings and fontconfig read.
ETC_ENTRIES = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "fonts",
    "mime.types",
)
DEVICES = ("null", "zero", "full", "random", "urandom")
SYS_DIRS = ("/sys/devices/system/cpu", "/sys/devices/system/node")
_SYSTEM_PREFIXES = ("/", "/usr", "/usr/local")


@dataclass(frozen=True)
class Bind:
    """One host path shown read-only in the sandbox, at the same place."""

    path: str  # where it appears (and where it is on the host)
    is_dir: bool


@dataclass(frozen=True)
class Link:
    """A symbolic link recreated in the sandbox (``/bin -> usr/bin`` on merged-/usr systems)."""

    path: str
    target: str


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _environment_roots() -> list[str]:
    """The interpreter's own folders: prefixes (unless a system folder) and ``sys.path`` entries
    that are site-packages or the standard library."""
    roots = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        prefix = os.path.abspath(prefix)
        if prefix not in _SYSTEM_PREFIXES:
            roots.append(prefix)
    for entry in sys.path:
        if not entry or not os.path.isabs(entry):
            continue  # "" and relative entries are the working directory: never shown
        name = os.path.basename(entry.rstrip("/"))
        if name in ("site-packages", "dist-packages") or name.startswith(("python3", "lib-dynload")):
            roots.append(os.path.abspath(entry))
    return roots


def _imported_package_roots(shown: list[str]) -> list[str]:
    """Folders of packages already imported from outside ``shown`` (an editable install): the
    package folder itself (``REPO/dlkit``), never the folder above it."""
    roots = []
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        paths = list(getattr(module, "__path__", None) or [])
        file = getattr(module, "__file__", None)
        if not paths and isinstance(file, str):
            paths = [file]
        for path in paths:
            if not isinstance(path, str) or not os.path.isabs(path) or not os.path.exists(path):
                continue
            path = os.path.abspath(path)
            if not any(_inside(path, r) or _inside(os.path.realpath(path), r) for r in shown):
                roots.append(path)
    return roots


def _outermost(paths: list[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    return kept


def allowlist() -> tuple[list[Bind], list[Link]]:
    """Every host path the sandbox may read, as binds and links (chapter 00)."""
    binds: list[str] = []
    links: list[Link] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            links.append(Link(path, os.readlink(path)))
        elif os.path.isdir(path):
            binds.append(path)
    for entry in ETC_ENTRIES:
        path = os.path.join("/etc", entry)
        if os.path.exists(path):
            binds.append(path)
    binds.extend(p for p in SYS_DIRS if os.path.isdir(p))
    environment = [p for p in _environment_roots() if os.path.exists(p)]
    binds.extend(environment)
    binds.extend(_imported_package_roots(binds))
    chosen = _outermost(binds)
    # A link target like /usr/bin is shown already; a link inside a shown folder needs nothing.
    chosen = [p for p in chosen if not any(_inside(p, link.path) for link in links)]
    return [Bind(p, os.path.isdir(p)) for p in chosen], links


def devices() -> list[str]:
    """Device nodes the sandbox gets: the harmless ones, plus GPUs when the machine has them."""
    found = [os.path.join("/dev", d) for d in DEVICES]
    if os.path.isdir("/dev"):
        found += sorted(
            os.path.join("/dev", d) for d in os.listdir("/dev") if d.startswith("nvidia")
        )
    return [d for d in found if os.path.exists(d) and not os.path.isdir(d)]


def _unescape(field: bytes) -> str:
    """A path as /proc/self/mountinfo writes it ("\\040" for a space)."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field))


def _mounts_under(root: str) -> list[tuple[str, set[str]]]:
    """(mount point, its per-mount options) for every mount at or below ``root``, outermost
    first."""
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split()
            point = _unescape(fields[4])
            if point == root or point.startswith(root.rstrip("/") + "/"):
                found.append((point, set(fields[5].decode().split(","))))
    return found


def _read_only(point: str, options: set[str], extra: int = MS_NOSUID | MS_NODEV) -> None:
    """Remount ``point`` read-only, keeping the flags a user namespace may not clear."""
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | extra
    for name, flag in LOCKED_OPTIONS.items():
        if name in options:
            flags |= flag
    mount(None, point, None, flags)


def _touch(path: str, is_dir: bool) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if is_dir:
        os.makedirs(path, exist_ok=True)
    elif not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def build_root(new_root: str, uid: int, disk: int) -> None:
    """Mount the allowlisted view on ``new_root`` (chapter 00): a read-only ``tmpfs`` holding
    read-only binds, ``/dev``, a fresh ``/proc`` and writable ``/tmp`` (``disk`` bytes);
    ``uid`` is the sandbox user named in its ``/etc/passwd``. Call it in a private mount
    namespace, then ``syscalls.pivot_root(new_root)``."""
    binds, links = allowlist()
    # Open every source now: the mounts below may cover the place it is reached through.
    opened = [
        (b, os.open(b.path, os.O_PATH | (os.O_DIRECTORY if b.is_dir else 0))) for b in binds
    ]
    nodes = [(d, os.open(d, os.O_PATH)) for d in devices()]
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    writable = {
        new_root + "/tmp": f"size={disk},mode=1777",
        new_root + "/var/tmp": "size=1m,mode=1777",
    }
    # The writable folders first: a bind below them (a venv in a clone under /tmp) then lands on
    # top of their tmpfs instead of being covered by it.
    for point, options in writable.items():
        _touch(point, True)
        mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for bind, fd in opened:
        target = new_root + bind.path
        _touch(target, bind.is_dir)
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        os.close(fd)
    for link in links:
        os.makedirs(os.path.dirname(new_root + link.path), exist_ok=True)
        os.symlink(link.target, new_root + link.path)
    user = "student" if uid else "root"
    os.makedirs(new_root + "/etc", exist_ok=True)
    with open(new_root + "/etc/passwd", "w") as f:
        f.write(f"{user}:x:{uid}:{uid}:{user}:/tmp/work:/bin/sh\n")
    with open(new_root + "/etc/group", "w") as f:
        f.write(f"{user}:x:{uid}:\n")
    dev = new_root + "/dev"
    _touch(dev, True)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for node, fd in nodes:
        _touch(new_root + node, False)
        mount(f"/proc/self/fd/{fd}", new_root + node, None, MS_BIND)
        os.close(fd)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    writable[dev + "/shm"] = "size=1m,mode=1777"
    _touch(dev + "/shm", True)
    mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, writable[dev + "/shm"])
    _touch(new_root + "/proc", True)
    mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    device_points = {new_root + node for node, _ in nodes}
    for point, options in _mounts_under(new_root):
        if point in writable or point == new_root + "/proc" or point.startswith(new_root + "/proc/"):
            continue
        _read_only(point, options, MS_NOSUID if point in device_points else MS_NOSUID | MS_NODEV)
