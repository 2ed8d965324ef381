"""Which section a lesson page shows for its address's `section` value."""

from __future__ import annotations

import pytest

from app.widgets.sections import Shown, section_to_show


@pytest.mark.parametrize(
    ("raw", "index"),
    [(None, 0), ("", 0), ("1", 0), ("2", 1), (" 9 ", 8), ("all", None), ("ALL", None)],
)
def test_a_section_named_by_the_address_is_shown(raw: str | None, index: int | None) -> None:
    shown = section_to_show(raw, 9)
    assert shown.index == index and shown.note is None


@pytest.mark.parametrize("raw", ["0", "10", "-1", "two", "1.5", "²", "01x"])
def test_a_section_that_does_not_exist_shows_the_first_and_says_so(raw: str) -> None:
    shown = section_to_show(raw, 9)
    assert shown.index == 0
    assert shown.note == f"This lesson has 9 sections; there is no section `{raw}`. Here is the first."


def test_the_address_of_a_view_reproduces_it() -> None:
    assert [Shown(i).address for i in (0, 1, 8)] == [None, "2", "9"]  # the first is the lesson's own address
    assert Shown(None).address == "all"
    for i in range(9):
        assert section_to_show(Shown(i).address, 9) == Shown(i)
    assert section_to_show(Shown(None).address, 9) == Shown(None)


def test_only_the_last_section_or_the_whole_lesson_is_the_lesson_s_end() -> None:
    assert [Shown(i).is_last(3) for i in range(3)] == [False, False, True]
    assert Shown(None).is_last(3)
    assert list(Shown(1).sections(3)) == [1] and list(Shown(None).sections(3)) == [0, 1, 2]


def test_the_note_quotes_the_address_as_code_it_cannot_break_out_of() -> None:
    note = section_to_show("a`[x](https://e.com)`" + "y" * 40, 9).note
    assert note.count("`") == 2, note  # only the code span's own: no link can be written into the page
    assert note == "This lesson has 9 sections; there is no section `a[x](https://e.com)yyyyy`. Here is the first."
    assert section_to_show("2", 1).note == "This lesson has one section; there is no section `2`. Here is the first."
