"""The quick tier (``--quick``): it leaves out what is marked slow, kernel or browser and the
notebooks, and fails an unmarked test that starts a Python process, so that it stays quick."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from course_utils.config import REPO_ROOT

SAMPLE = '''
import subprocess, sys
import pytest

def test_plain():
    assert True

def test_starts_python_unmarked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

def test_starts_git_unmarked():
    subprocess.run(["git", "--version"], check=True, capture_output=True)

@pytest.mark.kernel
def test_starts_python_marked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

@pytest.mark.slow
def test_slow():
    assert True
'''


@pytest.mark.kernel
def test_the_quick_tier_leaves_out_marked_tests_and_fails_unmarked_processes(tmp_path):
    shutil.copy(REPO_ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: s\n    kernel: k\n    browser: b\n")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    quick = subprocess.run([sys.executable, "-m", "pytest", "--quick", "-p", "no:xdist", "-p", "no:cacheprovider",
                            "-q", "-rf", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = quick.stdout
    assert "1 failed, 2 passed, 2 deselected" in out, out
    assert "test_starts_python_unmarked started a process" in out and "mark it @pytest.mark.kernel" in out, out
    full = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "5 passed" in full.stdout, full.stdout
