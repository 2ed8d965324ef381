"""DQN: the replay memory, terminated versus truncated, target updates, epsilon, one TD step, train() and the CLI."""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from algorithms import dqn
from algorithms.contract import add_config_arguments, field_docs
from algorithms.dqn import (
    DQNConfig,
    ReplayBatch,
    ReplayBuffer,
    epsilon_greedy,
    linear_schedule,
    load_q_network,
    make_q_network,
    td_update,
    train,
    update_target,
)
from algorithms.reinforce import evaluate

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "total_timesteps": 600,
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 4,
    "batch_size": 16,
    "buffer_size": 1000,
    "hidden_sizes": (16,),
    "log_interval": 200,
    "eval_episodes": 2,
}
REQUIRED_KEYS = {
    "global_step",
    "progress",
    "charts/episodic_return",
    "charts/episodic_return_mean100",
    "charts/episodic_length",
    "charts/epsilon",
    "charts/steps_per_second",
    "losses/td",
    "charts/q_values",
}
FINAL_KEYS = {"total_steps", "seconds", "seconds_to_threshold", "eval_return_mean", "eval_return_std"}


class RecordingBuffer(ReplayBuffer):
    """A replay memory that also keeps every transition it was given, in order."""

    last: RecordingBuffer | None = None

    def __init__(self, capacity: int, obs_dim: int):
        super().__init__(capacity, obs_dim)
        self.added: list[tuple[np.ndarray, int, float, np.ndarray, bool]] = []
        RecordingBuffer.last = self

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        self.added.append((obs.copy(), action, reward, next_obs.copy(), bool(terminated)))
        super().add(obs, action, reward, next_obs, terminated)


def transitions(buffer: RecordingBuffer | None) -> list[tuple[np.ndarray, int, float, np.ndarray, bool]]:
    assert buffer is not None
    return buffer.added


# --- the replay memory --------------------------------------------------------------------


def test_replay_buffer_is_a_ring() -> None:
    buffer = ReplayBuffer(capacity=3, obs_dim=2)
    assert len(buffer) == 0
    for i in range(5):  # transitions 0..4: 3 and 4 overwrite the oldest, 0 and 1
        buffer.add(np.full(2, i), action=i % 2, reward=10.0 * i, next_obs=np.full(2, i + 1), terminated=i == 4)
    assert len(buffer) == 3 and buffer.pos == 2
    np.testing.assert_array_equal(buffer.obs[:, 0], [3, 4, 2])
    np.testing.assert_array_equal(buffer.next_obs[:, 0], [4, 5, 3])
    np.testing.assert_array_equal(buffer.rewards, [30.0, 40.0, 20.0])
    np.testing.assert_array_equal(buffer.actions, [1, 0, 0])
    np.testing.assert_array_equal(buffer.terminated, [0.0, 1.0, 0.0])


def test_sample_shapes_and_only_stored_transitions() -> None:
    buffer = ReplayBuffer(capacity=100, obs_dim=4)
    for i in range(7):
        buffer.add(np.full(4, i, np.float32), i % 2, float(i), np.full(4, i + 1, np.float32), False)
    batch = buffer.sample(32, np.random.default_rng(0))
    assert isinstance(batch, ReplayBatch)
    assert batch.obs.shape == batch.next_obs.shape == (32, 4) and batch.obs.dtype == torch.float32
    assert batch.actions.shape == (32,) and batch.actions.dtype == torch.int64
    assert batch.rewards.shape == batch.terminated.shape == (32,) and batch.rewards.dtype == torch.float32
    i = batch.obs[:, 0]
    assert set(i.tolist()) <= set(range(7))  # never the empty slots 7..99
    assert len(set(i.tolist())) > 3  # and not always the same few
    # The fields of one sampled row belong to one transition.
    torch.testing.assert_close(batch.rewards, i)
    torch.testing.assert_close(batch.next_obs[:, 0], i + 1)
    torch.testing.assert_close(batch.actions, i.long() % 2)


