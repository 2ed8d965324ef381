"""Tabular control against hand-computed updates and Sutton & Barto's Examples 6.5 and 6.6."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from algorithms.tabular import (
    ENV_IDS,
    EPSILON_SCHEDULES,
    TabularConfig,
    TabularModel,
    constant_epsilon,
    epsilon_greedy,
    epsilon_greedy_probabilities,
    expected_sarsa_update,
    exponential_epsilon,
    first_visits,
    greedy_episode,
    greedy_path_length,
    linear_epsilon,
    main,
    make_env,
    make_model,
    mc_returns,
    mc_update,
    monte_carlo_control,
    q_learning_update,
    sarsa_update,
    td0_update,
    td_control,
    train_tabular,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _table() -> np.ndarray:
    """Q for states 0, 1 and actions 0, 1, 2."""
    return np.array([[0.0, 0.0, 0.0], [1.0, 3.0, 2.0]])


# ---------------------------------------------------------------------------------------
# Single updates, by hand
# ---------------------------------------------------------------------------------------


def test_q_learning_update_by_hand():
    Q = _table()
    Q_new = q_learning_update(Q, s=0, a=1, r=-1.0, s_next=1, done=False, alpha=0.5, gamma=0.9)
    # target = -1 + 0.9 * max(1, 3, 2) = 1.7; Q(0,1) = 0 + 0.5 * (1.7 - 0) = 0.85
    assert Q_new[0, 1] == pytest.approx(0.85)
    assert np.array_equal(np.delete(Q_new.ravel(), 1), np.delete(_table().ravel(), 1))  # nothing else moves
    assert np.array_equal(Q, _table())  # the input is not mutated
    assert Q_new is not Q


def test_q_learning_update_does_not_bootstrap_from_a_terminal_state():
    Q_new = q_learning_update(_table(), s=0, a=1, r=-1.0, s_next=1, done=True, alpha=0.5, gamma=0.9)
    assert Q_new[0, 1] == pytest.approx(-0.5)  # target = -1 alone


def test_sarsa_update_by_hand():
    Q = _table()
    Q_new = sarsa_update(Q, s=0, a=1, r=-1.0, s_next=1, a_next=0, done=False, alpha=0.5, gamma=0.9)
    # target = -1 + 0.9 * Q(1, 0) = -0.1: Sarsa uses the action taken, not the max
    assert Q_new[0, 1] == pytest.approx(-0.05)
    assert np.array_equal(Q, _table())
    terminal = sarsa_update(Q, s=0, a=1, r=-1.0, s_next=1, a_next=1, done=True, alpha=0.5, gamma=0.9)
    assert terminal[0, 1] == pytest.approx(-0.5)


def test_expected_sarsa_update_by_hand():
    Q = _table()
    # pi(.|1) under epsilon 0.3: 0.1, 0.8, 0.1 -> expectation 0.1 * 1 + 0.8 * 3 + 0.1 * 2 = 2.7
    Q_new = expected_sarsa_update(Q, s=0, a=2, r=1.0, s_next=1, done=False, alpha=0.5, gamma=0.9, epsilon=0.3)
    assert Q_new[0, 2] == pytest.approx(0.5 * (1.0 + 0.9 * 2.7))
    assert np.array_equal(Q, _table())
    terminal = expected_sarsa_update(Q, s=0, a=2, r=1.0, s_next=1, done=True, alpha=0.5, gamma=0.9, epsilon=0.3)
    assert terminal[0, 2] == pytest.approx(0.5)


def test_expected_sarsa_spans_q_learning_and_the_uniform_policy():
    Q = _table()
    greedy = expected_sarsa_update(Q, 0, 0, 0.0, 1, False, 1.0, 1.0, epsilon=0.0)
    uniform = expected_sarsa_update(Q, 0, 0, 0.0, 1, False, 1.0, 1.0, epsilon=1.0)
    assert greedy[0, 0] == pytest.approx(q_learning_update(Q, 0, 0, 0.0, 1, False, 1.0, 1.0)[0, 0]) == 3.0
    assert uniform[0, 0] == pytest.approx(2.0)


def test_expected_sarsa_shares_greedy_mass_between_ties():
    Q = np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
    # pi = 0.1 + 0.35, 0.1 + 0.35, 0.1 -> expectation 0.45 * 2 + 0.45 * 2 = 1.8
    Q_new = expected_sarsa_update(Q, 0, 0, 0.0, 1, False, 1.0, 1.0, epsilon=0.3)
    assert Q_new[0, 0] == pytest.approx(1.8)


def test_td0_update_by_hand():
    V = np.array([0.0, 2.0])
    V_new = td0_update(V, s=0, r=1.0, s_next=1, done=False, alpha=0.1, gamma=0.5)
    assert V_new[0] == pytest.approx(0.1 * (1.0 + 0.5 * 2.0))  # delta = 2
    assert V_new[1] == 2.0
    assert np.array_equal(V, [0.0, 2.0])
    assert td0_update(V, 0, 1.0, 1, True, 0.1, 0.5)[0] == pytest.approx(0.1)


def test_updates_accept_lists_and_integer_tables():
    assert q_learning_update([[0, 0], [4, 2]], 0, 0, 1, 1, False, 0.5, 1.0)[0, 0] == pytest.approx(2.5)
    assert td0_update(np.array([0, 4]), 0, 1, 1, False, 0.5, 1.0)[0] == pytest.approx(2.5)


def test_inplace_updates_write_into_the_table():
    Q = _table()
    out = q_learning_update(Q, 0, 1, -1.0, 1, False, 0.5, 0.9, inplace=True)
    assert out is Q and Q[0, 1] == pytest.approx(0.85)


def test_batched_updates_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(6, 3))
    s, a = np.array([0, 2, 4]), np.array([1, 0, 2])
    # Rows 0-1, 2-3, 4-5 are three runs' tables: no entry reads a row another one writes.
    r, s_next, a_next = np.array([1.0, -1.0, 0.5]), np.array([1, 3, 5]), np.array([2, 2, 1])
    done = np.array([False, True, False])
    batched = {
        "q": q_learning_update(Q, s, a, r, s_next, done, 0.3, 0.9),
        "sarsa": sarsa_update(Q, s, a, r, s_next, a_next, done, 0.3, 0.9),
        "expected": expected_sarsa_update(Q, s, a, r, s_next, done, 0.3, 0.9, 0.2),
    }
    one_by_one = {key: Q.copy() for key in batched}
    for i in range(3):
        args = (s[i], a[i], r[i], s_next[i])
        one_by_one["q"] = q_learning_update(one_by_one["q"], *args, done[i], 0.3, 0.9)
        one_by_one["sarsa"] = sarsa_update(one_by_one["sarsa"], *args, a_next[i], done[i], 0.3, 0.9)
        one_by_one["expected"] = expected_sarsa_update(one_by_one["expected"], *args, done[i], 0.3, 0.9, 0.2)
    for key in batched:
        np.testing.assert_allclose(batched[key], one_by_one[key])


# ---------------------------------------------------------------------------------------
# Exploration
# ---------------------------------------------------------------------------------------


def test_epsilon_greedy_is_greedy_at_zero_and_breaks_ties_at_random():
    rng = np.random.default_rng(0)
    Q_s = np.array([1.0, 5.0, 5.0, 0.0])
    picks = [epsilon_greedy(Q_s, 0.0, rng) for _ in range(200)]
    assert set(picks) == {1, 2}  # both greedy actions, never another one
    assert all(isinstance(p, int) for p in picks)


def test_epsilon_greedy_matches_its_probabilities():
    rng = np.random.default_rng(1)
    Q_s = np.array([1.0, 5.0, 5.0, 0.0])
    a = epsilon_greedy(np.tile(Q_s, (40_000, 1)), 0.4, rng)
    assert a.shape == (40_000,)
    frequencies = np.bincount(a, minlength=4) / len(a)
    pi = epsilon_greedy_probabilities(Q_s, 0.4)
    np.testing.assert_allclose(pi, [0.1, 0.4, 0.4, 0.1])
    np.testing.assert_allclose(frequencies, pi, atol=0.01)


def test_epsilon_greedy_is_deterministic_given_a_seed():
    Q = np.random.default_rng(2).normal(size=(50, 4))
    first = epsilon_greedy(Q, 0.3, np.random.default_rng(7))
    second = epsilon_greedy(Q, 0.3, np.random.default_rng(7))
    assert np.array_equal(first, second)


def test_epsilon_schedules():
    assert constant_epsilon(300, 0.1, 0.0, 100) == 0.1
    assert linear_epsilon(0, 1.0, 0.1, 100) == 1.0
    assert linear_epsilon(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert linear_epsilon(500, 1.0, 0.1, 100) == pytest.approx(0.1)
    assert exponential_epsilon(0, 1.0, 0.1, 100) == 1.0
    assert exponential_epsilon(100, 1.0, 0.1, 100) == pytest.approx(0.1 + 0.9 / np.e)
    assert exponential_epsilon(10_000, 1.0, 0.1, 100) == pytest.approx(0.1)
    assert set(EPSILON_SCHEDULES) == {"constant", "linear", "exponential"}


# ---------------------------------------------------------------------------------------
# Monte Carlo pieces
# ---------------------------------------------------------------------------------------


def test_mc_returns_by_hand():
    np.testing.assert_allclose(mc_returns(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 3.5, 3.0])
    batch = mc_returns(np.array([[1.0, 1.0], [1.0, 0.0]]), 1.0)  # run 1 ended after one step
    np.testing.assert_allclose(batch, [[2.0, 1.0], [1.0, 0.0]])


def test_first_visits():
    s = np.array([[0], [1], [0], [0]])
    a = np.array([[0], [0], [0], [1]])
    valid = np.array([[True], [True], [True], [True]])
    assert first_visits(s, a, valid, n_actions=2).ravel().tolist() == [True, True, False, True]


def test_mc_update_averages_returns():
    Q, visits = np.zeros((1, 1)), np.zeros((1, 1))
    Q, visits = mc_update(Q, visits, 0, 0, 2.0, alpha=None)
    Q, visits = mc_update(Q, visits, 0, 0, 4.0, alpha=None)
    assert Q[0, 0] == pytest.approx(3.0) and visits[0, 0] == 2
    Q_const, _ = mc_update(np.zeros((1, 1)), np.zeros((1, 1)), 0, 0, 4.0, alpha=0.25)
    assert Q_const[0, 0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# The vectorized model is the environment
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cliff-walking", "frozen-lake", "taxi", "windy-gridworld"])
def test_model_matches_the_gymnasium_table(name):
    env = make_env(name)
    P = env.unwrapped.P
    model = TabularModel.from_env(env)
    assert (model.n_states, model.n_actions) == (env.observation_space.n, env.action_space.n)
    assert model.max_episode_steps == env.spec.max_episode_steps
    np.testing.assert_allclose(model.prob.sum(axis=-1), 1.0)
    for s in range(model.n_states):
        for a in range(model.n_actions):
            for k, (p, s_next, r, terminated) in enumerate(P[s][a]):
                assert (model.prob[s, a, k], model.next_state[s, a, k]) == (p, s_next)
                assert (model.reward[s, a, k], model.terminated[s, a, k]) == (r, terminated)


@pytest.mark.parametrize("name", ["cliff-walking", "windy-gridworld", "taxi"])
def test_model_steps_like_the_gymnasium_env(name):
    env = make_env(name)
    model = TabularModel.from_env(env)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=3)
    s = np.array([obs])
    for _ in range(300):
        a = int(rng.integers(model.n_actions))
        obs, r, terminated, truncated, _ = env.step(a)
        s, r_model, terminated_model, _ = model.step(s, np.array([a]), rng)
        assert (int(s[0]), float(r_model[0]), bool(terminated_model[0])) == (obs, r, terminated)
        if terminated or truncated:
            obs, _ = env.reset()
            s = np.array([obs])


def test_model_samples_slippery_outcomes_with_the_table_probabilities():
    model = TabularModel.from_env(make_env("frozen-lake"))
    rng = np.random.default_rng(0)
    s_next, *_ = model.step(np.full(30_000, 6), np.full(30_000, 1), rng)  # state 6, "down"
    frequencies = np.bincount(s_next, minlength=16) / 30_000
    expected = np.zeros(16)
    for p, s, _, _ in make_env("frozen-lake").unwrapped.P[6][1]:
        expected[s] += p
    np.testing.assert_allclose(frequencies, expected, atol=0.015)


# ---------------------------------------------------------------------------------------
# Terminated vs truncated in the control loops
# ---------------------------------------------------------------------------------------


class OneStateLoop:
    """One state, one action, reward 1 every step; the step either terminates or never does."""

    n_states, n_actions = 1, 1

    def __init__(self, terminates: bool, max_episode_steps: int):
        self.terminates, self.max_episode_steps = terminates, max_episode_steps

    def reset(self, rng, n):
        s = np.zeros(n, dtype=np.int64)
        return s, s

    def step(self, s, a, rng):
        return s, np.ones(len(s)), np.full(len(s), self.terminates), s


@pytest.mark.parametrize("algo", ["sarsa", "q-learning", "expected-sarsa", "monte-carlo"])
def test_loops_bootstrap_through_a_time_limit_but_not_through_a_real_end(algo):
    def learn(terminates: bool) -> float:
        model = OneStateLoop(terminates, max_episode_steps=3)
        if algo == "monte-carlo":
            result = monte_carlo_control(model, episodes=60, runs=2, alpha=0.5, gamma=0.5, epsilon=0.0)
        else:
            result = td_control(model, algo, episodes=200, runs=2, alpha=0.5, gamma=0.5, epsilon=0.0)
        assert result.Q.shape == (2, 1, 1)
        return float(result.Q.mean())

    # A time limit: the value is that of the endless stream, 1 / (1 - 0.5) = 2.
    assert learn(terminates=False) == pytest.approx(2.0, abs=1e-3)
    # A real end after one step: just the reward.
    assert learn(terminates=True) == pytest.approx(1.0, abs=1e-3)


def test_loop_records_returns_and_lengths_per_run():
    result = td_control(OneStateLoop(False, 4), "q-learning", episodes=5, runs=3, alpha=0.5, gamma=0.5, epsilon=0.0)
    assert result.episode_returns.shape == result.episode_lengths.shape == (5, 3)
    assert np.all(result.episode_lengths == 4) and np.all(result.episode_returns == 4.0)


def test_train_reports_every_episode_and_obeys_the_stop_flag():
    seen: list[dict] = []
    result = train_tabular(
        TabularConfig(env="windy-gridworld", algo="q-learning", episodes=50, runs=2),
        on_update=seen.append,
        should_stop=lambda: len(seen) >= 7,
    )
    assert len(seen) == 7 and result.episode_returns.shape == (7, 2)
    assert {"charts/episodic_return", "charts/episode_length", "charts/epsilon"} <= set(seen[0])
    assert seen[0]["charts/episodic_return"] == pytest.approx(result.episode_returns[0].mean())


# ---------------------------------------------------------------------------------------
# Greedy paths in the real environment
# ---------------------------------------------------------------------------------------


def test_greedy_path_follows_the_table_in_the_real_env():
    env = make_env("cliff-walking")
    UP, RIGHT, DOWN = 0, 1, 2
    Q = np.zeros((48, 4))
    Q[36, UP] = 1.0  # start (3, 0): up
    Q[24:35, RIGHT] = 1.0  # row 2: right to (2, 11)
    Q[35, DOWN] = 1.0  # then down onto the goal
    observations, actions, terminated = greedy_episode(env, Q)
    assert terminated and actions == [UP] + [RIGHT] * 11 + [DOWN]
    assert observations[0] == 36 and observations[-1] == 47
    assert greedy_path_length(env, Q) == 13
    assert greedy_path_length(env, np.zeros((48, 4)), max_steps=50) is None  # "up" into the wall forever


# ---------------------------------------------------------------------------------------
# Sutton & Barto, Examples 6.6 and 6.5
# ---------------------------------------------------------------------------------------


def _cliff(algo: str):
    config = TabularConfig(env="cliff-walking", algo=algo, episodes=500, runs=10, alpha=0.5, epsilon=0.1, seed=0)
    result = train_tabular(config)
    return result.episode_returns[-100:].mean(), greedy_path_length(make_env("cliff-walking"), result.Q.mean(axis=0))


def test_cliff_walking_sarsa_takes_the_safe_path():
    """Example 6.6: Sarsa's online return is about -25 and its path runs along the top, 17 steps."""
    mean_return, path = _cliff("sarsa")
    assert -35.0 < mean_return < -20.0
    assert path == 17


