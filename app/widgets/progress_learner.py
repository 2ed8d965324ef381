"""Who is the learner on this page: the OIDC user where the deployment has `[auth]` configured,
else a name typed once and kept in the URL (`?learner=NAME`) and the session.

Pages that belong to a learner (Review, Drill, Progress) call `require_learner()`, which asks for a
name and stops the page until there is one; the Practice page and lessons call `known_learner()`,
which never asks. Answers and runs before a name is given belong to this browser
(`learner_or_default()`: an anonymous key derived from a hash of the browser's Streamlit cookie,
the same in every tab and after a reload), and move to the learner when a name is given.
"""

from __future__ import annotations

import hashlib
import uuid

import streamlit as st

from app.learners.identity import anonymous_key, normalize_learner

SESSION_KEY = "learner"
PARAM = "learner"


def oidc_configured() -> bool:
    return "is_logged_in" in st.user  # Streamlit adds the key only when [auth] is in the secrets


BROWSER_COOKIE = "_streamlit_xsrf"  # set by Streamlit on every page load, shared by the browser's tabs


def _cookie_token(value: str) -> bytes:
    """The token inside Streamlit's XSRF cookie (`2|mask|masked|time`, re-masked on every load)."""
    parts = value.strip("\"'").split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError:
            return value.encode()
        if mask:
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
    return value.encode()


def browser_id() -> str:
    """This browser, the same in every tab and after a reload: a hash of the token in Streamlit's
    cookie (never the token itself); a random id for the session where there is no cookie."""
    try:
        cookie = st.context.cookies.get(BROWSER_COOKIE)
    except Exception:  # no request context (a bare script run)
        cookie = None
    if isinstance(cookie, str) and cookie:
        return hashlib.sha256(b"rldojo-browser:" + _cookie_token(cookie)).hexdigest()[:20]
    return st.session_state.setdefault("browser-id", uuid.uuid4().hex[:20])


def _claim(name: str) -> None:
    """When a name is first given in this browser, its anonymous answers and runs move to it."""
    anonymous = anonymous_key(browser_id())
    if st.session_state.get("learner-claimed") == (anonymous, name):
        return
    st.session_state["learner-claimed"] = (anonymous, name)
    try:
        from app.learners import store

        store.claim_anonymous(anonymous, name)
    except Exception:  # a damaged or read-only store: the page says so elsewhere
        pass
    try:
        from app.runs.store import RunStore

        RunStore().reassign(anonymous, name)
    except Exception:
        pass


def known_learner() -> str | None:
    """The learner if known, without asking."""
    name = _known_learner()
    if name:
        _claim(name)
    return name


def _known_learner() -> str | None:
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
    """The learner, or this browser's anonymous key until a name is given."""
    return known_learner() or anonymous_key(browser_id())


def store_problem_notice(stop: bool) -> None:
    """Say so when the learner database is damaged (what happened, what to do); `stop` the page
    when it cannot work without it."""
    from app.learners import db

    problem = db.problem()
    if problem:
        st.error(problem, icon=":material/database:")
        if stop:
            st.stop()


def require_learner(purpose: str = "keep your progress") -> str:
    """The learner; when unknown, a small sign-in form and `st.stop()`. A damaged learner database
    stops the page with what to do (these pages cannot work without it)."""
    store_problem_notice(stop=True)
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


def sidebar_store_notice() -> None:
    """On every page: a short line in the sidebar while the learner database is damaged."""
    import os

    from app.grading.attempts import data_dir

    if not os.environ.get("DATABASE_URL") and not (data_dir() / "learners.sqlite").exists():
        return  # nothing stored yet: nothing to check (and no database import on a first visit)
    from app.learners import db

    if db.problem():
        st.sidebar.warning(
            "Your answers cannot be saved: the learner database is damaged. Open **Progress** for what to do.",
            icon=":material/database:",
        )
