"""Review: the questions the FSRS schedule says are due, newest mistakes first, one at a time."""

import time

import streamlit as st

from app.grading.bank import load_questions, topic_title
from app.learners import store
from app.learners.progress import WEEK_S, end_of_day, review_queue
from app.widgets.drill import due_in_words
from app.widgets.identity import learner_badge, require_learner
from app.widgets.quiz import KIND_LABELS, question_label, render_question
from app.words import counted

st.title("Review")
learner = require_learner("keep a review schedule")
learner_badge(learner)
questions = load_questions()

now = time.time()
cards = [c for c in store.cards(learner) if questions.get(c.question_id) is not None]
pinned = st.session_state.get("review-current")  # (learner, question id, reps): on screen until "Next"
if pinned is not None and (pinned[0] != learner or questions.get(pinned[1]) is None):
    pinned = None  # another learner, or a question gone from the bank
queue = review_queue(cards, now)

left, middle, right = st.columns(3)
left.metric("Due now", len(queue))
middle.metric("Due today", sum(c.due <= end_of_day(now) for c in cards))
right.metric("Due this week", sum(c.due <= now + WEEK_S for c in cards))

if not cards:
    st.info(
        "No review cards yet. Every question you answer on **Practice**, in a lesson or in a drill becomes a "
        "card, and comes back here when the schedule says you are about to forget it.",
        icon=":material/event_available:",
    )
    st.page_link("views/practice.py", label="Practice questions", icon=":material/quiz:")
    st.stop()

if pinned is None and queue:
    pinned = (learner, queue[0].question_id, queue[0].reps)
    st.session_state["review-current"] = pinned

if pinned is None:
    soonest = min(cards, key=lambda c: c.due)
    st.success(
        f"Nothing is due right now. The next card comes back {due_in_words(soonest.due, now)}.",
        icon=":material/task_alt:",
    )
else:
    _, question_id, reps = pinned
    question = questions.get(question_id)
    card = next((c for c in cards if c.question_id == question_id), None)
    if card is not None and card.reps > 0:
        mark = "last time: missed" if not card.last_correct else f"seen {counted(card.reps, 'time')}"
        st.caption(f":material/history: {mark}")
    render_question(question, key=f"review-{question_id}-{reps}", learner=learner, seed=1000 + reps, allow_retry=False)
    fresh = next((c for c in store.cards(learner) if c.question_id == question_id), None)  # after this answer
    answered = fresh is not None and fresh.reps > reps
    label = "Next card" if answered else "Skip for now"
    if st.button(
        label, type="primary" if answered else "secondary", icon=":material/arrow_forward:", key="review-next"
    ):
        st.session_state.pop("review-current", None)
        rest = [c for c in queue if c.question_id != question_id]
        if rest:
            st.session_state["review-current"] = (learner, rest[0].question_id, rest[0].reps)
        st.rerun()

upcoming = [c for c in cards if c.due > now][:10]
if upcoming:
    with st.expander("Coming up", icon=":material/event:"):
        for c in upcoming:
            q = questions.get(c.question_id)
            st.markdown(
                f"- {KIND_LABELS[q.kind][0]} · {question_label(q, 70)} · {topic_title(q.topic)} · "
                f"**{due_in_words(c.due, now)}**"
            )
