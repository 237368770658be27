"""What a test hands to student code crosses by value, never as a live object (chapter 00).

The tester never exports a handle: the student process could otherwise walk a passed object's
attributes (``gi_frame.f_builtins``, ``bit_generator.ctypes``, ``__globals__``) into the tester.
Besides plain data (``codec``), these cross as a description the receiver rebuilds:

* a NumPy ``Generator`` as its bit generator's name and state; a ``torch.Generator`` as its
  state bytes. After a call, the student's copy's state comes back and is set on the test's own
  generator, so a test that draws after the student did sees what nbgrader would show;
* a library function or class (``np.tanh``, ``torch.relu``, ``F.relu``, ``np.float32``) by its
  importable name, checked on the sending side to name exactly that object;
* NumPy and torch dtypes, torch devices, ``slice``, ``range`` and ``Ellipsis``;
* a module by its name, and a function the trusted cells defined (``lambda z: z`` in a test,
  a setup cell's helper) as its code, with its defaults, closure and the globals it names all
  by value. The student process may call it, read it, change its copy: the tester runs nothing.

Anything else a test passes fails the test with ``LabDesignError``: the lab must pass data.
"""

from __future__ import annotations

import dis
import importlib
import marshal
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from dlkit.grading.codec import ProtocolError

BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
TAGS = (
    "npgen", "torchgen", "lib", "module", "function", "npdtype", "torchdtype", "device", "slice",
    "range", "ellipsis",
)  # fmt: skip
# Rebuilt only in the student process: the tester never turns what the student sent into one
# of its own callables or modules.
TESTER_TO_STUDENT_ONLY = ("lib", "module", "function")
# guard.GUARD_NAME (not imported: guard imports remote, which imports this): a test cell's
# functions call it around comparisons; their copy in the student process gets a pass-through.
_GUARD_NAME = "__dlkit_guard__"
_GLOBAL_OPS = frozenset(("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME", "STORE_NAME",
                         "DELETE_NAME", "LOAD_FROM_DICT_OR_GLOBALS"))
_LIBRARY_TYPES = (types.BuiltinFunctionType, types.FunctionType, np.ufunc, type)


class LabDesignError(TypeError):
    """A test passed student code something that cannot cross by value (a lab to fix)."""


Encode = Callable[[object], list[Any]]
Decode = Callable[[object], Any]


def _torch() -> Any:
    return sys.modules.get("torch")


def _library_name(value: object) -> tuple[str, str] | None:
    """``(module, attribute path)`` that imports exactly ``value``, or None."""
    if not isinstance(value, _LIBRARY_TYPES) or isinstance(value, types.MethodType):
        return None
    module = getattr(value, "__module__", None)
    if type(module) is not str or module == "__main__" or module not in sys.modules:
        return None
    for path in dict.fromkeys((getattr(value, "__qualname__", None), getattr(value, "__name__", None))):
        if type(path) is str and "<" not in path and _resolve(module, path) is value:
            return module, path
    return None


def _resolve(module: str, path: str) -> object:
    try:
        target: object = importlib.import_module(module)
        for part in path.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return target


def encode(value: object, encode_data: Encode, *, libraries: bool) -> list[Any] | None:
    """The by-value description of ``value``, or None if it has none (chapter 00)."""
    kind = type(value)
    torch = _torch()
    if kind is np.random.Generator:
        return ["npgen", encode_data(value.bit_generator.state)]  # type: ignore[attr-defined]
    if torch is not None and kind is torch.Generator and value.device.type == "cpu":  # type: ignore[attr-defined]
        return ["torchgen", encode_data(value.get_state().numpy())]  # type: ignore[attr-defined]
    if isinstance(value, np.dtype) and value.kind in "biufc" and not value.fields:
        return ["npdtype", value.str]
    if torch is not None and kind is torch.dtype:
        return ["torchdtype", str(value).removeprefix("torch.")]
    if torch is not None and kind is torch.device:
        return ["device", str(value)]
    if kind is slice:
        return ["slice", [encode_data(v) for v in (value.start, value.stop, value.step)]]  # type: ignore[attr-defined]
    if kind is range:
        return ["range", [value.start, value.stop, value.step]]  # type: ignore[attr-defined]
    if value is Ellipsis:
        return ["ellipsis"]
    if libraries:
        name = _library_name(value)
        if name is not None:
            return ["lib", *name]
        if isinstance(value, types.ModuleType) and sys.modules.get(value.__name__) is value:
            return ["module", value.__name__]
        if kind is types.FunctionType:  # every function in the tester is trusted code
            return _function(value, encode_data)  # type: ignore[arg-type]
    return None


