"""GRPO on the small LM: the verifiable rewards, group sampling, the switches, the command line, the target."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from algorithms.lm import reviews
from algorithms.lm.grpo import (
    GRPOConfig,
    GRPOSettings,
    all_praise,
    group_advantages,
    praise_partial_credit,
    settings_for,
    train_grpo,
)
from algorithms.lm.model import ModelSize, build_model, build_tokenizer


# --- the verifiable rewards ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the film is great and funny . <eos>", 1.0),
        ("the film is great . the cast was very clever . <eos>", 1.0),
        ("the film is great . <eos>", 0.0),  # one word of praise is not enough
        ("the film is great and great . <eos>", 0.0),  # distinct words: saying it twice counts once
        ("the film is great and funny . the plot was slow . <eos>", 0.0),  # a negative word
        ("the film is great and funny .", 0.0),  # never ends
        ("the film great funny lovely <eos>", 0.0),  # praise, but not a sentence
        ("the film is great and quiet . the music is lovely . <eos>", 1.0),  # neutral words are allowed
    ],
)
def test_all_praise_checks_the_rule_exactly(text: str, expected: float) -> None:
    assert all_praise(text) == expected


def test_partial_credit_pays_for_word_salad() -> None:
    salad = "the film great lovely superb great funny"  # no verb, no full stop, no end
    assert praise_partial_credit(salad) == pytest.approx(1.0)  # four distinct positive words
    assert all_praise(salad) == 0.0
    assert praise_partial_credit("the film is great and funny . <eos>") == pytest.approx(0.5)


def test_rule_is_met_only_by_a_minority_of_sft_style_reviews() -> None:
    # The SFT corpus mixes moods, so a model that imitates it meets the rule sometimes, not often: room to learn.
    share = sum(all_praise(text) for text in reviews.corpus(2000, seed=3)) / 2000
    assert 0.05 < share < 0.5


def test_advantage_switch() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    std = group_advantages(rewards, GRPOSettings())
    assert std[0, 0].item() == pytest.approx(0.5 / (3**-0.5 + 1e-4))
    assert group_advantages(rewards, GRPOSettings(scale="none"))[0, 0].item() == pytest.approx(0.5)
    assert group_advantages(rewards, GRPOSettings(advantage="rloo"))[0, 0].item() == pytest.approx(2 / 3)


def test_config_overrides_reach_the_settings() -> None:
    config = GRPOConfig(aggregation="constant", scale="none", beta=0.0, clip_eps_high=0.28, dynamic_sampling=True)
    settings = settings_for(config, "tiny")
    assert (settings.aggregation, settings.scale, settings.beta, settings.clip_eps_high) == (
        "constant",
        "none",
        0.0,
        0.28,
    )
    assert settings.dynamic_sampling and settings.iterations == settings_for(GRPOConfig(), "tiny").iterations
    assert settings_for(GRPOConfig(iterations=2, group_size=3), "smoke").group_size == 3


# --- the loop on a tiny random model (seconds) ---------------------------------------------------
@pytest.fixture
def tiny():
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, ModelSize(n_layer=1, n_embd=32, n_head=2))
    reference = build_model(tokenizer, ModelSize(n_layer=1, n_embd=32, n_head=2))
    reference.load_state_dict(model.state_dict())
    return model, reference.requires_grad_(False), tokenizer


def _positive_share(text: str) -> float:
    words = text.split()[2:]  # the completion, after the two-word prompt
    return sum(w in reviews.POSITIVE for w in words) / max(1, len(words))


SETTINGS = GRPOSettings(
    iterations=15, prompts_per_iteration=4, group_size=8, minibatch_size=32, lr=1e-2, beta=0.0, max_new_tokens=6
)


@pytest.mark.slow
def test_grpo_raises_a_programmatic_reward_on_a_random_model(tiny) -> None:
    """About 10 s of CPU: 15 iterations of 32 completions."""
    model, reference, tokenizer = tiny
    history: list[dict] = []
    samples: list[list[dict]] = []
    info = train_grpo(
        model, reference, tokenizer, SETTINGS, _positive_share, device="cpu", seed=0,
        on_update=history.append, on_samples=samples.append,
    )  # fmt: skip
    assert info["iterations"] == 15 and info["groups_trained"] == 15 * 4
    first = sum(h["charts/reward"] for h in history[:3]) / 3
    last = sum(h["charts/reward"] for h in history[-3:]) / 3
    assert last > first + 0.15, (first, last)  # from about 10/50 positive words to many more
    assert {"charts/accuracy", "charts/length", "losses/policy", "losses/clip_fraction"} <= set(history[-1])
    assert len(samples[-1]) == 4 and {"text", "reward", "correct"} <= set(samples[-1][0])


def test_dynamic_sampling_drops_groups_without_signal(tiny) -> None:
    model, reference, tokenizer = tiny
    before = [p.detach().clone() for p in model.parameters()]
    settings = replace(SETTINGS, iterations=2, dynamic_sampling=True)
    info = train_grpo(model, reference, tokenizer, settings, lambda _: 1.0, device="cpu", seed=0)
    assert info["groups_trained"] == 0  # every group ties: nothing to learn, nothing trained
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    info = train_grpo(
        model, reference, tokenizer, replace(settings, dynamic_sampling=False), lambda _: 1.0, device="cpu", seed=0
    )
    assert info["groups_trained"] == 2 * 4


@pytest.mark.parametrize(
    "changes",
    [
        {"aggregation": "token", "beta": 0.04},
        {"aggregation": "constant", "scale": "none", "clip_eps_high": 0.28},
        {"advantage": "rloo", "epochs": 2, "minibatch_size": 16, "beta": 0.1},
    ],
)
def test_every_switch_trains(tiny, changes: dict) -> None:
    model, reference, tokenizer = tiny
    history: list[dict] = []
    settings = replace(SETTINGS, iterations=2, **changes)
    train_grpo(model, reference, tokenizer, settings, _positive_share, device="cpu", seed=1, on_update=history.append)
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(h["losses/policy"])) for h in history)
    if changes.get("beta"):
        assert all("charts/kl" in h for h in history)  # the KL to the reference is logged when it is in the loss
    assert model.training is False


def test_bad_settings_are_named(tiny) -> None:
    model, reference, tokenizer = tiny
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        train_grpo(model, reference, tokenizer, replace(SETTINGS, group_size=1), all_praise, device="cpu", seed=0)
    with pytest.raises(ValueError, match="aggregation must be"):
        train_grpo(model, reference, tokenizer, replace(SETTINGS, aggregation="mean"), all_praise, device="cpu", seed=0)


# --- the command line, on the smoke preset --------------------------------------------------------
def test_grpo_command_prints_one_json_object_last(tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    args = ["grpo", "--preset", "smoke", "--device", "cpu", "--cache-dir", str(tmp_path), "--json"]
    assert main([*args, "--iterations", "2", "--dynamic-sampling"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("accuracy_before", "accuracy_after", "kl", "mean_length_before", "mean_length_after", "seconds"):
        assert isinstance(result[key], int | float), key
    assert result["settings"]["dynamic_sampling"] is True and result["iterations"] == 2
    assert (tmp_path / "smoke-seed0-sft" / "config.json").exists()  # the SFT model is cached for the next run


def test_grpo_is_a_live_run_algorithm(tmp_path) -> None:
    import algorithms

    module, config_class, _ = algorithms.load("grpo")
    assert config_class is GRPOConfig
    stages = []
    out = tmp_path / "run"
    config = GRPOConfig(preset="smoke", device="cpu", iterations=1, cache_dir=str(tmp_path), output_dir=str(out))
    result = module.train(config, on_update=stages.append)
    assert {"accuracy_before", "accuracy_after", "kl"} <= set(result.metrics)
    assert stages[-1]["progress"] == pytest.approx(1.0)
    assert (out / "policy" / "config.json").exists() and json.loads((out / "samples.json").read_text())


# --- the target ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_grpo_meets_the_target(tmp_path) -> None:
    """The issue's target on the CPU preset: accuracy up by at least 0.3 (in about 5 minutes on an idle 2-core CPU)."""
    from algorithms.lm.grpo import run_grpo

    r = run_grpo(GRPOConfig(preset="tiny", device="cpu", cache_dir=str(tmp_path)))
    assert r["accuracy_after"] >= r["accuracy_before"] + 0.3, r
    assert r["kl"] < 10.0, r
