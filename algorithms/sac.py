"""Soft Actor-Critic: off-policy maximum-entropy actor-critic for continuous actions.

Haarnoja, Zhou, Hartikainen, Tucker, Ha, Tan, Kumar, Zhu, Gupta, Abbeel & Levine 2018,
"Soft Actor-Critic Algorithms and Applications" (arXiv:1812.05905; "2018b" below), Algorithm 1;
equation numbers below are those of that paper. The earlier version (Haarnoja et al. 2018, ICML,
arXiv:1801.01290) also learned a state-value network and used a fixed temperature; this one
drops the value network and tunes the temperature alpha automatically.

SAC maximises reward plus entropy, sum_t E[r(s_t, a_t) + alpha H(pi(.|s_t))] (eq. 1): the agent
is paid for acting as randomly as it can while still collecting reward, which keeps it exploring
and makes learning stable. Each environment step adds one transition to a replay memory, then one
gradient step is taken on each of

- two soft Q-functions Q_theta1, Q_theta2 (eq. 5), towards the soft target
  y = r + gamma (1 - terminated) (min_i Q_theta_bar_i(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s'),
  where theta_bar are Polyak averages of theta (tau) and the min of two critics curbs
  overestimation (Fujimoto et al. 2018, TD3; section 6 of the paper);
- the policy pi_phi (eq. 7 and 9), a Gaussian squashed by tanh, trained through the
  reparameterisation a = tanh(mu_phi(s) + sigma_phi(s) epsilon) to minimise
  E[alpha log pi(a|s) - min_i Q_theta_i(s, a)];
- the temperature alpha (eq. 18), trained so that the policy's entropy stays near a target,
  -|A| by default: alpha rises when the policy is too sure of itself and falls otherwise.

The policy acts in [-1, 1]^|A| (the range of tanh); ``to_env_action`` maps its actions onto the
Box bounds of the environment. The replay memory and the critics see the [-1, 1] actions, so log pi
is the density of that squashed action (Appendix C) and the target entropy does not depend on the
environment's units.

Terminated and truncated differ. Pendulum-v1 never ends for real: every episode is cut by a time
limit after 200 steps. After a time limit the future still counts, so the memory stores
``terminated`` (always False here), never ``terminated or truncated``, and the target bootstraps
through every Pendulum step.

Settings. The defaults suit Pendulum-v1, which needs no MuJoCo; they are also the paper's MuJoCo
hyperparameters (Appendix D, Table 1). ``PRESETS`` adds budgets for Hopper and HalfCheetah, for when
MuJoCo is installed; ``preset(env_id)`` builds a config from them.

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.sac --env-id Pendulum-v1 --seed 1 --json
    python -m algorithms.sac --env-id Hopper-v5 --max-seconds 300 --json

The command line starts from ``preset(env_id)``; flags override single fields.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    save_progress,
    save_run,
)
from algorithms.core import env_sizes, make_mlp
from algorithms.dqn import update_target
from algorithms.envs.mujoco_setup import prepare

__all__ = [
    "PRESETS",
    "Actor",
    "ContinuousReplayBatch",
    "ContinuousReplayBuffer",
    "NonFiniteLossError",
    "SACConfig",
    "evaluate",
    "load_actor",
    "make_critic",
    "policy_loss",
    "preset",
    "record_episode",
    "soft_q_loss",
    "soft_q_target",
    "squashed_gaussian_log_prob",
    "temperature_loss",
    "to_env_action",
    "train",
    "update_target",
]


@dataclass(frozen=True)
class SACConfig(StepsConfig):
    env_id: str = "Pendulum-v1"
    """Gymnasium id of an environment with a bounded Box action space and a vector observation."""
    total_timesteps: int = 20_000
    """Environment steps in all (the budget); the run also stops at max_seconds if that is set."""
    buffer_size: int = 1_000_000
    """Replay memory D: how many of the most recent transitions are kept (Table 1: 10^6)."""
    batch_size: int = 256
    """Transitions per minibatch, drawn uniformly from the replay memory (Table 1: 256)."""
    gamma: float = 0.99
    """Discount factor gamma in the soft target y = r + gamma (min Q(s', a') - alpha log pi(a'|s'))."""
    tau: float = 0.005
    """Target smoothing coefficient: theta_bar <- tau theta + (1 - tau) theta_bar after each update (Table 1)."""
    q_lr: float = 3e-4
    """Adam step size of the two soft Q-functions (Table 1: 3e-4)."""
    policy_lr: float = 3e-4
    """Adam step size of the policy (Table 1: 3e-4)."""
    alpha_lr: float = 3e-4
    """Adam step size of log alpha, the temperature (Table 1: 3e-4)."""
    learning_starts: int = 1000
    """Steps of uniformly random actions before the first update, to fill the memory (5 Pendulum episodes)."""
    gradient_steps: int = 1
    """Gradient steps per environment step (Algorithm 1: one of each kind)."""
    autotune: bool = True
    """Tune the temperature alpha towards the target entropy (section 5, eq. 18); off: alpha stays at init_alpha."""
    init_alpha: float = 1.0
    """Temperature alpha at the start (and throughout, without autotune): the weight of entropy against reward."""
    target_entropy: float | None = None
    """Entropy target H_bar for the temperature; None takes -|A|, minus the action dimension (section 5)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Widths of the hidden ReLU layers of the policy and of each Q-network (Table 1: two layers of 256)."""
    max_episode_steps: int | None = None
    """Time limit per episode (truncation), in training and evaluation; None keeps the environment's own
    (200 for Pendulum-v1)."""
    eval_episodes: int = 10
    """Deterministic episodes (action tanh(mu(s))) played after training to score the result (0: none)."""
    log_interval: int = 500
    """Environment steps between two reports of the metrics."""
    device: str = "auto"
    """auto, cpu or cuda. auto takes cuda when present; batch-256 MLPs of this size also run well on a CPU."""
    output_dir: str = ""
    """Folder for the checkpoint (sac.pt) and an animation of one episode; empty saves nothing."""
    checkpoint_every: int = 0
    """Every this many environment steps, save the checkpoint and an episode of the current policy to output_dir,
    so a long run can be watched while it learns; 0: only at the end."""


# The defaults already are the paper's MuJoCo hyperparameters (Appendix D, Table 1: two layers of 256,
# lr 3e-4, batch 256, buffer 10^6, gamma 0.99, tau 0.005, target entropy -|A|); the MuJoCo presets add
# the budget of 10^6 steps and rl-zoo's 10,000 random warm-up steps (the paper gives no warm-up).
# Pendulum-v1 takes rl-zoo's budget of 20,000 steps. Hopper, HalfCheetah and Humanoid need MuJoCo
# (`mujoco` and `imageio` in requirements.txt); docs/benchmarks.md has their speed on a small CPU.
PRESETS: dict[str, dict[str, Any]] = {
    "Pendulum-v1": {"total_timesteps": 20_000, "learning_starts": 1000},
    "Hopper-v5": {"total_timesteps": 1_000_000, "learning_starts": 10_000},
    "HalfCheetah-v5": {"total_timesteps": 1_000_000, "learning_starts": 10_000},
    "Humanoid-v5": {"total_timesteps": 1_000_000, "learning_starts": 10_000},
}


def preset(env_id: str, **overrides: Any) -> SACConfig:
    """The config for ``env_id`` from PRESETS (the defaults otherwise); ``overrides`` replace single fields."""
    return replace(SACConfig(env_id=env_id, **PRESETS.get(env_id, {})), **overrides)


LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # bounds on log sigma, as in the authors' code (softlearning)


# ---------------------------------------------------------------------------------------
# The equations: pure functions
# ---------------------------------------------------------------------------------------


def soft_q_target(
    rewards: Tensor,
    next_q1: Tensor,
    next_q2: Tensor,
    next_log_pi: Tensor,
    terminated: Tensor,
    gamma: float,
    alpha: float | Tensor,
) -> Tensor:
    """The soft Bellman target y = r + gamma (1 - terminated) V_bar(s') with the soft state value
    V_bar(s') = min_i Q_theta_bar_i(s', a') - alpha log pi(a'|s'), a' ~ pi(.|s') (Haarnoja et al.
    2018b, eq. 2, 3 and 5; the min over two target critics from section 6 and Fujimoto et al. 2018).

    All inputs have shape (B,). ``terminated`` is 1 after a real end only: after a time limit the
    target bootstraps as after any other step.
    """
    # lesson:start soft-q-target
    next_v = torch.min(next_q1, next_q2) - alpha * next_log_pi  # V_bar(s'), (B,)
    return rewards + gamma * (1.0 - terminated) * next_v  # y, (B,)
    # lesson:end soft-q-target


def soft_q_loss(q1: Tensor, q2: Tensor, y: Tensor) -> Tensor:
    """J_Q(theta) = E[1/2 (Q_theta(s, a) - y)^2] for each of the two critics, summed (Haarnoja et al.
    2018b, eq. 5). Inputs have shape (B,); ``y`` carries no gradient."""
    return 0.5 * ((q1 - y).pow(2).mean() + (q2 - y).pow(2).mean())


def squashed_gaussian_log_prob(mean: Tensor, log_std: Tensor, u: Tensor, eps: float = 1e-6) -> Tensor:
    """log pi(a|s) of a = tanh(u), u ~ N(mean, exp(log_std)^2) with independent coordinates:
    log pi(a|s) = sum_i [log N(u_i; mean_i, sigma_i) - log(1 - tanh(u_i)^2 + eps)] (Haarnoja et al.
    2018b, Appendix C, "Enforcing action bounds": the change of variables through tanh, whose
    Jacobian is diagonal with entries 1 - tanh(u_i)^2).

    Inputs have shape (B, A), the result (B,). ``eps`` keeps the log finite where tanh saturates.
    """
    # lesson:start squashed-log-prob
    sigma = log_std.exp()
    log_normal = -0.5 * ((u - mean) / sigma).pow(2) - log_std - 0.5 * math.log(2 * math.pi)  # log N(u), (B, A)
    log_det = torch.log(1.0 - torch.tanh(u).pow(2) + eps)  # log |da/du|, (B, A)
    return (log_normal - log_det).sum(-1)  # (B,)
    # lesson:end squashed-log-prob


def policy_loss(log_pi: Tensor, q1_pi: Tensor, q2_pi: Tensor, alpha: float | Tensor) -> Tensor:
    """J_pi(phi) = E_s E_eps[alpha log pi_phi(f_phi(eps; s)|s) - min_i Q_theta_i(s, f_phi(eps; s))]
    (Haarnoja et al. 2018b, eq. 7 and 9): the KL to the Boltzmann policy exp(Q / alpha), up to a
    constant. Actions come from the reparameterisation f_phi (eq. 8), so gradients flow through them.

    All inputs have shape (B,); ``alpha`` carries no gradient here.
    """
    # lesson:start policy-loss
    min_q_pi = torch.min(q1_pi, q2_pi)  # (B,)
    return (alpha * log_pi - min_q_pi).mean()
    # lesson:end policy-loss


def temperature_loss(log_alpha: Tensor, log_pi: Tensor, target_entropy: float) -> Tensor:
    """J(alpha) = E_a~pi[-alpha log pi(a|s) - alpha H_bar] (Haarnoja et al. 2018b, eq. 18), with
    alpha = exp(log alpha) so that it stays positive.

    d J / d log alpha = -alpha E[log pi + H_bar]: when the entropy -E[log pi] is below the target
    H_bar the gradient is negative and gradient descent raises alpha, which pays the policy more
    for entropy. ``log_pi`` has shape (B,) and carries no gradient; ``log_alpha`` is a scalar.
    """
    # lesson:start temperature-loss
    alpha = log_alpha.exp()
    return (-alpha * (log_pi.detach() + target_entropy)).mean()
    # lesson:end temperature-loss


def to_env_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map a squashed action in [-1, 1]^A onto the Box [low, high]: low + (a + 1) (high - low) / 2."""
    return low + (action + 1.0) * 0.5 * (high - low)


# ---------------------------------------------------------------------------------------
# Replay memory for continuous actions
# ---------------------------------------------------------------------------------------


@dataclass
class ContinuousReplayBatch:
    """A minibatch of transitions (s, a, r, s', terminated) as tensors on the learner's device."""

    obs: Tensor  # (B, obs_dim), float32
    actions: Tensor  # (B, A), float32, squashed into [-1, 1]
    rewards: Tensor  # (B,), float32
    next_obs: Tensor  # (B, obs_dim), float32
    terminated: Tensor  # (B,), float32: 1 after a real end only, 0 after a time limit


class ContinuousReplayBuffer:
    """Replay memory D (Algorithm 1) for vector actions: a ring of numpy arrays, like DQN's
    ``ReplayBuffer`` but with (N, A) float actions. It stores ``terminated``, never
    ``terminated or truncated``."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int):
        if capacity < 1:
            raise ValueError("the replay memory needs room for at least one transition")
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, obs_dim)
        self.actions = np.zeros((capacity, action_dim), dtype=np.float32)  # (N, A)
        self.rewards = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, obs_dim)
        self.terminated = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        self.obs[self.pos] = obs
        self.actions[self.pos] = action
        self.rewards[self.pos] = reward
        self.next_obs[self.pos] = next_obs
        self.terminated[self.pos] = float(terminated)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(
        self, batch_size: int, rng: np.random.Generator, device: torch.device | str = "cpu"
    ) -> ContinuousReplayBatch:
        """B transitions drawn uniformly, with replacement, from those stored."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay memory")
        j = rng.integers(0, self.size, size=batch_size)  # (B,)
        batch = (self.obs[j], self.actions[j], self.rewards[j], self.next_obs[j], self.terminated[j])
        return ContinuousReplayBatch(*(torch.as_tensor(x, device=device) for x in batch))


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class TwinQ(nn.Module):
    """The two soft Q-functions Q_theta1(s, a), Q_theta2(s, a): (B, obs_dim), (B, A) -> (B,), (B,)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: Sequence[int]):
        super().__init__()
        self.q1 = make_mlp(obs_dim + action_dim, hidden_sizes, 1, nn.ReLU)
        self.q2 = make_mlp(obs_dim + action_dim, hidden_sizes, 1, nn.ReLU)

    def forward(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs, actions], dim=-1)  # (B, obs_dim + A)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


def make_critic(obs_dim: int, action_dim: int, hidden_sizes: Sequence[int]) -> TwinQ:
    return TwinQ(obs_dim, action_dim, hidden_sizes)


class Actor(nn.Module):
    """The squashed Gaussian policy pi_phi(a|s): a trunk, then mean mu_phi(s) and log sigma_phi(s)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: Sequence[int]):
        super().__init__()
        self.trunk = make_mlp(obs_dim, hidden_sizes[:-1], hidden_sizes[-1], nn.ReLU) if hidden_sizes else nn.Identity()
        width = hidden_sizes[-1] if hidden_sizes else obs_dim
        self.mean = nn.Linear(width, action_dim)
        self.log_std = nn.Linear(width, action_dim)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, log sigma), each (B, A)."""
        h = torch.relu(self.trunk(obs)) if not isinstance(self.trunk, nn.Identity) else obs
        return self.mean(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """a = tanh(mu + sigma eps), eps ~ N(0, I) (eq. 8, reparameterised), and log pi(a|s): (B, A), (B,)."""
        mean, log_std = self(obs)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        u = mean + log_std.exp() * noise  # (B, A)
        return torch.tanh(u), squashed_gaussian_log_prob(mean, log_std, u)

    def deterministic(self, obs: Tensor) -> Tensor:
        """tanh(mu(s)), the action used for evaluation, (B, A)."""
        return torch.tanh(self(obs)[0])


# ---------------------------------------------------------------------------------------
# Environments, evaluation, checkpoints
# ---------------------------------------------------------------------------------------


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env:
    return core.make_env(env_id, max_episode_steps, actions="bounded box", needed_by="SAC", **kwargs)


def _bounds(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    space = env.action_space
    return space.low.astype(np.float32).ravel(), space.high.astype(np.float32).ravel()


def deterministic_policy(actor: Actor, env: gym.Env) -> core.Act:
    """tanh(mu(s)) mapped onto the action box: the policy an evaluation plays."""
    device = next(actor.parameters()).device
    low, high = _bounds(env)
    shape = env.action_space.shape

    def act(obs: np.ndarray) -> np.ndarray:
        actions = actor.deterministic(torch.as_tensor(obs, device=device)).cpu().numpy()  # (n, A)
        return np.stack([to_env_action(a, low, high).reshape(shape) for a in actions])

    return act


def evaluate(
    actor: Actor, env_id: str, episodes: int, seed: int, max_episode_steps: int | None = None
) -> tuple[float, float]:
    """Mean and standard deviation of the undiscounted return of the deterministic policy tanh(mu(s))
    over ``episodes`` episodes (seeds seed, seed + 1, ...), all played in lockstep."""
    env = make_env(env_id, max_episode_steps)
    act = deterministic_policy(actor, env)
    env.close()
    return core.evaluate(act, lambda: make_env(env_id, max_episode_steps), episodes, seed)


def record_episode(
    actor: Actor, env_id: str, seed: int, max_steps: int = 500, max_episode_steps: int | None = None
) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of one deterministic episode, the first before any action (``core.record_episode``)."""
    env = make_env(env_id, max_episode_steps)
    act = deterministic_policy(actor, env)
    env.close()
    return core.record_episode(act, lambda **kw: make_env(env_id, max_episode_steps, **kw), env_id, seed, max_steps)


