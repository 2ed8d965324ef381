"""The on-policy rollout that PPO, A2C and TRPO share: N copies of an environment step together
for T steps under the current policy, and what that takes (the vector environment, the autoreset
mask, the episode log).

Gymnasium 1.x vector environments reset a finished copy on the *next* call to ``step``
(AutoresetMode.NEXT_STEP): the step that ends an episode returns its final observation, and the
following step ignores the action, returns the reset observation with reward 0 and no done flag.
So row t+1 of a rollout holds the final observation of an episode that ended at t (V of it is
simply the value of row t+1: a time limit bootstraps from it), and the row t+1 itself is no
transition at all: ``autoreset_mask`` drops it from the loss and from every statistic.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from algorithms.contract import Metrics

__all__ = [
    "EpisodeLog",
    "Rollout",
    "RolloutState",
    "autoreset_mask",
    "collect_rollout",
    "env_action",
    "episode_metrics",
    "final_observations",
    "flatten_valid",
    "make_vector_env",
]


def make_vector_env(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    """N copies of ``env_id``, with gymnasium's NEXT_STEP autoreset.

    An environment with its own vectorised implementation (CartPole: numpy over all copies, millions
    of steps a second) uses it; others are stepped one after the other in this process ("sync").
    """
    spec = gym.spec(env_id)
    if spec.vector_entry_point is not None:
        envs = gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point")
        if envs.metadata.get("autoreset_mode") == AutoresetMode.NEXT_STEP:
            return envs
        envs.close()  # a vector implementation with another autoreset rule: use the sync wrapper
    return gym.make_vec(
        env_id, num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP}
    )


def autoreset_mask(prev_terminated: np.ndarray, prev_truncated: np.ndarray) -> np.ndarray:
    """True where this step is a real transition, False where it only resets a copy of the environment.

    Under gymnasium's NEXT_STEP autoreset the step after a done ignores the action and returns the
    reset observation with reward 0: it belongs to no episode, and training on it would teach the
    policy that some action led from a final state to a start state. Inputs: the done flags the
    previous step returned, (N,) bool. Returns (N,) bool.
    """
    return ~(np.asarray(prev_terminated, dtype=bool) | np.asarray(prev_truncated, dtype=bool))


class EpisodeLog:
    """Undiscounted returns and lengths of the training episodes as they finish (the raw rewards,
    before any scaling), and the last 100 of them."""

    def __init__(self, num_envs: int) -> None:
        self.ret = np.zeros(num_envs)  # return so far of each copy's current episode, (N,)
        self.length = np.zeros(num_envs, dtype=np.int64)  # (N,)
        self.recent: deque[float] = deque(maxlen=100)
        self.returns: list[float] = []  # finished since the last ``clear``
        self.lengths: list[int] = []
        self.episodes = 0

    def step(self, rewards: np.ndarray, valid: np.ndarray, done: np.ndarray) -> bool:
        """Add one step of the N copies; True when an episode finished. A reset step (valid False)
        brings reward 0 and adds no length."""
        self.ret += rewards
        self.length += valid
        if not done.any():
            return False
        ended = np.flatnonzero(done)
        finished = self.ret[ended].tolist()
        self.recent.extend(finished)
        self.returns.extend(finished)
        self.lengths.extend(self.length[ended].tolist())
        self.episodes += len(ended)
        self.ret[ended], self.length[ended] = 0.0, 0
        return True

    def mean100(self) -> float | None:
        """Mean return of the last 100 episodes, once there are 100."""
        return float(np.mean(self.recent)) if len(self.recent) == self.recent.maxlen else None

    def clear(self) -> None:
        self.returns.clear()
        self.lengths.clear()


def env_action(agent: OnPolicyAgent, action: Tensor, space: gym.Space | None) -> np.ndarray:
    a = action.cpu().numpy()
    if agent.discrete:
        return a
    assert isinstance(space, gym.spaces.Box), "continuous actions are clipped to their Box"
    return np.clip(a, space.low, space.high)  # the box's edges, for the env only


@dataclass
class Rollout:
    """T steps of N copies, as the networks saw them."""

    obs: Tensor  # (T, N, obs_dim)
    actions: Tensor  # (T, N) integers or (T, N, D)
    rewards: Tensor  # (T, N)
    terminated: Tensor  # (T, N) bool
    truncated: Tensor  # (T, N) bool
    valid: Tensor  # (T, N) bool: False on rows that only reset a copy (autoreset_mask)
    next_obs: Tensor  # (N, obs_dim), the observation after the last row
    step_next_obs: Tensor | None = None  # (T, N, obs_dim) under SAME_STEP autoreset: see collect_rollout


@dataclass
class RolloutState:
    """What carries over from one rollout to the next: the environments' last observation and done
    flags, the episode log, and when the 100-episode mean first reached the reward threshold."""

    obs: np.ndarray
    prev_terminated: np.ndarray
    prev_truncated: np.ndarray
    log: EpisodeLog
    threshold: float | None
    started: float = field(default_factory=time.perf_counter)  # the clock of seconds_to_threshold
    global_step: int = 0
    to_threshold: dict[str, float] | None = None

    def counts(self) -> dict[str, Any]:
        """The keys of ``contract.final_metrics`` this state knows: steps, episodes and the threshold."""
        return {
            "total_steps": self.global_step,
            "episodes": self.log.episodes,
            "training_started": self.started,
            "to_threshold": self.to_threshold,
            "reward_threshold": self.threshold,
        }


class OnPolicyAgent(Protocol):
    """What a rollout needs of the agent (``algorithms.ppo.Agent`` has it)."""

    discrete: bool
    norm_obs: bool

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...
    def normalize(self, obs: Tensor) -> Tensor: ...
    def update_obs_stats(self, obs: Tensor) -> None: ...
    def act(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor: ...


RewardScale = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (rewards, valid, done) -> scaled


def collect_rollout(
    envs: gym.vector.VectorEnv,
    agent: OnPolicyAgent,
    state: RolloutState,
    T: int,
    generator: torch.Generator,
    scale_rewards: RewardScale | None = None,
    truncation_as_termination: bool = False,
) -> Rollout:
    """Run the current policy pi_theta_old for T steps of each of the N copies.

    Observations are stored as the networks saw them (normalised, after updating the running
    statistics, when ``agent.norm_obs``); rewards as the loss will see them (``scale_rewards``, PPO's
    reward normalisation), while the episode log keeps the raw ones.

    Under NEXT_STEP autoreset (``make_vector_env``) row t+1 holds the final observation of an
    episode that ended at t. Environments made with SAME_STEP autoreset (the debugging lab's, which
    reset a copy inside the step that ended it) have no reset rows: every row is valid, and
    ``step_next_obs`` keeps the real s_{t+1} of every step, the final observation included.
    ``truncation_as_termination`` is the debugging lab's old-Gym-API bug.
    """
    device = next(agent.parameters()).device
    N = state.obs.shape[0]
    obs_rows, action_rows = [], []
    rewards = np.zeros((T, N), dtype=np.float32)
    terminated_buf = np.zeros((T, N), dtype=bool)
    truncated_buf = np.zeros((T, N), dtype=bool)
    valid = np.zeros((T, N), dtype=bool)
    same_step = envs.metadata.get("autoreset_mode") == AutoresetMode.SAME_STEP
    step_next_obs = np.zeros((T, *state.obs.shape), dtype=np.float32) if same_step else None
    # lesson:start rollout
    for t in range(T):
        s = torch.as_tensor(state.obs, dtype=torch.float32, device=device)  # (N, obs_dim)
        if agent.norm_obs:
            agent.update_obs_stats(s)
        x = agent.normalize(s)
        action = agent.act(x, generator)  # a_t ~ pi_theta_old(. | s_t), (N,) or (N, D)
        obs_rows.append(x)
        action_rows.append(action)
        valid[t] = autoreset_mask(state.prev_terminated, state.prev_truncated)  # False: this step only resets

        obs, reward, terminated, truncated, info = envs.step(env_action(agent, action, envs.single_action_space))
        terminated_buf[t], truncated_buf[t] = terminated, truncated
        state.obs, state.prev_terminated, state.prev_truncated = obs, terminated, truncated
        if step_next_obs is not None:  # SAME_STEP: the copies that ended are reset already; no reset row follows
            step_next_obs[t] = final_observations(obs, info)
            state.prev_terminated = state.prev_truncated = np.zeros(N, dtype=bool)
        done = terminated | truncated
        rewards[t] = reward if scale_rewards is None else scale_rewards(reward, valid[t], done)

        if state.log.step(reward, valid[t], done) and state.to_threshold is None:
            mean100 = state.log.mean100()
            if state.threshold is not None and mean100 is not None and mean100 >= state.threshold:
                seconds = time.perf_counter() - state.started
                state.to_threshold = {"seconds": seconds, "steps": state.global_step + (t + 1) * N}
    # lesson:end rollout
    # lesson:start bug-old-gym-api
    if truncation_as_termination:
        # BUG: gym < 0.26 returned one `done`; storing it as the end of the task makes a
        # time limit look like a fall, and the state it cut is valued at 0
        terminated_buf, truncated_buf = terminated_buf | truncated_buf, np.zeros_like(truncated_buf)
    # lesson:end bug-old-gym-api
    state.global_step += T * N
    return Rollout(
        obs=torch.stack(obs_rows),
        actions=torch.stack(action_rows),
        rewards=torch.as_tensor(rewards, device=device),
        terminated=torch.as_tensor(terminated_buf, device=device),
        truncated=torch.as_tensor(truncated_buf, device=device),
        valid=torch.as_tensor(valid, device=device),
        next_obs=agent.normalize(torch.as_tensor(state.obs, dtype=torch.float32, device=device)),
        step_next_obs=None if step_next_obs is None else agent.normalize(torch.as_tensor(step_next_obs, device=device)),
    )


def final_observations(obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """What each copy's step returned before a SAME_STEP autoreset: ``obs``, with the final observation
    (``info["final_obs"]``) where the step ended an episode. (N, obs_dim)."""
    if "final_obs" not in info:
        return obs
    ended = info["_final_obs"]  # (N,) bool
    out = np.array(obs, copy=True)
    out[ended] = np.stack(info["final_obs"][ended])
    return out


def episode_metrics(log: EpisodeLog) -> Metrics:
    """The episode charts of one report; clears the finished episodes."""
    metrics: Metrics = {"charts/episodes": float(log.episodes)}
    if log.recent:
        metrics["charts/episodic_return_mean100"] = float(np.mean(log.recent))
    if log.returns:
        metrics["charts/episodic_return"] = float(np.mean(log.returns))
        metrics["charts/episodic_length"] = float(np.mean(log.lengths))
    log.clear()
    return metrics


def flatten_valid(rollout: Rollout, *per_step: Tensor) -> tuple[Tensor, ...]:
    """The real transitions only: observations, actions and each (T, N) tensor, flattened to (B,)."""
    keep = rollout.valid.reshape(-1)  # (T N,)
    obs = rollout.obs.flatten(0, 1)[keep]  # (B, obs_dim)
    actions = rollout.actions.flatten(0, 1)[keep]  # (B,) or (B, D)
    return (obs, actions, *(x.reshape(-1)[keep] for x in per_step))
