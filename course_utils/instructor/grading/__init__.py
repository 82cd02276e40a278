"""Autograde a folder of submitted notebooks against a solution notebook (``course grade``).

The grader is built for a class that may attack it. What happens:

1. The solution is read once, before anything runs (``assignment.py``): its test cells, their
   points, and a hash of every locked cell (``tests_sha256``), recorded in each result. A rerun
   whose hash differs regrades everyone and says why.
2. Each submission is graded in its own worker process (``worker.py``), at most ``jobs`` at once.
   A worker that dies costs only its submission: it is retried once, then recorded as a grader
   error with the reason. Killing the grader kills its workers (and their kernels).
3. In the worker, the notebook to run is the student's, with every graded or locked cell taken
   from the solution. The student's cells run in a sandboxed kernel (``sandbox.py``: bubblewrap
   when present: no network, own PID namespace, read-only system, no path to ``solutions/`` or the
   output folder; resource limits in any case). The test cells run in a separate, trusted kernel
   that never runs student code: the student's functions and classes are stand-ins there that
   call into the sandbox with plain data only (``bridge.py``, ``student_side.py``, ``plain.py``).
   The hidden tests are never sent to the student's kernel; verdicts are never computed in it.
4. A test passes when its cell ran without an error; it earns its ``points`` or 0. Feedback gives
   the student's own error message, and for a failed hidden test only that it failed and the
   assertion's message, never the test's text.

Everything lands under one output folder (``report.py``), files named by a short key of the
student's name (any legal file name works)::

    results/<key>.json         the signed result of one submission (with the file's sha256)
    grades.csv                 a row per student per test, a TOTAL row, identical submissions flagged
    feedback/<name>-<key>.md   for the student
    executed/<name>-<key>.ipynb  the notebook as it ran (holds the hidden tests: instructors only)
    .grader-key                the signing key (only results signed with it count)

A rerun skips submissions whose file and tests are unchanged since they were graded, unless
``regrade=True``. The solutions and the submissions folder are only ever read.
"""
from __future__ import annotations

import importlib
from typing import Any

# Names and the module that defines them. Imported on first use, so that the two kernels, which
# import ``bridge`` and ``student_side`` from this package, do not pay for the grader's imports.
_EXPORTS = {
    "Assignment": "assignment", "GradingError": "assignment", "Test": "assignment",
    "available_assignments": "assignment", "load_assignment": "assignment", "prepare": "assignment",
    "resolve_assignment": "assignment",
    "CSV_COLUMNS": "report", "feedback_markdown": "report", "load_results": "report",
    "write_grades_csv": "report",
    "Limits": "sandbox",
    "DEFAULT_TIMEOUT_FAST": "folder", "DEFAULT_TIMEOUT_FULL": "folder", "GradeSummary": "folder",
    "grade_folder": "folder", "list_submissions": "folder", "summary_line": "folder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
