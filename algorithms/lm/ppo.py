"""Stage 4, PPO for a language model: the RLHF loop of Ziegler et al. 2019 / Ouyang et al. 2022.

Each iteration:
1. sample completions from the policy (the "rollout"); score each with the reward model;
2. the per-token reward is the KL penalty -beta (ln pi - ln ref) at every token, plus the
   reward model's score at the last token (`algorithms.losses.kl_shaped_reward`);
3. a value head on the policy's hidden states estimates the return; GAE gives advantages;
4. a few epochs of minibatch updates of the clipped surrogate plus the value loss.

Every token is an action and the prompt plus the tokens so far is the state; an episode ends
at <eos>. With beta near 0 nothing holds the policy near the reference, and it learns whatever the
reward model over-rates: that is reward hacking, and `ppo_no_kl` in the pipeline shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from algorithms.contract import OnUpdate, ShouldStop, ignore_metrics, never_stop
from algorithms.lm import reviews
from algorithms.lm.model import autocast, decode, encode_prompts, sample, token_logprobs
from algorithms.lm.optim import make_optimizer
from algorithms.lm.reward_model import Normaliser, reward_scores
from algorithms.losses import approx_kl, clip_fraction, clipped_value_loss, kl_shaped_reward, ppo_clip_loss
from algorithms.returns import batched_gae

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class LMPPOSettings:
    """PPO for a language model: rollouts, the KL penalty, and the minibatch updates."""

    iterations: int = 60
    """Rollout-then-update iterations."""
    batch_size: int = 64
    """Completions sampled per iteration (one prompt each)."""
    minibatch_size: int = 32
    """Completions per gradient step."""
    epochs: int = 4
    """Passes over each batch of rollouts."""
    lr: float = 1e-4
    """Peak learning rate of AdamW (warm-up, then linear decay over the iterations)."""
    beta: float = 0.05
    """KL penalty coefficient in the per-token reward (the initial value when adaptive)."""
    target_kl: float | None = None
    """Target KL in nats per sequence for the adaptive controller (None: beta stays fixed)."""
    clip_eps: float = 0.2
    """Clip range of the probability ratio in the surrogate."""
    value_clip: float | None = 0.2
    """Clip range of the value function's change from its rollout value (None: no clipping)."""
    vf_coef: float = 0.1
    """Weight of the value loss added to the policy loss."""
    max_grad_norm: float = 1.0
    """Gradients of policy and value head are rescaled to at most this global L2 norm."""
    gamma: float = 1.0
    """Discount over tokens (1: the episode is one short completion)."""
    lam: float = 0.95
    """GAE's lambda."""
    missing_eos_penalty: float = 0.0
    """Added to the score of a completion that never ends (0: off)."""
    max_new_tokens: int = 28
    """Longest completion sampled."""


class AdaptiveKL:
    """Ziegler et al. 2019, section 2.2: nudge beta so the KL tracks a target.

    beta <- beta (1 + K_beta e), e = clip(KL / target - 1, -0.2, 0.2), K_beta = 0.1 per batch here.
    """

    def __init__(self, beta: float, target: float | None, gain: float = 0.1):
        self.beta, self.target, self.gain = beta, target, gain

    def update(self, kl: float) -> float:
        if self.target:
            # lesson:start adaptive-kl
            error = float(np.clip(kl / self.target - 1.0, -0.2, 0.2))
            self.beta *= 1.0 + self.gain * error
            # lesson:end adaptive-kl
        return self.beta


def masked_gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """GAE over tokens, batched: (advantages, returns), each (B, T). Each row is one episode that ends at
    its last real token (mask 1, then 0 for padding), with no bootstrap past it: ``returns.batched_gae``
    over the token axis, with that end as a termination."""
    next_mask = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)  # 0 from the last real token on
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)  # V(s_{t+1}), (B, T)
    ended = next_mask == 0  # (B, T) bool: the answer ends at t, as <eos> or the token limit ends it
    advantages = batched_gae(rewards.T, values.T, next_values.T, ended.T, torch.zeros_like(ended.T), gamma, lam).T
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def whiten(x: Tensor, mask: Tensor) -> Tensor:
    mean = (x * mask).sum() / mask.sum()
    var = (((x - mean) * mask) ** 2).sum() / mask.sum()
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


@dataclass
class Rollout:
    prompt: Tensor
    tokens: Tensor
    mask: Tensor
    logp_old: Tensor
    values_old: Tensor
    advantages: Tensor
    returns: Tensor


