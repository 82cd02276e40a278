"""Running one submission: the student's cells in a sandboxed kernel, the tests in a trusted one.

``run_notebook`` starts two kernels:

- the **student's kernel**, inside the sandbox (``sandbox.py``), with the submission's working
  copy as its folder. It runs every cell of the prepared notebook except the test cells, and
  answers the trusted kernel's calls of the student's functions (``student_side.py``). It never
  receives a test cell, so it cannot read, record or rewrite a hidden test;
- the **trusted kernel**, which never runs student code: it imports what the tests need, and for
  each test cell gets stand-ins for the student's names (``bridge.py``) and runs the cell. Every
  ``assert`` and self-check is evaluated there, on plain data.

Each cell has a time limit, and the whole notebook a time budget; a student kernel that does not
answer an interrupt is killed and the remaining cells are "not run". Output is capped per cell
(text and number of outputs) and rich outputs (figures, HTML) per output and per notebook. The
student's kernel runs in cgroups (memory, pids) where they can be made and under a watchdog
(total memory, disk, files: ``watchdog.py``); the trusted kernel under resource limits.
"""
from __future__ import annotations

import ast
import builtins
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_utils.checks._common import used_message
from course_utils.instructor.grading.assignment import Assignment, _grade_id, _is_test
from course_utils.instructor.grading.delegation import watched
from course_utils.instructor.grading.sandbox import (
    Limits,
    LimitedKernelManager,
    SandboxedKernelManager,
    SandboxSpec,
    kernel_env,
)
from course_utils.instructor.grading.watchdog import Cgroups, Watchdog

INTERRUPT_GRACE = 5          # seconds a timed-out kernel gets to answer after an interrupt
MAX_TEXT_PER_CELL = 20_000   # characters of stdout (and of stderr) kept per cell
MAX_OUTPUTS_PER_CELL = 50    # figures, tables, ... kept per cell (errors are always kept)
MAX_RICH_OUTPUT = 2 * 2**20  # bytes of one rich output (a figure, an HTML table)
MAX_RICH_NOTEBOOK = 25 * 2**20   # bytes of rich output kept for the whole notebook
MAX_REASON = 400             # characters of an error message kept in grades.csv and feedback
START_TIMEOUT = 120          # seconds a kernel may take to start and run its preamble
TRUSTED_MEMORY = 8 * 2**30   # at least this much address space for the trusted kernel (torch maps ~3 GiB)

# Executed silently before the notebook, in both kernels. Printing 10 MB in a loop would
# otherwise send 10 MB to the grader, and IPython would keep a copy in its output history, for
# every such cell. Before each cell (IPython's ``pre_run_cell`` event), sys.stdout's and
# sys.stderr's ``write`` are wrapped so that they pass on at most MAX_TEXT_PER_CELL characters
# and drop the rest. (The grader also caps what it stores: GradingClient.)
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


@dataclass
class CellRun:
    status: str      # "ok", "error", "timeout", "died", "not run"
    reason: str = ""
    ename: str = ""
    delegated: list[str] = field(default_factory=list)   # the course's implementations it used


@dataclass
class NotebookRun:
    """How each cell ran, and what the grader has to say about the sandbox."""
    cells: list[CellRun]
    notes: list[str] = field(default_factory=list)


