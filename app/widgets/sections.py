"""A lesson shown one section at a time: /lesson?lesson=ID&section=N (1-based), or `section=all`.

One section per page keeps a lesson's first render close to a bare page's (a whole lesson drew
50-220 elements and rendered in up to 3.3x a bare page's time, docs/benchmarks.md), gives the
learner contents to jump from, and puts their place in the address, so a reload or a bookmark
comes back to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app.content.models import Lesson
from app.widgets.catalogue import LESSON_PAGE

SECTION_PARAM = "section"
ALL_SECTIONS = "all"
# What the page keeps in its address from one section to the next: a live run started from a block
# (app/widgets/runs.py) stays on screen when the learner comes back to its section.
CARRIED_PARAMS = ("run", "run_block")


@dataclass(frozen=True)
class Shown:
    """Which sections a lesson page draws: `index` (0-based) or None for all; `note` when the address
    asked for a section that does not exist."""

    index: int | None
    note: str | None = None

    def sections(self, count: int) -> range:
        return range(count) if self.index is None else range(self.index, self.index + 1)

    def is_last(self, count: int) -> bool:
        return self.index is None or self.index == count - 1

    @property
    def address(self) -> str | None:
        """The `section` query value that reproduces this view (None: leave it out, the first section)."""
        if self.index is None:
            return ALL_SECTIONS
        return None if self.index == 0 else str(self.index + 1)


def section_to_show(raw: str | None, count: int) -> Shown:
    """The section named by the address's `section` value (1-based number or `all`), for a lesson of
    `count` sections. Anything else shows the first section, with a note saying why."""
    if raw is None or raw.strip() == "":
        return Shown(0)
    value = raw.strip().lower()
    if value == ALL_SECTIONS:
        return Shown(None)
    if value.isascii() and value.isdigit() and 1 <= int(value) <= count:  # "²".isdigit(), but int("²") fails
        return Shown(int(value) - 1)
    asked = raw.strip().replace("`", "")[:24]  # shown as code: no backtick may close it early
    sections = "one section" if count == 1 else f"{count} sections"
    return Shown(0, f"This lesson has {sections}; there is no section `{asked}`. Here is the first.")


def section_label(lesson: Lesson, index: int) -> str:
    title = lesson.sections[index].title
    return title or ("Introduction" if index == 0 else f"Section {index + 1}")


def section_link(lesson: Lesson, index: int | None, label: str, icon: str | None = None) -> None:
    """A link to one section of `lesson` (None: the whole lesson on one page)."""
    params = {"lesson": lesson.id}
    params.update({name: st.query_params[name] for name in CARRIED_PARAMS if name in st.query_params})
    address = Shown(index).address
    if address is not None:
        params[SECTION_PARAM] = address
    st.page_link(LESSON_PAGE, label=label, icon=icon, query_params=params)


def contents(lesson: Lesson, shown: Shown) -> None:
    """Where the learner is, and a menu of every section (one click to any of them)."""
    count = len(lesson.sections)
    if count == 1:  # nothing to choose from
        return
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        if shown.index is None:
            st.caption(f"All {count} sections on one page")
        else:
            st.caption(f"Section {shown.index + 1} of {count}")
        # Keyed by the section on screen: a link in it opens a new section whose menu starts closed
        # (one key for all kept it open over the new section). Drawn only once opened (it reruns then).
        menu = st.popover(
            "Contents",
            icon=":material/toc:",
            key=f"contents-{lesson.id}-{shown.address or 1}",
            on_change="rerun",
        )
        if not menu.open:
            return
        with menu:
            for i in range(count):
                label = f"{i + 1}. {section_label(lesson, i)}"
                if shown.index == i:  # where the learner is: text, not a link to the same view
                    st.markdown(f":material/chevron_right: **{label}** (this section)")
                else:
                    section_link(lesson, i, label, icon=":material/article:")
            if shown.index is not None:
                section_link(lesson, None, "All sections on one page", icon=":material/unfold_more:")
            else:
                section_link(lesson, 0, "One section at a time", icon=":material/unfold_less:")


def section_footer(lesson: Lesson, shown: Shown) -> None:
    """Previous and next section, under a section shown alone."""
    count = len(lesson.sections)
    if shown.index is None or count == 1:
        return
    left, right = st.columns(2)
    if shown.index > 0:
        with left:
            before = shown.index - 1
            section_link(
                lesson,
                before,
                f"Previous section: {section_label(lesson, before)}",
                icon=":material/arrow_back:",
            )
    if shown.index < count - 1:
        with right:
            after = shown.index + 1
            section_link(
                lesson,
                after,
                f"Next section: {section_label(lesson, after)}",
                icon=":material/arrow_forward:",
            )
