"""Tabular control: Sarsa, Q-learning, Expected Sarsa and Monte Carlo (Sutton & Barto 2018, ch. 5-6).

Each update rule is a pure function of a table ``Q`` of shape (S, A) (or ``V`` of shape
(S,)) that returns a new table. The same functions also take arrays of indices, which is
how the control loops below run many independent runs in lockstep: run ``i``'s table is
rows ``i*S .. i*S + S - 1`` of one (runs*S, A) array, so one call updates every run at once.
A batched call reads the old table and writes all its entries together, which equals
updating them one by one only because no two runs ever touch the same row.

The loops step a vectorized model of the environment (``TabularModel``), read from the
Gymnasium environment's own transition table ``env.unwrapped.P``: Example 6.6's 50 runs
take about a second this way and several seconds stepping Gymnasium one run at a time,
and the gap grows with the number of runs. Tests check the model against the table and
against ``env.step``. The greedy policy at the end is replayed in the real Gymnasium
environment.

Terminated and truncated differ: a real end (the goal, a hole in the ice, a major
bleed) has no future, so the target does not bootstrap; a time limit is not part of the
task, so the target bootstraps through it as if the episode went on.

Command line (one JSON object on the last line with ``--json``)::

    python -m algorithms.tabular --env cliff-walking --algo sarsa --episodes 500 --runs 50 \
        --alpha 0.5 --epsilon 0.1 --seed 0 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np

import algorithms.envs  # registers RL Dojo's environments with Gymnasium
from algorithms.contract import TrainResult
from algorithms.envs.dosing import evaluate_policy, greedy_policies

Index = int | np.ndarray
"""A state or action index, or an array of them (one per run)."""
Scalar = float | np.ndarray
"""A reward or a done flag, or an array of them (one per run)."""

ENV_IDS: dict[str, str] = {
    "cliff-walking": "CliffWalking-v1",
    "frozen-lake": "FrozenLake-v1",
    "taxi": "Taxi-v4",
    "windy-gridworld": "RLDojo/WindyGridworld-v0",
    "dosing": "RLDojo/Dosing-v0",
}
"""Short names used by the command line and the app; Gymnasium 1.x ships Taxi as v4."""

DEFAULT_GAMMA: dict[str, float] = {
    "cliff-walking": 1.0,  # Example 6.6 is undiscounted
    "windy-gridworld": 1.0,  # Example 6.5 is undiscounted
    "frozen-lake": 0.99,  # the only reward is +1 at the goal; discounting prefers short paths
    "taxi": 0.99,
    "dosing": 0.9,  # about a ten-day horizon, longer than the drug's delay
}


# ---------------------------------------------------------------------------------------
# Exploration: epsilon-greedy and its schedules
# ---------------------------------------------------------------------------------------


def epsilon_greedy(Q_s: np.ndarray, epsilon: float, rng: np.random.Generator) -> Index:
    """Sample A from the epsilon-greedy policy over Q(s, .) (S&B sections 2.2 and 5.4).

    With probability epsilon a uniformly random action, otherwise a greedy one. Ties among
    greedy actions are broken uniformly at random: with Q initialised to zero every action
    ties, and a lowest-index rule would push a fresh agent into the same wall every time.
    Deterministic given the state of ``rng``.

    Q_s: (A,) for one state -> int, or (N, A) for N states -> (N,) ints.
    """
    Q_s = np.asarray(Q_s)
    greedy_ties = Q_s == Q_s.max(axis=-1, keepdims=True)  # (..., A)
    greedy = np.argmax(rng.random(Q_s.shape) * greedy_ties, axis=-1)  # a random one of the ties
    explore = rng.random(Q_s.shape[:-1]) < epsilon
    random_action = rng.integers(Q_s.shape[-1], size=Q_s.shape[:-1])
    a = np.where(explore, random_action, greedy)
    return int(a) if a.ndim == 0 else a


def epsilon_greedy_probabilities(Q_s: np.ndarray, epsilon: float) -> np.ndarray:
    """pi(a|s) of ``epsilon_greedy``: epsilon/|A| for every action, plus 1 - epsilon shared
    equally by the greedy ones (S&B section 5.4). Q_s: (..., A) -> (..., A)."""
    Q_s = np.asarray(Q_s, dtype=float)
    n_actions = Q_s.shape[-1]
    greedy = (Q_s == Q_s.max(axis=-1, keepdims=True)).astype(float)
    return epsilon / n_actions + (1.0 - epsilon) * greedy / greedy.sum(axis=-1, keepdims=True)


def constant_epsilon(k: int, start: float, end: float, duration: int) -> float:
    """epsilon_k = start: the book's fixed epsilon (Examples 6.5, 6.6)."""
    return start