def test_cliff_walking_q_learning_takes_the_optimal_path_and_pays_for_it_online():
    """Example 6.6: Q-learning learns the 13-step path along the cliff, and epsilon-greedy
    exploration there costs it about -50 per episode."""
    mean_return, path = _cliff("q-learning")
    assert -65.0 < mean_return < -40.0
    assert path == 13


def test_windy_gridworld_sarsa():
    """Example 6.5: about 170 episodes in 8000 steps, then the greedy path takes 15 steps."""
    config = TabularConfig(env="windy-gridworld", algo="sarsa", episodes=170, runs=10, alpha=0.5, epsilon=0.1)
    result = train_tabular(config)
    steps = result.episode_lengths.sum(axis=0).mean()
    assert 6000 < steps < 11_000
    assert result.episode_lengths[-20:].mean() < 30  # it now reaches the goal quickly
    assert greedy_path_length(make_env("windy-gridworld"), result.Q.mean(axis=0)) == 15


def test_make_model_uses_the_registered_time_limit():
    assert make_model(make_env("frozen-lake")).max_episode_steps == 100
    assert make_model(make_env("cliff-walking")).max_episode_steps is None
    assert set(ENV_IDS) == {"cliff-walking", "frozen-lake", "taxi", "windy-gridworld", "dosing"}
    for env_id in ENV_IDS.values():
        assert env_id in gym.registry


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def test_cli_example_6_6_sarsa_in_a_subprocess():
    command = [sys.executable, "-m", "algorithms.tabular", "--env", "cliff-walking", "--algo", "sarsa"]
    command += ["--episodes", "500", "--runs", "50", "--alpha", "0.5", "--epsilon", "0.1", "--seed", "0", "--json"]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    lines = completed.stdout.strip().splitlines()
    assert len(lines) > 1  # progress first
    summary = json.loads(lines[-1])
    assert set(summary) == {"episode_returns", "greedy_path_length"}
    assert len(summary["episode_returns"]) == 500
    assert summary["episode_returns"][0] < -200  # the first episode wanders
    assert -35 < np.mean(summary["episode_returns"][-100:]) < -20
    assert summary["greedy_path_length"] == 17


@pytest.mark.parametrize(
    ("env", "algo"),
    [
        ("cliff-walking", "q-learning"),
        ("windy-gridworld", "expected-sarsa"),
        ("windy-gridworld", "monte-carlo"),
        ("frozen-lake", "sarsa"),
        ("taxi", "q-learning"),
        ("dosing", "q-learning"),
    ],
)
def test_cli_prints_one_json_object_last(env, algo, capsys):
    argv = ["--env", env, "--algo", algo, "--episodes", "30", "--runs", "3", "--seed", "1", "--json"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert len(summary["episode_returns"]) == 30
    assert all(np.isfinite(summary["episode_returns"]))
    path = summary["greedy_path_length"]
    assert path is None or (isinstance(path, int) and path > 0)
    if env == "dosing":
        assert 0.0 <= summary["fraction_in_range"] <= 1.0
    for line in lines[:-1]:  # progress is plain text, not JSON
        assert not line.startswith("{")
