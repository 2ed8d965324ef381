"""REINFORCE: Monte Carlo policy gradient, with and without a learned state-value baseline.

Williams 1992, "Simple statistical gradient-following algorithms for connectionist reinforcement
learning" (Machine Learning 8, 229-256); Sutton & Barto 2018, section 13.3 (REINFORCE, eq. 13.8)
and section 13.4 (REINFORCE with baseline, eq. 13.11).

The policy-gradient theorem turns the gradient of J(theta) = v_pi(S_0) into an expectation
over the policy's own episodes (S&B eq. 13.8 and 13.11):

    grad J(theta) = E_pi[ sum_t (G_t - b(S_t)) grad ln pi(A_t | S_t, theta) ]

where G_t is the return from step t and b any function of the state alone (b = 0 is plain
REINFORCE). A learned b(s) = v_hat(s, w) leaves the estimate unbiased and lowers its variance.
We play ``batch_episodes`` whole episodes with the current policy, compute every G_t, and take
one Adam step on a loss whose gradient is minus that estimate.

Terminated and truncated differ. CartPole-v1 ends for real when the pole falls (terminated) and
is cut by a time limit at 500 steps (truncated). After a real end the future is worth 0. After a
time limit the episode would have gone on, so its return is completed with the baseline's
estimate of the state where it was cut: G_t = r_t + ... + gamma^(T-1-t) r_{T-1} + gamma^(T-t)
v_hat(S_T). Without a baseline there is nothing to bootstrap from, and we treat the time limit
as an end (the standard simplification of REINFORCE, which is biased near the limit).

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.reinforce --env-id CartPole-v1 --seed 1 --json
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
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
    RunConfig,
    ShouldStop,
    TrainResult,
    budget_progress,
    check_finite,
    command_line,
    configure_cpu_threads,
    ended_by,
    final_metrics,
    pick_device,
    save_run,
)
from algorithms.core import env_sizes, make_mlp
from algorithms.returns import discounted_returns

__all__ = [
    "Episode",
    "NonFiniteLossError",
    "ReinforceConfig",
    "bootstrap_value",
    "episode_returns",
    "evaluate",
    "load_policy",
    "make_mlp",
    "record_episode",
    "reinforce_loss",
    "reinforce_loss_from_rewards",
    "returns_with_bootstrap",
    "run_episodes",
    "train",
    "value_loss",
]


@dataclass(frozen=True)
class ReinforceConfig(RunConfig):
    env_id: str = "CartPole-v1"
    """Gymnasium id of an environment with discrete actions and a vector observation."""
    total_episodes: int = 1000
    """Training episodes in all (the budget); the run also stops at max_seconds if that is set."""
    batch_episodes: int = 8
    """Episodes played (in lockstep, one environment each) with one policy before each update."""
    gamma: float = 0.99
    """Discount factor gamma in G_t = R_{t+1} + gamma G_{t+1}."""
    lr: float = 0.003
    """Adam step size alpha^theta of the policy."""
    value_lr: float = 0.003
    """Adam step size alpha^w of the baseline v_hat(s, w) (only used with baseline)."""
    value_steps: int = 10
    """Adam steps on the value loss per batch: the baseline's fit to the returns of these episodes."""
    hidden_sizes: tuple[int, ...] = (32, 32)
    """Widths of the hidden tanh layers of the policy (and of the value network)."""
    baseline: bool = True
    """Subtract a learned state value v_hat(S_t, w) from G_t (S&B section 13.4)."""
    normalize_advantages: bool = False
    """Rescale the weights G_t - b(S_t) of each batch to mean 0 and std 1 (without a baseline the
    mean then acts as a constant baseline). Not in the paper; it steadies plain REINFORCE."""
    entropy_coef: float = 0.0
    """Weight of an entropy bonus on the policy (0: plain REINFORCE)."""
    max_episode_steps: int | None = None
    """Time limit per episode (truncation); None keeps the environment's own (500 for CartPole-v1)."""
    eval_episodes: int = 20
    """Greedy (argmax) episodes played after training to score the final policy (0: no evaluation)."""
    output_dir: str = ""
    """Folder for the final policy checkpoint (policy.pt); empty saves nothing."""


