"""PPO: batched GAE against the per-trajectory reference, autoreset masking, the policies' densities,
train() on CartPole and Pendulum, and the command line."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from algorithms import ppo
from algorithms.contract import field_docs
from algorithms.losses import adapt_kl_beta
from algorithms.ppo import (
    Agent,
    EpisodeLog,
    PPOConfig,
    RewardScaler,
    annealed_lr,
    autoreset_mask,
    categorical_entropy,
    categorical_log_prob,
    categorical_sample,
    compute_gae,
    evaluate,
    explained_variance,
    gaussian_entropy,
    gaussian_log_prob,
    load_agent,
    make_vector_env,
    normalize_advantages,
    preset,
    scale_rewards,
    train,
    update_moments,
)
from algorithms.returns import gae

ROOT = Path(__file__).resolve().parents[2]
# Two iterations of 8 x 32 steps on CartPole: about a second.
TINY = {"total_timesteps": 512, "num_envs": 8, "num_steps": 32, "update_epochs": 2, "eval_episodes": 2}
PER_UPDATE_KEYS = {
    "global_step",
    "progress",
    "charts/episodic_return",
    "charts/episodic_return_mean100",
    "charts/episodic_length",
    "charts/steps_per_second",
    "charts/learning_rate",
    "losses/policy",
    "losses/value",
    "losses/entropy",
    "losses/approx_kl",
    "losses/clip_fraction",
    "losses/explained_variance",
}
FINAL_KEYS = {
    "total_steps",
    "seconds",
    "seconds_to_threshold",
    "steps_to_threshold",
    "eval_return_mean",
    "eval_return_std",
}


# --- GAE over (T, N) rollouts ------------------------------------------------------------


def test_gae_by_hand_terminated_versus_truncated() -> None:
    # Two copies, two steps, reward 1 each step; copy 0 ends for real at t = 1, copy 1 is cut by a
    # time limit at t = 1. gamma 0.5, lambda 1. V(s_0) = 1, V(s_1) = 2, V(s_2) = 4 (final observation).
    rewards = torch.ones(2, 2)
    values = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    next_value = torch.tensor([4.0, 4.0])
    terminated = torch.tensor([[False, False], [True, False]])
    truncated = torch.tensor([[False, False], [False, True]])
    A = compute_gae(rewards, values, next_value, terminated, truncated, gamma=0.5, lam=1.0)
    # Terminated: A_1 = 1 - 2 = -1; A_0 = (1 + 0.5 * 2 - 1) + 0.5 * (-1) = 0.5.
    # Truncated:  A_1 = 1 + 0.5 * 4 - 2 = 1; A_0 = (1 + 0.5 * 2 - 1) + 0.5 * 1 = 1.5.
    torch.testing.assert_close(A, torch.tensor([[0.5, 1.5], [-1.0, 1.0]]))


def test_batched_gae_matches_the_per_trajectory_reference() -> None:
    """A (T, N) rollout with a termination, a truncation and the reset rows that follow them,
    cut into episodes and checked against ``algorithms.returns.gae`` one episode at a time."""
    T, N, gamma, lam = 7, 3, 0.9, 0.8
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_value = rng.normal(size=N)
    terminated = np.zeros((T, N), bool)
    truncated = np.zeros((T, N), bool)
    terminated[2, 0] = True  # copy 0: a real end at t = 2; row 3 only resets it
    truncated[3, 1] = True  # copy 1: a time limit at t = 3; row 4 holds... the reset step
    terminated[6, 2] = True  # copy 2: ends for real on the rollout's last step
    valid = np.ones((T, N), bool)
    for t in range(1, T):
        valid[t] = autoreset_mask(terminated[t - 1], truncated[t - 1])
    rewards[~valid] = 0.0  # what gymnasium returns on a reset step
    A = compute_gae(
        *(torch.as_tensor(x) for x in (rewards, values, next_value, terminated, truncated)), gamma=gamma, lam=lam
    ).numpy()

    all_values = np.vstack([values, next_value])  # row t + 1 is V of what step t returned, (T + 1, N)
    for n in range(N):
        start = 0
        for t in range(T):
            ends = terminated[t, n] or truncated[t, n] or t == T - 1
            if not valid[t, n]:
                start = t + 1
                continue
            if ends:
                # A truncated (or unfinished) piece bootstraps from V of the next row: the final
                # observation after a time limit, the next state otherwise; a terminated one does not.
                dones = np.zeros(t + 1 - start)
                dones[-1] = float(terminated[t, n])
                reference = gae(rewards[start : t + 1, n], all_values[start : t + 2, n], dones, gamma, lam)
                np.testing.assert_allclose(A[start : t + 1, n], reference, rtol=1e-10)
                start = t + 1
    assert valid[3, 0] == False and valid[4, 1] == False and valid[:, 2].all()  # noqa: E712


def test_gae_leaks_nothing_across_an_episode_edge() -> None:
    rewards = torch.tensor([[0.0], [0.0], [100.0]])  # a big reward in the next episode
    values = torch.zeros(3, 1)
    for flags in ("terminated", "truncated"):
        done = torch.tensor([[False], [True], [False]])
        other = torch.zeros(3, 1, dtype=torch.bool)
        args = (done, other) if flags == "terminated" else (other, done)
        A = compute_gae(rewards, values, torch.zeros(1), *args, gamma=0.99, lam=0.95)
        assert A[0, 0] == 0.0 and A[1, 0] == 0.0, flags


# --- gymnasium's NEXT_STEP autoreset --------------------------------------------------------


def test_autoreset_mask_drops_the_step_after_a_done() -> None:
    mask = autoreset_mask(np.array([False, True, False, True]), np.array([False, False, True, True]))
    np.testing.assert_array_equal(mask, [True, False, False, False])


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_vector_env_resets_on_the_next_step(env_id: str) -> None:
    envs = make_vector_env(env_id, 2)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert (type(envs).__name__ == "CartPoleVectorEnv") == (env_id == "CartPole-v1")  # numpy over all copies
    envs.close()


def test_the_row_after_a_done_holds_the_final_observation_and_resets_with_reward_zero() -> None:
    envs = make_vector_env("CartPole-v1", 2)
    obs, _ = envs.reset(seed=0)
    prev_terminated = prev_truncated = np.zeros(2, bool)
    for _ in range(30):  # pushing right always: the pole falls in about ten steps
        valid = autoreset_mask(prev_terminated, prev_truncated)
        obs, reward, terminated, truncated, _ = envs.step(np.ones(2, dtype=np.int64))
        if not valid.all():
            # The reset step: reward 0, no done flags, a fresh start state; the mask drops it.
            assert reward[~valid].tolist() == [0.0] * int((~valid).sum())
            assert not (terminated[~valid] | truncated[~valid]).any()
            assert np.abs(obs[~valid]).max() <= 0.05
            break
        if terminated.any():
            # The step that ends the episode returns its final observation: the pole past 12 degrees.
            assert (np.abs(obs[terminated, 2]) > 0.2094).all() or (np.abs(obs[terminated, 0]) > 2.4).all()
        prev_terminated, prev_truncated = terminated, truncated
    else:
        pytest.fail("no episode ended")
    envs.close()


def test_train_sees_time_limits_as_truncations_not_terminations(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pendulum never ends for real; its 200-step limit truncates every episode.
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def spy(rewards, values, next_value, terminated, truncated, gamma, lam):  # type: ignore[no-untyped-def]
        seen.append((terminated.clone(), truncated.clone()))
        return compute_gae(rewards, values, next_value, terminated, truncated, gamma, lam)

    monkeypatch.setattr(ppo, "compute_gae", spy)
    config = preset("Pendulum-v1", total_timesteps=420, num_envs=2, num_steps=210, num_minibatches=2, eval_episodes=0)
    config = PPOConfig(**{**config.__dict__, "update_epochs": 1})
    train(config)
    ((terminated, truncated),) = seen
    assert not terminated.any()
    assert truncated[199].all() and truncated.sum() == 2  # t = 199 is the 200th step


# --- the policies --------------------------------------------------------------------------


def test_categorical_log_prob_entropy_and_sampling() -> None:
    logits = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
    actions = torch.tensor([1, 0])
    dist = torch.distributions.Categorical(logits=logits)
    log_pi = torch.log_softmax(logits, -1)
    torch.testing.assert_close(categorical_log_prob(log_pi, actions), dist.log_prob(actions))
    torch.testing.assert_close(categorical_entropy(log_pi), dist.entropy())
    # Inverse-transform sampling: the frequencies follow softmax(logits).
    many = logits[0].expand(40_000, 3)
    u = torch.rand(40_000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(categorical_sample(many, u), minlength=3).float() / 40_000
    torch.testing.assert_close(counts, torch.softmax(logits[0], 0), atol=0.01, rtol=0)
    assert categorical_sample(logits, torch.tensor([0.0, 0.999999])).tolist() == [0, 2]


def test_gaussian_log_prob_is_that_of_the_unclipped_sample() -> None:
    agent = Agent(obs_dim=3, action_dim=2, discrete=False, hidden_sizes=(8,), log_std_init=1.5)
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    a = agent.act(x, torch.Generator().manual_seed(1))  # sigma = e^1.5 = 4.5: far outside [-2, 2]
    space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    env_action = ppo.env_action(agent, a, space)
    assert np.abs(a.numpy()).max() > 2.0 and np.abs(env_action).max() <= 2.0  # only the environment's copy is clipped
    logp, entropy = agent.log_prob_entropy(x, a)
    mean = agent.actor(x)
    reference = torch.distributions.Normal(mean, torch.full_like(mean, math.exp(1.5)))
    torch.testing.assert_close(logp, reference.log_prob(a).sum(-1))
    torch.testing.assert_close(entropy, reference.entropy().sum(-1))
    assert not torch.allclose(logp, reference.log_prob(torch.as_tensor(env_action)).sum(-1))


def test_gaussian_density_by_hand() -> None:
    # N(0, 1) at 0: -ln(2 pi) / 2 per dimension; at 1: minus another 1/2.
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    logp = gaussian_log_prob(torch.zeros(1, 2), torch.zeros(2), torch.tensor([[0.0, 1.0]]))
    assert logp.item() == pytest.approx(-2 * half_log_2pi - 0.5)
    assert gaussian_entropy(torch.zeros(2), 3).tolist() == pytest.approx([1.0 + 2 * half_log_2pi] * 3)


def test_actor_starts_near_uniform_and_critic_is_separate() -> None:
    torch.manual_seed(0)
    agent = Agent(obs_dim=4, action_dim=2, discrete=True)
    probs = torch.softmax(agent.actor(torch.randn(64, 4)), -1)
    assert (probs - 0.5).abs().max() < 0.05  # output gain 0.01 (Huang et al. 2022, detail 2)
    actor_params = {id(p) for p in agent.actor.parameters()}
    assert actor_params.isdisjoint(id(p) for p in agent.critic.parameters())


# --- the small pieces -----------------------------------------------------------------------


def test_annealed_lr_and_normalized_advantages() -> None:
    assert annealed_lr(1e-3, 1, 10) == pytest.approx(1e-3)
    assert annealed_lr(1e-3, 10, 10) == pytest.approx(1e-4)
    adv = normalize_advantages(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert adv.mean().item() == pytest.approx(0.0, abs=1e-6) and adv.std().item() == pytest.approx(1.0, abs=1e-5)


def test_explained_variance() -> None:
    returns = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(returns, returns) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 2.5), returns) == pytest.approx(0.0)
    assert explained_variance(-returns, returns) < 0
    assert math.isnan(explained_variance(torch.ones(1), torch.ones(1)))  # undefined: one sample
    assert math.isnan(explained_variance(torch.zeros(3), torch.ones(3)))  # undefined: constant returns


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_running_moments_agree_with_the_whole_sample(lib: str) -> None:
    data = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 3))
    convert = np.asarray if lib == "numpy" else torch.as_tensor
    mean, var, count = convert(np.zeros(3)), convert(np.ones(3)), 0.0
    for chunk in np.split(data, [7, 20, 21, 50]):  # one of them empty, one a single row
        mean, var, count = update_moments(mean, var, count, convert(chunk))
    assert count == 50
    np.testing.assert_allclose(np.asarray(mean), data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(var), data.var(0), rtol=1e-10)


def test_episode_log_counts_real_steps_and_raw_rewards() -> None:
    log = EpisodeLog(2)
    no, yes = np.array([False, False]), np.array([True, True])
    assert not log.step(np.array([1.0, 1.0]), yes, no)
    assert log.step(np.array([1.0, 1.0]), yes, np.array([True, False]))  # copy 0 ends after 2 steps
    assert not log.step(np.array([0.0, 1.0]), np.array([False, True]), no)  # copy 0 only resets
    assert log.step(np.array([1.0, 1.0]), yes, np.array([False, True]))  # copy 1 ends after 4 steps
    assert (log.returns, log.lengths, log.episodes) == ([2.0, 4.0], [2, 4], 2)
    assert log.mean100() is None  # fewer than 100 episodes
    log.clear()
    assert log.returns == [] and list(log.recent) == [2.0, 4.0]


def test_reward_scaler_divides_by_the_std_of_the_discounted_return() -> None:
    scaler = RewardScaler(num_envs=1, gamma=0.5)
    one, no = np.array([True]), np.array([False])
    scaled = [scaler(np.array([1.0]), one, no)[0] for _ in range(3)]  # returns 1, 1.5, 1.75
    assert scaled[0] == 10.0  # one sample has variance 0: 1 / sqrt(1e-8), clipped to 10
    assert scaled[2] == pytest.approx(1.0 / math.sqrt(np.var([1.0, 1.5, 1.75])), rel=1e-6)
    scaler(np.array([1.0]), one, np.array([True]))
    assert scaler.discounted[0] == 0.0  # a finished episode restarts its discounted return


def test_reward_scaling_keeps_the_sign_and_skips_reset_rows() -> None:
    scaled = scale_rewards(np.array([2.0, -2.0, 5.0]), np.zeros(3), np.array(4.0), np.array([True, True, False]))
    np.testing.assert_allclose(scaled, [1.0, -1.0, 0.0], rtol=1e-6)


# --- the config ------------------------------------------------------------------------------


def test_every_config_field_is_documented_and_the_config_is_frozen() -> None:
    docs = field_docs(PPOConfig)
    assert [f.name for f in fields(PPOConfig) if not docs.get(f.name)] == []
    with pytest.raises(AttributeError):
        PPOConfig().__setattr__("lr", 1.0)


def test_presets() -> None:
    assert preset("CartPole-v1") == PPOConfig()
    pendulum = preset("Pendulum-v1")
    assert pendulum.env_id == "Pendulum-v1" and pendulum.norm_obs and pendulum.gamma == 0.9
    assert preset("Acrobot-v1") == PPOConfig(env_id="Acrobot-v1")  # discrete, no preset: CartPole's settings
    assert preset("MountainCarContinuous-v0").norm_obs  # continuous, no preset: the MuJoCo recipe
    assert preset("CartPole-v1", seed=7).seed == 7


# --- train() ----------------------------------------------------------------------------------


def test_train_reports_every_iteration_and_returns_final_metrics(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    result = train(PPOConfig(**TINY, output_dir=str(tmp_path)), on_update=calls.append)
    assert len(calls) == 2
    for m in calls:
        assert m.keys() >= PER_UPDATE_KEYS, PER_UPDATE_KEYS - m.keys()
        assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
        assert 0.0 < m["progress"] <= 1.0
    assert calls[-1]["progress"] == 1.0 and calls[-1]["global_step"] == 512
    assert calls[0]["charts/learning_rate"] == PPOConfig().lr > calls[1]["charts/learning_rate"]  # annealed
    final = result.metrics
    assert final.keys() >= FINAL_KEYS
    assert final["total_steps"] == 512 and final["seconds_to_threshold"] is None
    assert final["steps_to_threshold"] is None and final["reward_threshold"] == 475.0
    assert 0 < final["eval_return_mean"] <= 500 and final["eval_return_std"] >= 0
    assert Path(result.artifacts["checkpoint"]).is_file()
    assert Path(result.artifacts["episode"]).stat().st_size > 1000  # an animated GIF of the final policy
    agent = load_agent(result.artifacts["checkpoint"], PPOConfig(**TINY))
    assert evaluate(agent, "CartPole-v1", 2, seed=1_000_001) == pytest.approx(
        (final["eval_return_mean"], final["eval_return_std"])
    )


def test_a_long_run_saves_periodically_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    config = PPOConfig(**{**TINY, "total_timesteps": 1024, "norm_obs": True, "norm_reward": True})
    calls: list[dict[str, float]] = []
    # Stopped after iteration 2 of 4, as a learner pressing Stop would: the state is saved all the same.
    stop_after_two = lambda: len(calls) == 2  # noqa: E731
    train(replace(config, output_dir=str(first), checkpoint_every=1), calls.append, stop_after_two)
    assert json.loads((first / "latest.json").read_text())["global_step"] == 512  # rewritten every iteration
    saved = ppo.load_training_state(first)
    assert saved["counters"]["iteration"] == 2 and saved["counters"]["global_step"] == 512
    assert saved["scaler"][2] > 0  # the reward scaler's statistics travel too

    resumed: list[dict[str, float]] = []
    result = train(replace(config, output_dir=str(second), resume_from=str(first)), resumed.append)
    assert [m["global_step"] for m in resumed] == [768, 1024] and [m["charts/iteration"] for m in resumed] == [3, 4]
    assert resumed[0]["charts/learning_rate"] == pytest.approx(annealed_lr(config.lr, 3, 4))
    assert result.metrics["total_steps"] == 1024
    with pytest.raises(FileNotFoundError, match=r"no training_state\.pt"):
        train(replace(config, resume_from=str(tmp_path / "nowhere")))


def test_should_stop_ends_training_after_the_current_iteration() -> None:
    calls: list[dict[str, float]] = []
    result = train(PPOConfig(**{**TINY, "total_timesteps": 100_000}), on_update=calls.append, should_stop=lambda: True)
    assert len(calls) == 1 and result.metrics["total_steps"] == 256
    assert result.metrics["stopped_early"] == 1.0 and result.metrics["eval_return_mean"] is None  # no evaluation


def test_max_seconds_caps_training() -> None:
    result = train(PPOConfig(**{**TINY, "total_timesteps": 100_000, "max_seconds": 0.0, "eval_episodes": 0}))
    assert result.metrics["total_steps"] == 256 and result.metrics["progress"] == 1.0


def test_kl_early_stop_cuts_the_epochs() -> None:
    calls: list[dict[str, float]] = []
    # The first minibatch moves the policy; with target 0 the second one already finds it too far.
    train(PPOConfig(**{**TINY, "update_epochs": 4, "target_kl": 0.0, "eval_episodes": 0}), on_update=calls.append)
    assert [m["charts/epochs"] for m in calls] == [0.0, 0.0]
    assert calls[-1]["charts/gradient_steps"] == 2.0  # one step per iteration


def test_kl_penalty_objective_adapts_beta_after_each_update() -> None:
    calls: list[dict[str, float]] = []
    config = PPOConfig(
        **{**TINY, "total_timesteps": 1024, "objective": "kl_penalty", "kl_beta": 3.0, "eval_episodes": 0}
    )
    train(config, on_update=calls.append)
    betas = [m["charts/kl_beta"] for m in calls]  # the beta each update used
    assert betas[0] == 3.0 and len(betas) == 4
    for m, beta_next in zip(calls[:-1], betas[1:], strict=True):  # section 4's rule, fed the KL the update reached
        assert beta_next == adapt_kl_beta(m["charts/kl_beta"], m["losses/approx_kl"], config.kl_target)
    assert len(set(betas)) > 1  # the rule did act on this run
    clip_calls: list[dict[str, float]] = []
    train(replace(config, objective="clip"), on_update=clip_calls.append)
    assert "charts/kl_beta" not in clip_calls[0]
    assert clip_calls[0]["losses/policy"] != calls[0]["losses/policy"]  # a different loss, the same first batch
    with pytest.raises(ValueError, match="kl_beta > 0"):
        train(replace(config, kl_target=0.0))
    with pytest.raises(ValueError, match="objective must be"):
        train(replace(config, objective="trpo"))  # type: ignore[arg-type]


def test_a_one_step_batch_still_trains_and_reports() -> None:
    # N = T = 1: a batch of one step, and no batch at all when that step only resets the copy.
    calls: list[dict[str, float]] = []
    config = PPOConfig(total_timesteps=64, num_envs=1, num_steps=1, num_minibatches=1, eval_episodes=0)
    train(config, on_update=calls.append)
    assert len(calls) == 64 and all(math.isfinite(v) for m in calls for v in m.values())
    assert any("losses/policy" not in m for m in calls)  # the reset steps: nothing to learn from


def test_continuous_control_smoke_run_on_pendulum() -> None:
    calls: list[dict[str, float]] = []
    config = preset("Pendulum-v1", total_timesteps=1024, num_envs=4, num_steps=128, eval_episodes=1)
    result = train(config, on_update=calls.append)
    assert len(calls) == 2
    assert all(m.keys() >= PER_UPDATE_KEYS for m in calls[1:])  # episodes end at step 200: from iteration 2
    assert all(math.isfinite(v) for m in calls for v in m.values())
    assert -2000 < result.metrics["eval_return_mean"] <= 0  # Pendulum's rewards lie in [-16.3, 0]
    assert result.metrics["reward_threshold"] is None and result.metrics["seconds_to_threshold"] is None


def test_observation_and_rewards_other_than_boxes_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="vector observations"):
        train(PPOConfig(**{**TINY, "env_id": "FrozenLake-v1"}))


# --- lessons and the command line --------------------------------------------------------------


def test_lesson_regions_are_marked_once() -> None:
    from app.content.coderef import regions_in, resolve

    regions = regions_in(ROOT / "algorithms" / "ppo.py")
    for name in ("advantages", "minibatch-update", "kl-early-stop", "lr-anneal"):
        assert len(regions.get(name, [])) == 1, name
        assert resolve(f"algorithms.ppo:train#{name}").text.strip()
    assert "beta * kl" in resolve("algorithms.losses:ppo_kl_penalty_loss#ppo-kl-penalty").text
    assert "beta * 2.0" in resolve("algorithms.losses:adapt_kl_beta#adapt-kl-beta").text
    assert len(regions_in(ROOT / "algorithms" / "rollout.py").get("rollout", [])) == 1
    assert "autoreset_mask" in resolve("algorithms.rollout:collect_rollout#rollout").text
    assert "running = delta[t]" in resolve("algorithms.returns:batched_gae#gae-batched").text


def test_cli_takes_its_defaults_from_the_preset() -> None:
    import argparse

    from algorithms.contract import add_config_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, PPOConfig)
    parser.set_defaults(**preset("Pendulum-v1").__dict__)
    args = parser.parse_args(["--env-id", "Pendulum-v1", "--no-norm-reward", "--target-kl", "0.02"])
    config = PPOConfig(**vars(args))
    assert config.gamma == 0.9 and not config.norm_reward and config.target_kl == 0.02


# --- learning (slow) ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_default_config_solves_cartpole(seed: int) -> None:
    # docs/benchmarks.md: 57k to 64k steps on seeds 1-5, and 500 in every evaluation episode.
    m = train(PPOConfig(seed=seed)).metrics
    assert m["steps_to_threshold"] is not None and m["steps_to_threshold"] <= 80_000, m
    assert m["eval_return_mean"] == 500.0, m
