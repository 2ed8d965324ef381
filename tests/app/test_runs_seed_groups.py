"""AppTest: the Runs page starts one configuration on N seeds as a group (/runs?group=ID), shows each
seed's status, and draws the IQM of the finished seeds' returns with its bootstrap interval."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from algorithms.evaluation import summarize
from app.runs.backends import open_manager
from app.runs.configs import ConfigError
from app.runs.manager import RunManager
from app.runs.store import DONE
from app.widgets.runs import run_manager
from app.widgets.seed_group import BOOTSTRAP_REPS
from tests.app.test_runs_page import open_launcher, runs_page


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RLDOJO_PLUGINS", "tests.app.runs.fake_algorithms")
    monkeypatch.setenv("RLDOJO_MAX_RUNS", "2")
    run_manager.clear()
    yield tmp_path
    run_manager.clear()


def start_form(at: AppTest, algorithm: str, **numbers: float) -> AppTest:
    open_launcher(at)
    at.selectbox(key="start-algorithm").set_value(algorithm).run()
    for label, value in numbers.items():
        next(w for w in at.number_input if w.label == label.replace("_", " ")).set_value(value)
    next(b for b in at.button if b.label == "Start run").click().run()
    return at


def wait_done(manager: RunManager, run_ids: list[str]) -> None:
    deadline = time.monotonic() + 120
    for run_id in run_ids:
        while manager.get(run_id).status not in DONE:
            assert time.monotonic() < deadline, manager.log_tail(run_id)
            time.sleep(0.05)


def iqm_trace(at: AppTest) -> dict:
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        for trace in spec["data"]:
            if trace.get("y") == ["IQM"]:
                return trace
    raise AssertionError("no IQM chart on the page")


def test_starting_three_seeds_queues_one_group_and_shows_its_iqm(data_dir: Path) -> None:
    at = start_form(runs_page(), "fake-seeded", seed=2, seeds=3)
    assert not at.exception and not at.error
    group = at.query_params["group"]
    assert group.startswith("seeds-") and "run" not in at.query_params

    manager = open_manager(data_dir)
    records = manager.store.list(group=group)
    assert len(records) == 3
    assert sorted(r.config["seed"] for r in records) == [2, 3, 4]
    assert {r.group_id for r in records} == {group} and sorted(r.label for r in records) == [
        "seed 2",
        "seed 3",
        "seed 4",
    ]
    assert len({r.id for r in records}) == 3
    wait_done(manager, [r.id for r in records])

    view = runs_page(group=group)  # a reload: the address alone brings the group back
    assert not view.exception
    assert view.query_params["group"] == group
    assert any(group in m.value and "3 seeds" in m.value for m in view.markdown)
    expected = summarize([[4.0], [9.0], [16.0]], reps=BOOTSTRAP_REPS)["iqm"]  # seed squared
    trace = iqm_trace(view)
    assert trace["x"] == [pytest.approx(expected["point"])]
    assert trace["error_x"]["array"] == [pytest.approx(expected["upper"] - expected["point"])]
    assert trace["error_x"]["arrayminus"] == [pytest.approx(expected["point"] - expected["lower"])]
    words = " ".join(m.value for m in view.markdown)
    assert f"IQM of the eval return: {expected['point']:.2f}" in words
    assert any("interquartile mean" in c.value and "bootstrap" in c.value for c in view.caption)
    curves = [json.loads(e.proto.spec) for e in view.get("plotly_chart")]
    names = {t.get("name") for spec in curves for t in spec["data"]}
    assert {"fake-seeded · seed 2", "fake-seeded · seed 3", "fake-seeded · seed 4"} <= names

    listed = runs_page()  # the run list links to the group
    listed.toggle(key="runs-all-sessions").set_value(True).run()
    links = [e for e in listed.get("page_link") if "Seed group" in e.proto.label]
    assert links and "fake-seeded, 3 seeds" in links[0].proto.label


def test_one_seed_starts_a_plain_run(data_dir: Path) -> None:
    at = start_form(runs_page(), "fake-seeded", seed=5)
    assert not at.exception
    run_id = at.query_params["run"]
    assert "group" not in at.query_params
    record = open_manager(data_dir).get(run_id)
    assert record.group_id is None and record.config["seed"] == 5


@pytest.mark.parametrize("count", [0, 11, -2])
def test_a_count_out_of_range_is_refused_and_queues_nothing(data_dir: Path, count: int) -> None:
    at = start_form(runs_page(), "fake-seeded", seeds=count)
    assert not at.exception
    assert "Could not start the run: seeds: give a whole number from 1 to 10" in at.error[0].value
    assert "group" not in at.query_params and "run" not in at.query_params
    assert open_manager(data_dir).store.list() == []


def test_refusals_of_the_manager(data_dir: Path) -> None:
    manager = open_manager(data_dir)
    with pytest.raises(ConfigError, match="has no seed field"):
        manager.start_seeds("fake-count", {"steps": 3}, 2)
    with pytest.raises(ConfigError, match="steps: must be at least 1"):
        manager.start_seeds("fake-seeded", {"steps": 0}, 3)
    with pytest.raises(ConfigError, match="from 1 to 10"):
        manager.start_seeds("fake-seeded", {}, True)
    assert manager.store.list() == []  # nothing half-queued


def test_an_algorithm_without_a_seed_offers_no_seeds_box(data_dir: Path) -> None:
    at = open_launcher(runs_page())
    at.selectbox(key="start-algorithm").set_value("fake-count").run()
    assert not at.exception
    assert "seeds" not in {w.label for w in at.number_input}


def test_a_failed_seed_is_shown_failed_beside_the_others(data_dir: Path) -> None:
    manager = open_manager(data_dir, capacity=2)
    group, run_ids = manager.start_seeds("fake-seeded", {"seed": 1, "fail_seed": 2}, 3, session="cli")
    wait_done(manager, run_ids)
    view = runs_page(group=group)
    assert not view.exception
    rows = " ".join(m.value for m in view.markdown)
    assert "**seed 1** · finished" in rows and "**seed 2** · failed" in rows and "**seed 3** · finished" in rows
    assert any("failed: RuntimeError: seed 2 fails on purpose" in c.value for c in view.caption)
    expected = summarize([[1.0], [9.0]], reps=BOOTSTRAP_REPS)["iqm"]  # the two finished seeds only
    assert iqm_trace(view)["x"] == [pytest.approx(expected["point"])] and expected["point"] == 5.0
    assert any("nothing is dropped, it is the mean" in c.value for c in view.caption)


def test_stop_all_stops_every_active_seed(data_dir: Path) -> None:
    manager = open_manager(data_dir, capacity=2)
    group, run_ids = manager.start_seeds("fake-seeded", {"steps": 2000, "sleep": 0.05}, 3, session="cli")
    view = runs_page(group=group)
    assert not view.exception
    next(b for b in view.button if b.label == "Stop all").click().run()
    assert not view.exception
    wait_done(manager, run_ids)  # the queued seed at once, the running ones at their next stop check
    assert {manager.get(r).status for r in run_ids} == {"stopped"}


def test_one_finished_seed_waits_for_a_second(data_dir: Path) -> None:
    manager = open_manager(data_dir, capacity=2)
    group, run_ids = manager.start_seeds("fake-seeded", {"seed": 0, "fail_seed": 1}, 2, session="cli")
    wait_done(manager, run_ids)
    view = runs_page(group=group)
    assert not view.exception
    assert "at least 2 seeds have finished (1 so far)" in view.info[0].value
    assert not any("IQM" in str(json.loads(e.proto.spec)["data"]) for e in view.get("plotly_chart"))


def test_a_group_whose_runs_are_gone_says_so_calmly(data_dir: Path) -> None:
    view = runs_page(group="seeds-20200101-000000-abcdef")
    assert not view.exception and not view.error
    assert "There are no runs in the seed group `seeds-20200101-000000-abcdef`" in view.info[0].value
