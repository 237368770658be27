"""Known gaps in grading trust, kept as strict expected failures until they are closed.

Student code runs in the same Python process as the harness that reports verdicts, so it can
reach the harness (``gc``, frames) and answer for it. The fix planned in issue 3 is to run the
test cells in a separate trusted process that sees the student's functions only through a
data-only channel. When that lands these tests pass, and ``strict=True`` makes them fail as
a reminder to drop the marker.
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


@pytest.mark.xfail(strict=True, reason="issue 3: in-process code can answer for the harness")
@pytest.mark.parametrize("attack", [PATCH_HARNESS, IMPERSONATE_HARNESS], ids=["patch-harness", "impersonate"])
def test_a_blank_submission_cannot_answer_for_the_harness(tmp_path, attack):
    course = copy_course(tmp_path)
    blank = nbformat.read(str(SUBMISSIONS / "blank.ipynb"), as_version=4)
    blank.cells.insert(2, nbformat.v4.new_code_cell(attack))
    folder = tmp_path / "submitted" / "mallory" / "lab01"
    folder.mkdir(parents=True)
    nbformat.write(blank, str(folder / "lab01.ipynb"))
    (result,) = grade(tmp_path / "submitted", "lab01", course, jobs=1, out=tmp_path / "out",
                      limits=Limits(cell_timeout=4, notebook_timeout=30), progress=False, log=lambda _: None)
    assert result.score == 0, f"a blank submission earned {result.score} by answering for the harness"
