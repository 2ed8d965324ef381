"""The agent-environment loop on real Gymnasium environments."""

from __future__ import annotations

import gymnasium as gym

from algorithms.loop import random_policy, run_episode


def test_cartpole_episode_terminates_with_consistent_lengths() -> None:
    env = gym.make("CartPole-v1")
    trajectory = run_episode(env, random_policy(env, seed=0), seed=0)
    T = len(trajectory.actions)
    assert 5 <= T < 500
    assert len(trajectory.rewards) == T and len(trajectory.observations) == T + 1
    assert trajectory.terminated and not trajectory.truncated  # the pole fell: a real end
    assert trajectory.total_reward == T  # +1 per step survived


def test_time_limit_is_a_truncation_not_a_termination() -> None:
    env = gym.make("CartPole-v1", max_episode_steps=5)
    trajectory = run_episode(env, lambda obs: 1 if obs[2] > 0 else 0, seed=3)  # push under the pole
    assert len(trajectory.actions) == 5
    assert trajectory.truncated and not trajectory.terminated


def test_same_seed_same_episode() -> None:
    env = gym.make("CartPole-v1")
    first = run_episode(env, random_policy(env, seed=1), seed=1)
    second = run_episode(env, random_policy(env, seed=1), seed=1)
    assert first.actions == second.actions and first.rewards == second.rewards