def linear_epsilon(k: int, start: float, end: float, duration: int) -> float:
    """epsilon_k falls in a straight line from start to end over ``duration`` episodes, then stays."""
    return start + (end - start) * min(k / max(duration, 1), 1.0)


def exponential_epsilon(k: int, start: float, end: float, duration: int) -> float:
    """epsilon_k = end + (start - end) exp(-k / duration): the excess over ``end`` shrinks by a
    factor e every ``duration`` episodes."""
    return end + (start - end) * math.exp(-k / max(duration, 1))


EPSILON_SCHEDULES: dict[str, Callable[[int, float, float, int], float]] = {
    "constant": constant_epsilon,
    "linear": linear_epsilon,
    "exponential": exponential_epsilon,
}


# ---------------------------------------------------------------------------------------
# The update rules (pure: they return a new table unless inplace=True)
# ---------------------------------------------------------------------------------------


def td0_update(
    V: np.ndarray,
    s: Index,
    r: Scalar,
    s_next: Index,
    done: Scalar,
    alpha: float,
    gamma: float,
    *,
    inplace: bool = False,
) -> np.ndarray:
    """TD(0) prediction: V(S) <- V(S) + alpha [R + gamma V(S') - V(S)]  (S&B eq. 6.2).

    ``done`` means terminated: V of a terminal state is zero by definition, so no bootstrap.
    V: (S,). s, r, s_next, done: scalars, or (N,) arrays of independent runs (module docstring).
    """
    if not inplace:
        V = np.array(V, dtype=float)  # a new table; the caller's is left as it was
    # lesson:start td0-update
    delta = r + gamma * V[s_next] * (1.0 - done) - V[s]  # the TD error, eq. 6.5
    V[s] += alpha * delta
    # lesson:end td0-update
    return V


def sarsa_update(
    Q: np.ndarray,
    s: Index,
    a: Index,
    r: Scalar,
    s_next: Index,
    a_next: Index,
    done: Scalar,
    alpha: float,
    gamma: float,
    *,
    inplace: bool = False,
) -> np.ndarray:
    """Sarsa: Q(S,A) <- Q(S,A) + alpha [R + gamma Q(S',A') - Q(S,A)]  (S&B eq. 6.7).

    On-policy: A' is the action the behaviour policy will actually take in S'.
    ``done`` means terminated (no bootstrap).
    Q: (S, A); indices scalars, or (N,) arrays of independent runs (module docstring).
    """
    if not inplace:
        Q = np.array(Q, dtype=float)  # a new table; the caller's is left as it was
    # lesson:start sarsa-target
    target = r + gamma * Q[s_next, a_next] * (1.0 - done)
    Q[s, a] += alpha * (target - Q[s, a])
    # lesson:end sarsa-target
    return Q


