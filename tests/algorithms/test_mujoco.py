"""MuJoCo through Gymnasium: PPO and SAC run on Hopper-v5, frames render offscreen, checkpoints load
back to the same policy, and the app's presets say clearly when MuJoCo is missing.

The tests that need MuJoCo skip when it is not installed; rendering skips, with the reason, when no
OpenGL back end (EGL or OSMesa) works here."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from algorithms import ppo, sac
from algorithms.envs import mujoco_setup
from algorithms.envs.mujoco_setup import is_mujoco_env, mujoco_missing, render_kwargs
from app.runs.configs import build_config, environment_problem, preset_values, run_presets


@pytest.fixture(scope="module")
def backend() -> str | None:
    """Choose the GL back end *before* MuJoCo is imported (it reads MUJOCO_GL once), then import it."""
    chosen = mujoco_setup.configure_offscreen_rendering()
    pytest.importorskip("mujoco")
    return chosen


@pytest.fixture
def short_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record 3 frames, not a whole episode: software rendering draws under 10 frames a second here."""
    for module in (ppo, sac):

        def record(agent, env_id, seed, *_, real=module.record_episode, **kwargs):
            kwargs.pop("max_steps", None)
            return real(agent, env_id, seed, max_steps=2, **kwargs)

        monkeypatch.setattr(module, "record_episode", record)


def finite(metrics: dict) -> bool:
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


def test_ppo_on_hopper_reports_finite_metrics_and_saves_a_checkpoint_that_loads_back(
    backend: str | None, short_episodes: None, tmp_path: Path
) -> None:
    config = ppo.preset(
        "Hopper-v5",
        total_timesteps=512,
        num_envs=2,
        num_steps=128,
        num_minibatches=4,
        update_epochs=2,
        eval_episodes=1,
        checkpoint_every=1,
        output_dir=str(tmp_path),
    )
    reports: list[dict] = []
    result = ppo.train(config, on_update=reports.append)
    assert [r["global_step"] for r in reports] == [256, 512]
    assert all(finite(r) and "losses/policy" in r for r in reports)
    assert finite(result.metrics) and math.isfinite(result.metrics["eval_return_mean"])
    # The periodic save after iteration 1 of 2 (checkpoint_every): a caption for the runs page.
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["global_step"] == 256 and latest["iteration"] == 1
    assert ("episode" in result.artifacts) == (backend is not None)
    assert ("no_episode" in result.artifacts) == (backend is None)

    agent = ppo.load_agent(result.artifacts["checkpoint"], config)
    state = ppo.load_training_state(tmp_path)
    assert state["counters"]["global_step"] == 512
    twin = ppo.load_agent(result.artifacts["checkpoint"], config)
    twin.load_state_dict(state["agent"])
    x = agent.normalize(torch.randn(5, 11))
    assert torch.equal(agent.deterministic(x), twin.deterministic(x))
    # The same deterministic policy as the one train() scored: the same evaluation return.
    assert ppo.evaluate(agent, "Hopper-v5", 1, config.seed + 1_000_000)[0] == pytest.approx(
        result.metrics["eval_return_mean"]
    )


def test_sac_on_hopper_reports_finite_metrics_and_saves_a_checkpoint_that_loads_back(
    backend: str | None, short_episodes: None, tmp_path: Path
) -> None:
    config = sac.preset(
        "Hopper-v5",
        total_timesteps=300,
        learning_starts=100,
        batch_size=32,
        hidden_sizes=(32, 32),
        log_interval=100,
        eval_episodes=1,
        max_episode_steps=100,
        checkpoint_every=200,
        output_dir=str(tmp_path),
    )
    reports: list[dict] = []
    result = sac.train(config, on_update=reports.append)
    assert [r["global_step"] for r in reports] == [100, 200, 300]
    assert all(finite(r) for r in reports) and "losses/q" in reports[-1]
    assert json.loads((tmp_path / "latest.json").read_text())["global_step"] == 200
    actor = sac.load_actor(result.artifacts["checkpoint"], config)
    assert sac.evaluate(actor, "Hopper-v5", 1, config.seed + 1_000_000, 100)[0] == pytest.approx(
        result.metrics["eval_return_mean"]
    )
    assert ("episode" in result.artifacts) == (backend is not None)


