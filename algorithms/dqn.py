"""Deep Q-Network: Q-learning with a neural network, experience replay and a target network.

Mnih et al. 2015, "Human-level control through deep reinforcement learning" (Nature 518,
529-533), Methods and Algorithm 1; double DQN from van Hasselt, Guez & Silver 2016, "Deep
Reinforcement Learning with Double Q-learning" (AAAI), eq. 4.

Q-learning moves Q(s, a) toward the one-step target y = r + gamma max_a' Q(s', a'). With a
network for Q this is unstable, and Mnih et al. add two things (Methods, eq. 2 and 3):

- experience replay: each transition (s, a, r, s', terminated) goes into a buffer of the last
  ``buffer_size`` steps, and each update fits a minibatch drawn uniformly from it, which breaks
  the correlation between consecutive steps and reuses every step many times;
- a target network theta^-: the target y = r + gamma max_a' Q(s', a'; theta^-) is computed with
  an older copy of the weights, refreshed every ``target_update_interval`` steps, so the
  network does not chase its own moving output.

Double DQN (``double_dqn``) lets the online network choose a' and the target network value
it, y = r + gamma Q(s', argmax_a' Q(s', a'; theta); theta^-), which removes most of the
overestimation that the max of noisy estimates brings.

Terminated and truncated differ. CartPole-v1 ends for real when the pole falls (terminated)
and is cut by a time limit at 500 steps (truncated). After a real end the future is worth 0,
y = r. After a time limit the episode would have gone on, so y = r + gamma max_a' Q(s', a')
as for any other step. The buffer therefore stores ``terminated``, never ``terminated or
truncated``: a pole balanced for 500 steps must not teach the network that its last state
was worth 1.

Keeping the best network (not in the paper). On CartPole the greedy policy of DQN swings
between balancing for 500 steps and dropping the pole after 100, long after it first learned.
With ``checkpoint_eval_interval`` the run plays a few greedy episodes every so many steps
(always from the same start states) and keeps the network that scored best, as SB3's
EvalCallback does; the final score uses other start states, and the last network's score is
reported beside it. Set it to 0 for the plain algorithm.

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.dqn --env-id CartPole-v1 --seed 1 --json
"""

from __future__ import annotations

import copy
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from algorithms import core
from algorithms.contract import (
    Metrics,
    NonFiniteLossError,
    OnUpdate,
    ShouldStop,
    StepsConfig,
    TrainResult,
    budget_progress,
    check_finite,
    command_line,
    configure_cpu_threads,
    episode_report,
    final_metrics,
    off_policy_line,
    pick_device,
    save_run,
)
from algorithms.core import env_sizes
from algorithms.losses import dqn_loss, dqn_td_targets
from algorithms.reinforce import evaluate, record_episode

__all__ = [
    "DQNConfig",
    "NonFiniteLossError",
    "ReplayBatch",
    "ReplayBuffer",
    "epsilon_greedy",
    "greedy_action",
    "linear_schedule",
    "load_q_network",
    "make_q_network",
    "td_update",
    "train",
    "update_target",
]