# ---------------------------------------------------------------------------------------
# The equations: pure functions
# ---------------------------------------------------------------------------------------


def reinforce_loss(
    log_probs: Tensor, returns: Tensor, baseline: Tensor | None = None, *, normalize: bool = False
) -> Tensor:
    """Minus the REINFORCE objective: -sum_t (G_t - b(S_t)) ln pi(A_t | S_t, theta).

    Its gradient is minus the Monte Carlo estimate of grad J(theta) from these steps (Williams
    1992, eq. 11; S&B eq. 13.8, and eq. 13.11 with a baseline). log_probs, returns, baseline: (T,).
    The baseline is detached: it must lower the variance of the policy gradient, not be trained
    by it (the value network has its own loss, ``value_loss``). ``normalize`` rescales the weights
    G_t - b(S_t) to mean 0 and std 1 over the batch, a common habit that is not in the paper.
    """
    # lesson:start baseline-advantage
    psi = returns if baseline is None else returns - baseline.detach()  # G_t - v_hat(S_t, w), (T,)
    # lesson:end baseline-advantage
    if normalize:
        psi = normalize_batch(psi)
    # lesson:start policy-gradient-loss
    return -(log_probs * psi).sum()
    # lesson:end policy-gradient-loss


def reinforce_loss_from_rewards(log_probs: torch.Tensor, rewards: np.ndarray, gamma: float) -> torch.Tensor:
    """-sum_t G_t ln pi(A_t | S_t) for one finished episode, no baseline (S&B section 13.3).

    log_probs: (T,) ln pi(A_t | S_t, theta) of the actions taken; rewards: (T,) R_{t+1}.
    """
    G = torch.as_tensor(discounted_returns(rewards, gamma), dtype=log_probs.dtype, device=log_probs.device)  # (T,)
    return reinforce_loss(log_probs, G)


def value_loss(values: Tensor, returns: Tensor) -> Tensor:
    """Mean of (G_t - v_hat(S_t, w))^2 / 2: its gradient is the baseline update of S&B section 13.4,
    w <- w + alpha^w (G_t - v_hat(S_t, w)) grad v_hat(S_t, w), averaged over steps. Shapes (T,)."""
    return 0.5 * (returns - values).pow(2).mean()