def q_learning_update(
    Q: np.ndarray,
    s: Index,
    a: Index,
    r: Scalar,
    s_next: Index,
    done: Scalar,
    alpha: float,
    gamma: float,
    *,
    inplace: bool = False,
) -> np.ndarray:
    """Q-learning: Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]  (S&B eq. 6.8).

    Off-policy: the target follows the greedy policy whatever the agent does next.
    ``done`` means terminated (no bootstrap).
    Q: (S, A); indices scalars, or (N,) arrays of independent runs (module docstring).
    """
    if not inplace:
        Q = np.array(Q, dtype=float)  # a new table; the caller's is left as it was
    # lesson:start q-learning-target
    target = r + gamma * np.max(Q[s_next], axis=-1) * (1.0 - done)
    Q[s, a] += alpha * (target - Q[s, a])
    # lesson:end q-learning-target
    return Q


def expected_sarsa_update(
    Q: np.ndarray,
    s: Index,
    a: Index,
    r: Scalar,
    s_next: Index,
    done: Scalar,
    alpha: float,
    gamma: float,
    epsilon: float,
    *,
    inplace: bool = False,
) -> np.ndarray:
    """Expected Sarsa: Q(S,A) <- Q(S,A) + alpha [R + gamma sum_a pi(a|S') Q(S',a) - Q(S,A)]
    (S&B eq. 6.9), with pi the epsilon-greedy policy of ``epsilon_greedy``.

    The expectation removes the variance of sampling A'. ``done`` means terminated.
    Q: (S, A); indices scalars, or (N,) arrays of independent runs (module docstring).
    """
    if not inplace:
        Q = np.array(Q, dtype=float)  # a new table; the caller's is left as it was
    # lesson:start expected-sarsa-target
    pi_next = epsilon_greedy_probabilities(Q[s_next], epsilon)  # (A,) or (N, A)
    target = r + gamma * np.sum(pi_next * Q[s_next], axis=-1) * (1.0 - done)
    Q[s, a] += alpha * (target - Q[s, a])
    # lesson:end expected-sarsa-target
    return Q


def mc_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = R_{t+1} + gamma G_{t+1}, computed backward from the end of the episode
    (S&B eq. 3.9, and the loop of the on-policy first-visit MC control box, section 5.4).

    rewards: (T,) or (T, N), zero-padded after an episode ends -> returns of the same shape.
    """
    rewards = np.asarray(rewards, dtype=float)
    returns = np.empty_like(rewards)
    G = np.zeros(rewards.shape[1:])
    for t in reversed(range(len(rewards))):
        # lesson:start mc-return
        G = gamma * G + rewards[t]
        # lesson:end mc-return
        returns[t] = G
    return returns


def first_visits(s: np.ndarray, a: np.ndarray, valid: np.ndarray, n_actions: int) -> np.ndarray:
    """True where (S_t, A_t) does not appear in S_0, A_0 ... S_{t-1}, A_{t-1} (first-visit MC).

    s, a, valid: (T, N); states of different runs must have distinct indices.
    """
    T = len(s)
    pair = (s * n_actions + a).ravel()  # (T*N,)
    t = np.broadcast_to(np.arange(T)[:, None], s.shape).ravel()
    first = np.full(pair.max() + 1, T)
    np.minimum.at(first, pair[valid.ravel()], t[valid.ravel()])
    return valid & (first[pair] == t).reshape(s.shape)


def mc_update(
    Q: np.ndarray,
    visits: np.ndarray,
    s: Index,
    a: Index,
    G: Scalar,
    alpha: float | None,
    *,
    inplace: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Q(S,A) <- Q(S,A) + step (G - Q(S,A)), with step = 1/N(S,A) (the sample average of the
    box in S&B section 5.4) or a constant alpha (constant-alpha MC, eq. 6.1).

    Returns (Q, visits). Pairs must be distinct within a call (first visits are).
    """
    if not inplace:
        Q, visits = np.array(Q, dtype=float), np.array(visits, dtype=float)
    visits[s, a] += 1
    step = 1.0 / visits[s, a] if alpha is None else alpha
    Q[s, a] += step * (G - Q[s, a])
    return Q, visits


# ---------------------------------------------------------------------------------------
# Environments as vectorized models
# ---------------------------------------------------------------------------------------


