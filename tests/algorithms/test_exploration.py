"""Count bonus on the chain and HER on bit flipping: hand-checked pieces, and what the lesson quotes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from algorithms.exploration import (
    BitFlipConfig,
    ChainConfig,
    chain_experiment,
    chain_step,
    count_bonus,
    her_relabel,
    main,
    train_bitflip,
)

ROOT = Path(__file__).resolve().parents[2]


def test_chain_dynamics_by_hand() -> None:
    assert chain_step(0, 0, 5) == (0, 0.01, True)  # the distractor
    assert chain_step(2, 0, 5) == (1, 0.0, False)
    assert chain_step(2, 1, 5) == (3, 0.0, False)
    assert chain_step(3, 1, 5) == (4, 1.0, True)  # the goal


def test_count_bonus_by_hand() -> None:
    assert count_bonus(0.0, 4, 0.5) == 0.25
    assert count_bonus(-1.0, 1, 0.1) == pytest.approx(-0.9)
    with pytest.raises(ValueError, match="count"):
        count_bonus(0.0, 0, 0.1)


def test_epsilon_greedy_never_finds_the_goal_and_a_small_bonus_always_does() -> None:
    plain = chain_experiment(ChainConfig(length=20, bonus=0.0, runs=10))
    small = chain_experiment(ChainConfig(length=20, bonus=0.01, runs=10))
    large = chain_experiment(ChainConfig(length=20, bonus=0.1, runs=10))
    assert plain["found_goal"] == 0.0
    assert small["found_goal"] == 1.0 and small["goal_rate_last_50"] == pytest.approx(0.94, abs=0.005)
    assert large["found_goal"] == 1.0 and large["goal_rate_last_50"] == pytest.approx(0.03, abs=0.005)


def test_her_relabels_with_goals_reached_later_in_the_episode() -> None:
    states = np.array([[0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32)
    next_states = np.array([[1, 0, 0, 0], [1, 0, 1, 0]], dtype=np.float32)
    copies = her_relabel(states, next_states, k=50, rng=np.random.default_rng(0))
    assert len(copies) == 100
    for t, goal, reward, done in copies:
        later = [tuple(s) for s in next_states[t:]]
        assert tuple(goal) in later
        assert (reward == 0.0) == done == np.array_equal(next_states[t], goal)
    # the question her-relabel-reward: transition 0 relabelled with goal 1010 is a -1, not terminal
    assert any(t == 0 and tuple(g) == (1, 0, 1, 0) and r == -1.0 and not d for t, g, r, d in copies)
    assert any(t == 1 and tuple(g) == (1, 0, 1, 0) and r == 0.0 and d for t, g, r, d in copies)


@pytest.mark.slow
def test_her_solves_six_bits_quickly() -> None:
    result = train_bitflip(BitFlipConfig(bits=6, epochs=3, cycles=5, eval_episodes=50))
    assert result["final_success_rate"] >= 0.9


def test_recorded_bitflip_runs_match_the_lesson() -> None:
    runs = json.loads((ROOT / "lessons" / "data" / "her-bitflip.json").read_text())["runs"]
    final = {name: run["success_rate"][-1] for name, run in runs.items()}
    assert final["20-her"] >= 0.9 and final["20-dqn"] == 0.0
    assert final["10-dqn"] == 0.0 and final["5-dqn"] == 1.0
    lesson = (ROOT / "lessons" / "exploration-sparse-rewards.yaml").read_text()
    assert f"{final['20-her']:.0%}" in lesson


def test_chain_cli_json(capsys) -> None:
    assert main(["chain", "--length", "8", "--episodes", "60", "--runs", "2", "--bonus", "0", "0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["results"]) == {"0.0", "0.01"}
    with pytest.raises(SystemExit):
        main(["chain", "--length", "1"])
    assert "length" in capsys.readouterr().err