def normalize_batch(x: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / std over a batch. Without a baseline the subtracted mean acts as a constant one;
    the division keeps the step size steady while returns grow from 10 to 500."""
    if x.numel() < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std() + eps)


def bootstrap_value(terminated: bool, truncated: bool, v_final: float | None) -> float:
    """The value of the state S_T an episode stopped in, as its return should count it.

    terminated: a real end, nothing follows: 0. truncated by a time limit: the episode would have
    gone on, so v_hat(S_T) when a baseline gives one. Truncated without a baseline (v_final None):
    0, the standard simplification of REINFORCE, which treats the time limit as an end.
    """
    # lesson:start truncation-bootstrap
    if terminated or not truncated or v_final is None:
        return 0.0
    return float(v_final)
    # lesson:end truncation-bootstrap


def returns_with_bootstrap(rewards: np.ndarray, gamma: float, bootstrap: float = 0.0) -> np.ndarray:
    """G_t = sum_{k=t}^{T-1} gamma^(k-t) R_{k+1} + gamma^(T-t) * bootstrap, for t = 0 .. T-1.

    ``bootstrap`` is the value of the state after the last step (``bootstrap_value``). Folding
    gamma * bootstrap into the last reward lets ``discounted_returns`` do the rest: the recursion
    G_t = R_{t+1} + gamma G_{t+1} carries it back to every step. rewards: (T,) -> (T,).
    """
    rewards = np.asarray(rewards, dtype=np.float64).copy()
    if len(rewards) and bootstrap:
        rewards[-1] += gamma * bootstrap
    return discounted_returns(rewards, gamma)


def episode_returns(episodes: Sequence[Episode], gamma: float, v_final: Sequence[float] | None = None) -> np.ndarray:
    """G_t for every step of every episode, concatenated: (sum of lengths,).

    v_final[i] = v_hat(S_T) of episode i, or None without a baseline; ``bootstrap_value`` decides
    whether it counts (only after a time limit).
    """
    finals: Sequence[float | None] = [None] * len(episodes) if v_final is None else v_final
    return np.concatenate(
        [
            returns_with_bootstrap(e.rewards, gamma, bootstrap_value(e.terminated, e.truncated, v))
            for e, v in zip(episodes, finals, strict=True)
        ]
    )


# ---------------------------------------------------------------------------------------
# Networks and episodes
# ---------------------------------------------------------------------------------------


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env:
    return core.make_env(env_id, max_episode_steps, actions="discrete", needed_by="REINFORCE here", **kwargs)


@dataclass
class Episode:
    """One finished episode: S_0..S_{T-1}, A_0..A_{T-1}, R_1..R_T, how it ended, and S_T."""

    observations: np.ndarray  # (T, obs_dim), float32
    actions: np.ndarray  # (T,), int64
    rewards: np.ndarray  # (T,), float64
    terminated: bool
    truncated: bool
    final_observation: np.ndarray  # (obs_dim,), S_T: where a truncated episode is bootstrapped from

    @property
    def length(self) -> int:
        return len(self.rewards)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())


def select_actions(
    policy: nn.Module, obs: np.ndarray, greedy: bool = False, generator: torch.Generator | None = None
) -> np.ndarray:
    """A_t ~ pi(. | S_t, theta) for a batch of observations (N, obs_dim) -> (N,); argmax if greedy."""
    device = next(policy.parameters()).device
    with torch.inference_mode():
        logits = policy(torch.as_tensor(obs, dtype=torch.float32, device=device))  # (N, A)
        if greedy:
            return logits.argmax(-1).cpu().numpy()
        # lesson:start sample-action
        pi = torch.softmax(logits, dim=-1)  # pi(a | S_t, theta), (N, A)
        A = torch.multinomial(pi, num_samples=1, generator=generator).squeeze(-1)  # (N,)
        # lesson:end sample-action
    return A.cpu().numpy()


def run_episodes(
    policy: nn.Module,
    envs: Sequence[gym.Env],
    greedy: bool = False,
    generator: torch.Generator | None = None,
    seeds: Sequence[int] | None = None,
) -> list[Episode]:
    """Play one whole episode in each environment, all in lockstep with one policy.

    Stepping N environments together lets one forward pass choose N actions; an environment
    whose episode has ended waits for the others. ``seeds`` seeds each environment's reset.
    """
    N = len(envs)
    obs = [
        np.asarray(env.reset(seed=None if seeds is None else int(seeds[i]))[0], np.float32).ravel()
        for i, env in enumerate(envs)
    ]
    buffers: list[dict[str, list]] = [{"obs": [], "actions": [], "rewards": []} for _ in range(N)]
    done: list[Episode | None] = [None] * N
    active = list(range(N))
    # lesson:start episode-loop
    while active:
        A = select_actions(policy, np.stack([obs[i] for i in active]), greedy, generator)  # (len(active),)
        still_active = []
        for i, a in zip(active, A.tolist(), strict=True):
            next_obs, r, terminated, truncated, _ = envs[i].step(a)
            buffers[i]["obs"].append(obs[i])
            buffers[i]["actions"].append(a)
            buffers[i]["rewards"].append(float(r))
            obs[i] = np.asarray(next_obs, np.float32).ravel()
            if terminated or truncated:  # S_T reached: keep it, a time limit bootstraps from it
                done[i] = Episode(
                    observations=np.stack(buffers[i]["obs"]),
                    actions=np.asarray(buffers[i]["actions"], dtype=np.int64),
                    rewards=np.asarray(buffers[i]["rewards"], dtype=np.float64),
                    terminated=bool(terminated),
                    truncated=bool(truncated),
                    final_observation=obs[i],
                )
            else:
                still_active.append(i)
        active = still_active
    # lesson:end episode-loop
    return [episode for episode in done if episode is not None]


def greedy_policy(policy: nn.Module) -> core.Act:
    """argmax of the logits (or of the Q-values): the policy an evaluation plays."""
    return lambda obs: select_actions(policy, obs, greedy=True)


def evaluate(
    policy: nn.Module, env_id: str, episodes: int, seed: int, max_episode_steps: int | None = None
) -> tuple[float, float]:
    """Mean and standard deviation of the undiscounted return of the greedy (argmax) policy."""
    return core.evaluate(greedy_policy(policy), lambda: make_env(env_id, max_episode_steps), episodes, seed)


def record_episode(policy: nn.Module, env_id: str, seed: int, max_steps: int = 500) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of one greedy episode, the first before any action, for an animation."""
    return core.record_episode(greedy_policy(policy), lambda **kw: make_env(env_id, **kw), env_id, seed, max_steps)


def load_policy(path: str | Path, config: ReinforceConfig) -> nn.Sequential:
    """Rebuild the policy network of ``config`` and load a checkpoint that ``train`` saved."""
    env = make_env(config.env_id)
    obs_dim, n_actions = env_sizes(env)
    env.close()
    policy = make_mlp(obs_dim, config.hidden_sizes, n_actions)
    policy.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return policy


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------


def train(
    config: ReinforceConfig, on_update: OnUpdate | None = None, should_stop: ShouldStop | None = None
) -> TrainResult:
    """REINFORCE (with baseline when ``config.baseline``), S&B section 13.3 / 13.4 boxes, on batches
    of whole episodes. Reports every update through ``on_update``; polls ``should_stop`` between
    updates."""
    if min(config.total_episodes, config.batch_episodes, config.value_steps) < 1:
        raise ValueError("total_episodes, batch_episodes and value_steps must be at least 1")
    configure_cpu_threads()
    started = time.perf_counter()
    device = torch.device(pick_device(config.device))
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)  # the actions' own random stream

    envs = [make_env(config.env_id, config.max_episode_steps) for _ in range(config.batch_episodes)]
    obs_dim, n_actions = env_sizes(envs[0])
    threshold = envs[0].spec.reward_threshold if envs[0].spec is not None else None
    env_seeds = [int(s) for s in np.random.SeedSequence(config.seed).generate_state(config.batch_episodes)]

    policy = make_mlp(obs_dim, config.hidden_sizes, n_actions).to(device)
    policy_opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    value = make_mlp(obs_dim, config.hidden_sizes, 1).to(device) if config.baseline else None
    value_opt = torch.optim.Adam(value.parameters(), lr=config.value_lr) if value is not None else None

    recent: deque[float] = deque(maxlen=100)  # returns of the last 100 training episodes
    global_step = episodes_done = updates = 0
    to_threshold: dict[str, float] | None = None
    metrics: Metrics = {}
    stopped_early = interrupted = False

    def as_tensor(x: np.ndarray) -> Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=device)

    while episodes_done < config.total_episodes:
        n = min(config.batch_episodes, config.total_episodes - episodes_done)
        batch_started = time.perf_counter()
        episodes = run_episodes(policy, envs[:n], generator=generator, seeds=env_seeds if updates == 0 else None)

        obs = as_tensor(np.concatenate([e.observations for e in episodes]))  # (B, obs_dim), B = sum of lengths
        actions = torch.as_tensor(np.concatenate([e.actions for e in episodes]), device=device)  # (B,)
        v_final = None
        if value is not None:  # v_hat(S_T) of each episode's last state, for those cut by a time limit
            with torch.no_grad():
                v_final = value(as_tensor(np.stack([e.final_observation for e in episodes]))).squeeze(-1).tolist()
        G = as_tensor(episode_returns(episodes, config.gamma, v_final))  # (B,)

        logits = policy(obs)  # (B, A)
        log_pi = torch.log_softmax(logits, dim=-1)  # (B, A)
        log_probs = log_pi.gather(1, actions[:, None]).squeeze(1)  # ln pi(A_t | S_t, theta), (B,)
        entropy = -(log_pi.exp() * log_pi).sum(-1)  # H(pi(. | S_t, theta)), (B,)

        v = value(obs).squeeze(-1) if value is not None else None  # v_hat(S_t, w), (B,)
        # Averaged over the n episodes, the sum over their steps estimates grad J (S&B eq. 13.8).
        # S&B's box also weights step t by gamma^t; like most implementations we drop it, else the
        # late steps of a 500-step episode (gamma^400 ~ 0.02) would hardly be learned from.
        loss_pi = reinforce_loss(log_probs, G, v, normalize=config.normalize_advantages) / n
        loss = loss_pi - config.entropy_coef * entropy.sum() / n

        global_step += len(G)
        check_finite("losses/policy", loss_pi.item(), global_step)
        policy_opt.zero_grad()
        loss.backward()
        policy_opt.step()

        metrics = {}
        if value is not None and value_opt is not None and v is not None:
            for k in range(config.value_steps):
                loss_v = value_loss(v if k == 0 else value(obs).squeeze(-1), G)
                check_finite("losses/value", loss_v.item(), global_step)
                value_opt.zero_grad()
                loss_v.backward()
                value_opt.step()
            metrics["losses/value"] = loss_v.item()

        updates += 1
        episodes_done += n
        totals = [e.total_reward for e in episodes]
        recent.extend(totals)
        mean100 = float(np.mean(recent))
        now = time.perf_counter()
        if to_threshold is None and threshold is not None and len(recent) == recent.maxlen and mean100 >= threshold:
            to_threshold = {"seconds": now - started, "steps": global_step, "episodes": episodes_done}
        elapsed = now - started
        metrics |= {
            "global_step": float(global_step),
            "progress": budget_progress(episodes_done, config.total_episodes, elapsed, config.max_seconds),
            "charts/episodes": float(episodes_done),
            "charts/episodic_return": float(np.mean(totals)),
            "charts/episodic_return_mean100": mean100,
            "charts/episodic_length": float(np.mean([e.length for e in episodes])),
            "charts/truncated_fraction": float(np.mean([e.truncated for e in episodes])),
            "charts/steps_per_second": len(G) / max(now - batch_started, 1e-9),
            "losses/policy": loss_pi.item(),
            "losses/entropy": entropy.mean().item(),
        }
        if on_update is not None:
            on_update(metrics)
        if ended := ended_by(config.max_seconds, elapsed, should_stop):
            stopped_early, interrupted = episodes_done < config.total_episodes, ended == "stop"
            break

    for env in envs:
        env.close()
    train_seconds = time.perf_counter() - started
    evaluation = (None, None)
    if config.eval_episodes > 0 and not interrupted:  # seeds far from the training ones: fresh start states
        evaluation = evaluate(
            policy, config.env_id, config.eval_episodes, config.seed + 1_000_000, config.max_episode_steps
        )
    checkpoints = {"checkpoint": ("policy.pt", policy.state_dict())}
    if value is not None:
        checkpoints["value_checkpoint"] = ("value.pt", value.state_dict())
    record = lambda: record_episode(policy, config.env_id, seed=config.seed + 10_000)  # noqa: E731
    artifacts = save_run(config, checkpoints, record, interrupted)
    final = final_metrics(
        metrics,
        total_steps=global_step,
        episodes=episodes_done,
        updates=updates,
        started=started,
        train_seconds=train_seconds,
        to_threshold=to_threshold,
        episodes_to_threshold=True,
        reward_threshold=threshold,
        evaluation=evaluation,
        stopped_early=stopped_early,
    )
    return TrainResult(metrics=final, artifacts=artifacts)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def progress_line(m: Metrics) -> str:
    """The command line's progress line."""
    return (
        f"episode {int(m['charts/episodes']):>6}  step {int(m['global_step']):>8}"
        f"  return {m['charts/episodic_return']:7.1f}  mean100 {m['charts/episodic_return_mean100']:7.1f}"
        f"  policy loss {m['losses/policy']:9.3f}  entropy {m['losses/entropy']:.3f}"
        f"  {m['charts/steps_per_second']:8.0f} steps/s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(
        argv,
        sys.modules[__name__],
        ReinforceConfig,
        train,
        progress_line,
        lambda c: "REINFORCE with baseline" if c.baseline else "REINFORCE",
    )


if __name__ == "__main__":
    sys.exit(main())
