"""Lesson cards, links between lessons, and the panel that lists content problems."""

from __future__ import annotations

import streamlit as st

from app.content.loader import Catalogue, LessonEntry
from app.words import counted

LESSON_PAGE = "views/lesson.py"


def lesson_link(catalogue: Catalogue, lesson_id: str, label: str | None = None, icon: str | None = None) -> None:
    entry = catalogue.lessons.get(lesson_id)
    st.page_link(
        LESSON_PAGE,
        label=label or (entry.title if entry else lesson_id),
        icon=icon,
        query_params={"lesson": lesson_id},
    )


def lesson_matches(entry: LessonEntry, query: str) -> bool:
    """Every word of `query` is in the lesson's title, summary, tags or id (case-insensitive)."""
    words = query.casefold().split()
    if not words:
        return True
    lesson = entry.lesson
    text = f"{entry.title} {entry.id}"
    if lesson is not None:
        text += f" {lesson.summary} {' '.join(lesson.tags)} {lesson.track.value}"
    text = text.casefold()
    return all(word in text for word in words)


def next_lesson(catalogue: Catalogue, done: set[str], done_in_order: list[str]) -> str | None:
    """Where to go next: the first lesson not done after the one marked done last (else the first not done)."""
    ids = [i for i, entry in catalogue.lessons.items() if entry.ok]
    start = ids.index(done_in_order[-1]) + 1 if done_in_order and done_in_order[-1] in ids else 0
    for lesson_id in ids[start:] + ids[:start]:
        if lesson_id not in done:
            return lesson_id
    return None


def lesson_card(entry: LessonEntry, catalogue: Catalogue, done: bool = False) -> None:
    with st.container(border=True):
        if entry.lesson is None or entry.problems:
            lesson_link(catalogue, entry.id, label=f"{entry.title} (needs fixing)", icon=":material/error:")
            st.caption(f"{counted(len(entry.problems), 'problem')} in `{entry.path.name}`; open it to see where.")
            return
        lesson = entry.lesson
        icon = ":material/task_alt:" if done else ":material/menu_book:"
        lesson_link(catalogue, entry.id, label=f"**{lesson.title}**", icon=icon)
        st.markdown(lesson.summary)
        facts = [":green[done]"] if done else []
        facts += [f":material/schedule: {lesson.minutes} min", lesson.level]
        if lesson.prerequisites:
            names = [catalogue.lessons[p].title if p in catalogue.lessons else p for p in lesson.prerequisites]
            facts.append("after: " + ", ".join(names))
        st.caption(" · ".join(facts))


def problems_panel(catalogue: Catalogue) -> None:
    """For instructors: every problem in lessons/ and quizzes/, in validator format."""
    problems = catalogue.problems
    if not problems:
        return
    with st.expander(
        f":material/construction: {counted(len(problems), 'problem')} in lesson or quiz files", expanded=False
    ):
        st.caption("The same lines `python -m app.content validate` prints. Other lessons keep working.")
        st.code("\n".join(str(p) for p in problems), language=None, wrap_lines=True)
