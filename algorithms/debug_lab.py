"""The debugging lab: a compact PPO on CartPole-v1 in which each classic bug is a switch.

An agent that does not learn rarely crashes. It runs, the loss goes down, and the return stays
where a random policy left it. This file is a small, readable PPO-clip (Schulman et al. 2017,
eq. 7, with GAE from Schulman et al. 2016, eq. 16) whose ``DebugLabConfig`` has one ``bug_*``
flag per mistake that people really make. Each flag switches on an explicit branch, marked in
the code as a lesson region, with the correct line beside the wrong one:

- ``bug_no_termination_mask``: the TD error and GAE ignore episode ends, so the value of the
  state after a fall is bootstrapped as if the episode went on, and advantages leak backwards
  from the next episode (region ``bug-termination-mask``);
- ``bug_truncation_as_termination``: the old Gym API's single ``done`` flag, so a time limit is
  treated like a fall and the last state of a good episode is valued at 0 (``bug-old-gym-api``);
- ``bug_log_prob_ratio``: the PPO ratio as ``logp / logp_old`` instead of
  ``exp(logp - logp_old)`` (``bug-ratio``). (Dividing probabilities, ``p / p_old``, is the same
  number as the correct ratio; it only underflows when probabilities are tiny.);
- ``bug_wrong_sign``: the loss is +L^CLIP instead of -L^CLIP, so the optimiser *minimises* the
  objective (``bug-sign``);
- ``bug_no_adv_norm``: the advantages go into the loss at their raw scale (``bug-adv-norm``);
- ``bug_lr_too_high``: a learning rate 30 times too large (``bug-learning-rate``).

Every update reports the diagnostics that tell these apart: the return, the policy's entropy,
the approximate KL between the old and the new policy and the clip fraction (measured the right
way, whatever the loss did), the critic's explained variance, value loss and mean value, the
advantages' mean and standard deviation, the gradient norm before clipping, and the ratio as the
loss computed it.

The rollout is PPO's (``algorithms/rollout.py``), on N copies stepped one after the other with
SAME_STEP autoreset: a copy whose episode ends is reset inside that step, so every row is a real
transition, and the rollout keeps the real s_{t+1} of every step (the final observation included)
while the reset observation becomes the next step's s_t. The old-Gym-API bug is an argument of
``rollout.collect_rollout``, the termination-mask bug one of ``returns.batched_gae``.

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.debug_lab --json
    python -m algorithms.debug_lab --bug-wrong-sign --json
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
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
    save_run,
)
from algorithms.losses import approx_kl, clip_fraction
from algorithms.ppo import (
    Agent,
    deterministic_policy,
    explained_variance,
    normalize_advantages,
    record_episode,
)
from algorithms.returns import batched_gae
from algorithms.rollout import EpisodeLog, Rollout, RolloutState, collect_rollout, episode_metrics

__all__ = [
    "BUGS",
    "DebugLabConfig",
    "NonFiniteLossError",
    "active_bugs",
    "gae_advantages",
    "policy_loss",
    "train",
]

LR_TOO_HIGH_FACTOR = 30.0  # bug_lr_too_high multiplies the learning rate by this


@dataclass(frozen=True)
class DebugLabConfig(StepsConfig):
    env_id: str = "CartPole-v1"
    """Gymnasium id of an environment with a vector observation and discrete actions."""
    total_timesteps: int = 30_000
    """Environment steps in all, summed over the N copies."""
    num_envs: int = 8
    """N, the copies of the environment stepped one after the other in each rollout step."""
    num_steps: int = 64
    """T, the steps each copy runs per iteration; a batch holds N x T steps."""
    gamma: float = 0.99
    """Discount factor gamma."""
    gae_lambda: float = 0.9
    """lambda of GAE (Schulman et al. 2016)."""
    update_epochs: int = 6
    """K, the passes over each batch."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    clip_eps: float = 0.2
    """epsilon in clip(r_t, 1 - epsilon, 1 + epsilon)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    lr: float = 0.003
    """Adam step size, annealed linearly to 0 over the budget."""
    max_grad_norm: float = 1.0
    """Rescale the gradient when its global L2 norm exceeds this."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden tanh layers of the actor and of the critic (two separate networks)."""
    max_episode_steps: int | None = 200
    """Time limit per episode (truncation). 200 instead of CartPole-v1's 500, so that the time limit is
    reached within a small budget and the truncation bug has something to act on."""
    bug_no_termination_mask: bool = False
    """BUG: bootstrap through real episode ends and let GAE run across them."""
    bug_truncation_as_termination: bool = False
    """BUG: the old Gym API's single done flag: a time limit is treated as a real end (no bootstrap)."""
    bug_log_prob_ratio: bool = False
    """BUG: the PPO ratio computed as logp / logp_old instead of exp(logp - logp_old)."""
    bug_wrong_sign: bool = False
    """BUG: minimise the clipped objective instead of maximising it (a missing minus sign)."""
    bug_no_adv_norm: bool = False
    """BUG: leave out the per-minibatch advantage normalisation."""
    bug_lr_too_high: bool = False
    """BUG: a learning rate 30 times too high."""
    eval_episodes: int = 10
    """Deterministic (argmax) episodes played after training to score the policy (0: none)."""
    device: str = "cpu"
    """auto, cpu or cuda. These small networks are fastest on a CPU."""


