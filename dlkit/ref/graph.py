"""The order backpropagation visits a computation graph in (chapter 03).

Shared by the scalar ``Value`` and the vectorised ``Tensor``: a node may only pass its gradient
back once every node that uses it has passed theirs, which is reverse topological order.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

Node = TypeVar("Node")


def topological_order(root: Node, parents: Callable[[Node], Iterable[Node]]) -> list[Node]:
    """Every node ``root`` depends on, each after its parents, ``root`` last."""
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:  # iterative: an unrolled RNN is deeper than Python's recursion limit
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in parents(node) if id(p) not in visited)
    return order
