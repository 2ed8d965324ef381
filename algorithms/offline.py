"""Offline RL on a small grid: behaviour cloning, naive Q-learning on a fixed log, and tabular CQL.

A fixed dataset is logged once by a behaviour policy on ``LavaGrid`` (Sutton & Barto's cliff walk in
miniature: -1 per step, -100 and the end of the episode in the lava). Nothing is collected afterwards.

- **Behaviour cloning** (BC): the most frequent logged action in each state.
- **Naive offline Q-learning**: Q-learning swept over the logged transitions. Its target
  ``max_a' Q(s', a')`` also ranges over actions the log never took in ``s'``; their values are never
  corrected by data and stay at what the function happened to say (here the initial 0, far above
  any real return of -1 per step). The greedy policy then steers toward those fictional values:
  extrapolation error (Fujimoto et al. 2019), the failure of off-policy RL without new data.
- **Conservative Q-learning**, CQL(H) (Kumar et al. 2020, eq. 4), tabular: each update also
  descends ``alpha * (logsumexp_a Q(s, a) - Q(s, a_data))``, which pushes down every action in
  proportion to its softmax weight and pushes up the logged one. With ``alpha = 0`` the update is
  exactly naive Q-learning: the lesson's point is one term.

Datasets are plain npz files with Minari's field names (``observations``, ``actions``,
``rewards``, ``next_observations``, ``terminations``, ``truncations``; one row per transition).

Command line (one JSON object on the last line with ``--json``)::

    python -m algorithms.offline --dataset medium --episodes 50 --alpha 1.0 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
ACTION_NAMES = ("up", "right", "down", "left")

LAVA_GRID: tuple[str, ...] = (
    "........",
    "........",
    "........",
    "SLLLLLLG",
)
"""S start, G goal (the episode ends, reward -1 for the last step), L lava (ends, reward -100)."""


@dataclass(frozen=True)
class LavaGrid:
    rows: tuple[str, ...] = LAVA_GRID
    step_reward: float = -1.0
    lava_reward: float = -100.0
    max_steps: int = 50
    """Time limit: an episode still running after this many steps is truncated."""

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])

    @property
    def n_states(self) -> int:
        return self.shape[0] * self.shape[1]

    def find(self, ch: str) -> int:
        for r, row in enumerate(self.rows):
            if ch in row:
                return r * self.shape[1] + row.index(ch)
        raise ValueError(f"no '{ch}' in the grid")

    def cell(self, s: int) -> str:
        return self.rows[s // self.shape[1]][s % self.shape[1]]

    def step(self, s: int, a: int) -> tuple[int, float, bool]:
        """Next state, reward, terminated. Moving off the grid leaves the agent where it is."""
        height, width = self.shape
        r, c = divmod(s, width)
        dr, dc = MOVES[a]
        r2, c2 = min(max(r + dr, 0), height - 1), min(max(c + dc, 0), width - 1)
        s2 = r2 * width + c2
        kind = self.cell(s2)
        if kind == "L":
            return s2, self.lava_reward, True
        return s2, self.step_reward, kind == "G"


# ---------------------------------------------------------------------------------------
# Behaviour policies and the logged dataset
# ---------------------------------------------------------------------------------------

DatasetKind = Literal["random", "medium", "expert"]


def behaviour_action(grid: LavaGrid, s: int, kind: DatasetKind, rng: np.random.Generator, epsilon: float) -> int:
    """random: uniform. medium: the safe detour along the top row (13 steps), epsilon-greedy.
    expert: the shortest safe path, one row above the lava (9 steps), epsilon-greedy."""
    if kind == "random" or rng.random() < epsilon:
        return int(rng.integers(4))
    height, width = grid.shape
    r, c = divmod(s, width)
    cruise_row = 0 if kind == "medium" else height - 2
    if c == width - 1:
        return 2  # down to the goal
    if r > cruise_row:
        return 0  # up
    if r < cruise_row:
        return 2  # down (an expert pushed above its row comes back)
    return 1  # right


def collect_dataset(
    grid: LavaGrid, kind: DatasetKind, episodes: int, epsilon: float = 0.2, seed: int = 0
) -> dict[str, np.ndarray]:
    """Log ``episodes`` episodes of a behaviour policy, Minari's field names, one row per transition."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float, int, bool, bool]] = []
    returns = []
    for _ in range(episodes):
        s, total = grid.find("S"), 0.0
        for t in range(grid.max_steps):
            a = behaviour_action(grid, s, kind, rng, epsilon)
            s2, r, terminated = grid.step(s, a)
            truncated = not terminated and t == grid.max_steps - 1
            rows.append((s, a, r, s2, terminated, truncated))
            total += r
            s = s2
            if terminated:
                break
        returns.append(total)
    s, a, r, s2, term, trunc = (np.array(column) for column in zip(*rows, strict=True))
    return {
        "observations": s.astype(np.int64),
        "actions": a.astype(np.int64),
        "rewards": r.astype(np.float64),
        "next_observations": s2.astype(np.int64),
        "terminations": term.astype(bool),
        "truncations": trunc.astype(bool),
        "episode_returns": np.array(returns, dtype=np.float64),
    }


