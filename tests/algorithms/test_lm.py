"""The RLHF pipeline: the hidden rule, the model's save / load path, log-probs, GAE, and a smoke chain."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms.lm import reviews
from algorithms.lm.model import (
    ModelSize,
    build_model,
    build_tokenizer,
    decode,
    encode_completions,
    encode_prompts,
    load_policy,
    load_reward_model,
    sample,
    save,
    sequence_logprobs,
    token_logprobs,
)
from algorithms.lm.ppo import AdaptiveKL, masked_gae, whiten
from algorithms.returns import gae


# --- the hidden human --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "the film is great . <eos>",
        "the film was very funny and clever . the cast is dull . <eos>",
        "this movie is quite long . the plot was slow and silly . the music is superb . <eos>",
    ],
)
def test_well_formed_reviews_parse(text: str) -> None:
    assert reviews.is_well_formed(text)


@pytest.mark.parametrize(
    "text",
    [
        "the film is great .",  # never ends
        "the film is great . <eos> the cast",  # text after the end
        "the film great . <eos>",  # no verb
        "the film is great",  # no full stop, no end
        "the film is great and . <eos>",
        "this movie . . . <eos>",  # what PPO without a KL penalty learned in our runs
        "the film is great . the film is great . the film is great . the film is great . <eos>",  # four sentences
        "",
    ],
)
def test_malformed_reviews_are_punished(text: str) -> None:
    assert not reviews.is_well_formed(text)
    assert reviews.hidden_score(text) == reviews.MALFORMED_SCORE


def test_the_rule_counts_distinct_positive_words_so_repetition_does_not_win() -> None:
    once = "the film is great . <eos>"
    twice = "the film is great and great . <eos>"
    varied = "the film is great and clever . <eos>"
    assert reviews.hidden_score(once) == reviews.hidden_score(twice) == 1
    assert reviews.hidden_score(varied) == 2
    assert reviews.prefer(varied, twice) == 1 and reviews.prefer(twice, once) == 0
    assert reviews.hidden_score("the film is great and dull . <eos>") == 0


def test_corpus_is_well_formed_mixed_and_reproducible() -> None:
    texts = reviews.corpus(500, seed=3)
    assert texts == reviews.corpus(500, seed=3)
    assert all(reviews.is_well_formed(t) for t in texts)
    scores = np.array([reviews.hidden_score(t) for t in texts])
    assert (scores > 0).mean() > 0.2 and (scores < 0).mean() > 0.2  # praise and pans alike


# --- tokenizer, model, save and load -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    return build_model(tokenizer, ModelSize(n_layer=1, n_embd=16, n_head=2)).eval(), tokenizer


def test_tokenizer_round_trip_is_word_level(tiny) -> None:
    _, tokenizer = tiny
    text = "the film was very funny . <eos>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) == len(text.split()) and tokenizer.unk_token_id not in ids
    assert decode(tokenizer, torch.tensor([ids])) == [text]


def test_the_model_uses_one_fused_gelu_that_equals_gpt2s_own(tiny, tmp_path) -> None:
    # GPT-2's gelu_new is seven elementwise ops in transformers: 15% of the tiny chain's time. The
    # fused kernel computes the same function, and a saved model loads with it.
    from transformers.activations import ACT2FN

    model, tokenizer = tiny
    assert model.config.activation_function == "gelu_pytorch_tanh"
    x = torch.linspace(-6, 6, 10_001, dtype=torch.float64)
    assert torch.allclose(ACT2FN["gelu_pytorch_tanh"](x), ACT2FN["gelu_new"](x), atol=1e-12)
    x32 = x.float()
    assert torch.allclose(ACT2FN["gelu_pytorch_tanh"](x32), ACT2FN["gelu_new"](x32), atol=1e-6)
    loaded, _ = load_policy(save(model, tokenizer, tmp_path / "m"))
    assert loaded.config.activation_function == "gelu_pytorch_tanh"


def test_save_and_from_pretrained_give_the_same_model(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    save(model, tokenizer, tmp_path / "m")
    loaded, loaded_tokenizer = load_policy(tmp_path / "m")  # AutoTokenizer / AutoModelForCausalLM
    from transformers import PreTrainedTokenizerFast  # transformers 5 calls it TokenizersBackend too

    assert isinstance(loaded_tokenizer, PreTrainedTokenizerFast)
    assert loaded_tokenizer.encode("the plot is slow .") == tokenizer.encode("the plot is slow .")
    ids = encode_prompts(tokenizer, ["the film", "the cast"])
    torch.testing.assert_close(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    reward_model = load_reward_model(tmp_path / "m")  # the SFT backbone with a fresh scalar head
    assert reward_model(input_ids=ids).logits.shape == (2, 1)


def test_sample_stops_each_row_at_its_first_eos(tiny) -> None:
    model, tokenizer = tiny
    torch.manual_seed(1)
    tokens, mask = sample(
        model, encode_prompts(tokenizer, ["the film"] * 64), 12, tokenizer.eos_token_id, tokenizer.pad_token_id
    )
    for row, m in zip(tokens, mask, strict=True):
        real = row[m.bool()].tolist()
        assert (row[~m.bool()] == tokenizer.pad_token_id).all()
        assert m.tolist() == sorted(m.tolist(), reverse=True)  # real tokens first, then padding
        if tokenizer.eos_token_id in real:
            assert real.index(tokenizer.eos_token_id) == len(real) - 1


def test_token_logprobs_match_the_models_own_loss(tiny) -> None:
    model, tokenizer = tiny
    prompt = encode_prompts(tokenizer, ["the film"])
    completion, mask = encode_completions(tokenizer, ["is great . <eos>"], length=8)
    logp = token_logprobs(model, prompt, completion, mask)
    assert logp.shape == (1, 8) and (logp[0, 4:] == 0).all()
    # transformers' own causal-LM loss on the same tokens (prompt labels ignored) is their mean NLL
    ids = torch.cat([prompt, completion[:, :4]], 1)
    labels = ids.clone()
    labels[:, : prompt.shape[1]] = -100
    hf_loss = model(input_ids=ids, labels=labels).loss
    torch.testing.assert_close(-logp.sum() / 4, hf_loss)
    torch.testing.assert_close(sequence_logprobs(model, prompt, completion, mask), logp.sum(1))


def test_reward_model_reads_the_last_real_token_so_padding_changes_nothing(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    save(model, tokenizer, tmp_path / "m")
    reward_model = load_reward_model(tmp_path / "m").eval()
    prompt = encode_prompts(tokenizer, ["the film"])
    short, _ = encode_completions(tokenizer, ["is great . <eos>"], length=4)
    padded, _ = encode_completions(tokenizer, ["is great . <eos>"], length=12)
    from algorithms.lm.reward_model import reward_scores

    with torch.no_grad():
        torch.testing.assert_close(
            reward_scores(reward_model, prompt, short), reward_scores(reward_model, prompt, padded)
        )


# --- PPO pieces ----------------------------------------------------------------------------------
def test_masked_gae_matches_the_reference_gae_row_by_row() -> None:
    rng = np.random.default_rng(0)
    rewards, values = torch.tensor(rng.normal(size=(3, 6))), torch.tensor(rng.normal(size=(3, 6)))
    lengths = [6, 4, 1]
    mask = torch.tensor([[1.0] * n + [0.0] * (6 - n) for n in lengths], dtype=torch.float64)
    adv, ret = masked_gae(rewards * mask, values * mask, mask, gamma=0.97, lam=0.9)
    for row, n in enumerate(lengths):
        dones = np.zeros(n)
        dones[-1] = 1  # the episode ends at the last real token: no bootstrap past <eos>
        expected = gae(rewards[row, :n].numpy(), np.append(values[row, :n].numpy(), 0.0), dones, 0.97, 0.9)
        np.testing.assert_allclose(adv[row, :n].numpy(), expected, rtol=1e-10)
        assert (adv[row, n:] == 0).all() and (ret[row, n:] == 0).all()
    np.testing.assert_allclose(ret.numpy(), (adv + values * mask).numpy())


def test_whiten_uses_real_tokens_only() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = whiten(x, mask)
    assert w[0, 3] == 0 and abs(float(w[0, :3].mean())) < 1e-6
    assert math.isclose(float(w[0, :3].pow(2).mean()), 1.0, rel_tol=1e-4)


def test_adaptive_kl_raises_beta_above_target_and_lowers_it_below() -> None:
    control = AdaptiveKL(beta=0.1, target=2.0)
    assert control.update(10.0) == pytest.approx(0.1 * 1.02)  # error clipped at +0.2, gain 0.1
    control = AdaptiveKL(beta=0.1, target=2.0)
    assert control.update(1.0) == pytest.approx(0.1 * (1 - 0.1 * 0.2))
    assert AdaptiveKL(beta=0.1, target=None).update(50.0) == 0.1  # off without a target


def test_dpo_step_on_the_model_starts_at_ln2_and_goes_down(tiny) -> None:
    from algorithms.losses import dpo_loss

    model, tokenizer = tiny
    policy = build_model(tokenizer, ModelSize(n_layer=1, n_embd=16, n_head=2))
    policy.load_state_dict(model.state_dict())
    prompt = encode_prompts(tokenizer, ["the film"] * 4)
    chosen, cm = encode_completions(tokenizer, ["is great and clever . <eos>"] * 4, 8)
    rejected, rm = encode_completions(tokenizer, ["is dull . <eos>"] * 4, 8)
    with torch.no_grad():
        ref_c, ref_r = sequence_logprobs(model, prompt, chosen, cm), sequence_logprobs(model, prompt, rejected, rm)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = dpo_loss(
            sequence_logprobs(policy, prompt, chosen, cm),
            sequence_logprobs(policy, prompt, rejected, rm),
            ref_c,
            ref_r,
            0.5,
        )
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[0] == pytest.approx(math.log(2), abs=1e-5)
    assert losses[-1] < losses[0] - 0.05


# --- the chain -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_chain(tmp_path_factory):
    from algorithms.lm.pipeline import run_chain

    cache = tmp_path_factory.mktemp("lm-cache")
    updates: list[dict] = []
    result = run_chain("smoke", seed=0, device="cpu", cache_dir=cache, on_update=updates.append)
    return result, updates, cache


def test_smoke_chain_reports_every_stage(smoke_chain) -> None:
    result, updates, _ = smoke_chain
    assert result["preset"] == "smoke" and result["device"] == "cpu"
    assert 0.0 <= result["reward_model"]["test_accuracy"] <= 1.0
    for stage in ("sft", "dpo", "kto", "ppo", "ppo_no_kl"):
        for key in ("hidden_score", "win_rate_vs_sft", "kl", "well_formed", "reward_model_score"):
            assert math.isfinite(result[stage][key]), (stage, key)
    assert result["ppo_no_kl"]["beta"] == 0.0 and result["ppo"]["beta"] > 0
    progress = [u["progress"] for u in updates]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    steps = [u["global_step"] for u in updates]
    assert steps == sorted(steps)  # one rising x axis across the stages
    json.dumps(result)  # the command line prints it


def test_train_contract_reuses_the_cache_and_writes_its_report(smoke_chain, tmp_path) -> None:
    from algorithms.lm.pipeline import RLHFConfig, train

    _, _, cache = smoke_chain
    stamp = (cache / "smoke-seed0" / "foundations.json").stat().st_mtime
    updates: list[dict] = []
    result = train(
        RLHFConfig(
            stage="ppo",
            preset="smoke",
            beta=0.0,
            iterations=2,
            device="cpu",
            cache_dir=str(cache),
            output_dir=str(tmp_path),
        ),
        on_update=updates.append,
    )
    assert (cache / "smoke-seed0" / "foundations.json").stat().st_mtime == stamp  # not trained again
    assert result.metrics["beta"] == 0.0 and result.metrics["iterations"] == 2
    report = json.loads((tmp_path / "report.json").read_text())
    assert "ppo" in report and "foundations" in report
    samples = json.loads((tmp_path / "samples.json").read_text())
    assert samples and {"text", "score", "well_formed"} <= set(samples[0])
    load_policy(result.artifacts["policy"])  # the trained policy loads back with from_pretrained
    assert any("charts/kl" in u for u in updates)


def test_a_cache_built_with_other_settings_is_not_reused(smoke_chain) -> None:
    """Presets change between versions; a cache keyed by name and seed alone would hand an old SFT model
    and reward model to the new settings."""
    from dataclasses import replace

    from algorithms.lm.pipeline import PRESETS, _cached, foundation_settings

    _, _, cache = smoke_chain
    folder, smoke = cache / "smoke-seed0", PRESETS["smoke"]
    assert json.loads((folder / "settings.json").read_text()) == foundation_settings(smoke)
    assert _cached(folder, smoke)
    assert not _cached(folder, replace(smoke, n_reviews=smoke.n_reviews + 1))
    assert not _cached(folder, replace(smoke, reward_model=replace(smoke.reward_model, epochs=2)))
    assert _cached(folder, replace(smoke, dpo_beta=0.3, ppo_no_kl_iterations=1))  # later stages: not cached


def test_the_no_kl_run_takes_its_own_iteration_count(smoke_chain) -> None:
    from dataclasses import replace

    from algorithms.lm.pipeline import PRESETS, Reporter, build_foundations, run_stage

    _, _, cache = smoke_chain
    preset = replace(PRESETS["smoke"], ppo_no_kl_iterations=1)
    found = build_foundations(preset, cache, 0, "cpu", Reporter(lambda _: None, {"sft": 1.0}), lambda: False)
    report, _ = run_stage("ppo_no_kl", preset, found, "cpu", 0, lambda _: None, lambda: False)
    assert report["iterations"] == 1 and report["beta"] == 0.0
    assert preset.ppo.iterations == 3  # the KL run keeps the preset's own count


def test_stopping_while_building_foundations_caches_nothing(tmp_path) -> None:
    from algorithms.lm.pipeline import RLHFConfig, Stopped, train

    calls = {"n": 0}

    def stop_soon() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Stopped):
        train(RLHFConfig(stage="dpo", preset="smoke", device="cpu", cache_dir=str(tmp_path)), should_stop=stop_soon)
    assert not (tmp_path / "smoke-seed0").exists()


def test_threads_one_for_smoke_and_as_asked_otherwise(monkeypatch) -> None:
    from algorithms.lm.pipeline import PRESETS, configure_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))  # an idle machine
        assert configure_threads("cpu", 0, PRESETS["smoke"]) == 1  # tests share the machine: one thread
        assert configure_threads("cpu", 0, PRESETS["tiny"]) == (os.cpu_count() or 1)  # every core
        monkeypatch.setattr("os.getloadavg", lambda: (3.0, 3.0, 3.0))  # a busy one
        assert configure_threads("cpu", 0, PRESETS["tiny"]) == 1
        assert configure_threads("cpu", 1, PRESETS["tiny"]) == 1
    finally:
        torch.set_num_threads(before)


def test_unknown_preset_is_a_clear_error() -> None:
    from algorithms.lm.pipeline import resolve_preset

    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        resolve_preset("huge", "cpu")


def test_command_line_prints_json_last(smoke_chain, capsys) -> None:
    from algorithms.lm.__main__ import main

    cache = smoke_chain[2]  # the foundations are cached there: only the four stages train again
    assert main(["run", "--preset", "smoke", "--device", "cpu", "--cache-dir", str(cache), "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert {"sft", "reward_model", "dpo", "kto", "ppo", "ppo_no_kl"} <= set(result)
    assert "test_accuracy" in result["reward_model"]
    for stage in ("dpo", "kto", "ppo", "ppo_no_kl"):
        assert {"hidden_score", "win_rate_vs_sft", "kl", "well_formed", "seconds"} <= set(result[stage])


def test_train_command_runs_one_stage_with_literal_flags(smoke_chain, capsys) -> None:
    from algorithms.lm.__main__ import main

    cache = str(smoke_chain[2])
    args = ["train", "--stage", "kto", "--preset", "smoke", "--beta", "0.5", "--device", "cpu", "--cache-dir", cache]
    assert main([*args, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["beta"] == 0.5 and "win_rate_vs_sft" in metrics
    with pytest.raises(SystemExit):
        main(["train", "--stage", "reinforce"])  # not a stage: argparse lists the choices
    assert "invalid choice" in capsys.readouterr().err


def test_sample_command_loads_a_saved_folder(tiny, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    model, tokenizer = tiny
    save(model, tokenizer, tmp_path / "m")
    assert main(["sample", "--model", str(tmp_path / "m"), "-n", "3", "--max-new-tokens", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.split()[1:3] == ["the", "film"] for line in lines)
    assert main(["sample", "--model", str(tmp_path / "missing")]) == 2


# --- the real preset -----------------------------------------------------------------------------
@pytest.mark.slow
# About 4 to 5 minutes on two threads of an idle 2-core machine, about 430 CPU seconds on one thread.
# On 3 Dec, with the load average at 15 to 22 on the same 2 cores, one thread got 6 to 14% of a core:
# over an hour. The timeout allows such a machine (docs/benchmarks.md), not a stuck one.
@pytest.mark.timeout(7200)
def test_tiny_chain_meets_the_targets(tmp_path) -> None:
    """The issue's targets for the CPU preset, on one thread (two threads give other, equally good figures)."""
    from algorithms.lm.pipeline import run_chain

    r = run_chain("tiny", seed=0, device="cpu", cache_dir=tmp_path, threads=1)
    assert r["reward_model"]["test_accuracy"] >= 0.9
    for stage, target in (("dpo", 0.75), ("kto", 0.75), ("ppo", 0.78)):
        assert r[stage]["win_rate_vs_sft"] >= target, (stage, r[stage])
        assert r[stage]["kl"] < 5.0, (stage, r[stage])
    # reward hacking: without the KL penalty the reward model is fooled while the hidden human is not
    assert r["ppo_no_kl"]["reward_model_score"] > r["ppo"]["reward_model_score"]
    assert r["ppo_no_kl"]["hidden_score"] < r["ppo"]["hidden_score"]


