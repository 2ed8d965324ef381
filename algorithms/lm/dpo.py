"""Stage 5, DPO and KTO: learning from preferences with no reward model and no sampling.

DPO (Rafailov et al. 2023) trains on the pairs: it raises ln pi(chosen) - ln ref(chosen) relative
to the same for the rejected completion. KTO (Ethayarajh et al. 2024) needs only a thumbs up or
down per completion. Both are offline: the data are fixed samples of the SFT model, and the
reference model is frozen, so its log-probabilities are computed once, up front.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from algorithms.lm.model import autocast, sequence_logprobs, token_logprobs
from algorithms.lm.optim import make_optimizer
from algorithms.lm.preferences import Labelled, Pairs
from algorithms.losses import dpo_implicit_rewards, dpo_loss, kto_loss


@torch.no_grad()
def _reference_logprobs(reference, prompt, completion, mask, batch_size: int = 512):
    return torch.cat(
        [
            sequence_logprobs(
                reference, prompt[i : i + batch_size], completion[i : i + batch_size], mask[i : i + batch_size]
            )
            for i in range(0, prompt.shape[0], batch_size)
        ]
    )


def train_dpo(
    policy,
    reference,
    pairs: Pairs,
    *,
    beta: float,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    nll_coef: float = 0.0,
    log: Callable[[dict], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """DPO's sigmoid loss on summed completion log-probs; nll_coef > 0 adds the chosen answers' NLL."""
    ref_chosen = _reference_logprobs(reference, pairs.prompt, pairs.chosen, pairs.chosen_mask)
    ref_rejected = _reference_logprobs(reference, pairs.prompt, pairs.rejected, pairs.rejected_mask)
    steps_per_epoch = max(1, len(pairs) // batch_size)
    total = epochs * steps_per_epoch
    optimizer, scheduler = make_optimizer(policy, lr, total)
    policy.train()
    start, step = time.perf_counter(), 0
    for _ in range(epochs):
        order = torch.randperm(len(pairs), device=pairs.prompt.device)
        for index in order[: steps_per_epoch * batch_size].split(batch_size):
            b = pairs.subset(index)
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
                loss = dpo_loss(pi_chosen, pi_rejected, ref_chosen[index], ref_rejected[index], beta)
                if nll_coef:  # "RPO": keep the chosen answers likely, not only more likely than the rejected
                    loss = loss + nll_coef * (-chosen_tokens.sum() / b.chosen_mask.sum())
                # lesson:end dpo-step
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 10 == 0 or step == total:
                with torch.no_grad():
                    r_w, r_l = dpo_implicit_rewards(
                        pi_chosen, pi_rejected, ref_chosen[index], ref_rejected[index], beta
                    )
                log(
                    {
                        "progress": step / total,
                        "global_step": step,
                        "losses/dpo": loss.item(),
                        "charts/reward_margin": (r_w - r_l).mean().item(),
                        "charts/preference_accuracy": (r_w > r_l).float().mean().item(),
                    }
                )
            if should_stop():
                break
        if should_stop():
            break
    policy.eval()
    return {"steps": step, "final_loss": loss.item(), "seconds": time.perf_counter() - start}


def train_kto(
    policy,
    reference,
    data: Labelled,
    *,
    beta: float,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    log: Callable[[dict], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """KTO on unpaired good / bad completions, with lambda_d / lambda_u balancing the two classes."""
    ref_logps = _reference_logprobs(reference, data.prompt, data.completion, data.mask)
    # Mismatched pairs for the reference point: each prompt with the next example's completion. As
    # in trl, they are fixed once, so the reference model's log-probs on them are computed once too.
    other = torch.roll(torch.arange(len(data), device=data.prompt.device), 1)
    ref_mismatch_all = _reference_logprobs(reference, data.prompt, data.completion[other], data.mask[other])
    n_good = int(data.desirable.sum())
    n_bad = len(data) - n_good
    lambda_d, lambda_u = 1.0, n_good / max(1, n_bad)  # so that lambda_d n_d = lambda_u n_u
    steps_per_epoch = max(1, len(data) // batch_size)
    total = epochs * steps_per_epoch
    optimizer, scheduler = make_optimizer(policy, lr, total)
    policy.train()
    start, step = time.perf_counter(), 0
    for _ in range(epochs):
        order = torch.randperm(len(data), device=data.prompt.device)
        for index in order[: steps_per_epoch * batch_size].split(batch_size):
            b = data.subset(index)
            with autocast(device):
                pi = sequence_logprobs(policy, b.prompt, b.completion, b.mask)
                # lesson:start kto-reference-point
                # z0 ~ KL(pi || ref), estimated on mismatched pairs: each prompt with another completion
                with torch.no_grad():
                    theirs = other[index]
                    pi_mismatch = sequence_logprobs(policy, b.prompt, data.completion[theirs], data.mask[theirs])
                kl_ref = (pi_mismatch - ref_mismatch_all[index]).mean().clamp(min=0)  # detached, never below 0
                # lesson:end kto-reference-point
                loss = kto_loss(pi, ref_logps[index], b.desirable, kl_ref, beta, lambda_d, lambda_u)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 10 == 0 or step == total:
                with torch.no_grad():
                    r = pi - ref_logps[index]
                    good = b.desirable
                log(
                    {
                        "progress": step / total,
                        "global_step": step,
                        "losses/kto": loss.item(),
                        "charts/kl_reference_point": kl_ref.item(),
                        "charts/reward_desirable": r[good].mean().item() if good.any() else 0.0,
                        "charts/reward_undesirable": r[~good].mean().item() if (~good).any() else 0.0,
                    }
                )
            if should_stop():
                break
        if should_stop():
            break
    policy.eval()
    return {"steps": step, "final_loss": loss.item(), "seconds": time.perf_counter() - start}
