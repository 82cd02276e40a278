"""Autograde a folder of submitted notebooks against a solution notebook (``course grade``).

What happens to one submission:

1. It is read and validated; a file that is not a notebook gets 0 on every test, with the reason.
2. The notebook to run is built from the *student's* notebook, but every graded (or locked) cell
   is taken from the solution, hidden tests included: a student's copy of a test cell is never
   trusted. Graded cells the student deleted or renamed are restored at their place, and the
   result says so.
3. It runs cell by cell in a fresh kernel of this environment (nbclient), in fast mode unless
   asked otherwise, inside a temporary folder that holds only a copy of the submission (``HOME``
   points there too), so code that writes or deletes files only touches the copy. Each cell has a
   time limit: a cell that runs over it is interrupted, and if the kernel does not come back it
   is killed. A kernel that dies (out of memory, ``os._exit``) ends the run. Output is capped.
4. A test passes when its graded cell ran without an error; it earns its ``points`` or 0. A
   failed test keeps the error's ``ename: evalue`` (or the time-out / dead-kernel reason).

Everything lands under one output folder, written as each submission finishes::

    results/<student>.json    the result of one submission (with the file's sha256)
    grades.csv                a row per student per test, plus a TOTAL row per student
    feedback/<student>.md     for the student: total, a table, why each failed test failed
    executed/<student>.ipynb  the notebook as it ran (holds the hidden tests: instructors only)
    .cache/                   caches the kernels share (e.g. matplotlib's font list)

A rerun skips submissions whose file and solution are unchanged since they were graded (so an
interrupted run resumes), unless ``regrade=True``. This is not a security sandbox: code in a
submission runs with the grader's rights. Grade untrusted work in a container or VM.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import multiprocessing
import os
import queue
import re
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_utils.execute import strip_run_state
from course_utils.release import RUN_METADATA, SOLUTIONS_DIR

DEFAULT_TIMEOUT_FAST = 120   # seconds per cell in fast mode
DEFAULT_TIMEOUT_FULL = 3600  # seconds per cell in full mode (papers' sizes, maybe no GPU)
INTERRUPT_GRACE = 10         # seconds a timed-out kernel gets to answer after an interrupt
MAX_TEXT_PER_CELL = 20_000   # characters of stdout (and of stderr) kept per cell
MAX_OUTPUTS_PER_CELL = 50    # figures, tables, ... kept per cell (errors are always kept)
MAX_REASON = 400             # characters of an error message kept in grades.csv and feedback

CSV_COLUMNS = ["student", "test", "points_earned", "points_possible", "status", "reason"]

# Executed silently before the notebook. Printing 10 MB in a loop would otherwise send 10 MB to
# the grader, and IPython would keep a copy in its output history, for every such cell. Before each
# cell (IPython's ``pre_run_cell`` event), sys.stdout's and sys.stderr's ``write`` are wrapped so
# that they pass on at most MAX_TEXT_PER_CELL characters and drop the rest. The wrapper sits
# outside IPython's own per-cell wrapper, so the history gets the capped text too; a wrapper left
# from an earlier cell is taken off first. (The grader also caps what it stores: GradingClient.)
OUTPUT_CAP_PREAMBLE = '''
def _cap_output_streams(limit):
    import sys
    from IPython import get_ipython

    def cap(stream):
        write = stream.write
        while hasattr(write, "uncapped"):
            write = write.uncapped
        used = 0

        def write_capped(text):
            nonlocal used
            left, used = limit - used, used + len(text)
            if len(text) <= left:
                return write(text)
            if left >= 0:  # the first write over the limit: say so, once
                write(text[:left] + f"\\n[output capped by the grader at {limit} characters]\\n")
            return len(text)

        write_capped.uncapped = write
        stream.write = write_capped

    def before_each_cell(info):
        for stream in (sys.stdout, sys.stderr):
            try:
                cap(stream)
            except (AttributeError, TypeError):  # the cell's code replaced the stream
                pass

    get_ipython().events.register("pre_run_cell", before_each_cell)

_cap_output_streams(LIMIT)
del _cap_output_streams
'''.replace("LIMIT", str(MAX_TEXT_PER_CELL))


class GradingError(ValueError):
    """Grading cannot start: unknown assignment, missing folder, a solution without tests."""


# --------------------------------------------------------------------------------------------
# The assignment: which cells are graded, and how many points each is worth
# --------------------------------------------------------------------------------------------

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


@dataclass
class Assignment:
    name: str                       # e.g. "01_kmeans_em"
    path: Path                      # the solution notebook
    notebook: nbformat.NotebookNode
    sha256: str                     # of the solution file: a changed solution means regrading
    tests: list[Test]

    @property
    def possible(self) -> float:
        return sum(t.points for t in self.tests)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # JSON or nbformat errors in the instructor's own file
        raise GradingError(f"The solution {path} is not a valid notebook: {exc}") from None
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
    return Assignment(path.stem, path, nb, _sha256(path), tests)


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


# --------------------------------------------------------------------------------------------
# Running it: cell by cell, with time limits, a dead-kernel check and capped output
# --------------------------------------------------------------------------------------------

class GradingClient(NotebookClient):
    """nbclient that keeps at most MAX_TEXT_PER_CELL x 2 characters of stream text and
    MAX_OUTPUTS_PER_CELL other outputs per cell, whatever the kernel sends (a backstop for output
    that bypasses the kernel-side cap, e.g. written straight to file descriptor 1)."""

    def reset_output_counts(self) -> None:
        self._text_kept, self._outputs_kept, self._dropped = 0, 0, False

    def output(self, outs, msg, display_id, cell_index):
        kind = msg["msg_type"]
        if kind == "stream":
            text = msg["content"].get("text", "")
            room = 2 * MAX_TEXT_PER_CELL + 1000 - self._text_kept
            if room <= 0:
                return self._drop(outs)
            if len(text) > room:
                msg = {**msg, "content": {**msg["content"], "text": text[:room]}}
            self._text_kept += min(len(text), room)
            out = super().output(outs, msg, display_id, cell_index)
            if len(text) > room:
                self._drop(outs)
            return out
        if kind != "error":
            if self._outputs_kept >= MAX_OUTPUTS_PER_CELL:
                return self._drop(outs)
            self._outputs_kept += 1
        return super().output(outs, msg, display_id, cell_index)

    def _drop(self, outs) -> None:
        if not self._dropped:
            self._dropped = True
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr", text="\n[more output of this cell dropped by the grader]\n"
            ))


@dataclass
class CellRun:
    status: str      # "ok", "error", "timeout", "died", "not run"
    reason: str = ""
    ename: str = ""


def _clean(text: str, limit: int = MAX_REASON) -> str:
    """One line, no terminal colours, at most ``limit`` characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_reason(ename: str, evalue: str) -> str:
    """``ename: evalue`` of a failed cell, trimmed to one line."""
    if not str(evalue).strip():
        return f"{ename} (no message)"
    return _clean(f"{ename}: {evalue}")


