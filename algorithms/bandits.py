"""Multi-armed bandits (Sutton & Barto, 2nd ed., chapter 2) and contextual bandits.

The k-armed testbed of section 2.3 and its agents: epsilon-greedy with sample averages or a
constant step size (sections 2.2 to 2.5), optimistic initial values (2.6), UCB (2.7, eq. 2.10),
the gradient bandit (2.8, eqs. 2.11 and 2.12) and Thompson sampling (Thompson 1933; Russo et
al. 2018, "A Tutorial on Thompson Sampling"). Then contextual bandits on a simulated
recommendation problem: LinUCB (Li et al. 2010) and linear Thompson sampling (Agrawal & Goyal
2013).

Notation follows the book: q*(a) true values ``q_star``, estimates ``Q``, counts ``N``,
preferences ``H``, policy ``pi``, step size ``alpha``, exploration ``epsilon``, UCB's ``c``.
Testbed arrays are vectorized over independent runs: all runs advance in lockstep, and every
per-arm array has shape (runs, k). A Python loop over steps remains; there is none over runs.

Ties go to the lowest index in every argmax (np.argmax returns the first maximum), so the
small functions that quizzes grade are deterministic. The book breaks ties at random, and its
figures still come out the same here: on the Gaussian testbed two estimates are equal (with
probability one) only while both arms are untried, and untried arms have i.i.d. q*(a) that
nothing observed so far depends on, so which of them is tried first does not change the
distribution of anything plotted. The tests check Figures 2.2 to 2.5 with lowest-index ties.
(On the Bernoulli testbed, tried arms can tie too; no book figure depends on it.)

Run ``python -m algorithms.bandits --help`` for the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

# ---------------------------------------------------------------------------------------------
# The equations: small pure functions (quizzes grade against these)
# ---------------------------------------------------------------------------------------------


def epsilon_greedy(q: np.ndarray, epsilon: float, u: float, k: int) -> int:
    """epsilon-greedy action selection (S&B section 2.2) for one bandit.

    q: the estimates Q_t(a), shape (arms,). u: a uniform draw from [0, 1). k: the arm to take
    when exploring (the caller draws it uniformly from the arms). Explores when u < epsilon;
    otherwise greedy (eq. 2.2), ties broken toward the lowest index.
    """
    # lesson:start eps-greedy
    if u < epsilon:
        return int(k)
    return int(np.argmax(q))  # the first maximum: ties go to the lowest index
    # lesson:end eps-greedy


def epsilon_greedy_actions(Q: np.ndarray, epsilon: float, u: np.ndarray, explore_arm: np.ndarray) -> np.ndarray:
    """``epsilon_greedy`` for many runs at once. Q: (runs, k); u, explore_arm: (runs,) -> (runs,)."""
    return np.where(u < epsilon, explore_arm, Q.argmax(axis=-1))


def incremental_update(q: np.ndarray | float, r: np.ndarray | float, alpha: np.ndarray | float) -> np.ndarray | float:
    """Q_{n+1} = Q_n + alpha [R_n - Q_n] (S&B eq. 2.5; eq. 2.3 is alpha = 1/n, the sample average).

    NewEstimate <- OldEstimate + StepSize [Target - OldEstimate] (eq. 2.4). Works elementwise on
    floats or arrays of one shape.
    """
    # lesson:start incremental-update
    return q + alpha * (r - q)
    # lesson:end incremental-update


def ucb_scores(q: np.ndarray, n: np.ndarray, t: int, c: float) -> np.ndarray:
    """Q_t(a) + c sqrt(ln t / N_t(a)) (S&B eq. 2.10), +inf where N_t(a) = 0.

    The book counts an untried arm as maximizing; +inf makes it so for any c and t, and leaves
    the tie among untried arms to the caller's argmax. q, n: (..., k); t >= 1 is the step.
    """
    n = np.asarray(n)
    # lesson:start ucb-score
    tried = n > 0
    bonus = c * np.sqrt(np.log(t) / np.where(tried, n, 1))  # the square root: uncertainty in Q_t(a)
    return np.where(tried, q + bonus, np.inf)  # an untried arm is maximizing
    # lesson:end ucb-score


def ucb_action(q: np.ndarray, n: np.ndarray, t: int, c: float) -> int:
    """A_t = argmax_a [Q_t(a) + c sqrt(ln t / N_t(a))] (S&B eq. 2.10) for one bandit.

    An untried arm comes first (the lowest-index one, as its score is +inf); otherwise ties go
    to the lowest index.
    """
    return int(np.argmax(ucb_scores(q, n, t, c)))


def softmax_preferences(H: np.ndarray) -> np.ndarray:
    """pi_t(a) = e^{H_t(a)} / sum_b e^{H_t(b)} (S&B eq. 2.11), along the last axis.

    Subtracting the largest preference first changes nothing in exact arithmetic and keeps
    e^H from overflowing.
    """
    H = np.asarray(H, dtype=np.float64)
    e = np.exp(H - H.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def gradient_bandit_update(
    H: np.ndarray,
    a: np.ndarray | int,
    r: np.ndarray | float,
    baseline: np.ndarray | float,
    alpha: float,
) -> np.ndarray:
    """The gradient bandit step (S&B eq. 2.12), returning H_{t+1}.

    H_{t+1}(A_t) = H_t(A_t) + alpha (R_t - Rbar_t)(1 - pi_t(A_t)), and
    H_{t+1}(a) = H_t(a) - alpha (R_t - Rbar_t) pi_t(a) for every a != A_t,
    with pi_t = softmax(H_t) (eq. 2.11). Written once as alpha (R_t - Rbar_t)(1[a = A_t] - pi_t(a)).
    H: (..., k); a, r, baseline: scalars or (...,). Pass baseline = 0 for the no-baseline variant.
    """
    H = np.asarray(H, dtype=np.float64)
    pi = softmax_preferences(H)  # (..., k)
    one_hot = np.arange(H.shape[-1]) == np.asarray(a)[..., None]  # (..., k)
    advantage = np.asarray(r - baseline, dtype=np.float64)[..., None]  # R_t - Rbar_t, (..., 1)
    # lesson:start gradient-update
    return H + alpha * advantage * (one_hot - pi)
    # lesson:end gradient-update


def sample_categorical(pi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One draw per row from the categorical pi (..., k) by inverting its CDF at u (...,) in [0, 1)."""
    cdf = np.cumsum(pi, axis=-1)
    # Rounding can leave cdf[-1] a hair below 1; never return an arm past the last.
    return np.minimum((cdf <= np.asarray(u)[..., None]).sum(axis=-1), pi.shape[-1] - 1)


