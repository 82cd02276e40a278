"""Grading a folder of submissions: one worker process per submission, results signed and saved.

See the package docstring (``course_utils/instructor/grading/__init__.py``) for the whole design.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from course_utils.instructor.grading.assignment import Assignment, GradingError
from course_utils.instructor.grading.report import (
    executed_path,
    load_results,
    save,
    signing_key,
    write_grades_csv,
)
from course_utils.instructor.grading.report import console_text
from course_utils.instructor.grading.sandbox import Limits, bwrap_problem, course_readonly, stays_root
from course_utils.instructor.grading.watchdog import Cgroups
from course_utils.instructor.grading.worker import (
    MAX_SUBMISSION,
    RESULT_MARK,
    SubmissionProblem,
    all_failed,
    new_result,
    read_regular_file,
)

DEFAULT_TIMEOUT_FAST = 120   # seconds per cell in fast mode
DEFAULT_TIMEOUT_FULL = 3600  # seconds per cell in full mode (papers' sizes, maybe no GPU)
DEFAULT_BUDGET_FAST = 1800   # seconds for a whole notebook in fast mode
DEFAULT_BUDGET_FULL = 12 * 3600
WORKER_GRACE = 300           # seconds a worker may take beyond its notebook's budget (kernels' starts)
CONTROL = "(the solution, graded as a control)"



@dataclass
class GradeSummary:
    graded: list[dict]
    skipped: list[dict]
    csv: Path
    sandbox: str = ""          # "bwrap", or "none: <why>"
    notes: list[str] | None = None

    @property
    def results(self) -> list[dict]:
        return sorted(self.graded + self.skipped, key=lambda r: r["student"])

    @property
    def grader_errors(self) -> list[dict]:
        return [r for r in self.graded if r.get("grader_error")]


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def list_submissions(submissions_dir: Path) -> list[Path]:
    """Every ``*.ipynb`` entry of the folder, whatever it is: one that is not a regular file (a
    symbolic link, a folder, a pipe) is graded 0 with that reason, never followed."""
    folder = Path(submissions_dir)
    return sorted(p for p in folder.iterdir() if p.suffix == ".ipynb")


def summary_line(result: dict) -> str:
    line = f"{console_text(result['student'], 80)}: {result['score']:g}/{result['possible']:g}"
    failed = [t["test"] for t in result["tests"] if t["status"] == "failed"]
    if result["grader_error"]:
        line += f"  GRADER ERROR: {console_text(result['notes'][-1], 300)}"
    elif failed:
        line += f"  failed: {console_text(', '.join(failed), 300)}"
    if result.get("delegated"):
        line += f"  USED THE COURSE'S IMPLEMENTATION: {console_text('; '.join(result['delegated']), 300)}"
    return line


def _die_with(parent: int):
    """For a worker, run before exec: SIGKILL when the grader (``parent``) goes. If the grader
    died between the fork and this call, no signal would come: the worker then exits at once."""
    def preexec() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            os._exit(1)
    return preexec


def _font_cache(folder: Path) -> Path:
    """matplotlib's font list, copied into each sandbox: built once per matplotlib version and
    kept in the grader's cache folder (outside every sandbox), else in this run's ``folder``."""
    import matplotlib

    from course_utils import config

    kept = config.cache_dir(create=False) / f".grader-matplotlib-{matplotlib.__version__}"
    if kept.is_dir() and any(kept.glob("fontlist-*.json")):
        return kept
    target = folder / "matplotlib"
    env = dict(os.environ, MPLCONFIGDIR=str(target))
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                   capture_output=True, timeout=300, check=False)
    try:
        if any(target.glob("fontlist-*.json")):
            tmp = kept.with_name(f"{kept.name}.{os.getpid()}")
            shutil.copytree(target, tmp)
            tmp.replace(kept)
    except OSError:   # a read-only cache: build it each run
        pass
    return target


class _Worker:
    def __init__(self, path: Path, job: dict, attempt: int, deadline: float) -> None:
        self.path, self.job, self.attempt = path, job, attempt
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()   # the worker's own (trusted) errors; the kernels' go nowhere
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "course_utils.instructor.grading.worker"],
            stdin=subprocess.PIPE, stdout=self.out, stderr=self.err,
            preexec_fn=_die_with(os.getpid()), start_new_session=False,
        )
        self.proc.stdin.write(json.dumps(job).encode("utf-8"))
        self.proc.stdin.close()
        self.deadline = time.monotonic() + deadline

    def result(self) -> tuple[dict | None, str]:
        """The worker's result, or None and why there is none."""
        self.out.seek(0)
        text = self.out.read().decode("utf-8", errors="replace")
        self.out.close()
        for line in reversed(text.splitlines()):
            if line.startswith(RESULT_MARK):
                try:
                    return json.loads(line[len(RESULT_MARK):]), ""
                except ValueError:
                    break
        code = self.proc.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return None, f"the grading process died ({how}{self._last_error()})"

    def _last_error(self) -> str:
        """The end of what the worker wrote to stderr (a traceback), as one escaped line."""
        try:
            size = self.err.seek(0, os.SEEK_END)
            self.err.seek(max(0, size - 2000))
            tail = self.err.read(2000).decode("utf-8", errors="replace")
            self.err.close()
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return f"; it said: {console_text(' | '.join(lines[-3:]), 400)}" if lines else ""

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass


