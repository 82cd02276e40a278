"""Each student notebook runs in a real Jupyter kernel up to its first exercise.

Everything before the first exercise must run cleanly for a student who just opened it; the
graded cell after that exercise must then stop with the "not implemented yet" message.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.config import REPO_ROOT
from course_utils.execute import execute_notebook
from course_utils.release import read_notebook

STUDENT = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def _first_exercise(nb) -> tuple[int, int]:
    """Indices of the first exercise cell and of the first graded cell after it."""
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            for j in range(i + 1, len(nb.cells)):
                if nb.cells[j].metadata.get("nbgrader", {}).get("grade"):
                    return i, j
            pytest.fail(f"exercise cell {i} has no graded test cell after it")
    pytest.fail("no exercise cell (nbgrader solution=true) found")


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_runs_up_to_first_exercise(path: Path):
    nb = read_notebook(path)
    exercise, graded = _first_exercise(nb)
    execute_notebook(nb, cwd=path.parent, fast=True, timeout=300, allow_errors=True,
                     stop_before=graded + 1)
    errors = [
        (i, out) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "error"
    ]
    early = [(i, f"{o.ename}: {o.evalue}") for i, o in errors if i != graded]
    assert not early, f"cells before the first exercise failed: {early}"
    assert errors, "the graded cell after an unanswered exercise should fail, but it passed"
    (_, out), = errors
    assert out.ename in {"CheckFailed", "NotImplementedError"}, f"{out.ename}: {out.evalue}"
    assert "not implemented" in out.evalue.lower() or out.ename == "NotImplementedError"
