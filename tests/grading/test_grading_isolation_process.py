"""One submission cannot touch the batch (issue 8, items 5 and 6).

* SysV shared memory, message queues and semaphores (0666) one student creates are not visible
  to the next student and do not outlive the batch; POSIX shared memory neither; the host
  name is the sandbox's own; a huge segment is refused (it would escape the memory limit).
* Signals to the process group, to every process, to guessed pids and groups reach only the
  sender's own sandbox: the grader, the zygote and the other sandboxes carry on, at every
  isolation level (root, user namespace, and the rlimit-only fallback for group signals).
* The grader's temporary folders go when it is stopped (SIGTERM, SIGINT) and, after SIGKILL,
  the zygote dies with it and the next grader sweeps the folders left behind.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from grading_helpers import (
    attack_batch,
    copy_course,
    dlkit_command,
    printed,
    processes_running,
    submit,
    unprivileged,
    write_attacks,
)

from dlkit.grading.sandbox import Limits, detect_isolation
from dlkit.grading.workdir import make_workdir, remove_workdir, sweep_stale

KEY = random.randrange(0x10000, 0x7FFFFFFF)
IPC = f"""import ctypes, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY, CREATE = {KEY}, 0o1000 | 0o666
"""
IPC_ATTACKS = {
    "ipc-1-make": IPC + """shm = libc.shmget(KEY, 4096, CREATE)
ctypes.memmove(libc.shmat(shm, None, 0), b"SECRET", 6)
msg = libc.msgget(KEY, CREATE)
libc.msgsnd(msg, struct.pack("l", 1) + b"SECRET", 6, 0)
sem = libc.semget(KEY, 1, CREATE)
with open("/dev/shm/dlkit-secret", "w") as f:
    f.write("SECRET")
print("MADE", shm >= 0, msg >= 0, sem >= 0, libc.shmget(KEY, 0, 0) == shm)
print("BIG", libc.shmget(KEY + 1, 1 << 30, CREATE))
print("HOST", socket.gethostname())
""",
    "ipc-2-seek": IPC + """print("SEEN", libc.shmget(KEY, 0, 0), libc.msgget(KEY, 0), libc.semget(KEY, 0, 0),
      os.path.exists("/dev/shm/dlkit-secret"))
print("LISTED", sum(len(open(f"/proc/sysvipc/{kind}").readlines()) - 1
                   for kind in ("shm", "msg", "sem")))
