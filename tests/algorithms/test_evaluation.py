"""IQM, stratified bootstrap intervals and performance profiles, against rliable and exact enumeration."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from algorithms.evaluation import (
    aggregate_mean,
    aggregate_median,
    as_score_matrix,
    bootstrap_interval,
    iqm,
    main,
    optimality_gap,
    performance_profile,
    probability_of_improvement,
    profile_with_interval,
    stratified_bootstrap,
    summarize,
)

# rliable's tests/rliable/metrics_test.py: score matrices are runs x tasks
RLIABLE_X = np.array([[1, 2], [2, 2], [1, 1], [2, 1]], dtype=float)
RLIABLE_Y = np.array([[1, 1], [2, 2], [3, 3]], dtype=float)


def test_rliable_metric_test_values() -> None:
    assert iqm(RLIABLE_X) == 1.5
    assert aggregate_mean(RLIABLE_X) == 1.5
    assert aggregate_median(RLIABLE_X) == 1.5
    assert iqm(RLIABLE_Y) == 2.0
    assert aggregate_mean(RLIABLE_Y) == 2.0
    assert aggregate_median(RLIABLE_Y) == 2.0
    assert probability_of_improvement(RLIABLE_X, RLIABLE_Y) == pytest.approx(1 / 3)


def test_iqm_trims_a_quarter_from_each_end_like_scipy_trim_mean() -> None:
    # scipy.stats.trim_mean(x, 0.25) drops int(0.25 * N) scores at each end
    assert iqm(as_score_matrix([100.0, 1, 4, 2, 3])) == 3.0  # N=5: drop 1 and 100
    squares = np.arange(10.0) ** 2  # N=10: drop 2 each end, keep 4..49
    assert iqm(as_score_matrix(squares[::-1])) == pytest.approx((4 + 9 + 16 + 25 + 36 + 49) / 6)
    # one wild run moves the mean by 100 and the IQM not at all
    base = [10.0, 11, 12, 13, 14, 15, 16, 17]
    assert iqm(as_score_matrix([*base, 1000.0])) == iqm(as_score_matrix([*base, 18.0]))


def test_iqm_pools_runs_and_tasks() -> None:
    scores = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [3.0, 13.0]])  # 8 scores
    assert iqm(scores) == pytest.approx(np.mean([2.0, 3.0, 10.0, 11.0]))
    batched = np.stack([scores, scores + 1.0])
    np.testing.assert_allclose(iqm(batched), [iqm(scores), iqm(scores) + 1.0])


def test_optimality_gap_clips_at_gamma() -> None:
    assert optimality_gap(np.array([[0.5, 2.0], [1.0, 0.0]])) == pytest.approx(1 - (0.5 + 1 + 1 + 0) / 4)


def test_stratified_bootstrap_keeps_every_score_in_its_task() -> None:
    scores = np.array([[0.0, 100.0], [1.0, 101.0], [2.0, 102.0]])
    replicates = stratified_bootstrap(scores, reps=500, seed=1)
    assert replicates.shape == (500, 3, 2)
    assert set(np.unique(replicates[:, :, 0])) <= {0.0, 1.0, 2.0}
    assert set(np.unique(replicates[:, :, 1])) <= {100.0, 101.0, 102.0}
    # within a task the runs are drawn with replacement: some replicate repeats a run
    assert any(len(set(r[:, 0])) < 3 for r in replicates)
    _, lower, upper = bootstrap_interval(scores, "mean", reps=2000)
    assert 50.0 <= lower <= upper <= 52.0  # a pooled bootstrap would wander far outside


def exact_bootstrap_distribution(scores: np.ndarray) -> np.ndarray:
    """IQM of every one of the runs**runs equally likely resamples of one task."""
    n = len(scores)
    return np.array([iqm(scores[list(pick)][:, None]) for pick in itertools.product(range(n), repeat=n)])


def test_monte_carlo_bootstrap_matches_exact_enumeration() -> None:
    scores = np.array([3.0, 7.0, 8.0, 20.0])
    exact = exact_bootstrap_distribution(scores)  # 256 resamples
    replicates = iqm(stratified_bootstrap(scores[:, None], reps=40_000, seed=3))
    for value in np.unique(exact):
        assert np.mean(replicates == value) == pytest.approx(np.mean(exact == value), abs=0.01)
    _, lower, upper = bootstrap_interval(scores, "iqm", reps=40_000, seed=4)
    assert np.quantile(exact, 0.015) <= lower <= np.quantile(exact, 0.035)
    assert np.quantile(exact, 0.965) <= upper <= np.quantile(exact, 0.985)


def test_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    trials, covered = 200, 0
    for trial in range(trials):
        sample = rng.normal(5.0, 2.0, size=30)
        _, lower, upper = bootstrap_interval(sample, "mean", reps=1000, seed=trial)
        covered += lower <= 5.0 <= upper
    assert 0.88 <= covered / trials <= 0.99  # percentile intervals under-cover slightly at n = 30


def test_interval_narrows_with_more_seeds() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(100.0, 30.0, size=40)
    widths = [np.subtract(*bootstrap_interval(scores[:n], "iqm", reps=2000)[2:0:-1]) for n in (5, 40)]
    assert widths[1] < widths[0] / 2


def test_performance_profile_counts_runs_strictly_above_tau() -> None:
    scores = as_score_matrix([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
    profile = performance_profile(scores, np.array([0.0, 1.0, 3.5, 6.0]))
    np.testing.assert_allclose(profile, [1.0, 5 / 6, 0.5, 0.0])
    band = profile_with_interval(scores, np.linspace(0, 7, 15), reps=500)
    assert np.all(np.diff(band["fraction"]) <= 0)
    assert all(lo <= f <= hi for lo, f, hi in zip(band["lower"], band["fraction"], band["upper"], strict=True))


def test_probability_of_improvement_ties_count_half_and_tasks_must_match() -> None:
    assert probability_of_improvement([1.0, 2.0], [1.0, 2.0]) == 0.5
    assert probability_of_improvement([3.0, 4.0], [1.0, 2.0]) == 1.0
    with pytest.raises(ValueError, match="tasks"):
        probability_of_improvement(np.ones((3, 2)), np.ones((3, 1)))


@pytest.mark.parametrize(
    ("bad", "message"),
    [([], "at least one run"), ([[["x"]]], "numbers"), ([1.0, float("nan")], "finite"), (np.ones((2, 2, 2)), "3 dim")],
)
def test_bad_scores_are_named(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_score_matrix(bad, "ppo")


def test_summarize_reports_points_inside_their_intervals() -> None:
    out = summarize([480.0, 500, 210, 495, 320], reps=500)
    for name in ("iqm", "mean", "median"):
        assert out[name]["lower"] <= out[name]["point"] <= out[name]["upper"]
    assert out["iqm"]["point"] == pytest.approx((320 + 480 + 495) / 3)


def test_scores_cli_reads_a_file_and_prints_json(tmp_path, capsys) -> None:
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"good": [9.0, 10, 11, 12], "bad": [1.0, 2, 3, 4]}))
    assert main(["scores", str(path), "--reps", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["groups"]["good"]["iqm"]["point"] == 10.5
    assert out["probability_of_improvement"]["good > bad"] == 1.0


def test_scores_cli_names_the_bad_group(tmp_path, capsys) -> None:
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"ppo": [1.0, "lots"]}))
    with pytest.raises(SystemExit) as stop:
        main(["scores", str(path)])
    assert stop.value.code == 2
    assert "ppo" in capsys.readouterr().err


def test_seeds_cli_trains_once_per_seed(tmp_path, capsys) -> None:
    out_file = tmp_path / "runs.json"
    args = ["seeds", "tabular", "--seeds", "0", "1", "2", "--metric", "mean_return_last_100", "--reps", "200"]
    assert main([*args, "--out", str(out_file), "--json", "--", "--episodes", "60", "--env", "cliff-walking"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads(out_file.read_text())
    assert saved["seeds"] == [0, 1, 2] and len(saved["scores"]) == 3
    assert len(set(saved["scores"])) > 1  # the seed really changed each run
    assert out["groups"]["tabular"]["runs"] == 3


def test_seeds_cli_asks_for_a_metric_the_algorithm_reports(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["seeds", "tabular", "--seeds", "0", "--", "--episodes", "5"])
    assert "mean_return_last_100" in capsys.readouterr().err