def test_sampling_is_roughly_uniform_and_seeded() -> None:
    buffer = ReplayBuffer(capacity=4, obs_dim=1)
    for i in range(4):
        buffer.add(np.array([i]), 0, 0.0, np.array([i]), False)
    counts = np.bincount(buffer.sample(4000, np.random.default_rng(1)).obs[:, 0].long().numpy(), minlength=4)
    assert counts.min() > 900 and counts.max() < 1100
    a = buffer.sample(8, np.random.default_rng(5)).obs
    b = buffer.sample(8, np.random.default_rng(5)).obs
    torch.testing.assert_close(a, b)


def test_empty_or_zero_capacity_buffer_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, 2).sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one"):
        ReplayBuffer(0, 2)


# --- terminated versus truncated ----------------------------------------------------------


def test_a_time_limit_is_stored_as_not_terminated(monkeypatch: pytest.MonkeyPatch) -> None:
    # Random actions with a 5-step limit: every episode is cut by the limit before the pole falls.
    monkeypatch.setattr(dqn, "ReplayBuffer", RecordingBuffer)
    config = {**TINY, "total_timesteps": 20, "learning_starts": 1000, "max_episode_steps": 5, "eval_episodes": 0}
    result = train(DQNConfig(**config))
    added = transitions(RecordingBuffer.last)
    assert len(added) == 20 and result.metrics["episodes"] == 4
    assert [t[4] for t in added] == [False] * 20  # truncated, never terminated: the target bootstraps
    for t in range(19):
        _, _, _, next_obs, _ = added[t]
        following = added[t + 1][0]
        if (t + 1) % 5:  # inside an episode, S_{t+1} is where the next transition starts
            np.testing.assert_array_equal(next_obs, following)
        else:  # at the limit the stored S_{t+1} is the state the episode was cut in, not the next reset
            assert not np.array_equal(next_obs, following)
            assert np.abs(following).max() <= 0.05  # CartPole resets to U(-0.05, 0.05)


def test_a_fallen_pole_is_stored_as_terminated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dqn, "ReplayBuffer", RecordingBuffer)
    result = train(DQNConfig(**{**TINY, "total_timesteps": 300, "learning_starts": 1000, "eval_episodes": 0}))
    added = transitions(RecordingBuffer.last)
    ends = [t for t, transition in enumerate(added) if transition[4]]
    assert len(ends) == result.metrics["episodes"] >= 5  # random play: each episode ends with the pole down
    assert abs(added[ends[0]][3][2]) > 0.2 or abs(added[ends[0]][3][0]) > 2.4  # past CartPole's angle or edge
    assert all(transition[2] == 1.0 for transition in added)


# --- target network and epsilon -----------------------------------------------------------


def test_hard_target_update_copies_the_weights() -> None:
    torch.manual_seed(0)
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    assert not torch.equal(online.weight, target.weight)
    update_target(target, online, tau=1.0)
    assert torch.equal(online.weight, target.weight) and torch.equal(online.bias, target.bias)
    with torch.no_grad():
        online.weight.add_(1.0)  # a copy, not the same tensor
    assert not torch.equal(online.weight, target.weight)


def test_soft_target_update_by_hand() -> None:
    online, target = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        online.weight.fill_(2.0), online.bias.fill_(-1.0)
        target.weight.fill_(10.0), target.bias.fill_(3.0)
    update_target(target, online, tau=0.25)  # theta^- <- 0.25 theta + 0.75 theta^-
    assert target.weight.item() == pytest.approx(0.25 * 2.0 + 0.75 * 10.0)  # 8.0
    assert target.bias.item() == pytest.approx(0.25 * -1.0 + 0.75 * 3.0)  # 2.0
    assert online.weight.item() == 2.0 and online.bias.item() == -1.0


