"""Reliable evaluation over seeds: IQM, stratified bootstrap confidence intervals, performance profiles.

Agarwal, Schwarzer, Castro, Courville and Bellemare (2021), "Deep reinforcement learning at the
edge of the statistical precipice", with the definitions of their library ``rliable``
(github.com/google-research/rliable, ``metrics.py`` and ``library.py``):

- scores are a matrix of shape ``(runs, tasks)``: ``scores[n, m]`` is run ``n``'s (normalised)
  score on task ``m``;
- the **interquartile mean** is the 25% trimmed mean of *all* ``runs * tasks`` scores
  (``scipy.stats.trim_mean(scores, 0.25, axis=None)``: sort, drop ``int(0.25 * N)`` from each
  end, average the rest);
- the **stratified bootstrap** resamples the runs *within each task* with replacement (every
  replicate keeps every task with its own number of runs), recomputes the statistic, and the
  **percentile** interval is the 2.5th and 97.5th percentile of the replicates;
- a **performance profile** (their "score distribution") is, for each threshold ``tau``, the
  fraction of all runs with a score above ``tau``;
- the **probability of improvement** P(X > Y) is, per task, the Mann-Whitney U statistic over
  ``n_x * n_y`` (ties count one half), averaged over tasks.

``rliable`` itself needs ``arch``, ``scipy``, ``seaborn`` and ``pandas``; these few lines of numpy
are the same estimators (tests/algorithms/test_evaluation.py checks them against rliable's own
test values and against an exact enumeration of the bootstrap).

Command line (one JSON object on the last line with ``--json``)::

    python -m algorithms.evaluation seeds reinforce --seeds 0 1 2 3 4 --json -- --total-episodes 200
    python -m algorithms.evaluation scores runs.json --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]
"""Maps scores of shape (..., runs, tasks) to one number (...) or a vector (..., k) per leading index."""


def as_score_matrix(scores: Any, name: str = "scores") -> np.ndarray:
    """A (runs, tasks) float matrix; a flat list is one task. Raises ValueError naming what is wrong."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, a list or a (runs x tasks) matrix ({error})") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a list or a (runs x tasks) matrix, got {array.ndim} dimensions")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: needs at least one run of one task, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: every score must be a finite number")
    return array


