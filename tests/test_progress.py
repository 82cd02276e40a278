"""course_utils.progress: a bar whose output, in a notebook saved by a headless run, is its final state."""
from __future__ import annotations

import io
import re

import nbformat
import pytest

from course_utils import progress
from course_utils.instructor.execute import WIDGET_VIEW, execute_notebook

CELL = """\
import time
from course_utils.progress import IN_NOTEBOOK, progress, tqdm
assert IN_NOTEBOOK
total = 0
for i in progress(range(30), desc="train"):
    total += i
bar = tqdm(total=5, desc="manual", leave=True)
for _ in range(5):
    bar.update(1)
bar.close()
stopped = tqdm(total=10, desc="stopped")
stopped.update(4)
stopped.close()
for _ in progress(range(3), desc="gone", leave=False):
    pass
print(total)
"""


def test_outside_a_notebook_it_is_plain_tqdm():
    assert progress.IN_NOTEBOOK is False
    assert progress.tqdm is __import__("tqdm.auto", fromlist=["tqdm"]).tqdm
    out = io.StringIO()
    assert sum(progress.progress(range(4), file=out, desc="x")) == 6
    assert "4/4" in out.getvalue()


@pytest.mark.slow
@pytest.mark.kernel
def test_saved_notebook_shows_the_final_state(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    execute_notebook(nb, cwd=tmp_path, fast=True, timeout=120)
    outputs = nb.cells[0].outputs
    texts = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert [o["text"] for o in outputs if o["output_type"] == "stream"] == ["435\n"]
    assert len(texts) == 4, texts
    train, manual, stopped, gone = texts
    assert re.match(r"^train: 100%\|[█#]+\| 30/30 \[", train), train
    assert re.match(r"^manual: 100%\|[█#]+\| 5/5 \[", manual), manual
    assert re.match(r"^stopped:  40%\|.*\| 4/10 \[", stopped), stopped  # where it stopped
    assert gone == ""  # leave=False: nothing stays behind
    assert not any(" 0%" in t or "| 0/" in t for t in texts)
    kept = [o for o in outputs if o["output_type"] == "display_data" and o["data"]["text/plain"]]
    assert all(WIDGET_VIEW in o["data"] for o in kept)  # still the live widget in JupyterLab
