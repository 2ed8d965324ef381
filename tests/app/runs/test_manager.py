"""The run manager: start, progress, finish; stop; failures; a run killed from outside; the queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.runs.backends import open_manager
from app.runs.configs import ConfigError
from app.runs.manager import CapacityError, RunManager
from app.runs.ray_backend import RayRunManager
from app.runs.store import ACTIVE
from app.settings import ROOT

PLUGIN = "tests.app.runs.fake_algorithms"


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunManager:
    monkeypatch.setenv("RLDOJO_PLUGINS", PLUGIN)
    return open_manager(tmp_path / "data", capacity=1)


def test_the_backend_is_chosen_above_both_managers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLDOJO_RUNS_BACKEND", "ray")
    assert isinstance(open_manager(tmp_path), RayRunManager)  # built without a cluster; it connects on start
    monkeypatch.setenv("RLDOJO_RUNS_BACKEND", " Local ")
    manager = open_manager(tmp_path, capacity=3)
    assert type(manager) is RunManager and manager.capacity == 3
    monkeypatch.setenv("RLDOJO_RUNS_BACKEND", "spark")
    with pytest.raises(CapacityError, match="RLDOJO_RUNS_BACKEND must be local or ray; it is 'spark'"):
        open_manager(tmp_path)


def wait_for(manager: RunManager, run_id: str, statuses=("finished", "failed", "stopped"), timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = manager.get(run_id)
        if record.status in statuses:
            return record
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {manager.get(run_id).status}; log:\n{manager.log_tail(run_id)}")


def wait_for_metrics(manager: RunManager, run_id: str, count: int, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(manager.store.metrics(run_id)) < count:
        assert time.monotonic() < deadline, manager.log_tail(run_id)
        time.sleep(0.05)


def test_start_progress_finish(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": "12", "sleep": "0"}, session="s1", label="first")
    record = wait_for(manager, run_id)
    assert record.status == "finished", record.error
    assert record.final_metrics == {"total_steps": 12, "eval_return_mean": 12.0}
    assert record.progress == 1.0 and record.device == "cpu" and record.label == "first"
    points = manager.store.metrics(run_id)
    assert [p["global_step"] for _, p in points] == list(range(12))
    assert manager.store.metrics(run_id, after_seq=points[-3][0]) == points[-2:]  # only new points
    assert [r.id for r in manager.store.list(session="s1")] == [run_id]
    assert manager.store.list(session="other") == []


def test_stop_mid_run_keeps_metrics(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 10_000, "sleep": 0.01})
    wait_for_metrics(manager, run_id, 5)
    began = time.monotonic()
    record = manager.stop(run_id)
    assert record.status == "stopped"
    assert time.monotonic() - began < 5
    assert 5 <= len(manager.store.metrics(run_id)) < 10_000


def test_a_run_that_raises_fails_with_its_message_and_log(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 10, "sleep": 0, "fail_at": 3})
    record = wait_for(manager, run_id)
    assert record.status == "failed"
    assert record.error == "RuntimeError: boom at step 3"
    assert "Traceback" in manager.log_tail(run_id, lines=50)
    assert len(manager.store.metrics(run_id)) == 3


def test_logs_and_artifacts_go_to_rldojo_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class keeps runs' files on a folder every replica and Ray node mounts, apart from the data folder."""
    from app.runs.store import StoreUnavailable

    monkeypatch.setenv("RLDOJO_PLUGINS", PLUGIN)
    shared = tmp_path / "shared-artifacts"
    monkeypatch.setenv("RLDOJO_ARTIFACTS", str(shared))
    manager = open_manager(tmp_path / "data", capacity=1)
    run_id = manager.start("fake-count", {"steps": 3, "sleep": 0, "fail_at": 2})
    assert wait_for(manager, run_id).status == "failed"
    assert "boom at step 2" in (shared / run_id / "log.txt").read_text()
    assert "Traceback" in manager.log_tail(run_id, lines=50)
    assert not (tmp_path / "data" / "runs").exists()

    monkeypatch.setenv("RLDOJO_ARTIFACTS", "s3://bucket/rldojo")
    with pytest.raises(StoreUnavailable, match=r"RLDOJO_ARTIFACTS='s3://bucket/rldojo': object-store URLs"):
        open_manager(tmp_path / "data", capacity=1)


