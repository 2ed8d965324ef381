"""Seed 002's reward-design experiment: the same tabular Q-learner on the dosing patient, two rewards.

``train_dosing`` trains Q-learning (``algorithms.tabular.td_control``) on the discretized patient
(``algorithms.envs.dosing.DosingModel``) with one reward and evaluates its greedy policies by the
fraction of days in range; ``compare_rewards`` is the lesson's side-by-side of the good reward, the
bad one and a random policy. It lives here, not in the environment's module, so that environments
stay leaves: they import no algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from algorithms.envs.dosing import DosingModel, Evaluation, evaluate_policy, greedy_policies, random_policy
from algorithms.tabular import exponential_epsilon, td_control


@dataclass(frozen=True)
class DosingResult:
    """What ``train_dosing`` learned with one reward, and how it treats patients.

    The example is one patient of the real environment under run 0's greedy policy: on day
    d + 1 the agent took ``example_actions[d]``, the daily dose became ``example_dose_mg[d]``
    and the INR read ``example_inr[d]`` (30 days, fewer if the patient bled).
    """

    reward: str
    episode_returns: np.ndarray  # (episodes,) mean over runs: the learning curve
    evaluation: Evaluation  # the greedy policies of all runs, on fresh patients
    example_inr: np.ndarray  # (days,)
    example_actions: np.ndarray  # (days,)
    example_dose_mg: np.ndarray  # (days,)
    Q: np.ndarray  # (runs, S, A)


def train_dosing(
    reward: str = "good",
    episodes: int = 600,
    runs: int = 8,
    alpha: float = 0.1,
    gamma: float = 0.9,
    epsilon_start: float = 0.5,
    epsilon_end: float = 0.05,
    seed: int = 0,
    eval_patients: int = 1000,
) -> DosingResult:
    """Tabular Q-learning on the discretized patient with one of seed 002's rewards, then an
    evaluation of the greedy policies and one example course in the real environment."""
    model = DosingModel(reward)
    # Explore widely while the table is empty, then settle: the patient's delays punish dithering.
    epsilon = partial(exponential_epsilon, start=epsilon_start, end=epsilon_end, duration=max(episodes // 5, 1))
    result = td_control(model, "q-learning", episodes, runs=runs, alpha=alpha, gamma=gamma, epsilon=epsilon, seed=seed)
    evaluation = evaluate_policy(greedy_policies(result.Q), reward, eval_patients, seed=seed + 1)

    env = gym.make("RLDojo/Dosing-v0", reward=reward)
    obs, info = env.reset(seed=seed)
    base = env.unwrapped
    inr, actions, dose = [], [], []
    terminated = truncated = False
    while not (terminated or truncated):
        a = int(np.argmax(result.Q[0, base.observation_index(obs)]))
        obs, _, terminated, truncated, info = env.step(a)
        inr.append(info["inr"])
        actions.append(a)
        dose.append(info["dose_mg"])
    env.close()
    return DosingResult(
        reward,
        result.episode_returns.mean(axis=1),
        evaluation,
        np.array(inr),
        np.array(actions),
        np.array(dose),
        result.Q,
    )


def compare_rewards(seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """The lesson's side-by-side: Q-learning with the good and the bad reward, and a random policy."""
    return {
        "good": train_dosing("good", seed=seed, **kwargs),
        "bad": train_dosing("bad", seed=seed, **kwargs),
        "random": evaluate_policy(random_policy, "good", seed=seed + 1),
    }


__all__ = ["DosingResult", "compare_rewards", "train_dosing"]
