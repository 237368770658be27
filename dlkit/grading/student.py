"""The student process: runs the submission's cells, answers the tester's requests (chapter 00).

It is forked from the notebook process before any submission code runs, and keeps no channel to
the grader: only a socket to the trusted tester (``harness``). The tester asks it to run a cell
(``{"op": "run", "index": i}``) and, during test cells, to call the student's functions or read
their objects; every answer goes back as data (``codec``) or as a handle (``remote``). Whatever
this process does, it can only answer the questions the tester asks.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import socket
import sys
import types
from typing import Any

import numpy as np

from dlkit.grading.codec import NUMPY_SCALARS
from dlkit.grading.guard import ARRAY_DUNDERS, COMPARISON_DUNDERS, TRUTH_DUNDERS, TrustedState
from dlkit.grading.remote import Opaque, Peer

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_DATA_TYPES = (int, float, complex, str, bool, bytes, type(None))
PR_CAPBSET_DROP = 24
_CAP_LAST = 63
_NAME_DATA_BYTES = 16 << 20
MAX_SOURCE = 1 << 20  # characters of a function's source sent for a lab's source check


def drop_capabilities() -> None:
    """Give up every capability, so the student process cannot ptrace the tester (chapter 00).

    Under ``"userns"`` isolation (or ``"none"`` run as root) the process is root; without its
    capabilities it cannot ptrace the tester or read its memory (the tester is not dumpable).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(_CAP_LAST + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly for unknown capabilities

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed: cannot drop capabilities")


def _small_data(value: object) -> bool:
    """Scalars, strings and arrays cross as data when a cell binds them; the rest as handles."""
    if type(value) in _DATA_TYPES:
        return type(value) not in (str, bytes) or len(value) <= _NAME_DATA_BYTES  # type: ignore[arg-type]
    torch = sys.modules.get("torch")
    if type(value) is np.ndarray or type(value) in NUMPY_SCALARS or (
        torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter)
    ):
        try:
            return int(value.nbytes) <= _NAME_DATA_BYTES  # type: ignore[attr-defined]
        except BaseException:
            return False
    return False


def _flush() -> None:
    """Output printed while answering a request belongs to the cell that made it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # the submission may have replaced or closed them
            pass


class StudentProcess:
    """Runs submission cells on the tester's request and serves its object requests."""

    def __init__(self, cells: list[dict[str, Any]], shell: Any, sock: socket.socket,
                 state: TrustedState) -> None:
        from dlkit.grading.harness import run_cell_source

        self._run_cell_source = run_cell_source
        self.cells = cells  # test cells come without source: the runner sends it to the tester only
        self.shell = shell
        self.namespace: dict[str, Any] = shell.user_ns if shell is not None else {"__name__": "__main__"}
        self.state = state  # taken before any submission code: classes alive then are library's
        self.seen: dict[str, object] = {}
        self.peer = Peer(
            sock,
            trusted=False,
            describe=self.describe,
            handlers={"run": self.on_run, "source": self.on_source},
        )
        self.peer.after_request = _flush
        scratch = os.getcwd()  # a module the learner wrote with %%writefile imports, as in Jupyter
        if scratch not in sys.path:
            sys.path.insert(0, scratch)

    def describe(self, value: object) -> dict[str, Any]:
        """What the tester may know of an object it gets as a handle (names, for messages)."""
        meta: dict[str, Any] = {"type": type(value).__qualname__, "callable": callable(value)}
        forged = self.state.forged_dunder(value, COMPARISON_DUNDERS + TRUTH_DUNDERS + ARRAY_DUNDERS)
        if forged:
            meta["forged"] = forged
        function = getattr(value, "__func__", value)  # a bound method's function
        if isinstance(function, (types.FunctionType, type)):
            meta["qualname"] = str(function.__qualname__)
        if isinstance(value, types.ModuleType):
            meta["module"] = str(value.__name__)
        return meta

    def on_run(self, header: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
        index = header.get("index")
        if type(index) is not int or not 0 <= index < len(self.cells):
            raise ValueError(f"expected a cell index below {len(self.cells)}, got {index!r}")
        error = self._run_cell_source(self.shell, self.namespace, self.cells[index]["source"])
        exit_now = bool(getattr(self.shell, "exit_now", False))
        return {"error": error, "exit_now": exit_now, **self.changed_names()}

    def on_source(self, header: dict[str, Any], buffers: list[bytes]) -> str | None:
        """The source of the object actually bound, for a lab's source check (chapter 00).

        ``inspect`` reads it where Python compiled it: the cell that last defined it, the
        inner cell of a ``%%capture``, or a module written with ``%%writefile``.
        """
        target = self.peer.exports.get(header.get("target"))  # type: ignore[arg-type]
        if target is None:
            return None
        try:
            source = inspect.getsource(target)  # type: ignore[arg-type]
        except (OSError, TypeError):
            return None
        return source[:MAX_SOURCE] if type(source) is str else None

    def changed_names(self) -> dict[str, Any]:
        names: dict[str, Any] = {}
        for name, value in list(self.namespace.items()):
            if name.startswith("_") or name in _IPYTHON_NAMES or self.seen.get(name, self) is value:
                continue
            self.seen[name] = value
            names[name] = value if _small_data(value) else Opaque(value)
        deleted = [name for name in self.seen if name not in self.namespace]
        for name in deleted:
            del self.seen[name]
        return {"names": names, "deleted": deleted}

    def serve(self) -> None:
        self.peer.serve_forever()


__all__ = ["StudentProcess", "drop_capabilities"]