async def _kernel_answers(client: NotebookClient, seconds: float, code: str = "") -> dict | None:
    """Run ``code`` silently; the execute reply, or None if none came within ``seconds``."""
    msg_id = client.kc.execute(code, silent=True, store_history=False)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            reply = await client.kc.get_shell_msg(timeout=left)
        except queue.Empty:
            return None
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply
    return None


kernel_answers = run_sync(_kernel_answers)


def _interrupt(client: NotebookClient) -> bool:
    """Interrupt the kernel; True if it answers again, else it is killed and False."""
    try:
        run_sync(client.km.interrupt_kernel)()
        if kernel_answers(client, INTERRUPT_GRACE) is not None:
            return True
        run_sync(client.km.shutdown_kernel)(now=True)
    except Exception:  # the kernel was already gone
        pass
    return False


def run_notebook(
    nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str], timeout: float
) -> list[CellRun]:
    """Execute ``nb`` (modified in place) in a fresh kernel; one CellRun per cell.

    Every cell runs even after errors, as a student's "Run all" would not, so that each test is
    graded on its own. A cell over ``timeout`` seconds is interrupted; a kernel that does not
    answer within INTERRUPT_GRACE seconds after that is killed, and the remaining cells are
    "not run", as they are after the kernel dies.
    """
    # nbclient's default kernel manager, the asynchronous one, on purpose: with a blocking client a
    # cell that never finishes blocks nbclient's event loop, and the time limit never fires. The
    # kernel is this environment's: jupyter_client starts "python" kernelspecs with sys.executable.
    client = GradingClient(
        nb,
        timeout=int(max(1, round(timeout))),
        kernel_name="python3",
        allow_errors=True,
        store_widget_state=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    replies: dict[int, dict] = {}
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(
        cell_index, execute_reply
    )
    runs = [CellRun("not run", "not a code cell") for _ in nb.cells]
    # The kernel process's own stdout/stderr hold only its start-up log; the cells' output
    # reaches us as messages (ipykernel captures file descriptors 1 and 2 too).
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with client.setup_kernel(cwd=str(cwd), env=env, **quiet):
        preamble = kernel_answers(client, 60, OUTPUT_CAP_PREAMBLE)
        if preamble is None or preamble["content"].get("status") != "ok":
            detail = preamble["content"] if preamble else "no answer in 60 s"
            raise RuntimeError(f"the kernel did not run the grader's preamble: {detail}")
        stopped = ""
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            where = f"cell {index + 1}"
            if stopped:
                runs[index] = CellRun("not run", f"not run: {stopped}")
                continue
            client.reset_output_counts()
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except CellTimeoutError:
                if _interrupt(client):
                    reason = f"timed out after {timeout:g} s in {where}; the cell was interrupted"
                else:
                    reason = (f"timed out after {timeout:g} s in {where}; the kernel did not "
                              "answer an interrupt and was killed")
                    stopped = f"kernel killed after {where} timed out"
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="TimeoutError", evalue=reason, traceback=[]
                ))
                runs[index] = CellRun("timeout", reason)
                continue
            except DeadKernelError:
                reason = f"kernel died in {where} (out of memory or the process exited)"
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="DeadKernelError", evalue=reason, traceback=[]
                ))
                runs[index] = CellRun("died", reason)
                stopped = f"the kernel died in {where} (out of memory or the process exited)"
                continue
            content = replies.get(index, {}).get("content", {})
            if content.get("status") == "error":
                ename, evalue = content.get("ename", "Error"), content.get("evalue", "")
                runs[index] = CellRun("error", error_reason(ename, evalue), ename)
            else:
                runs[index] = CellRun("ok")
    return runs


