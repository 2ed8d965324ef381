"""The end of a lesson: "Mark lesson done", and which lessons the learner on the page has done.

Kept apart from app/widgets/progress.py (charts, pandas) and light: while nothing is stored yet
(a new server, no DATABASE_URL) neither function imports the learner database (SQLAlchemy), so a
lesson's first render costs what the lesson needs; the press that records imports it.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from app.widgets.identity import learner_or_default, learner_store_exists


def lessons_done_quietly() -> set[str]:
    """The lessons the learner on the page marked done; none when progress cannot be read."""
    if not learner_store_exists():
        return set()
    try:
        from app.learners import store

        return store.lessons_done(learner_or_default())
    except Exception:  # the lesson itself says so below (mark_lesson_done)
        return set()


def mark_lesson_done(lesson_id: str) -> None:
    """The button at the end of a lesson: records a "lesson done" event for the learner on the page."""
    learner = learner_or_default()
    done: list[dict] = []
    if learner_store_exists():
        try:
            from app.learners import store

            done = [e for e in store.events(learner, store.LESSON_DONE) if e["subject"] == lesson_id]
        except Exception as exc:  # a database that is down must not take the lesson with it
            st.caption(f":material/warning: Progress is not available: {exc}")
            return
    if done:
        when = datetime.fromtimestamp(done[-1]["time"]).strftime("%d %b %Y")
        st.caption(f":green[:material/task_alt:] You marked this lesson done on {when}.")
        return
    if st.button("Mark lesson done", icon=":material/task_alt:", key=f"lesson-done-{lesson_id}"):
        from app.learners import store

        try:
            store.record_event(learner, store.LESSON_DONE, lesson_id)
        except Exception as exc:
            st.error(f"Could not record the lesson as done: {exc}", icon=":material/error:")
            return
        st.rerun()
