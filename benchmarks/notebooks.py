"""How long does each notebook take in quick mode?

Executes every notebook in course/ and solutions/ top to bottom on a fresh kernel with
``DLKIT_QUICK=1`` (as CI does) and prints ``NOTEBOOK: SECONDS`` per notebook, then
``total: SECONDS``. Goals on 2 cores: a part-1 notebook (chapters 00-06) under 20 s and a
part-2 one (07-13) under 30 s; part 1 under 2 minutes; the whole course, lessons and labs
00-13, under 4 minutes. The peer it is compared with is the goal itself; nothing is asserted.

    .venv/bin/python benchmarks/notebooks.py [NOTEBOOK ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
GOAL_PART_ONE_NOTEBOOK, GOAL_PART_TWO_NOTEBOOK = 20.0, 30.0
GOAL_PART_ONE = 120.0
GOAL_WHOLE_COURSE = 240.0


def chapter(path: Path) -> int:
    """course/03-backpropagation.ipynb -> 3, solutions/lab03/lab03.ipynb -> 3."""
    digits = path.stem[3:5] if path.stem.startswith("lab") else path.stem[:2]
    return int(digits)


def run(path: Path) -> float:
    """Seconds to execute ``path`` in a fresh kernel (kernel start-up included)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    os.environ["DLKIT_QUICK"] = "1"  # inherited by every kernel
    paths = args.notebooks or sorted(ROOT.glob("course/*.ipynb")) + sorted(ROOT.glob("solutions/*/*.ipynb"))
    total = part_one = 0.0
    over = []
    for path in paths:
        seconds = run(path)
        total += seconds
        name = str(path.resolve().relative_to(ROOT))
        if chapter(path) <= 6:
            part_one += seconds
        if seconds > (GOAL_PART_ONE_NOTEBOOK if chapter(path) <= 6 else GOAL_PART_TWO_NOTEBOOK):
            over.append(name)
        print(f"{name}: {seconds:.1f}", flush=True)
    print(f"total: {total:.1f}  (goal for the whole course: under {GOAL_WHOLE_COURSE:.0f})")
    print(f"part_one: {part_one:.1f}  (goal: under {GOAL_PART_ONE:.0f})")
    print(f"notebooks over their goal ({GOAL_PART_ONE_NOTEBOOK:.0f} s part 1, {GOAL_PART_TWO_NOTEBOOK:.0f} s part 2): "
          f"{', '.join(over) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
