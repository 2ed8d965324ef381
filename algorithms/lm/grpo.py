"""GRPO on the small LM against a verifiable reward: reinforcement learning from verifiable rewards (RLVR).

The recipe of DeepSeekMath (Shao et al. 2024) and DeepSeek-R1-Zero (DeepSeek-AI 2025), at toy scale:

1. for each of B prompts, sample a *group* of G completions from the policy (the KV cache makes
   this cheap: `algorithms.lm.model.sample`);
2. score every completion with a *program*, not a learned reward model: here an exact checker of a
   rule about the review (`TASKS`), as a unit test or a maths answer checker would be;
3. advantage = the completion's reward against its own group's (`grpo_advantages`, or RLOO's
   leave-one-out baseline): no value network, no critic;
4. one or a few gradient steps on the clipped per-token loss with a k3 KL to the frozen SFT model
   (`grpo_loss`), aggregated per sequence (DeepSeekMath), per token (DAPO) or by a constant (Dr. GRPO).

Every variant discussed in the lessons is a switch of `GRPOSettings`: `aggregation`, `scale`
("none" is Dr. GRPO), `advantage` ("rloo"), `clip_eps_high` (DAPO's clip-higher), `beta` (0 drops
the KL term, as DAPO and Dr. GRPO do) and `dynamic_sampling` (DAPO: drop groups whose rewards are all
equal; they have zero advantage and only dilute the batch).

`python -m algorithms.lm grpo --preset tiny --json` trains the SFT model (or reuses a cached one),
measures the task's accuracy, runs GRPO, measures again and prints one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

from algorithms.contract import (
    OnUpdate,
    ShouldStop,
    TrainResult,
    check_finite,
    ignore_metrics,
    never_stop,
    pick_device,
)
from algorithms.lm import reviews
from algorithms.lm.hf import (
    answer_match,
    decoder,
    detect_format,
    encode_prompt,
    load_base,
    merged,
    prompt_text,
    read_records,
)
from algorithms.lm.model import (
    autocast,
    build_model,
    build_tokenizer,
    decode,
    encode_prompts,
    sample,
    save,
    sequence_logprobs,
    token_logprobs,
)
from algorithms.lm.optim import constant_adamw
from algorithms.lm.run_config import LMRunConfig
from algorithms.losses import clip_fraction, grpo_advantages, grpo_loss, rloo_advantages

EVAL_SEED = 20_000  # evaluation prompts and sampling share no seed with training


# --- the verifiable rewards ---------------------------------------------------------------------
def all_praise(review: str) -> float:
    """1.0 for a well-formed review with at least two distinct positive adjectives and no negative one, else 0.0.

    A rule a program checks exactly: "praise, in proper sentences, with more than one word of praise".
    The SFT model, which learned reviews of every mood, meets it on a minority of its samples.
    """
    # lesson:start verifiable-reward
    j = reviews.judge(review)  # parses the review: form, distinct positive and negative adjectives
    return float(j.well_formed and j.positive >= 2 and j.negative == 0)
    # lesson:end verifiable-reward


def praise_partial_credit(review: str) -> float:
    """A gameable reward: 0.25 per distinct positive adjective, whether or not the review parses.

    No check of form: word salad full of praise scores as well as a proper review. Trained against
    it, the policy learns to stack positive words and stops caring whether the text parses or ends;
    `accuracy` (the exact rule) shows the gap. This is reward hacking of a verifier.
    """
    # lesson:start partial-credit
    positive = len(set(review.split()) & set(reviews.POSITIVE))
    return 0.25 * positive  # no parse, no <eos> check: nothing stops "great lovely superb great ..."
    # lesson:end partial-credit


TASKS: dict[str, Callable[[str], float]] = {"praise": all_praise, "praise_partial_credit": praise_partial_credit}
"""Reward functions by name. Accuracy is always measured with the exact rule, `all_praise`."""


# --- the algorithm ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GRPOSettings:
    """GRPO's settings; every variant of the lessons is one of these switches."""

    iterations: int = 40
    """Sample-then-update iterations."""
    prompts_per_iteration: int = 16
    """B: prompts per iteration."""
    group_size: int = 8
    """G: completions sampled per prompt (at least 2: a group needs others to compare with)."""
    epochs: int = 1
    """Gradient passes over each batch (mu in DeepSeekMath); 1 is on-policy."""
    minibatch_size: int = 128
    """Completions per gradient step."""
    lr: float = 1.5e-4
    """AdamW's learning rate, constant through the run (algorithms/lm/optim.py: constant_adamw)."""
    beta: float = 0.04
    """Weight of the k3 KL to the reference in the loss; 0 drops it (DAPO, Dr. GRPO)."""
    clip_eps: float = 0.2
    """Lower (and, without clip_eps_high, upper) clip range of the ratio."""
    clip_eps_high: float | None = None
    """DAPO's clip-higher, e.g. 0.28 (None: clip_eps)."""
    aggregation: str = "sequence"
    """'sequence' (DeepSeekMath), 'token' (DAPO) or 'constant' (Dr. GRPO)."""
    scale: str = "std"
    """'std' (GRPO) or 'none' (Dr. GRPO): divide each group's advantages by its reward std or not."""
    advantage: str = "grpo"
    """'grpo' (the group's mean as baseline) or 'rloo' (the mean of the other completions)."""
    dynamic_sampling: bool = False
    """DAPO: drop groups whose G rewards are all equal."""
    max_new_tokens: int = 28
    """Longest completion sampled."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts."""


