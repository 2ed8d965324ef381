"""The checks every deep-RL algorithm must pass, written once and run over the registry (like
Stable-Baselines3's tests over ``model_class``): the same seed repeats a run, a NaN loss stops it
with a message, the command line ends with one JSON object, and a finished run says what a user
would check first (all of its budget, episodes played, an evaluation in the environment's range)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from algorithms import load

ROOT = Path(__file__).resolve().parents[2]

# name: (tiny settings, the budget they set: total_steps or episodes, the CLI flags for the same run)
TINY: dict[str, dict[str, Any]] = {
    "ppo": {"total_timesteps": 512, "num_envs": 8, "num_steps": 32, "update_epochs": 2, "eval_episodes": 2},
    "a2c": {"total_timesteps": 256, "num_envs": 4, "num_steps": 8, "eval_episodes": 2},
    "trpo": {"total_timesteps": 256, "num_envs": 4, "num_steps": 32, "vf_epochs": 1, "eval_episodes": 2},
    "reinforce": {"total_episodes": 8, "batch_episodes": 4, "hidden_sizes": (8,), "eval_episodes": 2},
    "dqn": {"total_timesteps": 600, "learning_starts": 100, "train_freq": 50, "gradient_steps": 4, "eval_episodes": 2},
    "sac": {"total_timesteps": 300, "learning_starts": 100, "batch_size": 16, "hidden_sizes": (16, 16),
            "log_interval": 100, "eval_episodes": 2, "max_episode_steps": 50},
    "debug-lab": {"total_timesteps": 512, "num_envs": 4, "num_steps": 32, "update_epochs": 1, "eval_episodes": 2},
}  # fmt: skip
# Where a NaN is injected (module attribute -> a replacement that returns NaN) and the message expected.
NAN: dict[str, tuple[str, Any, str]] = {
    "ppo": ("compute_gae", lambda rewards, *args: torch.full_like(rewards, float("nan")), "became nan"),
    "a2c": ("rollout_returns", lambda rewards, *args: torch.full_like(rewards, float("nan")), "became nan"),
    "trpo": ("compute_gae", lambda rewards, *args: torch.full_like(rewards, float("nan")), "became nan"),
    "reinforce": (
        "discounted_returns",
        lambda rewards, gamma: np.full(len(rewards), np.nan),
        "losses/policy became nan",
    ),
    "dqn": (
        "dqn_loss",
        lambda q, y, huber=True: (q - y).pow(2).mean() * float("nan"),
        "losses/td became nan at step 150",
    ),
    "sac": ("soft_q_loss", lambda q1, q2, y: (q1 - y).pow(2).mean() * float("nan"), "losses/q became nan at step 100"),
    "debug-lab": ("gae_advantages", lambda rewards, *a, **k: torch.full_like(rewards, float("nan")), "became nan"),
}
# CartPole's returns lie in [1, 500] (at most 200 steps in the lab); Pendulum's (50 steps) in [-16.3 x 50, 0].
EVAL_RANGE = {"sac": (-16.3 * 50, 0.0), "debug-lab": (1.0, 200.0)}
HEADER = {"ppo": "PPO on", "a2c": "A2C on", "trpo": "TRPO on", "reinforce": "REINFORCE", "dqn": "Double DQN on",
          "sac": "SAC on", "debug-lab": "Debugging lab"}  # fmt: skip
TIMED = {"charts/steps_per_second", "progress"}


def _train(name: str, on_update: Any = None, **overrides: Any) -> Any:
    module, config_class, spec = load(name)
    return getattr(module, spec.train)(config_class(**{**TINY[name], **overrides}), on_update)


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_finished_run_reports_what_a_user_checks_first(name: str) -> None:
    reports: list[dict[str, float]] = []
    result = _train(name, reports.append)
    final = result.metrics
    budget = TINY[name].get("total_timesteps")
    if budget is not None:
        assert final["total_steps"] == budget  # the whole budget, no more
    else:
        assert final["episodes"] == TINY[name]["total_episodes"]
    assert final["total_steps"] == reports[-1]["global_step"]
    steps = [r["global_step"] for r in reports]
    assert steps == sorted(steps) and steps[0] > 0
    assert reports[-1]["progress"] == 1.0 and final["stopped_early"] == 0.0
    assert final["episodes"] >= 1 and final["updates"] >= 1
    low, high = EVAL_RANGE.get(name, (1.0, 500.0))
    assert low <= final["eval_return_mean"] <= high and final["eval_return_std"] >= 0
    assert final["reward_threshold"] in (None, 475.0)  # CartPole-v1's, or none (Pendulum, the lab's 200 steps)
    assert all(math.isfinite(v) for r in reports for v in r.values())


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_seed_same_run(name: str) -> None:
    def run(seed: int) -> list[dict[str, float]]:
        reports: list[dict[str, float]] = []
        _train(name, reports.append, seed=seed, eval_episodes=0)
        return [{k: v for k, v in r.items() if k not in TIMED} for r in reports]

    first = run(3)
    assert run(3) == first
    assert run(4) != first


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_nan_loss_stops_the_run_with_its_name(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, _, _ = load(name)
    attribute, replacement, message = NAN[name]
    monkeypatch.setattr(module, attribute, replacement)
    with pytest.raises(FloatingPointError, match=message):
        _train(name)


def _flags(settings: dict[str, Any]) -> list[str]:
    flags = []
    for key, value in settings.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        flags += ["--" + key.replace("_", "-"), text]
    return flags


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_command_line_prints_one_json_object_last(name: str) -> None:
    _, _, spec = load(name)
    command = [sys.executable, "-m", spec.module, *_flags({**TINY[name], "seed": 2}), "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(HEADER[name]), lines[0]
    result = json.loads(lines[-1])
    assert result["total_steps"] > 0 and result["eval_return_mean"] is not None
    assert {"seconds", "seconds_to_threshold", "steps_to_threshold", "eval_return_std"} <= result.keys()
    if "total_timesteps" in TINY[name]:
        assert result["total_steps"] == TINY[name]["total_timesteps"]
