"""Keep a submission's code from fooling the trusted test cells (chapter 00, "how labs are graded").

Runs inside the notebook process. Before each test cell:

* ``TrustedState.restore`` puts back every library function, class and module that the
  submission rebound (``np.allclose = lambda *a, **k: True``, ``math.isclose``, builtins,
  ``sys.modules`` entries), clears trace/profile hooks;
* ``trusted_bindings`` rebinds the names the trusted cells imported or defined (``np``,
  ``expected``), so ``np = FakeNumpy()`` in a solution cell changes nothing;
* ``rewrite_test`` makes every comparison, truth test and call argument in the test cell go
  through ``check_value``, which refuses objects of notebook-defined classes that override
  comparison (the "always equal" object).
"""

from __future__ import annotations

import ast
import builtins
import gc
import importlib
import sys
import sysconfig
import threading
import types
from collections.abc import Iterable

from dlkit.grading.remote import remote_meta

_MISSING = object()
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes made at run time, by `class` or `type()`
_IMMUTABLE = (int, float, complex, bool, str, bytes, tuple, frozenset, type(None))
_SKIP_MODULES = {"__main__", "sys", "builtins"}  # user namespace; interpreter state we manage
COMPARISON_DUNDERS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__")
TRUTH_DUNDERS = ("__bool__", "__len__")
ARRAY_DUNDERS = ("__array_function__", "__array_ufunc__")
# Asking what something is never runs its comparison: these calls' arguments are not checked.
_INTROSPECTION_CALLS = {
    "isinstance",
    "issubclass",
    "type",
    "hasattr",
    "getattr",
    "callable",
    "id",
    "repr",
    "str",
    "print",
    "len",
    "iter",
    "next",
    "vars",
    "dir",
}
GUARD_NAME = "__dlkit_guard__"


class ForgedValueError(AssertionError):
    """A test compared an object whose class, defined in the notebook, overrides comparison."""


def _trusted_prefixes() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    return tuple(p.rstrip("/") + "/" for p in paths if p)


def _restorable(name: str, value: object) -> bool:
    if isinstance(value, (types.ModuleType, type)) or callable(value):
        return True
    return not name.startswith("_") and isinstance(value, _IMMUTABLE)


class TrustedState:
    """A snapshot of the interpreter taken before any submission code runs (chapter 00)."""

    def __init__(self, extra_trusted_dirs: Iterable[str] = ()) -> None:
        self.modules = {
            name: module
            for name, module in list(sys.modules.items())
            if isinstance(module, types.ModuleType) and name not in _SKIP_MODULES
        }
        self.module_dicts = {
            name: {k: v for k, v in vars(module).items() if _restorable(k, v)}
            for name, module in self.modules.items()
        }
        self.builtins = dict(vars(builtins))
        # Every class alive now is library code; classes made later may be the submission's.
        self.types = {id(o): o for o in gc.get_objects() if issubclass(type(o), type)}
        self.prefixes = _trusted_prefixes() + tuple(d.rstrip("/") + "/" for d in extra_trusted_dirs)

    def restore(self) -> None:
        """Undo the submission's rebinding of library attributes (chapter 00)."""
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
        current = vars(builtins)
        for key, value in self.builtins.items():
            if current.get(key, _MISSING) is not value:
                current[key] = value
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
            namespace = vars(module)
            for key, value in self.module_dicts[name].items():
                if namespace.get(key, _MISSING) is not value:
                    namespace[key] = value

    def is_trusted_type(self, cls: type) -> bool:
        if not cls.__flags__ & _HEAPTYPE:  # built into the interpreter or a C extension
            return True
        return self.types.get(id(cls)) is cls

    def _trusted_function(self, fn: object) -> bool:
        code = getattr(fn, "__code__", None)
        if code is None:
            return False
        return code.co_filename.startswith(self.prefixes)

    def forged_dunder(self, value: object, dunders: tuple[str, ...]) -> str | None:
        """The name of a dunder of ``value``'s class that notebook code defined, or None."""
        for cls in type(value).__mro__:
            if self.is_trusted_type(cls):
                continue
            for name in dunders:
                attr = cls.__dict__.get(name, _MISSING)
                if attr is _MISSING or attr is None:
                    continue
                if not self._trusted_function(attr):
                    return f"{cls.__qualname__}.{name}"
        return None


class Guard:
    """The callable that rewritten test cells call on each checked value (chapter 00)."""

    def __init__(self, state: TrustedState) -> None:
        self._state = state

    def __call__(self, value: object, kind: str) -> object:
        dunders = {
            "compare": COMPARISON_DUNDERS + ARRAY_DUNDERS,
            "truth": TRUTH_DUNDERS + COMPARISON_DUNDERS,
            "argument": COMPARISON_DUNDERS + ARRAY_DUNDERS,
        }[kind]
        forged = self._state.forged_dunder(value, dunders)
        class_name = type(value).__qualname__
        meta = remote_meta(value)
        if meta is not None and kind != "argument":  # a student object, seen through a handle
            forged = meta.get("forged") if type(meta.get("forged")) is str else None
            class_name = str(meta.get("type", "?"))
        if forged is not None:
            raise ForgedValueError(
                f"the test got an object of class {class_name!r} whose {forged} "
                "is defined in the notebook; return a plain number, array or tensor instead"
            )
        return value


def _guarded(node: ast.expr, kind: str) -> ast.expr:
    call = ast.Call(
        func=ast.Name(id=GUARD_NAME, ctx=ast.Load()),
        args=[node, ast.Constant(kind)],
        keywords=[],
    )
    return ast.copy_location(call, node)


class _TestRewriter(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        node.left = _guarded(node.left, "compare")
        node.comparators = [_guarded(c, "compare") for c in node.comparators]
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        self.generic_visit(node)
        node.test = _guarded(node.test, "truth")
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        node.values = [_guarded(v, "truth") for v in node.values]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            node.operand = _guarded(node.operand, "truth")
        return node

    def visit_If(self, node: ast.If) -> ast.stmt:
        self.generic_visit(node)
        node.test = _guarded(node.test, "truth")
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in _INTROSPECTION_CALLS | {GUARD_NAME}:
            return node
        node.args = [
            a if isinstance(a, ast.Starred) else _guarded(a, "argument") for a in node.args
        ]
        for keyword in node.keywords:
            keyword.value = _guarded(keyword.value, "argument")
        return node


def rewrite_test(source: str, filename: str) -> types.CodeType:
    """Compile a trusted test cell, every checked value passed through the guard (chapter 00)."""
    tree = ast.parse(source, filename=filename)
    tree = ast.fix_missing_locations(_TestRewriter().visit(tree))
    return compile(tree, filename, "exec")


def bound_names(source: str) -> tuple[dict[str, str], set[str]]:
    """Names a trusted cell binds: ``(imports, other)`` (chapter 00).

    ``imports`` maps a name to what it imports ("numpy", "numpy.testing:assert_allclose");
    ``other`` holds names it assigns or defines at top level.
    """
    imports: dict[str, str] = {}
    other: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return imports, other
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    imports[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name != "*":
                    imports[alias.asname or alias.name] = f"{node.module}:{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            for target in ast.walk(node):
                if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
                    other.add(target.id)
    return imports, other


def resolve_import(spec: str) -> object:
    """The real object an import names, after ``TrustedState.restore`` (chapter 00)."""
    module_name, _, attribute = spec.partition(":")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        return importlib.import_module(f"{module_name}.{attribute}")