GRPO_PRESETS: dict[str, GRPOSettings] = {
    "smoke": GRPOSettings(iterations=3, prompts_per_iteration=4, group_size=4, minibatch_size=16, lr=3e-4),
    "tiny": GRPOSettings(iterations=60, prompts_per_iteration=16, group_size=8, minibatch_size=128, lr=1e-4),
    "gpu": GRPOSettings(iterations=100, prompts_per_iteration=64, group_size=16, minibatch_size=256, lr=1e-4),
}
N_EVAL = {"smoke": 32, "tiny": 256, "gpu": 1024}


def group_advantages(rewards: torch.Tensor, settings: GRPOSettings) -> torch.Tensor:
    """(B, G) rewards -> (B, G) advantages, by the settings' baseline and scale."""
    # lesson:start grpo-advantage-choice
    if settings.advantage == "rloo":
        return rloo_advantages(rewards)  # baseline: the mean of the other G - 1
    return grpo_advantages(rewards, scale=settings.scale)  # baseline: the group's mean (/ std unless "none")
    # lesson:end grpo-advantage-choice


@dataclass(frozen=True)
class Prompt:
    """One prompt: its text, its token ids (with <bos> where the tokenizer has one) and its data record."""

    text: str
    ids: tuple[int, ...]
    record: dict = field(default_factory=dict)


Reward = Callable[[str, str, dict], float]
"""(prompt, completion, record) -> reward."""


def review_prompts(tokenizer) -> list[Prompt]:
    """Our task's prompts: the subjects that open a review."""
    return [Prompt(s, tuple(encode_prompts(tokenizer, [s])[0].tolist())) for s in reviews.SUBJECTS]


@dataclass
class Bucket:
    """Completions whose prompts have one length, so they stack without padding: (N, P), (N, T), (N, T), (N,)."""

    prompt_ids: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    advantages: torch.Tensor


@torch.no_grad()
def sample_groups(
    policy, tokenizer, prompts: list[Prompt], G: int, max_new_tokens: int, temperature: float, device: str
):
    """G completions of each prompt, one `sample` call per prompt length: yields (prompts, prompt ids, tokens, mask)."""
    by_length: dict[int, list[Prompt]] = {}
    for prompt in prompts:
        by_length.setdefault(len(prompt.ids), []).append(prompt)
    policy.eval()
    for same in by_length.values():
        prompt_ids = torch.tensor([p.ids for p in same], device=device).repeat_interleave(G, dim=0)  # (n G, P)
        with autocast(device):
            tokens, mask = sample(  # token by token with the KV cache
                policy, prompt_ids, max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id, temperature
            )
        yield same, prompt_ids, tokens, mask


