"""Tests for algorithms/bandits.py: hand-computed values and Sutton & Barto's chapter 2 figures.

The figure tests run the book's sizes (2000 runs x 1000 steps; 1000 runs for the slower gradient
bandit). With a fixed seed they are deterministic; their bounds also hold on seeds 1, 2 and 7.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms import bandits
from algorithms.bandits import (
    UCBAgent,
    cumulative_pseudo_regret,
    epsilon_greedy,
    epsilon_greedy_actions,
    epsilon_schedule,
    gaussian_posterior,
    gaussian_thompson_action,
    gradient_bandit_update,
    incremental_update,
    joint_features,
    linear_thompson_sample,
    linucb_scores,
    make_agent,
    parse_agent,
    run_contextual,
    run_testbed,
    sample_categorical,
    sherman_morrison_update,
    softmax_preferences,
    ucb_action,
    ucb_scores,
)

REPO = Path(__file__).resolve().parents[2]


def late(curve: np.ndarray, n: int = 100) -> float:
    """The mean of the last n steps: the end of a curve, with less noise than its last point."""
    return float(curve[-n:].mean())


# ---------------------------------------------------------------------------------------------
# The small functions, by hand
# ---------------------------------------------------------------------------------------------


def test_epsilon_greedy_explores_below_epsilon_and_breaks_ties_low() -> None:
    q = np.array([0.2, 0.5, 0.5])
    assert epsilon_greedy(q, 0.1, u=0.05, k=2) == 2  # u < epsilon: the explored arm, whatever Q says
    assert epsilon_greedy(q, 0.1, u=0.05, k=0) == 0
    assert epsilon_greedy(q, 0.1, u=0.5, k=2) == 1  # greedy; arms 1 and 2 tie, the lower wins
    assert epsilon_greedy(q, 0.1, u=0.1, k=2) == 1  # u == epsilon does not explore
    assert epsilon_greedy(q, 0.0, u=0.0, k=2) == 1  # epsilon = 0 never explores
    assert epsilon_greedy(np.array([3.0, -1.0]), 1.0, u=0.999, k=1) == 1
    assert type(epsilon_greedy(q, 0.1, 0.5, 2)) is int


def test_epsilon_greedy_actions_matches_the_scalar_rule() -> None:
    rng = np.random.default_rng(0)
    Q = rng.integers(0, 3, (500, 4)).astype(float)  # small integers: plenty of ties
    u, explore_arm = rng.random(500), rng.integers(0, 4, 500)
    expected = [epsilon_greedy(Q[i], 0.3, u[i], explore_arm[i]) for i in range(500)]
    np.testing.assert_array_equal(epsilon_greedy_actions(Q, 0.3, u, explore_arm), expected)


def test_incremental_update_hand_values() -> None:
    assert incremental_update(0.5, 1.5, 0.25) == pytest.approx(0.75)
    # alpha = 1/n is the sample average (eq. 2.3).
    estimate = 0.0
    for n, R in enumerate([1.0, 2.0, 6.0, 3.0], start=1):
        estimate = incremental_update(estimate, R, 1.0 / n)
    assert estimate == pytest.approx(3.0)
    # A constant alpha weights reward i by alpha (1 - alpha)^(n - i), Q_1 by (1 - alpha)^n (eq. 2.6).
    estimate, alpha, rewards = 5.0, 0.1, [1.0, -2.0, 4.0]
    for R in rewards:
        estimate = incremental_update(estimate, R, alpha)
    expected = 0.9**3 * 5.0 + sum(alpha * 0.9 ** (3 - i) * R for i, R in enumerate(rewards, start=1))
    assert estimate == pytest.approx(expected)
    np.testing.assert_allclose(incremental_update(np.zeros(2), np.array([1.0, -1.0]), 0.5), [0.5, -0.5])


def test_ucb_action_takes_the_lowest_untried_arm_first() -> None:
    assert ucb_action(np.array([5.0, 0.0, 0.0]), np.array([1, 0, 0]), t=2, c=2.0) == 1
    assert ucb_action(np.array([0.0, 9.0, 0.0]), np.array([0, 1, 0]), t=2, c=2.0) == 0
    assert ucb_action(np.zeros(4), np.zeros(4), t=1, c=2.0) == 0
    assert ucb_action(np.array([9.0, 0.0]), np.array([3, 0]), t=4, c=0.0) == 1  # even with c = 0


def test_ucb_action_hand_values() -> None:
    q, n, t = np.array([1.0, 0.5]), np.array([10, 1]), 11
    # 1 + 2 sqrt(ln 11 / 10) = 1.979 against 0.5 + 2 sqrt(ln 11) = 3.597: the rarely tried arm.
    np.testing.assert_allclose(ucb_scores(q, n, t, 2.0), [1.979366, 3.597028], atol=1e-6)
    assert ucb_action(q, n, t, c=2.0) == 1
    # With c = 0.1: 1.048968 against 0.654851: the greedy arm.
    assert ucb_action(q, n, t, c=0.1) == 0
    assert ucb_action(np.array([1.0, 1.0, 0.5]), np.array([2, 2, 2]), t=7, c=1.0) == 0  # a tie: lowest


def test_ucb_scores_are_infinite_for_untried_arms_without_warnings() -> None:
    with np.errstate(all="raise"):
        scores = ucb_scores(np.array([0.3, 0.0, 0.0]), np.array([2, 0, 0]), t=1, c=2.0)
        batch = ucb_scores(np.zeros((3, 2)), np.array([[0, 1], [1, 1], [2, 0]]), t=3, c=1.0)
    assert scores[0] == pytest.approx(0.3)  # ln 1 = 0: no bonus at t = 1
    assert np.isposinf(scores[1:]).all()
    assert batch.shape == (3, 2)
    assert np.isposinf(batch[0, 0]) and np.isposinf(batch[2, 1])
    assert batch[1, 0] == pytest.approx(math.sqrt(math.log(3)))


def test_softmax_preferences() -> None:
    np.testing.assert_allclose(softmax_preferences(np.array([0.0, math.log(3.0)])), [0.25, 0.75])
    np.testing.assert_allclose(softmax_preferences(np.array([1000.0, 1000.0 + math.log(3.0)])), [0.25, 0.75])
    pi = softmax_preferences(np.random.default_rng(0).standard_normal((5, 4)) * 50)
    np.testing.assert_allclose(pi.sum(axis=-1), 1.0)


def test_gradient_bandit_update_hand_values() -> None:
    # Two arms, pi = (1/2, 1/2): the chosen arm gains alpha (R - Rbar)(1 - 1/2), the other loses as much.
    np.testing.assert_allclose(gradient_bandit_update(np.zeros(2), 0, 1.0, 0.0, 0.1), [0.05, -0.05])
    # pi = (1/4, 1/2, 1/4); A = 1, R - Rbar = 1, alpha = 0.5.
    H = np.array([0.0, math.log(2.0), 0.0])
    np.testing.assert_allclose(
        gradient_bandit_update(H, 1, 2.0, 1.0, 0.5), [-0.125, math.log(2.0) + 0.25, -0.125], atol=1e-12
    )
    # A reward below the baseline pushes the chosen arm down and the others up.
    down = gradient_bandit_update(np.zeros(3), 2, 0.0, 1.0, 0.3)
    assert down[2] < 0 < down[0] == down[1]
    # Batched rows agree with one-at-a-time calls.
    rng = np.random.default_rng(1)
    Hs, A, R, Rbar = rng.standard_normal((6, 4)), rng.integers(0, 4, 6), rng.standard_normal(6), rng.standard_normal(6)
    batch = gradient_bandit_update(Hs, A, R, Rbar, 0.2)
    for i in range(6):
        np.testing.assert_allclose(batch[i], gradient_bandit_update(Hs[i], int(A[i]), R[i], Rbar[i], 0.2))


def test_sample_categorical_inverts_the_cdf() -> None:
    pi = np.array([0.2, 0.5, 0.3])
    u = np.array([0.0, 0.19, 0.21, 0.69, 0.71, 0.999999])
    np.testing.assert_array_equal(sample_categorical(np.tile(pi, (6, 1)), u), [0, 0, 1, 1, 2, 2])
    counts = np.bincount(sample_categorical(np.tile(pi, (100_000, 1)), np.random.default_rng(0).random(100_000)))
    np.testing.assert_allclose(counts / 100_000, pi, atol=0.01)


def test_epsilon_schedules() -> None:
    assert epsilon_schedule(0, 0.9, 0.05, 1000, "linear") == pytest.approx(0.9)
    assert epsilon_schedule(500, 0.9, 0.05, 1000, "linear") == pytest.approx(0.475)
    assert epsilon_schedule(1000, 0.9, 0.05, 1000, "linear") == pytest.approx(0.05)
    assert epsilon_schedule(5000, 0.9, 0.05, 1000, "linear") == pytest.approx(0.05)
    assert epsilon_schedule(0) == pytest.approx(0.9)  # exponential, 0.9 -> 0.05, by default
    assert epsilon_schedule(1000) == pytest.approx(0.05 + 0.85 / math.e)
    assert 0.05 < epsilon_schedule(20_000) < 0.0501
    curve = epsilon_schedule(np.arange(3000), kind="exponential")
    assert curve.shape == (3000,) and (np.diff(curve) < 0).all()
    with pytest.raises(ValueError):
        epsilon_schedule(1, kind="cosine")  # type: ignore[arg-type]


def test_thompson_sampling_pieces() -> None:
    mean, precision = gaussian_posterior(np.array([0.0, 4.0]), np.array([0.0, 8.0]), mu0=0.0, tau0=1.0)
    np.testing.assert_allclose(mean, [0.0, 1.6])  # (1 * 0 + 8) / (1 + 4)
    np.testing.assert_allclose(precision, [1.0, 5.0])
    assert gaussian_thompson_action(np.array([1.0, 0.0]), np.ones(2), np.zeros(2)) == 0
    assert gaussian_thompson_action(np.array([1.0, 0.0]), np.ones(2), np.array([0.0, 2.0])) == 1
    assert gaussian_thompson_action(np.array([1.0, 0.0]), np.array([1.0, 100.0]), np.array([0.0, 2.0])) == 0
    rng = np.random.default_rng(0)
    arms = bandits.beta_thompson_action(np.array([[90.0, 10.0]] * 200), np.array([[10.0, 90.0]] * 200), rng)
    assert arms.shape == (200,) and (arms == 0).all()


def test_cumulative_pseudo_regret_hand_values() -> None:
    q_star = np.array([[1.0, 3.0, 2.0]])  # one run
    actions = np.array([[0], [1], [2]])  # three steps: regrets 2, 0, 1
    np.testing.assert_allclose(cumulative_pseudo_regret(q_star, actions)[:, 0], [2.0, 2.0, 3.0])
    moving = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])  # (steps, runs, k): the best arm changes
    np.testing.assert_allclose(cumulative_pseudo_regret(moving, np.array([[1], [1]]))[:, 0], [0.0, 1.0])


# ---------------------------------------------------------------------------------------------
# The testbed against Sutton & Barto's figures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fig22() -> dict[str, bandits.TestbedCurves]:
    return run_testbed(["eps:0", "eps:0.01", "eps:0.1", "ucb:2", "random"], runs=2000, steps=1000, seed=0)


def test_figure_2_2_epsilon_greedy(fig22: dict[str, bandits.TestbedCurves]) -> None:
    greedy, eps01, eps1 = fig22["eps:0"], fig22["eps:0.01"], fig22["eps:0.1"]
    for curves in (greedy, eps01, eps1):
        assert curves.avg_reward.shape == curves.optimal_pct.shape == (1000,)
        assert abs(curves.avg_reward[0]) < 0.15  # step 1 is a blind pull: E[q*(a)] = 0
    # Average reward at the end: greedy ~1.0, epsilon = 0.01 ~1.3 and climbing, epsilon = 0.1 ~1.35.
    assert 0.95 < late(greedy.avg_reward) < 1.10
    assert 1.20 < late(eps01.avg_reward) < 1.36
    assert 1.30 < late(eps1.avg_reward) < 1.42
    assert late(eps1.avg_reward) > late(eps01.avg_reward) > late(greedy.avg_reward) + 0.15
    # % optimal action: greedy finds the best arm in only about a third of the tasks.
    assert 30 < late(greedy.optimal_pct) < 42
    assert 50 < late(eps01.optimal_pct) < 66
    assert 76 < late(eps1.optimal_pct) < 86
    # epsilon = 0.1 learns faster early; epsilon = 0.01 is still improving at the end.
    assert eps1.optimal_pct[100:200].mean() > eps01.optimal_pct[100:200].mean() + 10
    assert eps01.optimal_pct[-100:].mean() > eps01.optimal_pct[400:500].mean() + 3


def test_figure_2_4_ucb_beats_epsilon_greedy_and_spikes_at_step_11(fig22: dict[str, bandits.TestbedCurves]) -> None:
    ucb, eps1 = fig22["ucb:2"], fig22["eps:0.1"]
    assert ucb.avg_reward[300:].mean() > eps1.avg_reward[300:].mean() + 0.05
    assert 1.40 < late(ucb.avg_reward) < 1.56
    # Steps 1-10 try each arm once (each is optimal in ~10% of runs); step 11 takes the arm with
    # the best single sample, E[q*] ~ 1.09; step 12 explores again.
    assert (np.abs(ucb.optimal_pct[:10] - 10) < 3).all()
    assert abs(ucb.avg_reward[:10].mean()) < 0.1
    assert 0.9 < ucb.avg_reward[10] < 1.25
    assert ucb.avg_reward[10] > ucb.avg_reward[9] + 0.7
    assert ucb.avg_reward[10] > ucb.avg_reward[11] + 0.1
    assert ucb.avg_reward[10] > ucb.avg_reward[12:30].max()


def test_ucb_tries_the_arms_in_index_order() -> None:
    agent = make_agent("ucb:2", bandits.Testbed(k=5), runs=7, rng=np.random.default_rng(0))
    assert isinstance(agent, UCBAgent)
    for t in range(1, 6):
        A = agent.act(t)
        np.testing.assert_array_equal(A, np.full(7, t - 1))  # the lowest-index untried arm
        agent.update(t, A, np.random.default_rng(t).standard_normal(7))


def test_figure_2_3_optimistic_initial_values() -> None:
    curves = run_testbed(["optimistic:5", "eps-const:0.1"], runs=2000, steps=1000, seed=0)
    optimistic, realistic = curves["optimistic:5"].optimal_pct, curves["eps-const:0.1"].optimal_pct
    assert optimistic[15:40].mean() < realistic[15:40].mean() - 10  # worse early: it explores
    assert late(optimistic, 200) > late(realistic, 200) + 5  # better later
    assert 80 < late(optimistic, 200) < 90
    assert optimistic[10] > optimistic[9] + 20  # its own step-11 spike


def test_figure_2_5_gradient_bandit_baseline() -> None:
    curves = run_testbed(["gradient:0.1", "gradient-nobaseline:0.1"], runs=1000, steps=1000, seed=0, q_mean=4.0)
    with_baseline, without = curves["gradient:0.1"], curves["gradient-nobaseline:0.1"]
    assert abs(with_baseline.optimal_pct[0] - 10) < 4  # H_1 = 0: uniform at first
    assert 78 < late(with_baseline.optimal_pct) < 92
    assert late(without.optimal_pct) < late(with_baseline.optimal_pct) - 20
    assert 3.85 < with_baseline.avg_reward[0] < 4.15  # q* centred on +4


def test_regret_is_nondecreasing_and_lower_for_ucb_than_random(fig22: dict[str, bandits.TestbedCurves]) -> None:
    for curves in fig22.values():
        assert curves.regret.shape == (1000,)
        assert (np.diff(curves.regret) >= -1e-12).all()
        assert curves.regret[-1] > 0
    # A random arm loses E[max of 10 N(0, 1)] - 0 ~ 1.539 a step.
    assert 1450 < fig22["random"].regret[-1] < 1630
    assert fig22["ucb:2"].regret[-1] < fig22["random"].regret[-1] / 5
    assert fig22["ucb:2"].regret[-1] < fig22["eps:0.1"].regret[-1] < fig22["eps:0"].regret[-1]
    assert late(fig22["random"].optimal_pct) == pytest.approx(10, abs=1.5)


def test_thompson_sampling_on_gaussian_and_bernoulli_testbeds() -> None:
    gaussian = run_testbed(["thompson", "eps:0.1"], runs=500, steps=500, seed=0)
    assert gaussian["thompson"].regret[-1] < 0.6 * gaussian["eps:0.1"].regret[-1]
    bernoulli = run_testbed(["thompson", "eps:0.1", "random"], runs=300, steps=500, seed=0, bernoulli=True)
    for curves in bernoulli.values():
        assert ((curves.avg_reward >= 0) & (curves.avg_reward <= 1)).all()
    assert bernoulli["thompson"].regret[-1] < bernoulli["eps:0.1"].regret[-1] < bernoulli["random"].regret[-1]
    assert late(bernoulli["thompson"].optimal_pct) > 60


def test_nonstationary_values_start_equal_and_constant_step_size_tracks_them() -> None:
    curves = run_testbed(["eps:0.1", "eps-const:0.1"], runs=500, steps=2000, seed=0, nonstationary=True)
    for c in curves.values():
        assert c.optimal_pct[0] == 100.0 and c.regret[0] == 0.0  # Exercise 2.5: q*(a) start out equal
    # Exercise 2.5: sample averages weigh stale rewards as much as fresh ones and fall behind.
    assert late(curves["eps-const:0.1"].avg_reward, 500) > late(curves["eps:0.1"].avg_reward, 500) + 0.05
    assert late(curves["eps-const:0.1"].optimal_pct, 500) > late(curves["eps:0.1"].optimal_pct, 500) + 10


def test_agent_curves_depend_only_on_seed_and_label() -> None:
    alone = run_testbed(["eps:0.1"], runs=200, steps=100, seed=3)["eps:0.1"]
    together = run_testbed(["ucb:2", "eps:0.1"], runs=200, steps=100, seed=3)["eps:0.1"]
    np.testing.assert_array_equal(alone.avg_reward, together.avg_reward)
    np.testing.assert_array_equal(alone.optimal_pct, together.optimal_pct)
    other_seed = run_testbed(["eps:0.1"], runs=200, steps=100, seed=4)["eps:0.1"]
    assert not np.array_equal(alone.avg_reward, other_seed.avg_reward)


def test_on_update_reports_flat_metrics() -> None:
    seen: list[dict[str, float]] = []
    run_testbed(["eps:0.1", "ucb:1"], runs=20, steps=50, seed=0, on_update=seen.append)
    assert seen and seen[-1]["global_step"] == 50 and seen[-1]["progress"] == 1.0
    assert set(seen[-1]) == {"global_step", "progress"} | {
        f"{label}/{key}" for label in ("eps:0.1", "ucb:1") for key in ("avg_reward", "optimal_pct")
    }
    assert all(isinstance(value, float) for m in seen for value in m.values())


def test_parse_agent_grammar() -> None:
    assert parse_agent("eps:0.1") == bandits.AgentSpec("eps:0.1", "eps", (0.1,))
    assert parse_agent("eps-const:0.1:0.2").args == (0.1, 0.2)
    assert parse_agent("optimistic:5").args == (5.0,)
    assert parse_agent("gradient-nobaseline:0.4").kind == "gradient-nobaseline"
    assert parse_agent("thompson") == bandits.AgentSpec("thompson", "thompson", ())
    for bad in ["eps", "eps:x", "eps:0.1:0.2", "foo:1", "ucb", "thompson:1", "eps:nan", ""]:
        with pytest.raises(ValueError):
            parse_agent(bad)
    for unbuildable in ["eps:1.5", "eps-const:0.1:0", "gradient:-0.1", "ucb:-1"]:
        with pytest.raises(ValueError):
            run_testbed([unbuildable], runs=2, steps=2, seed=0)
    for agents in (["eps:0.1", "eps:0.1"], []):
        with pytest.raises(ValueError):
            run_testbed(agents, runs=2, steps=2, seed=0)


# ---------------------------------------------------------------------------------------------
# Contextual bandits
# ---------------------------------------------------------------------------------------------


def test_contextual_pieces_by_hand() -> None:
    rng = np.random.default_rng(0)
    A = np.eye(3) * 2.0 + 0.3
    x = rng.standard_normal(3)
    np.testing.assert_allclose(sherman_morrison_update(np.linalg.inv(A), x), np.linalg.inv(A + np.outer(x, x)))
    scores = linucb_scores(np.array([[1.0, 0.0]]), np.eye(2)[None], np.array([[[1.0, 0.0], [0.0, 3.0]]]), alpha=1.0)
    np.testing.assert_allclose(scores, [[2.0, 3.0]])  # 1 + 1 * sqrt(1), 0 + 1 * sqrt(9)
    theta_hat = np.array([[0.5, -1.0]])
    np.testing.assert_allclose(linear_thompson_sample(theta_hat, np.eye(2)[None], 0.3, np.zeros((1, 2))), theta_hat)
    X = joint_features(np.array([[1.0, 2.0]]), np.array([[[1.0, 3.0], [1.0, -1.0]]]))
    np.testing.assert_allclose(X, [[[1.0, 3.0, 2.0, 6.0], [1.0, -1.0, 2.0, -2.0]]])


def test_contextual_linucb_and_linear_ts_beat_epsilon_greedy_and_random() -> None:
    curves = run_contextual(("linucb", "lints", "eps:0.1", "random"), runs=10, steps=1000, seed=0)
    final = {label: c.regret[-1] for label, c in curves.items()}
    for c in curves.values():
        assert c.regret.shape == c.avg_reward.shape == (1000,)
        assert (np.diff(c.regret) >= -1e-12).all()
    for smart in ("linucb", "lints"):
        assert final[smart] < final["eps:0.1"] < final["random"]
        assert final[smart] < final["random"] / 4
    # Learners stop paying: their last 200 steps cost far less than their first 200.
    assert curves["linucb"].regret[199] > 2 * (curves["linucb"].regret[-1] - curves["linucb"].regret[-201])


# ---------------------------------------------------------------------------------------------
# Command line, and the rules every algorithm file keeps
# ---------------------------------------------------------------------------------------------


def _last_json_line(stdout: str) -> dict[str, dict[str, object]]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_cli_testbed_prints_one_json_object_last() -> None:
    agents = "eps:0,eps:0.01,eps:0.1,ucb:2"
    cmd = [sys.executable, "-m", "algorithms.bandits", "testbed", "--runs", "50", "--steps", "40"]
    out = subprocess.run(
        [*cmd, "--agents", agents, "--seed", "0", "--json"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result = _last_json_line(out.stdout)
    assert list(result) == agents.split(",")
    for label, curves in result.items():
        assert set(curves) == {"avg_reward", "optimal_pct", "seconds"}
        assert len(curves["avg_reward"]) == len(curves["optimal_pct"]) == 40  # type: ignore[arg-type]
        assert isinstance(curves["seconds"], float)
        expected = run_testbed([label], runs=50, steps=40, seed=0)[label]
        np.testing.assert_allclose(curves["avg_reward"], expected.avg_reward)  # type: ignore[arg-type]


def test_cli_contextual_and_errors() -> None:
    base = [sys.executable, "-m", "algorithms.bandits"]
    out = subprocess.run(
        [*base, "contextual", "--runs", "3", "--steps", "30", "--seed", "0", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = _last_json_line(out.stdout)
    assert list(result) == ["linucb", "lints", "eps:0.1", "random"]
    assert all(len(c["regret"]) == 30 for c in result.values())  # type: ignore[arg-type]
    bad = subprocess.run([*base, "testbed", "--agents", "nope:1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert bandits.main(["testbed", "--runs", "10", "--steps", "5", "--agents", "gradient:0.1,thompson", "--json"]) == 0
    result = _last_json_line(capsys.readouterr().out)
    assert list(result) == ["gradient:0.1", "thompson"]
    assert len(result["thompson"]["optimal_pct"]) == 5  # type: ignore[arg-type]


def test_lesson_regions_resolve_to_the_key_lines() -> None:
    coderef = pytest.importorskip("app.content.coderef")
    regions = {
        "epsilon_greedy#eps-greedy": "if u < epsilon:",
        "incremental_update#incremental-update": "return q + alpha * (r - q)",
        "ucb_scores#ucb-score": "np.sqrt(np.log(t)",
        "gradient_bandit_update#gradient-update": "alpha * advantage * (one_hot - pi)",
        "gaussian_thompson_action#thompson-sample": "mean + z / np.sqrt(precision)",
    }
    for ref, key_line in regions.items():
        snippet = coderef.resolve(f"algorithms.bandits:{ref}")
        assert key_line in snippet.text, ref
        assert "lesson:" not in snippet.text
    names = coderef.regions_in(Path(bandits.__file__))
    assert {name: len(lines) for name, lines in names.items()} == {ref.split("#")[1]: 1 for ref in regions}
