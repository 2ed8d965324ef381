"""A warfarin-like dosing task that teaches reward design (seed 002: "What is Reinforcement Learning?").

A toy patient, not a clinical model. Each day the agent lowers, holds or raises the daily
dose by one step. The drug acts with a delay: its effect follows the dose over a few
days, and the INR (the blood's clotting time, the number the doctor reads) follows the
effect over a few more, with day-to-day noise. Patients differ in how strongly they
respond, so no single dose suits everyone: a good policy must titrate on the INR it
observes. The therapeutic range is INR 2.0-3.0. Below it the drug does not protect; above
it the risk of a major bleed climbs steeply. A major bleed ends the episode
(terminated); otherwise treatment lasts 30 days (truncated: the patient lives on, so
value estimates bootstrap through day 30).

An untreated patient stays near INR 1.0 and bleeds in about 2% of 30-day courses. That
is what makes the seed's two reward designs instructive:

* the good reward pays for days in range and charges for risk, and Q-learning learns to
  titrate;
* the bad reward ("+1 if the patient survives today") pays an untreated patient almost as
  well as a treated one, so the learned policy never bothers to reach the range, and what
  little it can tell apart (treatment raises the risk of a bleed) points away from
  treating at all.

``evaluate_policy`` judges any policy by what matters, the fraction of days in range. The
experiment that trains tabular Q-learning with each reward is ``algorithms.dosing_experiment``
(this module trains nothing: environments import no algorithm).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from algorithms.envs import EPISODE_DAYS

DECREASE, HOLD, INCREASE = 0, 1, 2
ACTION_NAMES = ("decrease", "hold", "increase")
THERAPEUTIC_RANGE = (2.0, 3.0)
INR_BIN_EDGES = np.array([1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0])
"""Tabular agents see the INR in these bins; the ends of the therapeutic range are bin edges."""


@dataclass(frozen=True)
class PatientParams:
    """The toy physiology. Rates are fractions of a gap closed per day."""

    dose_step_mg: float = 1.0
    n_dose_levels: int = 11
    """Daily doses 0, 1, ..., 10 mg."""
    baseline_inr: float = 1.0
    sensitivity_median: float = 0.3
    """Steady-state INR rise per mg of daily dose; a typical patient needs about 5 mg."""
    sensitivity_spread: float = 0.3
    """Log-normal spread of sensitivity across patients (about 3.7-6.8 mg for the range)."""
    absorption: float = 0.5
    """How fast the drug's effect follows the dose (the first delay)."""
    response: float = 0.4
    """How fast the INR follows the drug's effect (the second delay)."""
    noise: float = 0.15
    """Day-to-day INR noise (standard deviation)."""
    bleed_base: float = 0.0005
    """Daily probability of a major bleed at baseline INR: untreated patients rarely bleed."""
    bleed_slope: float = 1.1
    """Log-risk per INR unit above baseline: x3 per unit, about 2%/day at INR 4.3."""


@dataclass(frozen=True)
class Patients:
    """n patients' hidden state; every field has shape (n,)."""

    inr: np.ndarray
    effect: np.ndarray
    """Drug effect in mg-equivalents: lags the dose."""
    dose_level: np.ndarray
    sensitivity: np.ndarray


def new_patients(rng: np.random.Generator, n: int, params: PatientParams) -> Patients:
    """Untreated patients at day 0: INR near baseline, no dose, no drug on board."""
    sensitivity = params.sensitivity_median * np.exp(params.sensitivity_spread * rng.standard_normal(n))
    inr = params.baseline_inr + 0.05 * rng.standard_normal(n)
    return Patients(inr, np.zeros(n), np.zeros(n, dtype=np.int64), sensitivity)


def bleeding_probability(inr: np.ndarray, params: PatientParams) -> np.ndarray:
    """Daily probability of a major bleed, rising exponentially with INR, capped at 1."""
    return np.minimum(params.bleed_base * np.exp(params.bleed_slope * (inr - params.baseline_inr)), 1.0)


