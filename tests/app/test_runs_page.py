"""AppTest: the Runs page lists runs, shows a finished run's charts, and builds its form from a config dataclass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.runs.backends import open_manager
from app.widgets.runs import run_manager
from tests.lesson_sections import section_with

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RLDOJO_PLUGINS", "tests.app.runs.fake_algorithms")
    run_manager.clear()
    yield tmp_path
    run_manager.clear()


def runs_page(**params: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/runs.py")
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def open_launcher(at: AppTest) -> AppTest:
    """Open "Start a new run" (its form is drawn only while it is open, so torch loads only then)."""
    at.session_state["start-open"] = True
    return at.run()


def finished_run(data_dir: Path) -> str:
    manager = open_manager(data_dir)
    run_id = manager.start("fake-count", {"steps": 30, "sleep": 0}, session="cli")
    deadline = time.monotonic() + 60
    while manager.get(run_id).status != "finished":
        assert time.monotonic() < deadline, manager.log_tail(run_id)
        time.sleep(0.05)
    return run_id


def test_start_form_is_built_from_the_config_dataclass(data_dir: Path) -> None:
    at = runs_page()
    assert not at.exception
    assert not at.selectbox  # closed: no form yet
    open_launcher(at)
    at.selectbox[0].set_value("fake-count").run()
    labels = {w.label for w in at.number_input} | {w.label for w in at.toggle} | {w.label for w in at.text_input}
    assert {"steps", "sleep", "fail at", "nan at", "ignore stop", "spawn child", "device"} <= labels
    steps = next(w for w in at.number_input if w.label == "steps")
    assert steps.value == 20 and steps.help == "How many updates to report."


def test_runs_list_and_a_finished_run(data_dir: Path) -> None:
    run_id = finished_run(data_dir)
    at = runs_page()
    assert not at.exception
    assert "No runs to show" in at.info[0].value  # the CLI's run belongs to another session
    at.toggle(key="runs-all-sessions").set_value(True).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["id"]) == [run_id] and list(table["status"]) == ["finished"]

    detail = runs_page(run=run_id)
    assert not detail.exception
    assert any(run_id in m.value and "finished" in m.value for m in detail.markdown)
    assert len(detail.get("plotly_chart")) >= 2  # return and loss curves
    summary = " ".join(m.value for m in detail.markdown)
    assert "**Steps:**" in summary and "**Wall time:**" in summary  # words, not raw metric tiles


def test_finished_runs_of_one_algorithm_show_their_iqm_with_an_interval(data_dir: Path) -> None:
    finished_run(data_dir)
    at = runs_page()
    at.toggle(key="runs-all-sessions").set_value(True).run()
    assert not at.exception and not any("IQM" in c.value for c in at.caption)  # one run: no interval
    finished_run(data_dir)
    at.run()
    assert not at.exception
    line = next(c.value for c in at.caption if "IQM" in c.value)
    assert "fake-count" in line and "2 finished runs" in line and "IQM of eval return 30.0" in line

    at = runs_page(run="nope")
    assert not at.exception
    assert "There is no run with id `nope`" in at.warning[0].value


def test_a_lesson_starts_a_live_run_and_keeps_it_in_the_url(data_dir: Path) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/lesson.py")
    at.query_params["lesson"] = "td-learning"
    at.query_params["section"] = section = section_with("td-learning", demo="live-run")
    at.run()
    assert not at.exception
    start = next(b for b in at.button if b.label == "Start run")
    start.click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    assert at.query_params["lesson"] == "td-learning" and at.query_params["section"] == section
    manager = open_manager(data_dir)
    deadline = time.monotonic() + 60
    while manager.get(run_id).status != "finished":
        assert time.monotonic() < deadline, manager.log_tail(run_id)
        time.sleep(0.1)
    record = manager.get(run_id)
    assert record.algorithm == "tabular" and record.config["env"] == "windy-gridworld"
    assert record.final_metrics["greedy_path_length"] == 15  # Example 6.5's optimal path

    again = AppTest.from_file(MAIN, default_timeout=60)  # a reload: the URL brings the run back
    again.switch_page("views/lesson.py")
    again.query_params["lesson"] = "td-learning"
    again.query_params["section"] = section
    again.query_params["run"] = run_id
    again.run()
    assert not again.exception
    assert any(run_id in m.value and "finished" in m.value for m in again.markdown)


def _two_live_blocks() -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo("live-run", {"algorithm": "fake-count", "preset": {"steps": 5, "sleep": 0}}, key="first")
    render_demo("live-run", {"algorithm": "fake-count", "preset": {"steps": 9, "sleep": 0}}, key="second")


def test_two_blocks_of_one_algorithm_show_only_the_run_they_started(data_dir: Path) -> None:
    at = AppTest.from_function(_two_live_blocks, default_timeout=60).run()
    assert not at.exception
    assert [b.label for b in at.button].count("Start run") == 2
    second_start = [b for b in at.button if b.label == "Start run"][1]
    second_start.click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    assert at.query_params["run_block"] == "second"
    at.run()
    assert [b.label for b in at.button].count("Start run") == 1  # the first block still offers its form
    assert sum(run_id in m.value for m in at.markdown) == 1  # and only the second shows the run