def load_actor(path: str | Path, config: SACConfig) -> Actor:
    """Rebuild the policy of ``config`` and load it from a checkpoint (sac.pt) that ``train`` saved."""
    prepare(config.env_id)
    env = make_env(config.env_id)
    obs_dim, action_dim = env_sizes(env)
    env.close()
    actor = Actor(obs_dim, action_dim, config.hidden_sizes)
    actor.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["actor"])
    return actor


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------


def sac_update(
    batch: Any,
    actor: Actor,
    critic: nn.Module,
    critic_target: nn.Module,
    log_alpha: Tensor,
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer, torch.optim.Optimizer | None],
    config: SACConfig,
    target_entropy: float,
) -> dict[str, float]:
    """One gradient step of Algorithm 1 on a replay minibatch: J_Q (eq. 5), J_pi (eq. 9), J(alpha) (eq. 18),
    then the target critic. Returns the three losses, the mean Q value and the entropy estimate -mean log pi.
    ``optimizers``: (critic, actor, temperature or None when alpha is fixed)."""
    q_optimizer, policy_optimizer, alpha_optimizer = optimizers
    alpha = log_alpha.detach().exp()

    # Soft policy evaluation: J_Q (eq. 5) towards the soft target.
    with torch.no_grad():
        next_actions, next_log_pi = actor.sample(batch.next_obs)  # a' ~ pi(.|s'), (B, A), (B,)
        next_q1, next_q2 = critic_target(batch.next_obs, next_actions)  # (B,), (B,)
        y = soft_q_target(batch.rewards, next_q1, next_q2, next_log_pi, batch.terminated, config.gamma, alpha)
    q1, q2 = critic(batch.obs, batch.actions)  # (B,), (B,)
    q_loss = soft_q_loss(q1, q2, y)
    q_optimizer.zero_grad()
    q_loss.backward()
    q_optimizer.step()

    # Soft policy improvement: J_pi (eq. 9) through the reparameterised actions.
    actions_pi, log_pi = actor.sample(batch.obs)  # (B, A), (B,)
    critic.requires_grad_(False)  # the gradient reaches phi through a, not theta
    q1_pi, q2_pi = critic(batch.obs, actions_pi)
    critic.requires_grad_(True)
    pi_loss = policy_loss(log_pi, q1_pi, q2_pi, alpha)
    policy_optimizer.zero_grad()
    pi_loss.backward()
    policy_optimizer.step()

    # Temperature: J(alpha) (eq. 18).
    alpha_loss = temperature_loss(log_alpha, log_pi, target_entropy)
    if alpha_optimizer is not None:
        alpha_optimizer.zero_grad()
        alpha_loss.backward()
        alpha_optimizer.step()

    update_target(critic_target, critic, config.tau)  # theta_bar <- tau theta + (1 - tau) theta_bar
    return {
        "q": q_loss.item(),
        "policy": pi_loss.item(),
        "alpha": alpha_loss.item(),
        "q_values": 0.5 * (q1.mean().item() + q2.mean().item()),
        "entropy": -log_pi.mean().item(),
    }


