"""`dlkit grade` against `nbgrader autograde`: same 40 torch submissions, same machine, same run.

    python benchmarks/grading.py [--submissions 40] [--jobs N] [--keep DIR]

Builds a standard nbgrader course in a temporary folder with one torch lab (three tasks), and 40
submissions: honest, blank, partially right and a few broken ones. Grades them with nbgrader's
`autograde` and with `dlkit grade`, prints both wall times and ``grade_speedup: X`` (nbgrader
time / dlkit time), and checks that the scores agree wherever nbgrader's are right.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LAB = "torchlab"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
SOLUTIONS = {
    "relu": "def relu(x):\n    ### BEGIN SOLUTION\n    return torch.clamp(x, min=0)\n"
    "    ### END SOLUTION",
    "linear": "def linear(x, W, b):\n    ### BEGIN SOLUTION\n    return x @ W.T + b\n"
    "    ### END SOLUTION",
    "mse": "def mse(y_hat, y):\n    ### BEGIN SOLUTION\n    return ((y_hat - y) ** 2).mean()\n"
    "    ### END SOLUTION",
}
TESTS = {
    "test_relu": (
        "x = torch.tensor([-1.0, 0.0, 2.0])\n"
        "assert torch.equal(relu(x), torch.tensor([0.0, 0.0, 2.0]))\n"
        "### BEGIN HIDDEN TESTS\nassert bool((relu(torch.randn(5, 3)) >= 0).all())\n"
        "### END HIDDEN TESTS",
        1,
    ),
    "test_linear": (
        "x, W, b = torch.randn(4, 3), torch.randn(2, 3), torch.randn(2)\n"
        "assert torch.allclose(linear(x, W, b), torch.nn.functional.linear(x, W, b), atol=1e-6)",
        2,
    ),
    "test_mse": (
        "y_hat, y = torch.randn(8), torch.randn(8)\n"
        "assert torch.allclose(mse(y_hat, y), torch.nn.functional.mse_loss(y_hat, y))",
        2,
    ),
}
FULL = 5.0


def _meta(grade_id: str, **flags: object) -> dict:
    meta = {
        "grade": False,
        "grade_id": grade_id,
        "locked": False,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    meta.update(flags)
    return {"nbgrader": meta}


def build_course(root: Path, count: int) -> dict[str, float]:
    """The course, its release, and ``count`` submissions; returns each one's true score."""
    cells = [
        new_markdown_cell("# A torch lab"),
        new_code_cell("import torch\ntorch.manual_seed(0)", metadata=_meta("setup", locked=True)),
    ]
    pairs = zip(SOLUTIONS.items(), TESTS.items(), strict=True)
    for (task, solution), (test, (source, points)) in pairs:
        cells.append(new_code_cell(solution, metadata=_meta(task, solution=True)))
        cells.append(
            new_code_cell(source, metadata=_meta(test, grade=True, locked=True, points=points))
        )
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"
    (root / "source" / LAB).mkdir(parents=True)
    nbformat.write(
        new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC}),
        str(root / "source" / LAB / f"{LAB}.ipynb"),
    )
    env = _env()
    subprocess.run(
        ["nbgrader", "generate_assignment", LAB, "--force"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    released = nbformat.read(str(root / "release" / LAB / f"{LAB}.ipynb"), as_version=4)
    answers = {
        k: v.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")
        for k, v in SOLUTIONS.items()
    }
    kinds = (["honest"] * 6 + ["blank", "partial"] * 1 + ["honest", "broken"]) * (count // 10 + 1)
    truth = {}
    for n, kind in enumerate(kinds[:count]):
        nb = nbformat.reads(nbformat.writes(released), as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if kind == "honest" and grade_id in answers:
                cell.source = answers[grade_id]
            elif kind == "partial" and grade_id == "relu":
                cell.source = answers["relu"]
            elif kind == "broken" and grade_id in answers:  # a typo kills the first answer
                cell.source = answers[grade_id]
                if grade_id == "relu":
                    cell.source = "import torch_typo\n" + cell.source
        student = f"s{n:03d}-{kind}"
        folder = root / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{LAB}.ipynb"))
        truth[student] = {"honest": FULL, "blank": 0.0, "partial": 1.0, "broken": 4.0}[kind]
    return truth


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    return env


def _scores(db_url: str) -> dict[str, float]:
    from dlkit.grading.gradebook import scores_in_gradebook

    return scores_in_gradebook(db_url, LAB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=40, help="how many (default: 40)")
    parser.add_argument("--jobs", type=int, default=0, help="dlkit grade --jobs (default: cores)")
    parser.add_argument("--keep", default=None, help="build the course here and keep it")
    args = parser.parse_args(argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="dlkit-bench-"))
    truth = build_course(root, args.submissions)
    env = _env()

    start = time.perf_counter()
    subprocess.run(
        ["nbgrader", "autograde", LAB, "--force"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    nbgrader_s = time.perf_counter() - start
    nbgrader_scores = _scores(f"sqlite:///{root / 'gradebook.db'}")

    dlkit_db = f"sqlite:///{root / 'dlkit-gradebook.db'}"
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from dlkit.cli import main; sys.exit(main())",
            "grade",
            str(root / "submitted"),
            "--lab",
            LAB,
            "--course",
            str(root),
            "--db",
            dlkit_db,
            "--out",
            str(root / "dlkit-out"),
            "--quiet",
            "--jobs",
            str(args.jobs),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    dlkit_s = time.perf_counter() - start
    dlkit_scores = _scores(dlkit_db)

    right = [s for s in truth if nbgrader_scores.get(s) == truth[s]]
    disagree = [s for s in right if dlkit_scores.get(s) != nbgrader_scores[s]]
    wrong_dlkit = [s for s in truth if dlkit_scores.get(s) != truth[s]]
    print(f"submissions: {len(truth)}  cores: {os.cpu_count()}")
    print(f"nbgrader_autograde_s: {nbgrader_s:.2f}")
    print(f"dlkit_grade_s: {dlkit_s:.2f}")
    print(f"grade_speedup: {nbgrader_s / dlkit_s:.2f}")
    print(f"scores agree where nbgrader is right: {len(right) - len(disagree)}/{len(right)}")
    if wrong_dlkit:
        print(f"dlkit scores differing from the truth: {wrong_dlkit}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if disagree or wrong_dlkit else 0


if __name__ == "__main__":
    sys.exit(main())
