"""Counts read as English: "1 question", "3 questions", never "question(s)" on a page or in an error."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from app.words import counted, noun

APP = Path(__file__).resolve().parents[2] / "app"
HEDGED_PLURAL = re.compile(r"[a-z]{2}\(s\)")  # "run(s)", not the math of "V(s)"


@pytest.mark.parametrize(
    ("n", "word", "plural", "want"),
    [
        (0, "question", None, "0 questions"),
        (1, "question", None, "1 question"),
        (2, "question", None, "2 questions"),
        (1, "wrong one", None, "1 wrong one"),
        (3, "lesson event", None, "3 lesson events"),
        (2, "body", "bodies", "2 bodies"),
        (1, "body", "bodies", "1 body"),
    ],
)
def test_counted(n: int, word: str, plural: str | None, want: str) -> None:
    assert counted(n, word, plural) == want
    assert noun(n, word, plural) == want.split(" ", 1)[1]


def hedged_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal with a hedged plural such as "run(s)"."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.STRING and HEDGED_PLURAL.search(t.string)]


def test_the_guard_finds_a_hedged_plural() -> None:
    assert hedged_strings('x = f"{n} run(s) at a time"  # fine(s) in a comment\n') == [(1, 'f"{n} run(s) at a time"')]
    assert hedged_strings("x = f\"{counted(n, 'run')} at a time\"  # run(s)\n") == []
    assert hedged_strings('label = "Mean V(s)"\n') == []


def test_no_page_or_error_says_question_s() -> None:
    found = [
        f"{path.relative_to(APP.parent)}:{line}: {text}"
        for path in sorted(APP.rglob("*.py"))
        if path.name != "words.py"  # its docstring names the habit it replaces
        for line, text in hedged_strings(path.read_text(encoding="utf-8"))
    ]
    assert not found, "use app.words.counted:\n" + "\n".join(found)