# The switches, in the order the lesson shows them: field name -> what it breaks.
BUGS: dict[str, str] = {
    "bug_no_termination_mask": "No termination mask: bootstraps through the end of an episode",
    "bug_truncation_as_termination": "Old Gym API: a time limit treated as a real end",
    "bug_log_prob_ratio": "Ratio of log-probabilities: logp / logp_old",
    "bug_wrong_sign": "Wrong sign on the policy loss",
    "bug_no_adv_norm": "No advantage normalisation",
    "bug_lr_too_high": f"Learning rate {LR_TOO_HIGH_FACTOR:g} times too high",
}


def active_bugs(config: DebugLabConfig) -> list[str]:
    """The names of the bug switches that are on."""
    return [f.name for f in fields(config) if f.name.startswith("bug_") and getattr(config, f.name)]


# ---------------------------------------------------------------------------------------
# The equations, each with its bug
# ---------------------------------------------------------------------------------------


def gae_advantages(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
    lam: float,
    mask_terminations: bool = True,
) -> Tensor:
    """GAE advantages A_t of N rollouts of T steps (Schulman et al. 2016, eq. 16).

    rewards, values, terminated, truncated: (T, N); next_values: (T, N), V of the real s_{t+1} of
    each step (the final observation when step t ended an episode).

        delta_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma lam (1 - done_t) A_{t+1},     done_t = terminated_t or truncated_t

    With ``mask_terminations=False`` (the bug) neither mask is applied: ``returns.batched_gae`` takes
    the bug as an argument. Returns (T, N).
    """
    return batched_gae(rewards, values, next_values, terminated, truncated, gamma, lam, mask_terminations)


def policy_loss(
    logp: Tensor,
    logp_old: Tensor,
    adv: Tensor,
    clip_eps: float,
    log_prob_ratio: bool = False,
    wrong_sign: bool = False,
) -> tuple[Tensor, Tensor]:
    """Minus L^CLIP (Schulman et al. 2017, eq. 7), and the ratio it used. logp, logp_old, adv: (B,).

    ``log_prob_ratio`` and ``wrong_sign`` switch on the two bugs of this function.
    """
    logp_old, adv = logp_old.detach(), adv.detach()  # theta_old and A_t are constants of the surrogate
    # lesson:start bug-ratio
    if log_prob_ratio:  # noqa: SIM108 (a branch per bug, so the lesson can show both lines)
        # BUG: equals 1 at theta_old, but its gradient is grad(logp) / logp_old, and logp_old < 0
        ratio = logp / logp_old
    else:
        ratio = (logp - logp_old).exp()  # r_t = pi_theta(a|s) / pi_theta_old(a|s)
    # lesson:end bug-ratio
    objective = torch.min(ratio * adv, ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * adv).mean()
    # lesson:start bug-sign
    if wrong_sign:  # noqa: SIM108
        # BUG: gradient descent on the objective makes good actions rarer
        loss = objective
    else:
        loss = -objective  # optimisers minimise, so minimise minus the objective
    # lesson:end bug-sign
    return loss, ratio.detach()


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager, the demo and the command line
# ---------------------------------------------------------------------------------------


