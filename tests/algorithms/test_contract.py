"""The bookkeeping every train() shares (algorithms/contract.py): the command line's progress lines."""

from __future__ import annotations

from algorithms import dqn, sac

BEFORE_LEARNING = {"global_step": 300.0, "charts/episodes": 12.0, "charts/steps_per_second": 950.0}


def test_the_off_policy_line_shows_the_losses_once_learning_has_started() -> None:
    early = dqn.progress_line({**BEFORE_LEARNING, "charts/epsilon": 0.5})
    assert early.startswith("step      300  episode    12") and "epsilon 0.500" in early
    assert "td loss" not in early and "return" not in early
    late = dqn.progress_line(
        {
            **BEFORE_LEARNING,
            "charts/epsilon": 0.05,
            "charts/episodic_return": 21.0,
            "charts/episodic_return_mean100": 18.25,
            "losses/td": 0.0123,
            "charts/q_values": 4.5,
        }
    )
    assert "return     21.0  mean100     18.2" in late
    assert "epsilon 0.050  td loss   0.0123  Q    4.50" in late and late.endswith("950 steps/s")


def test_sac_names_its_own_knob_and_losses() -> None:
    line = sac.progress_line({**BEFORE_LEARNING, "charts/alpha": 0.2, "losses/q": 1.5, "charts/entropy": -1.0})
    assert "alpha 0.200  q loss    1.500  entropy  -1.00" in line
    assert "epsilon" not in line


def test_a_loop_ends_on_time_before_it_asks_whether_to_stop() -> None:
    from algorithms.contract import ended_by

    asked: list[bool] = []

    def stop() -> bool:
        asked.append(True)
        return True

    assert ended_by(10.0, 10.0, stop) == "time" and asked == []  # out of time: Stop is not even polled
    assert ended_by(10.0, 9.9, stop) == "stop" and asked == [True]
    assert ended_by(None, 1e9, lambda: False) is None
    assert ended_by(None, 1e9, None) is None
