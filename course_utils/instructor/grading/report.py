"""Results on disk: signed JSON per submission, ``grades.csv`` and the feedback files.

Every file of a submission is named by a short key (``student_key``: a hash of the name), so any
legal file name works, however long or exotic; the original name is kept as data. A result is
signed (HMAC-SHA256) with a key the grader keeps in the output folder (``.grader-key``, readable
by its owner only; the sandboxed kernels never see the output folder). A result whose signature
does not check out is ignored: that submission is graded again, and the run says so.

A student controls the name of their file and the text of the exceptions their code raises, and
both reach the instructor. So every such text is made inert for where it goes: ``md_text`` for the
feedback (Markdown), ``csv_cell`` for ``grades.csv`` (no spreadsheet formulas) and ``console_text``
for the grader's terminal (no escape sequences).
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
    followed by the key (e.g. ``alice-3f2a...``): recognisable and always a legal file name, never
    hidden, never ``..`` and never read as a command's option (no leading ``.``, ``_`` or ``-``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._-")[:limit] or "submission"
    return f"{safe}-{student_key(student)}"


# Characters that must never reach a reader raw: C0 and C1 controls and DEL, lone surrogates (from
# undecodable file names), the line and paragraph separators, and the bidirectional marks,
# embeddings, overrides and isolates that can make text display in another order than it reads.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAK = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")   # a space where text stays readable
_MD_SPECIAL = re.compile(r"[\\`*_\[\]|#!~{}$]")
_MD_LIST_START = re.compile(r"^([-+=]|\d+(?=[.)]))")  # a bullet, or an ordered list's "1." / "1)"
_FORMULA_START = ("=", "+", "-", "@")


def _escape(ch: str) -> str:
    """A character as a visible escape, as Python writes it: ``\\x1b``, ``\\n``, ``\\u202e``."""
    return ch.encode("unicode_escape").decode("ascii")


def _controls(text: object, spaces: bool) -> str:
    """``text`` with every control character shown as an escape (line breaks and tabs as a space
    if ``spaces``)."""
    return _CONTROL.sub(lambda m: " " if spaces and m[0] in _LINE_BREAK else _escape(m[0]), str(text))


def _trim(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def console_text(text: object, limit: int = 200) -> str:
    """``text`` safe to print on a terminal: one line, every control character (ESC, so any CSI or
    OSC sequence; CR, backspace, C1 controls, bidi overrides) shown as an escape such as ``\\x1b``,
    at most ``limit`` characters."""
    return _trim(_controls(text, spaces=False), limit)


def csv_cell(text: object) -> str:
    """``text`` as a ``grades.csv`` cell that a spreadsheet shows as text: one line (control
    characters as escapes, line breaks and tabs as spaces), and a leading ``'`` where it would
    start a formula (``= + - @`` first, also after leading spaces, or a tab or CR first)."""
    text = str(text)
    formula = text[:1] in ("\t", "\r") or text.lstrip().startswith(_FORMULA_START)
    return ("'" if formula else "") + _controls(text, spaces=True)


def md_text(text: object, limit: int | None = None) -> str:
    """``text`` as inert inline Markdown: one line (control characters as escapes, line breaks and
    tabs as spaces), at most ``limit`` characters, ``& < >`` as HTML entities (no tags, comments
    or entities of its own) and Markdown's specials backslash-escaped (no emphasis, code, links,
    images, table cells, headings, lists or maths). An ``_`` between two letters or digits is left
    alone: it can neither open nor close emphasis there, and ``e_step`` stays readable."""
    plain = _trim(_controls(text, spaces=True).strip(), limit)
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def escaped(m: re.Match) -> str:
        i = m.start()
        intraword = (m[0] == "_" and 0 < i < len(plain) - 1
                     and plain[i - 1].isalnum() and plain[i + 1].isalnum())
        return m[0] if intraword else "\\" + m[0]

    text = _MD_SPECIAL.sub(escaped, plain)
    start = _MD_LIST_START.match(text)   # "- x", "+ x", "1. x": never a list, even first in a line
    if start:
        at = start.end() if start[0].isdigit() else 0
        text = f"{text[:at]}\\{text[at:]}"
    return text


def _md_code(text: object) -> str:
    """A plain name (letters, digits, ``._-``; a test's grade id) in a code span, anything else
    as ``md_text``: a code span can neither be escaped into nor closed by such a name."""
    text = str(text)
    return f"`{text}`" if re.fullmatch(r"[A-Za-z0-9._-]+", text) else md_text(text)


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
    TOTAL. ``identical_to`` names the other students who submitted the very same file. Every text
    cell goes through ``csv_cell`` (a name or an error message is never a formula); points are
    plain numbers."""
    results = load_results(out_dir, key)
    same: dict[str, list[str]] = defaultdict(list)
    for r in results:
        same[r.get("sha256", "")].append(r["student"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        student = csv_cell(r["student"])
        twins = "; ".join(csv_cell(s) for s in same[r.get("sha256", "")] if s != r["student"])
        for t in r["tests"]:
            writer.writerow([student, csv_cell(t["test"]), _num(t["points_earned"]),
                             _num(t["points_possible"]), csv_cell(t["status"]),
                             csv_cell(t["reason"]), twins])
        all_passed = all(t["status"] == "passed" for t in r["tests"])
        writer.writerow([student, "TOTAL", _num(r["score"]), _num(r["possible"]),
                         "passed" if all_passed else "failed", csv_cell("; ".join(r["notes"])), twins])
    path = Path(out_dir) / "grades.csv"
    write_text(path, buffer.getvalue())
    return path


def feedback_markdown(result: dict) -> str:
    """The feedback a student reads: total, a table of tests, and why each failed test failed.
    Every text from the result (names, reasons, notes) goes through ``md_text``, so that only the
    document's own lines make its structure (one heading, one total, one table)."""
    lines = [
        f"# Feedback on {md_text(result['submission'])} ({md_text(result['assignment'])})",
        "",
        f"**Total: {_num(result['score'])} / {_num(result['possible'])} points**",
        "",
        "| test | points | result |",
        "|---|---|---|",
    ]
    for t in result["tests"]:
        lines.append(f"| {_md_code(t['test'])} | {_num(t['points_earned'])} / "
                     f"{_num(t['points_possible'])} | {md_text(t['status'])} |")
    failed = [t for t in result["tests"] if t["status"] == "failed"]
    if failed:
        lines += ["", "## What failed", ""]
        for t in failed:
            points = _num(t["points_possible"])
            lines.append(f"- {_md_code(t['test'])} ({points} points): {md_text(t['reason'])}")
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
        lines += [f"- {md_text(n)}" for n in result["notes"]]
        lines += ["", "(Cell numbers count every cell of the notebook as it was graded, from 1.)"]
    return "\n".join(lines) + "\n"
