"""Benchmark: the vectorized k-armed testbed against a plain Python loop, in the same run.

The workload is Figure 2.2 plus UCB (Sutton & Barto, ch. 2): agents eps:0, eps:0.01, eps:0.1 and
ucb:2, 2000 runs x 1000 steps, exactly what

    python -m algorithms.bandits testbed --runs 2000 --steps 1000 --agents eps:0,eps:0.01,eps:0.1,ucb:2 --seed 0 --json

computes. The peer is the textbook implementation: one run at a time, Python lists and the
`random` module, the same algorithms (sample averages, lowest-index ties, the same UCB rule).
It is timed on a subset of the runs and scaled linearly to all of them (runs are independent
and each costs the same), which the output says.

    python -m bench.bandits [--runs 2000] [--steps 1000] [--plain-runs 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/bandits.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from algorithms.bandits import run_testbed

AGENTS = ["eps:0", "eps:0.01", "eps:0.1", "ucb:2"]


def plain_run(label: str, steps: int, k: int, rnd: random.Random) -> tuple[list[float], list[bool]]:
    """One run of one agent, the way the book's pseudocode reads (S&B section 2.4 box)."""
    kind, value = label.split(":")
    param = float(value)
    q_star = [rnd.gauss(0.0, 1.0) for _ in range(k)]
    best = max(q_star)
    Q = [0.0] * k
    N = [0] * k
    rewards, optimal = [], []
    for t in range(1, steps + 1):
        if kind == "ucb":
            scores = [Q[a] + param * math.sqrt(math.log(t) / N[a]) if N[a] else math.inf for a in range(k)]
            A = max(range(k), key=scores.__getitem__)  # max returns the first maximum: lowest index
        elif rnd.random() < param:
            A = rnd.randrange(k)
        else:
            A = max(range(k), key=Q.__getitem__)
        R = rnd.gauss(q_star[A], 1.0)
        N[A] += 1
        Q[A] += (R - Q[A]) / N[A]
        rewards.append(R)
        optimal.append(q_star[A] == best)
    return rewards, optimal


def plain_testbed(runs: int, steps: int, k: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """{label: (avg_reward, optimal_pct, seconds)} from the plain loop over `runs` runs."""
    results = {}
    for label in AGENTS:
        rnd = random.Random(seed)
        reward_sum, optimal_sum = [0.0] * steps, [0] * steps
        tic = time.perf_counter()
        for _ in range(runs):
            rewards, optimal = plain_run(label, steps, k, rnd)
            for t in range(steps):
                reward_sum[t] += rewards[t]
                optimal_sum[t] += optimal[t]
        seconds = time.perf_counter() - tic
        results[label] = (np.array(reward_sum) / runs, 100.0 * np.array(optimal_sum) / runs, seconds)
    return results


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--plain-runs", type=int, default=100, help="runs the plain loop really does")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings of ours")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    k = 10

    print(f"machine: {_cpu_model()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"workload: {', '.join(AGENTS)}; {args.runs} runs x {args.steps} steps, k = {k}")

    ours_times = []
    for _ in range(args.repeat):
        tic = time.perf_counter()
        ours = run_testbed(AGENTS, args.runs, args.steps, args.seed, k)
        ours_times.append(time.perf_counter() - tic)
    ours_seconds = min(ours_times)
    print(f"ours (vectorized numpy, all {args.runs} runs): {ours_seconds:.3f} s  (best of {args.repeat}: ", end="")
    print(", ".join(f"{s:.3f}" for s in ours_times) + ")")

    plain = plain_testbed(args.plain_runs, args.steps, k, args.seed)
    plain_measured = sum(seconds for _, _, seconds in plain.values())
    plain_seconds = plain_measured * args.runs / args.plain_runs
    print(
        f"plain Python loop: {plain_measured:.3f} s for {args.plain_runs} runs, "
        f"scaled linearly to {args.runs} runs: {plain_seconds:.2f} s"
    )
    print(f"ratio (plain / ours): {plain_seconds / ours_seconds:.0f}x")

    print("agreement, mean over the last 100 steps (the plain loop's subset is noisier):")
    for label in AGENTS:
        avg, opt, _ = plain[label]
        print(
            f"  {label:9s} ours: reward {ours[label].avg_reward[-100:].mean():.3f}, "
            f"optimal {ours[label].optimal_pct[-100:].mean():5.1f}%   "
            f"plain: reward {avg[-100:].mean():.3f}, optimal {opt[-100:].mean():5.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
