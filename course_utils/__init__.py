"""Shared helpers for the *Learning Without Labels* workbook.

Notebooks import from here; nothing here imports from a notebook. Modules:
``config`` (fast mode, folders, device, seeding), ``data`` (datasets), ``metrics``
(ACC / NMI / ARI), ``viz`` (matplotlib figures), ``widgets`` (ipywidgets over viz),
``checks`` (student self-checks), ``cli``; ``instructor`` (release, execute, grading:
what only instructors use, left out of the student bundle).
"""
__version__ = "0.1.0"

import os as _os

if _os.environ.get("COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}:
    # fast mode's numbers are compared by CI: one code path on every x86-64 CPU (config.portable_math)
    from course_utils.config import portable_math as _portable_math

    _portable_math()
