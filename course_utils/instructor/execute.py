"""Execute notebooks in a fresh Jupyter kernel (nbclient).

Used to refresh the committed fast-mode outputs of ``solutions/`` (``course execute``) and by
the tests that run student notebooks. The kernel is always this Python environment's own, so a
notebook never runs against another installation of ``course_utils``.
"""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbformat
from nbclient import NotebookClient

from course_utils.instructor.release import RUN_METADATA, read_notebook, render


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the kernel we are about to start; restore them after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(
    nb: nbformat.NotebookNode,
    cwd: Path,
    fast: bool = True,
    timeout: int = 600,
    allow_errors: bool = False,
    stop_before: int | None = None,
) -> nbformat.NotebookNode:
    """Run ``nb`` (modified in place and returned) in a fresh kernel of this environment.

    ``fast`` sets ``COURSE_FAST=1`` for the kernel; ``timeout`` is per cell in seconds;
    ``stop_before`` runs only the cells before that index. Errors raise nbclient's
    ``CellExecutionError`` unless ``allow_errors``.
    """
    if stop_before is not None:
        nb.cells = nb.cells[:stop_before]
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        store_widget_state=False,  # widget state never goes into a saved notebook
        resources={"metadata": {"path": str(cwd)}},
    )
    env = {
        "COURSE_FAST": "1" if fast else "0",
        # inline figures even when the caller runs with MPLBACKEND=Agg (tests do)
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    with _environ(**env):
        client.execute(cwd=str(cwd))
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: The text form of a ``tqdm.notebook`` bar: ``"desc:   0%|          | 0/30 [00:00<?, ?it/s]"``.
_TQDM_TEXT = re.compile(r"^[^\n]*\d+%\|.*\| *\d+/\d+ *\[")


def strip_run_state(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove what belongs to one run rather than to the notebook: widget state and views, timings.

    A widget view without its kernel is only an error box in JupyterLab ("model not found"),
    so saved outputs keep the text fallback and the static figures the widgets leave behind.
    ``tqdm`` progress-bar widgets are dropped: their text fallback is the bar at 0%, which would
    read as "stuck" on GitHub; the cell's own printed summary (time taken) stays.
    """
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and _TQDM_TEXT.match(str(data.get("text/plain", ""))):
                continue  # a progress bar: its text is its *first* state ("0%"), misleading once saved
            data.pop(WIDGET_VIEW, None)
            kept.append(output)
        if "outputs" in cell:
            cell.outputs = kept
    return nb


def refresh_solution(path: Path, timeout: int = 600) -> float:
    """Re-execute one solution notebook in fast mode and save it with its new outputs.

    The file is only replaced when the whole run succeeded, so a failing cell never leaves a
    solution with half its outputs. Returns the wall time in seconds.
    """
    path = Path(path)
    nb = read_notebook(path)
    start = time.perf_counter()
    execute_notebook(nb, cwd=path.parent, fast=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    strip_run_state(nb)
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(render(nb), encoding="utf-8")
    tmp.replace(path)
    return elapsed
