"""Two Streamlit replicas on two ports sharing one PostgreSQL (issue 13, "several replicas, one class"):
what a learner does on one (an answer, its review card, a drill, a run) shows on the other, and an
instructor's Class page on either sees every learner. A real PostgreSQL server (skipped only where
its binaries are absent) and Chromium; both servers use the same data folder, as replicas behind a
load balancer share one (run logs). A second pair shares one Ray cluster as well (RLDOJO_RUNS_BACKEND=ray,
a local Ray head; skipped where Ray is not installed): a run started on one finishes, seen on the other."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.grading.bank import load_questions
from app.learners import db, store
from app.learners.drills import Drill, Item
from tests.browser.server import choose_algorithm, streamlit_server
from tests.browser.test_class_drill_in_browser import QUESTIONS, STEPS, press_check, see_result_and_go_on
from tests.postgres_server import Server, fresh_database, postgres_server
from tests.ray_head import ray_head, require_ray

pytestmark = pytest.mark.browser
QUESTION = "markov-property"
LOGS: list[Path] = []


ENV = {
    "RLDOJO_INSTRUCTORS": "prof",
    "RLDOJO_PLUGINS": "tests.app.runs.fake_algorithms",
    "RLDOJO_MAX_RUNS": "1",
    "RLDOJO_AUTH": None,
    "RLDOJO_RUNS_BACKEND": None,
    "RAY_ADDRESS": None,
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    with postgres_server() as server:
        yield server


def two_servers(stack: ExitStack, data: Path, **env: str | None) -> tuple[str, str]:
    """Two replicas over `data`; their logs are one.log and two.log there, checked for tracebacks at the end."""
    one = stack.enter_context(streamlit_server(data, data / "one.log", **{**ENV, **env}))
    two = stack.enter_context(streamlit_server(data, data / "two.log", **{**ENV, **env}))
    LOGS.extend([data / "one.log", data / "two.log"])
    return one, two


@pytest.fixture(scope="module")
def database_url(postgres: Server) -> str:
    return fresh_database(postgres)


@pytest.fixture(scope="module")
def replicas(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The two servers' URLs (runs on the replica that starts them, RLDOJO_RUNS_BACKEND=local)."""
    with ExitStack() as stack:
        yield two_servers(stack, tmp_path_factory.mktemp("replica-data"), DATABASE_URL=database_url)


@pytest.fixture(scope="module")
def ray_replicas(postgres: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two more servers on a database of their own, whose runs are actors on one shared Ray cluster."""
    require_ray()
    with ExitStack() as stack:
        address = stack.enter_context(ray_head())
        data = tmp_path_factory.mktemp("ray-replica-data")
        env = {"DATABASE_URL": fresh_database(postgres), "RLDOJO_RUNS_BACKEND": "ray", "RAY_ADDRESS": address}
        yield two_servers(stack, data, **env)


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
    choose_algorithm(page, "Counter")
    form = page.get_by_test_id("stForm").filter(has_text="Counts.")  # not the default algorithm's, fading out
    expect(form).to_have_count(1)
    form.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"run=\d{8}-\d{6}-[0-9a-f]{6}"), timeout=90_000)
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


def test_a_drill_goes_on_from_one_replica_to_the_other(page: Page, replicas: tuple[str, str], database_url) -> None:
    """Each step of a retrieval drill on the other replica than the step before: each sees where it is."""
    one, two = replicas
    with pytest.MonkeyPatch.context() as env:  # the drill, as "Start the drill" saves it, in the shared database
        env.setenv(db.DATABASE_URL_ENV, database_url)
        db.dispose_all()
        drill = Drill("ddee", "retrieval", "dee", [Item(q, i) for i, q in enumerate(QUESTIONS)], time.time())
        store.save_drill(drill.id, drill.learner, drill.kind, drill.to_dict())
        db.dispose_all()
    for position, (question_id, right) in enumerate(STEPS):
        page.goto(f"{(one, two)[position % 2]}/drill?drill=ddee&learner=dee")
        expect(page.get_by_role("heading", name="Retrieval drill")).to_be_visible()
        press_check(page, position, question_id, right)  # it shows `position` answered: the other's too
        see_result_and_go_on(page, right)
        if position + 1 < len(STEPS):  # this replica has saved the step before the next page asks the other
            expect(page.get_by_text(f"{position + 1} answered ·", exact=False)).to_be_visible()
    expect(page.get_by_text("Drill done: 2 questions, 1 missed at first", exact=False)).to_be_visible()
    page.goto(f"{one}/drill?learner=dee")  # the replica that began it lists it done
    expect(page.get_by_text("4 answered · done", exact=False)).to_be_visible()
    page.goto(f"{one}/progress?learner=dee")
    expect(metric(page, "Answers")).to_have_text("4")

    with pytest.MonkeyPatch.context() as env:
        env.setenv(db.DATABASE_URL_ENV, database_url)
        db.dispose_all()
        mine = [a for a in store.attempts() if a["learner"] == "dee"]
        db.dispose_all()
    assert [(a["question_id"], bool(a["correct"])) for a in mine] == STEPS  # none lost, none twice, in order
    assert {a["drill_id"] for a in mine} == {"ddee"}


def test_a_run_started_on_one_replica_runs_on_ray_and_finishes_seen_on_the_other(
    page: Page, ray_replicas: tuple[str, str]
) -> None:
    one, two = ray_replicas
    run_id = start_counter_run(page, one, "eve")
    page.goto(f"{two}/runs?run={run_id}&learner=eve")
    expect(page.get_by_text("finished", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("could not start the run on Ray", exact=False)).to_have_count(0)
    page.goto(f"{two}/runs?learner=eve")
    expect(page.get_by_text("Select runs to overlay their curves", exact=False)).to_be_visible()


def test_the_servers_logged_no_traceback(replicas: tuple[str, str]) -> None:
    assert len(LOGS) >= 2
    for log in LOGS:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
