"""Issue 13, "anyone is anyone": RLDOJO_AUTH. One test per rule: `none` is the default only on
localhost; under any other mode `?learner=` is ignored, the Class page needs an authenticated
instructor and nobody reads another learner's answers; invite links work once and expire;
passwords are argon2-hashed; sessions expire; names are normalised before any comparison."""

from __future__ import annotations

import time

import pytest
import streamlit as st
from streamlit import config

from app.learners import auth, db, store
from app.learners.identity import AuthConfigError, auth_mode
from tests.app.learners.test_learner_pages import MAIN, button, metric, open_page, texts


@pytest.fixture(autouse=True)
def no_auth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RLDOJO_AUTH", raising=False)
    monkeypatch.delenv("RLDOJO_SESSION_HOURS", raising=False)


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "::1", " LOCALHOST "])
def test_none_is_the_default_on_localhost(address: str) -> None:
    assert auth_mode(address) == "none"


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "10.1.2.3", "rldojo.example.org"])
def test_a_server_beyond_localhost_must_choose_a_mode(address: str | None, monkeypatch) -> None:
    with pytest.raises(AuthConfigError, match="RLDOJO_AUTH is not set"):
        auth_mode(address)
    assert auth_mode(address, oidc_configured=True) == "oidc"  # as before: [auth] in the secrets means OIDC
    for mode in ("none", "oidc", "builtin"):
        monkeypatch.setenv("RLDOJO_AUTH", f" {mode.upper()} ")
        assert auth_mode(address) == mode
    monkeypatch.setenv("RLDOJO_AUTH", "password")
    with pytest.raises(AuthConfigError, match="must be one of none, oidc, builtin; it is 'password'"):
        auth_mode("localhost")


def test_every_page_stops_with_what_to_set_on_an_open_server(monkeypatch) -> None:
    before = st.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")  # as `streamlit run --server.address 0.0.0.0` would
    try:
        at = open_page("views/progress.py", learner="ada")
        assert not at.exception
        assert "RLDOJO_AUTH is not set" in at.error[0].value and "Progress" not in [t.value for t in at.title]
    finally:
        config.set_option("server.address", before)


def test_passwords_are_argon2_hashed_and_checked(data_dir) -> None:
    auth.add_account("Ada Lovelace", password="correct horse")
    with db.reading() as conn:
        stored = conn.execute(db.accounts.select()).first()
    assert stored.password_hash.startswith("$argon2id$") and "correct horse" not in stored.password_hash
    assert auth.login("ada lovelace", "correct horse", "browser-1") == "Ada Lovelace"  # normalised, no case
    assert auth.login("  ADA\x01  LOVELACE ", "correct horse", "browser-2") == "Ada Lovelace"
    assert auth.login("Ada Lovelace", "wrong", "browser-3") is None
    assert auth.login("Nobody", "correct horse", "browser-4") is None
    assert auth.session("browser-1").name == "Ada Lovelace" and auth.session("browser-3") is None


def test_names_are_unique_without_case(data_dir) -> None:
    first = auth.add_account("Ada", instructor=False)
    again = auth.add_account("  ADA ", instructor=True)
    assert first.name == again.name == "Ada" and again.instructor
    with pytest.raises(ValueError, match="not a usable name"):
        auth.add_account("\x00\x01")


def test_an_invite_link_works_once_and_expires(data_dir) -> None:
    token = auth.create_invite("Grace")
    assert auth.redeem_invite(token, "browser-a") == "Grace"
    assert auth.redeem_invite(token, "browser-b") is None  # one use
    assert auth.redeem_invite("forged-token", "browser-b") is None
    old = auth.create_invite("Grace", hours=-1)
    assert auth.redeem_invite(old, "browser-c") is None  # expired
    with db.reading() as conn:
        hashes = [row.token_hash for row in conn.execute(db.invites.select())]
    assert token not in hashes  # only the token's hash is stored


