"""RL Dojo's entry point: page setup and navigation, nothing else."""

import sys
from pathlib import Path

# `streamlit run app/main.py` puts app/ on sys.path; our imports are rooted at the repository.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.widgets import style  # noqa: E402

st.set_page_config(page_title="RL Dojo", page_icon=":material/sports_martial_arts:", layout="centered")
style.apply()  # focus ring, reduced motion, keyboard access to wide formulas (docs/accessibility.md)

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/lesson.py", title="Lessons", icon=":material/menu_book:", url_path="lesson"),
    st.Page("views/runs.py", title="Runs", icon=":material/monitoring:", url_path="runs"),
    st.Page("views/practice.py", title="Practice", icon=":material/quiz:", url_path="practice"),
    st.Page("views/review.py", title="Review", icon=":material/event_repeat:", url_path="review"),
    st.Page("views/drill.py", title="Drill", icon=":material/fitness_center:", url_path="drill"),
    st.Page("views/progress.py", title="Progress", icon=":material/insights:", url_path="progress"),
    st.Page("views/class_page.py", title="Class", icon=":material/groups:", url_path="class"),
]

page = st.navigation(PAGES)
from app.widgets.identity import auth_gate, sidebar_store_notice  # noqa: E402

auth_gate()  # RLDOJO_AUTH: who may be whom; a server open beyond localhost needs a login mode
sidebar_store_notice()  # a damaged learner database is said on every page; lessons keep working
page.run()
