"""`dlkit check` on the course's own labs, through the real CLI (issue 7 item 2).

Every worked solution earns its full visible score, every released blank earns zero (each task
"not implemented yet"), and a realistic partly-wrong lab per chapter earns exactly the points of
the tasks it got right. The partly-wrong labs are fixtures built by
``fixtures/check/build_check_fixtures.py`` (the released lab, solved, one function changed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from grading_helpers import FIXTURES

from dlkit.cli import main
from dlkit.grading.course import Course

REPO = Path(__file__).resolve().parents[2]
LABS = Course.load(REPO).labs()
ARGS = ["--timeout", "60"]

# fixture -> (the test cells that must fail, the visible score)
PARTLY_WRONG = {
    "lab01-naive-sigmoid-overflows": ({"sigmoid-tests"}, (16, 19)),  # overflow under strict_numerics
    "lab02-mse-broadcasts-mismatched-shapes": ({"mse-tests"}, (17, 19)),
    "lab03-wrong-tanh-backward": ({"elementwise_backward-tests"}, (17, 20)),
    "lab04-adam-without-bias-correction": ({"adam_step-tests"}, (13, 17)),
    "lab05-layernorm-over-the-batch-axis": ({"layernorm_forward-tests"}, (15, 18)),
    "lab06-label-smoothing-spreads-over-k-minus-1": ({"label_smoothing_cross_entropy-tests"}, (14, 17)),
    "lab07-box-area-with-the-pixel-plus-one": ({"iou_nms-tests"}, (13, 16)),
    "lab08-clips-each-gradient-on-its-own": ({"clip_grad_norm-tests"}, (16, 18)),
    "lab09-attention-without-sqrt-dk": ({"attention_forward-tests"}, (14, 18)),
    "lab10-penalty-at-the-real-points": ({"gradient_penalty-tests"}, (11, 15)),
    "lab11-accumulation-sums-the-micro-batch-means": ({"accumulated_step-tests"}, (15, 19)),
    "lab12-fgsm-steps-along-the-raw-gradient": ({"adversarial-tests"}, (14, 18)),
}


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict[str, str], tuple[int, int]]:
    code = main(["check", str(path), *ARGS])
    out = capsys.readouterr().out
    lines = {name: mark for mark, name in re.findall(r"^  ([✓✗]) (\S+) \(", out, flags=re.M)}
    score = re.search(r"visible score: (\d+) / (\d+)", out)
    assert score is not None, out
    return code, out, lines, (int(score[1]), int(score[2]))


@pytest.mark.parametrize("lab", LABS)
def test_a_worked_solution_earns_every_visible_point(lab: str, capsys) -> None:
    code, out, marks, (score, total) = _check(REPO / "solutions" / lab / f"{lab}.ipynb", capsys)
    assert code == 0 and score == total > 0, out
    assert marks and set(marks.values()) == {"✓"}, out
    assert "tampering" not in out and "Remote" not in out, out


@pytest.mark.parametrize("lab", LABS)
def test_a_released_blank_earns_zero_and_says_not_implemented(lab: str, capsys) -> None:
    code, out, marks, (score, total) = _check(REPO / "labs" / lab / f"{lab}.ipynb", capsys)
    assert code == 1 and score == 0 and total > 0, out
    assert set(marks.values()) == {"✗"}, out
    assert "not implemented yet" in out, out
    assert "Traceback" not in out and "compare.py" not in out, out


def test_the_fixtures_cover_every_chapter_with_a_lab() -> None:
    assert sorted(name[:5] for name in PARTLY_WRONG) == LABS


@pytest.mark.parametrize("fixture", sorted(PARTLY_WRONG))
def test_a_partly_wrong_lab_earns_exactly_its_right_tasks(fixture: str, capsys) -> None:
    failing, expected = PARTLY_WRONG[fixture]
    code, out, marks, score = _check(FIXTURES / "check" / f"{fixture}.ipynb", capsys)
    assert code == 1 and score == expected, out
    assert {name for name, mark in marks.items() if mark == "✗"} == failing, out
    assert len(out.splitlines()) == len(marks) + 2, out  # one line per task: no traceback


def test_saved_outputs_do_not_count_toward_the_size_limit(tmp_path: Path, capsys) -> None:
    import nbformat
    from grading_helpers import solved_release

    nb = solved_release("lab01")
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo" * 500_000})
    nb.cells[1].outputs = [figure]  # ~5.5 MiB of saved figure: over the 4 MiB default
    path = tmp_path / "lab01.ipynb"
    nbformat.write(nb, str(path))
    assert path.stat().st_size > 4 << 20
    code, out, _, score = _check(path, capsys)
    assert code == 0 and score == (19, 19), out
    assert main(["check", str(path), "--max-notebook-kb", "16"]) == 1
    out = capsys.readouterr().out
    assert "notebook too large" in out and "without its outputs, the limit is 16 KiB" in out, out
