"""Objects of the other process, reached through a socket as data (chapter 00).

The trusted tester (T) and the student process (S) each hold a ``Peer`` on one socket. A value
that ``codec`` cannot encode as data crosses as a handle: an integer id in the sender's table,
wrapped on the other side in a ``Remote``. Calling a ``Remote``, reading or setting one of its
attributes, indexing it, ``len``, iteration and ``repr`` travel to its owner as requests, which
answers with data or with further handles. Requests nest: while T waits for a student function,
S may call back a function the test passed to it, and T answers that first.

The tester's ``Peer`` is ``trusted``: it never exports a handle. What a test passes to student
code crosses by value (``codec`` data, or a ``byvalue`` description rebuilt over there) or the
test fails with ``byvalue.LabDesignError``; so no getattr, call or iteration the student process
asks for is ever run on a tester object, and any such request is a forged message. Each call
carries the tester's numerics policy (``numerics``), which the student process applies.

An object passed again is the same object over there, as in one process: each call names its
top-level dict, list, array and tensor arguments by a token of the tester's, and the student
process updates the object it built for that token in place (``Peer.adopt``, ``arguments``) instead of using a
fresh copy. So a student's ``self.best_state = state`` (an alias, not a copy) sees the test
change ``state`` before the next call, exactly as under ``nbgrader autograde``.
"""

from __future__ import annotations

import socket
import types
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from dlkit.grading import byvalue, numerics
from dlkit.grading.arguments import adopt, sync
from dlkit.grading.codec import (
    Decoder,
    Encoder,
    ProtocolError,
    is_tensor,
    pack,
    read_message,
    rebuild_error,
)

Describe = Callable[[object], dict[str, Any]]
_STUDENT_TAGS = tuple(t for t in byvalue.TAGS if t not in byvalue.TESTER_TO_STUDENT_ONLY)


