"""Your own model and data: any Hugging Face causal LM, datasets in trl's formats, LoRA adapters.

- `load_base(ID_OR_PATH)`: a causal LM and its tokenizer through `from_pretrained` (a local folder or
  a hub id; nothing is downloaded unless you name a hub id), with a frozen copy as the reference.
- `read_records(PATH_OR_ID)`: rows of a JSONL / JSON file, or of a hub dataset, read with `datasets`.
  The formats are trl's: prompt-only (`prompt`, optionally `answer` for a verifier), preference
  (`prompt` / `chosen` / `rejected`) and unpaired preference (`prompt` / `completion` / `label`).
  A prompt is text, or a list of chat messages that the tokenizer's chat template turns into text.
- `with_lora(model, r)`: `peft` LoRA adapters on every linear layer, so a 0.1 to 1 B model trains on
  one GPU; the base weights stay frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

FORMATS = {
    "prompt-only": {"prompt"},
    "preference": {"prompt", "chosen", "rejected"},
    "unpaired-preference": {"prompt", "completion", "label"},
}


def load_base(name_or_path: str | Path, device: str, lora: int = 0):
    """(policy, reference, tokenizer): the reference is a frozen copy; with lora > 0 the policy trains adapters only."""
    from algorithms.lm.model import load_policy

    try:
        policy, tokenizer = load_policy(name_or_path, device)
        reference, _ = load_policy(name_or_path, device)
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not load a causal LM from {str(name_or_path)!r}: {exc}") from exc
    reference.requires_grad_(False).eval()
    if lora:
        policy = with_lora(policy, lora)
    return policy.eval(), reference, tokenizer


def with_lora(model, r: int, alpha: int | None = None):
    """LoRA (Hu et al. 2021) of rank r on every linear layer: W x + (alpha / r) B A x; A, B train, W stays frozen."""
    if r < 1:
        raise ValueError(f"the LoRA rank must be a positive integer, got {r}")
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, target_modules="all-linear", lora_dropout=0.0)
    return get_peft_model(model, config)


def merged(model):
    """A plain model to save: LoRA adapters merged into the weights (no-op for a model without adapters)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def read_records(path_or_id: str | Path, split: str = "train") -> list[dict]:
    """Rows of a local JSONL / JSON file, or of a hub dataset (only then is anything downloaded)."""
    from datasets import load_dataset

    path = Path(path_or_id)
    try:
        if path.exists():
            data = load_dataset("json", data_files=str(path), split="train")
        else:
            data = load_dataset(str(path_or_id), split=split)
    except Exception as exc:  # datasets raises many kinds; the user needs to know which file and why
        raise ValueError(f"could not read a dataset from {str(path_or_id)!r}: {exc}") from exc
    records = data.to_list()
    if not records:
        raise ValueError(f"the dataset {str(path_or_id)!r} has no rows")
    return records


def detect_format(records: list[dict], path: str = "the dataset") -> str:
    """The trl format of the rows: 'preference', 'unpaired-preference' or 'prompt-only'."""
    columns = set(records[0])
    for name in ("preference", "unpaired-preference", "prompt-only"):
        if FORMATS[name] <= columns:
            return name
    raise ValueError(
        f"{path} has columns {sorted(columns)}; expected one of: "
        + "; ".join(f"{name} ({', '.join(sorted(cols))})" for name, cols in FORMATS.items())
    )


def prompt_text(tokenizer, prompt: str | list[dict]) -> str:
    """A prompt as text: as is, or chat messages through the tokenizer's chat template (with the generation prompt)."""
    if isinstance(prompt, str):
        return prompt
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the prompt is a list of chat messages but the tokenizer has no chat template")
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def completion_text(completion: str | list[dict]) -> str:
    """A completion as text: as is, or the content of its (assistant) messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] for m in completion)


def encode_prompt(tokenizer, text: str) -> tuple[int, ...]:
    """Token ids of a prompt, starting with <bos> when the tokenizer has one (once, whatever the tokenizer adds)."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    if not ids:
        raise ValueError(f"the prompt {text!r} encodes to no tokens")
    return tuple(ids)


def decoder(tokenizer) -> Callable[[torch.Tensor, torch.Tensor], list[str]]:
    """(tokens, mask) -> completion texts, special tokens dropped: for any tokenizer."""

    def decode(tokens: torch.Tensor, mask: torch.Tensor) -> list[str]:
        return [
            tokenizer.decode(row[m.bool()].tolist(), skip_special_tokens=True).strip()
            for row, m in zip(tokens, mask, strict=True)
        ]

    return decode


