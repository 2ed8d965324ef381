"""Benchmark: our PPO against Stable-Baselines3's PPO on CartPole-v1, in the same run.

The question (the issue's target): how long, in wall-clock seconds, until the mean return of the
last 100 training episodes reaches CartPole-v1's threshold of 475?

- ours: ``algorithms.ppo.train`` with its default config (``PPOConfig()``), which also plays 20
  deterministic evaluation episodes after its budget;
- the peer: Stable-Baselines3's PPO with the RL Baselines3 Zoo's tuned CartPole-v1 settings
  (hyperparams/ppo.yml): 8 environments, n_steps 32, batch_size 256, gae_lambda 0.8, gamma 0.98,
  n_epochs 20, ent_coef 0.0, learning rate linear from 0.001, clip range linear from 0.2, 1e5 steps,
  and SB3's default MlpPolicy (separate 64-64 tanh actor and critic, orthogonal init).

Both run with one torch thread, on the CPU, seed by seed, alternating which goes first. Each clock
starts when training starts (SB3: the callback's ``_on_training_start``; ours: the first environment
step) and stops at the first step where the last 100 episodes average 475 or more. The peer stops
there; ours trains on for its whole budget and is then evaluated. torch's compiler module, which
torch imports lazily when the first optimizer is built (about a second), is imported once before
any clock runs, so neither side pays it.

Stable-Baselines3 is not a dependency of RL Dojo. Without it, only ours runs; to compare::

    pip install stable-baselines3      # the `bench` extra; not in requirements.txt

    python -m bench.ppo_cartpole [--seeds 1,2,3,4,5] [--peer-only | --ours-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/ppo_cartpole.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from algorithms.contract import configure_cpu_threads
from algorithms.ppo import PPOConfig, train

THRESHOLD = 475.0
ZOO_CARTPOLE = {  # rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1 (the schedules are linear in progress)
    "n_envs": 8,
    "n_timesteps": 100_000,
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": 0.001,
    "clip_range": 0.2,
}


def have_sb3() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def run_ours(seed: int) -> dict[str, Any]:
    cpu: dict[str, float] = {}
    cpu_started = time.process_time()

    def on_update(metrics: dict[str, float]) -> None:
        # Checked once per iteration (512 steps), so this CPU time is a little late: it favours the peer.
        reached = metrics.get("charts/episodic_return_mean100", 0.0) >= THRESHOLD and metrics["charts/episodes"] >= 100
        if reached and "at_threshold" not in cpu:
            cpu["at_threshold"] = time.process_time() - cpu_started

    started = time.perf_counter()
    m = train(PPOConfig(seed=seed), on_update=on_update).metrics
    return {
        "seconds_to_threshold": m["seconds_to_threshold"],
        "cpu_seconds_to_threshold": cpu.get("at_threshold"),
        "steps_to_threshold": m["steps_to_threshold"],
        "eval_return_mean": m["eval_return_mean"],
        "eval_return_std": m["eval_return_std"],
        "train_seconds": m["train_seconds"] - m["setup_seconds"],
        "total_steps": m["total_steps"],
        "wall_seconds": time.perf_counter() - started,
    }


def run_sb3(seed: int) -> dict[str, Any]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class TimeToThreshold(BaseCallback):
        """Wall time and steps until the 100-episode mean of SB3's Monitor returns reaches the threshold."""

        def __init__(self) -> None:
            super().__init__()
            self.started = self.cpu_started = 0.0
            self.seconds: float | None = None
            self.cpu_seconds: float | None = None
            self.steps: int | None = None

        def _on_training_start(self) -> None:
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

        def _on_step(self) -> bool:
            if not self.locals["dones"].any():  # the window only changes when an episode ends
                return True
            window = self.model.ep_info_buffer  # deque of the last 100 episodes
            if len(window) == window.maxlen and sum(e["r"] for e in window) / len(window) >= THRESHOLD:
                self.seconds = time.perf_counter() - self.started
                self.cpu_seconds = time.process_time() - self.cpu_started
                self.steps = self.num_timesteps
                return False  # stop: the rest of the budget is not part of the comparison
            return True

    z = ZOO_CARTPOLE
    started = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=z["n_envs"], seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=z["n_steps"],
        batch_size=z["batch_size"],
        gae_lambda=z["gae_lambda"],
        gamma=z["gamma"],
        n_epochs=z["n_epochs"],
        ent_coef=z["ent_coef"],
        learning_rate=lambda progress_remaining: progress_remaining * z["learning_rate"],
        clip_range=lambda progress_remaining: progress_remaining * z["clip_range"],
        seed=seed,
        device="cpu",
        verbose=0,
    )
    timer = TimeToThreshold()
    model.learn(total_timesteps=z["n_timesteps"], callback=timer)
    env.close()
    return {
        "seconds_to_threshold": timer.seconds,
        "cpu_seconds_to_threshold": timer.cpu_seconds,
        "steps_to_threshold": timer.steps,
        "wall_seconds": time.perf_counter() - started,
    }


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, torch {torch.__version__}"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "never" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ppo_cartpole", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds (default: 1,2,3,4,5)")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--ours-only", action="store_true", help="skip the peer even when it is installed")
    side.add_argument("--peer-only", action="store_true", help="run Stable-Baselines3 only")
    parser.add_argument("--json", action="store_true", help="print one JSON object of all results, last")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    peer = have_sb3() and not args.ours_only
    if not peer and not args.ours_only:
        print("Stable-Baselines3 is not installed: timing ours only. To compare, install the bench extra")
        print("(the peer only; it is not in requirements.txt):")
        print("    pip install stable-baselines3")
    if args.peer_only and not peer:
        return 1
    configure_cpu_threads()  # one torch thread for both sides
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's lazy import of its compiler, before any clock
    print(f"machine: {machine()}; load average {load()} at the start")

    results: dict[str, list[dict[str, Any]]] = {"ours": [], "sb3": []}
    for i, seed in enumerate(seeds):
        sides = [s for s in ("ours", "sb3") if (s == "sb3" and peer) or (s == "ours" and not args.peer_only)]
        for side_name in sides if i % 2 == 0 else sides[::-1]:
            r = run_ours(seed) if side_name == "ours" else run_sb3(seed)
            results[side_name].append({"seed": seed, **r})
            steps = r["steps_to_threshold"]
            line = (
                f"seed {seed}  {side_name:<4}  475 after {_fmt(r['seconds_to_threshold'])} s"
                f" (CPU {_fmt(r['cpu_seconds_to_threshold'])} s, {'never' if steps is None else steps} steps)"
            )
            if side_name == "ours":
                line += f"  evaluation {r['eval_return_mean']:.1f} +- {r['eval_return_std']:.1f}"
            print(line, flush=True)

    summary: dict[str, Any] = {"machine": machine(), "load_at_end": load(), "seeds": seeds}
    for side_name, rows in results.items():
        if not rows:
            continue
        times = [r["seconds_to_threshold"] for r in rows]
        reached = [t for t in times if t is not None]
        summary[side_name] = {
            "reached": f"{len(reached)}/{len(rows)}",
            "median_seconds": statistics.median(reached) if reached else None,
            "mean_seconds": statistics.mean(reached) if reached else None,
            "runs": rows,
        }
        print(
            f"{side_name:<4}: reached 475 on {len(reached)}/{len(rows)} seeds;"
            f" median {_fmt(summary[side_name]['median_seconds'])} s, mean {_fmt(summary[side_name]['mean_seconds'])} s"
        )
    if results["ours"]:
        perfect = sum(r["eval_return_mean"] == 500.0 for r in results["ours"])
        print(f"ours: evaluation return 500 (20 deterministic episodes) on {perfect}/{len(results['ours'])} seeds")
    if results["ours"] and results["sb3"]:
        pairs = [
            (o["seconds_to_threshold"], p["seconds_to_threshold"])
            for o, p in zip(results["ours"], results["sb3"], strict=True)
            if o["seconds_to_threshold"] is not None and p["seconds_to_threshold"] is not None
        ]
        if pairs:
            ratio = sum(o for o, _ in pairs) / sum(p for _, p in pairs)
            summary["ratio_ours_over_sb3"] = ratio
            print(
                f"ratio ours / SB3 (total wall time to 475 over {len(pairs)} seeds): {ratio:.2f}"
                f"  (SB3 / ours: {1 / ratio:.1f}x)"
            )
        cpu_pairs = [
            (o["cpu_seconds_to_threshold"], p["cpu_seconds_to_threshold"])
            for o, p in zip(results["ours"], results["sb3"], strict=True)
            if o["cpu_seconds_to_threshold"] is not None and p["cpu_seconds_to_threshold"] is not None
        ]
        if cpu_pairs:
            cpu_ratio = sum(o for o, _ in cpu_pairs) / sum(p for _, p in cpu_pairs)
            summary["cpu_ratio_ours_over_sb3"] = cpu_ratio
            print(f"ratio ours / SB3 in CPU time (steadier on a shared machine): {cpu_ratio:.2f}")
    print(f"load average {load()} at the end")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
