#!/usr/bin/env python3
"""Set up the workbook's environment and run it. Needs only Python 3.10+ (no conda).

    python3 bootstrap.py lab                 set up .venv/, then JupyterLab on notebooks/
    python3 bootstrap.py lab --no-browser    the same, headless: prints the URL to open
    python3 bootstrap.py test [PYTEST ARGS]  set up .venv/, then the whole test suite
    python3 bootstrap.py test --no-browser   the same without the browser test of the widgets
    python3 bootstrap.py setup               only set up .venv/

The virtual environment lives in .venv/ (or $COURSE_VENV). Packages are installed once and
again only when pyproject.toml changes; `test` also installs the instructor extra (nbgrader),
so the test comparing our release step with nbgrader's runs, and the browser extra (Playwright)
for the test that runs the widgets in JupyterLab in Chromium; without Debian's `chromium`
installed that test is skipped with the reason (it fails instead when CI=true).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 10)


def fail(message: str) -> None:
    print(f"bootstrap: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str]) -> None:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        fail(f"command failed with exit code {code}: {' '.join(str(c) for c in cmd)}")


def setup(extras: tuple[str, ...] = ("test",)) -> Path:
    """Create the virtual environment if needed and install the package with ``extras``."""
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed; this is "
            f"{sys.version.split()[0]}. Run this script with a newer python3."
        )
    venv = Path(os.environ.get("COURSE_VENV", ROOT / ".venv")).resolve()
    python = venv_python(venv)
    if not python.exists():
        print(f"Creating the virtual environment {venv} ...", flush=True)
        try:
            import venv as venv_module

            venv_module.EnvBuilder(with_pip=True).create(venv)
        except Exception as exc:  # Debian/Ubuntu ship venv and ensurepip separately
            fail(
                f"could not create a virtual environment ({exc}). On Debian/Ubuntu install "
                "the venv module first: `sudo apt-get install python3-venv`."
            )
    # The stamp holds the hash of pyproject.toml and the extras installed with it.
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = venv / ".course-installed"
    done_hash, *done_extras = stamp.read_text().split() if stamp.exists() else [""]
    if done_hash != wanted or not set(extras) <= set(done_extras):
        if done_hash == wanted:  # same pyproject.toml, more extras: keep the ones installed
            extras = tuple(sorted(set(extras) | set(done_extras)))
        print("Installing the workbook and its packages (a few minutes the first time) ...")
        run([python, "-m", "pip", "install", "--upgrade", "pip"])
        run([python, "-m", "pip", "install", "-e", f"{ROOT}[{','.join(extras)}]"])
        stamp.write_text(" ".join([wanted, *extras]) + "\n")
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in {"lab", "test", "setup"}:
        print(__doc__)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    command, rest = argv[0], argv[1:]
    python = setup(("test", "instructor", "browser") if command == "test" else ("test",))
    if command == "setup":
        print(f"Ready. Use {python} or activate the environment in {python.parent.parent}.")
        return 0
    if command == "lab":
        args = [python, "-m", "course_utils", "lab", *rest]
    else:
        args = [python, "-m", "pytest", *rest]
    print("+ " + " ".join(str(a) for a in args), flush=True)
    try:
        return subprocess.call([str(a) for a in args], cwd=ROOT)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
