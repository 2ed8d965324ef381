"""The RLHF chain end to end: SFT, preference data, reward model, then PPO (with and without the KL
penalty), DPO and KTO from the same SFT model, each evaluated the same way.

`run_chain` runs everything and returns one dict (the command line prints it as JSON). `train` is
the live-runs contract: one stage per run, reusing the SFT model, preference data and reward model
cached in `cache_dir` (built, with progress, by the first run that needs them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

from algorithms.contract import (
    Metrics,
    OnUpdate,
    ShouldStop,
    TrainResult,
    configure_cpu_threads,
    ignore_metrics,
    never_stop,
    pick_device,
)
from algorithms.lm import reviews
from algorithms.lm.dpo import train_dpo, train_kto
from algorithms.lm.evaluate import Baseline, evaluate, sft_baseline
from algorithms.lm.loop import TrainSettings
from algorithms.lm.model import (
    ModelSize,
    build_model,
    build_tokenizer,
    load_policy,
    load_reward_model,
    n_parameters,
    save,
)
from algorithms.lm.ppo import LMPPOSettings, PretrainText, train_ppo
from algorithms.lm.preferences import Labelled, Pairs, build_preferences
from algorithms.lm.reward_model import Normaliser, fit_normaliser, train_reward_model
from algorithms.lm.run_config import LMRunConfig
from algorithms.lm.sft import encode_corpus, train_sft

SEQUENCE_LENGTH = 30  # <bos> + the longest review + <eos> fits
MAX_NEW_TOKENS = 28


@dataclass(frozen=True)
class Preset:
    """Sizes and settings of every stage of the chain, for one scale of machine."""

    name: str
    """'smoke', 'tiny' or 'gpu'."""
    size: ModelSize
    """The policy's transformer (the reward model shares it)."""
    n_reviews: int
    """Reviews in the SFT corpus."""
    sft: TrainSettings
    """Supervised fine-tuning on the corpus."""
    n_preference_prompts: int
    """Prompts sampled twice each to make preference pairs."""
    reward_model: TrainSettings
    """The reward model on the pairs."""
    dpo_beta: float
    """DPO's beta: the strength of the implicit KL to the SFT model."""
    kto_beta: float
    """KTO's beta."""
    offline: TrainSettings
    """DPO and KTO (the same settings for both)."""
    ppo: LMPPOSettings = field(default_factory=LMPPOSettings)
    """PPO with the KL-shaped reward (ppo_no_kl sets beta to 0)."""
    n_eval: int = 256
    """Completions sampled to evaluate each policy."""
    dpo_nll_coef: float = 0.0
    """Weight of the chosen answers' NLL added to the DPO loss (0: plain DPO)."""
    ppo_no_kl_iterations: int | None = None
    """PPO iterations of the beta-0 run (None: as many as `ppo`); it only has to show the hacking."""
    ppo_no_kl_lr: float | None = None
    """Learning rate of the beta-0 run (None: `ppo`'s)."""


