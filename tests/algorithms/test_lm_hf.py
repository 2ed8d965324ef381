"""Your own model and data: a tiny random Llama in Hugging Face format, JSONL data in trl's formats, LoRA.

Nothing is downloaded: the model is built here and saved to a temp folder, as a user's would be.
"""

from __future__ import annotations

import json

import pytest
import torch

from algorithms.lm import reviews
from algorithms.lm.hf import (
    answer_match,
    completion_text,
    detect_format,
    encode_prompt,
    load_base,
    prompt_text,
    read_records,
    with_lora,
)
from algorithms.lm.model import build_tokenizer, load_policy

CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }} {% endfor %}"


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> str:
    """A random 2-layer Llama with our word-level tokenizer (and a chat template), saved like any checkpoint."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("base")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def write_jsonl(path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


PROMPTS = [
    {"prompt": "the film", "answer": "great"},
    {"prompt": "this movie is", "answer": "great"},  # another length: its own bucket
    {"prompt": [{"role": "user", "content": "the plot"}], "answer": "."},  # chat messages
]


def test_formats_are_trls(tmp_path) -> None:
    cases = {
        "prompt-only": [{"prompt": "the film"}],
        "preference": [{"prompt": "the film", "chosen": " is great . <eos>", "rejected": " is dull . <eos>"}],
        "unpaired-preference": [{"prompt": "the film", "completion": " is great . <eos>", "label": True}],
        "prompt-completion": [{"prompt": "the film", "completion": " is great ."}],
        "language-modeling": [{"text": "the film is great ."}],
        "conversational": [{"messages": [{"role": "user", "content": "the film"}]}],
    }
    for name, rows in cases.items():
        records = read_records(write_jsonl(tmp_path / f"{name}.jsonl", rows))
        assert records == rows and detect_format(records) == name
    with pytest.raises(ValueError, match=r"columns \['body'\]; expected one of"):
        detect_format([{"body": "the film"}], "data.jsonl")
    with pytest.raises(ValueError, match="could not read a dataset from"):
        read_records(tmp_path / "missing" / "nothing.jsonl")


def test_prompts_messages_and_answers(base_model) -> None:
    _, _, tokenizer = load_base(base_model, "cpu")
    assert prompt_text(tokenizer, "the film") == "the film"
    assert prompt_text(tokenizer, [{"role": "user", "content": "the plot"}]).strip() == "the plot"
    assert completion_text([{"role": "assistant", "content": "is great ."}]) == "is great ."
    ids = encode_prompt(tokenizer, "the film")
    assert ids[0] == tokenizer.bos_token_id and len(ids) == 3
    assert encode_prompt(tokenizer, "<bos> the film") == ids  # <bos> once, however the text starts
    assert answer_match("the film", "is great .", {"answer": "great"}) == 1.0
    assert answer_match("the film", "is dull .", {"answer": "great"}) == 0.0
    with pytest.raises(ValueError, match="needs an 'answer' column"):
        answer_match("the film", "is great .", {})


def test_lora_trains_adapters_only(base_model) -> None:
    policy, reference, _ = load_base(base_model, "cpu", lora=2)
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert not any(p.requires_grad for p in reference.parameters())
    with pytest.raises(ValueError, match="LoRA rank must be a positive integer"):
        with_lora(reference, 0)
    with pytest.raises(ValueError, match="could not load a causal LM"):
        load_base("/nonexistent/model", "cpu")


def test_grpo_on_a_base_model_with_a_dataset_and_lora(base_model, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "run"
    args = ["grpo", "--base-model", base_model, "--dataset", data, "--task", "answer_match", "--lora", "2"]
    args += ["--preset", "smoke", "--iterations", "2", "--device", "cpu", "--output-dir", str(out), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["base_model"] == base_model and result["dataset"] == data and result["lora"] == 2
    assert result["iterations"] == 2 and 0.0 <= result["accuracy_after"] <= 1.0
    assert result["samples_after"][0].startswith("the film")
    model, _ = load_policy(out / "policy")  # adapters merged: a plain checkpoint
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_grpo_refuses_a_dataset_it_cannot_use(base_model, tmp_path) -> None:
    from algorithms.lm.grpo import GRPOConfig, run_grpo

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "the film", "chosen": "a", "rejected": "b"}])
    config = GRPOConfig(base_model=base_model, dataset=pairs, preset="smoke", device="cpu", iterations=1)
    with pytest.raises(ValueError, match="GRPO needs prompts"):
        run_grpo(config)
    no_answer = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "the film"}])
    with pytest.raises(ValueError, match="needs an 'answer' column"):
        run_grpo(
            GRPOConfig(base_model=base_model, dataset=no_answer, task="answer_match", preset="smoke", device="cpu")
        )


def test_dpo_on_a_base_model_with_preference_data_and_lora(base_model, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    rows = [
        {"prompt": "the film", "chosen": "is great . <eos>", "rejected": "is dull . <eos>"},
        {"prompt": "the film", "chosen": "was lovely and moving .", "rejected": "was slow ."},  # <eos> added
        {"prompt": "this movie is", "chosen": "great .", "rejected": "boring ."},  # another prompt length
        {
            "prompt": [{"role": "user", "content": "the plot"}],  # chat messages, as long as "the film"
            "chosen": [{"role": "assistant", "content": "is clever ."}],
            "rejected": [{"role": "assistant", "content": "is silly ."}],
        },
    ]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = tmp_path / "dpo"
    args = ["dpo", "--base-model", base_model, "--dataset", data, "--lora", "4", "--lr", "0.05", "--epochs", "15"]
    assert main([*args, "--batch-size", "2", "--device", "cpu", "--output-dir", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["pairs"] == 4 and result["steps"] == 15 * 3  # 3 prompts of 3 tokens (batches 2 + 1), 1 of 4
    assert result["loss_before"] == pytest.approx(0.6931, abs=1e-3)  # the policy starts as the reference
    # seed 0: 0.693 -> 0.592, and every pair ranked right (the run is seeded, LoRA's random start included)
    assert result["loss_after"] < result["loss_before"] - 0.05 and result["preference_accuracy_after"] >= 0.75
    assert (out / "config.json").exists()
    prompt_only = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "the film"}])
    assert main(["dpo", "--base-model", base_model, "--dataset", prompt_only, "--device", "cpu"]) == 2
    assert "DPO needs prompt/chosen/rejected rows" in capsys.readouterr().err


def test_sft_on_a_base_model_counts_only_the_completion_of_prompt_completion_rows(base_model, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main
    from algorithms.lm.hf import sft_rows

    _, _, tokenizer = load_base(base_model, "cpu")
    rows = [{"prompt": "the film", "completion": "is great ."}, {"prompt": "this movie is", "completion": "dull ."}]
    ids, mask, weights = sft_rows(tokenizer, rows, 16)
    assert ids.shape == (2, 7) and mask.sum(1).tolist() == [7.0, 7.0]  # <bos> the film | is great . <eos>
    assert weights[0].tolist() == [0, 0, 0, 1, 1, 1, 1] and weights[1].tolist() == [0, 0, 0, 0, 1, 1, 1]
    text_ids, _, text_weights = sft_rows(tokenizer, [{"text": "the film is great ."}], 16)
    assert text_weights.sum() == 7 and text_ids[0, -1] == tokenizer.eos_token_id  # a text counts every token

    data = write_jsonl(tmp_path / "sft.jsonl", rows * 4)
    out = tmp_path / "sft"
    args = ["sft", "--base-model", base_model, "--dataset", data, "--lr", "0.01", "--epochs", "10"]
    assert main([*args, "--batch-size", "4", "--device", "cpu", "--output-dir", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["stage"] == "sft" and result["rows"] == 8 and result["steps"] == 20
    # a random model starts near ln(vocabulary) nats per token and learns two fixed completions
    assert result["loss_before"] > 3.0 and result["loss_after"] < 0.5 * result["loss_before"]
    model, _ = load_policy(out)
    assert model.config.model_type == "llama"
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}])
    assert main(["sft", "--base-model", base_model, "--dataset", pairs, "--device", "cpu"]) == 2
    assert "SFT needs text, messages or prompt/completion rows" in capsys.readouterr().err


def test_kto_on_a_base_model_with_unpaired_data_and_lora(base_model, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    rows = [
        {"prompt": "the film", "completion": "is great .", "label": True},
        {"prompt": "the film", "completion": "is dull .", "label": False},
        {"prompt": "this movie is", "completion": "lovely .", "label": True},  # another prompt length
        {"prompt": "this movie is", "completion": "boring .", "label": False},
    ]
    data = write_jsonl(tmp_path / "kto.jsonl", rows)
    args = ["kto", "--base-model", base_model, "--dataset", data, "--lora", "4", "--lr", "0.05", "--epochs", "15"]
    assert main([*args, "--batch-size", "2", "--beta", "0.5", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["stage"] == "kto" and result["lora"] == 4 and result["steps"] == 15 * 2  # one batch per length
    assert result["label_accuracy_before"] == 0.0  # the policy starts as the reference: every reward is 0
    assert result["label_accuracy_after"] >= 0.75
    one_label = write_jsonl(tmp_path / "good.jsonl", [{**r, "label": True} for r in rows])
    assert main(["kto", "--base-model", base_model, "--dataset", one_label, "--device", "cpu"]) == 2
    assert "KTO needs both labels" in capsys.readouterr().err


@pytest.fixture(scope="module")
def reward_model(base_model, tmp_path_factory) -> str:
    """A random Llama sequence classifier with one output, sharing the base model's tokenizer."""
    from transformers import AutoConfig, LlamaForSequenceClassification

    torch.manual_seed(1)
    config = AutoConfig.from_pretrained(base_model, num_labels=1)
    folder = tmp_path_factory.mktemp("reward")
    LlamaForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


