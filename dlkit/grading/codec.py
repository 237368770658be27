"""Data-only encoding between the student process and the trusted tester (chapter 00).

What crosses the socket is JSON plus raw byte buffers: None, bool, int, float, complex, str,
bytes; list, tuple and dict of those; NumPy arrays and scalars of numeric or bool dtype; torch
tensors (with ``requires_grad`` and ``grad``); anything else as a handle (an integer id in the
sender's table). Decoding builds the receiver's own builtin, NumPy and torch objects and never
calls a method of a foreign object: no pickle, no ``__eq__``, no ``__array__``. Every size is
capped, so a hostile sender gets a clear error, not the receiver's memory.
"""

from __future__ import annotations

import builtins
import importlib
import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_MESSAGE = 256 << 20  # bytes in one message, buffers included
MAX_DEPTH = 64
MAX_ITEMS = 1 << 20  # containers' items in one message
MAX_INT_DIGITS = 4000
Extra = Callable[[object, Callable[[object], list[Any]]], "list[Any] | None"]
Rebuild = Callable[[str, list[Any], Callable[[object], Any]], object]
_HEADER = struct.Struct("!II")  # JSON length, number of buffers
NUMPY_SCALARS = frozenset(np.dtype(c).type for c in "?bhilqBHILQefdgFDG")
_TORCH_DTYPES = (
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
    "bool", "complex64", "complex128",
)  # fmt: skip


class ProtocolError(RuntimeError):
    """The other process sent something that is not a well-formed message."""


def _torch() -> Any:
    import sys

    return sys.modules.get("torch")


def is_tensor(value: object) -> bool:
    """True for a plain torch tensor or parameter (never a subclass: those are not data)."""
    torch = _torch()
    return torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter)


class Encoder:
    """Turns values into JSON-able trees; what is not data goes through ``handle`` (chapter 00)."""

    def __init__(
        self, handle: Callable[[object], list[Any]], extra: Extra | None = None
    ) -> None:
        self.handle = handle
        self.extra = extra  # values that cross by a description (``byvalue``)
        self.buffers: list[bytes] = []

    def _buffer(self, data: bytes) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def encode(self, value: object, depth: int = 0) -> list[Any]:
        if depth > MAX_DEPTH:
            raise ValueError(f"expected data nested at most {MAX_DEPTH} deep, got deeper")
        kind = type(value)
        if value is None:
            return ["none"]
        if kind is bool:
            return ["bool", value]
        if kind is int:
            text = str(value)
            if len(text) > MAX_INT_DIGITS:
                raise ValueError(f"expected an int of at most {MAX_INT_DIGITS} digits, got {len(text)}")
            return ["int", text]
        if kind is float:
            return ["float", float.hex(value)]  # type: ignore[arg-type]
        if kind is complex:
            return ["complex", float.hex(value.real), float.hex(value.imag)]  # type: ignore[union-attr]
        if kind is str:
            return ["str", value]
        if kind is bytes:
            return ["bytes", self._buffer(value)]  # type: ignore[arg-type]
        if kind in (list, tuple):
            return [kind.__name__, [self.encode(v, depth + 1) for v in value]]  # type: ignore[attr-defined]
        if kind is dict:
            return ["dict", [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                             for k, v in value.items()]]  # type: ignore[attr-defined]
        if kind is np.ndarray and value.dtype.kind in "biufc" and not value.dtype.fields:  # type: ignore[attr-defined]
            array: np.ndarray = value  # type: ignore[assignment]
            return ["array", array.dtype.str, list(array.shape), self._buffer(array.tobytes())]
        if kind in NUMPY_SCALARS:
            return ["scalar", value.dtype.str, self._buffer(value.tobytes())]  # type: ignore[attr-defined]
        if is_tensor(value):
            return self._tensor(value, depth)
        if self.extra is not None:
            tree = self.extra(value, lambda v: self.encode(v, depth + 1))
            if tree is not None:
                return tree
        return self.handle(value)

    def _tensor(self, tensor: Any, depth: int) -> list[Any]:
        torch = _torch()
        name = str(tensor.dtype).removeprefix("torch.")
        if name not in _TORCH_DTYPES or tensor.device.type != "cpu":
            return self.handle(tensor)
        data = tensor.detach()
        if name == "bfloat16":
            data = data.to(torch.float32)
        grad = tensor.grad if tensor.is_leaf else None
        return [
            "tensor",
            name,
            self.encode(data.numpy(), depth + 1),
            bool(tensor.requires_grad),
            None if grad is None else self.encode(grad, depth + 1),
        ]