def _global_names(code: types.CodeType) -> set[str]:
    """The global names ``code`` (and the code nested in it) reads or writes.

    Not ``co_names``: that also lists attribute names, and ``t.expected`` would ship the
    test's own global ``expected`` (a hidden test's answer) to the student process.
    """
    names = {i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_OPS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _function(fn: types.FunctionType, encode_data: Encode) -> list[Any]:
    scope = fn.__globals__
    skip = ("__builtins__", _GUARD_NAME)
    used = {n: scope[n] for n in sorted(_global_names(fn.__code__)) if n in scope and n not in skip}
    closure = [c.cell_contents for c in fn.__closure__ or ()]
    return [
        "function",
        encode_data(marshal.dumps(fn.__code__)),
        encode_data(fn.__name__),
        encode_data(used),
        encode_data(fn.__defaults__),
        encode_data(fn.__kwdefaults__),
        encode_data(closure),
    ]


def decode(tag: str, args: list[Any], decode_data: Decode, *, libraries: bool) -> object:
    """Rebuild a by-value description as the receiver's own object (chapter 00)."""
    if tag == "npgen" and len(args) == 1:
        return _numpy_generator(decode_data(args[0]))
    if tag == "torchgen" and len(args) == 1:
        return _torch_generator(decode_data(args[0]))
    if tag == "npdtype" and len(args) == 1 and type(args[0]) is str and len(args[0]) <= 8:
        try:
            dtype = np.dtype(args[0])
        except TypeError as error:
            raise ProtocolError("expected a NumPy dtype") from error
        if dtype.kind in "biufc" and not dtype.fields:
            return dtype
    if tag == "torchdtype" and len(args) == 1 and type(args[0]) is str:
        dtype = getattr(_import_torch(), args[0], None) if args[0].isidentifier() else None
        if type(dtype).__name__ == "dtype":
            return dtype
    if tag == "device" and len(args) == 1 and type(args[0]) is str and len(args[0]) <= 16:
        try:
            return _import_torch().device(args[0])
        except (RuntimeError, ValueError) as error:
            raise ProtocolError("expected a torch device") from error
    if tag == "slice" and len(args) == 1 and type(args[0]) is list and len(args[0]) == 3:
        parts = [decode_data(v) for v in args[0]]
        if all(p is None or type(p) is int for p in parts):
            return slice(*parts)
    if tag == "range" and len(args) == 1 and type(args[0]) is list and len(args[0]) == 3:
        if all(type(v) is int for v in args[0]) and args[0][2] != 0:
            return range(*args[0])
    if tag == "ellipsis" and not args:
        return Ellipsis
    if tag == "module" and libraries and len(args) == 1 and type(args[0]) is str:
        try:
            return importlib.import_module(args[0])
        except ImportError as error:
            raise LabDesignError(f"the test passed module {args[0]}, which cannot be imported here") from error
    if tag == "function" and libraries and len(args) == 6:
        return _rebuild_function(*(decode_data(a) for a in args))
    if tag == "lib" and libraries and len(args) == 2 and all(type(a) is str for a in args):
        found = _resolve(args[0], args[1])
        if found is not None:
            return found
        raise LabDesignError(f"the test passed {args[0]}.{args[1]}, which this process cannot import")
    raise ProtocolError("expected a well-formed value")


def _rebuild_function(code: object, name: object, scope: object, defaults: object,
                      kwdefaults: object, closure: object) -> types.FunctionType:
    """The test's function, rebuilt here (the student process) from what the tester sent."""
    import builtins

    if type(code) is not bytes or type(name) is not str or type(scope) is not dict:
        raise ProtocolError("expected a function's code, name and globals")
    compiled = marshal.loads(code)  # the tester's own code: loaded here, never in the tester
    if not isinstance(compiled, types.CodeType) or type(closure) is not list:
        raise ProtocolError("expected a function's code")
    cells = tuple(types.CellType(v) for v in closure)
    scope = {**scope, "__builtins__": builtins, _GUARD_NAME: _pass_through}
    fn = types.FunctionType(compiled, scope, name,
                            defaults if type(defaults) is tuple else None, cells or None)
    fn.__kwdefaults__ = kwdefaults if type(kwdefaults) is dict else None
    return fn


def _pass_through(value: object, kind: str) -> object:
    return value


def _import_torch() -> Any:
    return _torch() or importlib.import_module("torch")


def _numpy_generator(state: object) -> np.random.Generator:
    if type(state) is not dict or state.get("bit_generator") not in BIT_GENERATORS:
        raise ProtocolError("expected the state of a NumPy bit generator")
    bit_generator = getattr(np.random, state["bit_generator"])()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ProtocolError("expected the state of a NumPy bit generator") from error
    return np.random.Generator(bit_generator)


def _torch_generator(state: object) -> Any:
    torch = _import_torch()
    if type(state) is not np.ndarray or state.dtype != np.uint8 or state.ndim != 1:
        raise ProtocolError("expected a torch generator's state bytes")
    generator = torch.Generator()
    try:
        generator.set_state(torch.from_numpy(state.copy()))
    except RuntimeError as error:
        raise ProtocolError("expected a torch generator's state bytes") from error
    return generator


def sync_generator(old: object, new: object) -> bool:
    """Copy the state of a rebuilt generator back into the test's own; True if it was one."""
    torch = _torch()
    if type(old) is np.random.Generator and type(new) is np.random.Generator:
        if type(old.bit_generator) is type(new.bit_generator):
            old.bit_generator.state = new.bit_generator.state
        return True
    if torch is not None and type(old) is torch.Generator and type(new) is torch.Generator:
        old.set_state(new.get_state())
        return True
    return False


def refuse(value: object) -> LabDesignError:
    """The error for a test that hands student code a live object (chapter 00)."""
    kind = type(value)
    return LabDesignError(
        f"lab design: the test passed student code a {kind.__module__}.{kind.__qualname__}, "
        "which cannot cross to the student process by value; tests may pass data (numbers, "
        "strings, arrays, tensors, lists, tuples, dicts), generators, dtypes, devices and "
        "library functions such as np.tanh, never their own objects or functions"
    )


__all__ = [
    "BIT_GENERATORS",
    "TAGS",
    "LabDesignError",
    "decode",
    "encode",
    "refuse",
    "sync_generator",
]
