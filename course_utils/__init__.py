"""Shared helpers for the *Learning Without Labels* workbook.

Notebooks import from here; nothing here imports from a notebook. Modules:
``config`` (fast mode, folders, device, seeding), ``data`` (datasets), ``metrics``
(ACC / NMI / ARI), ``viz`` (matplotlib figures), ``widgets`` (ipywidgets over viz),
``checks`` (student self-checks), ``cli``; ``instructor`` (release, execute, grading:
what only instructors use, left out of the student bundle).
"""
__version__ = "0.1.0"

from course_utils import config as _config

if _config.is_fast():
    # fast mode's numbers are compared by CI: one code path on every x86-64 CPU, set before any torch kernel
    _config.portable_math()
