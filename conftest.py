"""pytest setup shared by the unit tests and the nbval run of solutions/.

- Every notebook kernel nbval starts inherits this process's environment, so fast mode is set
  here (nbval cannot pass parameters to a notebook).
- nbval compares stderr like any other output; stderr carries tqdm bars and library warnings
  that differ between machines, so it is dropped before comparison. Cells whose stdout varies
  carry the tag ``nbval-ignore-output`` instead.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["COURSE_FAST"] = "1"
# Fast mode's committed numbers hold on any x86-64 CPU only with one code path in MKL and torch:
# importing course_utils in fast mode sets it (config.portable_math), here before any torch kernel,
# so that this process and every notebook kernel it starts compute them the same way.
import course_utils  # noqa: E402,F401
# Notebook kernels pick the inline backend themselves; a caller's MPLBACKEND=Agg would leave
# them without figures. This process falls back to a non-interactive backend on its own.
os.environ.pop("MPLBACKEND", None)

try:
    import nbval.plugin as _nbval_plugin
except ImportError:  # nbval not installed: unit tests still run
    _nbval_plugin = None

if _nbval_plugin is not None:
    _transform = _nbval_plugin.transform_streams_for_comparison

    def _without_stderr(outputs):
        return _transform(
            [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        )

    _nbval_plugin.transform_streams_for_comparison = _without_stderr


def pytest_addoption(parser):
    parser.addoption(
        "--no-browser", action="store_true", default=False,
        help="skip the tests that drive JupyterLab in Chromium (marked `browser`; also COURSE_SKIP_BROWSER=1)",
    )
    parser.addoption(
        "--record-durations", metavar="PATH", default=None,
        help="write the seconds each test file took to PATH (tests/durations.json orders the files)",
    )
    parser.addoption(
        "--quick", action="store_true", default=False,
        help="the quick tier: leave out the notebooks (nbval) and every test marked "
             + ", ".join(QUICK_LEAVES_OUT) + " (`python3 bootstrap.py test --quick`)",
    )


#: The markers the quick tier (``--quick``) leaves out, with the notebooks that nbval runs.
QUICK_LEAVES_OUT = ("slow", "kernel", "browser")


#: Seconds each test file (each notebook) took in the last recorded run of the whole suite,
#: written by ``pytest --record-durations tests/durations.json`` (never by hand). pytest-xdist
#: hands each file to a worker (--dist loadfile) in collection order, so the longest go first and
#: neither worker is left idle at the end. A file not in the record is estimated: a notebook
#: NOTEBOOK_GUESS seconds (a new week starts early), any other file a few seconds.
DURATIONS = Path(__file__).parent / "tests" / "durations.json"
NOTEBOOK_GUESS, FILE_GUESS = 300.0, 2.0


def _recorded() -> dict[str, float]:
    try:
        data = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.get("seconds", {}).items()} if isinstance(data, dict) else {}


def _cost(path: str, recorded: dict[str, float]) -> float:
    if path in recorded:
        return recorded[path]
    return NOTEBOOK_GUESS if path.endswith(".ipynb") else FILE_GUESS


_spent: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Seconds per file (setup, call and teardown of its tests), for --record-durations."""
    path = report.nodeid.split("::")[0]
    _spent[path] = _spent.get(path, 0.0) + float(getattr(report, "duration", 0.0) or 0.0)


def pytest_sessionfinish(session, exitstatus):
    target = session.config.getoption("--record-durations", default=None)
    if not target or hasattr(session.config, "workerinput"):   # the xdist controller writes it
        return
    old = _recorded()
    seconds = {**old, **{k: round(v, 1) for k, v in _spent.items()}}
    Path(target).write_text(json.dumps({"about": "seconds per test file in one run of the whole suite; "
                                        "conftest.py starts the longest first",
                                        "seconds": dict(sorted(seconds.items(), key=lambda kv: -kv[1]))},
                                       indent=1) + "\n", encoding="utf-8")


def pytest_collection_modifyitems(config, items):
    """The longest files first (see DURATIONS).
    With ``--quick``, only what the quick tier runs (no notebook, nothing in QUICK_LEAVES_OUT)."""
    if config.getoption("--quick", default=False):
        keep, drop = [], []
        for item in items:
            notebook = item.nodeid.split("::")[0].endswith(".ipynb")
            marked = any(item.get_closest_marker(m) for m in QUICK_LEAVES_OUT)
            (drop if notebook or marked else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    recorded = _recorded()
    items.sort(key=lambda item: -_cost(item.nodeid.split("::")[0], recorded))   # stable within a file


def _no_process_in_quick_tier(item):
    """In the quick tier, a test whose setup or body starts a Python process (a kernel, the grader,
    the course's command, a script) or a browser fails and says to mark it ``kernel``: the tier's
    promise is that it starts none. Small tools (git, lscpu) are allowed."""
    if not item.config.getoption("--quick", default=False):
        yield
        return
    import subprocess

    started: list[str] = []
    original = subprocess.Popen.__init__

    def watched(self, args, *a, **kw):
        words = [str(w) for w in args] if isinstance(args, (list, tuple)) else str(args).split()
        program = os.path.basename(words[0]) if words else ""
        if program.startswith(("python", "jupyter", "bwrap", "chromium")) or "ipykernel" in " ".join(words):
            started.append(" ".join(words))   # a kernel, the course, a script; not git or lscpu
        return original(self, args, *a, **kw)

    subprocess.Popen.__init__ = watched
    try:
        outcome = yield
    finally:
        subprocess.Popen.__init__ = original
    if started and outcome.excinfo is None:
        pytest.fail(f"{item.nodeid} started a process ({started[0][:120]}): mark it @pytest.mark.kernel "
                    "(the quick tier, --quick, starts none)", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _no_process_in_quick_tier(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _no_process_in_quick_tier(item)


@pytest.fixture
def course_implementation_allowed():
    """For tests that check a self-check against the course's own implementation: the checks
    refuse it otherwise (an answer that delegates to it gets no points when graded)."""
    from course_utils.checks._common import course_implementation_allowed as allowed

    with allowed():
        yield
