"""The training loop the offline LM stages share: SFT, the reward model, DPO and KTO.

Each stage writes only what differs, its `step`: the loss of one batch (and, on the steps that are
reported, its own metrics). The loop around it is written once: AdamW with a linear warm-up and
decay, gradient-norm clipping, progress reports through `on_update`, and Stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from algorithms.contract import Metrics, OnUpdate, ShouldStop, ignore_metrics, never_stop
from algorithms.lm.optim import make_optimizer


@dataclass(frozen=True)
class TrainSettings:
    """How an offline stage trains: the same fields for SFT, the reward model, DPO and KTO."""

    epochs: int = 1
    """Passes over the training data."""
    batch_size: int = 64
    """Examples per gradient step (pairs for the reward model and DPO)."""
    lr: float = 1e-4
    """Peak learning rate of AdamW: a linear warm-up over the first 5% of steps, then a linear decay to 0."""
    max_grad_norm: float = 1.0
    """Gradients are rescaled to at most this global L2 norm before each step."""
    log_every: int = 10
    """Report metrics every this many steps, and at the last one."""


# A step: one batch -> (loss to minimise, metrics(step, seconds) called only on the steps that are reported).
Step = Callable[[Any], tuple[Tensor, Callable[[int, float], Metrics]]]


def train_loop(
    model: torch.nn.Module,
    step: Step,
    epoch_batches: Callable[[], Iterable[Any]],
    steps_per_epoch: int,
    settings: TrainSettings,
    *,
    params: list[torch.nn.Parameter] | None = None,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
) -> dict[str, float]:
    """Train `model` in place; `epoch_batches()` is called at the start of each epoch (shuffle there).

    params: what the optimiser updates (default: all of the model's parameters). Returns the number
    of steps taken, the last batch's loss and the seconds spent; the model is left in eval mode.
    """
    params = list(model.parameters()) if params is None else params
    total = settings.epochs * steps_per_epoch
    optimizer, scheduler = make_optimizer(params, settings.lr, total)
    model.train()
    start, n, loss = time.perf_counter(), 0, torch.tensor(float("nan"))
    for _ in range(settings.epochs):
        for batch in epoch_batches():
            loss, metrics = step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            n += 1
            if n % settings.log_every == 0 or n == total:
                on_update({"progress": n / total, "global_step": n, **metrics(n, time.perf_counter() - start)})
            if should_stop():
                break
        if should_stop():
            break
    model.eval()
    return {"steps": n, "final_loss": loss.item(), "seconds": time.perf_counter() - start}
