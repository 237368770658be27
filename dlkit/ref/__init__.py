"""From-scratch numpy reference implementations, checked against torch (chapters 01-10).

``Tensor`` (vectorised autograd) and ``Value`` (scalar autograd) are the engines; the
submodules hold what is built on them: ``activations`` (numpy f and f'), ``functional``
(Tensor-level activations, ``linear``, ``dropout``), ``losses``, ``nn`` (layers),
``init``, ``optim``, ``schedules``, ``text`` (bag of words, TF-IDF).
"""
from dlkit.ref import activations, functional, init, losses, nn, optim, schedules, text
from dlkit.ref.module import Module, parameter
from dlkit.ref.tensor import Tensor, as_tensor, cat, no_grad, stack, unbroadcast
from dlkit.ref.value import Value, trace

__all__ = [
    "Module", "Tensor", "Value", "activations", "as_tensor", "cat", "functional", "init", "losses",
    "nn", "no_grad", "optim", "parameter", "schedules", "stack", "text", "trace", "unbroadcast",
]
