"""Proximal Policy Optimization with the clipped surrogate objective (PPO-clip).

Schulman, Wolski, Dhariwal, Radford & Klimov 2017, "Proximal Policy Optimization Algorithms"
(arXiv:1707.06347): Algorithm 1, the clipped objective L^CLIP (eq. 7), the combined objective
L^{CLIP+VF+S} (eq. 9) and truncated GAE (eq. 11 and 12); Schulman et al. 2016, "High-Dimensional
Continuous Control Using Generalized Advantage Estimation", eq. 16. The details that the paper
leaves out but every working implementation has (orthogonal initialisation, Adam's epsilon,
per-minibatch advantage normalisation, learning-rate annealing, gradient-norm clipping, value
clipping, observation and reward normalisation) follow Huang et al. 2022, "The 37 Implementation
Details of Proximal Policy Optimization" (ICLR blog track), and Engstrom et al. 2020,
"Implementation Matters in Deep Policy Gradients".

Algorithm 1, one iteration:

1. rollout: N copies of the environment run the current policy pi_theta_old for T steps each;
2. advantages: GAE A_t from the rewards and the critic's V(s_t), and value targets R_t = A_t + V(s_t);
3. minibatch update: K epochs of Adam on minibatches of the N T samples, maximising
   L^CLIP - c_1 L^VF + c_2 S, where r_t(theta) = pi_theta(a_t | s_t) / pi_theta_old(a_t | s_t) and

       L^CLIP(theta) = E_t[ min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t) ]

   The clip removes the incentive to move r_t outside [1 - eps, 1 + eps]: the cheap stand-in for
   TRPO's KL trust region that lets PPO reuse each batch for several epochs. The losses themselves
   live in ``algorithms/losses.py``; this file wires them together.

Terminated and truncated differ. A real end (the pole fell) is worth nothing afterwards; a time
limit (500 steps of CartPole) cuts an episode that would have gone on, so its last step is
bootstrapped with V(final observation). Gymnasium 1.x vector environments reset a finished copy
on the *next* call to ``step`` (AutoresetMode.NEXT_STEP): the step that ends an episode returns
its final observation, and the following step ignores the action, returns the reset observation
with reward 0 and no done flag. So row t+1 of the rollout holds the final observation of an
episode that ended at t, V(final observation) is simply ``values[t + 1]``, and the row t+1 itself
is no transition at all: ``autoreset_mask`` drops it from the loss and from every statistic.

Discrete actions use a categorical policy (logits from the actor); continuous actions a diagonal
Gaussian with a state-independent log standard deviation. Gaussian samples are clipped to the
action box before the environment sees them, but the log-probability is that of the unclipped
sample: the policy chose that sample, and the ratio r_t must compare like with like.

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.ppo --env-id CartPole-v1 --seed 1 --json
    python -m algorithms.ppo --env-id Pendulum-v1 --json

The command line starts from ``preset(env_id)``; flags override single fields. CartPole-v1's
defaults are tuned for wall-clock time on a small CPU (docs/benchmarks.md); Pendulum-v1's are a
continuous-control default that needs no physics engine. The MuJoCo presets (Hopper-v5,
Humanoid-v5: CleanRL's recipe, observation and reward normalisation, value clipping) need MuJoCo
(``mujoco`` in requirements.txt); docs/benchmarks.md has their speed and returns on a 2-core CPU.
A long run (Humanoid: hours on a CPU) saves its checkpoint and an episode of the current policy every
``checkpoint_every`` iterations, and ``resume_from`` continues a stopped run::

    python -m algorithms.ppo --env-id Hopper-v5 --max-seconds 300 --json
    python -m algorithms.ppo --env-id Humanoid-v5 --checkpoint-every 10 --output-dir runs/humanoid
    python -m algorithms.ppo --env-id Humanoid-v5 --resume-from runs/humanoid --output-dir runs/humanoid-2
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

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
    ended_by,
    final_metrics,
    on_policy_line,
    pick_device,
    save_progress,
    save_run,
)
from algorithms.core import make_mlp
from algorithms.envs.mujoco_setup import prepare
from algorithms.losses import (
    adapt_kl_beta,
    approx_kl,
    clip_fraction,
    clipped_value_loss,
    entropy_bonus,
    ppo_clip_loss,
    ppo_kl_penalty_loss,
)
from algorithms.returns import batched_gae
from algorithms.rollout import (
    EpisodeLog,
    RolloutState,
    autoreset_mask,
    collect_rollout,
    env_action,
    episode_metrics,
    flatten_valid,
    make_vector_env,
)

__all__ = [
    "PRESETS",
    "Agent",
    "EpisodeLog",
    "NonFiniteLossError",
    "PPOConfig",
    "RewardScaler",
    "annealed_lr",
    "autoreset_mask",
    "categorical_entropy",
    "categorical_log_prob",
    "categorical_sample",
    "compute_gae",
    "deterministic_policy",
    "evaluate",
    "explained_variance",
    "gaussian_entropy",
    "gaussian_log_prob",
    "gaussian_sample",
    "load_agent",
    "load_training_state",
    "make_mlp",
    "make_vector_env",
    "normalize_advantages",
    "normalize_observation",
    "preset",
    "record_episode",
    "save_training_state",
    "scale_rewards",
    "train",
    "update_moments",
]


@dataclass(frozen=True)
class PPOConfig(StepsConfig):
    total_timesteps: int = 100_000
    """Environment steps in all, summed over the parallel copies (the budget; see also max_seconds)."""
    num_envs: int = 16
    """N, the copies of the environment stepped together: one forward pass picks N actions."""
    num_steps: int = 32
    """T, the steps each copy runs per iteration; a batch holds N x T steps."""
    gamma: float = 0.99
    """Discount factor gamma."""
    gae_lambda: float = 0.8
    """lambda of GAE (Schulman et al. 2016): 0 is the one-step TD error, 1 the Monte Carlo return."""
    update_epochs: int = 10
    """K, the passes over each batch (Algorithm 1's epochs)."""
    num_minibatches: int = 2
    """Minibatches per epoch; each holds about N x T / num_minibatches steps."""
    clip_eps: float = 0.2
    """epsilon in clip(r_t, 1 - epsilon, 1 + epsilon) (eq. 7); also the value clip with clip_vloss."""
    clip_vloss: bool = False
    """Clip the value update to +-clip_eps around the rollout's values (Huang et al. 2022, detail 9)."""
    vf_coef: float = 0.5
    """c_1, the weight of the value loss in L^{CLIP+VF+S} (eq. 9)."""
    ent_coef: float = 0.0
    """c_2, the weight of the entropy bonus S in L^{CLIP+VF+S} (eq. 9)."""
    max_grad_norm: float = 1.0
    """Rescale the gradient of actor and critic together when its global L2 norm exceeds this (Huang et al.
    2022, detail 11). The critic's share dominates the norm, so a tight clip slows the actor too
    (CartPole: 1.0 beat CleanRL's 0.5)."""
    target_kl: float | None = None
    """Stop the epochs once a minibatch's approximate KL(pi_old || pi_theta) exceeds this; None never stops."""
    objective: Literal["clip", "kl_penalty"] = "clip"
    """clip: L^CLIP (eq. 7). kl_penalty: the paper's other variant, L^KLPEN (eq. 8), r_t A_t - beta KL, no clip,
    beta adapted after each update toward kl_target (section 4)."""
    kl_beta: float = 1.0
    """Initial beta of the KL penalty (kl_penalty only; the paper starts at 1 and finds the start matters little)."""
    kl_target: float = 0.01
    """d_targ of the KL penalty: beta halves when an update's KL < d_targ / 1.5, doubles when > 1.5 d_targ."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the budget."""
    norm_adv: bool = True
    """Normalise the advantages of each minibatch to mean 0 and std 1."""
    lr: float = 0.004
    """Adam step size (the start of the annealed schedule)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden tanh layers of the actor and of the critic (two separate networks)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions only)."""
    norm_obs: bool = False
    """Normalise observations by their running mean and variance, clipped to +-10 (for continuous control)."""
    norm_reward: bool = False
    """Divide rewards by the running std of the discounted return, clipped to +-10 (Engstrom et al. 2020)."""
    checkpoint_every: int = 0
    """Every this many iterations, save the checkpoint (and training_state.pt, to resume from) and an episode of
    the current policy to output_dir, so a long run can be watched while it learns; 0: only at the end."""
    resume_from: str = ""
    """A run folder (or its training_state.pt) to continue, such as .rldojo/runs/RUN_ID: networks, optimizer,
    normalisation statistics and step count carry over, the rest of this config applies. Empty starts afresh."""


# Tuned settings per environment; ``preset`` fills in the rest from PPOConfig's defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # Measured on a 2-core CPU (docs/benchmarks.md): the 100-episode mean reaches 475 in about 60k steps.
    "CartPole-v1": {},
    # No MuJoCo needed. gamma 0.9 as in the RL Zoo: the pendulum's reward is immediate.
    "Pendulum-v1": {
        "total_timesteps": 200_000,
        "num_envs": 8,
        "num_steps": 256,
        "gamma": 0.9,
        "gae_lambda": 0.95,
        "update_epochs": 10,
        "num_minibatches": 8,
        "lr": 0.001,
        "max_grad_norm": 0.5,
        "norm_obs": True,
        "norm_reward": True,
    },
    # CleanRL's ppo_continuous_action settings (Huang et al. 2022); measured in docs/benchmarks.md.
    "Hopper-v5": {
        "total_timesteps": 1_000_000,
        "num_envs": 1,
        "num_steps": 2048,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "num_minibatches": 32,
        "update_epochs": 10,
        "lr": 0.0003,
        "max_grad_norm": 0.5,
        "clip_vloss": True,
        "norm_obs": True,
        "norm_reward": True,
    },
    # The same recipe, longer and wider: the seed's "teach a humanoid to walk", hours on a CPU.
    "Humanoid-v5": {
        "total_timesteps": 10_000_000,
        "num_envs": 8,
        "num_steps": 2048,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "num_minibatches": 32,
        "update_epochs": 10,
        "lr": 0.0003,
        "max_grad_norm": 0.5,
        "hidden_sizes": (256, 256),
        "clip_vloss": True,
        "norm_obs": True,
        "norm_reward": True,
    },
}