# --------------------------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------------------------

def _read_submission(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and the reason it cannot be read."""
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        message = getattr(exc, "message", None) or str(exc)
        return None, f"not a readable notebook: not valid nbformat ({_clean(message, 200)})"
    except Exception as exc:  # not UTF-8, not JSON, not something nbformat can read
        return None, f"not a readable notebook: {type(exc).__name__}: {_clean(exc, 200)}"
    return nb, ""


def _kernel_env(home: Path, cache: Path, fast: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        COURSE_FAST="1" if fast else "0",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        HOME=str(home),               # ~ of the student's code is inside the temporary folder
        XDG_CACHE_HOME=str(cache),    # shared by submissions: matplotlib's font cache, once
        COURSE_GRADING="1",           # an unfinished exercise's self-check raises: the reason names it
    )
    return env


def _result(student: str, submission: Path, sha: str, assignment: Assignment) -> dict[str, Any]:
    return {
        "student": student,
        "submission": submission.name,
        "sha256": sha,
        "assignment": assignment.name,
        "solution_sha256": assignment.sha256,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": [],
        "grader_error": False,
    }


def _all_failed(result: dict, assignment: Assignment, reason: str) -> dict:
    result["tests"] = [
        {"test": t.grade_id, "points_earned": 0, "points_possible": t.points,
         "status": "failed", "reason": reason}
        for t in assignment.tests
    ]
    result["notes"].append(reason)
    return result


def _score(result: dict, runs: list[CellRun], prepared: Prepared, assignment: Assignment) -> None:
    """Fill in ``result["tests"]`` and ``result["notes"]`` from how each cell ran."""
    notes, failure_notes = list(prepared.notes), copy.deepcopy(prepared.failure_notes)
    others = []
    for i, (cell, run) in enumerate(zip(prepared.nb.cells, runs)):
        if run.status in {"ok", "not run"} or _is_test(cell):
            continue
        if _is_exercise(cell):
            gid = _grade_id(cell)
            if run.status == "error":
                note = f"exercise cell {gid} (cell {i + 1}) raised {run.reason}"
            else:
                note = f"exercise cell {gid}: {run.reason}"
            notes.append(note)
            for test in assignment.tests:
                if test.exercise == gid:
                    failure_notes.setdefault(test.grade_id, []).append(note)
        elif run.status == "error":
            others.append(f"cell {i + 1} ({run.ename})")
        else:  # a time-out or a dead kernel in an ordinary cell
            notes.append(run.reason)
    if others:
        more = f" and {len(others) - 10} more" if len(others) > 10 else ""
        notes.append(f"{len(others)} other cell(s) raised an error: {', '.join(others[:10])}{more}")

    where = {_grade_id(c): i for i, c in enumerate(prepared.nb.cells)}
    result["tests"] = []
    for test in assignment.tests:
        run = runs[where[test.grade_id]]
        passed = run.status == "ok"
        reasons = [] if passed else [run.reason or "failed"]
        reasons += prepared.test_notes.get(test.grade_id, [])
        if not passed:
            reasons += failure_notes.get(test.grade_id, [])
        result["tests"].append({
            "test": test.grade_id,
            "points_earned": test.points if passed else 0,
            "points_possible": test.points,
            "status": "passed" if passed else "failed",
            "reason": "; ".join(reasons),
        })
    result["notes"] = notes


def grade_submission(
    submission: Path,
    assignment: Assignment,
    out_dir: Path,
    timeout: float | None = None,
    fast: bool = True,
) -> dict[str, Any]:
    """Grade one notebook file; write its result, feedback and executed notebook; return the result.

    Never raises for anything a submission does: a problem of the grader itself (e.g. a kernel
    that will not start) gives a result with ``grader_error: true``, which a rerun grades again.
    """
    submission, out_dir = Path(submission), Path(out_dir).resolve()
    timeout = timeout or (DEFAULT_TIMEOUT_FAST if fast else DEFAULT_TIMEOUT_FULL)
    student = submission.stem
    data = submission.read_bytes()
    result = _result(student, submission, hashlib.sha256(data).hexdigest(), assignment)
    result.update(fast=fast, timeout=timeout)
    start = time.perf_counter()
    nb, problem = _read_submission(data)
    if nb is None:
        _all_failed(result, assignment, problem)
    else:
        try:
            prepared = prepare(nb, assignment)
            with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
                work, home = Path(tmp) / "work", Path(tmp) / "home"
                work.mkdir()
                home.mkdir()
                (work / submission.name).write_bytes(data)   # a copy; the original is never touched
                env = _kernel_env(home, out_dir / ".cache", fast)
                runs = run_notebook(prepared.nb, work, env, timeout)
            _score(result, runs, prepared, assignment)
            executed = out_dir / "executed" / f"{student}.ipynb"
            strip_run_state(prepared.nb)
            _write_text(executed, nbformat.writes(prepared.nb))
        except Exception as exc:  # the grader's own failure, not the student's
            result["grader_error"] = True
            reason = f"grading failed: {type(exc).__name__}: {_clean(exc, 200)}"
            _all_failed(result, assignment, reason)
    result["seconds"] = round(time.perf_counter() - start, 2)
    _save(result, assignment, out_dir)
    return result


def _grader_failed(submission: Path, assignment: Assignment, out_dir: Path, exc: Exception) -> dict:
    """The result of a submission whose grading process itself died (a rerun grades it again)."""
    result = _result(submission.stem, submission, _sha256(submission), assignment)
    result["grader_error"] = True
    _all_failed(result, assignment, f"grading failed: {type(exc).__name__}: {_clean(exc, 200)}")
    _save(result, assignment, out_dir)
    return result


def _save(result: dict, assignment: Assignment, out_dir: Path) -> None:
    result["score"] = sum(t["points_earned"] for t in result["tests"])
    result["possible"] = assignment.possible
    student = result["student"]
    _write_text(out_dir / "feedback" / f"{student}.md", feedback_markdown(result))
    _write_text(out_dir / "results" / f"{student}.json", json.dumps(result, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# Reports: grades.csv and the feedback files
# --------------------------------------------------------------------------------------------

def _write_text(path: Path, text: str) -> None:
    """Write atomically: a reader (or an interrupted run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _num(x: float) -> str:
    return f"{x:g}"


def load_results(out_dir: Path) -> list[dict]:
    """Every result in ``out_dir/results``, by student name."""
    results = []
    for path in sorted((Path(out_dir) / "results").glob("*.json")):
        try:
            results.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):  # a damaged file: that submission is graded again
            continue
    return sorted(results, key=lambda r: r["student"])


def write_grades_csv(out_dir: Path) -> Path:
    """``grades.csv`` from every result: a row per student per test, then the student's TOTAL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in load_results(out_dir):
        for t in r["tests"]:
            writer.writerow([r["student"], t["test"], _num(t["points_earned"]),
                             _num(t["points_possible"]), t["status"], t["reason"]])
        all_passed = all(t["status"] == "passed" for t in r["tests"])
        writer.writerow([r["student"], "TOTAL", _num(r["score"]), _num(r["possible"]),
                         "passed" if all_passed else "failed", "; ".join(r["notes"])])
    path = Path(out_dir) / "grades.csv"
    _write_text(path, buffer.getvalue())
    return path


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def feedback_markdown(result: dict) -> str:
    """The feedback a student reads: total, a table of tests, and why each failed test failed."""
    lines = [
        f"# Feedback on {result['submission']} ({result['assignment']})",
        "",
        f"**Total: {_num(result['score'])} / {_num(result['possible'])} points**",
        "",
        "| test | points | result |",
        "|---|---|---|",
    ]
    for t in result["tests"]:
        lines.append(f"| `{t['test']}` | {_num(t['points_earned'])} / {_num(t['points_possible'])} "
                     f"| {t['status']} |")
    failed = [t for t in result["tests"] if t["status"] == "failed"]
    if failed:
        lines += ["", "## What failed", ""]
        for t in failed:
            points = _num(t["points_possible"])
            lines.append(f"- `{t['test']}` ({points} points): {_md(t['reason'])}")
        lines += [
            "",
            "Your notebook was run from the top in a fresh kernel, with the graded test cells of "
            "the course (including tests you do not see). To find the mistake, restart your "
            "kernel, run all cells, and rerun the self-check in the cell of each failed test: "
            "it says what is wrong. A reason like NameError often means an earlier cell failed "
            "or was not run.",
        ]
    if result["notes"]:
        lines += ["", "## Notes on the submission", ""]
        lines += [f"- {_md(n)}" for n in result["notes"]]
        lines += ["", "(Cell numbers count every cell of the notebook as it was graded, from 1.)"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# A folder of submissions
# --------------------------------------------------------------------------------------------

@dataclass
class GradeSummary:
    graded: list[dict]
    skipped: list[dict]
    csv: Path

    @property
    def results(self) -> list[dict]:
        return sorted(self.graded + self.skipped, key=lambda r: r["student"])


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def list_submissions(submissions_dir: Path) -> list[Path]:
    folder = Path(submissions_dir)
    return sorted(p for p in folder.iterdir() if p.suffix == ".ipynb" and p.is_file())


def summary_line(result: dict) -> str:
    line = f"{result['student']}: {_num(result['score'])}/{_num(result['possible'])}"
    failed = [t["test"] for t in result["tests"] if t["status"] == "failed"]
    if result["grader_error"]:
        line += f"  GRADER ERROR: {result['notes'][-1]}"
    elif failed:
        line += f"  failed: {', '.join(failed)}"
    return line


def grade_folder(
    assignment: Assignment,
    submissions_dir: Path,
    out_dir: Path,
    jobs: int = 1,
    regrade: bool = False,
    timeout: float | None = None,
    fast: bool = True,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> GradeSummary:
    """Grade every ``*.ipynb`` in ``submissions_dir`` into ``out_dir`` (see the module docstring).

    ``jobs`` > 1 grades that many submissions at once, each in its own process and kernel.
    Submissions already graded with the same file and solution are skipped unless ``regrade``.
    ``grades.csv`` is rewritten after each submission, so an interrupted run loses at most the
    submissions in progress.
    """
    from tqdm.auto import tqdm

    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise GradingError(f"{submissions_dir} is not a folder of submitted notebooks.")
    for protected in (submissions_dir, assignment.path.parent):
        if _inside(out_dir, protected):
            raise GradingError(
                f"The output folder {out_dir} is inside {protected}, which grading never writes "
                "to. Choose an output folder elsewhere, e.g. --out grades/."
            )
    submissions = list_submissions(submissions_dir)
    if not submissions:
        raise GradingError(f"No submitted notebooks (*.ipynb) in {submissions_dir}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    say = echo or tqdm.write

    done = {r["student"]: r for r in load_results(out_dir)}
    todo, skipped = [], []
    for path in submissions:
        old = done.get(path.stem)
        unchanged = old and (old.get("sha256"), old.get("solution_sha256")) == (
            _sha256(path), assignment.sha256)
        if unchanged and not regrade and not old.get("grader_error"):
            skipped.append(old)
        else:
            todo.append(path)
    if skipped:
        say(f"skipping {len(skipped)} submission(s) graded before and unchanged (--regrade: redo)")
    write_grades_csv(out_dir)

    graded: list[dict] = []
    bar = tqdm(total=len(todo), desc=f"grading {assignment.name}", unit="notebook",
               disable=not progress)

    def finish(result: dict) -> None:
        graded.append(result)
        write_grades_csv(out_dir)
        bar.update(1)
        say(summary_line(result))

    try:
        if jobs <= 1:
            for path in todo:
                finish(grade_submission(path, assignment, out_dir, timeout, fast))
        else:
            # "spawn": a clean process per worker, no copies of the parent's threads or sockets
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {pool.submit(grade_submission, p, assignment, out_dir, timeout, fast): p
                           for p in todo}
                for future in as_completed(futures):
                    try:
                        result = future.result()
                    except Exception as exc:  # the worker process itself died
                        result = _grader_failed(futures[future], assignment, out_dir, exc)
                    finish(result)
    finally:
        bar.close()
    return GradeSummary(graded, skipped, out_dir / "grades.csv")
