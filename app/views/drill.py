"""Drill: a retrieval drill until it sticks, a timed mock interview, or an interview run for a candidate.

/drill?drill=ID opens a drill, so a reload or a second tab sees the same one; `&role=interviewer`
shows the answer key beside it, for the interviewer's screen only. /drill?topic=ID preselects a topic.
"""

import time

import streamlit as st

from app.grading.bank import load_questions, topic_title
from app.learners import drills, store
from app.learners.identity import normalize_learner
from app.learners.progress import review_queue
from app.widgets.drill_session import TITLES, candidate_view, interviewer_view
from app.widgets.identity import guard_drill, learner_badge, require_learner

# The pools and reports need each question's schema; the question on screen is checked against
# its reference code alone when it is shown (drill_session), not every bank's (seconds, torch).
questions = load_questions(check_code=False)
info = drills.question_info(questions.by_id.values())
drill_id = st.query_params.get("drill")

if drill_id:
    guard_drill(drill_id, st.query_params.get("role"))  # under a login mode: its learner or an instructor only
    if st.query_params.get("role") == "interviewer":
        interviewer_view(drill_id, questions, info)
    else:
        candidate_view(drill_id, questions, info)
    st.stop()


def open_drill(drill: drills.Drill, role: str | None = None) -> None:
    store.save_drill(drill.id, drill.learner, drill.kind, drill.to_dict())
    st.query_params["drill"] = drill.id
    if role:
        st.query_params["role"] = role
    st.rerun()


st.title("Drill")
learner = require_learner("run drills")
learner_badge(learner)
now = time.time()
topics = sorted({i.topic for i in info.values() if i.topic}, key=topic_title)

retrieval_tab, mock_tab, interview_tab = st.tabs(["Retrieval drill", "Mock interview", "Interview a candidate"])

with retrieval_tab:
    st.markdown(
        "Questions one at a time, from memory. Miss one and it comes back a little later, with new numbers "
        "where it has them, until you answer it right twice. Questions due for review come first."
    )
    preset = st.query_params.get("topic")
    chosen = st.multiselect(
        "Topics",
        topics,
        default=[preset] if preset in topics else [],
        format_func=topic_title,
        placeholder="All topics",
        key="drill-topics",
    )
    count = st.slider("Questions", min_value=3, max_value=15, value=6, key="drill-count")
    coding = st.toggle("Include coding drills (they run in the sandbox)", value=False, key="drill-coding")
    pool = [q.id for q in questions.filter(chosen) if coding or q.kind != "implement"]
    if not pool:
        st.info("No questions in these topics yet. Pick other topics.", icon=":material/search_off:")
    if st.button(
        "Start the drill", type="primary", icon=":material/play_arrow:", disabled=not pool, key="start-retrieval"
    ):
        due = [c.question_id for c in review_queue(store.cards(learner), now)]
        open_drill(drills.new_retrieval(learner, pool, now, count=count, first=due))

with mock_tab:
    st.markdown(
        "A timed interview loop: foundations, deep RL, RLHF, then systems, easier questions first; explain, "
        "predict, spot-the-bug and implement. No feedback until the end, then a report with the lessons to revisit."
    )
    minutes = st.segmented_control(
        "Length", drills.MOCK_MINUTES, default=30, format_func=lambda m: f"{m} min", key="mock-minutes"
    )
    minutes = minutes or 30
    st.caption(f"About {len(drills.plan_mock(info, minutes))} questions.")
    if st.button("Start the interview", type="primary", icon=":material/timer:", key="start-mock"):
        open_drill(drills.new_mock(learner, info, minutes, now))

with interview_tab:
    st.markdown(
        "Run a mock interview for someone else on a shared screen: this tab becomes the interviewer's view, "
        "with the rubric and model answers; the candidate answers in a second tab that never shows them."
    )
    with st.form("interview-form", border=False):
        candidate = st.text_input("Candidate's name", max_chars=60, key="interview-candidate")
        length = st.segmented_control(
            "Length", drills.MOCK_MINUTES, default=45, format_func=lambda m: f"{m} min", key="interview-minutes"
        )
        opened = st.form_submit_button("Open the interview", type="primary", icon=":material/co_present:")
    if opened:
        name = normalize_learner(candidate)
        if name is None:
            st.warning("Type the candidate's name first.", icon=":material/edit:")
        else:
            open_drill(drills.new_mock(name, info, length or 45, now, interview=True), role="interviewer")

recent = store.drills_of(learner, limit=8)
if recent:
    st.subheader("Your recent drills", divider="gray")
    for row in recent:
        state = drills.Drill.from_dict(row["state"])
        status = "done" if state.finished_at else "in progress"
        when = time.strftime("%d %b %H:%M", time.localtime(row["created_at"]))
        st.page_link(
            "views/drill.py",
            label=f"{TITLES.get(row['kind'], 'Drill')} · {when} · {state.position} answered · {status}",
            icon=":material/history:",
            query_params={"drill": row["id"]},
        )
