"""Two Streamlit replicas on two ports sharing one PostgreSQL (issue 13, "several replicas, one class"):
what a learner does on one (an answer, its review card, a run) shows on the other, and an
instructor's Class page on either sees every learner. A real PostgreSQL server (skipped only where
its binaries are absent) and Chromium; both servers use the same data folder, as replicas behind a
load balancer share one (run logs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.grading.bank import load_questions
from tests.browser.server import streamlit_server
from tests.postgres_server import fresh_database, postgres_server

pytestmark = pytest.mark.browser
QUESTION = "markov-property"
LOGS: list[Path] = []


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The two servers' URLs; their logs are one.log and two.log in the shared data folder."""
    with ExitStack() as stack:
        server = stack.enter_context(postgres_server())
        url = fresh_database(server)
        data = tmp_path_factory.mktemp("replica-data")
        env = {
            "DATABASE_URL": url,
            "RLDOJO_INSTRUCTORS": "prof",
            "RLDOJO_PLUGINS": "tests.app.runs.fake_algorithms",
            "RLDOJO_MAX_RUNS": "1",
            "RLDOJO_AUTH": None,
            "RLDOJO_RUNS_BACKEND": None,
        }
        one = stack.enter_context(streamlit_server(data, data / "one.log", **env))
        two = stack.enter_context(streamlit_server(data, data / "two.log", **env))
        LOGS[:] = [data / "one.log", data / "two.log"]
        yield one, two


def metric(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def answer_choice(page: Page, base: str, learner: str, right: bool) -> None:
    page.goto(f"{base}/practice?q={QUESTION}&learner={learner}")
    expect(page.get_by_role("heading", name="Practice", exact=True)).to_be_visible()
    q = load_questions().get(QUESTION)
    page.get_by_text(q.answers[0] if right else q.distractors[0], exact=True).click()
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.get_by_text("Correct." if right else "Not this one.", exact=True)).to_be_visible()


def start_counter_run(page: Page, base: str, learner: str) -> str:
    page.goto(f"{base}/runs?learner={learner}")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    page.get_by_text("Start a new run").click()
    page.get_by_test_id("stSelectbox").first.locator("input").click()
    page.keyboard.type("Counter")
    page.keyboard.press("Enter")
    form = page.get_by_test_id("stForm").filter(has_text="Counts.")  # not the default algorithm's, fading out
    expect(form).to_have_count(1)
    form.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"run=\d{8}-\d{6}-[0-9a-f]{6}"))
    return re.search(r"run=([0-9a-f-]+)", page.url).group(1)


def test_a_learner_finds_everything_on_the_other_replica(page: Page, replicas: tuple[str, str]) -> None:
    one, two = replicas
    answer_choice(page, one, "ada", right=True)
    answer_choice(page, two, "bob", right=False)
    run_id = start_counter_run(page, one, "ada")

    # Ada, on the other replica: her answer, her card and her run.
    page.goto(f"{two}/progress?learner=ada")
    expect(page.get_by_role("heading", name="Progress", exact=True)).to_be_visible()
    expect(metric(page, "Answers")).to_have_text("1")
    expect(metric(page, "Accuracy")).to_have_text("100%")
    page.goto(f"{two}/review?learner=ada")
    expect(page.get_by_text("Nothing is due right now", exact=False)).to_be_visible()  # a card, scheduled ahead
    page.goto(f"{two}/runs?run={run_id}&learner=ada")
    expect(page.get_by_text("finished", exact=True)).to_be_visible(timeout=90_000)
    page.goto(f"{two}/runs?learner=ada")
    # her list is not empty
    expect(page.get_by_text("Select runs to overlay their curves", exact=False)).to_be_visible()
    page.goto(f"{two}/runs?learner=carol")
    expect(page.get_by_text("No runs to show", exact=False)).to_be_visible()  # and it is hers, not everyone's

    # The instructor, on either replica, sees both learners (one answered on each).
    for base in (one, two):
        page.goto(f"{base}/class?learner=prof")
        expect(page.get_by_role("heading", name="Class", exact=True)).to_be_visible()
        expect(metric(page, "Learners")).to_have_text("2")
        expect(metric(page, "Answers")).to_have_text("2")
    page.goto(f"{two}/class?learner=ada")  # a learner is not an instructor there either
    expect(page.get_by_text("This page is for instructors", exact=False)).to_be_visible()


def test_the_servers_logged_no_traceback(replicas: tuple[str, str]) -> None:
    assert len(LOGS) == 2
    for log in LOGS:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
