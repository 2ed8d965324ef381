"""Trust Region Policy Optimization (TRPO).

Schulman, Levine, Moritz, Jordan & Abbeel 2015, "Trust Region Policy Optimization" (ICML;
arXiv:1502.05477). Each iteration maximises the surrogate (eq. 14, with advantages for Q)

    L(theta) = E_t[ pi_theta(a_t | s_t) / pi_theta_old(a_t | s_t) A_t ]
    subject to  KL_bar(theta_old, theta) = E_t[ KL(pi_theta_old(. | s_t) || pi_theta(. | s_t)) ] <= delta

by the "practical algorithm" of section 6 and appendix C: a linear model of L (gradient g) and a
quadratic model of the KL (its Hessian, the Fisher information matrix F at theta_old) give the
natural-gradient direction s = F^-1 g, computed with a few conjugate-gradient iterations that need
only Fisher-vector products F v (the Hessian of the mean KL times v, by double backpropagation;
F is never formed). The largest step along s inside the quadratic trust region has length
beta = sqrt(2 delta / s^T F s) (appendix C); a backtracking line search then shrinks it until the
real surrogate improves and the real KL is within delta.

Advantages are GAE (Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized
Advantage Estimation", who pair it with TRPO), and the value function V(s) is fitted separately
after each policy step with a few epochs of Adam on the returns (the 2016 paper uses its own trust
region for the critic; plain regression is the common simplification). The rollouts are the shared
on-policy ones (``algorithms/rollout.py``), the networks and evaluation PPO's (``algorithms/ppo.py``).

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.trpo --env-id CartPole-v1 --seed 1 --json
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from algorithms.a2c import finish_run, make_agent
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
    on_policy_line,
    pick_device,
)
from algorithms.losses import clipped_value_loss
from algorithms.ppo import Agent, compute_gae, explained_variance, normalize_advantages
from algorithms.rollout import (
    EpisodeLog,
    RolloutState,
    collect_rollout,
    episode_metrics,
    flatten_valid,
    make_vector_env,
)

__all__ = [
    "NonFiniteLossError",
    "TRPOConfig",
    "categorical_kl",
    "conjugate_gradient",
    "fisher_vector_product",
    "flat_grad",
    "flat_params",
    "gaussian_kl",
    "line_search",
    "mean_kl",
    "natural_step",
    "set_flat_params",
    "surrogate_objective",
    "train",
]


@dataclass(frozen=True)
class TRPOConfig(StepsConfig):
    total_timesteps: int = 150_000
    """Environment steps in all, summed over the parallel copies (the budget; see also max_seconds)."""
    num_envs: int = 8
    """N, the copies of the environment stepped together."""
    num_steps: int = 128
    """T, the steps each copy runs per iteration; a batch holds N x T steps and gives one policy step."""
    gamma: float = 0.99
    """Discount factor gamma."""
    gae_lambda: float = 0.98
    """lambda of GAE (Schulman et al. 2016): 0 is the one-step TD error, 1 the Monte Carlo return. On CartPole
    (seeds 1-5) 0.95 let one seed fall back after solving it (eval 476); 0.98 evaluated at 500 on all five."""
    max_kl: float = 0.01
    """delta, the trust region: the bound on the mean KL(pi_old || pi_theta) of one step (eq. 12)."""
    cg_iters: int = 10
    """Conjugate-gradient iterations that approximate F^-1 g (appendix C uses 10)."""
    cg_damping: float = 0.1
    """lambda in (F + lambda I) v: keeps the Fisher matrix well conditioned for CG."""
    backtrack_coef: float = 0.5
    """The line search tries step fractions 1, c, c^2, ...; this is c."""
    max_backtracks: int = 10
    """How many fractions the line search tries before it keeps the old policy."""
    accept_ratio: float = 0.1
    """Accept a step only when its real improvement is at least this fraction of the linear model's prediction."""
    norm_adv: bool = True
    """Normalise the advantages of each batch to mean 0 and std 1."""
    vf_lr: float = 0.001
    """Adam step size of the value function."""
    vf_epochs: int = 5
    """Passes of Adam over each batch for the value function, after the policy step."""
    vf_minibatches: int = 8
    """Minibatches per value epoch."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden tanh layers of the actor and of the critic (two separate networks)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions only)."""


