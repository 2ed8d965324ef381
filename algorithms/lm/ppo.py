"""Stage 4, PPO for a language model: the RLHF loop of Ziegler et al. 2019 / Ouyang et al. 2022.

Each iteration:
1. sample completions from the policy (the "rollout"); score each with the reward model;
2. the per-token reward is the KL penalty -beta (ln pi - ln ref) at every token, plus the
   reward model's score at the last token (`algorithms.losses.kl_shaped_reward`);
3. a value head on the policy's hidden states estimates the return; GAE gives advantages;
4. a few epochs of minibatch updates of the clipped surrogate plus the value loss (with `ptx_coef`
   > 0, minus gamma times the log-likelihood of pretraining text: InstructGPT's PPO-ptx).

Every token is an action and the prompt plus the tokens so far is the state; an episode ends
at <eos>. With beta near 0 nothing holds the policy near the reference, and it learns whatever the
reward model over-rates: that is reward hacking, and `ppo_no_kl` in the pipeline shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.contract import OnUpdate, ShouldStop, ignore_metrics, never_stop
from algorithms.lm import reviews
from algorithms.lm.model import autocast, decode, encode_prompts, sample, token_logprobs
from algorithms.lm.optim import constant_adamw
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
    """AdamW's learning rate, constant through the run (algorithms/lm/optim.py: constant_adamw)."""
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
    ptx_coef: float = 0.0
    """gamma of InstructGPT's PPO-ptx (Ouyang et al. 2022, eq. 2): weight of the pretraining text's mean
    token log-likelihood, added to the objective at every PPO step (0: plain PPO, no pretraining text)."""
    ptx_batch_size: int | None = None
    """Pretraining rows per PPO step for the ptx term (None: as many as the minibatch has completions)."""


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


@dataclass(frozen=True)
class PretrainText:
    """Pretraining text for PPO-ptx: ids (N, L), right-padded, ids[:, 0] the first token (<bos>);
    weights (N, L): 1 on the tokens whose prediction counts (real tokens; a prompt's may be 0)."""

    ids: Tensor
    weights: Tensor

    def __post_init__(self):
        if self.ids.dim() != 2 or self.ids.shape != self.weights.shape or self.ids.shape[1] < 2:
            raise ValueError(
                f"pretraining text needs ids and weights of one shape (N, L), L >= 2; got "
                f"{tuple(self.ids.shape)} and {tuple(self.weights.shape)}"
            )
        if not bool(self.weights[:, 1:].any()):
            raise ValueError("the pretraining text has no token to predict (every weight after the first is 0)")

    def draw(self, n: int, generator: torch.Generator, device: str) -> tuple[Tensor, Tensor]:
        """n rows drawn with replacement, trimmed to the longest counted row: (ids, weights), each (n, L')."""
        index = torch.randint(self.ids.shape[0], (n,), generator=generator)
        ids, weights = self.ids[index], self.weights[index]
        width = int(weights.sum(0).nonzero().max()) + 1  # the padding columns every row shares cost nothing
        return ids[:, :width].to(device), weights[:, :width].to(device)


def ppo_ptx_loss(ppo_loss: Tensor, pretrain_logp: Tensor, pretrain_mask: Tensor, ptx_coef: float) -> Tensor:
    """InstructGPT's PPO-ptx loss (Ouyang et al. 2022, eq. 2): PPO's loss minus gamma times the mean
    log-likelihood of pretraining tokens.

    Eq. 2 maximises E_{(x, y) ~ pi}[r(x, y) - beta ln(pi(y|x) / pi_SFT(y|x))] + gamma E_{x ~ D_pretrain}[ln pi(x)].
    The first expectation is what PPO's clipped surrogate (ppo_loss, a scalar to minimise) climbs; the
    second is ordinary language modelling on pretraining text, here averaged per token, as a
    pretraining loss is (the scale is gamma's to absorb). pretrain_logp: (B, L) ln pi(x_t | x_<t) of
    each pretraining token; pretrain_mask: (B, L), 1 on the tokens that count, 0 on padding.
    """
    if ppo_loss.dim() != 0:
        raise ValueError(f"ppo_loss must be a scalar, got shape {tuple(ppo_loss.shape)}")
    if pretrain_logp.dim() != 2 or pretrain_logp.shape != pretrain_mask.shape:
        raise ValueError(
            f"pretrain_logp and pretrain_mask must share a shape (B, L), got "
            f"{tuple(pretrain_logp.shape)} and {tuple(pretrain_mask.shape)}"
        )
    # lesson:start ppo-ptx-loss
    pretrain_nll = -(pretrain_logp * pretrain_mask).sum() / pretrain_mask.sum()  # the pretraining loss
    return ppo_loss + ptx_coef * pretrain_nll  # minimising it maximises eq. 2's gamma E[ln pi(x)]
    # lesson:end ppo-ptx-loss


