"""The control-character check's fast regex finds exactly Unicode's Cc, Zl and Zp characters."""

from __future__ import annotations

import unicodedata

import pytest

from app.content.types import _CONTROL, _CONTROL_BUT_TAB, _code_text, _prose


def test_the_regexes_match_the_unicode_categories_on_every_code_point() -> None:
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        control = unicodedata.category(char) in ("Cc", "Zl", "Zp")
        assert bool(_CONTROL.match(char)) == (control and char != "\n"), hex(code)
        assert bool(_CONTROL_BUT_TAB.match(char)) == (control and char not in "\n\t"), hex(code)


def test_prose_refuses_a_tab_and_code_keeps_it() -> None:
    assert _code_text("def f():\n\treturn 1") == "def f():\n\treturn 1"
    with pytest.raises(ValueError, match=r"U\+0009 on line 2 .*\\t \(as in \\tau"):
        _prose("first line\nthe \tau")
    with pytest.raises(ValueError, match="U\\+2028"):
        _code_text("x = 1\u2028")
