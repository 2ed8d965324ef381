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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

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
from algorithms.lm.model import (
    autocast,
    build_model,
    build_tokenizer,
    decode,
    encode_prompts,
    load_policy,
    sample,
    save,
    sequence_logprobs,
    token_logprobs,
)
from algorithms.lm.optim import make_optimizer
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
    iterations: int = 40
    prompts_per_iteration: int = 16  # B
    group_size: int = 8  # G completions per prompt
    epochs: int = 1  # gradient passes over each batch (mu in DeepSeekMath); 1 is on-policy
    minibatch_size: int = 128  # completions per gradient step
    lr: float = 3e-4
    beta: float = 0.04  # weight of the k3 KL to the reference; 0 drops it (DAPO, Dr. GRPO)
    clip_eps: float = 0.2
    clip_eps_high: float | None = None  # DAPO's clip-higher, e.g. 0.28 (None: clip_eps)
    aggregation: str = "sequence"  # "sequence" (DeepSeekMath), "token" (DAPO), "constant" (Dr. GRPO)
    scale: str = "std"  # "std" (GRPO) or "none" (Dr. GRPO)
    advantage: str = "grpo"  # "grpo" (group mean) or "rloo" (leave-one-out mean)
    dynamic_sampling: bool = False  # DAPO: drop groups whose G rewards are all equal
    max_new_tokens: int = 28
    temperature: float = 1.0