print("RENAMED", ctypes.CDLL(None).sethostname(b"pwned", 5), socket.gethostname())
""",
}
# Every way to signal beyond one's own process: each must reach only its own sandbox.
SIGNALS = "import os, signal, time\n"
GROUP_ATTACKS = {
    "kill-group-term": SIGNALS + "os.kill(0, signal.SIGTERM)\ntime.sleep(1)",
    "kill-group-kill": SIGNALS + "os.killpg(os.getpgid(0), signal.SIGKILL)",
    "kill-group-hup-int": SIGNALS + "os.kill(0, signal.SIGHUP)\nos.kill(0, signal.SIGINT)\n"
    "time.sleep(1)",
}
WIDE_ATTACKS = {
    "kill-everyone": SIGNALS + "os.kill(-1, signal.SIGTERM)\nos.kill(-1, signal.SIGKILL)",
    "kill-pids": SIGNALS + """for pid in [os.getppid(), *range(1, 4096)]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass""",
    "kill-groups": SIGNALS + """for group in range(1, 4096):
    if group != os.getpgid(0):
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass""",
}
# Without a PID namespace ("none") the wide signals are refused by a seccomp filter; probed
# with signal 0 (a permission check that sends nothing): a regression must not kill the host.
WIDE_PROBE = SIGNALS + """for name, call in (("everyone", lambda: os.kill(-1, 0)),
                   ("group 1", lambda: os.killpg(1, 0)),
                   ("parent's group", lambda: os.killpg(os.getpgid(os.getppid()), 0))):
    try:
        call()
        print(name, "allowed")
    except PermissionError:
        print(name, "refused")"""
# Honest students around them: one running (sleeping) while the attacks happen, one after.
HONEST = {
    "0-honest-busy": ("correct", "import time\ntime.sleep(6)"),
    "zz-honest-after": ("correct", "pass"),
}
FAST = Limits(cell_timeout=20, notebook_timeout=60, disk=32 << 20)


def _ipc_on_host() -> set[int]:
    keys = set()
    for kind in ("shm", "msg", "sem"):
        with open(f"/proc/sysvipc/{kind}") as f:
            keys |= {int(line.split()[0]) for line in f.readlines()[1:]}
    return keys


def _assert_ipc_contained(outputs: dict[str, str], level: str) -> None:
    made, seek = outputs["ipc-1-make"], outputs["ipc-2-seek"]
    assert "MADE True True True True" in made, made  # the attack itself works in a sandbox
    assert "HOST sandbox" in made, made
    if level == "root":
        assert "BIG -1" in made, made  # the namespace's segment size is capped
    assert "SEEN -1 -1 -1 False" in seek, seek
    assert "LISTED 0" in seek, seek
    assert "RENAMED -1 sandbox" in seek, seek
    assert KEY not in _ipc_on_host() and KEY + 1 not in _ipc_on_host()
    assert socket.gethostname() != "pwned"


def test_ipc_objects_are_private_and_die_with_the_sandbox_as_root(tmp_path: Path) -> None:
    level, _ = detect_isolation()
    if level != "root":
        pytest.skip(f"the grader is not root here (isolation {level!r})")
    results = attack_batch(tmp_path, IPC_ATTACKS, jobs=1, limits=FAST)
    _assert_ipc_contained({s: text for s, (_, text) in results.items()}, level)


def _grade_unprivileged(prefix: list[str], work: Path, jobs: int) -> dict[str, float]:
    course = copy_course(work)
    unprivileged(work)
    run = subprocess.run(
        [*prefix, *dlkit_command(), "grade", str(work / "submitted"), "--lab", "lab01",
         "--course", str(course), "--out", str(work / "out"), "--isolation", "userns",
         "--timeout", "20", "--quiet", "--jobs", str(jobs)],
        capture_output=True, text=True, timeout=600, start_new_session=True,
    )
    if run.returncode == 2 and "user namespaces" in run.stderr:
        pytest.skip(f"unprivileged user namespaces are not allowed here: {run.stderr.strip()}")
    assert run.returncode == 0, f"the grader died ({run.returncode}): {run.stderr[-3000:]}"
    with open(work / "out" / "grades.csv", newline="") as f:
        return {row["student"]: float(row["total"]) for row in csv.DictReader(f)}


def test_ipc_objects_are_private_in_a_user_namespace(unprivileged_grader) -> None:
    prefix, work = unprivileged_grader
    write_attacks(work / "submitted", IPC_ATTACKS)
    scores = _grade_unprivileged(prefix, work, jobs=1)
    assert set(scores) == set(IPC_ATTACKS)
    _assert_ipc_contained({s: printed(work / "course", s) for s in scores}, "userns")


def _assert_batch_survived(scores: dict[str, float], attacks: dict) -> None:
    assert set(scores) == set(attacks) | set(HONEST), "a student is missing from the results"
    for student in HONEST:
        assert scores[student] == 6.0, f"{student} lost points to a neighbour's signals"
    for student in attacks:
        assert scores[student] == 0.0, student


@pytest.mark.parametrize("level", ["root", "none"])
def test_signals_reach_only_the_senders_sandbox(tmp_path: Path, level: str) -> None:
    if level == "root" and detect_isolation()[0] != "root":
        pytest.skip("the grader is not root here")
    # Without namespaces a guessed pid could reach the grader: "none" is only for trusted
    # notebooks; its guarantee is its own process group, and kill(-1)/killpg refused.
    wide = WIDE_ATTACKS if level == "root" else {"probe-wide": WIDE_PROBE}
    attacks = {**GROUP_ATTACKS, **wide}
    results = attack_batch(tmp_path, {**attacks, **HONEST}, jobs=3, isolation=level, limits=FAST)
    _assert_batch_survived({s: r.score for s, (r, _) in results.items()}, attacks)
    if level == "none":
        probe = results["probe-wide"][1]
        for name in ("everyone", "group 1", "parent's group"):
            assert f"{name} refused" in probe, probe


def test_signals_reach_only_the_senders_sandbox_in_a_user_namespace(unprivileged_grader) -> None:
    prefix, work = unprivileged_grader
    attacks = {**GROUP_ATTACKS, **WIDE_ATTACKS}
    write_attacks(work / "submitted", {**attacks, **HONEST})
    _assert_batch_survived(_grade_unprivileged(prefix, work, jobs=3), attacks)


def _leftovers(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("dlkit-grade-*"))


def _processes_with(tmp: Path) -> list[int]:
    """Processes started with ``TMPDIR=tmp``: the grader, its zygote and workers."""
    needle = f"TMPDIR={tmp}\0".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def _start_grader(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    course = copy_course(tmp_path)
    submit(tmp_path / "submitted", "looper", "infinite-loop", course)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    grader = subprocess.Popen(
        [*dlkit_command(), "grade", str(tmp_path / "submitted"), "--lab", "lab01", "--course",
         str(course), "--out", str(tmp_path / "out"), "--timeout", "120", "--quiet"],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp.glob("dlkit-grade-run-*/job-1.json")):  # a sandbox is running
        assert grader.poll() is None, grader.stderr.read().decode() if grader.stderr else ""
        assert time.monotonic() < deadline, "the grader never started a sandbox"
        time.sleep(0.2)
    time.sleep(1.0)
    return grader, tmp


def _gone(tmp: Path, within: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within
    while _processes_with(tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _processes_with(tmp)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_grader_removes_its_temporary_folders(tmp_path: Path, signum: int) -> None:
    grader, tmp = _start_grader(tmp_path)
    assert _leftovers(tmp)
    grader.send_signal(signum)
    code = grader.wait(timeout=60)
    assert code != 0 and (signum != signal.SIGTERM or code == 128 + signum), code
    assert _leftovers(tmp) == []
    assert _gone(tmp) == [], "the zygote or a sandbox outlived the grader"


def test_after_sigkill_the_zygote_dies_and_the_next_grader_sweeps(tmp_path: Path) -> None:
    grader, tmp = _start_grader(tmp_path)
    grader.kill()
    grader.wait(timeout=60)
    assert _gone(tmp) == [], "the zygote or a sandbox outlived the killed grader"
    stale = _leftovers(tmp)
    assert stale, "SIGKILL leaves the folders behind: the sweep is what removes them"
    alive = Path(make_workdir("alive"))  # this process holds its lock: never swept
    try:
        swept = sweep_stale(str(tmp))
        assert sorted(map(Path, swept)) == stale and _leftovers(tmp) == []
        assert alive.is_dir() and str(alive) not in sweep_stale(str(alive.parent))
    finally:
        remove_workdir(str(alive))


HOLD_THE_PROCESS_CAP = """import subprocess, time
held = []
try:
    while True:  # as many processes as the sandbox allows, then keep them
        held.append(subprocess.Popen(["sleep", "41"]))
