"""Tests of algorithms/mdp.py against Sutton & Barto's published numbers, hand computations and Gymnasium.

Book figures print values to one decimal; we accept anything within half a unit of the printed
digit (the book rounds -1.75 to -1.7 in Figure 4.1, so plain rounding cannot be compared).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms import mdp as M
from algorithms.mdp import (
    FiniteMDP,
    bellman_expectation_backup,
    bellman_optimality_backup,
    exact_policy_evaluation,
    from_transition_lists,
    greedy_actions,
    greedy_policy,
    gridworld_4x4,
    gridworld_5x5,
    in_place_expectation_sweep,
    make_mdp,
    one_hot_policy,
    policy_evaluation,
    policy_iteration,
    uniform_policy,
    value_iteration,
)

REPO = Path(__file__).resolve().parents[2]
UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3  # our gridworlds' action order
HALF_DIGIT = 0.05 + 1e-9  # half a unit of the book's one printed decimal

# S&B Figure 3.2 (Example 3.5): the equiprobable random policy on the 5x5 grid, gamma = 0.9.
FIGURE_3_2 = [
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
]
# S&B Figure 3.5 (Example 3.8): v_* on the same grid.
FIGURE_3_5 = [
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
]
# S&B Figure 4.1 (Example 4.1): v_k of the equiprobable random policy on the 4x4 grid, gamma = 1.
FIGURE_4_1 = {
    1: [[0.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, 0.0]],
    2: [[0.0, -1.7, -2.0, -2.0], [-1.7, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -1.7], [-2.0, -2.0, -1.7, 0.0]],
    3: [[0.0, -2.4, -2.9, -3.0], [-2.4, -2.9, -3.0, -2.9], [-2.9, -3.0, -2.9, -2.4], [-3.0, -2.9, -2.4, 0.0]],
    10: [[0.0, -6.1, -8.4, -9.0], [-6.1, -7.7, -8.4, -8.4], [-8.4, -8.4, -7.7, -6.1], [-9.0, -8.4, -6.1, 0.0]],
}
FIGURE_4_1_INF = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]
# v_* of the 4x4 grid: minus the number of steps to the nearest corner.
V_STAR_4X4 = [[0, -1, -2, -3], [-1, -2, -3, -2], [-2, -3, -2, -1], [-3, -2, -1, 0]]


def assert_matches_book(V: np.ndarray, table: list[list[float]]) -> None:
    diff = np.abs(np.asarray(V) - np.asarray(table))
    assert diff.max() <= HALF_DIGIT, f"off by {diff.max():.3f} at {np.unravel_index(diff.argmax(), diff.shape)}"


@pytest.fixture(scope="module")
def grid5() -> FiniteMDP:
    return gridworld_5x5(gamma=0.9)


@pytest.fixture(scope="module")
def grid4() -> FiniteMDP:
    return gridworld_4x4()


@pytest.fixture(scope="module")
def frozen_lake() -> FiniteMDP:
    return make_mdp("frozen-lake", gamma=0.99)


@pytest.fixture(scope="module")
def random4(grid4: FiniteMDP):
    """Figure 4.1 in one run: exactly 10 synchronous sweeps (theta = 0 never stops early)."""
    return policy_evaluation(grid4.P, grid4.R, uniform_policy(16, 4), gamma=1.0, theta=0.0, max_sweeps=10)


# --- Hand-computed backups on a two-state MDP ----------------------------------------------------

# Two states, two actions. From state 0, action 0 stays and pays 1; action 1 pays 0 and goes to
# either state with probability 1/2. From state 1, action 0 stays and pays 2; action 1 pays -1 and
# goes to state 0. With V = (10, 20) and gamma = 1/2:
#   q(0, 0) = 1 + 0.5 * 10 = 6          q(0, 1) = 0 + 0.5 * (0.5 * 10 + 0.5 * 20) = 7.5
#   q(1, 0) = 2 + 0.5 * 20 = 12         q(1, 1) = -1 + 0.5 * 10 = 4
TWO_P = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [1.0, 0.0]]])
TWO_R = np.array([[1.0, 0.0], [2.0, -1.0]])
TWO_V = np.array([10.0, 20.0])


def test_optimality_backup_by_hand() -> None:
    V_new = bellman_optimality_backup(TWO_P, TWO_R, TWO_V, 0.5)
    assert V_new.shape == (2,)
    np.testing.assert_allclose(V_new, [7.5, 12.0])
    np.testing.assert_array_equal(TWO_V, [10.0, 20.0])  # the input is not modified


def test_expectation_backup_by_hand() -> None:
    pi = np.array([[0.5, 0.5], [0.25, 0.75]])
    V_new = bellman_expectation_backup(TWO_P, TWO_R, pi, TWO_V, 0.5)
    np.testing.assert_allclose(V_new, [0.5 * 6 + 0.5 * 7.5, 0.25 * 12 + 0.75 * 4])


def test_greedy_policy_by_hand() -> None:
    np.testing.assert_array_equal(greedy_policy(TWO_P, TWO_R, TWO_V, 0.5), [1, 0])
    np.testing.assert_array_equal(greedy_actions(TWO_P, TWO_R, TWO_V, 0.5), [[False, True], [True, False]])


def test_greedy_ties_go_to_the_lowest_index_despite_float_noise() -> None:
    # With gamma = 0, q = R: state 0 ties three ways (one tie off by float noise), state 1 two ways.
    R = np.array([[1.0, 1.0 + 1e-13, 1.0], [0.0, 5.0, 5.0], [0.0, 1e-3, 0.0]])
    P = np.broadcast_to(np.eye(3)[:, None, :], (3, 3, 3))
    V = np.zeros(3)
    np.testing.assert_array_equal(greedy_policy(P, R, V, 0.0), [0, 1, 1])
    np.testing.assert_array_equal(
        greedy_actions(P, R, V, 0.0), [[True, True, True], [False, True, True], [False, True, False]]
    )


# --- Example 3.5 / 3.8: the 5x5 gridworld --------------------------------------------------------


def test_gridworld_5x5_model(grid5: FiniteMDP) -> None:
    A, A_prime, B, B_prime = 1, 21, 3, 13
    assert grid5.P.shape == (25, 4, 25) and grid5.R.shape == (25, 4)
    assert np.all(grid5.P[A, :, A_prime] == 1.0) and np.all(grid5.R[A] == 10.0)
    assert np.all(grid5.P[B, :, B_prime] == 1.0) and np.all(grid5.R[B] == 5.0)
    assert grid5.R[0, UP] == -1.0 and grid5.P[0, UP, 0] == 1.0  # off the grid: -1, stay
    assert grid5.R[0, RIGHT] == 0.0 and grid5.P[0, RIGHT, 1] == 1.0
    assert not grid5.terminal.any()
    assert grid5.state_labels[A] == "A" and grid5.state_labels[B_prime] == "B'"


def test_figure_3_2_random_policy_values(grid5: FiniteMDP) -> None:
    result = policy_evaluation(grid5.P, grid5.R, uniform_policy(25, 4), grid5.gamma)
    assert result.converged
    V = grid5.to_grid(result.V)
    assert_matches_book(V, FIGURE_3_2)
    assert V[0, 1] == pytest.approx(8.7893, abs=1e-4)


def test_figure_3_5_optimal_values_and_policy(grid5: FiniteMDP) -> None:
    result = value_iteration(grid5.P, grid5.R, grid5.gamma)
    assert result.converged
    V = grid5.to_grid(result.V)
    assert_matches_book(V, FIGURE_3_5)
    # From A every action pays 10 and lands on A', which walks back up to A in 4 steps paying 0:
    # v*(A) = 10 + gamma^5 v*(A), so v*(A) = 10 / (1 - 0.9^5).
    assert V[0, 1] == pytest.approx(10 / (1 - 0.9**5), abs=1e-8)
    best = grid5.to_grid(greedy_actions(grid5.P, grid5.R, result.V, grid5.gamma))  # (5, 5, 4)
    assert best[0, 0].tolist() == [False, True, False, False]  # right, into A
    assert best[0, 1].all()  # in A every action is the same
    assert best[1, 0].tolist() == [True, True, False, False]  # up or right (Figure 3.5, right)
    assert best[0, 2].tolist() == [False, False, False, True]  # left, into A
    assert best[4, 4].tolist() == [True, False, False, True]  # up or left
    assert grid5.to_grid(result.policy)[0].tolist() == [RIGHT, UP, LEFT, UP, LEFT]  # ties -> lowest index


# --- Example 4.1: the 4x4 gridworld -------------------------------------------------------------


@pytest.mark.parametrize("k", sorted(FIGURE_4_1))
def test_figure_4_1_random_policy_after_k_sweeps(grid4: FiniteMDP, random4, k: int) -> None:
    assert_matches_book(grid4.to_grid(random4.history[k]), FIGURE_4_1[k])


def test_figure_4_1_history_by_hand(random4) -> None:
    assert random4.sweeps == 10 and len(random4.history) == 11 and not random4.converged
    np.testing.assert_array_equal(random4.history[0], np.zeros(16))
    # k = 2, state 1: -1 + (v_1(1) + v_1(T) + v_1(2) + v_1(5)) / 4 = -1 + (-1 + 0 - 1 - 1) / 4
    assert random4.history[2][1] == -1.75
    # k = 3, state 1: -1 + (-1.75 + 0 - 2 - 2) / 4; state 5: -1 + (-1.75 - 1.75 - 2 - 2) / 4
    assert random4.history[3][1] == -2.4375
    assert random4.history[3][5] == -2.875


def test_figure_4_1_limit_three_ways(grid4: FiniteMDP) -> None:
    pi = uniform_policy(16, 4)
    sync = policy_evaluation(grid4.P, grid4.R, pi, 1.0, theta=1e-10)
    in_place = policy_evaluation(grid4.P, grid4.R, pi, 1.0, theta=1e-10, in_place=True)
    exact = exact_policy_evaluation(grid4.P, grid4.R, pi, 1.0)
    np.testing.assert_allclose(grid4.to_grid(exact), FIGURE_4_1_INF, atol=1e-9)
    np.testing.assert_allclose(sync.V, exact, atol=1e-7)
    np.testing.assert_allclose(in_place.V, exact, atol=1e-7)
    assert sync.converged and in_place.converged
    assert in_place.sweeps < sync.sweeps  # S&B section 4.1: in-place usually converges faster


def test_figure_4_1_greedy_policies(grid4: FiniteMDP, random4) -> None:
    exact = exact_policy_evaluation(grid4.P, grid4.R, uniform_policy(16, 4), 1.0)
    best = greedy_actions(grid4.P, grid4.R, exact, 1.0)  # (16, 4), the right column at k = infinity
    assert best[2].tolist() == [False, False, False, True]  # left
    assert best[3].tolist() == [False, False, True, True]  # down or left
    assert best[5].tolist() == [True, False, False, True]  # up or left
    assert best[6].tolist() == [False, False, True, True]  # down or left
    assert best[10].tolist() == [False, True, True, False]  # right or down
    # "...all policies after the third iteration are optimal": greedy in v_3 is already optimal.
    greedy_3 = greedy_policy(grid4.P, grid4.R, random4.history[3], 1.0)
    v_greedy_3 = exact_policy_evaluation(grid4.P, grid4.R, one_hot_policy(greedy_3, 4), 1.0)
    np.testing.assert_allclose(grid4.to_grid(v_greedy_3), V_STAR_4X4, atol=1e-9)


def test_in_place_sweep_uses_new_values(grid4: FiniteMDP) -> None:
    pi = uniform_policy(16, 4)
    V0 = np.zeros(16)
    V1 = in_place_expectation_sweep(grid4.P, grid4.R, pi, V0, 1.0)
    # State 1 sees only zeros: -1. State 2 already sees the new v(1) = -1: -1 + (-1) / 4.
    assert V1[1] == -1.0 and V1[2] == -1.25
    np.testing.assert_array_equal(V0, np.zeros(16))  # the input is not modified


def test_4x4_optimal(grid4: FiniteMDP) -> None:
    vi = value_iteration(grid4.P, grid4.R, 1.0)
    pi_ = policy_iteration(grid4.P, grid4.R, 1.0)
    np.testing.assert_array_equal(grid4.to_grid(vi.V), V_STAR_4X4)
    np.testing.assert_allclose(pi_.V, vi.V, atol=1e-9)
    np.testing.assert_array_equal(pi_.policy, vi.policy)
    assert vi.sweeps == 4  # 3 sweeps to reach the far corners, 1 to see nothing move
    assert pi_.iterations == 2  # greedy in v_random is already optimal (Figure 4.1)
    assert vi.policy[1] == LEFT and vi.policy[4] == UP


def test_exact_evaluation_rejects_a_policy_that_never_ends(grid4: FiniteMDP) -> None:
    always_up = one_hot_policy(np.zeros(16, dtype=int), 4)  # state 1 bumps into the top wall forever
    with pytest.raises(ValueError, match="from state 1 it never reaches a terminal state"):
        exact_policy_evaluation(grid4.P, grid4.R, always_up, 1.0)
    V = exact_policy_evaluation(grid4.P, grid4.R, always_up, 0.5)  # fine when discounted
    assert V[1] == pytest.approx(-2.0)  # -1 / (1 - 0.5)


# --- Policy iteration and value iteration agree ----------------------------------------------------


def test_policy_iteration_matches_value_iteration_on_5x5(grid5: FiniteMDP) -> None:
    vi = value_iteration(grid5.P, grid5.R, grid5.gamma)
    pi_ = policy_iteration(grid5.P, grid5.R, grid5.gamma)
    np.testing.assert_allclose(pi_.V, vi.V, atol=1e-8)
    np.testing.assert_array_equal(pi_.policy, vi.policy)
    assert len(pi_.history) == len(pi_.policies) == pi_.iterations


def test_policy_iteration_matches_value_iteration_on_frozen_lake(frozen_lake: FiniteMDP) -> None:
    vi = value_iteration(frozen_lake.P, frozen_lake.R, frozen_lake.gamma)
    pi_ = policy_iteration(frozen_lake.P, frozen_lake.R, frozen_lake.gamma)
    np.testing.assert_allclose(pi_.V, vi.V, atol=1e-8)
    np.testing.assert_array_equal(pi_.policy, vi.policy)
    # Left, down, right, up = 0, 1, 2, 3; holes and the goal are terminal (action 0 by the tie rule).
    assert vi.policy.tolist() == [0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0]
    assert vi.V[0] == pytest.approx(0.5420, abs=1e-4)
    assert vi.V[14] == pytest.approx(0.8628, abs=1e-4)


# --- Gymnasium models ------------------------------------------------------------------------------


def test_frozen_lake_model(frozen_lake: FiniteMDP) -> None:
    left, right = 0, 2
    assert frozen_lake.grid_shape == (4, 4)
    assert "".join(frozen_lake.state_labels) == "SFFFFHFHFFFHHFFG"
    assert frozen_lake.action_labels == ("left", "down", "right", "up")
    assert np.flatnonzero(frozen_lake.terminal).tolist() == [5, 7, 11, 12, 15]
    # Slippery: the intended move with probability 1/3, each perpendicular one with 1/3.
    # Left from the corner: left or up bumps the wall (stay), down reaches state 4.
    assert frozen_lake.P[0, left, 0] == pytest.approx(2 / 3) and frozen_lake.P[0, left, 4] == pytest.approx(1 / 3)
    assert frozen_lake.R[14, right] == pytest.approx(1 / 3)  # reaches the goal 1 time in 3
    assert np.all(frozen_lake.P[15, :, 15] == 1.0) and np.all(frozen_lake.R[15] == 0.0)  # no bootstrap


def test_cliff_walking_undiscounted() -> None:
    cliff = make_mdp("cliff-walking", gamma=1.0)
    start, goal = 36, 47
    assert cliff.grid_shape == (4, 12)
    assert np.flatnonzero(cliff.terminal).tolist() == [goal]
    assert cliff.P[start, RIGHT, start] == 1.0 and cliff.R[start, RIGHT] == -100.0  # the cliff sends you back
    vi = value_iteration(cliff.P, cliff.R, 1.0)
    assert vi.V[start] == -13.0  # up, 11 steps right along the edge, down (S&B Example 6.6)
    assert vi.policy[start] == UP
    np.testing.assert_array_equal(vi.policy[24:35], RIGHT)  # along the edge of the cliff


def test_taxi_optimal_values_match_rollouts_in_gymnasium() -> None:
    import gymnasium as gym

    taxi = make_mdp("taxi", gamma=1.0)
    assert (taxi.num_states, taxi.num_actions) == (500, 6)
    assert taxi.grid_shape is None
    assert taxi.terminal.sum() == 4  # taxi and passenger both at the destination
    vi = value_iteration(taxi.P, taxi.R, 1.0)
    assert vi.converged

    env = gym.make("Taxi-v4").unwrapped
    starts = np.flatnonzero(env.initial_state_distrib)
    assert len(starts) == 300
    for s0 in starts:  # Taxi is deterministic: the greedy policy's return must equal v*(s0)
        env.reset(seed=0)
        env.s = int(s0)
        s, ret, terminated = int(s0), 0.0, False
        for _ in range(50):
            s, r, terminated, _, _ = env.step(int(vi.policy[s]))
            ret += r
            if terminated:
                break
        assert terminated and ret == vi.V[s0], f"start {s0}: return {ret}, v* {vi.V[s0]}"
    assert vi.V[starts].mean() == pytest.approx(7.93)


def test_transition_lists_reject_ambiguous_terminals() -> None:
    # State 0 reaches state 2 by a terminating move (action 0) and by a continuing one (action 1).
    model = {
        0: {0: [(1.0, 2, 1.0, True)], 1: [(1.0, 2, 0.0, False)]},
        1: {0: [(1.0, 1, 0.0, False)], 1: [(1.0, 1, 0.0, False)]},
        2: {0: [(1.0, 2, 0.0, True)], 1: [(1.0, 2, 0.0, True)]},
    }
    with pytest.raises(ValueError, match="state 0 moves without terminating"):
        from_transition_lists(model, 3, 2, 0.9, initial_states=[0])
    # Allowed when only unreachable states do it.
    mdp = from_transition_lists(model, 3, 2, 0.9, initial_states=[1])
    assert mdp.terminal.tolist() == [False, False, True]
    assert mdp.R[0].tolist() == [1.0, 0.0]


# --- Validation -----------------------------------------------------------------------------------


def _valid() -> dict:
    return {"P": TWO_P.copy(), "R": TWO_R.copy(), "gamma": 0.9}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"P": np.ones((2, 2))}, r"P must have shape \(S, A, S\), got \(2, 2\)"),
        ({"P": np.full((2, 2, 3), 1 / 3)}, r"P must have shape \(S, A, S\), got \(2, 2, 3\)"),
        ({"R": np.zeros((2, 3))}, r"R must have shape \(S, A\) = \(2, 2\) to match P, got \(2, 3\)"),
        ({"R": np.zeros(2)}, r"R must have shape \(S, A\)"),
        ({"P": TWO_P * np.array([1, 1, 0.9, 1]).reshape(2, 2, 1)}, r"P\[1, 0, :\] sums to 0\.9"),
        ({"P": np.array([[[1.5, -0.5], [0.5, 0.5]], [[0, 1], [1, 0]]])}, r"non-negative.*P\[0, 0, 1\] = -0\.5"),
        ({"gamma": 1.5}, r"gamma must be in \[0, 1\], got 1\.5"),
        ({"terminal": np.array([True, False])}, r"terminal state 0 must be absorbing with zero reward"),
        ({"terminal": np.array([1, 0])}, r"terminal must be a bool mask"),
        ({"grid_shape": (3, 1)}, r"grid_shape \(3, 1\) must be \(rows, cols\) with rows \* cols = S = 2"),
        ({"action_labels": ("a",)}, r"action_labels must have 2 entries, got 1"),
    ],
)
def test_validation_names_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FiniteMDP(**(_valid() | change))


def test_rows_off_by_more_than_one_are_counted() -> None:
    with pytest.raises(ValueError, match=r"P\[0, 0, :\] sums to 0\.5 \(3 other \(s, a\) pairs are off too\)"):
        FiniteMDP(P=TWO_P / 2, R=TWO_R, gamma=0.9)


def test_mdp_is_a_read_only_copy() -> None:
    P = TWO_P.copy()
    mdp = FiniteMDP(P=P, R=TWO_R, gamma=0.9)
    P[0, 0, 0] = 0.0
    assert mdp.P[0, 0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        mdp.P[0, 0, 0] = 0.5


def test_make_mdp_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown MDP 'grid'"):
        make_mdp("grid")


# --- Source: lesson regions and layering -------------------------------------------------------------

REGIONS = [
    "expectation-backup",
    "optimality-backup",
    "greedy-policy",
    "policy-evaluation-sweep",
    "value-iteration-loop",
]


def test_lesson_regions_are_well_formed() -> None:
    lines = Path(M.__file__).read_text().splitlines()
    markers = [
        (i, m.group(1), m.group(2))
        for i, line in enumerate(lines)
        if (m := re.fullmatch(r"\s*# lesson:(start|end) ([a-z0-9-]+)", line))
    ]
    assert all("lesson:" not in line for i, line in enumerate(lines) if i not in {j for j, _, _ in markers})
    starts = [name for _, kind, name in markers if kind == "start"]
    assert len(starts) == len(set(starts)), "region names must be unique"
    assert set(REGIONS) <= set(starts)
    open_region = None
    for i, kind, name in markers:  # regions neither nest nor overlap, and none is empty
        if kind == "start":
            assert open_region is None, f"{name} opens inside {open_region}"
            open_region, first = name, i
        else:
            assert open_region == name, f"lesson:end {name} without its start"
            assert i > first + 1, f"{name} is empty"
            open_region = None
    assert open_region is None


def test_each_region_lies_inside_one_function() -> None:
    # A lesson shows a region of one function (app/content/coderef.py reads the function's lines
    # only), so a marker after the function's last statement, e.g. after a return, is not found.
    text = Path(M.__file__).read_text()
    lines = text.splitlines()
    functions = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef)]
    names = re.findall(r"# lesson:start ([a-z0-9-]+)", text)
    assert set(REGIONS) <= set(names)
    for name in names:
        start = lines.index(next(line for line in lines if line.strip() == f"# lesson:start {name}")) + 1
        end = lines.index(next(line for line in lines if line.strip() == f"# lesson:end {name}")) + 1
        assert any(f.lineno < start < end <= f.end_lineno for f in functions), f"{name} is not inside a function"


def test_regions_hold_the_equations() -> None:
    text = Path(M.__file__).read_text()

    def region(name: str) -> str:
        return text.split(f"# lesson:start {name}\n")[1].split(f"# lesson:end {name}")[0]

    assert "V_new = np.max(Q, axis=1)" in region("optimality-backup")
    assert "pi * Q" in region("expectation-backup")
    assert "np.argmax" in region("greedy-policy")
    assert "for s in range" in region("policy-evaluation-sweep")
    assert "bellman_optimality_backup" in region("value-iteration-loop")


def test_imports_no_streamlit_and_nothing_from_app() -> None:
    tree = ast.parse(Path(M.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in modules if m.split(".")[0] in {"streamlit", "app"}}


# --- Command line -----------------------------------------------------------------------------------


CLI_COMMANDS = {
    "evaluate-5x5": "evaluate --env gridworld-5x5 --gamma 0.9",
    "vi-5x5": "value-iteration --env gridworld-5x5 --gamma 0.9",
    "evaluate-4x4-k3": "evaluate --env gridworld-4x4 --sweeps 3",
    "evaluate-4x4": "evaluate --env gridworld-4x4",
    "vi-4x4": "value-iteration --env gridworld-4x4",
    "vi-frozen-lake": "value-iteration --env frozen-lake",
    "vi-cliff-undiscounted": "value-iteration --env cliff-walking --gamma 1",
    "vi-taxi": "value-iteration --env taxi",
}


@pytest.fixture(scope="module")
def cli() -> dict[str, dict]:
    """Each of CLI_COMMANDS run as ``python -m algorithms.mdp ... --json``, all at once, parsed from
    the JSON on the last line of stdout."""
    running = {
        key: subprocess.Popen(
            [sys.executable, "-m", "algorithms.mdp", *command.split(), "--json"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, command in CLI_COMMANDS.items()
    }
    outputs = {}
    for key, process in running.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"{CLI_COMMANDS[key]} failed:\n{stderr}"
        lines = stdout.strip().splitlines()
        assert len(lines) > 1, "progress lines come before the JSON"
        outputs[key] = json.loads(lines[-1])
    return outputs


def test_cli_evaluate_5x5(cli: dict[str, dict]) -> None:
    out = cli["evaluate-5x5"]
    assert_matches_book(out["V"], FIGURE_3_2)
    assert out["V"][0][1] == 8.7893  # rounded to 4 decimals


def test_cli_value_iteration_5x5(cli: dict[str, dict]) -> None:
    out = cli["vi-5x5"]
    assert_matches_book(out["V"], FIGURE_3_5)
    assert out["V"][0][1] == 24.4194
    assert out["policy"][0] == [RIGHT, UP, LEFT, UP, LEFT]
    assert out["actions"] == ["up", "right", "down", "left"]
    assert isinstance(out["sweeps"], int) and out["sweeps"] > 0


def test_cli_evaluate_4x4_after_3_sweeps(cli: dict[str, dict]) -> None:
    out = cli["evaluate-4x4-k3"]
    assert out["gamma"] == 1.0 and out["sweeps"] == 3 and out["converged"] is False
    assert_matches_book(out["V"], FIGURE_4_1[3])
    assert out["V"][0][1] == -2.4375 and out["V"][1][1] == -2.875  # exact in binary, so unrounded


@pytest.mark.parametrize("k", [1, 2, 10])
def test_cli_evaluate_4x4_after_k_sweeps_in_process(k: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert M.main(["evaluate", "--env", "gridworld-4x4", "--sweeps", str(k), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sweeps"] == k
    assert_matches_book(out["V"], FIGURE_4_1[k])


def test_cli_4x4_limit_and_optimum(cli: dict[str, dict]) -> None:
    assert cli["evaluate-4x4"]["V"] == FIGURE_4_1_INF
    out = cli["vi-4x4"]
    assert out["V"] == V_STAR_4X4
    assert out["policy"][0][1:3] == [LEFT, LEFT]


def test_cli_frozen_lake(cli: dict[str, dict]) -> None:
    out = cli["vi-frozen-lake"]
    assert out["gamma"] == 0.99
    assert out["V"][0][0] == 0.542
    assert out["policy"] == [[0, 3, 3, 3], [0, 0, 0, 0], [3, 1, 0, 0], [0, 2, 1, 0]]
    assert out["actions"] == ["left", "down", "right", "up"]


def test_cli_cliff_walking(cli: dict[str, dict], capsys: pytest.CaptureFixture[str]) -> None:
    out = cli["vi-cliff-undiscounted"]
    assert out["gamma"] == 1.0
    assert out["V"][3][0] == -13.0
    assert out["policy"][3][0] == UP
    assert M.main(["value-iteration", "--env", "cliff-walking", "--json"]) == 0  # default gamma 0.9
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["V"][3][0] == pytest.approx(-(1 - 0.9**13) / (1 - 0.9), abs=1e-4)


def test_cli_taxi_is_flat(cli: dict[str, dict]) -> None:
    out = cli["vi-taxi"]
    assert len(out["V"]) == len(out["policy"]) == 500
    assert out["actions"] == ["south", "north", "east", "west", "pickup", "dropoff"]


def test_cli_in_process_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert M.main(["evaluate", "--env", "gridworld-4x4", "--in-place", "--json"]) == 0
    in_place = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert in_place["V"] == FIGURE_4_1_INF and in_place["sweeps"] < 426
    assert M.main(["evaluate", "--env", "gridworld-4x4", "--exact", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["V"] == FIGURE_4_1_INF
    assert M.main(["policy-iteration", "--env", "gridworld-5x5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["V"][0][1] == 24.4194 and out["iterations"] >= 2
    with pytest.raises(SystemExit) as exit_info:
        M.main(["evaluate", "--gamma", "1.5"])
    assert exit_info.value.code == 2
    assert "gamma must be in [0, 1]" in capsys.readouterr().err
