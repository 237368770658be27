"""The fixture notebooks are graded, never executed by nbval: some are fork bombs on purpose."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from grading_helpers import unprivileged

collect_ignore_glob = ["fixtures/*"]


@pytest.fixture
def unprivileged_grader():
    """``(command prefix, work folder)`` to run ``dlkit grade`` unprivileged; skips (saying
    why) where this machine cannot."""
    work = Path(tempfile.mkdtemp(prefix="dlkit-userns-test-"))
    os.chmod(work, 0o755)
    try:
        prefix = unprivileged(work)
        if isinstance(prefix, str):
            pytest.skip(prefix)
        yield prefix, work
    finally:
        shutil.rmtree(work, ignore_errors=True)