def save_checkpoint(out: Path, actor: Actor, critic: nn.Module, critic_target: nn.Module, log_alpha: Tensor) -> None:
    """Write sac.pt (the networks and log alpha) to ``out`` atomically: a reader never sees half a file."""
    out.mkdir(parents=True, exist_ok=True)
    state = {
        "actor": actor.state_dict(),
        "critic": critic.state_dict(),
        "critic_target": critic_target.state_dict(),
        "log_alpha": log_alpha.detach(),
    }
    torch.save(state, out / "sac.pt.partial")
    (out / "sac.pt.partial").replace(out / "sac.pt")


def _report_means(
    shown: list[tuple[float, int]], recent: deque[float], log: dict[str, list[float]], any_episode: bool
) -> Metrics:
    """The episode and loss means of one report (the episodes that ended since the last one, or the
    latest; the losses of the gradient steps since the last one)."""
    metrics: Metrics = {}
    if any_episode:
        metrics |= episode_report(shown, recent)
    if log["q"]:
        metrics |= {
            "losses/q": float(np.mean(log["q"])),
            "losses/policy": float(np.mean(log["policy"])),
            "losses/alpha": float(np.mean(log["alpha"])),
            "charts/q_values": float(np.mean(log["q_values"])),
            "charts/entropy": float(np.mean(log["entropy"])),
        }
    return metrics


