"""REINFORCE: hand-computed losses and returns, the baseline's gradient, time limits, train() and the CLI."""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import fields
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from algorithms import reinforce
from algorithms.contract import add_config_arguments, field_docs
from algorithms.reinforce import (
    Episode,
    ReinforceConfig,
    bootstrap_value,
    episode_returns,
    evaluate,
    load_policy,
    make_env,
    make_mlp,
    record_episode,
    reinforce_loss,
    reinforce_loss_from_rewards,
    returns_with_bootstrap,
    run_episodes,
    train,
)
from algorithms.returns import discounted_returns

ROOT = Path(__file__).resolve().parents[2]
TINY = {"total_episodes": 8, "batch_episodes": 4, "hidden_sizes": (8,), "eval_episodes": 2}
REQUIRED_KEYS = {
    "global_step",
    "progress",
    "charts/episodic_return",
    "charts/episodic_return_mean100",
    "charts/episodic_length",
    "charts/steps_per_second",
    "losses/policy",
    "losses/entropy",
}
FINAL_KEYS = {"total_steps", "seconds", "seconds_to_threshold", "eval_return_mean", "eval_return_std"}


def constant_policy(action: int, obs_dim: int = 4, n_actions: int = 2) -> nn.Sequential:
    """A policy that prefers ``action`` everywhere (logits from the bias alone)."""
    policy = make_mlp(obs_dim, (), n_actions)
    with torch.no_grad():
        policy[0].weight.zero_()
        policy[0].bias.copy_(torch.nn.functional.one_hot(torch.tensor(action), n_actions).float() * 5.0)
    return policy


# --- the loss ---------------------------------------------------------------------------


def test_loss_from_rewards_by_hand() -> None:
    # rewards (1, 2), gamma 0.5: G_1 = 2, G_0 = 1 + 0.5 * 2 = 2.
    log_probs = torch.log(torch.tensor([0.5, 0.25]))
    expected = -(2.0 * math.log(0.5) + 2.0 * math.log(0.25))  # = 4 ln 2 + ... = 6 ln 2
    loss = reinforce_loss_from_rewards(log_probs, np.array([1.0, 2.0]), 0.5)
    assert loss.item() == pytest.approx(expected)
    assert loss.item() == pytest.approx(6 * math.log(2))


def test_loss_from_rewards_three_steps_and_gradient() -> None:
    # rewards (1, 0, 3), gamma 0.9: G = (1 + 0.81 * 3, 0.9 * 3, 3) = (3.43, 2.7, 3).
    log_probs = torch.tensor([-0.1, -0.2, -0.3], dtype=torch.float64, requires_grad=True)
    loss = reinforce_loss_from_rewards(log_probs, np.array([1.0, 0.0, 3.0]), 0.9)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(3.43 * 0.1 + 2.7 * 0.2 + 3.0 * 0.3)
    loss.backward()
    np.testing.assert_allclose(log_probs.grad.numpy(), [-3.43, -2.7, -3.0])  # d loss / d ln pi_t = -G_t


def test_loss_from_rewards_agrees_with_the_general_loss() -> None:
    rng = np.random.default_rng(0)
    rewards, log_probs = rng.normal(size=7), torch.tensor(-rng.random(7))
    G = torch.as_tensor(discounted_returns(rewards, 0.95))
    assert reinforce_loss_from_rewards(log_probs, rewards, 0.95).item() == pytest.approx(
        reinforce_loss(log_probs, G).item()
    )
    assert reinforce_loss(log_probs, G, torch.zeros(7)).item() == pytest.approx(reinforce_loss(log_probs, G).item())


def test_baseline_gradient_follows_the_sign_of_the_advantage() -> None:
    log_probs = torch.tensor([-0.5, -0.5, -0.5], requires_grad=True)
    returns = torch.tensor([3.0, 1.0, 2.0])
    baseline = torch.tensor([2.0, 2.0, 2.0], requires_grad=True)
    reinforce_loss(log_probs, returns, baseline).backward()
    # Gradient descent moves ln pi_t along G_t - b_t: up when better than the baseline, down when worse.
    np.testing.assert_allclose(log_probs.grad.numpy(), [-1.0, 1.0, 0.0])
    assert baseline.grad is None  # detached: the policy loss does not train the baseline


def test_one_step_makes_a_better_than_baseline_action_likelier() -> None:
    theta = torch.zeros(2, requires_grad=True)  # logits of a state-free policy
    optimizer = torch.optim.SGD([theta], lr=0.1)
    log_pi = torch.log_softmax(theta, dim=0)
    actions = torch.tensor([0, 1])
    loss = reinforce_loss(log_pi[actions], torch.tensor([5.0, 1.0]), torch.tensor([3.0, 3.0]))
    loss.backward()
    optimizer.step()
    pi = torch.softmax(theta.detach(), dim=0)
    assert pi[0] > 0.5 > pi[1]


