"""Runs on Ray (RLDOJO_RUNS_BACKEND=ray): a local Ray head started for the session (`ray.init` in a
process of its own, ended by its process group), a fake algorithm to completion, a stop, and a
killed actor, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import pytest

from app.runs.backends import open_manager
from app.runs.manager import RunManager
from app.runs.store import ACTIVE
from app.settings import ROOT
from tests.ray_head import ray_head

ray = pytest.importorskip("ray")  # after tests.ray_head, which sets Ray's authentication first


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    with ray_head() as address:
        yield address


@pytest.fixture
def ray_manager(database, ray_address, monkeypatch) -> Iterator[RunManager]:
    monkeypatch.setenv("RLDOJO_RUNS_BACKEND", "ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_address)
    manager = open_manager(database.data_dir, url=database.url)
    assert type(manager).__name__ == "RayRunManager"
    yield manager
    _kill_leftover_actors()


def _kill_leftover_actors(timeout: float = 60.0) -> None:
    """A run a test left going holds one of the head's two CPUs; the next test's runs would wait for
    it (a full suite once timed out three tests this way). End them and wait for the CPUs."""
    if not ray.is_initialized():
        return
    from app.runs.ray_backend import NAMESPACE

    for name in ray.util.list_named_actors():
        if name.startswith("run-"):
            with contextlib.suppress(Exception):
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources().get("CPU", 0):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)


def _wait(manager, run_id, statuses=("finished", "failed", "stopped"), timeout=180.0):
    deadline = time.monotonic() + timeout
    while (record := manager.get(run_id)).status not in statuses:
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    return record


def test_a_run_on_ray_finishes_with_its_metrics(ray_manager) -> None:
    run_id = ray_manager.start("fake-count", {"steps": 6, "sleep": 0}, session="ada")
    record = _wait(ray_manager, run_id)
    assert record.status == "finished", record.error
    assert len(ray_manager.store.metrics(run_id)) == 6 and record.final_metrics["total_steps"] == 6
    assert f"run {run_id}: finished" in ray_manager.log_tail(run_id)  # the actor's output is the run's log


def test_reinforce_on_ray_trains_and_leaves_its_checkpoint_in_rldojo_artifacts(
    database, ray_address, monkeypatch, tmp_path
) -> None:
    shared = tmp_path / "shared-artifacts"
    monkeypatch.setenv("RLDOJO_RUNS_BACKEND", "ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_address)
    monkeypatch.setenv("RLDOJO_ARTIFACTS", str(shared))
    manager = open_manager(database.data_dir, url=database.url)
    config = {"total_episodes": 16, "batch_episodes": 8, "hidden_sizes": "16", "eval_episodes": 0, "seed": 3}
    run_id = manager.start("reinforce", config, session="ada")
    try:
        record = _wait(manager, run_id, timeout=240)
    finally:
        _kill_leftover_actors()
    assert record.status == "finished", (record.error, manager.log_tail(run_id, 40))
    assert [p["global_step"] for _, p in manager.store.metrics(run_id)]  # streamed into the shared store
    assert record.final_metrics["episodes"] == 16
    checkpoint = record.artifacts["checkpoint"]
    assert checkpoint.startswith(str(shared / run_id)) and os.path.getsize(checkpoint) > 0
    assert f"run {run_id}: finished" in manager.log_tail(run_id)
    assert not (database.data_dir / "runs").exists()  # nothing of the run's in the data folder


def test_a_run_on_ray_stops_within_seconds(ray_manager) -> None:
    run_id = ray_manager.start("fake-count", {"steps": 100_000, "sleep": 0.01})
    _wait(ray_manager, run_id, statuses=("running",))
    while not ray_manager.store.metrics(run_id):
        time.sleep(0.1)
    began = time.monotonic()
    assert ray_manager.stop(run_id).status == "stopped"
    assert time.monotonic() - began < 10


def test_a_killed_actor_fails_the_run_and_keeps_its_metrics(ray_manager, monkeypatch) -> None:
    """With no watcher (the replica that started the run is gone too), whoever lists runs next does it."""
    monkeypatch.setattr(ray_manager, "_watch", lambda *args: None)
    run_id = ray_manager.start("fake-count", {"steps": 100_000, "sleep": 0.01, "ignore_stop": True})
    _wait(ray_manager, run_id, statuses=("running",))
    while len(ray_manager.store.metrics(run_id)) < 3:
        time.sleep(0.1)
    ray.kill(ray_manager._actor(run_id), no_restart=True)  # as when its node dies
    time.sleep(1.0)
    ray_manager.store.update(run_id, created_at=time.time() - 60)  # past reconcile's grace for new actors
    ray_manager.reconcile()
    record = ray_manager.get(run_id)
    assert record.status == "failed" and "Ray actor ended" in record.error
    assert len(ray_manager.store.metrics(run_id)) >= 3
    assert record.status not in ACTIVE


def test_runs_started_from_many_threads_at_once_all_reach_ray(ray_manager) -> None:
    """Streamlit sessions are threads: their first runs connect to the cluster at the same moment
    (once, this made all but one fail with 'could not start the run on Ray')."""
    import threading

    ray.shutdown()  # a fresh process: nobody connected yet
    ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: ids.append(ray_manager.start("fake-count", {"steps": 3, "sleep": 0})))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4
    assert [_wait(ray_manager, run_id).status for run_id in ids] == ["finished"] * 4


def test_a_run_whose_worker_process_dies_fails_at_once_with_its_metrics(ray_manager) -> None:
    """The actor's worker process killed (as when its node dies, or the kernel's OOM killer): the
    watcher of the process that started the run marks it failed, nobody has to list runs first."""
    run_id = ray_manager.start("fake-count", {"steps": 100_000, "sleep": 0.01, "ignore_stop": True})
    record = _wait(ray_manager, run_id, statuses=("running",))
    while len(ray_manager.store.metrics(run_id)) < 3:
        time.sleep(0.1)
    assert record.pid and record.pid != os.getpid()  # the actor's process, on the Ray node
    os.kill(record.pid, signal.SIGKILL)
    record = _wait(ray_manager, run_id, timeout=30)
    assert record.status == "failed" and "Ray worker died" in record.error, record.error
    assert len(ray_manager.store.metrics(run_id)) >= 3  # what it streamed before it died stays
    time.sleep(1.0)
    assert ray_manager.get(run_id).status == "failed"  # and nothing marks it otherwise later


def test_a_run_that_ignores_stop_is_ended_within_seconds(ray_manager) -> None:
    run_id = ray_manager.start("fake-count", {"steps": 100_000, "sleep": 0.01, "ignore_stop": True})
    _wait(ray_manager, run_id, statuses=("running",))
    began = time.monotonic()
    record = ray_manager.stop(run_id, grace=1.0)
    assert record.status == "stopped" and "its actor was ended" in record.error
    assert time.monotonic() - began < 10
    deadline = time.monotonic() + 15
    while ray_manager._actor(run_id) is not None:  # the actor is gone too, not left training
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_gpu_run_waits_for_ray_to_place_it_and_the_runs_page_says_so(ray_manager, monkeypatch) -> None:
    """The test cluster has 2 CPUs and no GPU: a run whose config wants cuda asks Ray for a GPU and
    stays queued (Ray's queue, not ours) while a CPU run started after it finishes."""
    from streamlit.testing.v1 import AppTest

    from app.widgets.runs import run_manager

    waiting = ray_manager.start("fake-count", {"steps": 3, "sleep": 0, "device": "cuda"}, session="ada")
    cpu = ray_manager.start("fake-count", {"steps": 3, "sleep": 0, "device": "cpu"}, session="ada")
    assert _wait(ray_manager, cpu).status == "finished"
    assert ray_manager.get(waiting).status == "queued"
    assert ray_manager._actor(waiting) is not None  # submitted to Ray, not yet placed
    assert "waiting for Ray resources (1 CPU and 1 GPU)" in ray_manager.queue_message(waiting)
    assert "waiting for Ray resources (1 CPU)." in ray_manager.queue_message(cpu)

    run_manager.clear()
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.switch_page("views/runs.py")
    at.query_params["run"] = waiting
    at.run()
    assert not at.exception
    said = [info.value for info in at.info]
    assert any("waiting for Ray resources (1 CPU and 1 GPU)" in words for words in said), said
    run_manager.clear()

    assert ray_manager.stop(waiting).status == "stopped"  # a stop cancels it before Ray ever placed it
    deadline = time.monotonic() + 15
    while ray_manager._actor(waiting) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_the_command_line_works_the_same_on_ray(ray_manager, database) -> None:
    """`python -m app.runs start/list/show/stop` with RLDOJO_RUNS_BACKEND=ray: each call its own
    process (its own connection to the cluster), as on the local backend (test_manager.py)."""
    from tests.app.runs.test_manager import cli

    data = database.data_dir
    done = cli(data, "start", "fake-count", "--steps", "5", "--sleep", "0", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = done.stdout.splitlines()[0]
    assert done.stdout.strip().splitlines()[-1].startswith("finished:"), done.stdout + done.stderr
    assert ray_manager.get(run_id).status == "finished"

    long = cli(data, "start", "fake-count", "--steps", "100000", "--sleep", "0.01", "--detach", timeout=240)
    assert long.returncode == 0, long.stderr
    long_id = long.stdout.split()[0]
    _wait(ray_manager, long_id, statuses=("running",))  # the actor outlives the command that started it
    listed = cli(data, "list", timeout=240)
    assert run_id in listed.stdout and long_id in listed.stdout, listed.stdout + listed.stderr
    shown = cli(data, "show", run_id, timeout=240)
    assert '"total_steps": 5' in shown.stdout and f"run {run_id}: finished" in shown.stdout, shown.stdout
    stopped = cli(data, "stop", long_id, timeout=240)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert ray_manager.get(long_id).status == "stopped"
