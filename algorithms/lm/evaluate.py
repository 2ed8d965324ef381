"""Stage 6, evaluation: what the reward model thinks, what the hidden human thinks, and the price in KL.

- reward_model_score: the (normalised) reward model's mean score of the policy's samples;
- hidden_score: the hidden rule's mean score (the "true" objective the reward model stands in for);
- win_rate_vs_sft: how often the hidden rule prefers the policy's sample to the SFT model's sample
  for the same prompt (ties count one half);
- kl: KL(pi || ref) in nats per completion, estimated as the mean of ln pi(y|x) - ln ref(y|x) over
  the policy's own samples;
- well_formed and ended: shares of samples that parse, and that end with <eos>.
Reward hacking is the reward model's score going up while the hidden score goes down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from algorithms.lm import reviews
from algorithms.lm.model import sequence_logprobs
from algorithms.lm.preferences import sample_texts
from algorithms.lm.reward_model import Normaliser, reward_scores

EVAL_SEED = 10_000  # evaluation prompts and sampling never share a seed with training


@dataclass
class Baseline:
    """The SFT model's samples on the evaluation prompts: what every later policy is compared with."""

    prompts: list[str]
    texts: list[str]


def eval_prompts(n: int) -> list[str]:
    return reviews.prompts(n, EVAL_SEED)


@torch.no_grad()
def sft_baseline(sft_model, tokenizer, n: int, max_new_tokens: int, device: str) -> Baseline:
    prompts = eval_prompts(n)
    torch.manual_seed(EVAL_SEED)
    return Baseline(prompts, sample_texts(sft_model, tokenizer, prompts, max_new_tokens, device)[3])


def win_rate(policy_texts: list[str], baseline_texts: list[str]) -> float:
    """P(hidden rule prefers the policy's text) + 0.5 P(tie), over paired prompts."""
    verdicts = [reviews.prefer(a, b) for a, b in zip(policy_texts, baseline_texts, strict=True)]
    return float(np.mean([{1: 1.0, 0: 0.5, -1: 0.0}[v] for v in verdicts]))


@torch.no_grad()
def evaluate(
    policy,
    reference,
    reward_model,
    normaliser: Normaliser,
    tokenizer,
    baseline: Baseline,
    max_new_tokens: int,
    device: str,
    n_samples: int = 4,
) -> dict:
    torch.manual_seed(EVAL_SEED + 1)
    prompt_ids, tokens, mask, texts = sample_texts(policy, tokenizer, baseline.prompts, max_new_tokens, device)
    judged = [reviews.judge(t) for t in texts]
    kl = sequence_logprobs(policy, prompt_ids, tokens, mask) - sequence_logprobs(reference, prompt_ids, tokens, mask)
    rm = normaliser(reward_scores(reward_model, prompt_ids, tokens))
    return {
        "reward_model_score": round(float(rm.mean()), 4),
        "hidden_score": round(float(np.mean([j.score for j in judged])), 4),
        "win_rate_vs_sft": round(win_rate(texts, baseline.texts), 4),
        "kl": round(float(kl.mean()), 4),
        "well_formed": round(float(np.mean([j.well_formed for j in judged])), 4),
        "ended": round(float((tokens == tokenizer.eos_token_id).any(1).float().mean()), 4),
        "distinct_positive": round(float(np.mean([j.positive for j in judged])), 4),
        "samples": [
            {"prompt": p, "sft": b, "policy": t}
            for p, b, t in zip(baseline.prompts, baseline.texts, texts, strict=True)
        ][:n_samples],
    }
