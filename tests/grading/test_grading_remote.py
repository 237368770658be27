"""The tester/student channel: data-only codec, proxies, and what the tester refuses (issue 3)."""

from __future__ import annotations

import inspect
import socket
import struct
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.grading.codec import MAX_MESSAGE, Decoder, Encoder, ProtocolError, pack, read_message
from dlkit.grading.remote import Peer, Remote
from dlkit.grading.sources import SourceBook


def _round_trip(value: object) -> object:
    encoder = Encoder(lambda v: pytest.fail(f"{v!r} should have been data"))
    tree = encoder.encode(value)
    return Decoder(encoder.buffers, lambda t: pytest.fail("no handles expected")).decode(tree)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=25, deadline=None)
@given(data)
def test_plain_data_round_trips_with_its_exact_types(value):
    back = _round_trip(value)
    assert repr(back) == repr(value)  # repr: NaN compares unequal, and types must match too


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_, np.complex128])
@pytest.mark.parametrize("shape", [(), (3,), (2, 0), (2, 3, 4)])
def test_arrays_and_numpy_scalars_round_trip(dtype, shape):
    array = (np.arange(int(np.prod(shape))) % 3).astype(dtype).reshape(shape)
    back = _round_trip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array) and back.flags.writeable
    scalar = dtype(1)
    assert type(_round_trip(scalar)) is dtype


