"""n-step returns and lambda-returns (algorithms/returns.py) against hand-computed values and identities."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from algorithms import returns as returns_module
from algorithms.returns import discounted_returns, gae, lambda_returns, n_step_returns


def _random_rollout(seed: int, T: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=T)
    values = rng.normal(size=T + 1)
    dones = (rng.random(T) < 0.25).astype(np.float64)  # several episodes inside one rollout
    return rewards, values, dones


def test_n_step_by_hand() -> None:
    # rewards 1, 2, 3; values V(s_0..s_3) = 10, 20, 30, 40 (40 is the bootstrap); gamma 0.5, n = 2, no dones.
    # G_0 = 1 + 0.5*2 + 0.25*V(s_2)=30 -> 1 + 1 + 7.5 = 9.5
    # G_1 = 2 + 0.5*3 + 0.25*V(s_3)=40 -> 2 + 1.5 + 10 = 13.5
    # G_2 = 3 + 0.5*V(s_3)=40 (the window is cut by the rollout's end) -> 3 + 20 = 23
    G = n_step_returns(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0, 40.0]), np.zeros(3), 0.5, 2)
    np.testing.assert_allclose(G, [9.5, 13.5, 23.0])


def test_n_step_stops_at_a_real_end() -> None:
    # The episode ends at t = 1; a new one starts at t = 2. gamma 0.5, n = 3.
    # G_0 = 1 + 0.5*2 (then stop: no reward 3, no value) = 2
    # G_1 = 2
    # G_2 = 3 + 0.5*V(s_3)=40 = 23
    G = n_step_returns(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0, 40.0]), np.array([0, 1, 0]), 0.5, 3)
    np.testing.assert_allclose(G, [2.0, 2.0, 23.0])


def test_one_step_is_the_td_target() -> None:
    rewards, values, dones = _random_rollout(0)
    gamma = 0.9
    td_target = rewards + gamma * values[1:] * (1.0 - dones)
    np.testing.assert_allclose(n_step_returns(rewards, values, dones, gamma, 1), td_target)


@pytest.mark.parametrize("n", [5, 6, 100])
def test_long_n_on_a_terminated_episode_is_monte_carlo(n: int) -> None:
    rewards = np.array([1.0, -2.0, 0.5, 3.0, 4.0])
    values = np.array([7.0, 7.0, 7.0, 7.0, 7.0, 99.0])  # none of these may appear
    dones = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(n_step_returns(rewards, values, dones, 0.9, n), discounted_returns(rewards, 0.9))


def test_long_n_on_a_truncated_rollout_bootstraps_from_the_last_value() -> None:
    rewards = np.array([1.0, 2.0, 3.0])
    values = np.array([0.0, 0.0, 0.0, 10.0])
    gamma = 0.9
    expected = discounted_returns(rewards, gamma) + gamma ** np.array([3, 2, 1]) * 10.0
    np.testing.assert_allclose(n_step_returns(rewards, values, np.zeros(3), gamma, 50), expected)


def test_n_step_matches_the_definition_on_random_rollouts() -> None:
    for seed in range(5):
        rewards, values, dones = _random_rollout(seed)
        T, gamma = len(rewards), 0.95
        for n in (1, 2, 3, 7):
            expected = np.zeros(T)
            for t in range(T):
                G, k = 0.0, t
                while True:  # sum rewards until n are taken, the episode ends, or the rollout ends
                    G += gamma ** (k - t) * rewards[k]
                    if dones[k]:
                        break
                    k += 1
                    if k - t == n or k == T:
                        G += gamma ** (k - t) * values[k]
                        break
                expected[t] = G
            np.testing.assert_allclose(n_step_returns(rewards, values, dones, gamma, n), expected)


def test_lambda_returns_by_hand() -> None:
    # rewards 1, 1; values 0.5, 0.5, bootstrap 4; gamma 0.5, lam 0.5, no dones.
    # G_2 = V(s_2) = 4
    # G_1 = r_1 + gamma ((1 - lam) V(s_2) + lam G_2) = 1 + 0.5 * (0.5*4 + 0.5*4) = 3
    # G_0 = r_0 + gamma ((1 - lam) V(s_1) + lam G_1) = 1 + 0.5 * (0.5*0.5 + 0.5*3) = 1 + 0.5 * 1.75 = 1.875
    G = lambda_returns(np.array([1.0, 1.0]), np.array([0.5, 0.5, 4.0]), np.zeros(2), 0.5, 0.5)
    np.testing.assert_allclose(G, [1.875, 3.0])


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_lambda_returns_are_gae_plus_values(lam: float) -> None:
    for seed in range(5):
        rewards, values, dones = _random_rollout(seed)
        np.testing.assert_allclose(
            lambda_returns(rewards, values, dones, 0.99, lam), gae(rewards, values, dones, 0.99, lam) + values[:-1]
        )


def test_lambda_extremes_are_td_and_monte_carlo() -> None:
    rewards, values, dones = _random_rollout(3)
    gamma = 0.9
    np.testing.assert_allclose(
        lambda_returns(rewards, values, dones, gamma, 0.0), n_step_returns(rewards, values, dones, gamma, 1)
    )
    np.testing.assert_allclose(
        lambda_returns(rewards, values, dones, gamma, 1.0), n_step_returns(rewards, values, dones, gamma, len(rewards))
    )


def test_lambda_return_is_the_weighted_average_of_n_step_returns() -> None:
    # S&B eq. 12.2 cut at the rollout's end (eq. 12.9): (1 - lam) sum_{n < h} lam^(n-1) G_{t:t+n} + lam^(h-1) G_{t:T}.
    rewards, values, _ = _random_rollout(4, T=6)
    dones = np.zeros(6)
    gamma, lam, T = 0.9, 0.7, 6
    by_n = {n: n_step_returns(rewards, values, dones, gamma, n) for n in range(1, T + 1)}
    for t in range(T):
        h = T - t
        expected = (1 - lam) * sum(lam ** (n - 1) * by_n[n][t] for n in range(1, h)) + lam ** (h - 1) * by_n[h][t]
        assert lambda_returns(rewards, values, dones, gamma, lam)[t] == pytest.approx(expected)


def test_bad_arguments_are_clear_errors() -> None:
    r, v, d = np.zeros(3), np.zeros(4), np.zeros(3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        n_step_returns(r, v, d, 0.9, 0)
    with pytest.raises(ValueError, match=r"values must have shape \(T\+1,\)"):
        n_step_returns(r, np.zeros(3), d, 0.9, 2)
    with pytest.raises(ValueError, match="lam must lie in"):
        lambda_returns(r, v, d, 0.9, 1.5)
    with pytest.raises(ValueError, match=r"dones must have shape"):
        lambda_returns(r, v, np.zeros(4), 0.9, 0.5)
    with pytest.raises(ValueError, match="gamma must lie in"):
        lambda_returns(r, v, d, 1.1, 0.5)


def test_region_names_are_unique_and_closed() -> None:
    source = Path(returns_module.__file__).read_text(encoding="utf-8")
    starts = re.findall(r"^\s*# lesson:start (\S+)$", source, re.M)
    ends = re.findall(r"^\s*# lesson:end (\S+)$", source, re.M)
    assert len(starts) == len(set(starts))
    assert sorted(starts) == sorted(ends)
    assert {"n-step-target", "lambda-return", "backward-recursion", "td-error", "gae-recursion"} <= set(starts)
