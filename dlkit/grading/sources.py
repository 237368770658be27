"""Where ``inspect.getsource`` of a student function comes from in the tester (chapter 00).

Labs check an answer's source for forbidden calls (``assert_numpy_only(sigmoid)``). In the tester
``sigmoid`` is a ``remote.Remote``; its ``__wrapped__`` (which ``inspect`` follows) is a stand-in
function compiled here from the SUBMITTED cell text the grader sent, never from the student
process, and never called: defaults and decorators of the definition are not evaluated.
"""

from __future__ import annotations

import linecache
import types
from typing import Any

try:
    from IPython.core.inputtransformer2 import TransformerManager

    _TRANSFORMER: Any = TransformerManager()
except ImportError:  # without IPython, cells are plain Python
    _TRANSFORMER = None


class SourceBook:
    """The submitted text of the student cells run so far: ``inspect.getsource`` of a student
    function is served from it, never from the student process (chapter 00)."""

    def __init__(self) -> None:
        self.cells: dict[int, str] = {}
        self._code: dict[int, types.CodeType | None] = {}

    def add(self, index: int, source: str) -> None:
        self.cells.pop(index, None)
        self.cells[index] = source  # latest last: a later definition wins

    def find(self, meta: dict[str, Any]) -> object:
        """A never-called stand-in function whose code is the definition named in ``meta``."""
        qualname = meta.get("qualname")
        if type(qualname) is not str:
            return None
        for index in reversed(list(self.cells)):
            code = self._compiled(index)
            found = _find_code(code, qualname) if code is not None else None
            if found is not None:
                closure = tuple(types.CellType() for _ in found.co_freevars)
                return types.FunctionType(found, {"__name__": "__submission__"}, None, None, closure)
        return None

    def _compiled(self, index: int) -> types.CodeType | None:
        if index not in self._code:
            filename = f"<submitted-cell-{index}>"
            source = self.cells[index]
            try:
                if _TRANSFORMER is not None:
                    source = _TRANSFORMER.transform_cell(source)
                code: types.CodeType | None = compile(source, filename, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                code = None
            else:
                lines = source.splitlines(keepends=True)
                linecache.cache[filename] = (len(source), None, lines, filename)
            self._code[index] = code
        return self._code[index]


def _find_code(code: types.CodeType, qualname: str) -> types.CodeType | None:
    found = None
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_qualname == qualname:
                found = const
            found = _find_code(const, qualname) or found
    return found


__all__ = ["SourceBook"]
