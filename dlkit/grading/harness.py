"""The trusted tester: runs the test cells, the only process that reports verdicts (chapter 00).

The grader sends ``{"op": "run", "index": i, "nonce": n}``, and accepts exactly one reply
carrying that fresh nonce. The submission's own cells never run here: they run in the student
process (``student``), forked from this one before any submission code, which has no channel to
the grader. This process asks it to run each student cell, and in test cells sees the names the
student bound only as data or as ``remote.Remote`` handles; a student function called by a test
runs over there and its answer comes back as data. So no student code can reach this process's
objects (``gc``, frames), patch the libraries the tests use, or answer for it.

Trusted setup cells run in both processes; test cells are compiled and run here after ``guard``
has rewritten them, so an "always equal" object is still refused with a clear message.

A test sees the trusted namespace (setup cells run from the source, the tests' own bindings)
plus, from the student process, ONLY the names the source notebook's solution cells define; the
setup cells' helpers resolve their globals in that same trusted namespace, so a student's
``def all``, ``compare = ...`` or ``inspect = FakeInspect()`` never reaches them. A hidden
failure's message is made here from the trusted source (``hidden_feedback``), and once a hidden
part has run no text of the student's reaches a message or a reason.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import signal
import sys
import time
import traceback
from typing import Any

from dlkit.grading.codec import ProtocolError
from dlkit.grading.guard import (
    GUARD_NAME,
    Guard,
    TrustedState,
    bound_names,
    resolve_import,
    rewrite_test,
)
from dlkit.grading.hidden_feedback import trusted_error_name, trusted_message
from dlkit.grading.remote import Peer, PeerGone, Remote
from dlkit.grading.sources import stand_in

try:  # the submission may replace these later; keep the originals
    from IPython.core.inputtransformer2 import TransformerManager
    from IPython.core.interactiveshell import InteractiveShell

    _RUN_CELL = InteractiveShell.run_cell
    _TRANSFORMER = TransformerManager()
except ImportError:  # IPython is a dependency of nbgrader; without it cells run as plain Python
    InteractiveShell = None  # type: ignore[assignment,misc]
    _RUN_CELL = None
    _TRANSFORMER = None

_write = os.write
_read = os.read
_getpid = os.getpid


def make_shell() -> Any:
    """An IPython shell without history or colours, made once in the warm worker (chapter 00)."""
    if InteractiveShell is None:
        return None
    from traitlets.config import Config

    class GradingShell(InteractiveShell):  # type: ignore[misc,valid-type]
        def ask_exit(self) -> None:  # what `exit()` calls; the plain shell lacks it
            self.exit_now = True

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.xmode = "Plain"
    return GradingShell.instance(config=config)


def seed_everything(seed: int) -> None:
    """Same submission, same numbers: seed Python, NumPy and torch if loaded (chapter 00)."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _chain(error: BaseException) -> list[BaseException]:
    """The exception and those it wraps (``__cause__``, ``__context__``, ``URLError.reason``)."""
    seen: list[BaseException] = []
    current: object = error
    while isinstance(current, BaseException) and current not in seen and len(seen) < 10:
        seen.append(current)
        reason = getattr(current, "reason", None)
        current = (
            reason
            if isinstance(reason, BaseException)
            else current.__cause__ or current.__context__
        )
    return seen


def _describe(error: BaseException) -> dict[str, Any]:
    try:
        message = str(error)[:2000]
    except BaseException:  # a submission's exception class may break str()
        message = "<unprintable>"
    chain = _chain(error)
    with_errno = next((e for e in chain if isinstance(getattr(e, "errno", None), int)), None)
    filename = getattr(with_errno, "filename", None)
    return {
        "ename": type(error).__name__,
        "mro": sorted({c.__name__ for e in chain for c in type(e).__mro__}),
        "evalue": message,
        "errno": with_errno.errno if with_errno is not None else None,  # type: ignore[union-attr]
        "filename": filename if isinstance(filename, str) else None,
    }


def run_cell_source(shell: Any, namespace: dict[str, Any], source: str) -> dict[str, Any] | None:
    """Run one cell through IPython (or plain ``exec``); the error it raised, described."""
    if shell is None:
        try:
            exec(compile(source, "<cell>", "exec"), namespace)
        except BaseException as error:
            return _describe(error)
        return None
    try:
        result = _RUN_CELL(shell, source, store_history=False)
    except BaseException as error:  # e.g. the submission broke the shell itself
        return _describe(error)
    error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    return _describe(error) if isinstance(error, BaseException) else None


