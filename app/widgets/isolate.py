"""One part of a page that fails is reported in its place; the parts after it are still drawn."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

log = logging.getLogger(__name__)


@contextmanager
def isolated(what: str) -> Iterator[None]:
    """Run the body; an exception in it becomes one error box naming `what`, never a traceback.

    Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and passes through."""
    try:
        yield
    except Exception as exc:
        log.exception("%s failed", what)
        st.error(
            f"{what} could not be shown: {type(exc).__name__}: {exc}. The rest of the page still works.",
            icon=":material/error:",
        )
