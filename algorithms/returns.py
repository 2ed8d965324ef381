"""Returns, discounting and advantage estimators: pure functions over one trajectory.

Sutton & Barto (2nd ed.), section 3.3 (returns and episodes) and chapter 12 (lambda-returns);
Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized Advantage
Estimation" (GAE), equations 11 to 16.

Indexing: the book calls the reward that follows action A_t R_{t+1}; here an episode's rewards
are one 0-based array, so that same reward is ``rewards[t]`` (written r_t in comments, as in the
GAE paper). G_t = r_t + gamma G_{t+1} below is the book's G_t = R_{t+1} + gamma G_{t+1}.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def discount_weights(gamma: float, horizon: int) -> np.ndarray:
    """The weights gamma^k, k = 0 .. horizon-1, that a return puts on future rewards. Shape (horizon,)."""
    _check_gamma(gamma)
    return gamma ** np.arange(horizon, dtype=np.float64)


def discounted_return(rewards: np.ndarray, gamma: float) -> float:
    """G_0 = sum_k gamma^k r_{k+1}: the return of a whole episode from its first step (S&B eq. 3.8)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return float(discount_weights(gamma, len(rewards)) @ rewards)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t for every step t of one finished episode. rewards: (T,) -> returns: (T,).

    Uses the recursion G_t = r_t + gamma * G_{t+1} (S&B eq. 3.9, where r_t = rewards[t] is the
    book's R_{t+1}) with G_T = 0: one backward pass, O(T), instead of T separate sums.
    """
    _check_gamma(gamma)
    rewards = np.asarray(rewards, dtype=np.float64)
    returns = np.zeros_like(rewards)
    # lesson:start backward-recursion
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running  # G_t = r_t + gamma * G_{t+1}
        returns[t] = running
    # lesson:end backward-recursion
    return returns


def effective_horizon(gamma: float) -> float:
    """1 / (1 - gamma): roughly how many steps ahead a gamma-discounted agent looks."""
    _check_gamma(gamma)
    return float("inf") if gamma == 1.0 else 1.0 / (1.0 - gamma)


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    lam: float,
) -> np.ndarray:
    """Generalized Advantage Estimation (Schulman et al. 2016, eq. 16) for one rollout.

    rewards, dones: (T,); values: (T+1,), whose last entry is the bootstrap value V(s_T).
    dones[t] = 1 means the episode really ended at step t (terminated): nothing after it
    leaks back, and V(s_{t+1}) is not used. A time-limit truncation is not a done here: pass
    the value of the truncated state as the bootstrap instead.
    Returns the advantages A_t, shape (T,).
    """
    _check_gamma(gamma)
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    dones = np.asarray(dones, dtype=np.float64)
    T = len(rewards)
    if values.shape != (T + 1,):
        raise ValueError(f"values must have shape (T+1,) = ({T + 1},), got {values.shape}")
    if dones.shape != (T,):
        raise ValueError(f"dones must have shape (T,) = ({T},), got {dones.shape}")
    advantages = np.zeros(T)
    running = 0.0
    for t in reversed(range(T)):
        not_done = 1.0 - dones[t]
        # lesson:start td-error
        delta = rewards[t] + gamma * values[t + 1] * not_done - values[t]
        # lesson:end td-error
        # lesson:start gae-recursion
        running = delta + gamma * lam * not_done * running  # A_t = delta_t + gamma lam A_{t+1}
        # lesson:end gae-recursion
        advantages[t] = running
    return advantages


def batched_gae(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    truncated: Any,
    gamma: float,
    lam: float,
    mask_terminations: bool = True,
) -> Any:
    """GAE advantages A_t of N rollouts of T steps at once (Schulman et al. 2016, eq. 16; PPO's
    truncated form, Schulman et al. 2017, eq. 11 and 12): ``gae`` over a batch, episode edges included.

    rewards, values, next_values: (T, N) float; terminated, truncated: (T, N) bool. ``next_values[t]``
    is V of the observation step t returned: the *final* observation when step t ended an episode,
    so a time limit (truncated) bootstraps from it while a real end (terminated) drops it. Either one
    stops the sum at the episode's edge. Works on numpy arrays and torch tensors alike. Returns (T, N).

        delta_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma lam (1 - done_t) A_{t+1},     done_t = terminated_t or truncated_t

    ``mask_terminations=False`` is the debugging lab's first bug: neither mask is applied.
    """
    T = rewards.shape[0]
    # lesson:start bug-termination-mask
    if mask_terminations:
        not_terminated = _as_float(~terminated, rewards)  # after a real end the future is worth 0
        not_done = _as_float(~(terminated | truncated), rewards)  # the next row starts another episode
    else:  # BUG: a fall is bootstrapped like any step, and A_t leaks back from the next episode
        not_terminated = not_done = _as_float(terminated | True, rewards)
    # lesson:end bug-termination-mask
    # lesson:start gae-batched
    delta = rewards + gamma * next_values * not_terminated - values  # TD errors, all at once, (T, N)
    advantages = 1.0 * delta  # (T, N); every row is overwritten below
    running = delta[T - 1]  # A_{T-1} = delta_{T-1}: nothing after the rollout, (N,)
    advantages[T - 1] = running
    for t in reversed(range(T - 1)):
        running = delta[t] + gamma * lam * not_done[t] * running  # A_t = delta_t + gamma lam A_{t+1}
        advantages[t] = running
    # lesson:end gae-batched
    return advantages


def _as_float(mask: Any, like: Any) -> Any:
    """A bool mask as 1.0 / 0.0 in the dtype of ``like`` (a numpy array or a torch tensor)."""
    return mask.to(like.dtype) if hasattr(mask, "to") else mask.astype(like.dtype)


def n_step_returns(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    n: int,
) -> np.ndarray:
    """n-step returns G_{t:t+n} for every step of one rollout (Sutton & Barto, eq. 7.1).

    G_{t:t+n} = r_t + gamma r_{t+1} + ... + gamma^(n-1) r_{t+n-1} + gamma^n V(s_{t+n}):
    n real rewards, then the value estimate stands in for the rest. n = 1 is the TD target
    r_t + gamma V(s_{t+1}); n >= T on an episode that terminates is the Monte Carlo return.
    rewards, dones: (T,); values: (T+1,), whose last entry is the bootstrap value V(s_T). Near the
    end of the rollout the window is shorter and bootstraps from V(s_T) (S&B's G_{t:h}, h = T).
    dones[t] = 1 means the episode really ended at step t: the sum stops there and nothing after it,
    not even a value, is added. Returns (T,).
    """
    _check_gamma(gamma)
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rewards, values, dones = _rollout_arrays(rewards, values, dones)
    T = len(rewards)
    returns = np.zeros(T)
    # lesson:start n-step-target
    for t in range(T):
        end = min(t + n, T)  # the window stops after n steps or at the end of the rollout
        G, discount = 0.0, 1.0
        for k in range(t, end):
            G += discount * rewards[k]
            discount *= gamma * (1.0 - dones[k])  # after a real end nothing counts, not even V
        returns[t] = G + discount * values[end]  # + gamma^n V(s_{t+n}) bootstraps the rest
    # lesson:end n-step-target
    return returns


def lambda_returns(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    lam: float,
) -> np.ndarray:
    """The lambda-returns G^lambda_t of one rollout: the targets of TD(lambda) (Sutton & Barto, eq. 12.2).

    G^lambda_t = (1 - lam) sum_n lam^(n-1) G_{t:t+n} averages every n-step return, and satisfies
    the backward recursion of S&B exercise 12.1 (cut at the rollout's end as in eq. 12.9)

        G^lambda_t = r_t + gamma (1 - d_t) [(1 - lam) V(s_{t+1}) + lam G^lambda_{t+1}],

    with G^lambda_T = V(s_T). lam = 0 gives the TD target, lam = 1 the Monte Carlo return (with
    the bootstrap at the cut). They are exactly gae(...) + values[:-1]: GAE's advantage is the
    lambda-return minus the baseline (Schulman et al. 2016, section 3), which is why PPO's value
    targets are advantages + values. Shapes and dones as in ``gae``. Returns (T,).
    """
    _check_gamma(gamma)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    rewards, values, dones = _rollout_arrays(rewards, values, dones)
    T = len(rewards)
    returns = np.zeros(T)
    G = values[T]  # G^lambda_T = V(s_T): the bootstrap at the end of the rollout
    for t in reversed(range(T)):
        not_done = 1.0 - dones[t]
        # lesson:start lambda-return
        G = rewards[t] + gamma * not_done * ((1.0 - lam) * values[t + 1] + lam * G)
        # lesson:end lambda-return
        returns[t] = G
    return returns


def _rollout_arrays(
    rewards: np.ndarray, values: np.ndarray, dones: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rewards (T,), values (T+1,), dones (T,) as float64 arrays, or a ValueError naming the bad shape."""
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    dones = np.asarray(dones, dtype=np.float64)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must have shape (T,), got {rewards.shape}")
    T = len(rewards)
    if values.shape != (T + 1,):
        raise ValueError(f"values must have shape (T+1,) = ({T + 1},), got {values.shape}")
    if dones.shape != (T,):
        raise ValueError(f"dones must have shape (T,) = ({T},), got {dones.shape}")
    return rewards, values, dones


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")


def gae_bias_variance(
    lams: np.ndarray,
    gamma: float = 0.99,
    T: int = 50,
    episodes: int = 400,
    reward_noise: float = 1.0,
    critic_error: float = 1.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """How lambda trades bias for variance in GAE, measured on a chain where the truth is known.

    A chain of T states, one action each, reward 1 + reward_noise * N(0, 1) per step, so every
    true advantage is 0 and v(s_t) = sum_{k < T-t} gamma^k. The critic is wrong by a fixed
    eps(s) ~ critic_error * N(0, 1) per state. For each lambda:

    - variance: the spread of A_hat_t over episodes (from the reward noise), averaged over t;
    - bias: mean over t of (E[A_hat_t] + eps(s_t))^2. The -eps(s_t) part of the error is the
      baseline's own error: it does not depend on the action, so it cancels in the policy
      gradient. What is left comes from bootstrapping on the wrong V(s_{t+k}), which does reach
      the gradient: large at lambda = 0, zero at lambda = 1 (Schulman et al. 2016, section 3).
    """
    rng = np.random.default_rng(seed)
    v_true = np.array([(1 - gamma ** (T - t)) / (1 - gamma) if gamma < 1 else T - t for t in range(T + 1)])
    eps = critic_error * rng.normal(size=T + 1)
    eps[T] = 0.0  # the terminal state's value is known to be 0
    values = v_true + eps  # (T+1,)
    dones = np.zeros(T)
    dones[-1] = 1.0
    noise = rng.normal(size=(episodes // 2, T))
    # Antithetic pairs: GAE is linear in the rewards, so the mean over episodes is then exact and
    # the bias below is not polluted by sampling noise.
    rewards = 1.0 + reward_noise * np.concatenate([noise, -noise])  # (episodes, T)
    bias, variance = [], []
    for lam in lams:
        A_hat = np.stack([gae(r, values, dones, gamma, float(lam)) for r in rewards])  # (episodes, T)
        bias.append(float(np.mean((A_hat.mean(axis=0) + eps[:T]) ** 2)))
        variance.append(float(np.mean(A_hat.var(axis=0))))
    return {"lam": np.asarray(lams, dtype=np.float64), "bias": np.array(bias), "variance": np.array(variance)}
