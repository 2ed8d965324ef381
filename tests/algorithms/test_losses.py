"""algorithms/losses.py: hand-computed values, the invariants each paper states, and trl where it is installed."""

from __future__ import annotations

import contextlib
import math
import re
import types
from collections import defaultdict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from algorithms import losses
from algorithms.losses import (
    adapt_kl_beta,
    approx_kl,
    bradley_terry_loss,
    clip_fraction,
    clipped_value_loss,
    dpo_implicit_rewards,
    dpo_loss,
    dqn_loss,
    dqn_td_targets,
    entropy_bonus,
    grpo_advantages,
    grpo_loss,
    kl_shaped_reward,
    kto_loss,
    ppo_clip_loss,
    ppo_clip_objective,
    ppo_kl_penalty_loss,
    rloo_advantages,
)
from app.content.coderef import resolve

LN2 = math.log(2.0)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def log_ratios(*ratios: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp, logp_old) whose ratio exp(logp - logp_old) is the given one; logp requires grad."""
    return t(*ratios).log().requires_grad_(), torch.zeros(len(ratios), dtype=torch.float64)


# ---------------------------------------------------------------------------------------
# PPO
# ---------------------------------------------------------------------------------------


def test_ppo_clip_loss_by_hand() -> None:
    # eps = 0.2, so the clip range is [0.8, 1.2].
    # ratio 1.3, A = +1: min(1.3, 1.2) = 1.2
    # ratio 0.5, A = -1: min(-0.5, 0.8 * -1 = -0.8) = -0.8
    # ratio 1.1, A = +2: min(2.2, 2.2) = 2.2
    # L^CLIP = (1.2 - 0.8 + 2.2) / 3 = 2.6 / 3, and the loss is its negative.
    logp, logp_old = log_ratios(1.3, 0.5, 1.1)
    assert ppo_clip_loss(logp, logp_old, t(1.0, -1.0, 2.0), 0.2).item() == pytest.approx(-2.6 / 3)


def test_ppo_objective_takes_the_lower_unclipped_value_for_negative_advantage() -> None:
    # ratio 1.3, A = -2: unclipped -2.6, clipped 1.2 * -2 = -2.4; the min is the unclipped -2.6.
    assert ppo_clip_objective(t(1.3), t(-2.0), 0.2).item() == pytest.approx(-2.6)


def test_ppo_objective_per_element_matches_the_loss() -> None:
    torch.manual_seed(0)
    logp, logp_old, adv = torch.randn(64), torch.randn(64), torch.randn(64)
    objective = ppo_clip_objective((logp - logp_old).exp(), adv, 0.2)
    assert objective.shape == (64,)
    torch.testing.assert_close(ppo_clip_loss(logp, logp_old, adv, 0.2), -objective.mean())


def test_ppo_objective_shape_for_plotting_against_the_ratio() -> None:
    # The paper's figure 1: for A > 0 flat at (1 + eps) A above the range; for A < 0 flat at (1 - eps) A below it.
    ratio = torch.linspace(0.0, 2.0, 201, dtype=torch.float64)
    positive = ppo_clip_objective(ratio, torch.tensor(1.0, dtype=torch.float64), 0.2)
    negative = ppo_clip_objective(ratio, torch.tensor(-1.0, dtype=torch.float64), 0.2)
    torch.testing.assert_close(positive, torch.minimum(ratio, torch.full_like(ratio, 1.2)))
    torch.testing.assert_close(negative, -torch.maximum(ratio, torch.full_like(ratio, 0.8)))


def test_ppo_inside_the_clip_range_is_the_unclipped_surrogate() -> None:
    logp, logp_old = log_ratios(0.85, 1.0, 1.15, 1.19)
    adv = t(0.3, -1.0, 2.0, -0.5)
    ratio = (logp - logp_old).exp()
    torch.testing.assert_close(ppo_clip_loss(logp, logp_old, adv, 0.2), -(ratio * adv).mean())


def test_ppo_gradient_is_zero_exactly_where_the_clip_binds() -> None:
    # (ratio, A): clipped above with A > 0 and below with A < 0 give no gradient; the other sides of the
    # range (the min picks the unclipped, pessimistic term) and the inside keep d loss / d logp = -ratio A / B.
    cases = [(1.5, 1.0), (0.5, -1.0), (1.5, -1.0), (0.5, 1.0), (1.1, 1.0), (0.9, -2.0)]
    logp, logp_old = log_ratios(*(r for r, _ in cases))
    adv = t(*(a for _, a in cases))
    ppo_clip_loss(logp, logp_old, adv, 0.2).backward()
    expected = [0.0, 0.0] + [-r * a / len(cases) for r, a in cases[2:]]
    torch.testing.assert_close(logp.grad, t(*expected))
    assert logp.grad[0] == 0.0 and logp.grad[1] == 0.0
    assert (logp.grad[2:] != 0.0).all()


def test_ppo_loss_sends_no_gradient_into_old_logps_or_advantages() -> None:
    logp = torch.zeros(3, requires_grad=True)
    logp_old = torch.zeros(3, requires_grad=True)
    adv = torch.ones(3, requires_grad=True)
    ppo_clip_loss(logp, logp_old, adv, 0.2).backward()
    assert logp.grad is not None
    assert logp_old.grad is None and adv.grad is None


def test_ppo_shape_mismatch_is_an_error() -> None:
    # (B, 1) against (B,) would broadcast to (B, B) and train on nonsense.
    with pytest.raises(ValueError, match="shapes must match"):
        ppo_clip_loss(torch.zeros(4, 1), torch.zeros(4), torch.zeros(4), 0.2)


def test_clip_fraction_by_hand() -> None:
    # ratios 1.3 and 0.5 lie outside [0.8, 1.2]; 1.1 and 1.0 inside: 2 of 4.
    logp, logp_old = log_ratios(1.3, 0.5, 1.1, 1.0)
    assert clip_fraction(logp, logp_old, 0.2).item() == pytest.approx(0.5)


def test_approx_kl_by_hand_and_its_properties() -> None:
    # log ratios 0 and ln 2: terms (1 - 1) - 0 = 0 and (2 - 1) - ln 2; mean (1 - ln 2) / 2.
    assert approx_kl(t(0.0, LN2), t(0.0, 0.0)).item() == pytest.approx((1 - LN2) / 2)
    assert approx_kl(t(-1.0, -2.0), t(-1.0, -2.0)).item() == 0.0
    torch.manual_seed(1)
    assert approx_kl(torch.randn(100), torch.randn(100)).item() >= 0.0  # ln r <= r - 1 term by term


def test_ppo_kl_penalty_loss_by_hand() -> None:
    # ratios 1 and 2, advantages 1 and 3: -mean(r A) = -(1 + 6) / 2; KL term (1 - ln 2) / 2, times beta 0.5.
    loss = ppo_kl_penalty_loss(t(0.0, LN2), t(0.0, 0.0), t(1.0, 3.0), beta=0.5)
    assert loss.item() == pytest.approx(-3.5 + 0.5 * (1 - LN2) / 2)
    # No clip: a ratio far outside [1 - eps, 1 + eps] still pushes (the clipped loss would be flat there).
    logp = t(math.log(3.0)).requires_grad_()
    ppo_kl_penalty_loss(logp, t(0.0), t(1.0), beta=0.0).backward()
    assert logp.grad is not None and logp.grad.item() == pytest.approx(-3.0)


def test_ppo_kl_penalty_gradient_is_that_of_the_true_kl() -> None:
    # Samples from pi_old, advantages 0: the loss's gradient estimates grad KL(pi_old || pi_theta).
    torch.manual_seed(0)
    old_logits, logits = t(0.5, -0.2, 0.1), t(0.1, 0.3, -0.4).requires_grad_()
    actions = torch.distributions.Categorical(logits=old_logits).sample((200_000,))
    logp = torch.log_softmax(logits, 0)[actions]
    logp_old = torch.log_softmax(old_logits, 0)[actions]
    ppo_kl_penalty_loss(logp, logp_old, torch.zeros_like(logp), beta=1.0).backward()
    exact = logits.detach().clone().requires_grad_()
    p_old = torch.softmax(old_logits, 0)
    (p_old * (torch.log(p_old) - torch.log_softmax(exact, 0))).sum().backward()
    assert logits.grad is not None and exact.grad is not None
    assert torch.allclose(logits.grad, exact.grad, atol=5e-3)


def test_adapt_kl_beta_follows_the_papers_rule() -> None:
    # d_targ 0.01: halve below 0.01 / 1.5, double above 0.015, keep in between (Schulman et al. 2017, section 4).
    assert adapt_kl_beta(1.0, 0.005, 0.01) == 0.5
    assert adapt_kl_beta(1.0, 0.02, 0.01) == 2.0
    assert adapt_kl_beta(1.0, 0.01, 0.01) == 1.0
    assert adapt_kl_beta(1.0, 0.0149, 0.01) == 1.0 and adapt_kl_beta(1.0, 0.0067, 0.01) == 1.0
    with pytest.raises(ValueError, match="target > 0"):
        adapt_kl_beta(1.0, 0.01, 0.0)


def test_approx_kl_estimates_kl_from_old_policy_samples() -> None:
    # Sample actions from pi_old; the k3 estimate converges to KL(pi_old || pi).
    p_old = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    p_new = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64)
    exact = (p_old * (p_old / p_new).log()).sum().item()
    generator = torch.Generator().manual_seed(0)
    actions = torch.multinomial(p_old, 200_000, replacement=True, generator=generator)
    estimate = approx_kl(p_new.log()[actions], p_old.log()[actions]).item()
    assert estimate == pytest.approx(exact, rel=0.05)


def test_clipped_value_loss_by_hand() -> None:
    # eps = 0.5.
    # sample 0: V = 1, V_old = 0, R = 2. unclipped (1 - 2)^2 = 1; clipped V_old + clip(1, -.5, .5) = 0.5,
    #           (0.5 - 2)^2 = 2.25; max 2.25
    # sample 1: V = 2, V_old = 2, R = 0. both (2 - 0)^2 = 4
    # 0.5 * mean(2.25, 4) = 1.5625; without clipping 0.5 * mean(1, 4) = 1.25.
    values = t(1.0, 2.0).requires_grad_()
    values_old, returns = t(0.0, 2.0), t(2.0, 0.0)
    loss = clipped_value_loss(values, values_old, returns, 0.5)
    assert loss.item() == pytest.approx(1.5625)
    assert clipped_value_loss(values, values_old, returns, None).item() == pytest.approx(1.25)
    loss.backward()
    # The clipped term binds for sample 0 and is constant in V there: no gradient. Sample 1: (V - R) / B = 1.
    torch.testing.assert_close(values.grad, t(0.0, 1.0))


def test_unclipped_value_loss_is_half_mse() -> None:
    torch.manual_seed(2)
    v, r = torch.randn(10), torch.randn(10)
    torch.testing.assert_close(clipped_value_loss(v, torch.randn(10), r, None), 0.5 * F.mse_loss(v, r))


def test_entropy_bonus_is_the_mean() -> None:
    assert entropy_bonus(t(0.5, 1.0, 1.5)).item() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# DQN
# ---------------------------------------------------------------------------------------


def test_dqn_and_double_dqn_targets_by_hand() -> None:
    # gamma = 0.9.
    # sample 0: r = 1, not terminated. Q_target(s') = [1, 3], Q_online(s') = [4, 0].
    #   DQN: 1 + 0.9 * max(1, 3) = 3.7. Double DQN: the online net picks a* = 0, Q_target(s', 0) = 1: 1 + 0.9 = 1.9.
    # sample 1: r = 0, terminated: no bootstrap, 0 in both.
    rewards = t(1.0, 0.0)
    next_q_target = torch.tensor([[1.0, 3.0], [2.0, 5.0]], dtype=torch.float64)
    next_q_online = torch.tensor([[4.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    terminated = torch.tensor([False, True])
    torch.testing.assert_close(dqn_td_targets(rewards, next_q_target, terminated, 0.9), t(3.7, 0.0))
    torch.testing.assert_close(dqn_td_targets(rewards, next_q_target, terminated, 0.9, next_q_online), t(1.9, 0.0))


def test_double_dqn_equals_dqn_when_the_argmaxes_agree() -> None:
    torch.manual_seed(3)
    q = torch.randn(16, 4)
    rewards, terminated = torch.randn(16), (torch.rand(16) < 0.3).float()
    torch.testing.assert_close(
        dqn_td_targets(rewards, q, terminated, 0.99, next_q_online=q + 10.0),  # same argmax, other values
        dqn_td_targets(rewards, q, terminated, 0.99),
    )


def test_terminated_zeroes_the_bootstrap() -> None:
    q = torch.full((3, 2), 100.0)
    targets = dqn_td_targets(t(1.0, 2.0, 3.0), q.double(), t(1.0, 1.0, 1.0), 0.99, next_q_online=q.double())
    torch.testing.assert_close(targets, t(1.0, 2.0, 3.0))


def test_dqn_targets_carry_no_gradient() -> None:
    q_target = torch.randn(4, 3, requires_grad=True)
    q_online = torch.randn(4, 3, requires_grad=True)
    targets = dqn_td_targets(torch.zeros(4), q_target, torch.zeros(4), 0.9, q_online)
    assert not targets.requires_grad


def test_dqn_targets_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"next_q_target \(B, A\)"):
        dqn_td_targets(torch.zeros(4), torch.zeros(4), torch.zeros(4), 0.9)
    with pytest.raises(ValueError, match="next_q_online"):
        dqn_td_targets(torch.zeros(4), torch.zeros(4, 2), torch.zeros(4), 0.9, torch.zeros(4, 3))


def test_dqn_loss_by_hand() -> None:
    # errors 0.5 and 3. Huber (delta 1): 0.5 * 0.5^2 = 0.125 and 3 - 0.5 = 2.5, mean 1.3125.
    # squared: (0.25 + 9) / 2 = 4.625.
    q_taken = t(0.0, 0.0).requires_grad_()
    targets = t(0.5, 3.0).requires_grad_()
    loss = dqn_loss(q_taken, targets)
    assert loss.item() == pytest.approx(1.3125)
    assert dqn_loss(q_taken, targets, huber=False).item() == pytest.approx(4.625)
    loss.backward()
    # Huber's gradient is the error clipped to [-1, 1] (Mnih et al. 2015), over B = 2; none reaches the targets.
    torch.testing.assert_close(q_taken.grad, t(-0.25, -0.5))
    assert targets.grad is None


# ---------------------------------------------------------------------------------------
# RLHF
# ---------------------------------------------------------------------------------------


def test_bradley_terry_ties_margins_and_stability() -> None:
    assert bradley_terry_loss(t(0.3, -2.0), t(0.3, -2.0)).item() == pytest.approx(LN2)
    # margin 2: -ln sigma(2) = ln(1 + e^-2)
    assert bradley_terry_loss(t(2.0), t(0.0)).item() == pytest.approx(math.log1p(math.exp(-2.0)))
    margins = [bradley_terry_loss(t(m), t(0.0)).item() for m in (0.0, 1.0, 5.0, 50.0)]
    assert margins == sorted(margins, reverse=True)
    assert margins[-1] < 1e-20
    # A confident wrong answer costs about the margin, and stays finite.
    assert bradley_terry_loss(t(-100.0), t(100.0)).item() == pytest.approx(200.0)


def test_dpo_is_ln2_when_policy_equals_reference() -> None:
    torch.manual_seed(4)
    chosen, rejected = -10 * torch.rand(8), -10 * torch.rand(8)
    assert dpo_loss(chosen, rejected, chosen.clone(), rejected.clone(), beta=0.1).item() == pytest.approx(LN2)


def test_dpo_by_hand() -> None:
    # beta 0.1; chosen log ratio -1 - (-2) = 1, rejected log ratio -3 - (-1) = -2;
    # logits 0.1 * (1 - (-2)) = 0.3; loss -ln sigma(0.3) = ln(1 + e^-0.3).
    loss = dpo_loss(t(-1.0), t(-3.0), t(-2.0), t(-1.0), beta=0.1)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-0.3)))
    chosen_rewards, rejected_rewards = dpo_implicit_rewards(t(-1.0), t(-3.0), t(-2.0), t(-1.0), beta=0.1)
    assert chosen_rewards.item() == pytest.approx(0.1)
    assert rejected_rewards.item() == pytest.approx(-0.2)


def test_dpo_is_bradley_terry_on_implicit_rewards_and_pushes_the_right_way() -> None:
    torch.manual_seed(5)
    pi_c, pi_r = torch.randn(6, requires_grad=True), torch.randn(6, requires_grad=True)
    ref_c, ref_r = torch.randn(6), torch.randn(6)
    loss = dpo_loss(pi_c, pi_r, ref_c, ref_r, beta=0.5)
    torch.testing.assert_close(loss, bradley_terry_loss(*dpo_implicit_rewards(pi_c, pi_r, ref_c, ref_r, beta=0.5)))
    loss.backward()
    assert (pi_c.grad < 0).all() and (pi_r.grad > 0).all()  # descent raises chosen, lowers rejected


def test_kto_by_hand() -> None:
    # beta 1, z0 = 0.5, r = pi - ref = [1.5, 0.5, -0.5], desirable = [yes, no, yes].
    # sample 0 (desirable):   v = sigma(1.5 - 0.5) = sigma(1);    1 - v = sigma(-1)
    # sample 1 (undesirable): v = sigma(0.5 - 0.5) = 1/2;         1 - v = 1/2
    # sample 2 (desirable):   v = sigma(-0.5 - 0.5) = sigma(-1);  1 - v = sigma(1)
    # mean = (sigma(-1) + 1/2 + sigma(1)) / 3 = 1.5 / 3 = 0.5
    # with lambda_d = 2: (2 sigma(-1) + 1/2 + 2 sigma(1)) / 3 = 2.5 / 3
    pi, ref = t(1.5, 0.5, -0.5), t(0.0, 0.0, 0.0)
    desirable = torch.tensor([True, False, True])
    assert kto_loss(pi, ref, desirable, kl_ref=0.5, beta=1.0).item() == pytest.approx(0.5)
    assert kto_loss(pi, ref, desirable, kl_ref=0.5, beta=1.0, lambda_d=2.0).item() == pytest.approx(2.5 / 3)
    # z0 from per-pair log ratios is their mean; 0/1 labels work like bools.
    assert kto_loss(pi, ref, t(1, 0, 1), kl_ref=t(0.2, 0.8), beta=1.0).item() == pytest.approx(0.5)


def test_kto_reference_point_is_clamped_and_detached() -> None:
    pi = torch.tensor([0.3, -0.7], requires_grad=True)
    ref = torch.zeros(2)
    desirable = torch.tensor([True, False])
    kl = torch.tensor(-3.0, requires_grad=True)
    torch.testing.assert_close(kto_loss(pi, ref, desirable, kl, beta=0.1), kto_loss(pi, ref, desirable, 0.0, beta=0.1))
    kto_loss(pi, ref, desirable, kl, beta=0.1).backward()
    assert kl.grad is None and pi.grad is not None


def test_kto_at_initialisation_is_half_of_each_weight() -> None:
    # pi == ref and z0 = 0: every value is lambda_y sigma(0) = lambda_y / 2, so the loss is mean(lambda_y) / 2.
    logps = -5 * torch.rand(4)
    desirable = torch.tensor([True, True, True, False])
    loss = kto_loss(logps, logps.clone(), desirable, 0.0, beta=0.1, lambda_d=1.0, lambda_u=1.5)
    assert loss.item() == pytest.approx((3 * 1.0 + 1.5) / 4 / 2)


def test_kl_shaped_reward_puts_the_score_on_the_last_token() -> None:
    # beta 0.1; log ratios per token [[1, 2, 3], [0, -1, 0.5]]; scores [10, -4].
    logp = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], requires_grad=True)
    logp_ref = torch.zeros(2, 3)
    rewards = kl_shaped_reward(t(10.0, -4.0).float(), logp, logp_ref, beta=0.1)
    expected = torch.tensor([[-0.1, -0.2, -0.3 + 10.0], [0.0, 0.1, -0.05 - 4.0]])
    torch.testing.assert_close(rewards, expected)
    assert not rewards.requires_grad
    # Summed over tokens: the sequence-level r(x, y) - beta ln(pi(y|x) / ref(y|x)); the log ratios sum to 6 and -0.5.
    torch.testing.assert_close(rewards.sum(-1), torch.tensor([10.0 - 0.6, -4.0 + 0.05]))


def test_kl_shaped_reward_single_sequence_and_padding_mask() -> None:
    single = kl_shaped_reward(2.0, torch.tensor([0.5, 0.5]), torch.zeros(2), beta=1.0)
    torch.testing.assert_close(single, torch.tensor([-0.5, 1.5]))
    # Right padding: the score lands on the last real token; padding gets no penalty.
    logp = torch.tensor([[1.0, 1.0, 9.0], [1.0, 1.0, 1.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    rewards = kl_shaped_reward(t(5.0, 7.0).float(), logp, torch.zeros(2, 3), beta=1.0, mask=mask)
    torch.testing.assert_close(rewards, torch.tensor([[-1.0, 4.0, 0.0], [-1.0, -1.0, 6.0]]))


def test_kl_shaped_reward_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one entry per sequence"):
        kl_shaped_reward(torch.zeros(3), torch.zeros(2, 4), torch.zeros(2, 4), beta=0.1)
    with pytest.raises(ValueError, match="share a shape"):
        kl_shaped_reward(torch.zeros(2), torch.zeros(2, 4), torch.zeros(2, 5), beta=0.1)


# ---------------------------------------------------------------------------------------
# GRPO, RLOO
# ---------------------------------------------------------------------------------------

GRPO_AGG = ("sequence", "token", "constant")


def test_grpo_advantages_by_hand() -> None:
    # group [1, 0, 0, 1]: mean 0.5, deviations +-0.5, Bessel variance 4 * 0.25 / 3 = 1/3, std 1/sqrt(3).
    # group [3, 0, 0, 0]: mean 0.75, deviations [2.25, -0.75 x3], variance (5.0625 + 3 * 0.5625) / 3 = 2.25, std 1.5.
    # group [2, 2, 2, 2]: all equal, advantage 0 (it teaches nothing). eps = 1e-4 is added to the std.
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    s3 = 1 / math.sqrt(3.0) + 1e-4
    expected = torch.tensor(
        [
            [0.5 / s3, -0.5 / s3, -0.5 / s3, 0.5 / s3],
            [2.25 / 1.5001, -0.75 / 1.5001, -0.75 / 1.5001, -0.75 / 1.5001],
            [0.0, 0.0, 0.0, 0.0],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(grpo_advantages(rewards), expected, rtol=0, atol=1e-12)
    # Dr. GRPO: no division, just the deviation from the group's mean.
    unscaled = torch.tensor([[0.5, -0.5, -0.5, 0.5], [2.25, -0.75, -0.75, -0.75], [0.0] * 4], dtype=torch.float64)
    torch.testing.assert_close(grpo_advantages(rewards, scale="none"), unscaled, rtol=0, atol=1e-12)


def test_grpo_advantages_sum_to_zero_and_carry_no_gradient() -> None:
    rewards = torch.rand(5, 6, dtype=torch.float64, requires_grad=True)
    for scale in ("std", "none"):
        adv = grpo_advantages(rewards, scale=scale)
        assert adv.shape == (5, 6) and not adv.requires_grad
        torch.testing.assert_close(adv.sum(dim=1), torch.zeros(5, dtype=torch.float64))
    # Scaling rewards by 10 leaves the std-scaled advantages (up to eps) unchanged and multiplies the unscaled by 10.
    r = rewards.detach()
    torch.testing.assert_close(grpo_advantages(10 * r), grpo_advantages(r), rtol=0, atol=1e-2)
    torch.testing.assert_close(grpo_advantages(10 * r, "none"), 10 * grpo_advantages(r, "none"))


def test_rloo_advantages_by_hand() -> None:
    # [1, 0, 0, 1]: the others' mean is 1/3 for a 1 and 2/3 for a 0: advantages +-2/3.
    # [3, 0, 0]: 3 - 0 = 3; 0 - (3 + 0) / 2 = -1.5.
    torch.testing.assert_close(
        rloo_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)),
        torch.tensor([[2 / 3, -2 / 3, -2 / 3, 2 / 3]], dtype=torch.float64),
    )
    torch.testing.assert_close(rloo_advantages(t(3.0, 0.0, 0.0)[None]), t(3.0, -1.5, -1.5)[None])
    # It is GRPO's unscaled advantage times G / (G - 1).
    rewards = torch.rand(4, 5, dtype=torch.float64)
    torch.testing.assert_close(rloo_advantages(rewards), 5 / 4 * grpo_advantages(rewards, scale="none"))


def test_group_advantages_reject_bad_shapes() -> None:
    for function in (grpo_advantages, rloo_advantages):
        with pytest.raises(ValueError, match=r"\(B, G\) with G >= 2"):
            function(torch.zeros(8))
        with pytest.raises(ValueError, match="G >= 2"):
            function(torch.zeros(8, 1))
    with pytest.raises(ValueError, match="scale must be"):
        grpo_advantages(torch.zeros(2, 2), scale="batch")


def _grpo_case() -> tuple[torch.Tensor, ...]:
    """Two completions, T = 3. Ratios [1, 1.5, 0.5] with A = +1 (3 tokens); [1.5, 0.5, pad] with A = -2 (2 tokens)."""
    logp_old = torch.log(t(0.5, 0.4, 0.2, 0.3, 0.6, 0.9)).reshape(2, 3)
    ratios = t(1.0, 1.5, 0.5, 1.5, 0.5, 7.0).reshape(2, 3)  # 7.0 sits on padding and must not count
    logp = (logp_old + ratios.log()).requires_grad_()
    mask = t(1, 1, 1, 1, 1, 0).reshape(2, 3)
    return logp, logp_old, t(1.0, -2.0), mask


def test_grpo_loss_aggregations_by_hand() -> None:
    logp, logp_old, adv, mask = _grpo_case()
    # eps 0.2. Per token -min(r A, clip(r, 0.8, 1.2) A):
    #   seq 0 (A = 1):  r 1 -> -1;  r 1.5 -> -min(1.5, 1.2) = -1.2;  r 0.5 -> -min(0.5, 0.8) = -0.5.  Sum -2.7.
    #   seq 1 (A = -2): r 1.5 -> -min(-3, -2.4) = 3;  r 0.5 -> -min(-1, -1.6) = 1.6.                  Sum 4.6.
    args = (logp, logp_old, None, adv, mask)
    assert grpo_loss(*args, beta=0.0).item() == pytest.approx((-2.7 / 3 + 4.6 / 2) / 2, abs=1e-12)  # 0.7
    assert grpo_loss(*args, beta=0.0, aggregation="token").item() == pytest.approx(1.9 / 5, abs=1e-12)
    assert grpo_loss(*args, beta=0.0, aggregation="constant").item() == pytest.approx(1.9 / (2 * 3), abs=1e-12)
    assert grpo_loss(*args, beta=0.0, aggregation="constant", max_len=4).item() == pytest.approx(1.9 / 8, abs=1e-12)
    # Clip-higher (eps_high 0.6): seq 0's r = 1.5 is no longer clipped: -1.5 instead of -1.2. seq 1 is unchanged
    # (for A < 0 the upper clip never binds). Token mean (-3.0 + 4.6) / 5.
    high = grpo_loss(*args, clip_eps_high=0.6, beta=0.0, aggregation="token")
    assert high.item() == pytest.approx(1.6 / 5, abs=1e-12)
    # (B, 1) advantages are the same as (B,).
    torch.testing.assert_close(
        grpo_loss(logp, logp_old, None, adv[:, None], mask, beta=0.0), grpo_loss(*args, beta=0.0)
    )


def test_grpo_k3_kl_term_by_hand() -> None:
    logp, logp_old, adv, mask = _grpo_case()
    # ln ref - ln pi = ln 2 at seq 0's first token, 0 elsewhere: k3 = 2 - ln 2 - 1 there, 0 elsewhere.
    logp_ref = logp.detach() + t(LN2, 0, 0, 0, 0, 0).reshape(2, 3)
    beta = 0.1
    with_kl = grpo_loss(logp, logp_old, logp_ref, adv, mask, beta=beta)
    assert with_kl.item() == pytest.approx(0.7 + beta * (1 - LN2) / 3 / 2, abs=1e-12)
    # k3 is 0 where pi = ref.
    assert grpo_loss(logp, logp_old, logp.detach(), adv, mask, beta=5.0).item() == pytest.approx(0.7, abs=1e-12)


def test_grpo_loss_gradients_by_hand() -> None:
    logp, logp_old, adv, mask = _grpo_case()
    grpo_loss(logp, logp_old, None, adv, mask, beta=0.0).backward()
    # d/dlogp of -r A is -r A; the sequence mean divides by the length (3, 2) and the batch mean by 2.
    # Clipped tokens (seq 0 token 1; seq 1 token 1: -min(-1, -1.6) takes the clipped branch) and padding get 0.
    expected = t(-1.0 / 6, 0.0, -0.5 / 6, 3.0 / 4, 0.0, 0.0).reshape(2, 3)
    torch.testing.assert_close(logp.grad, expected, rtol=0, atol=1e-12)


def test_sequence_mean_weighs_long_completions_less_per_token() -> None:
    # The length bias Dr. GRPO removes: two wrong answers (A = -1), one of 1 token and one of 4.
    logp = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    mask = t(1, 0, 0, 0, 1, 1, 1, 1).reshape(2, 4)
    adv = t(-1.0, -1.0)
    grads = {}
    for aggregation in GRPO_AGG:
        loss = grpo_loss(logp, logp.detach(), None, adv, mask, beta=0.0, aggregation=aggregation)
        (grads[aggregation],) = torch.autograd.grad(loss, logp)
    assert grads["sequence"][0, 0].item() == pytest.approx(4 * grads["sequence"][1, 0].item())  # 1/2 against 1/8
    for aggregation in ("token", "constant"):
        assert grads[aggregation][0, 0].item() == pytest.approx(grads[aggregation][1, 0].item())
    # With equal lengths and no padding the three agree.
    full = torch.ones(2, 4, dtype=torch.float64)
    values = [grpo_loss(logp, logp.detach() - 0.1, None, adv, full, beta=0.0, aggregation=a).item() for a in GRPO_AGG]
    assert values == pytest.approx([values[0]] * 3)


def test_grpo_loss_rejects_bad_input() -> None:
    logp, logp_old, adv, mask = _grpo_case()
    with pytest.raises(ValueError, match="adv must have shape"):
        grpo_loss(logp, logp_old, None, torch.zeros(2, 2), mask, beta=0.0)
    with pytest.raises(ValueError, match="shapes must match"):
        grpo_loss(logp, logp_old[:, :2], None, adv, mask, beta=0.0)
    with pytest.raises(ValueError, match="logp_ref is needed"):
        grpo_loss(logp, logp_old, None, adv, mask)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        grpo_loss(logp, logp_old, None, adv, mask, beta=0.0, aggregation="mean")
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        grpo_loss(logp[0], logp_old[0], None, adv, mask[0], beta=0.0)
    with pytest.raises(ValueError, match="max_len"):
        grpo_loss(logp, logp_old, None, adv, mask, beta=0.0, aggregation="constant", max_len=0)


# ---------------------------------------------------------------------------------------
# Lesson regions
# ---------------------------------------------------------------------------------------

REGIONS = {
    "ppo_clip_loss": ["ppo-ratio", "ppo-clip"],
    "ppo_kl_penalty_loss": ["ppo-kl-penalty"],
    "adapt_kl_beta": ["adapt-kl-beta"],
    "clipped_value_loss": ["value-clip"],
    "dqn_td_targets": ["dqn-target", "double-dqn-target", "bellman-target"],
    "bradley_terry_loss": ["bradley-terry"],
    "dpo_loss": ["dpo-loss"],
    "kto_loss": ["kto-value"],
    "kl_shaped_reward": ["kl-penalty"],
    "grpo_advantages": ["grpo-advantages"],
    "rloo_advantages": ["rloo-advantages"],
    "grpo_loss": ["grpo-token-loss", "grpo-aggregation"],
}


def test_every_region_resolves_and_names_are_unique() -> None:
    source = Path(losses.__file__).read_text(encoding="utf-8")
    starts = re.findall(r"^\s*# lesson:start (\S+)$", source, re.M)
    assert len(starts) == len(set(starts))
    assert sorted(starts) == sorted(re.findall(r"^\s*# lesson:end (\S+)$", source, re.M))
    assert sorted(starts) == sorted(name for names in REGIONS.values() for name in names)
    for function, names in REGIONS.items():
        for name in names:
            assert resolve(f"algorithms.losses:{function}#{name}").text.strip()


def test_losses_imports_torch_only() -> None:
    imported = set(re.findall(r"^(?:from|import) (\w+)", Path(losses.__file__).read_text(encoding="utf-8"), re.M))
    assert imported <= {"__future__", "torch"}


# ---------------------------------------------------------------------------------------
# trl as the yardstick (trl==1.16.0, pinned in requirements-test.txt). trl 1.16 has no standalone loss
# functions: each trainer computes its loss in `_compute_loss(model, inputs, ...)`, from the per-token
# log-probs its patched model returns (`model(..., labels=..., fused_lm_head=True).log_probs`). We call
# that real method, unbound, on a stand-in for the trainer's state, with a stand-in model that returns
# fixed per-token log-probs: the identical float64 inputs we give our loss. Only the forward pass is
# replaced; every line of trl's loss arithmetic runs. These read trl internals, so they name the version.
# ---------------------------------------------------------------------------------------

TRL_VERSION = "1.16.0"


@pytest.fixture(scope="module")
def trl():
    trl = pytest.importorskip("trl", reason="trl is a test dependency: pip install -r requirements-test.txt")
    assert trl.__version__ == TRL_VERSION, (
        f"these tests compare with trl {TRL_VERSION}'s loss code (requirements-test.txt), found {trl.__version__}"
    )
    return trl


class _FixedLogProbs:
    """A stand-in for trl's patched causal LM: `model(input_ids=..., fused_lm_head=True)` -> fixed outputs.

    per_token maps an input_ids tensor (by identity) to the (N, L - 1) log-probs of tokens 1..L-1,
    0 where the label is masked, as trl's fused head returns them.
    """

    training = True

    def __init__(self, per_token: dict[int, torch.Tensor]):
        self.per_token = per_token

    def __call__(self, *, input_ids, fused_lm_head=False, **_):
        assert fused_lm_head, "trl 1.16 scores tokens through its fused LM head"
        log_probs = self.per_token[id(input_ids)]
        zeros = torch.zeros_like(log_probs)
        return types.SimpleNamespace(
            log_probs=log_probs, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool(), aux_loss=None
        )


def _accelerator() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        device=torch.device("cpu"),
        num_processes=1,
        is_main_process=True,
        gather=lambda x: x,
        gather_for_metrics=lambda x: x,
        reduce=lambda x, reduction="sum": x,
        autocast=contextlib.nullcontext,
        sync_gradients=True,
    )


def _trainer_state(model: _FixedLogProbs, **attributes: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        model=model,
        accelerator=_accelerator(),
        aux_loss_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
        **attributes,
    )


def _completion_batch(n: int, prompt_len: int, completion_len: int, seed: int) -> tuple[torch.Tensor, ...]:
    """input_ids (n, L), completion_mask (n, L) with ragged completions, and per-token log-probs (n, L - 1)."""
    generator = torch.Generator().manual_seed(seed)
    L = prompt_len + completion_len
    lengths = torch.randint(1, completion_len + 1, (n,), generator=generator)
    completion_mask = torch.zeros(n, L, dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        completion_mask[row, prompt_len : prompt_len + length] = 1
    input_ids = torch.randint(3, 50, (n, L), generator=generator)
    # log-prob of token t + 1 sits at position t; 0 on masked labels, like trl's fused head.
    per_token = -3 * torch.rand(n, L - 1, dtype=torch.float64, generator=generator) * completion_mask[:, 1:]
    return input_ids, completion_mask, per_token


def test_dpo_matches_trl(trl) -> None:
    # trl 1.16.0, DPOTrainer._compute_loss, loss_type ["sigmoid"], reference log-probs precomputed.
    B, beta = 4, 0.1
    input_ids, completion_mask, per_token = _completion_batch(2 * B, 3, 5, seed=6)  # rows: B chosen, then B rejected
    per_token.requires_grad_()
    ref = -15 * torch.rand(2 * B, dtype=torch.float64)
    inputs = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "completion_mask": completion_mask,
        "ref_chosen_logps": ref[:B],
        "ref_rejected_logps": ref[B:],
    }
    state = _trainer_state(
        _FixedLogProbs({id(input_ids): per_token}),
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=["sigmoid"],
        loss_weights=[1.0],
        beta=beta,
        use_weighting=False,
        args=types.SimpleNamespace(gradient_checkpointing_kwargs=None),
    )
    theirs = trl.DPOTrainer._compute_loss(state, state.model, inputs, return_outputs=False)
    logps = per_token.sum(dim=1)
    ours = dpo_loss(logps[:B], logps[B:], ref[:B], ref[B:], beta=beta)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    (grad_ours,) = torch.autograd.grad(ours, per_token)
    (grad_theirs,) = torch.autograd.grad(theirs, per_token)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-9)
    chosen, rejected = dpo_implicit_rewards(logps[:B], logps[B:], ref[:B], ref[B:], beta=beta)
    assert state._metrics["train"]["rewards/chosen"][0] == pytest.approx(chosen.mean().item(), abs=1e-9)
    assert state._metrics["train"]["rewards/rejected"][0] == pytest.approx(rejected.mean().item(), abs=1e-9)


def test_kto_matches_trl(trl) -> None:
    # trl 1.16.0, KTOTrainer._compute_loss, loss_type "kto", with the KL reference point from mismatched pairs.
    n, beta, lambda_d, lambda_u = 10, 0.3, 1.2, 0.8
    input_ids, completion_mask, per_token = _completion_batch(n, 3, 6, seed=7)
    kl_ids, kl_mask, kl_per_token = _completion_batch(n, 3, 6, seed=8)  # (x, y') with y' from another prompt
    per_token.requires_grad_()
    desirable = torch.tensor([True, False, True, True, False, True, False, False, True, True])
    ref, ref_kl = -15 * torch.rand(n, dtype=torch.float64), -15 * torch.rand(n, dtype=torch.float64)
    inputs = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "completion_mask": completion_mask,
        "KL_input_ids": kl_ids,
        "KL_attention_mask": torch.ones_like(kl_ids),
        "KL_completion_mask": kl_mask,
        "label": desirable,
        "ref_logps": ref,
        "ref_KL_logps": ref_kl,
    }
    state = _trainer_state(
        _FixedLogProbs({id(input_ids): per_token, id(kl_ids): kl_per_token}),
        calculate_KL=True,
        precompute_ref_logps=True,
        loss_type="kto",
        beta=beta,
        desirable_weight=lambda_d,
        undesirable_weight=lambda_u,
    )
    state._compute_kl_logps = types.MethodType(trl.KTOTrainer._compute_kl_logps, state)
    theirs = trl.KTOTrainer._compute_loss(state, state.model, inputs, return_outputs=False)
    kl_logratios = kl_per_token.sum(dim=1) - ref_kl
    ours = kto_loss(per_token.sum(dim=1), ref, desirable, kl_logratios, beta, lambda_d, lambda_u)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    (grad_ours,) = torch.autograd.grad(ours, per_token)
    (grad_theirs,) = torch.autograd.grad(theirs, per_token)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-9)


# Our aggregation -> trl 1.16's loss_type. trl's "dapo" normalises by the token count of the whole
# generation batch (num_items_in_batch); with one batch, no accumulation and one process, that is "token".
TRL_GRPO_LOSS_TYPES = [("sequence", "grpo"), ("token", "bnpo"), ("token", "dapo"), ("constant", "dr_grpo")]


@pytest.mark.parametrize(("aggregation", "loss_type"), TRL_GRPO_LOSS_TYPES)
@pytest.mark.parametrize(("beta", "clip_eps_high"), [(0.04, None), (0.0, 0.28)])
def test_grpo_matches_trl(trl, aggregation: str, loss_type: str, beta: float, clip_eps_high: float | None) -> None:
    # trl 1.16.0, GRPOTrainer._compute_loss (and its _get_per_token_logps_and_entropies), token-level ratios.
    B, P, T, max_completion_length = 6, 3, 5, 7
    generator = torch.Generator().manual_seed(9)
    input_ids, full_mask, per_token = _completion_batch(B, P, T, seed=9)
    completion_mask = full_mask[:, P:]
    logp = per_token[:, P - 1 :].clone().requires_grad_()  # the completion's T tokens
    logp_old = (logp.detach() + 0.3 * torch.randn(B, T, dtype=torch.float64, generator=generator)) * completion_mask
    logp_ref = (logp.detach() + 0.5 * torch.randn(B, T, dtype=torch.float64, generator=generator)) * completion_mask
    adv = torch.randn(B, dtype=torch.float64, generator=generator)
    prompt_ids, completion_ids = input_ids[:, :P], input_ids[:, P:]

    class Model(_FixedLogProbs):
        def __call__(self, *, input_ids, fused_lm_head=False, **_):
            # trl concatenates prompt and completion itself: serve the log-probs for whatever tensor it built.
            torch.testing.assert_close(input_ids, torch.cat([prompt_ids, completion_ids], dim=1))
            return super().__call__(input_ids=self.key, fused_lm_head=fused_lm_head)

    model = Model({})
    model.key = torch.empty(0)
    model.per_token[id(model.key)] = torch.cat([torch.zeros(B, P - 1, dtype=torch.float64), logp], dim=1)
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": adv,
        "old_per_token_logps": logp_old,
        "ref_per_token_logps": logp_ref,
        "num_items_in_batch": completion_mask.sum(),
    }
    state = _trainer_state(
        model,
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level="token",
        beta=beta,
        loss_type=loss_type,
        epsilon_low=0.2,
        epsilon_high=0.2 if clip_eps_high is None else clip_eps_high,
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        current_gradient_accumulation_steps=1,
        max_completion_length=max_completion_length,
        _entropy_bonus_enabled=False,
        args=types.SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
    )
    state._get_per_token_logps_and_entropies = types.MethodType(
        trl.GRPOTrainer._get_per_token_logps_and_entropies, state
    )
    theirs = trl.GRPOTrainer._compute_loss(state, model, inputs)
    ours = grpo_loss(
        logp,
        logp_old,
        logp_ref,
        adv,
        completion_mask,
        clip_eps=0.2,
        clip_eps_high=clip_eps_high,
        beta=beta,
        aggregation=aggregation,
        max_len=max_completion_length,
    )
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    (grad_ours,) = torch.autograd.grad(ours, logp)
    (grad_theirs,) = torch.autograd.grad(theirs, logp)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-9)
    if beta:  # trl logs the k3 estimate's token mean as "kl"
        k3 = (logp_ref - logp).exp() - (logp_ref - logp) - 1
        mean_k3 = ((k3 * completion_mask).sum() / completion_mask.sum()).item()
        assert state._metrics["train"]["kl"][0] == pytest.approx(mean_k3, abs=1e-9)
