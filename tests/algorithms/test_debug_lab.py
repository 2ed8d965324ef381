"""The debugging lab: the correct configuration learns, and each bug switch measurably changes what happens.

Hand-computed GAE values for the masks, gradient signs for the loss bugs, and the first update's
diagnostics of short seeded runs (the rollout before the first update is the same with and without
a bug, so the difference is the bug's alone).
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import fields
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithms.debug_lab import BUGS, DebugLabConfig, gae_advantages, main, make_envs, policy_loss, train
from algorithms.ppo import Agent
from algorithms.rollout import EpisodeLog, Rollout, RolloutState, collect_rollout, final_observations
from app.content.demos import DebugLabParams

SHORT = 2048  # four iterations of 8 x 64 steps


@cache
def short_run(bug: str | None = None, **overrides: typing.Any) -> tuple[dict, ...]:
    """Every report of a seeded 2048-step run with one bug switched on (None: the correct code)."""
    config = DebugLabConfig(total_timesteps=SHORT, eval_episodes=0, seed=1, **({bug: True} if bug else {}), **overrides)
    history: list[dict] = []
    train(config, on_update=history.append)
    return tuple(history)


def test_every_bug_is_a_documented_switch_with_a_lesson_region() -> None:
    switches = [f.name for f in fields(DebugLabConfig) if f.name.startswith("bug_")]
    assert list(BUGS) == switches
    assert all(getattr(DebugLabConfig(), name) is False for name in switches)
    literal = typing.get_args(typing.get_args(DebugLabParams.model_fields["bugs"].annotation)[0])
    assert set(literal) == set(BUGS), "the demo's parameter model must offer exactly the lab's switches"
    source = (Path(__file__).parents[2] / "algorithms" / "debug_lab.py").read_text()
    regions = set(re.findall(r"# lesson:start ([\w-]+)", source))
    returns_source = (Path(__file__).parents[2] / "algorithms" / "returns.py").read_text()
    assert "# lesson:start bug-termination-mask" in returns_source  # the bug is an argument of batched_gae
    rollout_source = (Path(__file__).parents[2] / "algorithms" / "rollout.py").read_text()
    assert "# lesson:start bug-old-gym-api" in rollout_source  # the bug is an argument of collect_rollout
    assert {
        "bug-ratio",
        "bug-sign",
        "bug-adv-norm",
        "bug-learning-rate",
        "diagnostics",
    } <= regions
    assert regions == set(re.findall(r"# lesson:end ([\w-]+)", source))


# --- the masks, by hand --------------------------------------------------------------------------


def _column(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)[:, None]  # (T, 1)


def test_gae_cuts_at_a_real_end_and_the_bug_does_not() -> None:
    """Three steps, the episode terminates after the second; gamma 0.9, lambda 0.5."""
    rewards, values = _column(1, 1, 1), _column(0.5, 0.5, 0.5)
    next_values = _column(0.5, 2.0, 0.5)  # V(s_1), V(final obs of episode 1) = 2, V(s_3)
    terminated = _column(0, 1, 0).bool()
    truncated = torch.zeros_like(terminated)
    correct = gae_advantages(rewards, values, next_values, terminated, truncated, 0.9, 0.5)[:, 0]
    # t=2: delta = 1 + 0.45 - 0.5 = 0.95; t=1 ends the episode: 1 - 0.5 = 0.5; t=0: 0.95 + 0.45 * 0.5
    assert correct.tolist() == pytest.approx([0.95 + 0.45 * 0.5, 0.5, 0.95])
    buggy = gae_advantages(rewards, values, next_values, terminated, truncated, 0.9, 0.5, mask_terminations=False)[:, 0]
    # t=1 bootstraps V = 2 after the fall and adds the next episode's advantage: 1 + 1.8 - 0.5 + 0.45 * 0.95
    a1 = 1 + 1.8 - 0.5 + 0.45 * 0.95
    assert buggy.tolist() == pytest.approx([0.95 + 0.45 * a1, a1, 0.95])


def test_gae_bootstraps_through_a_time_limit() -> None:
    rewards, values = _column(1, 1), _column(0.5, 0.5)
    next_values = _column(0.5, 2.0)
    truncated = _column(0, 1).bool()
    terminated = torch.zeros_like(truncated)
    a = gae_advantages(rewards, values, next_values, terminated, truncated, 0.9, 0.5)[:, 0]
    assert a.tolist() == pytest.approx([0.95 + 0.45 * 2.3, 1 + 1.8 - 0.5])  # V(final obs) = 2 is kept


# --- the loss bugs: the direction of the gradient ------------------------------------------------


def _policy_gradient(**bugs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    logp_old = torch.tensor([-0.7, -0.2, -1.5])
    logp = logp_old.clone().requires_grad_(True)  # theta = theta_old
    adv = torch.tensor([1.0, 2.0, -1.0])
    loss, ratio = policy_loss(logp, logp_old, adv, 0.2, **bugs)
    loss.backward()
    assert logp.grad is not None
    return logp.grad, ratio


def test_the_correct_loss_raises_the_log_probability_of_good_actions() -> None:
    grad, ratio = _policy_gradient()
    assert ratio.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert grad.tolist() == pytest.approx([-1 / 3, -2 / 3, 1 / 3])  # descent raises logp where A > 0


def test_wrong_sign_flips_the_gradient() -> None:
    grad, _ = _policy_gradient(wrong_sign=True)
    assert grad.tolist() == pytest.approx([1 / 3, 2 / 3, -1 / 3])


def test_a_ratio_of_log_probabilities_is_1_but_pushes_the_wrong_way() -> None:
    grad, ratio = _policy_gradient(log_prob_ratio=True)
    assert ratio.tolist() == pytest.approx([1.0, 1.0, 1.0])  # indistinguishable by its value at theta_old
    logp_old = torch.tensor([-0.7, -0.2, -1.5])
    assert grad.tolist() == pytest.approx((torch.tensor([-1 / 3, -2 / 3, 1 / 3]) / logp_old).tolist())
    assert (grad * torch.tensor([-1 / 3, -2 / 3, 1 / 3]) < 0).all()  # opposite sign to the correct gradient


# --- short seeded runs: each switch changes the diagnostics ---------------------------------------


def test_the_correct_run_improves_on_random_within_2048_steps() -> None:
    history = short_run()
    assert history[-1]["charts/episodic_return"] > 25  # a random policy lasts about 22 steps
    assert history[0]["losses/approx_kl"] < 0.05
    assert history[0]["diagnostics/advantage_std_in_loss"] == pytest.approx(1.0, abs=0.01)
    assert {"charts/episodic_return", "losses/entropy", "losses/clip_fraction", "diagnostics/grad_norm"} <= set(
        history[-1]
    )


def test_wrong_sign_drops_the_return_below_random_and_the_clip_does_not_stop_it() -> None:
    history = short_run("bug_wrong_sign")
    assert history[0]["losses/approx_kl"] > 0.5  # maximising -min(...) is unbounded: the clip never binds
    assert history[-1]["charts/episodic_return"] < 12
    assert history[-1]["losses/entropy"] < 0.1


def test_no_termination_mask_inflates_the_advantages() -> None:
    correct, buggy = short_run()[0], short_run("bug_no_termination_mask")[0]
    assert buggy["diagnostics/advantage_mean"] > correct["diagnostics/advantage_mean"] + 1.0


def test_log_prob_ratio_makes_the_agent_worse_than_the_correct_one() -> None:
    assert (
        short_run("bug_log_prob_ratio")[-1]["charts/episodic_return"] < 0.6 * short_run()[-1]["charts/episodic_return"]
    )


def test_no_adv_norm_leaves_the_advantages_at_their_raw_scale() -> None:
    history = short_run("bug_no_adv_norm")
    assert history[0]["diagnostics/advantage_std_in_loss"] > 1.5
    assert history[0]["diagnostics/advantage_std_in_loss"] == pytest.approx(
        history[0]["diagnostics/advantage_std"], rel=0.1
    )


def test_lr_too_high_moves_the_policy_much_further_per_update() -> None:
    assert short_run("bug_lr_too_high")[0]["losses/approx_kl"] > 20 * short_run()[0]["losses/approx_kl"]


def test_truncation_as_termination_drops_the_bootstrap_at_the_time_limit() -> None:
    """With a 10-step limit every episode is cut by the clock. The correct critic learns that a cut
    state is still worth something and its values keep growing; the bug caps them at ten rewards."""
    correct = short_run(max_episode_steps=10)
    buggy = short_run("bug_truncation_as_termination", max_episode_steps=10)
    assert correct[0]["diagnostics/value_mean"] == buggy[0]["diagnostics/value_mean"]  # same rollout, same critic
    assert buggy[1]["diagnostics/advantage_mean"] < correct[1]["diagnostics/advantage_mean"] - 1.0
    assert buggy[-1]["diagnostics/value_mean"] < correct[-1]["diagnostics/value_mean"] - 3.0


def _lab_rollout(truncation_as_termination: bool) -> tuple[Rollout, RolloutState]:
    """Two copies with a 5-step limit, 12 steps each: every episode the policy survives is cut by the clock."""
    config = DebugLabConfig(num_envs=2, max_episode_steps=5)
    envs = make_envs(config)
    obs, _ = envs.reset(seed=3)
    state = RolloutState(obs, np.zeros(2, dtype=bool), np.zeros(2, dtype=bool), EpisodeLog(2), None)
    torch.manual_seed(0)
    agent = Agent(4, 2, True, (8,))
    rollout = collect_rollout(envs, agent, state, 12, torch.Generator().manual_seed(0), None, truncation_as_termination)
    envs.close()
    return rollout, state


def test_the_lab_rollout_keeps_every_row_and_the_real_next_observation() -> None:
    rollout, state = _lab_rollout(False)
    done = rollout.terminated | rollout.truncated
    assert rollout.valid.all()  # SAME_STEP: no row only resets a copy
    assert rollout.truncated.any() and state.log.episodes == int(done.sum())
    assert rollout.step_next_obs is not None
    for t, i in zip(*torch.nonzero(~done[:-1], as_tuple=True), strict=True):  # no end: s_{t+1} is the next row
        assert torch.equal(rollout.step_next_obs[t, i], rollout.obs[t + 1, i])
    for t, i in zip(*torch.nonzero(done[:-1], as_tuple=True), strict=True):  # an end: the final observation
        assert not torch.equal(rollout.step_next_obs[t, i], rollout.obs[t + 1, i])  # row t+1 starts afresh
    going = ~done[-1]  # after the last step: the next observation, where that step ended no episode
    assert going.any() and torch.equal(rollout.step_next_obs[-1][going], rollout.next_obs[going])
    assert set(state.log.lengths) <= {1, 2, 3, 4, 5} and max(state.log.lengths) <= 5


def test_the_old_gym_api_bug_stores_every_time_limit_as_a_termination() -> None:
    correct, _ = _lab_rollout(False)
    buggy, _ = _lab_rollout(True)
    assert torch.equal(buggy.obs, correct.obs)  # the same steps: only the stored flags differ
    assert torch.equal(buggy.terminated, correct.terminated | correct.truncated)
    assert not buggy.truncated.any()


def test_final_observations_replace_the_reset_ones_where_a_copy_ended() -> None:
    obs = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    info = {
        "final_obs": np.array([None, np.array([9.0, 9.0], np.float32)], dtype=object),
        "_final_obs": np.array([False, True]),
    }
    assert final_observations(obs, info).tolist() == [[0.0, 0.0], [9.0, 9.0]]
    assert obs[1].tolist() == [1.0, 1.0]  # the reset observation stays the next step's s_t
    assert final_observations(obs, {}) is obs


def test_the_command_line_prints_json_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--total-timesteps", "512", "--eval-episodes", "2", "--bug-wrong-sign", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "bug_wrong_sign" in out[0]
    result = json.loads(out[-1])
    assert result["total_steps"] == 512
    assert result["eval_return_mean"] is not None
    assert "losses/approx_kl" in result and "diagnostics/grad_norm" in result


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="num_minibatches"):
        train(DebugLabConfig(num_minibatches=0))
    with pytest.raises(ValueError, match="the debugging lab needs discrete actions; Pendulum-v1 has Box"):
        train(DebugLabConfig(env_id="Pendulum-v1"))


# --- the whole budget ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_correct_configuration_learns_cartpole() -> None:
    result = train(DebugLabConfig(seed=1)).metrics
    assert result["charts/episodic_return_mean100"] > 150  # out of 200, the time limit
    assert result["eval_return_mean"] >= 150


@pytest.mark.slow
@pytest.mark.parametrize("bug", ["bug_no_termination_mask", "bug_wrong_sign"])
def test_these_bugs_keep_the_return_below_random_for_the_whole_budget(bug: str) -> None:
    result = train(DebugLabConfig(seed=1, **{bug: True})).metrics
    assert result["charts/episodic_return_mean100"] < 15
