"""What a sandboxed notebook process is told: its environment and its job file (chapter 00).

The zygote and every notebook forked from it run single-threaded, with a fixed hash seed and a
non-interactive matplotlib, so that a submission's numbers do not depend on the grading machine's
load or on which worker ran it. Test cells travel without their source: it reaches the tester
with each "run" command, after the student process was forked, so no student memory ever holds it.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from typing import Any

from dlkit.grading.merge import Plan, solution_names
from dlkit.grading.sandbox import Limits, python_executable_dir

PASSED_THROUGH = ("DLKIT_QUICK", "DLKIT_DEVICE")  # the grader's own settings a notebook must see


@dataclass
class NotebookJob:
    """One notebook to grade: its merged plan and the lab's extra files (chapter 00)."""

    key: Hashable
    notebook: str
    plan: Plan
    scratch_files: list[tuple[str, str]] = field(default_factory=list)


def deterministic_env(seed: int) -> dict[str, str]:
    """One thread per BLAS/OpenMP pool, a fixed hash seed, no bytecode files, no GUI."""
    return {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": str(seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
    }


def zygote_env(seed: int, workdir: str) -> dict[str, str]:
    """The warm worker's environment: the grader's own, made deterministic."""
    return {**os.environ, **deterministic_env(seed),
            "IPYTHONDIR": os.path.join(workdir, "ipython"), "TQDM_DISABLE": ""}


def notebook_env(seed: int, scratch: str, extra: dict[str, str]) -> dict[str, str]:
    """A notebook's whole environment: nothing of the grader's but what it passes on."""
    env = {
        "PATH": f"{python_executable_dir()}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        **deterministic_env(seed),
        "DLKIT_SCRATCH": scratch,
    }
    env.update({name: os.environ[name] for name in PASSED_THROUGH if name in os.environ})
    env.update(extra)
    return env


def job_spec(job: NotebookJob, *, slot: int, isolation: str, limits: Limits, env: dict[str, str],
             seed: int) -> dict[str, Any]:
    """The job file the zygote reads for one notebook (test sources left out, see above)."""
    student_names = solution_names(job.plan)
    cells = [
        {
            "role": c.role,
            "source": "" if c.role == "test" else c.source,
            "grade_id": c.grade_id,
            "hidden_lines": [],
            "student_names": sorted(student_names.get(i, ())),
        }
        for i, c in enumerate(job.plan.cells)
    ]
    return {
        "isolation": isolation,
        "slot": slot,
        "limits": asdict(limits),
        "scratch_files": job.scratch_files,
        "env": env,
        "seed": seed,
        "cells": cells,
        "trusted_dirs": [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))],
    }
