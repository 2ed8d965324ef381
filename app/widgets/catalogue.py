"""Lesson cards, links between lessons, and the panel that lists content problems."""

from __future__ import annotations

import streamlit as st

from app.content.loader import Catalogue, LessonEntry

LESSON_PAGE = "views/lesson.py"


def lesson_link(catalogue: Catalogue, lesson_id: str, label: str | None = None, icon: str | None = None) -> None:
    entry = catalogue.lessons.get(lesson_id)
    st.page_link(
        LESSON_PAGE,
        label=label or (entry.title if entry else lesson_id),
        icon=icon,
        query_params={"lesson": lesson_id},
    )


def lesson_card(entry: LessonEntry, catalogue: Catalogue) -> None:
    with st.container(border=True):
        if entry.lesson is None or entry.problems:
            lesson_link(catalogue, entry.id, label=f"{entry.title} (needs fixing)", icon=":material/error:")
            st.caption(f"{len(entry.problems)} problem(s) in `{entry.path.name}`; open it to see where.")
            return
        lesson = entry.lesson
        lesson_link(catalogue, entry.id, label=f"**{lesson.title}**", icon=":material/menu_book:")
        st.markdown(lesson.summary)
        facts = [f":material/schedule: {lesson.minutes} min", lesson.level]
        if lesson.prerequisites:
            names = [catalogue.lessons[p].title if p in catalogue.lessons else p for p in lesson.prerequisites]
            facts.append("after: " + ", ".join(names))
        st.caption(" · ".join(facts))


def problems_panel(catalogue: Catalogue) -> None:
    """For instructors: every problem in lessons/ and quizzes/, in validator format."""
    problems = catalogue.problems
    if not problems:
        return
    with st.expander(f":material/construction: {len(problems)} problem(s) in lesson or quiz files", expanded=False):
        st.caption("The same lines `python -m app.content validate` prints. Other lessons keep working.")
        st.code("\n".join(str(p) for p in problems), language=None, wrap_lines=True)
