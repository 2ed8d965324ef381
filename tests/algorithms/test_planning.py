"""Dyna-Q against Sutton & Barto's Dyna Maze (Example 8.1, Figure 8.2), and UCT against tic-tac-toe
solved exactly (its known counts: 5,478 positions, 255,168 games, a draw)."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from algorithms.planning import (
    EMPTY,
    DynaConfig,
    DynaModel,
    Maze,
    best_move,
    count_positions,
    dyna_q_curves,
    legal_moves,
    mcts,
    minimax_move_values,
    minimax_value,
    parse_board,
    play,
    q_update,
    to_move,
    uct_score,
    versus_minimax,
    visit_table,
    winner,
)

ROOT = Path(__file__).resolve().parents[2]


# --- the maze and the Dyna-Q pieces --------------------------------------------------------------


def test_dyna_maze_is_the_books() -> None:
    maze = Maze()
    assert (maze.height, maze.width) == (6, 9)
    assert divmod(maze.start, maze.width) == (2, 0) and divmod(maze.goal, maze.width) == (0, 8)
    assert maze.shortest_path() == 14  # Example 8.1: the optimal path is 14 steps


def test_maze_steps_walls_edges_and_goal() -> None:
    maze = Maze()
    s = maze.start  # (2, 0)
    assert maze.step(s, 2) == (0.0, s + 1, False)  # right into (2, 1)
    assert maze.step(s + 1, 2) == (0.0, s + 1, False)  # (2, 2) is a wall: stay
    assert maze.step(s, 3) == (0.0, s, False)  # off the left edge: stay
    assert maze.step(maze.goal + maze.width, 0) == (1.0, maze.goal, True)  # up into G


def test_a_bad_maze_is_refused() -> None:
    with pytest.raises(ValueError, match="same width"):
        Maze(("S..", "..G."))
    with pytest.raises(ValueError, match="one S and one G"):
        Maze(("S..", "..."))


def test_q_update_by_hand() -> None:
    Q = [[0.0, 0.0], [1.0, 3.0]]
    q_update(Q, 0, 1, 0.5, 1, False, alpha=0.1, gamma=0.9)
    assert Q[0][1] == pytest.approx(0.1 * (0.5 + 0.9 * 3.0))
    q_update(Q, 0, 0, 2.0, 1, True, alpha=0.5, gamma=0.9)  # terminal: no bootstrap
    assert Q[0][0] == pytest.approx(1.0)


def test_model_replays_only_what_was_seen() -> None:
    model = DynaModel()
    model.record(3, 1, 0.0, 4, False)
    model.record(3, 2, 1.0, 5, True)
    model.record(3, 1, 0.0, 6, False)  # deterministic model: the latest outcome replaces the old one
    assert model.states_seen == [3] and model.actions_seen[3] == [1, 2]
    rng = random.Random(0)
    samples = {model.sample(rng) for _ in range(50)}
    assert samples == {(3, 1, 0.0, 6, False), (3, 2, 1.0, 5, True)}


def test_planning_speeds_up_learning_quickly() -> None:
    curves = dyna_q_curves(DynaConfig(planning_steps=(0, 50), episodes=10, runs=5))
    later = {n: sum(c[2:]) / 8 for n, c in curves.items()}  # episodes 3 to 10
    assert later[50] < 25 < 100 < later[0], later


@pytest.mark.slow
def test_figure_8_2_shape() -> None:
    """30 runs, 50 episodes, n = 0, 5, 50 (about 15 s): planning cuts the episodes needed from about
    25 (n = 0) to about 5 (n = 5) and 3 (n = 50)."""
    curves = dyna_q_curves(DynaConfig())
    zero, five, fifty = curves[0], curves[5], curves[50]
    assert fifty[1] < 60 < five[1] < 250 < zero[1]  # episode 2
    assert fifty[2] < 25 and five[4] < 30 and zero[4] > 100  # episodes 3 and 5
    assert min(i for i, v in enumerate(zero) if v < 25) + 1 in range(15, 35)  # n = 0 gets there around 25
    for curve in curves.values():
        assert 14 <= sum(curve[-10:]) / 10 < 20  # near the optimum of 14; epsilon = 0.1 costs a few steps


# --- tic-tac-toe ---------------------------------------------------------------------------------


def test_tic_tac_toe_counts_match_the_known_numbers() -> None:
    positions, games = count_positions()
    assert positions == 5478  # distinct positions reachable in legal play, the empty board included
    assert games == 255168  # complete games
    assert minimax_value(EMPTY) == 0  # perfect play draws


def test_rules() -> None:
    board = parse_board("XX.OO....")
    assert to_move(board) == 1 and legal_moves(board) == [2, 5, 6, 7, 8]
    assert winner(play(board, 2)) == 1
    assert winner(parse_board("XOXXOOOXX")) == 0
    with pytest.raises(ValueError, match="cannot be played"):
        play(board, 0)
    with pytest.raises(ValueError, match="9 cells"):
        parse_board("XX")
    with pytest.raises(ValueError, match="X moves first"):
        parse_board("OO.......")


def test_minimax_move_values() -> None:
    values = minimax_move_values(parse_board("XX.OO...."))  # X to move: 2 wins at once
    assert values[2] == 1
    assert max(minimax_move_values(parse_board("X.O.X....")).items(), key=lambda kv: kv[1]) == (8, 0)


# --- UCT -----------------------------------------------------------------------------------------


def test_uct_score_by_hand() -> None:
    assert uct_score(3.0, 4, 20, c=math.sqrt(2)) == pytest.approx(0.75 + math.sqrt(2 * math.log(20) / 4))
    assert uct_score(0.0, 0, 5, c=1.0) == math.inf


def test_visits_add_up_and_search_is_repeatable() -> None:
    board = parse_board("X.O.X....")
    root = mcts(board, 500, seed=3)
    assert root.n == 500 and sum(child.n for child in root.children) == 500
    assert [r["visits"] for r in visit_table(root)] == [r["visits"] for r in visit_table(mcts(board, 500, seed=3))]


@pytest.mark.parametrize(
    ("board", "move"),
    [("XX.OO....", 2), ("XX.OO.X..", 5), ("X.O.X....", 8)],
    ids=["win-now", "win-not-block", "block-the-diagonal"],
)
def test_search_finds_the_only_good_move(board: str, move: int) -> None:
    root = mcts(parse_board(board), 2000, seed=0)
    assert best_move(root) == move
    assert minimax_move_values(parse_board(board))[move] == max(minimax_move_values(parse_board(board)).values())


def test_search_refuses_a_finished_game_and_zero_simulations() -> None:
    with pytest.raises(ValueError, match="game is over"):
        mcts(parse_board("XXXOO...."), 10)
    with pytest.raises(ValueError, match="at least 1"):
        mcts(EMPTY, 0)


def test_uct_never_loses_to_minimax_in_four_games() -> None:
    assert versus_minimax(simulations=2000, games=4, seed=1)["losses"] == 0


@pytest.mark.slow
def test_uct_never_loses_to_minimax_in_twenty_games() -> None:
    """With 1,000 simulations UCT still loses about 1 game in 20 (seed 0); with 2,000 it drew 40 of 40."""
    tally = versus_minimax(simulations=2000, games=20, seed=2)
    assert tally["losses"] == 0 and tally["draws"] == 20


def test_too_few_simulations_do_lose() -> None:
    """The test above can fail: with 30 simulations a tree is too shallow to see a fork coming."""
    assert versus_minimax(simulations=30, games=10, seed=0)["losses"] > 0


# --- command line --------------------------------------------------------------------------------


def run_cli(*args: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "algorithms.planning", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_cli_solve_and_mcts_print_one_json_object_last() -> None:
    assert run_cli("solve") | {"seconds": 0} == {
        "command": "solve",
        "positions": 5478,
        "games": 255168,
        "value": 0,
        "seconds": 0,
    }
    out = run_cli("mcts", "--board", "XX.OO....", "--simulations", "300")
    assert out["best_move"] == 2 and sum(m["visits"] for m in out["moves"]) == 300


def test_cli_dyna_short() -> None:
    out = run_cli("dyna", "--planning-steps", "0", "5", "--runs", "2", "--episodes", "3")
    assert out["shortest_path"] == 14 and set(out["curves"]) == {"0", "5"} and len(out["curves"]["5"]) == 3


def test_cli_bad_board_is_a_clear_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "algorithms.planning", "mcts", "--board", "XXX"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "a board is 9 cells" in run.stderr and "Traceback" not in run.stderr
