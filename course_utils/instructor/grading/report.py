"""Results on disk: signed JSON per submission, ``grades.csv`` and the feedback files.

Every file of a submission is named by a short key (``student_key``: a hash of the name), so any
legal file name works, however long or exotic; the original name is kept as data. A result is
signed (HMAC-SHA256) with a key the grader keeps in the output folder (``.grader-key``, readable
by its owner only; the sandboxed kernels never see the output folder). A result whose signature
does not check out is ignored: that submission is graded again, and the run says so.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
from collections import defaultdict
from pathlib import Path

CSV_COLUMNS = ["student", "test", "points_earned", "points_possible", "status", "reason",
               "identical_to"]
KEY_FILE = ".grader-key"


def student_key(student: str) -> str:
    """A short, safe key for a submission's files: 16 hex digits of the name's SHA-256."""
    return hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def readable_name(student: str, limit: int = 40) -> str:
    """The name, as ASCII letters, digits, dots, dashes and underscores, at most ``limit`` long,
    followed by the key (e.g. ``alice-3f2a...``): recognisable and always a legal file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._")[:limit] or "submission"
    return f"{safe}-{student_key(student)}"


def write_text(path: Path, text: str) -> None:
    """Write atomically: a reader (or an interrupted run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def signing_key(out_dir: Path) -> bytes:
    """The output folder's signing key, created on first use (mode 600)."""
    path = Path(out_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _canonical(result: dict) -> bytes:
    body = {k: v for k, v in result.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, ensure_ascii=True).encode("ascii")


def sign(result: dict, key: bytes) -> dict:
    result["signature"] = hmac.new(key, _canonical(result), hashlib.sha256).hexdigest()
    return result


def verified(result: dict, key: bytes) -> bool:
    want = hmac.new(key, _canonical(result), hashlib.sha256).hexdigest()
    return isinstance(result.get("signature"), str) and hmac.compare_digest(want, result["signature"])


def result_path(out_dir: Path, student: str) -> Path:
    return Path(out_dir) / "results" / f"{student_key(student)}.json"


def feedback_path(out_dir: Path, student: str) -> Path:
    return Path(out_dir) / "feedback" / f"{readable_name(student)}.md"


def executed_path(out_dir: Path, student: str) -> Path:
    return Path(out_dir) / "executed" / f"{readable_name(student)}.ipynb"


def save(result: dict, possible: float, out_dir: Path, key: bytes) -> None:
    """Score, sign and store a result, and write the student's feedback."""
    result["score"] = sum(t["points_earned"] for t in result["tests"])
    result["possible"] = possible
    result["key"] = student_key(result["student"])
    sign(result, key)
    write_text(feedback_path(out_dir, result["student"]), feedback_markdown(result))
    write_text(result_path(out_dir, result["student"]), json.dumps(result, indent=1) + "\n")


def load_results(out_dir: Path, key: bytes | None = None, rejected: list | None = None) -> list[dict]:
    """Every result in ``out_dir/results`` the grader signed, by student name.

    Without ``key`` the folder's own key is used. Files that are damaged, unsigned, signed with
    another key or stored under the wrong name are left out (and listed in ``rejected``).
    """
    out_dir = Path(out_dir)
    key = key if key is not None else signing_key(out_dir)
    results = []
    for path in sorted((out_dir / "results").glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            ok = (isinstance(result, dict) and verified(result, key)
                  and path.stem == student_key(str(result.get("student"))))
        except (OSError, ValueError):
            ok = False
        if ok:
            results.append(result)
        elif rejected is not None:
            rejected.append(path.name)
    return sorted(results, key=lambda r: r["student"])


def _num(x: float) -> str:
    return f"{x:g}"


def write_grades_csv(out_dir: Path, key: bytes | None = None) -> Path:
    """``grades.csv`` from every signed result: a row per student per test, then the student's
    TOTAL. ``identical_to`` names the other students who submitted the very same file."""
    results = load_results(out_dir, key)
    same: dict[str, list[str]] = defaultdict(list)
    for r in results:
        same[r.get("sha256", "")].append(r["student"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        twins = "; ".join(s for s in same[r.get("sha256", "")] if s != r["student"])
        for t in r["tests"]:
            writer.writerow([r["student"], t["test"], _num(t["points_earned"]),
                             _num(t["points_possible"]), t["status"], t["reason"], twins])
        all_passed = all(t["status"] == "passed" for t in r["tests"])
        writer.writerow([r["student"], "TOTAL", _num(r["score"]), _num(r["possible"]),
                         "passed" if all_passed else "failed", "; ".join(r["notes"]), twins])
    path = Path(out_dir) / "grades.csv"
    write_text(path, buffer.getvalue())
    return path


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def feedback_markdown(result: dict) -> str:
    """The feedback a student reads: total, a table of tests, and why each failed test failed."""
    lines = [
        f"# Feedback on {_md(result['submission'])} ({result['assignment']})",
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
            "Your notebook was run from the top in a fresh kernel, and each graded test cell of "
            "the course (including tests you do not see) called your functions. To find the "
            "mistake, restart your kernel, run all cells, and rerun the self-check in the cell of "
            "each failed test: it says what is wrong. A reason like NameError often means an "
            "earlier cell failed or was not run.",
        ]
    if result["notes"]:
        lines += ["", "## Notes on the submission", ""]
        lines += [f"- {_md(n)}" for n in result["notes"]]
        lines += ["", "(Cell numbers count every cell of the notebook as it was graded, from 1.)"]
    return "\n".join(lines) + "\n"
