"""PPO and GRPO on the LM train at the learning rate their settings name, whatever the run's length.

A warm-up schedule built and never stepped once cut the rate to lr / max(1, 5% of the iterations):
half of it at 40 iterations, a fifth at 100. These tests make the optimiser the runs build visible."""

from __future__ import annotations

import pytest
import torch

from algorithms.lm.grpo import GRPOSettings, train_grpo
from algorithms.lm.model import ModelSize, build_model, build_tokenizer
from algorithms.lm.ppo import LMPPOSettings, train_ppo


@pytest.fixture
def made(monkeypatch) -> list[torch.optim.Optimizer]:
    """Every AdamW built while the test runs."""
    built: list[torch.optim.Optimizer] = []

    class Recorded(torch.optim.AdamW):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(torch.optim, "AdamW", Recorded)
    return built


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, ModelSize(n_layer=1, n_embd=32, n_head=2))
    return model, tokenizer


def _stop_at_once() -> bool:
    return True


@pytest.mark.parametrize("iterations", [3, 40, 60, 100])
def test_lm_ppo_uses_the_rate_it_is_given(made, tiny, iterations: int) -> None:
    model, tokenizer = tiny
    settings = LMPPOSettings(iterations=iterations, lr=2e-4)
    train_ppo(model, model, None, None, tokenizer, settings, device="cpu", seed=0, should_stop=_stop_at_once)
    assert len(made) == 1 and [g["lr"] for g in made[0].param_groups] == [2e-4]
    assert all(g["weight_decay"] == 0.0 for g in made[0].param_groups)


@pytest.mark.parametrize("iterations", [3, 40, 60, 100])
def test_grpo_uses_the_rate_it_is_given(made, tiny, iterations: int) -> None:
    model, tokenizer = tiny
    settings = GRPOSettings(iterations=iterations, lr=3e-4)
    train_grpo(
        model, model, tokenizer, settings, lambda _: 0.0, device="cpu", seed=0,
        should_stop=_stop_at_once,
    )  # fmt: skip
    assert len(made) == 1 and [g["lr"] for g in made[0].param_groups] == [3e-4]
