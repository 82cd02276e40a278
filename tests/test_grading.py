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
from course_utils.instructor.grading.report import executed_path, feedback_path, result_path
from course_utils.instructor.grading.watchdog import process_tree
from course_utils.instructor.release import SOLUTION_BEGIN, SOLUTION_END, read_notebook, student_notebook

pytestmark = [pytest.mark.slow, pytest.mark.kernel]   # the grader, its workers and kernels

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
    nbformat.write(answered(solution, PARTIAL), str(subs / "partial.ipynb"))
    # answers that hand the work to the package: a wrapper around the course's function, the
    # course's function under the exercise's name, and the rest answered (issue 27, hole 5)
    delegates = answered(solution)
    _with(delegates, "assign_clusters", "from course_utils import clustering\n\n"
          "def assign_clusters(X, centers):\n    return clustering.assign_clusters(X, centers)")
    _with(delegates, "cluster_accuracy", "from course_utils.metrics import cluster_acc as cluster_accuracy")
    nbformat.write(delegates, str(subs / "delegates.ipynb"))
    out = subs.parent / "out"
    summary = grade_folder(load_assignment("01"), subs, out, jobs=2, **QUIET)
    return out, {r["student"]: r for r in summary.results}


def test_week01_correct_submission_gets_full_marks(week01):
    _, results = week01
    r = results["correct"]
    assert (r["score"], r["possible"]) == (16, 16), r["tests"]
    assert all(t["status"] == "passed" and t["reason"] == "" for t in r["tests"])


def test_week01_unfinished_exercises_get_zero_with_not_implemented_reasons(week01):
    _, results = week01
    r = results["partial"]      # exercises 3, 4, 6 and 7 are untouched
    assert len(r["tests"]) == 7
    for t in r["tests"]:
        if t["test"] not in {"test_assign_clusters", "test_update_centers", "test_cluster_accuracy"}:
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
    assert list(rows[0]) == ["student", "test", "points_earned", "points_possible", "status", "reason",
                             "identical_to"]
    totals = {r["student"]: (r["points_earned"], r["points_possible"])
              for r in rows if r["test"] == "TOTAL"}
    assert totals == {"correct": ("16", "16"), "partial": ("6", "16"), "delegates": ("12", "16")}
    assert len(rows) == 3 * (7 + 1)
    feedback = feedback_path(out, "partial").read_text()
    assert "**Total: 6 / 16 points**" in feedback and "`test_e_step`" in feedback
    assert "e_step is not implemented yet" in feedback
    executed = read_notebook(executed_path(out, "correct"))
    assert "### BEGIN HIDDEN TESTS" in by_grade_id(executed, "test_assign_clusters").source


