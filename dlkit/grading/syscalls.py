"""The Linux system calls the sandbox is made of, through ``ctypes`` (chapter 00).

Namespaces (``unshare``), mounts, ``pivot_root``, process attributes (``prctl``) and, for the
weakest isolation level, a seccomp filter that keeps ``kill`` inside the caller's own group.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
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
MNT_DETACH = 2
# Flags of a mount that a user namespace may not clear when it remounts a bind of it.
LOCKED_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": 0x400,
    "nodiratime": 0x800,
    "relatime": 1 << 21,
}
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # pivot_root has no C library wrapper
SANDBOX_NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
_KILL = {"x86_64": (62, 0xC000003E), "aarch64": (129, 0xC00000B7)}  # (syscall nr, audit arch)

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what} failed: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    check(libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    check(result, f"mount {target}")


def prctl(option: int, value: int) -> None:
    """Set a process attribute (death signal, subreaper, no-new-privs) (chapter 00)."""
    check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def pivot_root(new_root: str) -> None:
    """Make ``new_root`` the root and detach the old one entirely (not a chroot)."""
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(new_root)
    check(libc.syscall(number, b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "umount the host root")
    os.chdir("/")


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def deny_signals_beyond_own_group() -> None:
    """``kill(pid < 0, ...)`` (``kill(-1)``, ``killpg``) fails with EPERM from now on, in this
    process and its children (chapter 00). ``kill(0)`` still reaches only the caller's own
    process group. Needs ``PR_SET_NO_NEW_PRIVS`` first; unknown machines are left as they are.
    """
    known = _KILL.get(platform.machine())
    if known is None:
        return
    nr, arch = known
    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    program = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq_k, 0, 4, arch),  # another ABI (x32, i386 calls): allow, the filter is a backstop
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
        (jeq_k, 0, 2, nr),
        (ld_w_abs, 0, 0, 16),  # low 32 bits of args[0]: the pid, as a C int
        (jset_k, 1, 0, 0x80000000),  # negative: -1 or a process group
        (ret_k, 0, 0, allow),
        (ret_k, 0, 0, deny),
    ]
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    fprog = _SockFprog(len(program), filters)
    check(libc.prctl(22, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp filter")