# ---------------------------------------------------------------------------------------
# Flat parameter vectors
# ---------------------------------------------------------------------------------------


def flat_params(params: Sequence[Tensor]) -> Tensor:
    """All parameters as one vector theta, (P,)."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def set_flat_params(params: Sequence[Tensor], theta: Tensor) -> None:
    """Write the vector theta (P,) back into the parameters, in the order of ``flat_params``."""
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(theta[offset : offset + n].view_as(p))
            offset += n


def flat_grad(y: Tensor, params: Sequence[Tensor], create_graph: bool = False, retain_graph: bool = False) -> Tensor:
    """dy/dtheta of a scalar y as one vector, (P,); zeros for parameters y does not depend on.
    ``create_graph`` makes the result differentiable again (for Hessian-vector products)."""
    grads = torch.autograd.grad(
        y, list(params), create_graph=create_graph, retain_graph=retain_graph or create_graph, allow_unused=True
    )
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params, strict=True)]
    )


# ---------------------------------------------------------------------------------------
# The equations: pure functions
# ---------------------------------------------------------------------------------------


def surrogate_objective(logp: Tensor, logp_old: Tensor, adv: Tensor) -> Tensor:
    """L(theta) = mean(pi_theta(a|s) / pi_theta_old(a|s) A): Schulman et al. 2015, eq. 14, with the
    advantage in place of Q (the same gradient; a lower variance). logp, logp_old, adv: (B,)."""
    return ((logp - logp_old.detach()).exp() * adv.detach()).mean()


def categorical_kl(log_pi_old: Tensor, log_pi: Tensor) -> Tensor:
    """KL(pi_old || pi) = sum_a pi_old(a) (ln pi_old(a) - ln pi(a)) per state. (B, A) -> (B,)."""
    return (log_pi_old.exp() * (log_pi_old - log_pi)).sum(-1)


def gaussian_kl(mean_old: Tensor, log_std_old: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """KL(N(mu_old, sigma_old^2) || N(mu, sigma^2)) of diagonal Gaussians, summed over dimensions:
    ln(sigma / sigma_old) + (sigma_old^2 + (mu_old - mu)^2) / (2 sigma^2) - 1/2. means (B, D),
    log-stds (D,) or (B, D). Returns (B,)."""
    var, var_old = (2.0 * log_std).exp(), (2.0 * log_std_old).exp()
    return (log_std - log_std_old + (var_old + (mean_old - mean).pow(2)) / (2.0 * var) - 0.5).sum(-1)


def mean_kl(agent: Agent, x: Tensor, out_old: Tensor, log_std_old: Tensor | None) -> Tensor:
    """KL_bar(theta_old, theta): the mean over the batch of KL(pi_old(. | s) || pi_theta(. | s)),
    exact for the policy's distribution (Schulman et al. 2015, eq. 12). ``out_old`` is the old
    actor's output for x (logits (B, A) or Gaussian means (B, D)), a constant."""
    out = agent.actor(x)
    if agent.discrete:
        return categorical_kl(torch.log_softmax(out_old, -1), torch.log_softmax(out, -1)).mean()
    assert agent.log_std is not None and log_std_old is not None
    return gaussian_kl(out_old, log_std_old, out, agent.log_std).mean()