def save_dataset(data: dict[str, np.ndarray], path: str | Path) -> Path:
    path = Path(path)
    np.savez_compressed(path, **data)
    return path


def load_dataset(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as found:
        data = {k: found[k] for k in found.files}
    missing = {"observations", "actions", "rewards", "next_observations", "terminations"} - set(data)
    if missing:
        raise ValueError(f"{path}: not an offline dataset, missing {', '.join(sorted(missing))}")
    return data


# ---------------------------------------------------------------------------------------
# The three learners
# ---------------------------------------------------------------------------------------


def behaviour_cloning(data: dict[str, np.ndarray], n_states: int, n_actions: int = 4) -> np.ndarray:
    """Action counts per state, (S, A): the greedy BC policy takes the most logged action."""
    counts = np.zeros((n_states, n_actions))
    np.add.at(counts, (data["observations"], data["actions"]), 1.0)
    return counts


def cql_penalty(q: np.ndarray, action: int) -> float:
    """CQL(H)'s regulariser for one state: logsumexp_a Q(s, a) - Q(s, a_data) (Kumar et al. 2020, eq. 4)."""
    q = np.asarray(q, dtype=np.float64)
    top = q.max()
    return float(top + np.log(np.exp(q - top).sum()) - q[int(action)])


def cql_penalty_gradient(q: np.ndarray, action: int) -> np.ndarray:
    """d penalty / d Q(s, .) = softmax(Q(s, .)) - onehot(a_data).

    Descending it pushes every action down, the highest most, and the logged one up."""
    q = np.asarray(q, dtype=np.float64)
    weights = np.exp(q - q.max())
    gradient = weights / weights.sum()
    gradient[int(action)] -= 1.0
    return gradient


def offline_q_learning(
    data: dict[str, np.ndarray],
    n_states: int,
    n_actions: int = 4,
    alpha: float = 0.0,
    gamma: float = 0.99,
    lr: float = 0.5,
    sweeps: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Q-learning swept over a fixed log, with CQL(H)'s penalty of weight ``alpha`` (0: naive).

    Returns Q of shape (S, A). Q starts at 0 everywhere: a pair the log never contains is only ever
    moved by the penalty, never by data.
    """
    rng = np.random.default_rng(seed)
    Q = np.zeros((n_states, n_actions))
    s_all, a_all, r_all = data["observations"], data["actions"], data["rewards"]
    s2_all, done_all = data["next_observations"], data["terminations"]
    for _ in range(sweeps):
        for i in rng.permutation(len(s_all)):
            s, a, r, s2 = s_all[i], a_all[i], r_all[i], s2_all[i]
            # lesson:start cql-update
            target = r + gamma * (0.0 if done_all[i] else Q[s2].max())  # max over every action, logged or not
            gradient = np.zeros(n_actions)
            gradient[a] = Q[s, a] - target  # the TD error's gradient of 1/2 (Q - target)^2
            if alpha > 0.0:
                gradient += alpha * cql_penalty_gradient(Q[s], a)  # push unlogged actions down
            Q[s] -= lr * gradient
            # lesson:end cql-update
    return Q


# ---------------------------------------------------------------------------------------
# Evaluating in the real grid
# ---------------------------------------------------------------------------------------


def rollout(grid: LavaGrid, table: np.ndarray, gamma: float = 1.0) -> tuple[float, list[int], str]:
    """Play the greedy policy of ``table`` (S, A) from S: its return (discounted by ``gamma``), the states
    visited and how it ended ('goal', 'lava' or 'time limit'). Ties go to the lowest action index."""
    s, total, path = grid.find("S"), 0.0, [grid.find("S")]
    for t in range(grid.max_steps):
        s, r, terminated = grid.step(s, int(np.argmax(table[s])))
        total += gamma**t * r
        path.append(s)
        if terminated:
            return total, path, "lava" if grid.cell(s) == "L" else "goal"
    return total, path, "time limit"


@dataclass(frozen=True)
class OfflineConfig:
    dataset: DatasetKind = "medium"
    """Which behaviour policy logged the data: random, medium (safe detour) or expert (shortest path)."""
    episodes: int = 50
    """Episodes in the log."""
    epsilon: float = 0.2
    """Chance the medium and expert behaviour policies take a random action."""
    alpha: float = 1.0
    """CQL's weight on the conservative penalty."""
    gamma: float = 0.99
    lr: float = 0.5
    sweeps: int = 50
    """Passes over the log."""
    seed: int = 0


def compare(config: OfflineConfig) -> dict[str, object]:
    """Log a dataset, train BC, naive Q-learning and CQL on it, play each greedily in the real grid."""
    grid = LavaGrid()
    data = collect_dataset(grid, config.dataset, config.episodes, config.epsilon, config.seed)
    start = grid.find("S")
    learned = {
        "behaviour cloning": behaviour_cloning(data, grid.n_states),
        "naive Q-learning": offline_q_learning(
            data, grid.n_states, alpha=0.0, gamma=config.gamma, lr=config.lr, sweeps=config.sweeps, seed=config.seed
        ),
        "CQL": offline_q_learning(
            data,
            grid.n_states,
            alpha=config.alpha,
            gamma=config.gamma,
            lr=config.lr,
            sweeps=config.sweeps,
            seed=config.seed,
        ),
    }
    seen = behaviour_cloning(data, grid.n_states) > 0
    methods: dict[str, dict[str, object]] = {}
    for name, table in learned.items():
        ret, path, end = rollout(grid, table)
        row: dict[str, object] = {"return": ret, "end": end, "steps": len(path) - 1, "path": path}
        if name != "behaviour cloning":
            row["discounted_return"] = rollout(grid, table, config.gamma)[0]
            a = int(np.argmax(table[start]))
            row["estimated_start_value"] = float(table[start, a])
            row["unlogged_greedy_steps"] = int(sum(not seen[s, int(np.argmax(table[s]))] for s in path[:-1]))
        methods[name] = row
    return {
        "config": asdict(config),
        "transitions": len(data["actions"]),
        "behaviour_return_mean": float(data["episode_returns"].mean()),
        "logged_pairs": int(seen.sum()),
        "all_pairs": int(seen.size),
        "methods": methods,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.offline", description=__doc__.splitlines()[0])
    defaults = OfflineConfig()
    parser.add_argument("--dataset", choices=("random", "medium", "expert"), default=defaults.dataset)
    parser.add_argument("--episodes", type=int, default=defaults.episodes)
    parser.add_argument("--epsilon", type=float, default=defaults.epsilon)
    parser.add_argument("--alpha", type=float, default=defaults.alpha, help="CQL's penalty weight")
    parser.add_argument("--gamma", type=float, default=defaults.gamma)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--sweeps", type=int, default=defaults.sweeps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--save", default=None, help="also write the logged dataset as npz here")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.sweeps < 1 or not 0.0 <= args.epsilon <= 1.0 or args.alpha < 0.0:
        parser.error("episodes and sweeps must be at least 1, epsilon within [0, 1], alpha at least 0")
    started = time.perf_counter()
    config = OfflineConfig(
        args.dataset, args.episodes, args.epsilon, args.alpha, args.gamma, args.lr, args.sweeps, args.seed
    )
    out = compare(config)
    if args.save:
        grid = LavaGrid()
        save_dataset(collect_dataset(grid, config.dataset, config.episodes, config.epsilon, config.seed), args.save)
    print(
        f"{config.dataset} log: {out['transitions']} transitions, behaviour return {out['behaviour_return_mean']:.1f}, "
        f"{out['logged_pairs']} of {out['all_pairs']} (state, action) pairs logged"
    )
    for name, row in out["methods"].items():  # type: ignore[union-attr]
        estimate = (
            f", estimated start value {row['estimated_start_value']:.1f}" if "estimated_start_value" in row else ""
        )
        print(f"{name}: greedy return {row['return']:.0f} ({row['end']} after {row['steps']} steps){estimate}")
    out["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
