"""The package's import graph runs one way: the loop, the checkpoint cache and the settings sit
below ``models/``, ``models/`` below ``train``, and ``train`` below ``results`` and the notebooks'
helpers. Read with ``ast`` (imports inside functions count too), nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

from course_utils.config import REPO_ROOT

PACKAGE = REPO_ROOT / "course_utils"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``course_utils`` module ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_utils")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}   # from course_utils import train
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


#: What each layer may not import (a module of a lower layer importing one of a higher one).
BELOW_MODELS = ("course_utils.settings", "course_utils.config", "course_utils.progress", "course_utils.loop",
                "course_utils.memory", "course_utils.checkpoints")
ABOVE_MODELS = ("course_utils.train", "course_utils.results", "course_utils.widgets", "course_utils.viz",
                "course_utils.checks", "course_utils.cli", "course_utils.instructor")


def test_models_import_nothing_above_them():
    g = graph()
    for module, imports in g.items():
        if module.startswith("course_utils.models"):
            up = sorted(i for i in imports if i.startswith(ABOVE_MODELS))
            assert not up, f"{module} imports {up}: models/ sits below train (use course_utils.loop / checkpoints)"


def test_the_loop_the_cache_and_the_settings_import_no_model():
    g = graph()
    for module in BELOW_MODELS:
        up = sorted(i for i in g[module] if i.startswith(("course_utils.models", *ABOVE_MODELS)))
        assert not up, f"{module} imports {up}"
    assert g["course_utils.settings"] == set(), "settings.py imports nothing of the course"


def test_no_cycle_between_modules():
    g = graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(g.get(m, ())):
            if n == m or n.startswith(m + ".") or m.startswith(n + "."):   # a package and its own modules
                continue
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