def conjugate_gradient(Avp: Callable[[Tensor], Tensor], b: Tensor, iters: int = 10, tol: float = 1e-10) -> Tensor:
    """x with A x = b for a symmetric positive-definite A known only through products A v
    (Hestenes & Stiefel 1952; Schulman et al. 2015, appendix C; Nocedal & Wright, Algorithm 5.2).
    Starts from x = 0; stops after ``iters`` steps or once the squared residual r^T r < tol. b: (P,)."""
    x = torch.zeros_like(b)
    # lesson:start conjugate-gradient
    r = b.clone()  # residual b - A x, with x = 0
    p = b.clone()  # search direction, A-conjugate to the previous ones
    rr = r.dot(r)
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / p.dot(Ap)  # exact minimiser along p of x^T A x / 2 - b^T x
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p  # beta = r_new^T r_new / r^T r keeps p A-conjugate
        rr = rr_new
    # lesson:end conjugate-gradient
    return x


def fisher_vector_product(grad_kl: Tensor, params: Sequence[Tensor], v: Tensor, damping: float) -> Tensor:
    """(F + damping I) v, where F is the Hessian of the mean KL at theta_old (Schulman et al. 2015,
    appendix C.1: "we compute the Hessian-vector product ... analytically", never forming F).

    ``grad_kl`` is d KL_bar / d theta, (P,), built with ``create_graph=True`` so that it can be
    differentiated again: d(grad_kl^T v) / d theta = H v (Pearlmutter 1994). At theta = theta_old
    the KL's Hessian equals the Fisher information matrix. v: (P,) -> (P,).
    """
    # lesson:start fisher-vector-product
    Hv = flat_grad(grad_kl.dot(v.detach()), params, retain_graph=True)  # second backward; CG calls it again
    return Hv + damping * v
    # lesson:end fisher-vector-product


def natural_step(g: Tensor, Fvp: Callable[[Tensor], Tensor], max_kl: float, cg_iters: int) -> tuple[Tensor, float]:
    """The full step beta s of Schulman et al. 2015, appendix C, and the linear model's predicted
    improvement g^T (beta s).

        s = F^-1 g                  (conjugate gradient)
        beta = sqrt(2 delta / (s^T F s))   so that the quadratic KL model 1/2 (beta s)^T F (beta s) = delta

    g: the surrogate's gradient, (P,). Returns ((P,), float); a zero step when s^T F s is not positive.
    """
    # lesson:start natural-step
    s = conjugate_gradient(Fvp, g, cg_iters)  # natural-gradient direction F^-1 g
    sFs = s.dot(Fvp(s))
    if not torch.isfinite(sFs) or sFs <= 0:
        return torch.zeros_like(g), 0.0
    beta = torch.sqrt(2.0 * max_kl / sFs)  # the largest step inside the quadratic trust region
    full_step = beta * s
    # lesson:end natural-step
    return full_step, float(g.dot(full_step))


def line_search(
    surrogate_and_kl: Callable[[Tensor], tuple[float, float]],
    theta_old: Tensor,
    full_step: Tensor,
    expected_improve: float,
    surrogate_old: float,
    max_kl: float,
    backtrack_coef: float = 0.5,
    max_backtracks: int = 10,
    accept_ratio: float = 0.1,
) -> tuple[Tensor, int]:
    """Backtracking line search on the full step (Schulman et al. 2015, appendix C: "we use a
    line search ... to ensure improvement of the surrogate objective and satisfaction of the KL
    divergence constraint").

    Tries theta_old + c^k full_step for k = 0, 1, ...; ``surrogate_and_kl(theta)`` returns the
    real L(theta) and KL_bar(theta_old, theta). A step is accepted when the KL is within max_kl
    and L improved by more than 0 and by at least ``accept_ratio`` of the linear prediction
    c^k expected_improve. Returns (theta, k), or (theta_old, -1) when no fraction passes.
    """
    # lesson:start line-search
    fraction = 1.0
    for k in range(max_backtracks):
        theta = theta_old + fraction * full_step
        surrogate, kl = surrogate_and_kl(theta)
        improve = surrogate - surrogate_old
        expected = fraction * expected_improve
        if math.isfinite(surrogate) and kl <= max_kl and improve > 0 and improve >= accept_ratio * expected:
            return theta, k
        fraction *= backtrack_coef
    return theta_old, -1  # nothing passed: keep the old policy
    # lesson:end line-search


