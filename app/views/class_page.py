"""Class: for instructors, every learner's progress side by side, and the class's weakest topics."""

import time

import pandas as pd
import streamlit as st

from app.grading.bank import load_questions
from app.learners import store
from app.learners.identity import INSTRUCTORS_ENV
from app.learners.progress import by_topic, summary, weakest_topics
from app.widgets.identity import can_open_class, learner_badge, require_learner
from app.widgets.progress import accuracy_chart, topic_table, weakest

st.title("Class")
learner = require_learner("open the class page")
learner_badge(learner)
if not can_open_class(learner):
    st.info(
        f"This page is for instructors. An instructor is named in `{INSTRUCTORS_ENV}` on the server "
        "(comma-separated names or e-mails), or, with RLDOJO_AUTH=builtin, has an instructor's account "
        "(`python -m app.learners.auth invite NAME --instructor`). Your own progress is on the Progress page.",
        icon=":material/lock:",
    )
    st.page_link("views/progress.py", label="My progress", icon=":material/insights:")
    st.stop()

# Topics and lessons of each question only: no bank's reference code need run (seconds, torch).
questions = load_questions(check_code=False)
topic_of = questions.topic_of()
lessons_of_topic = questions.lessons_of_topic()

now = time.time()
everyone = store.learners()
if not everyone:
    st.info("No learner has answered anything yet.", icon=":material/groups:")
    st.stop()

attempts = store.attempts()
events = store.events()
cards = store.cards()
rows = []
for name in everyone:
    s = summary(
        name,
        [a for a in attempts if a["learner"] == name],
        [e for e in events if e["learner"] == name],
        [c for c in cards if c.learner == name],
        now,
    )
    rows.append(
        {
            "learner": name,
            "lessons done": s.lessons_done,
            "answers": s.answered,
            "accuracy": s.accuracy,
            "streak (days)": s.streak,
            "cards due": s.due_now,
            "last active": pd.to_datetime(s.last_active, unit="s") if s.last_active else None,
        }
    )

left, middle, right = st.columns(3)
left.metric("Learners", len(everyone))
middle.metric("Answers", sum(r["answers"] for r in rows))
right.metric("Lessons done", sum(r["lessons done"] for r in rows))

st.subheader("Learners", divider="gray")
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    column_config={
        "accuracy": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
        "last active": st.column_config.DatetimeColumn(format="D MMM YYYY, HH:mm"),
    },
)
if attempts:
    st.subheader("Accuracy by topic over time, whole class", divider="gray")
    accuracy_chart(attempts, topic_of, key="class-chart")
    topic_table(by_topic(attempts, topic_of))
    st.subheader("The class's weakest topics", divider="gray")
    weakest(weakest_topics(attempts, topic_of), lessons_of_topic, key="class-weak")