class Decoder:
    """Builds the receiver's own objects from a tree; ``handle`` turns refs into objects."""

    def __init__(
        self,
        buffers: list[bytes],
        handle: Callable[[list[Any]], object],
        rebuild: Rebuild | None = None,
        rebuild_tags: tuple[str, ...] = (),
    ) -> None:
        self.buffers = buffers
        self.handle = handle
        self.rebuild = rebuild  # values that cross by a description (``byvalue``)
        self.rebuild_tags = rebuild_tags
        self.items = 0

    def _bytes(self, index: object) -> bytes:
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise ProtocolError(f"expected a buffer index below {len(self.buffers)}, got {_kind(index)}")
        return self.buffers[index]

    def decode(self, tree: object, depth: int = 0) -> Any:
        if depth > MAX_DEPTH or type(tree) is not list or not tree or type(tree[0]) is not str:
            raise ProtocolError(f"expected an encoded value, got {_kind(tree)}")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ProtocolError(f"expected at most {MAX_ITEMS} values in one message")
        tag, args = tree[0], tree[1:]
        if tag == "none":
            return None
        if tag == "bool" and type(args[0]) is bool:
            return args[0]
        if tag == "int" and type(args[0]) is str and len(args[0]) <= MAX_INT_DIGITS:
            return int(args[0])
        if tag == "float" and type(args[0]) is str:
            return float.fromhex(args[0])
        if tag == "complex" and all(type(a) is str for a in args[:2]):
            return complex(float.fromhex(args[0]), float.fromhex(args[1]))
        if tag == "str" and type(args[0]) is str:
            return args[0]
        if tag == "bytes":
            return self._bytes(args[0])
        if tag in ("list", "tuple") and type(args[0]) is list:
            items = [self.decode(v, depth + 1) for v in args[0]]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and type(args[0]) is list:
            result = {}
            for pair in args[0]:
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("expected [key, value] pairs in a dict")
                key = self.decode(pair[0], depth + 1)
                try:  # our own decoded objects: hashing them runs no foreign code
                    hash(key)
                except TypeError as error:
                    raise ProtocolError("expected a hashable dict key") from error
                result[key] = self.decode(pair[1], depth + 1)
            return result
        if tag == "array":
            return self._array(*args)
        if tag == "scalar":
            dtype = _dtype(args[0])
            data = self._bytes(args[1])
            if len(data) != dtype.itemsize:
                raise ProtocolError("expected one item of bytes for a NumPy scalar")
            return np.frombuffer(data, dtype=dtype)[0]
        if tag == "tensor":
            return self._tensor(*args, depth=depth)
        if tag in ("ref", "back"):
            return self.handle(tree)
        if self.rebuild is not None and tag in self.rebuild_tags:
            return self.rebuild(tag, list(args), lambda t: self.decode(t, depth + 1))
        raise ProtocolError(f"expected a known value tag, got {_kind(tag)}")

    def _array(self, dtype_str: object, shape: object, index: object) -> np.ndarray:
        dtype = _dtype(dtype_str)
        if type(shape) is not list or len(shape) > 32 or any(
            type(n) is not int or n < 0 for n in shape
        ):
            raise ProtocolError(f"expected an array shape, got {_kind(shape)}")
        data = self._bytes(index)
        count = 1
        for n in shape:
            count *= n
        if count * dtype.itemsize != len(data):
            raise ProtocolError(f"expected {count * dtype.itemsize} bytes for an array, got {len(data)}")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()

    def _tensor(self, name: object, data: object, requires_grad: object, grad: object,
                *, depth: int) -> Any:
        if name not in _TORCH_DTYPES or type(requires_grad) is not bool:
            raise ProtocolError(f"expected a torch tensor of a known dtype, got {_kind(name)}")
        # A tensor may arrive before this process imported torch (a lab whose setup cell has
        # not run here yet): torch is a library of the environment, never a student's file.
        torch = _torch() or importlib.import_module("torch")
        array = self.decode(data, depth + 1)
        if type(array) is not np.ndarray:
            raise ProtocolError("expected a tensor's data as an array")
        tensor = torch.from_numpy(array).to(getattr(torch, name))  # type: ignore[arg-type]
        if requires_grad:
            tensor.requires_grad_(True)
        if grad is not None:
            decoded = self.decode(grad, depth + 1)
            if not is_tensor(decoded) or decoded.shape != tensor.shape:
                raise ProtocolError("expected a gradient of the tensor's shape")
            tensor.grad = decoded.to(tensor.dtype)
        return tensor