def make_envs(config: DebugLabConfig) -> gym.vector.SyncVectorEnv:
    """N copies with the lab's time limit, stepped one after the other; SAME_STEP autoreset resets a copy
    inside the step that ends its episode (its final observation goes to ``info``)."""

    def make() -> gym.Env:
        return core.make_env(config.env_id, config.max_episode_steps, actions="discrete", needed_by="the debugging lab")

    return gym.vector.SyncVectorEnv([make] * config.num_envs, autoreset_mode=AutoresetMode.SAME_STEP)


def _check(config: DebugLabConfig) -> None:
    """Refuse settings no run can use, with the field named."""
    if min(config.total_timesteps, config.num_envs, config.num_steps, config.update_epochs) < 1:
        raise ValueError("total_timesteps, num_envs, num_steps and update_epochs must be at least 1")
    if not 1 <= config.num_minibatches <= config.num_envs * config.num_steps:
        raise ValueError("num_minibatches must lie between 1 and num_envs * num_steps")


Batch = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def _score_batch(agent: Agent, rollout: Rollout, config: DebugLabConfig) -> Batch:
    """The rollout, flattened to T N samples and scored by theta_old: (observations, actions, log pi_old(a|s),
    V(s_t), GAE advantages A_t, value targets R_t = A_t + V(s_t)); bug_no_termination_mask reaches GAE here."""
    T, N = rollout.rewards.shape
    assert rollout.step_next_obs is not None, "the lab's environments reset in the same step (SAME_STEP)"
    with torch.no_grad():  # theta_old's log-probabilities and values of the whole batch
        flat_obs = rollout.obs.flatten(0, 1)  # (T N, obs_dim)
        flat_actions = rollout.actions.flatten(0, 1)  # (T N,)
        b_logp = agent.log_prob_entropy(flat_obs, flat_actions, with_entropy=False)[0]  # (T N,)
        b_values = agent.value(flat_obs)  # V(s_t), (T N,)
        next_values = agent.value(rollout.step_next_obs.flatten(0, 1)).view(T, N)  # V(s_{t+1}), (T, N)
        advantages = gae_advantages(
            rollout.rewards,
            b_values.view(T, N),
            next_values,
            rollout.terminated,
            rollout.truncated,
            config.gamma,
            config.gae_lambda,
            mask_terminations=not config.bug_no_termination_mask,
        )
        b_adv = advantages.flatten()  # (T N,)
        b_returns = b_adv + b_values  # value targets R_t = A_t + V(s_t)
    return flat_obs, flat_actions, b_logp, b_values, b_adv, b_returns


