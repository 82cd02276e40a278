"""Generate the student notebooks (``notebooks/``) from the solutions (``solutions/``).

The solutions are the single source of truth. They use nbgrader's markers:

- ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in a code cell becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the marker's indentation
  (in a Markdown cell: ``YOUR ANSWER HERE``);
- ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is removed;
- an answer cell (nbgrader ``solution: true``) with no solution markers becomes the stub entirely;
- outputs, execution counts, execution timings and saved widget state are cleared;
- nbgrader cell metadata (``grade``, ``grade_id``, ``points``, ``solution``, ``locked``,
  ``schema_version``) and cell tags are kept, so nbgrader users can use the same sources.

Output is byte-for-byte deterministic: the same solutions always give the same files, which is
what ``course release --check`` and the test suite compare.

``build_bundle`` then packs what a student gets (``course release --bundle PATH``): the student
notebooks, the ``course_utils`` package without the instructor tools, the packaging files and a
student README, as a folder or a zip; nothing from ``solutions/``, ``tests/``, ``data/``,
``benchmarks/`` or ``.ci/``.
"""
from __future__ import annotations

import copy
import re
import zipfile
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
    for lineno, line in enumerate(source.split("\n"), start=1):  # a final newline is kept
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
    """The student version of one cell (a new object; the input is not modified).

    As in nbgrader, an answer cell (nbgrader ``solution: true``) without solution markers is all
    answer: the whole cell becomes the stub.
    """
    cell = copy.deepcopy(cell)
    markdown = cell["cell_type"] == "markdown"
    if any(m in cell["source"] for m in MARKERS):
        cell["source"] = _strip_regions(cell["source"], where, markdown)
    elif cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
        cell["source"] = MARKDOWN_STUB if markdown else "\n".join(CODE_STUB)
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


# --- the student bundle ----------------------------------------------------------------------

BUNDLE_FILES = (".gitignore", "bootstrap.py", "environment.yml", "pyproject.toml")
# what only instructors use (release, execute, grading) lives in course_utils/instructor/: it holds
# the marker text and needs solutions/. The student bundle is course_utils without that folder.
INSTRUCTOR_PACKAGE = "instructor"

STUDENT_README = """\
# Learning Without Labels

A workbook on unsupervised and weakly supervised deep learning. Each week is one Jupyter notebook
that teaches a method by building it: you fill in the exercise cells, self-checks tell you what
is wrong, and you watch the model learn.

## Set up and start

You need Python 3.10 or newer and pip (no conda needed). In this folder run:

```bash
python3 bootstrap.py lab
```

The first run creates `.venv/` and installs everything (a few minutes, mostly PyTorch), then
opens JupyterLab on `notebooks/`; later runs start at once. On a remote machine or in a
container, `python3 bootstrap.py lab --no-browser` prints the URL to open instead.

Conda users: `conda env create -f environment.yml && conda activate lwl`, then `course lab`.

## The notebooks

{notebooks}

## How the exercises work

- An exercise cell ends in `# YOUR CODE HERE` and `raise NotImplementedError()`. Replace those
  two lines with your code and run the cell.
- The cell after it runs a self-check on your code. It prints a line starting with \u2714 when your
  code is right; otherwise it says what is wrong (a shape, a value, a common mistake) and where
  to look. Fix the exercise cell, run it again, then the check.
- Your notebook is graded by running it from the top in a fresh kernel, with the same checks and
  some further tests you do not see. So do not delete, copy or rename the check cells or change
  their metadata, and before you hand in, use *Kernel > Restart Kernel and Run All Cells*: every
  check should pass.

## Fast mode and data

`COURSE_FAST=1` runs a notebook with small sizes (one to four minutes on a laptop CPU), handy while
you work on the exercises; without it the notebook uses the sizes that reproduce the papers
(the later deep-learning weeks want a GPU for that). MNIST is downloaded into `data/` on first
use. No network? Copy `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
`t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz` into `data/MNIST/raw/`.
"""


def _title(notebook: Path) -> str:
    """The first heading of a notebook (its first Markdown line starting with '# '), or ''."""
    for cell in read_notebook(notebook).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def student_readme(notebooks: list[Path]) -> str:
    listing = "\n".join(
        f"- `notebooks/{nb.name}`" + (f": {title}" if (title := _title(nb)) else "")
        for nb in notebooks
    )
    return STUDENT_README.format(notebooks=listing)


def bundle_files(notebooks_dir: Path = NOTEBOOKS_DIR, root: Path = REPO_ROOT) -> dict[str, bytes]:
    """Every file of the student bundle: path inside the bundle -> content.

    Raises ``ReleaseError`` if a notebook is missing or any file holds marker text, so a bundle
    with solutions or hidden tests in it is never written.
    """
    notebooks_dir, root = Path(notebooks_dir), Path(root)
    notebooks = sorted(notebooks_dir.glob("*.ipynb"))
    if not notebooks:
        raise ReleaseError(f"No student notebooks in {notebooks_dir}; run `course release` first.")
    files = {f"notebooks/{nb.name}": nb.read_bytes() for nb in notebooks}
    package = root / "course_utils"
    for path in sorted(package.rglob("*")):
        parts = path.relative_to(root).parts
        if (path.is_dir() or "__pycache__" in parts or any(p.startswith(".") for p in parts)
                or path.suffix in {".pyc", ".pyo"}
                or parts[1] == INSTRUCTOR_PACKAGE):
            continue
        files["/".join(parts)] = path.read_bytes()
    for name in BUNDLE_FILES:
        files[name] = (root / name).read_bytes()
    files["README.md"] = student_readme(notebooks).encode("utf-8")
    leaks = [name for name, data in files.items()
             if LEAK_PATTERN.search(data.decode("utf-8", errors="replace"))]
    if leaks:
        raise ReleaseError(
            f"Marker text (### BEGIN/END ...) found in {', '.join(leaks)}; the bundle was not "
            "written. Run `course release` and check those files."
        )
    return files


def build_bundle(dest: Path, notebooks_dir: Path = NOTEBOOKS_DIR, root: Path = REPO_ROOT) -> list[str]:
    """Write the student bundle to ``dest``: a zip if it ends in ``.zip`` (everything inside one
    folder named like the zip), else a new or empty folder. Returns the paths written."""
    dest = Path(dest)
    files = bundle_files(notebooks_dir, root)
    executable = {"bootstrap.py"}
    if dest.suffix == ".zip":
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                info = zipfile.ZipInfo(f"{dest.stem}/{name}", date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if name in executable else 0o644) << 16
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        tmp.replace(dest)
    else:
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ReleaseError(f"{dest} exists and is not an empty folder; choose a new path.")
        for name, data in files.items():
            path = dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o755 if name in executable else 0o644)
    return sorted(files)