def test_week01_answers_that_call_the_course_implementation_get_no_points(week01):
    out, results = week01
    r = results["delegates"]
    tests = {t["test"]: t for t in r["tests"]}
    for test, used in (("test_assign_clusters", "course_utils.clustering.assign_clusters"),
                       ("test_cluster_accuracy", "course_utils.metrics.cluster_acc")):
        assert tests[test]["status"] == "failed", tests[test]
        assert "course's own implementation" in tests[test]["reason"] and used in tests[test]["reason"]
    assert {t for t, v in tests.items() if v["status"] == "passed"} == set(tests) - {
        "test_assign_clusters", "test_cluster_accuracy"}
    assert len(r["delegated"]) == 2 and "course's own implementation" in " ".join(r["notes"])
    assert "course's own implementation" in feedback_path(out, "delegates").read_text()
    assert not results["correct"].get("delegated")


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
    ("import numpy as np", {}),
    ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", _meta("double", "ex")),
    ('assert double(2) == 4, "double(2) should be 4"\n### BEGIN HIDDEN TESTS\n'
     'assert double(-3) == -6, "double(-3) should be -6"\n'
     'assert np.array_equal(double(np.arange(3)), [0, 2, 4]), "double works on arrays"\n### END HIDDEN TESTS',
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
        elif not meta:
            nb.cells.append(nbformat.v4.new_code_cell(source))
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
            "try:\n    pathlib.Path('../junk.txt').write_text('x')   # refused as nobody\n"
            "except OSError:\n    pass\n"
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
# The tiny assignment's time limit per test cell. The suite runs in two pytest-xdist workers, so
# the other worker may be training a model meanwhile: a limit of a few seconds then also cuts off a
# quick answer (seen with 4 s). Only the infinite-loop kinds wait for it.
TINY_TIMEOUT = 12

EXPECTED = {
    "correct": (6, {"test_double": (PASS, ""), "test_square": (PASS, ""), "test_greet": (PASS, "")}),
    "untouched": (0, {"test_double": (FAIL, "NotImplementedError"),
                      "test_greet": (FAIL, "NotImplementedError")}),
    "invalid_json": (0, {"test_double": (FAIL, "not a readable notebook: "),
                         "test_greet": (FAIL, "not a readable notebook: ")}),
    "invalid_nbformat": (0, {"test_square": (FAIL, "not a readable notebook: not valid nbformat")}),
    "raises": (5, {"test_double": (FAIL, "ZeroDivisionError: division by zero"),
                   "test_square": (PASS, "")}),
    "infinite_loop": (4, {"test_square": (FAIL, f"square did not return within the time limit ({TINY_TIMEOUT:g} s"),
                          "test_greet": (PASS, "")}),
    "ignores_interrupt": (1, {"test_double": (PASS, ""),
                              "test_square": (FAIL, f"square did not return within the time limit ({TINY_TIMEOUT:g} s"),
                              "test_greet": (FAIL, "not run: the notebook's kernel did not answer after "
                                                   "the test in cell 6 and was killed")}),
    "kernel_dies": (1, {"test_square": (FAIL, "square"),
                        "test_greet": (FAIL, "not run: the notebook's kernel")}),
    "flood": (6, {"test_double": (PASS, ""), "test_greet": (PASS, "")}),
    "sys_exit": (3, {"test_greet": (FAIL, "NameError: name 'greet' is not defined; exercise cell greet "
                                          "(cell 7) raised SystemExit: bye")}),
    "writes_files": (6, {"test_double": (PASS, ""), "test_greet": (PASS, "")}),
    "edited_test": (5, {"test_double": (FAIL, "a hidden test failed: AssertionError: double(-3) should be -6")}),
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
    summary = grade_folder(assignment, subs, out, jobs=2, timeout=TINY_TIMEOUT, **QUIET)
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
    feedback = feedback_path(out, "invalid_nbformat").read_text()
    assert "not valid nbformat" in feedback
    assert not executed_path(out, "invalid_json").exists()


def test_a_copied_test_cell_is_noted(bad):
    _, results, _, _ = bad
    note = "cell test_square appeared more than once; only the last copy ran"
    assert note in results["copied_test"]["notes"]


def test_prepare_puts_missing_test_cells_back_in_place(tiny):
    """No kernel needed: where prepare() restores deleted test cells, and what it notes."""
    _, solutions, assignment = tiny
    student = answered(read_notebook(solutions / "01_tiny.ipynb"))
    student.cells.insert(3, nbformat.v4.new_code_cell("print('a cell of my own')"))
    for gid in ("test_double", "square", "test_square"):   # two test cells and an exercise
        student.cells.remove(by_grade_id(student, gid))
    prepared = prepare(student, assignment)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in prepared.nb.cells]
    assert ids == [None, None, "double", "test_double", "test_square", None, "greet", "test_greet"]
    assert by_grade_id(prepared.nb, "test_double").source == TINY[3][0]   # hidden tests included
    assert prepared.test_notes["test_square"] == [
        "test cell test_square was missing (deleted, or its grade_id changed); restored from the source"]
    assert "exercise cell square was not found" in prepared.failure_notes["test_square"][0]


def test_a_restored_test_cell_runs_after_its_exercise(bad):
    out, _, _, _ = bad
    executed = read_notebook(executed_path(out, "deleted_test"))
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in executed.cells]
    assert ids.index("test_greet") == ids.index("greet") + 1


def test_output_flood_is_capped(bad):
    out, _, _, _ = bad
    assert executed_path(out, "flood").stat().st_size < 100_000
    cell = by_grade_id(read_notebook(executed_path(out, "flood")), "double")
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert 20_000 <= len(text) < 21_000 and "output capped by the grader" in text


def test_timeouts_and_dead_kernels_are_recorded_in_the_executed_notebook(bad):
    out, _, _, _ = bad
    for student, ename in (("infinite_loop", "TimeoutError"), ("ignores_interrupt", "TimeoutError")):
        cell = by_grade_id(read_notebook(executed_path(out, student)), "test_square")
        assert ename in [o.get("ename") for o in cell.outputs]


# --- reruns, the command line ---------------------------------------------------------------

def test_rerun_skips_graded_submissions_resumes_and_regrades(tiny, tmp_path):
    _, solutions, assignment = tiny
    solution = read_notebook(solutions / "01_tiny.ipynb")
    subs, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(subs, {"a": answered(solution), "b": student_notebook(solution)})
    graded = lambda summary: sorted(r["student"] for r in summary.graded)  # noqa: E731

    assert graded(grade_folder(assignment, subs, out, jobs=2, **QUIET)) == ["a", "b"]
    second = grade_folder(assignment, subs, out, jobs=2, **QUIET)
    assert graded(second) == [] and len(second.skipped) == 2
    # a changed submission is graded again; so is one whose result is missing (interrupted run)
    nbformat.write(answered(solution, {"double"}), str(subs / "a.ipynb"))
    result_path(out, "b").unlink()
    third = grade_folder(assignment, subs, out, jobs=2, **QUIET)
    assert graded(third) == ["a", "b"]
    assert {r["student"]: r["score"] for r in third.results} == {"a": 1, "b": 0}
    assert graded(grade_folder(assignment, subs, out, regrade=True, jobs=2, **QUIET)) == ["a", "b"]
    assert len(read_csv(out)) == 2 * (3 + 1)
    # a changed test (in the solution read for this run) regrades everyone, and says why
    changed = copy.deepcopy(solution)
    by_grade_id(changed, "test_square").source += "\nassert square(-2) == 4"
    other = tmp_path / "changed"
    other.mkdir()
    nbformat.write(changed, str(other / "01_tiny.ipynb"))
    lines: list[str] = []
    fifth = grade_folder(load_assignment("01", other), subs, out, jobs=2, progress=False, echo=lines.append)
    assert graded(fifth) == ["a", "b"]
    assert any("the solution's tests changed" in line for line in lines)


