"""Exploration under sparse rewards: a count-based bonus on a long chain, and hindsight experience replay.

**Count-based bonus** (MBIE-EB, Strehl & Littman 2008; Bellemare et al. 2016 for pseudo-counts):
Q-learning on ``r + beta / sqrt(N(s, a))``, where ``N`` counts how often the pair was tried. The bonus
is large on pairs rarely tried and fades as they are learned, so the agent keeps going where it has
not been. The test bed is a chain of ``n`` states: *right* moves one state on, the last state pays
+1 and ends the episode; *left* in the first state pays a small 0.01 and ends it. Epsilon-greedy
Q-learning finds the 0.01 at once and, with episodes of ``n + 10`` steps, almost never wanders far
enough to see the +1: a random walk needs about ``n^2`` steps to cross.

**Hindsight experience replay** (Andrychowicz et al. 2017) on their bit-flipping task: the state and
the goal are ``n`` bits, action ``i`` flips bit ``i``, the reward is 0 when the state equals the goal and
-1 otherwise, episodes last ``n`` steps. A random policy almost never reaches one of ``2^n`` goals,
so a goal-conditioned DQN (Q(s, g, a), Schaul et al. 2015) sees only -1 and learns nothing. HER
stores every transition a second time with the goal replaced by a state reached *later in the same
episode* (the "future" strategy, k = 4 relabelled copies): for that goal the episode was a success,
so the reward signal is dense. The paper reports plain DQN failing beyond about 13 bits and DQN with
HER solving up to 50.

Command line (one JSON object on the last line with ``--json``)::

    python -m algorithms.exploration chain --length 20 --json
    python -m algorithms.exploration bitflip --bits 20 --her --epochs 30 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------
# A long chain with a distractor, and a count-based bonus
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainConfig:
    length: int = 20
    """States in the chain; the +1 is at the far end."""
    episodes: int = 300
    bonus: float = 0.0
    """beta in r + beta / sqrt(N(s, a)); 0 is plain epsilon-greedy Q-learning."""
    epsilon: float = 0.1
    alpha: float = 0.5
    gamma: float = 0.99
    runs: int = 20
    seed: int = 0


def chain_step(s: int, a: int, length: int) -> tuple[int, float, bool]:
    """a = 1 moves right, a = 0 left. Right from the last-but-one state reaches the goal (+1, end);
    left from state 0 takes the distractor (+0.01, end)."""
    if a == 1:
        return (s + 1, 1.0, True) if s + 1 == length - 1 else (s + 1, 0.0, False)
    return (0, 0.01, True) if s == 0 else (s - 1, 0.0, False)


def count_bonus(r: float, n: float, beta: float) -> float:
    """MBIE-EB's reward with a novelty bonus: r + beta / sqrt(N(s, a)), for a pair tried n >= 1 times."""
    if n < 1:
        raise ValueError(f"the count n must be at least 1 (the pair was just tried), got {n}")
    return float(r + beta / np.sqrt(n))


def chain_run(config: ChainConfig, rng: np.random.Generator) -> np.ndarray:
    """One run: each episode's return (episodes,). Ties between equal Q-values break at random."""
    n = config.length
    # An untried pair is valued as if it paid its first bonus forever, beta / (1 - gamma), as MBIE-EB
    # initialises optimistically: otherwise tried pairs, which have banked bonuses, look better than
    # untried ones and the agent keeps revisiting the states it knows.
    Q = np.full((n, 2), config.bonus / (1.0 - config.gamma))
    N = np.zeros((n, 2))
    returns = np.zeros(config.episodes)
    for episode in range(config.episodes):
        s = 0
        for _ in range(n + 10):
            if rng.random() < config.epsilon:
                a = int(rng.integers(2))
            else:
                a = int(rng.choice(np.flatnonzero(Q[s] == Q[s].max())))
            s2, r, done = chain_step(s, a, n)
            returns[episode] += r
            # lesson:start count-bonus
            N[s, a] += 1
            r_plus = count_bonus(r, N[s, a], config.bonus)  # large where the agent has rarely been
            target = r_plus + (0.0 if done else config.gamma * Q[s2].max())
            Q[s, a] += config.alpha * (target - Q[s, a])
            # lesson:end count-bonus
            s = s2
            if done:
                break
    return returns


