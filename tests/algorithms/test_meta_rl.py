"""RL² on Bernoulli bandit tasks: hand-checked pieces, a short training that must beat random, the CLI,
and the recorded runs the lesson quotes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithms.meta_rl import (
    MetaBanditConfig,
    draw_rewards,
    evaluate,
    main,
    make_policy,
    play_baseline,
    play_rl2,
    rl2_inputs,
    rl2_loss,
    sample_tasks,
    step_input,
    task_regret,
    train_rl2,
)

ROOT = Path(__file__).resolve().parents[2]


def test_rl2_inputs_are_the_previous_action_and_reward_shifted_by_one() -> None:
    x = rl2_inputs(np.array([0, 2, 1]), np.array([1.0, 0.0, 1.0]), k=3)
    assert x.shape == (3, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], [0, 0, 0, 0])  # nothing has happened at pull 0
    np.testing.assert_array_equal(x[1], [1, 0, 0, 1])  # pull 0: arm 0, reward 1
    np.testing.assert_array_equal(x[2], [0, 0, 1, 0])  # pull 1: arm 2, reward 0 (pull 2 is never seen)
    batch = rl2_inputs(np.array([[0, 1], [1, 1]]), np.array([[1.0, 1.0], [0.0, 1.0]]), k=2)
    assert batch.shape == (2, 2, 3)
    np.testing.assert_array_equal(batch[1, 1], step_input(np.array(1), np.array(0.0), 2))
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 2\)"):
        rl2_inputs(np.array([0, 2]), np.array([1.0, 0.0]), k=2)
    with pytest.raises(ValueError, match="one shape"):
        rl2_inputs(np.array([0, 1]), np.array([1.0]), k=2)


def test_task_regret_by_hand() -> None:
    # best arm p = 0.9: pulls of arm 0 cost 0.7, of arm 2 cost 0.4, of arm 1 nothing
    np.testing.assert_allclose(task_regret([0.2, 0.9, 0.5], [0, 1, 2, 1, 0]), [0.7, 0.7, 1.1, 1.1, 1.8])


def test_rewards_and_tasks() -> None:
    probs = np.array([[0.3, 0.8], [0.5, 0.1]])
    np.testing.assert_array_equal(draw_rewards(probs, np.array([1, 0]), np.array([0.79, 0.5])), [1.0, 0.0])
    rng = np.random.default_rng(0)
    dependent = sample_tasks(5, 2, "dependent", rng)
    np.testing.assert_allclose(dependent.sum(axis=1), 1.0)
    independent = sample_tasks(1000, 3, "independent", rng)
    assert independent.shape == (1000, 3) and 0.45 < independent.mean() < 0.55


def test_policy_and_trial_shapes_and_the_hidden_state_carries_over() -> None:
    torch.manual_seed(0)
    policy = make_policy(arms=3, hidden=8)
    logits, values, h = policy(torch.zeros(5, 7, 4))
    assert logits.shape == (5, 7, 3) and values.shape == (5, 7) and h.shape == (1, 5, 8)
    rng = np.random.default_rng(0)
    probs, u = sample_tasks(5, 3, "independent", rng), rng.random((5, 7))
    actions, rewards = play_rl2(policy, probs, u)
    assert actions.shape == rewards.shape == (5, 7) and actions.max() < 3
    # playing pull by pull with the state carried equals one pass over the recorded inputs
    with torch.no_grad():
        full, _, _ = policy(torch.from_numpy(rl2_inputs(actions, rewards, 3)))
        h, stepwise = None, []
        for t in range(7):
            out, _, h = policy(torch.from_numpy(rl2_inputs(actions, rewards, 3)[:, t : t + 1]), h)
            stepwise.append(out)
    torch.testing.assert_close(torch.cat(stepwise, dim=1), full)


def test_baselines_rank_as_the_theory_says_and_random_regret_is_h_over_six() -> None:
    rng = np.random.default_rng(0)
    probs, u = sample_tasks(4000, 2, "independent", rng), rng.random((4000, 20))
    regret = {}
    for name in ("ucb1", "thompson", "random"):
        actions = play_baseline(name, probs, u, np.random.default_rng(1))
        regret[name] = np.mean([task_regret(p, a)[-1] for p, a in zip(probs, actions, strict=True)])
    # random pays E[max - mean] = E|p0 - p1| / 2 = 1/6 per pull on two U(0, 1) arms
    assert regret["random"] == pytest.approx(20 / 6, abs=0.15)
    assert regret["thompson"] < regret["ucb1"] < 0.7 * regret["random"]
    with pytest.raises(ValueError, match="unknown baseline"):
        play_baseline("greedy", probs, u, rng)


def test_a2c_loss_is_finite_and_reaches_the_weights_through_the_recurrence() -> None:
    torch.manual_seed(0)
    config = MetaBanditConfig(hidden=8, horizon=6)
    policy = make_policy(2, 8)
    rng = np.random.default_rng(0)
    actions, rewards = play_rl2(policy, sample_tasks(4, 2, "independent", rng), rng.random((4, 6)))
    loss, stats = rl2_loss(policy, actions, rewards, config, ent_coef=0.01)
    loss.backward()
    assert torch.isfinite(loss) and set(stats) == {"losses/policy", "losses/value", "losses/entropy"}
    assert policy.gru.weight_hh_l0.grad.abs().sum() > 0  # the hidden-to-hidden weights learn what to remember


def test_short_training_beats_random_by_a_wide_margin() -> None:
    """A sign error, a lost hidden state or a detached loss leaves the regret at random's (about 1.67)."""
    config = MetaBanditConfig(horizon=10, tasks_per_update=128, updates=250, eval_tasks=1000, seed=0)
    policy, history = train_rl2(config)
    result = evaluate(config, policy)
    regret = result["regret"]
    assert regret["random"] == pytest.approx(10 / 6, abs=0.15)
    assert regret["rl2"] < 0.75 * regret["random"], regret
    assert history[-1]["update"] == 250.0 and 0.0 <= history[-1]["losses/entropy"] <= np.log(2) + 1e-6
    curve = result["regret_curve"]["rl2"]
    assert len(curve) == 10 and all(b >= a for a, b in itertools.pairwise(curve))  # never decreases