except OSError:
    pass
time.sleep(30)
"""


def _holders() -> int:
    return processes_running("sleep", "41")


@pytest.mark.skipif(detect_isolation()[0] != "root", reason="per-sandbox user ids need root")
def test_a_process_hog_in_one_grader_leaves_another_grader_its_processes(tmp_path: Path) -> None:
    """RLIMIT_NPROC counts every process of a uid: two graders at once (a class being graded,
    a learner's ``dlkit check``) must not share their sandboxes' uids (``machine_slot``)."""
    hog = tmp_path / "hog"
    course = copy_course(hog)
    write_attacks(hog / "submitted", {"hog": HOLD_THE_PROCESS_CAP}, "blank")
    grader = subprocess.Popen(
        [*dlkit_command(), "grade", str(hog / "submitted"), "--lab", "lab01", "--course", str(course),
         "--out", str(hog / "out"), "--jobs", "1", "--timeout", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _holders() < Limits().processes // 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _holders() >= Limits().processes // 2, "the hog never filled its process cap"
        beside = attack_batch(tmp_path / "beside", {"honest": ("correct", "x = 1")}, jobs=1)
        result, _ = beside["honest"]
        assert (result.score, result.status) == (6.0, "ok"), result.reason
    finally:
        grader.kill()
        grader.wait(timeout=60)
