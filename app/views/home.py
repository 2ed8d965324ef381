"""Home: where to start or continue, a search over lessons, and the catalogue grouped by track."""

import streamlit as st

from app.content.loader import load_catalogue
from app.widgets.catalogue import lesson_card, lesson_link, lesson_matches, next_lesson, problems_panel
from app.widgets.identity import learner_or_default, learner_store_exists

catalogue = load_catalogue()

st.title("RL Dojo")
st.markdown(
    "Reinforcement learning from the Bellman equation to RLHF, with **the code that runs** beside every idea. "
    "Read a lesson, move its sliders, and drill the questions interviewers ask."
)

if not catalogue.lessons:
    st.info("No lessons yet. Add a YAML file to `lessons/` (see `lessons/README.md`).")

done, history = set(), []
try:
    if learner_store_exists():  # nothing stored yet (a new server): no database import (SQLAlchemy) for Home
        from app.learners import store

        done = store.lessons_done(learner_or_default())
        history = store.events(learner_or_default(), store.LESSON_DONE)
except Exception as exc:  # a database that is down must not take the catalogue with it
    st.caption(f":material/warning: Progress is not available: {exc}")
    done, history = set(), []

upcoming = next_lesson(catalogue, done, [e["subject"] for e in history])
if upcoming is not None:
    with st.container(border=True, key="home-next"):
        if done:
            st.caption(f"Continue where you left off · {len(done)} of {len(catalogue.lessons)} lessons done")
        else:
            st.caption("New here? Start with the first lesson: every later one builds on it.")
        entry = catalogue.lessons[upcoming]
        lesson_link(catalogue, upcoming, label=f"**{entry.title}**", icon=":material/play_circle:")
        if entry.lesson is not None:
            st.markdown(entry.lesson.summary)
elif done:
    st.success("You have marked every lesson done. Keep them fresh in Review and Practice.", icon=":material/task_alt:")

query = st.text_input(
    "Search lessons", placeholder="A word from a title, a summary or a tag: PPO, gamma, reward…", key="home-search"
)
shown = 0
for track, entries in catalogue.by_track().items():
    entries = [e for e in entries if lesson_matches(e, query)]
    if not entries:
        continue
    st.subheader(track, divider="gray")
    for entry in entries:
        lesson_card(entry, catalogue, done=entry.id in done)
        shown += 1
if query.strip() and not shown:
    st.info(f"No lesson mentions “{query.strip()}”.", icon=":material/search_off:")

problems_panel(catalogue)