@dataclass(frozen=True)
class DQNConfig(StepsConfig):
    env_id: str = "CartPole-v1"
    """Gymnasium id of an environment with discrete actions and a vector observation."""
    total_timesteps: int = 50_000
    """Environment steps in all (the budget); the run also stops at max_seconds if that is set."""
    buffer_size: int = 100_000
    """Replay memory N: how many of the most recent transitions are kept to learn from."""
    batch_size: int = 64
    """Transitions per minibatch, drawn uniformly from the replay memory."""
    gamma: float = 0.99
    """Discount factor gamma in the target y = r + gamma max_a' Q(s', a'; theta^-)."""
    lr: float = 0.001
    """Adam step size."""
    learning_starts: int = 1000
    """Steps of acting (with epsilon from its schedule) before the first update, to fill the memory."""
    train_freq: int = 256
    """Environment steps between rounds of updates."""
    gradient_steps: int = 128
    """Minibatch updates per round: with train_freq they set the replay ratio (here one update per 2 steps)."""
    target_update_interval: int = 10
    """Environment steps C between target-network updates theta^- <- tau theta + (1 - tau) theta^-.
    With updates in rounds (train_freq), any C up to train_freq refreshes the target once per round."""
    tau: float = 1.0
    """Target update rate: 1 copies the online weights (Mnih et al.); below 1 is a soft (Polyak) update."""
    exploration_fraction: float = 0.16
    """Fraction of total_timesteps over which epsilon falls linearly from its initial to its final value."""
    exploration_initial_eps: float = 1.0
    """Epsilon at step 0: the probability of a uniformly random action."""
    exploration_final_eps: float = 0.04
    """Epsilon after the exploration fraction, for the rest of training."""
    double_dqn: bool = True
    """Double DQN (van Hasselt et al. 2016): the online network picks a', the target network values it."""
    huber: bool = True
    """Huber loss on the TD error (Mnih et al.'s error clipping to [-1, 1]); off: squared error."""
    max_grad_norm: float = 10.0
    """Rescale the gradient to at most this L2 norm before each Adam step (0: no clipping)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Widths of the hidden ReLU layers of the Q-network."""
    max_episode_steps: int | None = None
    """Time limit per episode (truncation), in training and evaluation; None keeps the environment's own
    (500 for CartPole-v1)."""
    eval_episodes: int = 20
    """Greedy (argmax Q) episodes played after training to score the result (0: no evaluation)."""
    checkpoint_eval_interval: int = 1000
    """Environment steps between greedy evaluations during training; the best-scoring network is the result
    (0: no such evaluations, the last network is the result). Not in the paper: SB3's EvalCallback."""
    checkpoint_eval_episodes: int = 10
    """Greedy episodes per evaluation during training (always the same start states, not those of the final score)."""
    log_interval: int = 500
    """Environment steps between two reports of the metrics."""
    output_dir: str = ""
    """Folder for the resulting Q-network (q_network.pt) and an animation of one episode; empty saves nothing."""


# ---------------------------------------------------------------------------------------
# The equations: pure functions
# ---------------------------------------------------------------------------------------


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """Epsilon at step t: linear from ``start`` at t = 0 to ``end`` at t = duration, then flat.

    Mnih et al. 2015 (Methods, "Training details") anneal epsilon linearly from 1.0 to 0.1 over
    the first million frames and keep it at 0.1 after.
    """
    # lesson:start epsilon-schedule
    fraction = min(1.0, t / duration) if duration > 0 else 1.0
    return start + fraction * (end - start)
    # lesson:end epsilon-schedule


def epsilon_greedy(greedy_action: Callable[[], int], n_actions: int, epsilon: float, rng: np.random.Generator) -> int:
    """With probability epsilon a uniformly random action, else argmax_a Q(s, a) (Mnih et al. 2015,
    Algorithm 1). ``greedy_action`` computes the argmax; it is called only when needed, which
    saves a forward pass on every random step."""
    # lesson:start epsilon-greedy
    if rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return greedy_action()
    # lesson:end epsilon-greedy


def update_target(target: nn.Module, online: nn.Module, tau: float = 1.0) -> None:
    """theta^- <- tau theta + (1 - tau) theta^-, in place.

    tau = 1 is the hard copy of Mnih et al. 2015 (Algorithm 1: "every C steps reset Q^ = Q");
    tau < 1 the soft update of Lillicrap et al. 2016 (DDPG), which moves the target a little
    every time instead.
    """
    with torch.no_grad():
        # lesson:start target-update
        for theta_minus, theta in zip(target.parameters(), online.parameters(), strict=True):
            theta_minus.lerp_(theta, tau)  # theta^- + tau (theta - theta^-)
        # lesson:end target-update


# ---------------------------------------------------------------------------------------
# Replay memory
# ---------------------------------------------------------------------------------------


@dataclass
class ReplayBatch:
    """A minibatch of transitions (s, a, r, s', terminated) as tensors on the learner's device."""

    obs: Tensor  # (B, obs_dim), float32
    actions: Tensor  # (B,), int64
    rewards: Tensor  # (B,), float32
    next_obs: Tensor  # (B, obs_dim), float32
    terminated: Tensor  # (B,), float32: 1 after a real end only, 0 after a time limit