def patient_step(
    patients: Patients, action: np.ndarray, rng: np.random.Generator, params: PatientParams
) -> tuple[Patients, np.ndarray]:
    """One day: adjust the dose, let the drug act with its two delays, then maybe bleed.

    action: (n,) in {0: decrease, 1: hold, 2: increase}. Returns (patients, bleed (n,) bool).
    """
    dose_level = np.clip(patients.dose_level + np.asarray(action) - 1, 0, params.n_dose_levels - 1)
    dose = params.dose_step_mg * dose_level
    effect = patients.effect + params.absorption * (dose - patients.effect)
    inr_target = params.baseline_inr + patients.sensitivity * effect
    inr = patients.inr + params.response * (inr_target - patients.inr)
    inr = np.clip(inr + params.noise * rng.standard_normal(len(inr)), 0.8, 10.0)
    bleed = rng.random(len(inr)) < bleeding_probability(inr, params)
    return Patients(inr, effect, dose_level, patients.sensitivity), bleed


def in_therapeutic_range(inr: np.ndarray) -> np.ndarray:
    """2.0 <= INR <= 3.0."""
    low, high = THERAPEUTIC_RANGE
    return (inr >= low) & (inr <= high)


# ---------------------------------------------------------------------------------------
# The two reward designs of seed 002
# ---------------------------------------------------------------------------------------


def good_reward(inr: np.ndarray, bleed: np.ndarray) -> np.ndarray:
    """Seed 002's "good reward design": +1.0 for INR in range (2.0-3.0), -0.5 below 2.0, -2.0
    above 4.0 (bleeding risk), -5.0 for a major bleeding event.

    The seed leaves INR 3.0-4.0 open; we charge it -0.5 like the other side of the range:
    out of range, not yet dangerous. Shapes (n,) -> (n,).
    """
    inr, bleed = np.asarray(inr, dtype=float), np.asarray(bleed, dtype=bool)
    # lesson:start good-reward
    reward = np.full(np.shape(inr), -0.5)  # subtherapeutic (< 2.0), and 3.0-4.0 (our choice)
    reward[in_therapeutic_range(inr)] = 1.0
    reward[inr > 4.0] = -2.0  # supratherapeutic: bleeding risk
    reward[bleed] = -5.0  # a major bleeding event
    # lesson:end good-reward
    return reward


def bad_reward(inr: np.ndarray, bleed: np.ndarray) -> np.ndarray:
    """Seed 002's "bad reward design": +1.0 if the patient survives today (no major bleed).

    It never looks at the INR, so an untreated patient earns nearly full marks.
    Shapes (n,) -> (n,).
    """
    # lesson:start bad-reward
    reward = np.where(bleed, 0.0, 1.0)
    # lesson:end bad-reward
    return reward


REWARDS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"good": good_reward, "bad": bad_reward}


# ---------------------------------------------------------------------------------------
# Discrete observations for tabular agents
# ---------------------------------------------------------------------------------------


def n_observations(params: PatientParams) -> int:
    """Number of discrete observations: INR bins x dose levels."""
    return (len(INR_BIN_EDGES) + 1) * params.n_dose_levels


def discretize(inr: np.ndarray, dose_level: np.ndarray) -> np.ndarray:
    """State index dose_level * n_bins + INR bin. Shapes (n,) -> (n,)."""
    return np.asarray(dose_level) * (len(INR_BIN_EDGES) + 1) + np.digitize(inr, INR_BIN_EDGES, right=False)


@dataclass(frozen=True)
class DosingModel:
    """n patients at once with discretized observations, for ``algorithms.tabular``'s loops
    (the same ``patient_step`` as ``DosingEnv``)."""

    reward: str = "good"
    params: PatientParams = field(default_factory=PatientParams)
    max_episode_steps: int | None = EPISODE_DAYS
    n_actions: int = 3

    @property
    def n_states(self) -> int:
        return n_observations(self.params)

    def reset(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, Patients]:
        patients = new_patients(rng, n, self.params)
        return discretize(patients.inr, patients.dose_level), patients

    def step(
        self, patients: Patients, a: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Patients]:
        patients, bleed = patient_step(patients, a, rng, self.params)
        r = REWARDS[self.reward](patients.inr, bleed)
        return discretize(patients.inr, patients.dose_level), r, bleed, patients


# ---------------------------------------------------------------------------------------
# The Gymnasium environment
# ---------------------------------------------------------------------------------------


