"""Benchmark: our DQN against Stable-Baselines3's DQN on CartPole-v1, in the same run.

The question: with the same hyperparameters and seeds, how long does each take per 1,000
environment steps, and how good is the greedy policy at the end?

- ours: ``algorithms.dqn.train`` with ``DQNConfig`` set to SB3's algorithm: plain DQN targets
  (``double_dqn=False``; SB3's DQN has no double-DQN option) and no evaluations during training
  (``checkpoint_eval_interval=0``: the last network is the result, as for SB3);
- the peer: Stable-Baselines3's DQN with the same settings, which are the RL Baselines3 Zoo's tuned
  CartPole-v1 DQN (hyperparams/dqn.yml) at our learning rate: 5e4 steps, a 256-256 ReLU network,
  Adam at 1e-3, batch 64, replay memory 1e5, learning starts 1000, gamma 0.99, a round of 128
  minibatch updates every 256 steps, the target network copied every 10 steps, epsilon from 1 to
  0.04 over the first 16% of the steps, gradient norm clipped at 10, Huber loss. Both store
  ``terminated`` (not ``terminated or truncated``) and bootstrap through CartPole's time limit.

Both run on the CPU with one torch thread, in the same process, seed by seed, alternating which
goes first. Each clock starts when training starts and stops when it ends (SB3: its callback's
``_on_training_start`` and ``_on_training_end``; ours: ``train_seconds``, which includes building
the environment and the networks, a few milliseconds). Then the same evaluator plays 20 greedy
(argmax Q) episodes with each final network, from the same start states (seeds seed + 1e6 ...).
torch's compiler module, imported lazily when the first optimizer is built (about a second), is
imported before any clock runs, so neither side pays it.

Stable-Baselines3 is not a dependency of RL Dojo. Without it, the script says how to install it
and exits (status 0) after timing ours only::

    pip install stable-baselines3      # the peer only; not in requirements.txt

    python -m bench.dqn_cartpole [--seeds 1,2,3,4,5] [--steps 50000] [--ours-only | --peer-only] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/dqn_cartpole.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from algorithms.contract import configure_cpu_threads
from algorithms.dqn import DQNConfig, train
from algorithms.reinforce import evaluate
from bench.ppo_cartpole import have_sb3, load, machine

EVAL_EPISODES = 20
EVAL_SEED_OFFSET = 1_000_000  # the final evaluation's start states, as in algorithms.dqn.train


def matched_config(seed: int, steps: int) -> DQNConfig:
    """Our DQN configured as SB3's: everything else is DQNConfig's default (the Zoo's settings)."""
    return DQNConfig(
        seed=seed,
        total_timesteps=steps,
        double_dqn=False,
        checkpoint_eval_interval=0,
        eval_episodes=EVAL_EPISODES,
        device="cpu",
    )


def run_ours(seed: int, steps: int) -> dict[str, Any]:
    config = matched_config(seed, steps)
    cpu_started = time.process_time()
    cpu_at_end: list[float] = []

    def on_update(metrics: dict[str, float]) -> None:
        if metrics["global_step"] >= config.total_timesteps:  # the last report: training is over
            cpu_at_end.append(time.process_time() - cpu_started)

    m = train(config, on_update=on_update).metrics
    cpu = cpu_at_end[0] if cpu_at_end else time.process_time() - cpu_started  # without the final evaluation
    return {
        "train_seconds": m["train_seconds"],
        "cpu_seconds": cpu,
        "total_steps": int(m["total_steps"]),
        "updates": int(m["updates"]),
        "eval_return_mean": m["eval_return_mean"],
        "eval_return_std": m["eval_return_std"],
        "train_return_mean100": m.get("charts/episodic_return_mean100"),
    }


def run_sb3(seed: int, steps: int) -> dict[str, Any]:
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.started = self.cpu_started = self.seconds = self.cpu_seconds = 0.0

        def _on_training_start(self) -> None:
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

        def _on_step(self) -> bool:
            return True

        def _on_training_end(self) -> None:
            self.seconds = time.perf_counter() - self.started
            self.cpu_seconds = time.process_time() - self.cpu_started

    c = matched_config(seed, steps)
    env = gym.make(c.env_id)
    model = DQN(
        "MlpPolicy",
        env,
        learning_rate=c.lr,
        buffer_size=c.buffer_size,
        learning_starts=c.learning_starts,
        batch_size=c.batch_size,
        tau=c.tau,
        gamma=c.gamma,
        train_freq=c.train_freq,
        gradient_steps=c.gradient_steps,
        target_update_interval=c.target_update_interval,
        exploration_fraction=c.exploration_fraction,
        exploration_initial_eps=c.exploration_initial_eps,
        exploration_final_eps=c.exploration_final_eps,
        max_grad_norm=c.max_grad_norm,
        policy_kwargs={"net_arch": list(c.hidden_sizes)},  # ReLU, as ours
        seed=seed,
        device="cpu",
        verbose=0,
    )
    clock = Clock()
    model.learn(total_timesteps=steps, callback=clock)
    env.close()
    model.q_net.eval()
    # SB3's QNetwork maps observations to Q-values, as our network does: the same greedy evaluator.
    eval_mean, eval_std = evaluate(model.q_net, c.env_id, EVAL_EPISODES, seed + EVAL_SEED_OFFSET)
    window = [e["r"] for e in model.ep_info_buffer]
    return {
        "train_seconds": clock.seconds,
        "cpu_seconds": clock.cpu_seconds,
        "total_steps": int(model.num_timesteps),
        "updates": int(model._n_updates),
        "eval_return_mean": eval_mean,
        "eval_return_std": eval_std,
        "train_return_mean100": statistics.mean(window) if window else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dqn_cartpole", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds (default: 1,2,3,4,5)")
    parser.add_argument("--steps", type=int, default=DQNConfig.total_timesteps, help="environment steps per run")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--ours-only", action="store_true", help="skip the peer even when it is installed")
    side.add_argument("--peer-only", action="store_true", help="run Stable-Baselines3 only")
    parser.add_argument("--json", action="store_true", help="print one JSON object of all results, last")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    peer = have_sb3() and not args.ours_only
    if not peer and not args.ours_only:
        print("Stable-Baselines3 is not installed, so there is nothing to compare against: timing ours only.")
        print("To compare, install the peer (it is not in requirements.txt):")
        print("    pip install stable-baselines3")
    if args.peer_only and not peer:
        return 0
    configure_cpu_threads()  # one torch thread for both sides
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's lazy import of its compiler, before any clock
    print(f"machine: {machine()}; load average {load()} at the start", flush=True)
    print(f"{args.steps} steps per run, seeds {seeds}, {EVAL_EPISODES} greedy evaluation episodes each", flush=True)

    results: dict[str, list[dict[str, Any]]] = {"ours": [], "sb3": []}
    for i, seed in enumerate(seeds):
        sides = [s for s in ("ours", "sb3") if (s == "sb3" and peer) or (s == "ours" and not args.peer_only)]
        for side_name in sides if i % 2 == 0 else sides[::-1]:
            r = run_ours(seed, args.steps) if side_name == "ours" else run_sb3(seed, args.steps)
            r["seconds_per_1k_steps"] = 1000 * r["train_seconds"] / r["total_steps"]
            r["cpu_seconds_per_1k_steps"] = 1000 * r["cpu_seconds"] / r["total_steps"]
            results[side_name].append({"seed": seed, "load": load(), **r})
            print(
                f"seed {seed}  {side_name:<4}  {r['train_seconds']:6.1f} s wall ({r['seconds_per_1k_steps']:.3f} s"
                f" per 1k steps), {r['cpu_seconds']:6.1f} s CPU, {r['updates']} updates;"
                f"  evaluation {r['eval_return_mean']:.1f} +- {r['eval_return_std']:.1f}"
                f"  (load {load()})",
                flush=True,
            )

    summary: dict[str, Any] = {"machine": machine(), "load_at_end": load(), "seeds": seeds, "steps": args.steps}
    for side_name, rows in results.items():
        if not rows:
            continue
        per_1k = [r["seconds_per_1k_steps"] for r in rows]
        evals = [r["eval_return_mean"] for r in rows]
        summary[side_name] = {
            "median_seconds_per_1k_steps": statistics.median(per_1k),
            "mean_eval_return": statistics.mean(evals),
            "eval_500": f"{sum(e == 500.0 for e in evals)}/{len(evals)}",
            "runs": rows,
        }
        print(
            f"{side_name:<4}: median {statistics.median(per_1k):.3f} s per 1k steps;"
            f" evaluation mean {statistics.mean(evals):.1f}, 500 on {sum(e == 500.0 for e in evals)}/{len(evals)} seeds"
        )
    if results["ours"] and results["sb3"]:
        ours_total = sum(r["train_seconds"] for r in results["ours"])
        sb3_total = sum(r["train_seconds"] for r in results["sb3"])
        ratio = ours_total / sb3_total
        cpu_ratio = sum(r["cpu_seconds"] for r in results["ours"]) / sum(r["cpu_seconds"] for r in results["sb3"])
        summary |= {"ratio_ours_over_sb3": ratio, "cpu_ratio_ours_over_sb3": cpu_ratio}
        print(
            f"ratio ours / SB3 (total wall time over {len(seeds)} seeds): {ratio:.2f}  (SB3 / ours: {1 / ratio:.2f}x)"
        )
        print(f"ratio ours / SB3 in CPU time (steadier on a shared machine): {cpu_ratio:.2f}")
    print(f"load average {load()} at the end")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
