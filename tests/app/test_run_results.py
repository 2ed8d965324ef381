"""Results a person can read: a run's summary in words and units, a failed run's first line with the
traceback folded away, a stopped run that says why, and comparison legends that name the algorithm."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.runs.backends import open_manager
from app.runs.manager import RunManager
from app.runs.store import RunRecord
from app.widgets.runs import legend_name, run_manager, summary_facts

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


def record(**overrides) -> RunRecord:
    values = dict(
        id="20261202-120000-abcdef",
        algorithm="ppo",
        status="finished",
        config={},
        session=None,
        label=None,
        device="cpu",
        pid=None,
        created_at=0.0,
        started_at=100.0,
        finished_at=190.0,
        heartbeat=None,
        progress=1.0,
        stop_requested=False,
        error=None,
    )
    return RunRecord(**{**values, **overrides})


def test_the_summary_names_return_threshold_steps_time_and_device() -> None:
    metrics = {
        "eval_return_mean": 487.25,
        "eval_return_std": 12.5,
        "reward_threshold": 475.0,
        "seconds_to_threshold": 61.0,
        "steps_to_threshold": 40960.0,
        "total_steps": 65536.0,
        "episodes": 410.0,
        "seconds": 83.0,
    }
    frame = pd.DataFrame({"global_step": [1, 2, 3], "charts/episodic_return_mean100": [20.0, 480.5, 470.0]})
    facts = summary_facts(record(final_metrics=metrics), frame)
    assert facts == {
        "Final return": "487.2 ± 12.5 (greedy evaluation)",
        "Best return": "480.5 (mean of 100 training episodes)",
        "Threshold": "475: reached after 1m 01s (40,960 steps)",
        "Steps": "65,536 in 410 episodes",
        "Wall time": "1m 23s",
        "Device": "cpu",
    }
    never = summary_facts(record(final_metrics={"reward_threshold": 475.0, "seconds_to_threshold": None}), frame)
    assert never["Threshold"] == "475: not reached" and never["Final return"].startswith("470.0 (mean of the last")


def test_comparison_legends_name_the_algorithm_and_the_label() -> None:
    assert legend_name(record(label="gamma 0.9"), "x") == "ppo · gamma 0.9"
    assert legend_name(record(), "20261202-120000-abcdef") == "ppo · 20261202-120000-abcdef"


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RLDOJO_PLUGINS", "tests.app.runs.fake_algorithms")
    run_manager.clear()
    yield open_manager(tmp_path)
    run_manager.clear()


def wait_for(manager: RunManager, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while manager.get(run_id).status != status:
        assert time.monotonic() < deadline, manager.log_tail(run_id)
        time.sleep(0.05)


def run_page(run_id: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/runs.py")
    at.query_params["run"] = run_id
    return at.run()


def test_a_failed_run_shows_its_first_line_and_folds_the_traceback(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 30, "sleep": 0, "fail_at": 3}, session="cli")
    wait_for(manager, run_id, "failed")
    at = run_page(run_id)
    assert not at.exception
    (error,) = at.error
    assert "boom at step 3" in error.value and "Traceback" not in error.value and "\n" not in error.value.strip()
    (details,) = [e for e in at.expander if "traceback" in e.label]
    assert details.proto.expanded is False


def test_a_finished_run_puts_raw_numbers_in_an_expander(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 12, "sleep": 0}, session="cli")
    wait_for(manager, run_id, "finished")
    at = run_page(run_id)
    assert not at.exception
    assert not at.metric, "no wall of raw metric tiles"
    text = " ".join(m.value for m in at.markdown)
    assert "**Final return:** 12.0" in text and "**Steps:** 12" in text
    assert any(e.label.startswith("All ") and "final numbers" in e.label for e in at.expander)


def test_a_stopped_run_says_why_it_has_no_animation(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 100000, "sleep": 0.01}, session="cli")
    wait_for(manager, run_id, "running")
    manager.stop(run_id)
    wait_for(manager, run_id, "stopped")
    at = run_page(run_id)
    assert not at.exception
    words = at.warning[0].value
    assert words.startswith("Stopped") and "no animation" in words