class Opaque:
    """Wraps a value that must cross as a handle even if it could be data."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class PeerGone(ConnectionError):
    """The other process closed its end (it exited or was killed)."""


def _plain_meta(value: object) -> dict[str, Any]:
    return {"type": type(value).__qualname__, "callable": callable(value)}


class Peer:
    """One end of the tester/student socket: requests, replies and the table of handles."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        trusted: bool,
        describe: Describe = _plain_meta,
        handlers: dict[str, Callable[[dict[str, Any], list[bytes]], Any]] | None = None,
    ) -> None:
        self.sock = sock
        self.trusted = trusted
        self.describe = describe
        self.handlers = dict(handlers or {})
        self.exports: dict[int, object] = {}
        self._export_ids: dict[int, int] = {}  # id(object) -> handle, so one object, one handle
        self._next_request = 0
        self.source_of: Callable[[Remote], object] | None = None  # T: getsource support
        # T sends its numerics policy with every call; S runs the call under it (``numerics``)
        self.call_context: Callable[[], object] | None = numerics.capture if trusted else None
        self.apply_context: Callable[[object], AbstractContextManager[Any]] = (
            (lambda _context: nullcontext()) if trusted else numerics.applied
        )
        self.broken: BaseException | None = None  # set once the other side misbehaved or died
        self.after_request: Callable[[], None] = lambda: None  # the student flushes its output
        self._tokens: dict[int, tuple[int, object]] = {}  # T: id(argument) -> (token, the object kept alive)
        self._adopted: dict[int, object] = {}  # S: token -> the object built for it

    # -- identity of arguments passed again ------------------------------------------------
    def identity(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """T: a token for each top-level argument whose identity a student may keep."""
        def token(value: object) -> int | None:
            if not (type(value) in (dict, list, np.ndarray) or is_tensor(value)):
                return None
            known = self._tokens.get(id(value))
            if known is None or known[1] is not value:
                known = (len(self._tokens) + 1, value)
                self._tokens[id(value)] = known
            return known[0]

        return {"args": [token(a) for a in args], "kwargs": {k: token(v) for k, v in kwargs.items()}}

    def adopt(self, identity: object, args: list[Any], kwargs: dict[str, Any]) -> None:
        """S: each argument the tester named by a token becomes the object built for that token
        before, updated in place to the new value where its shape allows (else the new value)."""
        if identity is None:
            return
        if not (type(identity) is dict and type(identity.get("args")) is list
                and type(identity.get("kwargs")) is dict and len(identity["args"]) == len(args)):
            raise ProtocolError("expected a token (or None) per argument")

        def adopted(token: object, value: object) -> object:
            if token is None:
                return value
            if type(token) is not int:
                raise ProtocolError("expected an integer token")
            kept = self._adopted.get(token)
            value = value if kept is None else adopt(kept, value)
            self._adopted[token] = value
            return value

        for i, token in enumerate(identity["args"]):
            args[i] = adopted(token, args[i])
        for key, token in identity["kwargs"].items():
            if key in kwargs:
                kwargs[key] = adopted(token, kwargs[key])

    # -- framing ---------------------------------------------------------------------------
    def _read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(min(size - len(data), 1 << 20))
            if not chunk:
                raise PeerGone("the other process ended")
            data += chunk
        return bytes(data)

    def send(self, header: dict[str, Any], buffers: list[bytes]) -> None:
        self._send_frame(pack(header, buffers))

    def _send_frame(self, frame: bytes) -> None:
        try:
            self.sock.sendall(frame)
        except OSError as error:
            self.broken = self.broken or PeerGone(str(error))
            raise PeerGone(f"the other process ended ({error})") from error

    def receive(self) -> tuple[dict[str, Any], list[bytes]]:
        try:
            return read_message(self._read)
        except (PeerGone, ProtocolError) as error:
            self.broken = self.broken or error
            raise

    # -- codec -----------------------------------------------------------------------------
    def encode(self, value: object) -> tuple[list[Any], list[bytes]]:
        encoder = Encoder(self._handle_for, self._by_value)
        tree = encoder.encode(value)
        return tree, encoder.buffers

    def _by_value(self, value: object, encode: Callable[[object], list[Any]]) -> list[Any] | None:
        if type(value) is Opaque:
            return None
        return byvalue.encode(value, encode, libraries=self.trusted)

    def _handle_for(self, value: object) -> list[Any]:
        if type(value) is Opaque:
            value = value.value
        if type(value) is Remote and object.__getattribute__(value, "_peer") is self:
            return ["back", object.__getattribute__(value, "_id")]
        if self.trusted:  # tester -> student is by value only
            if isinstance(value, types.ModuleType):
                raise byvalue.LabDesignError("lab design: the tester does not hand modules to student code")
            raise byvalue.refuse(value)
        key = id(value)
        handle = self._export_ids.get(key)
        if handle is None or self.exports.get(handle) is not value:
            handle = len(self.exports) + 1
            self.exports[handle] = value
            self._export_ids[key] = handle
        return ["ref", handle, self.describe(value)]

    def decode(self, tree: object, buffers: list[bytes]) -> Any:
        tags = _STUDENT_TAGS if self.trusted else byvalue.TAGS  # the tester imports no name sent
        libraries = not self.trusted

        def rebuild(tag: str, args: list[Any], decode: Callable[[object], Any]) -> object:
            return byvalue.decode(tag, args, decode, libraries=libraries)

        decoder = Decoder(buffers, self._object_for, rebuild, tags)
        if not self.trusted:  # the tester's values: well-formed, and LabDesignError must show
            return decoder.decode(tree)
        try:
            return decoder.decode(tree)
        except ProtocolError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, RecursionError) as error:
            # ["float", "zz"], ["bool"], a uint16 "tensor": what the student process sent is no
            # value at all, a forged message (never quoted: it could carry a hidden input)
            raise ProtocolError(f"expected a well-formed value, got one that fails with "
                                f"{type(error).__name__}") from error

    def _object_for(self, tree: list[Any]) -> object:
        if len(tree) < 2 or type(tree[1]) is not int:
            raise ProtocolError("expected a handle id")
        if tree[0] == "back":
            if tree[1] not in self.exports:
                raise ProtocolError(f"no object with handle {tree[1]} was handed over")
            return self.exports[tree[1]]
        meta = tree[2] if len(tree) > 2 and type(tree[2]) is dict else {}
        return Remote(self, tree[1], meta)

    # -- requests --------------------------------------------------------------------------
    def request(self, op: str, **fields: Any) -> Any:
        """Ask the other process for ``op``; serve its nested requests until the reply."""
        self._next_request += 1
        rid = self._next_request
        values = fields.pop("values", None)
        tree, buffers = self.encode(values)
        self.send({"op": op, "rid": rid, "values": tree, **fields}, buffers)
        while True:
            header, buffers = self.receive()
            if "reply" not in header:
                self.serve_one(header, buffers)
                continue
            try:
                if header["reply"] != rid:
                    raise ProtocolError(f"expected the reply to request {rid}, got another")
                if "error" not in header:
                    return self.decode(header.get("value"), buffers)
            except ProtocolError as error:
                self.broken = self.broken or error
                raise
            error = header["error"] if type(header["error"]) is dict else {}
            raise rebuild_error(error.get("ename"), error.get("evalue"))

    def serve_one(self, header: dict[str, Any], buffers: list[bytes]) -> None:
        rid = header.get("rid")
        try:
            if type(rid) is not int:
                raise ProtocolError("expected a request with an integer id")
            value = self.dispatch(header, buffers)
            tree, out = self.encode(value)
            frame = pack({"reply": rid, "value": tree}, out)  # too large: an error, not a crash
        except (PeerGone, ProtocolError) as error:
            self.broken = self.broken or error
            raise
        except BaseException as error:  # reported to the caller, raised there
            try:
                message = str(error)[:2000]
            except BaseException:
                message = "<unprintable>"
            error_reply = {"ename": type(error).__name__, "evalue": message}
            frame = pack({"reply": rid, "error": error_reply}, [])
        self.after_request()
        self._send_frame(frame)

    def serve_forever(self) -> None:
        """Answer requests until the other process closes the socket (the student process)."""
        while True:
            try:
                header, buffers = self.receive()
                self.serve_one(header, buffers)
            except PeerGone:
                return

    def dispatch(self, header: dict[str, Any], buffers: list[bytes]) -> Any:
        op = header.get("op")
        if op in self.handlers:
            return self.handlers[op](header, buffers)
        if self.trusted:  # it handed over no object: nothing may be asked of it
            raise ProtocolError("the tester hands out no objects, yet a request named one")
        target = self.exports.get(header.get("target"))  # type: ignore[arg-type]
        if target is None:
            raise ProtocolError("a request named an object that was never handed over")
        values = self.decode(header.get("values"), buffers)
        name = header.get("name")
        if op in ("getattr", "setattr") and type(name) is not str:
            raise ProtocolError("expected an attribute name")
        if op == "call":
            args, kwargs = values
            self.adopt(header.get("identity"), args, kwargs)
            with self.apply_context(header.get("context")):
                result = target(*args, **kwargs)  # type: ignore[operator]
            return [result, [args, kwargs]]  # the arguments go back: the caller sees mutations
        if op == "getattr":
            return getattr(target, name)  # type: ignore[arg-type]
        if op == "setattr":
            setattr(target, name, values)  # type: ignore[arg-type]
            return None
        if op == "getitem":
            return target[values]  # type: ignore[index]
        if op == "setitem":
            target[values[0]] = values[1]  # type: ignore[index]
            return None
        if op == "len":
            return len(target)  # type: ignore[arg-type]
        if op == "iter":
            return iter(target)  # type: ignore[call-overload]
        if op == "next":
            return next(target)  # type: ignore[call-overload]
        if op in ("repr", "str", "bool"):
            return {"repr": repr, "str": str, "bool": bool}[op](target)
        raise ProtocolError("expected a known request")