def clean(text: object, limit: int = MAX_REASON) -> str:
    """One line, no terminal colours, at most ``limit`` characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_reason(ename: str, evalue: str) -> str:
    """``ename: evalue`` of a failed cell, trimmed to one line."""
    if not str(evalue).strip():
        return f"{ename} (no message)"
    return clean(f"{ename}: {evalue}")


class GradingClient(NotebookClient):
    """nbclient that keeps at most MAX_TEXT_PER_CELL x 2 characters of stream text and
    MAX_OUTPUTS_PER_CELL other outputs per cell, rich outputs of at most MAX_RICH_OUTPUT bytes
    each and MAX_RICH_NOTEBOOK bytes for the notebook (``budget``, shared by both kernels),
    whatever the kernel sends."""

    budget: dict = {}

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
        if kind == "error":
            content = msg["content"]
            msg = {**msg, "content": {**content, "evalue": str(content.get("evalue", ""))[:5000],
                                      "traceback": [str(t)[:5000] for t in content.get("traceback", [])[-30:]]}}
            return super().output(outs, msg, display_id, cell_index)
        if self._outputs_kept >= MAX_OUTPUTS_PER_CELL:
            return self._drop(outs)
        data = msg["content"].get("data", {}) if isinstance(msg["content"], dict) else {}
        size = sum(len(json.dumps(v)) for v in data.values()) if isinstance(data, dict) else 0
        used = self.budget.get("rich", 0)
        if size > MAX_RICH_OUTPUT or used + size > MAX_RICH_NOTEBOOK:
            why = (f"an output of {size / 2**20:.1f} MB is over the grader's limit of "
                   f"{MAX_RICH_OUTPUT / 2**20:.0f} MB" if size > MAX_RICH_OUTPUT else
                   f"the notebook's rich outputs are over the grader's limit of "
                   f"{MAX_RICH_NOTEBOOK / 2**20:.0f} MB")
            outs.append(nbformat.v4.new_output("stream", name="stderr",
                                               text=f"\n[output dropped by the grader: {why}]\n"))
            return None
        self.budget["rich"] = used + size
        self._outputs_kept += 1
        return super().output(outs, msg, display_id, cell_index)

    def _drop(self, outs) -> None:
        if not self._dropped:
            self._dropped = True
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr", text="\n[more output of this cell dropped by the grader]\n"
            ))


async def _kernel_answers(client: NotebookClient, seconds: float, code: str = "",
                          user_expressions: dict | None = None) -> dict | None:
    """Run ``code`` silently; the execute reply, or None if none came within ``seconds``."""
    msg_id = client.kc.execute(code, silent=True, store_history=False, user_expressions=user_expressions)
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


def _hidden_reason(outputs: list, reason: str, hidden_from: int | None) -> str:
    """A failure inside the hidden tests is named as such; their text is never quoted. When the
    student's own code raised there, its message is not quoted either: a function that puts its
    arguments into its error message would hand the hidden test's inputs to its author."""
    if hidden_from is None:
        return reason
    for out in outputs:
        if out.get("output_type") != "error":
            continue
        frames = [re.sub(r"\x1b\[[0-9;]*m", "", t) for t in out.get("traceback", [])]
        lines = [int(m) for t in frames for m in re.findall(r"Cell In\[\d+\], line (\d+)", t)]
        if lines and lines[0] > hidden_from:
            if any("grading/bridge.py" in t or "grading\\bridge.py" in t for t in frames):
                kind = reason.split(":", 1)[0].split()[0] if reason else ""
                builtin = getattr(builtins, kind, None)
                if not (isinstance(builtin, type) and issubclass(builtin, BaseException)):
                    kind = "an exception"   # a class of its own: its name could carry data too
                return (f"a hidden test failed: your code raised {kind} when the hidden test called it "
                        "(its message is not shown, since it could quote the hidden test's inputs; "
                        "run the self-checks and try edge cases of your own)")
            return f"a hidden test failed: {reason}"
    return reason


def _preamble(assignment: Assignment, connection: Path, exchange: Path, requests: Path, timeout: float) -> str:
    lines = [
        "from course_utils.instructor.grading import bridge as __course_bridge__",
        f"__course_bridge__.connect({str(connection)!r}, {str(exchange)!r}, {str(requests)!r}, {float(timeout)!r})",
        *assignment.imports,
    ]
    return "\n".join(lines) + "\n" + OUTPUT_CAP_PREAMBLE


def _start(client: NotebookClient, what: str, code: str) -> None:
    reply = kernel_answers(client, START_TIMEOUT, code)
    if reply is None or reply["content"].get("status") != "ok":
        detail = reply["content"] if reply else f"no answer in {START_TIMEOUT} s"
        raise RuntimeError(f"the {what} kernel did not run the grader's preamble: {clean(detail, 300)}")


