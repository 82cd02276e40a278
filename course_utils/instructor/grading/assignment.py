"""The assignment: the solution notebook, read once; its graded cells; the notebook to run.

``load_assignment`` reads the solution before any kernel starts and keeps what grading needs:
the test cells (hidden tests included), their points, the student's names each one uses, the
import lines the tests need, and ``tests_sha256``, a hash of every locked cell (source and
points). A rerun whose hash differs regrades every submission.

``prepare`` builds the notebook to run from the *student's* notebook: every graded (or locked)
cell is taken from the solution, never from the student's copy. Test cells do not run in the
student's kernel: the runner sends them to a trusted kernel (see ``runner``).
"""
from __future__ import annotations

import ast
import builtins
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.instructor.release import RUN_METADATA, SOLUTIONS_DIR


class GradingError(ValueError):
    """Grading cannot start: unknown assignment, missing folder, a solution without tests."""



def _nbgrader(cell: dict) -> dict:
    """A cell's nbgrader metadata, or {} (a student may have broken it: never trust its type)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell: dict) -> str | None:
    gid = _nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def _is_test(cell: dict) -> bool:
    """An autograder test cell: graded, not an answer."""
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def _is_locked(cell: dict) -> bool:
    """A cell the student may not change: tests and other read-only cells."""
    meta = _nbgrader(cell)
    return (bool(meta.get("grade")) or bool(meta.get("locked"))) and not meta.get("solution")


def _is_exercise(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("solution"))


@dataclass
class Test:
    grade_id: str
    points: float
    exercise: str | None  # grade_id of the exercise cell this test follows, if any
    names: list[str] = field(default_factory=list)   # the student's names the test cell uses
    hidden_from: int | None = None   # first line (1-based) of the hidden tests in the cell


@dataclass
class Assignment:
    name: str                       # e.g. "01_kmeans_em"
    path: Path                      # the solution notebook
    notebook: nbformat.NotebookNode
    sha256: str                     # of the solution file
    tests: list[Test]
    tests_sha256: str = ""          # of every locked cell (source and points): changed -> regrade
    imports: list[str] = field(default_factory=list)   # import lines the test cells need

    @property
    def possible(self) -> float:
        return sum(t.points for t in self.tests)

    def test(self, grade_id: str | None) -> Test | None:
        """The test with this grade_id, or None (e.g. a cell a student marked as a test)."""
        return next((t for t in self.tests if t.grade_id == grade_id), None)


def available_assignments(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(solutions_dir).glob("*.ipynb"))


def resolve_assignment(name: str, solutions_dir: Path = SOLUTIONS_DIR) -> Path:
    """``01``, ``01_kmeans_em`` or ``01_kmeans_em.ipynb`` -> ``solutions/01_kmeans_em.ipynb``."""
    solutions_dir = Path(solutions_dir)
    names = available_assignments(solutions_dir)
    stem = name[: -len(".ipynb")] if name.endswith(".ipynb") else name
    matches = [n for n in names if n == stem] or [n for n in names if n.split("_", 1)[0] == stem]
    if len(matches) != 1:
        listing = ", ".join(names) if names else "none"
        raise GradingError(
            f"No single assignment matches {name!r} in {solutions_dir} (available: {listing}). "
            "Name it by number (01) or by file name (01_kmeans_em)."
        )
    return solutions_dir / f"{matches[0]}.ipynb"


def load_assignment(name: str, solutions_dir: Path = SOLUTIONS_DIR) -> Assignment:
    """Read a solution notebook and list its graded test cells in order."""
    path = resolve_assignment(name, solutions_dir)
    data = path.read_bytes()   # read once: what is graded is what was hashed
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # JSON or nbformat errors in the instructor's own file
        raise GradingError(f"The solution {path} is not a valid notebook: {exc}") from None
    return assignment_from_notebook(nb, path, hashlib.sha256(data).hexdigest())


def assignment_from_notebook(nb: nbformat.NotebookNode, path: Path, sha256: str) -> Assignment:
    """The assignment a solution notebook (already read) defines; see ``load_assignment``."""
    path = Path(path)
    tests, exercise, seen = [], None, set()
    for cell in nb.cells:
        gid = _grade_id(cell)
        if _nbgrader(cell) and gid is None:
            raise GradingError(f"{path.name}: a cell with nbgrader metadata has no grade_id.")
        if gid is not None and gid in seen:
            raise GradingError(f"{path.name}: grade_id {gid!r} is used by more than one cell.")
        seen.add(gid)
        if _is_exercise(cell):
            exercise = gid
        elif _is_test(cell):
            tests.append(Test(gid, float(_nbgrader(cell).get("points", 0)), exercise))
    if not tests:
        raise GradingError(
            f"{path.name} has no graded test cells (nbgrader metadata grade: true, points: N)."
        )
    assignment = Assignment(path.stem, path, nb, sha256, tests)
    _analyse_tests(assignment)
    return assignment


def _code(source: str) -> ast.Module:
    """A cell's Python, without IPython's magics and shell lines."""
    lines = [("" if line.lstrip().startswith(("%", "!")) else line) for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _defined(tree: ast.AST) -> set[str]:
    """Names a cell binds at its top level (def, class, assignment, import, for, with)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _used(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _analyse_tests(assignment: Assignment) -> None:
    """Which of the student's names each test uses, which imports the tests need, and the hash.

    A test cell runs in a trusted kernel that knows only the solution's imports and the student's
    names (as stand-ins). A test that needs anything else (a variable an earlier cell computed)
    cannot be graded this way: loading the assignment fails and says which name.
    """
    nb, path = assignment.notebook, assignment.path
    exercise_names: set[str] = set()
    imports: dict[str, str] = {}
    locked = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = _code(cell.source)
        except SyntaxError as exc:
            raise GradingError(f"{path.name}: a code cell does not parse: {exc}") from None
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                line = ast.unparse(node)
                for alias in node.names:
                    imports.setdefault((alias.asname or alias.name).split(".")[0], line)
        if _is_exercise(cell):
            exercise_names |= {n for n in _defined(tree) if not n.startswith("_")} - set(
                (a.asname or a.name).split(".")[0] for node in tree.body
                if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names)
        if _is_locked(cell):
            locked.append([_grade_id(cell), _nbgrader(cell).get("points", 0), cell.source])
    needed: list[str] = []
    for test in assignment.tests:
        cell = next(c for c in nb.cells if _grade_id(c) == test.grade_id)
        tree = _code(cell.source)
        free = _used(tree) - _defined(tree) - set(dir(builtins)) - {"get_ipython", "display"}
        test.names = sorted(free & exercise_names)
        unknown = sorted(free - exercise_names - set(imports))
        if unknown:
            raise GradingError(
                f"{path.name}: test cell {test.grade_id} uses {', '.join(unknown)}, which neither an "
                "exercise cell nor an import defines. Tests run in a separate, trusted kernel: build "
                "what a test needs inside the test cell (or import it).")
        for name in sorted(free & set(imports)):
            if imports[name] not in needed:
                needed.append(imports[name])
        lines = cell.source.splitlines()
        test.hidden_from = next((i + 1 for i, line in enumerate(lines)
                                 if line.strip() == "### BEGIN HIDDEN TESTS"), None)
    assignment.imports = needed
    assignment.tests_sha256 = hashlib.sha256(json.dumps(locked).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# The notebook to run: the student's cells, the solution's graded cells
# --------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    nb: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)                   # about the whole submission
    test_notes: dict[str, list[str]] = field(default_factory=dict)   # shown with a test's result
    failure_notes: dict[str, list[str]] = field(default_factory=dict)  # shown if the test fails


def _fresh(cell: dict) -> nbformat.NotebookNode:
    """A copy of a cell with no outputs from an earlier run."""
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def _solution_cell(cell: dict) -> nbformat.NotebookNode:
    """A solution cell as it runs when grading: full source (hidden tests included), no outputs."""
    fresh = _fresh(cell)
    for key in RUN_METADATA:
        fresh["metadata"].pop(key, None)
    return fresh


def prepare(student: nbformat.NotebookNode, assignment: Assignment) -> Prepared:
    """The notebook to grade: the student's cells, with every locked cell taken from the solution.

    Locked cells are matched by nbgrader ``grade_id``. If a student copied one, only the last
    copy runs. One a student deleted (or renamed) is put back after the cell that precedes it in
    the solution (matched by ``grade_id``), else before the one that follows it, else at the end.
    """
    solution = assignment.notebook.cells
    locked = {_grade_id(c): c for c in solution if _is_locked(c)}
    last = {_grade_id(c): i for i, c in enumerate(student.cells) if _grade_id(c) in locked}
    nb = copy.deepcopy(student)
    nb.cells = []
    prepared = Prepared(nb)
    placed: set[str] = set()
    for i, cell in enumerate(student.cells):
        gid = _grade_id(cell)
        if gid not in locked:
            nb.cells.append(_fresh(cell))
        elif i == last[gid]:
            nb.cells.append(_solution_cell(locked[gid]))
            placed.add(gid)
        else:
            prepared.notes.append(f"cell {gid} appeared more than once; only the last copy ran")

    for index, cell in enumerate(solution):
        gid = _grade_id(cell)
        if gid not in locked or gid in placed:
            continue
        present = [_grade_id(c) for c in nb.cells]   # None for cells without nbgrader metadata
        before = [g for c in reversed(solution[:index]) if (g := _grade_id(c)) and g in present]
        after = [g for c in solution[index + 1:] if (g := _grade_id(c)) and g in present]
        if before:
            at = len(present) - present[::-1].index(before[0])   # after its last occurrence
        elif after:
            at = present.index(after[0])
        else:
            at = len(present)
        nb.cells.insert(at, _solution_cell(cell))
        placed.add(gid)
        kind = "test cell" if _is_test(cell) else "locked cell"
        note = (f"{kind} {gid} was missing (deleted, or its grade_id changed); "
                "restored from the source")
        prepared.notes.append(note)
        prepared.test_notes.setdefault(gid, []).append(note)

    present = {_grade_id(c) for c in nb.cells}
    for cell in solution:
        gid = _grade_id(cell)
        if _is_exercise(cell) and gid not in present:
            note = (
                f"exercise cell {gid} was not found (deleted, or its nbgrader metadata changed); "
                "its tests fail with NameError unless the notebook defines the same names elsewhere"
            )
            prepared.notes.append(note)
            for test in assignment.tests:
                if test.exercise == gid:
                    prepared.failure_notes.setdefault(test.grade_id, []).append(note)
    _ensure_unique_ids(nb)
    return prepared


def _ensure_unique_ids(nb: nbformat.NotebookNode) -> None:
    """nbformat 4.5 wants a unique id on every cell; restored and copied cells may clash."""
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    seen: set[str] = set()
    for cell in nb.cells:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = nbformat.v4.new_code_cell().id
        seen.add(cell["id"])