def answer_match(_prompt: str, completion: str, record: dict) -> float:
    """1.0 if the record's `answer` appears in the completion: the simplest verifier of a dataset's answers."""
    if "answer" not in record:
        raise ValueError("the reward 'answer_match' needs an 'answer' column in the dataset")
    return float(str(record["answer"]).strip() in completion)


# --- DPO on your own preference data -----------------------------------------------------------
def preference_buckets(tokenizer, records: list[dict], max_completion: int, device: str) -> list:
    """trl preference rows as `Pairs`, one per prompt length (so no prompt needs padding); completions end in <eos>."""
    from algorithms.lm.preferences import Pairs

    def completion_ids(completion) -> list[int]:
        ids = tokenizer(completion_text(completion), add_special_tokens=False).input_ids[: max_completion - 1]
        return ids if ids and ids[-1] == tokenizer.eos_token_id else [*ids, tokenizer.eos_token_id]

    by_length: dict[int, list[tuple]] = {}
    for record in records:
        prompt = encode_prompt(tokenizer, prompt_text(tokenizer, record["prompt"]))
        by_length.setdefault(len(prompt), []).append(
            (prompt, completion_ids(record["chosen"]), completion_ids(record["rejected"]))
        )
    buckets = []
    for rows in by_length.values():
        T = max(len(ids) for _, c, r in rows for ids in (c, r))

        def padded(seqs: list[list[int]], T: int = T) -> tuple[torch.Tensor, torch.Tensor]:
            ids = torch.full((len(seqs), T), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros(len(seqs), T)
            for i, seq in enumerate(seqs):
                ids[i, : len(seq)], mask[i, : len(seq)] = torch.tensor(seq), 1.0
            return ids.to(device), mask.to(device)

        chosen, chosen_mask = padded([c for _, c, _ in rows])
        rejected, rejected_mask = padded([r for _, _, r in rows])
        prompts = torch.tensor([p for p, _, _ in rows], device=device)
        buckets.append(Pairs(prompts, chosen, chosen_mask, rejected, rejected_mask))
    return buckets


def train_dpo_buckets(
    policy,
    reference,
    buckets: list,
    *,
    beta: float,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    seed: int = 0,
) -> dict:
    """DPO (`algorithms.losses.dpo_loss`) over pairs grouped by prompt length; minibatches stay in a bucket."""
    import time

    from algorithms.lm.dpo import _reference_logprobs
    from algorithms.lm.model import autocast, token_logprobs
    from algorithms.lm.optim import make_optimizer
    from algorithms.losses import dpo_loss

    refs = [
        (
            _reference_logprobs(reference, b.prompt, b.chosen, b.chosen_mask),
            _reference_logprobs(reference, b.prompt, b.rejected, b.rejected_mask),
        )
        for b in buckets
    ]
    torch.manual_seed(seed)
    plan = [(i, index) for i, b in enumerate(buckets) for index in torch.randperm(len(b)).split(batch_size)]
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(trainable, lr, epochs * len(plan))
    policy.train()
    start, losses = time.perf_counter(), []
    for _ in range(epochs):
        for k in torch.randperm(len(plan)).tolist():
            i, index = plan[k]
            b, (ref_c, ref_r) = buckets[i].subset(index.to(buckets[i].prompt.device)), refs[i]
            with autocast(device):
                both = token_logprobs(
                    policy,
                    b.prompt.repeat(2, 1),
                    torch.cat([b.chosen, b.rejected]),
                    torch.cat([b.chosen_mask, b.rejected_mask]),
                ).sum(1)
                pi_c, pi_r = both.chunk(2)
                loss = dpo_loss(pi_c, pi_r, ref_c[index], ref_r[index], beta)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
    policy.eval()
    return {"steps": len(losses), "final_loss": losses[-1], "seconds": time.perf_counter() - start}


@torch.no_grad()
def preference_accuracy(policy, reference, buckets: list, beta: float) -> tuple[float, float]:
    """(DPO loss, share of pairs whose implicit reward ranks chosen above rejected) over all buckets."""
    from algorithms.lm.model import sequence_logprobs
    from algorithms.losses import dpo_loss

    total, right, n = 0.0, 0.0, 0
    for b in buckets:
        margin = [
            sequence_logprobs(m, b.prompt, b.chosen, b.chosen_mask)
            - sequence_logprobs(m, b.prompt, b.rejected, b.rejected_mask)
            for m in (policy, reference)
        ]
        total += dpo_loss(
            margin[0], torch.zeros_like(margin[0]), margin[1], torch.zeros_like(margin[1]), beta
        ).item() * len(b)
        right += float((margin[0] - margin[1] > 0).sum())
        n += len(b)
    return total / n, right / n
