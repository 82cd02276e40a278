"""pytest setup shared by the unit tests and the nbval run of solutions/.

- Every notebook kernel nbval starts inherits this process's environment, so fast mode is set
  here (nbval cannot pass parameters to a notebook).
- nbval compares stderr like any other output; stderr carries tqdm bars and library warnings
  that differ between machines, so it is dropped before comparison. Cells whose stdout varies
  carry the tag ``nbval-ignore-output`` instead.
"""
from __future__ import annotations

import os

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


def pytest_collection_modifyitems(config, items):
    """Unit tests first (fast feedback), notebook regressions last."""
    items.sort(key=lambda item: item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid)