def test_losses_shape_guard_catches_the_broadcast_bug() -> None:
    from algorithms.losses import bradley_terry_loss

    with pytest.raises(ValueError, match="shapes must match"):
        bradley_terry_loss(torch.zeros(4, 1), torch.zeros(4))
    assert float(bradley_terry_loss(torch.zeros(4), torch.zeros(4))) == pytest.approx(math.log(2))
    assert float(F.logsigmoid(torch.tensor(0.0))) == pytest.approx(-math.log(2))


def test_the_shared_training_loop_reports_clips_and_stops(monkeypatch) -> None:
    from algorithms.lm import loop
    from algorithms.lm.loop import TrainSettings, train_loop

    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(20, 2), torch.randn(20, 1)

    def step(index):
        loss = ((model(x[index]) - y[index]) ** 2).mean()
        return loss, lambda n, seconds: {"losses/mse": loss.item()}

    def epoch_batches():
        return torch.randperm(20).split(4)  # 5 steps an epoch

    norms: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(loop.torch.nn.utils, "clip_grad_norm_", lambda p, m: norms.append(m) or clip(p, m))
    reports: list[dict] = []
    settings = TrainSettings(epochs=2, batch_size=4, lr=0.05, max_grad_norm=0.5, log_every=3)
    info = train_loop(model, step, epoch_batches, 5, settings, on_update=reports.append)
    assert info["steps"] == 10 and [r["global_step"] for r in reports] == [3, 6, 9, 10]
    assert reports[-1]["progress"] == 1.0 and "losses/mse" in reports[-1]
    assert norms == [0.5] * 10 and not model.training  # the setting is used at every step; eval mode after
    stopped = train_loop(model, step, epoch_batches, 5, settings, should_stop=lambda: True)
    assert stopped["steps"] == 1


