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
    "preference": {"prompt", "chosen", "rejected"},
    "unpaired-preference": {"prompt", "completion", "label"},
    "prompt-completion": {"prompt", "completion"},
    "prompt-only": {"prompt"},
    "language-modeling": {"text"},
    "conversational": {"messages"},
}
"""trl's dataset formats by their columns, the most specific first (a preference row also has a prompt)."""


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
    """The trl format of the rows: the first of FORMATS whose columns they all have."""
    columns = set(records[0])
    for name in FORMATS:
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


# --- SFT, DPO and KTO on your own data ------------------------------------------------------------
def _completion_ids(tokenizer, completion, max_completion: int) -> list[int]:
    """A completion's token ids, cut to max_completion with its <eos> kept last."""
    ids = tokenizer(completion_text(completion), add_special_tokens=False).input_ids[: max_completion - 1]
    return ids if ids and ids[-1] == tokenizer.eos_token_id else [*ids, tokenizer.eos_token_id]


def _padded(tokenizer, seqs: list[list[int]], device: str, width: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded to the longest (or to width) (ids, mask), mask 1 on real tokens."""
    T = max(width, *(len(seq) for seq in seqs))
    ids = torch.full((len(seqs), T), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), T)
    for i, seq in enumerate(seqs):
        ids[i, : len(seq)], mask[i, : len(seq)] = torch.tensor(seq), 1.0
    return ids.to(device), mask.to(device)


def _by_prompt_length(tokenizer, records: list[dict]) -> dict[int, list[tuple[tuple[int, ...], dict]]]:
    """Records grouped by the length of their encoded prompt, so no prompt needs padding."""
    groups: dict[int, list] = {}
    for record in records:
        prompt = encode_prompt(tokenizer, prompt_text(tokenizer, record["prompt"]))
        groups.setdefault(len(prompt), []).append((prompt, record))
    return groups


def preference_buckets(tokenizer, records: list[dict], max_completion: int, device: str) -> list:
    """trl preference rows as `Pairs`, one per prompt length (so no prompt needs padding); completions end in <eos>."""
    from algorithms.lm.preferences import Pairs

    buckets = []
    for rows in _by_prompt_length(tokenizer, records).values():
        chosen = [_completion_ids(tokenizer, r["chosen"], max_completion) for _, r in rows]
        rejected = [_completion_ids(tokenizer, r["rejected"], max_completion) for _, r in rows]
        T = max(len(ids) for ids in chosen + rejected)  # one width: chosen and rejected go through one forward pass
        chosen, chosen_mask = _padded(tokenizer, chosen, device, T)
        rejected, rejected_mask = _padded(tokenizer, rejected, device, T)
        prompts = torch.tensor([p for p, _ in rows], device=device)
        buckets.append(Pairs(prompts, chosen, chosen_mask, rejected, rejected_mask))
    return buckets


def unpaired_buckets(tokenizer, records: list[dict], max_completion: int, device: str) -> list:
    """trl unpaired-preference rows (prompt / completion / label) as KTO's `Labelled`, one per prompt length."""
    from algorithms.lm.preferences import Labelled

    buckets = []
    for rows in _by_prompt_length(tokenizer, records).values():
        completion, mask = _padded(
            tokenizer, [_completion_ids(tokenizer, r["completion"], max_completion) for _, r in rows], device
        )
        labels = torch.tensor([bool(r["label"]) for _, r in rows], device=device)
        buckets.append(Labelled(torch.tensor([p for p, _ in rows], device=device), completion, mask, labels))
    if not any(bool(b.desirable.any()) for b in buckets) or all(bool(b.desirable.all()) for b in buckets):
        raise ValueError("KTO needs both labels in the data: some rows with label true and some with false")
    return buckets


def sft_rows(tokenizer, records: list[dict], max_length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, mask, weights) for SFT: trl's language-modeling (`text`), conversational (`messages`) or
    prompt-completion rows. The loss counts every token of a text, and only the completion's tokens
    (its <eos> included) of a prompt-completion row, as trl does by default."""
    fmt = detect_format(records)
    seqs, counted = [], []
    for record in records:
        if fmt == "prompt-completion":
            prompt = list(encode_prompt(tokenizer, prompt_text(tokenizer, record["prompt"])))
            completion = _completion_ids(tokenizer, record["completion"], max_length)
            seq = [*prompt, *completion][:max_length]
            weight = [0.0] * len(prompt) + [1.0] * len(completion)
        elif fmt in ("language-modeling", "conversational"):
            text = record["text"] if fmt == "language-modeling" else _conversation(tokenizer, record["messages"])
            seq = [*encode_prompt(tokenizer, text), tokenizer.eos_token_id][:max_length]
            weight = [1.0] * len(seq)
        else:
            raise ValueError(f"SFT needs text, messages or prompt/completion rows; the dataset is in the {fmt} format")
        seqs.append(seq)
        counted.append(weight[: len(seq)])
    ids, mask = _padded(tokenizer, seqs, "cpu")
    weights = torch.zeros_like(mask)
    for i, weight in enumerate(counted):
        weights[i, : len(weight)] = torch.tensor(weight)
    return ids, mask, weights


def _conversation(tokenizer, messages: list[dict]) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the dataset holds chat messages but the tokenizer has no chat template")
    return tokenizer.apply_chat_template(messages, tokenize=False)


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


@torch.no_grad()
def label_accuracy(policy, reference, buckets: list) -> float:
    """Share of KTO rows whose implicit reward ln pi - ln ref has the sign of their label (0 counts as wrong)."""
    from algorithms.lm.model import sequence_logprobs

    right, n = 0.0, 0
    for b in buckets:
        r = sequence_logprobs(policy, b.prompt, b.completion, b.mask) - sequence_logprobs(
            reference, b.prompt, b.completion, b.mask
        )
        right += float(((r > 0) & b.desirable).sum() + ((r < 0) & ~b.desirable).sum())
        n += len(b)
    return right / n


# --- PPO on your own model, prompts and reward model -------------------------------------------------
def load_reward(name_or_path: str | Path, device: str):
    """(reward model, normaliser): a sequence classifier with one output that shares the policy's tokenizer."""
    from algorithms.lm.model import load_reward_model
    from algorithms.lm.reward_model import Normaliser

    try:
        model = load_reward_model(name_or_path, device)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"could not load a reward model (a sequence classifier) from {str(name_or_path)!r}: {exc}"
        ) from exc
    folder = Path(name_or_path)
    return model.requires_grad_(False).eval(), Normaliser.load(folder) if folder.exists() else Normaliser()


