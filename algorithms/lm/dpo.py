"""Stage 5, DPO and KTO: learning from preferences with no reward model and no sampling.

DPO (Rafailov et al. 2023) trains on the pairs: it raises ln pi(chosen) - ln ref(chosen) relative
to the same for the rejected completion. KTO (Ethayarajh et al. 2024) needs only a thumbs up or
down per completion. Both are offline: the data are fixed samples of the SFT model, and the
reference model is frozen, so its log-probabilities are computed once, up front.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algorithms.contract import OnUpdate, ShouldStop, ignore_metrics, never_stop
from algorithms.lm.loop import TrainSettings, train_loop
from algorithms.lm.model import autocast, sequence_logprobs, token_logprobs
from algorithms.lm.preferences import Labelled, Pairs
from algorithms.losses import dpo_implicit_rewards, dpo_loss, kto_loss


@torch.no_grad()
def _reference_logprobs(reference, prompt, completion, mask, batch_size: int = 512):
    """ln ref(y | x) of every row, (N,), in batches of rows of similar length: a batch is as wide as its
    longest completion, so a random batch of 512 was mostly padding (a few rows run to the maximum)."""
    order = torch.argsort(mask.sum(1), stable=True)
    out = torch.empty(prompt.shape[0], device=prompt.device)
    for index in order.split(batch_size):
        out[index] = sequence_logprobs(reference, prompt[index], completion[index], mask[index])
    return out


def train_dpo(
    policy,
    reference,
    pairs: Pairs | list[Pairs],
    settings: TrainSettings,
    *,
    beta: float,
    device: str,
    nll_coef: float = 0.0,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
) -> dict[str, float]:
    """DPO's sigmoid loss on summed completion log-probs; nll_coef > 0 adds the chosen answers' NLL.

    pairs: one set whose prompts share a length (ours), or a list of such buckets (a dataset's
    prompts of many lengths: `hf.preference_buckets`); a minibatch stays within a bucket.
    """
    buckets = [pairs] if isinstance(pairs, Pairs) else pairs
    refs = [
        (
            _reference_logprobs(reference, b.prompt, b.chosen, b.chosen_mask),
            _reference_logprobs(reference, b.prompt, b.rejected, b.rejected_mask),
        )
        for b in buckets
    ]

    def step(batch: tuple[int, Tensor]):
        i, index = batch
        b, (ref_chosen, ref_rejected) = buckets[i].subset(index), (refs[i][0][index], refs[i][1][index])
        with autocast(device):
            # lesson:start dpo-step
            both = token_logprobs(  # chosen and rejected in one forward pass: (2B, T)
                policy,
                b.prompt.repeat(2, 1),
                torch.cat([b.chosen, b.rejected]),
                torch.cat([b.chosen_mask, b.rejected_mask]),
            )
            chosen_tokens, rejected_tokens = both.chunk(2)  # (B, T) each
            pi_chosen = chosen_tokens.sum(1)  # ln pi(y_w | x), summed over tokens
            pi_rejected = rejected_tokens.sum(1)  # ln pi(y_l | x)
            loss = dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta)
            if nll_coef:  # "RPO": keep the chosen answers likely, not only more likely than the rejected
                loss = loss + nll_coef * (-chosen_tokens.sum() / b.chosen_mask.sum())
            # lesson:end dpo-step

        def metrics(_n: int, _seconds: float) -> dict[str, float]:
            with torch.no_grad():
                r_w, r_l = dpo_implicit_rewards(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta)
            return {
                "losses/dpo": loss.item(),
                "charts/reward_margin": (r_w - r_l).mean().item(),
                "charts/preference_accuracy": (r_w > r_l).float().mean().item(),
            }

        return loss, metrics

    epoch_batches, steps_per_epoch = _minibatches(pairs, settings.batch_size)
    trainable = [p for p in policy.parameters() if p.requires_grad]  # LoRA: the adapters only
    return train_loop(
        policy, step, epoch_batches, steps_per_epoch, settings, params=trainable, on_update=on_update,
        should_stop=should_stop,
    )  # fmt: skip


def train_kto(
    policy,
    reference,
    data: Labelled | list[Labelled],
    settings: TrainSettings,
    *,
    beta: float,
    device: str,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
) -> dict[str, float]:
    """KTO on unpaired good / bad completions, with lambda_d / lambda_u balancing the two classes.

    data: one set whose prompts share a length, or a list of such buckets (`hf.unpaired_buckets`).
    """
    buckets = [data] if isinstance(data, Labelled) else data
    ref_logps = [_reference_logprobs(reference, d.prompt, d.completion, d.mask) for d in buckets]
    # Mismatched pairs for the reference point: each prompt with the next example's completion. As
    # in trl, they are fixed once, so the reference model's log-probs on them are computed once too.
    others = [torch.roll(torch.arange(len(d), device=d.prompt.device), 1) for d in buckets]
    ref_mismatch = [
        _reference_logprobs(reference, d.prompt, d.completion[o], d.mask[o])
        for d, o in zip(buckets, others, strict=True)
    ]
    n_good = sum(int(d.desirable.sum()) for d in buckets)
    n_bad = sum(len(d) for d in buckets) - n_good
    lambda_d, lambda_u = 1.0, n_good / max(1, n_bad)  # so that lambda_d n_d = lambda_u n_u

    def step(batch: tuple[int, Tensor]):
        i, index = batch
        d, b, ref = buckets[i], buckets[i].subset(index), ref_logps[i][index]
        with autocast(device):
            pi = sequence_logprobs(policy, b.prompt, b.completion, b.mask)
            # lesson:start kto-reference-point
            # z0 ~ KL(pi || ref), estimated on mismatched pairs: each prompt with another completion
            with torch.no_grad():
                theirs = others[i][index]
                pi_mismatch = sequence_logprobs(policy, b.prompt, d.completion[theirs], d.mask[theirs])
            kl_ref = (pi_mismatch - ref_mismatch[i][index]).mean().clamp(min=0)  # detached, never below 0
            # lesson:end kto-reference-point
            loss = kto_loss(pi, ref, b.desirable, kl_ref, beta, lambda_d, lambda_u)

        def metrics(_n: int, _seconds: float) -> dict[str, float]:
            with torch.no_grad():
                r = pi - ref
                good = b.desirable
            return {
                "losses/kto": loss.item(),
                "charts/kl_reference_point": kl_ref.item(),
                "charts/reward_desirable": r[good].mean().item() if good.any() else 0.0,
                "charts/reward_undesirable": r[~good].mean().item() if (~good).any() else 0.0,
            }

        return loss, metrics

    epoch_batches, steps_per_epoch = _minibatches(data, settings.batch_size)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    return train_loop(
        policy, step, epoch_batches, steps_per_epoch, settings, params=trainable, on_update=on_update,
        should_stop=should_stop,
    )  # fmt: skip


def _minibatches(data: Pairs | Labelled | list, batch_size: int):
    """(epoch_batches, steps per epoch): minibatches of (bucket, row indices).

    One set: each epoch a fresh permutation cut into len // batch_size batches (the rest dropped).
    A list of buckets: each bucket is cut once into batches (the last may be short), and each epoch
    visits all of them in a fresh order.
    """
    if not isinstance(data, list):
        steps = max(1, len(data) // batch_size)

        def one_set():
            order = torch.randperm(len(data), device=data.prompt.device)
            return ((0, index) for index in order[: steps * batch_size].split(batch_size))

        return one_set, steps
    plan = [
        (i, index)
        for i, b in enumerate(data)
        for index in torch.randperm(len(b), device=b.prompt.device).split(batch_size)
    ]

    def buckets():
        return (plan[k] for k in torch.randperm(len(plan)).tolist())

    return buckets, len(plan)