def test_ppo_on_a_base_model_with_a_reward_model_and_lora(base_model, reward_model, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "ppo"
    args = ["ppo", "--base-model", base_model, "--reward-model", reward_model, "--dataset", data, "--lora", "2"]
    args += ["--iterations", "2", "--batch-size", "8", "--minibatch-size", "4", "--lr", "0.02", "--max-new-tokens", "6"]
    assert main([*args, "--device", "cpu", "--output-dir", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["stage"] == "ppo" and result["rows"] == 3 and result["iterations"] == 2 and result["lora"] == 2
    assert 1 <= result["mean_length_after"] <= 6 and abs(result["reward_after"]) < 10
    assert result["kl"] != 0.0  # the policy moved away from the frozen reference (the adapters start at zero)
    model, _ = load_policy(out)  # adapters merged: a plain checkpoint
    assert not any("lora" in n for n, _ in model.named_parameters())
    no_prompt = write_jsonl(tmp_path / "texts.jsonl", [{"text": "the film"}])
    assert main(["ppo", "--base-model", base_model, "--reward-model", reward_model, "--dataset", no_prompt]) == 2
    assert "PPO needs rows with a prompt" in capsys.readouterr().err
    assert main(["ppo", "--base-model", base_model, "--reward-model", str(tmp_path), "--dataset", data]) == 2
    assert "could not load a reward model" in capsys.readouterr().err


@pytest.fixture(scope="module")
def positive_word_reward(base_model, tmp_path_factory) -> str:
    """A Llama reward model with weights set by hand: its score is 1 when the answer's last token is one of
    the review grammar's positive words, else 0. Its layers add nothing (o_proj and down_proj are zero), so
    the head reads the last token's embedding alone: a program, in a reward model's clothes and format."""
    from transformers import AutoConfig, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(base_model, num_labels=1)
    model = LlamaForSequenceClassification(config)
    tokenizer = build_tokenizer()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        for word in reviews.POSITIVE:
            model.model.embed_tokens.weight[tokenizer.convert_tokens_to_ids(word), 0] = 1.0
        model.model.norm.weight.fill_(1.0)  # RMSNorm turns the unit vector e_0 into sqrt(hidden) e_0
        model.score.weight.zero_()
        model.score.weight[0, 0] = config.hidden_size**-0.5
    folder = tmp_path_factory.mktemp("positive-reward")
    model.save_pretrained(folder)
    return str(folder)


def test_the_hand_made_reward_model_scores_the_last_word(positive_word_reward) -> None:
    from algorithms.lm.hf import load_reward
    from algorithms.lm.reward_model import reward_scores

    model, _ = load_reward(positive_word_reward, "cpu")
    tokenizer = build_tokenizer()
    prompt = torch.tensor([encode_prompt(tokenizer, "the film")] * 3)
    completion = torch.tensor([tokenizer.encode(t) for t in ["is great", "is dull", "great is"]])
    assert reward_scores(model, prompt, completion).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-4)


def _ppo_reward_gain(base_model, reward, tmp_path, capsys, extra: list[str]) -> dict:
    from algorithms.lm.__main__ import main

    data = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in ["the film", "this movie is"] * 32])
    args = ["ppo", "--base-model", base_model, "--reward-model", reward, "--dataset", data, "--iterations", "8"]
    args += ["--batch-size", "32", "--minibatch-size", "16", "--lr", "1e-2", "--max-new-tokens", "4", "--beta", "0.01"]
    assert main([*args, "--device", "cpu", "--seed", "0", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_ppo_on_a_base_model_raises_the_reward_and_a_flipped_advantage_does_not(
    base_model, positive_word_reward, tmp_path, capsys, monkeypatch
) -> None:
    """Issue 15: PPO through --base-model must improve the reward, by a margin a broken update misses.

    The random Llama ends its answer on a positive word about 10 / 46 of the time (reward ~0.2); eight
    PPO iterations must add at least 0.25 (64 answers measured before and after with the same noise)."""
    from algorithms.lm import ppo

    result = _ppo_reward_gain(base_model, positive_word_reward, tmp_path, capsys, [])
    print(f"reward {result['reward_before']} -> {result['reward_after']}, KL {result['kl']}")
    assert result["reward_after"] > result["reward_before"] + 0.25

    whiten = ppo.whiten
    monkeypatch.setattr(ppo, "whiten", lambda x, mask: -whiten(x, mask))  # the sign bug: descend the reward
    broken = _ppo_reward_gain(base_model, positive_word_reward, tmp_path, capsys, [])
    print(f"with the advantage's sign flipped: {broken['reward_before']} -> {broken['reward_after']}")
    assert broken["reward_before"] == result["reward_before"]  # same model, same evaluation noise
    assert broken["reward_after"] < broken["reward_before"] + 0.25  # the margin catches it


def test_ppo_ptx_on_a_base_model_needs_pretraining_text(base_model, reward_model, tmp_path, capsys) -> None:
    from algorithms.lm.__main__ import main

    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    base = ["ppo", "--base-model", base_model, "--reward-model", reward_model, "--dataset", data, "--device", "cpu"]
    assert main([*base, "--ptx-coef", "1"]) == 2
    assert "--ptx-coef needs --ptx-dataset" in capsys.readouterr().err
    assert main([*base, "--ptx-dataset", data]) == 2
    assert "only with --ptx-coef > 0" in capsys.readouterr().err
    assert main([*base, "--ptx-coef", "1", "--ptx-dataset", data]) == 2  # prompts are no pretraining text
    assert "--ptx-dataset needs text, messages or prompt/completion rows" in capsys.readouterr().err
    texts = write_jsonl(tmp_path / "texts.jsonl", [{"text": "the film is great ."}, {"text": "the plot was slow ."}])
    args = [*base, "--ptx-coef", "1", "--ptx-dataset", texts, "--iterations", "2", "--batch-size", "4"]
    assert main([*args, "--minibatch-size", "2", "--max-new-tokens", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ptx_coef"] == 1.0 and result["ptx_rows"] == 2 and result["iterations"] == 2