GRPO_PRESETS: dict[str, GRPOSettings] = {
    "smoke": GRPOSettings(iterations=3, prompts_per_iteration=4, group_size=4, minibatch_size=16),
    "tiny": GRPOSettings(iterations=60, prompts_per_iteration=16, group_size=8, minibatch_size=128),
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


def train_grpo(
    policy,
    reference,
    tokenizer,
    settings: GRPOSettings,
    reward_fn: Callable[[str], float],
    *,
    device: str,
    seed: int,
    log: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
    on_samples: Callable[[list[dict]], None] = lambda _: None,
) -> dict[str, float]:
    """Train `policy` in place against `reward_fn`; the reference stays frozen. Returns a summary."""
    if settings.group_size < 2:
        raise ValueError(
            f"group_size must be at least 2 (a group needs others to compare with), got {settings.group_size}"
        )
    if settings.aggregation not in ("sequence", "token", "constant"):
        raise ValueError(f"aggregation must be 'sequence', 'token' or 'constant', got {settings.aggregation!r}")
    if settings.advantage not in ("grpo", "rloo"):
        raise ValueError(f"advantage must be 'grpo' or 'rloo', got {settings.advantage!r}")
    optimizer, _ = make_optimizer(policy, settings.lr, settings.iterations)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    B, G = settings.prompts_per_iteration, settings.group_size
    start = time.perf_counter()
    history: dict[str, float] = {}
    kept_total = 0
    for iteration in range(settings.iterations):
        if should_stop():
            break
        prompts = [str(rng.choice(reviews.SUBJECTS)) for _ in range(B)]
        # lesson:start grpo-rollout
        prompt_ids = encode_prompts(tokenizer, prompts, device).repeat_interleave(G, dim=0)  # (B G, P)
        policy.eval()
        with torch.no_grad(), autocast(device):
            tokens, mask = sample(  # G completions per prompt, token by token with the KV cache
                policy,
                prompt_ids,
                settings.max_new_tokens,
                tokenizer.eos_token_id,
                tokenizer.pad_token_id,
                settings.temperature,
            )
        texts = [f"{p} {c}" for p, c in zip(np.repeat(prompts, G), decode(tokenizer, tokens, mask), strict=True)]
        rewards = torch.tensor([reward_fn(t) for t in texts], dtype=torch.float32, device=device).view(B, G)
        advantages = group_advantages(rewards, settings)  # (B, G): no critic
        # lesson:end grpo-rollout
        # lesson:start dynamic-sampling
        informative = rewards.std(dim=1) > 0  # (B,): a group of equal rewards has zero advantage everywhere
        keep = informative if settings.dynamic_sampling else torch.ones_like(informative)
        rows = keep.repeat_interleave(G).nonzero().squeeze(1)  # the completions of the groups kept
        # lesson:end dynamic-sampling
        correct = [all_praise(t) for t in texts]
        history = {
            "progress": (iteration + 1) / settings.iterations,
            "global_step": iteration + 1,
            "charts/reward": rewards.mean().item(),
            "charts/accuracy": float(np.mean(correct)),
            "charts/length": mask.sum(1).mean().item(),
            "charts/informative_groups": informative.float().mean().item(),
        }
        if len(rows):
            kept_total += len(rows) // G
            history.update(_update(policy, reference, optimizer, prompt_ids, tokens, mask, advantages, rows, settings))
        log(history)
        shown = zip(texts[::G], rewards[:, 0].tolist(), correct[::G], strict=True)  # one completion per prompt
        on_samples([{"text": t, "reward": r, "correct": bool(c)} for t, r, c in shown])
    return {
        "iterations": history.get("global_step", 0),
        "groups_trained": kept_total,
        "seconds": time.perf_counter() - start,
    }


def _update(policy, reference, optimizer, prompt_ids, tokens, mask, advantages, rows, settings: GRPOSettings) -> dict:
    device = str(prompt_ids.device)
    prompt_ids, tokens, mask = prompt_ids[rows], tokens[rows], mask[rows]
    adv = advantages.flatten()[rows]  # (N,): one advantage per completion, for all its tokens
    on_policy = settings.epochs == 1 and settings.minibatch_size >= len(rows)
    with torch.no_grad(), autocast(device):
        logp_ref = token_logprobs(reference, prompt_ids, tokens, mask) if settings.beta else None
        # With one gradient step per batch, pi_old is the current policy: its log-probs are logp.detach().
        logp_old = None if on_policy else token_logprobs(policy, prompt_ids, tokens, mask)
    policy.train()
    losses, clips, kls = [], [], []
    for _ in range(settings.epochs):
        for index in torch.randperm(len(rows), device=prompt_ids.device).split(settings.minibatch_size):
            with autocast(device):
                logp = token_logprobs(policy, prompt_ids[index], tokens[index], mask[index])
            old = logp.detach() if logp_old is None else logp_old[index]
            ref = None if logp_ref is None else logp_ref[index]
            # lesson:start grpo-step
            loss = grpo_loss(
                logp,
                old,
                ref,
                adv[index],
                mask[index],
                clip_eps=settings.clip_eps,
                clip_eps_high=settings.clip_eps_high,
                beta=settings.beta,
                aggregation=settings.aggregation,
                max_len=settings.max_new_tokens,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            # lesson:end grpo-step
            check_finite("the GRPO loss", loss.item(), len(losses))
            m = mask[index].bool()
            losses.append(loss.item())
            clips.append(clip_fraction(logp[m], old[m], settings.clip_eps).item())
            if ref is not None:
                kls.append(((logp.detach() - ref) * mask[index]).sum(1).mean().item())
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
                epochs=preset.sft_epochs,
                batch_size=preset.sft_batch,
                lr=preset.sft_lr,
                device=device,
                length=SEQUENCE_LENGTH,
                log=log,
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
class GRPOConfig:
    task: Literal["praise", "praise_partial_credit"] = "praise"
    """The reward: 'praise' checks the rule exactly (1 or 0); the partial credit pays per positive word (hackable)."""
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
    preset: Literal["auto", "smoke", "tiny", "gpu"] = "auto"
    """Model and data sizes: 'auto' picks 'gpu' with CUDA, else 'tiny'."""
    seed: int = 0
    """Seed of the SFT model and of GRPO's sampling."""
    device: str = "auto"
    """'auto' (CUDA when present), 'cuda' or 'cpu'."""
    threads: int = 0
    """CPU threads for torch (0: every core if the machine is idle when the run starts, else 1)."""
    cache_dir: str = ""
    """Where the SFT model is kept between runs (empty: the data directory's lm/)."""
    output_dir: str = ""
    """Where this run writes its report, samples and final policy (set by the run manager)."""


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
    reporter = Reporter(on_update, {"sft": 30.0, "grpo": 70.0})
    log = reporter.stage("sft")
    sft_dir = ensure_sft(preset, cache, config.seed, device, log, should_stop)
    log({"progress": 1.0})
    log.finish()  # type: ignore[attr-defined]
    policy, tokenizer = load_policy(sft_dir, device)
    reference, _ = load_policy(sft_dir, device)
    reference.requires_grad_(False)
    n_eval = N_EVAL[preset.name]
    before = evaluate_task(policy, reference, tokenizer, n_eval, settings.max_new_tokens, device)
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
        TASKS[config.task],
        device=device,
        seed=config.seed,
        log=log,
        should_stop=should_stop,
        on_samples=write_samples,
    )
    log.finish()  # type: ignore[attr-defined]
    after = evaluate_task(policy, reference, tokenizer, n_eval, settings.max_new_tokens, device)
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
        "well_formed_after": after["well_formed"],
        "ended_after": after["ended"],
        "iterations": info["iterations"],
        "groups_trained": info["groups_trained"],
        "grpo_seconds": round(info["seconds"], 1),
        "seconds": round(time.perf_counter() - start, 1),
        "samples_before": before["samples"],
        "samples_after": after["samples"],
    }
    if out:
        out.mkdir(parents=True, exist_ok=True)
        save(policy, tokenizer, out / "policy")
        (out / "report.json").write_text(json.dumps(result, indent=1))
    result["_policy"] = policy
    return result


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