def run_notebook(nb: nbformat.NotebookNode, assignment: Assignment, spec: SandboxSpec,
                 trusted_dir: Path, timeout: float, fast: bool, budget: float | None = None) -> NotebookRun:
    """Execute ``nb`` (modified in place): test cells in the trusted kernel, every other code
    cell in the student's sandboxed kernel. One CellRun per cell, and notes on the sandbox.

    Every cell runs even after errors, so that each test is graded on its own. ``budget``: seconds
    for the whole notebook (cells after it ran out are "not run").
    """
    started = time.monotonic()
    deadline = started + budget if budget else None
    connection = spec.exchange / "kernel.json"
    student_km = SandboxedKernelManager(kernel_name="python3", transport="ipc",
                                        ip=str(spec.exchange / "kernel"),
                                        connection_file=str(connection))
    student_km.sandbox = spec
    student_km.kernel_spec.interrupt_mode = "message"   # a signal would stop at bubblewrap
    cgroups = Cgroups(f"course-grade-{os.getpid()}-{secrets.token_hex(4)}", spec.limits.memory,
                      spec.limits.processes)
    student_km.cgroups = cgroups.procs_files()
    trusted_km = LimitedKernelManager(kernel_name="python3")
    trusted_km.limits = Limits(memory=max(spec.limits.memory, TRUSTED_MEMORY), cpu=spec.limits.cpu,
                               processes=0, file_size=spec.limits.file_size)
    budget_state: dict = {}
    common = dict(allow_errors=True, store_widget_state=False, kernel_name="python3",
                  shutdown_kernel="immediate")
    student = GradingClient(nb, km=student_km, timeout=int(max(1, round(timeout))),
                            resources={"metadata": {"path": str(spec.work)}}, **common)
    trusted = GradingClient(nb, km=trusted_km, timeout=int(max(1, round(timeout))) + 60,
                            resources={"metadata": {"path": str(trusted_dir)}}, **common)
    student.budget = trusted.budget = budget_state
    replies: dict[int, dict] = {}

    def on_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    student.on_cell_executed = trusted.on_cell_executed = on_executed
    runs = [CellRun("not run", "not a code cell") for _ in nb.cells]
    notes: list[str] = []
    if cgroups.problem:
        notes.append(f"no cgroup for the sandbox ({cgroups.problem}): its total memory was held by "
                     "the grader's watchdog, which looks every half second")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    trusted_env = dict(os.environ, COURSE_GRADING="1", COURSE_FAST="1" if fast else "0",
                       MPLBACKEND="module://matplotlib_inline.backend_inline")
    kernel_pid = lambda: getattr(getattr(student_km.provisioner, "process", None), "pid", None)  # noqa: E731
    watchdog = Watchdog(kernel_pid, spec.limits.memory, spec.limits.disk, spec.limits.files,
                        spec.writable(), cgroups)
    # the trusted kernel boots (and imports torch) while the student's kernel starts
    run_sync(trusted.km.start_kernel)(cwd=str(trusted_dir), env=trusted_env, **quiet)
    try:
        with student.setup_kernel(cwd=str(spec.work), env=kernel_env(spec, fast), cleanup_kc=True, **quiet):
            watchdog.start()
            try:
                _start(student, "student's", OUTPUT_CAP_PREAMBLE)
                with trusted.setup_kernel(cleanup_kc=True):
                    _start(trusted, "trusted", _preamble(assignment, connection, spec.exchange, spec.requests, timeout))
                    _run_cells(nb, assignment, student, trusted, runs, replies, timeout, deadline, watchdog)
            finally:
                watchdog.stop()
                _kill_group(student_km)
    finally:
        for km in (trusted.km, student_km):
            try:
                if run_sync(km.is_alive)():
                    run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # already gone
                pass
        out_of_memory = cgroups.out_of_memory()
        cgroups.remove()
    if watchdog.reason:
        notes.append(f"the grader stopped the notebook: {watchdog.reason}")
    elif out_of_memory:
        notes.append(f"the notebook's processes went over the grader's memory limit of "
                     f"{spec.limits.memory / 2**30:.1f} GiB together and one was killed")
    return NotebookRun(runs, notes)


def _kill_group(km) -> None:
    """The student's kernel's whole process group (what it started, in the unsandboxed case)."""
    try:
        pid = km.provisioner.process.pid if km.provisioner and km.provisioner.process else None
        if pid:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        pass


