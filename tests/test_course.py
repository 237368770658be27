"""Course conventions for every lesson in course/, and the syllabus map.

Each lesson: stored clean, seeds with dlkit.seed, names the syllabus items it teaches in its
metadata (``metadata.dlkit.syllabus``), has at least two figures, ends with a key-terms table in
English and Chinese, and has exercises. The map lists which items are taught where; a
chapter's own syllabus chapters must be fully taught once its lesson exists.
"""
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYLLABUS = ROOT / "docs" / "SYLLABUS.md"
LESSONS = sorted((ROOT / "course").glob("[0-9][0-9]-*.ipynb"))
LABS = sorted((ROOT / "solutions").glob("lab*/*.ipynb"))

# the syllabus chapters a lesson must cover in full (DESIGN.md's chapter map); C15–C17 are
# shared between chapters, so no single lesson owns them
OWNED = {"00": ["1"], "01": ["2"], "02": ["3", "4"], "03": ["5"], "04": ["6"], "05": ["7", "9"],
         "06": ["8"], "07": ["10"], "08": ["11"], "09": ["12", "14"], "10": ["13"], "11": ["16", "18"],
         "12": ["19", "20", "21"], "13": ["22"]}
FIGURE_CALLS = re.compile(r"plt\.show\(\)|\.show\(\)|display\(|dlkit\.viz\.\w+\(|\bviz\.\w+\(")


def syllabus_items() -> dict[str, str]:
    """Every item ID in the syllabus → its chapter number ('C5.2' → '5')."""
    ids = re.findall(r"^\s*- \*\*(C(\d+)\.\d+)\b", SYLLABUS.read_text(), flags=re.M)
    return {item: chapter for item, chapter in ids}


def notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def taught_where() -> dict[str, list[str]]:
    where = defaultdict(list)
    for path in LESSONS + LABS:
        for item in notebook(path)["metadata"].get("dlkit", {}).get("syllabus", []):
            where[item].append(str(path.relative_to(ROOT)))
    return where


def source(path: Path, kind: str) -> str:
    return "\n".join("".join(c["source"]) for c in notebook(path)["cells"] if c["cell_type"] == kind)


def test_syllabus_is_readable():
    items = syllabus_items()
    assert len(items) > 200 and "C1.1" in items and "C12.1" in items


def test_there_are_lessons():
    assert LESSONS, "course/ has no lessons"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_follows_the_course_conventions(path):
    code, prose = source(path, "code"), source(path, "markdown")
    assert "dlkit.seed(" in code, "a lesson seeds with dlkit.seed(...)"
    assert "import dlkit" in code or "from dlkit" in code
    assert len(FIGURE_CALLS.findall(code)) >= 2, "a lesson shows at least two figures"
    assert "$" in prose, "a lesson teaches with math (LaTeX)"
    assert re.search(r"## Key terms", prose) and re.search(r"[\u4e00-\u9fff]", prose), \
        "a lesson ends with a key-terms table in English and Chinese"
    assert re.search(r"## Exercises", prose)
    assert len(prose) > 4 * len(code) / 3, "a lesson is prose first, not just code"


@pytest.mark.parametrize("path", LESSONS + LABS, ids=lambda p: p.name)
def test_syllabus_ids_in_metadata_are_real(path):
    items = syllabus_items()
    mapped = notebook(path)["metadata"].get("dlkit", {}).get("syllabus", [])
    assert mapped, f"{path.name} names no syllabus items in metadata.dlkit.syllabus"
    unknown = [item for item in mapped if item not in items]
    assert not unknown, f"{path.name} maps items that the syllabus does not have: {unknown}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_a_lessons_own_syllabus_chapters_are_fully_taught(path):
    number = path.name[:2]
    where, items = taught_where(), syllabus_items()
    missing = [item for item, chapter in items.items() if chapter in OWNED.get(number, []) and item not in where]
    assert not missing, f"chapter {number} exists but these items of its syllabus are taught nowhere: {missing}"


def test_every_syllabus_item_is_taught_and_the_map_is_printed(capsys):
    """The course is complete: an item that loses its lesson fails here, also the items of the
    chapters no single lesson owns (C15, C17, C23)."""
    where, items = taught_where(), syllabus_items()
    untaught = [item for item in items if item not in where]
    with capsys.disabled():
        print(f"\nsyllabus map: {len(items) - len(untaught)} of {len(items)} items taught"
              + (f"; not yet: {', '.join(untaught[:12])}{' ...' if len(untaught) > 12 else ''}" if untaught else ""))
    assert len(items) > 200, f"read only {len(items)} item IDs from {SYLLABUS}: has its format changed?"
    assert not untaught, f"syllabus items taught nowhere: {untaught}"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_has_graded_tasks_with_visible_and_hidden_tests_and_a_written_question(path):
    cells = notebook(path)["cells"]
    graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    autograded = [c for c in graded if c["cell_type"] == "code" and not c["metadata"]["nbgrader"].get("solution")]
    written = [c for c in graded if c["cell_type"] == "markdown" and c["metadata"]["nbgrader"].get("solution")]
    assert len(autograded) >= 4, f"{path.name} has {len(autograded)} autograded test cells, expected at least 4"
    assert all(c["metadata"]["nbgrader"].get("points", 0) > 0 for c in graded), "every graded cell is worth points"
    for cell in autograded:
        source = "".join(cell["source"])
        visible, _, hidden = source.partition("### BEGIN HIDDEN TESTS")
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        assert hidden.strip(), f"{grade_id} has no hidden tests"
        assert any(line.strip() and not line.lstrip().startswith("#") for line in visible.splitlines()), \
            f"{grade_id} has no visible tests"
    assert written, f"{path.name} has no manually graded written question"
