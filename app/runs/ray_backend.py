"""Runs on a Ray cluster (`RLDOJO_RUNS_BACKEND=ray`, the cluster at `RAY_ADDRESS`).

Each run is a detached Ray actor named `run-<id>` in the `rldojo` namespace, asking for the
resources it needs (one CPU; one GPU when its config says `device: cuda`). It runs the same
training loop as a local worker (`worker.run`): metrics stream into the shared store (one
`DATABASE_URL` for every replica and node); its output (the run's log) and its artifacts go to the
run's folder, under `RLDOJO_ARTIFACTS` (or the data folder), which the cluster's nodes must share.
Queueing and capacity are Ray's: an actor waits, `queued`, until the cluster has its resources,
and the Runs page says so (`queue_message`). Stop asks the run to stop, then kills its actor after
the grace period. A run whose actor dies while the run is still active (its worker process killed,
out of memory, its node gone) is marked `failed`, its metrics kept: at once by a watcher thread in
the process that started it (waiting on the actor's result), and otherwise by whoever looks next
(`reconcile`: the starting replica may be gone too). No streamlit here.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from app.runs.manager import STOP_GRACE_SECONDS, RunManager
from app.runs.store import (
    ACTIVE,
    ARTIFACTS_ENV,
    DATABASE_URL_ENV,
    FAILED,
    QUEUED,
    STOPPED,
    RunRecord,
    StoreUnavailable,
)
from app.settings import ROOT

NAMESPACE = "rldojo"
ADDRESS_ENV = "RAY_ADDRESS"


class RayUnavailable(StoreUnavailable):
    """No Ray cluster to use; the message says what to set (said in one line like a store problem)."""


_connecting = threading.Lock()


def connect() -> Any:
    """This process's connection to the cluster (one, whatever the number of threads asking)."""
    import ray

    with _connecting:
        return _connect(ray)


def _connect(ray: Any) -> Any:
    if not ray.is_initialized():
        address = os.environ.get(ADDRESS_ENV, "").strip()
        if not address:
            raise RayUnavailable(
                f"RLDOJO_RUNS_BACKEND=ray needs a Ray cluster: start one (`ray start --head`) and set {ADDRESS_ENV} "
                "(e.g. auto, or HOST:6379)"
            )
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    return ray


def _actor_name(run_id: str) -> str:
    return f"run-{run_id}"


def resources(config: dict[str, Any]) -> dict[str, int]:
    """What a run asks Ray for: one CPU, and one GPU when its config says `device: cuda`."""
    return {"num_cpus": 1, "num_gpus": 1 if str(config.get("device", "")).startswith("cuda") else 0}


def describe_resources(config: dict[str, Any]) -> str:
    wanted = resources(config)
    return "1 CPU and 1 GPU" if wanted["num_gpus"] else "1 CPU"


DIED = "the run's Ray worker died before the run ended ({reason}): killed, out of memory, or its node went away"


