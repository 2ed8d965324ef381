"""Everything that should run on a GPU, in one command, with one JSON object of figures last.

    python -m bench.gpu                      # on a machine with CUDA: the `gpu` presets, a few minutes
    python -m bench.gpu --device cpu --smoke # the same script on tiny settings: what CI runs

What it runs, each timed:
1. the LM chain SFT -> preferences -> reward model -> DPO on the `gpu` preset (about 25 M parameters,
   bf16 autocast), with SFT's tokens per second and its model FLOPs utilisation (MFU: 6 N tokens/s
   over the GPU's peak dense bf16 FLOP/s, when the GPU is one we know);
2. GRPO from that SFT model against the verifiable reward (`algorithms.lm.grpo`, `gpu` preset);
3. PPO live runs: CartPole-v1, and Hopper-v5 with many environments when MuJoCo is installed, each
   with its time to the return threshold and its final evaluation.

Without CUDA (and without `--device cpu`) it prints one line saying so and exits 0: nothing to measure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

NO_GPU = "no GPU: CUDA is not available here, so there is nothing to measure (--device cpu --smoke checks the script)"

PEAK_BF16_FLOPS = {  # dense bf16 tensor-core peak, FLOP/s, from the vendors' data sheets
    "H200": 989e12,
    "H100": 989e12,  # SXM; the PCIe card is lower (756e12)
    "A100": 312e12,
    "L4": 121e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
}


def peak_flops(device_name: str) -> float | None:
    """The peak bf16 FLOP/s of a GPU we know by name, else None (then MFU is not reported)."""
    for name, flops in PEAK_BF16_FLOPS.items():
        if name.lower() in device_name.lower():
            return flops
    return None


def mfu(parameters: int, tokens_per_second: float | None, peak: float | None) -> float | None:
    """Model FLOPs utilisation of training: 6 N FLOPs per token (forward 2N, backward 4N) over the peak."""
    if not tokens_per_second or not peak:
        return None
    return round(6 * parameters * tokens_per_second / peak, 4)


def lm_chain(preset: str, device: str, cache: str, peak: float | None) -> dict[str, Any]:
    """SFT, preferences, reward model and DPO: the stages' seconds, SFT's tokens/s and MFU, DPO's evaluation."""
    from algorithms.lm.pipeline import run_chain

    rates: list[float] = []

    def on_update(metrics: dict[str, float]) -> None:
        if "charts/tokens_per_second" in metrics:
            rates.append(metrics["charts/tokens_per_second"])

    start = time.perf_counter()
    result = run_chain(preset, seed=0, device=device, cache_dir=cache, on_update=on_update, stages=("dpo",))
    sft = result["sft"]
    tokens_per_second = rates[-1] if rates else None
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "parameters": sft["parameters"],
        "sft_seconds": sft["seconds"],
        "sft_valid_loss": sft["valid_loss"],
        "sft_tokens_per_second": round(tokens_per_second) if tokens_per_second else None,
        "sft_mfu": mfu(sft["parameters"], tokens_per_second, peak),
        "reward_model_test_accuracy": result["reward_model"]["test_accuracy"],
        "dpo_seconds": result["dpo"]["seconds"],
        "dpo": {k: result["dpo"][k] for k in ("reward_model_score", "hidden_score", "win_rate_vs_sft", "kl")},
    }


def grpo(preset: str, device: str, cache: str) -> dict[str, Any]:
    """GRPO from the chain's SFT model (cached in `cache`): accuracy before and after, KL, seconds."""
    from algorithms.lm.grpo import GRPOConfig, run_grpo

    result = run_grpo(GRPOConfig(preset=preset, device=device, cache_dir=cache))
    keys = ("accuracy_before", "accuracy_after", "kl", "mean_length_before", "mean_length_after", "grpo_seconds")
    return {k: result[k] for k in (*keys, "seconds")}


def ppo(env_id: str, device: str, smoke: bool, **overrides: Any) -> dict[str, Any]:
    """One PPO live run through the algorithms' contract: time to threshold and the final evaluation."""
    from algorithms.ppo import preset, train

    if smoke:
        overrides = {**overrides, "total_timesteps": 2048, "num_envs": 4}
    start = time.perf_counter()
    metrics = train(preset(env_id, device=device, **overrides)).metrics
    keep = ("seconds_to_threshold", "steps_to_threshold", "eval_return_mean", "eval_return_std", "total_steps")
    return {"seconds": round(time.perf_counter() - start, 1), **{k: metrics.get(k) for k in keep}}


def have_mujoco() -> bool:
    try:
        import mujoco  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="'auto' (CUDA, else stop), 'cuda' or 'cpu'")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: check that every part runs")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: lm, grpo, ppo, hopper")
    parser.add_argument("--ppo-seconds", type=float, default=120.0, help="time limit of each PPO run (the budget)")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if args.device in ("auto", "cuda") and not cuda:
        print(NO_GPU)
        return 0
    device = "cuda" if args.device == "auto" else args.device
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    peak = peak_flops(name) if device.startswith("cuda") else None
    lm_preset = "smoke" if args.smoke else "gpu"
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    summary: dict[str, Any] = {"device": device, "device_name": name, "smoke": args.smoke, "torch": torch.__version__}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rldojo-gpu-") as cache:
        parts = {
            "lm": lambda: lm_chain(lm_preset, device, cache, peak),
            "grpo": lambda: grpo(lm_preset, device, cache),
            "ppo": lambda: ppo("CartPole-v1", device, args.smoke, max_seconds=args.ppo_seconds),
        }
        if have_mujoco():
            parts["hopper"] = lambda: ppo("Hopper-v5", device, args.smoke, num_envs=64, max_seconds=args.ppo_seconds)
        else:
            summary["hopper"] = {"skipped": "MuJoCo is not installed"}
        for part, run in parts.items():
            if part in skip:
                continue
            print(f"--- {part}", flush=True)
            try:
                summary[part] = run()
            except Exception as exc:  # one part failing must not lose the figures of the others
                summary[part] = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(summary[part]), flush=True)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return 1 if any(isinstance(v, dict) and "error" in v for v in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
