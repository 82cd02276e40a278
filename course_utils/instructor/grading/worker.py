"""Grade one submission in this process: ``python -m course_utils.instructor.grading.worker``.

The grader starts one worker per submission and sends it a job as JSON on stdin: the solution
notebook as the grader read it (never read again from disk here), the submission's path, the
folder for the executed notebook, and the options. The worker answers with the result as one
JSON line on stdout. It holds no signing key: the grader checks and signs what it answers.
If the worker dies (a submission that kills it, the machine's out-of-memory killer), only this
submission is affected; the grader retries it once.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from course_utils import config
from course_utils.instructor.execute import strip_run_state
from course_utils.instructor.grading.assignment import (
    Assignment,
    Prepared,
    _grade_id,
    _is_exercise,
    _is_test,
    assignment_from_notebook,
    prepare,
)
from course_utils.instructor.grading.plain import NotARegularFile, open_regular
from course_utils.instructor.grading.runner import CellRun, clean, run_notebook
from course_utils.instructor.grading.sandbox import Limits, SandboxSpec, link_cache

RESULT_MARK = "COURSE-GRADE-RESULT "
MAX_SUBMISSION = 64 * 2**20   # bytes of a submitted notebook, unless the instructor sets another


class SubmissionProblem(ValueError):
    """A submission that is not a regular file of a sane size: graded 0 with this reason."""


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link, a folder, a FIFO or a device)
    of at most ``limit`` bytes; else SubmissionProblem says what it is. Never follows a link,
    never blocks on a FIFO, never reads more than ``limit + 1`` bytes."""
    try:
        fd, info = open_regular(path)
    except NotARegularFile as exc:
        raise SubmissionProblem(f"{exc}, not a notebook file: submit the notebook itself") from None
    except OSError as exc:
        raise SubmissionProblem(f"could not be opened ({exc.strerror})") from None
    try:
        if info.st_size > limit:
            raise SubmissionProblem(f"{info.st_size / 2**20:.0f} MiB, larger than the grader accepts "
                                    f"({limit / 2**20:.0f} MiB; clear the notebook's outputs and submit again)")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise SubmissionProblem(f"larger than the grader accepts ({limit / 2**20:.0f} MiB)")
        return data
    finally:
        os.close(fd)


