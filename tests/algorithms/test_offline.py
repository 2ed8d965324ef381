"""Offline RL on the lava grid: hand-checked dynamics and penalty, and the failure and fix the lesson quotes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from algorithms.offline import (
    LavaGrid,
    OfflineConfig,
    behaviour_cloning,
    collect_dataset,
    compare,
    cql_penalty,
    cql_penalty_gradient,
    load_dataset,
    main,
    offline_q_learning,
    rollout,
    save_dataset,
)

GRID = LavaGrid()
S = GRID.find("S")


def test_grid_steps_cost_one_lava_ends_and_walls_hold() -> None:
    assert GRID.shape == (4, 8) and S == 24
    assert GRID.step(S, 1) == (25, -100.0, True)  # right, into the lava
    assert GRID.step(S, 3) == (S, -1.0, False)  # left, off the grid: stay
    assert GRID.step(23, 2) == (31, -1.0, True)  # down onto G ends with the step's -1


@pytest.mark.parametrize(("kind", "expected"), [("medium", -13.0), ("expert", -9.0)])
def test_noiseless_behaviour_policies_take_their_paths(kind: str, expected: float) -> None:
    data = collect_dataset(GRID, kind, episodes=2, epsilon=0.0)
    assert list(data["episode_returns"]) == [expected, expected]
    assert data["terminations"].sum() == 2 and not data["truncations"].any()


def test_cql_penalty_by_hand() -> None:
    assert cql_penalty([0.0, 0.0, 0.0, 0.0], 2) == pytest.approx(np.log(4))
    assert cql_penalty([1.0, -1.0], 0) == pytest.approx(np.log(1 + np.exp(-2.0)))
    gradient = cql_penalty_gradient([0.0, np.log(3.0)], 0)  # softmax (1/4, 3/4) minus (1, 0)
    np.testing.assert_allclose(gradient, [-0.75, 0.75])
    q = np.array([-1.0, 0.3, -2.0, 0.1])
    numeric = [
        (cql_penalty(q + 1e-6 * np.eye(4)[i], 1) - cql_penalty(q - 1e-6 * np.eye(4)[i], 1)) / 2e-6 for i in range(4)
    ]
    np.testing.assert_allclose(cql_penalty_gradient(q, 1), numeric, atol=1e-6)


def test_alpha_zero_is_plain_q_learning_and_full_coverage_finds_the_shortest_path() -> None:
    data = collect_dataset(GRID, "random", episodes=3000, seed=0)
    seen = behaviour_cloning(data, GRID.n_states) > 0
    assert seen.sum() == 100  # every pair of the 25 non-terminal cells
    Q = offline_q_learning(data, GRID.n_states, alpha=0.0, sweeps=5)
    assert rollout(GRID, Q)[0] == -9.0


def test_medium_log_naive_overestimates_and_shuttles_cql_follows_the_data() -> None:
    out = compare(OfflineConfig())  # the lesson's numbers
    assert out["transitions"] == 816 and out["logged_pairs"] == 67
    assert out["behaviour_return_mean"] == pytest.approx(-20.28)
    naive, cql, bc = (out["methods"][k] for k in ("naive Q-learning", "CQL", "behaviour cloning"))
    assert naive["estimated_start_value"] == pytest.approx(-1.0)
    assert naive["return"] == -50.0 and naive["end"] == "time limit"
    assert set(naive["path"]) == {24, 16}  # the start and the cell above it
    assert naive["unlogged_greedy_steps"] > 0
    assert naive["discounted_return"] == pytest.approx(-39.5, abs=0.01)
    assert cql["return"] == bc["return"] == -13.0
    assert cql["unlogged_greedy_steps"] == 0
    assert cql["estimated_start_value"] < naive["estimated_start_value"]


def test_expert_and_random_logs_match_the_lesson_table() -> None:
    expert = compare(OfflineConfig(dataset="expert"))
    assert expert["logged_pairs"] == 44
    assert [expert["methods"][k]["return"] for k in ("behaviour cloning", "naive Q-learning", "CQL")] == [-9, -50, -9]
    random300 = compare(OfflineConfig(dataset="random", episodes=300))
    assert random300["behaviour_return_mean"] == pytest.approx(-105.3, abs=0.05)
    returns = [random300["methods"][k]["return"] for k in ("behaviour cloning", "naive Q-learning", "CQL")]
    assert returns == [-50, -50, -13]  # CQL stitches a safe path BC cannot copy


def test_dataset_round_trip_and_a_bad_file(tmp_path) -> None:
    data = collect_dataset(GRID, "medium", episodes=3)
    loaded = load_dataset(save_dataset(data, tmp_path / "log.npz"))
    for name, column in data.items():
        np.testing.assert_array_equal(loaded[name], column)
    np.savez(tmp_path / "bad.npz", observations=np.zeros(3))
    with pytest.raises(ValueError, match="missing actions"):
        load_dataset(tmp_path / "bad.npz")


def test_cli_json_and_bad_arguments(tmp_path, capsys) -> None:
    assert (
        main(["--dataset", "expert", "--episodes", "10", "--sweeps", "5", "--save", str(tmp_path / "x.npz"), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["methods"]) == {"behaviour cloning", "naive Q-learning", "CQL"}
    assert (tmp_path / "x.npz").exists()
    with pytest.raises(SystemExit):
        main(["--episodes", "0"])
    assert "episodes" in capsys.readouterr().err