def ppo_update(
    agent: Agent, optimizer: torch.optim.Optimizer, batch: Batch, config: DebugLabConfig, generator: torch.Generator
) -> dict[str, float]:
    """update_epochs passes of clipped-surrogate minibatch steps over the batch (with the loss bugs the config
    switches on). Returns the means over the steps of the losses, the gradient norm, the advantages' std in
    the loss and the ratio, and the largest ratio seen."""
    flat_obs, flat_actions, b_logp, _, b_adv, b_returns = batch
    params = list(agent.parameters())
    B = len(flat_obs)
    device = flat_obs.device
    sums = {
        "policy": 0.0,
        "value": 0.0,
        "grad_norm": 0.0,
        "adv_std_in_loss": 0.0,
        "ratio_mean": 0.0,
        "ratio_max": 0.0,
    }
    steps = 0
    for _epoch in range(config.update_epochs):
        order = torch.randperm(B, generator=generator, device=device)
        for mb in order.tensor_split(config.num_minibatches):
            logp, _ = agent.log_prob_entropy(flat_obs[mb], flat_actions[mb], with_entropy=False)
            # lesson:start bug-adv-norm
            if config.bug_no_adv_norm:  # noqa: SIM108
                # BUG: the advantages keep their scale and their mean (a biased critic shifts them all)
                adv = b_adv[mb]
            else:
                adv = normalize_advantages(b_adv[mb])  # mean 0, std 1 in every minibatch
            # lesson:end bug-adv-norm
            pg_loss, ratio = policy_loss(
                logp, b_logp[mb], adv, config.clip_eps, config.bug_log_prob_ratio, config.bug_wrong_sign
            )
            v_loss = 0.5 * (agent.value(flat_obs[mb]) - b_returns[mb]).pow(2).mean()
            loss = pg_loss + config.vf_coef * v_loss
            optimizer.zero_grad()
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(params, config.max_grad_norm)  # the norm before clipping
            optimizer.step()
            sums["policy"] += pg_loss.item()
            sums["value"] += v_loss.item()
            sums["grad_norm"] += float(grad_norm)
            sums["adv_std_in_loss"] += adv.std().item()
            sums["ratio_mean"] += ratio.mean().item()
            sums["ratio_max"] = max(sums["ratio_max"], ratio.max().item())
            steps += 1

    return {k: (v if k == "ratio_max" else v / max(steps, 1)) for k, v in sums.items()}


def _keep_finite(diagnostics: Metrics, ev: float, global_step: int) -> None:
    """Stop the run on a NaN loss (with its name); drop other numbers that are not finite (e.g. the standard
    deviation of one sample); add the explained variance when it is finite."""
    for name, number in list(diagnostics.items()):
        if name.startswith("losses/"):
            check_finite(name, number, global_step)  # a NaN loss stops the run, with this message
        elif not math.isfinite(number):
            del diagnostics[name]  # e.g. a standard deviation of a single sample
    if math.isfinite(ev):
        diagnostics["losses/explained_variance"] = ev


