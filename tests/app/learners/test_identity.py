"""Issue 12, who am I: answers given before a name move to the learner when a name is first given,
the Class page never lists an anonymous browser (or the old `local`) as a person, and names are
normalised so a typed name can never reach an anonymous browser's answers."""

from __future__ import annotations

import pytest

from app.learners import store
from app.learners.identity import anonymous_key, is_anonymous, normalize_learner
from app.runs.store import RunStore
from tests.app.learners.test_learner_pages import button, metric, open_page, texts


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("A\x01da", "Ada"),
        ("Ada\u200b", "Ada"),
        ("~browser:abc", "browser:abc"),  # nobody can type their way into a browser's answers
        ("local", None),
        ("LOCAL ", None),
        ("", None),
        ("\x00\x1f", None),
    ],
)
def test_names_are_normalised_and_anonymous_keys_cannot_be_typed(typed: str, stored: str | None) -> None:
    assert normalize_learner(typed) == stored
    assert stored is None or not is_anonymous(stored)


def test_claiming_moves_answers_events_drills_and_cards() -> None:
    anonymous = anonymous_key("b1")
    for qid, ok in [("markov-property", False), ("discount-factor", True), ("markov-property", True)]:
        store.record_attempt(anonymous, qid, "choice", ok, float(ok))
    store.record_event(anonymous, store.LESSON_DONE, "returns-and-discounting")
    store.save_drill("d1", anonymous, "retrieval", {"items": []})
    store.record_attempt("ada", "markov-property", "choice", True, 1.0)  # she had answered before, elsewhere
    assert store.learners() == ["ada"]  # never the anonymous browser
    assert store.learners(include_anonymous=True) == sorted(["ada", anonymous])

    assert store.claim_anonymous(anonymous, "ada") == 3
    assert len(store.attempts("ada")) == 4 and store.attempts(anonymous) == []
    assert store.lessons_done("ada") == {"returns-and-discounting"}
    assert [d["id"] for d in store.drills_of("ada")] == ["d1"]
    cards = {c.question_id: c for c in store.cards("ada")}
    assert set(cards) == {"markov-property", "discount-factor"} and cards["markov-property"].reps == 3
    assert store.cards(anonymous) == []
    assert store.claim_anonymous(anonymous, "ada") == 0  # nothing left: claiming twice is harmless


def test_claiming_refuses_to_move_a_persons_answers() -> None:
    store.record_attempt("bob", "q1", "choice", True, 1.0)
    assert store.claim_anonymous("bob", "ada") == 0  # only anonymous keys are ever claimed
    assert store.claim_anonymous(anonymous_key("b2"), anonymous_key("b3")) == 0
    assert len(store.attempts("bob")) == 1


def test_the_class_page_never_shows_local_or_a_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    store.record_attempt("local", "markov-property", "choice", True, 1.0)  # an older version's anonymous answers
    store.record_attempt(anonymous_key("b9"), "markov-property", "choice", True, 1.0)
    store.record_attempt("ada", "markov-property", "choice", False, 0.0)
    monkeypatch.setenv("RLDOJO_INSTRUCTORS", "teach")
    at = open_page("views/class_page.py", learner="teach")
    assert not at.exception
    assert metric(at, "Learners") == "1"
    assert list(at.dataframe[0].value["learner"]) == ["ada"]


def test_answers_before_a_name_reach_the_learner_when_the_name_is_given(data_dir) -> None:
    at = open_page("views/review.py", learner=None)
    at.session_state["browser-id"] = "tab-1"  # AppTest sends no cookie: the session's own id stands in
    at.run()
    anonymous = anonymous_key("tab-1")
    for qid in ("markov-property", "discount-factor"):
        store.record_attempt(anonymous, qid, "choice", False, 0.0, at=1.0)  # long ago: due for review now
    RunStore().create("r1", "fake-count", {}, anonymous, None)
    assert "Who is learning?" in texts(at)
    at.text_input(key="learner-name-input").input("Ada")
    button(at, "Start").click().run()
    assert not at.exception
    assert "No review cards yet" not in texts(at)
    assert {c.question_id for c in store.cards("Ada")} == {"markov-property", "discount-factor"}
    assert store.attempts(anonymous) == []
    assert [r.id for r in RunStore().list(session="Ada")] == ["r1"]  # her run came with her


def test_the_browser_id_is_the_same_for_every_load_of_one_browser_and_differs_between_browsers() -> None:
    """Streamlit re-masks its XSRF cookie on every page load; the token inside is the browser's."""
    import os

    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    from app.widgets.identity import _cookie_token

    mine, theirs = os.urandom(16), os.urandom(16)
    first, reload = generate_xsrf_token_string(mine), generate_xsrf_token_string(mine)
    assert first != reload  # what the browser sends changes from load to load...
    assert _cookie_token(first) == _cookie_token(reload) == mine  # ...the token inside does not
    assert _cookie_token(generate_xsrf_token_string(theirs)) == theirs
