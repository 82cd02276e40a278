"""The ``course`` command (also ``python -m course_utils``).

    course lab [--no-browser] [--port N]   JupyterLab on notebooks/ (other options go to jupyter lab)
    course info                            mode, device and folders in use
    course results [--full] [--methods M ...] [--seeds S ...] [--device D] [--split S] [--rerun]
                   [--shard i/n | --merge | --jobs N] [--out DIR]
                                           every method x seed into results/results.csv and RESULTS.md
    course cluster DATA --method M [--k K] --out labels.csv [--labels Y] [--mode fast|full] [--seed S]
                                           one method on your own data (.npy, .npz, .csv, a folder of
                                           images): labels, the embedding and a one-page report

Instructors only (absent from the student bundle, which leaves out course_utils/instructor/):

    course release [--check] [--bundle PATH]   notebooks/ from solutions/; PATH: the student bundle
    course execute [NOTEBOOK ...]              refresh the fast-mode outputs of solutions/
    course grade ASSIGNMENT SUBMISSIONS --out DIR [--jobs N] [--regrade] [--timeout S] [--full]
                 [--sandbox auto|bwrap|none] [--memory GIB] [--cpu S] [--disk GIB]
                 [--budget S] [--max-size MIB]
                                               autograde a folder of submitted notebooks
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from course_utils import config


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cmd_release(args: argparse.Namespace) -> int:
    from course_utils.instructor.release import ReleaseError, build_bundle, release

    try:
        result = release(Path(args.solutions), Path(args.notebooks), check=args.check)
        files = build_bundle(Path(args.bundle), Path(args.notebooks)) if args.bundle else []
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if result.in_sync:
            print(f"notebooks/ is in sync with solutions/ ({len(result.unchanged)} notebooks).")
            return 0
        print("notebooks/ is out of date; run `course release` and commit the result:")
        for path in result.stale:
            print(f"  {_rel(path)}")
        return 1
    for path in result.written:
        print(f"wrote   {_rel(path)}")
    for path in result.removed:
        print(f"removed {_rel(path)} (no solution with that name)")
    print(f"{len(result.written)} written, {len(result.unchanged)} unchanged.")
    if args.bundle:
        print(f"student bundle: {args.bundle} ({len(files)} files, no solutions or hidden tests)")
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError

    from course_utils.instructor.execute import refresh_solution
    from course_utils.instructor.release import ReleaseError

    paths = [Path(p) for p in args.notebooks] or sorted(Path(args.solutions).glob("*.ipynb"))
    if not paths:
        print(f"error: no notebooks to execute in {args.solutions}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        print(f"executing {_rel(path)} in fast mode ...", flush=True)
        try:
            seconds = refresh_solution(path, timeout=args.timeout)
        except (CellExecutionError, ReleaseError) as exc:
            failed += 1
            print(f"error: {_rel(path)} failed; it was left unchanged.\n{exc}", file=sys.stderr)
            continue
        print(f"  saved with fresh outputs ({seconds:.0f} s)")
    if not failed:
        print("Now run `course release` so notebooks/ matches.")
    return 1 if failed else 0


def cmd_grade(args: argparse.Namespace) -> int:
    from course_utils.instructor.grading import GradingError, Limits, grade_folder, load_assignment

    out = Path(args.out)
    try:
        assignment = load_assignment(args.assignment, Path(args.solutions))
        mode = "full" if args.full else "fast"
        limit = f"{args.timeout:g} s per cell" if args.timeout else "default time limit per cell"
        print(f"Grading {assignment.name} ({len(assignment.tests)} tests, {assignment.possible:g} "
              f"points): {args.submissions} -> {out}; {args.jobs} job(s), {mode} mode, {limit}.",
              flush=True)
        limits = Limits(memory=int(args.memory * 2**30), cpu=args.cpu, disk=int(args.disk * 2**30))
        summary = grade_folder(
            assignment, Path(args.submissions), out, jobs=args.jobs, regrade=args.regrade,
            timeout=args.timeout, fast=not args.full, sandbox=args.sandbox, limits=limits,
            budget=args.budget, max_bytes=int(args.max_size * 2**20),
        )
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: every submission graded so far is saved in {_rel(out / 'results')}; "
              "run the same command again to grade the rest.", file=sys.stderr)
        return 130
    print(f"{len(summary.graded)} graded, {len(summary.skipped)} skipped (graded before). "
          f"Grades: {_rel(summary.csv)}; feedback: {_rel(out / 'feedback')}/; "
          f"executed notebooks: {_rel(out / 'executed')}/ (these hold the hidden tests).")
    print("sandbox: " + ("bubblewrap" if summary.sandbox == "bwrap" else f"NONE ({summary.sandbox[6:]})"))
    if summary.grader_errors:
        from course_utils.instructor.grading.report import console_text

        names = ", ".join(console_text(r["student"], 80) for r in summary.grader_errors)
        print(f"error: {len(summary.grader_errors)} submission(s) ended in a grader error ({names}); "
              "their results say why. Run the same command again to retry them.", file=sys.stderr)
        return 1
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    cmd = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={config.REPO_ROOT / 'notebooks'}",
        f"--port={args.port}",
    ]
    if args.no_browser:
        cmd += ["--no-browser", f"--ip={args.ip}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    cmd += args.extra
    print("Starting JupyterLab on notebooks/ (Ctrl+C to stop) ...", flush=True)
    if os.name == "posix":  # become JupyterLab: a signal sent to this process id stops it
        sys.stderr.flush()
        os.execv(cmd[0], cmd)
    try:  # Windows: no exec that keeps the process id, so JupyterLab runs as a child
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(config.describe())
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    if args.no_progress:  # before tqdm is imported: it reads TQDM_DISABLE then (the inner bars too)
        os.environ["TQDM_DISABLE"] = "1"
    if not args.full:   # before any torch kernel: fast mode's numbers are the same on every x86-64 CPU
        config.portable_math()
    from course_utils import results

    out = Path(args.out)
    try:
        if args.list:
            for mid, m in results.METHODS.items():
                print(f"{mid:<14} week {m.week}  {m.label}")
            print("groups: " + ", ".join(results.GROUPS))
            return 0
        if args.merge:
            path, n = results.merge(out)
            print(f"merged {n} shard file(s) into {_rel(path)} and {_rel(out / results.MD_NAME)}")
            return 0
        shard = results.parse_shard(args.shard)
        if args.ship and (args.full or shard or args.methods or args.seeds or args.split not in (None, "test")
                          or args.dataset != "mnist"):
            raise results.ResultsError("--ship copies the whole fast-mode grid: leave out --full, --shard, "
                                       "--methods, --seeds, --split and --dataset.")
        if args.jobs > 1:
            code = _results_jobs(args, out)
            if code == 0 and args.ship:
                print(f"shipped the fast-mode grid into {_rel(results.ship(out))} (commit it: the summary notebook "
                      "shows it)")
            return code
        summary = results.run(args.methods, args.seeds, full=args.full, split=args.split, device=args.device,
                              out=out, rerun=args.rerun, shard=shard, progress=not args.no_progress,
                              dataset=args.dataset)
    except results.ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: every finished run is saved in {_rel(out)}; run the same command again to do "
              "the rest.", file=sys.stderr)
        return 130
    print(f"{len(summary['ran'])} runs done, {len(summary['failed'])} failed, {len(summary['skipped'])} skipped "
          f"(already in the file). Results: {_rel(summary['csv'])}"
          + (f" and {_rel(summary['md'])}" if summary["md"] else " (merge the shards with `course results --merge`)"))
    if args.ship and not summary["failed"]:
        try:
            dest = results.ship(out)
        except results.ResultsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"shipped the fast-mode grid into {_rel(dest)} (commit it: the summary notebook shows it)")
    return 1 if summary["failed"] else 0


def _results_jobs(args: argparse.Namespace, out: Path) -> int:
    """``--jobs N``: the grid in N processes (shards 1/N .. N/N, one torch thread each), then merged."""
    from course_utils import results

    if args.shard:
        raise results.ResultsError("--jobs and --shard do not go together: --jobs N runs the N shards itself.")
    base = [sys.executable, "-m", "course_utils", "results", "--out", str(out), "--no-progress"]
    base += ["--full"] if args.full else []
    base += ["--rerun"] if args.rerun else []
    for flag, values in (("--methods", args.methods), ("--seeds", args.seeds)):
        if values:
            base += [flag, *map(str, values)]
    for flag, value in (("--split", args.split), ("--device", args.device), ("--dataset", args.dataset)):
        if value:
            base += [flag, value]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    shards = [results.parse_shard(f"{i}/{args.jobs}") for i in range(1, args.jobs + 1)]
    procs = [subprocess.Popen([*base, "--shard", f"{i}/{n}"], env=env) for i, n in shards]
    methods = [m for m in results.resolve_methods(args.methods)
               if args.dataset == "mnist" or results.METHODS[m].kind != "predict"]
    total = len(results.grid(methods, args.seeds or results.SETTINGS[
        "full" if args.full else "fast"]["seeds"]))
    def rows_written() -> int:
        return sum(len(results.read_rows(out / results.SHARD_DIR / f"results-{i}-of-{n}.csv")) for i, n in shards)

    before, bar = rows_written(), None   # rows the shards' files held before (skipped, or done earlier)
    if not args.no_progress:
        from course_utils.progress import progress as tqdm

        bar = tqdm(total=total, desc=f"course results ({args.jobs} jobs)", unit="run")
    try:
        while any(p.poll() is None for p in procs):  # one bar for all: rows written in the shards' files
            time.sleep(2)
            if bar is not None:
                bar.update(max(0, min(rows_written() - before, total) - bar.n))
    finally:
        if bar is not None:
            bar.close()
    codes = [p.wait() for p in procs]
    path, n = results.merge(out)
    print(f"{args.jobs} jobs ended (exit codes {codes}); merged {n} shard file(s) into {_rel(path)} and "
          f"{_rel(out / results.MD_NAME)}")
    return max(codes) if any(codes) else 0


def cmd_cluster(args: argparse.Namespace) -> int:
    if args.no_progress:
        os.environ["TQDM_DISABLE"] = "1"
    if args.mode == "fast":   # before any torch kernel, as `course results` does (config.portable_math)
        config.portable_math()
    from course_utils.own_data import OwnDataError, cluster

    try:
        cluster(args.data, args.method, args.k, args.out, labels=args.labels, mode=args.mode, seed=args.seed,
                device=args.device, input_range=args.input_range, verbose=not args.no_progress)
    except OwnDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course", description="Learning Without Labels: workbook tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lab", help="start JupyterLab on notebooks/")
    p.add_argument("--no-browser", action="store_true", help="headless: print the URL only")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on with --no-browser")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("info", help="show mode, device and folders")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("cluster", help="one method on your own data: labels, embedding, a one-page report")
    p.add_argument("data", help=".npy / .npz array (n, d) or images (n, h, w) / (n, c, h, w), a .csv of numbers, "
                                "or a folder of images")
    p.add_argument("--method", default="dec", help="kmeans, ae-kmeans, dec, idec, dec-da, vade, dac, infogan, nmmc "
                                                   "(default dec)")
    p.add_argument("--k", type=int, default=None, help="number of clusters (default 10; NMMC infers it)")
    p.add_argument("--out", required=True, help="labels .csv; the embedding (-embedding.npy) and the report "
                                                "(-report.png) go next to it")
    p.add_argument("--labels", default=None, help="true classes (.npy or .csv) to score ACC, NMI and ARI")
    p.add_argument("--mode", choices=("fast", "full"), default="fast", help="the notebooks' fast (default) or "
                                                                          "full settings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--input-range", choices=("check", "minmax"), default="check",
                   help="check (default): refuse values outside [0, 1]; minmax: scale each feature to [0, 1]")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("results", help="every method x seed into results/results.csv and RESULTS.md")
    p.add_argument("--full", action="store_true", help="full mode (default: fast mode, about 10 minutes on a CPU)")
    p.add_argument("--methods", nargs="+", metavar="M", help="method ids or groups (default: all; see --list)")
    p.add_argument("--seeds", nargs="+", type=int, metavar="S", help="default: 0 1 2")
    p.add_argument("--device", help="cpu, cuda or mps (default: COURSE_DEVICE, else the best available)")
    p.add_argument("--dataset", default="mnist",
                   choices=("mnist", "fashion-mnist", "kmnist", "usps", "digits"),
                   help="the images the clustering methods run on (default mnist; downloaded where a network "
                        "exists; the video predictors run on Moving MNIST only)")
    p.add_argument("--split", choices=("test", "train", "all"),
                   help="MNIST split (default: test; all = 70,000 images, downloaded where a network exists)")
    p.add_argument("--out", default=str(config.REPO_ROOT / "results"), help="output folder (default: results/)")
    p.add_argument("--rerun", action="store_true", help="run again what the CSV already holds")
    grid = p.add_mutually_exclusive_group()
    grid.add_argument("--shard", metavar="i/n", help="run only the i-th of n parts of the grid (e.g. a Slurm array "
                                                    "task: --shard $((SLURM_ARRAY_TASK_ID+1))/$SLURM_ARRAY_TASK_COUNT)")
    grid.add_argument("--merge", action="store_true", help="combine the shards' files into results.csv")
    grid.add_argument("--jobs", type=int, default=1, help="run the grid in this many processes here, then merge")
    grid.add_argument("--list", action="store_true", help="list the methods and groups")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--ship", action="store_true",
                   help="then copy the fast-mode grid into course_utils/fast_results/, which the summary notebook "
                        "shows when results/ has none (instructors, after a change to a method)")
    p.set_defaults(func=cmd_results)

    if importlib.util.find_spec("course_utils.instructor") is None:  # the student bundle
        return parser

    p = sub.add_parser("release", help="generate notebooks/ from solutions/ (instructors)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    mode.add_argument("--bundle", metavar="PATH",
                      help="then write the student bundle: PATH.zip, or a new folder")
    p.add_argument("--solutions", default=str(config.REPO_ROOT / "solutions"))
    p.add_argument("--notebooks", default=str(config.REPO_ROOT / "notebooks"))
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("execute", help="refresh the fast-mode outputs of solution notebooks")
    p.add_argument("notebooks", nargs="*", help="default: every solutions/*.ipynb")
    p.add_argument("--solutions", default=str(config.REPO_ROOT / "solutions"))
    p.add_argument("--timeout", type=int, default=600, help="per cell, seconds")
    p.set_defaults(func=cmd_execute)

    p = sub.add_parser("grade", help="autograde a folder of submitted notebooks (instructors)")
    p.add_argument("assignment", help="solution to grade against: 01 or 01_kmeans_em")
    p.add_argument("submissions", help="folder of submitted .ipynb files (never modified)")
    p.add_argument("--out", required=True, help="folder for grades.csv, feedback/, executed/")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--regrade", action="store_true", help="grade again those graded before")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="auto (default): bubblewrap when it works here, else unsandboxed with a "
                        "warning; bwrap: required; none: never")
    p.add_argument("--memory", type=float, default=8.0, help="GiB of memory per student kernel (default 8)")
    p.add_argument("--cpu", type=int, default=3600, help="CPU seconds per student kernel (default 3600)")
    p.add_argument("--disk", type=float, default=2.0,
                   help="GiB a student's kernel may write in all (default 2)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per cell (default 120 in fast mode, 3600 with --full)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for one whole notebook (default 1800 in fast mode, 43200 with --full)")
    p.add_argument("--max-size", type=float, default=64.0,
                   help="MiB: larger submissions get 0 points unread (default 64)")
    p.add_argument("--full", action="store_true", help="full mode (default: COURSE_FAST=1)")
    p.add_argument("--solutions", default=str(config.REPO_ROOT / "solutions"))
    p.set_defaults(func=cmd_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.func is not cmd_lab:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # `course lab` passes further options on to jupyter lab
    return args.func(args)
