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
import sys
from dataclasses import dataclass

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