def policy_params(agent: Agent) -> list[Tensor]:
    """theta: the actor's weights (and the Gaussian's log-std); the critic has its own optimiser."""
    params = list(agent.actor.parameters())
    return params if agent.log_std is None else [*params, agent.log_std]


def trpo_policy_step(
    agent: Agent, theta_params: list[Tensor], b_obs: Tensor, b_actions: Tensor, adv: Tensor, config: TRPOConfig
) -> tuple[float, float, float, float, int]:
    """One TRPO policy update on a batch (Schulman et al. 2015, section 6 and appendix C): the
    surrogate's gradient g, the natural step through Fisher-vector products, the line search.
    b_obs (B, obs_dim), b_actions (B,) or (B, D), adv (B,). Updates the actor in place; returns
    (L(theta_old), mean entropy, KL_bar of the accepted step, predicted improvement, backtracks or -1)."""
    with torch.no_grad():  # pi_theta_old, constants of this iteration
        out_old = agent.actor(b_obs)  # logits (B, A) or means (B, D)
        log_std_old = None if agent.log_std is None else agent.log_std.detach().clone()
        logp_old = agent.log_prob_entropy(b_obs, b_actions, with_entropy=False)[0]  # (B,)

    logp, entropy = agent.log_prob_entropy(b_obs, b_actions)
    assert entropy is not None
    surrogate = surrogate_objective(logp, logp_old, adv)  # L(theta_old)
    g = flat_grad(surrogate, theta_params)  # (P,)
    grad_kl = flat_grad(mean_kl(agent, b_obs, out_old, log_std_old), theta_params, create_graph=True)

    def Fvp(v: Tensor) -> Tensor:
        return fisher_vector_product(grad_kl, theta_params, v, config.cg_damping)

    full_step, expected_improve = natural_step(g, Fvp, config.max_kl, config.cg_iters)
    theta_old = flat_params(theta_params)

    def surrogate_and_kl(theta: Tensor) -> tuple[float, float]:
        set_flat_params(theta_params, theta)
        with torch.no_grad():
            logp_new = agent.log_prob_entropy(b_obs, b_actions, with_entropy=False)[0]
            L = surrogate_objective(logp_new, logp_old, adv)
            kl = mean_kl(agent, b_obs, out_old, log_std_old)
        return L.item(), kl.item()

    theta, backtracks = line_search(
        surrogate_and_kl,
        theta_old,
        full_step,
        expected_improve,
        surrogate.item(),
        config.max_kl,
        config.backtrack_coef,
        config.max_backtracks,
        config.accept_ratio,
    )
    set_flat_params(theta_params, theta)
    with torch.no_grad():
        kl_after = mean_kl(agent, b_obs, out_old, log_std_old).item()

    return surrogate.item(), entropy.mean().item(), kl_after, expected_improve, backtracks


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------


