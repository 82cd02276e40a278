"""pytest setup shared by the unit tests and the nbval run of solutions/.

- Every notebook kernel nbval starts inherits this process's environment, so fast mode is set
  here (nbval cannot pass parameters to a notebook).
- nbval compares stderr like any other output; stderr carries tqdm bars and library warnings
  that differ between machines, so it is dropped before comparison. Cells whose stdout varies
  carry the tag ``nbval-ignore-output`` instead.
"""
from __future__ import annotations

import os

import pytest

os.environ["COURSE_FAST"] = "1"
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
        "--quick", action="store_true", default=False,
        help="the quick tier: leave out the notebooks (nbval) and every test marked "
             + ", ".join(QUICK_LEAVES_OUT) + " (`python3 bootstrap.py test --quick`)",
    )


#: The markers the quick tier (``--quick``) leaves out, with the notebooks that nbval runs.
QUICK_LEAVES_OUT = ("slow", "kernel", "browser")


#: The files that take longest (seconds of one worker in CI), started first: pytest-xdist hands each
#: file (--dist loadfile) to a worker in this order, and a long file started last would leave the
#: other worker idle at the end. Measured in CI; the rest follow, unit tests before notebooks.
LONGEST_FIRST = (
    "tests/test_student_notebooks.py",            # ~650 s: every student notebook run in a kernel
    "tests/browser/test_widgets_in_jupyterlab.py",  # ~620 s: five weeks' widgets in Chromium
    "solutions/08_summary.ipynb",                 # ~540 s: `course results` in fast mode first
    "tests/test_grading.py",                      # ~400 s
    "solutions/05_gan_clustering.ipynb",
    "tests/test_grading_weeks.py",
    "solutions/07_prednet.ipynb",
    "solutions/06_nonparametric.ipynb",
    "solutions/04_dec.ipynb",
    "solutions/03_vade.ipynb",
)


def _order(item) -> tuple[int, int]:
    path = item.nodeid.split("::")[0]
    if path in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(path))
    return (2, 0) if path.endswith(".ipynb") else (1, 0)


def pytest_collection_modifyitems(config, items):
    """The longest files first (see LONGEST_FIRST), then unit tests, then the other notebooks.
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
    items.sort(key=_order)   # stable: tests keep their order within a file


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