def _run_cells(nb, assignment, student, trusted, runs, replies, timeout, deadline=None, watchdog=None) -> None:
    stopped = ""
    watch = watched(assignment.name)
    full = int(max(1, round(timeout)))
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        where = f"cell {index + 1}"
        if not stopped and deadline is not None and time.monotonic() >= deadline - 1:
            stopped = "the grader's time budget for the whole notebook ran out"
        if stopped:
            runs[index] = CellRun("not run", f"not run: {stopped}")
            continue
        left = full if deadline is None else int(max(1, min(full, deadline - time.monotonic())))
        student.timeout, trusted.timeout = left, left + 60
        # a test of the solution runs in the trusted kernel; any other cell (even one a student
        # marked as a test) is the student's and runs in the sandbox
        test = assignment.test(_grade_id(cell)) if _is_test(cell) else None
        client = trusted if test else student
        client.reset_output_counts()
        if test:
            names_watch = {n: watch[n] for n in test.names if n in watch}
            bound = kernel_answers(trusted, 60, f"__course_bridge__.bind(globals(), {test.names!r}, "
                                                f"{float(left)!r}, {names_watch!r})")
            if bound is None or bound["content"].get("status") != "ok":
                detail = bound["content"].get("evalue", "") if bound else "no answer"
                runs[index] = CellRun("error", clean(f"the grader could not reach the notebook's kernel: {detail}"),
                                      "GraderBridgeError")
                if kernel_answers(student, 5) is None:
                    stopped = "the notebook's kernel stopped answering"
                continue
        try:
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        except CellTimeoutError:
            what = (f"timed out after {left:g} s in {where}" if left >= full else
                    f"the grader's time budget for the whole notebook ran out in {where}")
            if test is None and _interrupt(student):
                reason = f"{what}; the cell was interrupted"
            else:
                reason = f"{what}; the kernel did not answer an interrupt and was killed"
                stopped = f"kernel killed after {where} timed out"
            cell.outputs.append(nbformat.v4.new_output("error", ename="TimeoutError", evalue=reason, traceback=[]))
            runs[index] = CellRun("timeout", reason)
            continue
        except DeadKernelError:
            why = watchdog.reason if watchdog is not None and watchdog.reason else "out of memory or the process exited"
            reason = f"kernel died in {where} ({why})"
            cell.outputs.append(nbformat.v4.new_output("error", ename="DeadKernelError", evalue=reason, traceback=[]))
            runs[index] = CellRun("died", reason)
            stopped = f"the kernel died in {where} ({why})"
            continue
        except Exception as exc:   # the student's kernel broke its protocol (killed, flooded, wedged)
            if test is not None:
                raise              # a test cell runs in the trusted kernel: a failure there is the grader's
            why = watchdog.reason if watchdog is not None and watchdog.reason else f"{type(exc).__name__}: {clean(exc, 200)}"
            reason = f"the grader lost the notebook's kernel in {where} ({why})"
            cell.outputs.append(nbformat.v4.new_output("error", ename="KernelLost", evalue=reason, traceback=[]))
            runs[index] = CellRun("died", reason)
            stopped = reason
            continue
        content = replies.get(index, {}).get("content", {})
        if content.get("status") == "error":
            ename, evalue = content.get("ename", "Error"), content.get("evalue", "")
            reason = error_reason(ename, evalue)
            if test:
                reason = _hidden_reason(cell.outputs, reason, test.hidden_from)
            runs[index] = CellRun("error", reason, ename)
        else:
            runs[index] = CellRun("ok")
        if test:
            done = kernel_answers(trusted, 40, "__course_bridge__.release()",
                                  {"used": "__course_bridge__.delegated()"})
            used = _delegated(done)
            if used:
                runs[index] = CellRun("error", clean(used_message("; ".join(used)), 600),
                                      "UsedCourseImplementation", used)
            # a student function that hung during the test: interrupt it, or kill the kernel
            if kernel_answers(student, 5) is None and not _interrupt(student):
                stopped = f"the notebook's kernel did not answer after the test in {where} and was killed"


def _delegated(reply: dict | None) -> list[str]:
    """``bridge.delegated()`` as the trusted kernel answered it (a user expression)."""
    try:
        value = reply["content"]["user_expressions"]["used"]["data"]["text/plain"]
        used = ast.literal_eval(value)
    except (TypeError, KeyError, ValueError, SyntaxError):
        return []
    return [str(u)[:300] for u in used][:10] if isinstance(used, list) else []