def test_bad_configs_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="arms must be at least 2"):
        MetaBanditConfig(arms=1)
    with pytest.raises(ValueError, match="dependent task distribution has exactly 2 arms"):
        MetaBanditConfig(arms=3, task_distribution="dependent")
    with pytest.raises(ValueError, match="gamma must be in"):
        MetaBanditConfig(gamma=1.5)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        MetaBanditConfig(lr=0.0)


def test_cli_prints_one_json_object_last(capsys) -> None:
    argv = ["--horizon", "5", "--updates", "3", "--tasks-per-update", "8", "--hidden", "8", "--eval-tasks", "50"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["regret"]) == {"rl2", "ucb1", "thompson", "random"}
    assert len(out["regret_curve"]["rl2"]) == 5 and out["seconds"] > 0
    with pytest.raises(SystemExit):
        main(["--arms", "1"])
    assert "arms must be at least 2" in capsys.readouterr().err


def test_recorded_runs_match_the_lesson() -> None:
    recorded = json.loads((ROOT / "lessons" / "data" / "rl2-bandits.json").read_text())["runs"]
    lesson = (ROOT / "lessons" / "meta-and-multi-task-rl.yaml").read_text()
    for run in recorded.values():
        regret = run["regret"]
        assert regret["rl2"] < 0.5 * regret["random"]
        for name in ("rl2", "thompson", "ucb1", "random"):
            assert f"{regret[name]:.2f}" in lesson, (name, regret[name])
    independent = recorded["independent"]["regret"]
    assert abs(independent["rl2"] - independent["thompson"]) < 0.3  # the lesson says RL² matches Thompson
