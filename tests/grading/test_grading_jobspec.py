"""What a sandboxed notebook is told: its environment and job file (dlkit/grading/jobspec.py)."""

from __future__ import annotations

import json

import nbformat
from grading_helpers import FIXTURES, SUBMISSIONS

from dlkit.grading.course import Course
from dlkit.grading.jobspec import NotebookJob, job_spec, notebook_env, zygote_env
from dlkit.grading.merge import blank_sources, plan_notebook
from dlkit.grading.sandbox import Limits

SOURCE = Course.load(FIXTURES / "course").source_notebooks("lab01")[0]


def _job() -> NotebookJob:
    submission = nbformat.read(str(SUBMISSIONS / "correct.ipynb"), as_version=4)
    return NotebookJob("alice", "lab01.ipynb", plan_notebook(SOURCE, submission, blank_sources(SOURCE)))


def test_the_job_file_carries_no_test_source_and_is_json() -> None:
    job = _job()
    spec = job_spec(job, slot=1, isolation="none", limits=Limits(), env={"A": "1"}, seed=3)
    roles = [c["role"] for c in spec["cells"]]
    assert "test" in roles and "student" in roles
    assert all(c["source"] == "" for c in spec["cells"] if c["role"] == "test")
    assert [c["source"] for c in spec["cells"] if c["role"] != "test"] == [
        c.source for c in job.plan.cells if c.role != "test"]
    for hidden in (t.source for t in SOURCE.tests):
        assert hidden not in json.dumps(spec)
    assert spec["slot"] == 1 and spec["seed"] == 3 and spec["env"] == {"A": "1"}


def test_a_notebook_sees_none_of_the_graders_environment_but_what_is_passed(monkeypatch) -> None:
    monkeypatch.setenv("GRADER_SECRET", "s3cret")
    monkeypatch.setenv("DLKIT_QUICK", "1")
    monkeypatch.delenv("DLKIT_DEVICE", raising=False)
    env = notebook_env(7, "/scratch", {"EXTRA": "x"})
    assert "GRADER_SECRET" not in env and "HOME" not in env
    assert env["DLKIT_QUICK"] == "1" and "DLKIT_DEVICE" not in env and env["EXTRA"] == "x"
    assert env["PYTHONHASHSEED"] == "7" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["DLKIT_SCRATCH"] == "/scratch"


def test_the_warm_worker_keeps_the_graders_environment_made_deterministic(monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    env = zygote_env(5, "/work")
    assert env["OMP_NUM_THREADS"] == "1" and env["PYTHONHASHSEED"] == "5"
    assert env["IPYTHONDIR"] == "/work/ipython" and "PATH" in env
