"""Start, queue, watch and stop training runs, each in its own process.

A run never trains in the caller's process: the Streamlit script thread stays responsive, and a
crash or an out-of-memory error kills only that run. At most `capacity` runs train at once; the
rest wait in a queue, and whoever notices free capacity (the app, the command line, or the run's
supervisor, `app.runs.worker`, which outlives its training process however that ends, a kill
included) starts the next one, so the queue advances with no page open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithms import load
from app.runs.configs import ConfigError, build_config, config_to_dict
from app.runs.status import MAX_SEEDS, CapacityError
from app.runs.store import (
    ACTIVE,
    DATABASE_URL_ENV,
    FAILED,
    QUEUED,
    RUNNING,
    STARTING,
    STOPPED,
    RunRecord,
    RunStore,
)
from app.settings import ROOT
from app.words import counted

CAPACITY_ENV = "RLDOJO_MAX_RUNS"
STOP_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 120.0


def default_capacity() -> int:
    """RLDOJO_MAX_RUNS, else one run per two CPU cores (1 on a 2-core machine)."""
    raw = os.environ.get(CAPACITY_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise CapacityError(f"{CAPACITY_ENV} must be a whole number of runs, 1 or more; it is {raw!r}")
        return value
    return max(1, (os.cpu_count() or 2) // 2)


def worker_environment(database_url: str | None = None) -> dict[str, str]:
    """The worker's environment: ours, its database (`DATABASE_URL`, never on the command line where
    `ps` would show a password), one OpenMP thread, our code on PYTHONPATH."""
    env = dict(os.environ)
    if database_url and not database_url.startswith("sqlite"):
        env[DATABASE_URL_ENV] = database_url
    elif database_url:
        env.pop(DATABASE_URL_ENV, None)  # the data folder's runs.sqlite
    # Before torch is imported: one OpenMP thread that sleeps instead of spinning.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RunManager:
    store: RunStore
    capacity: int

    # --- starting ------------------------------------------------------------------------------
    def start(
        self,
        algorithm: str,
        config: dict[str, Any] | None = None,
        session: str | None = None,
        label: str | None = None,
        group: str | None = None,
    ) -> str:
        """Validate the config, queue the run, and start it now if there is capacity. Returns its id."""
        run_id = self._create(algorithm, config, session, label, group)
        self.schedule()
        return run_id

    def start_seeds(
        self, algorithm: str, config: dict[str, Any] | None, count: int, session: str | None = None
    ) -> tuple[str, list[str]]:
        """The same config on `count` seeds (its seed, seed + 1, ...), queued as one group whose id is
        stored with each run. Every config is checked before any is queued: a refusal queues nothing.
        Returns (group id, run ids in seed order)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SEEDS:
            raise ConfigError(f"seeds: give a whole number from 1 to {MAX_SEEDS}, got {count!r}")
        _, config_class, _ = load(algorithm)
        config = dict(config or {})
        base = config_to_dict(build_config(config_class, config))
        if "seed" not in base:
            raise ConfigError(f"seeds: {algorithm}'s config has no seed field, so its runs cannot differ by seed")
        seeds = [int(base["seed"]) + i for i in range(count)]
        for seed in seeds:
            build_config(config_class, {**config, "seed": seed})  # refuse before anything is queued
        group = "seeds-" + _new_id()
        run_ids = [
            self.start(algorithm, {**config, "seed": seed}, session, label=f"seed {seed}", group=group)
            for seed in seeds
        ]
        return group, run_ids

    def _create(
        self,
        algorithm: str,
        config: dict[str, Any] | None,
        session: str | None,
        label: str | None,
        group: str | None = None,
    ) -> str:
        _, config_class, _ = load(algorithm)
        checked = config_to_dict(build_config(config_class, config or {}))
        run_id = _new_id()
        self.store.create(run_id, algorithm, checked, session, label, group)
        return run_id

    def schedule(self) -> list[str]:
        """Start queued runs while there is capacity; returns the ids started."""
        self.reconcile()
        started = []
        while (record := self.store.claim_next(self.capacity)) is not None:
            self._spawn(record)
            started.append(record.id)
        return started

    def _spawn(self, record: RunRecord) -> None:
        log = self.store.log_path(record.id).open("ab")
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.runs.worker",
                    record.id,
                    "--data-dir",
                    str(self.store.data_dir),
                    "--capacity",
                    str(self.capacity),
                ],
                cwd=ROOT,
                env=worker_environment(self.store.url),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() can end it and all its children
            )
        except OSError as exc:
            self.store.finish_if_active(record.id, FAILED, error=f"could not start the worker: {exc}")
            return
        finally:
            log.close()
        self.store.set_pid_if_unset(record.id, process.pid)  # the training process records its own
        # Reap the child when it exits, so no zombie stays behind in a long-lived app process.
        threading.Thread(target=self._reap, args=(record.id, process), daemon=True).start()

    def _reap(self, run_id: str, process: subprocess.Popen) -> None:
        code = process.wait()
        record = self.store.get(run_id)
        if record is not None and record.status in ACTIVE:
            reason = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            self.store.finish_if_active(run_id, FAILED, error=f"the run's process {reason} before it finished")
        self.schedule()

    # --- stopping ------------------------------------------------------------------------------
    def request_stop(self, run_id: str) -> None:
        """Ask a run to stop; a queued run is stopped at once. Returns without waiting."""
        record = self._require(run_id)
        if record.status == QUEUED:
            self.store.finish_if_active(run_id, STOPPED, error=None)
            return
        if record.status in (STARTING, RUNNING):
            self.store.update(run_id, stop_requested=1)

    def stop(self, run_id: str, grace: float = STOP_GRACE_SECONDS) -> RunRecord:
        """Stop a run and wait: ask politely, and after `grace` seconds end its process group."""
        self.request_stop(run_id)
        record = self._wait_until_ended(run_id, grace)
        if record.pid and record.status in ACTIVE:
            # Record the outcome first: the reaper thread must not take the kill for a crash.
            self.store.finish_if_active(
                run_id, STOPPED, error=f"did not stop within {grace:.0f} s; its process was ended"
            )
            _kill_group(record.pid)
            self.schedule()  # its supervisor went with it: start the next queued run here
        return self._require(run_id)

    def _wait_until_ended(self, run_id: str, grace: float) -> RunRecord:
        """The run's record once it has ended, or after `grace` seconds (then maybe still active)."""
        deadline = time.monotonic() + grace
        record = self._require(run_id)
        while record.status in ACTIVE and time.monotonic() < deadline:
            time.sleep(0.1)
            record = self._require(run_id)
        return record

    def stop_in_background(self, run_id: str) -> None:
        self.request_stop(run_id)
        threading.Thread(target=self.stop, args=(run_id,), daemon=True).start()

    # --- watching ------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Mark as failed the runs whose process is gone (killed from outside, or a crashed host)."""
        now = time.time()
        for record in self.store.list(statuses=[STARTING, RUNNING]):
            if record.pid is None:
                if record.started_at and now - record.started_at > START_TIMEOUT_SECONDS:
                    self.store.finish_if_active(record.id, FAILED, error="the run's process never started")
                continue
            if not _alive(record.pid, record.id):
                self.store.finish_if_active(
                    record.id, FAILED, error="the run's process ended without reporting (killed from outside?)"
                )

    def get(self, run_id: str) -> RunRecord | None:
        return self.store.get(run_id)

    def queue_message(self, run_id: str) -> str:
        """What a queued run is waiting for, in a sentence (the Ray backend says Ray's resources)."""
        position = self.store.queue_position(run_id)
        return f"Waiting for a free slot: position {position} in the queue ({counted(self.capacity, 'run')} at a time)."

    def _require(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        if record is None:
            raise KeyError(f"no run with id '{run_id}'")
        return record

    def log_tail(self, run_id: str, lines: int = 20) -> str:
        path = self.store.log_path(run_id)
        if not path.exists():
            return ""
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            text = handle.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _new_id() -> str:
    """A run's (or a group's) id: when it was made, and six random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _alive(pid: int, run_id: str) -> bool:
    """True if `pid` is a live (not zombie) worker for this run; guards against reused pids."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no procfs (macOS): trust the signal check
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return state != "Z" and run_id in cmdline


def _kill_group(pid: int) -> None:
    """End the process group of `pid` (the run's supervisor, its training process and their children)."""
    try:
        pid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
