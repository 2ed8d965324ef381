"""Words a learner reads: a count with its noun agreeing ("1 question", "3 questions"), never "question(s)"."""

from __future__ import annotations


def noun(n: int, word: str, plural: str | None = None) -> str:
    """`word` in the number `n` asks for: `plural` when given, else `word` + "s"."""
    return word if n == 1 else (plural or word + "s")


def counted(n: int, word: str, plural: str | None = None) -> str:
    """`n` and its noun: counted(1, "run") is "1 run", counted(0, "run") is "0 runs"."""
    return f"{n} {noun(n, word, plural)}"
