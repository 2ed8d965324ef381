"""TRPO: conjugate gradient, Fisher-vector products against the explicit Hessian of the KL, the
natural step, the line search, train() on CartPole and Pendulum, and the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from algorithms.trpo import (
    TRPOConfig,
    categorical_kl,
    conjugate_gradient,
    fisher_vector_product,
    flat_grad,
    flat_params,
    gaussian_kl,
    line_search,
    natural_step,
    set_flat_params,
    surrogate_objective,
    train,
)

ROOT = Path(__file__).resolve().parents[2]
# Two iterations of 4 x 32 steps on CartPole.
TINY = {"total_timesteps": 256, "num_envs": 4, "num_steps": 32, "vf_epochs": 1, "eval_episodes": 2}
PER_UPDATE_KEYS = {
    "global_step",
    "progress",
    "charts/episodic_return",
    "charts/episodic_return_mean100",
    "charts/steps_per_second",
    "losses/policy",
    "losses/value",
    "losses/entropy",
    "losses/approx_kl",
}
FINAL_KEYS = {"total_steps", "seconds", "seconds_to_threshold", "eval_return_mean", "eval_return_std"}


def test_lesson_regions_are_marked_once() -> None:
    source = (ROOT / "algorithms" / "trpo.py").read_text()
    for name in ("conjugate-gradient", "fisher-vector-product", "line-search", "natural-step"):
        assert source.count(f"# lesson:start {name}\n") == 1 and source.count(f"# lesson:end {name}\n") == 1


# --- flat parameters --------------------------------------------------------------------------


def test_flat_params_round_trip() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    params = list(net.parameters())
    theta = flat_params(params)
    assert theta.shape == (sum(p.numel() for p in params),)
    set_flat_params(params, torch.arange(theta.numel(), dtype=torch.float32))
    torch.testing.assert_close(flat_params(params), torch.arange(theta.numel(), dtype=torch.float32))
    assert net[0].weight[0, 1].item() == 1.0 and net[2].bias[1].item() == theta.numel() - 1


# --- conjugate gradient -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 20])
def test_conjugate_gradient_solves_an_spd_system(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    M = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = M @ M.T + n * torch.eye(n, dtype=torch.float64)  # symmetric positive definite
    b = torch.randn(n, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, iters=n, tol=1e-20)  # n steps: exact in exact arithmetic
    torch.testing.assert_close(x, torch.linalg.solve(A, b), atol=1e-6, rtol=1e-6)


def test_conjugate_gradient_stops_on_a_zero_right_hand_side() -> None:
    calls = []
    x = conjugate_gradient(lambda v: calls.append(v) or v, torch.zeros(3), iters=10)
    assert calls == [] and torch.equal(x, torch.zeros(3))


# --- Fisher-vector products -------------------------------------------------------------------


def test_fisher_vector_product_equals_the_explicit_hessian_of_the_kl() -> None:
    torch.manual_seed(0)
    B, obs_dim, A = 6, 3, 4
    x = torch.randn(B, obs_dim, dtype=torch.float64)
    net = nn.Linear(obs_dim, A).double()
    params = list(net.parameters())
    theta_old = flat_params(params)
    logits_old = net(x).detach()

    def kl_of(theta: torch.Tensor) -> torch.Tensor:  # mean KL(pi_old || pi_theta) as a function of the flat vector
        W, b = theta[: A * obs_dim].view(A, obs_dim), theta[A * obs_dim :]
        return categorical_kl(torch.log_softmax(logits_old, -1), torch.log_softmax(x @ W.T + b, -1)).mean()

    H = torch.autograd.functional.hessian(kl_of, theta_old)  # (P, P), explicit
    # At theta_old the Hessian of the KL is the Fisher matrix E_s[J^T (diag(p) - p p^T) J].
    p = torch.softmax(logits_old, -1)  # (B, A)
    F = torch.zeros_like(H)
    for i in range(B):
        J = torch.autograd.functional.jacobian(
            lambda th, i=i: x[i] @ th[: A * obs_dim].view(A, obs_dim).T + th[A * obs_dim :], theta_old
        )  # (A, P)
        F += J.T @ (torch.diag(p[i]) - torch.outer(p[i], p[i])) @ J / B
    torch.testing.assert_close(H, F)

    kl = categorical_kl(torch.log_softmax(logits_old, -1), torch.log_softmax(net(x), -1)).mean()
    grad_kl = flat_grad(kl, params, create_graph=True)
    v = torch.randn(theta_old.numel(), dtype=torch.float64)
    for damping in (0.0, 0.1):
        torch.testing.assert_close(fisher_vector_product(grad_kl, params, v, damping), H @ v + damping * v)


def test_gaussian_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(1)
    mean_old, mean = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    log_std_old, log_std = torch.randn(2, generator=g), torch.randn(2, generator=g)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean_old, log_std_old.exp()), torch.distributions.Normal(mean, log_std.exp())
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean_old, log_std_old, mean, log_std), expected)


def test_natural_step_fills_the_quadratic_trust_region() -> None:
    F = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    g = torch.tensor([1.0, -1.0], dtype=torch.float64)
    step, expected = natural_step(g, lambda v: F @ v, max_kl=0.01, cg_iters=10)
    assert (0.5 * step @ F @ step).item() == pytest.approx(0.01)  # 1/2 s^T F s = delta
    torch.testing.assert_close(step / step.norm(), torch.linalg.solve(F, g) / torch.linalg.solve(F, g).norm())
    assert expected == pytest.approx((g @ step).item()) and expected > 0


# --- line search ------------------------------------------------------------------------------


def test_line_search_rejects_steps_that_break_the_kl_bound() -> None:
    # Surrogate improves linearly along the step; KL grows like 4 * fraction^2 (the full step is 4x over).
    theta_old, full_step = torch.zeros(2), torch.tensor([1.0, 0.0])

    def surrogate_and_kl(theta: torch.Tensor) -> tuple[float, float]:
        f = theta[0].item()
        return f, 4.0 * f * f

    theta, k = line_search(surrogate_and_kl, theta_old, full_step, expected_improve=1.0, surrogate_old=0.0, max_kl=1.0)
    assert k == 1 and theta[0].item() == 0.5  # fraction 1 has KL 4 > 1; fraction 1/2 has KL exactly 1

    # A bound no fraction meets: keep the old parameters.
    theta, k = line_search(lambda th: (th[0].item(), 1.0), theta_old, full_step, 1.0, 0.0, max_kl=0.5, max_backtracks=5)
    assert k == -1 and torch.equal(theta, theta_old)


def test_line_search_rejects_steps_that_do_not_improve_the_surrogate() -> None:
    theta_old, full_step = torch.zeros(1), torch.ones(1)
    # The surrogate does not improve for fractions of 1/4 or more (a curved objective the linear model misjudged).
    theta, k = line_search(
        lambda th: (th[0].item() * (0.25 - th[0].item()) * 10, 0.0), theta_old, full_step, 1.0, 0.0, max_kl=1.0
    )
    assert k == 3 and theta[0].item() == 0.125  # fractions 1, 1/2 and 1/4 do not improve it


def test_surrogate_is_the_mean_advantage_at_theta_old_and_its_gradient_is_the_policy_gradient() -> None:
    logp = torch.tensor([-0.3, -1.2, -0.7], requires_grad=True)
    adv = torch.tensor([1.0, -0.5, 2.0])
    L = surrogate_objective(logp, logp.detach(), adv)
    assert L.item() == pytest.approx(adv.mean().item())
    L.backward()
    assert logp.grad is not None
    torch.testing.assert_close(logp.grad, adv / 3)  # ratio 1: d/dlogp mean(r A) = A / B


# --- train() ----------------------------------------------------------------------------------


def test_train_reports_the_contract_keys_and_saves_artifacts(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    config = TRPOConfig(**{**TINY, "total_timesteps": 1024, "output_dir": str(tmp_path)})
    result = train(config, on_update=calls.append)
    seen = set().union(*calls)
    assert seen >= PER_UPDATE_KEYS, PER_UPDATE_KEYS - seen
    assert all(math.isfinite(v) for m in calls for v in m.values())
    assert len(calls) == 8 and calls[-1]["progress"] == 1.0 and calls[-1]["global_step"] == 1024
    assert all(m["losses/approx_kl"] <= config.max_kl + 1e-9 for m in calls)  # the trust region holds
    assert result.metrics.keys() >= FINAL_KEYS and result.metrics["eval_return_mean"] is not None
    assert Path(result.artifacts["checkpoint"]).is_file() and Path(result.artifacts["episode"]).is_file()


def test_continuous_actions_train() -> None:
    config = TRPOConfig(**{**TINY, "env_id": "Pendulum-v1", "eval_episodes": 1})
    m = train(config).metrics
    assert m["total_steps"] == 256 and m["losses/approx_kl"] <= config.max_kl + 1e-9


def test_should_stop_ends_training_after_the_current_iteration() -> None:
    calls: list[dict[str, float]] = []
    result = train(TRPOConfig(**{**TINY, "total_timesteps": 100_000}), on_update=calls.append, should_stop=lambda: True)
    assert len(calls) == 1 and result.metrics["total_steps"] == 128
    assert result.metrics["stopped_early"] == 1.0 and result.metrics["eval_return_mean"] is None


# --- learning (slow) --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_default_config_solves_cartpole(seed: int) -> None:
    m = train(TRPOConfig(seed=seed)).metrics
    assert m["eval_return_mean"] >= 475.0, m
