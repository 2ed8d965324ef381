"""How each kind of lesson block is drawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app.content.models import (
    CalloutBlock,
    CodeBlock,
    DemoBlock,
    DiagramBlock,
    InterviewBlock,
    MarkdownBlock,
    MathBlock,
    QuizBlock,
)
from app.grading.bank import question as served_question
from app.widgets.code import render_code
from app.widgets.demos import render_demo
from app.widgets.isolate import isolated
from app.widgets.quiz import render_question
from app.words import counted

_CALLOUTS: dict[str, tuple[Callable[..., Any], str, str]] = {
    "tip": (st.info, ":material/lightbulb:", "Tip"),
    "warning": (st.warning, ":material/warning:", "Careful"),
    "pitfall": (st.warning, ":material/bug_report:", "Pitfall"),
    "interview": (st.success, ":material/record_voice_over:", "In an interview"),
}


def _markdown(block: MarkdownBlock, key: str) -> None:
    st.markdown(block.markdown)


def _math(block: MathBlock, key: str) -> None:
    st.latex(block.math)


def _code(block: CodeBlock, key: str) -> None:
    render_code(block.code, block.caption, key=key)


def _callout(block: CalloutBlock, key: str) -> None:
    draw, icon, default_title = _CALLOUTS[block.kind]
    draw(f"**{block.title or default_title}.** {block.callout}", icon=icon)


def _demo(block: DemoBlock, key: str) -> None:
    render_demo(block.demo, block.params, key)


def _quiz(block: QuizBlock, key: str) -> None:
    # The section is titled (usually "Check yourself"): a second heading would repeat it; say what to expect.
    st.caption(
        f":material/quiz: {counted(len(block.quiz), 'question')}. Each answer is graded at once "
        "and comes back in Review when it is due."
    )
    for qid in block.quiz:
        question = served_question(qid)  # checks this question only, not every bank
        if question is None:
            st.warning(f"Question `{qid}` is not in any valid question bank.", icon=":material/help:")
            continue
        with isolated(f"Question `{qid}`"):  # one failing question never hides the ones after it
            render_question(question, key=f"{key}-{qid}", show_meta=False)


def _interview(block: InterviewBlock, key: str) -> None:
    with st.container(border=True):
        st.markdown(f":material/record_voice_over: **{block.interview}**")
        with st.expander("Answer it out loud first, then reveal a model answer"):
            st.markdown(block.answer)


def _diagram(block: DiagramBlock, key: str) -> None:
    # A DOT string needs no Python graphviz package: Streamlit lays it out in the browser (Graphviz WASM).
    st.graphviz_chart(block.diagram, width="content", alt=block.caption)
    if block.caption:
        st.caption(block.caption)


RENDERERS: dict[type, Callable[[Any, str], None]] = {
    MarkdownBlock: _markdown,
    MathBlock: _math,
    CodeBlock: _code,
    CalloutBlock: _callout,
    DemoBlock: _demo,
    QuizBlock: _quiz,
    InterviewBlock: _interview,
    DiagramBlock: _diagram,
}


def render_block(block: Any, key: str) -> None:
    """Draw one block; if it fails, an error box takes its place and the lesson goes on below it."""
    with isolated(f"This {type(block).__name__.removesuffix('Block').lower()} block"):
        RENDERERS[type(block)](block, key)
