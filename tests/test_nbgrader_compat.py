"""Our release step and nbgrader's own preprocessors make the same student cells.

The nbgrader tests are skipped when nbgrader is not installed (it comes with the `instructor`
extra, which `python3 bootstrap.py test` installs).
"""
from __future__ import annotations

import copy

import nbformat
import pytest

from course_utils.config import REPO_ROOT
from course_utils.instructor.release import read_notebook, student_notebook

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))


def _meta(gid: str, solution: bool) -> dict:
    meta = {"grade": not solution, "grade_id": gid, "locked": not solution,
            "schema_version": 3, "solution": solution, "task": False}
    if not solution:
        meta["points"] = 1
    return {"nbgrader": meta}


def edge_cases() -> nbformat.NotebookNode:
    """Cells where a careless implementation of the markers would differ from nbgrader's."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(  # ends in a newline
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
            metadata=_meta("f", True)),
        nbformat.v4.new_code_cell("x = 42", metadata=_meta("x", True)),  # no markers: all answer
        nbformat.v4.new_markdown_cell("All of this is the answer.", metadata=_meta("why", True)),
        nbformat.v4.new_markdown_cell(
            "Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", metadata=_meta("why2", True)),
        nbformat.v4.new_code_cell(
            "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert x == 42\n### END HIDDEN TESTS\n",
            metadata=_meta("test_f", False)),
        nbformat.v4.new_code_cell(
            "for i in range(3):\n        ### BEGIN SOLUTION\n        print(i)\n        ### END SOLUTION",
            metadata=_meta("loop", True)),
        nbformat.v4.new_code_cell("print('not an exercise')"),
    ]
    return nb


def nbgrader_student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    out, resources = ClearSolutions().preprocess(copy.deepcopy(nb), {})
    out, resources = ClearHiddenTests().preprocess(out, resources)
    return out


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_nbgrader_makes_the_same_student_cells(solution):
    pytest.importorskip("nbgrader")
    nb = read_notebook(solution)
    assert _cells(student_notebook(nb)) == _cells(nbgrader_student_notebook(nb))


def test_nbgrader_agrees_on_edge_cases():
    pytest.importorskip("nbgrader")
    nb = edge_cases()
    assert _cells(student_notebook(nb)) == _cells(nbgrader_student_notebook(nb))


def test_edge_cases_without_nbgrader():
    """What the comparison above pins down, readable without nbgrader installed."""
    cells = [c.source for c in student_notebook(edge_cases()).cells]
    assert cells[0] == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"  # newline kept
    assert cells[1] == "# YOUR CODE HERE\nraise NotImplementedError()"   # an answer cell, no markers
    assert cells[2] == "YOUR ANSWER HERE"
    assert cells[4] == "assert f() == 1\n"
    assert cells[6] == "print('not an exercise')"