# For a continuous-control environment without a preset: the Hopper recipe.
_CONTINUOUS_DEFAULTS = PRESETS["Hopper-v5"]


def preset(env_id: str, **overrides: Any) -> PPOConfig:
    """The tuned config for ``env_id`` (see PRESETS), or a generic one: CartPole's settings for discrete
    actions, the MuJoCo (Hopper) recipe for continuous ones. ``overrides`` replace single fields."""
    if env_id in PRESETS:
        settings = PRESETS[env_id]
    else:
        action_space = _action_space(env_id)
        settings = _CONTINUOUS_DEFAULTS if isinstance(action_space, gym.spaces.Box) else {}
    return replace(PPOConfig(env_id=env_id, **settings), **overrides)


def _action_space(env_id: str) -> gym.Space:
    env = gym.make(env_id)
    try:
        return env.action_space
    finally:
        env.close()


# ---------------------------------------------------------------------------------------
# The equations: pure functions
# ---------------------------------------------------------------------------------------


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    next_value: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
    lam: float,
) -> Tensor:
    """GAE advantages A_t for a batch of N rollouts of T steps (Schulman et al. 2016, eq. 16;
    PPO's truncated form, Schulman et al. 2017, eq. 11 and 12).

    rewards, values, terminated, truncated: (T, N); next_value: (N,), V of the observation after
    the last row. values[t + 1] must be V of the observation that step t returned: with
    gymnasium's NEXT_STEP autoreset that is the *final* observation when step t ended an episode,
    so a time limit bootstraps from V(final observation) with no extra bookkeeping.

        delta_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma lam (1 - done_t) A_{t+1},     done_t = terminated_t or truncated_t

    A real end (terminated) drops V(s_{t+1}); a time limit (truncated) keeps it. Either one stops
    the sum at the episode's edge. Rows that only reset a copy (``autoreset_mask`` False) get a
    meaningless A_t; the caller leaves them out of the loss. Returns (T, N). The recursion itself is
    ``returns.batched_gae``.
    """
    next_values = torch.cat([values[1:], next_value[None]])  # V(s_{t+1}), (T, N)
    return batched_gae(rewards, values, next_values, terminated, truncated, gamma, lam)