def test_ppo_update_uses_the_value_clip_and_gradient_norm_settings(tiny, monkeypatch) -> None:
    from algorithms.lm import ppo
    from algorithms.lm.ppo import LMPPOSettings, Rollout, _update

    model, tokenizer = tiny
    policy = build_model(tokenizer, ModelSize(n_layer=1, n_embd=16, n_head=2))
    policy.load_state_dict(model.state_dict())
    head = torch.nn.Linear(16, 1)
    params = [*policy.parameters(), *head.parameters()]
    prompt = encode_prompts(tokenizer, ["the film"] * 4)
    tokens, mask = encode_completions(tokenizer, ["is great . <eos>", "is dull . <eos>"] * 2, 5)
    with torch.no_grad():
        logp_old = token_logprobs(policy, prompt, tokens, mask)
    zeros = torch.zeros_like(mask)
    batch = Rollout(prompt, tokens, mask, logp_old, zeros, torch.randn_like(mask) * mask, torch.ones_like(mask) * mask)
    clips, norms = [], []
    value_loss, clip_norm = ppo.clipped_value_loss, torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(ppo, "clipped_value_loss", lambda v, vo, r, c: clips.append(c) or value_loss(v, vo, r, c))
    monkeypatch.setattr(ppo.torch.nn.utils, "clip_grad_norm_", lambda p, m: norms.append(m) or clip_norm(p, m))
    settings = LMPPOSettings(epochs=1, minibatch_size=2, value_clip=None, max_grad_norm=0.3)
    stats = _update(policy, head, torch.optim.Adam(params, lr=1e-3), params, batch, settings, "cpu")
    assert clips == [None, None] and norms == [0.3, 0.3]  # two minibatches, each with the settings
    assert math.isfinite(stats["losses/value"]) and stats["losses/value"] > 0


