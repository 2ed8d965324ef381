"""A learner runs a short retrieval drill to the end in a real browser: a miss comes back until it is right twice."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.learners import db, store
from app.learners.drills import Drill, Item
from tests.browser.server import streamlit_server
from tests.browser.test_class_drill_in_browser import press_check, see_result_and_go_on

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
DRILL_ID = "browserdrill"
QUESTIONS = ["markov-property", "epsilon-schedule"]


@pytest.fixture(scope="module")
def drill_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own, on a data folder that already holds a drill of two choice questions."""
    data = tmp_path_factory.mktemp("drill-data")
    saved = {name: os.environ.get(name) for name in ("RLDOJO_DATA_DIR", db.DATABASE_URL_ENV)}
    os.environ["RLDOJO_DATA_DIR"] = str(data)
    os.environ.pop(db.DATABASE_URL_ENV, None)
    try:
        drill = Drill(DRILL_ID, "retrieval", "ada", [Item(q, i) for i, q in enumerate(QUESTIONS)], time.time())
        store.save_drill(drill.id, drill.learner, drill.kind, drill.to_dict())
    finally:
        db.dispose_all()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with streamlit_server(data, data / "server.log", **{db.DATABASE_URL_ENV: None}) as url:
        yield f"{url}/drill?drill={DRILL_ID}"


def answer(page: Page, position: int, question_id: str, right: bool) -> None:
    """Answer the drill's question number `position` (from 0). The same question can follow itself,
    so wait for the count of answers to move on, then for a fresh, enabled form."""
    press_check(page, position, question_id, right)
    see_result_and_go_on(page, right)


def test_a_retrieval_drill_runs_to_the_end(page: Page, drill_url: str) -> None:
    page.goto(drill_url)
    expect(page.get_by_role("heading", name="Retrieval drill")).to_be_visible()
    answer(page, 0, "markov-property", right=False)
    answer(page, 1, "epsilon-schedule", right=True)
    expect(page.get_by_text("1 missed so far", exact=False)).to_be_visible()
    answer(page, 2, "markov-property", right=True)  # back, with its options drawn again
    answer(page, 3, "markov-property", right=True)  # right twice: cleared
    expect(page.get_by_text("Drill done: 2 questions, 1 missed at first", exact=False)).to_be_visible()
    expect(page.get_by_role("link", name="Start another drill")).to_be_visible()