PRESETS: dict[str, Preset] = {
    # A few seconds on a CPU: for tests and a first look. Too small to learn well.
    "smoke": Preset(
        name="smoke",
        size=ModelSize(n_layer=2, n_embd=32, n_head=2),
        n_reviews=2000,
        sft=TrainSettings(epochs=1, batch_size=64, lr=3e-3, log_every=20),
        n_preference_prompts=300,
        reward_model=TrainSettings(epochs=1, batch_size=32, lr=1e-3),
        dpo_beta=0.1,
        kto_beta=0.1,
        offline=TrainSettings(epochs=1, batch_size=32, lr=1e-4),
        ppo=LMPPOSettings(iterations=3, batch_size=16, minibatch_size=8, epochs=2),
        n_eval=32,
    ),
    # About 0.8 M parameters: the whole chain in about 4 minutes (220 s) on an idle 2-core CPU (docs/benchmarks.md).
    # PPO: 40 iterations of 128 rollouts (the same 5,120 samples as 80 of 64, half the rollout loops and
    # optimiser steps, at twice the learning rate), beta adapted towards 3 nats so a seed whose reward
    # model is easier to fool does not run off (fixed beta: KL 8.3 on seed 1); the no-KL run needs only
    # enough iterations to hack.
    "tiny": Preset(
        name="tiny",
        size=ModelSize(n_layer=4, n_embd=128, n_head=4),
        n_reviews=20_000,
        sft=TrainSettings(epochs=2, batch_size=64, lr=1e-3, log_every=20),
        n_preference_prompts=5000,
        reward_model=TrainSettings(epochs=3, batch_size=64, lr=5e-4),
        dpo_beta=0.5,
        kto_beta=0.5,
        offline=TrainSettings(epochs=2, batch_size=64, lr=2e-4),
        ppo=LMPPOSettings(
            iterations=40, batch_size=128, minibatch_size=64, epochs=4, lr=1e-4, beta=0.05, target_kl=3.0
        ),
        ppo_no_kl_iterations=30,
        ppo_no_kl_lr=2e-4,
        n_eval=256,
    ),
    # About 25 M parameters, bf16 autocast: for a GPU.
    "gpu": Preset(
        name="gpu",
        size=ModelSize(n_layer=8, n_embd=512, n_head=8),
        n_reviews=200_000,
        sft=TrainSettings(epochs=1, batch_size=256, lr=5e-4, log_every=20),
        n_preference_prompts=20_000,
        reward_model=TrainSettings(epochs=2, batch_size=128, lr=1e-4),
        dpo_beta=0.5,
        kto_beta=0.5,
        offline=TrainSettings(epochs=1, batch_size=128, lr=3e-5),
        ppo=LMPPOSettings(iterations=100, batch_size=256, minibatch_size=64, epochs=4, lr=3e-5, beta=0.05),
        n_eval=1024,
    ),
}


def configure_threads(device: str, threads: int, preset: Preset) -> int:
    """Torch's CPU threads for this run; returns the number chosen.

    RL loops on small networks here run best on one thread: with two, a busy second process once made
    torch 17 times slower. The LM's matrices are bigger, and on an idle 2-core machine two threads
    train it 1.9 times faster (14k against 7.2k tokens a second). So threads=0 means: every core if
    the machine looks idle now (1-minute load average under 0.5), else one.
    """
    if device != "cpu":
        return torch.get_num_threads()
    configure_cpu_threads()
    cores = os.cpu_count() or 1
    if threads <= 0:
        idle = hasattr(os, "getloadavg") and os.getloadavg()[0] < 0.5
        threads = cores if (idle and preset.name != "smoke") else 1
    torch.set_num_threads(max(1, min(threads, cores)))
    return torch.get_num_threads()


def resolve_preset(name: str, device: str) -> Preset:
    if name == "auto":
        name = "gpu" if device.startswith("cuda") else "tiny"
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(['auto', *PRESETS])}")
    return PRESETS[name]


class Reporter:
    """Maps each stage's progress in [0, 1] onto the run's overall progress, and keeps global_step rising."""

    def __init__(self, on_update: OnUpdate, weights: dict[str, float]):
        self.on_update, self.weights = on_update, weights
        self.total = sum(weights.values())
        self.done = 0.0
        self.step_offset = 0

    def stage(self, name: str) -> Callable[[dict], None]:
        weight = self.weights.get(name, 0.0)
        base, offset = self.done, self.step_offset
        last = {"step": 0}

        def log(metrics: dict) -> None:
            out = dict(metrics)
            out["progress"] = min(1.0, (base + weight * float(metrics.get("progress", 0.0))) / self.total)
            step = int(metrics.get("global_step", last["step"]))
            last["step"] = step
            out["global_step"] = offset + step
            out[f"stages/{name}"] = float(metrics.get("progress", 0.0))
            self.on_update(out)

        def finish() -> None:
            self.done += weight
            self.step_offset = offset + last["step"]

        log.finish = finish  # type: ignore[attr-defined]
        return log


# --- the cached foundations: SFT model, preference data, reward model ----------------------------
@dataclass
class Foundations:
    tokenizer: object
    sft_dir: Path
    reward_dir: Path
    pairs_train: Pairs
    pairs_test: Pairs
    labelled: Labelled
    baseline: Baseline
    normaliser: Normaliser
    report: dict


def default_cache_dir() -> Path:
    return Path(os.environ.get("RLDOJO_DATA_DIR") or Path(__file__).resolve().parents[2] / ".rldojo") / "lm"


