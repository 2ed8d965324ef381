"""Returns and GAE against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.returns import (
    batched_gae,
    discount_weights,
    discounted_return,
    discounted_returns,
    effective_horizon,
    gae,
)


def test_discounted_returns_by_hand() -> None:
    # G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 3.5, 3.0])


def test_gamma_extremes_and_single_step() -> None:
    r = np.array([1.0, -2.0, 4.0])
    np.testing.assert_allclose(discounted_returns(r, 0.0), r)
    np.testing.assert_allclose(discounted_returns(r, 1.0), [3.0, 2.0, 4.0])
    np.testing.assert_allclose(discounted_returns(np.array([7.0]), 0.9), [7.0])
    assert discounted_returns(np.array([]), 0.9).shape == (0,)


def test_first_return_matches_weighted_sum() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(size=50)
    gamma = 0.97
    assert discounted_returns(r, gamma)[0] == pytest.approx(discounted_return(r, gamma))
    assert discounted_return(r, gamma) == pytest.approx(sum(gamma**k * x for k, x in enumerate(r)))


def test_weights_and_horizon() -> None:
    np.testing.assert_allclose(discount_weights(0.5, 4), [1.0, 0.5, 0.25, 0.125])
    assert effective_horizon(0.9) == pytest.approx(10.0)
    assert effective_horizon(1.0) == float("inf")


def test_bad_gamma_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\], got 1.5"):
        discounted_returns(np.array([1.0]), 1.5)


def test_gae_by_hand_with_termination() -> None:
    rewards = np.array([1.0, 1.0])
    values = np.array([0.5, 0.5, 100.0])  # the 100 must not leak: the episode ended at t = 1
    dones = np.array([0.0, 1.0])
    gamma, lam = 0.9, 0.8
    delta1 = 1.0 - 0.5
    delta0 = 1.0 + gamma * 0.5 - 0.5
    np.testing.assert_allclose(gae(rewards, values, dones, gamma, lam), [delta0 + gamma * lam * delta1, delta1])


def test_gae_bootstraps_through_truncation() -> None:
    # Not done at the last step (a time limit): the bootstrap value V(s_T) = 10 counts.
    adv = gae(np.array([0.0]), np.array([0.0, 10.0]), np.array([0.0]), 0.9, 0.95)
    np.testing.assert_allclose(adv, [9.0])


def test_gae_lambda_one_is_monte_carlo_minus_baseline() -> None:
    rng = np.random.default_rng(1)
    rewards, values = rng.normal(size=6), np.append(rng.normal(size=6), 0.0)
    dones = np.zeros(6)
    dones[-1] = 1.0
    np.testing.assert_allclose(gae(rewards, values, dones, 0.9, 1.0), discounted_returns(rewards, 0.9) - values[:-1])
    # lambda = 0: the one-step TD error.
    td = rewards + 0.9 * values[1:] * (1 - dones) - values[:-1]
    np.testing.assert_allclose(gae(rewards, values, dones, 0.9, 0.0), td)


def test_gae_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"values must have shape \(T\+1,\)"):
        gae(np.zeros(3), np.zeros(3), np.zeros(3), 0.9, 0.9)


def test_gae_bias_variance_trade_off() -> None:
    from algorithms.returns import gae_bias_variance

    lams = np.linspace(0.0, 1.0, 6)
    result = gae_bias_variance(lams, episodes=200)
    assert np.all(np.diff(result["bias"]) < 0)  # more lambda, less bootstrapped critic error
    assert np.all(np.diff(result["variance"]) > 0)  # ... and more reward noise
    assert result["bias"][-1] == pytest.approx(0.0, abs=1e-9)  # lambda = 1: Monte Carlo, no bootstrap
    assert result["bias"][0] > 0.3 and result["variance"][-1] > 5 * result["variance"][0]
    perfect_critic = gae_bias_variance(lams, critic_error=0.0, episodes=200)
    np.testing.assert_allclose(perfect_critic["bias"], 0.0, atol=1e-9)
    no_noise = gae_bias_variance(lams, reward_noise=0.0, episodes=200)
    np.testing.assert_allclose(no_noise["variance"], 0.0, atol=1e-9)


def test_batched_gae_equals_per_episode_gae() -> None:
    """Each column of a (T, N) rollout, cut into its episodes, gives what ``gae`` gives each episode:
    a terminated end is a done, a truncated end or the rollout's end bootstraps from V(next obs)."""
    rng = np.random.default_rng(0)
    T, N, gamma, lam = 40, 6, 0.97, 0.9
    rewards, values = rng.normal(size=(T, N)), rng.normal(size=(T, N))
    ends = rng.random((T, N)) < 0.15
    # V(s_{t+1}): the next row's value inside an episode; at an end, V of the final observation
    next_values = np.where(ends, rng.normal(size=(T, N)), np.vstack([values[1:], rng.normal(size=(1, N))]))
    terminated = ends & (rng.random((T, N)) < 0.5)
    truncated = ends & ~terminated
    batched = batched_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    episodes = 0
    for n in range(N):
        start = 0
        for t in range(T):
            if terminated[t, n] or truncated[t, n] or t == T - 1:
                seg = slice(start, t + 1)
                v = np.append(values[seg, n], next_values[t, n])  # bootstrap from V(s_{t+1}) ...
                dones = np.zeros(t + 1 - start)
                dones[-1] = float(terminated[t, n])  # ... unless the episode really ended
                np.testing.assert_allclose(batched[seg, n], gae(rewards[seg, n], v, dones, gamma, lam))
                start, episodes = t + 1, episodes + 1
    assert episodes > 2 * N  # the rollout really held several episodes per column


def test_batched_gae_torch_matches_numpy_and_the_bug_leaks_across_episodes() -> None:
    import torch

    rewards = np.array([[1.0], [1.0], [1.0]])
    values = np.zeros((3, 1))
    next_values = np.full((3, 1), 10.0)
    terminated = np.array([[False], [True], [False]])
    truncated = np.zeros((3, 1), bool)
    right = batched_gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0)
    # step 1 fell: A_1 = r = 1, and A_0 = r + gamma V(s_1) - 0 + gamma A_1 with V(s_1) = 10
    np.testing.assert_allclose(right[:, 0], [1 + 0.5 * 10 + 0.5 * 1.0, 1.0, 1 + 0.5 * 10])
    as_torch = batched_gae(
        *(torch.as_tensor(x) for x in (rewards, values, next_values, terminated, truncated)), 0.5, 1.0
    )
    np.testing.assert_allclose(as_torch.numpy(), right)
    buggy = batched_gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0, mask_terminations=False)
    assert buggy[1, 0] == 1 + 0.5 * 10 + 0.5 * 6.0  # the fall bootstraps, and A_2 leaks back into it
