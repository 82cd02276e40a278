"""Self-checks catch everything the hidden tests catch, first (the bank of wrong implementations).

For each graded exercise of each solution notebook, ``tests/wrong_bank/weekNN.py`` holds wrong
answers students write. Each runs through the graded cell as the student sees it (self-check
only) and through the hidden tests alone. If the hidden tests fail, the self-check must have
failed too: raised, or printed the "not done yet" cross, never the tick. See
``tests/wrong_bank/README.md``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from course_utils.checks._common import GRADING_ENV
from course_utils.config import REPO_ROOT
from course_utils.instructor.release import HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END, read_notebook

BANK_DIR = Path(__file__).parent / "wrong_bank"
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
MIN_CASES = 3


@dataclass(frozen=True)
class Case:
    grade_id: str   # nbgrader id of the graded test cell
    name: str       # what is wrong
    source: str     # the student's whole answer cell


def _graded_cells(nb) -> dict[str, str]:
    """grade_id -> source of each graded test cell that has hidden tests."""
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and HIDDEN_BEGIN in c.source}


def _answer_cells(nb) -> dict[str, str]:
    """grade_id of the graded cell after each answer cell -> the answer cell's solution source."""
    out, pending = {}, None
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type != "code":
            continue
        if meta.get("solution"):
            pending = c.source
        elif meta.get("grade") and pending is not None:
            out[meta["grade_id"]] = pending
            pending = None
    return out


def _split(source: str) -> tuple[str, str]:
    """(what the student sees, the hidden tests) of a graded cell."""
    head, rest = source.split(HIDDEN_BEGIN, 1)
    hidden, tail = rest.split(HIDDEN_END, 1)
    return head + tail, hidden


def _without_markers(source: str) -> str:
    return "\n".join(line for line in source.split("\n")
                     if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))


def _bank(notebook: Path) -> ModuleType | None:
    week = notebook.name.split("_", 1)[0]
    path = BANK_DIR / f"week{week}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"wrong_bank_week{week}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.NOTEBOOK == notebook.name, f"{path} says NOTEBOOK={module.NOTEBOOK!r}"
    return module


def _bank_cases(bank: ModuleType) -> list[Case]:
    return [Case(*case) for case in bank.CASES]


