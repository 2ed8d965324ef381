"""Algorithms that misbehave on purpose, plugged in through RLDOJO_PLUGINS for the run-manager tests."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from algorithms import AlgorithmSpec
from algorithms.contract import TrainResult, never_stop


@dataclass(frozen=True)
class CountConfig:
    steps: int = 20
    """How many updates to report."""
    sleep: float = 0.01
    """Seconds per update."""
    fail_at: int = -1
    """Raise at this update (-1: never)."""
    nan_at: int = -1
    """Report a NaN policy loss at this update (-1: never)."""
    ignore_stop: bool = False
    """Never poll should_stop (to test the forced stop)."""
    spawn_child: bool = False
    """Start a child process that would outlive a careless stop."""
    device: str = "cpu"
    """Where to run."""


def train(config: CountConfig, on_update=None, should_stop=None) -> TrainResult:
    on_update = on_update or (lambda m: None)
    should_stop = should_stop or never_stop
    if config.spawn_child:
        subprocess.Popen(["sleep", "300"])
    done = 0
    for step in range(config.steps):
        if step == config.fail_at:
            raise RuntimeError(f"boom at step {step}")
        loss = float("nan") if step == config.nan_at else 1.0 / (step + 1)
        on_update(
            {
                "global_step": step,
                "progress": (step + 1) / config.steps,
                "losses/policy": loss,
                "charts/episodic_return": float(step),
            }
        )
        done = step + 1
        time.sleep(config.sleep)
        if not config.ignore_stop and should_stop():
            break
    return TrainResult(metrics={"total_steps": done, "eval_return_mean": float(done)})


REGISTRY = {
    "fake-count": AlgorithmSpec(
        name="fake-count",
        title="Counter",
        description="Counts.",
        module="tests.app.runs.fake_algorithms",
        config="CountConfig",
    ),
}


@dataclass(frozen=True)
class SeededConfig:
    seed: int = 0
    """Seed of the run: its final return is seed squared."""
    steps: int = 5
    """How many updates to report."""
    sleep: float = 0.0
    """Seconds per update."""
    fail_seed: int = -1
    """The seed whose run raises (-1: none)."""


def train_seeded(config: SeededConfig, on_update=None, should_stop=None) -> TrainResult:
    on_update = on_update or (lambda m: None)
    should_stop = should_stop or never_stop
    if config.seed == config.fail_seed:
        raise RuntimeError(f"seed {config.seed} fails on purpose")
    for step in range(config.steps):
        on_update(
            {
                "global_step": step,
                "progress": (step + 1) / config.steps,
                "charts/episodic_return": float(config.seed * step),
            }
        )
        time.sleep(config.sleep)
        if should_stop():
            break
    return TrainResult(metrics={"total_steps": config.steps, "eval_return_mean": float(config.seed**2)})


REGISTRY["fake-seeded"] = AlgorithmSpec(
    name="fake-seeded",
    title="Seeded counter",
    description="Ends with a return of its seed squared.",
    module="tests.app.runs.fake_algorithms",
    config="SeededConfig",
    train="train_seeded",
)