def _check(config: SACConfig) -> None:
    """Refuse settings no run can use, with the field named."""
    if min(config.total_timesteps, config.batch_size, config.log_interval) < 1 or config.gradient_steps < 0:
        raise ValueError("total_timesteps, batch_size and log_interval must be at least 1, gradient_steps >= 0")
    if not 0.0 < config.tau <= 1.0 or config.init_alpha <= 0:
        raise ValueError("tau must lie in (0, 1] and init_alpha be positive")
    if config.checkpoint_every < 0:
        raise ValueError("checkpoint_every must be 0 (never) or a number of environment steps")


def _save_progress(out: Path, actor: Actor, config: SACConfig, global_step: int, recent: deque[float]) -> None:
    """An episode of the current policy and the step reached, next to the checkpoint (a long run)."""
    info: dict[str, float] = {"global_step": global_step}
    if recent:
        info["charts/episodic_return_mean100"] = float(np.mean(recent))
    seed = config.seed + 10_000
    save_progress(out, lambda: record_episode(actor, config.env_id, seed, 300, config.max_episode_steps), info)


def train(config: SACConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None) -> TrainResult:
    """SAC (Haarnoja et al. 2018b, Algorithm 1) on one environment. Reports every ``log_interval``
    steps through ``on_update``; polls ``should_stop`` every 50 steps and at every report.

    The losses, ``charts/q_values`` and ``charts/entropy`` (the estimate -mean log pi over a minibatch)
    appear from the first update on (at learning_starts).
    """
    _check(config)
    configure_cpu_threads()
    prepare(config.env_id)  # MuJoCo: pick the offscreen GL back end before the engine is imported
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    explore_rng, replay_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2))

    env = make_env(config.env_id, config.max_episode_steps)
    env.action_space.seed(config.seed)
    obs_dim, action_dim = env_sizes(env)
    low, high = _bounds(env)
    action_shape = env.action_space.shape
    threshold = env.spec.reward_threshold if env.spec is not None else None  # None for Pendulum-v1

    actor = Actor(obs_dim, action_dim, config.hidden_sizes).to(device)
    critic = make_critic(obs_dim, action_dim, config.hidden_sizes).to(device)
    critic_target = copy.deepcopy(critic)  # theta_bar
    critic_target.requires_grad_(False)
    log_alpha = torch.tensor(math.log(config.init_alpha), device=device, requires_grad=config.autotune)
    target_entropy = -float(action_dim) if config.target_entropy is None else config.target_entropy  # H_bar
    # fused: one kernel per Adam step, faster for small networks on CPU and CUDA alike
    optimizers = (
        torch.optim.Adam(critic.parameters(), lr=config.q_lr, fused=True),
        torch.optim.Adam(actor.parameters(), lr=config.policy_lr, fused=True),
        torch.optim.Adam([log_alpha], lr=config.alpha_lr) if config.autotune else None,
    )
    buffer = ContinuousReplayBuffer(min(config.buffer_size, config.total_timesteps), obs_dim, action_dim)

    recent: deque[float] = deque(maxlen=100)
    finished: list[tuple[float, int]] = []
    last_episode = (float("nan"), 0)
    log: dict[str, list[float]] = {"q": [], "policy": [], "alpha": [], "q_values": [], "entropy": []}
    episodes = updates = 0
    episode_return, episode_length = 0.0, 0
    to_threshold: dict[str, float] | None = None
    metrics: Metrics = {}
    stopped_early = interrupted = False
    report_started, report_step = time.perf_counter(), 0

    out = Path(config.output_dir) if config.output_dir else None

    obs, _ = env.reset(seed=config.seed)
    obs = np.asarray(obs, np.float32).ravel()
    global_step = 0
    while global_step < config.total_timesteps:
        if global_step < config.learning_starts:
            action = explore_rng.uniform(-1.0, 1.0, size=action_dim).astype(np.float32)  # (A,) in [-1, 1]
        else:
            with torch.inference_mode():
                action = actor.sample(torch.as_tensor(obs, device=device)[None])[0][0].cpu().numpy()  # (A,)
        next_obs, reward, terminated, truncated, _ = env.step(to_env_action(action, low, high).reshape(action_shape))
        next_obs = np.asarray(next_obs, np.float32).ravel()
        buffer.add(obs, action, float(reward), next_obs, terminated)  # the real s', even after a time limit
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

        if global_step >= config.learning_starts:
            for _ in range(config.gradient_steps):
                batch = buffer.sample(config.batch_size, replay_rng, device)
                values = sac_update(batch, actor, critic, critic_target, log_alpha, optimizers, config, target_entropy)
                updates += 1
                for name in ("q", "policy", "alpha"):
                    check_finite(f"losses/{name}", values[name], global_step)
                for name, value in values.items():
                    log[name].append(value)

        last = global_step >= config.total_timesteps
        if out is not None and config.checkpoint_every and global_step % config.checkpoint_every == 0 and not last:
            # a long run: the latest policy, to watch while it learns
            save_checkpoint(out, actor, critic, critic_target, log_alpha)
            _save_progress(out, actor, config, global_step, recent)
        if global_step % config.log_interval == 0 or last:
            now = time.perf_counter()
            elapsed = now - started
            metrics = {
                "global_step": float(global_step),
                "progress": budget_progress(global_step, config.total_timesteps, elapsed, config.max_seconds),
                "charts/episodes": float(episodes),
                "charts/steps_per_second": (global_step - report_step) / max(now - report_started, 1e-9),
                "charts/updates": float(updates),
                "charts/alpha": float(log_alpha.detach().exp().item()),
            } | _report_means(finished or [last_episode], recent, log, episodes > 0)
            finished = []
            log = {name: [] for name in log}
            report_started, report_step = now, global_step
            if on_update is not None:
                on_update(metrics)
            if config.max_seconds is not None and elapsed >= config.max_seconds:
                stopped_early = not last
                break
        if (global_step % config.log_interval == 0 or global_step % 50 == 0) and (
            should_stop is not None and should_stop()
        ):
            stopped_early = global_step < config.total_timesteps
            interrupted = True  # someone is waiting: save, but skip the evaluation and the animation
            break

    env.close()
    train_seconds = time.perf_counter() - started
    evaluation = (None, None)
    if config.eval_episodes > 0 and not interrupted:  # seeds far from the training ones: fresh start states
        evaluation = evaluate(
            actor, config.env_id, config.eval_episodes, config.seed + 1_000_000, config.max_episode_steps
        )
    artifacts: dict[str, str] = {}
    if out is not None:
        save_checkpoint(out, actor, critic, critic_target, log_alpha)
        artifacts["checkpoint"] = str(out / "sac.pt")
    record = lambda: record_episode(  # noqa: E731
        actor, config.env_id, config.seed + 10_000, max_episode_steps=config.max_episode_steps
    )
    artifacts |= save_run(config, {}, record, interrupted)
    final = final_metrics(
        metrics,
        total_steps=global_step,
        episodes=episodes,
        updates=updates,
        started=started,
        train_seconds=train_seconds,
        to_threshold=to_threshold,
        reward_threshold=threshold,
        evaluation=evaluation,
        stopped_early=stopped_early,
    )
    return TrainResult(metrics=final, artifacts=artifacts)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


progress_line = off_policy_line(
    ("alpha", "charts/alpha"), (("q loss", "losses/q", "8.3f"), ("entropy", "charts/entropy", "6.2f"))
)
"""The command line's progress line."""


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(argv, sys.modules[__name__], SACConfig, train, progress_line, "SAC", preset=preset)


if __name__ == "__main__":
    sys.exit(main())
