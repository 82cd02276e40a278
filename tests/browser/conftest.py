"""Fixtures for the browser tests: a JupyterLab server on loopback and a headless Chromium.

The server runs on 127.0.0.1, on a free port, with a random token, in temporary folders (its
notebooks are copies: JupyterLab's autosave never touches ``solutions/``; its settings,
workspaces and runtime files never touch ``~/.jupyter``). Its checkpoint cache is empty, so the
notebooks train for real and the training monitors update live instead of replaying a history.
It is shut down after the tests whatever happens: through its API, then by signals to its
process group and to the kernels it started.

Chromium is Debian's ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs
it), driven by Playwright (the ``browser`` extra) without Playwright's own browser download.
Missing either, the tests skip with the reason; with ``CI=true`` they fail instead. Skip them
on purpose with ``pytest --no-browser``, ``COURSE_SKIP_BROWSER=1`` or ``-m "not browser"``.

Screenshots go to ``test-artifacts/browser/`` at the repository root (git-ignored).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def chromium_path() -> str | None:
    """The Chromium binary to drive: ``$COURSE_CHROMIUM`` or Debian's."""
    wanted = os.environ.get("COURSE_CHROMIUM", "").strip()
    for candidate in ([wanted] if wanted else CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    problems = []
    try:
        import playwright  # noqa: F401
    except ImportError:
        problems.append("Playwright is not installed (`pip install -e '.[browser]'`)")
    if chromium_path() is None:
        problems.append("Chromium is not installed (`sudo apt-get install chromium`, or set COURSE_CHROMIUM)")
    return "; ".join(problems) or None


def pytest_collection_modifyitems(config, items):
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if not browser_items:
        return
    if config.getoption("--no-browser", default=False) or _truthy("COURSE_SKIP_BROWSER"):
        marker = pytest.mark.skip(reason="browser tests skipped on request (--no-browser / COURSE_SKIP_BROWSER=1)")
    else:
        missing = _missing_browser()
        if missing is None:
            return
        if _truthy("CI"):
            return  # CI must run these: the fixture `browser_ready` fails them with the reason
        marker = pytest.mark.skip(reason=f"browser tests skipped: {missing}")
    for item in browser_items:
        item.add_marker(marker)


@pytest.fixture(scope="session")
def browser_ready() -> str:
    """The Chromium to use; fails (does not skip) when it or Playwright is missing: in CI a missing
    browser is a broken setup, and elsewhere the tests were already skipped at collection."""
    missing = _missing_browser()
    if missing:
        pytest.fail(
            f"CI=true but the browser tests cannot run: {missing}. .ci/run installs Chromium with "
            "apt-get and Playwright with the `browser` extra; see README, 'Testing the widgets in a browser'.",
            pytrace=False,
        )
    return chromium_path()


# --------------------------------------------------------------------------------------------
# JupyterLab
# --------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec (Linux): get SIGTERM when the test process dies, even by SIGKILL,
    so that no JupyterLab outlives a killed test run (its kernels follow it: they watch their parent)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLabServer:
    """``jupyter lab`` on 127.0.0.1 in its own process group, in temporary folders under ``base``.

    ``notebooks``: files copied into the server's root folder. Use as a context manager; leaving
    it stops the server and its kernels, also after an error.
    """

    def __init__(self, base: Path, notebooks: list[Path], env: dict[str, str] | None = None,
                 start_timeout: float = 120.0, log_path: Path | None = None) -> None:
        self.base = Path(base)
        self.root = self.base / "notebooks"
        self.runtime = self.base / "runtime"
        self.cache = self.base / "cache"
        self.log_path = Path(log_path) if log_path else self.base / "jupyterlab.log"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._log = None
        for folder in (self.root, self.runtime, self.cache):
            folder.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            shutil.copy2(notebook, self.root / Path(notebook).name)
        self.env = self._environment(env or {})

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        # the kernel picks the inline backend itself; MPLBACKEND=Agg would leave it without figures
        env.pop("MPLBACKEND", None)
        env.pop("JUPYTER_TOKEN", None)
        settings = self.base / "lab-settings"
        env.update({
            "COURSE_FAST": "1",
            "COURSE_CACHE_DIR": str(self.cache),    # empty: the notebooks train live
            "PYTHONUNBUFFERED": "1",
            "JUPYTER_CONFIG_DIR": str(self.base / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.base / "workspaces"),
            "IPYTHONDIR": str(self.base / "ipython"),
        })
        env.update(extra)
        # no news or update checks (no network, and no pop-up over the notebook)
        notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        return env

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.open_browser=False",
            "--LabApp.news_url=",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self) -> "JupyterLabServer":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.root, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one signal stops it and its helpers
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode} while starting; its log "
                    f"({self.log_path}):\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.api_url("status"), timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"JupyterLab did not answer on {self.url} within {self.start_timeout:.0f} s; its log:\n{self.log_tail()}"
        )

    def api_url(self, path: str) -> str:
        return f"{self.url}/api/{path}?token={self.token}"

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def shutdown_kernels(self) -> None:
        """Shut down every kernel of the server (through its API); never raises."""
        try:
            with urllib.request.urlopen(self.api_url("sessions"), timeout=10) as response:
                sessions = json.load(response)
            for session in sessions:
                request = urllib.request.Request(self.api_url(f"sessions/{session['id']}"), method="DELETE")
                urllib.request.urlopen(request, timeout=30).close()
        except Exception as exc:
            print(f"could not shut the kernels down through the API: {exc}")

    def _kernel_pids(self) -> list[int]:
        """Kernels this server started: their command line names a connection file in our runtime dir."""
        pids = []
        marker = str(self.runtime).encode()
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                if marker in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def stop(self) -> None:
        """Stop the server and every kernel it started; never raises."""
        if self.proc is None:
            return
        kernels = self._kernel_pids() if Path("/proc").is_dir() else []
        if self.proc.poll() is None:
            try:  # the polite way: the server shuts its kernels down itself
                request = urllib.request.Request(self.api_url("shutdown"), method="POST")
                urllib.request.urlopen(request, timeout=5).close()
                self.proc.wait(timeout=20)
            except Exception:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(timeout=10)
                except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
                    pass
        for pid in kernels:  # in their own sessions (jupyter_client); normally gone by now
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "JupyterLabServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/browser/``, emptied of the previous run's screenshots and log."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="module")
def lab(browser_ready, tmp_path_factory, artifacts) -> Iterator[JupyterLabServer]:
    """A JupyterLab server with copies of the solution notebooks that use the widgets."""
    notebooks = [REPO / "solutions" / name for name in ("02_vae.ipynb", "03_vade.ipynb", "05_gan_clustering.ipynb",
                                                        "06_nonparametric.ipynb", "07_prednet.ipynb")]
    # the server log goes next to the screenshots: the first place to look when a test fails
    server = JupyterLabServer(tmp_path_factory.mktemp("jupyterlab"), notebooks,
                              log_path=artifacts / "jupyterlab.log")
    # a CI time-out or `kill` sends SIGTERM: turn it into KeyboardInterrupt, so that pytest stops
    # and the teardown below stops the server (as Ctrl+C does)
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        with server:
            yield server
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@pytest.fixture(scope="module")
def browser(browser_ready):
    """A headless Chromium (Debian's) driven by Playwright; closed after the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=browser_ready,
            headless=True,
            # root (containers, CI) needs --no-sandbox; /dev/shm is small in containers
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def notebook_page(browser, lab, artifacts, request):
    """A fresh page; on teardown the notebook's kernel is shut down (and a screenshot taken on failure)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(f"page error: {error}"))
    page.console_errors = console_errors
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            page.screenshot(path=str(artifacts / f"{request.node.name}-FAILED-page.png"), full_page=True)
        except Exception:
            pass
    context.close()
    lab.shutdown_kernels()  # free the CPU and memory for the next notebook


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
