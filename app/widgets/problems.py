"""A broken lesson file, shown in place of the lesson: what is wrong, where, and the lines around it."""

from __future__ import annotations

import streamlit as st

from app.content.loader import LessonEntry
from app.words import counted


def yaml_excerpt(text: str, line: int, context: int = 2) -> str:
    lines = text.splitlines()
    start, end = max(1, line - context), min(len(lines), line + context)
    width = len(str(end))
    return "\n".join(f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}" for n in range(start, end + 1))


def show_problems(entry: LessonEntry) -> None:
    st.error(
        f"This lesson cannot be shown: `{entry.path.name}` has {counted(len(entry.problems), 'problem')}. "
        "Every other lesson still works.",
        icon=":material/error:",
    )
    text = entry.source_text()  # the bounded reader's rules: never a file a link points out to
    for problem in entry.problems:
        with st.container(border=True):
            st.markdown(f"**Line {problem.line}**, `{problem.field}`: {problem.message}")
            if text:
                st.code(yaml_excerpt(text, problem.line), language=None)
    st.caption("Fix the file and reload the page. `make validate` prints the same list.")
