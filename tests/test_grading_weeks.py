"""`course grade` on every week's real tests, through the sandbox and the trusted kernel.

For each week a short submission holds the notebook's imports, its exercise cells and its test
cells, and nothing of the training in between (so that it grades in seconds): the solution's
answers must earn every point; the untouched notebook none (week 02); and answers from the bank of wrong
implementations (tests/wrong_bank/) must lose the points of their test. This is what makes sure
that the stand-ins of the trusted kernel (functions, autograd through them, the student's
``nn.Module``, modules and mixtures handed back and forth) give the tests what they would see in
one kernel, and that no test passes by accident.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import nbformat
import pytest

from course_utils.config import REPO_ROOT
from course_utils.instructor.grading import grade_folder, load_assignment
from course_utils.instructor.grading.sandbox import bwrap_problem
from course_utils.instructor.release import SOLUTION_BEGIN, SOLUTION_END, read_notebook, student_notebook

pytestmark = [pytest.mark.slow, pytest.mark.kernel]   # the grader, its workers and kernels

#: Every week with a bank of wrong answers (tests/wrong_bank/weekNN.py), so that a new week is covered
#: as soon as it has one (CONTRIBUTING.md). Their tests hand objects across: plain functions of
#: arrays and tensors (01, 04), a student's class (02), a course model changed in place and a fitted
#: mixture returned (03), a course module and gradients through it (05), tuples of tensors and plain
#: ints, arrays that must come back unchanged (06), tensors with gradients through a convolution
#: and a loss (07).
BANK_DIR = Path(__file__).parent / "wrong_bank"
WEEKS = tuple(sorted(p.stem[len("week"):] for p in BANK_DIR.glob("week[0-9][0-9].py")))
SOLUTIONS = sorted(p for p in (REPO_ROOT / "solutions").glob("*.ipynb") if p.name[:2] in WEEKS)
# untouched notebooks are graded for the week whose exercise is a class (its stand-in is built
# from a constructor that raises); the functions' "not done yet" path is the same in every week
# and test_grading.py covers it (and tests/test_student_notebooks.py runs every untouched notebook)
UNTOUCHED = {"02_vae", "06_nonparametric", "07_prednet"}


def _imports_only(source: str) -> str:
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return ""
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def short_submission(solution: nbformat.NotebookNode, answers: dict[str, str] | None) -> nbformat.NotebookNode:
    """Imports, exercise cells (the solution's answers, ``answers[test grade_id]``, or untouched
    with None) and test cells of a week, in order."""
    student = student_notebook(solution)
    out = nbformat.v4.new_notebook(metadata=student.metadata)
    pending = None
    cells = list(zip(solution.cells, student.cells))
    for sol, cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            if answers is not None:
                cell.source = "\n".join(line for line in sol.source.splitlines()
                                        if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))
            pending = cell
            out.cells.append(cell)
        elif meta.get("grade") or meta.get("locked"):
            if pending is not None and answers and meta.get("grade_id") in answers:
                pending.source = answers[meta["grade_id"]]
            pending = None
            out.cells.append(cell)
        elif source := _imports_only(cell.source):
            out.cells.append(nbformat.v4.new_code_cell(source))
    return out


def _bank(path: Path):
    spec = importlib.util.spec_from_file_location(f"bank_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wrong_answers(solution_path: Path) -> dict[str, tuple[str, str]]:
    """For each graded test: the first wrong answer of the bank that is not "not done yet"."""
    bank = _bank(BANK_DIR / f"week{solution_path.name[:2]}.py")
    chosen: dict[str, tuple[str, str]] = {}
    for grade_id, name, source in bank.CASES:
        if grade_id not in chosen and "not done" not in name:
            chosen[grade_id] = (name, source)
    return chosen


@pytest.fixture(scope="module")
def graded_weeks(tmp_path_factory):
    if bwrap_problem() and not __import__("os").environ.get("CI"):
        pytest.skip(f"no sandbox here: {bwrap_problem()}")
    root = tmp_path_factory.mktemp("weeks")
    results = {}
    for path in SOLUTIONS:
        solution = read_notebook(path)
        subs, out = root / path.stem / "submissions", root / path.stem / "out"
        subs.mkdir(parents=True)
        wrong = wrong_answers(path)
        nbformat.write(short_submission(solution, {}), str(subs / "solution.ipynb"))
        if path.stem in UNTOUCHED:
            nbformat.write(short_submission(solution, None), str(subs / "untouched.ipynb"))
        nbformat.write(short_submission(solution, {g: src for g, (_, src) in wrong.items()}),
                       str(subs / "wrong.ipynb"))
        summary = grade_folder(load_assignment(path.stem), subs, out, jobs=2, progress=False,
                               echo=lambda line: None, sandbox="bwrap")
        results[path.stem] = ({r["student"]: r for r in summary.results}, wrong)
    return results


@pytest.mark.parametrize("week", [p.stem for p in SOLUTIONS])
def test_every_week_grades_solution_untouched_and_wrong_answers(graded_weeks, week):
    results, wrong = graded_weeks[week]
    solution, bad = results["solution"], results["wrong"]
    assert solution["score"] == solution["possible"], [t for t in solution["tests"] if t["status"] != "passed"]
    if week in UNTOUCHED:
        untouched = results["untouched"]
        assert untouched["score"] == 0
        assert all("not implemented yet" in t["reason"] for t in untouched["tests"]), untouched["tests"]
    for t in bad["tests"]:
        if t["test"] in wrong:
            assert t["status"] == "failed", f"{t['test']}: the wrong answer {wrong[t['test']][0]!r} passed"
    assert not any(r["grader_error"] for r in results.values())
