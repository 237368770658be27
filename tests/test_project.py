"""The project's own contracts: CI runs the README's command, layers stay layered, notebooks are clean."""
import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# DESIGN.md's layering: a module may import only modules at its own level or below.
TEACHING = ["runtime", "data", "ref", "metrics", "models", "train", "trust", "apps", "check", "viz"]
GRADING = ["grading"]


def dlkit_imports(path: Path) -> set[str]:
    """Top-level dlkit subpackages a file imports (dlkit.ref.tensor -> 'ref')."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "dlkit" and len(parts) > 1:
                found.add(parts[1])
    return found


def package_files(package: str) -> list[Path]:
    base = ROOT / "dlkit" / package
    return sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(make test)\b", readme, flags=re.M)
    assert command, "README must give the test command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(command.group(1))}\s*$", ci, flags=re.M), ci


@pytest.mark.parametrize("package", TEACHING)
def test_teaching_modules_import_only_lower_layers(package):
    allowed = set(TEACHING[: TEACHING.index(package) + 1])
    for path in package_files(package):
        if path.exists():
            illegal = dlkit_imports(path) - allowed - {"__version__"}
            assert not illegal, f"{path.relative_to(ROOT)} imports higher or foreign layers: {sorted(illegal)}"


def test_grading_never_imports_the_teaching_wing():
    for path in package_files("grading"):
        if path.exists():
            illegal = dlkit_imports(path) & set(TEACHING)
            assert not illegal, f"{path.relative_to(ROOT)} imports the teaching wing: {sorted(illegal)}"


def test_tracked_notebooks_are_stored_without_outputs():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    dirty = []
    for name in tracked:
        try:
            notebook = json.loads((ROOT / name).read_text())
        except json.JSONDecodeError:
            assert name.startswith("tests/grading/fixtures/"), f"{name} is not valid JSON"
            continue  # a grading fixture that is corrupt on purpose
        if any(cell.get("outputs") or cell.get("execution_count") for cell in notebook["cells"]
               if cell["cell_type"] == "code"):
            dirty.append(name)
    assert not dirty, f"notebooks stored with outputs: {dirty}"
