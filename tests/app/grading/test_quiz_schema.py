"""Broken question banks give FILE:LINE: field: message, through the loader and the validate CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.content.__main__ import main as validate_main
from app.content.loader import build_catalogue

GOOD = """\
topic: foundations
title: A test bank
questions:
  - id: pick-one
    kind: choice
    difficulty: easy
    sources: ["003:1"]
    lessons: [returns-and-discounting]
    prompt: Which one?
    answer: This one
    distractors: [That one, The other one]
    explanation: Because.
  - id: g-zero
    kind: predict
    difficulty: easy
    sources: ["002:returns-discounting"]
    prompt: "Rewards {{rewards}}, gamma {{gamma}}: G_0?"
    params:
      rewards: {integers: [0, 3], size: 3}
      gamma: {choice: [0.5, 0.9]}
    answer_from:
      call: algorithms.returns:discounted_return
      args: {rewards: {array: $rewards}, gamma: $gamma}
    explanation: Sum the discounted rewards.
  - id: find-it
    kind: spot-the-bug
    difficulty: easy
    sources: ["003:53"]
    prompt: Where is the bug?
    snippet: |
      x = 1
      y = x / 0
    bug_line: 2
    fix:
      - point: Do not divide by zero
        accept: ["zero"]
    model_fix: Divide by something else.
    explanation: Division by zero.
"""


def write(folder: Path, text: str, name: str = "bank.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    catalogue = build_catalogue([], [path])
    return [f"{p.file.name}:{p.line}: {p.field}: {p.message}" for p in catalogue.problems]


def test_a_good_bank_has_no_problem(tmp_path: Path) -> None:
    assert problems(write(tmp_path, GOOD)) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '    difficulty: easy\n    sources: ["003:1"]',
            '    difficulty: trivial\n    sources: ["003:1"]',
            "bank.yaml:6: questions[0].difficulty: Input should be 'easy', 'medium' or 'hard' (got 'trivial')",
        ),
        (
            "    explanation: Because.",
            "    explanation: Because.\n    colour: red",
            "bank.yaml:13: questions[0].colour: unknown key 'colour'; a choice question has: id, topic, difficulty",
        ),
        (
            "    kind: choice",
            "    kind: essay",
            "bank.yaml:4: questions[0]: a question needs `kind:` set to one of choice, predict, order, implement",
        ),
        (
            "[That one, The other one]",
            "[That one, That one]",
            "bank.yaml:11: questions[0].distractors[1]: this distractor repeats an earlier one",
        ),
        (
            "[That one, The other one]",
            "[That one, this  ONE]",
            "bank.yaml:11: questions[0].distractors[1]: this distractor is also an answer",
        ),
        (
            'sources: ["003:1"]',
            'sources: ["003:60"]',
            "bank.yaml:7: questions[0].sources[0]: seed 003 has no section '60'; it has: 1 to 59",
        ),
        ('sources: ["003:1"]', 'sources: ["009:x"]', "bank.yaml:7: questions[0].sources[0]: unknown seed '009'"),
        (
            "lessons: [returns-and-discounting]",
            "lessons: [no-such-lesson]",
            "bank.yaml:8: questions[0].lessons[0]: no lesson has id 'no-such-lesson' in lessons/",
        ),
        (
            "algorithms.returns:discounted_return\n",
            "algorithms.returns:discounted_retrun\n",
            "bank.yaml:22: questions[1].answer_from.call: 'discounted_retrun' is not defined in algorithms.returns",
        ),
        (
            "{array: $rewards}",
            "{array: $reward}",
            "bank.yaml:23: questions[1].answer_from.args.rewards: '$reward' names no parameter",
        ),
        (
            "Rewards {{rewards}}",
            "Rewards {{rewardz}}",
            "bank.yaml:17: questions[1].prompt: the prompt shows {{rewardz}}",
        ),
        (
            "bug_line: 2",
            "bug_line: 7",
            "bank.yaml:33: questions[2].bug_line: the snippet has 2 lines; bug_line 7 is past its end",
        ),
        ("  - id: find-it", "  - id: pick-one", "bank.yaml:25: questions[2].id: question id 'pick-one' is used twice"),
        ("title: A test bank\n", "", "bank.yaml:1: title: required field is missing"),
    ],
)
def test_each_mistake_is_named_with_its_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems(write(tmp_path, GOOD.replace(old, new)))
    assert any(line.startswith(expected) for line in found), found


def test_implement_questions_are_checked_against_their_function_and_generator(tmp_path: Path) -> None:
    bank = GOOD + textwrap.indent(
        textwrap.dedent(
            """\
            - id: discounted-return
              kind: implement
              difficulty: easy
              sources: ["003:35"]
              prompt: Write it.
              function: discounted_returns
              signature: "discounted_returns(rewards, gamma)"
              reference: algorithms.returns:discounted_returns
              starter: "def discounted(rewards, gamma):\\n    pass\\n"
              explanation: One backward pass.
            """
        ),
        "  ",
    )
    found = problems(write(tmp_path, bank))
    assert any(
        "questions[3].id: an implement question's id is its function's name in kebab case: 'discounted-returns'" in f
        for f in found
    )
    assert any("questions[3].starter: the starter must define discounted_returns(...)" in f for f in found)
    assert any("questions[3].cases: no case generator 'discounted-return'" in f for f in found)


def test_yaml_errors_and_non_mappings(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "topic: [unclosed\n"))[0].startswith("bank.yaml:")
    assert problems(write(tmp_path, "- a\n- b\n")) == [
        "bank.yaml:1: (bank): expected a mapping with topic, title, questions, got a list"
    ]


def test_a_broken_bank_keeps_its_ids_for_lessons_and_the_others_work(tmp_path: Path) -> None:
    broken = write(tmp_path, GOOD.replace("difficulty: easy", "difficulty: 7"), "broken.yaml")
    fine = write(
        tmp_path,
        GOOD.replace("pick-one", "other-one").replace("g-zero", "g-one").replace("find-it", "find-that"),
        "fine.yaml",
    )
    catalogue = build_catalogue([], [broken, fine])
    by_name = {bank.path.name: bank for bank in catalogue.quiz_banks}
    assert by_name["broken.yaml"].problems and by_name["broken.yaml"].question_ids == ["pick-one", "g-zero", "find-it"]
    assert not by_name["fine.yaml"].problems


def test_validate_cli_reports_bank_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD.replace("bug_line: 2", "bug_line: 0"))
    assert validate_main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "bank.yaml:33: questions[2].bug_line: Input should be greater than or equal to 1 (got 0)" in out