def test_cli_grade(tiny, tmp_path, capsys):
    _, solutions, _ = tiny
    subs, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(subs, {"ada": answered(read_notebook(solutions / "01_tiny.ipynb"))})
    args = ["grade", "01_tiny", str(subs), "--out", str(out), "--solutions", str(solutions)]
    assert cli.main(args + ["--timeout", "60"]) == 0
    text = capsys.readouterr().out
    assert "ada: 6/6" in text and "1 graded, 0 skipped" in text
    assert (out / "grades.csv").exists() and feedback_path(out, "ada").exists()

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


# --- a hostile class: every attack that once worked is a fixture -------------------------------
# Each must fail to gain a point, to crash the grader, or to change another student's result.

MARK = "course-attack-7f3e"   # in every attacking process's command line: none may outlive grading
HIDDEN_ONLY = ("double(-3) should be -6", "np.arange(3)", "BEGIN HIDDEN TESTS", "double works on arrays")

ATTACKS = {
    # 1. an input transformer turns every later test cell into `pass`
    "input_transformer": ("double", '''\
def _neutralise(lines):
    text = "".join(lines)
    if "assert" in text or "HIDDEN TESTS" in text or "checks.check_" in text:
        return ["pass\\n"]
    return lines

get_ipython().input_transformers_cleanup.append(_neutralise)

def double(x):
    raise NotImplementedError()'''),
    # 2. rebind what the tests read: np, the self-checks, objects equal to everything
    "rebinding": ("double", '''\
import sys, types
import numpy

class _Yes:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __getattr__(self, name): return lambda *a, **k: True

class _FakeNumpy(types.ModuleType):
    def __getattr__(self, name): return lambda *a, **k: True

np = _FakeNumpy("numpy")
sys.modules["numpy"].allclose = numpy.array_equal = lambda *a, **k: True
import course_utils.checks.week01 as _w
for _name in dir(_w):
    if _name.startswith("check_"):
        setattr(_w, _name, lambda *a, **k: None)

def double(x):
    return _Yes()

def square(x):
    return _Yes()

def greet(name):
    return _Yes()'''),
    # 3. a process that outlives the kernel rewrites results and grades.csv
    "daemon": ("double", f'''\
import os, subprocess, sys
_script = """
import glob, json, os, sys, time
for _ in range(400):
    roots = [os.environ.get("XDG_CACHE_HOME", ""), os.path.expanduser("~"), "/tmp", "/proc/1/cwd", os.getcwd()]
    for root in roots:
        for up in (root, os.path.dirname(root), os.path.dirname(os.path.dirname(root))):
            for path in glob.glob(os.path.join(up, "**", "results", "*.json"), recursive=True)[:100]:
                try:
                    r = json.load(open(path))
                    for t in r.get("tests", []):
                        t["status"], t["points_earned"] = "passed", t["points_possible"]
                    r["score"] = r.get("possible", 0)
                    open(path, "w").write(json.dumps(r))
                except Exception:
                    pass
    time.sleep(0.1)
"""
subprocess.Popen([sys.executable, "-c", _script, "{MARK}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def double(x):
    raise NotImplementedError()'''),
    # 4. find the solution (grader's cwd, the package's repository, $PWD) and blank its tests
    "rewrites_solution": ("double", '''\
import glob, json, os
import course_utils.config as _config
_bases = [f"/proc/{os.getppid()}/cwd", "/proc/1/cwd", os.environ.get("PWD", ""), str(_config.REPO_ROOT),
          os.getcwd(), "/tmp", "/root", "/work", "/home"]
_changed = []
for _base in _bases:
    for _path in glob.glob(os.path.join(_base, "**", "01_tiny.ipynb"), recursive=True)[:20]:
        try:
            _nb = json.load(open(_path))
            for _cell in _nb["cells"]:
                if _cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                    _cell["source"] = "pass"
            json.dump(_nb, open(_path, "w"))
            _changed.append(_path)
        except Exception:
            pass
print("rewrote:", _changed)

def double(x):
    raise NotImplementedError()'''),
    # 5. fish for the hidden tests (files, other processes, the kernel's own history) and leak
    #    what was found in an error message, which lands in the feedback
    "leaks_tests": ("double", '''\
import glob, os
from IPython import get_ipython
_needle = "BEGIN" + " HIDDEN"        # what only a hidden test cell holds (not this cell itself)
_found = []
for _pattern in ("/proc/*/cmdline", "/proc/*/environ", "/proc/*/cwd/**/*.ipynb"):
    for _path in glob.glob(_pattern, recursive=True)[:200]:
        try:
            _text = open(_path, errors="replace").read()
        except Exception:
            continue
        if _needle in _text:
            _found.append(_text[_text.index(_needle):][:300])
_seen = []
get_ipython().input_transformers_cleanup.append(lambda lines: _seen.append("".join(lines)) or lines)

def double(x):
    history = " ".join(_seen) + " ".join(get_ipython().history_manager.input_hist_raw)
    i = history.find(_needle)
    raise RuntimeError("LEAK " + " ".join(_found)[:400] + " HISTORY " + (history[i:i + 400] if i >= 0 else ""))'''),
    # what the kernel can see, write and reach: printed as JSON (the test reads the output)
    "looks_around": ("greet", '''\
import glob, json, os, socket
import course_utils.config as _config
_repo = str(_config.REPO_ROOT)
_seen = {
    "solutions": sorted(set(glob.glob(os.path.join(_repo, "solutions", "*")) + glob.glob("/proc/*/cwd/solutions")
                            + glob.glob("/proc/*/cwd/**/01_tiny.ipynb", recursive=True)
                            + glob.glob("/tmp/**/01_tiny.ipynb", recursive=True))),
    "repository": sorted(os.listdir(_repo)),
    "writable": [p for p in (os.path.join(_repo, "course_utils"), "/usr", "/etc", os.environ.get("COURSE_DATA_DIR", "/"))
                 if os.access(p, os.W_OK)],
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "uid": os.getuid(),
}
try:   # the folder above course_utils exists only in the sandbox: what is written there stays there
    open(os.path.join(_repo, "LEAKED-looks_around"), "w").write("x")
except OSError:
    pass
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    _seen["network"] = True
except OSError:
    _seen["network"] = False
print("SEEN " + json.dumps(_seen))

def greet(name):
    return f"hello {name}"'''),
    # 6. kill the parent process (once the grader's pool worker), and every process it may see
    "kills_parent": ("square", '''\
import os, signal
for _pid in (os.getppid(), 1):
    try:
        os.kill(_pid, signal.SIGKILL)
    except Exception:
        pass
try:
    os.kill(-1, signal.SIGKILL)
except Exception:
    pass

def square(x):
    return x * x'''),
    # 7. take all the memory there is
    "memory_hog": ("square", '''\
_chunks = []
while True:
    _chunks.append(bytearray(2**28))   # 256 MB at a time, until something stops it

def square(x):
    return x * x'''),
    # 8. rich outputs: many large HTML outputs
    "rich_flood": ("square", '''\
from IPython.display import HTML, display
for _ in range(8):
    display(HTML("<p>" + "x" * 3_000_000 + "</p>"))     # over the limit of one output
for _ in range(30):
    display(HTML("<p>" + "y" * 1_500_000 + "</p>"))     # together over the notebook's limit

def square(x):
    return x * x'''),
}


