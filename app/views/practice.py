"""Practice: every question of every bank, filtered by topic, kind and difficulty. /practice?q=ID opens one."""

import streamlit as st

from app.content.quiz_models import DIFFICULTIES, KINDS
from app.grading.bank import load_questions, topic_title
from app.grading.bank import question as served_question
from app.learners.store import read_attempts
from app.widgets.identity import learner_or_default
from app.widgets.isolate import isolated
from app.widgets.quiz import KIND_LABELS, question_labels, render_question
from app.words import counted

# The list needs every question's schema, not every bank's reference code run (seconds, torch):
# the question on screen is checked against its code alone, below.
questions = load_questions(check_code=False)

st.title("Practice")
st.markdown(
    "Interview questions and coding drills, graded against the code: numeric answers are computed by the "
    "same functions the lessons show, and your code runs in a sandbox against the reference."
)
if questions.skipped:
    st.warning(
        f"Some question banks do not validate and are skipped: {', '.join(questions.skipped)}. "
        "`make validate` says why.",
        icon=":material/error:",
    )

topics = sorted({q.topic.value for q in questions.by_id.values() if q.topic}, key=lambda t: topic_title(t))
with st.container(border=True):
    chosen_topics = st.multiselect(
        "Topics", topics, format_func=topic_title, placeholder="All topics", key="practice-topics"
    )
    chosen_kinds = st.pills(
        "Kinds",
        list(KINDS),
        selection_mode="multi",
        format_func=lambda k: KIND_LABELS[k][0],
        key="practice-kinds",
    )
    chosen_levels = st.pills("Difficulty", list(DIFFICULTIES), selection_mode="multi", key="practice-levels")
    search = st.text_input("Search questions", placeholder="Words from a title, a tag or an id", key="practice-search")

matching = questions.filter(chosen_topics, chosen_kinds, chosen_levels)
titles = question_labels(list(questions.by_id.values()))
if search.strip():
    words = search.casefold().split()
    matching = [
        q
        for q in matching
        if all(w in f"{titles[q.id]} {q.id} {' '.join(q.tags)} {q.prompt}".casefold() for w in words)
    ]
ids = [q.id for q in matching]
requested = st.query_params.get("q")  # a deep link opens that question (no filter is set on arrival)
if requested not in ids:
    requested = None

if not ids:
    st.info("No question matches these filters.")
    st.stop()

st.caption(f"{counted(len(ids), 'question')} {'matches' if len(ids) == 1 else 'match'}.")
index = ids.index(requested) if requested in ids else 0


def _label(question_id: str) -> str:
    return f"{titles[question_id]} · {KIND_LABELS[questions.by_id[question_id].kind][0]}"


selected = st.selectbox("Question", ids, index=index, format_func=_label, key=f"practice-pick-{requested}")
st.query_params["q"] = selected  # always: the address names the question on screen

left, right = st.columns(2)
position = ids.index(selected)
with left:
    if position > 0 and st.button("Previous", icon=":material/arrow_back:", key="practice-prev"):
        st.query_params["q"] = ids[position - 1]
        st.rerun()
with right:
    if position + 1 < len(ids) and st.button("Next", icon=":material/arrow_forward:", key="practice-next"):
        st.query_params["q"] = ids[position + 1]
        st.rerun()

question = served_question(selected)
learner = learner_or_default()
if question is None:
    st.warning(
        f"Question `{selected}` fails its checks against the reference code and is not served until it is "
        "fixed; `make validate` says why. The other questions work.",
        icon=":material/error:",
    )
else:
    with isolated(f"Question `{selected}`"):
        render_question(question, key=f"practice-{selected}", learner=learner)

history = read_attempts(selected, learner=learner)
if history:
    right_answers = sum(1 for a in history if a.get("correct") and not a.get("self_graded"))
    st.caption(f"Your attempts at this question: {len(history)}, {right_answers} graded correct.")