class ReplayBuffer:
    """Replay memory D of capacity N (Mnih et al. 2015, Algorithm 1): a ring of numpy arrays.

    Once full, each new transition overwrites the oldest one. It stores ``terminated``, never
    ``terminated or truncated``: a transition cut by a time limit keeps its real next state
    and is bootstrapped through.
    """

    def __init__(self, capacity: int, obs_dim: int):
        if capacity < 1:
            raise ValueError("the replay memory needs room for at least one transition")
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, obs_dim)
        self.actions = np.zeros(capacity, dtype=np.int64)  # (N,)
        self.rewards = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, obs_dim)
        self.terminated = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.pos = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        self.obs[self.pos] = obs
        self.actions[self.pos] = action
        self.rewards[self.pos] = reward
        self.next_obs[self.pos] = next_obs
        self.terminated[self.pos] = float(terminated)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device | str = "cpu") -> ReplayBatch:
        """B transitions drawn uniformly, with replacement, from those stored."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay memory")
        # lesson:start replay-buffer-sample
        j = rng.integers(0, self.size, size=batch_size)  # (B,) uniform over the stored transitions
        batch = (self.obs[j], self.actions[j], self.rewards[j], self.next_obs[j], self.terminated[j])
        # lesson:end replay-buffer-sample
        return ReplayBatch(*(torch.as_tensor(x, device=device) for x in batch))


# ---------------------------------------------------------------------------------------
# The network and one update
# ---------------------------------------------------------------------------------------


def make_q_network(obs_dim: int, hidden_sizes: Sequence[int], n_actions: int) -> nn.Sequential:
    """Linear-ReLU layers from a state to one value per action: Q(s, .; theta), (obs_dim,) -> (A,).

    One forward pass gives every action's value, as in Mnih et al.'s architecture.
    """
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers += [nn.Linear(obs_dim, width), nn.ReLU()]
        obs_dim = width
    layers.append(nn.Linear(obs_dim, n_actions))
    return nn.Sequential(*layers)


def td_update(
    q_network: nn.Module,
    target_network: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: ReplayBatch,
    gamma: float,
    double_dqn: bool = True,
    huber: bool = True,
    max_grad_norm: float = 0.0,
) -> tuple[float, float]:
    """One gradient step on L(theta) = E[loss(y - Q(s, a; theta))] over a minibatch (Mnih et al.
    2015, eq. 2 and 3; with ``double_dqn`` the target of van Hasselt et al. 2016, eq. 4).

    Returns (the loss, the mean of Q(s, a; theta) over the batch) before the step.
    """
    # lesson:start td-update
    q = q_network(batch.obs)  # Q(s, .; theta), (B, A)
    q_taken = q.gather(1, batch.actions[:, None]).squeeze(1)  # Q(s, a; theta), (B,)
    with torch.no_grad():
        next_q_target = target_network(batch.next_obs)  # Q(s', .; theta^-), (B, A)
        next_q_online = q_network(batch.next_obs) if double_dqn else None  # Q(s', .; theta), (B, A)
    y = dqn_td_targets(batch.rewards, next_q_target, batch.terminated, gamma, next_q_online)  # (B,)
    loss = dqn_loss(q_taken, y, huber=huber)
    optimizer.zero_grad()
    loss.backward()
    if max_grad_norm > 0:
        nn.utils.clip_grad_norm_(q_network.parameters(), max_grad_norm)
    optimizer.step()
    # lesson:end td-update
    return loss.item(), q_taken.mean().item()


def greedy_action(q_network: nn.Module, obs: np.ndarray) -> int:
    """argmax_a Q(s, a; theta) for one observation (obs_dim,)."""
    device = next(q_network.parameters()).device
    with torch.inference_mode():
        return int(q_network(torch.as_tensor(obs, dtype=torch.float32, device=device)).argmax().item())


def load_q_network(path: str | Path, config: DQNConfig) -> nn.Sequential:
    """Rebuild the Q-network of ``config`` and load a checkpoint that ``train`` saved."""
    env = make_env(config.env_id)
    obs_dim, n_actions = env_sizes(env)
    env.close()
    q_network = make_q_network(obs_dim, config.hidden_sizes, n_actions)
    q_network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return q_network


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env:
    return core.make_env(env_id, max_episode_steps, actions="discrete", needed_by="DQN", **kwargs)


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------


def _check(config: DQNConfig) -> None:
    """Refuse settings no run can use, with the field named."""
    if min(config.total_timesteps, config.batch_size, config.train_freq, config.log_interval) < 1:
        raise ValueError("total_timesteps, batch_size, train_freq and log_interval must be at least 1")
    if config.target_update_interval < 1 or not 0.0 < config.tau <= 1.0:
        raise ValueError("target_update_interval must be at least 1 and tau in (0, 1]")


def _copy_state(network: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def _final_evaluation(
    q_network: nn.Module, best_state: dict[str, Tensor] | None, config: DQNConfig, interrupted: bool
) -> tuple[float | None, float | None, float | None, float | None]:
    """Score the final policy (mean, std), after loading the kept best network if there is one; with a kept
    network, score the last one first (its mean, std) to show what keeping the best gave. Nothing when the
    run was interrupted (someone is waiting) or eval_episodes is 0."""
    eval_mean = eval_std = last_mean = last_std = None
    evaluating = config.eval_episodes > 0 and not interrupted
    if evaluating and best_state is not None:  # the last network's score too, to show what keeping the best gave
        last_mean, last_std = evaluate(
            q_network, config.env_id, config.eval_episodes, config.seed + 1_000_000, config.max_episode_steps
        )
    if best_state is not None:
        q_network.load_state_dict(best_state)
    if evaluating:  # seeds far from the training and checkpoint ones: fresh start states
        eval_mean, eval_std = evaluate(
            q_network, config.env_id, config.eval_episodes, config.seed + 1_000_000, config.max_episode_steps
        )
    return eval_mean, eval_std, last_mean, last_std


def train(config: DQNConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None) -> TrainResult:
    """DQN (Mnih et al. 2015, Algorithm 1) on one environment. Reports every ``log_interval`` steps
    through ``on_update``; polls ``should_stop`` after every round of updates and every report.

    ``losses/td`` and ``charts/q_values`` appear from the first update on (after learning_starts).
    """
    _check(config)
    configure_cpu_threads()
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    explore_rng, replay_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2))

    env = make_env(config.env_id, config.max_episode_steps)
    obs_dim, n_actions = env_sizes(env)
    threshold = env.spec.reward_threshold if env.spec is not None else None

    q_network = make_q_network(obs_dim, config.hidden_sizes, n_actions).to(device)
    target_network = copy.deepcopy(q_network)
    target_network.requires_grad_(False)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=config.lr, fused=True)  # one kernel: 3x faster here
    buffer = ReplayBuffer(min(config.buffer_size, config.total_timesteps), obs_dim)
    exploration_steps = round(config.exploration_fraction * config.total_timesteps)

    recent: deque[float] = deque(maxlen=100)  # returns of the last 100 training episodes
    finished: list[tuple[float, int]] = []  # (return, length) of episodes since the last report
    last_episode = (float("nan"), 0)
    td_losses: list[float] = []
    q_means: list[float] = []
    episodes = updates = 0
    episode_return, episode_length = 0.0, 0
    to_threshold: dict[str, float] | None = None
    metrics: Metrics = {}
    stopped_early = interrupted = False
    report_started, report_step = time.perf_counter(), 0
    best_state: dict[str, Tensor] | None = None  # the kept network, with checkpoint_eval_interval
    best_score, best_step, checkpoint_score = float("-inf"), 0, None

    obs, _ = env.reset(seed=config.seed)
    obs = np.asarray(obs, np.float32).ravel()
    global_step = 0
    while global_step < config.total_timesteps:
        epsilon = linear_schedule(
            config.exploration_initial_eps, config.exploration_final_eps, exploration_steps, global_step
        )
        action = epsilon_greedy(partial(greedy_action, q_network, obs), n_actions, epsilon, explore_rng)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        next_obs = np.asarray(next_obs, np.float32).ravel()
        buffer.add(obs, action, float(reward), next_obs, terminated)  # the real S_{t+1}, even after a time limit
        global_step += 1
        episode_return += float(reward)
        episode_length += 1
        obs = next_obs
        if terminated or truncated:
            episodes += 1
            last_episode = (episode_return, episode_length)
            finished.append(last_episode)
            recent.append(episode_return)
            if to_threshold is None and threshold is not None and len(recent) == 100 and np.mean(recent) >= threshold:
                to_threshold = {"seconds": time.perf_counter() - started, "steps": global_step, "episodes": episodes}
            obs, _ = env.reset()
            obs = np.asarray(obs, np.float32).ravel()
            episode_return, episode_length = 0.0, 0

        if global_step > config.learning_starts and global_step % config.train_freq == 0:
            for _ in range(config.gradient_steps):
                batch = buffer.sample(config.batch_size, replay_rng, device)
                loss, q_mean = td_update(
                    q_network, target_network, optimizer, batch, config.gamma,
                    config.double_dqn, config.huber, config.max_grad_norm,
                )  # fmt: skip
                check_finite("losses/td", loss, global_step)
                td_losses.append(loss)
                q_means.append(q_mean)
                updates += 1
        if global_step % config.target_update_interval == 0:
            update_target(target_network, q_network, config.tau)
        if config.checkpoint_eval_interval > 0 and global_step % config.checkpoint_eval_interval == 0 and updates:
            checkpoint_score, _ = evaluate(
                q_network, config.env_id, config.checkpoint_eval_episodes, config.seed + 2_000_000,
                config.max_episode_steps,
            )  # fmt: skip
            if checkpoint_score >= best_score:  # on a tie the later, longer-trained network
                best_score, best_step, best_state = checkpoint_score, global_step, _copy_state(q_network)

        last = global_step >= config.total_timesteps
        if global_step % config.log_interval == 0 or last:
            now = time.perf_counter()
            elapsed = now - started
            shown = finished or [last_episode]  # episodes ended since the last report, else the latest one
            metrics = {
                "global_step": float(global_step),
                "progress": budget_progress(global_step, config.total_timesteps, elapsed, config.max_seconds),
                "charts/episodes": float(episodes),
                "charts/epsilon": epsilon,
                "charts/steps_per_second": (global_step - report_step) / max(now - report_started, 1e-9),
                "charts/updates": float(updates),
            }
            if episodes:
                metrics |= episode_report(shown, recent)
            if td_losses:
                metrics |= {"losses/td": float(np.mean(td_losses)), "charts/q_values": float(np.mean(q_means))}
            if checkpoint_score is not None:
                metrics["charts/checkpoint_eval_return"] = checkpoint_score
            finished, td_losses, q_means, checkpoint_score = [], [], [], None
            report_started, report_step = now, global_step
            if on_update is not None:
                on_update(metrics)
            if config.max_seconds is not None and elapsed >= config.max_seconds:
                stopped_early = not last
                break
        if (global_step % config.log_interval == 0 or global_step % config.train_freq == 0) and (
            should_stop is not None and should_stop()
        ):
            stopped_early = global_step < config.total_timesteps
            interrupted = True  # someone is waiting: save, but skip the evaluation and the animation
            break

    env.close()
    train_seconds = time.perf_counter() - started
    eval_mean, eval_std, last_mean, last_std = _final_evaluation(q_network, best_state, config, interrupted)

    record = lambda: record_episode(q_network, config.env_id, seed=config.seed + 10_000)  # noqa: E731
    artifacts = save_run(config, {"checkpoint": ("q_network.pt", q_network.state_dict())}, record, interrupted)
    final = final_metrics(
        metrics,
        total_steps=global_step,
        episodes=episodes,
        updates=updates,
        started=started,
        train_seconds=train_seconds,
        to_threshold=to_threshold,
        episodes_to_threshold=True,
        reward_threshold=threshold,
        evaluation=(eval_mean, eval_std),
        stopped_early=stopped_early,
    )
    if best_state is not None:
        final |= {
            "best_checkpoint_step": float(best_step),
            "best_checkpoint_eval_return": best_score,
            "last_network_eval_return_mean": last_mean,
            "last_network_eval_return_std": last_std,
        }
    return TrainResult(metrics=final, artifacts=artifacts)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


progress_line = off_policy_line(
    ("epsilon", "charts/epsilon"), (("td loss", "losses/td", "8.4f"), ("Q", "charts/q_values", "7.2f"))
)
"""The command line's progress line."""


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(
        argv, sys.modules[__name__], DQNConfig, train, progress_line, lambda c: "Double DQN" if c.double_dqn else "DQN"
    )


if __name__ == "__main__":
    sys.exit(main())
