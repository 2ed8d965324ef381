"""Stage 1, supervised fine-tuning: next-token prediction on the review corpus.

For a real model this stage starts from a pretrained checkpoint and trains on demonstrations;
ours starts from scratch, so SFT doubles as pretraining. Either way the loss is the same: the mean
negative log-likelihood of each next token, padding excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.lm.model import autocast
from algorithms.lm.optim import make_optimizer


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
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    length: int,
    log: Callable[[dict], None],
    should_stop: Callable[[], bool] = lambda: False,
    valid_fraction: float = 0.05,
) -> dict[str, float]:
    """Train in place; returns the final train and validation losses (nats per token)."""
    ids, mask = encode_corpus(tokenizer, texts, length)
    n_valid = max(1, int(len(texts) * valid_fraction))
    valid_ids, valid_mask = ids[:n_valid].to(device), mask[:n_valid].to(device)
    ids, mask = ids[n_valid:], mask[n_valid:]
    batches = length_buckets(mask, batch_size)
    steps_per_epoch = len(batches)
    total = epochs * steps_per_epoch
    optimizer, scheduler = make_optimizer(model, lr, total)
    model.train()
    start, step, loss = time.perf_counter(), 0, torch.tensor(float("nan"))
    for _ in range(epochs):
        for index in torch.randperm(steps_per_epoch).tolist():
            batch = batches[index]
            width = int(mask[batch].sum(1).max())  # trim the padding every row of this batch shares
            with autocast(device):
                loss = sft_loss(model, ids[batch, :width].to(device), mask[batch, :width].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 20 == 0 or step == total:
                tokens = float(mask.mean()) * length * batch_size * step
                log(
                    {
                        "progress": step / total,
                        "losses/sft": loss.item(),
                        "charts/tokens_per_second": tokens / (time.perf_counter() - start),
                        "global_step": step,
                    }
                )
            if should_stop():
                break
        if should_stop():
            break
    model.eval()
    with torch.no_grad(), autocast(device):
        valid = float(sft_loss(model, valid_ids, valid_mask))
    return {"train_loss": loss.item(), "valid_loss": valid, "steps": step, "seconds": time.perf_counter() - start}
