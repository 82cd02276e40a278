"""The `course` command: info, and the headless JupyterLab that README's first command starts."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from course_utils import cli
from course_utils.config import REPO_ROOT


def test_info_prints_mode(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert cli.main(["info"]) == 0
    assert "mode: FAST" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_lab_no_browser_serves_the_student_notebooks(tmp_path):
    port, token = _free_port(), "test-token-123"
    log = open(tmp_path / "lab.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "course_utils", "lab", "--no-browser", "--port", str(port),
         f"--IdentityProvider.token={token}"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        deadline, body = time.time() + 60, None
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        log.seek(0)
        assert proc.poll() is None, f"JupyterLab exited early:\n{log.read()}"
        assert body is not None, "JupyterLab did not answer within 60 s"
        assert "01_kmeans_em.ipynb" in body, "the server should list notebooks/"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and "JupyterLab" in r.read().decode()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_saved_notebooks_drop_widget_views_and_stale_progress_bars():
    import nbformat

    from course_utils.execute import WIDGET_VIEW, strip_run_state

    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", {WIDGET_VIEW: view, "text/plain": "autoencoder:   0%|          | 0/30 [00:00<?, ?it/s]"}),
        nbformat.v4.new_output("display_data", {WIDGET_VIEW: view, "text/plain": "<training curves: DEC>"}),
        nbformat.v4.new_output("stream", name="stdout", text="trained in 3.0 s\n"),
        nbformat.v4.new_output("display_data", {"text/plain": " 40%|####      | 2/5 [00:01<00:01]"}),  # no widget: kept
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["widgets"] = {"state": {}}
    strip_run_state(nb)
    texts = [o.get("data", {}).get("text/plain", o.get("text")) for o in nb.cells[0].outputs]
    assert texts == ["<training curves: DEC>", "trained in 3.0 s\n", " 40%|####      | 2/5 [00:01<00:01]"]
    assert all(WIDGET_VIEW not in o.get("data", {}) for o in nb.cells[0].outputs)
    assert "widgets" not in nb.metadata