def chain_experiment(config: ChainConfig) -> dict[str, Any]:
    """``runs`` independent runs: the fraction that ever reached the goal, and mean return per episode."""
    rng = np.random.default_rng(config.seed)
    curves = np.stack([chain_run(config, rng) for _ in range(config.runs)])  # (runs, episodes)
    reached = (curves >= 1.0).any(axis=1)
    return {
        "config": asdict(config),
        "found_goal": float(reached.mean()),
        "goal_rate_last_50": float((curves[:, -50:] >= 1.0).mean()),
        "mean_return": curves.mean(axis=0).tolist(),
    }


# ---------------------------------------------------------------------------------------
# Bit flipping with a goal-conditioned DQN, with and without HER
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BitFlipConfig:
    bits: int = 10
    her: bool = True
    """Relabel each transition with k goals reached later in its episode (the 'future' strategy)."""
    her_k: int = 4
    epochs: int = 20
    cycles: int = 10
    """Cycles per epoch; each plays ``episodes_per_cycle`` episodes then makes ``updates`` gradient steps."""
    episodes_per_cycle: int = 16
    updates: int = 40
    batch_size: int = 128
    hidden: int = 256
    lr: float = 1e-3
    gamma: float = 0.98
    epsilon: float = 0.2
    tau: float = 0.05
    """Polyak rate of the target network."""
    buffer_size: int = 200_000
    eval_episodes: int = 50
    seed: int = 0


def her_relabel(states: np.ndarray, next_states: np.ndarray, k: int, rng: np.random.Generator) -> list[tuple]:
    """For each step t of an episode, k copies with the goal set to a state reached at t' >= t
    (the 'future' strategy). Returns (t, new_goal, reward, done) tuples; reward 0 when the step reached it."""
    T = len(states)
    out = []
    # lesson:start her
    for t in range(T):
        for future in rng.integers(t, T, size=k):  # a step at or after t, in the same episode
            goal = next_states[future]  # a state the agent really reached: for it, this is a success
            achieved = bool(np.array_equal(next_states[t], goal))
            out.append((t, goal, 0.0 if achieved else -1.0, achieved))
    # lesson:end her
    return out


