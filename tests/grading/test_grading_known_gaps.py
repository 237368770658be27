"""Attacks on grading trust from inside the submission: none may earn a point (issue 3).

Test cells run in a trusted tester process; the submission's cells run in a separate student
process that reaches the tester only through a data-only socket (``dlkit.grading.remote``). So
code that finds the harness with ``gc``, walks frames, answers the grader's commands, forges
replies on the socket, guesses handle ids, returns objects with hostile dunders or reads the
tester's memory gets nothing. Each attack is added to a BLANK submission (which scores 0), and
one to a CORRECT one, to show the attack itself is what is refused, not the submission.
"""

from __future__ import annotations

import nbformat
import pytest
from grading_helpers import SUBMISSIONS, copy_course

from dlkit.grading.grade import grade
from dlkit.grading.sandbox import Limits

PATCH_HARNESS = """import gc
for _o in gc.get_objects():
    if type(_o).__name__ == "Harness":
        _o.run_test = lambda cell, index: {"ok": True, "error": None, "hidden": False, "line": None}
"""
IMPERSONATE_HARNESS = """import gc, os, traceback
_h = next(o for o in gc.get_objects() if type(o).__name__ == "Harness")
# the command this cell runs under, which the harness would answer once the cell returned
_cmd = next(f.f_locals["command"] for f, _ in traceback.walk_stack(None) if "command" in f.f_locals)
while _cmd is not None:  # from now on answer every command as the harness would, all passed
    _h.send({"ok": True, "error": None, "exit_now": False, "hidden": False, "line": None,
             "index": _cmd["index"], "nonce": _cmd["nonce"]})
    _cmd = _h.receive()
os._exit(0)
"""
# The student functions themselves attack while a test calls them: they walk the frames and
# the heap for the test's globals and patch every checker they can find, then return garbage.
FRAME_WALK = """import gc, sys, math
import numpy as np
def _patch_everything():
    frame = sys._getframe()
    while frame is not None:
        for scope in (frame.f_globals, frame.f_locals):
            for value in list(scope.values()):
                if getattr(value, "__name__", "") in ("numpy", "math"):
                    value.allclose = lambda *a, **k: True
                    value.isclose = lambda *a, **k: True
        frame = frame.f_back
    for o in gc.get_objects():
        if isinstance(o, dict) and "__dlkit_guard__" in o:
            o["__dlkit_guard__"] = lambda value, kind: True
def square(x):
    _patch_everything()
    return [0, 0, 0]
def softmax(z):
    _patch_everything()
    return [0.0]
def mean(x):
    _patch_everything()
    return -1
"""
# Results whose dunders lie: an ndarray subclass equal to everything, an object whose
# __array__ gives the expected values, a float that claims to be the right mean.
HOSTILE_RESULTS = """import numpy as np
class Evil(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    def __array__(self, *args, **kwargs):
        return np.array([1.0, 4.0, 9.0])
class Liar:
    def __array__(self, *args, **kwargs):
        return np.array([1 / 3, 1 / 3, 1 / 3])
    def __float__(self):
        return 1.0
    def __eq__(self, other):
        return True
    def __bool__(self):
        return True
    __hash__ = object.__hash__
def square(x):
    return np.zeros(3).view(Evil)
def softmax(z):
    return Liar()
def mean(x):
    return Liar()
"""
# The student process finds its own end of the socket and talks to the tester directly:
# forged replies, made-up requests, guessed handle ids, an op only the tester may send.
SOCKET_FORGERY = """import gc
from dlkit.grading.codec import pack
_peer = next(o for o in gc.get_objects() if type(o).__name__ == "Peer")
for attempt in (
    lambda: _peer.request("run", index=3),
    lambda: _peer.request("call", target=1, values=[[], {}]),
    lambda: _peer.request("getattr", target=2, name="__globals__"),
):
    try:
        attempt()
    except Exception as error:
        print("refused:", type(error).__name__)
for rid in range(1, 40):  # replies for requests the tester never made, all "True"
    _peer.sock.sendall(pack({"reply": rid, "value": ["bool", True]}, []))
"""
# Read the tester's memory, ptrace it, or open its result pipe through /proc (its pid is our
# parent): the tester is not dumpable and the student process holds no capabilities.
TESTER_MEMORY = """import ctypes, os
try:
    with open(f"/proc/{os.getppid()}/mem", "rb") as _mem:
        _mem.read(1)
    print("tester memory: readable")
except OSError as error:
    print("tester memory: refused", type(error).__name__)
try:
    os.open(f"/proc/{os.getppid()}/fd/101", os.O_WRONLY)
    print("tester pipe: opened")
except OSError as error:
    print("tester pipe: refused", type(error).__name__)
_libc = ctypes.CDLL(None, use_errno=True)
print("ptrace:", "refused" if _libc.ptrace(16, os.getppid(), 0, 0) != 0 else "attached")
"""

# Look for the test cells' source (hidden tests included) anywhere in the student process.
FIND_TEST_SOURCE = """import gc
_needle = "softmax([" + "1000.0"  # from the hidden test; built here so this cell does not hold it
_found = [o for o in gc.get_objects() if type(o) is dict and o.get("role") == "test" and o.get("source")]
_found += [o for o in gc.get_objects() if type(o) is str and _needle in o and o is not _needle]
print("test source found:", len(_found))
"""