def test_nan_in_a_loss_stops_the_run_clearly(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 10, "sleep": 0, "nan_at": 4})
    record = wait_for(manager, run_id)
    assert record.status == "failed"
    assert record.error == "losses/policy became nan at step 4: try a smaller learning rate"


def test_a_run_killed_from_outside_is_marked_failed_and_keeps_metrics(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 10_000, "sleep": 0.01})
    wait_for_metrics(manager, run_id, 3)
    record = manager.get(run_id)
    os.kill(record.pid, signal.SIGKILL)
    record = wait_for(manager, run_id)
    assert record.status == "failed"
    assert "killed by signal 9" in record.error
    assert len(manager.store.metrics(run_id)) >= 3


def test_a_dead_run_seen_by_another_process_is_reconciled(tmp_path: Path, manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 10_000, "sleep": 0.01})
    wait_for_metrics(manager, run_id, 1)
    manager.store.update(run_id, pid=2**22 + 12345)  # a pid that is not this run's worker
    other = open_manager(manager.store.data_dir, capacity=1)
    other.reconcile()
    assert other.get(run_id).status == "failed"
    assert "ended without reporting" in other.get(run_id).error
    manager.store.update(run_id, stop_requested=1)


def test_queue_waits_for_capacity_then_runs(manager: RunManager) -> None:
    first = manager.start("fake-count", {"steps": 60, "sleep": 0.02})
    second = manager.start("fake-count", {"steps": 3, "sleep": 0})
    assert manager.get(second).status == "queued"
    assert manager.store.queue_position(second) == 1
    assert manager.store.queue_position(first) is None
    assert "position 1 in the queue (1 run at a time)" in manager.queue_message(second)  # the Runs page's words
    assert wait_for(manager, first).status == "finished"
    assert wait_for(manager, second).status == "finished"


def test_stopping_a_queued_run(manager: RunManager) -> None:
    first = manager.start("fake-count", {"steps": 10_000, "sleep": 0.01})
    second = manager.start("fake-count", {"steps": 3})
    manager.request_stop(second)
    assert manager.get(second).status == "stopped"
    assert manager.stop(first).status == "stopped"
    time.sleep(0.5)
    assert manager.get(second).status == "stopped"  # a stopped queued run never starts


def test_a_run_that_ignores_stop_is_ended_with_its_children(manager: RunManager) -> None:
    run_id = manager.start("fake-count", {"steps": 10_000, "sleep": 0.01, "ignore_stop": True, "spawn_child": True})
    wait_for_metrics(manager, run_id, 3)
    pid = manager.get(run_id).pid
    group = os.getpgid(pid)  # the run's supervisor leads the group: it, the training process, its child
    children = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 3  # the supervisor, the worker and its `sleep 300`
    record = manager.stop(run_id, grace=1.0)
    assert record.status == "stopped" and "was ended" in record.error
    time.sleep(0.3)
    survivors = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout.split()
    assert survivors == []  # no child left, and the worker was reaped (no zombie in the group)


def test_bad_config_is_rejected_before_anything_starts(manager: RunManager) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting.*colour.*CountConfig has: steps, sleep"):
        manager.start("fake-count", {"colour": "red"})
    with pytest.raises(ConfigError, match="steps: expected int, got 'many'"):
        manager.start("fake-count", {"steps": "many"})
    with pytest.raises(KeyError, match="unknown algorithm 'nope'"):
        manager.start("nope")
    assert manager.store.list() == []


