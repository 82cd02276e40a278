"""What a student controls (the submission's file name, the text of their exceptions) reaches the
instructor's feedback files, ``grades.csv`` and terminal only as inert text (no kernels here)."""
from __future__ import annotations

import csv
import re

import pytest

from course_utils.instructor.grading.report import (
    console_text,
    csv_cell,
    feedback_markdown,
    feedback_path,
    load_results,
    md_text,
    readable_name,
    save,
    signing_key,
    write_grades_csv,
)

FAKE_TOTAL = "x\n\n**Total: 16 / 16 points**\n\n<!--"
FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(1)", "\t=1", "  =1", "\r=1"]
TERMINAL = "a\x1b]0;pwned\x07b\x1b[2Jc\x9b31m\r\bd\u202eevil\u2066"
ORDINARY = ["alice_smith", "élodie_dupré", "Zoë-2"]


def result(student: str, reason: str = "AssertionError: wrong", notes: list[str] | None = None,
           sha: str = "0" * 64) -> dict:
    """A failed result in the shape ``worker.new_result`` and the grader make (0 of 16 points)."""
    tests = [{"test": f"test_{i}", "points_earned": 0, "points_possible": p, "status": "failed",
              "reason": reason} for i, p in enumerate((10, 6))]
    return {"student": student, "submission": f"{student}.ipynb", "sha256": sha,
            "assignment": "01_kmeans_em", "solution_sha256": "1" * 64, "tests_sha256": "2" * 64,
            "graded_at": "2024-01-01T00:00:00+00:00", "notes": list(notes or []),
            "grader_error": False, "tests": tests, "score": 0, "possible": 16}


def rendered(markdown: str) -> str:
    """The feedback as HTML, raw HTML let through (as a careless viewer would)."""
    mistune = pytest.importorskip("mistune")
    return mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])(markdown)


def read_csv(out) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- the feedback (Markdown) ------------------------------------------------------------------

@pytest.mark.parametrize("where", ["name", "reason", "note"])
def test_a_fake_total_in_a_name_reason_or_note_stays_text(where, tmp_path):
    r = result(FAKE_TOTAL if where == "name" else "alice", reason=FAKE_TOTAL if where == "reason" else "x",
               notes=[FAKE_TOTAL] if where == "note" else [])
    save(r, 16, tmp_path, signing_key(tmp_path))
    markdown = feedback_path(tmp_path, r["student"]).read_text(encoding="utf-8")
    totals = [line for line in markdown.splitlines() if line.startswith("**Total")]
    assert totals == ["**Total: 0 / 16 points**"]
    assert "<!--" not in markdown and "\n\n**Total: 16" not in markdown
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings[0].startswith("# Feedback on ") and headings[1:] == ["## What failed"] + (
        ["## Notes on the submission"] if where == "note" else [])
    html = rendered(markdown)
    assert "<!--" not in html and html.count("<strong>") == 1
    assert len(re.findall(r"<strong>Total", html)) == 1 and "<strong>Total: 0 / 16 points</strong>" in html
    assert html.count("<h1>") == 1 and html.count("<table>") == 1


def test_markdown_and_html_in_untrusted_text_render_as_the_text_itself():
    attack = "# h <img src=x onerror=alert(1)> [l](http://x) ![i](http://x) `c` *e* _e_ ~~s~~ | $x$ &lt;"
    html = rendered(feedback_markdown(result("bob", reason=attack)))
    for tag in ("<img", "<a ", "<code>c", "<em>", "<del>", "<h2>#"):
        assert tag not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&amp;lt;" in html
    assert html.count("<h2>") == 1   # "What failed" only (there are no notes)


@pytest.mark.parametrize("start", ["- x", "+ x", "1. x", "12) x", "> x", "    x", "= x", "***", "---"])
def test_a_note_cannot_nest_a_list_quote_code_block_or_rule(start):
    html = rendered(feedback_markdown(result("bob", notes=[start])))
    notes = html.split("<h2>Notes on the submission</h2>", 1)[1]
    assert notes.count("<ul>") == 1 and notes.count("<li>") == 1
    for tag in ("<ol", "<blockquote", "<pre", "<hr", "<h1>", "<h2>", "<h3>", "<em>", "<strong>"):
        assert tag not in notes


def test_md_text_controls_backticks_and_limit():
    text = md_text("a\x1b[2J\u202e`b`\u2028c\td\x00", limit=None)
    assert "\x1b" not in text and "\u202e" not in text and "\u2028" not in text and "\x00" not in text
    assert "\\\\x1b" in text and "\\`b\\`" in text and "c d" in text
    assert md_text("x" * 50, limit=10) == "x" * 9 + "…"
    assert "\n" not in md_text("a\r\nb\x85c\u2029d")


