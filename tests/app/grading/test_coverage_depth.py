"""`sources` say whether a question asks a syllabus item fully or partially, and COVERAGE.md counts both."""

from __future__ import annotations

from pathlib import Path

from app.content.loader import load_catalogue
from app.content.quiz_models import parse_source
from app.grading import coverage
from app.grading.bank import load_questions

BANK = """\
topic: foundations
title: test bank
questions:
  - id: first
    kind: choice
    difficulty: easy
    sources: [{first}]
    prompt: Which?
    answer: this one
    distractors: [that one]
    explanation: Because.
  - id: second
    kind: choice
    difficulty: easy
    sources: [{second}]
    prompt: Which other?
    answer: this one
    distractors: [that one]
    explanation: Because.
"""


def write_bank(directory: Path, first: str, second: str) -> None:
    (directory / "foundations.yaml").write_text(BANK.format(first=first, second=second))


def test_parse_source_defaults_to_full() -> None:
    assert parse_source("003:14") == ("003", "14", "full")
    assert parse_source("003:16 partial") == ("003", "16", "partial")
    assert parse_source("004:bradley-terry full") == ("004", "bradley-terry", "full")


def test_an_item_is_full_when_one_question_asks_all_of_it(tmp_path: Path) -> None:
    write_bank(tmp_path, '"003:16 partial"', '"003:16"')
    questions = load_questions(tmp_path)
    assert coverage.covering(questions)["003"]["16"] == [("first", "partial"), ("second", "full")]
    assert "003:16" not in coverage.items_at(questions, "partial")
    text = coverage.render(questions)
    assert "| 16. PPO versus other policy-gradient methods | full | foundations | `first` (partial), `second` |" in text


def test_partial_only_items_are_listed_and_counted(tmp_path: Path) -> None:
    write_bank(tmp_path, '"003:16 partial"', '"003:25 partial"')
    questions = load_questions(tmp_path)
    assert coverage.items_at(questions, "partial") == ["003:16", "003:25"]
    text = coverage.render(questions)
    assert "**Only partially covered:** 003:16, 003:25" in text
    assert "0 of 59 fully covered, 2 partially, 57 not covered." in text
    problems = coverage.check(tmp_path)
    assert "not covered: 003:1" in problems and "only partially covered: 003:16" in problems


def test_a_bad_depth_is_an_error_that_says_the_form(tmp_path: Path) -> None:
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    write_bank(tmp_path, '"003:16 mostly"', '"003:16"')
    (problem,) = [str(p) for p in load_catalogue(lessons, tmp_path, full=True).problems]
    assert "foundations.yaml:7: questions[0].sources[0]" in problem
    assert "optionally followed by ' full' or ' partial'" in problem and "'003:16 mostly'" in problem


def test_an_item_listed_twice_is_an_error(tmp_path: Path) -> None:
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    write_bank(tmp_path, '"003:16"', '"003:16", "003:16 partial"')
    (problem,) = [str(p) for p in load_catalogue(lessons, tmp_path, full=True).problems]
    assert "foundations.yaml:15: questions[1].sources[1]: '003:16' is listed twice" in problem
