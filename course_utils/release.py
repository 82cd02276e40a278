"""Generate the student notebooks (``notebooks/``) from the solutions (``solutions/``).

The solutions are the single source of truth. They use nbgrader's markers:

- ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in a code cell becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the marker's indentation
  (in a Markdown cell: ``YOUR ANSWER HERE``);
- ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is removed;
- outputs, execution counts, execution timings and saved widget state are cleared;
- nbgrader cell metadata (``grade``, ``grade_id``, ``points``, ``solution``, ``locked``,
  ``schema_version``) and cell tags are kept, so nbgrader users can use the same sources.

Output is byte-for-byte deterministic: the same solutions always give the same files, which is
what ``course release --check`` and the test suite compare.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.config import REPO_ROOT

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
MARKERS = (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END)

# Cell metadata that belongs to one run of a notebook, not to its content.
RUN_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "jupyter")

SOLUTIONS_DIR = REPO_ROOT / "solutions"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


class ReleaseError(ValueError):
    """A solution notebook cannot be turned into a student notebook (bad markers, bad file)."""


@dataclass
class ReleaseResult:
    written: list[Path]
    unchanged: list[Path]
    removed: list[Path]
    stale: list[Path]  # only filled by check=True: files that differ from a fresh generation

    @property
    def in_sync(self) -> bool:
        return not self.stale


def _strip_regions(source: str, where: str, markdown: bool) -> str:
    """Replace solution regions by the stub and drop hidden-test regions in one cell's source."""
    out: list[str] = []
    state = None  # None, "solution" or "hidden"
    opened_at = 0
    for lineno, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker in (SOLUTION_BEGIN, HIDDEN_BEGIN):
            if state is not None:
                raise ReleaseError(
                    f"{where}, line {lineno}: '{marker}' inside a region opened on line "
                    f"{opened_at} that was never closed. Close it with its END marker first."
                )
            state = "solution" if marker == SOLUTION_BEGIN else "hidden"
            opened_at = lineno
            if state == "solution":
                indent = line[: len(line) - len(line.lstrip())]
                if markdown:
                    out.append(indent + MARKDOWN_STUB)
                else:
                    out.extend(indent + stub for stub in CODE_STUB)
            continue
        if marker in (SOLUTION_END, HIDDEN_END):
            expected = "solution" if marker == SOLUTION_END else "hidden"
            if state != expected:
                raise ReleaseError(
                    f"{where}, line {lineno}: '{marker}' without a matching BEGIN marker. "
                    "Check the markers of this cell."
                )
            state = None
            continue
        if state is None:
            out.append(line)
    if state is not None:
        raise ReleaseError(
            f"{where}: the region opened on line {opened_at} is never closed. Add the matching "
            "'### END ...' line."
        )
    return "\n".join(out)


def student_cell(cell: dict, where: str) -> dict:
    """The student version of one cell (a new object; the input is not modified)."""
    cell = copy.deepcopy(cell)
    markdown = cell["cell_type"] == "markdown"
    if any(m in cell["source"] for m in MARKERS):
        cell["source"] = _strip_regions(cell["source"], where, markdown)
    if cell["cell_type"] == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    for key in RUN_METADATA:
        cell["metadata"].pop(key, None)
    if "attachments" in cell and not cell["attachments"]:
        del cell["attachments"]
    return cell


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a whole notebook: markers applied, outputs and widget state cleared."""
    out = copy.deepcopy(nb)
    out.metadata.pop("widgets", None)
    out.cells = [
        student_cell(cell, f"{name}, cell {i} ({cell['cell_type']})")
        for i, cell in enumerate(nb.cells)
    ]
    return out


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook; any problem becomes one clear ``ReleaseError``."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise ReleaseError(f"{path} does not exist.") from None
    except Exception as exc:  # JSON errors, nbformat reader errors
        raise ReleaseError(
            f"{path} is not a readable notebook ({type(exc).__name__}: {exc}). Open it in "
            "JupyterLab or check the JSON (e.g. `python -m json.tool` on it); if it was edited by "
            "hand, restore it from git."
        ) from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise ReleaseError(f"{path} is not valid nbformat: {exc.message}") from None
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """Serialise a notebook deterministically (nbformat's layout, one trailing newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def release(
    solutions_dir: Path = SOLUTIONS_DIR,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    check: bool = False,
) -> ReleaseResult:
    """Generate every ``notebooks/NN_*.ipynb`` from ``solutions/NN_*.ipynb``.

    ``check=True`` writes nothing and reports which student notebooks are stale or extra.
    Student notebooks with no solution are removed (``check``: reported as stale).
    Nothing is written until every solution has been converted, so a bad marker in one notebook
    never leaves a half-updated ``notebooks/`` folder.
    """
    solutions_dir, notebooks_dir = Path(solutions_dir), Path(notebooks_dir)
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise ReleaseError(f"No solution notebooks (*.ipynb) found in {solutions_dir}.")
    rendered = {}
    for src in sources:
        rendered[notebooks_dir / src.name] = render(
            student_notebook(read_notebook(src), name=src.name)
        )
    result = ReleaseResult([], [], [], [])
    for dst, text in rendered.items():
        current = dst.read_text(encoding="utf-8") if dst.exists() else None
        if current == text:
            result.unchanged.append(dst)
        elif check:
            result.stale.append(dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".ipynb.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(dst)
            result.written.append(dst)
    for extra in sorted(set(notebooks_dir.glob("*.ipynb")) - set(rendered)):
        if check:
            result.stale.append(extra)
        else:
            extra.unlink()
            result.removed.append(extra)
    return result


LEAK_PATTERN = re.compile("|".join(re.escape(m) for m in MARKERS))


def find_leaks(nb: nbformat.NotebookNode) -> list[str]:
    """Places in a (student) notebook where marker text survived; empty when clean."""
    return [
        f"cell {i}: {match.group(0)!r}"
        for i, cell in enumerate(nb.cells)
        for match in [LEAK_PATTERN.search(cell.source)]
        if match
    ]