# ---------------------------------------------------------------------------------------
# Point estimates (rliable/metrics.py)
# ---------------------------------------------------------------------------------------


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean over all runs and tasks: the 25% trimmed mean (rliable's aggregate_iqm).

    Shape (..., runs, tasks) -> (...). With N scores, int(0.25 N) are dropped from each end, as in
    scipy.stats.trim_mean: 4 scores keep the middle 2, 5 keep the middle 3, 10 keep the middle 6.
    """
    # lesson:start iqm
    flat = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)  # (..., N)
    cut = int(0.25 * flat.shape[-1])
    return flat[..., cut : flat.shape[-1] - cut].mean(axis=-1)
    # lesson:end iqm


def aggregate_mean(scores: np.ndarray) -> np.ndarray:
    """Mean over tasks of each task's mean score. Shape (..., runs, tasks) -> (...)."""
    return scores.mean(axis=-2).mean(axis=-1)


def aggregate_median(scores: np.ndarray) -> np.ndarray:
    """Median over tasks of each task's mean score (one task: its mean). Shape (..., runs, tasks) -> (...)."""
    return np.median(scores.mean(axis=-2), axis=-1)


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """How far below gamma the scores fall on average, scores above gamma counting as gamma."""
    return gamma - np.minimum(scores, gamma).mean(axis=(-2, -1))


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """P(X > Y): per task, the chance a random run of X beats a random run of Y (ties count 1/2),
    averaged over tasks. This is the Mann-Whitney U statistic over n_x * n_y, as in rliable."""
    x, y = as_score_matrix(scores_x, "scores_x"), as_score_matrix(scores_y, "scores_y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"scores_x has {x.shape[1]} tasks and scores_y {y.shape[1]}: they must match")
    x_cols, y_cols = x.T[:, :, None], y.T[:, None, :]  # (tasks, n_x, 1), (tasks, 1, n_y)
    wins = (x_cols > y_cols).mean(axis=(1, 2)) + 0.5 * (x_cols == y_cols).mean(axis=(1, 2))
    return float(wins.mean())


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of all runs (over every task) with a score above each tau (rliable's score distribution).

    Shape (..., runs, tasks) and (k,) -> (..., k). It never rises as tau grows.
    """
    # lesson:start profile
    taus = np.asarray(taus, dtype=np.float64)
    return (scores[..., None] > taus).mean(axis=(-3, -2))
    # lesson:end profile


STATISTICS: dict[str, Statistic] = {
    "iqm": iqm,
    "mean": aggregate_mean,
    "median": aggregate_median,
    "optimality_gap": optimality_gap,
}


# ---------------------------------------------------------------------------------------
# Interval estimates (rliable/library.py: StratifiedBootstrap, percentile method)
# ---------------------------------------------------------------------------------------


def stratified_bootstrap(scores: np.ndarray, reps: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``reps`` resamples of a (runs, tasks) matrix: the runs of each task drawn with replacement,
    separately per task. Returns shape (reps, runs, tasks)."""
    rng = np.random.default_rng(seed)
    runs, tasks = scores.shape
    # lesson:start stratified
    rows = rng.integers(0, runs, size=(reps, runs, tasks))  # a run index for every cell, per replicate
    columns = np.arange(tasks)  # ... but each cell stays in its own task: the strata
    return scores[rows, columns]
    # lesson:end stratified


def bootstrap_interval(
    scores: Any,
    statistic: Statistic | str = "iqm",
    reps: int = 2000,
    size: float = 0.95,
    seed: int = 0,
    chunk: int = 1000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile stratified-bootstrap interval of ``statistic``.

    Returns (point, lower, upper), each a float array of the statistic's shape (() for IQM).
    Replicates are drawn ``chunk`` at a time so that memory stays small for many runs.
    """
    matrix = as_score_matrix(scores)
    function = STATISTICS[statistic] if isinstance(statistic, str) else statistic
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    if not 0.0 < size < 1.0:
        raise ValueError(f"size (the interval's coverage) must lie strictly between 0 and 1, got {size}")
    rng = np.random.default_rng(seed)
    replicates = np.concatenate(
        [
            np.asarray(function(stratified_bootstrap(matrix, min(chunk, reps - done), rng)))
            for done in range(0, reps, chunk)
        ]
    )
    alpha = 1.0 - size
    lower, upper = np.percentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return np.asarray(function(matrix)), lower, upper


def summarize(scores: Any, reps: int = 2000, size: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """IQM, mean and median with their stratified bootstrap intervals, as plain numbers."""
    matrix = as_score_matrix(scores)
    out: dict[str, Any] = {"runs": matrix.shape[0], "tasks": matrix.shape[1], "reps": reps, "size": size}
    for name in ("iqm", "mean", "median"):
        point, lower, upper = bootstrap_interval(matrix, name, reps, size, seed)
        out[name] = {"point": float(point), "lower": float(lower), "upper": float(upper)}
    return out


def profile_with_interval(
    scores: Any, taus: Sequence[float], reps: int = 2000, size: float = 0.95, seed: int = 0
) -> dict[str, list[float]]:
    """Performance profile at ``taus`` with its pointwise stratified bootstrap band."""
    grid = np.asarray(taus, dtype=np.float64)
    point, lower, upper = bootstrap_interval(scores, lambda s: performance_profile(s, grid), reps, size, seed)
    return {"tau": grid.tolist(), "fraction": point.tolist(), "lower": lower.tolist(), "upper": upper.tolist()}


# ---------------------------------------------------------------------------------------
# Running an algorithm on several seeds
# ---------------------------------------------------------------------------------------


def run_seeds(
    algorithm: str,
    seeds: Sequence[int],
    config: Any = None,
    metric: str | None = None,
    on_seed: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train a registered algorithm once per seed and collect one final metric per run.

    ``config`` is the algorithm's config (its ``seed`` is replaced per run); ``metric`` defaults to
    ``eval_return_mean`` (the greedy evaluation of the final policy) when the algorithm reports it.
    """
    from algorithms import load

    module, config_class, _ = load(algorithm)
    config = config if config is not None else config_class()
    if not hasattr(config, "seed"):
        raise ValueError(f"{algorithm}'s config has no 'seed' field: seeds cannot be varied")
    if not seeds:
        raise ValueError("give at least one seed")
    scores: list[float] = []
    chosen = metric
    for seed in seeds:
        metrics = module.train(replace(config, seed=int(seed))).metrics
        if chosen is None:
            chosen = "eval_return_mean" if metrics.get("eval_return_mean") is not None else None
            if chosen is None:
                numeric = sorted(k for k, v in metrics.items() if isinstance(v, int | float))
                raise ValueError(f"{algorithm} reports no eval_return_mean; pick --metric from {', '.join(numeric)}")
        value = metrics.get(chosen)
        if not isinstance(value, int | float):
            numeric = sorted(k for k, v in metrics.items() if isinstance(v, int | float))
            raise ValueError(f"{algorithm} reports no number '{chosen}'; pick --metric from {', '.join(numeric)}")
        scores.append(float(value))
        if on_seed is not None:
            on_seed(int(seed), float(value))
    return {"algorithm": algorithm, "metric": chosen, "seeds": [int(s) for s in seeds], "scores": scores}


def load_score_file(path: str | Path) -> dict[str, np.ndarray]:
    """Scores by name from JSON: {"name": [scores...] or [[run x task]], ...}, or a `seeds` output
    ({"groups": {"name": {"scores": [...]}}} or one {"algorithm": ..., "scores": [...]})."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read JSON scores ({error})") from None
    if isinstance(data, dict) and "groups" in data:
        data = {name: group.get("scores") for name, group in data["groups"].items()}
    elif isinstance(data, dict) and "scores" in data:
        data = {str(data.get("algorithm", "scores")): data["scores"]}
    if not isinstance(data, dict) or not data:
        raise ValueError(f'{path}: expected an object of named score lists, e.g. {{"ppo": [480, 500, 210]}}')
    return {str(name): as_score_matrix(values, f"{path}: {name}") for name, values in data.items()}


def report(groups: Mapping[str, np.ndarray], reps: int, size: float, seed: int) -> dict[str, Any]:
    """summarize() for each group, and P(X > Y) for every ordered pair with the same tasks."""
    out: dict[str, Any] = {name: summarize(scores, reps, size, seed) for name, scores in groups.items()}
    pairs = {
        f"{a} > {b}": probability_of_improvement(groups[a], groups[b])
        for a in groups
        for b in groups
        if a != b and groups[a].shape[1] == groups[b].shape[1]
    }
    return {"groups": out, "probability_of_improvement": pairs}


def _line(name: str, summary: dict[str, Any]) -> str:
    i = summary["iqm"]
    pct = round(100 * summary["size"])
    # rliable's median is over tasks of each task's mean: with one task it is the mean, so it is left out
    median = f", median of task means {summary['median']['point']:.1f}" if summary["tasks"] > 1 else ""
    return (
        f"{name}: IQM {i['point']:.1f} [{pct}% CI {i['lower']:.1f}, {i['upper']:.1f}], "
        f"mean {summary['mean']['point']:.1f}{median}, {summary['runs']} runs x {summary['tasks']} task(s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from algorithms.contract import add_config_arguments

    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(prog="python -m algorithms.evaluation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seeds = commands.add_parser(
        "seeds", help="train an algorithm once per seed; report IQM with its bootstrap interval"
    )
    seeds.add_argument("algorithm", help="a registered algorithm, e.g. reinforce, a2c, ppo, dqn, tabular")
    seeds.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    seeds.add_argument("--metric", default=None, help="final metric to score (default: eval_return_mean)")
    seeds.add_argument("--out", default=None, help="also write the scores as JSON here (for the scores command)")
    scores = commands.add_parser("scores", help="IQM, mean, median with intervals for scores in a JSON file")
    scores.add_argument("file", help='JSON like {"ppo": [480, 500, 210], "a2c": [[...], ...]}')
    for sub in (seeds, scores):
        sub.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
        sub.add_argument("--size", type=float, default=0.95, help="interval coverage")
        sub.add_argument("--bootstrap-seed", type=int, default=0)
        sub.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        if args.command == "seeds":
            from algorithms import load

            _, config_class, _ = load(args.algorithm)
            config_parser = argparse.ArgumentParser(prog=f"... seeds {args.algorithm} --")
            add_config_arguments(config_parser, config_class)
            config = config_class(**vars(config_parser.parse_args(extra)))
            result = run_seeds(
                args.algorithm,
                args.seeds,
                config,
                args.metric,
                on_seed=lambda s, v: print(f"seed {s}: {v:.2f}", flush=True),
            )
            groups = {args.algorithm: as_score_matrix(result["scores"])}
            if args.out:
                Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        else:
            if extra:
                parser.error("the scores command takes no config flags after --")
            result = {"file": args.file}
            groups = load_score_file(args.file)
        summary = report(groups, args.reps, args.size, args.bootstrap_seed)
    except (KeyError, ValueError) as error:
        parser.error(str(error).strip("'\""))
    for name, group in summary["groups"].items():
        print(_line(name, group))
    for pair, p in summary["probability_of_improvement"].items():
        print(f"P({pair}) = {p:.2f}")
    if args.json:
        print(
            json.dumps(
                {"command": args.command, **result, **summary, "seconds": round(time.perf_counter() - started, 2)}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
