"""Home: the catalogue of lessons, grouped by track."""

import streamlit as st

from app.content.loader import load_catalogue
from app.widgets.catalogue import lesson_card, problems_panel

catalogue = load_catalogue()

st.title("RL Dojo")
st.markdown(
    "Reinforcement learning from the Bellman equation to RLHF, with **the code that runs** beside every idea. "
    "Read a lesson, move its sliders, and drill the questions interviewers ask."
)

if not catalogue.lessons:
    st.info("No lessons yet. Add a YAML file to `lessons/` (see `lessons/README.md`).")

for track, entries in catalogue.by_track().items():
    st.subheader(track, divider="gray")
    for entry in entries:
        lesson_card(entry, catalogue)

problems_panel(catalogue)
