"""The small language model: a word-level tokenizer, a GPT-2 from `transformers`, sampling, log-probs.

Everything is saved with `save_pretrained` and loaded with `AutoTokenizer` / `AutoModelForCausalLM.
from_pretrained`, so the same code loads a real checkpoint when pointed at a local folder or a hub
id. Our own models are tiny and trained here: no download is ever needed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.batching import least_padding_batches
from algorithms.lm.reviews import EOS, WORDS

PAD, BOS, UNK = "<pad>", "<bos>", "<unk>"


def quiet_transformers() -> None:
    """No per-load progress bars or padding advice in run logs: our padding is always on the right,
    after the last real token, where causal attention never looks."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


@dataclass(frozen=True)
class ModelSize:
    n_layer: int
    n_embd: int
    n_head: int
    n_positions: int = 32
    activation: str = "gelu_pytorch_tanh"
    """GPT-2's tanh GELU as one fused torch kernel: the same function as GPT-2's own `gelu_new`
    (to 1e-6), which transformers writes out as seven elementwise ops, each with its own pass over
    memory forward and backward: 15% of the tiny chain's time (docs/benchmarks.md)."""


def build_tokenizer(words: tuple[str, ...] = WORDS):
    """A word-level tokenizer (the `tokenizers` library) wrapped as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([PAD, BOS, EOS, UNK, *words])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK, padding_side="right"
    )


def build_model(tokenizer, size: ModelSize):
    """A fresh GPT-2 with no dropout (dropout would make PPO's old and new log-probs disagree)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    quiet_transformers()

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=size.n_positions,
        n_embd=size.n_embd,
        n_layer=size.n_layer,
        n_head=size.n_head,
        activation_function=size.activation,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config)