def train_ppo(
    policy: PreTrainedModel,
    reference: PreTrainedModel,
    reward_model: PreTrainedModel,
    normaliser: Normaliser,
    tokenizer: PreTrainedTokenizerBase,
    settings: LMPPOSettings,
    *,
    device: str,
    seed: int,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
    on_samples: Callable[[list[str]], None] = lambda _: None,
    prompts: list[tuple[int, ...]] | None = None,
) -> dict[str, float]:
    """Train `policy` in place (reference and reward model stay frozen); metrics go to on_update each iteration.

    prompts: token ids of a dataset's prompts (any model's tokenizer; each iteration samples its batch
    from the prompts of one length). Default: our review subjects, with the hidden rule's charts.
    """
    value_head = nn.Linear(policy.config.hidden_size, 1).to(device)
    nn.init.zeros_(value_head.weight)
    nn.init.zeros_(value_head.bias)
    trainable = [p for p in policy.parameters() if p.requires_grad]  # LoRA: the adapters only
    params = trainable + list(value_head.parameters())
    optimizer, _ = make_optimizer(params, settings.lr, settings.iterations)
    kl_control = AdaptiveKL(settings.beta, settings.target_kl)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    history: dict[str, float] = {}
    for iteration in range(settings.iterations):
        if should_stop():
            break
        if prompts is None:
            subjects = [str(rng.choice(reviews.SUBJECTS)) for _ in range(settings.batch_size)]
            prompt_ids = encode_prompts(tokenizer, subjects, device)
        else:
            prompt_ids = draw_prompts(prompts, settings.batch_size, rng, device)
        policy.eval()
        # lesson:start ppo-lm-rollout
        with torch.no_grad(), autocast(device):
            tokens, mask = sample(
                policy, prompt_ids, settings.max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id
            )
            logp_old, hidden = token_logprobs(policy, prompt_ids, tokens, mask, with_hidden=True)
            values_old = value_head(hidden.float()).squeeze(-1) * mask
            logp_ref = token_logprobs(reference, prompt_ids, tokens, mask)
            score = normaliser(reward_scores(reward_model, prompt_ids, tokens))  # (B,)
        # lesson:end ppo-lm-rollout
        # lesson:start missing-eos
        ended = (tokens == tokenizer.eos_token_id).any(dim=1)
        if settings.missing_eos_penalty:  # a review that never ends is scored down, whatever the reward model says
            score = score + settings.missing_eos_penalty * (~ended).float()
        # lesson:end missing-eos
        # lesson:start ppo-lm-rewards
        rewards = kl_shaped_reward(score, logp_old, logp_ref, kl_control.beta, mask=mask)  # (B, T)
        advantages, returns = masked_gae(rewards, values_old, mask, settings.gamma, settings.lam)
        advantages = whiten(advantages, mask)
        # lesson:end ppo-lm-rewards
        kl_per_sequence = ((logp_old - logp_ref) * mask).sum(1).mean().item()
        batch = Rollout(prompt_ids, tokens, mask, logp_old, values_old, advantages, returns)
        stats = _update(policy, value_head, optimizer, params, batch, settings, device)
        history = {
            "progress": (iteration + 1) / settings.iterations,
            "global_step": iteration + 1,
            "charts/reward_model_score": score.mean().item(),
        }
        if prompts is None:  # our reviews: the hidden rule says how good they really are
            texts = [f"{p} {c}" for p, c in zip(subjects, decode(tokenizer, tokens, mask), strict=True)]
            judged = [reviews.judge(t) for t in texts]
            history["charts/hidden_score"] = float(np.mean([j.score for j in judged]))
            history["charts/well_formed"] = float(np.mean([j.well_formed for j in judged]))
        else:
            texts = _decoded(tokenizer, prompt_ids, tokens, mask)
        history |= {
            "charts/ended": ended.float().mean().item(),
            "charts/kl": kl_per_sequence,
            "charts/beta": kl_control.beta,
            "charts/length": mask.sum(1).mean().item(),
            **stats,
        }
        on_update(history)
        on_samples(texts[:6])
        kl_control.update(kl_per_sequence)
    return {
        "iterations": history.get("global_step", 0),
        "final_beta": kl_control.beta,
        "seconds": time.perf_counter() - start,
    }


def draw_prompts(prompts: list[tuple[int, ...]], n: int, rng: np.random.Generator, device: str) -> Tensor:
    """n prompts drawn with replacement from those as long as a first one drawn at random: (n, P)."""
    length = len(prompts[int(rng.integers(len(prompts)))])
    same = [p for p in prompts if len(p) == length]
    return torch.tensor([same[int(i)] for i in rng.integers(len(same), size=n)], device=device)


def _decoded(tokenizer: PreTrainedTokenizerBase, prompt_ids: Tensor, tokens: Tensor, mask: Tensor) -> list[str]:
    """Prompt and completion as text, special tokens dropped: for any tokenizer."""
    return [
        tokenizer.decode([*p.tolist(), *row[m.bool()].tolist()], skip_special_tokens=True).strip()
        for p, row, m in zip(prompt_ids, tokens, mask, strict=True)
    ]


def _update(
    policy: PreTrainedModel,
    value_head: nn.Linear,
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    batch: Rollout,
    settings: LMPPOSettings,
    device: str,
) -> dict[str, float]:
    policy.train()
    n = batch.prompt.shape[0]
    losses, kls, clips = [], [], []
    for _ in range(settings.epochs):
        for index in torch.randperm(n, device=batch.prompt.device).split(settings.minibatch_size):
            m = batch.mask[index].bool()
            with autocast(device):
                logp, hidden = token_logprobs(policy, batch.prompt[index], batch.tokens[index], batch.mask[index], True)
                values = value_head(hidden.float()).squeeze(-1)
            # lesson:start ppo-lm-loss
            policy_loss = ppo_clip_loss(
                logp[m], batch.logp_old[index][m], batch.advantages[index][m], settings.clip_eps
            )
            value_loss = clipped_value_loss(
                values[m], batch.values_old[index][m], batch.returns[index][m], settings.value_clip
            )
            loss = policy_loss + settings.vf_coef * value_loss
            # lesson:end ppo-lm-loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                kls.append(approx_kl(logp[m], batch.logp_old[index][m]).item())
                clips.append(clip_fraction(logp[m], batch.logp_old[index][m], settings.clip_eps).item())
                losses.append((policy_loss.item(), value_loss.item()))
    policy.eval()
    return {
        "losses/policy": float(np.mean([p for p, _ in losses])),
        "losses/value": float(np.mean([v for _, v in losses])),
        "losses/approx_kl": float(np.mean(kls)),
        "losses/clip_fraction": float(np.mean(clips)),
    }