def normalize_advantages(adv: Tensor, eps: float = 1e-8) -> Tensor:
    """(A - mean) / (std + eps) over a minibatch (Huang et al. 2022, detail 7): a steady step size
    whatever the scale of the rewards. adv: (B,) -> (B,)."""
    if adv.numel() < 2:
        return adv - adv.mean()
    return (adv - adv.mean()) / (adv.std() + eps)


def annealed_lr(lr: float, iteration: int, num_iterations: int) -> float:
    """Learning rate decayed linearly from ``lr`` at iteration 1 towards 0 after the last one
    (Huang et al. 2022, detail 4; Schulman et al. 2017 anneal Adam's step size the same way)."""
    return lr * (1.0 - (iteration - 1.0) / num_iterations)


def explained_variance(values: Tensor, returns: Tensor) -> float:
    """1 - Var(R - V) / Var(R): 1 for a perfect critic, 0 for one that predicts the mean, negative
    for worse; NaN where undefined (fewer than two samples, or returns all equal). values, returns: (B,)."""
    if returns.numel() < 2:
        return float("nan")
    var_returns = returns.var()
    if var_returns.item() == 0.0:
        return float("nan")
    return float(1.0 - (returns - values).var() / var_returns)


def categorical_log_prob(log_pi: Tensor, actions: Tensor) -> Tensor:
    """ln pi(a | s) of the actions taken. log_pi: ln pi(. | s) = log_softmax(logits), (B, A);
    actions: (B,) integers. Returns (B,)."""
    return log_pi.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(log_pi: Tensor) -> Tensor:
    """H(pi(. | s)) = -sum_a pi(a | s) ln pi(a | s). log_pi = log_softmax(logits): (B, A) -> (B,)."""
    return -(log_pi.exp() * log_pi).sum(-1)


def categorical_sample(logits: Tensor, u: Tensor) -> Tensor:
    """a ~ softmax(logits) by inverse transform: the first a whose cumulative probability exceeds u.

    logits: (N, A); u: (N,) uniform on [0, 1). Returns (N,) integers. (torch.multinomial does the
    same, at several times the cost for a handful of actions.)
    """
    cdf = torch.softmax(logits, dim=-1).cumsum(-1)  # (N, A)
    return (cdf < u.unsqueeze(-1)).sum(-1).clamp(max=logits.shape[-1] - 1)  # clamp: cdf[-1] may round below 1