def gaussian_posterior(
    n: np.ndarray, reward_sum: np.ndarray, mu0: float = 0.0, tau0: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior over q*(a) for rewards N(q*(a), 1) and a prior N(mu0, 1/tau0): (mean, precision).

    Conjugate normal-normal update: precision = tau0 + n, mean = (tau0 mu0 + sum of rewards) /
    precision. With mu0 = 0, tau0 = 1 the prior is exactly how the testbed draws q*(a).
    """
    precision = tau0 + n
    return (tau0 * mu0 + reward_sum) / precision, precision


def gaussian_thompson_action(mean: np.ndarray, precision: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Thompson sampling: draw one q~(a) from each arm's posterior, act greedily on the draws.

    mean, precision: the posterior N(mean, 1/precision) per arm, (..., k); z: standard normal
    draws of the same shape. Returns the arms, (...,). (Thompson 1933; Russo et al. 2018.)
    """
    # lesson:start thompson-sample
    q_tilde = mean + z / np.sqrt(precision)  # one sample per arm from its posterior
    return np.argmax(q_tilde, axis=-1)
    # lesson:end thompson-sample


def beta_thompson_action(
    successes: np.ndarray, failures: np.ndarray, rng: np.random.Generator, a0: float = 1.0, b0: float = 1.0
) -> np.ndarray:
    """Thompson sampling for Bernoulli arms with Beta(a0, b0) priors (Russo et al. 2018, BernTS).

    The posterior of each arm's success probability is Beta(a0 + successes, b0 + failures);
    draw one sample per arm and take the argmax. successes, failures: (..., k) -> (...,).
    """
    theta = rng.beta(a0 + successes, b0 + failures)
    return np.argmax(theta, axis=-1)


def linear_epsilon(t: np.ndarray | int, start: float, end: float, decay_steps: int) -> np.ndarray:
    """epsilon falls in a straight line from start (t = 0) to end (t = decay_steps), then stays."""
    frac = np.minimum(np.asarray(t, dtype=np.float64) / decay_steps, 1.0)
    return start + frac * (end - start)


def exponential_epsilon(t: np.ndarray | int, start: float, end: float, decay_steps: int) -> np.ndarray:
    """epsilon = end + (start - end) e^{-t / decay_steps}: closes 63% of the gap every decay_steps.

    The form of PyTorch's DQN tutorial (0.9 -> 0.05); it nears `end` but never reaches it.
    """
    return end + (start - end) * np.exp(-np.asarray(t, dtype=np.float64) / decay_steps)


_EPSILON_SCHEDULES = {"linear": linear_epsilon, "exponential": exponential_epsilon}


def epsilon_schedule(
    t: np.ndarray | int,
    start: float = 0.9,
    end: float = 0.05,
    decay_steps: int = 1000,
    kind: Literal["linear", "exponential"] = "exponential",
) -> np.ndarray | float:
    """A decaying epsilon for epsilon-greedy at step t (a float, or an array for an array of t).

    Exploring a lot early, when Q is poor, and little late is the usual practice in deep RL;
    the book's fixed epsilon keeps paying for exploration forever (Figure 2.2).
    """
    if kind not in _EPSILON_SCHEDULES:
        raise ValueError(f"kind must be one of {sorted(_EPSILON_SCHEDULES)}, got {kind!r}")
    epsilon = _EPSILON_SCHEDULES[kind](t, start, end, decay_steps)
    return float(epsilon) if np.ndim(epsilon) == 0 else epsilon


def cumulative_pseudo_regret(q_star: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """sum_{s <= t} (q*(a*) - q*(A_s)): regret against the true values, not the noisy rewards.

    q_star: (runs, k), or (steps, runs, k) when the values move; actions: (steps, runs).
    Returns (steps, runs). Nondecreasing in t, since no arm beats a*.
    """
    actions = np.asarray(actions)
    q_t = np.broadcast_to(q_star, (*actions.shape, np.shape(q_star)[-1]))  # (steps, runs, k)
    chosen = np.take_along_axis(q_t, actions[..., None], axis=-1)[..., 0]  # q*(A_t), (steps, runs)
    return np.cumsum(q_t.max(axis=-1) - chosen, axis=0)


# ---------------------------------------------------------------------------------------------
# The k-armed testbed (S&B section 2.3, Exercise 2.5)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Testbed:
    """A family of k-armed bandit problems; each run draws its own (S&B section 2.3)."""

    k: int = 10
    q_mean: float = 0.0
    """q*(a) ~ N(q_mean, 1); 4 in Figure 2.5."""
    nonstationary: bool = False
    """Exercise 2.5: every q*(a) starts at q_mean and takes an independent N(0, walk_std^2) step after each step."""
    walk_std: float = 0.01
    bernoulli: bool = False
    """Bernoulli arms instead: q*(a) ~ U(0, 1) is the success probability, rewards are 0 or 1."""

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k must be at least 2, got {self.k}")
        if self.bernoulli and (self.nonstationary or self.q_mean != 0.0):
            raise ValueError("the Bernoulli testbed is stationary with q*(a) ~ U(0, 1)")

    def initial_values(self, runs: int, rng: np.random.Generator) -> np.ndarray:
        """q*(a) for every run at step 1, shape (runs, k)."""
        if self.bernoulli:
            return rng.random((runs, self.k))
        if self.nonstationary:
            return np.full((runs, self.k), self.q_mean)  # "start out equal" (Exercise 2.5)
        return self.q_mean + rng.standard_normal((runs, self.k))

    def reward_draws(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """The randomness of the rewards, drawn ahead: N(0, 1) noise, or U(0, 1) for Bernoulli arms."""
        return rng.random(shape) if self.bernoulli else rng.standard_normal(shape)

    def reward(self, q_chosen: np.ndarray, draw: np.ndarray) -> np.ndarray:
        """R_t given q*(A_t) and this step's draw: N(q*(A_t), 1), or Bernoulli(q*(A_t))."""
        if self.bernoulli:
            return (draw < q_chosen).astype(np.float64)
        return q_chosen + draw


# ---------------------------------------------------------------------------------------------
# Agents, vectorized over runs. Each acts for every run at step t and then learns from (A, R).
# ---------------------------------------------------------------------------------------------

_BLOCK_ELEMENTS = 1 << 17
"""Random numbers drawn ahead per block (1 MiB of float64). A numpy call has a fixed cost
comparable to drawing one step's numbers, which a block of steps amortizes. A side effect we
rely on for speed: once glibc has seen a block this size freed, it stops handing each step's
(runs, k) temporaries back to the OS, which otherwise costs page faults on every temporary."""


class Draws:
    """Random arrays handed out one step at a time, drawn a block of steps at a time.

    draw(n) returns n steps' draws stacked along axis 0, each of shape `step_shape`.
    """

    def __init__(self, draw: Callable[[int], np.ndarray], step_shape: tuple[int, ...]) -> None:
        self._draw = draw
        self._steps = max(1, _BLOCK_ELEMENTS // int(np.prod(step_shape)))
        self._block = np.empty((0, *step_shape))
        self._i = 0

    def __call__(self) -> np.ndarray:
        if self._i == len(self._block):
            self._block, self._i = self._draw(self._steps), 0
        self._i += 1
        return self._block[self._i - 1]


def uniform_draws(rng: np.random.Generator, shape: tuple[int, ...]) -> Draws:
    return Draws(lambda n: rng.random((n, *shape)), shape)


def normal_draws(rng: np.random.Generator, shape: tuple[int, ...]) -> Draws:
    return Draws(lambda n: rng.standard_normal((n, *shape)), shape)


def arm_draws(rng: np.random.Generator, runs: int, k: int) -> Draws:
    return Draws(lambda n: rng.integers(0, k, (n, runs)), (runs,))


class BanditAgent(Protocol):
    def act(self, t: int) -> np.ndarray:
        """A_t for every run at step t = 1, 2, ..., shape (runs,)."""
        ...

    def update(self, t: int, A: np.ndarray, R: np.ndarray) -> None:
        """Learn from the actions A_t and rewards R_t, both (runs,)."""
        ...


@dataclass(eq=False)
class ActionValues:
    """Q_t(a) and N_t(a) for every run, kept by the incremental rule (S&B section 2.4)."""

    Q: np.ndarray  # (runs, k), starts at Q_1 (0, or optimistic: section 2.6)
    N: np.ndarray  # (runs, k)
    alpha: float | None
    """Constant step size (eq. 2.5), or None for sample averages, step 1/N_t(a) (eq. 2.3)."""

    @classmethod
    def start(cls, runs: int, k: int, Q1: float = 0.0, alpha: float | None = None) -> ActionValues:
        return cls(np.full((runs, k), float(Q1)), np.zeros((runs, k)), alpha)

    def __post_init__(self) -> None:
        runs, k = self.Q.shape
        self._row_start = np.arange(0, runs * k, k)  # flat index of (run, 0)

    def update(self, A: np.ndarray, R: np.ndarray) -> None:
        i = self._row_start + A  # flat index of (run, A_t): 1-d fancy indexing is the fast kind
        Q, N = self.Q.reshape(-1), self.N.reshape(-1)  # views
        N[i] += 1
        alpha = 1.0 / N[i] if self.alpha is None else self.alpha
        Q[i] = incremental_update(Q[i], R, alpha)


@dataclass(eq=False)
class EpsilonGreedyAgent:
    """epsilon-greedy on action values (S&B section 2.2); epsilon = 1 is the uniformly random agent."""

    values: ActionValues
    epsilon: float
    rng: np.random.Generator

    def __post_init__(self) -> None:
        runs, k = self.values.Q.shape
        self._u = uniform_draws(self.rng, (runs,))
        self._explore_arm = arm_draws(self.rng, runs, k)

    def act(self, t: int) -> np.ndarray:
        if self.epsilon == 0.0:  # greedy: draw nothing
            return self.values.Q.argmax(axis=1)
        return epsilon_greedy_actions(self.values.Q, self.epsilon, self._u(), self._explore_arm())

    def update(self, t: int, A: np.ndarray, R: np.ndarray) -> None:
        self.values.update(A, R)


@dataclass(eq=False)
class UCBAgent:
    """Upper-confidence-bound action selection (S&B section 2.7, eq. 2.10) on sample averages."""

    values: ActionValues
    c: float

    def act(self, t: int) -> np.ndarray:
        return ucb_scores(self.values.Q, self.values.N, t, self.c).argmax(axis=1)

    def update(self, t: int, A: np.ndarray, R: np.ndarray) -> None:
        self.values.update(A, R)


@dataclass(eq=False)
class GradientBanditAgent:
    """The gradient bandit (S&B section 2.8): softmax over preferences H, stochastic gradient ascent.

    With a baseline, Rbar_t is the average reward so far. Eq. 2.12 defines it over the rewards
    before step t; the book's footnote says its figures included R_t, and so do we, to match
    Figure 2.5.
    """

    H: np.ndarray  # (runs, k)
    alpha: float
    baseline: bool
    rng: np.random.Generator

    def __post_init__(self) -> None:
        self.R_bar: np.ndarray = np.zeros(self.H.shape[0])  # (runs,); stays 0 without a baseline
        self._u = uniform_draws(self.rng, (self.H.shape[0],))

    def act(self, t: int) -> np.ndarray:
        return sample_categorical(softmax_preferences(self.H), self._u())

    def update(self, t: int, A: np.ndarray, R: np.ndarray) -> None:
        if self.baseline:
            self.R_bar = self.R_bar + (R - self.R_bar) / t  # the average of R_1..R_t (eq. 2.3)
        self.H = gradient_bandit_update(self.H, A, R, self.R_bar, self.alpha)


@dataclass(eq=False)
class GaussianThompsonAgent:
    """Thompson sampling with unit-variance Gaussian rewards and a N(mu0, 1/tau0) prior per arm."""

    n: np.ndarray  # (runs, k)
    reward_sum: np.ndarray  # (runs, k)
    mu0: float
    tau0: float
    rng: np.random.Generator

    def __post_init__(self) -> None:
        self._z = normal_draws(self.rng, self.n.shape)

    def act(self, t: int) -> np.ndarray:
        mean, precision = gaussian_posterior(self.n, self.reward_sum, self.mu0, self.tau0)
        return gaussian_thompson_action(mean, precision, self._z())

    def update(self, t: int, A: np.ndarray, R: np.ndarray) -> None:
        rows = np.arange(len(A))
        self.n[rows, A] += 1
        self.reward_sum[rows, A] += R


@dataclass(eq=False)
class BetaThompsonAgent:
    """Thompson sampling for Bernoulli arms with uniform Beta(1, 1) priors."""

    successes: np.ndarray  # (runs, k)
    failures: np.ndarray  # (runs, k)
    rng: np.random.Generator

    def act(self, t: int) -> np.ndarray:
        return beta_thompson_action(self.successes, self.failures, self.rng)

    def update(self, t: int, A: np.ndarray, R: np.ndarray) -> None:
        rows = np.arange(len(A))
        self.successes[rows, A] += R
        self.failures[rows, A] += 1.0 - R


# ---------------------------------------------------------------------------------------------
# Agent labels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSpec:
    """A parsed agent label: its kind and numeric arguments (see ``parse_agent``)."""

    label: str
    kind: str
    args: tuple[float, ...] = ()


AgentBuilder = Callable[[tuple[float, ...], Testbed, int, np.random.Generator], BanditAgent]


def _eps(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    return EpsilonGreedyAgent(ActionValues.start(runs, bed.k), _probability(args[0]), rng)


def _eps_const(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    alpha = _step_size(args[1] if len(args) > 1 else 0.1)
    return EpsilonGreedyAgent(ActionValues.start(runs, bed.k, alpha=alpha), _probability(args[0]), rng)


def _optimistic(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    alpha = _step_size(args[1] if len(args) > 1 else 0.1)
    return EpsilonGreedyAgent(ActionValues.start(runs, bed.k, Q1=args[0], alpha=alpha), 0.0, rng)


def _ucb(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    if args[0] < 0:
        raise ValueError(f"UCB's c must be >= 0, got {args[0]}")
    return UCBAgent(ActionValues.start(runs, bed.k), args[0])


def _gradient(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    return GradientBanditAgent(np.zeros((runs, bed.k)), _step_size(args[0]), True, rng)


def _gradient_nobaseline(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    return GradientBanditAgent(np.zeros((runs, bed.k)), _step_size(args[0]), False, rng)


def _thompson(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    zeros = np.zeros((runs, bed.k))
    if bed.bernoulli:
        return BetaThompsonAgent(zeros, zeros.copy(), rng)
    # The prior is the testbed's own q*(a) ~ N(q_mean, 1); for the nonstationary testbed that
    # is only an approximation, and the sampler does not forget old rewards.
    return GaussianThompsonAgent(zeros, zeros.copy(), bed.q_mean, 1.0, rng)


def _random(args: tuple[float, ...], bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    return EpsilonGreedyAgent(ActionValues.start(runs, bed.k), 1.0, rng)


# kind -> (fewest arguments, most arguments, builder)
_AGENTS: dict[str, tuple[int, int, AgentBuilder]] = {
    "eps": (1, 1, _eps),
    "eps-const": (1, 2, _eps_const),
    "optimistic": (1, 2, _optimistic),
    "ucb": (1, 1, _ucb),
    "gradient": (1, 1, _gradient),
    "gradient-nobaseline": (1, 1, _gradient_nobaseline),
    "thompson": (0, 0, _thompson),
    "random": (0, 0, _random),
}


def parse_agent(label: str) -> AgentSpec:
    """Parse a testbed agent label ``KIND[:ARG[:ARG]]``. The grammar:

    ``eps:EPS``                     epsilon-greedy, sample averages, Q1 = 0 (Figure 2.2)
    ``eps-const:EPS[:ALPHA]``       epsilon-greedy, constant step size ALPHA (default 0.1), Q1 = 0
                                    (Exercise 2.5; ``eps-const:0.1`` is Figure 2.3's realistic agent)
    ``optimistic:Q1[:ALPHA]``       greedy (epsilon = 0) from Q1, constant ALPHA (default 0.1) (Figure 2.3)
    ``ucb:C``                       UCB with c = C, sample averages (eq. 2.10, Figure 2.4)
    ``gradient:ALPHA``              gradient bandit with the average-reward baseline (Figure 2.5)
    ``gradient-nobaseline:ALPHA``   gradient bandit with baseline 0 (Figure 2.5)
    ``thompson``                    Thompson sampling with the testbed's own prior: Gaussian
                                    N(q_mean, 1), or Beta(1, 1) on the Bernoulli testbed
    ``random``                      uniformly random arms (epsilon = 1)

    Numbers are anything ``float()`` reads (``0.1``, ``1e-2``). Raises ValueError otherwise.
    """
    kind, *raw = label.strip().split(":")
    if kind not in _AGENTS:
        raise ValueError(f"unknown agent {label!r}: the kind must be one of {', '.join(_AGENTS)}")
    fewest, most, _ = _AGENTS[kind]
    if not fewest <= len(raw) <= most:
        raise ValueError(f"agent {label!r}: {kind} takes {fewest} to {most} numeric arguments, got {len(raw)}")
    try:
        args = tuple(float(x) for x in raw)
    except ValueError:
        raise ValueError(f"agent {label!r}: arguments must be numbers") from None
    if not all(np.isfinite(args)):
        raise ValueError(f"agent {label!r}: arguments must be finite")
    return AgentSpec(label.strip(), kind, args)


def make_agent(spec: AgentSpec | str, bed: Testbed, runs: int, rng: np.random.Generator) -> BanditAgent:
    """A fresh agent for `runs` runs of `bed`, from a label or a parsed spec."""
    spec = parse_agent(spec) if isinstance(spec, str) else spec
    return _AGENTS[spec.kind][2](spec.args, bed, runs, rng)


def _probability(epsilon: float) -> float:
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    return epsilon


def _step_size(alpha: float) -> float:
    if not alpha > 0.0:
        raise ValueError(f"a step size must be > 0, got {alpha}")
    return alpha


def agent_rng(seed: int, label: str) -> np.random.Generator:
    """An agent's own random stream: fixed by the seed and its label, whoever else is running."""
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


# ---------------------------------------------------------------------------------------------
# Running the testbed
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TestbedCurves:
    """One agent's learning curves, averaged over runs, as in the book's figures."""

    avg_reward: np.ndarray
    """Average reward at each step, shape (steps,)."""
    optimal_pct: np.ndarray
    """% of runs whose A_t was an optimal arm at each step, shape (steps,)."""
    regret: np.ndarray
    """Cumulative pseudo-regret sum_{s<=t} (max_a q*(a) - q*(A_s)), averaged over runs, shape (steps,)."""
    seconds: float
    """Wall time of this agent's steps plus its equal share of drawing the shared testbed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "avg_reward": self.avg_reward.tolist(),
            "optimal_pct": self.optimal_pct.tolist(),
            "seconds": self.seconds,
        }


def run_testbed(
    agents: Sequence[str | AgentSpec],
    runs: int = 2000,
    steps: int = 1000,
    seed: int = 0,
    k: int = 10,
    nonstationary: bool = False,
    *,
    q_mean: float = 0.0,
    bernoulli: bool = False,
    on_update: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, TestbedCurves]:
    """Run each agent on `runs` independent k-armed bandits for `steps` steps (S&B section 2.3).

    agents: labels in the grammar of ``parse_agent`` (e.g. ``eps:0.1``, ``ucb:2``) or specs.
    Every agent meets the same bandits and the same reward noise (common random numbers, so
    differences between agents are theirs, not the luck of the draw), and draws its own
    exploration from a stream fixed by (seed, label): an agent's curves do not depend on which
    other agents run beside it. nonstationary: Exercise 2.5's random walk. q_mean: the mean
    of q*(a) (4 in Figure 2.5). bernoulli: 0/1 rewards with q*(a) ~ U(0, 1).
    on_update: called about ten times with flat metrics (the run manager's contract):
    ``global_step``, ``progress`` in [0, 1], and per agent ``LABEL/avg_reward`` and
    ``LABEL/optimal_pct`` over the latest block of steps. Returns {label: TestbedCurves}, in
    the order given.
    """
    specs = [parse_agent(a) if isinstance(a, str) else a for a in agents]
    labels = [s.label for s in specs]
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"give at least one agent, each label once; got {labels}")
    if runs < 1 or steps < 1:
        raise ValueError(f"runs and steps must be positive, got runs={runs}, steps={steps}")
    bed = Testbed(k=k, q_mean=q_mean, nonstationary=nonstationary, bernoulli=bernoulli)
    values_rng, reward_rng, walk_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    players = [make_agent(s, bed, runs, agent_rng(seed, s.label)) for s in specs]

    offsets = np.arange(0, runs * k, k)  # flat index of (run, 0)
    q_star = bed.initial_values(runs, values_rng)  # (runs, k)
    best_stationary = q_star.max(axis=1)  # (runs,) max_a q*(a)
    avg_reward = np.zeros((len(players), steps))
    optimal_pct = np.zeros((len(players), steps))
    step_regret = np.zeros((len(players), steps))
    seconds = np.zeros(len(players))
    shared_seconds = 0.0
    block = max(1, min(steps, _BLOCK_ELEMENTS // (runs * (k if nonstationary else 1))))
    report_every, next_report = max(1, steps // 10), 0

    for start in range(0, steps, block):
        tic = time.perf_counter()
        n = min(block, steps - start)
        draws = bed.reward_draws((n, runs), reward_rng)  # (n, runs)
        if nonstationary:
            walk = walk_rng.normal(0.0, bed.walk_std, (n, runs, k))  # a step after each step...
            if start == 0:
                walk[0] = 0.0  # ...so step 1 sees q* as they started
            q_path = q_star + np.cumsum(walk, axis=0)  # (n, runs, k) q*_t at each step of the block
            q_star = q_path[-1]
            best = q_path.max(axis=2)  # (n, runs) max_a q*_t(a)
        else:
            q_path = np.broadcast_to(q_star, (n, runs, k))
            best = best_stationary
        shared_seconds += time.perf_counter() - tic

        for i, agent in enumerate(players):
            tic = time.perf_counter()
            q_chosen = np.empty((n, runs))  # q*_t(A_t)
            rewards = np.empty((n, runs))  # R_t
            for j in range(n):
                t = start + j + 1
                A = agent.act(t)  # (runs,)
                q_chosen[j] = q_path[j].reshape(-1)[offsets + A]
                rewards[j] = bed.reward(q_chosen[j], draws[j])
                agent.update(t, A, rewards[j])
            avg_reward[i, start : start + n] = rewards.mean(axis=1)
            optimal_pct[i, start : start + n] = 100.0 * (q_chosen == best).mean(axis=1)
            step_regret[i, start : start + n] = (best - q_chosen).mean(axis=1)
            seconds[i] += time.perf_counter() - tic

        done = start + n
        if on_update is not None and (done >= next_report or done == steps):
            next_report = done + report_every
            metrics = {"global_step": float(done), "progress": done / steps}
            for i, label in enumerate(labels):
                metrics[f"{label}/avg_reward"] = float(avg_reward[i, start:done].mean())
                metrics[f"{label}/optimal_pct"] = float(optimal_pct[i, start:done].mean())
            on_update(metrics)

    seconds += shared_seconds / len(players)
    return {
        label: TestbedCurves(avg_reward[i], optimal_pct[i], np.cumsum(step_regret[i]), float(seconds[i]))
        for i, label in enumerate(labels)
    }


# ---------------------------------------------------------------------------------------------
# Contextual bandits: a simulated recommendation problem (S&B section 2.9, associative search)
# ---------------------------------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^{-z})."""
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True, eq=False)
class Recommender:
    """Users and items with feature vectors; a user clicks item a with p = sigmoid(theta*^T x_a).

    One independent problem per run. Feature 0 of every user and item is a constant 1, so the
    joint features x = vec(user (x) item) hold the user's features, the item's features (its
    popularity), their pairwise interactions (taste) and a bias.
    """

    users: np.ndarray  # (runs, n_users, d_user)
    items: np.ndarray  # (runs, n_items, d_item)
    theta_star: np.ndarray  # (runs, d_user * d_item)

    @classmethod
    def draw(
        cls,
        runs: int,
        rng: np.random.Generator,
        n_users: int = 100,
        n_items: int = 200,
        d_user: int = 4,
        d_item: int = 4,
        bias: float = -1.5,
    ) -> Recommender:
        """N(0, 1) features; theta* ~ N(0, 1/d), so the logit spreads about 1 around `bias`."""
        users = rng.standard_normal((runs, n_users, d_user))
        items = rng.standard_normal((runs, n_items, d_item))
        users[..., 0] = 1.0
        items[..., 0] = 1.0
        d = d_user * d_item
        theta_star = rng.standard_normal((runs, d)) / np.sqrt(d)
        theta_star[:, 0] = bias  # the weight on 1 x 1: the base click rate
        return cls(users, items, theta_star)

    @property
    def d(self) -> int:
        return self.users.shape[-1] * self.items.shape[-1]


def joint_features(user: np.ndarray, items: np.ndarray) -> np.ndarray:
    """x_{t,a} = vec(user_t (x) item_a), the outer product flattened.

    user: (runs, d_user); items: (runs, K, d_item) -> (runs, K, d_user * d_item).
    """
    runs, K, _ = items.shape
    return (user[:, None, :, None] * items[:, :, None, :]).reshape(runs, K, -1)


def click_probability(theta_star: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P(click | x_{t,a}) = sigmoid(theta*^T x_{t,a}). theta_star: (runs, d); X: (runs, K, d) -> (runs, K)."""
    return sigmoid(np.einsum("rkd,rd->rk", X, theta_star))


def sherman_morrison_update(A_inv: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(A + x x^T)^{-1} = A^{-1} - A^{-1} x x^T A^{-1} / (1 + x^T A^{-1} x) (Sherman & Morrison 1950).

    A rank-one update of a symmetric inverse in O(d^2) instead of a fresh O(d^3) inverse.
    A_inv: (..., d, d); x: (..., d).
    """
    A_inv_x = np.einsum("...ij,...j->...i", A_inv, x)  # (..., d)
    denom = 1.0 + np.einsum("...i,...i->...", x, A_inv_x)  # (...,)
    return A_inv - A_inv_x[..., :, None] * A_inv_x[..., None, :] / denom[..., None, None]


def linucb_scores(theta_hat: np.ndarray, A_inv: np.ndarray, X: np.ndarray, alpha: float) -> np.ndarray:
    """p_{t,a} = theta_hat^T x_{t,a} + alpha sqrt(x_{t,a}^T A^{-1} x_{t,a}) (Li et al. 2010, Algorithm 1).

    theta_hat: (runs, d); A_inv: (runs, d, d); X: (runs, K, d) -> (runs, K).
    """
    mean = np.einsum("rkd,rd->rk", X, theta_hat)
    width = np.sqrt(np.einsum("rkd,rde,rke->rk", X, A_inv, X))
    return mean + alpha * width


def linear_thompson_sample(theta_hat: np.ndarray, A_inv: np.ndarray, v: float, z: np.ndarray) -> np.ndarray:
    """mu~ ~ N(mu_hat, v^2 B^{-1}) (Agrawal & Goyal 2013, Algorithm 1), via a Cholesky factor of B^{-1}.

    theta_hat: (runs, d) the ridge estimate mu_hat; A_inv: (runs, d, d) B^{-1}; z: (runs, d) N(0, 1).
    """
    # Symmetrize: many rank-one updates leave B^{-1} a rounding error away from symmetric.
    L = np.linalg.cholesky(0.5 * (A_inv + A_inv.swapaxes(-1, -2)))  # (runs, d, d)
    return theta_hat + v * np.einsum("rij,rj->ri", L, z)


@dataclass(eq=False)
class RidgeStats:
    """The ridge-regression statistics LinUCB and linear TS share: A = I + sum x x^T, b = sum r x.

    One model shared by all items (Li et al.'s Algorithm 1 with a single A and b, or the shared
    part of their hybrid Algorithm 2): every click teaches about every item through the joint
    features, where a disjoint model per item would have to learn each of the items alone.
    """

    A_inv: np.ndarray  # (runs, d, d)
    b: np.ndarray  # (runs, d)

    @classmethod
    def start(cls, runs: int, d: int) -> RidgeStats:
        return cls(np.broadcast_to(np.eye(d), (runs, d, d)).copy(), np.zeros((runs, d)))

    @property
    def theta_hat(self) -> np.ndarray:
        """A^{-1} b, (runs, d)."""
        return np.einsum("rij,rj->ri", self.A_inv, self.b)

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        self.A_inv = sherman_morrison_update(self.A_inv, x)
        self.b += r[:, None] * x


class ContextualAgent(Protocol):
    def act(self, X: np.ndarray) -> np.ndarray:
        """Choose among the candidates' features X (runs, K, d): indices (runs,)."""
        ...

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        """Learn from the chosen features x (runs, d) and clicks r (runs,)."""
        ...


@dataclass(eq=False)
class LinUCBAgent:
    """LinUCB (Li et al. 2010): act on an upper confidence bound of the ridge estimate, shared model."""

    stats: RidgeStats
    alpha: float

    def act(self, X: np.ndarray) -> np.ndarray:
        return linucb_scores(self.stats.theta_hat, self.stats.A_inv, X, self.alpha).argmax(axis=1)

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        self.stats.update(x, r)


@dataclass(eq=False)
class LinearThompsonAgent:
    """Thompson sampling with a linear payoff (Agrawal & Goyal 2013, Algorithm 1), shared model."""

    stats: RidgeStats
    v: float
    rng: np.random.Generator

    def act(self, X: np.ndarray) -> np.ndarray:
        z = self.rng.standard_normal(self.stats.b.shape)
        mu_tilde = linear_thompson_sample(self.stats.theta_hat, self.stats.A_inv, self.v, z)
        return np.einsum("rkd,rd->rk", X, mu_tilde).argmax(axis=1)

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        self.stats.update(x, r)


@dataclass(eq=False)
class LinearEpsilonGreedyAgent:
    """epsilon-greedy on the ridge estimate theta_hat^T x; epsilon = 1 is the random recommender."""

    stats: RidgeStats
    epsilon: float
    rng: np.random.Generator

    def act(self, X: np.ndarray) -> np.ndarray:
        runs, K, _ = X.shape
        u = self.rng.random(runs)
        explore_arm = self.rng.integers(0, K, runs)
        if self.epsilon >= 1.0:  # no model to fit or consult
            return explore_arm
        greedy = np.einsum("rkd,rd->rk", X, self.stats.theta_hat)
        return epsilon_greedy_actions(greedy, self.epsilon, u, explore_arm)

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        if self.epsilon < 1.0:
            self.stats.update(x, r)


ContextualBuilder = Callable[[tuple[float, ...], int, int, np.random.Generator], ContextualAgent]

# kind -> (fewest arguments, most arguments, builder(args, runs, d, rng))
_CONTEXTUAL_AGENTS: dict[str, tuple[int, int, ContextualBuilder]] = {
    "linucb": (0, 1, lambda a, runs, d, rng: LinUCBAgent(RidgeStats.start(runs, d), a[0] if a else 0.5)),
    "lints": (0, 1, lambda a, runs, d, rng: LinearThompsonAgent(RidgeStats.start(runs, d), a[0] if a else 0.25, rng)),
    "eps": (1, 1, lambda a, runs, d, rng: LinearEpsilonGreedyAgent(RidgeStats.start(runs, d), _probability(a[0]), rng)),
    "random": (0, 0, lambda a, runs, d, rng: LinearEpsilonGreedyAgent(RidgeStats.start(runs, d), 1.0, rng)),
}


def parse_contextual_agent(label: str) -> AgentSpec:
    """Parse a contextual agent label. The grammar:

    ``linucb[:ALPHA]``   LinUCB, shared model, exploration width ALPHA (default 0.5)
    ``lints[:V]``        linear Thompson sampling, posterior scale v (default 0.25)
    ``eps:EPS``          epsilon-greedy on the same ridge estimate
    ``random``           uniformly random recommendations

    The defaults are tuned to this problem: the theory's alpha and v guard against the worst
    case and explore far too long on a benign one (Li et al. 2010 also tune alpha).
    """
    kind, *raw = label.strip().split(":")
    if kind not in _CONTEXTUAL_AGENTS:
        raise ValueError(f"unknown contextual agent {label!r}: the kind must be one of {', '.join(_CONTEXTUAL_AGENTS)}")
    fewest, most, _ = _CONTEXTUAL_AGENTS[kind]
    if not fewest <= len(raw) <= most:
        raise ValueError(f"agent {label!r}: {kind} takes {fewest} to {most} numeric arguments, got {len(raw)}")
    try:
        args = tuple(float(x) for x in raw)
    except ValueError:
        raise ValueError(f"agent {label!r}: arguments must be numbers") from None
    return AgentSpec(label.strip(), kind, args)


@dataclass(frozen=True, eq=False)
class ContextualCurves:
    """One contextual agent's curves, averaged over runs."""

    regret: np.ndarray
    """Cumulative pseudo-regret sum_t (max_a p_{t,a} - p_{t,A_t}) in expected clicks, shape (steps,)."""
    avg_reward: np.ndarray
    """Click rate at each step, shape (steps,)."""
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"regret": self.regret.tolist(), "avg_reward": self.avg_reward.tolist(), "seconds": self.seconds}


def run_contextual(
    agents: Sequence[str] = ("linucb", "lints", "eps:0.1", "random"),
    runs: int = 20,
    steps: int = 2000,
    seed: int = 0,
    *,
    candidates: int = 10,
    n_users: int = 100,
    n_items: int = 200,
    d_user: int = 4,
    d_item: int = 4,
    on_update: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, ContextualCurves]:
    """Recommend one of `candidates` items to a random user, `steps` times, in `runs` problems.

    Each step a user arrives and `candidates` items are drawn from the catalogue (with
    replacement); the context of item a is x_{t,a} = vec(user (x) item_a). Every agent sees the
    same users, candidates and click draws; it draws its own exploration from (seed, label).
    on_update: as in ``run_testbed``, with ``LABEL/regret`` so far. Returns {label:
    ContextualCurves}: the cumulative regret curve per agent.
    """
    specs = [parse_contextual_agent(a) for a in agents]
    labels = [s.label for s in specs]
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"give at least one agent, each label once; got {labels}")
    problem_rng, context_rng, click_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    problem = Recommender.draw(runs, problem_rng, n_users, n_items, d_user, d_item)
    players = [_CONTEXTUAL_AGENTS[s.kind][2](s.args, runs, problem.d, agent_rng(seed, s.label)) for s in specs]

    rows = np.arange(runs)
    regret = np.zeros((len(players), steps))
    avg_reward = np.zeros((len(players), steps))
    seconds = np.zeros(len(players))
    shared_seconds = 0.0
    report_every = max(1, steps // 10)
    for t in range(steps):
        tic = time.perf_counter()
        user = problem.users[rows, context_rng.integers(0, n_users, runs)]  # (runs, d_user)
        item_ids = context_rng.integers(0, n_items, (runs, candidates))
        X = joint_features(user, problem.items[rows[:, None], item_ids])  # (runs, K, d)
        p = click_probability(problem.theta_star, X)  # (runs, K)
        p_best = p.max(axis=1)
        u = click_rng.random(runs)
        shared_seconds += time.perf_counter() - tic
        for i, agent in enumerate(players):
            tic = time.perf_counter()
            A = agent.act(X)  # (runs,)
            p_chosen = p[rows, A]
            r = (u < p_chosen).astype(np.float64)  # click or not
            agent.update(X[rows, A], r)
            regret[i, t] = (p_best - p_chosen).mean()
            avg_reward[i, t] = r.mean()
            seconds[i] += time.perf_counter() - tic
        if on_update is not None and ((t + 1) % report_every == 0 or t + 1 == steps):
            metrics = {"global_step": float(t + 1), "progress": (t + 1) / steps}
            metrics |= {f"{label}/regret": float(regret[i, : t + 1].sum()) for i, label in enumerate(labels)}
            on_update(metrics)

    seconds += shared_seconds / len(players)
    return {
        label: ContextualCurves(np.cumsum(regret[i]), avg_reward[i], float(seconds[i]))
        for i, label in enumerate(labels)
    }


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _labels(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m algorithms.bandits",
        description="The k-armed testbed (Sutton & Barto ch. 2) and contextual bandits, vectorized over runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bed = sub.add_parser("testbed", help="k-armed testbed learning curves (Figures 2.2 to 2.5)")
    bed.add_argument(
        "--agents",
        type=_labels,
        default=_labels("eps:0,eps:0.01,eps:0.1"),
        help="comma-separated labels, e.g. eps:0.1,ucb:2,gradient:0.1",
    )
    bed.add_argument("--runs", type=int, default=2000)
    bed.add_argument("--steps", type=int, default=1000)
    bed.add_argument("--seed", type=int, default=0)
    bed.add_argument("--k", type=int, default=10)
    bed.add_argument("--nonstationary", action="store_true", help="Exercise 2.5: q*(a) take random walks")
    bed.add_argument("--q-mean", type=float, default=0.0, help="mean of q*(a) (4 in Figure 2.5)")
    bed.add_argument("--bernoulli", action="store_true", help="0/1 rewards, q*(a) ~ U(0, 1)")
    bed.add_argument(
        "--json", action="store_true", help="print {label: {avg_reward, optimal_pct, seconds}} as the last line"
    )
    ctx = sub.add_parser("contextual", help="contextual bandits on a simulated recommendation problem")
    ctx.add_argument(
        "--agents",
        type=_labels,
        default=_labels("linucb,lints,eps:0.1,random"),
        help="comma-separated: linucb[:ALPHA], lints[:V], eps:EPS, random",
    )
    ctx.add_argument("--runs", type=int, default=20)
    ctx.add_argument("--steps", type=int, default=2000)
    ctx.add_argument("--seed", type=int, default=0)
    ctx.add_argument("--candidates", type=int, default=10)
    ctx.add_argument(
        "--json", action="store_true", help="print {label: {regret, avg_reward, seconds}} as the last line"
    )
    args = parser.parse_args(argv)

    def progress(metrics: dict[str, float]) -> None:
        parts = [f"[{args.command}] step {metrics['global_step']:.0f}/{args.steps}"]
        for label in args.agents:
            mine = {key.removeprefix(label + "/"): v for key, v in metrics.items() if key.startswith(label + "/")}
            parts.append(label + " " + " ".join(f"{name} {value:.3f}" for name, value in mine.items()))
        print(" | ".join(parts), flush=True)

    tic = time.perf_counter()
    try:
        if args.command == "testbed":
            results: dict[str, Any] = run_testbed(
                args.agents,
                args.runs,
                args.steps,
                args.seed,
                args.k,
                args.nonstationary,
                q_mean=args.q_mean,
                bernoulli=args.bernoulli,
                on_update=progress,
            )
            for label, curves in results.items():
                print(
                    f"{label}: final avg reward {curves.avg_reward[-1]:.3f}, optimal {curves.optimal_pct[-1]:.1f}%, "
                    f"regret {curves.regret[-1]:.1f}, {curves.seconds:.3f} s"
                )
        else:
            results = run_contextual(
                args.agents, args.runs, args.steps, args.seed, candidates=args.candidates, on_update=progress
            )
            for label, curves in results.items():
                print(
                    f"{label}: final regret {curves.regret[-1]:.1f}, "
                    f"click rate {curves.avg_reward.mean():.3f}, {curves.seconds:.3f} s"
                )
    except ValueError as error:
        parser.error(str(error))
    print(f"{args.runs} runs x {args.steps} steps in {time.perf_counter() - tic:.3f} s")
    if args.json:
        print(json.dumps({label: curves.to_json() for label, curves in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