def _checked(result: dict, job: dict, assignment: Assignment) -> dict:
    """A worker's answer, kept only in the shape the grader expects (it signs nothing else)."""
    want = [t.grade_id for t in assignment.tests]
    tests = result.get("tests")
    if (not isinstance(tests, list) or [t.get("test") for t in tests] != want
            or result.get("student") != job["student"]):
        raise ValueError("the grading process answered a malformed result")
    for t, test in zip(tests, assignment.tests):
        passed = t.get("status") == "passed"
        t["points_possible"], t["points_earned"] = test.points, test.points if passed else 0
        t["status"] = "passed" if passed else "failed"
        t["reason"] = str(t.get("reason", ""))[:2000]
    result["notes"] = [str(n)[:2000] for n in result.get("notes", [])][:50]
    result["grader_error"] = bool(result.get("grader_error"))
    return result


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
    sandbox: str = "auto",
    limits: Limits | None = None,
    budget: float | None = None,
    max_bytes: int = MAX_SUBMISSION,
    control: bool = True,
) -> GradeSummary:
    """Grade every ``*.ipynb`` in ``submissions_dir`` into ``out_dir`` (see the module docstring).

    ``jobs``: submissions graded at once. ``sandbox``: "auto" (bubblewrap when it works here,
    else unsandboxed with a loud warning), "bwrap" (required: an error if it does not work) or
    "none". ``limits``: memory, CPU seconds, processes, file size, disk and files of each student
    kernel. ``budget``: seconds for one whole notebook. ``max_bytes``: the largest submission read.
    ``control``: grade the solution first, in the same sandbox with the same limits, and stop with
    an error naming the cause unless it earns every point (a sandbox that cannot import the course,
    a memory limit torch cannot start under). ``grades.csv`` is rewritten after each submission,
    so an interrupted run loses at most the submissions in progress.
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
    say = echo or tqdm.write
    problem = bwrap_problem() if sandbox in ("auto", "bwrap") else "sandboxing was switched off (--sandbox none)"
    if sandbox == "bwrap" and problem:
        raise GradingError(f"--sandbox bwrap was asked for, but {problem}.")
    mode = "bwrap" if not problem else "none"
    if problem:
        say("WARNING: NOT SANDBOXED. Student code runs with this user's rights: it can read and "
            f"write what you can. Reason: {problem}. Only resource limits and process-group "
            "clean-up apply. Grade untrusted work with bubblewrap installed, or in a container.")
    if stays_root(mode == "bwrap", course_readonly()):
        say("WARNING: STUDENT CODE RUNS AS ROOT. This grader runs as root without a sandbox, and the "
            "unprivileged user nobody cannot read this Python installation, so the kernels keep "
            "root's rights: they can read /etc/shadow and write anywhere. Install bubblewrap, or "
            "grade as a normal user with Python where every user can read it.")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = signing_key(out_dir)
    timeout = timeout or (DEFAULT_TIMEOUT_FAST if fast else DEFAULT_TIMEOUT_FULL)
    limits = limits or Limits()
    group = Cgroups(f"course-grade-probe-{os.getpid()}", limits.memory, 64)
    if group.problem:
        say(f"note: no cgroup for the sandboxes ({group.problem}): their total memory is held by a "
            "watchdog that looks every half second, their processes by RLIMIT_NPROC alone. Every "
            "result says so too.")
    group.remove()

    rejected: list[str] = []
    done = {r["student"]: r for r in load_results(out_dir, key, rejected)}
    if rejected:
        say(f"ignored {len(rejected)} result file(s) not signed by this grader (damaged or forged): "
            f"{', '.join(rejected[:5])}{' ...' if len(rejected) > 5 else ''}; those submissions are graded again")
    changed = sorted({r.get("tests_sha256", "") for r in done.values()} - {assignment.tests_sha256})
    if changed and not regrade:
        say(f"the solution's tests changed since {len(done)} submission(s) were graded (tests hash "
            f"{assignment.tests_sha256[:12]}, was {', '.join(c[:12] or 'unrecorded' for c in changed)}): "
            "regrading everyone")
    todo, skipped = [], []
    for path in submissions:
        old = done.get(path.stem)
        unchanged = old and (old.get("sha256"), old.get("tests_sha256")) == (
            _sha256(path, max_bytes), assignment.tests_sha256)
        if unchanged and not regrade and not old.get("grader_error"):
            skipped.append(old)
        else:
            todo.append(path)
    if skipped:
        say(f"skipping {len(skipped)} submission(s) graded before and unchanged (--regrade: redo)")
    write_grades_csv(out_dir, key)

    with tempfile.TemporaryDirectory(prefix="grader-") as private:
        fonts = _font_cache(Path(private))
        budget = budget or (DEFAULT_BUDGET_FAST if fast else DEFAULT_BUDGET_FULL)
        base_job = {
            "solution": assignment.notebook, "solution_path": str(assignment.path),
            "solution_sha256": assignment.sha256, "fast": fast, "timeout": timeout,
            "sandbox": mode, "sandbox_note": problem, "limits": limits.__dict__,
            "font_cache": str(fonts), "budget": budget, "max_bytes": max_bytes,
        }
        worker_deadline = budget + WORKER_GRACE
        control_path = None
        if control and todo:
            control_path = Path(private) / "control.ipynb"
            control_path.write_text(nbformat.writes(assignment.notebook), encoding="utf-8")
        graded = _run_workers(todo, base_job, assignment, out_dir, key, max(1, jobs), worker_deadline,
                              progress, say, control_path, Path(private))
    write_grades_csv(out_dir, key)
    return GradeSummary(graded, skipped, out_dir / "grades.csv", sandbox="bwrap" if mode == "bwrap" else f"none: {problem}")


def _sha256(path: Path, limit: int = MAX_SUBMISSION) -> str:
    """The file's SHA-256, read in chunks; "" for anything that is not a regular file of at most
    ``limit`` bytes (it is graded 0 without being read)."""
    try:
        return hashlib.sha256(read_regular_file(path, limit)).hexdigest()
    except SubmissionProblem:
        return ""


def _control_failure(result: dict | None, why: str, limits: dict) -> str:
    """Why the solution did not earn every point in the sandbox ("" if it did)."""
    if result is None:
        return f"its grading process failed twice ({why})"
    failed = [t for t in result["tests"] if t["status"] != "passed"]
    if not failed and not result.get("delegated") and not result.get("grader_error"):
        return ""
    reasons = "; ".join(f"{t['test']}: {t['reason'][:300]}" for t in failed[:3])
    hints = []
    text = reasons + " ".join(result.get("notes", []))
    if "ModuleNotFoundError" in text or "No module named" in text:
        hints.append("the sandboxed kernel cannot import the course: install it (pip install .) where "
                     "the sandbox mounts it, not as an editable install of a folder it does not mount")
    if "failed to map segment" in text or "MemoryError" in text or "memory" in text.lower():
        hints.append(f"the memory limit ({limits.get('memory', 0) / 2**30:.1f} GiB) may be too low for "
                     "torch to start: raise --memory")
    if result.get("delegated"):
        hints.append("the solution itself uses the course's implementation of an exercise")
    return (f"{len(failed)} of {len(result['tests'])} tests failed ({reasons})"
            + (". Likely cause: " + "; ".join(hints) if hints else "")
            + ". Notes: " + "; ".join(n[:200] for n in result.get("notes", [])[:3]))


def _run_workers(todo: list[Path], base_job: dict, assignment: Assignment, out_dir: Path, key: bytes,
                 jobs: int, worker_deadline: float, progress: bool, say, control: Path | None = None,
                 private: Path | None = None) -> list[dict]:
    """Grade ``todo`` with ``jobs`` workers. With ``control`` (the solution), it is graded first
    and the others' results are held until it earned every point; if it does not, grading stops
    with a GradingError naming the cause, and nobody's result is saved."""
    from tqdm.auto import tqdm

    graded: list[dict] = []
    held: list[dict] = []
    bar = tqdm(total=len(todo), desc=f"grading {assignment.name}", unit="notebook", disable=not progress)
    queue = ([(control, 1)] if control else []) + [(path, 1) for path in todo]
    running: list[_Worker] = []
    state = {"control": "running" if control else "passed"}

    def job_for(path: Path) -> dict:
        if path == control:
            return {**base_job, "submission": str(path), "student": CONTROL,
                    "executed": str(private / "control-executed.ipynb")}
        return {**base_job, "submission": str(path.absolute()), "student": path.stem,
                "executed": str(executed_path(out_dir, path.stem).absolute())}

    def keep(result: dict) -> None:
        save(result, assignment.possible, out_dir, key)
        write_grades_csv(out_dir, key)
        graded.append(result)
        bar.update(1)
        say(summary_line(result))

    def finish(worker: _Worker, result: dict | None, why: str, overran: bool) -> None:
        if result is not None:
            try:
                result = _checked(result, worker.job, assignment)
            except (ValueError, AttributeError, TypeError) as exc:
                result, why = None, str(exc)
        if worker.path == control:
            if result is None and worker.attempt == 1 and not overran:
                queue.insert(0, (worker.path, 2))
                return
            failure = _control_failure(result, why, base_job["limits"])
            if failure:
                raise GradingError(
                    f"The solution of {assignment.name} did not earn every point when graded as a control, "
                    f"in the same sandbox and with the same limits as the students ({failure}). Nobody "
                    "was graded: fix the cause, then run again.")
            state["control"] = "passed"
            for r in held:
                keep(r)
            held.clear()
            return
        if result is None and overran:
            result = new_result(worker.path.stem, worker.path.name, _sha256(worker.path), assignment)
            all_failed(result, assignment, f"not graded to the end: the notebook ran past the grader's "
                                           f"time budget of {base_job['budget']:g} s")
        elif result is None:
            if worker.attempt == 1:
                say(f"{console_text(worker.path.stem, 80)}: {why}; grading it once more")
                queue.append((worker.path, 2))
                return
            result = new_result(worker.path.stem, worker.path.name, _sha256(worker.path), assignment)
            result["grader_error"] = True
            all_failed(result, assignment, f"grader error: {why} (twice)")
        if state["control"] == "passed":
            keep(result)
        else:
            held.append(result)

    try:
        while queue or running:
            while queue and len(running) < jobs:
                path, attempt = queue.pop(0)
                running.append(_Worker(path, job_for(path), attempt, worker_deadline))
            time.sleep(0.2)
            for worker in list(running):
                if worker.proc.poll() is None and time.monotonic() < worker.deadline:
                    continue
                overran = worker.proc.poll() is None
                if overran:   # over its time: kill it
                    worker.kill()
                    worker.proc.wait()
                running.remove(worker)
                finish(worker, *worker.result(), overran)
    finally:
        for worker in running:   # interrupted: no worker (and so no kernel) outlives the grader
            worker.kill()
        bar.close()
    return graded