def train_grpo(
    policy,
    reference,
    tokenizer,
    settings: GRPOSettings,
    reward_fn: Callable[[str], float] | Reward,
    *,
    device: str,
    seed: int,
    prompts: list[Prompt] | None = None,
    decode_fn: Callable | None = None,
    accuracy_fn: Reward | None = None,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
    on_samples: Callable[[list[dict]], None] = lambda _: None,
) -> dict[str, float]:
    """Train `policy` in place against `reward_fn`; the reference stays frozen. Returns a summary.

    prompts: where to draw prompts from (default: our review subjects). reward_fn takes the whole
    text (prompt and completion) for our reviews, or (prompt, completion, record) for a dataset's
    prompts. accuracy_fn (same form) is what `charts/accuracy` reports (default: the exact rule).
    """
    if settings.group_size < 2:
        raise ValueError(
            f"group_size must be at least 2 (a group needs others to compare with), got {settings.group_size}"
        )
    if settings.aggregation not in ("sequence", "token", "constant"):
        raise ValueError(f"aggregation must be 'sequence', 'token' or 'constant', got {settings.aggregation!r}")
    if settings.advantage not in ("grpo", "rloo"):
        raise ValueError(f"advantage must be 'grpo' or 'rloo', got {settings.advantage!r}")
    if prompts is None:
        prompts = review_prompts(tokenizer)
        reward_fn, accuracy_fn = _on_text(reward_fn), accuracy_fn or _on_text(all_praise)
    accuracy_fn = accuracy_fn or reward_fn
    decode_fn = decode_fn or (lambda tokens, mask: decode(tokenizer, tokens, mask))
    optimizer = constant_adamw([p for p in policy.parameters() if p.requires_grad], settings.lr)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    B, G = settings.prompts_per_iteration, settings.group_size
    start = time.perf_counter()
    history: dict[str, float] = {}
    kept_total = 0
    for iteration in range(settings.iterations):
        if should_stop():
            break
        chosen = [prompts[int(rng.choice(len(prompts)))] for _ in range(B)]
        buckets, all_rewards, lengths, correct, shown = [], [], [], [], []
        for same, prompt_ids, tokens, mask in sample_groups(
            policy, tokenizer, chosen, G, settings.max_new_tokens, settings.temperature, device
        ):
            # lesson:start grpo-rollout
            completions = decode_fn(tokens, mask)  # G completions per prompt, sampled with the KV cache
            group_of = [p for p in same for _ in range(G)]  # the prompt of each completion
            scores = [reward_fn(p.text, c, p.record) for p, c in zip(group_of, completions, strict=True)]
            rewards = torch.tensor(scores, dtype=torch.float32, device=device).view(len(same), G)  # (B, G)
            advantages = group_advantages(rewards, settings)  # (B, G): no critic
            # lesson:end grpo-rollout
            # lesson:start dynamic-sampling
            informative = rewards.std(dim=1) > 0  # (B,): a group of equal rewards has zero advantage everywhere
            keep = informative if settings.dynamic_sampling else torch.ones_like(informative)
            rows = keep.repeat_interleave(G).nonzero().squeeze(1)  # the completions of the groups kept
            # lesson:end dynamic-sampling
            if len(rows):
                buckets.append(Bucket(prompt_ids[rows], tokens[rows], mask[rows], advantages.flatten()[rows]))
            all_rewards.append(rewards)
            lengths.append(mask.sum(1))
            hits = [accuracy_fn(p.text, c, p.record) for p, c in zip(group_of, completions, strict=True)]
            correct += hits
            shown += [
                {"text": f"{p.text} {c}", "reward": r, "correct": bool(h)}
                for p, c, r, h in list(zip(group_of, completions, scores, hits, strict=True))[::G]
            ]
        rewards = torch.cat(all_rewards)
        history = {
            "progress": (iteration + 1) / settings.iterations,
            "global_step": iteration + 1,
            "charts/reward": rewards.mean().item(),
            "charts/accuracy": float(np.mean(correct)),
            "charts/length": torch.cat(lengths).mean().item(),
            "charts/informative_groups": (rewards.std(dim=1) > 0).float().mean().item(),
        }
        if buckets:
            kept_total += sum(len(b.advantages) for b in buckets) // G
            history.update(_update(policy, reference, optimizer, buckets, settings))
        on_update(history)
        on_samples(shown)
    return {
        "iterations": history.get("global_step", 0),
        "groups_trained": kept_total,
        "seconds": time.perf_counter() - start,
    }


