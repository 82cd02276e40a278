"""Which of the course's own implementations answer which exercise (``course grade``).

Every week's self-check module keeps a table of the package's implementation behind each
exercise (``checks.weekNN._references()``): the notebook falls back on it while an exercise is
unfinished, so that the rest of the notebook runs. The grader gives no points for it. While a
test calls a student's function, the student's kernel watches (``sys.setprofile``) whether one of
those implementations runs: the answer then delegated to the course's code, and the test fails
with a reason the student can read. A student's class that derives from the course's class, or a
name bound to the course's function itself, counts the same.

What this does not catch: a student who copies the implementation's source into their cell, or
rewrites the grader's agent in their own kernel. Both leave their traces in the executed notebook
the instructor keeps; neither is different in kind from copying another student's answer.
"""
from __future__ import annotations

from course_utils.checks._common import implementation_targets


def watched(assignment_name: str) -> dict[str, list[str]]:
    """Exercise name -> ``["module:qualname", ...]``: the course's implementations of it, for
    the assignment ``NN_topic`` (none for an assignment without a week's self-check module)."""
    number = assignment_name[:2]
    return implementation_targets(f"course_utils.checks.week{number}") if number.isdigit() else {}
