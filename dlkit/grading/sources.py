"""Where ``inspect.getsource`` of a student function comes from in the tester (chapter 00).

Labs check an answer's source for forbidden calls (``assert_numpy_only(sigmoid)``). In the tester
``sigmoid`` is a ``remote.Remote``; its ``__wrapped__`` (which ``inspect`` follows) is a stand-in
function compiled here from the source of the object ACTUALLY BOUND in the student process
(``inspect.getsource`` there: the cell that last defined it, a lambda's line, the inner cell of
``%%capture``, a module written with ``%%writefile``), so a decoy ``def`` under ``if False:``
checks nothing. The stand-in is never called: its defaults and decorators are never evaluated.

The text comes from the student process, so it is only ever parsed, never shown in a hidden
test's feedback (``hidden_feedback``) and never run. A source check is a fairness rule for honest
work; code that hides a library call from an AST check is out of its scope by design.
"""

from __future__ import annotations

import itertools
import linecache
import textwrap
import types

_COUNTER = itertools.count()


def stand_in(source: object, qualname: object) -> types.FunctionType | None:
    """A never-called function whose code and ``inspect.getsource`` are ``source``'s first
    definition (``def``, ``class`` method or lambda), or None when it has none."""
    if type(source) is not str:
        return None
    text = textwrap.dedent(source)
    filename = f"<submitted-source-{next(_COUNTER)}>"
    try:
        code = compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    found = _first_function(code, qualname if type(qualname) is str else "")
    if found is None:
        return None
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    closure = tuple(types.CellType() for _ in found.co_freevars)
    return types.FunctionType(found, {"__name__": "__submission__"}, None, None, closure)


def _first_function(code: types.CodeType, qualname: str) -> types.CodeType | None:
    """The code named like ``qualname``'s last part, else the first function code in ``code``."""
    candidates = list(_functions(code))
    name = qualname.rsplit(".", 1)[-1]
    for candidate in candidates:
        if candidate.co_name == name:
            return candidate
    return candidates[0] if candidates else None


def _functions(code: types.CodeType) -> list[types.CodeType]:
    found = []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.append(const)
            found.extend(_functions(const))
    return found


__all__ = ["stand_in"]
