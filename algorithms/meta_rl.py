"""Meta-RL with a recurrent policy, RL^2, on Bernoulli bandit tasks.

RL^2 (Duan, Schulman, Chen, Bartlett, Sutskever & Abbeel 2016, "RL^2: Fast Reinforcement Learning
via Slow Reinforcement Learning", arXiv:1611.02779) and "Learning to reinforcement learn" (Wang,
Kurth-Nelson, Tirumala, Soyer, Leibo, Munos, Blundell, Kumaran & Botvinick 2016, arXiv:1611.05763).

A *task* is a k-armed Bernoulli bandit whose success probabilities are drawn from a task
distribution, p(a) ~ U(0, 1) independently per arm (Duan et al. section 4.1). A *trial* is H pulls
of one task; each pull is an episode of one step. The policy is a GRU whose input at pull t is

    x_t = [one_hot(a_{t-1}), r_{t-1}]          (x_0 = 0: nothing has happened yet)

(Duan et al. section 3.1: the previous action, the previous reward and a done flag, which is
always 1 between one-step episodes and so carries no information here). Its hidden state is
reset between trials (tasks) and **kept across the episodes of one trial**: the hidden state is
all the agent knows about the current task, so the recurrence itself is the "fast" learner, an
algorithm for exploring this task and exploiting what it found. The "slow" learner is ordinary
RL on the GRU's weights: synchronous advantage actor-critic (Mnih et al. 2016, as
``algorithms/a2c.py``) with GAE (Schulman et al. 2016, eq. 16) maximising the return of the
whole trial, sum_t r_t, across many sampled tasks. Duan et al. used TRPO and Wang et al. A2C/A3C;
either works on this problem.

Trained so, the network's fixed weights implement a bandit algorithm for the task distribution it
was trained on. We measure its cumulative (pseudo-)regret on fresh tasks,

    regret(T) = sum_{t < T} (max_a p(a) - p(A_t)),

against UCB1 (Auer et al. 2002, ``algorithms.bandits.ucb_scores`` with c = sqrt(2)), Thompson
sampling with Beta(1, 1) priors (``algorithms.bandits.beta_thompson_action``; the uniform prior is
the true task distribution, so it is a strong, nearly Bayes-optimal baseline), and a uniformly
random policy. With ``task_distribution="dependent"`` (two arms, p(1) = 1 - p(0); Wang et al.
section 3.1.2) one pull informs both arms: RL^2 can learn that structure, Thompson with
independent priors cannot.

Command line (progress lines, then one JSON object on the last line with ``--json``)::

    python -m algorithms.meta_rl --arms 2 --horizon 50 --updates 600 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from algorithms.bandits import beta_thompson_action, cumulative_pseudo_regret, ucb_scores

BASELINES = ("ucb1", "thompson", "random")


@dataclass(frozen=True)
class MetaBanditConfig:
    arms: int = 2
    """k, the arms of every task."""
    horizon: int = 50
    """H, pulls per trial. The hidden state carries across all H pulls of one task and is reset for the next."""
    task_distribution: Literal["independent", "dependent"] = "independent"
    """independent: p(a) ~ U(0, 1) for each arm (Duan et al.). dependent: 2 arms, p(1) = 1 - p(0) (Wang et al.)."""
    hidden: int = 48
    """Units of the GRU."""
    tasks_per_update: int = 256
    """Trials (each a freshly drawn task) played in parallel for one gradient step."""
    updates: int = 600
    """Gradient steps in all; each sees tasks_per_update x horizon pulls."""
    lr: float = 3e-3
    """Adam's step size."""
    gamma: float = 0.8
    """Discount inside a trial. Below 1 lowers the variance of the advantages; the score is the undiscounted regret."""
    lam: float = 0.8
    """GAE's lambda."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.05
    """Weight of the entropy bonus at the start; it falls linearly to 0 over training."""
    norm_adv: bool = True
    """Normalise the advantages of each batch to mean 0 and std 1."""
    max_grad_norm: float = 1.0
    """Rescale the gradient when its global L2 norm exceeds this."""
    eval_tasks: int = 2000
    """Fresh tasks on which every policy's regret is measured (the same tasks and reward draws for all)."""
    seed: int = 0
    """Seeds the tasks, the reward draws, the network and the action sampling."""
    max_seconds: float = 0.0
    """Stop training after this many seconds (0: no limit); the evaluation still runs."""

    def __post_init__(self) -> None:
        problems = []
        if self.arms < 2:
            problems.append(f"arms must be at least 2, got {self.arms}")
        if self.task_distribution not in ("independent", "dependent"):
            problems.append(f"task_distribution must be 'independent' or 'dependent', got {self.task_distribution!r}")
        elif self.task_distribution == "dependent" and self.arms != 2:
            problems.append(f"the dependent task distribution has exactly 2 arms, got arms={self.arms}")
        for name in ("horizon", "hidden", "tasks_per_update", "eval_tasks"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.updates < 0:
            problems.append(f"updates must be 0 or more, got {self.updates}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"lr must be a positive number, got {self.lr}")
        for name in ("gamma", "lam"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("vf_coef", "ent_coef", "max_grad_norm", "max_seconds"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be 0 or more, got {getattr(self, name)}")
        if problems:
            raise ValueError("MetaBanditConfig: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Tasks and regret: small pure functions (the quizzes grade against these)
# ---------------------------------------------------------------------------------------------


def sample_tasks(n: int, arms: int, distribution: str, rng: np.random.Generator) -> np.ndarray:
    """n tasks from the task distribution: success probabilities, shape (n, arms)."""
    if distribution == "dependent":
        p0 = rng.random(n)
        return np.stack([p0, 1.0 - p0], axis=1)  # one arm's pull says how good the other is
    return rng.random((n, arms))


def step_input(prev_action: np.ndarray, prev_reward: np.ndarray, k: int) -> np.ndarray:
    """RL^2's input at one pull: [one_hot(a_{t-1}), r_{t-1}] (Duan et al. 2016, section 3.1).

    prev_action: (...,) ints in [0, k); prev_reward: (...,). Returns (..., k + 1) float32.
    """
    prev_action = np.asarray(prev_action)
    # lesson:start step-input
    one_hot = np.eye(k, dtype=np.float32)[prev_action]  # (..., k): which arm was pulled last
    return np.concatenate([one_hot, np.asarray(prev_reward, np.float32)[..., None]], axis=-1)  # (..., k + 1)
    # lesson:end step-input


def rl2_inputs(actions: np.ndarray, rewards: np.ndarray, k: int) -> np.ndarray:
    """The whole input sequence of one trial: x_0 = 0 and x_t = [one_hot(a_{t-1}), r_{t-1}] for t >= 1.

    The policy at pull t sees only what happened *before* t: the action and reward of pull t are
    outputs of that step, so the sequence is shifted by one. actions: (..., T) ints in [0, k);
    rewards: (..., T). Returns (..., T, k + 1) float32.
    """
    actions = np.asarray(actions)
    rewards = np.asarray(rewards)
    if actions.shape != rewards.shape:
        raise ValueError(f"actions and rewards must have one shape, got {actions.shape} and {rewards.shape}")
    if actions.size and (actions.min() < 0 or actions.max() >= k):
        raise ValueError(f"actions must lie in [0, {k}), got values from {actions.min()} to {actions.max()}")
    # lesson:start rl2-inputs
    first = np.zeros((*actions.shape[:-1], 1, k + 1), np.float32)  # x_0: no previous pull in this trial
    later = step_input(actions[..., :-1], rewards[..., :-1], k)  # x_1 .. x_{T-1}, (..., T - 1, k + 1)
    return np.concatenate([first, later], axis=-2)  # (..., T, k + 1)
    # lesson:end rl2-inputs


def task_regret(probs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Cumulative pseudo-regret of one trial: regret(T) = sum_{t <= T} (max_a p(a) - p(A_t)).

    probs: (k,) success probabilities; actions: (H,) the arms pulled. Returns (H,). It counts the
    expected reward given up, not the luck of the draws, so it never decreases.
    """
    probs = np.asarray(probs, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.int64)
    return cumulative_pseudo_regret(probs[None], actions[:, None])[:, 0]


def draw_rewards(probs: np.ndarray, actions: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Bernoulli rewards 1[u < p(A_t)]; probs (n, k), actions (n,), u (n,) -> (n,) float."""
    return (u < np.take_along_axis(probs, actions[:, None], axis=1)[:, 0]).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Hand-written bandit algorithms on the same tasks: what RL^2 is compared with
# ---------------------------------------------------------------------------------------------


def play_baseline(name: str, probs: np.ndarray, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Play ``ucb1``, ``thompson`` or ``random`` on n tasks at once. probs (n, k); u (n, H) the reward
    draws. Returns the actions, (n, H)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}: choose one of {', '.join(BASELINES)}")
    n, k = probs.shape
    H = u.shape[1]
    successes = np.zeros((n, k))
    pulls = np.zeros((n, k))
    actions = np.zeros((n, H), np.int64)
    rows = np.arange(n)
    for t in range(H):
        if name == "ucb1":  # Q + sqrt(2 ln t / N), each arm once first (Auer et al. 2002)
            q = successes / np.maximum(pulls, 1)
            a = ucb_scores(q, pulls, t + 1, math.sqrt(2.0)).argmax(axis=1)
        elif name == "thompson":
            a = beta_thompson_action(successes, pulls - successes, rng)
        else:
            a = rng.integers(0, k, n)
        r = draw_rewards(probs, a, u[:, t])
        successes[rows, a] += r
        pulls[rows, a] += 1
        actions[:, t] = a
    return actions


# ---------------------------------------------------------------------------------------------
# The recurrent policy and its training
# ---------------------------------------------------------------------------------------------


def _torch():
    import torch
    from torch import nn

    return torch, nn


def make_policy(arms: int, hidden: int):
    """A GRU over the trial's inputs with a policy head (k logits) and a value head."""
    _, nn = _torch()

    class RL2Policy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(arms + 1, hidden, batch_first=True)
            self.pi = nn.Linear(hidden, arms)
            self.v = nn.Linear(hidden, 1)

        def forward(self, x, h=None):  # x (B, T, k + 1), h (1, B, hidden) or None for a new trial
            out, h = self.gru(x, h)  # (B, T, hidden): the agent's memory of this task after each pull
            return self.pi(out), self.v(out).squeeze(-1), h  # logits (B, T, k), values (B, T)

    return RL2Policy()


def play_rl2(policy, probs: np.ndarray, u: np.ndarray, greedy: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Play one trial of every task with the recurrent policy, pull by pull. probs (n, k), u (n, H).
    Returns actions (n, H) and rewards (n, H). The hidden state starts at 0 (a new task) and is
    carried from each pull to the next: it is what the agent has learned about this task so far."""
    torch, _ = _torch()
    n, k = probs.shape
    H = u.shape[1]
    actions = np.zeros((n, H), np.int64)
    rewards = np.zeros((n, H))
    x = np.zeros((n, 1, k + 1), np.float32)  # x_0
    h = None
    with torch.no_grad():
        # lesson:start trial
        for t in range(H):
            logits, _, h = policy(torch.from_numpy(x), h)  # h carries over: same task, next episode
            logits = logits[:, 0] if greedy else logits[:, 0] - torch.log(-torch.log(torch.rand(n, k)))
            a = logits.argmax(-1).numpy()  # (n,): the Gumbel-max trick samples a ~ softmax(logits)
            r = draw_rewards(probs, a, u[:, t])  # (n,)
            actions[:, t], rewards[:, t] = a, r
            x = step_input(a, r, k)[:, None]  # (n, 1, k + 1): what the next pull gets to see
        # lesson:end trial
    return actions, rewards


def rl2_loss(policy, actions: np.ndarray, rewards: np.ndarray, config: MetaBanditConfig, ent_coef: float):
    """A2C's loss on a batch of whole trials (Mnih et al. 2016; GAE, Schulman et al. 2016, eq. 16).

    The trials are replayed through the GRU in one call from their recorded inputs (the same
    weights gave the same distributions while playing), and the gradient flows back through the
    hidden state over all H pulls: that is how the weights learn *what to remember* about a task.
    Returns (loss, stats).
    """
    torch, _ = _torch()
    from algorithms.returns import batched_gae

    k = config.arms
    x = torch.from_numpy(rl2_inputs(actions, rewards, k))  # (B, H, k + 1)
    a = torch.from_numpy(actions)  # (B, H)
    r = torch.from_numpy(rewards).float()  # (B, H)
    logits, values, _ = policy(x)  # (B, H, k), (B, H)
    dist = torch.distributions.Categorical(logits=logits)
    logp = dist.log_prob(a)  # (B, H)
    # lesson:start a2c-loss
    with torch.no_grad():
        next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)  # the trial ends at H
        terminated = torch.zeros_like(r, dtype=torch.bool)
        terminated[:, -1] = True
        adv = batched_gae(
            r.T, values.T, next_values.T, terminated.T, torch.zeros_like(terminated.T), config.gamma, config.lam
        ).T  # (B, H)
        returns = adv + values  # the value head's targets
        if config.norm_adv:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = -(logp * adv).mean()  # the policy gradient, through every step of the recurrence
    value_loss = 0.5 * (values - returns).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + config.vf_coef * value_loss - ent_coef * entropy
    # lesson:end a2c-loss
    return loss, {
        "losses/policy": policy_loss.item(),
        "losses/value": value_loss.item(),
        "losses/entropy": entropy.item(),
    }


def train_rl2(
    config: MetaBanditConfig,
    on_update: Callable[[dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
):
    """The outer ("slow") loop: sample tasks, play a trial of each, one A2C step on the batch.
    Returns the trained policy and its training history (mean reward per pull, per logged update)."""
    from algorithms.contract import configure_cpu_threads

    torch, nn = _torch()
    configure_cpu_threads()  # a tiny GRU: extra threads only add contention
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    policy = make_policy(config.arms, config.hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    log_every = max(1, config.updates // 50)
    for update in range(config.updates):
        # lesson:start outer-loop
        probs = sample_tasks(config.tasks_per_update, config.arms, config.task_distribution, rng)  # (B, k)
        u = rng.random((config.tasks_per_update, config.horizon))  # (B, H) reward draws
        actions, rewards = play_rl2(policy, probs, u)  # one trial per task, the inner loop in the activations
        ent_coef = config.ent_coef * (1.0 - update / config.updates)
        loss, stats = rl2_loss(policy, actions, rewards, config, ent_coef)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()  # the outer loop in the weights
        # lesson:end outer-loop
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"the loss became {loss.item()} at update {update}: try a smaller lr")
        if update % log_every == 0 or update == config.updates - 1:
            regret = float((probs.max(axis=1)[:, None] - np.take_along_axis(probs, actions, axis=1)).sum(1).mean())
            metrics = {
                "update": float(update + 1),
                "progress": (update + 1) / config.updates,
                "charts/mean_reward": float(rewards.mean()),
                "charts/trial_regret": regret,
                **stats,
            }
            history.append(metrics)
            if on_update is not None:
                on_update(metrics)
        if (config.max_seconds and time.perf_counter() - started > config.max_seconds) or (
            should_stop is not None and should_stop()
        ):
            break
    return policy, history


def evaluate(config: MetaBanditConfig, policy=None) -> dict[str, Any]:
    """Mean cumulative regret after each pull, (H,), of every policy on the same fresh tasks and the
    same reward draws (common random numbers: differences are the policies', not the luck's)."""
    rng = np.random.default_rng(config.seed + 10_000)  # tasks the training never drew
    probs = sample_tasks(config.eval_tasks, config.arms, config.task_distribution, rng)  # (n, k)
    u = rng.random((config.eval_tasks, config.horizon))  # (n, H)
    actions: dict[str, np.ndarray] = {}
    if policy is not None:
        actions["rl2"], _ = play_rl2(policy, probs, u)
    for name in BASELINES:
        actions[name] = play_baseline(name, probs, u, np.random.default_rng(config.seed + 20_000))
    curves = {}
    for name, acts in actions.items():
        regret = cumulative_pseudo_regret(probs, acts.T)  # (H, n)
        curves[name] = regret.mean(axis=1)
    return {
        "regret": {name: float(curve[-1]) for name, curve in curves.items()},
        "regret_stderr": {
            name: float(cumulative_pseudo_regret(probs, acts.T)[-1].std(ddof=1) / math.sqrt(config.eval_tasks))
            for name, acts in actions.items()
        },
        "regret_curve": {name: [round(float(v), 4) for v in curve] for name, curve in curves.items()},
    }


def run_experiment(
    config: MetaBanditConfig, on_update: Callable[[dict[str, float]], None] | None = None
) -> dict[str, Any]:
    """Train RL^2, then score it and the baselines on fresh tasks. Returns a JSON-ready dict."""
    started, cpu_started = time.perf_counter(), time.process_time()
    policy, history = train_rl2(config, on_update)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started  # wall time also counts other processes' load
    result = evaluate(config, policy)
    return {
        "config": asdict(config),
        **result,
        "history": history,
        "train_seconds": round(train_seconds, 2),
        "train_cpu_seconds": round(train_cpu_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.meta_rl", description=__doc__.splitlines()[0])
    defaults = MetaBanditConfig()
    parser.add_argument("--arms", type=int, default=defaults.arms)
    parser.add_argument("--horizon", type=int, default=defaults.horizon)
    parser.add_argument("--task-distribution", choices=["independent", "dependent"], default=defaults.task_distribution)
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--tasks-per-update", type=int, default=defaults.tasks_per_update)
    parser.add_argument("--updates", type=int, default=defaults.updates)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--gamma", type=float, default=defaults.gamma)
    parser.add_argument("--lam", type=float, default=defaults.lam)
    parser.add_argument("--ent-coef", type=float, default=defaults.ent_coef)
    parser.add_argument("--eval-tasks", type=int, default=defaults.eval_tasks)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    try:
        config = MetaBanditConfig(
            arms=args.arms,
            horizon=args.horizon,
            task_distribution=args.task_distribution,
            hidden=args.hidden,
            tasks_per_update=args.tasks_per_update,
            updates=args.updates,
            lr=args.lr,
            gamma=args.gamma,
            lam=args.lam,
            ent_coef=args.ent_coef,
            eval_tasks=args.eval_tasks,
            seed=args.seed,
            max_seconds=args.max_seconds,
        )
    except ValueError as error:
        parser.error(str(error))

    def report(m: dict[str, float]) -> None:
        print(
            f"update {m['update']:.0f}: mean reward {m['charts/mean_reward']:.3f}, "
            f"regret per trial {m['charts/trial_regret']:.2f}",
            flush=True,
        )

    out = run_experiment(config, report)
    for name, value in out["regret"].items():
        print(f"{name}: regret after {config.horizon} pulls {value:.2f} ± {out['regret_stderr'][name]:.2f}")
    print(f"trained in {out['train_seconds']:.1f} s ({out['train_cpu_seconds']:.1f} s of CPU)")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
