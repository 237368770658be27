"""The notebook process: runs cells on the grader's command, one at a time (chapter 00).

It never decides a score on its own initiative: the grader sends ``{"op": "run", "index": i,
"nonce": n}``, and accepts exactly one reply carrying that fresh nonce. So a submission cannot
pre-write verdicts, and any stray or duplicate line on the channel marks it as tampering.

Student cells run through IPython (magics, ``display``); trusted test cells are compiled and run
by this module itself, after ``guard`` has restored the libraries and the trusted names, so
``set_custom_exc``, a replaced ``showtraceback`` or a patched ``np.allclose`` change nothing.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import sys
import traceback
from typing import Any

from dlkit.grading.guard import (
    GUARD_NAME,
    Guard,
    TrustedState,
    bound_names,
    resolve_import,
    rewrite_test,
)

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


class Harness:
    """Cell runner bound to one notebook's plan (chapter 00)."""

    def __init__(
        self,
        cells: list[dict[str, Any]],
        shell: Any,
        cmd_fd: int,
        res_fd: int,
        trusted_dirs: list[str],
    ) -> None:
        self.cells = cells
        self.shell = shell
        self.cmd_fd, self.res_fd = cmd_fd, res_fd
        self.pid = _getpid()
        self.namespace: dict[str, Any] = (
            shell.user_ns if shell is not None else {"__name__": "__main__"}
        )
        self.state = TrustedState(trusted_dirs)
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
            reply = self.run(int(command["index"]))
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            reply.update(index=command["index"], nonce=command["nonce"])
            self.send(reply)

    # -- cells -----------------------------------------------------------------------------
    def run(self, index: int) -> dict[str, Any]:
        cell = self.cells[index]
        if cell["role"] == "test":
            return self.run_test(cell, index)
        error = self.run_shell(cell["source"])
        if cell["role"] == "setup":
            self.remember_trusted(cell["source"])
        exit_now = bool(getattr(self.shell, "exit_now", False))
        return {"ok": error is None and not exit_now, "error": error, "exit_now": exit_now}

    def run_shell(self, source: str) -> dict[str, Any] | None:
        if self.shell is None:
            try:
                exec(compile(source, "<cell>", "exec"), self.namespace)
            except BaseException as error:
                return _describe(error)
            return None
        try:
            result = _RUN_CELL(self.shell, source, store_history=False)
        except BaseException as error:  # e.g. the submission broke the shell itself
            return _describe(error)
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        return _describe(error) if isinstance(error, BaseException) else None

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
        try:
            exec(code, test_ns)
        except BaseException as error:
            line = _failing_line(error, filename)
            hidden = line is not None and line in set(cell.get("hidden_lines", ()))
            return {"ok": False, "error": _describe(error), "hidden": hidden, "line": line}
        finally:
            test_ns.pop(GUARD_NAME, None)
            self.keep_test_bindings(source, test_ns)
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


def run_notebook_process(spec: dict[str, Any], shell: Any, cmd_fd: int, res_fd: int) -> None:
    """Entry point of the notebook process once it is confined (chapter 00)."""
    seed_everything(int(spec.get("seed", 0)))
    harness = Harness(spec["cells"], shell, cmd_fd, res_fd, spec.get("trusted_dirs", []))
    harness.serve()


__all__ = ["Harness", "make_shell", "run_notebook_process", "seed_everything"]