class VectorModel(Protocol):
    """N copies of an environment stepped at once. Observations are integer states."""

    n_states: int
    n_actions: int
    max_episode_steps: int | None

    def reset(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, Any]:
        """Start n episodes: (obs (n,), hidden state)."""
        ...

    def step(
        self, state: Any, a: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        """One step of every copy: (obs (n,), reward (n,), terminated (n,), new hidden state)."""
        ...


@dataclass(frozen=True)
class TabularModel:
    """A finite MDP as arrays, read from a Gymnasium toy-text table
    ``P[s][a] = [(probability, s', reward, terminated), ...]``, outcomes zero-padded to K."""

    prob: np.ndarray  # (S, A, K)
    next_state: np.ndarray  # (S, A, K)
    reward: np.ndarray  # (S, A, K)
    terminated: np.ndarray  # (S, A, K)
    initial: np.ndarray  # (S,) start-state distribution
    max_episode_steps: int | None = None
    cumulative: np.ndarray = field(init=False, repr=False)  # (S, A, K)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cumulative", np.cumsum(self.prob, axis=-1))

    @property
    def n_states(self) -> int:
        return self.prob.shape[0]

    @property
    def n_actions(self) -> int:
        return self.prob.shape[1]

    @classmethod
    def from_env(cls, env: gym.Env, max_episode_steps: int | None = None) -> TabularModel:
        """The model of ``env.unwrapped.P``; the time limit defaults to the env's registered one."""
        base = env.unwrapped
        if getattr(base, "fickle_passenger", False):
            raise ValueError("Taxi's fickle passenger is not in P; use the default Taxi")
        P = base.P
        S, A = len(P), len(P[0])
        K = max(len(P[s][a]) for s in range(S) for a in range(A))
        prob, next_state = np.zeros((S, A, K)), np.zeros((S, A, K), dtype=np.int64)
        reward, terminated = np.zeros((S, A, K)), np.zeros((S, A, K), dtype=bool)
        for s in range(S):
            for a in range(A):
                for k, (p, s_next, r, done) in enumerate(P[s][a]):
                    prob[s, a, k], next_state[s, a, k] = p, s_next
                    reward[s, a, k], terminated[s, a, k] = r, done
        if max_episode_steps is None and env.spec is not None:
            max_episode_steps = env.spec.max_episode_steps
        return cls(prob, next_state, reward, terminated, np.asarray(base.initial_state_distrib), max_episode_steps)

    def reset(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        s = rng.choice(self.n_states, size=n, p=self.initial)
        return s, s

    def step(
        self, s: np.ndarray, a: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.prob.shape[-1] == 1:  # deterministic: skip the draw
            k = np.zeros_like(s)
        else:  # inverse-CDF sampling of the outcome; min() guards against rounding of the last sum
            u = rng.random(len(s))[:, None]
            k = np.minimum((u >= self.cumulative[s, a]).sum(axis=-1), self.prob.shape[-1] - 1)
        s_next = self.next_state[s, a, k]
        return s_next, self.reward[s, a, k], self.terminated[s, a, k], s_next


def make_env(name: str, **kwargs: Any) -> gym.Env:
    """A real Gymnasium environment by short name (``ENV_IDS``) or Gymnasium id."""
    return gym.make(ENV_IDS.get(name, name), **kwargs)


def make_model(env: gym.Env, max_episode_steps: int | None = None) -> VectorModel:
    """The vectorized model of ``env``: its own ``vector_model()`` if it has one (the dosing
    patient), else the model of its table P."""
    vector_model = getattr(env.unwrapped, "vector_model", None)
    if vector_model is not None:
        return vector_model(max_episode_steps=max_episode_steps)
    return TabularModel.from_env(env, max_episode_steps)


# ---------------------------------------------------------------------------------------
# Control loops: many independent runs in lockstep
# ---------------------------------------------------------------------------------------


@dataclass
class TabularResult:
    """What a control loop learned, for every run."""

    Q: np.ndarray  # (runs, S, A)
    episode_returns: np.ndarray  # (episodes, runs): undiscounted sum of rewards, as the book plots
    episode_lengths: np.ndarray  # (episodes, runs)


EpisodeCallback = Callable[[int, np.ndarray, np.ndarray, float], None]
"""on_episode(k, returns (runs,), lengths (runs,), epsilon) after episode k."""


def _schedule(epsilon: float | Callable[[int], float]) -> Callable[[int], float]:
    return epsilon if callable(epsilon) else (lambda k: epsilon)


def td_control(
    model: VectorModel,
    algo: str,
    episodes: int,
    runs: int = 1,
    alpha: float = 0.5,
    gamma: float = 1.0,
    epsilon: float | Callable[[int], float] = 0.1,
    seed: int | None = 0,
    on_episode: EpisodeCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TabularResult:
    """Sarsa, Q-learning or Expected Sarsa control (S&B sections 6.4-6.6), ``runs`` independent
    runs in lockstep, each with its own table, all acting epsilon-greedily.

    algo: "sarsa", "q-learning" or "expected-sarsa". epsilon: a number or a schedule k -> epsilon_k.
    """
    if algo not in ("sarsa", "q-learning", "expected-sarsa"):
        raise ValueError(f"unknown TD algorithm {algo!r}")
    rng = np.random.default_rng(seed)
    epsilon_at = _schedule(epsilon)
    S, A, T_max = model.n_states, model.n_actions, model.max_episode_steps
    Q = np.zeros((runs * S, A))  # run i owns rows i*S .. i*S + S - 1
    offset = S * np.arange(runs)  # (runs,)
    returns, lengths = np.zeros((episodes, runs)), np.zeros((episodes, runs), dtype=np.int64)

    for k in range(episodes):
        if should_stop is not None and should_stop():
            returns, lengths = returns[:k], lengths[:k]
            break
        eps = epsilon_at(k)
        obs, state = model.reset(rng, runs)
        s = offset + obs  # (runs,)
        a = epsilon_greedy(Q[s], eps, rng)
        running = np.ones(runs, dtype=bool)
        t = 0
        while running.any():
            obs, r, terminated, state = model.step(state, a, rng)
            t += 1
            truncated = ~terminated & (T_max is not None and t >= T_max)
            s_next = offset + obs
            i = np.flatnonzero(running)
            returns[k, i] += r[i]
            lengths[k, i] += 1
            # Only `terminated` stops the bootstrap; a truncated run bootstraps, then restarts.
            if algo == "sarsa":  # A' is drawn before the update: it is the action Sarsa's target uses
                a_next = epsilon_greedy(Q[s_next], eps, rng)
                sarsa_update(Q, s[i], a[i], r[i], s_next[i], a_next[i], terminated[i], alpha, gamma, inplace=True)
            else:  # the next action comes from the updated table, as in the book's boxes
                if algo == "q-learning":
                    q_learning_update(Q, s[i], a[i], r[i], s_next[i], terminated[i], alpha, gamma, inplace=True)
                else:
                    expected_sarsa_update(
                        Q, s[i], a[i], r[i], s_next[i], terminated[i], alpha, gamma, eps, inplace=True
                    )
                a_next = epsilon_greedy(Q[s_next], eps, rng)
            running &= ~(terminated | truncated)
            s, a = s_next, a_next
        if on_episode is not None:
            on_episode(k, returns[k], lengths[k], eps)
    return TabularResult(Q.reshape(runs, S, A), returns, lengths)


def monte_carlo_control(
    model: VectorModel,
    episodes: int,
    runs: int = 1,
    alpha: float | None = None,
    gamma: float = 1.0,
    epsilon: float | Callable[[int], float] = 0.1,
    seed: int | None = 0,
    on_episode: EpisodeCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TabularResult:
    """On-policy first-visit Monte Carlo control for epsilon-soft policies (S&B section 5.4),
    ``runs`` independent runs in lockstep.

    alpha=None averages returns as the book's box does; a number gives constant-alpha MC.
    An episode cut by a time limit has no complete return, so its tail is estimated by the
    value of the last state under the current policy (bootstrap through a time limit,
    never through a real end).
    """
    rng = np.random.default_rng(seed)
    epsilon_at = _schedule(epsilon)
    S, A, T_max = model.n_states, model.n_actions, model.max_episode_steps
    Q = np.zeros((runs * S, A))
    visits = np.zeros((runs * S, A))
    offset = S * np.arange(runs)
    returns, lengths = np.zeros((episodes, runs)), np.zeros((episodes, runs), dtype=np.int64)

    for k in range(episodes):
        if should_stop is not None and should_stop():
            returns, lengths = returns[:k], lengths[:k]
            break
        eps = epsilon_at(k)
        obs, state = model.reset(rng, runs)
        s = offset + obs
        running = np.ones(runs, dtype=bool)
        s_last, cut = s.copy(), np.zeros(runs, dtype=bool)  # (runs,): where each episode stopped, and why
        states, actions, rewards, valid = [], [], [], []  # each a list of (runs,) arrays
        t = 0
        while running.any():
            a = epsilon_greedy(Q[s], eps, rng)
            obs, r, terminated, state = model.step(state, a, rng)
            t += 1
            truncated = ~terminated & (T_max is not None and t >= T_max)
            s_next = offset + obs
            states.append(s)
            actions.append(a)
            rewards.append(np.where(running, r, 0.0))
            valid.append(running.copy())
            s_last = np.where(running, s_next, s_last)
            cut |= running & truncated
            running &= ~(terminated | truncated)
            s = s_next
        s_t, a_t, r_t, valid_t = (np.stack(x) for x in (states, actions, rewards, valid))  # (T, runs)
        returns[k], lengths[k] = r_t.sum(axis=0), valid_t.sum(axis=0)
        # A time limit cut the episode: gamma v_pi(S_T) stands in for the rewards it never saw.
        v_last = np.sum(epsilon_greedy_probabilities(Q[s_last], eps) * Q[s_last], axis=-1)  # (runs,)
        tail = np.zeros_like(r_t)
        tail[lengths[k][cut] - 1, np.flatnonzero(cut)] = gamma * v_last[cut]
        G = mc_returns(r_t + tail, gamma)  # (T, runs)
        first = first_visits(s_t, a_t, valid_t, A)
        mc_update(Q, visits, s_t[first], a_t[first], G[first], alpha, inplace=True)
        if on_episode is not None:
            on_episode(k, returns[k], lengths[k], eps)
    return TabularResult(Q.reshape(runs, S, A), returns, lengths)


# ---------------------------------------------------------------------------------------
# Greedy policy in the real environment
# ---------------------------------------------------------------------------------------


def greedy_episode(
    env: gym.Env,
    Q: np.ndarray,
    observation_index: Callable[[Any], int] = int,
    max_steps: int = 1000,
    seed: int | None = 0,
) -> tuple[list[Any], list[int], bool]:
    """Follow argmax_a Q(s, a) in a real Gymnasium environment from its start state.

    Ties go to the lowest action index so the path is reproducible. Q: (S, A).
    Returns (observations S_0..S_T, actions A_0..A_{T-1}, terminated).
    """
    obs, _ = env.reset(seed=seed)
    observations, actions = [obs], []
    for _ in range(max_steps):
        a = int(np.argmax(Q[observation_index(obs)]))
        obs, _, terminated, truncated, _ = env.step(a)
        observations.append(obs)
        actions.append(a)
        if terminated:
            return observations, actions, True
        if truncated:
            break
    return observations, actions, False


def greedy_path_length(
    env: gym.Env, Q: np.ndarray, observation_index: Callable[[Any], int] = int, max_steps: int = 1000, seed: int = 0
) -> int | None:
    """Steps the greedy policy takes from the start to a real end; None if it never gets there
    (it loops, hits a time limit, or ``max_steps``)."""
    _, actions, terminated = greedy_episode(env, Q, observation_index, max_steps, seed)
    return len(actions) if terminated else None


# ---------------------------------------------------------------------------------------
# train(): the entry point of the run manager and the command line
# ---------------------------------------------------------------------------------------

ALGOS = ("sarsa", "q-learning", "expected-sarsa", "monte-carlo")
MC_MAX_EPISODE_STEPS = 100
"""Monte Carlo learns only from episodes that end, and an epsilon-greedy policy that has not
learned yet may wander for thousands of steps (or loop, S&B section 5.3); environments
without a time limit of their own (cliff walking, windy gridworld) get this one."""


@dataclass(frozen=True)
class TabularConfig:
    """One experiment: an algorithm on an environment, ``runs`` times."""

    env: Literal["cliff-walking", "frozen-lake", "taxi", "windy-gridworld", "dosing"] = "cliff-walking"
    """The environment, by the short names of ``ENV_IDS``."""
    algo: Literal["sarsa", "q-learning", "expected-sarsa", "monte-carlo"] = "q-learning"
    """The control algorithm (S&B sections 5.4, 6.4-6.6)."""
    episodes: int = 500
    """Episodes per run."""
    runs: int = 1
    """Independent runs (own table, own experience); curves are their mean."""
    alpha: float | None = 0.5
    """Step size; None means sample averages for Monte Carlo (TD methods need a number)."""
    gamma: float | None = None
    """Discount; None takes ``DEFAULT_GAMMA`` of the environment."""
    epsilon: float = 0.1
    """epsilon at episode 0 (and throughout, for the constant schedule)."""
    epsilon_end: float = 0.01
    """epsilon at the end of a decaying schedule."""
    epsilon_schedule: Literal["constant", "linear", "exponential"] = "constant"
    """How epsilon moves from its start to its end value."""
    epsilon_decay_episodes: int = 200
    """Episodes over which a decaying schedule reaches epsilon_end."""
    seed: int = 0
    """Seed of the runs' random generators: the same seed repeats the same runs."""
    max_episode_steps: int | None = None
    """A time limit (truncation); None takes the environment's registered one, if any."""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Passed to ``gymnasium.make`` (e.g. ``{"reward": "bad"}`` for dosing)."""


def train_tabular(
    config: TabularConfig,
    on_update: Callable[[dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TabularResult:
    """Run ``config.algo`` on ``config.env``; report each episode as metrics
    (``charts/episodic_return`` is the mean over runs)."""
    if config.algo not in ALGOS:
        raise ValueError(f"unknown algorithm {config.algo!r}; choose one of {ALGOS}")
    env = make_env(config.env, **config.env_kwargs)
    T_max = config.max_episode_steps or (env.spec.max_episode_steps if env.spec is not None else None)
    if T_max is None and config.algo == "monte-carlo":
        T_max = MC_MAX_EPISODE_STEPS
    model = make_model(env, T_max)
    env.close()
    gamma = config.gamma if config.gamma is not None else DEFAULT_GAMMA.get(config.env, 1.0)
    epsilon = partial(
        EPSILON_SCHEDULES[config.epsilon_schedule],
        start=config.epsilon,
        end=config.epsilon_end,
        duration=config.epsilon_decay_episodes,
    )

    def on_episode(k: int, returns: np.ndarray, lengths: np.ndarray, eps: float) -> None:
        if on_update is not None:
            on_update(
                {
                    "episode": k,
                    "global_step": k,
                    "progress": (k + 1) / config.episodes,
                    "charts/episodic_return": float(returns.mean()),
                    "charts/episode_length": float(lengths.mean()),
                    "charts/epsilon": eps,
                }
            )

    common = dict(
        episodes=config.episodes,
        runs=config.runs,
        gamma=gamma,
        epsilon=epsilon,
        seed=config.seed,
        on_episode=on_episode,
        should_stop=should_stop,
    )
    if config.algo == "monte-carlo":
        return monte_carlo_control(model, alpha=config.alpha, **common)
    if config.alpha is None:
        raise ValueError(f"{config.algo} needs a step size alpha")
    return td_control(model, config.algo, alpha=config.alpha, **common)


def train(
    config: TabularConfig,
    on_update: Callable[[dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """The run manager's contract (algorithms/contract.py) around train_tabular()."""
    result = train_tabular(config, on_update, should_stop)
    returns = result.episode_returns.mean(axis=1)  # (episodes,)
    env = make_env(config.env, **dict(config.env_kwargs))
    try:
        observation_index = getattr(env.unwrapped, "observation_index", int)
        path = greedy_path_length(env, result.Q.mean(axis=0), observation_index)
    finally:
        env.close()
    metrics = {
        "episodes": float(len(returns)),
        "mean_return_last_100": float(returns[-100:].mean()) if len(returns) else float("nan"),
        "greedy_path_length": path,
    }
    return TrainResult(metrics=metrics)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.tabular", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="cliff-walking", help=f"one of {', '.join(ENV_IDS)} or a Gymnasium id")
    parser.add_argument("--algo", default="q-learning", choices=ALGOS)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=None, help="default 0.5; Monte Carlo: sample averages")
    parser.add_argument("--gamma", type=float, default=None, help="default: per environment")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--epsilon-end", type=float, default=0.01)
    parser.add_argument("--epsilon-schedule", default="constant", choices=sorted(EPSILON_SCHEDULES))
    parser.add_argument("--epsilon-decay-episodes", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=None, help="time limit per episode (truncation)")
    parser.add_argument("--reward", default="good", choices=("good", "bad"), help="dosing only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)

    alpha = args.alpha if args.alpha is not None or args.algo == "monte-carlo" else 0.5
    config = TabularConfig(
        env=args.env,
        algo=args.algo,
        episodes=args.episodes,
        runs=args.runs,
        alpha=alpha,
        gamma=args.gamma,
        epsilon=args.epsilon,
        epsilon_end=args.epsilon_end,
        epsilon_schedule=args.epsilon_schedule,
        epsilon_decay_episodes=args.epsilon_decay_episodes,
        seed=args.seed,
        max_episode_steps=args.max_steps,
        env_kwargs={"reward": args.reward} if ENV_IDS.get(args.env, args.env) == algorithms.envs.DOSING_ID else {},
    )
    every = max(1, args.episodes // 10)

    def progress(metrics: dict[str, float]) -> None:
        k = int(metrics["episode"])
        if (k + 1) % every == 0 or k == 0:
            print(
                f"episode {k + 1:>5}/{args.episodes}  return {metrics['charts/episodic_return']:9.2f}"
                f"  length {metrics['charts/episode_length']:8.1f}  epsilon {metrics['charts/epsilon']:.3f}",
                flush=True,
            )

    result = train_tabular(config, on_update=progress)
    curve = result.episode_returns.mean(axis=1)
    env = make_env(config.env, **config.env_kwargs)
    observation_index = getattr(env.unwrapped, "observation_index", int)
    # The greedy policy of the runs' average table, as the curve is their average: one run's
    # table is still noisy off its own path, and its greedy policy can loop there.
    path = greedy_path_length(env, result.Q.mean(axis=0), observation_index, seed=args.seed)
    tail = curve[-min(100, len(curve)) :]
    print(f"mean return over the last {len(tail)} episodes: {tail.mean():.2f}; greedy path length: {path}")
    summary: dict[str, Any] = {"episode_returns": [round(float(x), 4) for x in curve], "greedy_path_length": path}
    if ENV_IDS.get(config.env, config.env) == algorithms.envs.DOSING_ID:
        evaluation = evaluate_policy(greedy_policies(result.Q), args.reward, seed=args.seed + 1)
        print(f"greedy policies: {evaluation.fraction_in_range:.1%} of days in range (INR 2.0-3.0)")
        summary["fraction_in_range"] = round(evaluation.fraction_in_range, 4)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
