"""Who is the learner on this page: the OIDC user where the deployment has `[auth]` configured,
else a name typed once and kept in the URL (`?learner=NAME`) and the session.

Pages that belong to a learner (Review, Drill, Progress) call `require_learner()`, which asks for a
name and stops the page until there is one; the Practice page and lessons call `known_learner()`,
which never asks (answers before a name is given are recorded as `local`).
"""

from __future__ import annotations

import streamlit as st

from app.grading.attempts import DEFAULT_LEARNER
from app.learners.identity import normalize_learner

SESSION_KEY = "learner"
PARAM = "learner"


def oidc_configured() -> bool:
    return "is_logged_in" in st.user  # Streamlit adds the key only when [auth] is in the secrets


def known_learner() -> str | None:
    """The learner if known, without asking."""
    if oidc_configured():
        if not st.user.get("is_logged_in"):
            return None
        return normalize_learner(str(st.user.get("email") or st.user.get("name") or st.user.get("sub") or ""))
    from_url = normalize_learner(st.query_params.get(PARAM))
    if from_url:
        st.session_state[SESSION_KEY] = from_url
        return from_url
    name = normalize_learner(st.session_state.get(SESSION_KEY))
    if name:  # keep it in the URL so a reload or a bookmark keeps the learner
        st.query_params[PARAM] = name
    return name


def learner_or_default() -> str:
    return known_learner() or DEFAULT_LEARNER


def require_learner(purpose: str = "keep your progress") -> str:
    """The learner; when unknown, a small sign-in form and `st.stop()`."""
    name = known_learner()
    if name:
        return name
    if oidc_configured():
        st.info(f"Log in to {purpose}.", icon=":material/login:")
        if st.button("Log in", type="primary", icon=":material/login:", key="learner-login"):
            st.login()
        st.stop()
    with st.form("learner-form", border=True):
        st.markdown(f"**Who is learning?** Type a name to {purpose}. It stays in the page's address.")
        typed = st.text_input("Your name", max_chars=60, key="learner-name-input")
        go = st.form_submit_button("Start", type="primary", icon=":material/arrow_forward:")
    if go:
        name = normalize_learner(typed)
        if name:
            st.session_state[SESSION_KEY] = name
            st.query_params[PARAM] = name
            st.rerun()
        st.warning("Type a name first.", icon=":material/edit:")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def learner_badge(name: str) -> None:
    """A line in the sidebar: who is learning, and a way to switch."""
    with st.sidebar:
        st.caption(f":material/person: Learning as **{name}**")
        if not oidc_configured() and st.button("Switch learner", key="learner-switch", icon=":material/swap_horiz:"):
            st.session_state.pop(SESSION_KEY, None)
            st.query_params.pop(PARAM, None)
            st.rerun()
        elif oidc_configured() and st.button("Log out", key="learner-logout", icon=":material/logout:"):
            st.logout()