def gaussian_sample(mean: Tensor, log_std: Tensor, z: Tensor) -> Tensor:
    """a = mu + sigma z: a sample of N(mu, diag(sigma^2)) from standard normal noise z. mean, z: (N, D)."""
    return mean + log_std.exp() * z


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """ln N(a; mu, diag(sigma^2)) = sum_i [ -(a_i - mu_i)^2 / (2 sigma_i^2) - ln sigma_i - ln(2 pi) / 2 ].

    mean, actions: (B, D); log_std: (D,) or (B, D). ``actions`` are the *unclipped* samples: the
    density of the clipped ones would pile up on the box's faces. Returns (B,).
    """
    z = (actions - mean) * torch.exp(-log_std)  # (B, D)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)


def gaussian_entropy(log_std: Tensor, batch: int) -> Tensor:
    """H(N(mu, diag(sigma^2))) = sum_i [ ln sigma_i + (1 + ln(2 pi)) / 2 ], the same in every state
    (the log-std does not depend on s). log_std: (D,) -> (batch,)."""
    return (log_std + 0.5 * (1.0 + math.log(2.0 * math.pi))).sum().expand(batch)


def update_moments(mean: Any, var: Any, count: float, batch: Any) -> tuple[Any, Any, float]:
    """Running mean and (population) variance after adding a batch of samples (B, ...) along axis 0.

    Chan, Golub & LeVeque 1979, the pairwise update: combine (mean, var, count) with the batch's
    own moments. Works on numpy arrays and torch tensors alike.
    """
    batch_count = batch.shape[0]
    if batch_count == 0:
        return mean, var, count
    batch_mean = batch.mean(0)
    batch_var = ((batch - batch_mean) ** 2).mean(0)
    total = count + batch_count
    delta = batch_mean - mean
    new_mean = mean + delta * (batch_count / total)
    m2 = var * count + batch_var * batch_count + delta**2 * (count * batch_count / total)
    return new_mean, m2 / total, total


def normalize_observation(obs: Tensor, mean: Tensor, var: Tensor, clip: float = 10.0) -> Tensor:
    """(s - mean) / sqrt(var + 1e-8), clipped to +-clip (Huang et al. 2022, continuous-action details 6 and 7)."""
    return ((obs - mean) / torch.sqrt(var + 1e-8)).clamp(-clip, clip)


def scale_rewards(
    rewards: np.ndarray,
    discounted: np.ndarray,
    return_var: np.ndarray,
    valid: np.ndarray,
    clip: float = 10.0,
) -> np.ndarray:
    """r_t / sqrt(Var(R) + 1e-8), clipped to +-clip: reward scaling (Engstrom et al. 2020, section 3;
    Huang et al. 2022, continuous-action details 8 and 9).

    ``discounted`` is the running discounted sum of rewards of each copy, (N,), and ``return_var``
    its running variance: dividing by its standard deviation (not subtracting a mean) keeps the
    sign of every reward. rewards, valid: (N,). Rows that only reset a copy stay 0.
    """
    return np.where(valid, np.clip(rewards / np.sqrt(return_var + 1e-8), -clip, clip), 0.0)