def text_logprobs(model, ids: Tensor) -> Tensor:
    """ln pi(x_t | x_<t) of every token of a text after the first, (B, L - 1): position t predicts token t + 1."""
    logits = model(input_ids=ids).logits[:, :-1].float()
    return torch.gather(F.log_softmax(logits, dim=-1), 2, ids[:, 1:, None]).squeeze(-1)


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
    pretrain: PretrainText | None = None,
) -> dict[str, float]:
    """Train `policy` in place (reference and reward model stay frozen); metrics go to on_update each iteration.

    prompts: token ids of a dataset's prompts (any model's tokenizer; each iteration samples its batch
    from the prompts of one length). Default: our review subjects, with the hidden rule's charts.
    pretrain: the text of PPO-ptx's pretraining term, needed when settings.ptx_coef > 0 (the policy's
    tokenizer; rows drawn with a generator of their own, seeded by `seed`).
    """
    if settings.ptx_coef < 0:
        raise ValueError(f"ptx_coef must be 0 (off) or positive, got {settings.ptx_coef}")
    if settings.ptx_coef and pretrain is None:
        raise ValueError(f"ptx_coef = {settings.ptx_coef} needs pretraining text (PPO-ptx), and none was given")
    pretrain_batch = None
    if settings.ptx_coef:
        n_ptx = settings.ptx_batch_size or settings.minibatch_size
        pretrain_batch = partial(pretrain.draw, n_ptx, torch.Generator().manual_seed(seed), device)
    value_head = nn.Linear(policy.config.hidden_size, 1).to(device)
    nn.init.zeros_(value_head.weight)
    nn.init.zeros_(value_head.bias)
    trainable = [p for p in policy.parameters() if p.requires_grad]  # LoRA: the adapters only
    params = trainable + list(value_head.parameters())
    optimizer = constant_adamw(params, settings.lr)
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
        stats = _update(policy, value_head, optimizer, params, batch, settings, device, pretrain_batch)
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
    pretrain_batch: Callable[[], tuple[Tensor, Tensor]] | None = None,
) -> dict[str, float]:
    """Epochs of minibatch steps on one rollout; with settings.ptx_coef > 0, pretrain_batch() gives
    each step its pretraining rows (ids, weights) for the PPO-ptx term."""
    policy.train()
    n = batch.prompt.shape[0]
    losses, kls, clips, ptx_nlls = [], [], [], []
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
            if settings.ptx_coef:
                # lesson:start ppo-ptx-step
                ids, weights = pretrain_batch()  # a minibatch of pretraining text, (n_ptx, L)
                with autocast(device):
                    pretrain_logp = text_logprobs(policy, ids)  # (n_ptx, L - 1)
                loss = ppo_ptx_loss(loss, pretrain_logp, weights[:, 1:], settings.ptx_coef)
                # lesson:end ppo-ptx-step
                with torch.no_grad():
                    ptx_nlls.append((-(pretrain_logp * weights[:, 1:]).sum() / weights[:, 1:].sum()).item())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                kls.append(approx_kl(logp[m], batch.logp_old[index][m]).item())
                clips.append(clip_fraction(logp[m], batch.logp_old[index][m], settings.clip_eps).item())
                losses.append((policy_loss.item(), value_loss.item()))
    policy.eval()
    stats = {
        "losses/policy": float(np.mean([p for p, _ in losses])),
        "losses/value": float(np.mean([v for _, v in losses])),
        "losses/approx_kl": float(np.mean(kls)),
        "losses/clip_fraction": float(np.mean(clips)),
    }
    if ptx_nlls:  # PPO-ptx: the policy's loss on the pretraining text it was shown (nats per token)
        stats["losses/ptx_nll"] = float(np.mean(ptx_nlls))
    return stats