def test_sessions_expire(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_SESSION_HOURS", "0.0001")  # 0.36 s
    auth.add_account("Ada", password="correct horse")
    assert auth.login("Ada", "correct horse", "b1") == "Ada"
    assert auth.session("b1") is not None
    time.sleep(0.5)
    assert auth.session("b1") is None
    auth.logout("b1")


def _builtin_page(page: str, browser: str = "tab-under-test", **params: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page(page)
    at.session_state["browser-id"] = browser  # AppTest sends no cookie: this stands in for the browser
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_under_builtin_the_url_name_is_ignored(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_AUTH", "builtin")
    store.record_attempt("bob", "markov-property", "choice", True, 1.0)
    at = _builtin_page("views/progress.py", learner="bob")
    assert not at.exception
    assert "Log in" in texts(at) and not at.metric  # bob's answers are not shown to whoever typed his name
    for mode in ("oidc",):
        monkeypatch.setenv("RLDOJO_AUTH", mode)
        at = _builtin_page("views/progress.py", learner="bob")
        assert not at.exception and not at.metric  # no identity provider configured: it says so and stops


def test_under_builtin_a_learner_sees_only_their_own_answers(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_AUTH", "builtin")
    store.record_attempt("Ada", "markov-property", "choice", True, 1.0)
    store.record_attempt("bob", "markov-property", "choice", False, 0.0)
    store.record_attempt("bob", "discount-factor", "choice", False, 0.0)
    token = auth.create_invite("Ada")
    at = _builtin_page("views/progress.py", invite=token, learner="bob")
    assert not at.exception
    assert "invite" not in at.query_params  # the one-time token leaves the address bar
    assert metric(at, "Answers") == "1"  # Ada's one answer, whatever ?learner= says
    assert "Learning as **Ada**" in "\n".join(c.value for c in at.sidebar.caption)


def test_class_needs_an_authenticated_instructor(data_dir, monkeypatch) -> None:
    store.record_attempt("ada", "markov-property", "choice", True, 1.0)
    monkeypatch.setenv("RLDOJO_INSTRUCTORS", "Teach")
    monkeypatch.setenv("RLDOJO_AUTH", "builtin")
    at = _builtin_page("views/class_page.py", learner="teach")  # naming an instructor is not being one
    assert not at.exception and not at.dataframe
    auth.add_account("Student", password="a password")
    at = _builtin_page("views/class_page.py")
    at.text_input(key="login-name").input("student")
    at.text_input(key="login-password").input("a password")
    button(at, "Log in").click().run()
    assert not at.exception
    assert "This page is for instructors" in texts(at) and not at.dataframe
    auth.add_account("Prof", password="another one", instructor=True)
    at = _builtin_page("views/class_page.py", browser="the-professors-browser")
    at.text_input(key="login-name").input(" PROF ")
    at.text_input(key="login-password").input("another one")
    button(at, "Log in").click().run()
    assert not at.exception
    assert metric(at, "Learners") == "1" and list(at.dataframe[0].value["learner"]) == ["ada"]
    again = _builtin_page("views/class_page.py", browser="the-professors-browser")  # a reload: still logged in
    assert not again.exception and again.dataframe
    button(again, "Log out").click().run()
    assert not again.exception and not again.dataframe and "Log in" in texts(again)


def test_a_wrong_password_is_refused_on_the_page(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_AUTH", "builtin")
    auth.add_account("Prof", password="another one", instructor=True)
    at = _builtin_page("views/review.py")
    at.text_input(key="login-name").input("Prof")
    at.text_input(key="login-password").input("guess")
    button(at, "Log in").click().run()
    assert not at.exception
    assert "Wrong name or password." in [e.value for e in at.error]


def test_the_command_line_issues_invites_and_passwords(data_dir, monkeypatch, capsys) -> None:
    assert auth.main(["invite", "Ada", "--instructor", "--base-url", "https://dojo.example.org/"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://dojo.example.org/?invite=")
    assert auth.redeem_invite(link.split("=", 1)[1], "b") == "Ada" and auth.account("ada").instructor
    monkeypatch.setenv("RLDOJO_PASSWORD", "short")
    assert auth.main(["password", "Ada"]) == 2
    monkeypatch.setenv("RLDOJO_PASSWORD", "long enough")
    assert auth.main(["password", "Ada"]) == 0
    assert auth.login("ADA", "long enough", "b2") == "Ada"


def test_under_builtin_a_drill_opens_only_for_its_learner_or_an_instructor(data_dir, monkeypatch) -> None:
    from app.grading.bank import load_questions
    from app.learners import drills

    monkeypatch.setenv("RLDOJO_AUTH", "builtin")
    info = drills.question_info(load_questions().by_id.values())
    drill = drills.new_mock("Ada", info, 15, now=time.time(), interview=True)
    store.save_drill(drill.id, drill.learner, drill.kind, drill.to_dict())
    for name in ("Ada", "Bob", "Prof"):
        auth.add_account(name, password="a long password", instructor=name == "Prof")
        auth.login(name, "a long password", f"browser-of-{name}")

    def opened(name: str, **params: str):
        at = _builtin_page("views/drill.py", browser=f"browser-of-{name}", drill=drill.id, **params)
        assert not at.exception
        return at, texts(at)

    _, shown = opened("Bob")
    assert "belongs to another learner" in shown  # Bob cannot read Ada's answers or code
    _, shown = opened("Ada")
    assert "Question 1 of" in shown and "Answer key" not in shown and "belongs to another" not in shown
    _, shown = opened("Ada", role="interviewer")
    assert "answer key is for an instructor" in shown
    _, shown = opened("Prof", role="interviewer")
    assert "Answer key" in shown and "belongs to another" not in shown


def test_under_oidc_the_provider_says_who_this_is_and_who_is_an_instructor(data_dir, monkeypatch) -> None:
    """RLDOJO_AUTH=oidc with a logged-in user (Streamlit's `st.user`, faked here as the identity
    provider would fill it): `?learner=` is ignored, and the Class page opens only for a user whose
    provider-given e-mail is in RLDOJO_INSTRUCTORS, however the URL names them."""
    monkeypatch.setenv("RLDOJO_AUTH", "oidc")
    monkeypatch.setenv("RLDOJO_INSTRUCTORS", "Prof@Example.org")
    store.record_attempt("ada@example.org", "markov-property", "choice", True, 1.0)
    store.record_attempt("bob", "markov-property", "choice", False, 0.0)
    store.record_attempt("bob", "discount-factor", "choice", False, 0.0)

    def logged_in(email: str) -> None:
        monkeypatch.setattr(st, "user", {"is_logged_in": True, "email": email, "name": email.split("@")[0]})

    logged_in("ada@example.org")
    at = open_page("views/progress.py", learner="bob")
    assert not at.exception
    assert metric(at, "Answers") == "1"  # Ada's one answer, not bob's two, whatever ?learner= says
    at = open_page("views/class_page.py", learner="prof@example.org")  # naming an instructor is not being one
    assert not at.exception and not at.dataframe and "This page is for instructors" in texts(at)

    logged_in("  PROF@example.ORG ")  # normalised and compared without case
    at = open_page("views/class_page.py", learner="ada@example.org")
    assert not at.exception
    assert sorted(at.dataframe[0].value["learner"]) == ["ada@example.org", "bob"]

    monkeypatch.setattr(st, "user", {"is_logged_in": False})  # the provider's login, not yet done
    at = open_page("views/progress.py", learner="ada@example.org")
    assert not at.exception and not at.metric and "Log in" in texts(at)