class Harness:
    """The tester bound to one notebook's plan and to its student process (chapter 00)."""

    def __init__(
        self,
        cells: list[dict[str, Any]],
        shell: Any,
        cmd_fd: int,
        res_fd: int,
        state: TrustedState,
        peer: Peer,
        student_pid: int,
    ) -> None:
        self.cells = cells
        self.shell = shell
        self.cmd_fd, self.res_fd = cmd_fd, res_fd
        self.pid = _getpid()
        self.namespace: dict[str, Any] = (
            shell.user_ns if shell is not None else {"__name__": "__main__"}
        )
        self.peer = peer
        self.student_pid = student_pid
        peer.source_of = self.source_of
        # From the student, tests see only the names the source's solution cells define; the
        # runner computed them (minus every name a trusted setup cell binds) from the source.
        self.student_names = frozenset(
            name for c in cells for name in c.get("student_names", ()) if type(name) is str
        )
        self.hidden_seen = False  # once a hidden part ran, student text never reaches a message
        self.remote_names: dict[str, Any] = {}
        self.state = state
        self.guard = Guard(self.state)
        self.trusted_imports: dict[str, str] = {}
        self.trusted_values: dict[str, Any] = {}
        self._buffer = b""

    # -- channel ---------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        if _getpid() != self.pid:
            os._exit(0)  # a forked copy of this process never speaks for it
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[_write(self.res_fd, data) :]

    def receive(self) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            chunk = _read(self.cmd_fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def serve(self) -> None:
        self.send({"ready": True})
        while True:
            command = self.receive()
            if command is None or command.get("op") != "run":
                return
            if "source" in command:  # a test cell's source arrives only now (see runner)
                self.cells[int(command["index"])].update(
                    source=command["source"], hidden_lines=command.get("hidden_lines", [])
                )
            try:
                reply = self.run(int(command["index"]))
            except (PeerGone, ProtocolError) as error:
                reply = self.student_failed(error)
            if self.peer.broken is not None and "student_exit" not in reply:
                reply = self.student_failed(self.peer.broken)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            reply.update(index=command["index"], nonce=command["nonce"])
            self.send(reply)
            if "student_exit" in reply or "tampered" in reply:
                return

    def student_failed(self, error: BaseException) -> dict[str, Any]:
        """The reply when the student process died or broke the protocol (chapter 00)."""
        if isinstance(error, ProtocolError):
            return {"ok": False, "error": None, "tampered": f"the student process sent a forged "
                    f"or malformed message ({str(error)[:200]})"}
        return {"ok": False, "error": None, "student_exit": self.wait_student()}

    def wait_student(self) -> int | None:
        deadline = time.monotonic() + 2.0
        while True:
            try:
                pid, status = os.waitpid(self.student_pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:  # alive but closed its socket: end it
                os.kill(self.student_pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.01)

    # -- cells -----------------------------------------------------------------------------
    def run(self, index: int) -> dict[str, Any]:
        cell = self.cells[index]
        if cell["role"] == "test":
            return self.run_test(cell, index)
        reply = self.peer.request("run", index=index)
        error, exit_now = self.take_student_reply(reply)
        if cell["role"] == "setup":
            error = run_cell_source(self.shell, self.namespace, cell["source"])
            self.remember_trusted(cell["source"])
            exit_now = bool(getattr(self.shell, "exit_now", False))
        return {"ok": error is None and not exit_now, "error": error, "exit_now": exit_now}

    def take_student_reply(self, reply: object) -> tuple[dict[str, Any] | None, bool]:
        if (
            type(reply) is not dict
            or type(reply.get("error")) not in (dict, type(None))
            or type(reply.get("exit_now")) is not bool
            or type(reply.get("names")) is not dict
            or type(reply.get("deleted")) is not list
        ):
            raise ProtocolError("expected the student process's report of a cell")
        for name in reply["deleted"]:
            if type(name) is str and name in self.remote_names:
                del self.remote_names[name]
                if name not in self.trusted_values:
                    self.namespace.pop(name, None)
        for name, value in reply["names"].items():
            if type(name) is not str or not name.isidentifier():
                raise ProtocolError("expected a name in the student process's report")
            if name not in self.student_names:  # `def all`, `compare = ...`: never seen here
                continue
            self.remote_names[name] = value
            if name not in self.trusted_values:  # trusted setup code may call student functions
                self.namespace[name] = value
        error = reply["error"]
        error = {k: v for k, v in error.items() if type(k) is str} if error else None
        if error and self.hidden_seen:
            error = self.withheld(error)
        return error, reply["exit_now"]

    @staticmethod
    def withheld(error: dict[str, Any]) -> dict[str, Any]:
        """A student cell's error after a hidden test ran: the student's text could carry the
        hidden inputs out, so only what the tester can vouch for is kept (chapter 00)."""
        errno = error.get("errno")
        mro = error.get("mro") if type(error.get("mro")) is list else []
        filename = error.get("filename")
        return {
            "ename": trusted_error_name(error.get("ename")),
            "mro": [trusted_error_name(n) for n in mro],
            "evalue": "details withheld: it ran after a hidden test",
            "errno": errno if type(errno) is int else None,
            "filename": filename if type(filename) is str else None,  # to classify, never shown
            "withheld": True,
        }

    def source_of(self, remote: Remote) -> object:
        """A stand-in for ``inspect.getsource``: the source of the object bound over there."""
        handle = object.__getattribute__(remote, "_id")
        meta = object.__getattribute__(remote, "_meta")
        text = self.peer.request("source", target=handle)
        return stand_in(text, meta.get("qualname") if type(meta) is dict else None)

    def remember_trusted(self, source: str) -> None:
        imports, names = bound_names(source)
        self.trusted_imports.update(imports)
        for name in names:
            if name in self.namespace:
                self.trusted_values[name] = self.namespace[name]

    def run_test(self, cell: dict[str, Any], index: int) -> dict[str, Any]:
        filename = f"<dlkit-test-{index}>"
        source = cell["source"]
        self.state.restore()
        test_ns = dict(self.namespace)
        test_ns["__builtins__"] = builtins
        try:
            for name, spec in self.trusted_imports.items():
                test_ns[name] = resolve_import(spec)
        except BaseException as error:
            return {"ok": False, "error": _describe(error), "hidden": False, "line": None}
        test_ns.update(self.trusted_values)
        test_ns[GUARD_NAME] = self.guard
        try:
            code = rewrite_test(source, filename)
        except SyntaxError:  # magics: let IPython's (trusted, pre-loaded) transformer rewrite them
            code = rewrite_test(_TRANSFORMER.transform_cell(source), filename)
        hidden_lines = set(cell.get("hidden_lines", ()))
        try:
            exec(code, test_ns)
        except BaseException as error:
            line = _failing_line(error, filename)
            hidden = self.hidden_seen or (line is not None and line in hidden_lines)
            reply = {"ok": False, "error": _describe(error), "hidden": hidden, "line": line}
            if hidden:  # the only text a hidden failure may show: made here, from the source
                reply["message"] = trusted_message(error, source, filename, self.student_names,
                                                   in_hidden_part=line in hidden_lines)
                reply["error"] = self.withheld(reply["error"]) | {"evalue": reply["message"]}
            return reply
        finally:  # the guard stays in test_ns: functions this cell defines keep it as globals
            self.keep_test_bindings(source, test_ns)
            self.hidden_seen = self.hidden_seen or bool(hidden_lines)
        return {"ok": True, "error": None, "hidden": False, "line": None}

    def keep_test_bindings(self, source: str, test_ns: dict[str, Any]) -> None:
        imports, names = bound_names(source)
        self.trusted_imports.update(imports)
        for name in names:
            if name in test_ns:
                self.namespace[name] = test_ns[name]
                self.trusted_values[name] = test_ns[name]


def _failing_line(error: BaseException, filename: str) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def run_notebook_process(
    spec: dict[str, Any],
    shell: Any,
    cmd_fd: int,
    res_fd: int,
    peer: Peer,
    student_pid: int,
    state: TrustedState | None = None,
) -> None:
    """Entry point of the tester once it is confined and its student process forked (chapter 00)."""
    seed_everything(int(spec.get("seed", 0)))
    scratch = os.getcwd()
    # Imports here come only from trusted places, never from a file the student wrote in scratch.
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p) and not _under(p, scratch)]
    state = state or TrustedState(spec.get("trusted_dirs", []))
    harness = Harness(spec["cells"], shell, cmd_fd, res_fd, state, peer, student_pid)
    harness.serve()


def _under(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


__all__ = [
    "Harness",
    "make_shell",
    "run_cell_source",
    "run_notebook_process",
    "seed_everything",
]
