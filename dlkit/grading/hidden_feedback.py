"""What a hidden test's failure may say: only text the tester made from trusted data (chapter 00).

A hidden test hands its inputs to student code, which could carry them out in anything it
controls: a returned string or number, an exception's message or class name, an object's repr.
So a hidden failure's message is built from the TRUSTED SOURCE alone: the assertion's own message
as the instructor wrote it, every interpolated value replaced by ``…``, the ``name=`` label of
the failing check, and the exception's class when it is one of the tester's own builtins.
Learners see what was checked and why it failed, never the test's code, inputs or the values
their code produced. A leftover ``raise NotImplementedError()`` reads "not implemented yet".
"""

from __future__ import annotations

import ast
import builtins
import linecache
import traceback

from dlkit.grading.byvalue import LabDesignError

PLACEHOLDER = "…"
MAX_TEXT = 300
UNTRUSTED_FILES = ("<submitted-source-",)  # stand-ins compiled from student text


def not_implemented(error: BaseException) -> bool:
    return type(error) is NotImplementedError


def _trusted_class(error: BaseException) -> bool:
    """A builtin, or a class of dlkit's own: errors the student process reports are rebuilt as
    builtins or RuntimeError (``codec.rebuild_error``), so any other class was raised here."""
    cls = type(error)
    return getattr(builtins, cls.__name__, None) is cls or cls.__module__.startswith("dlkit.")


def class_name(error: BaseException) -> str:
    """The exception's class name when the tester's builtins or dlkit define it, else a neutral word."""
    return type(error).__name__ if _trusted_class(error) else "an error"


def trusted_summary(error: BaseException) -> str | None:
    """A dlkit check's fixed words for what failed (``CheckError.summary``), which carry no data."""
    summary = getattr(error, "summary", None) if _trusted_class(error) else None
    return summary if type(summary) is str else None


def template(node: ast.expr | None) -> str | None:
    """The literal text of a message expression, each computed part shown as ``…``."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else PLACEHOLDER
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template(node.left), template(node.right)
        return (left or PLACEHOLDER) + (right or PLACEHOLDER)
    return None


def _statement_at(tree: ast.AST, line: int) -> ast.stmt | None:
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if found is None or node.lineno >= found.lineno:
                found = node  # the innermost statement that spans the line
    return found


def _message_of(statement: ast.stmt | None) -> str | None:
    if isinstance(statement, ast.Assert):
        return template(statement.msg)
    if isinstance(statement, ast.Raise) and isinstance(statement.exc, ast.Call):
        return template(statement.exc.args[0]) if statement.exc.args else None
    return None


def _label_of(statement: ast.stmt | None, answers: frozenset[str], kind: str) -> str | None:
    """The ``name="..."`` of a check called in the statement (``compare(..., name=...)``), else
    which of the learner's own functions the statement called (their names are no secret)."""
    if statement is None:
        return None
    called = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    if isinstance(keyword.value.value, str):
                        return keyword.value.value
            if isinstance(node.func, ast.Name) and node.func.id in answers:
                called.append(node.func.id)
    return f"{kind} of {', '.join(dict.fromkeys(called))}" if called else None


def _parsed(filename: str, cache: dict[str, ast.AST | None]) -> ast.AST | None:
    if filename not in cache:
        try:
            cache[filename] = ast.parse("".join(linecache.getlines(filename)))
        except (SyntaxError, ValueError):
            cache[filename] = None
    return cache[filename]


def trusted_message(
    error: BaseException, test_source: str, test_filename: str, answers: frozenset[str] = frozenset(),
    in_hidden_part: bool = True,
) -> str:
    """A hidden failure's message, made only of the trusted source and the tester's own classes.

    ``answers``: the names the source's solution cells define (the learner's functions).
    ``in_hidden_part``: the failing line is a hidden test's; otherwise a visible check that ran
    after a hidden one, whose values are withheld all the same.
    """
    kind = "a hidden check" if in_hidden_part else "a check"
    if not_implemented(error):
        return "not implemented yet"
    if isinstance(error, LabDesignError):  # made here, about the test's own object: the lab's bug
        return str(error)[:500]
    cache: dict[str, ast.AST | None] = {}
    try:
        cache[test_filename] = ast.parse(test_source)
    except SyntaxError:
        cache[test_filename] = None
    label = message = None
    frames = list(traceback.walk_tb(error.__traceback__))
    for frame, line in reversed(frames):  # innermost first: the assertion that failed
        filename = frame.f_code.co_filename
        if filename.startswith(UNTRUSTED_FILES):
            continue
        tree = _parsed(filename, cache)
        statement = _statement_at(tree, line) if tree is not None else None
        if message is None:
            message = _message_of(statement)
        if filename == test_filename and label is None:
            label = _label_of(statement, answers, kind)
    message = trusted_summary(error) or message  # a library template is mostly placeholders
    parts = [p for p in (label, message) if p]
    text = ": ".join(parts) if parts else f"{kind} failed"
    return f"{text} ({class_name(error)})"[:MAX_TEXT]


def trusted_error_name(ename: object) -> str:
    """A reported exception name, kept only when it names one of the tester's builtins."""
    if type(ename) is str and isinstance(getattr(builtins, ename, None), type):
        return ename
    return "an error"


__all__ = ["PLACEHOLDER", "trusted_error_name", "trusted_message", "template"]
