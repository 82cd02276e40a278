"""The `course` command: info, and the headless JupyterLab that README's first command starts."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

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
@pytest.mark.kernel
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


def _processes_from(pid: int, marker: str) -> list[str]:
    """Live processes in ``pid``'s process group or with ``marker`` on their command line (/proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        state, _ppid, pgid = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z" and (int(pgid) == pid or marker in cmdline):
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def _bootstrap_is_set_up() -> bool:
    """True when `bootstrap.py` would go straight to its command in this interpreter's venv."""
    stamp = Path(sys.prefix) / ".course-installed"
    if sys.prefix == sys.base_prefix or not stamp.exists():
        return False
    done_hash, *extras = stamp.read_text().split()
    wanted = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return done_hash == wanted and "test" in extras


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("launcher", ["bootstrap.py", "python -m course_utils"])
@pytest.mark.kernel
def test_sigterm_to_the_started_pid_stops_jupyterlab(tmp_path, launcher):
    """`kill PID` on what a user started (bootstrap.py or the course command) leaves nothing running."""
    if launcher == "bootstrap.py":
        if not _bootstrap_is_set_up():
            pytest.skip("bootstrap.py would install packages first (run the tests from its .venv)")
        cmd = [sys.executable, str(REPO_ROOT / "bootstrap.py"), "lab"]
    else:
        cmd = [sys.executable, "-m", "course_utils", "lab"]
    port, token = _free_port(), f"sigterm-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), COURSE_VENV=sys.prefix, IPYTHONDIR=str(home / ".ipython"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_CONFIG_DIR=str(home / "config"))
    log = open(tmp_path / "lab.log", "w+")
    proc = subprocess.Popen(
        [*cmd, "--no-browser", "--port", str(port), f"--IdentityProvider.token={token}"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline, answered = time.time() + 60, False
        while time.time() < deadline and proc.poll() is None and not answered:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5):
                    answered = True
            except OSError:
                time.sleep(0.5)
        log.seek(0)
        assert answered, f"JupyterLab did not answer within 60 s:\n{log.read()}"
        assert _processes_from(proc.pid, token), "the check should see the server it started"

        os.kill(proc.pid, signal.SIGTERM)  # what `kill PID` does; not the whole group
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the started process did not exit within 30 s of SIGTERM")
        deadline, left = time.time() + 15, None
        while time.time() < deadline:
            left = _processes_from(proc.pid, token)
            if not left:
                break
            time.sleep(0.5)
        log.seek(0)
        assert not left, f"still running after SIGTERM to {proc.pid}:\n" + "\n".join(left) + f"\n{log.read()}"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for line in _processes_from(proc.pid, token):  # a survivor that left the group
            try:
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait(timeout=15)
        log.close()


def test_saved_notebooks_drop_widget_views_and_stale_progress_bars():
    import nbformat

    from course_utils.instructor.execute import WIDGET_VIEW, strip_run_state

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