class Remote:
    """An object that lives in the other process; every use is a request (chapter 00)."""

    __slots__ = ("_peer", "_id", "_meta")

    def __init__(self, peer: Peer, handle: int, meta: dict[str, Any]) -> None:
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_id", handle)
        object.__setattr__(self, "_meta", meta)

    def _ask(self, op: str, **fields: Any) -> Any:
        peer: Peer = object.__getattribute__(self, "_peer")
        return peer.request(op, target=object.__getattribute__(self, "_id"), **fields)

    def __getattr__(self, name: str) -> Any:
        if name == "__wrapped__":  # inspect.getsource follows it: a never-called stand-in
            peer: Peer = object.__getattribute__(self, "_peer")
            source = peer.source_of(self) if peer.source_of else None
            if source is None:
                raise AttributeError(name)
            return source
        meta = object.__getattribute__(self, "_meta")
        if name in ("__name__", "__qualname__") and type(meta.get("qualname")) is str:
            return meta["qualname"].rsplit(".", 1)[-1] if name == "__name__" else meta["qualname"]
        if name.startswith("__") and name.endswith("__"):
            # numpy and others probe dunders (__array_interface__): never let the owner answer
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value: object) -> None:
        self._ask("setattr", name=name, values=value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        peer: Peer = object.__getattribute__(self, "_peer")
        context = peer.call_context() if peer.call_context else None
        identity = peer.identity(args, kwargs) if peer.trusted else None
        result, (new_args, new_kwargs) = self._ask(
            "call", values=[list(args), kwargs], context=context, identity=identity
        )
        for old, new in zip(args, new_args, strict=False):
            sync(old, new)
        for key, old in kwargs.items():
            if key in new_kwargs:
                sync(old, new_kwargs[key])
        return result

    def __getitem__(self, key: object) -> Any:
        return self._ask("getitem", values=key)

    def __setitem__(self, key: object, value: object) -> None:
        self._ask("setitem", values=[key, value])

    def __len__(self) -> int:
        size = self._ask("len")
        if type(size) is not int or size < 0:
            raise TypeError(f"expected len() to be a non-negative int, got {type(size).__name__}")
        return size

    def __iter__(self) -> Any:
        return self._ask("iter")

    def __next__(self) -> Any:
        return self._ask("next")

    def __bool__(self) -> bool:
        truth = self._ask("bool")
        if type(truth) is not bool:
            raise TypeError(f"expected bool() to give a bool, got {type(truth).__name__}")
        return truth

    def __repr__(self) -> str:
        text = self._ask("repr")
        return text if type(text) is str else "<remote object>"

    def __str__(self) -> str:
        text = self._ask("str")
        return text if type(text) is str else "<remote object>"

    def __eq__(self, other: object) -> bool:  # identity only: the owner's __eq__ never decides
        return self is other

    def __hash__(self) -> int:
        return object.__hash__(self)


def remote_meta(value: object) -> dict[str, Any] | None:
    """The owner's description of a ``Remote`` (type name, qualname, forged dunder), or None."""
    if type(value) is not Remote:
        return None
    meta = object.__getattribute__(value, "_meta")
    return meta if type(meta) is dict else {}


__all__ = ["Opaque", "Peer", "PeerGone", "Remote", "remote_meta"]
