"""RL Dojo's Gymnasium environments: windy gridworld (S&B Example 6.5) and seed 002's dosing patient."""

from __future__ import annotations

import importlib
import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import algorithms.envs
from algorithms.dosing_experiment import compare_rewards
from algorithms.envs import DOSING_ID, EPISODE_DAYS, WINDY_GRIDWORLD_ID, WINDY_GRIDWORLD_KINGS_ID
from algorithms.envs.dosing import (
    DECREASE,
    HOLD,
    INCREASE,
    DosingEnv,
    DosingModel,
    PatientParams,
    bad_reward,
    discretize,
    evaluate_policy,
    good_reward,
    random_policy,
)
from algorithms.envs.windy_gridworld import WIND, WindyGridworldEnv

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------


def test_envs_are_registered():
    for env_id in (WINDY_GRIDWORLD_ID, WINDY_GRIDWORLD_KINGS_ID, DOSING_ID):
        assert env_id in gym.registry
    assert gym.spec(DOSING_ID).max_episode_steps == EPISODE_DAYS == 30


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a re-registration warning would fail here
        importlib.reload(algorithms.envs)
        algorithms.envs.register_envs()
    assert gym.make(WINDY_GRIDWORLD_ID).unwrapped.nA == 4


# ---------------------------------------------------------------------------------------
# Windy gridworld
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", [WINDY_GRIDWORLD_ID, WINDY_GRIDWORLD_KINGS_ID])
def test_windy_gridworld_passes_the_env_checker(env_id):
    check_env(gym.make(env_id).unwrapped)


def test_windy_gridworld_layout_and_wind():
    env = WindyGridworldEnv()
    assert (env.observation_space.n, env.action_space.n) == (70, 4)
    assert WIND == (0, 0, 0, 1, 1, 1, 2, 2, 1, 0)
    obs, _ = env.reset(seed=0)
    assert obs == 30  # (3, 0)
    assert env.P[30][RIGHT] == [(1.0, 31, -1.0, False)]  # no wind in column 0
    assert env.P[33][RIGHT] == [(1.0, 24, -1.0, False)]  # (3, 3) -> (2, 4): pushed up by 1
    assert env.P[36][RIGHT] == [(1.0, 17, -1.0, False)]  # (3, 6) -> (1, 7): pushed up by 2, over the goal
    assert env.P[56][RIGHT] == [(1.0, 37, -1.0, True)]  # (5, 6) -> (3, 7): the goal ends the episode
    assert env.P[6][UP] == [(1.0, 6, -1.0, False)]  # the wind cannot blow past the top
    assert env.P[39][DOWN] == [(1.0, 49, -1.0, False)]  # column 9 is calm


def _shortest_path(env: WindyGridworldEnv) -> int:
    """Breadth-first search over the environment's own table."""
    distance = {env.start_state_index: 0}
    queue = deque([env.start_state_index])
    while queue:
        s = queue.popleft()
        for a in range(env.nA):
            for _, s_next, _, terminated in env.P[s][a]:
                if terminated:
                    return distance[s] + 1
                if s_next not in distance:
                    distance[s_next] = distance[s] + 1
                    queue.append(s_next)
    raise AssertionError("goal unreachable")


def test_windy_gridworld_shortest_paths_match_the_book():
    assert _shortest_path(WindyGridworldEnv()) == 15  # Example 6.5
    assert _shortest_path(WindyGridworldEnv(king_moves=True)) == 7  # Exercise 6.9


def test_windy_gridworld_follows_the_books_optimal_path():
    env = gym.make(WINDY_GRIDWORLD_ID, render_mode="ansi")
    env.reset(seed=0)
    total, terminated = 0.0, False
    for a in [RIGHT] * 9 + [DOWN] * 4 + [LEFT] * 2:  # the 15-step path of Figure 6.5
        assert not terminated
        _, r, terminated, truncated, _ = env.step(a)
        total += r
        assert not truncated
    assert terminated and total == -15.0
    assert "A" in env.render()


# ---------------------------------------------------------------------------------------
# Dosing: the environment
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reward", ["good", "bad"])
def test_dosing_passes_the_env_checker(reward):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(DOSING_ID, reward=reward).unwrapped)


def test_dosing_rejects_an_unknown_reward():
    with pytest.raises(ValueError, match="reward"):
        DosingEnv(reward="survival")


def test_dosing_truncates_at_30_days():
    env = gym.make(DOSING_ID, params=PatientParams(bleed_base=0.0))  # no bleeding: only the clock ends it
    obs, info = env.reset(seed=0)
    assert info["day"] == 0 and obs["dose_level"] == 0
    for day in range(1, 31):
        obs, _, terminated, truncated, info = env.step(INCREASE if day < 6 else HOLD)
        assert info["day"] == day and not terminated
        assert truncated == (day == 30)
    # The bare class truncates on its own, without the TimeLimit wrapper.
    bare = DosingEnv(params=PatientParams(bleed_base=0.0))
    bare.reset(seed=1)
    flags = [bare.step(HOLD)[3] for _ in range(30)]
    assert flags == [False] * 29 + [True]


