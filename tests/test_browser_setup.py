"""When the browser test of the widgets runs, skips or fails (tests/browser/conftest.py).

Each case runs pytest on tests/browser/ in a subprocess with a Chromium that does not exist, so
no browser or JupyterLab is started: it checks only the decision.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel   # pytest in a subprocess

REPO = Path(__file__).resolve().parent.parent


def run_browser_tests(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in {"CI", "COURSE_SKIP_BROWSER"}}
    environ.update(COURSE_CHROMIUM="/nonexistent/chromium", **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-rs", "-q",
         "tests/browser", *args],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=300,
    )


def test_without_a_browser_the_tests_skip_with_the_reason():
    result = run_browser_tests()
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ skipped", result.stdout) and "Chromium is not installed" in result.stdout, result.stdout
    assert "passed" not in result.stdout and "failed" not in result.stdout, result.stdout


@pytest.mark.parametrize("how", [("--no-browser",), ()])
def test_they_can_be_skipped_on_request(how):
    result = run_browser_tests(*how, **({} if how else {"COURSE_SKIP_BROWSER": "1"}), CI="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ skipped", result.stdout) and "skipped on request" in result.stdout, result.stdout
    assert "passed" not in result.stdout and "failed" not in result.stdout, result.stdout


def test_in_ci_a_missing_browser_fails():
    result = run_browser_tests(CI="true")
    assert result.returncode == 1 and re.search(r"\b\d+ errors?\b", result.stdout), result.stdout + result.stderr
    assert "skipped" not in result.stdout, result.stdout
    assert "CI=true but the browser tests cannot run" in result.stdout, result.stdout
