"""``dlkit release``, ``dlkit check``, ``dlkit grade``: the grading wing's commands (chapter 00)."""

from __future__ import annotations

import argparse
import sys


def _positive(kind: type) -> object:
    def parse(text: str) -> object:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value

    return parse


def _limits(args: argparse.Namespace):  # noqa: ANN202 (Limits, imported lazily)
    from dlkit.grading.sandbox import Limits

    return Limits(
        cell_timeout=args.timeout,
        notebook_timeout=args.notebook_timeout,
        memory=args.memory_mb << 20,
        output=args.output_kb << 10,
        notebook_size=args.max_notebook_kb << 10,
    )


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="wall-clock limit per cell (default: 30)",
    )
    parser.add_argument(
        "--notebook-timeout",
        type=_positive(float),
        default=300.0,
        metavar="SECONDS",
        help="wall-clock limit per notebook (default: 300)",
    )
    parser.add_argument(
        "--memory-mb",
        type=_positive(int),
        default=2048,
        metavar="MB",
        help="memory a notebook may add to the warm worker's (default: 2048)",
    )
    parser.add_argument(
        "--output-kb",
        type=_positive(int),
        default=2048,
        metavar="KB",
        help="output a notebook may print before it is stopped (default: 2048)",
    )
    parser.add_argument(
        "--max-notebook-kb",
        type=_positive(int),
        default=4096,
        metavar="KB",
        help="largest notebook accepted, measured without its saved outputs (default: 4096)",
    )
    parser.add_argument(
        "--isolation",
        choices=("auto", "root", "userns", "none"),
        default="auto",
        help="sandbox level: auto picks the strongest this machine allows; "
        "'none' (rlimits only) is for trusted notebooks",
    )


def cmd_release(args: argparse.Namespace) -> int:
    from dlkit.grading.course import Course
    from dlkit.grading.release import release

    course = Course.load(args.course)
    changed = release(course, args.labs or None)
    for path in changed:
        print(f"wrote {path.relative_to(course.root)}")
    print(f"released {len(args.labs or course.labs())} lab(s); {len(changed)} file(s) changed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from dlkit.grading.learner_check import check_notebook, format_check

    result = check_notebook(args.notebook, limits=_limits(args), isolation=args.isolation)
    report = format_check(result)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        report.encode(encoding)
    except (UnicodeEncodeError, LookupError):  # a terminal without ✓ and ✗
        report = report.replace("✓", "+").replace("✗", "x").encode(encoding, "replace").decode(encoding)
    print(report)
    return 0 if not result.fatal and all(t.passed for t in result.tests) else 1


def cmd_grade(args: argparse.Namespace) -> int:
    from dlkit.grading.grade import grade

    grade(
        args.submissions,
        args.lab,
        args.course,
        jobs=args.jobs,
        limits=_limits(args),
        out=args.out,
        db_url=args.db,
        isolation=args.isolation,
        progress=not args.quiet,
    )
    return 0


def _guarded(func):  # noqa: ANN001, ANN202
    """Grader failures become one clear line and exit status 2, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        from dlkit.grading.runner import GraderError

        try:
            return func(args)
        except (GraderError, FileNotFoundError, ValueError, RuntimeError) as error:
            print(f"dlkit {args.command}: error: {error}", file=sys.stderr)
            return 2

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``release``, ``check`` and ``grade`` to the ``dlkit`` command (chapter 00)."""
    p = subparsers.add_parser(
        "release",
        help="generate the student labs from the instructor's source",
        description="Write the release directory (labs/) from the source directory (solutions/): "
        "solutions and hidden tests removed. Deterministic: a second run changes nothing.",
    )
    p.add_argument("labs", nargs="*", metavar="LAB", help="labs to release (default: all)")
    p.add_argument(
        "--course",
        default=".",
        metavar="DIR",
        help="nbgrader course directory (default: the current directory)",
    )
    p.set_defaults(func=_guarded(cmd_release))

    p = subparsers.add_parser(
        "check",
        help="run your lab's visible tests and see your score",
        description="Run NOTEBOOK top to bottom in a sandbox with its visible tests; print each "
        "task as passed or failed and the visible score. Exit 0 when all pass.",
    )
    p.add_argument("notebook", metavar="NOTEBOOK", help="the lab notebook to check")
    _add_sandbox_options(p)
    p.set_defaults(func=_guarded(cmd_check))

    p = subparsers.add_parser(
        "grade",
        help="grade a batch of submissions into the nbgrader gradebook",
        description="Grade every submission of LAB in sandboxes, in parallel; write the scores "
        "into the course's nbgrader gradebook, OUT/grades.csv and per-student "
        "feedback in OUT/feedback/. Exits 0 when the batch completed, whatever the "
        "scores; 2 when the grader itself cannot run.",
    )
    p.add_argument(
        "submissions",
        metavar="SUBMISSIONS",
        help="nbgrader's submitted/ layout (STUDENT/LAB/*.ipynb), a folder of "
        "STUDENT/*.ipynb or STUDENT.ipynb, or a .zip of any of these",
    )
    p.add_argument(
        "--lab", required=True, metavar="LAB", help="the lab (nbgrader assignment) to grade"
    )
    p.add_argument(
        "--course",
        default=".",
        metavar="DIR",
        help="nbgrader course directory with nbgrader_config.py (default: .)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="submissions graded in parallel (default: the number of cores)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where grades.csv and feedback/ go (default: COURSE/grading/LAB)",
    )
    p.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="gradebook SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/course "
        "(default: the course's, sqlite:///COURSE/gradebook.db)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_sandbox_options(p)
    p.set_defaults(func=_guarded(cmd_grade))
