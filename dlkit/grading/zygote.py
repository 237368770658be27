"""The warm worker: imports the lab's libraries once, forks one sandbox per notebook (chapter 00).

``python -m dlkit.grading.zygote SOCKET_FD MODULES_JSON`` is started by ``runner.Runner``. Process
start-up and ``import torch`` are paid here once; each submission then costs a ``fork``.

Per request (a JSON job file and four pipe ends passed over the Unix socket)::

    zygote ──fork──> worker (enters namespaces) ──fork──> tester (PID 1, confined)
                                                           └──fork──> student process

The worker reports the notebook's pid and, when it ends, its exit status on the status pipe;
the tester (``harness``) talks to the grader on the command and result pipes; the student
process (``student``) runs the submission's cells and has only a socket to the tester. Both
write to the output pipe, which the grader caps.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any

from dlkit.grading.guard import TrustedState
from dlkit.grading.harness import make_shell, run_notebook_process, seed_everything
from dlkit.grading.remote import Peer
from dlkit.grading.sandbox import Limits, SandboxSpec, confine, enter_namespaces, kill_descendants
from dlkit.grading.student import StudentProcess, drop_capabilities
from dlkit.grading.syscalls import PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl

FD_BASE = 100  # where the notebook process keeps its two channel ends, away from 0-2
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # as runner sends it


class Warm:
    """What every fork inherits: the IPython shell and the snapshot of the library state.

    The snapshot (every class and library attribute, before any submission runs) costs tens of
    milliseconds with torch loaded: taken once here, not twice per submission.
    """

    def __init__(self, shell: Any, trusted_dirs: list[str]) -> None:
        self.shell = shell
        self.trusted_dirs = trusted_dirs
        self.state = TrustedState(trusted_dirs)

    def state_for(self, job: dict[str, Any]) -> TrustedState:
        dirs = list(job.get("trusted_dirs", []))
        return self.state if dirs == self.trusted_dirs else TrustedState(dirs)


def warm_up(modules: list[str]) -> list[str]:
    """Import ``modules`` now so every fork starts with them loaded; returns those that failed."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException:  # a lab may import something missing: the notebook will say so
            failed.append(name)
    return failed


def _write_json(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _notebook_process(job: dict[str, Any], warm: Warm, fds: list[int]) -> None:
    cmd_r, res_w, out_w, status_w = fds
    os.close(status_w)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(cmd_r, FD_BASE)
    os.dup2(res_w, FD_BASE + 1)
    os.closerange(3, FD_BASE)
    os.closerange(FD_BASE + 2, 65536)
    try:
        spec = SandboxSpec(
            isolation=job["isolation"],
            slot=int(job["slot"]),
            limits=Limits(**job["limits"]),
            scratch_files=tuple((a, b) for a, b in job["scratch_files"]),
            env=dict(job["env"]),
        )
        confine(spec)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    except BaseException as error:
        _write_json(FD_BASE + 1, {"setup_error": f"{type(error).__name__}: {error}"})
        os._exit(3)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    tester_end, student_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        try:
            _student_process(job, warm, tester_end, student_end)
        except BaseException:
            traceback.print_exc()
            os._exit(4)
        os._exit(0)
    student_end.close()
    prctl(PR_SET_DUMPABLE, 0)  # the student process (same uid) may not ptrace us or read our memory
    peer = Peer(tester_end, trusted=True)
    run_notebook_process(job, warm.shell, FD_BASE, FD_BASE + 1, peer, pid, warm.state_for(job))


def _student_process(
    job: dict[str, Any], warm: Warm, tester_end: socket.socket, student_end: socket.socket
) -> None:
    """The student process: no channel to the grader, only its socket to the tester."""
    tester_end.close()
    os.setsid()  # its own process group: kill(0) from a submission cannot reach the tester
    os.close(FD_BASE)
    os.close(FD_BASE + 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    drop_capabilities()  # also under "none" run as root: no ptrace of the tester
    seed_everything(int(job.get("seed", 0)))
    StudentProcess(job["cells"], warm.shell, student_end, warm.state_for(job)).serve()


def _worker(request: dict[str, Any], warm: Warm, fds: list[int]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    status_w = fds[3]
    with open(request["job"]) as f:
        job = json.load(f)
    try:
        enter_namespaces(job["isolation"])
    except OSError as error:
        _write_json(status_w, {"setup_error": f"cannot isolate the notebook: {error}"})
        return
    pid = os.fork()
    if pid == 0:
        try:
            _notebook_process(job, warm, fds)
        except BaseException:  # stderr is the output pipe by now: the grader shows this
            traceback.print_exc()
            os._exit(4)
        os._exit(0)
    for fd in fds[:3]:
        os.close(fd)
    _write_json(status_w, {"worker": os.getpid(), "notebook": pid})
    _, status = os.waitpid(pid, 0)
    if job["isolation"] == "none":
        kill_descendants(os.getpid())
    _write_json(status_w, {"exit": os.waitstatus_to_exitcode(status)})


def serve(sock: socket.socket, warm: Warm) -> None:
    """Fork a worker per request until the grader closes the socket (chapter 00)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except ConnectionResetError:
            return
        if not message:
            return
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sock.close()
                _worker(request, warm, fds)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)


def main(argv: list[str]) -> int:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the grader died (even by SIGKILL): so do we
    sock = socket.socket(fileno=int(argv[0]))
    failed = warm_up(json.loads(argv[1]))
    warm = Warm(make_shell(), [PACKAGE_DIR])
    sock.sendall((json.dumps({"ready": True, "failed_imports": failed}) + "\n").encode())
    serve(sock, warm)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
