#!/usr/bin/env python3
"""Set up the workbook's environment and run it. Needs only Python 3.10+ (no conda).

    python3 bootstrap.py lab                 set up .venv/, then JupyterLab on notebooks/
    python3 bootstrap.py lab --no-browser    the same, headless: prints the URL to open
    python3 bootstrap.py results [ARGS]      set up .venv/, then `course results` (every method of the
                                             course x seed into results/; --full, --jobs N, --help)
    python3 bootstrap.py test [PYTEST ARGS]  set up .venv/, then the whole test suite
    python3 bootstrap.py test --no-browser   the same without the browser test of the widgets
    python3 bootstrap.py test --quick        the quick tier: no notebook, kernel, browser, script or
                                             training over a few seconds (about 2 minutes)
    python3 bootstrap.py setup               only set up .venv/

Options for the setup (anywhere on the line; --torch also as $COURSE_TORCH):
    --torch=auto   (default) PyTorch's CPU-only wheels when no NVIDIA GPU is visible (no
                   `nvidia-smi`) on Linux/Windows, else the default wheels from PyPI
    --torch=cpu    the CPU-only wheels from https://download.pytorch.org/whl/cpu (much smaller);
                   if that index cannot be reached, the default wheels, with a one-line note
    --torch=cuda   the default wheels from PyPI (with CUDA on Linux)
    --uv           install with uv (installed into .venv/ first) instead of pip: several times
                   faster, but it ignores pip's configuration files and PIP_* variables

The virtual environment lives in .venv/ (or $COURSE_VENV). Packages are installed once and
again only when pyproject.toml changes; `test` also installs the instructor extra (nbgrader),
so the test comparing our release step with nbgrader's runs, and the browser extra (Playwright)
for the test that runs the widgets in JupyterLab in Chromium; without Debian's `chromium`
installed that test is skipped with the reason (it fails instead when CI=true).
`lab` and `test` then replace this process with JupyterLab or pytest (on POSIX), so stopping
its process id (Ctrl+C, `kill PID`) stops them.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 10)
TORCH_CHOICES = ("auto", "cpu", "cuda")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: Disk space an install takes, in GiB, by torch build (the venv plus pip's unpacking): PyPI's
#: Linux torch brings CUDA's libraries (about 5.5 GiB in the venv); the CPU-only wheels far less.
NEEDED_GIB = {"cpu": 2.0, "cuda": 7.0}


def fail(message: str) -> None:
    print(f"bootstrap: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list, explain=None) -> None:
    """Run ``cmd``; when it fails, stop with its exit code and what ``explain()`` adds (if any)."""
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        extra = explain() if explain else ""
        fail(f"command failed with exit code {code}: {' '.join(str(c) for c in cmd)}"
             + (f"\n{extra}" if extra else ""))


def free_gib(path: Path) -> float:
    """Free space on the disk that holds ``path`` (which exists), in GiB; unknown counts as plenty."""
    try:
        return shutil.disk_usage(path).free / 2**30
    except OSError:
        return float("inf")


def disk_advice(venv: Path, torch: str) -> str:
    """What to do when the disk under ``venv`` has less room than an install of ``torch`` takes."""
    free, needed = free_gib(venv), NEEDED_GIB[torch]
    if free >= needed:
        return ""
    advice = (f"Only {free:.1f} GiB is free on the disk of {venv}, and this install takes about "
              f"{needed:.0f} GiB. Free some space (`pip cache purge` empties pip's cache), or put the "
              "environment on a bigger disk with COURSE_VENV=/path/to/venv")
    if torch == "cuda":
        advice += (", or take PyTorch's CPU-only wheels (about 2 GiB) with --torch=cpu where "
                   f"{CPU_INDEX} can be reached")
    return advice + "."


def split_options(argv: list[str]) -> tuple[list[str], str, bool]:
    """Take bootstrap's own ``--torch=MODE`` (or ``--torch MODE``) and ``--uv`` out of ``argv``.

    Returns the remaining arguments (for the command and what it passes on), the torch mode
    (default ``$COURSE_TORCH`` or ``auto``) and whether to install with uv.
    """
    rest, torch, uv = [], os.environ.get("COURSE_TORCH", "").strip().lower() or "auto", False
    args = iter(argv)
    for arg in args:
        if arg == "--torch":
            torch = next(args, "").lower()
        elif arg.startswith("--torch="):
            torch = arg.split("=", 1)[1].lower()
        elif arg == "--uv":
            uv = True
        else:
            rest.append(arg)
    if torch not in TORCH_CHOICES:
        fail(f"--torch={torch!r} is not understood: use one of {', '.join(TORCH_CHOICES)}.")
    return rest, torch, uv


def resolve_torch(mode: str) -> str:
    """``cpu`` or ``cuda`` (PyPI's default wheels) for ``mode``; ``auto`` looks for an NVIDIA GPU.

    PyPI's Linux and Windows wheels are the CUDA builds (several GB with their libraries);
    macOS wheels are CPU/MPS only already, so ``auto`` keeps the default there.
    """
    if mode != "auto":
        return mode
    if sys.platform == "darwin" or shutil.which("nvidia-smi"):
        return "cuda"
    return "cpu"


def torch_requirements() -> list[str]:
    """The torch and torchvision requirements of pyproject.toml (e.g. ``torch>=2.4``)."""
    text = (ROOT / "pyproject.toml").read_text()
    return re.findall(r'"(torch(?:vision)?\s*[<>=!~][^"]*)"', text)


def index_reachable(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def install_commands(python: Path, extras: tuple[str, ...], torch: str,
                     uv: bool = False) -> list[list[str]]:
    """The commands that install the workbook with ``extras`` and ``torch`` (cpu/cuda)."""
    pip = [str(python), "-m", "pip", "install"]
    cmds = [pip + ["--upgrade", "pip"]]
    if uv:
        cmds.append(pip + ["uv"])
        pip = [str(python.parent / ("uv.exe" if os.name == "nt" else "uv")), "pip", "install",
               "--python", str(python)]
    if torch == "cpu":
        cmds.append(pip + [*torch_requirements(), "--index-url", CPU_INDEX])
    cmds.append(pip + ["-e", f"{ROOT}[{','.join(extras)}]"])
    return cmds


def read_stamp(stamp: Path) -> tuple[str, list[str], str | None]:
    """(pyproject hash, extras, torch build) recorded by the last install; empty when none."""
    done_hash, *tokens = stamp.read_text().split() if stamp.exists() else [""]
    extras = [t for t in tokens if "=" not in t]
    torch = next((t.split("=", 1)[1] for t in tokens if t.startswith("torch=")), None)
    return done_hash, extras, torch


def setup(extras: tuple[str, ...] = ("test",), torch_mode: str = "auto", uv: bool = False) -> Path:
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
            sudo = "sudo " if hasattr(os, "geteuid") and os.geteuid() != 0 else ""
            fail(
                f"could not create a virtual environment ({exc}). On Debian/Ubuntu install "
                f"the venv module first: `{sudo}apt-get install python3-venv`."
            )
    # The stamp holds the hash of pyproject.toml, the extras installed with it and torch's build.
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = venv / ".course-installed"
    done_hash, done_extras, done_torch = read_stamp(stamp)
    if done_hash != wanted or not set(extras) <= set(done_extras):
        if done_hash == wanted:  # same pyproject.toml, more extras: keep the ones installed
            extras = tuple(sorted(set(extras) | set(done_extras)))
        torch = resolve_torch(torch_mode)
        if done_hash and torch_mode == "auto":  # an update keeps the build this venv has
            torch = done_torch or "cuda"        # (stamps without torch= predate --torch)
        if torch == "cpu" and not index_reachable(CPU_INDEX):
            print(f"bootstrap: PyTorch's CPU-only index ({CPU_INDEX}) cannot be reached; "
                  "installing the default torch from PyPI instead.", flush=True)
            torch = "cuda"
        print(f"Installing the workbook and its packages (up to {NEEDED_GIB[torch]:.0f} GiB of disk, "
              "a few minutes the first time) ...", flush=True)
        advice = disk_advice(venv, torch)
        if advice:
            print(f"bootstrap: warning: {advice}", flush=True)
        for cmd in install_commands(python, extras, torch, uv):
            run(cmd, lambda: disk_advice(venv, torch))
        stamp.write_text(" ".join([wanted, *extras, f"torch={torch}"]) + "\n")
    elif torch_mode != "auto" and torch_mode != (done_torch or "cuda"):
        print(f"bootstrap: note: {venv} already has torch's {done_torch or 'default'} build; "
              f"to get --torch={torch_mode}, delete that folder and run this again.", flush=True)
    return python


def replace_process(args: list) -> int:
    """Run ``args`` in place of this process (POSIX), so signals sent to our pid reach it.

    Windows has no exec that keeps the process id: there the command runs as a child.
    """
    args = [str(a) for a in args]
    print("+ " + " ".join(args), flush=True)
    if os.name == "posix":
        os.chdir(ROOT)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(args[0], args)
    try:
        return subprocess.call(args, cwd=ROOT)
    except KeyboardInterrupt:
        return 130


def main(argv: list[str]) -> int:
    argv, torch_mode, uv = split_options(argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in {"lab", "test", "setup", "results"}:
        print(__doc__)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    command, rest = argv[0], argv[1:]
    extras = ("test", "instructor", "browser") if command == "test" else ("test",)
    python = setup(extras, torch_mode, uv)
    if command == "setup":
        print(f"Ready. Use {python} or activate the environment in {python.parent.parent}.")
        return 0
    if command in ("lab", "results"):
        return replace_process([python, "-m", "course_utils", command, *rest])
    return replace_process([python, "-m", "pytest", *parallel_options(rest), *rest])


def parallel_options(args: list[str]) -> list[str]:
    """``-n 2 --dist loadfile`` (pytest-xdist: two workers, each test file kept on one worker, so a
    notebook's cells run in order in one kernel), unless ``args`` choose for themselves (``-n``,
    ``--numprocesses``, ``-p no:xdist``) or select single tests (``-k``, ``path::test``), where
    starting workers would cost more than it saves. Two workers fit the 2-core machines the
    suite's 30-minute budget is measured on; the suite spends much of its time waiting on kernels
    and subprocesses, which the second worker fills."""
    chooses = any(a in {"-n", "--numprocesses", "-k", "no:xdist"} or a.startswith(("-n", "--numprocesses="))
                  or "::" in a for a in args)
    # --no-loadscope-reorder: hand files out in collection order (conftest.py starts the longest
    # first); xdist's default order is by number of tests, which left the browser test for last
    return [] if chooses else ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