def _varied_batch(tokenizer, n: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    prompt = torch.full((n, 3), tokenizer.bos_token_id)
    prompt[:, 1:] = torch.randint(3, len(tokenizer), (n, 2), generator=g)
    completion = torch.randint(3, len(tokenizer), (n, 20), generator=g)
    lengths = torch.cat([torch.full((n - 3,), 3), torch.tensor([20, 11, 15])])  # mostly short, a few long
    mask = (torch.arange(20)[None] < lengths[:, None]).float()
    return prompt, completion * mask.long() + tokenizer.pad_token_id * (1 - mask.long()), mask


def test_token_logprobs_in_passes_of_similar_length_equal_one_pass(tiny) -> None:
    # A batch of mostly short rows and a few long ones is split into passes; the log-probs, the hidden
    # states and the gradients are those of one padded pass, and less padding is computed.
    from algorithms.lm.model import one_pass_logprobs

    model, tokenizer = tiny
    prompt, completion, mask = _varied_batch(tokenizer)
    widths: list[int] = []
    hook = model.transformer.register_forward_hook(lambda _m, args, _o: widths.append(args[0].numel()))
    try:
        model.zero_grad()
        logp, hidden = token_logprobs(model, prompt, completion, mask, with_hidden=True)
        (logp.sum() + (hidden * mask[..., None]).sum()).backward()
        split_grads = [p.grad.clone() for p in model.parameters()]
        split_tokens, widths[:] = sum(widths), []
        model.zero_grad()
        one, one_hidden = one_pass_logprobs(model, prompt, completion, mask, with_hidden=True)
        (one.sum() + (one_hidden * mask[..., None]).sum()).backward()
        one_tokens = sum(widths)
    finally:
        hook.remove()
    real = mask[..., None]  # past a row's end the hidden states are of padding: read nowhere
    assert torch.allclose(logp, one, atol=1e-5) and torch.allclose(hidden * real, one_hidden * real, atol=1e-5)
    assert all(torch.allclose(a, p.grad, atol=1e-4) for a, p in zip(split_grads, model.parameters(), strict=True))
    assert split_tokens < 0.6 * one_tokens  # 24 x 23 tokens in one pass; about a third when split


def test_reward_scores_read_past_a_sampled_pad_inside_a_completion(tiny, tmp_path) -> None:
    # A sampled <pad> inside a completion is a token: the score is read at the <eos> after it, whatever
    # the other rows of the batch are (the old cut counted non-pad tokens and dropped the <eos>).
    from algorithms.lm.reward_model import reward_scores

    model, tokenizer = tiny
    reward_model = load_reward_model(save(model, tokenizer, tmp_path / "rm"))
    prompt, completion, _ = _varied_batch(tokenizer)
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    completion[0, :6] = torch.tensor([5, pad, 7, 8, 9, eos])
    completion[0, 6:] = pad
    with torch.no_grad():
        direct = reward_model(input_ids=torch.cat([prompt[:1], completion[:1, :6]], dim=1)).logits.squeeze()
        in_batch = reward_scores(reward_model, prompt, completion)
        short_batch = reward_scores(reward_model, prompt[:1], completion[:1])
        one_by_one = torch.stack(
            [reward_scores(reward_model, prompt[i : i + 1], completion[i : i + 1])[0] for i in range(24)]
        )
    assert torch.allclose(in_batch[0], direct, atol=1e-5) and torch.allclose(short_batch[0], direct, atol=1e-5)
    assert torch.allclose(in_batch, one_by_one, atol=1e-5)
