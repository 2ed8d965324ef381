"""Progress: one learner's lessons, answers, accuracy by topic over time, streak, cards due, weak spots."""

import json
import time

import streamlit as st

from app.content.loader import load_catalogue
from app.grading.bank import load_questions
from app.learners import store
from app.learners.db import DatabaseUnusable
from app.learners.progress import by_topic, summary, weakest_topics
from app.widgets.catalogue import lesson_link
from app.widgets.identity import learner_badge, require_learner
from app.widgets.progress import accuracy_chart, headline, topic_table, weakest
from app.words import counted

st.title("Progress")
learner = require_learner("see your progress")
learner_badge(learner)

# Topics and lessons of each question only: no bank's reference code need run (seconds, torch).
questions = load_questions(check_code=False)
topic_of = questions.topic_of()
lessons_of_topic = questions.lessons_of_topic()

now = time.time()
attempts = store.attempts(learner)
events = store.events(learner)
cards = store.cards(learner)
headline(summary(learner, attempts, events, cards, now))

if not attempts and not events:
    st.info(
        "Nothing here yet. Read a lesson and mark it done, answer questions on **Practice**, or run a **Drill**: "
        "your progress shows here.",
        icon=":material/insights:",
    )
else:
    if attempts:
        st.subheader("Accuracy by topic over time", divider="gray")
        accuracy_chart(attempts, topic_of, key="progress-chart")
        topic_table(by_topic(attempts, topic_of))
        st.subheader("Weakest topics", divider="gray")
        weakest(weakest_topics(attempts, topic_of), lessons_of_topic, key="progress-weak")
    done = store.lessons_done(learner)
    if done:
        st.subheader("Lessons done", divider="gray")
        catalogue = load_catalogue()
        for lesson_id in catalogue.ordered_ids():
            if lesson_id in done:
                lesson_link(catalogue, lesson_id, icon=":material/task_alt:")

st.subheader("Move your progress", divider="gray")
st.caption(
    "Export everything you answered as JSON and import it on another machine. Importing the same file twice "
    "adds nothing the second time."
)
left, right = st.columns(2)
with left:
    st.download_button(
        "Export my progress",
        data=json.dumps(store.export_learner(learner), indent=1, default=str),
        file_name=f"rldojo-progress-{learner}.json".replace(" ", "-"),
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
        key="progress-export",
    )
with right:
    upload = st.file_uploader("Import a progress file", type=["json"], key="progress-import")
    if upload is not None:
        marker = (upload.name, upload.size)
        if st.session_state.get("progress-imported") != marker:
            try:
                result = store.import_file(upload.getvalue(), learner=learner)
            except (store.BadExport, DatabaseUnusable) as exc:  # the whole file is refused, its first bad record named
                st.error(f"Could not import this file: {exc}", icon=":material/error:")
            else:
                st.session_state["progress-imported"] = marker
                st.success(
                    f"Imported {counted(result.attempts_added, 'answer')} and "
                    f"{counted(result.events_added, 'lesson event')}; "
                    f"{result.attempts_skipped + result.events_skipped} were already here.",
                    icon=":material/upload:",
                )
