"""Stage 1, supervised fine-tuning: next-token prediction on the review corpus.

For a real model this stage starts from a pretrained checkpoint and trains on demonstrations;
ours starts from scratch, so SFT doubles as pretraining. Either way the loss is the same: the mean
negative log-likelihood of each next token, padding excluded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.contract import OnUpdate, ShouldStop, ignore_metrics, never_stop
from algorithms.lm.loop import TrainSettings, train_loop
from algorithms.lm.model import autocast


def sft_loss(model, ids: Tensor, mask: Tensor) -> Tensor:
    """Mean next-token cross-entropy over real tokens. ids, mask: (B, L); ids[:, 0] is <bos>."""
    # lesson:start sft-loss
    logits = model(input_ids=ids).logits[:, :-1].float()  # position t predicts token t + 1
    targets, weights = ids[:, 1:], mask[:, 1:]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (nll * weights.reshape(-1)).sum() / weights.sum()
    # lesson:end sft-loss


def encode_corpus(tokenizer, texts: list[str], length: int) -> tuple[Tensor, Tensor]:
    """<bos> + review, right-padded to `length`: (ids, mask)."""
    ids = torch.full((len(texts), length), tokenizer.pad_token_id, dtype=torch.long)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]  # one call: the Rust tokenizer batches
    for row, tokens in enumerate(encoded):
        tokens = [tokenizer.bos_token_id, *tokens][:length]
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return ids, (ids != tokenizer.pad_token_id).float()


def length_buckets(mask: Tensor, batch_size: int) -> list[Tensor]:
    """Batches of rows of similar length (sorted, then cut), so little compute goes to padding."""
    order = torch.argsort(mask.sum(1) + torch.rand(len(mask)) * 0.5)  # random order within a length
    return [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]


def train_sft(
    model,
    tokenizer,
    texts: list[str],
    settings: TrainSettings,
    *,
    device: str,
    length: int,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
    valid_fraction: float = 0.05,
) -> dict[str, float]:
    """Train in place on <bos> + text; returns the final train and validation losses (nats per token)."""
    ids, mask = encode_corpus(tokenizer, texts, length)
    return train_sft_tokens(
        model, ids, mask, settings, device=device, on_update=on_update, should_stop=should_stop,
        valid_fraction=valid_fraction,
    )  # fmt: skip


def train_sft_tokens(
    model,
    ids: Tensor,
    mask: Tensor,
    settings: TrainSettings,
    *,
    device: str,
    weights: Tensor | None = None,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
    valid_fraction: float = 0.05,
) -> dict[str, float]:
    """SFT on encoded rows. ids, mask: (N, L), mask 1 on real tokens (right-padded); weights: which
    next tokens the loss counts (default: every real one; a prompt-completion dataset counts only the
    completion's, as trl does). The first rows (valid_fraction of them, at least one; none if 0) are
    held out for the validation loss."""
    weights = mask if weights is None else weights
    n_valid = max(1, int(len(ids) * valid_fraction)) if valid_fraction > 0 else 0
    valid_ids, valid_weights = ids[:n_valid].to(device), weights[:n_valid].to(device)
    ids, mask, weights = ids[n_valid:], mask[n_valid:], weights[n_valid:]
    batches = length_buckets(mask, settings.batch_size)
    tokens_per_step = float(mask.mean()) * ids.shape[1] * settings.batch_size

    def step(batch: Tensor):
        width = int(mask[batch].sum(1).max())  # trim the padding every row of this batch shares
        with autocast(device):
            loss = sft_loss(model, ids[batch, :width].to(device), weights[batch, :width].to(device))

        def metrics(n: int, seconds: float) -> dict[str, float]:
            return {"losses/sft": loss.item(), "charts/tokens_per_second": tokens_per_step * n / seconds}

        return loss, metrics

    def epoch_batches():
        return (batches[index] for index in torch.randperm(len(batches)).tolist())

    info = train_loop(model, step, epoch_batches, len(batches), settings, on_update=on_update, should_stop=should_stop)
    valid = float("nan")
    if n_valid:
        with torch.no_grad(), autocast(device):
            valid = float(sft_loss(model, valid_ids, valid_weights))
    return {
        "train_loss": info["final_loss"],
        "valid_loss": valid,
        "steps": info["steps"],
        "seconds": info["seconds"],
    }