def build_foundations(
    preset: Preset, cache: Path, seed: int, device: str, reporter: Reporter, should_stop: ShouldStop
) -> Foundations:
    """SFT, preferences and the reward model for (preset, seed): loaded from `cache`, or trained and saved there."""
    folder = cache / f"{preset.name}-seed{seed}"
    if not _cached(folder, preset):
        with _exclusive(cache / f"{folder.name}.lock", should_stop):  # one builder; the others wait, then load
            if not _cached(folder, preset):
                _train_foundations(preset, folder, seed, device, reporter, should_stop)
    if reporter.done == 0:
        for name in ("sft", "preferences", "reward_model"):
            log = reporter.stage(name)
            log({"progress": 1.0})
            log.finish()  # type: ignore[attr-defined]
    data = torch.load(folder / "preferences.pt", map_location=device)
    report = json.loads((folder / "foundations.json").read_text())
    _, tokenizer = load_policy(folder / "sft", device)
    return Foundations(
        tokenizer=tokenizer,
        sft_dir=folder / "sft",
        reward_dir=folder / "reward_model",
        pairs_train=Pairs(**data["train"]),
        pairs_test=Pairs(**data["test"]),
        labelled=Labelled(**data["labelled"]),
        baseline=Baseline(**report.pop("baseline")),
        normaliser=Normaliser.load(folder / "reward_model"),
        report=report,
    )


def foundation_settings(preset: Preset) -> dict:
    """What the cached SFT model, preference data and reward model were built with: a cache made
    with other settings (an older version of the preset) is rebuilt, never silently reused."""
    return json.loads(
        json.dumps(
            {
                "size": asdict(preset.size),
                "n_reviews": preset.n_reviews,
                "sft": asdict(preset.sft),
                "n_preference_prompts": preset.n_preference_prompts,
                "reward_model": asdict(preset.reward_model),
                "n_eval": preset.n_eval,
            }
        )
    )


def _cached(folder: Path, preset: Preset) -> bool:
    if not (folder / "foundations.json").exists():
        return False
    settings = folder / "settings.json"
    return settings.exists() and json.loads(settings.read_text()) == foundation_settings(preset)


