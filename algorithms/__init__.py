"""RL Dojo's reinforcement-learning library.

Pure numpy / torch / gymnasium: nothing here imports streamlit or anything from `app/`
(a test enforces it). Lessons show this code, and quizzes grade against it.
"""