def _dtype(text: object) -> np.dtype:
    if type(text) is not str or len(text) > 8:
        raise ProtocolError(f"expected a NumPy dtype string, got {_kind(text)}")
    try:
        dtype = np.dtype(text)
    except TypeError as error:
        raise ProtocolError("expected a NumPy dtype string") from error
    if dtype.kind not in "biufc" or dtype.fields or dtype.subdtype:
        raise ProtocolError(f"expected a numeric or bool dtype, got kind {dtype.kind!r}")
    return dtype


def _kind(received: object) -> str:
    """What a received JSON value is, in the receiver's words: never the sender's text, which
    could carry what a hidden test passed out into a message (chapter 00)."""
    if type(received) is str:
        return f"a string of {len(received)} characters"
    return f"a JSON {type(received).__name__}"


def pack(header: dict[str, Any], buffers: list[bytes]) -> bytes:
    """One framed message: sizes, the JSON header, the raw buffers (chapter 00)."""
    header = dict(header, sizes=[len(b) for b in buffers])
    text = json.dumps(header, allow_nan=False).encode()
    frame = _HEADER.pack(len(text), len(buffers)) + text + b"".join(buffers)
    if len(frame) > MAX_MESSAGE:
        raise ValueError(f"expected a message of at most {MAX_MESSAGE >> 20} MiB, got {len(frame) >> 20} MiB")
    return frame


def read_message(read: Callable[[int], bytes]) -> tuple[dict[str, Any], list[bytes]]:
    """Read one framed message with ``read(n)`` (exactly n bytes); sizes are checked first."""
    json_size, count = _HEADER.unpack(read(_HEADER.size))
    if json_size > MAX_MESSAGE or count > MAX_ITEMS:
        raise ProtocolError(f"message too large ({json_size} bytes of header, {count} buffers)")
    try:
        header = json.loads(read(json_size))
    except (ValueError, RecursionError) as error:  # RecursionError: "[[[[..." nested 100 000 deep
        raise ProtocolError("expected a JSON message header") from error
    sizes = header.get("sizes") if type(header) is dict else None
    if type(sizes) is not list or len(sizes) != count or any(
        type(n) is not int or n < 0 for n in sizes
    ) or sum(sizes) + json_size > MAX_MESSAGE:
        raise ProtocolError("expected buffer sizes within the message limit")
    return header, [read(n) for n in sizes]


def rebuild_error(ename: object, evalue: object) -> BaseException:
    """The exception to raise for an error reported by the other process (chapter 00).

    A builtin exception class keeps its class (``pytest.raises(ValueError)`` still works);
    anything else becomes a ``RuntimeError`` naming the remote type.
    """
    name = ename if type(ename) is str else "Error"
    message = evalue[:2000] if type(evalue) is str else ""
    cls = getattr(builtins, name, None)
    if (
        isinstance(cls, type)
        and issubclass(cls, Exception)
        and name not in ("StopAsyncIteration",)
    ):
        try:
            return cls(message)
        except Exception:  # a class that wants other arguments (UnicodeDecodeError)
            pass
    return RuntimeError(f"{name}: {message}")


__all__ = [
    "NUMPY_SCALARS",
    "Decoder",
    "Encoder",
    "ProtocolError",
    "is_tensor",
    "pack",
    "read_message",
    "rebuild_error",
]