def _run(source: str, namespace: dict) -> tuple[bool, str]:
    """Execute ``source`` like a cell; (no exception, stdout + the exception's message)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, "<cell>", "exec"), namespace)
    except Exception as exc:  # noqa: BLE001 - any failure of a cell counts
        return False, out.getvalue() + f"\n{type(exc).__name__}: {exc}"
    return True, out.getvalue()


def _self_check_passed(ok: bool, text: str) -> bool:
    return ok and "\u2714" in text and "\u2718" not in text


def _verdicts(bank: ModuleType, graded_source: str, answer_source: str) -> tuple[bool, str, bool, str]:
    """(self-check passed, its output, hidden tests passed, their output) for one answer."""
    student_part, hidden_part = _split(graded_source)
    ns = bank.setup()
    ok, text = _run(answer_source, ns)
    if not ok:
        return False, "answer cell failed: " + text, False, "answer cell failed: " + text
    check_ok, check_text = _run(student_part, dict(ns))
    hidden_ok, hidden_text = _run(hidden_part, dict(ns))
    return _self_check_passed(check_ok, check_text), check_text, hidden_ok, hidden_text


def _cases():
    for path in SOLUTIONS:
        bank = _bank(path)
        if bank is None:
            continue
        for case in _bank_cases(bank):
            yield pytest.param(path, case, id=f"{path.stem}:{case.grade_id}:{case.name}")


@pytest.fixture(autouse=True)
def _not_grading(monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    monkeypatch.setenv("COURSE_FAST", "1")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_graded_exercise_has_a_bank(path: Path):
    bank = _bank(path)
    if not _graded_cells(read_notebook(path)):      # the summary week: nothing to grade, so no bank
        assert bank is None, f"{path.name} has no graded exercises, but a bank"
        return
    assert bank is not None, (f"{path.name} has graded exercises but no tests/wrong_bank/"
                              f"week{path.name[:2]}.py: add one (see tests/wrong_bank/README.md)")
    graded = _graded_cells(read_notebook(path))
    ids = [c.grade_id for c in _bank_cases(bank)]
    unknown = sorted(set(ids) - set(graded))
    assert not unknown, f"cases name graded cells that {path.name} does not have: {unknown}"
    few = {g: ids.count(g) for g in graded if ids.count(g) < MIN_CASES}
    assert not few, f"fewer than {MIN_CASES} wrong implementations for: {few}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_passes_its_check_and_hidden_tests_in_the_bank_setup(path: Path):
    """The harness is sound: the solution's own answers pass both, in the bank's globals."""
    bank = _bank(path)
    if bank is None:
        pytest.skip("no bank (test_every_graded_exercise_has_a_bank fails for it)")
    nb = read_notebook(path)
    answers = _answer_cells(nb)
    for grade_id, source in _graded_cells(nb).items():
        check_ok, check_text, hidden_ok, hidden_text = _verdicts(
            bank, source, _without_markers(answers[grade_id]))
        assert check_ok, f"{grade_id}: the solution fails its self-check here:\n{check_text}"
        assert hidden_ok, f"{grade_id}: the solution fails its hidden tests here:\n{hidden_text}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_each_bank_has_answers_the_hidden_tests_reject(path: Path):
    """A bank of answers that all pass the hidden tests would prove nothing."""
    bank = _bank(path)
    if bank is None:
        pytest.skip("no bank")
    graded = _graded_cells(read_notebook(path))
    for grade_id, source in graded.items():
        rejected = [c.name for c in _bank_cases(bank) if c.grade_id == grade_id
                    and not _verdicts(bank, source, c.source)[2]]
        assert rejected, f"{grade_id}: no case in the bank fails the hidden tests"


def _really_wrong():
    for path in SOLUTIONS:
        bank = _bank(path)
        for case in _bank_cases(bank) if bank is not None else ():
            if case.name in getattr(bank, "REALLY_WRONG", ()):
                yield pytest.param(path, case, id=f"{path.stem}:{case.grade_id}:{case.name}")


@pytest.mark.parametrize(("path", "case"), list(_really_wrong()))
def test_hidden_tests_reject_the_really_wrong_answers(path: Path, case: Case):
    """A bank's ``REALLY_WRONG`` names answers that must lose the points: the grader's hidden tests
    reject them, and (the test below) the self-check rejects them first."""
    source = _graded_cells(read_notebook(path))[case.grade_id]
    check_ok, check_text, hidden_ok, _ = _verdicts(_bank(path), source, case.source)
    assert not hidden_ok, f"{case.name}: the hidden tests accept this really wrong answer"
    assert not check_ok, f"{case.name}: the self-check accepts it:\n{check_text}"


def test_really_wrong_names_are_cases():
    for path in SOLUTIONS:
        bank = _bank(path)
        names = {c.name for c in _bank_cases(bank)} if bank is not None else set()
        unknown = set(getattr(bank, "REALLY_WRONG", ())) - names
        assert not unknown, f"{path.name}: REALLY_WRONG names no case: {sorted(unknown)}"


@pytest.mark.parametrize(("path", "case"), list(_cases()))
def test_self_check_fails_whenever_the_hidden_tests_fail(path: Path, case: Case):
    source = _graded_cells(read_notebook(path))[case.grade_id]
    check_ok, check_text, hidden_ok, hidden_text = _verdicts(_bank(path), source, case.source)
    if not hidden_ok:
        assert not check_ok, (
            f"{case.name}: the self-check said\n{check_text}\nbut the hidden tests fail with\n"
            f"{hidden_text.strip()[-600:]}\nThe self-check must catch this first, with a message.")
    if not check_ok:  # a failing check must say what is wrong, not just crash
        assert ("\u2718" in check_text or "CheckFailed" in check_text or "NotDoneYet" in check_text), (
            f"{case.name}: the self-check failed without a self-check message:\n{check_text}")
