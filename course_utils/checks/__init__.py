"""Student self-checks, one module per week (``week01``, ``week02``, ...).

Each check compares a student's function with independent evidence (brute force,
scikit-learn, known parameters) and raises ``CheckFailed`` with a message that says what is
wrong (shape, dtype, which value, a hint), or prints a one-line success message.
"""
from course_utils.checks._common import CheckFailed

__all__ = ["CheckFailed"]