def save(model, tokenizer, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_policy(name_or_path: str | Path, device: str = "cpu"):
    """(model, tokenizer) from a folder we saved, or any causal LM a user points at (folder or hub id)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if tokenizer.pad_token is None:  # real GPT-2 checkpoints ship without one
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(name_or_path)).to(device)
    return model, tokenizer


def load_reward_model(folder: str | Path, device: str = "cpu"):
    """A sequence classifier with one output: the reward model (read at the last non-pad token)."""
    from transformers import AutoModelForSequenceClassification

    quiet_transformers()

    return AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1).to(device)


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def autocast(device: str):
    """bf16 autocast on a GPU; nothing on the CPU (bf16 matmuls are slow there)."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --- text <-> tensors ---------------------------------------------------------------------------
def encode_prompts(tokenizer, texts: list[str], device: str = "cpu") -> Tensor:
    """<bos> + prompt words, (B, P). Prompts must all have the same number of tokens (ours do)."""
    rows = [[tokenizer.bos_token_id, *tokenizer.encode(t, add_special_tokens=False)] for t in texts]
    if len({len(r) for r in rows}) != 1:
        raise ValueError("prompts of different lengths: left-pad them or group them by length")
    return torch.tensor(rows, device=device)


def encode_completions(tokenizer, texts: list[str], length: int, device: str = "cpu") -> tuple[Tensor, Tensor]:
    """(ids, mask), both (B, length): completions right-padded with <pad>, mask 1 on real tokens."""
    ids = torch.full((len(texts), length), tokenizer.pad_token_id, dtype=torch.long)
    for row, text in enumerate(texts):
        tokens = tokenizer.encode(text, add_special_tokens=False)[:length]
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return ids.to(device), (ids != tokenizer.pad_token_id).float().to(device)


def decode(tokenizer, ids: Tensor, mask: Tensor | None = None) -> list[str]:
    """Token ids back to text, dropping padding; <eos> is kept (it is part of what is judged)."""
    out = []
    for row in range(ids.shape[0]):
        tokens = ids[row] if mask is None else ids[row][mask[row].bool()]
        out.append(" ".join(tokenizer.convert_ids_to_tokens(tokens.tolist())).replace(PAD, "").strip())
    return out


# --- sampling and log-probabilities ------------------------------------------------------------
@torch.no_grad()
def sample(model, prompt_ids: Tensor, max_new_tokens: int, eos_id: int, pad_id: int, temperature: float = 1.0):
    """Sample completions token by token with the KV cache. Returns (tokens, mask), both (B, T).

    A completion ends at its first <eos> (kept, mask 1); later positions are <pad> (mask 0). A
    completion that never samples <eos> runs to max_new_tokens: that is "not ending the review".
    """
    # lesson:start sample
    out = model(input_ids=prompt_ids, use_cache=True)
    done = torch.zeros(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    tokens = []
    for _ in range(max_new_tokens):
        probs = F.softmax(out.logits[:, -1].float() / temperature, dim=-1)
        token = torch.multinomial(probs, 1).squeeze(1)  # (B,)
        token = torch.where(done, torch.full_like(token, pad_id), token)  # finished rows only pad
        tokens.append(token)
        done |= token == eos_id
        if done.all():
            break
        out = model(input_ids=token[:, None], past_key_values=out.past_key_values, use_cache=True)
    # lesson:end sample
    completion = torch.stack(tokens, dim=1)
    ended = torch.cumsum((completion == eos_id).long(), dim=1)  # >= 1 from the first <eos> on
    after_eos = (ended - (completion == eos_id).long()) > 0
    mask = (~after_eos).float()
    return completion.masked_fill(after_eos, pad_id), mask


# On the CPU one pass of the tiny GPT-2 has a fixed cost: forward and backward, 4 tokens take 10 ms and
# each further token 0.05 to 0.07 ms on the 2-core dev VM, so a pass costs as much as 120 to 200 tokens
# (120 is used): the rows of a batch are split into passes of similar length when that saves more
# padding than it costs (docs/benchmarks.md).
PASS_COST_TOKENS = 120


def token_logprobs(model, prompt_ids: Tensor, completion: Tensor, mask: Tensor, with_hidden: bool = False):
    """ln pi(y_t | x, y_<t) for every completion token, (B, T), zero on padding.

    With with_hidden=True also returns the last hidden states at the same positions, (B, T, H):
    the state each token was chosen in (PPO's value head reads them).

    On the CPU a batch whose completions differ much in length is run as a few passes of rows of
    similar length (a random batch of DPO pairs is as wide as its longest completion, more than
    twice the average): the same numbers, with less padding to compute forward and backward.
    """
    B, T = completion.shape
    if completion.device.type != "cpu" or B < 2 or T == 0:
        return one_pass_logprobs(model, prompt_ids, completion, mask, with_hidden)
    positions = torch.arange(1, T + 1, device=mask.device)
    ends = (mask.ne(0).long() * positions).amax(1).tolist()  # the last real token of each row
    groups = least_padding_batches([e + prompt_ids.shape[1] for e in ends], PASS_COST_TOKENS)
    if len(groups) == 1:
        return one_pass_logprobs(model, prompt_ids, completion, mask, with_hidden)
    index = [torch.tensor(g, device=completion.device) for g in groups]
    parts = [one_pass_logprobs(model, prompt_ids[i], completion[i], mask[i], with_hidden) for i in index]
    back = torch.argsort(torch.cat(index))  # row r of the batch is row back[r] of the passes, in order
    if with_hidden:
        return torch.cat([p[0] for p in parts])[back], torch.cat([p[1] for p in parts])[back]
    return torch.cat(parts)[back]


def one_pass_logprobs(model, prompt_ids: Tensor, completion: Tensor, mask: Tensor, with_hidden: bool = False):
    """`token_logprobs` in one forward pass over the whole batch (the lessons show this one)."""
    T = completion.shape[1]
    width = max(1, int(mask.sum(1).max()))  # columns of padding that every row shares cost nothing
    completion, mask = completion[:, :width], mask[:, :width]
    # lesson:start token-logprobs
    ids = torch.cat([prompt_ids, completion], dim=1)  # (B, P + T)
    out = model(input_ids=ids, output_hidden_states=with_hidden)
    P = prompt_ids.shape[1]
    logits = out.logits[:, P - 1 : -1].float()  # the prediction for y_t is made at position P - 1 + t
    logp = torch.gather(F.log_softmax(logits, dim=-1), 2, completion[..., None]).squeeze(-1)  # (B, T)
    # lesson:end token-logprobs
    logp = F.pad(logp * mask, (0, T - width))
    if with_hidden:
        return logp, F.pad(out.hidden_states[-1][:, P - 1 : -1], (0, 0, 0, T - width))
    return logp


def sequence_logprobs(model, prompt_ids: Tensor, completion: Tensor, mask: Tensor) -> Tensor:
    """ln pi(y | x) = sum over the completion's tokens, (B,): what DPO and KTO compare."""
    return token_logprobs(model, prompt_ids, completion, mask).sum(dim=1)
