"""Stage 2, preference data: pairs of the SFT model's own completions, compared by the hidden human.

For each prompt we sample two completions and ask the hidden rule which is better; ties are
dropped, as labelling tools let annotators skip. The same samples, labelled one at a time
(good if the rule scores them above zero, bad if below), are KTO's unpaired data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from algorithms.lm import reviews
from algorithms.lm.model import decode, encode_prompts, sample


@dataclass
class Pairs:
    """Preference pairs, all on one device: prompt (N, P); chosen / rejected tokens and masks (N, T)."""

    prompt: Tensor
    chosen: Tensor
    chosen_mask: Tensor
    rejected: Tensor
    rejected_mask: Tensor

    def __len__(self) -> int:
        return self.prompt.shape[0]

    def subset(self, index: Tensor) -> Pairs:
        return Pairs(
            *(t[index] for t in (self.prompt, self.chosen, self.chosen_mask, self.rejected, self.rejected_mask))
        )

    def to(self, device: str) -> Pairs:
        return Pairs(
            *(t.to(device) for t in (self.prompt, self.chosen, self.chosen_mask, self.rejected, self.rejected_mask))
        )


@dataclass
class Labelled:
    """Unpaired completions with a thumbs up (desirable) or down: KTO's data."""

    prompt: Tensor
    completion: Tensor
    mask: Tensor
    desirable: Tensor  # (N,) bool

    def __len__(self) -> int:
        return self.prompt.shape[0]

    def subset(self, index: Tensor) -> Labelled:
        return Labelled(self.prompt[index], self.completion[index], self.mask[index], self.desirable[index])

    def to(self, device: str) -> Labelled:
        return Labelled(
            self.prompt.to(device), self.completion.to(device), self.mask.to(device), self.desirable.to(device)
        )


def _pad_to(t: Tensor, length: int, value: float) -> Tensor:
    if t.shape[1] >= length:
        return t[:, :length]
    return torch.cat([t, torch.full((t.shape[0], length - t.shape[1]), value, dtype=t.dtype, device=t.device)], 1)


@torch.no_grad()
def sample_texts(model, tokenizer, prompts: list[str], max_new_tokens: int, device: str, batch_size: int = 256):
    """Sampled completions for each prompt: (prompt_ids, tokens, mask, full texts), padded to max_new_tokens."""
    ids, toks, masks, texts = [], [], [], []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        prompt_ids = encode_prompts(tokenizer, chunk, device)
        tokens, mask = sample(model, prompt_ids, max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id)
        ids.append(prompt_ids)
        toks.append(_pad_to(tokens, max_new_tokens, tokenizer.pad_token_id))
        masks.append(_pad_to(mask, max_new_tokens, 0.0))
        texts += [f"{p} {c}" for p, c in zip(chunk, decode(tokenizer, tokens, mask), strict=True)]
    return torch.cat(ids), torch.cat(toks), torch.cat(masks), texts


def build_preferences(
    model,
    tokenizer,
    n_prompts: int,
    max_new_tokens: int,
    device: str,
    seed: int,
    log: Callable[[dict], None] = lambda _: None,
) -> tuple[Pairs, Labelled, dict[str, float]]:
    """Two samples per prompt from `model`, judged by the hidden rule. Returns pairs, unpaired labels, stats."""
    prompts = reviews.prompts(n_prompts, seed)
    torch.manual_seed(seed)
    ids_a, tok_a, mask_a, text_a = sample_texts(model, tokenizer, prompts, max_new_tokens, device)
    log({"progress": 0.5})
    _, tok_b, mask_b, text_b = sample_texts(model, tokenizer, prompts, max_new_tokens, device)
    log({"progress": 1.0})
    # lesson:start label-pairs
    verdict = torch.tensor(
        [reviews.prefer(a, b) for a, b in zip(text_a, text_b, strict=True)], device=device
    )  # 1, -1, 0
    keep = verdict != 0  # ties say nothing about which is better: drop them
    a_wins = (verdict > 0)[:, None]
    pairs = Pairs(
        prompt=ids_a[keep],
        chosen=torch.where(a_wins, tok_a, tok_b)[keep],
        chosen_mask=torch.where(a_wins, mask_a, mask_b)[keep],
        rejected=torch.where(a_wins, tok_b, tok_a)[keep],
        rejected_mask=torch.where(a_wins, mask_b, mask_a)[keep],
    )
    # lesson:end label-pairs
    scores = np.array([reviews.hidden_score(t) for t in text_a + text_b])
    labelled_keep = torch.from_numpy(scores != 0).to(device)
    labelled = Labelled(
        prompt=torch.cat([ids_a, ids_a])[labelled_keep],
        completion=torch.cat([tok_a, tok_b])[labelled_keep],
        mask=torch.cat([mask_a, mask_b])[labelled_keep],
        desirable=torch.from_numpy(scores > 0).to(device)[labelled_keep],
    )
    stats = {
        "pairs": float(len(pairs)),
        "tie_fraction": float(1 - keep.float().mean()),
        "unpaired": float(len(labelled)),
        "desirable_fraction": float(labelled.desirable.float().mean()),
    }
    return pairs, labelled, stats
