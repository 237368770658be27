"""Run many untrusted notebooks in parallel, safely, from one warm worker (chapter 00).

``Runner`` starts the zygote (``dlkit.grading.zygote``) once, then keeps up to ``jobs``
sandboxed notebook processes busy. One single-threaded event loop here drives them all: it sends
each cell command with a fresh nonce, reads the replies and the (capped) output, enforces the
per-cell and per-notebook wall-clock limits with SIGKILL, and hands what happened to
``progress``, which turns it into a ``NotebookResult``. Nothing a submission does can stop this
loop or reach another submission.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from dlkit.grading.jobspec import NotebookJob, job_spec, notebook_env, zygote_env
from dlkit.grading.progress import (
    ActiveNotebook,
    complete,
    ended_in_cell,
    fresh_result,
    record_cell,
    record_output,
    where,
)
from dlkit.grading.results import NotebookResult
from dlkit.grading.sandbox import (
    SCRATCH,
    Limits,
    descendant_count,
    detect_isolation,
    machine_slot,
)
from dlkit.grading.workdir import make_workdir, remove_workdir

ZYGOTE_START_TIMEOUT = 300.0
KILL_GRACE = 10.0  # after SIGKILL, how long to wait for the pipes to close


class GraderError(RuntimeError):
    """The grader itself cannot run (not a submission's fault)."""


class Runner:
    """A pool of sandboxed notebook processes forked from one warm worker (chapter 00)."""

    def __init__(
        self,
        *,
        jobs: int = 0,
        limits: Limits | None = None,
        warm_modules: Iterable[str] = (),
        isolation: str = "auto",
        seed: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        if jobs < 0:
            raise ValueError(f"expected jobs >= 0 (0 means one per core), got {jobs}")
        self.jobs = jobs or os.cpu_count() or 1
        self.limits = limits or Limits()
        self.warm_modules = list(dict.fromkeys(["numpy", *warm_modules]))
        self.isolation, self.warning = detect_isolation(isolation)
        self.seed = seed
        self.extra_env = dict(env or {})
        self.workdir = make_workdir("run")
        self._zygote: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._counter = 0
        self._pending: socket.socket | None = None
        self._selector: selectors.BaseSelector = selectors.DefaultSelector()

    # -- the warm worker -------------------------------------------------------------------
    def __enter__(self) -> Runner:
        self.start()
        return self

    def spawn(self) -> None:
        """Start the zygote without waiting: its imports overlap the caller's own work."""
        if self._pending is None and self._sock is None:
            self._pending = self._spawn()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the zygote (unless ``spawn`` did) and wait until its imports are done."""
        if self._sock is not None:
            return
        parent = self._pending or self._spawn()
        self._pending = None
        parent.settimeout(ZYGOTE_START_TIMEOUT)
        try:
            hello = parent.recv(65536)
        except (TimeoutError, OSError) as error:
            hello = b""
            reason = str(error)
        else:
            reason = "it exited"
        if not hello:
            parent.close()
            self.close()
            raise GraderError(
                f"the grading worker did not start ({reason}); log: {self.log_tail()}"
            )
        parent.settimeout(None)
        self._sock = parent

    def _spawn(self) -> socket.socket:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = zygote_env(self.seed, self.workdir)
        log = open(os.path.join(self.workdir, "zygote.log"), "wb")
        command = [
            sys.executable,
            "-m",
            "dlkit.grading.zygote",
            str(child.fileno()),
            json.dumps(self.warm_modules),
        ]
        self._zygote = subprocess.Popen(
            command,
            pass_fds=[child.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        child.close()
        return parent

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.workdir, "zygote.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop the zygote and remove the work directory."""
        for sock in (self._sock, self._pending):
            if sock is not None:
                sock.close()
        self._sock = self._pending = None
        if self._zygote is not None:
            self._zygote.kill()  # it holds no state worth a clean exit; its workers die with it
            self._zygote.wait()
            self._zygote = None
        remove_workdir(self.workdir)

    # -- scheduling ------------------------------------------------------------------------
    def run(
        self, jobs: Iterable[NotebookJob], on_result: Callable[[NotebookJob, NotebookResult], None]
    ) -> None:
        """Grade every job, up to ``self.jobs`` at a time; ``on_result`` sees each as it ends."""
        if self._sock is None:
            raise GraderError("the runner is not started: use it as a context manager")
        pending = deque(jobs)
        active: dict[int, ActiveNotebook] = {}
        free_slots = list(range(self.jobs))
        selector = self._selector = selectors.DefaultSelector()
        try:
            while pending or active:
                while pending and free_slots:
                    run = self._launch(pending.popleft(), free_slots.pop(0), selector)
                    active[id(run)] = run
                timeout = max(
                    0.0, min(self._next_deadline(r) for r in active.values()) - time.monotonic()
                )
                for key, _ in selector.select(timeout=min(timeout, 1.0)):
                    self._on_readable(key.data, key.fd, selector)
                now = time.monotonic()
                for run_id, run in list(active.items()):
                    self._check_time(run, now)
                    if not run.streams:
                        del active[run_id]
                        free_slots.append(run.slot)
                        self._finish(run)
                        on_result(run.job, run.result)
                if self._zygote is not None and self._zygote.poll() is not None:
                    raise GraderError(f"the grading worker died; log: {self.log_tail()}")
        finally:
            for run in active.values():
                self._kill(run, "the grader stopped")
                for fd in list(run.streams):
                    os.close(fd)
            selector.close()

    def _launch(
        self, job: NotebookJob, slot: int, selector: selectors.BaseSelector
    ) -> ActiveNotebook:
        self._counter += 1
        scratch = SCRATCH
        if self.isolation == "none":
            scratch = os.path.join(self.workdir, f"scratch-{self._counter}")
            os.makedirs(scratch)
        spec = job_spec(job, slot=machine_slot(os.getpid(), slot), isolation=self.isolation, limits=self.limits,
                        env=notebook_env(self.seed, scratch, self.extra_env), seed=self.seed)
        job_file = os.path.join(self.workdir, f"job-{self._counter}.json")
        with open(job_file, "w") as f:
            json.dump(spec, f)
        cmd_r, cmd_w = os.pipe2(os.O_CLOEXEC)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        request = json.dumps({"job": job_file}).encode()
        assert self._sock is not None
        socket.send_fds(self._sock, [request], [cmd_r, res_w, out_w, status_w])
        for fd in (cmd_r, res_w, out_w, status_w):
            os.close(fd)
        now = time.monotonic()
        run = ActiveNotebook(
            job,
            slot,
            fresh_result(job.notebook, job.plan),
            cmd_w,
            {res_r: "res", out_r: "out", status_r: "status"},
            started=now,
            deadline=now + self.limits.notebook_timeout,
            cell_deadline=now + self.limits.cell_timeout + 30.0,
            scratch=scratch,
        )
        for fd in run.streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, run)
        return run

    # -- events ----------------------------------------------------------------------------
    def _on_readable(self, run: ActiveNotebook, fd: int, selector: selectors.BaseSelector) -> None:
        name = run.streams[fd]
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            selector.unregister(fd)
            os.close(fd)
            del run.streams[fd]
            return
        if name == "out":
            self._on_output(run, data)
            return
        run.buffers[name] += data
        while b"\n" in run.buffers[name]:
            line, run.buffers[name] = run.buffers[name].split(b"\n", 1)
            if run.killed_at is not None:
                continue
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._tampered(run, "a line on the result channel was not the grader's")
                return
            if name == "status":
                self._on_status(run, message)
            else:
                self._on_reply(run, message)

    def _drain_output(self, run: ActiveNotebook) -> None:
        for fd, name in list(run.streams.items()):
            if name != "out":
                continue
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    return
                if not data:
                    return  # EOF: the selector sees it too and closes the pipe
                self._on_output(run, data)

    def _on_output(self, run: ActiveNotebook, data: bytes) -> None:
        record_output(run, data)
        if run.output_bytes > self.limits.output and run.killed_at is None:
            run.result.fail(
                "output-flood",
                f"output flood: printed more than {self.limits.output >> 10} KiB{where(run)}",
            )
            self._kill(run)

    def _on_status(self, run: ActiveNotebook, message: dict[str, Any]) -> None:
        if "setup_error" in message:
            run.result.fail("sandbox", f"the sandbox could not start: {message['setup_error']}")
        if "notebook" in message:
            run.notebook_pid = int(message["notebook"])
            if run.kill_pending:
                self._kill(run)
        if "exit" in message:
            run.exit_code = int(message["exit"])

    def _on_reply(self, run: ActiveNotebook, message: dict[str, Any]) -> None:
        if "setup_error" in message and not run.ready:
            run.result.fail("sandbox", f"the sandbox could not start: {message['setup_error']}")
            return
        if message.get("ready") is True and not run.ready:
            run.ready = True
            self._next_cell(run)
            return
        self._drain_output(run)  # output written before this reply belongs to this cell
        if (
            run.nonce is None
            or message.get("nonce") != run.nonce
            or message.get("index") != run.current
        ):
            self._tampered(run, "a forged or unexpected result reached the grader")
            return
        assert run.current is not None
        run.nonce = None
        if "tampered" in message:  # the tester caught the student process breaking the protocol
            self._tampered(run, str(message["tampered"])[:500])
            return
        if "student_exit" in message:  # the student process ended while running this cell
            code = message["student_exit"]
            ended_in_cell(run, code if type(code) is int else None)
            self._kill(run)
            return
        record_cell(run, message)
        if run.result.fatal:
            self._kill(run)
        else:
            self._next_cell(run)

    def _next_cell(self, run: ActiveNotebook) -> None:
        start = -1 if run.current is None else run.current
        following = [
            i for i in range(start + 1, len(run.job.plan.cells)) if run.job.plan.cells[i].runs
        ]
        if not following:
            run.current = None
            os.close(run.cmd_w)  # end of notebook: the process exits on EOF
            run.cmd_w = -1
            run.cell_deadline = time.monotonic() + KILL_GRACE
            return
        run.current = following[0]
        run.nonce = secrets.token_hex(16)
        run.cell_deadline = time.monotonic() + self.limits.cell_timeout
        message: dict[str, Any] = {"op": "run", "index": run.current, "nonce": run.nonce}
        planned = run.job.plan.cells[run.current]
        if planned.role == "test":
            message["source"] = planned.source
            message["hidden_lines"] = sorted(planned.trusted.hidden_lines) if planned.trusted else []
        command = (json.dumps(message) + "\n").encode()
        try:
            # the tester is waiting for exactly this command, so it drains the pipe at once
            while command:
                command = command[os.write(run.cmd_w, command) :]
        except OSError:
            pass  # the process is gone; the status pipe will say how

    # -- ending ----------------------------------------------------------------------------
    def _tampered(self, run: ActiveNotebook, why: str) -> None:
        run.result.fail("tampering", f"tampering: {why}{where(run)}")
        self._kill(run)

    def _next_deadline(self, run: ActiveNotebook) -> float:
        if run.killed_at is not None:
            return run.killed_at + KILL_GRACE
        return min(run.deadline, run.cell_deadline)

    def _check_time(self, run: ActiveNotebook, now: float) -> None:
        if run.killed_at is not None:
            if now > run.killed_at + KILL_GRACE:  # something still holds a pipe: stop waiting
                for fd in list(run.streams):
                    self._selector.unregister(fd)
                    os.close(fd)
                run.streams.clear()
            return
        if now > run.deadline:
            what, limit = "the notebook", self.limits.notebook_timeout
        elif now > run.cell_deadline:
            what, limit = "a cell", self.limits.cell_timeout
        else:
            return
        running = descendant_count(run.notebook_pid) if run.notebook_pid else 0
        if running >= self.limits.processes // 2:
            # A fork bomb whose copies die as fast as they start may never see EAGAIN in the
            # process that runs the cell: the crowd at the deadline names the cause instead.
            run.result.fail(
                "process-limit",
                f"process limit exceeded: too many processes ({running} running when the time "
                f"limit of {limit:g} s came){where(run)}",
            )
        else:
            run.result.fail(
                "timeout", f"time limit: {what} ran longer than {limit:g} s{where(run)}"
            )
        self._kill(run)

    def _kill(self, run: ActiveNotebook, reason: str | None = None) -> None:
        if reason:
            run.result.fail("sandbox", reason)
        if run.killed_at is None:
            run.killed_at = time.monotonic()
        if run.notebook_pid is None:
            run.kill_pending = True
            return
        for kill in (os.kill, os.killpg):  # killpg: "none" isolation, where PID 1 tricks are absent
            try:
                kill(run.notebook_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _finish(self, run: ActiveNotebook) -> None:
        """The process is gone: close its command pipe, complete its result, drop its scratch."""
        if run.cmd_w >= 0:
            os.close(run.cmd_w)
            run.cmd_w = -1
        complete(run)
        if run.scratch and run.scratch.startswith(self.workdir):
            shutil.rmtree(run.scratch, ignore_errors=True)
