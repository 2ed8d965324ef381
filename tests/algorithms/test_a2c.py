"""A2C: n-step returns by hand, the loss by hand, train() on CartPole, and the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from algorithms.a2c import A2CConfig, a2c_loss, policy_gradient_loss, rollout_returns, train
from algorithms.ppo import compute_gae

ROOT = Path(__file__).resolve().parents[2]
# 4 updates of 4 x 8 steps on CartPole: well under a second.
TINY = {"total_timesteps": 128, "num_envs": 4, "num_steps": 8, "eval_episodes": 2}
PER_UPDATE_KEYS = {
    "global_step",
    "progress",
    "charts/episodic_return",
    "charts/episodic_return_mean100",
    "charts/steps_per_second",
    "losses/policy",
    "losses/value",
    "losses/entropy",
}
FINAL_KEYS = {"total_steps", "seconds", "seconds_to_threshold", "eval_return_mean", "eval_return_std"}


def test_lesson_regions_are_marked_once() -> None:
    source = (ROOT / "algorithms" / "a2c.py").read_text()
    for name in ("a2c-loss", "n-step-advantage"):
        assert source.count(f"# lesson:start {name}\n") == 1 and source.count(f"# lesson:end {name}\n") == 1


# --- n-step returns ---------------------------------------------------------------------------


def test_n_step_returns_by_hand_terminated_versus_truncated() -> None:
    # Two copies, three steps, reward 1 each; gamma 0.5. Copy 0 ends for real at t = 1, copy 1 is cut
    # by a time limit at t = 1; row 2 only resets them (reward 0). V(s_t) = 1, 2, 3; V(s_3) = 4.
    rewards = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    values = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # row 2 holds V(final observation)
    next_value = torch.tensor([4.0, 4.0])
    terminated = torch.tensor([[False, False], [True, False], [False, False]])
    truncated = torch.tensor([[False, False], [False, True], [False, False]])
    R = rollout_returns(rewards, values, next_value, terminated, truncated, gamma=0.5)
    # Row 2: 0 + 0.5 * 4 = 2. Terminated: R_1 = 1, R_0 = 1 + 0.5 = 1.5.
    # Truncated: R_1 = 1 + 0.5 * V(final) = 1 + 1.5 = 2.5, R_0 = 1 + 0.5 * 2.5 = 2.25.
    torch.testing.assert_close(R, torch.tensor([[1.5, 2.25], [1.0, 2.5], [2.0, 2.0]]))


def test_n_step_advantage_is_gae_with_lambda_one() -> None:
    T, N = 9, 4
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(T, N, generator=g), torch.randn(T, N, generator=g)
    next_value = torch.randn(N, generator=g)
    terminated = torch.rand(T, N, generator=g) < 0.15
    truncated = (torch.rand(T, N, generator=g) < 0.15) & ~terminated
    R = rollout_returns(rewards, values, next_value, terminated, truncated, gamma=0.9)
    A = compute_gae(rewards, values, next_value, terminated, truncated, gamma=0.9, lam=1.0)
    torch.testing.assert_close(R - values, A)


# --- the loss ---------------------------------------------------------------------------------


def test_a2c_loss_by_hand() -> None:
    logp = torch.tensor([-0.5, -1.0, -2.0], requires_grad=True)
    adv = torch.tensor([1.0, -2.0, 0.5])
    values = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    returns = torch.tensor([1.0, 1.0, 0.0])
    entropy = torch.tensor([0.6, 0.4, 0.2])
    loss, pg, v, h = a2c_loss(logp, adv, values, returns, entropy, vf_coef=0.5, ent_coef=0.01)
    # policy: -(-0.5 * 1 + -1 * -2 + -2 * 0.5) / 3 = -(0.5) / 3; value: 0.5 * (1 + 0 + 4) / 3; entropy 0.4.
    assert pg.item() == pytest.approx(-0.5 / 3)
    assert v.item() == pytest.approx(2.5 / 3)
    assert h.item() == pytest.approx(0.4)
    assert loss.item() == pytest.approx(-0.5 / 3 + 0.5 * 2.5 / 3 - 0.01 * 0.4)
    loss.backward()
    assert logp.grad is not None and values.grad is not None
    torch.testing.assert_close(logp.grad, -adv / 3)  # d/d logp of -mean(logp A)
    torch.testing.assert_close(values.grad, 0.5 * (values.detach() - returns) / 3)


def test_policy_gradient_loss_does_not_reach_the_critic_through_the_advantage() -> None:
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    adv = torch.tensor([3.0, 4.0]) - values  # A = R - V, still attached to the critic
    logp = torch.tensor([-1.0, -1.0], requires_grad=True)
    policy_gradient_loss(logp, adv).backward()
    assert values.grad is None


# --- train() ----------------------------------------------------------------------------------


def test_train_reports_the_contract_keys_and_saves_artifacts(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    config = A2CConfig(**{**TINY, "total_timesteps": 2048, "output_dir": str(tmp_path)})
    result = train(config, on_update=calls.append)
    seen = set().union(*calls)
    assert seen >= PER_UPDATE_KEYS, PER_UPDATE_KEYS - seen
    assert all(math.isfinite(v) for m in calls for v in m.values())
    assert calls[-1]["progress"] == 1.0 and calls[-1]["global_step"] == 2048
    assert result.metrics.keys() >= FINAL_KEYS and result.metrics["total_steps"] == 2048
    assert result.metrics["eval_return_mean"] is not None
    assert Path(result.artifacts["checkpoint"]).is_file() and Path(result.artifacts["episode"]).is_file()


def test_rmsprop_and_gae_variants_train() -> None:
    config = A2CConfig(**{**TINY, "optimizer": "rmsprop", "gae_lambda": 0.95, "ent_coef": 0.01, "eval_episodes": 0})
    assert train(config).metrics["total_steps"] == 128


def test_should_stop_ends_training_after_the_current_update(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    config = A2CConfig(**{**TINY, "total_timesteps": 100_000, "output_dir": str(tmp_path)})
    result = train(config, on_update=calls.append, should_stop=lambda: True)
    assert len(calls) == 1 and result.metrics["total_steps"] == 32
    assert result.metrics["stopped_early"] == 1.0 and result.metrics["eval_return_mean"] is None
    assert "checkpoint" in result.artifacts and "episode" not in result.artifacts


def test_bad_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        train(A2CConfig(**{**TINY, "optimizer": "sgd"}))


# --- learning (slow) --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_default_config_learns_cartpole(seed: int) -> None:
    m = train(A2CConfig(seed=seed)).metrics
    assert m["eval_return_mean"] >= 475.0, m