class RewardScaler:
    """The running statistics behind ``scale_rewards``: each copy's discounted return and the
    running variance of all of them."""

    def __init__(self, num_envs: int, gamma: float) -> None:
        self.gamma = gamma
        self.discounted = np.zeros(num_envs)  # (N,)
        self.mean, self.var, self.count = np.zeros(()), np.ones(()), 0.0

    def __call__(self, rewards: np.ndarray, valid: np.ndarray, done: np.ndarray) -> np.ndarray:
        """Scaled rewards of one step of the N copies; ``done`` restarts a copy's discounted return."""
        self.discounted = self.gamma * self.discounted + rewards
        self.mean, self.var, self.count = update_moments(self.mean, self.var, self.count, self.discounted[valid])
        scaled = scale_rewards(rewards, self.discounted, self.var, valid)
        self.discounted[done] = 0.0
        return scaled


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class Agent(nn.Module):
    """A separate actor pi_theta(a | s) and critic V(s), and the running observation statistics.

    The statistics are buffers, so a checkpoint carries them and an evaluation sees the
    observations the way training did.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        discrete: bool,
        hidden_sizes: Sequence[int] = (64, 64),
        log_std_init: float = 0.0,
        norm_obs: bool = False,
    ) -> None:
        super().__init__()
        self.discrete, self.norm_obs = discrete, norm_obs
        # Orthogonal initialisation (Huang et al. 2022, detail 2): the policy starts near uniform or near zero mean.
        self.actor = make_mlp(obs_dim, hidden_sizes, action_dim, out_gain=0.01)  # logits or Gaussian mean
        self.critic = make_mlp(obs_dim, hidden_sizes, 1, out_gain=1.0)
        self.log_std = None if discrete else nn.Parameter(torch.full((action_dim,), float(log_std_init)))
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_var", torch.ones(obs_dim))
        self.register_buffer("obs_count", torch.zeros((), dtype=torch.float64))

    def normalize(self, obs: Tensor) -> Tensor:
        """The network's input: the observation, normalised when norm_obs. (B, obs_dim)."""
        return normalize_observation(obs, self.obs_mean, self.obs_var) if self.norm_obs else obs

    @torch.no_grad()
    def update_obs_stats(self, obs: Tensor) -> None:
        mean, var, count = update_moments(self.obs_mean, self.obs_var, float(self.obs_count), obs)
        self.obs_mean.copy_(mean)
        self.obs_var.copy_(var)
        self.obs_count.fill_(count)

    def value(self, x: Tensor) -> Tensor:
        """V(s). x: (B, obs_dim) normalised input -> (B,)."""
        return self.critic(x).squeeze(-1)

    @torch.no_grad()
    def act(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """a ~ pi_theta(. | s) for a batch of inputs x: (N, obs_dim) -> (N,) integers or (N, D) reals.

        Only the actor runs while acting; ln pi_theta_old(a | s) and V(s) of the whole rollout are
        computed afterwards in one batched pass (same parameters, same numbers, a fraction of the cost).
        """
        out = self.actor(x)  # logits (N, A) or Gaussian mean (N, D)
        if self.discrete:
            return categorical_sample(out, torch.rand(out.shape[:-1], generator=generator, device=out.device))
        assert self.log_std is not None
        z = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)  # (N, D)
        return gaussian_sample(out, self.log_std, z)  # unclipped: the environment gets a clipped copy

    def log_prob_entropy(self, x: Tensor, actions: Tensor, with_entropy: bool = True) -> tuple[Tensor, Tensor | None]:
        """ln pi_theta(a | s) and H(pi_theta(. | s)) (None unless with_entropy) for stored (s, a). Each (B,)."""
        out = self.actor(x)  # logits (B, A) or Gaussian mean (B, D)
        if self.discrete:
            log_pi = torch.log_softmax(out, dim=-1)  # ln pi_theta(. | s), (B, A)
            return categorical_log_prob(log_pi, actions), categorical_entropy(log_pi) if with_entropy else None
        assert self.log_std is not None
        entropy = gaussian_entropy(self.log_std, x.shape[0]) if with_entropy else None
        return gaussian_log_prob(out, self.log_std, actions), entropy

    @torch.no_grad()
    def deterministic(self, x: Tensor) -> Tensor:
        """The action an evaluation plays: argmax of the logits, or the Gaussian's mean."""
        out = self.actor(x)
        return out.argmax(-1) if self.discrete else out


# ---------------------------------------------------------------------------------------
# Environments, evaluation and recording
# ---------------------------------------------------------------------------------------


def env_dims(observation_space: gym.Space, action_space: gym.Space, env_id: str) -> tuple[int, int, bool]:
    """(observation dimension, number of actions or action dimension, discrete?) of one copy."""
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(f"PPO here needs vector observations; {env_id} has {observation_space}")
    obs_dim = int(np.prod(observation_space.shape))
    if isinstance(action_space, gym.spaces.Discrete):
        return obs_dim, int(action_space.n), True
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return obs_dim, int(action_space.shape[0]), False
    raise ValueError(f"PPO here needs Discrete or 1-d Box actions; {env_id} has {action_space}")


def deterministic_policy(agent: Agent, action_space: gym.Space | None = None) -> core.Act:
    """The policy an evaluation plays: argmax of the logits or the Gaussian's mean, clipped to
    ``action_space`` (needed for continuous actions only)."""
    device = next(agent.parameters()).device

    def act(obs: np.ndarray) -> np.ndarray:
        x = agent.normalize(torch.as_tensor(obs, device=device))
        return env_action(agent, agent.deterministic(x), action_space)

    return act