def train_bitflip(config: BitFlipConfig, on_epoch: Callable[[dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Goal-conditioned double DQN on n-bit flipping; the success rate of greedy episodes per epoch."""
    import torch
    from torch import nn

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n = config.bits
    q_net = nn.Sequential(nn.Linear(2 * n, config.hidden), nn.ReLU(), nn.Linear(config.hidden, n))
    target_net = nn.Sequential(nn.Linear(2 * n, config.hidden), nn.ReLU(), nn.Linear(config.hidden, n))
    target_net.load_state_dict(q_net.state_dict())
    optimizer = torch.optim.Adam(q_net.parameters(), lr=config.lr)
    size = config.buffer_size
    buf_s = np.zeros((size, n), np.float32)
    buf_g = np.zeros((size, n), np.float32)
    buf_a = np.zeros(size, np.int64)
    buf_r = np.zeros(size, np.float32)
    buf_s2 = np.zeros((size, n), np.float32)
    buf_d = np.zeros(size, np.float32)
    count = 0

    def store(s, g, a, r, s2, d) -> None:
        nonlocal count
        i = count % size
        buf_s[i], buf_g[i], buf_a[i], buf_r[i], buf_s2[i], buf_d[i] = s, g, a, r, s2, d
        count += 1

    def act(s: np.ndarray, g: np.ndarray, epsilon: float) -> int:
        if rng.random() < epsilon:
            return int(rng.integers(n))
        with torch.no_grad():
            return int(q_net(torch.as_tensor(np.concatenate([s, g])[None], dtype=torch.float32)).argmax())

    def episode(epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        s = rng.integers(0, 2, n).astype(np.float32)
        g = rng.integers(0, 2, n).astype(np.float32)
        states, actions, next_states = [], [], []
        success = bool(np.array_equal(s, g))
        for _ in range(n):
            if success:
                break
            a = act(s, g, epsilon)
            s2 = s.copy()
            s2[a] = 1.0 - s2[a]
            states.append(s)
            actions.append(a)
            next_states.append(s2)
            s = s2
            success = bool(np.array_equal(s, g))
        return (
            np.array(states).reshape(-1, n),
            np.array(actions, np.int64),
            np.array(next_states).reshape(-1, n),
            g,
            success,
        )

    history = []
    for epoch in range(config.epochs):
        for _ in range(config.cycles):
            for _ in range(config.episodes_per_cycle):
                states, actions, next_states, g, _ = episode(config.epsilon)
                for t in range(len(actions)):
                    reached = bool(np.array_equal(next_states[t], g))
                    store(states[t], g, actions[t], 0.0 if reached else -1.0, next_states[t], float(reached))
                if config.her and len(actions):
                    for t, goal, r, d in her_relabel(states, next_states, config.her_k, rng):
                        store(states[t], goal, actions[t], r, next_states[t], float(d))
            filled = min(count, size)
            if filled < config.batch_size:
                continue
            for _ in range(config.updates):
                idx = rng.integers(0, filled, config.batch_size)
                s = torch.as_tensor(np.concatenate([buf_s[idx], buf_g[idx]], 1))
                s2 = torch.as_tensor(np.concatenate([buf_s2[idx], buf_g[idx]], 1))
                a, r, d = (torch.as_tensor(x[idx]) for x in (buf_a, buf_r, buf_d))
                with torch.no_grad():
                    best = q_net(s2).argmax(1, keepdim=True)  # double DQN: choose online, evaluate target
                    target = r + config.gamma * (1 - d) * target_net(s2).gather(1, best).squeeze(1)
                    target = target.clamp(-1.0 / (1.0 - config.gamma), 0.0)  # returns lie in this range
                q = q_net(s).gather(1, a[:, None]).squeeze(1)
                loss = nn.functional.mse_loss(q, target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for p, tp in zip(q_net.parameters(), target_net.parameters(), strict=True):
                        tp.mul_(1 - config.tau).add_(config.tau * p)
        success = float(np.mean([episode(0.0)[4] for _ in range(config.eval_episodes)]))
        history.append(success)
        if on_epoch is not None:
            on_epoch({"epoch": float(epoch + 1), "success_rate": success})
    return {"config": asdict(config), "success_rate": history, "final_success_rate": history[-1] if history else 0.0}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.exploration", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    chain = commands.add_parser("chain", help="Q-learning on a long chain, with and without a count bonus")
    chain.add_argument("--length", type=int, default=20)
    chain.add_argument("--episodes", type=int, default=300)
    chain.add_argument("--bonus", type=float, nargs="+", default=[0.0, 0.1])
    chain.add_argument("--runs", type=int, default=20)
    chain.add_argument("--seed", type=int, default=0)
    flip = commands.add_parser("bitflip", help="goal-conditioned DQN on n-bit flipping, with or without HER")
    flip.add_argument("--bits", type=int, default=10)
    flip.add_argument("--her", action=argparse.BooleanOptionalAction, default=True)
    flip.add_argument("--epochs", type=int, default=20)
    flip.add_argument("--seed", type=int, default=0)
    for sub in (chain, flip):
        sub.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "chain":
        if args.length < 3 or args.episodes < 50 or args.runs < 1 or any(b < 0 for b in args.bonus):
            parser.error("length must be at least 3, episodes at least 50, runs at least 1, bonuses at least 0")
        out: dict[str, Any] = {"command": "chain", "results": {}}
        for beta in args.bonus:
            result = chain_experiment(ChainConfig(args.length, args.episodes, beta, runs=args.runs, seed=args.seed))
            out["results"][str(beta)] = result
            print(
                f"bonus {beta:g}: {result['found_goal']:.0%} of runs ever reached the goal; "
                f"goal in {result['goal_rate_last_50']:.0%} of the last 50 episodes"
            )
    else:
        if args.bits < 2 or args.epochs < 1:
            parser.error("bits must be at least 2 and epochs at least 1")
        from algorithms.contract import configure_cpu_threads

        configure_cpu_threads()
        config = BitFlipConfig(bits=args.bits, her=args.her, epochs=args.epochs, seed=args.seed)
        out = {
            "command": "bitflip",
            **train_bitflip(
                config, lambda m: print(f"epoch {m['epoch']:.0f}: success {m['success_rate']:.2f}", flush=True)
            ),
        }
    out["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
