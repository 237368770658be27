"""A hidden failure says what was checked, in the instructor's words, never a value (issue 8.3)."""

from __future__ import annotations

import pytest

from dlkit.grading.hidden_feedback import trusted_error_name, trusted_message

FILENAME = "<dlkit-test-7>"


def _fail(source: str, **names: object) -> BaseException:
    scope = {"__builtins__": __builtins__, **names}
    try:
        exec(compile(source, FILENAME, "exec"), scope)
    except BaseException as error:  # noqa: BLE001 (any failure of a test cell)
        return error
    raise AssertionError("the cell was expected to fail")


def _check(got, want, name):  # a trusted helper that builds its message from values
    if got != want:
        raise AssertionError(f"{name}: expected {want!r}, got {got!r}")


SECRET = "HIDDEN-INPUT-745"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("out = answer(x)\nassert out == 1, f'float32 in should give float32 out, got {out}'",
         "float32 in should give float32 out, got … (AssertionError)"),
        ("assert answer(x) == 1, 'the literal message' + str(answer(x))",
         "a hidden check of answer: the literal message… (AssertionError)"),
        ("check(answer(x), 1, name='sigmoid at extreme x')",
         "sigmoid at extreme x: …: expected …, got … (AssertionError)"),
        ("y = answer(x)\nassert y == 1", "a hidden check failed (AssertionError)"),
        ("assert answer(x) == 1, answer(x)", "a hidden check of answer (AssertionError)"),
        ("stub(x)", "not implemented yet"),
        ("raise_custom(x)", "a hidden check of raise_custom (an error)"),
    ],
)
def test_the_message_is_the_sources_text_with_every_value_left_out(source: str, expected: str) -> None:
    class Custom(Exception):  # a class the student's side could have named after the inputs
        pass

    def stub(x):
        raise NotImplementedError()

    def raise_custom(x):
        raise type(SECRET, (Exception,), {})(SECRET)

    error = _fail(source, answer=lambda x: SECRET, x=SECRET, check=_check, stub=stub,
                  raise_custom=raise_custom)
    answers = frozenset({"answer", "stub", "raise_custom"})
    message = trusted_message(error, source, FILENAME, answers)
    assert message == expected
    assert SECRET not in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("assert answer(x) == 1, answer(x)", "a check of answer (AssertionError)"),
        ("y = answer(x)\nassert y == 1", "a check failed (AssertionError)"),
    ],
)
def test_a_visible_check_after_a_hidden_one_is_not_called_hidden(source: str, expected: str) -> None:
    error = _fail(source, answer=lambda x: SECRET, x=SECRET)
    message = trusted_message(error, source, FILENAME, frozenset({"answer"}), in_hidden_part=False)
    assert message == expected and SECRET not in message


def test_only_builtin_exception_names_are_kept() -> None:
    assert trusted_error_name("ValueError") == "ValueError"
    assert trusted_error_name(SECRET) == trusted_error_name("print") == "an error"
    assert trusted_error_name(None) == "an error"


def test_a_lab_design_error_is_shown_whole_to_whoever_fixes_the_lab() -> None:
    from dlkit.grading.byvalue import refuse

    class Helper:  # a test's own object, passed to student code
        pass

    source = "raise refuse(Helper())"
    error = _fail(source, refuse=refuse, Helper=Helper)
    message = trusted_message(error, source, FILENAME)
    assert message.startswith("lab design: the test passed student code a ") and "Helper" in message


@pytest.mark.parametrize(
    ("got", "summary"),
    [
        (0.7451239, "values differ beyond the tolerance"),
        ([0.7451239, 1.0], "wrong shape"),
        (float("nan"), "NaN or inf where finite values were expected"),
        (None, "expected numbers"),
    ],
)
def test_a_failed_compare_says_which_kind_of_check_failed_and_no_value(got: object, summary: str) -> None:
    from dlkit.check import compare  # the labs' check, raised in the tester with its own class

    source = "compare(answer(x), 0.25, name='distillation loss at T = 4')"
    error = _fail(source, answer=lambda x: got, x=SECRET, compare=compare)
    message = trusted_message(error, source, FILENAME, frozenset({"answer"}))
    assert message == f"distillation loss at T = 4: {summary} (CheckError)"
    assert "0.745" not in message and "0.25" not in message
