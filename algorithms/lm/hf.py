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
