"""Suite-wide test markers.

``numerics`` marks the tests whose outcome depends on floating-point rounding, and so on the
CPU kernels that OpenBLAS and PyTorch (ATen) pick for the machine they run on: the lessons'
seed-0 runs (marked in tests/test_lesson_runs.py), the reference implementations checked
against torch, the metrics, the demos that train, and the solution labs. ``make test`` runs them
a second time under forced kernel paths, so a result that holds only on this machine's vector
units fails in CI instead of on a learner's laptop.
"""
import pytest

NUMERICS = ("tests/test_ref_", "tests/test_viz_", "tests/test_metrics.py", "tests/test_check.py", "solutions/")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.split("::")[0].startswith(NUMERICS):
            item.add_marker(pytest.mark.numerics)
