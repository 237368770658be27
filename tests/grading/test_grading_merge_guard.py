"""The trusted-source merge and the in-process guard, without a sandbox (fast, pure)."""

from __future__ import annotations

import copy
import math

import nbformat
import numpy as np
import pytest
from grading_helpers import FIXTURES, SUBMISSIONS
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.grading.course import Course, classify_cell
from dlkit.grading.guard import ForgedValueError, Guard, TrustedState, bound_names, rewrite_test
from dlkit.grading.merge import blank_sources, plan_notebook

SOURCE = Course.load(FIXTURES / "course").source_notebooks("lab01")[0]
BLANKS = blank_sources(SOURCE)


def _submission(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(SUBMISSIONS / f"{name}.ipynb"), as_version=4)


def _tests(plan) -> list[tuple[str, str, float]]:  # noqa: ANN001
    return [(c.grade_id, c.source, c.trusted.points) for c in plan.cells if c.role == "test"]


TRUSTED_TESTS = [(c.grade_id, c.source, c.points) for c in SOURCE.tests]


def test_source_model_reads_points_and_hidden_lines() -> None:
    assert [(g, p) for g, _, p in TRUSTED_TESTS] == [
        ("test_square", 2),
        ("test_softmax", 3),
        ("test_mean", 1),
    ]
    square = SOURCE.tests[0]
    assert "np.arange(5.0)" not in square.visible_source()
    assert "square([1, 2, 3])" in square.visible_source()
    assert SOURCE.max_points == 6


@pytest.mark.parametrize(
    "name",
    ["deleted-test-cell", "duplicated-test-cell", "changed-points-and-types", "correct", "blank"],
)
def test_tests_and_points_always_come_from_the_source(name: str) -> None:
    plan = plan_notebook(SOURCE, _submission(name), BLANKS)
    assert _tests(plan) == TRUSTED_TESTS


def test_answers_and_extra_cells_come_from_the_submission() -> None:
    plan = plan_notebook(SOURCE, _submission("noisy-correct"), BLANKS)
    student = [c.source for c in plan.cells if c.role == "student"]
    assert any("warnings.warn" in s for s in student)  # the learner's extra cell still runs
    assert any("def square" in s and "BEGIN SOLUTION" not in s for s in student)


def test_deleted_answer_cell_runs_the_released_stub() -> None:
    nb = _submission("correct")
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "mean"]
    plan = plan_notebook(SOURCE, nb, BLANKS)
    mean = next(c for c in plan.cells if c.grade_id == "mean")
    assert "NotImplementedError" in mean.source
    assert any("answer cell 'mean' was missing" in n for n in plan.notes)


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(len(_submission("correct").cells))), st.integers(0, 8))
def test_shuffling_or_dropping_cells_never_changes_the_tests(order: list[int], drop: int) -> None:
    nb = copy.deepcopy(_submission("correct"))
    cells = [nb.cells[i] for i in order]
    nb.cells = cells[: len(cells) - drop % (len(cells) + 1)]
    assert _tests(plan_notebook(SOURCE, nb, BLANKS)) == TRUSTED_TESTS


def test_classify_cell_ignores_untracked_cells() -> None:
    cell = nbformat.v4.new_code_cell("x = 1")
    assert classify_cell(cell).kind == "free"


def test_bound_names_finds_imports_and_assignments() -> None:
    imports, names = bound_names(
        "import numpy as np\nfrom math import isclose\nx, y = 1, 2\ndef f(): pass"
    )
    assert imports == {"np": "numpy", "isclose": "math:isclose"}
    assert names == {"x", "y", "f"}


def _run_guarded(source: str, namespace: dict) -> None:
    state = TrustedState()
    namespace["__dlkit_guard__"] = Guard(state)
    exec(rewrite_test(source, "<t>"), namespace)


def test_guard_refuses_an_always_equal_object() -> None:
    state = TrustedState()  # classes made after the snapshot are the submission's

    class AlwaysEqual:
        def __eq__(self, other: object) -> bool:
            return True

    with pytest.raises(ForgedValueError, match="AlwaysEqual.__eq__"):
        exec(
            rewrite_test("assert value == 2", "<t>"),
            {"value": AlwaysEqual(), "__dlkit_guard__": Guard(state)},
        )


def test_guard_accepts_plain_values_and_library_types() -> None:
    _run_guarded(
        "assert value == 2\nassert np.allclose(arr, [1, 2])\nassert not (arr == 0).any()",
        {"value": 2.0, "arr": np.array([1.0, 2.0]), "np": np},
    )


def test_guard_lets_a_wrong_answer_fail_normally() -> None:
    with pytest.raises(AssertionError) as info:
        _run_guarded("assert value == 3", {"value": 2})
    assert not isinstance(info.value, ForgedValueError)


def test_restore_undoes_monkeypatching() -> None:
    state = TrustedState()
    real_isclose, real_allclose, real_abs = math.isclose, np.allclose, abs
    try:
        math.isclose = lambda *a, **k: True
        np.allclose = lambda *a, **k: True
        import builtins

        builtins.abs = lambda x: 0
        state.restore()
        assert math.isclose is real_isclose and np.allclose is real_allclose
        assert builtins.abs is real_abs
    finally:
        math.isclose, np.allclose = real_isclose, real_allclose
        import builtins

        builtins.abs = real_abs
