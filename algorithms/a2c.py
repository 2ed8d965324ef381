"""Advantage Actor-Critic, synchronous (A2C).

Mnih, Badia, Mirza, Graves, Lillicrap, Harley, Silver & Kavukcuoglu 2016, "Asynchronous Methods for
Deep Reinforcement Learning" (ICML; arXiv:1602.01783): Algorithm S3 (advantage actor-critic) and
section 4, where the policy gradient is

    grad_theta' log pi(a_t | s_t; theta') A(s_t, a_t; theta, theta_v)

with the n-step advantage (section 3, "Asynchronous advantage actor-critic")

    A(s_t, a_t) = sum_{i=0}^{k-1} gamma^i r_{t+i} + gamma^k V(s_{t+k}) - V(s_t),    k <= t_max

and an entropy bonus beta grad H(pi(. | s_t)). A2C is the synchronous variant (OpenAI baselines,
Wu et al. 2017): instead of asynchronous workers, N copies of the environment run the same
parameters for T = t_max steps; the N T samples give one gradient step. Each row's advantage looks
ahead to the end of the rollout, so the first step of a rollout uses a T-step return and the last
a one-step return, exactly as in Algorithm S3. GAE (Schulman et al. 2016) with lambda < 1 is an
optional alternative; lambda = 1 is the n-step advantage itself.

The networks and the evaluation are PPO's (``algorithms/ppo.py``); the rollout, with the vectorised
environment and the autoreset handling, is the one PPO and TRPO use too (``algorithms/rollout.py``).

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.a2c --env-id CartPole-v1 --seed 1 --json
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

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
    final_metrics,
    on_policy_line,
    pick_device,
    save_run,
)
from algorithms.losses import entropy_bonus
from algorithms.ppo import (
    Agent,
    compute_gae,
    env_dims,
    evaluate,
    explained_variance,
    normalize_advantages,
    record_episode,
)
from algorithms.reinforce import value_loss
from algorithms.rollout import (
    EpisodeLog,
    Rollout,
    RolloutState,
    collect_rollout,
    episode_metrics,
    flatten_valid,
    make_vector_env,
)

__all__ = [
    "A2CConfig",
    "NonFiniteLossError",
    "Rollout",
    "RolloutState",
    "a2c_loss",
    "collect_rollout",
    "finish_run",
    "policy_gradient_loss",
    "rollout_returns",
    "train",
]


@dataclass(frozen=True)
class A2CConfig(StepsConfig):
    total_timesteps: int = 300_000
    """Environment steps in all, summed over the parallel copies (the budget; see also max_seconds)."""
    num_envs: int = 16
    """N, the copies of the environment stepped together (the paper's parallel actor-learners)."""
    num_steps: int = 8
    """T = t_max, the steps each copy runs before one update; a batch holds N x T steps."""
    gamma: float = 0.99
    """Discount factor gamma."""
    gae_lambda: float = 1.0
    """1.0: the paper's n-step advantage (rollout_returns). Below 1: GAE (Schulman et al. 2016) instead."""
    vf_coef: float = 0.5
    """Weight of the value loss 0.5 (R_t - V(s_t))^2 in the combined loss."""
    ent_coef: float = 0.0
    """beta, the weight of the entropy bonus H(pi(. | s_t)) (Mnih et al. 2016, section 4)."""
    lr: float = 0.001
    """Step size of the optimizer."""
    optimizer: str = "adam"
    """adam or rmsprop. The paper used RMSProp with shared statistics (alpha 0.99, eps 0.1 there; 1e-5 here)."""
    max_grad_norm: float = 0.5
    """Rescale the gradient when its global L2 norm exceeds this (OpenAI baselines' A2C)."""
    norm_adv: bool = False
    """Normalise the advantages of each batch to mean 0 and std 1 (not in the paper). Off: once CartPole is
    solved the advantages of a 128-step batch are all near 0, and normalising them blows that noise up to
    full-size steps (with it on, 1 or 2 of 3 to 5 seeds fell back below 250 after solving; with it off, none of 5)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the budget."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden tanh layers of the actor and of the critic (two separate networks)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions only)."""


# ---------------------------------------------------------------------------------------
# The equations: pure functions
# ---------------------------------------------------------------------------------------


def rollout_returns(
    rewards: Tensor,
    values: Tensor,
    next_value: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
) -> Tensor:
    """n-step returns R_t of a (T, N) rollout, each bootstrapped from the rollout's end (Mnih et al.
    2016, Algorithm S3: R = V(s_T), then R <- r_i + gamma R for i = T-1, ..., 0).

        R_t = r_t + gamma R_{t+1}                   inside an episode
        R_t = r_t                                   when step t ended the episode for real
        R_t = r_t + gamma V(s_{t+1})                when a time limit cut it (bootstrap, do not end)

    rewards, values, terminated, truncated: (T, N); next_value: (N,), V of the observation after the
    last row. values[t + 1] is V of what step t returned: the final observation when step t ended an
    episode (gymnasium's NEXT_STEP autoreset), so a time limit bootstraps from it. Returns (T, N).
    The advantage is R_t - V(s_t); it equals GAE with lambda = 1. (Not ``returns.n_step_returns``,
    whose every window holds n steps: here the window runs to the end of the rollout.)
    """
    T = rewards.shape[0]
    not_done = 1.0 - (terminated | truncated).to(rewards.dtype)  # (T, N)
    next_values = torch.cat([values[1:], next_value[None]])  # V(s_{t+1}), (T, N)
    returns = torch.zeros_like(rewards)  # (T, N)
    # lesson:start n-step-advantage
    R = next_value  # bootstrap from V(s_T), (N,)
    for t in reversed(range(T)):
        R = rewards[t] + gamma * (not_done[t] * R + truncated[t] * next_values[t])  # truncated: V(final obs)
        returns[t] = R
    # advantage A_t = R_t - V(s_t), formed by the caller
    # lesson:end n-step-advantage
    return returns


def policy_gradient_loss(logp: Tensor, adv: Tensor) -> Tensor:
    """-mean(ln pi(a_t | s_t) A_t): minus the policy-gradient estimate (Mnih et al. 2016, section 3).
    ``adv`` is a constant (no gradient flows into the critic through it). logp, adv: (B,)."""
    return -(logp * adv.detach()).mean()


def a2c_loss(
    logp: Tensor, adv: Tensor, values: Tensor, returns: Tensor, entropy: Tensor, vf_coef: float, ent_coef: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The one loss A2C descends, and its parts: (total, policy, value, entropy).

        L = -mean(ln pi(a_t | s_t) A_t) + c_v 0.5 mean((R_t - V(s_t))^2) - beta mean(H(pi(. | s_t)))

    Mnih et al. 2016, section 4 and Algorithm S3 (the actor's and the critic's gradients, summed;
    the entropy term is section 4's regulariser). All inputs (B,).
    """
    # lesson:start a2c-loss
    pg_loss = policy_gradient_loss(logp, adv)  # -mean(ln pi(a|s) A)
    v_loss = value_loss(values, returns.detach())  # 0.5 mean((R - V)^2)
    entropy_mean = entropy_bonus(entropy)  # mean H(pi(. | s))
    loss = pg_loss + vf_coef * v_loss - ent_coef * entropy_mean
    # lesson:end a2c-loss
    return loss, pg_loss, v_loss, entropy_mean


# ---------------------------------------------------------------------------------------
# Rollouts (shared with TRPO)
# ---------------------------------------------------------------------------------------


def finish_run(
    agent: Agent,
    config: Any,
    state: RolloutState,
    metrics: Metrics,
    started: float,
    updates: int,
    stopped_early: bool,
    interrupted: bool,
) -> TrainResult:
    """Evaluate, save the checkpoint, the config and an episode animation, and gather the final
    metrics (the same keys as PPO's). Evaluation and animation are skipped when interrupted."""
    train_seconds = time.perf_counter() - started
    agent.eval()
    evaluation = (None, None)
    if config.eval_episodes > 0 and not interrupted:  # seeds far from the training ones
        evaluation = evaluate(agent, config.env_id, config.eval_episodes, config.seed + 1_000_000)
    record = lambda: record_episode(agent, config.env_id, seed=config.seed + 10_000)  # noqa: E731
    artifacts = save_run(config, {"checkpoint": ("agent.pt", agent.state_dict())}, record, interrupted)
    final = final_metrics(
        metrics, **state.counts(), updates=updates, started=started, train_seconds=train_seconds,
        evaluation=evaluation, stopped_early=stopped_early,
    )  # fmt: skip
    return TrainResult(metrics=final, artifacts=artifacts)


def make_agent(config: Any, envs: gym.vector.VectorEnv, device: torch.device) -> Agent:
    obs_dim, action_dim, discrete = env_dims(envs.single_observation_space, envs.single_action_space, config.env_id)
    return Agent(obs_dim, action_dim, discrete, config.hidden_sizes, config.log_std_init).to(device)


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------


def train(config: A2CConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None) -> TrainResult:
    """Synchronous A2C: N copies x T steps, then one gradient step on ``a2c_loss``. Reports every
    few updates (at least every 0.25 s of training) through ``on_update``; polls ``should_stop``
    between updates."""
    if min(config.total_timesteps, config.num_envs, config.num_steps) < 1:
        raise ValueError("total_timesteps, num_envs and num_steps must be at least 1")
    if config.optimizer not in ("adam", "rmsprop"):
        raise ValueError(f"optimizer must be adam or rmsprop, not {config.optimizer!r}")
    configure_cpu_threads()
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)

    N, T = config.num_envs, config.num_steps
    envs = make_vector_env(config.env_id, N)
    agent = make_agent(config, envs, device)
    params = list(agent.parameters())
    fused = device.type in ("cpu", "cuda")
    optimizer: torch.optim.Optimizer = (
        torch.optim.Adam(params, lr=config.lr, eps=1e-5, fused=fused)
        if config.optimizer == "adam"
        else torch.optim.RMSprop(params, lr=config.lr, alpha=0.99, eps=1e-5)
    )
    num_updates = max(1, config.total_timesteps // (N * T))
    obs, _ = envs.reset(seed=config.seed)
    state = RolloutState(
        obs=obs,
        prev_terminated=np.zeros(N, dtype=bool),
        prev_truncated=np.zeros(N, dtype=bool),
        log=EpisodeLog(N),
        threshold=gym.spec(config.env_id).reward_threshold,
    )
    metrics: Metrics = {}
    update = 0
    stopped_early = interrupted = False
    report_step = 0
    last_report_time = state.started = time.perf_counter()

    for update in range(1, num_updates + 1):
        lr_now = config.lr * (1.0 - (update - 1.0) / num_updates) if config.anneal_lr else config.lr
        for group in optimizer.param_groups:
            group["lr"] = lr_now

        rollout = collect_rollout(envs, agent, state, T, generator)

        x_all = rollout.obs.flatten(0, 1)  # (T N, obs_dim)
        values_all = agent.value(torch.cat([x_all, rollout.next_obs]))  # V(s_t) with gradient, (T N + N,)
        values = values_all[: T * N].view(T, N)  # (T, N)
        with torch.no_grad():
            # lesson:start a2c-advantages
            next_value = values_all[T * N :].detach()  # V(s_T), (N,)
            v = values.detach()
            if config.gae_lambda == 1.0:
                returns = rollout_returns(
                    rollout.rewards, v, next_value, rollout.terminated, rollout.truncated, config.gamma
                )
                advantages = returns - v  # A_t = R_t - V(s_t), (T, N)
            else:
                advantages = compute_gae(
                    rollout.rewards,
                    v,
                    next_value,
                    rollout.terminated,
                    rollout.truncated,
                    config.gamma,
                    config.gae_lambda,
                )
                returns = advantages + v
            # lesson:end a2c-advantages

        b_obs, b_actions, b_values, b_adv, b_returns = flatten_valid(rollout, values, advantages, returns)
        losses: Metrics = {}
        if b_obs.shape[0] > 0:
            # lesson:start a2c-update
            logp, entropy = agent.log_prob_entropy(b_obs, b_actions)
            assert entropy is not None
            adv = normalize_advantages(b_adv) if config.norm_adv else b_adv
            loss, pg_loss, v_loss, entropy_mean = a2c_loss(
                logp, adv, b_values, b_returns, entropy, config.vf_coef, config.ent_coef
            )
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            # lesson:end a2c-update
            losses = {
                "losses/policy": pg_loss.item(),
                "losses/value": v_loss.item(),
                "losses/entropy": entropy_mean.item(),
            }
            for name, number in losses.items():
                check_finite(name, number, state.global_step)

        now = time.perf_counter()
        elapsed = now - started
        out_of_time = config.max_seconds is not None and elapsed >= config.max_seconds
        stop = should_stop is not None and should_stop()
        last = update == num_updates or out_of_time or stop
        # Updates are tiny (N T = 128 steps): report every 0.25 s, not every update.
        if last or now - last_report_time >= 0.25 or update == 1:
            metrics = {
                "global_step": float(state.global_step),
                "progress": budget_progress(update, num_updates, elapsed, config.max_seconds),
                "charts/update": float(update),
                "charts/learning_rate": lr_now,
                "charts/steps_per_second": (state.global_step - report_step) / max(now - last_report_time, 1e-9),
                **losses,
                **episode_metrics(state.log),
            }
            ev = explained_variance(b_values.detach(), b_returns) if b_obs.shape[0] > 0 else float("nan")
            if math.isfinite(ev):
                metrics["losses/explained_variance"] = ev
            report_step, last_report_time = state.global_step, now
            if on_update is not None:
                on_update(metrics)
        if out_of_time or stop:
            stopped_early = update < num_updates
            interrupted = stop
            break
    envs.close()
    return finish_run(agent, config, state, metrics, started, update, stopped_early, interrupted)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(argv, sys.modules[__name__], A2CConfig, train, on_policy_line, "A2C")


if __name__ == "__main__":
    sys.exit(main())