def cli(data_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RLDOJO_PLUGINS": PLUGIN, "RLDOJO_MAX_RUNS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "app.runs", *args, "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_command_line(tmp_path: Path) -> None:
    data = tmp_path / "cli"
    done = cli(data, "start", "fake-count", "--steps", "5", "--sleep", "0")
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.splitlines()[0]
    assert done.stdout.strip().splitlines()[-1].startswith("finished:"), done.stdout + done.stderr

    long = cli(data, "start", "fake-count", "--steps", "100000", "--detach")
    assert long.returncode == 0, long.stderr
    long_id = long.stdout.split()[0]
    listed = cli(data, "list")
    assert run_id in listed.stdout and long_id in listed.stdout, listed.stdout + listed.stderr
    shown = cli(data, "show", run_id)
    assert '"total_steps": 5' in shown.stdout, shown.stdout + shown.stderr
    stopped = cli(data, "stop", long_id)
    assert "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    bad = cli(data, "start", "fake-count", "--colour", "red")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "unknown setting colour" in bad.stderr and "--steps (default 20)" in bad.stderr, bad.stderr
    for record in open_manager(data).store.list():
        assert record.status not in ACTIVE, (record.id, record.status)


def test_command_line_shows_a_runs_seed_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.runs.__main__ import main

    data = tmp_path / "grouped"
    store = open_manager(data, capacity=1).store
    store.create("20261203-000000-aaaaaa", "fake-count", {}, "cli", "seed 0", group="seeds-one")
    store.create("20261203-000000-bbbbbb", "fake-count", {}, "cli", "seed 1", group="seeds-one")
    store.create("20261203-000000-cccccc", "fake-count", {}, "cli", None)  # no group

    assert main(["list", "--data-dir", str(data)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["20261203-000000-aaaaaa"].endswith("group seeds-one")
    assert lines["20261203-000000-bbbbbb"].endswith("group seeds-one")
    assert "group" not in lines["20261203-000000-cccccc"]

    assert main(["list", "--group", "seeds-one", "--data-dir", str(data)]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert sorted(listed) == ["20261203-000000-aaaaaa", "20261203-000000-bbbbbb"]

    assert main(["show", "20261203-000000-bbbbbb", "--data-dir", str(data)]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0].endswith("group seeds-one")
    assert '"group": "seeds-one"' in shown and '"label": "seed 1"' in shown
    assert main(["show", "20261203-000000-cccccc", "--data-dir", str(data)]) == 0
    assert '"group": null' in capsys.readouterr().out


def test_two_processes_sharing_a_data_dir_never_exceed_capacity(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_PLUGINS", PLUGIN)  # this process starts workers too, through schedule()
    data = tmp_path / "shared"
    script = (
        "import sys, time; from app.runs.backends import open_manager\n"
        "m = open_manager(sys.argv[1], capacity=1)\n"
        "ids = [m.start('fake-count', {'steps': 15, 'sleep': 0.02}) for _ in range(3)]\n"
        "print(' '.join(ids))\n"
    )
    env = {**os.environ, "RLDOJO_PLUGINS": PLUGIN, "RLDOJO_MAX_RUNS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(data)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    ids = [run_id for p in procs for run_id in p.communicate(timeout=60)[0].split()]
    assert len(ids) == 6
    manager = open_manager(data, capacity=1)
    peak = 0
    deadline = time.monotonic() + 120
    while True:
        manager.schedule()  # both CLI processes are gone: finished workers start the next ones
        records = manager.store.list()
        peak = max(peak, sum(r.status in ("starting", "running") for r in records))
        if all(r.status == "finished" for r in records):
            break
        assert time.monotonic() < deadline, [(r.id, r.status, r.error) for r in records]
        time.sleep(0.02)
    assert peak == 1
    assert sorted(r.id for r in manager.store.list()) == sorted(ids)
    assert all(len(manager.store.metrics(run_id)) == 15 for run_id in ids)
