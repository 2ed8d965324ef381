"""Field types shared by the lesson and question-bank schemas.

The models are strict (`ConfigDict(strict=True)`): `minutes: true` or `minutes: "5"` is an error,
not 1 or 5. Text fields refuse control characters, which in content nearly always come from a
YAML escape in a double-quoted string eating a LaTeX command (`"\\beta"` is a backspace and
`eta`, `"\\tau"` a tab and `au`); the message says how to write it instead.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, ValidationInfo

_ESCAPE_NAMES = {
    "\x00": "\\0",
    "\x07": "\\a (as in \\alpha)",
    "\x08": "\\b (as in \\beta, \\bar)",
    "\t": "\\t (as in \\tau, \\theta, \\times, \\text)",
    "\x0b": "\\v (as in \\varepsilon, \\vec)",
    "\x0c": "\\f (as in \\frac)",
    "\r": "\\r (as in \\rho, \\right)",
    "\x1b": "\\e (as in \\epsilon)",
    "\x85": "\\N (as in \\Nu)",
    "\u2028": "\\L (as in \\Leftarrow)",
    "\u2029": "\\P (as in \\Pi, \\Phi, \\Psi)",
}
# "\nabla" in double quotes is a line break followed by "abla": the LaTeX words that give it away.
_EATEN_N = re.compile(r"\n(abla(?![a-z])|eq\b|ewline|otin|onumber|eg\b|leq\b|geq\b)")
FIX = "write LaTeX in single quotes ('...') or a block scalar (|), where a backslash is just a backslash"


# Unicode's Cc (C0, DEL, C1), Zl and Zp characters, with the line break (and, in code, the tab) allowed.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_TAB = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _control_characters(value: str, allow_tab: bool) -> str:
    if (_CONTROL_BUT_TAB if allow_tab else _CONTROL).search(value) is None:  # the common case, at C speed
        return value
    for index, char in enumerate(value):
        if char == "\n" or (allow_tab and char == "\t"):
            continue
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            line = value.count("\n", 0, index) + 1
            escape = _ESCAPE_NAMES.get(char)
            what = f"the YAML escape {escape}" if escape else f"character U+{ord(char):04X}"
            context = value[max(0, index - 15) : index].rsplit("\n", 1)[-1]
            raise ValueError(
                f"control character U+{ord(char):04X} on line {line} of this text (after {context!r}): "
                f"probably {what} in a double-quoted string; {FIX}"
            )
    return value


def _code_text(value: str) -> str:
    return _control_characters(value, allow_tab=True)


def _prose(value: str) -> str:
    _control_characters(value, allow_tab=False)
    eaten = _EATEN_N.search(value)
    if eaten:
        raise ValueError(
            f"a line starts with '{eaten.group(1)}': probably \\n{eaten.group(1)} in a double-quoted string, "
            f"read by YAML as a line break; {FIX}"
        )
    return value


Code = Annotated[str, StringConstraints(min_length=1), AfterValidator(_code_text)]
"""Non-empty text where a tab may be meant (code, a snippet)."""
Text = Annotated[str, StringConstraints(min_length=1), AfterValidator(_prose)]
"""Non-empty prose or math: no control characters, no LaTeX eaten by an escape."""
OptionalText = Annotated[str, AfterValidator(_prose)]


# Validation context for the quick checks a page runs on every lesson (app/content/loader.py):
# validators that import heavy modules (a live run's config imports torch) or run a slow parser
# (a diagram's DOT grammar) skip under it. The lesson's own page and `python -m app.content
# validate` run them all.
QUICK: dict[str, bool] = {"quick": True}


def is_quick(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("quick"))
