"""Issue 11, runs: a data folder that cannot be written and a bad RLDOJO_MAX_RUNS are one-line errors
(command line and Runs page), bad settings are refused before a run is queued (exit 2), and a
queued run starts when the running one is killed, with no page or command open.
Issue 12: the Runs page lists the learner's runs (or the browser's) without any toggle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.runs import __main__ as cli_main
from app.runs.store import RunStore
from app.settings import ROOT
from app.widgets.runs import run_manager
from tests.lesson_sections import section_with

PLUGIN = "tests.app.runs.fake_algorithms"
MAIN = str(ROOT / "app" / "main.py")


def cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.runs", *args, "--data-dir", str(data_dir)],
        cwd=ROOT,
        env={**os.environ, "RLDOJO_PLUGINS": PLUGIN, "RLDOJO_MAX_RUNS": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The folder refuses writes, even to root (chattr +i), else by its mode bits."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if made.returncode != 0:
            pytest.skip("running as root where chattr +i is not available: cannot make a folder read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def _one_clear_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("existing", [False, True])
def test_a_read_only_data_folder_is_one_line_on_the_command_line(tmp_path: Path, existing: bool) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if existing:
        RunStore(data)  # the database is there; the folder became read-only afterwards
    with read_only(data):
        for args in (["list"], ["show", "20260101-000000-abcdef"], ["start", "fake-count", "--detach"]):
            _one_clear_line(cli(data, *args), "not writable", str(data), "RLDOJO_DATA_DIR")


def test_a_bad_max_runs_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    for value in ("abc", "0", "-3", "1.5"):
        for args in (["list"], ["start", "fake-count", "--detach"]):
            _one_clear_line(cli(tmp_path / "data", *args, env={"RLDOJO_MAX_RUNS": value}), "RLDOJO_MAX_RUNS", value)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["reinforce", "--total-episodes", "-5"], "total_episodes: must be at least 1, got -5"),
        (["reinforce", "--lr", "-1"], "lr: must be greater than 0, got -1.0"),
        (["reinforce", "--lr", "nan"], "lr: must be a finite number, got nan"),
        (["reinforce", "--gamma", "inf"], "gamma: must be a finite number"),
        (["reinforce", "--hidden-sizes", "32,0"], "hidden_sizes: every entry must be at least 1"),
        (["ppo", "--num-envs", "0"], "num_envs: must be at least 1, got 0"),
        (
            ["reinforce", "--env-id", "CartPol-v1"],
            "env_id: no environment called 'CartPol-v1'; did you mean 'CartPole-v1'?",
        ),
        (["fake-count", "--steps", "0"], "steps: must be at least 1, got 0"),
        (["reinforce", "--eval-episodes", "-1"], "eval_episodes: must be at least 0, got -1"),
    ],
)
def test_bad_settings_are_refused_before_queueing(tmp_path: Path, monkeypatch, capsys, argv, said) -> None:
    monkeypatch.setenv("RLDOJO_PLUGINS", PLUGIN)
    data = tmp_path / "data"
    assert cli_main.main(["start", *argv, "--detach", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}"), err
    assert RunStore(data).list() == []  # nothing queued, no worker to fail seconds later


def test_a_sentinel_default_is_still_accepted(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RLDOJO_PLUGINS", PLUGIN)
    data = tmp_path / "data"
    assert cli_main.main(["start", "fake-count", "--steps", "2", "--fail-at", "-1", "--data-dir", str(data)]) == 0
    assert "finished" in capsys.readouterr().out
    from algorithms import load
    from app.runs.configs import build_config

    assert build_config(load("reinforce")[1], {"eval_episodes": "0"}).eval_episodes == 0  # its help: "0: no evaluation"


def test_a_queued_run_starts_when_the_running_one_is_killed_with_nothing_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = cli(data, "start", "fake-count", "--steps", "100000", "--sleep", "0.01", "--detach")
    second = cli(data, "start", "fake-count", "--steps", "3", "--sleep", "0", "--detach")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    first_id, second_id = first.stdout.split()[0], second.stdout.split()[0]
    assert "queued" in second.stdout
    store = RunStore(data)  # from here on, only reading: nobody calls schedule()
    deadline = time.monotonic() + 60
    while store.get(first_id).status != "running" or not store.metrics(first_id):
        assert time.monotonic() < deadline, store.get(first_id)
        time.sleep(0.05)
    os.kill(store.get(first_id).pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while store.get(second_id).status != "finished":
        assert time.monotonic() < deadline, (store.get(first_id), store.get(second_id))
        time.sleep(0.05)
    killed = store.get(first_id)
    assert killed.status == "failed" and "killed by signal 9" in killed.error
    assert store.metrics(first_id)  # its metrics are kept


# --- the Runs page ------------------------------------------------------------------------------
@pytest.fixture
def page_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RLDOJO_PLUGINS", PLUGIN)
    run_manager.clear()
    yield tmp_path
    run_manager.clear()


def runs_page(session: dict | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/runs.py")
    for key, value in (session or {}).items():
        at.session_state[key] = value
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_the_runs_page_says_why_runs_are_unavailable(page_data: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_MAX_RUNS", "abc")
    at = runs_page()
    assert not at.exception
    assert "Runs are not available: RLDOJO_MAX_RUNS must be a whole number" in at.error[0].value
    monkeypatch.delenv("RLDOJO_MAX_RUNS")
    with read_only(page_data):
        at = runs_page()
        assert not at.exception
        assert "not writable" in at.error[0].value


def test_a_lessons_live_run_says_why_runs_are_unavailable(page_data: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_MAX_RUNS", "abc")
    at = AppTest.from_file(MAIN, default_timeout=90)
    at.switch_page("views/lesson.py")
    at.query_params["lesson"] = "policy-gradients"  # has a live-run block
    at.query_params["section"] = section_with("policy-gradients", demo="live-run")
    at.run()
    assert not at.exception, at.exception
    assert not at.error  # the start form is drawn without the run store: nothing to say yet
    next(b for b in at.button if b.label == "Start run").click().run()
    assert not at.exception, at.exception
    assert any("Runs are not available: RLDOJO_MAX_RUNS must be a whole number" in e.value for e in at.error)
    assert any("policy gradient" in m.value.lower() for m in at.markdown)  # the rest of the lesson is there


def test_the_runs_page_lists_the_learners_runs_after_a_reload(page_data: Path) -> None:
    store = RunStore(page_data)
    store.create("20260101-000000-aaaaaa", "fake-count", {}, "ada", "hers")
    store.create("20260101-000001-bbbbbb", "fake-count", {}, "cli", "the command line's")
    store.create("20260101-000002-cccccc", "fake-count", {}, "~browser:someone-else", None)
    mine = runs_page(learner="ada")  # a new tab, another day: only the name in the URL
    assert not mine.exception
    assert list(mine.dataframe[0].value["id"]) == ["20260101-000000-aaaaaa"]
    mine.toggle(key="runs-all-sessions").set_value(True).run()
    assert len(mine.dataframe[0].value) == 3  # All runs: the command line's too
    anonymous = runs_page(session={"browser-id": "tab-7"})
    assert "No runs to show" in anonymous.info[0].value
    store.create("20260101-000003-dddddd", "fake-count", {}, "~browser:tab-7", None)
    anonymous = runs_page(session={"browser-id": "tab-7"})
    assert list(anonymous.dataframe[0].value["id"]) == ["20260101-000003-dddddd"]  # this browser's, unnamed