def read_submission(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and the reason it cannot be read."""
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        message = getattr(exc, "message", None) or str(exc)
        return None, f"not a readable notebook: not valid nbformat ({clean(message, 200)})"
    except Exception as exc:  # not UTF-8, not JSON, not something nbformat can read
        return None, f"not a readable notebook: {type(exc).__name__}: {clean(exc, 200)}"
    return nb, ""


def new_result(student: str, submission_name: str, sha: str, assignment: Assignment) -> dict[str, Any]:
    return {
        "student": student,
        "submission": submission_name,
        "sha256": sha,
        "assignment": assignment.name,
        "solution_sha256": assignment.sha256,
        "tests_sha256": assignment.tests_sha256,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": [],
        "grader_error": False,
    }


def all_failed(result: dict, assignment: Assignment, reason: str) -> dict:
    result["tests"] = [
        {"test": t.grade_id, "points_earned": 0, "points_possible": t.points,
         "status": "failed", "reason": reason}
        for t in assignment.tests
    ]
    result["notes"].append(reason)
    return result


def score(result: dict, runs: list[CellRun], prepared: Prepared, assignment: Assignment) -> None:
    """Fill in ``result["tests"]`` and ``result["notes"]`` from how each cell ran."""
    notes, failure_notes = list(prepared.notes), copy.deepcopy(prepared.failure_notes)
    others = []
    for i, (cell, run) in enumerate(zip(prepared.nb.cells, runs)):
        if run.status in {"ok", "not run"} or _is_test(cell):
            continue
        if _is_exercise(cell):
            gid = _grade_id(cell)
            if run.status == "error":
                note = f"exercise cell {gid} (cell {i + 1}) raised {run.reason}"
            else:
                note = f"exercise cell {gid}: {run.reason}"
            notes.append(note)
            for test in assignment.tests:
                if test.exercise == gid:
                    failure_notes.setdefault(test.grade_id, []).append(note)
        elif run.status == "error":
            others.append(f"cell {i + 1} ({run.ename})")
        else:  # a time-out or a dead kernel in an ordinary cell
            notes.append(run.reason)
    if others:
        more = f" and {len(others) - 10} more" if len(others) > 10 else ""
        notes.append(f"{len(others)} other cell(s) raised an error: {', '.join(others[:10])}{more}")

    where = {_grade_id(c): i for i, c in enumerate(prepared.nb.cells)}
    result["tests"] = []
    for test in assignment.tests:
        run = runs[where[test.grade_id]]
        passed = run.status == "ok"
        reasons = [] if passed else [run.reason or "failed"]
        reasons += prepared.test_notes.get(test.grade_id, [])
        if not passed:
            reasons += failure_notes.get(test.grade_id, [])
        result["tests"].append({
            "test": test.grade_id,
            "points_earned": test.points if passed else 0,
            "points_possible": test.points,
            "status": "passed" if passed else "failed",
            "reason": "; ".join(reasons),
        })
    result["notes"] = notes


def grade(job: dict) -> dict[str, Any]:
    """Grade the submission a job names; write its executed notebook; return the result."""
    assignment = assignment_from_notebook(nbformat.from_dict(job["solution"]), Path(job["solution_path"]),
                                          job["solution_sha256"])
    submission = Path(job["submission"])
    start = time.perf_counter()
    try:
        data = read_regular_file(submission, int(job.get("max_bytes", MAX_SUBMISSION)))
    except SubmissionProblem as exc:
        result = new_result(job["student"], submission.name, "", assignment)
        return all_failed(result, assignment, f"not graded: the submission is {exc}") | {
            "seconds": round(time.perf_counter() - start, 2)}
    result = new_result(job["student"], submission.name, hashlib.sha256(data).hexdigest(), assignment)
    result.update(fast=job["fast"], timeout=job["timeout"], sandbox=job["sandbox"])
    nb, problem = read_submission(data)
    if nb is None:
        return all_failed(result, assignment, problem) | {"seconds": round(time.perf_counter() - start, 2)}
    try:
        prepared = prepare(nb, assignment)
        with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
            root = Path(tmp)
            spec = SandboxSpec(work=root / "work", exchange=root / "x", requests=root / "requests",
                               cache=root / "cache", home=root / "home", limits=Limits(**job["limits"]),
                               use_bwrap=job["sandbox"] == "bwrap")
            link_cache(config.cache_dir(create=False), spec.cache)
            spec.work.mkdir(parents=True)
            (spec.work / "submission.ipynb").write_bytes(data)   # a copy; the original is never touched
            fonts = job.get("font_cache")
            if fonts and Path(fonts).is_dir():   # matplotlib's font list, built once by the grader
                shutil.copytree(fonts, spec.home / ".config" / "matplotlib")
            spec.prepare_folders()
            trusted_dir = root / "trusted"
            trusted_dir.mkdir()
            ran = run_notebook(prepared.nb, assignment, spec, trusted_dir, job["timeout"], job["fast"],
                               job.get("budget"))
        score(result, ran.cells, prepared, assignment)
        result["notes"] += ran.notes
        used = [f"{run.delegated[0]} (test {gid})" for run, cell in zip(ran.cells, prepared.nb.cells)
                if run.delegated and (gid := _grade_id(cell))]
        if used:
            result["delegated"] = used
            result["notes"].append("answered with the course's own implementation, no points: " + "; ".join(used))
        if spec.stays_root():
            result["notes"].insert(0, "the student's kernel ran as ROOT: nobody cannot read this Python, "
                                      "and there was no sandbox to drop privileges in")
        if not spec.use_bwrap:
            result["notes"].insert(0, "graded WITHOUT a sandbox: " + job.get("sandbox_note", ""))
        strip_run_state(prepared.nb)
        executed = Path(job["executed"])
        executed.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = executed.with_name(f".{executed.stem[:20]}.tmp")
        tmp_path.write_text(nbformat.writes(prepared.nb), encoding="utf-8")
        tmp_path.replace(executed)
    except Exception as exc:  # the grader's own failure, not the student's
        result["grader_error"] = True
        all_failed(result, assignment, f"grading failed: {type(exc).__name__}: {clean(exc, 300)}")
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = grade(job)
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