def train(config: TRPOConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None) -> TrainResult:
    """TRPO with GAE: per iteration N x T steps, one natural-gradient step with a line search on
    the policy, then ``vf_epochs`` epochs of Adam on the value function. Reports every iteration
    through ``on_update``; polls ``should_stop`` between iterations."""
    if min(config.total_timesteps, config.num_envs, config.num_steps, config.cg_iters, config.max_backtracks) < 1:
        raise ValueError("total_timesteps, num_envs, num_steps, cg_iters and max_backtracks must be at least 1")
    if config.max_kl <= 0 or config.vf_minibatches < 1:
        raise ValueError("max_kl must be positive and vf_minibatches at least 1")
    configure_cpu_threads()
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)

    N, T = config.num_envs, config.num_steps
    envs = make_vector_env(config.env_id, N)
    agent = make_agent(config, envs, device)
    theta_params = policy_params(agent)
    critic_params = list(agent.critic.parameters())
    vf_optimizer = torch.optim.Adam(critic_params, lr=config.vf_lr, eps=1e-5)
    num_iterations = max(1, config.total_timesteps // (N * T))
    obs, _ = envs.reset(seed=config.seed)
    state = RolloutState(
        obs=obs,
        prev_terminated=np.zeros(N, dtype=bool),
        prev_truncated=np.zeros(N, dtype=bool),
        log=EpisodeLog(N),
        threshold=gym.spec(config.env_id).reward_threshold,
    )
    metrics: Metrics = {}
    iteration = 0
    stopped_early = interrupted = False
    state.started = time.perf_counter()

    for iteration in range(1, num_iterations + 1):
        iteration_started = time.perf_counter()
        rollout = collect_rollout(envs, agent, state, T, generator)

        with torch.no_grad():
            values = agent.value(rollout.obs.flatten(0, 1)).view(T, N)  # V(s_t), (T, N)
            next_value = agent.value(rollout.next_obs)  # (N,)
        advantages = compute_gae(
            rollout.rewards, values, next_value, rollout.terminated, rollout.truncated, config.gamma, config.gae_lambda
        )  # (T, N)
        returns = advantages + values  # value targets, (T, N)
        b_obs, b_actions, b_values, b_adv, b_returns = flatten_valid(rollout, values, advantages, returns)
        B = b_obs.shape[0]

        losses: Metrics = {}
        if B > 1:
            adv = normalize_advantages(b_adv) if config.norm_adv else b_adv
            surrogate_old, entropy_mean, kl_after, expected_improve, backtracks = trpo_policy_step(
                agent, theta_params, b_obs, b_actions, adv, config
            )

            # The critic: plain regression on the GAE returns, after the policy step.
            v_losses = []
            for _epoch in range(config.vf_epochs):
                order = torch.randperm(B, generator=generator, device=device)
                for mb in order.tensor_split(min(config.vf_minibatches, B)):
                    v_loss = clipped_value_loss(agent.value(b_obs[mb]), b_values[mb], b_returns[mb], None)
                    vf_optimizer.zero_grad()
                    v_loss.backward()
                    vf_optimizer.step()
                    v_losses.append(v_loss.detach())

            losses = {
                "losses/policy": -surrogate_old,  # minus L(theta_old): the value being maximised, negated
                "losses/value": torch.stack(v_losses).mean().item() if v_losses else 0.0,
                "losses/entropy": entropy_mean,
                "losses/approx_kl": kl_after,  # the exact mean KL of the accepted step
                "losses/expected_improve": expected_improve,
            }
            for name, number in losses.items():
                check_finite(name, number, state.global_step)
            losses["charts/line_search_backtracks"] = float(backtracks)
            losses["charts/step_accepted"] = float(backtracks >= 0)
            ev = explained_variance(b_values, b_returns)
            if math.isfinite(ev):
                losses["losses/explained_variance"] = ev

        now = time.perf_counter()
        elapsed = now - started
        metrics = {
            "global_step": float(state.global_step),
            "progress": budget_progress(iteration, num_iterations, elapsed, config.max_seconds),
            "charts/iteration": float(iteration),
            "charts/steps_per_second": T * N / max(now - iteration_started, 1e-9),
            **losses,
            **episode_metrics(state.log),
        }
        if on_update is not None:
            on_update(metrics)
        if ended := ended_by(config.max_seconds, elapsed, should_stop):
            stopped_early, interrupted = iteration < num_iterations, ended == "stop"
            break

    envs.close()
    return finish_run(agent, config, state, metrics, started, iteration, stopped_early, interrupted)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(argv, sys.modules[__name__], TRPOConfig, train, on_policy_line, "TRPO")


if __name__ == "__main__":
    sys.exit(main())
