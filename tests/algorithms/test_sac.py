"""SAC: the squashed log-prob, the soft target, the policy and temperature losses, Polyak averaging,
the replay memory, train() and the CLI."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from algorithms import sac
from algorithms.sac import (
    Actor,
    ContinuousReplayBuffer,
    SACConfig,
    load_actor,
    make_critic,
    policy_loss,
    soft_q_target,
    squashed_gaussian_log_prob,
    temperature_loss,
    to_env_action,
    train,
    update_target,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "total_timesteps": 300,
    "learning_starts": 100,
    "batch_size": 16,
    "hidden_sizes": (16, 16),
    "log_interval": 100,
    "eval_episodes": 2,
    "max_episode_steps": 50,
}
REQUIRED_KEYS = {
    "global_step",
    "progress",
    "charts/episodic_return",
    "charts/episodic_return_mean100",
    "charts/steps_per_second",
    "losses/q",
    "losses/policy",
    "losses/alpha",
    "charts/alpha",
    "charts/entropy",
}
FINAL_KEYS = {"total_steps", "seconds", "seconds_to_threshold", "eval_return_mean", "eval_return_std"}


# --- the squashed Gaussian ------------------------------------------------------------------


def test_squashed_log_prob_matches_torch_tanh_transform() -> None:
    torch.manual_seed(0)
    mean, log_std = torch.randn(64, 3), 0.5 * torch.randn(64, 3)
    u = mean + log_std.exp() * torch.randn(64, 3)
    u = u.clamp(-3, 3)  # away from saturation, where eps = 1e-6 starts to matter
    reference = TransformedDistribution(Normal(mean, log_std.exp()), TanhTransform()).log_prob(torch.tanh(u)).sum(-1)
    ours = squashed_gaussian_log_prob(mean, log_std, u)
    assert ours.shape == (64,)
    torch.testing.assert_close(ours, reference, atol=1e-3, rtol=1e-4)


def test_squashed_log_prob_is_a_density_on_the_interval() -> None:
    # Change of variables, checked by quadrature: the density of a = tanh(u) integrates to 1 over (-1, 1),
    # and its mean matches the Monte Carlo mean of tanh(u).
    mean, log_std = torch.tensor([[0.3]]), torch.tensor([[math.log(0.8)]])
    a = torch.linspace(-1 + 1e-6, 1 - 1e-6, 200_001, dtype=torch.float64)
    u = torch.atanh(a)[:, None]
    density = squashed_gaussian_log_prob(mean.double(), log_std.double(), u, eps=0.0).exp()
    assert torch.trapezoid(density, a).item() == pytest.approx(1.0, abs=1e-4)
    samples = torch.tanh(mean + log_std.exp() * torch.randn(400_000, 1, generator=torch.Generator().manual_seed(1)))
    assert torch.trapezoid(a * density, a).item() == pytest.approx(samples.mean().item(), abs=5e-3)


def test_actor_samples_lie_in_the_box_and_log_prob_agrees() -> None:
    torch.manual_seed(0)
    actor = Actor(3, 2, (8,))
    obs = torch.randn(32, 3)
    actions, log_pi = actor.sample(obs, generator=torch.Generator().manual_seed(0))
    assert actions.shape == (32, 2) and log_pi.shape == (32,)
    assert actions.abs().max() < 1
    mean, log_std = actor(obs)
    reference = TransformedDistribution(Normal(mean, log_std.exp()), TanhTransform()).log_prob(actions).sum(-1)
    torch.testing.assert_close(log_pi, reference, atol=2e-3, rtol=1e-3)
    assert actor.deterministic(obs).shape == (32, 2)


def test_to_env_action_maps_onto_the_bounds() -> None:
    low, high = np.array([-2.0, 0.0]), np.array([2.0, 10.0])
    np.testing.assert_allclose(to_env_action(np.array([-1.0, -1.0]), low, high), low)
    np.testing.assert_allclose(to_env_action(np.array([1.0, 1.0]), low, high), high)
    np.testing.assert_allclose(to_env_action(np.array([0.0, 0.5]), low, high), [0.0, 7.5])


# --- the soft target and the losses --------------------------------------------------------


def test_soft_q_target_by_hand_with_terminated_masking() -> None:
    rewards = torch.tensor([1.0, -1.0, 0.5])
    next_q1 = torch.tensor([10.0, 4.0, 2.0])
    next_q2 = torch.tensor([8.0, 6.0, 3.0])
    next_log_pi = torch.tensor([-1.0, 0.5, 2.0])
    terminated = torch.tensor([0.0, 0.0, 1.0])  # the third transition ended for real: y = r
    y = soft_q_target(rewards, next_q1, next_q2, next_log_pi, terminated, gamma=0.9, alpha=0.2)
    # 1 + 0.9 (min(10, 8) - 0.2 (-1)) = 1 + 0.9 * 8.2; -1 + 0.9 (4 - 0.1) = -1 + 0.9 * 3.9
    torch.testing.assert_close(y, torch.tensor([1 + 0.9 * 8.2, -1 + 0.9 * 3.9, 0.5]))


def test_policy_loss_by_hand_and_gradient_direction() -> None:
    log_pi = torch.tensor([-1.0, 0.0])
    q1_pi, q2_pi = torch.tensor([3.0, 1.0], requires_grad=True), torch.tensor([2.0, 5.0], requires_grad=True)
    loss = policy_loss(log_pi, q1_pi, q2_pi, alpha=0.5)
    assert loss.item() == pytest.approx(((0.5 * -1 - 2) + (0 - 1)) / 2)
    loss.backward()
    assert q1_pi.grad.tolist() == [0.0, -0.5] and q2_pi.grad.tolist() == [-0.5, 0.0]  # only the smaller Q


def test_temperature_rises_when_entropy_is_below_target() -> None:
    target_entropy = -1.0
    for log_pi, direction in ((torch.full((8,), 3.0), +1), (torch.full((8,), -3.0), -1)):
        # entropy -E[log pi] = -3 is below the target -1: alpha must go up; entropy 3 above it: down.
        log_alpha = torch.zeros((), requires_grad=True)
        loss = temperature_loss(log_alpha, log_pi, target_entropy)
        assert loss.item() == pytest.approx(-(log_pi[0].item() + target_entropy))
        loss.backward()
        assert log_alpha.grad.item() == pytest.approx(-(log_pi[0].item() + target_entropy))
        optimizer = torch.optim.SGD([log_alpha], lr=0.1)
        optimizer.step()
        assert math.copysign(1, log_alpha.item()) == direction


def test_temperature_loss_does_not_reach_the_policy() -> None:
    log_pi = torch.tensor([0.2, -0.3], requires_grad=True)
    temperature_loss(torch.zeros((), requires_grad=True), log_pi, -1.0).backward()
    assert log_pi.grad is None


def test_polyak_update_by_hand() -> None:
    torch.manual_seed(0)
    online, target = make_critic(3, 1, (4,)), make_critic(3, 1, (4,))
    before = [p.detach().clone() for p in target.parameters()]
    update_target(target, online, tau=0.005)
    for theta_bar, theta_bar_0, theta in zip(target.parameters(), before, online.parameters(), strict=True):
        torch.testing.assert_close(theta_bar, 0.005 * theta + 0.995 * theta_bar_0)


# --- replay memory ------------------------------------------------------------------------


def test_replay_buffer_stores_vector_actions_and_wraps() -> None:
    buffer = ContinuousReplayBuffer(capacity=3, obs_dim=2, action_dim=2)
    for t in range(5):
        buffer.add(np.full(2, t), np.array([t / 10, -t / 10]), float(t), np.full(2, t + 1), terminated=t == 4)
    assert len(buffer) == 3
    batch = buffer.sample(64, np.random.default_rng(0))
    assert batch.actions.shape == (64, 2) and batch.actions.dtype == torch.float32
    assert set(batch.rewards.tolist()) == {2.0, 3.0, 4.0}  # the two oldest were overwritten
    assert ((batch.rewards == 4.0) == (batch.terminated == 1.0)).all()
    torch.testing.assert_close(batch.actions[:, 0], batch.rewards / 10)


# --- config ---------------------------------------------------------------------------------


def test_lesson_regions_are_unique_and_balanced() -> None:
    source = Path(sac.__file__).read_text()
    for name in ("soft-q-target", "squashed-log-prob", "policy-loss", "temperature-loss"):
        assert len(re.findall(rf"# lesson:start {name}\n", source)) == 1, name
        assert len(re.findall(rf"# lesson:end {name}\n", source)) == 1, name


def test_discrete_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="bounded Box"):
        train(SACConfig(env_id="CartPole-v1", **TINY))


# --- train() --------------------------------------------------------------------------------


def test_train_smoke_reports_metrics_and_saves(tmp_path: Path) -> None:
    reports: list[dict[str, float]] = []
    result = train(SACConfig(**TINY, output_dir=str(tmp_path)), on_update=reports.append)
    assert [r["global_step"] for r in reports] == [100, 200, 300]
    assert reports[-1].keys() >= REQUIRED_KEYS
    assert reports[-1]["progress"] == 1.0
    assert all(math.isfinite(v) for v in reports[-1].values())
    m = result.metrics
    assert m.keys() >= FINAL_KEYS
    assert m["total_steps"] == 300 and m["seconds_to_threshold"] is None and m["updates"] == 201
    assert m["eval_return_mean"] is not None and m["eval_return_std"] is not None
    assert set(result.artifacts) >= {"checkpoint", "episode"}
    actor = load_actor(result.artifacts["checkpoint"], SACConfig(**TINY))
    assert actor.deterministic(torch.zeros(1, 3)).shape == (1, 1)


def test_should_stop_ends_early_without_evaluation(tmp_path: Path) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    result = train(SACConfig(**TINY, output_dir=str(tmp_path)), should_stop=stop)
    m = result.metrics
    assert m["total_steps"] == 150 and m["stopped_early"] == 1.0
    assert m["eval_return_mean"] is None
    assert "checkpoint" in result.artifacts and "episode" not in result.artifacts


# --- learning (slow) ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 2 minutes on an idle core; several when the machine is shared
def test_pendulum_swings_up() -> None:
    # Seed 1 swings up within about 5,000 steps (episodic returns near -200) and reaches about -170 at 20,000.
    result = train(SACConfig(seed=1, total_timesteps=10_000))
    assert result.metrics["eval_return_mean"] > -400, result.metrics