def prompt_ids(tokenizer, records: list[dict]) -> list[tuple[int, ...]]:
    """The token ids of each row's prompt (trl's prompt-only format, or any format with a prompt)."""
    return [encode_prompt(tokenizer, prompt_text(tokenizer, record["prompt"])) for record in records]


@torch.no_grad()
def reward_evaluation(
    policy,
    reference,
    reward_model,
    normaliser,
    tokenizer,
    prompts: list[tuple[int, ...]],
    max_new_tokens: int,
    device: str,
) -> dict[str, float]:
    """One completion per prompt: the mean (normalised) reward-model score, KL to the reference per sequence, length."""
    from algorithms.lm.model import sample, sequence_logprobs
    from algorithms.lm.reward_model import reward_scores

    by_length: dict[int, list[tuple[int, ...]]] = {}
    for ids in prompts:
        by_length.setdefault(len(ids), []).append(ids)
    scores, kls, lengths = [], [], []
    for same in by_length.values():
        ids = torch.tensor(same, device=device)
        tokens, mask = sample(policy, ids, max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id)
        scores.append(normaliser(reward_scores(reward_model, ids, tokens)))
        kls.append(sequence_logprobs(policy, ids, tokens, mask) - sequence_logprobs(reference, ids, tokens, mask))
        lengths.append(mask.sum(1))
    return {
        "reward": round(float(torch.cat(scores).mean()), 4),
        "kl": round(float(torch.cat(kls).mean()), 4),
        "mean_length": round(float(torch.cat(lengths).mean()), 3),
    }