def evaluate(agent: Agent, env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of the undiscounted return of the deterministic policy over
    ``episodes`` episodes (seeds seed, seed + 1, ...), all played in lockstep."""
    space = _action_space(env_id)
    return core.evaluate(deterministic_policy(agent, space), lambda: gym.make(env_id), episodes, seed)


def record_episode(agent: Agent, env_id: str, seed: int, max_steps: int = 500) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of one deterministic episode, the first before any action (``core.record_episode``)."""
    act = deterministic_policy(agent, _action_space(env_id))
    return core.record_episode(act, lambda **kw: gym.make(env_id, **kw), env_id, seed, max_steps)


def load_agent(path: str | Path, config: PPOConfig) -> Agent:
    """Rebuild the agent of ``config`` and load a checkpoint that ``train`` saved."""
    prepare(config.env_id)
    env = gym.make(config.env_id)
    obs_dim, action_dim, discrete = env_dims(env.observation_space, env.action_space, config.env_id)
    env.close()
    agent = Agent(obs_dim, action_dim, discrete, config.hidden_sizes, config.log_std_init, config.norm_obs)
    agent.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return agent


TRAINING_STATE_FILE = "training_state.pt"


def save_training_state(
    path: Path,
    agent: Agent,
    optimizer: torch.optim.Optimizer,
    scaler: RewardScaler | None,
    generator: torch.Generator,
    counters: dict[str, int],
) -> None:
    """What ``resume_from`` needs to go on where a run stopped: the agent (with its observation
    statistics), Adam's moments, the reward scaler's statistics, the sampling generator and the
    counters (iteration, global_step, episodes, gradient_steps). Written atomically."""
    state = {
        "agent": agent.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": None if scaler is None else [float(scaler.mean), float(scaler.var), float(scaler.count)],
        "generator": generator.get_state(),
        "counters": dict(counters),
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def save_checkpoint(
    out: Path,
    agent: Agent,
    optimizer: torch.optim.Optimizer,
    scaler: RewardScaler | None,
    generator: torch.Generator,
    counters: dict[str, int],
) -> None:
    """agent.pt (the policy, for evaluation and lessons) and training_state.pt (to resume from), both atomically."""
    out.mkdir(parents=True, exist_ok=True)
    save_training_state(out / TRAINING_STATE_FILE, agent, optimizer, scaler, generator, counters)
    partial = out / "agent.pt.partial"
    torch.save(agent.state_dict(), partial)
    partial.replace(out / "agent.pt")


def restore_training_state(
    resumed: dict[str, Any] | None,
    agent: Agent,
    optimizer: torch.optim.Optimizer,
    scaler: RewardScaler | None,
    generator: torch.Generator,
) -> dict[str, int]:
    """Load what ``save_training_state`` saved into a fresh agent, optimizer, scaler and generator;
    returns the counters (iteration, global_step, episodes, gradient_steps), all 0 for a fresh run (None)."""
    if resumed is None:
        return {"iteration": 0, "global_step": 0, "gradient_steps": 0, "episodes": 0}
    agent.load_state_dict(resumed["agent"])
    optimizer.load_state_dict(resumed["optimizer"])
    if resumed["generator"].numel() == generator.get_state().numel():  # not when cuda and cpu differ
        generator.set_state(resumed["generator"])
    if scaler is not None and resumed["scaler"] is not None:
        mean, var, count = resumed["scaler"]
        scaler.mean, scaler.var, scaler.count = np.asarray(mean), np.asarray(var), count
    return resumed["counters"]


def load_training_state(resume_from: str | Path) -> dict[str, Any]:
    """The state ``save_training_state`` wrote, from the file or from the run folder that holds it."""
    path = Path(resume_from)
    if path.is_dir():
        path = path / TRAINING_STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"resume_from: no {TRAINING_STATE_FILE} at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------


def _update_losses(
    agent: Agent, batch: tuple[Tensor, ...], loss_sums: Tensor, steps: int, clip_eps: float, global_step: int
) -> Metrics:
    """The mean losses of an iteration's minibatch steps and the update's diagnostics (KL, clip fraction,
    explained variance...), each checked finite; nothing when the batch was empty (B = 0)."""
    b_obs, b_actions, b_logp, b_values, b_returns = batch
    if b_obs.shape[0] == 0:
        return {}
    pg_mean, v_mean = (loss_sums / max(steps, 1)).tolist()
    losses = {"losses/policy": pg_mean, "losses/value": v_mean}
    losses |= update_metrics(agent, b_obs, b_actions, b_logp, b_values, b_returns, clip_eps)
    for name, number in losses.items():
        check_finite(name, number, global_step)
    return losses


def _save_progress(out: Path, agent: Agent, config: PPOConfig, metrics: Metrics, iteration: int) -> None:
    """An episode of the current policy and where the run stands, beside the checkpoint (a long run)."""
    record = lambda: record_episode(agent, config.env_id, seed=config.seed + 10_000, max_steps=300)  # noqa: E731
    info = {"global_step": int(metrics["global_step"]), "iteration": iteration, **_returns(metrics)}
    save_progress(out, record, info)


def _final_evaluation(agent: Agent, config: PPOConfig) -> tuple[float | None, float | None]:
    """Deterministic episodes from seeds far from the training ones (fresh start states); none when 0."""
    if config.eval_episodes <= 0:
        return None, None
    return evaluate(agent, config.env_id, config.eval_episodes, config.seed + 1_000_000)


def train(config: PPOConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None) -> TrainResult:
    """PPO-clip, Algorithm 1 of Schulman et al. 2017, with N x T steps per iteration. Reports every
    iteration through ``on_update``; polls ``should_stop`` between iterations."""
    _check(config)
    resumed = load_training_state(config.resume_from) if config.resume_from else None
    configure_cpu_threads()
    prepare(config.env_id)  # MuJoCo: pick the offscreen GL back end before the engine is imported
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)  # actions and minibatch order

    N, T = config.num_envs, config.num_steps
    envs = make_vector_env(config.env_id, N)
    obs_dim, action_dim, discrete = env_dims(envs.single_observation_space, envs.single_action_space, config.env_id)
    threshold = gym.spec(config.env_id).reward_threshold

    agent = Agent(obs_dim, action_dim, discrete, config.hidden_sizes, config.log_std_init, config.norm_obs).to(device)
    # eps 1e-5 rather than Adam's 1e-8 (Huang et al. 2022, detail 3). The fused kernel updates all
    # parameters at once: about 4x faster than one small op per tensor for networks this size.
    params = list(agent.parameters())  # listed once: walking the modules each step costs more than the clip
    optimizer = torch.optim.Adam(params, lr=config.lr, eps=1e-5, fused=device.type in ("cpu", "cuda"))
    num_iterations = max(1, config.total_timesteps // (N * T))

    log = EpisodeLog(N)
    scaler = RewardScaler(N, config.gamma) if config.norm_reward else None
    # A resumed long run goes on with the same networks and statistics, and fresh episodes.
    counters = restore_training_state(resumed, agent, optimizer, scaler, generator)
    start_iteration, global_step = counters["iteration"], counters["global_step"]
    gradient_steps, log.episodes = counters["gradient_steps"], counters["episodes"]
    obs, _ = envs.reset(seed=config.seed + start_iteration)
    # The clock of seconds_to_threshold starts at the first environment step, like a peer's learn():
    # building the environments and networks (and torch's lazy import of its compiler when the first
    # optimizer is made, about a second) is setup, reported as setup_seconds.
    state = RolloutState(obs, np.zeros(N, dtype=bool), np.zeros(N, dtype=bool), log, threshold, global_step=global_step)
    metrics: Metrics = {}
    stopped_early = interrupted = False

    out = Path(config.output_dir) if config.output_dir else None

    def save_state(iteration: int) -> None:  # agent.pt, and training_state.pt to resume from
        assert out is not None
        counters = {"iteration": iteration, "global_step": state.global_step, "episodes": log.episodes}
        save_checkpoint(out, agent, optimizer, scaler, generator, counters | {"gradient_steps": gradient_steps})

    kl_beta = config.kl_beta  # beta of L^KLPEN (objective kl_penalty), adapted after each update
    iteration = start_iteration
    for iteration in range(start_iteration + 1, num_iterations + 1):
        iteration_started = time.perf_counter()
        # lesson:start lr-anneal
        lr_now = annealed_lr(config.lr, iteration, num_iterations) if config.anneal_lr else config.lr
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        # lesson:end lr-anneal

        rollout = collect_rollout(envs, agent, state, T, generator, scaler)  # N x T steps of pi_theta_old
        global_step = state.global_step

        # lesson:start advantages
        with torch.no_grad():  # theta_old's log-probabilities and values of the whole rollout, in one pass
            flat_obs = rollout.obs.flatten(0, 1)  # (T N, obs_dim)
            logp_old = agent.log_prob_entropy(flat_obs, rollout.actions.flatten(0, 1), with_entropy=False)[0]
            values = agent.value(flat_obs).view(T, N)  # V(s_t), (T, N)
            next_value = agent.value(rollout.next_obs)  # V(s_T), (N,)
        advantages = compute_gae(
            rollout.rewards, values, next_value, rollout.terminated, rollout.truncated, config.gamma, config.gae_lambda
        )  # (T, N)
        returns = advantages + values  # value targets R_t = A_t + V(s_t), (T, N)
        # lesson:end advantages

        # The real transitions only: (B,), B <= N T.
        b_obs, b_actions, b_logp, b_values, b_adv, b_returns = flatten_valid(
            rollout, logp_old.view(T, N), values, advantages, returns
        )
        B = b_obs.shape[0]

        loss_sums = torch.zeros(2, device=device)  # L^CLIP and L^VF summed over the minibatch steps
        minibatch_steps = epochs_done = 0
        kl_stopped = False
        for _epoch in range(config.update_epochs if B > 0 else 0):  # B = 0: every row was a reset step
            order = torch.randperm(B, generator=generator, device=device)
            for mb in order.tensor_split(min(config.num_minibatches, B)):
                # lesson:start minibatch-update
                logp, entropy = agent.log_prob_entropy(b_obs[mb], b_actions[mb], with_entropy=config.ent_coef != 0)
                value = agent.value(b_obs[mb])  # (M,)
                # lesson:start kl-early-stop
                if config.target_kl is not None and approx_kl(logp, b_logp[mb]).item() > config.target_kl:
                    kl_stopped = True  # the policy has left the trust region: no more steps on this batch
                    break
                # lesson:end kl-early-stop
                adv = normalize_advantages(b_adv[mb]) if config.norm_adv else b_adv[mb]
                if config.objective == "kl_penalty":
                    pg_loss = ppo_kl_penalty_loss(logp, b_logp[mb], adv, kl_beta)  # minus L^KLPEN, eq. 8
                else:
                    pg_loss = ppo_clip_loss(logp, b_logp[mb], adv, config.clip_eps)  # minus L^CLIP, eq. 7
                v_clip = config.clip_eps if config.clip_vloss else None
                v_loss = clipped_value_loss(value, b_values[mb], b_returns[mb], v_clip)  # L^VF
                loss = pg_loss + config.vf_coef * v_loss  # minus L^{CLIP+VF+S}, eq. 9 ...
                if entropy is not None:
                    loss = loss - config.ent_coef * entropy_bonus(entropy)  # ... with its S term
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                # lesson:end minibatch-update
                loss_sums += torch.stack([pg_loss.detach(), v_loss.detach()])
                minibatch_steps += 1
            if kl_stopped:
                break
            epochs_done += 1
        gradient_steps += minibatch_steps

        batch = (b_obs, b_actions, b_logp, b_values, b_returns)
        losses = _update_losses(agent, batch, loss_sums, minibatch_steps, config.clip_eps, global_step)
        if losses and config.objective == "kl_penalty":  # section 4: adapt beta to the KL this update reached
            losses["charts/kl_beta"] = kl_beta
            kl_beta = adapt_kl_beta(kl_beta, losses["losses/approx_kl"], config.kl_target)

        now = time.perf_counter()
        elapsed = now - started
        metrics = {
            "global_step": float(global_step),
            "progress": budget_progress(iteration, num_iterations, elapsed, config.max_seconds),
            "charts/iteration": float(iteration),
            "charts/learning_rate": lr_now,
            "charts/steps_per_second": T * N / max(now - iteration_started, 1e-9),
            "charts/epochs": float(epochs_done),
            "charts/gradient_steps": float(gradient_steps),
            **losses,
            **episode_metrics(log),
        }
        if out is not None and config.checkpoint_every and iteration % config.checkpoint_every == 0:
            save_state(iteration)  # a long run: the latest policy, to watch now and resume later
            if iteration < num_iterations:
                _save_progress(out, agent, config, metrics, iteration)
        if on_update is not None:
            on_update(metrics)
        if ended := ended_by(config.max_seconds, elapsed, should_stop):
            stopped_early, interrupted = iteration < num_iterations, ended == "stop"
            break

    envs.close()
    train_seconds = time.perf_counter() - started
    agent.eval()
    evaluation = _final_evaluation(agent, config) if not interrupted else (None, None)
    artifacts: dict[str, str] = {}
    if out is not None:
        save_state(iteration)
        artifacts = {"checkpoint": str(out / "agent.pt"), "training_state": str(out / TRAINING_STATE_FILE)}
    record = lambda: record_episode(agent, config.env_id, seed=config.seed + 10_000)  # noqa: E731
    artifacts |= save_run(config, {}, record, interrupted)
    final = final_metrics(
        metrics, **state.counts(), updates=iteration, started=started, train_seconds=train_seconds,
        evaluation=evaluation, stopped_early=stopped_early,
    )  # fmt: skip
    return TrainResult(metrics=final, artifacts=artifacts)


def _check(config: PPOConfig) -> None:
    if min(config.total_timesteps, config.num_envs, config.num_steps, config.update_epochs) < 1:
        raise ValueError("total_timesteps, num_envs, num_steps and update_epochs must be at least 1")
    if config.num_minibatches < 1 or config.num_minibatches > config.num_envs * config.num_steps:
        raise ValueError("num_minibatches must lie between 1 and num_envs * num_steps")
    if config.checkpoint_every < 0:
        raise ValueError("checkpoint_every must be 0 (never) or a number of iterations")
    if config.objective not in ("clip", "kl_penalty"):
        raise ValueError(f"objective must be 'clip' or 'kl_penalty', got {config.objective!r}")
    if config.objective == "kl_penalty" and not (config.kl_beta > 0 and config.kl_target > 0):
        raise ValueError(f"kl_penalty needs kl_beta > 0 and kl_target > 0, got {config.kl_beta}, {config.kl_target}")


def update_metrics(
    agent: Agent, obs: Tensor, actions: Tensor, logp_old: Tensor, values: Tensor, returns: Tensor, clip_eps: float
) -> Metrics:
    """How far the whole update moved the policy, measured once on the whole batch (B,): the entropy,
    KL(pi_old || pi_new) and the clip fraction after the update, and how well V(s) explained the returns."""
    with torch.no_grad():
        logp_new, entropy_new = agent.log_prob_entropy(obs, actions)
    assert entropy_new is not None
    metrics = {
        "losses/entropy": entropy_new.mean().item(),
        "losses/approx_kl": approx_kl(logp_new, logp_old).item(),  # KL(pi_old || pi_new), after the update
        "losses/clip_fraction": clip_fraction(logp_new, logp_old, clip_eps).item(),
    }
    ev = explained_variance(values, returns)
    if math.isfinite(ev):  # the run manager stops a run on any non-finite losses/ value
        metrics["losses/explained_variance"] = ev
    return metrics


def _returns(metrics: Metrics) -> Metrics:
    return {k: metrics[k] for k in ("charts/episodic_return", "charts/episodic_return_mean100") if k in metrics}


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(argv, sys.modules[__name__], PPOConfig, train, on_policy_line, "PPO", preset=preset)


if __name__ == "__main__":
    sys.exit(main())