def test_hopper_renders_a_frame_offscreen(backend: str | None) -> None:
    if backend is None:
        pytest.skip(f"no offscreen rendering here: {mujoco_setup.offscreen_problem()}")
    env = gym.make("Hopper-v5", render_mode="rgb_array", **render_kwargs("Hopper-v5"))
    try:
        env.reset(seed=0)
        frame = np.asarray(env.render())
    finally:
        env.close()
    assert frame.shape == (320, 320, 3) and frame.dtype == np.uint8
    assert frame.var() > 0  # not a blank image: the floor, the sky and the hopper


def test_mujoco_environments_are_recognised_and_a_missing_engine_is_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert is_mujoco_env("Hopper-v5") and is_mujoco_env("Humanoid-v5")
    assert not is_mujoco_env("CartPole-v1") and not is_mujoco_env("NoSuchEnv-v0")
    assert mujoco_missing("CartPole-v1") is None and environment_problem("CartPole-v1") is None
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mujoco" else real_find_spec(name, *a)
    )
    message = environment_problem("Humanoid-v5")
    assert message is not None and "mujoco is not installed" in message and "pip install mujoco==" in message
    with pytest.raises(gym.error.DependencyNotInstalled, match="pip install mujoco=="):
        render_kwargs("Hopper-v5")


def test_app_presets_build_valid_configs_for_cpu_and_gpu() -> None:
    names = {(p.algorithm, p.name) for p in run_presets("ppo") + run_presets("sac")}
    assert names == {(a, n) for a in ("ppo", "sac") for n in ("hopper-quick", "humanoid-long")}
    for module, config_class in ((ppo, ppo.PPOConfig), (sac, sac.SACConfig)):
        for run_preset in run_presets(module.__name__.rsplit(".", 1)[-1]):
            for cuda in (False, True):
                config = build_config(config_class, preset_values(run_preset, module, cuda))
                assert config.env_id == run_preset.env_id
    humanoid = next(p for p in run_presets("ppo") if p.name == "humanoid-long")
    cpu, gpu = (preset_values(humanoid, ppo, cuda) for cuda in (False, True))
    assert cpu["checkpoint_every"] > 0 and cpu["hidden_sizes"] == (256, 256)  # the algorithm's Humanoid preset
    assert gpu["num_envs"] > cpu["num_envs"]
    assert "hours on a CPU" in humanoid.note


@pytest.mark.slow
def test_ppo_hopper_learns_to_hop(backend: str | None) -> None:
    """About 2 minutes on a 2-core CPU: 60k steps lift the mean return well above a falling hopper's ~20."""
    config = ppo.preset("Hopper-v5", total_timesteps=61_440, eval_episodes=5)
    result = ppo.train(config)
    assert result.metrics["charts/episodic_return_mean100"] > 150


@pytest.mark.slow
def test_humanoid_trains_and_writes_a_checkpoint_and_an_episode(backend: str | None, tmp_path: Path) -> None:
    """The long run's machinery on the seed's Humanoid: two iterations of 2 x 512 steps."""
    config = ppo.preset(
        "Humanoid-v5",
        total_timesteps=2048,
        num_envs=2,
        num_steps=512,
        eval_episodes=1,
        checkpoint_every=1,
        output_dir=str(tmp_path),
    )
    result = ppo.train(config)
    assert finite(result.metrics) and (tmp_path / "agent.pt").is_file()
    assert (tmp_path / "training_state.pt").is_file() and (tmp_path / "latest.json").is_file()
    if backend is not None:
        assert Path(result.artifacts["episode"]).stat().st_size > 1000
