"""The small parts every deep-RL algorithm here shares (like Spinning Up's ``core.py``): networks,
environments, and playing the trained policy to score it or to film it.

Each algorithm keeps only what is its own: how its network turns observations into actions. That
is the ``act`` function handed to ``evaluate`` and ``record_episode``: a batch of observations
(n, obs_dim) float32 in, the n actions the environments should receive out (already clipped or
mapped onto the action box).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from algorithms.envs.mujoco_setup import render_errors, render_kwargs

Act = Callable[[np.ndarray], np.ndarray]  # observations (n, obs_dim) -> the n actions to play

__all__ = ["Act", "env_sizes", "evaluate", "make_env", "make_mlp", "record_episode"]


def make_mlp(
    n_in: int,
    hidden_sizes: Sequence[int],
    n_out: int,
    activation: type[nn.Module] = nn.Tanh,
    out_gain: float | None = None,
) -> nn.Sequential:
    """Linear layers with ``activation`` between them and none after the last.

    ``out_gain`` None keeps torch's default initialisation. A number asks for orthogonal weights and
    zero biases (Huang et al. 2022, detail 2): gain sqrt(2) for hidden layers, ``out_gain`` for the
    last (0.01 for a policy, so it starts near uniform or near zero mean; 1 for a value).
    """
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers += [_init(nn.Linear(n_in, width), None if out_gain is None else math.sqrt(2.0)), activation()]
        n_in = width
    layers.append(_init(nn.Linear(n_in, n_out), out_gain))
    return nn.Sequential(*layers)


def _init(layer: nn.Linear, gain: float | None) -> nn.Linear:
    if gain is not None:
        nn.init.orthogonal_(layer.weight, gain)
        nn.init.zeros_(layer.bias)
    return layer


def make_env(
    env_id: str,
    max_episode_steps: int | None = None,
    *,
    actions: Literal["discrete", "bounded box"],
    needed_by: str,
    **kwargs: Any,
) -> gym.Env:
    """``gym.make(env_id)``, checked to have the action space the algorithm ``needed_by`` needs:
    ``discrete`` (one output per action) or a ``bounded box`` (tanh squashes into it)."""
    env = gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    space = env.action_space
    if actions == "discrete":
        if not isinstance(space, gym.spaces.Discrete):
            env.close()
            raise ValueError(f"{needed_by} needs discrete actions; {env_id} has {space}")
    elif not isinstance(space, gym.spaces.Box) or not np.all(np.isfinite(space.low) & np.isfinite(space.high)):
        env.close()
        raise ValueError(f"{needed_by} needs a bounded Box action space (tanh squashes into it); {env_id} has {space}")
    return env


def env_sizes(env: gym.Env) -> tuple[int, int]:
    """(observation dimension, number of actions) for discrete actions, (observation dimension,
    action dimension) for a Box."""
    obs_dim = int(np.prod(env.observation_space.shape))
    space = env.action_space
    return obs_dim, int(space.n) if isinstance(space, gym.spaces.Discrete) else int(np.prod(space.shape))


def evaluate(act: Act, make: Callable[[], gym.Env], episodes: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of the undiscounted return of the policy ``act`` over ``episodes``
    episodes (environments from ``make``, reset with seeds seed, seed + 1, ...), all played in
    lockstep so one forward pass picks the actions of every unfinished episode."""
    envs = [make() for _ in range(episodes)]
    try:
        obs = [np.asarray(env.reset(seed=seed + i)[0], np.float32).ravel() for i, env in enumerate(envs)]
        totals = np.zeros(episodes)
        active = list(range(episodes))
        while active:
            with torch.inference_mode():
                actions = act(np.stack([obs[i] for i in active]))
            still = []
            for i, a in zip(active, actions, strict=True):
                next_obs, r, terminated, truncated, _ = envs[i].step(a)
                totals[i] += float(r)
                obs[i] = np.asarray(next_obs, np.float32).ravel()
                if not (terminated or truncated):
                    still.append(i)
            active = still
    finally:
        for env in envs:
            env.close()
    return float(totals.mean()), float(totals.std())


def record_episode(
    act: Act, make: Callable[..., gym.Env], env_id: str, seed: int, max_steps: int = 500
) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of one episode of ``act``, the first before any action, for an animation.
    ``make(**kwargs)`` builds the environment (with ``render_mode="rgb_array"``).

    Raises ``gymnasium.error.DependencyNotInstalled`` when the renderer is missing (classic control
    draws with pygame: ``pip install "gymnasium[classic-control]"``; MuJoCo with EGL or OSMesa).
    """
    with render_errors(env_id):  # MuJoCo: a missing GL back end says why, like a missing pygame
        env = make(render_mode="rgb_array", **render_kwargs(env_id))
        try:
            obs, _ = env.reset(seed=seed)
            try:
                frames = [np.asarray(env.render())]
            except gym.error.DependencyNotInstalled as err:
                raise gym.error.DependencyNotInstalled(f"record_episode cannot draw {env_id} frames: {err}") from err
            for _ in range(max_steps):
                with torch.inference_mode():
                    a = act(np.asarray(obs, np.float32).reshape(1, -1))[0]
                obs, _, terminated, truncated, _ = env.step(a)
                frames.append(np.asarray(env.render()))
                if terminated or truncated:
                    break
            return frames
        finally:
            env.close()
