"""Fixed-seed fingerprints of every registered RL algorithm, to prove a refactoring changed nothing.

Each case trains briefly (seconds) on the CPU with one torch thread and records what a run
produces that does not depend on the clock: the final metrics (minus timings), every report sent
to ``on_update`` (minus timings), and a hash of each checkpoint's tensors. Record before a change,
compare after. tests/data/fixed_seeds.json holds the fingerprints of the tree before issue 14's
reshaping (written on a 2-core x86 CPU, torch on one thread)::

    python -m bench.fixed_seeds --save /tmp/before.json
    python -m bench.fixed_seeds --compare tests/data/fixed_seeds.json      # exit 1 on any difference

Equal means bit-for-bit equal: torch on one CPU thread is deterministic for these networks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/fixed_seeds.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Keys that measure time (or depend on when a report happened), not what was learned.
TIMED = {
    "seconds",
    "train_seconds",
    "setup_seconds",
    "seconds_to_threshold",
    "charts/steps_per_second",
    "progress",
}
# A2C reports every 0.25 s: the episodes a report averages depend on the clock.
TIMED_REPORTS = {"a2c", "a2c-gae"}
REPORT_CHARTS = {"charts/episodic_return", "charts/episodic_length"}

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ppo": ("ppo", {"total_timesteps": 2048, "eval_episodes": 3, "checkpoint_every": 2}),
    "ppo-pendulum": (
        "ppo",
        {
            "env_id": "Pendulum-v1",
            "total_timesteps": 2048,
            "num_envs": 4,
            "num_steps": 128,
            "norm_obs": True,
            "norm_reward": True,
            "clip_vloss": True,
            "ent_coef": 0.01,
            "target_kl": 0.02,
            "eval_episodes": 2,
        },
    ),
    "a2c": ("a2c", {"total_timesteps": 2048, "eval_episodes": 3}),
    "a2c-gae": ("a2c", {"total_timesteps": 2048, "gae_lambda": 0.9, "norm_adv": True, "eval_episodes": 3}),
    "trpo": ("trpo", {"total_timesteps": 2048, "eval_episodes": 3}),
    "reinforce": ("reinforce", {"total_episodes": 40, "eval_episodes": 3}),
    "reinforce-truncated": (
        "reinforce",
        {"total_episodes": 24, "max_episode_steps": 30, "baseline": True, "entropy_coef": 0.01, "eval_episodes": 2},
    ),
    "dqn": (
        "dqn",
        {
            "total_timesteps": 2000,
            "learning_starts": 500,
            "train_freq": 64,
            "gradient_steps": 8,
            "eval_episodes": 3,
            "checkpoint_eval_interval": 500,
            "checkpoint_eval_episodes": 2,
            "log_interval": 250,
        },
    ),
    "sac": ("sac", {"total_timesteps": 600, "learning_starts": 200, "eval_episodes": 2, "log_interval": 100}),
    "debug-lab": ("debug-lab", {"total_timesteps": 2048, "eval_episodes": 3}),
    "debug-lab-masks": (
        "debug-lab",
        {
            "total_timesteps": 2048,
            "eval_episodes": 2,
            "bug_no_termination_mask": True,
            "bug_truncation_as_termination": True,
            "bug_wrong_sign": True,
            "bug_no_adv_norm": True,
        },
    ),
    "debug-lab-bugs": (
        "debug-lab",
        {
            "total_timesteps": 2048,
            "eval_episodes": 2,
            "bug_no_termination_mask": True,
            "bug_truncation_as_termination": True,
            "bug_log_prob_ratio": True,
            "bug_wrong_sign": True,
            "bug_no_adv_norm": True,
            "bug_lr_too_high": True,
        },
    ),
}


def _clean(metrics: dict[str, Any], drop: set[str]) -> dict[str, Any]:
    out = {}
    for key, value in sorted(metrics.items()):
        if key in drop:
            continue
        if isinstance(value, float) and math.isnan(value):
            value = "nan"
        out[key] = value
    return out


def _tensor_hash(obj: Any, digest: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        digest.update(obj.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            digest.update(str(key).encode())
            _tensor_hash(obj[key], digest)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _tensor_hash(item, digest)
    else:
        digest.update(repr(obj).encode())


def fingerprint(case: str) -> dict[str, Any]:
    import torch

    from algorithms import load

    torch.set_num_threads(1)
    name, settings = CASES[case]
    module, config_class, _spec = load(name)
    reports: list[dict[str, Any]] = []
    drop = TIMED | (REPORT_CHARTS if case in TIMED_REPORTS else set())
    with tempfile.TemporaryDirectory() as tmp:
        config = config_class(**settings, device="cpu", output_dir=tmp)
        try:
            result = module.train(config, on_update=lambda m: reports.append(_clean(m, drop)))
        except FloatingPointError as err:  # NonFiniteLossError: the message is part of the fingerprint
            return {"final": {"error": str(err)}, "reports": reports, "num_reports": len(reports), "checkpoints": {}}
        checkpoints = {}
        for path in sorted(Path(tmp).glob("*.pt")):
            digest = hashlib.sha256()
            _tensor_hash(torch.load(path, map_location="cpu", weights_only=False), digest)
            checkpoints[path.name] = digest.hexdigest()[:16]
    return {
        "final": _clean(result.metrics, drop),
        "reports": [] if case in TIMED_REPORTS else reports,
        "num_reports": None if case in TIMED_REPORTS else len(reports),
        "checkpoints": checkpoints,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write the fingerprints to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with fingerprints saved earlier; exit 1 on a difference")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of: " + ", ".join(CASES))
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    found = {}
    for case in cases:
        found[case] = fingerprint(case)
        final = found[case]["final"]
        print(f"{case:22s} steps {final.get('total_steps')}  eval {final.get('eval_return_mean')}", flush=True)
    if args.save:
        args.save.write_text(json.dumps(found, indent=1, sort_keys=True))
    if args.compare:
        before = json.loads(args.compare.read_text())
        now = json.loads(json.dumps(found))  # the same float formatting as the saved file
        differ = [c for c in cases if before.get(c) != now[c]]
        for case in differ:
            for part in ("final", "reports", "num_reports", "checkpoints"):
                if before[case][part] != now[case][part]:
                    print(f"DIFFERENT {case} {part}:\n  before {before[case][part]}\n  after  {now[case][part]}")
        print("all equal" if not differ else f"{len(differ)} of {len(cases)} cases differ", flush=True)
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