def _on_text(fn: Callable[[str], float]) -> Reward:
    """A reward of the whole review text as a (prompt, completion, record) reward."""
    return lambda prompt, completion, _record: fn(f"{prompt} {completion}")


def _update(policy, reference, optimizer, buckets: list[Bucket], settings: GRPOSettings) -> dict:
    device = str(buckets[0].prompt_ids.device)
    n = sum(len(b.advantages) for b in buckets)
    on_policy = settings.epochs == 1 and settings.minibatch_size >= n
    old_ref = []
    with torch.no_grad(), autocast(device):
        for b in buckets:
            logp_ref = token_logprobs(reference, b.prompt_ids, b.tokens, b.mask) if settings.beta else None
            # With one gradient step per batch, pi_old is the current policy: its log-probs are logp.detach().
            logp_old = None if on_policy else token_logprobs(policy, b.prompt_ids, b.tokens, b.mask)
            old_ref.append((logp_old, logp_ref))
    trainable = [p for p in policy.parameters() if p.requires_grad]
    policy.train()
    losses, clips, kls = [], [], []
    for _ in range(settings.epochs):
        minibatches = [
            (b, index, old, ref)
            for b, (old, ref) in zip(buckets, old_ref, strict=True)
            for index in torch.randperm(len(b.advantages), device=b.prompt_ids.device).split(settings.minibatch_size)
        ]
        for b, index, logp_old, logp_ref in minibatches:
            mask, adv = b.mask[index], b.advantages[index]
            with autocast(device):
                logp = token_logprobs(policy, b.prompt_ids[index], b.tokens[index], mask)
            old = logp.detach() if logp_old is None else logp_old[index]
            ref = None if logp_ref is None else logp_ref[index]
            # lesson:start grpo-step
            loss = grpo_loss(
                logp,
                old,
                ref,
                adv,
                mask,
                clip_eps=settings.clip_eps,
                clip_eps_high=settings.clip_eps_high,
                beta=settings.beta,
                aggregation=settings.aggregation,
                max_len=settings.max_new_tokens,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            # lesson:end grpo-step
            check_finite("the GRPO loss", loss.item(), len(losses))
            m = mask.bool()
            losses.append(loss.item())
            clips.append(clip_fraction(logp[m], old[m], settings.clip_eps).item())
            if ref is not None:
                kls.append(((logp.detach() - ref) * mask).sum(1).mean().item())
    policy.eval()
    out = {"losses/policy": float(np.mean(losses)), "losses/clip_fraction": float(np.mean(clips))}
    if kls:
        out["charts/kl"] = float(np.mean(kls))
    return out


# --- evaluation ---------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_task(policy, reference, tokenizer, n: int, max_new_tokens: int, device: str, n_samples: int = 4) -> dict:
    """Accuracy under the exact rule, mean completion length and KL(pi || ref) per completion, on fixed prompts."""
    from algorithms.lm.preferences import sample_texts

    prompts = reviews.prompts(n, EVAL_SEED)
    torch.manual_seed(EVAL_SEED + 1)
    prompt_ids, tokens, mask, texts = sample_texts(policy, tokenizer, prompts, max_new_tokens, device)
    kl = sequence_logprobs(policy, prompt_ids, tokens, mask) - sequence_logprobs(reference, prompt_ids, tokens, mask)
    judged = [reviews.judge(t) for t in texts]
    return {
        "accuracy": round(float(np.mean([all_praise(t) for t in texts])), 4),
        "mean_length": round(float(mask.sum(1).mean()), 3),
        "kl": round(float(kl.mean()), 4),
        "well_formed": round(float(np.mean([j.well_formed for j in judged])), 4),
        "ended": round(float((tokens == tokenizer.eos_token_id).any(1).float().mean()), 4),
        "samples": texts[:n_samples],
    }


@torch.no_grad()
def evaluate_prompts(
    policy,
    reference,
    tokenizer,
    prompts: list[Prompt],
    accuracy_fn: Reward,
    max_new_tokens: int,
    device: str,
    decode_fn: Callable,
    n_samples: int = 4,
) -> dict:
    """evaluate_task for any prompts and verifier: one sample per prompt; accuracy, mean length, KL per completion."""
    torch.manual_seed(EVAL_SEED + 1)
    hits, lengths, kls, samples = [], [], [], []
    for same, prompt_ids, tokens, mask in sample_groups(policy, tokenizer, prompts, 1, max_new_tokens, 1.0, device):
        completions = decode_fn(tokens, mask)
        hits += [accuracy_fn(p.text, c, p.record) for p, c in zip(same, completions, strict=True)]
        lengths.append(mask.sum(1))
        logp = sequence_logprobs(policy, prompt_ids, tokens, mask)
        kls.append(logp - sequence_logprobs(reference, prompt_ids, tokens, mask))
        samples += [f"{p.text} {c}" for p, c in zip(same, completions, strict=True)]
    return {
        "accuracy": round(float(np.mean(hits)), 4),
        "mean_length": round(float(torch.cat(lengths).float().mean()), 3),
        "kl": round(float(torch.cat(kls).mean()), 4),
        "samples": samples[:n_samples],
    }  # fmt: skip


# --- the SFT model it starts from ---------------------------------------------------------------
def ensure_sft(preset, cache: Path, seed: int, device: str, log: OnUpdate, should_stop: ShouldStop) -> Path:
    """The folder of the SFT model for (preset, seed): the RLHF chain's if cached, else one trained here alone.

    Trained exactly as the chain trains it (same seed, corpus and settings), without the preference
    data and reward model GRPO does not need.
    """
    from algorithms.lm.pipeline import SEQUENCE_LENGTH, Stopped, _exclusive
    from algorithms.lm.sft import train_sft

    chain = cache / f"{preset.name}-seed{seed}"
    if (chain / "foundations.json").exists():
        return chain / "sft"
    folder = cache / f"{preset.name}-seed{seed}-sft"
    if (folder / "config.json").exists():
        return folder
    with _exclusive(cache / f"{folder.name}.lock", should_stop):
        if not (folder / "config.json").exists():
            work = folder.with_name(folder.name + f".partial-{os.getpid()}")
            shutil.rmtree(work, ignore_errors=True)
            torch.manual_seed(seed)
            tokenizer = build_tokenizer()
            model = build_model(tokenizer, preset.size).to(device)
            train_sft(
                model,
                tokenizer,
                reviews.corpus(preset.n_reviews, seed),
                preset.sft,
                device=device,
                length=SEQUENCE_LENGTH,
                on_update=log,
                should_stop=should_stop,
            )
            if should_stop():
                raise Stopped("stopped during supervised fine-tuning; nothing was cached")
            save(model, tokenizer, work)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(work, folder)
    return folder


# --- the live-runs contract and the command line -------------------------------------------------
@dataclass(frozen=True)
class GRPOConfig(LMRunConfig):
    """GRPO as a live run: the variant's switches, then the shared settings, then your own model and data."""

    LAST_FIELDS: ClassVar[tuple[str, ...]] = (*LMRunConfig.LAST_FIELDS, "base_model", "dataset", "lora")

    task: Literal["praise", "praise_partial_credit", "answer_match"] = "praise"
    """Reward: 'praise' checks the rule; partial credit pays per praise word; 'answer_match' checks dataset answers."""
    aggregation: Literal["sequence", "token", "constant"] = "sequence"
    """Averaging of token losses: per sequence first (GRPO), over all tokens (DAPO), or sum / a constant (Dr. GRPO)."""
    scale: Literal["std", "none"] = "std"
    """Divide each group's advantages by its reward std (GRPO), or not (Dr. GRPO)."""
    advantage: Literal["grpo", "rloo"] = "grpo"
    """Baseline: the group's mean reward (GRPO), or the mean of the other completions (RLOO)."""
    beta: float | None = None
    """Weight of the k3 KL to the SFT model in the loss (empty: the preset's 0.04; 0 drops it)."""
    clip_eps_high: float | None = None
    """Upper clip of the ratio, DAPO's clip-higher (empty: the same as the lower clip, 0.2)."""
    dynamic_sampling: bool = False
    """Drop groups whose completions all got the same reward (DAPO)."""
    iterations: int | None = None
    """GRPO iterations (empty: the preset's)."""
    group_size: int | None = None
    """Completions sampled per prompt, G (empty: the preset's)."""
    base_model: str = ""
    """A Hugging Face causal LM (a folder, or a hub id: downloaded) to start from instead of our SFT model."""
    dataset: str = ""
    """Prompts in trl's prompt-only format (a JSONL file or a hub id), optionally with an 'answer' column."""
    lora: int = 0
    """LoRA rank: train low-rank adapters on every linear layer instead of all weights (0: off)."""


def settings_for(config: GRPOConfig, preset_name: str) -> GRPOSettings:
    settings = GRPO_PRESETS[preset_name]
    overrides = {
        "aggregation": config.aggregation,
        "scale": config.scale,
        "advantage": config.advantage,
        "dynamic_sampling": config.dynamic_sampling,
        "clip_eps_high": config.clip_eps_high,
    }
    if config.beta is not None:
        overrides["beta"] = config.beta
    if config.iterations is not None:
        overrides["iterations"] = config.iterations
    if config.group_size is not None:
        overrides["group_size"] = config.group_size
    return replace(settings, **overrides)


def run_grpo(config: GRPOConfig, on_update: OnUpdate = ignore_metrics, should_stop: ShouldStop = never_stop) -> dict:
    """SFT (cached), accuracy before, GRPO, accuracy after: one dict, the command line's JSON."""
    from algorithms.lm.pipeline import Reporter, configure_threads, default_cache_dir, resolve_preset

    start = time.perf_counter()
    device = pick_device(config.device)
    preset = resolve_preset(config.preset, device)
    threads = configure_threads(device, config.threads, preset)
    settings = settings_for(config, preset.name)
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    reporter = Reporter(on_update, {"sft": 0.0 if config.base_model else 30.0, "grpo": 70.0})
    log = reporter.stage("sft")
    model_path = config.base_model or ensure_sft(preset, cache, config.seed, device, log, should_stop)
    log({"progress": 1.0})
    log.finish()  # type: ignore[attr-defined]
    torch.manual_seed(config.seed)  # LoRA's initial adapters are random
    policy, reference, tokenizer = load_base(model_path, device, config.lora)
    n_eval = N_EVAL[preset.name]
    generic = bool(config.base_model or config.dataset)  # our review task on our SFT model keeps its own evaluation
    reward = _reward(config.task)
    accuracy = answer_match if config.task == "answer_match" else _on_text(all_praise)
    prompts = _prompts(config, tokenizer)
    if generic:
        eval_prompts = prompts[:n_eval]
        decode_fn = decoder(tokenizer) if config.base_model else (lambda t, m: decode(tokenizer, t, m))

        def measure() -> dict:
            args = (policy, reference, tokenizer, eval_prompts, accuracy, settings.max_new_tokens, device, decode_fn)
            return evaluate_prompts(*args)
    else:
        decode_fn = None

        def measure() -> dict:
            return evaluate_task(policy, reference, tokenizer, n_eval, settings.max_new_tokens, device)

    before = measure()
    log = reporter.stage("grpo")
    out = Path(config.output_dir) if config.output_dir else None

    def write_samples(samples: list[dict]) -> None:
        if out:
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / "samples.json.tmp"
            tmp.write_text(json.dumps(samples))
            os.replace(tmp, out / "samples.json")

    info = train_grpo(
        policy,
        reference,
        tokenizer,
        settings,
        reward,
        device=device,
        seed=config.seed,
        prompts=prompts,
        decode_fn=decode_fn,
        accuracy_fn=accuracy,
        on_update=log,
        should_stop=should_stop,
        on_samples=write_samples,
    )
    log.finish()  # type: ignore[attr-defined]
    after = measure()
    result = {
        "preset": preset.name,
        "device": device,
        "threads": threads,
        "seed": config.seed,
        "task": config.task,
        "settings": asdict(settings),
        "accuracy_before": before["accuracy"],
        "accuracy_after": after["accuracy"],
        "kl": after["kl"],
        "mean_length_before": before["mean_length"],
        "mean_length_after": after["mean_length"],
        **({} if generic else {"well_formed_after": after["well_formed"], "ended_after": after["ended"]}),
        "base_model": config.base_model or None,
        "dataset": config.dataset or None,
        "lora": config.lora,
        "iterations": info["iterations"],
        "groups_trained": info["groups_trained"],
        "grpo_seconds": round(info["seconds"], 1),
        "seconds": round(time.perf_counter() - start, 1),
        "samples_before": before["samples"],
        "samples_after": after["samples"],
    }
    if out:
        out.mkdir(parents=True, exist_ok=True)
        save(merged(policy), tokenizer, out / "policy")
        (out / "report.json").write_text(json.dumps(result, indent=1))
    result["_policy"] = policy
    return result


def _reward(task: str) -> Reward:
    if task == "answer_match":
        return answer_match
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join([*TASKS, 'answer_match'])}")
    return _on_text(TASKS[task])


