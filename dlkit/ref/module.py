"""``Module``: the container every from-scratch layer derives from, shaped like ``torch.nn.Module``
(chapter 02).

A module holds parameters (``Tensor`` with ``requires_grad=True``) and sub-modules as plain
attributes; ``parameters()`` finds them all, in the order they were assigned.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from dlkit.ref.tensor import Tensor


def parameter(data: Any, dtype: Any = None) -> Tensor:
    """A trainable leaf tensor (``requires_grad=True``)."""
    return Tensor(np.array(data, dtype=dtype), requires_grad=True)


class Module:
    """Base class: subclasses set parameters/sub-modules in ``__init__`` and define ``forward``."""

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def _children(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    yield f"{name}.{i}", item
            else:
                yield name, value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) for this module and every sub-module, without repeats."""
        seen: set[int] = set()
        for name, value in self._children():
            full = f"{prefix}{name}"
            if isinstance(value, Tensor) and value.requires_grad and id(value) not in seen:
                seen.add(id(value))
                yield full, value
            elif isinstance(value, Module):
                for sub_name, p in value.named_parameters(prefix=f"{full}."):
                    if id(p) not in seen:
                        seen.add(id(p))
                        yield sub_name, p

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator[Module]:
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Training mode: dropout drops, batch norm uses batch statistics and updates running ones."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout is the identity, batch norm uses its running statistics."""
        return self.train(False)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())
