"""Grading: question banks as the grader sees them, the graders of each kind, the sandbox for learners' code.

No streamlit here (a test enforces it): the app's widgets, the CLI (`python -m app.grading`) and the
tests all call this package.
"""
