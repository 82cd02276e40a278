"""The release step: solutions/ -> notebooks/ (markers, clearing, sync of the committed files)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.config import REPO_ROOT
from course_utils.instructor.release import (
    HIDDEN_BEGIN,
    SOLUTION_BEGIN,
    ReleaseError,
    find_leaks,
    read_notebook,
    release,
    render,
    student_notebook,
)

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
#: The summary week reads `course results`' table and has nothing to fill in.
NO_EXERCISES = {"08_summary.ipynb", "09_your_data.ipynb"}
NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution"}

EXERCISE = '''def square(x):
    """Return x squared."""
    ### BEGIN SOLUTION
    y = x * x
    return y
    ### END SOLUTION'''

TEST = '''assert square(2) == 4
### BEGIN HIDDEN TESTS
assert square(-3) == 9
### END HIDDEN TESTS
print("ok")'''


def make_solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    md = nbformat.v4.new_markdown_cell("Explain:\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    ex = nbformat.v4.new_code_cell(EXERCISE, execution_count=3)
    ex.metadata["nbgrader"] = {
        "grade": False, "grade_id": "square", "locked": False,
        "schema_version": 3, "solution": True, "task": False,
    }
    ex.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    ex.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    test = nbformat.v4.new_code_cell(TEST)
    test.metadata["nbgrader"] = {
        "grade": True, "grade_id": "test_square", "locked": True, "points": 2,
        "schema_version": 3, "solution": False, "task": False,
    }
    test.metadata["tags"] = ["nbval-ignore-output"]
    nb.cells = [md, ex, test]
    return nb


def test_solution_region_becomes_stub_at_its_indentation():
    out = student_notebook(make_solution())
    assert out.cells[1].source == (
        'def square(x):\n    """Return x squared."""\n'
        "    # YOUR CODE HERE\n    raise NotImplementedError()"
    )


def test_markdown_solution_becomes_answer_placeholder():
    assert student_notebook(make_solution()).cells[0].source == "Explain:\nYOUR ANSWER HERE"


def test_hidden_tests_removed_visible_tests_kept():
    src = student_notebook(make_solution()).cells[2].source
    assert src == 'assert square(2) == 4\nprint("ok")'


def test_outputs_counts_timings_and_widget_state_cleared():
    out = student_notebook(make_solution())
    assert "widgets" not in out.metadata
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert "execution" not in out.cells[1].metadata


def test_nbgrader_metadata_and_tags_kept():
    out = student_notebook(make_solution())
    assert out.cells[1].metadata["nbgrader"]["grade_id"] == "square"
    assert out.cells[2].metadata["nbgrader"]["points"] == 2
    assert out.cells[2].metadata["tags"] == ["nbval-ignore-output"]


def test_source_notebook_not_modified():
    nb = make_solution()
    before = json.dumps(nb, sort_keys=True)
    student_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a matching BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",
         "inside a region"),
        ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION", "without a matching BEGIN"),
    ],
)
def test_bad_markers_raise_with_cell_and_line(source, message):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    with pytest.raises(ReleaseError, match=message) as info:
        student_notebook(nb, name="x.ipynb")
    assert "x.ipynb, cell 0" in str(info.value)


def test_release_writes_checks_and_removes(tmp_path):
    sol, stu = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(make_solution(), str(sol / "01_x.ipynb"))
    stu.mkdir()
    (stu / "99_orphan.ipynb").write_text("{}")

    assert not release(sol, stu, check=True).in_sync
    result = release(sol, stu)
    assert [p.name for p in result.written] == ["01_x.ipynb"]
    assert [p.name for p in result.removed] == ["99_orphan.ipynb"]
    first = (stu / "01_x.ipynb").read_bytes()
    assert release(sol, stu, check=True).in_sync
    release(sol, stu)
    assert (stu / "01_x.ipynb").read_bytes() == first, "generation must be deterministic"

    (stu / "01_x.ipynb").write_text(first.decode().replace("square", "cube"))
    assert [p.name for p in release(sol, stu, check=True).stale] == ["01_x.ipynb"]


def test_a_bad_solution_file_writes_nothing(tmp_path):
    sol, stu = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(make_solution(), str(sol / "01_x.ipynb"))
    (sol / "02_broken.ipynb").write_text('{"cells": [')
    with pytest.raises(ReleaseError, match=r"02_broken\.ipynb is not a readable notebook"):
        release(sol, stu)
    assert not stu.exists() or not any(stu.iterdir())


def test_cli_release_check_exit_codes(tmp_path, capsys):
    sol, stu = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(make_solution(), str(sol / "01_x.ipynb"))
    args = ["release", "--solutions", str(sol), "--notebooks", str(stu)]
    assert cli.main(args + ["--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert cli.main(args + ["--check"]) == 0
    (sol / "02_broken.ipynb").write_text("not json")
    assert cli.main(args) == 2
    assert "02_broken.ipynb" in capsys.readouterr().err


# --- the committed files --------------------------------------------------------------------

def test_there_are_solutions():
    assert SOLUTIONS, "solutions/ holds no notebooks"


def test_committed_notebooks_equal_a_fresh_generation():
    result = release(check=True)
    assert result.in_sync, (
        "notebooks/ differs from what solutions/ generates: "
        + ", ".join(p.name for p in result.stale)
        + ". Run `course release` and commit the result."
    )


def _solution_regions(source: str) -> list[str]:
    pattern = r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)\n[ \t]*### END \1"
    return [m.group(2) for m in re.finditer(pattern, source, flags=re.S)]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_student_notebook_has_no_solution_text(solution: Path):
    student_path = REPO_ROOT / "notebooks" / solution.name
    student = read_notebook(student_path)  # also validates nbformat
    assert find_leaks(student) == []
    text = "\n".join(c.source for c in student.cells)
    regions = [r for c in read_notebook(solution).cells for r in _solution_regions(c.source)]
    assert bool(regions) == (solution.name not in NO_EXERCISES), f"{solution.name}: exercises {len(regions)}"
    for region in regions:
        body = "\n".join(line.strip() for line in region.splitlines() if line.strip())
        flat = "\n".join(line.strip() for line in text.splitlines() if line.strip())
        assert body not in flat, f"solution text survived in {student_path.name}:\n{region}"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_student_notebook_is_clean(solution: Path):
    student = read_notebook(REPO_ROOT / "notebooks" / solution.name)
    assert "widgets" not in student.metadata
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    stubs = sum("raise NotImplementedError()" in c.source for c in student.cells)
    graded = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("solution")]
    if solution.name in NO_EXERCISES:
        assert stubs == len(graded) == 0
    else:
        assert stubs >= len(graded) > 0


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solution_has_nbgrader_metadata_and_no_run_state(solution: Path):
    nb = read_notebook(solution)
    assert "widgets" not in nb.metadata, "saved widget state: clear it (course execute does)"
    ids = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        has_marker = SOLUTION_BEGIN in cell.source or HIDDEN_BEGIN in cell.source
        if has_marker:
            assert meta, f"a cell with markers lacks nbgrader metadata:\n{cell.source[:200]}"
        if meta:
            assert NBGRADER_KEYS <= set(meta), f"incomplete nbgrader metadata: {meta}"
            assert meta["schema_version"] == 3
            if meta["grade"]:
                assert meta.get("points", 0) > 0
            ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), f"grade_id values must be unique: {ids}"
    assert render(nb) == solution.read_text(encoding="utf-8"), (
        "solution is not in nbformat's canonical layout; run `course execute` to rewrite it"
    )


ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/(home|root|work|tmp|Users|private|var)/|[A-Z]:\\\\Users)")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solution_outputs_hold_no_absolute_paths(solution: Path):
    text = solution.read_text(encoding="utf-8")
    match = ABSOLUTE_PATH.search(text)
    assert match is None, f"absolute path in {solution.name}: {text[match.start():match.start() + 80]!r}"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solution_outputs_hold_no_widget_views(solution: Path):
    """A saved widget view has no kernel behind it: JupyterLab shows only an error box."""
    assert "application/vnd.jupyter.widget-view+json" not in solution.read_text(encoding="utf-8")