def _train_foundations(preset: Preset, folder: Path, seed: int, device: str, reporter: Reporter, should_stop) -> None:
    work = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, preset.size).to(device)
    log = reporter.stage("sft")
    sft = train_sft(
        model,
        tokenizer,
        reviews.corpus(preset.n_reviews, seed),
        preset.sft,
        device=device,
        length=SEQUENCE_LENGTH,
        on_update=log,
        should_stop=should_stop,
    )
    log.finish()  # type: ignore[attr-defined]
    _stop_check(should_stop, "supervised fine-tuning")
    save(model, tokenizer, work / "sft")

    log = reporter.stage("preferences")
    pairs, labelled, pref_stats = build_preferences(
        model, tokenizer, preset.n_preference_prompts, MAX_NEW_TOKENS, device, seed + 1, log
    )
    log.finish()  # type: ignore[attr-defined]
    n_test = max(1, len(pairs) // 8)
    perm = torch.randperm(len(pairs), device=pairs.prompt.device)
    test, train = pairs.subset(perm[:n_test]), pairs.subset(perm[n_test:])

    log = reporter.stage("reward_model")
    reward_model = load_reward_model(work / "sft", device)
    rm = train_reward_model(
        reward_model,
        train,
        test,
        preset.reward_model,
        device=device,
        on_update=log,
        should_stop=should_stop,
    )
    normaliser = fit_normaliser(reward_model, labelled.prompt, labelled.completion)
    _stop_check(should_stop, "reward-model training")
    reward_model.save_pretrained(work / "reward_model")
    normaliser.save(work / "reward_model")
    baseline = sft_baseline(model, tokenizer, preset.n_eval, MAX_NEW_TOKENS, device)
    sft_eval = evaluate(model, model, reward_model, normaliser, tokenizer, baseline, MAX_NEW_TOKENS, device)
    log.finish()  # type: ignore[attr-defined]

    torch.save(
        {
            "train": {k: v.cpu() for k, v in asdict(train).items()},
            "test": {k: v.cpu() for k, v in asdict(test).items()},
            "labelled": {k: v.cpu() for k, v in asdict(labelled).items()},
        },
        work / "preferences.pt",
    )
    report = {
        "sft": {
            **sft_eval,
            "train_loss": round(sft["train_loss"], 4),
            "valid_loss": round(sft["valid_loss"], 4),
            "seconds": round(sft["seconds"], 1),
            "parameters": n_parameters(model),
        },
        "preferences": pref_stats,
        "reward_model": {k: round(v, 4) for k, v in rm.items()},
        "baseline": asdict(baseline),
    }
    (work / "settings.json").write_text(json.dumps(foundation_settings(preset), indent=1))
    (work / "foundations.json").write_text(json.dumps(report, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(work, folder)  # all or nothing: a stopped or crashed build leaves no half cache


@contextlib.contextmanager
def _exclusive(lock_path: Path, should_stop: ShouldStop):
    """An advisory lock on a file (released by the OS if the process dies)."""
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    print("another run is training the shared SFT and reward models: waiting for it", flush=True)
                    announced = True
                _stop_check(should_stop, "the wait for another run's SFT and reward models")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Stopped(Exception):
    """Someone pressed Stop while the shared foundations were being built."""


def _stop_check(should_stop: ShouldStop, what: str) -> None:
    if should_stop():
        raise Stopped(f"stopped during {what}; nothing was cached")


# --- the stages that start from the SFT model ---------------------------------------------------
def run_stage(
    stage: str,
    preset: Preset,
    found: Foundations,
    device: str,
    seed: int,
    log,
    should_stop: ShouldStop,
    beta: float | None = None,
    on_samples=lambda _: None,
    ptx_coef: float | None = None,
) -> tuple[dict, object]:
    """Train one of ppo / ppo_no_kl / dpo / kto from the SFT model and evaluate it. Returns (report, policy).

    ptx_coef (PPO only; None: the preset's): PPO-ptx's gamma; its pretraining text is the SFT corpus,
    which for our model trained from scratch is its pretraining data."""
    torch.manual_seed(seed)
    policy, tokenizer = load_policy(found.sft_dir, device)
    reference, _ = load_policy(found.sft_dir, device)
    reference.requires_grad_(False)
    reward_model = load_reward_model(found.reward_dir, device).requires_grad_(False).eval()
    policy.eval()
    if stage in ("ppo", "ppo_no_kl"):
        settings = preset.ppo
        if stage == "ppo_no_kl":
            settings = replace(settings, beta=0.0, target_kl=None)
            if preset.ppo_no_kl_iterations is not None:
                settings = replace(settings, iterations=preset.ppo_no_kl_iterations)
            if preset.ppo_no_kl_lr is not None:
                settings = replace(settings, lr=preset.ppo_no_kl_lr)
        if beta is not None:
            settings = replace(settings, beta=beta)
        if ptx_coef is not None:
            settings = replace(settings, ptx_coef=ptx_coef)
        pretrain = sft_corpus(preset, tokenizer, seed) if settings.ptx_coef else None
        info = train_ppo(
            policy,
            reference,
            reward_model,
            found.normaliser,
            tokenizer,
            settings,
            device=device,
            seed=seed,
            on_update=log,
            should_stop=should_stop,
            on_samples=on_samples,
            pretrain=pretrain,
        )
        info["beta"] = settings.beta
        if settings.ptx_coef:
            info["ptx_coef"] = settings.ptx_coef
    elif stage == "dpo":
        b = preset.dpo_beta if beta is None else beta
        info = train_dpo(
            policy,
            reference,
            found.pairs_train.to(device),
            preset.offline,
            beta=b,
            device=device,
            nll_coef=preset.dpo_nll_coef,
            on_update=log,
            should_stop=should_stop,
        )
        info["beta"] = b
    elif stage == "kto":
        b = preset.kto_beta if beta is None else beta
        info = train_kto(
            policy,
            reference,
            found.labelled.to(device),
            preset.offline,
            beta=b,
            device=device,
            on_update=log,
            should_stop=should_stop,
        )
        info["beta"] = b
    else:
        raise ValueError(f"unknown stage {stage!r}")
    report = evaluate(
        policy, reference, reward_model, found.normaliser, tokenizer, found.baseline, MAX_NEW_TOKENS, device
    )
    report["seconds"] = round(info.pop("seconds"), 1)
    report.update({k: round(v, 4) if isinstance(v, float) else v for k, v in info.items()})
    return report, policy


def sft_corpus(preset: Preset, tokenizer, seed: int) -> PretrainText:
    """The SFT corpus of (preset, seed), encoded as SFT saw it: PPO-ptx's pretraining text."""
    ids, mask = encode_corpus(tokenizer, reviews.corpus(preset.n_reviews, seed), SEQUENCE_LENGTH)
    return PretrainText(ids, mask)


CHAIN_WEIGHTS = {"sft": 30, "preferences": 3, "reward_model": 7, "dpo": 10, "kto": 10, "ppo": 25, "ppo_no_kl": 25}


def run_chain(
    preset_name: str = "auto",
    seed: int = 0,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    on_update: OnUpdate = ignore_metrics,
    should_stop: ShouldStop = never_stop,
    stages: tuple[str, ...] = ("dpo", "kto", "ppo", "ppo_no_kl"),
    threads: int = 0,
) -> dict:
    """The whole chain; returns {sft, reward_model, dpo, kto, ppo, ppo_no_kl, ...} (see the module doc)."""
    start = time.perf_counter()
    device = pick_device(device)
    preset = resolve_preset(preset_name, device)
    used = configure_threads(device, threads, preset)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    reporter = Reporter(on_update, CHAIN_WEIGHTS)
    found = build_foundations(preset, cache, seed, device, reporter, should_stop)
    result: dict = {"preset": preset.name, "device": device, "threads": used, "seed": seed, **found.report}
    for stage in stages:
        if should_stop():
            break
        log = reporter.stage(stage)
        result[stage], _ = run_stage(stage, preset, found, device, seed, log, should_stop)
        log.finish()  # type: ignore[attr-defined]
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


# --- the live-runs contract ---------------------------------------------------------------------
@dataclass(frozen=True)
class RLHFConfig(LMRunConfig):
    """One stage of the RLHF chain as a live run, from the cached SFT model, preferences and reward model."""

    stage: Literal["ppo", "ppo_no_kl", "dpo", "kto", "foundations"] = "ppo"
    """What to train from the SFT model ('foundations' builds only the SFT model, preferences and reward model)."""
    beta: float | None = None
    """KL penalty coefficient for PPO, or the temperature beta of DPO / KTO (empty: the preset's)."""
    iterations: int | None = None
    """PPO iterations (empty: the preset's)."""
    ptx_coef: float | None = None
    """PPO-ptx's gamma (InstructGPT): weight of the SFT corpus's log-likelihood in PPO's objective (empty: 0)."""


FOUNDATION_WEIGHTS = {"sft": 30.0, "preferences": 3.0, "reward_model": 7.0}


def train(
    config: RLHFConfig, on_update: OnUpdate = ignore_metrics, should_stop: ShouldStop = never_stop
) -> TrainResult:
    """One stage as a live run; the samples of each PPO iteration go to samples.json as they come."""
    device = pick_device(config.device)
    preset = resolve_preset(config.preset, device)
    print(f"device {device}, {configure_threads(device, config.threads, preset)} CPU thread(s)", flush=True)
    if config.iterations is not None:
        preset = replace(preset, ppo=replace(preset.ppo, iterations=config.iterations), ppo_no_kl_iterations=None)
    out = Path(config.output_dir) if config.output_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    reporter = Reporter(on_update, {**FOUNDATION_WEIGHTS, config.stage: 0.0 if config.stage == "foundations" else 60.0})
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    found = build_foundations(preset, cache, config.seed, device, reporter, should_stop)
    metrics: Metrics = {}
    artifacts: dict[str, str] = {}
    report: dict = {"foundations": found.report}
    if config.stage != "foundations" and not should_stop():

        def write_samples(texts: list[str]) -> None:
            if out:
                tmp = out / "samples.json.tmp"
                tmp.write_text(json.dumps([{"text": t, **asdict(reviews.judge(t))} for t in texts]))
                os.replace(tmp, out / "samples.json")

        log = reporter.stage(config.stage)
        stage_report, policy = run_stage(
            config.stage,
            preset,
            found,
            device,
            config.seed,
            log,
            should_stop,
            config.beta,
            write_samples,
            ptx_coef=config.ptx_coef,
        )
        log.finish()  # type: ignore[attr-defined]
        report[config.stage] = stage_report
        metrics = {k: v for k, v in stage_report.items() if isinstance(v, int | float)}
        if out:
            save(policy, found.tokenizer, out / "policy")
            artifacts["policy"] = str(out / "policy")
    else:
        metrics = {"reward_model_test_accuracy": found.report["reward_model"]["test_accuracy"]}
    if out:
        (out / "report.json").write_text(json.dumps(report, indent=1))
        artifacts["report"] = str(out / "report.json")
    return TrainResult(metrics=metrics, artifacts=artifacts)
