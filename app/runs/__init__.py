"""Background training runs: the manager, the worker process, and the SQLite store of their metrics.

No streamlit here (a test enforces it); pages poll the store.
"""