# The same search through raw memory: freed heap may still hold text the process once read.
SCAN_OWN_MEMORY = """import ctypes, re
_needle = ("softmax([" + "1000.0").encode()
_hits = 0
with open("/proc/self/maps") as _maps:
    for _line in _maps:
        _m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r\\S* [0-9a-f]+ [0-9a-f:]+ \\d+\\s*(.*)", _line)
        if not _m or _m.group(3).startswith("[v"):  # [vvar], [vsyscall]: not plain memory
            continue
        _start, _end = int(_m.group(1), 16), int(_m.group(2), 16)
        _hits += ctypes.string_at(_start, _end - _start).count(_needle)
print("test source in memory:", _hits - 1)  # minus this cell's own copy of the needle
"""


def _grade_with(tmp_path, fixture: str, attack: str, before_every_test: bool = False):
    """Grade ``fixture`` with ``attack`` as an extra cell: after the setup cell, or (to replace
    the student's functions for every test) right before each test cell."""
    course = copy_course(tmp_path)
    notebook = nbformat.read(str(SUBMISSIONS / f"{fixture}.ipynb"), as_version=4)
    if before_every_test:
        cells = []
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                cells.append(nbformat.v4.new_code_cell(attack))
            cells.append(cell)
        notebook.cells = cells
    else:
        notebook.cells.insert(2, nbformat.v4.new_code_cell(attack))
    folder = tmp_path / "submitted" / "mallory" / "lab01"
    folder.mkdir(parents=True)
    nbformat.write(notebook, str(folder / "lab01.ipynb"))
    (result,) = grade(tmp_path / "submitted", "lab01", course, jobs=1, out=tmp_path / "out",
                      limits=Limits(cell_timeout=4, notebook_timeout=30), progress=False,
                      log=lambda _: None)
    return result


@pytest.mark.parametrize(
    "attack",
    [PATCH_HARNESS, IMPERSONATE_HARNESS, SOCKET_FORGERY, TESTER_MEMORY],
    ids=["patch-harness", "impersonate", "socket-forgery", "tester-memory"],
)
def test_a_blank_submission_cannot_answer_for_the_harness(tmp_path, attack):
    result = _grade_with(tmp_path, "blank", attack)
    assert result.score == 0, f"a blank submission earned {result.score} by answering for the harness"


def test_student_functions_that_walk_frames_and_patch_checkers_earn_nothing(tmp_path):
    result = _grade_with(tmp_path, "blank", FRAME_WALK, before_every_test=True)
    assert result.score == 0, result.reason
    assert result.status == "ok", result.reason  # the tests ran and failed on their own checks
    assert "NotImplementedError" not in result.reason  # the attacking functions were the ones tested


def test_results_with_hostile_dunders_earn_nothing(tmp_path):
    result = _grade_with(tmp_path, "blank", HOSTILE_RESULTS, before_every_test=True)
    assert result.score == 0, result.reason
    assert "is defined in the notebook" in result.reason  # the always-equal result is named


# a frame whose JSON header nests deeper than the tester's parser can recurse: malformed, so
# forged; it crashed the tester before (graded "exit", code 4, as if the notebook had exited)
MALFORMED_FRAMES = """import gc, struct
_peer = next(o for o in gc.get_objects() if type(o).__name__ == "Peer")
_text = b"[" * 200_000 + b"]" * 200_000
_peer.sock.sendall(struct.pack("!II", len(_text), 0) + _text)
"""


@pytest.mark.parametrize("attack", [SOCKET_FORGERY, MALFORMED_FRAMES], ids=["forged-requests", "malformed-frame"])
def test_socket_forgery_is_reported_as_tampering(tmp_path, attack):
    result = _grade_with(tmp_path, "correct", attack)
    assert result.score == 0 and result.status == "tampering", result.reason
    assert "forged" in result.reason


def test_the_student_process_cannot_reach_the_testers_memory_or_pipes(tmp_path):
    result = _grade_with(tmp_path, "correct", TESTER_MEMORY)
    output = "".join(c.output for nb in result.notebooks for c in nb.cells)
    assert "tester memory: refused" in output, output
    assert "tester pipe: refused" in output and "ptrace: refused" in output, output
    assert result.score == 6.0, result.reason  # an honest submission is not hurt by the probe


def test_an_honest_submission_with_a_harmless_harness_probe_keeps_full_marks(tmp_path):
    result = _grade_with(tmp_path, "correct", PATCH_HARNESS)
    assert result.score == 6.0, result.reason


def test_the_student_process_never_holds_the_test_cells(tmp_path):
    result = _grade_with(tmp_path, "correct", FIND_TEST_SOURCE)
    output = "".join(c.output for nb in result.notebooks for c in nb.cells)
    assert "test source found: 0" in output, output
    assert result.score == 6.0, result.reason


def test_the_student_process_memory_never_held_the_test_cells(tmp_path):
    result = _grade_with(tmp_path, "correct", SCAN_OWN_MEMORY)
    output = "".join(c.output for nb in result.notebooks for c in nb.cells)
    assert "test source in memory: 0" in output, output
    assert result.score == 6.0, result.reason
