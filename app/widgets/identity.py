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

from app.learners.identity import AuthConfigError, anonymous_key, auth_mode, normalize_learner

SESSION_KEY = "learner"
PARAM = "learner"


def oidc_configured() -> bool:
    return "is_logged_in" in st.user  # Streamlit adds the key only when [auth] is in the secrets


def current_mode() -> str:
    """RLDOJO_AUTH as it applies to this server (`auth_gate` has said so when it cannot apply)."""
    return auth_mode(st.get_option("server.address"), oidc_configured())


def auth_gate() -> None:
    """On every page: stop with what to set when the auth settings cannot be used (RLDOJO_AUTH unset
    on a server that listens beyond localhost, an unknown mode, OIDC without its secrets)."""
    try:
        mode = current_mode()
    except AuthConfigError as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
        return
    if mode == "oidc" and not oidc_configured():
        st.error(
            "RLDOJO_AUTH=oidc needs your identity provider in `[auth]` of `.streamlit/secrets.toml`.",
            icon=":material/lock:",
        )
        st.stop()


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
    mode = current_mode()
    if mode == "oidc":  # `?learner=` is ignored: the identity provider says who this is
        if not oidc_configured() or not st.user.get("is_logged_in"):
            return None
        return normalize_learner(str(st.user.get("email") or st.user.get("name") or st.user.get("sub") or ""))
    if mode == "builtin":  # `?learner=` is ignored: an invite link or a password logs this browser in
        from app.learners import auth

        token = st.query_params.get("invite")
        if token:
            del st.query_params["invite"]  # one use; and it must not stay in the address bar or a bookmark
            if auth.redeem_invite(token, browser_id()) is None:
                st.session_state["invite-refused"] = True
        found = auth.session(browser_id())
        return found.name if found else None
    from_url = normalize_learner(st.query_params.get(PARAM))
    if from_url:
        st.session_state[SESSION_KEY] = from_url
        return from_url
    name = normalize_learner(st.session_state.get(SESSION_KEY))
    if name:  # keep it in the URL so a reload or a bookmark keeps the learner
        st.query_params[PARAM] = name
    return name


def can_open_class(learner: str | None) -> bool:
    """An instructor, authenticated by the mode in force (under `none`: a name in RLDOJO_INSTRUCTORS)."""
    from app.learners import auth

    return auth.is_authenticated_instructor(current_mode(), learner)


def _login_form(purpose: str) -> None:
    from app.learners import auth

    if st.session_state.pop("invite-refused", False):
        st.warning(
            "This invite link was used already or has expired: ask your instructor for a new one.",
            icon=":material/link_off:",
        )
    with st.form("login-form", border=True):
        st.markdown(f"**Log in** to {purpose}, with the password your instructor set, or open your invite link.")
        name = st.text_input("Name", max_chars=60, key="login-name")
        password = st.text_input("Password", type="password", key="login-password")
        go = st.form_submit_button("Log in", type="primary", icon=":material/login:")
    if go:
        if auth.login(name, password, browser_id()):
            st.rerun()
        st.error("Wrong name or password.", icon=":material/error:")
    st.stop()


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
    if current_mode() == "builtin":
        _login_form(purpose)
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
        if current_mode() == "builtin":
            if st.button("Log out", key="learner-logout", icon=":material/logout:"):
                from app.learners import auth

                auth.logout(browser_id())
                st.rerun()
        elif not oidc_configured() and st.button("Switch learner", key="learner-switch", icon=":material/swap_horiz:"):
            st.session_state.pop(SESSION_KEY, None)
            st.query_params.pop(PARAM, None)
            st.rerun()
        elif oidc_configured() and st.button("Log out", key="learner-logout", icon=":material/logout:"):
            st.logout()


def learner_store_exists() -> bool:
    """Whether a learner database may hold anything: DATABASE_URL names one, or the SQLite file exists.
    False on a first visit to a new server, so a page can skip the database import (SQLAlchemy)."""
    import os

    from app.settings import DATABASE_URL_ENV, data_dir

    return bool(os.environ.get(DATABASE_URL_ENV)) or (data_dir() / "learners.sqlite").exists()


def sidebar_store_notice() -> None:
    """On every page: a short line in the sidebar while the learner database is damaged."""
    if not learner_store_exists():
        return  # nothing stored yet: nothing to check (and no database import on a first visit)
    from app.learners import db

    if db.problem():
        st.sidebar.warning(
            "Your answers cannot be saved: the learner database is damaged. Open **Progress** for what to do.",
            icon=":material/database:",
        )


def guard_drill(drill_id: str, role: str | None) -> None:
    """Under any mode but `none`, a drill opens only for its learner, or an authenticated instructor;
    its interviewer view (the answer key) only for an instructor. Anything else stops the page."""
    if current_mode() == "none":
        return  # a laptop: whoever has the address may open it, as before
    learner = require_learner("open this drill")
    from app.learners import store

    row = store.load_drill(drill_id)
    if row is None:
        return  # the drill page says there is no such drill
    instructor = can_open_class(learner)
    mine = str(row["learner"]).casefold() == learner.casefold()
    if instructor or (mine and role != "interviewer"):
        return
    st.error(
        "This drill's answer key is for an instructor."
        if mine
        else "This drill belongs to another learner: only they, or an instructor, can open it.",
        icon=":material/lock:",
    )
    st.stop()
