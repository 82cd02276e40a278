"""Each student notebook, as generated, runs in a real Jupyter kernel from top to bottom.

1. **Nothing done yet** (the notebook as a student first opens it): every cell runs without an
   error. Each self-check prints its "not done yet" cross (never a tick), and the cells after an
   exercise use the course package's reference implementation, saying so in one line.
2. **Every exercise done** (the solution's answer cells put in): every cell runs without an
   error, and every output nbval compares equals the solution notebook's committed output. The
   hidden tests are the only difference between the two notebooks, so this also shows that they
   leave no trace (no random numbers drawn, no global changed) in what the student sees.
"""
from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

import pytest

from course_utils.config import REPO_ROOT
from course_utils.instructor.execute import execute_notebook
from course_utils.instructor.release import SOLUTION_BEGIN, SOLUTION_END, read_notebook

pytestmark = pytest.mark.kernel   # every student notebook in a kernel



def _has_exercises(path: Path) -> bool:
    return any(c.metadata.get("nbgrader", {}).get("solution") for c in read_notebook(path).cells)


# The summary week has no exercises: its student notebook is its solution without outputs, and nbval
# runs the solution; running it twice more here would only repeat that.
ALL_STUDENT = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
STUDENT = [p for p in ALL_STUDENT if _has_exercises(p)]
SANITIZE = Path(__file__).parent / "nbval_sanitize.cfg"
NOT_DONE = "is not done yet: using the reference implementation"


def _errors(nb) -> list[str]:
    return [f"cell {i}: {out.ename}: {out.evalue}" for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.output_type == "error"]


def _text(cell) -> str:
    """What nbval compares of a cell: stdout and text/plain results (stderr is ignored)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.name == "stdout":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and "image/png" not in out.data:
            parts.append(str(out.data.get("text/plain", "")))
    return "".join(parts)


def _sanitize(text: str) -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(SANITIZE)
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def _is(cell, key: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(key))


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_unfinished_notebook_runs_to_the_end(path: Path):
    nb = execute_notebook(read_notebook(path), cwd=path.parent, fast=True, timeout=300,
                          allow_errors=True)
    assert not _errors(nb), "cells failed in the untouched student notebook:\n" + "\n".join(_errors(nb))
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _is(cell, "grade"):
            text = _text(cell)
            assert "\u2714" not in text, f"cell {i}: a self-check said \u2714 for an empty exercise:\n{text}"
            assert "\u2718" in text and "not implemented yet" in text, (
                f"cell {i}: the self-check of an empty exercise should print its 'not done yet' "
                f"line, got:\n{text}")
    shown = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    n_exercises = sum(1 for c in nb.cells if c.cell_type == "code" and _is(c, "solution"))
    assert shown.count(NOT_DONE) >= 1 and n_exercises >= 1, "no cell fell back to the reference"


# Weeks 02-07 are left out of this run to hold CI under its time budget (about 8 minutes of one
# worker): nbval runs their solutions (hidden tests included), the grading test grades their answered
# exercises, and their untouched notebooks run to the end above. Set COURSE_ALL_FINISHED=1 to run
# them too, e.g. when a hidden test of those weeks changes:
#     COURSE_ALL_FINISHED=1 .venv/bin/python -m pytest tests/test_student_notebooks.py -k finished
FINISHED = [p for p in STUDENT if os.environ.get("COURSE_ALL_FINISHED") == "1" or p.name[:2] < "02"]


@pytest.mark.slow
@pytest.mark.parametrize("path", FINISHED, ids=lambda p: p.name)
def test_finished_notebook_gives_the_solutions_results(path: Path):
    student = read_notebook(path)
    solution = read_notebook(REPO_ROOT / "solutions" / path.name)
    assert len(student.cells) == len(solution.cells)
    for cell, sol in zip(student.cells, solution.cells):
        if cell.cell_type == "code" and _is(cell, "solution"):
            cell.source = "\n".join(line for line in sol.source.split("\n")
                                    if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))
    nb = execute_notebook(student, cwd=path.parent, fast=True, timeout=300, allow_errors=True)
    assert not _errors(nb), "cells failed with the solution's answers:\n" + "\n".join(_errors(nb))
    diffs = []
    for i, (cell, sol) in enumerate(zip(nb.cells, solution.cells)):
        if cell.cell_type != "code" or "nbval-ignore-output" in sol.metadata.get("tags", []):
            continue
        got, want = _sanitize(_text(cell)), _sanitize(_text(sol))
        if got != want:
            diffs.append(f"cell {i}:\n--- solution\n{want}\n--- student notebook, exercises done\n{got}")
    assert not diffs, "outputs differ from the solution's:\n" + "\n".join(diffs)
    assert NOT_DONE not in "".join(_text(c) for c in nb.cells if c.cell_type == "code")


def test_notebooks_without_exercises_are_their_solutions():
    for path in sorted(set(ALL_STUDENT) - set(STUDENT)):
        student, solution = read_notebook(path), read_notebook(REPO_ROOT / "solutions" / path.name)
        assert [c.source for c in student.cells] == [c.source for c in solution.cells], path.name
        assert not any(c.metadata.get("nbgrader", {}).get("grade") for c in solution.cells), path.name