def _attack_submissions(solution: nbformat.NotebookNode) -> dict[str, object]:
    subs: dict[str, object] = {}
    for name, (gid, source) in ATTACKS.items():
        nb = (answered(solution) if name in ("kills_parent", "memory_hog", "rich_flood", "looks_around")
              else student_notebook(solution))
        subs[name] = _with(nb, gid, source)
    subs["correct"] = answered(solution)
    subs["correct_copy"] = answered(solution)            # the same file twice: flagged
    subs["untouched"] = student_notebook(solution)
    subs["é" * 120] = answered(solution)                 # 246 bytes with .ipynb: a legal name
    subs["x" * 249] = answered(solution)                 # 255 bytes, the longest a file name may be
    return subs


def _processes(pattern: str) -> list[str]:
    """Command lines of live processes that contain ``pattern``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if pattern in cmd and proc.name != str(__import__("os").getpid()):
            found.append(cmd)
    return found


@pytest.fixture(scope="module")
def attacked(tiny, tmp_path_factory):
    from course_utils.instructor.grading import Limits
    from course_utils.instructor.grading.sandbox import bwrap_problem

    if bwrap_problem():
        if __import__("os").environ.get("CI"):
            pytest.fail(f"the sandbox must work in CI: {bwrap_problem()}")
        pytest.skip(f"no sandbox here: {bwrap_problem()}")
    root, solutions, assignment = tiny
    base = tmp_path_factory.mktemp("attacks")
    subs, out = base / "submissions", base / "out"
    _write_submissions(subs, _attack_submissions(read_notebook(solutions / "01_tiny.ipynb")))
    before = tree_hash(subs), tree_hash(solutions), tree_hash(REPO_ROOT / "solutions")
    cwd = __import__("os").getcwd()
    __import__("os").chdir(root)          # the grader's working folder holds the solutions
    try:
        summary = grade_folder(assignment, subs, out, jobs=2, timeout=20, sandbox="bwrap",
                               limits=Limits(memory=5 * 2**30), **QUIET)
    finally:
        __import__("os").chdir(cwd)
    after = tree_hash(subs), tree_hash(solutions), tree_hash(REPO_ROOT / "solutions")
    survivors = _processes(MARK)
    # what the grader reports is what it signed: reread it from the disk, as an instructor would
    return out, {r["student"]: r for r in summary.results}, before, after, survivors, summary


@pytest.mark.parametrize("attack", ["input_transformer", "rebinding", "daemon", "rewrites_solution", "leaks_tests"])
def test_an_attack_on_the_tests_gains_nothing(attacked, attack):
    out, results, *_ = attacked
    r = results[attack]
    assert r["score"] == 0 and not r["grader_error"], json.dumps(r, indent=1)
    rows = [row for row in read_csv(out) if row["student"] == attack]
    assert {row["points_earned"] for row in rows} == {"0"}


def test_nothing_outlives_grading_and_no_file_outside_the_sandbox_changed(attacked):
    _, results, before, after, survivors, _ = attacked
    assert survivors == []
    assert before == after          # submissions, the assignment's solutions, the repository's solutions


def test_a_rewritten_solution_cannot_reach_other_students(attacked):
    _, results, *_ = attacked
    assert results["untouched"]["score"] == 0 and results["correct"]["score"] == 6


def test_feedback_never_quotes_a_hidden_test(attacked):
    out, results, *_ = attacked
    everything = (out / "grades.csv").read_text() + "".join(
        p.read_text() for p in (out / "feedback").glob("*.md"))
    for text in HIDDEN_ONLY:
        assert text not in everything
    reason = next(t["reason"] for t in results["leaks_tests"]["tests"] if t["test"] == "test_double")
    assert reason.startswith("RuntimeError: LEAK") and "BEGIN HIDDEN" not in reason


def test_hostile_processes_memory_and_outputs_cost_only_their_own_points(attacked):
    out, results, *_ , summary = attacked
    assert not summary.grader_errors
    kp = {t["test"]: t for t in results["kills_parent"]["tests"]}
    assert kp["test_double"]["status"] == PASS          # ran before the attack
    hog = results["memory_hog"]
    assert hog["score"] == 4 and any("MemoryError" in n for n in hog["notes"]), hog["notes"]
    flood = executed_path(out, "rich_flood")
    assert results["rich_flood"]["score"] == 6 and flood.stat().st_size < 30 * 2**20
    assert "output dropped by the grader" in flood.read_text()


def test_the_sandbox_hides_the_disk_the_network_and_other_processes(attacked):
    out, results, *_ = attacked
    cell = by_grade_id(read_notebook(executed_path(out, "looks_around")), "greet")
    text = "".join(o.get("text", "") for o in cell.outputs)
    seen = json.loads(text.split("SEEN ", 1)[1].splitlines()[0])
    assert seen["solutions"] == [] and "solutions" not in seen["repository"]
    assert set(seen["repository"]) <= {"course_utils", "data", ".venv"}
    assert seen["writable"] == [] and seen["network"] is False
    assert not (REPO_ROOT / "LEAKED-looks_around").exists()
    assert len(seen["processes"]) < 10 and seen["uid"] == 65534
    assert results["looks_around"]["score"] == 6


def test_long_and_unusual_file_names_and_identical_files(attacked):
    out, results, *_ = attacked
    for name in ("é" * 120, "x" * 249):
        assert results[name]["score"] == 6 and not results[name]["grader_error"]
        assert feedback_path(out, name).exists() and len(feedback_path(out, name).name) < 80
    totals = {row["student"]: row for row in read_csv(out) if row["test"] == "TOTAL"}
    assert len(totals) == len(ATTACKS) + 5
    twins = set(totals["correct"]["identical_to"].split("; "))
    assert {"correct_copy", "é" * 120, "x" * 249} <= twins


def test_forged_or_unsigned_results_are_not_accepted(attacked, tmp_path):
    from course_utils.instructor.grading.report import load_results

    out, *_ = attacked
    path = result_path(out, "untouched")
    forged = json.loads(path.read_text())
    forged["score"] = 6
    for t in forged["tests"]:
        t["status"], t["points_earned"] = PASS, t["points_possible"]
    copy_dir = tmp_path / "out"
    import shutil
    shutil.copytree(out, copy_dir)
    result_path(copy_dir, "untouched").write_text(json.dumps(forged))
    rejected: list = []
    kept = {r["student"] for r in load_results(copy_dir, rejected=rejected)}
    assert "untouched" not in kept and rejected == [path.name]


def test_without_a_sandbox_a_dying_worker_costs_only_its_submission(tiny, tmp_path, capsys):
    """Unsandboxed (as on a machine without bubblewrap), a submission can kill the grader's
    worker: it is retried once, then recorded as a grader error; the others are graded, the run
    says it was not sandboxed and the command's exit code is 1."""
    _, solutions, _ = tiny
    solution = read_notebook(solutions / "01_tiny.ipynb")
    subs, out = tmp_path / "submissions", tmp_path / "out"
    killer = _with(answered(solution), "square", (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n\ndef square(x):\n    return x * x"))
    _write_submissions(subs, {"killer": killer, "correct": answered(solution),
                              "untouched": student_notebook(solution)})
    args = ["grade", "01_tiny", str(subs), "--out", str(out), "--solutions", str(solutions),
            "--sandbox", "none", "--jobs", "2", "--timeout", "30"]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "NOT SANDBOXED" in captured.out + captured.err
    assert "grading it once more" in captured.out + captured.err
    from course_utils.instructor.grading.sandbox import course_readonly, stays_root

    # as root, with Python where nobody cannot read it (under /root, say), it says so everywhere
    kept_root = stays_root(False, course_readonly())
    if kept_root:
        assert "STUDENT CODE RUNS AS ROOT" in captured.out + captured.err
    totals = {row["student"]: row for row in read_csv(out) if row["test"] == "TOTAL"}
    assert totals["correct"]["points_earned"] == "6" and totals["untouched"]["points_earned"] == "0"
    assert totals["killer"]["points_earned"] == "0" and "grader error" in totals["killer"]["reason"]
    assert "graded WITHOUT a sandbox" in totals["correct"]["reason"]
    if kept_root:
        assert "ran as ROOT" in totals["correct"]["reason"]


def test_killing_the_grader_kills_its_workers_and_kernels(tiny, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    _, solutions, _ = tiny
    solution = read_notebook(solutions / "01_tiny.ipynb")
    subs, out = tmp_path / "submissions", tmp_path / "out"
    slow = _with(answered(solution), "square", f"import time\ntime.sleep(300)  # {MARK}-slow\n\ndef square(x):\n    return x * x")
    _write_submissions(subs, {"slow1": slow, "slow2": copy.deepcopy(slow)})
    grader = subprocess.Popen([sys.executable, "-m", "course_utils", "grade", "01_tiny", str(subs),
                               "--out", str(out), "--solutions", str(solutions), "--jobs", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # only this grader's processes: another test may be grading beside this one (pytest-xdist)
    mine = lambda: {pid: _cmdline(pid) for pid in process_tree(grader.pid) if pid != grader.pid}  # noqa: E731
    kernels = lambda procs: [p for p, cmd in procs.items()  # noqa: E731
                             if cmd.startswith(sys.executable) and "ipykernel_launcher" in cmd and "/grade-" in cmd]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(kernels(mine())) < 2:    # two sandboxed kernels run
        time.sleep(0.5)
    before = mine()
    assert len(kernels(before)) >= 2, f"the grader did not start two sandboxed kernels: {before}"
    assert any("course_utils.instructor.grading.worker" in cmd for cmd in before.values()), before
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    # they die with the grader: waited for with a deadline (a busy machine is slow to tear down)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and [p for p in before if _alive(p)]:
        time.sleep(0.2)
    left = {p: before[p] for p in before if _alive(p)}
    assert not left, f"still alive 30 s after the grader was killed: {left}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended; only its parent's wait is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


# --- the grader's boundary (issue 27): writing on the host, exhausting it, leaking, injecting ---

CANARY = "canary: the grader must never write here\n"

BOUNDARY = {
    # plant links where the trusted side writes (the old predictable request names, their .part
    # files, and the requests folder itself) pointing at a file outside the sandbox's folders
    "plants_links": ("double", '''\
import glob, os, sys
_exchange = os.path.dirname(next(a for a in sys.argv if a.endswith(".json")))
_root = os.path.dirname(_exchange)
_planted, _refused = [], []
for _folder in (_exchange, os.path.join(_root, "requests")):
    for _n in range(1, 60):
        for _name in (f"{_n}.request.npz", f"{_n}.request.npz.part", f"{_n}.reply.npz.part"):
            try:
                os.symlink(os.environ["CANARY_TARGET"] if "CANARY_TARGET" in os.environ else "CANARY",
                           os.path.join(_folder, _name))
                _planted.append(_folder)
            except OSError:
                _refused.append(_folder)
print("PLANTED", len(_planted), "REFUSED", len(set(_refused)))

def double(x):
    return 2 * x'''),
    # answer with a compressed reply that inflates 256 MiB out of 1.1 MiB (about 230-fold; the grader
    # refuses more than 100-fold). Level 1 writes it in about 0.3 s: a 2 GiB bomb took 6 s idle and ran
    # past the 12 s cell limit on a busy CI machine, so the test saw a timeout, not the refusal
    "inflating_reply": ("double", '''\
import io, zipfile
import numpy as np
import course_utils.instructor.grading.student_side as _side

def _bomb(request_path, reply_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (2**28,)})
    with zipfile.ZipFile(reply_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("a0.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = bytes(2**24)
            for _ in range(2**28 // 2**24):
                f.write(chunk)

_side.serve = _bomb

def double(x):
    return 2 * x'''),
    # what root can read, and how many processes it may start
    "looks_for_root": ("greet", '''\
import json, os
_seen = {"uid": os.getuid(), "euid": os.geteuid(),
         "shadow": os.access("/etc/shadow", os.R_OK),
         "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0]}
print("ROOT " + json.dumps(_seen))

def greet(name):
    return f"hello {name}"'''),
    # three children that together hold more than the sandbox's memory, each under its own limit
    "memory_in_children": ("square", '''\
import subprocess, sys, time
_kids = [subprocess.Popen([sys.executable, "-c",
                           "b = b'x' * (1500 * 2**20); import time; time.sleep(60)"]) for _ in range(3)]
time.sleep(15)

def square(x):
    return x * x'''),
    # more processes than the sandbox may start (root was not bound by RLIMIT_NPROC)
    "many_processes": ("square", '''\
import subprocess
_kids, _refused = [], 0
for _ in range(400):
    try:
        _kids.append(subprocess.Popen(["sleep", "30"]))
    except OSError:
        _refused += 1
print("STARTED", len(_kids), "REFUSED", _refused)
for _kid in _kids:
    _kid.kill()
    _kid.wait()

def square(x):
    return x * x'''),
    # more bytes, then more files, than the sandbox may write
    "fills_disk": ("square", '''\
import os
import time
for _i in range(6):
    with open(f"big{_i}.bin", "wb") as _f:
        for _ in range(64):
            _f.write(os.urandom(2**20))
time.sleep(4)

def square(x):
    return x * x'''),
    "many_files": ("square", '''\
import os, time
os.makedirs("many", exist_ok=True)
for _i in range(20_000):
    open(f"many/{_i}", "w").close()
time.sleep(4)

def square(x):
    return x * x'''),
    # errors that quote the hidden test's inputs, in the message and in the exception's class name
    "leaks_inputs": ("double", '''\
def double(x):
    if isinstance(x, int) and x == 2:
        return 4
    raise type(f"Got{abs(int(x[0]) if hasattr(x, '__len__') else int(x))}x", (ValueError,), {})(
        f"SECRET input {x!r}")'''),
    # one slow cell after another, each under the time limit of a cell (cells added below)
    "slow_cells": ("greet", '''\
def greet(name):
    return f"hello {name}"'''),
}
BOUNDARY_NAMES = {
    "fake_total": "x\n\n**Total: 6 \u2215 6 points**\n\n<!--",
    "formula": '=HYPERLINK("evil.example","6")',
    "terminal": "\x1b]0;pwned\x07\x1b[2Jname",
}


@pytest.fixture(scope="module")
def boundary(tiny, tmp_path_factory):
    import os

    from course_utils.instructor.grading import Limits
    from course_utils.instructor.grading.sandbox import bwrap_problem

    if bwrap_problem():
        if os.environ.get("CI"):
            pytest.fail(f"the sandbox must work in CI: {bwrap_problem()}")
        pytest.skip(f"no sandbox here: {bwrap_problem()}")
    root, solutions, assignment = tiny
    base = tmp_path_factory.mktemp("boundary")
    subs, out = base / "submissions", base / "out"
    canary = base / "canary.txt"
    canary.write_text(CANARY)
    solution = read_notebook(solutions / "01_tiny.ipynb")
    notebooks = {name: _with(answered(solution), gid, source.replace("CANARY", str(canary)))
                 for name, (gid, source) in BOUNDARY.items()}
    notebooks["correct"] = answered(solution)
    for key, name in BOUNDARY_NAMES.items():
        notebooks[name] = answered(solution)
    for _ in range(4):   # 4 x 9 s, each under the 12 s limit of a cell, over the budget of 25 s
        notebooks["slow_cells"].cells.insert(2, nbformat.v4.new_code_cell("import time\ntime.sleep(9)"))
    _write_submissions(subs, notebooks)
    # not notebooks: a link to the solution, a folder, a pipe, a sparse 64 GiB file
    (subs / "link.ipynb").symlink_to(solutions / "01_tiny.ipynb")
    (subs / "folder.ipynb").mkdir()
    os.mkfifo(subs / "pipe.ipynb")
    with open(subs / "huge.ipynb", "wb") as f:
        f.truncate(64 * 2**30)
    lines: list[str] = []
    summary = grade_folder(assignment, subs, out, jobs=2, timeout=TINY_TIMEOUT, sandbox="bwrap",
                           limits=Limits(memory=4 * 2**30, disk=256 * 2**20, files=5000, processes=256),
                           budget=25,
                           progress=False, echo=lines.append)
    return out, {r["student"]: r for r in summary.results}, canary, lines, summary


def _why(result: dict) -> str:
    """What a failed assertion on a result prints: its notes and each test's reason, in full."""
    return json.dumps({k: result.get(k) for k in ("student", "score", "grader_error", "notes", "seconds")}
                      | {"reasons": [t.get("reason") for t in result.get("tests", [])]}, indent=1)


def _tests(result: dict) -> dict:
    return {t["test"]: t for t in result["tests"]}


def test_a_planted_link_never_redirects_what_the_grader_writes(boundary):
    out, results, canary, *_ = boundary
    assert canary.read_text() == CANARY
    assert results["plants_links"]["score"] == 6, results["plants_links"]
    cell = by_grade_id(read_notebook(executed_path(out, "plants_links")), "double")
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "REFUSED 1" in text      # the requests folder is read-only in the sandbox


def test_a_reply_that_inflates_is_refused_and_costs_only_its_test(boundary):
    _, results, *_ = boundary
    r = results["inflating_reply"]
    tests = _tests(r)
    assert not r["grader_error"] and tests["test_double"]["status"] == "failed"
    assert "could not be read as plain data" in tests["test_double"]["reason"], tests["test_double"]
    assert "inflates 256 MiB" in tests["test_double"]["reason"], tests["test_double"]


def test_the_kernel_is_not_root_on_the_host(boundary):
    import os

    out, *_ = boundary
    cell = by_grade_id(read_notebook(executed_path(out, "looks_for_root")), "greet")
    text = "".join(o.get("text", "") for o in cell.outputs)
    seen = json.loads(text.split("ROOT ", 1)[1].splitlines()[0])
    assert seen["uid"] != 0 and seen["euid"] != 0 and seen["caps"] == "0000000000000000", seen
    if os.getuid() == 0:
        assert seen["shadow"] is False and seen["uid"] == 65534


def test_the_sandbox_cannot_start_more_processes_than_its_limit(boundary):
    out, results, *_ = boundary
    cell = by_grade_id(read_notebook(executed_path(out, "many_processes")), "square")
    text = "".join(o.get("text", "") for o in cell.outputs)
    started, refused = (int(w) for w in text.split("STARTED ", 1)[1].split()[0:3:2])
    assert started < 256 and refused > 0, text
    assert results["many_processes"]["score"] == 6


def test_memory_held_by_many_processes_counts_together(boundary):
    _, results, *_ = boundary
    r = results["memory_in_children"]
    assert not r["grader_error"] and r["score"] < 6, _why(r)
    assert any("memory" in n for n in r["notes"]), r["notes"]


def test_disk_and_file_count_are_limited_in_total(boundary):
    _, results, *_ = boundary
    for name, words in (("fills_disk", "MiB"), ("many_files", "files")):
        r = results[name]
        assert r["score"] < 6 and not r["grader_error"], r
        assert any("the notebook wrote" in n and words in n for n in r["notes"]), r["notes"]


def test_hidden_test_inputs_never_reach_the_feedback(boundary):
    out, results, *_ = boundary
    t = _tests(results["leaks_inputs"])["test_double"]
    assert t["status"] == "failed" and t["reason"].startswith("a hidden test failed: your code raised")
    text = feedback_path(out, "leaks_inputs").read_text() + (out / "grades.csv").read_text()
    assert "SECRET" not in text and "Got3x" not in text and "-3" not in t["reason"]


def test_a_notebook_gets_a_total_time_budget(boundary):
    _, results, *_ = boundary
    r = results["slow_cells"]
    assert r["seconds"] < 25 + 60, r["seconds"]
    assert r["score"] == 0 and not r["grader_error"]
    assert all("time budget for the whole notebook ran out" in t["reason"] for t in r["tests"]), r["tests"]


def test_links_folders_pipes_and_huge_files_get_zero_unread(boundary):
    _, results, _, _, summary = boundary
    assert not summary.grader_errors, [_why(r) for r in summary.grader_errors]
    for name, why in (("link", "symbolic link"), ("folder", "not a regular file"),
                      ("pipe", "not a regular file"), ("huge", "larger than the grader accepts")):
        r = results[name]
        assert r["score"] == 0 and not r["grader_error"], r
        assert all(why in t["reason"] for t in r["tests"]), r["tests"]


def test_names_cannot_inject_into_feedback_csv_or_console(boundary):
    out, results, _, lines, _ = boundary
    fake = BOUNDARY_NAMES["fake_total"]
    feedback = feedback_path(out, fake).read_text()
    totals = [line for line in feedback.splitlines() if line.startswith("**Total")]
    assert totals == ["**Total: 6 / 6 points**"] and "<!--" not in feedback
    rows = read_csv(out)
    assert all(not row["student"].startswith(("=", "+", "-", "@")) for row in rows)
    assert any(row["student"] == "'" + BOUNDARY_NAMES["formula"] for row in rows)
    assert lines and all("\x1b" not in line and "\x07" not in line for line in lines)


def test_a_perfect_control_and_a_bystander_keep_full_marks(boundary):
    _, results, *_ = boundary
    assert results["correct"]["score"] == 6 and not results["correct"]["grader_error"]
    for name in BOUNDARY_NAMES.values():
        assert results[name]["score"] == 6, results[name]


def test_grading_stops_before_anyone_when_the_solution_fails_in_the_sandbox(tiny, tmp_path):
    """A sandbox too small for the kernel to start: the control (the solution) fails, nobody is
    graded, and the error names the cause (issue 27, hole 10)."""
    from course_utils.instructor.grading import Limits

    _, solutions, assignment = tiny
    subs, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(subs, {"correct": answered(read_notebook(solutions / "01_tiny.ipynb"))})
    with pytest.raises(GradingError, match="did not earn every point when graded as a control"):
        grade_folder(assignment, subs, out, jobs=1, timeout=TINY_TIMEOUT,
                     limits=Limits(memory=200 * 2**20), **QUIET)
    assert not list((out / "results").glob("*.json"))
