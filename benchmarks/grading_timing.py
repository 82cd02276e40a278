"""Time `course grade` on N copies of a finished week-01 notebook, sandboxed against unsandboxed.

Each copy is the student notebook with the solution's answers filled in (as a student hands it
in). Both runs use the same command an instructor types, with ``--jobs`` workers; the sandboxed
run uses bubblewrap (``--sandbox bwrap``), the other ``--sandbox none``. Every copy must score
full marks in both runs; the exit status is 1 otherwise.

Usage (from the repository root)::

    COURSE_DATA_DIR=../shared/data python benchmarks/grading_timing.py --copies 20 --jobs 2
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from course_utils.instructor.release import (  # noqa: E402
    SOLUTION_BEGIN,
    SOLUTION_END,
    read_notebook,
    student_notebook,
)


def finished(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    student = student_notebook(solution)
    for sol, cell in zip(solution.cells, student.cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(line for line in sol.source.splitlines()
                                    if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))
    return student


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", default="01_kmeans_em")
    args = parser.parse_args()
    solution = read_notebook(REPO_ROOT / "solutions" / f"{args.assignment}.ipynb")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "submissions"
        subs.mkdir()
        nb = finished(solution)
        for i in range(args.copies):
            nbformat.write(nb, str(subs / f"student{i:02d}.ipynb"))
        for mode in ("bwrap", "none"):
            out = Path(tmp) / f"out-{mode}"
            cmd = [sys.executable, "-m", "course_utils", "grade", args.assignment, str(subs), "--out",
                   str(out), "--jobs", str(args.jobs), "--sandbox", mode]
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            with open(out / "grades.csv", newline="") as f:
                totals = [r for r in csv.DictReader(f) if r["test"] == "TOTAL"]
            full = sum(r["points_earned"] == r["points_possible"] for r in totals)
            rows.append((mode, seconds, full, len(totals), done.returncode))
            print(f"{mode:6s}: {seconds:7.1f} s for {args.copies} copies with --jobs {args.jobs} "
                  f"({seconds / args.copies:.1f} s per notebook); {full}/{len(totals)} at full marks; "
                  f"exit {done.returncode}", flush=True)
    sandboxed, plain = rows[0][1], rows[1][1]
    print(f"sandbox overhead: {sandboxed - plain:+.1f} s ({(sandboxed / plain - 1) * 100:+.0f}%)")
    return 0 if all(r[2] == r[3] == args.copies and r[4] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
