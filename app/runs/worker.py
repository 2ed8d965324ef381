"""The processes of one run: `python -m app.runs.worker RUN_ID --data-dir DIR`.

Started by the run manager with its own process group, its output going to the run's log. That
process is the run's supervisor: it starts the training process (the same module with `--train`),
waits for it, records a failure if it ended without reporting (killed, out of memory), and then
starts the next queued run: the queue advances however a run ends, with no page open. The
training process calls the algorithm's train(), batches metrics into the store, polls the store
for a stop request, and records how the run ended. Neither imports streamlit.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import fields
from typing import Any

from algorithms import load
from algorithms.contract import NonFiniteLossError, TrainResult
from app.runs.configs import build_config
from app.runs.manager import RunManager
from app.runs.store import ACTIVE, FAILED, FINISHED, STOPPED, RunStore, StoreUnavailable
from app.settings import ROOT

FLUSH_SECONDS = 0.5
FLUSH_POINTS = 500
STOP_POLL_SECONDS = 0.5


class MetricsSink:
    """Buffers metric points and writes them in batches, so logging never slows training."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.buffer: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.progress: float | None = None
        self.started = time.monotonic()

    def __call__(self, metrics: dict[str, Any]) -> None:
        point = {k: float(v) if isinstance(v, int | float) else v for k, v in metrics.items()}
        point.setdefault("time/elapsed", time.monotonic() - self.started)
        for key, value in point.items():
            # The contract's guard: a NaN in any loss ends the run with a clear message.
            if key.startswith("losses/") and isinstance(value, float) and not math.isfinite(value):
                self.buffer.append(point)
                self.flush()
                step = int(point.get("global_step", len(self.buffer)))
                raise NonFiniteLossError(f"{key} became {value} at step {step}: try a smaller learning rate")
        if "progress" in point:
            self.progress = min(1.0, max(0.0, float(point["progress"])))
        self.buffer.append(point)
        if len(self.buffer) >= FLUSH_POINTS or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.store.append_metrics(self.run_id, self.buffer, self.progress)
            self.buffer = []
        self.last_flush = time.monotonic()


class StopFlag:
    """should_stop() for the algorithm: reads the store at most every STOP_POLL_SECONDS."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.last_check, self.value = 0.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.value and now - self.last_check >= STOP_POLL_SECONDS:
            self.last_check = now
            record = self.store.get(self.run_id)
            self.value = record is None or record.stop_requested
        return self.value


def describe_device(config: Any) -> str:
    wanted = getattr(config, "device", "auto")
    if wanted == "cpu":
        return "cpu"
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return "cpu"


def friendly_error(exc: BaseException) -> str:
    if isinstance(exc, NonFiniteLossError):
        return str(exc)
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return f"the GPU ran out of memory ({exc}); try a smaller batch, model or number of environments"
    if isinstance(exc, MemoryError):
        return "the run ran out of memory; try a smaller batch, model or number of environments"
    return f"{type(exc).__name__}: {exc}"


def run(run_id: str, store: RunStore) -> int:
    record = store.get(run_id)
    if record is None:
        print(f"no run with id {run_id}", file=sys.stderr)
        return 2
    print(f"run {run_id}: {record.algorithm} {record.config}", flush=True)
    sink = MetricsSink(store, run_id)
    try:
        module, config_class, spec = load(record.algorithm)
        values = dict(record.config)
        names = {f.name for f in fields(config_class)}
        if "output_dir" in names:
            values["output_dir"] = str(store.run_dir(run_id))
        if "cache_dir" in names and not values.get("cache_dir"):
            values["cache_dir"] = str(store.data_dir / "cache" / record.algorithm)  # shared by this data dir's runs
        config = build_config(config_class, values)
        if not store.mark_running(run_id, pid=os.getpid(), device=describe_device(config), heartbeat=time.time()):
            ended = store.get(run_id)
            print(f"run {run_id}: ended ({ended.status if ended else 'deleted'}) before it started", flush=True)
            return 0
        train = getattr(module, spec.train)
        result = train(config, sink, StopFlag(store, run_id))
        sink.flush()
        if not isinstance(result, TrainResult):
            raise TypeError(f"{spec.module}.{spec.train} returned {type(result).__name__}, not TrainResult")
        stopped = store.get(run_id).stop_requested
        store.finish_if_active(
            run_id,
            STOPPED if stopped else FINISHED,
            final_metrics=result.metrics,
            artifacts=result.artifacts,
            progress=sink.progress if stopped else 1.0,
        )
    except BaseException as exc:  # the run fails; the process reports it and exits normally
        try:
            sink.flush()
        except Exception:
            traceback.print_exc()
        traceback.print_exc()
        store.finish_if_active(run_id, FAILED, error=friendly_error(exc), progress=sink.progress or 0.0)
        return 1
    print(f"run {run_id}: {'stopped' if stopped else 'finished'} {result.metrics}", flush=True)
    return 0


def _die_with_parent() -> None:
    """In the training process (Linux): be killed when the supervisor dies, never left orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def supervise(run_id: str, store: RunStore, capacity: int) -> int:
    """Train in a child process, record how it ended if it could not, then start the next run."""
    command = [sys.executable, "-m", "app.runs.worker", run_id, "--data-dir", str(store.data_dir), "--train"]
    try:
        child = subprocess.Popen(command, cwd=ROOT, preexec_fn=_die_with_parent)
        code = child.wait()
    except OSError as exc:
        store.finish_if_active(run_id, FAILED, error=f"could not start the training process: {exc}")
        code = 1
    else:
        record = store.get(run_id)
        if record is not None and record.status in ACTIVE:
            reason = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            store.finish_if_active(run_id, FAILED, error=f"the run's process {reason} before it finished")
    # Capacity is free now: start the next queued run, if any.
    RunManager(store, capacity).schedule()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.runs.worker")
    parser.add_argument("run_id")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--capacity", type=int, default=1, help="runs at once (the manager passes its own)")
    parser.add_argument("--train", action="store_true", help="train here (the supervisor starts this)")
    args = parser.parse_args(argv)
    try:
        store = RunStore(args.data_dir)
        if args.train:
            return run(args.run_id, store)
        return supervise(args.run_id, store, max(1, args.capacity))
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
