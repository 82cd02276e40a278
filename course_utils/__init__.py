"""Shared helpers for the *Learning Without Labels* workbook.

Notebooks import from here; nothing here imports from a notebook. Modules:
``config`` (fast mode, folders, device, seeding), ``data`` (datasets), ``metrics``
(ACC / NMI / ARI), ``viz`` (matplotlib figures), ``widgets`` (ipywidgets over viz),
``checks`` (student self-checks), ``cli``; ``instructor`` (release, execute, grading:
what only instructors use, left out of the student bundle).
"""
__version__ = "0.1.0"
