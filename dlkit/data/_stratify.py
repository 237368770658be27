"""How many samples of each class go into each split, for a stratified split (chapter 06).

Class c of size n_c has the exact share ``n_c * size_s / n`` of split s. Rounding every share
down loses a few samples; they are handed back one at a time, each to a split where its class
was rounded down, so that every count is the floor or the ceiling of its share while the
class sizes and split sizes still add up exactly. Such a rounding always exists (a matrix with
integer row and column sums can be rounded entry by entry keeping them); finding it is a small
bipartite matching, solved here by augmenting paths.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def stratified_counts(class_sizes: np.ndarray, split_sizes: np.ndarray) -> np.ndarray:
    """Integer counts (classes, splits): row sums ``class_sizes``, column sums
    ``split_sizes``, each entry the floor or ceiling of ``n_c * size_s / n``."""
    class_sizes = np.asarray(class_sizes, dtype=np.int64)
    split_sizes = np.asarray(split_sizes, dtype=np.int64)
    n = int(class_sizes.sum())
    if int(split_sizes.sum()) != n:
        raise ValueError(f"expected split sizes adding up to {n}, got {split_sizes.tolist()}")
    share = np.outer(class_sizes, split_sizes)  # n times the exact share: integer arithmetic
    counts, rounded_down = share // n, share % n > 0
    extra = np.zeros_like(counts)  # the 0/1 units handed back
    col_left = split_sizes - counts.sum(axis=0)
    for c, missing in enumerate(class_sizes - counts.sum(axis=1)):
        for _ in range(int(missing)):
            if not _augment(c, rounded_down, extra, col_left):
                raise RuntimeError("stratified rounding failed; this is a bug in dlkit.data")
    return counts + extra


def _augment(start: int, allowed: np.ndarray, extra: np.ndarray, col_left: np.ndarray) -> bool:
    """Give class ``start`` one more unit: breadth-first search for a split with room, moving
    other classes' units between splits along the way if needed."""
    reached_from: dict[int, int] = {}  # split -> class that reaches it
    came_by: dict[int, int | None] = {start: None}  # class -> split it gives a unit up in
    queue = deque([start])
    while queue:
        c = queue.popleft()
        for s in np.flatnonzero(allowed[c] & (extra[c] == 0)):
            s = int(s)
            if s in reached_from:
                continue
            reached_from[s] = c
            if col_left[s] > 0:
                col_left[s] -= 1
                while True:  # walk the path back, moving one unit along each step
                    c = reached_from[s]
                    extra[c, s] = 1
                    previous = came_by[c]
                    if previous is None:
                        return True
                    extra[c, previous] = 0
                    s = previous
            for other in np.flatnonzero(extra[:, s]):
                if int(other) not in came_by:
                    came_by[int(other)] = s
                    queue.append(int(other))
    return False
