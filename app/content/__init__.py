"""Lessons and question banks: pydantic models, the YAML loader and the code-reference resolver.

No streamlit here (a test enforces it): the CLI and the tests use this package directly.
"""