def _train(run_id: str, data_dir: str, url: str | None) -> int:
    """In the actor's process: the local worker's training loop, its output appended to the run's
    log (as a local worker's is, so the Runs page and `show` have it), then the actor ends (the run's
    outcome is in the store by then, so the watcher's error on that end changes nothing)."""
    import contextlib

    import ray

    from app.runs import worker
    from app.runs.store import RunStore

    store = RunStore(data_dir, url=url)
    with (
        store.log_path(run_id).open("a", buffering=1, encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        code = worker.run(run_id, store)
    ray.actor.exit_actor()
    return code


@dataclass
class RayRunManager(RunManager):
    """The run manager of the Ray backend: the same calls, runs as actors."""

    def schedule(self) -> list[str]:
        """Nothing to start here: Ray starts each run's actor when its resources are free."""
        self.reconcile()
        return []

    def start(
        self,
        algorithm: str,
        config: dict[str, Any] | None = None,
        session: str | None = None,
        label: str | None = None,
        group: str | None = None,
    ) -> str:
        run_id = self._create(algorithm, config, session, label, group)
        record = self.store.get(run_id)
        try:
            self._submit(record)
        except Exception as exc:  # no cluster, or it refused the actor
            self.store.finish_if_active(run_id, FAILED, error=f"could not start the run on Ray: {exc}")
        return run_id

    def _submit(self, record: RunRecord) -> None:
        ray = connect()
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        for name in (DATABASE_URL_ENV, "RLDOJO_PLUGINS", "RLDOJO_DATA_DIR", ARTIFACTS_ENV):
            if os.environ.get(name):
                env[name] = os.environ[name]
        env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})

        @ray.remote
        class RunActor:
            """Trains in its constructor, then ends itself. The constructor, not a method call: Ray
            keeps a detached actor's creation in its control store, whereas a method call waits in
            the caller's process until the actor is placed, and is lost if that process ends first
            (`python -m app.runs start --detach`, a replica restarted while its runs wait for Ray)."""

            def __init__(self, run_id: str, data_dir: str, url: str | None) -> None:
                _train(run_id, data_dir, url)

            def ended(self) -> None:
                """Never runs (the actor ends in its constructor): calling it waits for that end."""

        url = self.store.url if not self._sqlite() else None
        actor = RunActor.options(
            name=_actor_name(record.id),
            lifetime="detached",
            max_restarts=0,
            runtime_env={"env_vars": env},
            **resources(record.config),
        ).remote(record.id, str(self.store.data_dir), url)
        done = actor.ended.remote()
        threading.Thread(target=self._watch, args=(record.id, done), daemon=True, name=f"watch-{record.id}").start()

    def _watch(self, run_id: str, done: Any) -> None:
        """Wait for the run's actor to end; if it died with the run still active, the run failed.
        (A run that ended by itself, or was stopped, already has its outcome: this changes nothing.)"""
        try:
            connect().get(done)
        except Exception as exc:  # ActorDiedError: its end, by exit_actor, a kill, its worker or its node dying
            try:
                self.store.finish_if_active(run_id, FAILED, error=DIED.format(reason=type(exc).__name__))
            except Exception as store_exc:  # the database is away: `reconcile` marks it when it is back
                print(f"run {run_id}: its actor died and the store could not be told: {store_exc}", file=sys.stderr)

    def queue_message(self, run_id: str) -> str:
        record = self._require(run_id)
        return (
            f"Queued: waiting for Ray resources ({describe_resources(record.config)}). Ray starts the run as soon "
            "as a node of the cluster has them free."
        )

    def _sqlite(self) -> bool:
        return self.store.url.startswith("sqlite")

    def _actor(self, run_id: str) -> Any | None:
        ray = connect()
        try:
            return ray.get_actor(_actor_name(run_id), namespace=NAMESPACE)
        except ValueError:
            return None

    def request_stop(self, run_id: str) -> None:
        record = self._require(run_id)
        if record.status == QUEUED:
            self.store.finish_if_active(run_id, STOPPED, error=None)
            self._kill(run_id)
            return
        if record.status in ACTIVE:
            self.store.update(run_id, stop_requested=1)

    def stop(self, run_id: str, grace: float = STOP_GRACE_SECONDS) -> RunRecord:
        self.request_stop(run_id)
        if self._wait_until_ended(run_id, grace).status in ACTIVE:
            ended = f"did not stop within {grace:.0f} s; its actor was ended"
            self.store.finish_if_active(run_id, STOPPED, error=ended)
            self._kill(run_id)
        return self._require(run_id)

    def _kill(self, run_id: str) -> None:
        actor = self._actor(run_id)
        if actor is not None:
            connect().kill(actor, no_restart=True)

    def reconcile(self) -> None:
        """Mark as failed the active runs whose actor is gone (killed, or its node died)."""
        for record in self.store.list(statuses=list(ACTIVE)):
            if time.time() - record.created_at < 10:
                continue  # just submitted: its actor may not be registered yet
            if self._actor(record.id) is None:
                self.store.finish_if_active(
                    record.id, FAILED, error="the run's Ray actor ended without reporting (killed, or its node died)"
                )