def test_a_constant_baseline_leaves_the_expected_gradient_unchanged() -> None:
    # sum_a pi(a) grad ln pi(a) = 0, so E[b grad ln pi(A)] = 0 for any b (S&B section 13.4).
    theta = torch.tensor([0.3, -1.0, 0.5], requires_grad=True)  # logits of a state-free policy
    pi = torch.softmax(theta, 0).detach()
    G = torch.tensor([1.0, 2.0, 0.5])  # the return after each action

    def expected_gradient(b: float) -> torch.Tensor:
        log_pi = torch.log_softmax(theta, 0)
        loss = sum(pi[a] * reinforce_loss(log_pi[a : a + 1], G[a : a + 1], torch.tensor([b])) for a in range(3))
        return torch.autograd.grad(loss, theta)[0]

    torch.testing.assert_close(expected_gradient(0.0), expected_gradient(7.0))
    assert expected_gradient(0.0).abs().sum() > 0.1


def test_normalized_weights() -> None:
    log_probs = torch.tensor([-1.0, -2.0, -3.0])
    returns, baseline = torch.tensor([4.0, 6.0, 11.0]), torch.tensor([1.0, 1.0, 2.0])
    psi = torch.tensor([3.0, 5.0, 9.0])
    psi = (psi - psi.mean()) / psi.std()
    expected = -(log_probs * psi).sum()
    assert reinforce_loss(log_probs, returns, baseline, normalize=True).item() == pytest.approx(expected.item())


# --- terminated versus truncated ----------------------------------------------------------


def test_bootstrap_value_only_after_a_time_limit() -> None:
    assert bootstrap_value(terminated=True, truncated=False, v_final=7.0) == 0.0
    assert bootstrap_value(terminated=False, truncated=True, v_final=7.0) == 7.0
    assert bootstrap_value(terminated=False, truncated=True, v_final=None) == 0.0  # no baseline: treated as an end
    assert bootstrap_value(terminated=True, truncated=True, v_final=7.0) == 0.0  # a real end wins


def test_returns_with_bootstrap_by_hand() -> None:
    rewards = np.array([1.0, 1.0])
    # Terminated: G_1 = 1, G_0 = 1 + 0.5 * 1 = 1.5.
    np.testing.assert_allclose(returns_with_bootstrap(rewards, 0.5), [1.5, 1.0])
    # Truncated with v_hat(S_2) = 4: G_1 = 1 + 0.5 * 4 = 3, G_0 = 1 + 0.5 * 3 = 2.5.
    np.testing.assert_allclose(returns_with_bootstrap(rewards, 0.5, 4.0), [2.5, 3.0])
    np.testing.assert_allclose(returns_with_bootstrap(np.array([]), 0.5, 4.0), [])