def test_target_network_follows_the_interval_in_train(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(dqn, "update_target", lambda target, online, tau: calls.append(tau))
    train(DQNConfig(**{**TINY, "total_timesteps": 100, "target_update_interval": 30, "tau": 0.5, "eval_episodes": 0}))
    assert calls == [0.5] * 3  # after steps 30, 60, 90


def test_linear_epsilon_schedule_by_hand() -> None:
    # From 1.0 to 0.04 over 100 steps, then flat.
    assert linear_schedule(1.0, 0.04, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.04, 100, 25) == pytest.approx(1.0 - 0.25 * 0.96)  # 0.76
    assert linear_schedule(1.0, 0.04, 100, 50) == pytest.approx(0.52)
    assert linear_schedule(1.0, 0.04, 100, 100) == pytest.approx(0.04)
    assert linear_schedule(1.0, 0.04, 100, 10_000) == pytest.approx(0.04)
    assert linear_schedule(1.0, 0.04, 0, 0) == pytest.approx(0.04)  # no annealing: the final value at once


def test_train_reports_the_schedule() -> None:
    # 1000 steps, fraction 0.5: epsilon reaches 0.1 at step 500 and stays there.
    calls: list[dict[str, float]] = []
    config = {**TINY, "total_timesteps": 1000, "exploration_fraction": 0.5, "exploration_final_eps": 0.1}
    train(DQNConfig(**{**config, "eval_episodes": 0}), on_update=calls.append)
    # Reported after steps 200, 400, ...: the epsilon of the last step, t = 199, 399, ...
    eps = [m["charts/epsilon"] for m in calls]
    np.testing.assert_allclose(eps, [1 - 0.9 * 199 / 500, 1 - 0.9 * 399 / 500, 0.1, 0.1, 0.1])


def test_epsilon_greedy_explores_with_probability_epsilon() -> None:
    rng = np.random.default_rng(0)
    assert {epsilon_greedy(lambda: 2, 3, 0.0, rng) for _ in range(100)} == {2}

    def never() -> int:
        raise AssertionError("the greedy action is not computed for a random step")

    counts = np.bincount([epsilon_greedy(never, 3, 1.0, rng) for _ in range(3000)], minlength=3)
    assert counts.min() > 900
    greedy = [epsilon_greedy(lambda: 2, 3, 0.3, rng) == 2 for _ in range(10_000)]
    assert np.mean(greedy) == pytest.approx(0.7 + 0.3 / 3, abs=0.02)  # a random pick can be the greedy action too


# --- one TD update ------------------------------------------------------------------------


def linear_q(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    q = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        q.weight.copy_(torch.tensor(weight)), q.bias.copy_(torch.tensor(bias))
    return q


def toy_batch() -> ReplayBatch:
    # Two transitions with one-hot states: s = e0 -> s' = e1 (goes on), s = e1 -> s' = e0 (terminated).
    return ReplayBatch(
        obs=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        actions=torch.tensor([0, 1]),
        rewards=torch.tensor([1.0, 2.0]),
        next_obs=torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
        terminated=torch.tensor([0.0, 1.0]),
    )


@pytest.mark.parametrize("double_dqn", [False, True])
def test_one_td_update_moves_q_toward_the_target(double_dqn: bool) -> None:
    # Q(s, a) = W[a] . s: Q(e0, .) = (0, 0), Q(e1, .) = (5, 1).
    q = linear_q([[0.0, 5.0], [0.0, 1.0]], [0.0, 0.0])
    # The target network's Q(e1, .) = (3, 4): max picks a' = 1 (4); the online argmax picks a' = 0 (3).
    target = linear_q([[0.0, 3.0], [0.0, 4.0]], [0.0, 0.0])
    target_before = copy.deepcopy(target.state_dict())
    # y_0 = 1 + 0.5 * 4 (DQN) or 1 + 0.5 * 3 (double DQN); y_1 = 2: terminated, no bootstrap.
    y = torch.tensor([3.0 if not double_dqn else 2.5, 2.0])
    q_taken_before = torch.tensor([0.0, 1.0])  # Q(e0, 0), Q(e1, 1)
    optimizer = torch.optim.SGD(q.parameters(), lr=0.1)
    loss, q_mean = td_update(q, target, optimizer, toy_batch(), gamma=0.5, double_dqn=double_dqn, huber=False)
    assert loss == pytest.approx(((y - q_taken_before) ** 2).mean().item())
    assert q_mean == pytest.approx(0.5)
    with torch.no_grad():
        q_taken_after = q(toy_batch().obs).gather(1, toy_batch().actions[:, None]).squeeze(1)
    assert torch.all((y - q_taken_after).abs() < (y - q_taken_before).abs())
    # By hand: the mean squared error over B = 2 has dL/dQ_i = 2 (Q_i - y_i) / B = Q_i - y_i. Row a_i of the
    # weights (times s_i, |s_i| = 1) and bias a_i each move by lr (y_i - Q_i), so Q_i moves by 2 lr (y_i - Q_i).
    torch.testing.assert_close(q_taken_after, q_taken_before + 2 * 0.1 * (y - q_taken_before))
    for name, value in target.state_dict().items():  # the target network does not learn
        torch.testing.assert_close(value, target_before[name])


def test_huber_and_gradient_clipping_bound_the_step() -> None:
    def gradient_norm(huber: bool, max_grad_norm: float) -> float:
        q = linear_q([[0.0, 0.0], [0.0, 0.0]], [0.0, 0.0])
        target = linear_q([[0.0, 100.0], [0.0, 100.0]], [0.0, 0.0])  # a wild target: y = (1 + 0.5 * 100, 2)
        td_update(q, target, torch.optim.SGD(q.parameters(), lr=1.0), toy_batch(), 0.5, False, huber, max_grad_norm)
        return math.hypot(q.weight.grad.norm().item(), q.bias.grad.norm().item())

    # dL/dQ_i = 2 (Q_i - y_i) / B = (-51, -2), in one weight and one bias each.
    assert gradient_norm(huber=False, max_grad_norm=0.0) == pytest.approx(math.sqrt(2) * math.hypot(51.0, 2.0))
    # Huber: the error is clipped to [-1, 1] (Mnih et al.), so dL/dQ_i = -1 / B for both.
    assert gradient_norm(huber=True, max_grad_norm=0.0) == pytest.approx(1.0)
    assert gradient_norm(huber=False, max_grad_norm=0.5) == pytest.approx(0.5)


# --- train() ------------------------------------------------------------------------------


def test_train_reports_and_returns_final_metrics(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    result = train(DQNConfig(**TINY, output_dir=str(tmp_path)), on_update=calls.append)
    assert [m["global_step"] for m in calls] == [200.0, 400.0, 600.0]
    for m in calls:
        assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
        assert 0.0 <= m["progress"] <= 1.0
    assert calls[-1].keys() >= REQUIRED_KEYS and calls[-1]["progress"] == 1.0
    assert calls[-1]["charts/updates"] == 4 * len(range(150, 601, 50))  # rounds after steps 150, 200, ..., 600
    final = result.metrics
    assert final.keys() >= FINAL_KEYS and final["total_steps"] == 600
    assert final["seconds_to_threshold"] is None and final["reward_threshold"] == 475.0
    assert 0 < final["eval_return_mean"] <= 500 and final["eval_return_std"] >= 0
    q_network = load_q_network(result.artifacts["checkpoint"], DQNConfig(**TINY))
    assert evaluate(q_network, "CartPole-v1", 2, seed=1_000_001) == pytest.approx(
        (final["eval_return_mean"], final["eval_return_std"])
    )
    assert json.loads(Path(result.artifacts["config"]).read_text())["total_timesteps"] == 600
    assert Path(result.artifacts["episode"]).stat().st_size > 1000  # a GIF of the greedy policy


def test_no_loss_before_learning_starts() -> None:
    calls: list[dict[str, float]] = []
    train(DQNConfig(**{**TINY, "learning_starts": 10_000, "eval_episodes": 0}), on_update=calls.append)
    assert calls and all("losses/td" not in m and m["charts/updates"] == 0 for m in calls)


def test_should_stop_ends_training_without_evaluation(tmp_path: Path) -> None:
    calls: list[dict[str, float]] = []
    config = DQNConfig(**{**TINY, "total_timesteps": 100_000, "output_dir": str(tmp_path)})
    result = train(config, on_update=calls.append, should_stop=lambda: True)
    assert result.metrics["total_steps"] == 50  # the first poll: after the first round of updates would be due
    assert result.metrics["stopped_early"] == 1.0 and result.metrics["eval_return_mean"] is None
    assert "checkpoint" in result.artifacts and "episode" not in result.artifacts


def test_max_seconds_caps_training() -> None:
    result = train(DQNConfig(**{**TINY, "total_timesteps": 100_000, "max_seconds": 0.0, "eval_episodes": 0}))
    assert result.metrics["total_steps"] == 200 and result.metrics["progress"] == 1.0


def test_keeping_the_best_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Scripted evaluation scores during training: the network of the second evaluation is the best.
    scores = iter([10.0, 30.0, 20.0])
    snapshots: list[dict[str, torch.Tensor]] = []

    def scripted(q_network: nn.Module, env_id: str, episodes: int, seed: int, max_steps: int | None = None):
        if seed >= 2_000_000:  # the evaluations during training
            snapshots.append(copy.deepcopy(q_network.state_dict()))
            return next(scores), 0.0
        return evaluate(q_network, env_id, episodes, seed, max_steps)

    monkeypatch.setattr(dqn, "evaluate", scripted)
    config = DQNConfig(**{**TINY, "checkpoint_eval_interval": 200, "output_dir": str(tmp_path)})
    result = train(config)
    assert len(snapshots) == 3
    m = result.metrics
    assert m["best_checkpoint_step"] == 400 and m["best_checkpoint_eval_return"] == 30.0
    assert m["last_network_eval_return_mean"] is not None
    kept = torch.load(result.artifacts["checkpoint"], weights_only=True)
    for name, value in kept.items():
        torch.testing.assert_close(value, snapshots[1][name])


def test_continuous_actions_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs discrete actions"):
        train(DQNConfig(**{**TINY, "env_id": "Pendulum-v1"}))


def test_q_network_shape() -> None:
    q = make_q_network(4, (8, 8), 2)
    assert q(torch.zeros(5, 4)).shape == (5, 2)
    assert sum(isinstance(layer, nn.ReLU) for layer in q) == 2


# --- the lesson regions and the command line -------------------------------------------------


def test_lesson_regions_are_unique_and_closed() -> None:
    source = Path(dqn.__file__).read_text()
    starts = re.findall(r"^\s*# lesson:start (\S+)$", source, re.M)
    ends = re.findall(r"^\s*# lesson:end (\S+)$", source, re.M)
    assert sorted(starts) == sorted(ends) and len(set(starts)) == len(starts)
    assert {"replay-buffer-sample", "epsilon-schedule", "td-update", "target-update"} <= set(starts)


def test_every_config_field_has_a_docstring_and_a_flag() -> None:
    docs = field_docs(DQNConfig)
    assert {f.name for f in fields(DQNConfig)} == set(docs)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, DQNConfig)
    args = parser.parse_args(["--no-double-dqn", "--hidden-sizes", "64,64", "--tau", "0.01", "--max-seconds", "none"])
    config = DQNConfig(**vars(args))
    assert (config.double_dqn, config.hidden_sizes, config.tau, config.max_seconds) == (False, (64, 64), 0.01, None)
    assert DQNConfig(**vars(parser.parse_args([]))) == DQNConfig()
    with pytest.raises(AttributeError):
        config.__setattr__("lr", 1.0)  # frozen


# --- learning (slow) ------------------------------------------------------------------------


@pytest.mark.slow
def test_default_config_balances_the_pole() -> None:
    result = train(DQNConfig(seed=1))
    m = result.metrics
    assert m["eval_return_mean"] == 500.0, m
