"""The ``course`` command (also ``python -m course_utils``).

    course lab [--no-browser] [--port N]   JupyterLab on notebooks/ (other options go to jupyter lab)
    course release [--check]               notebooks/ from solutions/ (instructors)
    course execute [NOTEBOOK ...]          refresh the fast-mode outputs of solutions/ (instructors)
    course info                            mode, device and folders in use
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from course_utils import config


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cmd_release(args: argparse.Namespace) -> int:
    from course_utils.release import ReleaseError, release

    try:
        result = release(Path(args.solutions), Path(args.notebooks), check=args.check)
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
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError

    from course_utils.execute import refresh_solution
    from course_utils.release import ReleaseError

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
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(config.describe())
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

    p = sub.add_parser("release", help="generate notebooks/ from solutions/")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    p.add_argument("--solutions", default=str(config.REPO_ROOT / "solutions"))
    p.add_argument("--notebooks", default=str(config.REPO_ROOT / "notebooks"))
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("execute", help="refresh the fast-mode outputs of solution notebooks")
    p.add_argument("notebooks", nargs="*", help="default: every solutions/*.ipynb")
    p.add_argument("--solutions", default=str(config.REPO_ROOT / "solutions"))
    p.add_argument("--timeout", type=int, default=600, help="per cell, seconds")
    p.set_defaults(func=cmd_execute)

    p = sub.add_parser("info", help="show mode, device and folders")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.func is not cmd_lab:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # `course lab` passes further options on to jupyter lab
    return args.func(args)
