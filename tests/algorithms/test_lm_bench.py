"""bench/dpo_vs_trl.py: both sides train the same number of steps and report comparable numbers."""

from __future__ import annotations

import json
import math

import pytest


@pytest.mark.slow
def test_dpo_vs_trl_runs_both_sides(capsys) -> None:
    """About 10 s of CPU, most of it importing trl and building its trainer."""
    from bench.dpo_vs_trl import main, preference_pairs

    pairs = preference_pairs(6, seed=1)
    assert len(pairs) == 6 and all(c != r for _, c, r in pairs)
    assert main(["--steps", "2", "--batch", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ours_steps"] == result["trl_steps"] == 2
    for key in ("ours_seconds_per_step", "trl_seconds_per_step", "ours_final_loss", "trl_final_loss"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    # Two steps from the same start on the same pairs: both losses move off ln 2 by a similar amount.
    assert abs(result["ours_final_loss"] - result["trl_final_loss"]) < 0.1


def test_gpu_bench_without_cuda_says_so_and_exits_0(monkeypatch, capsys) -> None:
    import torch

    from bench.gpu import NO_GPU, main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([]) == 0
    assert capsys.readouterr().out.strip() == NO_GPU
    assert main(["--device", "cuda"]) == 0  # asked for CUDA and there is none: the same polite line


def test_gpu_bench_mfu_is_six_n_tokens_over_the_peak() -> None:
    from bench.gpu import mfu, peak_flops

    assert peak_flops("NVIDIA H200") == 989e12 and peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("Some Future GPU") is None
    assert mfu(25_000_000, 1_000_000, 989e12) == round(6 * 25e6 * 1e6 / 989e12, 4)  # 0.1517
    assert mfu(25_000_000, None, 989e12) is None and mfu(25_000_000, 1e6, None) is None


@pytest.mark.slow
def test_gpu_bench_smoke_on_the_cpu_runs_every_part(capsys) -> None:
    """The path a GPU machine takes, on tiny settings: LM chain, GRPO, PPO on CartPole; one JSON object last."""
    from bench.gpu import main

    assert main(["--device", "cpu", "--smoke", "--skip", "hopper"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["device"] == "cpu" and result["smoke"] is True
    lm = result["lm"]
    assert lm["parameters"] > 0 and lm["sft_tokens_per_second"] > 0 and lm["sft_mfu"] is None  # no peak on a CPU
    assert math.isfinite(lm["sft_valid_loss"]) and 0.0 <= lm["dpo"]["win_rate_vs_sft"] <= 1.0
    assert 0.0 <= result["grpo"]["accuracy_after"] <= 1.0 and result["grpo"]["grpo_seconds"] > 0
    assert result["ppo"]["total_steps"] >= 2048 and math.isfinite(result["ppo"]["eval_return_mean"])
    assert "hopper" not in result or "skipped" in result["hopper"]
