"""algorithms/losses.py: hand-computed values, the invariants each paper states, and trl where it is installed."""

from __future__ import annotations

import inspect
import math
import re
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from algorithms import losses
from algorithms.losses import (
    approx_kl,
    bradley_terry_loss,
    clip_fraction,
    clipped_value_loss,
    dpo_implicit_rewards,
    dpo_loss,
    dqn_loss,
    dqn_td_targets,
    entropy_bonus,
    kl_shaped_reward,
    kto_loss,
    ppo_clip_loss,
    ppo_clip_objective,
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
# Lesson regions
# ---------------------------------------------------------------------------------------

REGIONS = {
    "ppo_clip_loss": ["ppo-ratio", "ppo-clip"],
    "clipped_value_loss": ["value-clip"],
    "dqn_td_targets": ["dqn-target", "double-dqn-target", "bellman-target"],
    "bradley_terry_loss": ["bradley-terry"],
    "dpo_loss": ["dpo-loss"],
    "kto_loss": ["kto-value"],
    "kl_shaped_reward": ["kl-penalty"],
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
# trl, where installed (not a dependency). We call its loss methods directly with a stand-in for
# the trainer, rather than build a trainer: that needs a model, a tokenizer and a dataset, and
# trl's configs default to bf16 (pass bf16=False if you ever do build one on CPU).
# ---------------------------------------------------------------------------------------


def _trl_stand_in(beta: float, **extra: object) -> types.SimpleNamespace:
    accelerator = types.SimpleNamespace(
        device=torch.device("cpu"), gather=lambda x: x, gather_for_metrics=lambda x: x, num_processes=1
    )
    args = types.SimpleNamespace(rpo_alpha=None, use_liger_kernel=False, use_weighting=False, ld_alpha=None)
    return types.SimpleNamespace(
        accelerator=accelerator,
        args=args,
        beta=beta,
        label_smoothing=0.0,
        loss_type="sigmoid",
        reference_free=False,
        f_divergence_type="reverse_kl",
        f_divergence_params=None,
        use_weighting=False,
        aux_loss_enabled=False,
        **extra,
    )


def _call_trl(method: object, stand_in: types.SimpleNamespace, *args: torch.Tensor, **kwargs: object) -> tuple:
    try:
        return method(stand_in, *args, **kwargs)  # type: ignore[operator]
    except (AttributeError, TypeError, ValueError) as exc:  # trl's internals move between versions
        pytest.skip(f"this trl version's loss method needs more than our stand-in: {exc}")


def test_dpo_matches_trl() -> None:
    trl = pytest.importorskip("trl")
    method = getattr(getattr(trl, "DPOTrainer", None), "dpo_loss", None)
    if method is None:
        pytest.skip("this trl version has no DPOTrainer.dpo_loss")
    torch.manual_seed(6)
    pi_c, pi_r, ref_c, ref_r = (-20 * torch.rand(8) for _ in range(4))
    kwargs = {"loss_type": "sigmoid"} if "loss_type" in inspect.signature(method).parameters else {}
    trl_losses, trl_chosen, trl_rejected = _call_trl(method, _trl_stand_in(0.1), pi_c, pi_r, ref_c, ref_r, **kwargs)
    torch.testing.assert_close(dpo_loss(pi_c, pi_r, ref_c, ref_r, beta=0.1), trl_losses.mean())
    ours_chosen, ours_rejected = dpo_implicit_rewards(pi_c, pi_r, ref_c, ref_r, beta=0.1)
    torch.testing.assert_close(ours_chosen, trl_chosen)
    torch.testing.assert_close(ours_rejected, trl_rejected)


def test_kto_matches_trl() -> None:
    trl = pytest.importorskip("trl")
    trainer = getattr(trl, "KTOTrainer", None)
    if trainer is None:
        trainer = getattr(pytest.importorskip("trl.experimental.kto"), "KTOTrainer", None)
    method = getattr(trainer, "kto_loss", None)
    if method is None:
        pytest.skip("this trl version has no KTOTrainer.kto_loss")
    torch.manual_seed(7)
    pi, ref = -20 * torch.rand(10), -20 * torch.rand(10)
    desirable = torch.tensor([True, False, True, True, False, True, False, False, True, True])
    pi_kl, ref_kl = -20 * torch.rand(10), -20 * torch.rand(10)  # log-probs of mismatched (x, y') pairs
    stand_in = _trl_stand_in(0.3, desirable_weight=1.2, undesirable_weight=0.8, calculate_KL=True)
    stand_in.loss_type = "kto"
    trl_losses, *_ = _call_trl(
        method, stand_in, pi[desirable], pi[~desirable], pi_kl, ref[desirable], ref[~desirable], ref_kl
    )
    ours = kto_loss(pi, ref, desirable, kl_ref=pi_kl - ref_kl, beta=0.3, lambda_d=1.2, lambda_u=0.8)
    torch.testing.assert_close(ours, trl_losses.mean())
