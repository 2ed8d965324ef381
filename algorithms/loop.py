"""The agent-environment loop, as Gymnasium 1.x writes it (Sutton & Barto, section 3.1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[Any], Any]  # observation -> action


@dataclass
class Trajectory:
    """One episode: observations s_0..s_T, actions a_0..a_{T-1}, rewards r_1..r_T."""

    observations: list[Any] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False  # the task really ended (goal, failure): V(s_T) = 0
    truncated: bool = False  # a time limit cut it: s_T still has a value worth bootstrapping

    @property
    def total_reward(self) -> float:
        return float(np.sum(self.rewards))


def run_episode(env: gym.Env, policy: Policy, seed: int | None = None, max_steps: int = 10_000) -> Trajectory:
    """Let `policy` act in `env` until the episode terminates or is truncated."""
    trajectory = Trajectory()
    # lesson:start agent-environment-loop
    observation, _info = env.reset(seed=seed)
    trajectory.observations.append(observation)
    for _ in range(max_steps):
        action = policy(observation)  # the agent decides
        observation, reward, terminated, truncated, _info = env.step(action)  # the world answers
        trajectory.actions.append(action)
        trajectory.rewards.append(float(reward))
        trajectory.observations.append(observation)
        if terminated or truncated:
            trajectory.terminated, trajectory.truncated = bool(terminated), bool(truncated)
            break
    # lesson:end agent-environment-loop
    return trajectory


def random_policy(env: gym.Env, seed: int | None = None) -> Policy:
    """A policy that ignores the observation: the baseline every agent must beat."""
    env.action_space.seed(seed)
    return lambda observation: env.action_space.sample()
