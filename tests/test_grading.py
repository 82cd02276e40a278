"""`course grade`: the autograder on real week-01 submissions, and on a tiny assignment with one
submission of every bad kind (each must be graded, with a clear reason, never stop the run).

Submissions are generated here from the solution notebooks, so they never drift out of sync.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.config import REPO_ROOT
from course_utils.instructor.grading import GradingError, grade_folder, load_assignment, prepare
from course_utils.instructor.release import SOLUTION_BEGIN, SOLUTION_END, read_notebook, student_notebook

pytestmark = pytest.mark.slow

QUIET = {"progress": False, "echo": lambda line: None}


def answered(solution: nbformat.NotebookNode, exercises: set[str] | None = None) -> nbformat.NotebookNode:
    """The student notebook with the solution's code in the given exercise cells (None: all)."""
    student = student_notebook(solution)
    for sol, cell in zip(solution.cells, student.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and (exercises is None or gid in exercises):
            cell.source = "\n".join(
                line for line in sol.source.splitlines()
                if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END)
            )
    return student


def by_grade_id(nb: nbformat.NotebookNode, gid: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def tree_hash(folder: Path) -> str:
    """One hash of every file's path and content under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_csv(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- week 01, the real notebook ------------------------------------------------------------

WEEK01 = REPO_ROOT / "solutions" / "01_kmeans_em.ipynb"
PARTIAL = {"assign_clusters", "update_centers", "cluster_accuracy"}  # exercises 1, 2 and 5


@pytest.fixture(scope="module")
def week01(tmp_path_factory):
    solution = read_notebook(WEEK01)
    subs = tmp_path_factory.mktemp("week01") / "submissions"
    subs.mkdir()
    nbformat.write(answered(solution), str(subs / "correct.ipynb"))
    nbformat.write(student_notebook(solution), str(subs / "untouched.ipynb"))
    nbformat.write(answered(solution, PARTIAL), str(subs / "partial.ipynb"))
    out = subs.parent / "out"
    summary = grade_folder(load_assignment("01"), subs, out, jobs=2, **QUIET)
    return out, {r["student"]: r for r in summary.results}


def test_week01_correct_submission_gets_full_marks(week01):
    _, results = week01
    r = results["correct"]
    assert (r["score"], r["possible"]) == (16, 16), r["tests"]
    assert all(t["status"] == "passed" and t["reason"] == "" for t in r["tests"])


def test_week01_untouched_notebook_gets_zero_with_not_implemented_reasons(week01):
    _, results = week01
    r = results["untouched"]
    assert r["score"] == 0
    assert len(r["tests"]) == 7
    for t in r["tests"]:
        assert t["status"] == "failed" and "not implemented" in t["reason"], t


def test_week01_partly_correct_submission_gets_exact_partial_points(week01):
    _, results = week01
    r = results["partial"]
    assert r["score"] == 6
    passed = {t["test"] for t in r["tests"] if t["status"] == "passed"}
    assert passed == {"test_assign_clusters", "test_update_centers", "test_cluster_accuracy"}


def test_week01_csv_feedback_and_executed_notebooks(week01):
    out, _ = week01
    rows = read_csv(out)
    assert list(rows[0]) == ["student", "test", "points_earned", "points_possible", "status", "reason"]
    totals = {r["student"]: (r["points_earned"], r["points_possible"])
              for r in rows if r["test"] == "TOTAL"}
    assert totals == {"correct": ("16", "16"), "partial": ("6", "16"), "untouched": ("0", "16")}
    assert len(rows) == 3 * (7 + 1)
    feedback = (out / "feedback" / "partial.md").read_text()
    assert "**Total: 6 / 16 points**" in feedback and "`test_e_step`" in feedback
    assert "e_step is not implemented yet" in feedback
    executed = read_notebook(out / "executed" / "correct.ipynb")
    assert "### BEGIN HIDDEN TESTS" in by_grade_id(executed, "test_assign_clusters").source


# --- a tiny assignment, and every kind of bad submission -----------------------------------

def _meta(gid: str, kind: str, points: int = 0) -> dict:
    test = kind == "test"
    meta = {"grade": test, "grade_id": gid, "locked": test, "schema_version": 3,
            "solution": not test, "task": False}
    if test:
        meta["points"] = points
    return meta


TINY = [  # (source, nbgrader metadata or None)
    ("# A tiny assignment", None),
    ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", _meta("double", "ex")),
    ('assert double(2) == 4, "double(2) should be 4"\n### BEGIN HIDDEN TESTS\n'
     'assert double(-3) == -6, "double(-3) should be -6"\n### END HIDDEN TESTS',
     _meta("test_double", "test", 1)),
    ("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", _meta("square", "ex")),
    ('assert square(3) == 9, "square(3) should be 9"', _meta("test_square", "test", 2)),
    ('def greet(name):\n    ### BEGIN SOLUTION\n    return f"hello {name}"\n    ### END SOLUTION',
     _meta("greet", "ex")),
    ('assert greet("Ada") == "hello Ada", "greet(\'Ada\') should be \'hello Ada\'"',
     _meta("test_greet", "test", 3)),
]


def tiny_solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for source, meta in TINY:
        if meta is None:
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta}))
    return nb


def _with(nb: nbformat.NotebookNode, gid: str, source: str) -> nbformat.NotebookNode:
    by_grade_id(nb, gid).source = source
    return nb


def tiny_submissions(solution: nbformat.NotebookNode) -> dict[str, object]:
    """name -> notebook (or raw bytes) of each fixture submission."""
    ok = lambda: answered(solution)  # noqa: E731 - a fresh fully correct copy each time
    subs: dict[str, object] = {
        "correct": ok(),
        "untouched": student_notebook(solution),
        "invalid_json": b'{"cells": [',
        "invalid_nbformat": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                        "cells": [{"cell_type": "code", "source": 1}]}).encode(),
        "raises": _with(ok(), "double", "def double(x):\n    return 1 / 0"),
        "infinite_loop": _with(ok(), "square", "def square(x):\n    while True:\n        pass"),
        "ignores_interrupt": _with(ok(), "square", (
            "def square(x):\n    import signal, time\n"
            "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "    while True:\n        time.sleep(0.05)")),
        "kernel_dies": _with(ok(), "square", "def square(x):\n    import os\n    os._exit(1)"),
        "flood": _with(ok(), "double", (
            "def double(x):\n    return 2 * x\n\n"
            "for _ in range(1000):\n    print('x' * 9999)   # 10 MB")),
        "sys_exit": _with(ok(), "greet", (
            'import sys\nsys.exit("bye")\n\ndef greet(name):\n    return f"hello {name}"')),
        "writes_files": _with(ok(), "double", (
            "import os, glob, pathlib\n"
            "for nb in glob.glob('*.ipynb'):\n    os.remove(nb)             # delete the notebook\n"
            "pathlib.Path('junk.txt').write_text('x')\n"
            "pathlib.Path('../junk.txt').write_text('x')\n"
            "pathlib.Path(os.path.expanduser('~'), 'junk.txt').write_text('x')\n\n"
            "def double(x):\n    return 2 * x")),
    }
    # a student edited the visible test of a wrong answer so that it "passes": never trusted
    edited = _with(ok(), "double", "def double(x):\n    return x + 2")
    subs["edited_test"] = _with(edited, "test_double", "pass")
    renamed = ok()
    by_grade_id(renamed, "test_square").metadata["nbgrader"]["grade_id"] = "my_square_test"
    subs["renamed_test"] = _with(renamed, "my_square_test", "pass")
    copied = ok()  # a copy of a test cell above its exercise: only the last copy runs
    duplicate = copy.deepcopy(by_grade_id(copied, "test_square"))
    duplicate.id = "copied-cell"
    copied.cells.insert(0, duplicate)
    subs["copied_test"] = copied
    deleted = ok()
    deleted.cells.remove(by_grade_id(deleted, "test_greet"))
    subs["deleted_test"] = deleted
    no_exercise = ok()
    no_exercise.cells.remove(by_grade_id(no_exercise, "square"))
    subs["deleted_exercise"] = no_exercise
    return subs


# student -> (points, {test: (status, a substring its reason must hold)})
PASS, FAIL = "passed", "failed"
EXPECTED = {
    "correct": (6, {"test_double": (PASS, ""), "test_square": (PASS, ""), "test_greet": (PASS, "")}),
    "untouched": (0, {"test_double": (FAIL, "NotImplementedError"),
                      "test_greet": (FAIL, "NotImplementedError")}),
    "invalid_json": (0, {"test_double": (FAIL, "not a readable notebook: "),
                         "test_greet": (FAIL, "not a readable notebook: ")}),
    "invalid_nbformat": (0, {"test_square": (FAIL, "not a readable notebook: not valid nbformat")}),
    "raises": (5, {"test_double": (FAIL, "ZeroDivisionError: division by zero"),
                   "test_square": (PASS, "")}),
    "infinite_loop": (4, {"test_square": (FAIL, "timed out after 4 s in cell 5; the cell was interrupted"),
                          "test_greet": (PASS, "")}),
    "ignores_interrupt": (1, {"test_double": (PASS, ""),
                              "test_square": (FAIL, "did not answer an interrupt and was killed"),
                              "test_greet": (FAIL, "not run: kernel killed after cell 5 timed out")}),
    "kernel_dies": (1, {"test_square": (FAIL, "kernel died in cell 5 (out of memory or the "
                                              "process exited)"),
                        "test_greet": (FAIL, "not run: the kernel died in cell 5")}),
    "flood": (6, {"test_double": (PASS, ""), "test_greet": (PASS, "")}),
    "sys_exit": (3, {"test_greet": (FAIL, "NameError: name 'greet' is not defined; exercise cell greet "
                                          "(cell 6) raised SystemExit: bye")}),
    "writes_files": (6, {"test_double": (PASS, ""), "test_greet": (PASS, "")}),
    "edited_test": (5, {"test_double": (FAIL, "AssertionError: double(-3) should be -6")}),
    "renamed_test": (6, {"test_square": (PASS, "test cell test_square was missing")}),
    "deleted_test": (6, {"test_greet": (PASS, "test cell test_greet was missing (deleted, or its "
                                              "grade_id changed); restored from the source")}),
    "copied_test": (6, {"test_square": (PASS, "")}),
    "deleted_exercise": (4, {"test_square": (FAIL, "exercise cell square was not found"),
                             "test_greet": (PASS, "")}),
}


def _write_submissions(folder: Path, subs: dict[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in subs.items():
        path = folder / f"{name}.ipynb"
        if isinstance(nb, bytes):
            path.write_bytes(nb)
        else:
            nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    solutions = root / "solutions"
    solutions.mkdir()
    nbformat.write(tiny_solution(), str(solutions / "01_tiny.ipynb"))
    return root, solutions, load_assignment("01", solutions)


@pytest.fixture(scope="module")
def bad(tiny):
    root, solutions, assignment = tiny
    subs, out = root / "submissions", root / "out"
    _write_submissions(subs, tiny_submissions(read_notebook(solutions / "01_tiny.ipynb")))
    before = tree_hash(subs), tree_hash(solutions)
    summary = grade_folder(assignment, subs, out, jobs=2, timeout=4, **QUIET)
    after = tree_hash(subs), tree_hash(solutions)
    return out, {r["student"]: r for r in summary.results}, before, after


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_kind_of_submission_is_graded_with_its_reason(bad, student):
    _, results, _, _ = bad
    points, reasons = EXPECTED[student]
    r = results[student]
    tests = {t["test"]: t for t in r["tests"]}
    assert r["score"] == points, json.dumps(r["tests"], indent=1)
    assert not r["grader_error"]
    for test, (status, reason) in reasons.items():
        assert tests[test]["status"] == status and reason in tests[test]["reason"], tests[test]
        assert tests[test]["points_earned"] == (tests[test]["points_possible"] if status == PASS else 0)


def test_submissions_and_solutions_are_never_modified(bad):
    _, _, before, after = bad
    assert before == after


def test_unreadable_submissions_are_explained_in_csv_and_feedback(bad):
    out, _, _, _ = bad
    totals = {r["student"]: r for r in read_csv(out) if r["test"] == "TOTAL"}
    assert totals["invalid_json"]["reason"].startswith("not a readable notebook: ")
    assert totals["invalid_json"]["points_earned"] == "0"
    feedback = (out / "feedback" / "invalid_nbformat.md").read_text()
    assert "not valid nbformat" in feedback
    assert not (out / "executed" / "invalid_json.ipynb").exists()


def test_a_copied_test_cell_is_noted(bad):
    _, results, _, _ = bad
    note = "cell test_square appeared more than once; only the last copy ran"
    assert note in results["copied_test"]["notes"]


def test_prepare_puts_missing_test_cells_back_in_place(tiny):
    """No kernel needed: where prepare() restores deleted test cells, and what it notes."""
    _, solutions, assignment = tiny
    student = answered(read_notebook(solutions / "01_tiny.ipynb"))
    student.cells.insert(2, nbformat.v4.new_code_cell("print('a cell of my own')"))
    for gid in ("test_double", "square", "test_square"):   # two test cells and an exercise
        student.cells.remove(by_grade_id(student, gid))
    prepared = prepare(student, assignment)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in prepared.nb.cells]
    assert ids == [None, "double", "test_double", "test_square", None, "greet", "test_greet"]
    assert by_grade_id(prepared.nb, "test_double").source == TINY[2][0]   # hidden tests included
    assert prepared.test_notes["test_square"] == [
        "test cell test_square was missing (deleted, or its grade_id changed); restored from the source"]
    assert "exercise cell square was not found" in prepared.failure_notes["test_square"][0]


def test_a_restored_test_cell_runs_after_its_exercise(bad):
    out, _, _, _ = bad
    executed = read_notebook(out / "executed" / "deleted_test.ipynb")
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in executed.cells]
    assert ids.index("test_greet") == ids.index("greet") + 1


def test_output_flood_is_capped(bad):
    out, _, _, _ = bad
    assert (out / "executed" / "flood.ipynb").stat().st_size < 100_000
    cell = by_grade_id(read_notebook(out / "executed" / "flood.ipynb"), "double")
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert 20_000 <= len(text) < 21_000 and "output capped by the grader" in text


def test_timeouts_and_dead_kernels_are_recorded_in_the_executed_notebook(bad):
    out, _, _, _ = bad
    for student, ename in (("infinite_loop", "TimeoutError"), ("kernel_dies", "DeadKernelError")):
        cell = by_grade_id(read_notebook(out / "executed" / f"{student}.ipynb"), "test_square")
        assert ename in [o.get("ename") for o in cell.outputs]


# --- reruns, the command line ---------------------------------------------------------------

def test_rerun_skips_graded_submissions_resumes_and_regrades(tiny, tmp_path):
    _, solutions, assignment = tiny
    solution = read_notebook(solutions / "01_tiny.ipynb")
    subs, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(subs, {"a": answered(solution), "b": student_notebook(solution)})
    graded = lambda summary: sorted(r["student"] for r in summary.graded)  # noqa: E731

    assert graded(grade_folder(assignment, subs, out, **QUIET)) == ["a", "b"]
    second = grade_folder(assignment, subs, out, **QUIET)
    assert graded(second) == [] and len(second.skipped) == 2
    # a changed submission is graded again; so is one whose result is missing (interrupted run)
    nbformat.write(answered(solution, {"double"}), str(subs / "a.ipynb"))
    (out / "results" / "b.json").unlink()
    third = grade_folder(assignment, subs, out, **QUIET)
    assert graded(third) == ["a", "b"]
    assert {r["student"]: r["score"] for r in third.results} == {"a": 1, "b": 0}
    assert graded(grade_folder(assignment, subs, out, regrade=True, **QUIET)) == ["a", "b"]
    assert len(read_csv(out)) == 2 * (3 + 1)


def test_cli_grade(tiny, tmp_path, capsys):
    _, solutions, _ = tiny
    subs, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(subs, {"ada": answered(read_notebook(solutions / "01_tiny.ipynb"))})
    args = ["grade", "01_tiny", str(subs), "--out", str(out), "--solutions", str(solutions)]
    assert cli.main(args + ["--timeout", "60"]) == 0
    text = capsys.readouterr().out
    assert "ada: 6/6" in text and "1 graded, 0 skipped" in text
    assert (out / "grades.csv").exists() and (out / "feedback" / "ada.md").exists()

    assert cli.main(["grade", "07", str(subs), "--out", str(out), "--solutions", str(solutions)]) == 2
    assert "available: 01_tiny" in capsys.readouterr().err
    inside = ["grade", "01", str(subs), "--out", str(subs / "out"), "--solutions", str(solutions)]
    assert cli.main(inside) == 2
    assert "inside" in capsys.readouterr().err


def test_a_solution_without_graded_cells_is_refused(tmp_path):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                   str(tmp_path / "02_empty.ipynb"))
    with pytest.raises(GradingError, match="no graded test cells"):
        load_assignment("02", tmp_path)