def test_tensors_keep_dtype_requires_grad_and_grad():
    t = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    (t * t).sum().backward()
    back = _round_trip(t)
    assert back.dtype == torch.float64 and back.requires_grad
    assert torch.equal(back.detach(), t.detach()) and torch.equal(back.grad, t.grad)
    assert _round_trip(torch.ones(2, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_object_arrays_and_subclasses_are_not_data():
    handles = []
    encoder = Encoder(lambda v: handles.append(v) or ["ref", 1, {}])
    encoder.encode([np.array([object()]), np.zeros(2).view(np.matrix), True.__class__(1)])
    assert len(handles) == 2  # the object array and the subclass; the bool is data


@pytest.mark.parametrize(
    "tree",
    [
        ["array", "|O", [1], 0],  # object dtype: would unpickle or hold foreign objects
        ["array", "<f8", [4], 0],  # shape asks for more bytes than were sent
        ["array", "<f8", [-1], 0],
        ["scalar", "<f8", 5],  # buffer index out of range
        ["int", "9" * 10_000],  # a number too long to parse cheaply
        ["mystery", 1],
        "not a list",
    ],
)
def test_malformed_values_are_refused(tree):
    with pytest.raises(ProtocolError):
        Decoder([b"\0" * 8], lambda t: ["ref", 1, {}] if len(t) > 1 else None).decode(tree)


def test_handles_must_be_well_formed_and_handed_over():
    tester_end, student_end = socket.socketpair()
    peer = Peer(tester_end, trusted=True)
    for tree in (["ref"], ["ref", "1"], ["back", 99]):
        with pytest.raises(ProtocolError):
            peer.decode(tree, [])
    tester_end.close()
    student_end.close()


def test_a_huge_declared_message_is_refused_before_reading_it():
    frame = struct.pack("!II", MAX_MESSAGE + 1, 0)
    with pytest.raises(ProtocolError, match="too large"):
        read_message(lambda n: frame[:n])
    with pytest.raises(ValueError, match="MiB"):
        pack({}, [b"\0" * (MAX_MESSAGE + 1)])


class _Pair:
    """A trusted peer (tester) and an untrusted one (student) on a socket, the latter served
    from a thread, as in the two processes."""

    def __init__(self, exports: dict[str, object]) -> None:
        tester_end, student_end = socket.socketpair()
        self.tester = Peer(tester_end, trusted=True)
        self.student_namespace = dict(exports)
        self.student = Peer(
            student_end,
            trusted=False,
            handlers={"lookup": lambda h, b: self.student_namespace[h["name"]]},
        )
        self.thread = threading.Thread(target=self.student.serve_forever, daemon=True)
        self.thread.start()

    def get(self, name: str) -> object:
        return self.tester.request("lookup", name=name)

    def close(self) -> None:
        self.tester.sock.close()
        self.thread.join(5)


@pytest.fixture
def pair():
    def evil_scale(x, factor):
        x *= factor  # mutates the caller's array
        return x.sum()

    class Box:
        def __init__(self):
            self.items = [1, 2]

        def __len__(self):
            return 7

    def needs_positive(n):
        if n <= 0:
            raise ValueError(f"expected n > 0, got {n}")
        return n

    class Custom(Exception):
        pass

    def raises_custom():
        raise Custom("student's own error")

    def apply(f, x):
        return f(x)

    def probe(fn):
        peer, handle = object.__getattribute__(fn, "_peer"), object.__getattribute__(fn, "_id")
        outcomes = []
        for attempt in (
            lambda: fn(5),
            lambda: peer.request("getattr", target=handle, name="__globals__"),
            lambda: peer.request("getattr", target=handle, name="_private"),
            lambda: peer.request("run", index=0),
            lambda: peer.request("setattr", target=handle, name="a", values=1),
        ):
            try:
                outcomes.append(repr(attempt()))
            except Exception as error:
                outcomes.append(type(error).__name__)
        return outcomes

    def guess(fn):
        peer, handle = object.__getattribute__(fn, "_peer"), object.__getattribute__(fn, "_id")
        return peer.request("call", target=handle + 1000, values=[[], {}])

    made = _Pair(
        {"scale": evil_scale, "box": Box(), "check": needs_positive, "custom": raises_custom,
         "apply": apply, "probe": probe, "guess": guess, "zeros": np.zeros}
    )
    yield made
    made.close()


def test_calls_return_data_and_mutations_come_back(pair):
    scale = pair.get("scale")
    assert type(scale) is Remote
    x = np.array([1.0, 2.0])
    total = scale(x, 3.0)
    assert type(total) is np.float64 and total == 9.0
    np.testing.assert_array_equal(x, [3.0, 6.0])  # the student's in-place change is visible


def test_objects_attributes_len_and_errors(pair):
    box = pair.get("box")
    assert box.items == [1, 2] and len(box) == 7
    with pytest.raises(ValueError, match="n > 0"):
        pair.get("check")(0)
    with pytest.raises(RuntimeError, match="Custom: student's own error"):
        pair.get("custom")()
    with pytest.raises(AttributeError):
        box.__array_interface__  # dunders are never asked of the owner  # noqa: B018


def test_callbacks_run_in_the_caller_and_see_decoded_data(pair):
    seen = []

    def callback(value):
        seen.append(type(value))
        return float(value.sum())

    # f is a callback handle: the student calls it, we run it on our own decoded array
    assert pair.get("apply")(callback, np.ones(3)) == 3.0
    assert seen == [np.ndarray]


def test_the_tester_refuses_private_attributes_modules_and_unknown_ops(pair):
    def trusted_helper(v):
        return v

    outcomes = pair.get("probe")(trusted_helper)
    assert outcomes == [
        "5",  # calling what the test handed over is allowed
        "AttributeError",  # __globals__: no dunder or private attribute of the tester's objects
        "AttributeError",
        "PermissionError",  # "run" is the tester's to send, never the student's
        "PermissionError",  # nor may the student set attributes on the tester's objects
    ]
    with pytest.raises(TypeError, match="modules"):
        pair.tester.encode(np)


def test_a_guessed_handle_breaks_the_channel(pair):
    def trusted_helper(v):
        return v

    with pytest.raises(ProtocolError, match="no object with handle"):
        pair.get("guess")(trusted_helper)
    assert isinstance(pair.tester.broken, ProtocolError)  # the tester reports tampering


def test_source_of_a_student_function_comes_from_the_submitted_cell():
    book = SourceBook()
    book.add(3, "import numpy as np\n\nclass Stopper:\n    def step(self, loss):\n"
                "        return loss < 1\n\ndef relu(x):\n    return np.maximum(x, 0)\n")
    assert "np.maximum" in inspect.getsource(book.find({"qualname": "relu"}))
    assert "return loss < 1" in inspect.getsource(book.find({"qualname": "Stopper.step"}))
    assert book.find({"qualname": "missing"}) is None
    book.add(5, "def relu(x):\n    return x * (x > 0)\n")  # a later cell redefines it
    assert "x > 0" in inspect.getsource(book.find({"qualname": "relu"}))


def test_an_oversized_answer_is_an_error_and_the_channel_survives(pair, monkeypatch):
    import dlkit.grading.codec as codec

    monkeypatch.setattr(codec, "MAX_MESSAGE", 4096)  # the student side packs its reply with it
    with pytest.raises(ValueError, match="expected a message of at most"):
        pair.get("zeros")(1000)  # a small request, an 8000-byte reply
    monkeypatch.undo()
    assert pair.get("check")(3) == 3
    assert pair.tester.broken is None
