"""PPO-ptx (InstructGPT, Ouyang et al. 2022, eq. 2): the pretraining term of the LM PPO.

The loss against a hand computation, its guards, and what the paper uses it for: with gamma > 0 the
policy's likelihood of the pretraining (here: SFT) text falls less while the reward still rises.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from algorithms.contract import never_stop
from algorithms.lm import reviews
from algorithms.lm.hf import reward_evaluation
from algorithms.lm.model import encode_prompts, load_policy, load_reward_model
from algorithms.lm.pipeline import (
    PRESETS,
    SEQUENCE_LENGTH,
    Reporter,
    build_foundations,
    run_stage,
    sft_corpus,
)
from algorithms.lm.ppo import LMPPOSettings, PretrainText, ppo_ptx_loss, text_logprobs, train_ppo
from algorithms.lm.sft import encode_corpus, sft_loss


def t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_ppo_ptx_loss_matches_a_hand_computation() -> None:
    ppo_loss = torch.tensor(0.3, dtype=torch.float64)
    logp = t([-1.0, -2.0, -9.0], [-0.5, -4.0, -3.0])  # ln pi(x_t | x_<t) of each pretraining token
    mask = t([1.0, 1.0, 0.0], [1.0, 1.0, 1.0])  # the first row's last token is padding
    # five real tokens, mean NLL (1 + 2 + 0.5 + 4 + 3) / 5 = 2.1; loss = 0.3 + 0.5 * 2.1 = 1.35
    loss = ppo_ptx_loss(ppo_loss, logp, mask, 0.5)
    assert loss.dtype == torch.float64 and loss.item() == pytest.approx(1.35, abs=1e-12)
    assert ppo_ptx_loss(ppo_loss, logp, mask, 0.0).item() == pytest.approx(0.3, abs=1e-15)  # gamma 0: plain PPO
    logp.requires_grad_()
    ppo_ptx_loss(ppo_loss, logp, mask, 0.5).backward()  # d/d logp = -gamma * mask / (number of real tokens)
    assert torch.allclose(logp.grad, -0.5 * mask / 5.0)


def test_ppo_ptx_loss_refuses_shapes_that_would_broadcast() -> None:
    logp, mask = torch.zeros(2, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match="ppo_loss must be a scalar"):
        ppo_ptx_loss(torch.zeros(2), logp, mask, 1.0)
    with pytest.raises(ValueError, match="must share a shape"):
        ppo_ptx_loss(torch.tensor(0.0), logp, torch.ones(2, 1), 1.0)
    with pytest.raises(ValueError, match="must share a shape"):
        ppo_ptx_loss(torch.tensor(0.0), logp[0], mask[0], 1.0)


def test_pretrain_text_checks_its_rows_and_draws_trimmed_batches() -> None:
    with pytest.raises(ValueError, match="one shape"):
        PretrainText(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="no token to predict"):
        PretrainText(torch.zeros(2, 3, dtype=torch.long), torch.tensor([[1.0, 0, 0], [1, 0, 0]]))
    ids = torch.tensor([[1, 5, 6, 0, 0], [1, 7, 0, 0, 0]])
    text = PretrainText(ids, (ids != 0).float())
    drawn, weights = text.draw(4, torch.Generator().manual_seed(0), "cpu")
    assert drawn.shape == weights.shape and drawn.shape[0] == 4 and drawn.shape[1] <= 3  # no all-padding column


def test_ptx_needs_pretraining_text_and_a_non_negative_gamma(tiny_policy) -> None:
    policy, tokenizer = tiny_policy
    for settings, message in [
        (LMPPOSettings(iterations=1, ptx_coef=1.0), "needs pretraining text"),
        (LMPPOSettings(iterations=1, ptx_coef=-1.0), "must be 0 .off. or positive"),
    ]:
        with pytest.raises(ValueError, match=message):
            train_ppo(policy, policy, None, None, tokenizer, settings, device="cpu", seed=0)


def test_text_logprobs_is_the_sft_loss_per_token(tiny_policy) -> None:
    policy, tokenizer = tiny_policy
    ids, mask = encode_corpus(tokenizer, reviews.corpus(8, 3), SEQUENCE_LENGTH)
    with torch.no_grad():
        nll = -(text_logprobs(policy, ids) * mask[:, 1:]).sum() / mask[:, 1:].sum()
        assert nll.item() == pytest.approx(sft_loss(policy, ids, mask).item(), rel=1e-5)


@pytest.fixture(scope="module")
def smoke_foundations(tmp_path_factory):
    preset = PRESETS["smoke"]
    cache = tmp_path_factory.mktemp("ptx-cache")
    found = build_foundations(preset, cache, 0, "cpu", Reporter(lambda _: None, {"sft": 1.0}), never_stop)
    return preset, found


@pytest.fixture(scope="module")
def tiny_policy(smoke_foundations):
    _, found = smoke_foundations
    return load_policy(found.sft_dir, "cpu")


@pytest.mark.slow
def test_ptx_keeps_the_pretraining_likelihood_while_the_reward_still_rises(smoke_foundations) -> None:
    """InstructGPT's reason for PPO-ptx: RLHF costs likelihood on pretraining data (the "alignment tax");
    mixing in gamma * E[ln pi(x)] pays it back. Same seed, same settings, gamma 0 against gamma 1.
    About 1.5 CPU-minutes (slow). Measured: SFT nll 2.729, reward -0.055; PPO nll 3.430, reward 0.571;
    PPO-ptx nll 2.136, reward 0.375 (the figures the lesson quotes)."""
    preset, found = smoke_foundations
    preset = replace(preset, ppo=LMPPOSettings(iterations=10, batch_size=32, minibatch_size=16, epochs=2, lr=1e-3))
    held_out = encode_corpus(found.tokenizer, reviews.corpus(400, 12345), SEQUENCE_LENGTH)  # not the SFT corpus
    reward_model = load_reward_model(found.reward_dir, "cpu").requires_grad_(False).eval()
    prompts = [tuple(row) for row in encode_prompts(found.tokenizer, list(reviews.SUBJECTS) * 32).tolist()]

    def measure(policy) -> tuple[float, float]:
        """(held-out SFT-data NLL in nats per token, mean normalised reward of 256 samples)."""
        torch.manual_seed(7)
        with torch.no_grad():
            nll = sft_loss(policy, *held_out).item()
        args = (policy, policy, reward_model, found.normaliser, found.tokenizer, prompts, 28, "cpu")
        return nll, reward_evaluation(*args)["reward"]

    sft_nll, sft_reward = measure(load_policy(found.sft_dir, "cpu")[0])
    (nll_plain, reward_plain), (nll_ptx, reward_ptx) = [
        measure(run_stage("ppo", preset, found, "cpu", 0, lambda _: None, never_stop, ptx_coef=gamma)[1])
        for gamma in (0.0, 1.0)
    ]
    print(f"SFT: nll {sft_nll:.3f}, reward {sft_reward:.3f}")
    print(f"PPO: nll {nll_plain:.3f}, reward {reward_plain:.3f}; PPO-ptx: nll {nll_ptx:.3f}, reward {reward_ptx:.3f}")
    assert nll_plain > sft_nll + 0.3  # plain PPO pays the tax: the SFT text became less likely
    assert nll_ptx < nll_plain - 0.3  # PPO-ptx pays much less of it
    assert reward_ptx > sft_reward + 0.1  # and the reward still rises
    assert math.isfinite(reward_plain) and reward_plain > sft_reward + 0.1


def test_the_pipeline_reads_the_sft_corpus_as_pretraining_text(smoke_foundations) -> None:
    preset, found = smoke_foundations
    text = sft_corpus(preset, found.tokenizer, 0)
    assert text.ids.shape == (preset.n_reviews, SEQUENCE_LENGTH)
    assert found.tokenizer.decode(text.ids[0][text.weights[0].bool()][1:]) == reviews.corpus(preset.n_reviews, 0)[0]