def test_episode_returns_bootstrap_the_truncated_episode_only() -> None:
    def episode(terminated: bool) -> Episode:
        return Episode(np.zeros((2, 4), np.float32), np.zeros(2, np.int64), np.array([1.0, 1.0]), terminated,
                       not terminated, np.zeros(4, np.float32))  # fmt: skip

    episodes = [episode(terminated=True), episode(terminated=False)]
    np.testing.assert_allclose(episode_returns(episodes, 0.5, [4.0, 4.0]), [1.5, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(episode_returns(episodes, 0.5, None), [1.5, 1.0, 1.5, 1.0])


def test_run_episodes_reports_how_each_episode_ended() -> None:
    # Pushing one way always, the pole falls in about ten steps: terminated. A 5-step limit cuts it first.
    long_envs = [make_env("CartPole-v1") for _ in range(2)]
    short_envs = [make_env("CartPole-v1", max_episode_steps=5) for _ in range(3)]
    fallen = run_episodes(constant_policy(0), long_envs, greedy=True, seeds=[0, 1])
    cut = run_episodes(constant_policy(0), short_envs, greedy=True, seeds=[0, 1, 2])
    assert [(e.terminated, e.truncated) for e in fallen] == [(True, False)] * 2
    assert all(5 < e.length < 20 for e in fallen)
    assert [(e.terminated, e.truncated, e.length) for e in cut] == [(False, True, 5)] * 3
    # The prefix of the cut episode is the same as the fallen one's (same seed, same actions).
    np.testing.assert_array_equal(cut[0].observations, fallen[0].observations[:5])
    np.testing.assert_array_equal(cut[0].final_observation, fallen[0].observations[5])
    assert cut[0].actions.tolist() == [0] * 5 and cut[0].total_reward == 5.0


def test_train_bootstraps_from_the_baseline_only_when_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    def spy(rewards: np.ndarray, gamma: float, bootstrap: float = 0.0) -> np.ndarray:
        seen.append(bootstrap)
        return returns_with_bootstrap(rewards, gamma, bootstrap)

    monkeypatch.setattr(reinforce, "returns_with_bootstrap", spy)
    train(ReinforceConfig(**{**TINY, "eval_episodes": 0, "max_episode_steps": 5}))
    assert len(seen) == 8 and all(b != 0.0 for b in seen)  # all cut at 5 steps: v_hat(S_5) counts
    seen.clear()
    train(ReinforceConfig(**{**TINY, "eval_episodes": 0, "max_episode_steps": 5, "baseline": False}))
    assert seen == [0.0] * 8  # no baseline: the time limit is treated as an end
    seen.clear()
    train(ReinforceConfig(**{**TINY, "eval_episodes": 0}))
    assert seen == [0.0] * 8  # the random policy's pole falls long before 500 steps: terminated


# --- train() ------------------------------------------------------------------------------


def test_train_reports_every_update_and_returns_final_metrics(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    result = train(ReinforceConfig(**TINY, output_dir=str(tmp_path)), on_update=calls.append)
    assert len(calls) == 2  # 8 episodes, 4 per update
    for m in calls:
        assert REQUIRED_KEYS | {"losses/value"} <= m.keys()
        assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
        assert 0.0 <= m["progress"] <= 1.0
    assert calls[-1]["progress"] == 1.0 and calls[0]["global_step"] < calls[1]["global_step"]
    assert calls[-1]["charts/episodic_return"] == calls[-1]["charts/episodic_length"]  # CartPole pays 1 a step
    final = result.metrics
    assert final.keys() >= FINAL_KEYS
    assert final["total_steps"] == calls[-1]["global_step"]
    assert final["seconds_to_threshold"] is None  # 8 random episodes are nowhere near 475
    assert final["reward_threshold"] == 475.0
    assert 0 < final["eval_return_mean"] <= 500 and final["eval_return_std"] >= 0
    policy = load_policy(result.artifacts["checkpoint"], ReinforceConfig(**TINY))
    assert evaluate(policy, "CartPole-v1", 2, seed=1_000_001) == pytest.approx(
        (final["eval_return_mean"], final["eval_return_std"])
    )


def test_without_baseline_there_is_no_value_loss() -> None:
    calls: list[dict[str, float]] = []
    train(ReinforceConfig(**TINY, baseline=False, normalize_advantages=True), on_update=calls.append)
    assert calls and all(m.keys() >= REQUIRED_KEYS and "losses/value" not in m for m in calls)


def test_should_stop_ends_training_after_the_current_update() -> None:
    calls: list[dict[str, float]] = []
    result = train(ReinforceConfig(**{**TINY, "total_episodes": 400}), on_update=calls.append, should_stop=lambda: True)
    assert len(calls) == 1
    assert result.metrics["episodes"] == 4 and result.metrics["stopped_early"] == 1.0
    assert calls[0]["progress"] == pytest.approx(4 / 400)


def test_max_seconds_caps_training() -> None:
    result = train(ReinforceConfig(**{**TINY, "total_episodes": 10_000, "max_seconds": 0.0}))
    assert result.metrics["episodes"] == 4 and result.metrics["progress"] == 1.0


def test_continuous_actions_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs discrete actions"):
        train(ReinforceConfig(**{**TINY, "env_id": "Pendulum-v1"}))


# --- rendering ----------------------------------------------------------------------------


def test_record_episode_frames_or_a_clear_error() -> None:
    try:
        import pygame  # noqa: F401
    except ImportError:
        with pytest.raises(gym.error.DependencyNotInstalled, match="pygame"):
            record_episode(constant_policy(0), "CartPole-v1", seed=0)
        return
    frames = record_episode(constant_policy(0), "CartPole-v1", seed=0, max_steps=3)
    assert len(frames) == 4 and frames[0].ndim == 3 and frames[0].shape[2] == 3


# --- the lesson regions and the command line -------------------------------------------------


def test_lesson_regions_are_unique_and_closed() -> None:
    source = Path(reinforce.__file__).read_text()
    starts = re.findall(r"^\s*# lesson:start (\S+)$", source, re.M)
    ends = re.findall(r"^\s*# lesson:end (\S+)$", source, re.M)
    assert sorted(starts) == sorted(ends) and len(set(starts)) == len(starts)
    assert {"policy-gradient-loss", "baseline-advantage", "sample-action", "episode-loop"} <= set(starts)


def test_every_config_field_has_a_docstring_and_a_flag() -> None:
    docs = field_docs(ReinforceConfig)
    assert {f.name for f in fields(ReinforceConfig)} == set(docs)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, ReinforceConfig)
    args = parser.parse_args(
        ["--env-id", "Acrobot-v1", "--no-baseline", "--hidden-sizes", "16,8", "--max-seconds", "2.5", "--lr", "1e-2"]
    )
    config = ReinforceConfig(**vars(args))
    assert (config.env_id, config.baseline, config.hidden_sizes, config.max_seconds, config.lr) == (
        "Acrobot-v1", False, (16, 8), 2.5, 0.01,
    )  # fmt: skip
    assert parser.parse_args(["--max-seconds", "none"]).max_seconds is None
    assert ReinforceConfig(**vars(parser.parse_args([]))) == ReinforceConfig()
    assert "learned state value" in parser.format_help()


# --- learning (slow) ------------------------------------------------------------------------


@pytest.mark.slow
def test_default_config_balances_the_pole() -> None:
    result = train(ReinforceConfig(seed=1))
    m = result.metrics
    assert m["eval_return_mean"] - m["eval_return_std"] >= 350, m
    assert m["seconds_to_threshold"] is not None