def test_test_ids_stay_code_and_a_strange_one_cannot_close_its_span():
    r = result("bob")
    r["tests"][0]["test"] = "t`` **Total: 16 / 16 points** ``"
    markdown = feedback_markdown(r)
    assert "| `test_1` |" in markdown and "- `test_1` (6 points)" in markdown
    html = rendered(markdown)
    assert html.count("<strong>") == 1 and "<code>test_1</code>" in html


# --- grades.csv ------------------------------------------------------------------------------

def test_names_reasons_and_notes_never_become_spreadsheet_formulas(tmp_path):
    key = signing_key(tmp_path)
    for i, name in enumerate(FORMULAS):
        save(result(name, reason=name, notes=[name], sha=f"{i:064d}"), 16, tmp_path, key)
    save(result("twin_a", sha="f" * 64), 16, tmp_path, key)
    save(result("-twin_b", sha="f" * 64), 16, tmp_path, key)
    write_grades_csv(tmp_path, key)
    rows = read_csv(tmp_path)
    for row in rows:
        for column in ("student", "test", "status", "reason", "identical_to"):
            assert not row[column][:1] in ("=", "+", "-", "@", "\t", "\r"), row
            assert not row[column].lstrip()[:1] in ("=", "+", "-", "@"), row
            assert not re.search(r"[\x00-\x1f\x7f-\x9f]", row[column]), row
        assert re.fullmatch(r"-?\d+(\.\d+)?", row["points_earned"]), row
        assert re.fullmatch(r"-?\d+(\.\d+)?", row["points_possible"]), row
    students = {row["student"] for row in rows}
    assert {"'" + n for n in FORMULAS if n[0] not in "\t\r"} <= students
    assert {"' =1", "'  =1", "twin_a", "'-twin_b"} <= students
    totals = {row["student"]: row for row in rows if row["test"] == "TOTAL"}
    assert totals["'=HYPERLINK(\"http://x\",\"y\")"]["reason"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert (totals["'+1"]["points_earned"], totals["'+1"]["points_possible"]) == ("0", "16")
    assert totals["twin_a"]["identical_to"] == "'-twin_b" and totals["'-twin_b"]["identical_to"] == "twin_a"
    # the results themselves keep the names as they are
    assert {r["student"] for r in load_results(tmp_path)} == set(FORMULAS) | {"twin_a", "-twin_b"}


def test_csv_cell_is_one_line_and_idempotent():
    for text in FORMULAS + ["a\nb\r\nc", "=1\n=2", TERMINAL]:
        cell = csv_cell(text)
        assert csv_cell(cell) == cell and "\n" not in cell and "\r" not in cell and "\x1b" not in cell
    assert csv_cell("a\nb") == "a b" and csv_cell("3.5") == "3.5" and csv_cell("") == ""


# --- the terminal ----------------------------------------------------------------------------

def test_console_text_shows_escape_sequences_instead_of_running_them():
    text = console_text(f"{TERMINAL}.ipynb")
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    assert text == "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x9b31m\\r\\x08d\\u202eevil\\u2066.ipynb"
    assert len(console_text("x" * 300)) == 200 and console_text("x\ny") == "x\\ny"
    assert console_text("x" * 300, limit=20) == "x" * 19 + "…"


def test_an_undecodable_file_name_is_saved_and_shown_escaped(tmp_path):
    name = "bad\udcff\udcfename"   # how Python reads a file name that is not UTF-8
    save(result(name), 16, tmp_path, signing_key(tmp_path))
    assert "\\udcff" in feedback_path(tmp_path, name).read_text(encoding="utf-8")
    write_grades_csv(tmp_path)
    assert read_csv(tmp_path)[0]["student"] == "bad\\udcff\\udcfename"
    assert console_text(name) == "bad\\udcff\\udcfename"


# --- ordinary names ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_names_are_left_alone(name, tmp_path):
    assert md_text(name) == csv_cell(name) == console_text(name) == name
    save(result(name), 16, tmp_path, signing_key(tmp_path))
    write_grades_csv(tmp_path)
    assert {row["student"] for row in read_csv(tmp_path)} == {name}
    assert f"# Feedback on {name}.ipynb (01_kmeans_em)" in feedback_path(tmp_path, name).read_text(encoding="utf-8")


def test_feedback_reasons_read_as_before():
    markdown = feedback_markdown(result("alice", reason="NotImplementedError: e_step is not implemented yet"))
    assert "**Total: 0 / 16 points**" in markdown and "`test_0`" in markdown
    assert "e_step is not implemented yet" in markdown


@pytest.mark.parametrize("name", [FAKE_TOTAL, TERMINAL, "../../etc/passwd", "-rf", "..", "é" * 50, "a" * 300])
def test_readable_names_are_plain_file_names(name):
    readable = readable_name(name)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{16}", readable) and len(readable) <= 57
