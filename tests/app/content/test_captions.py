"""Issue 12: a caption says what the learner sees. A code block's caption that names code (a
`backticked` name, a dotted name such as F.logsigmoid, or a call such as log(...)) names code that
is on screen: in that block or in a code block above it in the lesson. ("Two forward passes" beside
code that does one was caught by hand; a caption naming `logp.detach()` that the region does not
show is caught here.)"""

from __future__ import annotations

import re

import pytest

from app.content.coderef import resolve
from app.content.loader import load_catalogue
from app.content.models import CodeBlock

CODE_WORDS = re.compile(r"`([^`]+)`|\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\(?|\b([A-Za-z_]\w*)\(")
WORD = re.compile(r"[A-Za-z_][\w.]*")
CATALOGUE = load_catalogue()


def code_names(caption: str) -> list[str]:
    """The identifiers a caption presents as code."""
    names = []
    for match in CODE_WORDS.finditer(caption):
        backticked, dotted, called = match.groups()
        if backticked:
            names += [w for w in WORD.findall(backticked) if not w[0].isdigit()]
        else:
            names.append(dotted or called)
    return names


def test_code_names_are_found_in_captions() -> None:
    assert code_names("One line. F.logsigmoid, not log(sigmoid(.)); `old` is `logp.detach()`.") == [
        "F.logsigmoid",
        "log",
        "sigmoid",
        "old",
        "logp.detach",
    ]


@pytest.mark.parametrize("lesson_id", [i for i, e in CATALOGUE.lessons.items() if e.ok])
def test_every_code_caption_names_code_on_screen(lesson_id: str) -> None:
    shown = ""
    missing = []
    for section in CATALOGUE.lessons[lesson_id].lesson.sections:
        for block in section.blocks:
            if not isinstance(block, CodeBlock):
                continue
            shown += "\n" + resolve(block.code).text
            for name in code_names(block.caption or ""):
                if name not in shown:
                    missing.append(f"{block.code}: the caption names `{name}`, which no code block up to it shows")
    assert missing == []
