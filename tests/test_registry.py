"""Every registered algorithm follows the training contract, and really runs through the run manager."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import pytest

from algorithms import REGISTRY, load
from algorithms.contract import TrainResult, config_fields
from app.runs.backends import open_manager

# Settings small enough for a smoke run in CI.
TINY = {
    "reinforce": {"total_episodes": 16, "batch_episodes": 4, "eval_episodes": 2},
    "tabular": {"episodes": 20},
    "a2c": {"total_timesteps": 512, "num_envs": 4, "num_steps": 8, "eval_episodes": 2},
    "trpo": {"total_timesteps": 512, "num_envs": 4, "num_steps": 32, "vf_epochs": 1, "eval_episodes": 2},
    "sac": {
        "total_timesteps": 300,
        "learning_starts": 100,
        "batch_size": 32,
        "hidden_sizes": (32, 32),
        "eval_episodes": 1,
    },
    "ppo": {"total_timesteps": 512, "num_envs": 8, "num_steps": 32, "update_epochs": 2, "eval_episodes": 2},
    "dqn": {"total_timesteps": 600, "learning_starts": 100, "train_freq": 50, "gradient_steps": 4, "eval_episodes": 2},
    "debug-lab": {"total_timesteps": 512, "num_envs": 4, "num_steps": 32, "update_epochs": 1, "eval_episodes": 2},
    "rlhf": {"stage": "ppo", "preset": "smoke", "iterations": 1, "device": "cpu", "cache_dir": tempfile.mkdtemp()},
    "grpo": {"preset": "smoke", "iterations": 1, "device": "cpu", "cache_dir": tempfile.mkdtemp()},
}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_config_is_documented_and_frozen(name: str) -> None:
    _, config_class, spec = load(name)
    assert spec.name == name
    fields = config_fields(config_class)
    undocumented = [f["name"] for f in fields if not f["help"]]
    assert undocumented == [], f"{name}: fields without a docstring (the form's help text)"
    config = config_class()
    with pytest.raises(AttributeError):
        config.__setattr__(fields[0]["name"], fields[0]["default"])  # frozen


@pytest.mark.parametrize("name", ["ppo", "a2c", "trpo", "reinforce", "dqn", "sac", "debug-lab"])
def test_the_shared_settings_come_from_one_base_and_keep_their_place(name: str) -> None:
    """env_id, seed, device... are declared once (RunConfig); the form still shows their docstrings,
    env_id and seed first, the algorithm's own settings next, and eval/device/time/output last."""
    from algorithms.contract import RunConfig, config_dict, field_docs

    _, config_class, _ = load(name)
    assert issubclass(config_class, RunConfig)
    names = [f["name"] for f in config_fields(config_class)]
    assert names[:2] == ["env_id", "seed"]
    assert names[-4:] == ["eval_episodes", "device", "max_seconds", "output_dir"]
    shared = {f.name for f in dataclasses.fields(RunConfig)}
    assert not shared & set(names[2:-4]), "the algorithm's own settings sit between the shared ones"
    assert field_docs(config_class)["max_seconds"] == field_docs(RunConfig)["max_seconds"]
    assert list(config_dict(config_class())) == names  # config.json in the same order