@pytest.mark.parametrize(("reward", "expected"), [("good", -5.0), ("bad", 0.0)])
def test_a_major_bleed_terminates(reward, expected):
    env = gym.make(DOSING_ID, reward=reward, params=PatientParams(bleed_base=1.0))
    env.reset(seed=0)
    _, r, terminated, truncated, info = env.step(HOLD)
    assert terminated and not truncated and info["bleed"]
    assert r == expected


def test_reward_tables_of_seed_002():
    inr = np.array([1.0, 1.99, 2.0, 2.5, 3.0, 3.5, 4.01, 6.0, 2.5])
    bleed = np.array([False] * 8 + [True])
    np.testing.assert_array_equal(good_reward(inr, bleed), [-0.5, -0.5, 1.0, 1.0, 1.0, -0.5, -2.0, -2.0, -5.0])
    np.testing.assert_array_equal(bad_reward(inr, bleed), [1.0] * 8 + [0.0])


def test_untreated_patients_stay_subtherapeutic_and_rarely_bleed():
    evaluation = evaluate_policy(lambda obs, rng: np.full(len(obs), HOLD), "bad", patients=2000, seed=0)
    assert evaluation.fraction_in_range < 0.01
    assert evaluation.bleeding_rate < 0.04
    assert evaluation.mean_return > 29.0  # the bad reward pays nearly in full for doing nothing


def test_the_drug_acts_with_a_delay():
    env = DosingEnv(params=PatientParams(noise=0.0, bleed_base=0.0))
    env.reset(seed=0)
    inr = [env.step(INCREASE if day < 5 else HOLD)[4]["inr"] for day in range(20)]
    assert inr[0] < 1.2  # one day in, barely moved
    assert inr[4] < inr[9] < inr[19]  # still rising days after the dose stopped changing
    assert np.all(np.diff(inr) >= 0)


def test_decrease_at_zero_dose_stays_at_zero():
    env = DosingEnv()
    env.reset(seed=0)
    obs, *_ = env.step(DECREASE)
    assert obs["dose_level"] == 0


def test_vector_model_follows_the_env_step_for_step():
    env = DosingEnv(reward="good")
    obs, _ = env.reset(seed=5)
    model = DosingModel("good")
    rng = np.random.default_rng(5)  # Gymnasium seeds its generator the same way
    s, patients = model.reset(rng, 1)
    assert s[0] == env.observation_index(obs)
    actions = np.random.default_rng(0).integers(3, size=EPISODE_DAYS)
    for a in actions:
        obs, r, terminated, _, info = env.step(int(a))
        s, r_model, bleed, patients = model.step(patients, np.array([a]), rng)
        assert patients.inr[0] == pytest.approx(info["inr"])
        assert (int(s[0]), float(r_model[0]), bool(bleed[0])) == (env.observation_index(obs), r, terminated)
        if terminated:
            break


def test_discretize_puts_the_range_edges_on_bin_edges():
    bins = discretize(np.array([1.0, 1.99, 2.0, 2.99, 3.01, 9.0]), np.zeros(6, dtype=int))
    assert bins.tolist() == [0, 1, 2, 3, 4, 7]
    assert discretize(np.array([2.25]), np.array([3]))[0] == 3 * 8 + 2


# ---------------------------------------------------------------------------------------
# Dosing: what the lesson shows
# ---------------------------------------------------------------------------------------


def test_reward_design_decides_what_q_learning_learns():
    results = compare_rewards(seed=0)
    good, bad, random = results["good"].evaluation, results["bad"].evaluation, results["random"]
    assert good.fraction_in_range > 0.6  # titrates into range most days
    assert random.fraction_in_range < 0.3
    assert bad.fraction_in_range < 0.1  # survives, untreated
    assert good.fraction_in_range > random.fraction_in_range + 0.3
    assert good.fraction_in_range > bad.fraction_in_range + 0.5
    # By its own measure the bad reward did well: that is the trap.
    assert bad.mean_return > 29.0
    # The learning curve improves under the good reward.
    curve = results["good"].episode_returns
    assert curve[-100:].mean() > curve[:50].mean() + 10
    # One example course per reward, from the real environment.
    for result in (results["good"], results["bad"]):
        assert 1 <= len(result.example_inr) <= EPISODE_DAYS
        assert len(result.example_actions) == len(result.example_inr) == len(result.example_dose_mg)
        assert set(result.example_actions.tolist()) <= {DECREASE, HOLD, INCREASE}
    assert np.mean((results["good"].example_inr >= 2.0) & (results["good"].example_inr <= 3.0)) > 0.4
    assert np.all(results["bad"].example_inr < 2.0)


def test_random_policy_baseline_is_reproducible():
    first = evaluate_policy(random_policy, "good", patients=200, seed=3)
    assert first == evaluate_policy(random_policy, "good", patients=200, seed=3)
