"""Learners: who answered what, when each question comes back for review, drills and progress.

No streamlit here (a test enforces it). `store` keeps attempts, lesson events, review cards and
drills behind SQLAlchemy (SQLite in the data folder by default, PostgreSQL through `DATABASE_URL`);
`schedule` turns a learner's attempts at one question into an FSRS card; `drills` holds the state
of retrieval drills and mock interviews; `progress` computes what the Progress and Class pages show.
"""
