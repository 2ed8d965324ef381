"""Live source code with real line numbers, highlighted by pygments."""

from __future__ import annotations

import functools
import html

import streamlit as st
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from app.content.coderef import CodeRef, CodeRefError, CodeSnippet, resolve

_LEXER = PythonLexer(stripnl=False, ensurenl=True)  # keep blank lines: numbers must line up
_FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style="xcode")  # xcode: every token colour >= 4.5:1 on the box
_BOX = (
    "border:1px solid rgba(49,51,63,0.15);border-radius:0.5rem;overflow:hidden;margin:0.25rem 0 0.75rem 0;"
    "background:#fafafa"
)
_HEAD = (
    "font-family:'Source Sans Pro',sans-serif;font-size:0.8rem;color:#555;padding:0.35rem 0.75rem;"
    "border-bottom:1px solid rgba(49,51,63,0.1);background:#f0f2f6"
)
_PRE = (
    "margin:0;padding:0.6rem 0.75rem;overflow-x:auto;font-size:0.85rem;line-height:1.45;background:#fafafa;"
    "color:#1f2430"  # explicit: in the dark theme the page's light text colour would be inherited
)
_NUM = "display:inline-block;width:3.2em;color:#5f6570;user-select:none;text-align:right;margin-right:1em"


@functools.lru_cache(maxsize=1024)
def snippet_html(snippet: CodeSnippet) -> str:
    """One <pre> whose lines carry the file's real line numbers (gaps where markers were).

    Remembered per snippet (the source's text and line numbers are part of it, so an edit is a new
    one): pygments took 0.5 s of the PPO lesson's first render, and a lesson reruns on every click."""
    highlighted = highlight(snippet.text, _LEXER, _FORMATTER).rstrip("\n").split("\n")
    rows = [
        f'<span style="{_NUM}">{number}</span>{code}'
        for (number, _), code in zip(snippet.lines, highlighted, strict=True)
    ]
    where = f"{snippet.path} · lines {snippet.first_line}–{snippet.last_line}"
    title = html.escape(str(snippet.ref))
    return (
        f'<div class="rld-code" style="{_BOX}"><div style="{_HEAD}" title="{title}">'
        f'<code style="background:none;padding:0">{html.escape(where)}</code></div>'
        # tabindex and a label: a wide panel scrolls sideways, and a keyboard user must be able to reach it.
        f'<pre style="{_PRE}" tabindex="0" role="region" aria-label="Code: {html.escape(where)}">'
        '<code style="background:none;padding:0">' + "\n".join(rows) + "</code></pre></div>"
    )


def render_code(reference: str, caption: str | None = None, *, key: str) -> None:
    """The listing of `reference`; for a region, the whole function under it, drawn when opened.

    `key` names the listing on its page (its "whole function" panel keeps its open state under it)."""
    try:
        snippet = resolve(reference)
    except CodeRefError as exc:
        st.error(f"Code reference `{reference}` does not resolve: {exc}", icon=":material/link_off:")
        return
    st.html(snippet_html(snippet))
    if caption:
        st.caption(caption)
    if snippet.ref.region:
        whole = CodeRef(snippet.ref.module, snippet.ref.qualname)
        # Drawn only once the learner opens it (the expander reruns the page then): hidden, the whole
        # functions under PPO's ten listings were 240 KB of highlighted HTML that every first visit
        # parsed, and about 1.8 s of its 5 s first render (docs/benchmarks.md, session 8).
        panel = st.expander(f"The whole of `{whole.qualname}`", key=f"{key}-whole", on_change="rerun")
        if panel.open:
            with panel:
                st.html(snippet_html(resolve(whole)))