def _prompts(config: GRPOConfig, tokenizer) -> list[Prompt]:
    """The dataset's prompts (trl's prompt-only format), or our review subjects."""
    if not config.dataset:
        if config.task == "answer_match":
            raise ValueError("the reward 'answer_match' needs --dataset with an 'answer' column")
        return [Prompt(s, encode_prompt(tokenizer, s)) for s in reviews.SUBJECTS]
    records = read_records(config.dataset)
    fmt = detect_format(records, config.dataset)
    if fmt != "prompt-only":
        raise ValueError(f"GRPO needs prompts, and {config.dataset!r} is in the {fmt} format (it has completions)")
    if config.task == "answer_match" and "answer" not in records[0]:
        raise ValueError(
            f"the reward 'answer_match' needs an 'answer' column; {config.dataset!r} has {sorted(records[0])}"
        )
    out = []
    for record in records:
        text = prompt_text(tokenizer, record["prompt"])
        out.append(Prompt(text, encode_prompt(tokenizer, text), record))
    return out


def train(
    config: GRPOConfig, on_update: OnUpdate = ignore_metrics, should_stop: ShouldStop = never_stop
) -> TrainResult:
    """GRPO as a live run: charts of accuracy, reward, KL and length; samples.json as it trains."""
    result = run_grpo(config, on_update, should_stop)
    result.pop("_policy")
    metrics = {k: v for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    artifacts = {}
    if config.output_dir:
        artifacts = {
            "policy": str(Path(config.output_dir) / "policy"),
            "report": str(Path(config.output_dir) / "report.json"),
        }
    return TrainResult(metrics=metrics, artifacts=artifacts)