def train(
    config: DebugLabConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None
) -> TrainResult:
    """PPO-clip with the bugs that ``config`` switches on. Reports once per iteration (N x T steps)."""
    _check(config)
    configure_cpu_threads()
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)

    N, T = config.num_envs, config.num_steps
    envs = make_envs(config)
    obs_dim, n_actions = int(np.prod(envs.single_observation_space.shape)), int(envs.single_action_space.n)
    spec = envs.envs[0].spec
    threshold = spec.reward_threshold if spec is not None and config.max_episode_steps is None else None
    agent = Agent(obs_dim, n_actions, True, config.hidden_sizes).to(device)
    params = list(agent.parameters())
    # lesson:start bug-learning-rate
    if config.bug_lr_too_high:  # noqa: SIM108
        # BUG: each update moves the policy far from the one that collected the data
        lr = LR_TOO_HIGH_FACTOR * config.lr
    else:
        lr = config.lr
    # lesson:end bug-learning-rate
    optimizer = torch.optim.Adam(params, lr=lr, eps=1e-5, fused=device.type in ("cpu", "cuda"))
    num_iterations = max(1, config.total_timesteps // (N * T))

    obs, _ = envs.reset(seed=config.seed)  # copy i from seed + i
    log = EpisodeLog(N)
    state = RolloutState(obs, np.zeros(N, dtype=bool), np.zeros(N, dtype=bool), log, threshold)
    iteration = 0
    metrics: Metrics = {}
    stopped_early = interrupted = False

    for iteration in range(1, num_iterations + 1):
        iteration_started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr * (1.0 - (iteration - 1.0) / num_iterations)  # linear annealing

        rollout = collect_rollout(
            envs, agent, state, T, generator, truncation_as_termination=config.bug_truncation_as_termination
        )  # T steps of each of the N copies with the current policy
        global_step = state.global_step
        batch = _score_batch(agent, rollout, config)
        flat_obs, flat_actions, b_logp, b_values, b_adv, b_returns = batch
        means = ppo_update(agent, optimizer, batch, config, generator)
        # lesson:start diagnostics
        with torch.no_grad():  # how far the whole update moved the policy, measured the right way
            logp_new, entropy_new = agent.log_prob_entropy(flat_obs, flat_actions)
            assert entropy_new is not None
        diagnostics: Metrics = {
            "losses/policy": means["policy"],
            "losses/value": means["value"],  # 0.5 (V - R)^2: grows with the scale of the returns
            "losses/entropy": entropy_new.mean().item(),  # ln 2 = 0.69 for two equally likely actions
            "losses/approx_kl": approx_kl(logp_new, b_logp).item(),  # KL(pi_old || pi_new); ~0.01 is calm
            "losses/clip_fraction": clip_fraction(logp_new, b_logp, config.clip_eps).item(),  # ratio outside 1 +- eps
            "diagnostics/grad_norm": means["grad_norm"],  # before clipping
            "diagnostics/advantage_mean": b_adv.mean().item(),  # as GAE computed them
            "diagnostics/advantage_std": b_adv.std().item(),
            "diagnostics/advantage_std_in_loss": means["adv_std_in_loss"],  # 1 when normalised
            "diagnostics/value_mean": b_values.mean().item(),  # can never exceed 1 / (1 - gamma) here
            "diagnostics/ratio_mean": means["ratio_mean"],  # the ratio as the loss computed it
            "diagnostics/ratio_max": means["ratio_max"],
        }
        ev = explained_variance(b_values, b_returns)  # 1 - Var(R - V) / Var(R): 1 is a perfect critic
        # lesson:end diagnostics
        _keep_finite(diagnostics, ev, global_step)

        now = time.perf_counter()
        elapsed = now - started
        metrics = {
            "global_step": float(global_step),
            "progress": budget_progress(iteration, num_iterations, elapsed, config.max_seconds),
            "charts/iteration": float(iteration),
            "charts/learning_rate": optimizer.param_groups[0]["lr"],
            "charts/steps_per_second": T * N / max(now - iteration_started, 1e-9),
            **diagnostics,
            **episode_metrics(log),
        }
        if on_update is not None:
            on_update(metrics)
        if ended := ended_by(config.max_seconds, elapsed, should_stop):
            stopped_early, interrupted = iteration < num_iterations, ended == "stop"
            break

    envs.close()
    train_seconds = time.perf_counter() - started
    agent.eval()
    evaluation = _evaluate(agent, config) if config.eval_episodes > 0 and not interrupted else (None, None)
    record = lambda: record_episode(agent, config.env_id, seed=config.seed + 10_000)  # noqa: E731
    artifacts = save_run(config, {"checkpoint": ("agent.pt", agent.state_dict())}, record, interrupted)
    final = final_metrics(
        metrics, **state.counts(), updates=iteration, started=started, train_seconds=train_seconds,
        evaluation=evaluation, stopped_early=stopped_early,
    )  # fmt: skip
    return TrainResult(metrics=final, artifacts=artifacts)


def _evaluate(agent: Agent, config: DebugLabConfig) -> tuple[float, float]:
    """Deterministic episodes under the training time limit, from start states far from training's."""
    act = deterministic_policy(agent)  # argmax of the logits
    make = lambda: gym.make(config.env_id, max_episode_steps=config.max_episode_steps)  # noqa: E731
    return core.evaluate(act, make, config.eval_episodes, config.seed + 1_000_000)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(
        argv,
        sys.modules[__name__],
        DebugLabConfig,
        train,
        on_policy_line,
        lambda c: f"Debugging lab (PPO, bugs: {', '.join(active_bugs(c)) or 'none'})",
    )


if __name__ == "__main__":
    sys.exit(main())
