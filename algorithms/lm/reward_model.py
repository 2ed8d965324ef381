"""Stage 3, the reward model: the SFT backbone plus a scalar head, trained on comparisons.

`AutoModelForSequenceClassification` with one label is exactly that: GPT-2's transformer, a linear
"score" head, read at the last non-padding token (the <eos> of a finished review). It is trained
with the Bradley-Terry loss on (chosen, rejected) pairs; only score differences are learned, so
after training we shift and scale its scores to mean 0, std 1 under the SFT policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from algorithms.batching import least_padding_batches
from algorithms.contract import OnUpdate, ShouldStop, ignore_metrics, never_stop
from algorithms.lm.loop import TrainSettings, train_loop
from algorithms.lm.model import PASS_COST_TOKENS, autocast
from algorithms.lm.preferences import Pairs
from algorithms.losses import bradley_terry_loss

NORMALISER_FILE = "reward_normaliser.json"


@dataclass(frozen=True)
class Normaliser:
    mean: float = 0.0
    std: float = 1.0

    def __call__(self, scores: Tensor) -> Tensor:
        return (scores - self.mean) / self.std

    def save(self, folder: str | Path) -> None:
        (Path(folder) / NORMALISER_FILE).write_text(json.dumps({"mean": self.mean, "std": self.std}))

    @classmethod
    def load(cls, folder: str | Path) -> Normaliser:
        path = Path(folder) / NORMALISER_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


def reward_scores(reward_model, prompt: Tensor, completion: Tensor, batch_size: int = 512) -> Tensor:
    """r(x, y) for each row, (N,): the head's output at the last non-pad token of prompt + completion.

    Rows are scored in passes of similar length, each cut to its longest completion (on the CPU split
    at the least cost, as `token_logprobs` does; on a GPU in batches of `batch_size`): random batches
    would be mostly padding."""
    pad = reward_model.config.pad_token_id
    T = completion.shape[1]
    # Up to the last non-pad token, not the count of them: a sampled <pad> inside a completion is a
    # token like any other, and cutting before the <eos> after it would change the score.
    positions = torch.arange(1, T + 1, device=completion.device)
    ends = (completion.ne(pad).long() * positions).amax(1) if T else positions.new_zeros(len(completion))
    if completion.device.type == "cpu":
        lengths = (ends + prompt.shape[1]).tolist()
        groups = [torch.tensor(g) for g in least_padding_batches(lengths, PASS_COST_TOKENS, most=batch_size)]
    else:
        groups = list(torch.argsort(ends, stable=True).split(batch_size))
    out = []
    for rows in groups:
        width = max(1, int(ends[rows].max())) if T else 0  # drop the padding columns every row shares
        ids = torch.cat([prompt[rows], completion[rows][:, :width]], dim=1)
        out.append(reward_model(input_ids=ids).logits.squeeze(-1).float())
    return torch.cat(out)[torch.argsort(torch.cat(groups))]


def pair_accuracy(reward_model, pairs: Pairs) -> float:
    """Share of pairs where the model scores the chosen completion higher."""
    with torch.no_grad():
        chosen = reward_scores(reward_model, pairs.prompt, pairs.chosen)
        rejected = reward_scores(reward_model, pairs.prompt, pairs.rejected)
    return float((chosen > rejected).float().mean())


def train_reward_model(
    reward_model,
    train: Pairs,
    test: Pairs,
    settings: TrainSettings,
    *,
    device: str,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
) -> dict[str, float]:
    """Bradley-Terry on (chosen, rejected) pairs; returns the last loss and the pair accuracies after training."""

    def step(batch: Pairs):
        # lesson:start reward-model-step
        with autocast(device):  # chosen and rejected in one forward pass: rows 0..B-1, then B..2B-1
            scores = reward_scores(
                reward_model, torch.cat([batch.prompt, batch.prompt]), torch.cat([batch.chosen, batch.rejected])
            )
        r_chosen, r_rejected = scores.chunk(2)  # (B,), (B,)
        loss = bradley_terry_loss(r_chosen, r_rejected)  # -mean ln sigma(r_w - r_l)
        # lesson:end reward-model-step

        def metrics(_n: int, _seconds: float) -> dict[str, float]:
            return {
                "losses/reward_model": loss.item(),
                "charts/train_accuracy": float((r_chosen > r_rejected).float().mean()),
            }

        return loss, metrics

    size = settings.batch_size
    steps_per_epoch = max(1, len(train) // size)

    def epoch_batches():
        order = torch.randperm(len(train), device=train.prompt.device)
        return (train.subset(order[i * size : (i + 1) * size]) for i in range(steps_per_epoch))

    info = train_loop(
        reward_model, step, epoch_batches, steps_per_epoch, settings, on_update=on_update, should_stop=should_stop
    )
    return {
        "train_loss": info["final_loss"],
        "train_accuracy": pair_accuracy(reward_model, train.subset(torch.arange(min(len(train), 1000)))),
        "test_accuracy": pair_accuracy(reward_model, test),
        "steps": info["steps"],
        "seconds": info["seconds"],
    }


@torch.no_grad()
def fit_normaliser(reward_model, prompt: Tensor, completion: Tensor) -> Normaliser:
    """Mean 0, std 1 under the policy that made these samples (the SFT model)."""
    scores = reward_scores(reward_model, prompt, completion)
    return Normaliser(float(scores.mean()), float(scores.std().clamp(min=1e-6)))
