"""The LM stages' optimisers: AdamW with a short linear warm-up and a linear decay for the supervised
stages (SFT, the reward model, DPO, KTO), and AdamW at a constant rate for the RL stages (PPO, GRPO)."""

from __future__ import annotations

import torch


def make_optimizer(model_or_params, lr: float, total_steps: int, warmup: float = 0.05, weight_decay: float = 0.0):
    params = model_or_params.parameters() if hasattr(model_or_params, "parameters") else model_or_params
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def constant_adamw(params, lr: float) -> torch.optim.AdamW:
    """AdamW at the constant rate `lr`, no weight decay: PPO's and GRPO's optimiser. Each iteration
    trains on rollouts of the current policy, so no schedule is tied to a step count, and the rate
    in use is the rate asked for."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