def test_a_config_s_field_docs_are_read_from_its_source_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live run's form asks for the help texts on every rerun; finding a class's source parses its
    whole module (0.4 s for PPO's classes on each rerun of the lesson before this was remembered)."""
    from algorithms import contract

    _, config_class, _ = load("ppo")
    getattr(contract._own_field_docs, "cache_clear", lambda: None)()
    read: list[type] = []
    real = contract.inspect.getsource
    monkeypatch.setattr(contract.inspect, "getsource", lambda obj: read.append(obj) or real(obj))
    first = contract.field_docs(config_class)
    assert set(read) == set(config_class.__mro__) - {object} and len(read) == len(set(read))
    assert contract.field_docs(config_class) == first and first["total_timesteps"]
    assert len(read) == len(config_class.__mro__) - 1, "the second form read the sources again"


@pytest.mark.parametrize("name", ["rlhf", "grpo"])
def test_the_lm_runs_share_one_base_too(name: str) -> None:
    """preset, seed, device, threads, cache_dir and output_dir are declared once (LMRunConfig), after each
    run's own settings on the form, the CLI and config.json; GRPO's own model and data come last."""
    from algorithms.contract import config_dict, field_docs
    from algorithms.lm.run_config import LMRunConfig

    _, config_class, _ = load(name)
    assert issubclass(config_class, LMRunConfig)
    names = [f["name"] for f in config_fields(config_class)]
    shared = list(LMRunConfig.LAST_FIELDS)
    start = names.index("preset")
    assert names[start : start + len(shared)] == shared
    assert not set(shared) & set(names[:start]), "the run's own settings come first"
    assert names[start + len(shared) :] == (["base_model", "dataset", "lora"] if name == "grpo" else [])
    assert field_docs(config_class)["threads"] == field_docs(LMRunConfig)["threads"]
    assert list(config_dict(config_class())) == names


# What the tiny settings above make each deep-RL run do: (final metric, value) and the range of its returns.
# PPO, TRPO, A2C and the lab step N x T at a time: 512 = 2 iterations of 8 x 32, 16 of 4 x 8, 4 of 4 x 32...
BUDGET = {
    "ppo": ("total_steps", 512),
    "a2c": ("total_steps", 512),
    "trpo": ("total_steps", 512),
    "debug-lab": ("total_steps", 512),
    "dqn": ("total_steps", 600),
    "sac": ("total_steps", 300),
    "reinforce": ("episodes", 16),
}
RETURNS = {"sac": (-16.3 * 200, 0.0)}  # Pendulum-v1: at most 16.3 lost per step, 200 steps; CartPole: 1 to 500


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_train_reports_and_returns_a_result(name: str) -> None:
    module, config_class, spec = load(name)
    points: list[dict] = []
    result = getattr(module, spec.train)(config_class(**TINY[name]), points.append, lambda: False)
    assert isinstance(result, TrainResult)
    assert points, "on_update was never called"
    assert all("global_step" in p and "progress" in p for p in points)
    steps = [p["global_step"] for p in points]
    assert steps == sorted(steps), f"global_step went backwards: {steps}"
    assert all(0 <= p["progress"] <= 1.0 for p in points)
    assert points[-1]["progress"] == pytest.approx(1.0), "a run that used its whole budget ends at 100%"
    if name not in BUDGET:
        return
    key, used = BUDGET[name]
    final = result.metrics
    assert final[key] == used, f"{name} used {final[key]} {key}, its budget was {used}"
    assert not final["stopped_early"]
    low, high = RETURNS.get(name, (1.0, 500.0))
    assert final["eval_return_mean"] is not None and low <= final["eval_return_mean"] <= high
    returns = [p["charts/episodic_return"] for p in points if "charts/episodic_return" in p]
    assert returns and all(low <= r <= high for r in returns), returns


def test_every_registered_algorithm_has_a_smoke_setting() -> None:
    assert set(TINY) == set(REGISTRY)


def test_reinforce_runs_end_to_end_through_the_manager(tmp_path: Path) -> None:
    manager = open_manager(tmp_path, capacity=1)
    run_id = manager.start("reinforce", {**TINY["reinforce"], "seed": 3})
    deadline = time.monotonic() + 120
    while manager.get(run_id).status not in ("finished", "failed", "stopped"):
        assert time.monotonic() < deadline, manager.log_tail(run_id)
        time.sleep(0.1)
    record = manager.get(run_id)
    assert record.status == "finished", (record.error, manager.log_tail(run_id, 40))
    assert record.device == "cpu"
    assert record.final_metrics["total_steps"] > 0
    assert Path(record.artifacts["checkpoint"]).is_file()
    assert Path(record.artifacts["episode"]).stat().st_size > 1000  # an animated GIF of the final policy
    assert len(manager.store.metrics(run_id)) == 4  # 16 episodes / 4 per update
