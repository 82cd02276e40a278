"""Time the solution notebooks in fast mode, one at a time, and print seconds per notebook.

Every notebook in ``solutions/`` (or those given as arguments) is read with
``course_utils.instructor.release.read_notebook`` and run top to bottom in a fresh kernel of this
environment with ``course_utils.instructor.execute.execute_notebook(nb, cwd=<its folder>,
fast=True, timeout=...)``, the way ``tests/test_student_notebooks.py`` runs them. The executed copy
stays in memory: no notebook file is written (the script checks that each file is byte-for-byte
unchanged afterwards). ``--repeats`` runs of each (default 1); the median is reported, with the
total. ``--json PATH`` also writes the numbers to a file. The exit status is 1 if a notebook
failed to run (its error is printed and the others still run), 0 otherwise; times are never
judged.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/notebook_runtimes.py
    python benchmarks/notebook_runtimes.py solutions/03_vade.ipynb solutions/04_dec.ipynb --repeats 2 \
        --json /tmp/runtimes.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script without installing the package
    sys.path.insert(0, str(REPO_ROOT))

SOLUTIONS = REPO_ROOT / "solutions"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def time_notebook(path: Path, timeout: int) -> float:
    """Seconds to read and run ``path`` in fast mode (the file itself is not written)."""
    from course_utils.instructor.execute import execute_notebook
    from course_utils.instructor.release import read_notebook

    start = time.perf_counter()
    execute_notebook(read_notebook(path), cwd=path.parent, fast=True, timeout=timeout)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every solutions/*.ipynb)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each notebook, median kept (1)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds (600)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the times to PATH")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.timeout < 1:
        parser.error("--repeats and --timeout must be positive")

    paths = [p.resolve() for p in args.notebooks] if args.notebooks else sorted(SOLUTIONS.glob("*.ipynb"))
    if not paths:
        parser.error(f"no notebooks given and none found in {SOLUTIONS}")
    for p in paths:
        if not p.is_file():
            parser.error(f"notebook not found: {p}")
        if p.suffix != ".ipynb":
            parser.error(f"not a notebook (expected a .ipynb file): {p}")
    if args.json is not None and not args.json.resolve().parent.is_dir():
        parser.error(f"--json: folder {args.json.resolve().parent} does not exist")

    def label(p: Path) -> str:
        try:
            return str(p.relative_to(REPO_ROOT))
        except ValueError:
            return str(p)

    print(f"{len(paths)} notebook(s), fast mode, {args.repeats} run(s) each, cell timeout {args.timeout} s",
          flush=True)
    seconds: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    changed: list[str] = []
    for p in paths:
        name = label(p)
        before = _digest(p)
        runs[name] = []
        for r in range(args.repeats):
            try:
                runs[name].append(time_notebook(p, args.timeout))
            except Exception as exc:  # a failing cell, a dead kernel, an unreadable notebook
                failed[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
                print(f"{name}: FAILED on run {r + 1}: {failed[name]}", file=sys.stderr, flush=True)
                break
            print(f"{name}: run {r + 1}/{args.repeats} {runs[name][-1]:.1f} s", flush=True)
        if _digest(p) != before:
            changed.append(name)
        if name not in failed:
            seconds[name] = statistics.median(runs[name])

    width = max(len(label(p)) for p in paths)
    print(f"\n{'notebook':<{width}}  {'seconds':>9}")
    for p in paths:
        name = label(p)
        print(f"{name:<{width}}  {seconds[name]:>9.1f}" if name in seconds else f"{name:<{width}}  {'FAILED':>9}")
    total = sum(seconds.values())
    print(f"{'total' + (' (without the failed)' if failed else ''):<{width}}  {total:>9.1f}")

    if args.json is not None:
        record = {"seconds": seconds, "total_seconds": total, "runs": runs, "failed": failed,
                  "repeats": args.repeats, "fast": True, "python": platform.python_version(),
                  "machine": platform.machine()}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")

    if changed:
        print("ERROR: these notebook files changed while they ran (something wrote them): "
              + ", ".join(changed), file=sys.stderr)
    if failed:
        print(f"{len(failed)} notebook(s) failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed or changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