class DosingEnv(gym.Env[dict[str, Any], int]):
    """One patient for 30 days. Observation: {"inr": (1,) float32, "dose_level": int}.
    Actions: 0 decrease, 1 hold, 2 increase the daily dose by one step.
    ``reward="good"`` or ``"bad"`` picks seed 002's reward design."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, reward: str = "good", params: PatientParams | None = None, render_mode: str | None = None):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {sorted(REWARDS)}, not {reward!r}")
        self.reward = reward
        self.params = params or PatientParams()
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Dict(
            {
                "inr": spaces.Box(low=0.0, high=10.0, shape=(1,), dtype=np.float32),
                "dose_level": spaces.Discrete(self.params.n_dose_levels),
            }
        )
        self.patient: Patients | None = None
        self.day = 0

    def _observation(self) -> dict[str, Any]:
        assert self.patient is not None
        return {
            "inr": self.patient.inr.astype(np.float32),
            "dose_level": int(self.patient.dose_level[0]),
        }

    def _info(self, bleed: bool = False) -> dict[str, Any]:
        assert self.patient is not None
        inr = float(self.patient.inr[0])
        return {
            "day": self.day,
            "inr": inr,
            "dose_mg": float(self.params.dose_step_mg * self.patient.dose_level[0]),
            "in_range": bool(in_therapeutic_range(np.array(inr))),
            "bleed": bleed,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.patient = new_patients(self.np_random, 1, self.params)
        self.day = 0
        return self._observation(), self._info()

    def step(self, action: int):
        if self.patient is None:
            raise RuntimeError("call reset() before step()")
        self.patient, bleed = patient_step(self.patient, np.array([int(action)]), self.np_random, self.params)
        self.day += 1
        reward = float(REWARDS[self.reward](self.patient.inr, bleed)[0])
        terminated = bool(bleed[0])
        # The course ends at day 30 but the patient does not: a time limit, not a terminal state.
        truncated = self.day >= EPISODE_DAYS and not terminated
        return self._observation(), reward, terminated, truncated, self._info(terminated)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.patient is None:
            return None
        info = self._info()
        marker = "in range" if info["in_range"] else "out of range"
        return f"day {self.day:2d}  dose {info['dose_mg']:4.1f} mg  INR {info['inr']:.2f}  ({marker})\n"

    # For algorithms.tabular: discrete observations and a vectorized model of this patient.
    def observation_index(self, observation: dict[str, Any]) -> int:
        """The tabular state of an observation (see ``discretize``)."""
        return int(discretize(np.asarray(observation["inr"])[0], observation["dose_level"]))

    def vector_model(self, max_episode_steps: int | None = None) -> DosingModel:
        return DosingModel(self.reward, self.params, max_episode_steps or EPISODE_DAYS)


# ---------------------------------------------------------------------------------------
# Judging a policy by what matters: days in range over many fresh patients
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A policy over many fresh patients."""

    mean_return: float
    """Per 30-day course, under the reward the policy was trained with."""
    fraction_in_range: float
    """Days with 2.0 <= INR <= 3.0, over all 30 days of every course (days after a bleed count as out of range)."""
    bleeding_rate: float
    """Fraction of courses that ended in a major bleed."""


def evaluate_policy(
    policy: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    reward: str = "good",
    patients: int = 1000,
    seed: int = 1,
    params: PatientParams | None = None,
) -> Evaluation:
    """Run ``policy(obs (n,), rng) -> actions (n,)`` on ``patients`` fresh patients for 30 days."""
    params = params or PatientParams()
    model = DosingModel(reward, params)
    rng = np.random.default_rng(seed)
    obs, state = model.reset(rng, patients)
    alive = np.ones(patients, dtype=bool)
    total, days_in_range = np.zeros(patients), np.zeros(patients)
    for _ in range(EPISODE_DAYS):
        obs, r, bleed, state = model.step(state, policy(obs, rng), rng)
        total += np.where(alive, r, 0.0)
        days_in_range += alive & ~bleed & in_therapeutic_range(state.inr)
        alive &= ~bleed
    return Evaluation(
        float(total.mean()), float(days_in_range.sum() / (patients * EPISODE_DAYS)), float(1 - alive.mean())
    )


def random_policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Decrease, hold or increase with equal probability."""
    return rng.integers(3, size=len(obs))


def greedy_policies(Q: np.ndarray) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Patient j follows run (j mod runs)'s greedy policy argmax_a Q(s, a). Q: (runs, S, A)."""
    greedy = np.argmax(Q, axis=-1)  # (runs, S)

    def policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return greedy[np.arange(len(obs)) % len(greedy), obs]

    return policy


__all__ = [
    "DosingEnv",
    "DosingModel",
    "Evaluation",
    "PatientParams",
    "Patients",
    "bad_reward",
    "bleeding_probability",
    "discretize",
    "evaluate_policy",
    "good_reward",
    "greedy_policies",
    "in_therapeutic_range",
    "new_patients",
    "patient_step",
    "random_policy",
]
