"""Benchmark: how well explain and spot-the-bug answers are graded, keyword rubric versus meaning.

Grades the labelled answers of tests/data/explain_calibration.yaml with the keyword matcher the app
used before (app/grading/rubric.py) and with the offline semantic grader (app/grading/semantic.py),
and prints, per question kind, precision, recall and accuracy (a good answer should pass; a salad
and a wrong answer should fail; partial answers are reported but not scored), the pass rate of each
label, and the time to grade one answer on a warm grader.

    python -m bench.explain_grading [--split heldout|tune|all] [--repeat N]

`--repeat N` grades each answer N times, each time with the answer's own embeddings forgotten (the
question's anchors stay cached, as on a warm server), and times the fastest: on a machine shared
with other work that is closer to the grader's own cost than one run is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/explain_grading.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from app.content.quiz_models import ExplainQuestion
from app.grading import calibration, rubric, semantic
from app.grading.bank import load_questions


def _keyword_score(points, text: str) -> int:  # type: ignore[no-untyped-def]
    return rubric.match(points, text).score


def _semantic_score(points, text: str, reference: str, fix: bool) -> int:  # type: ignore[no-untyped-def]
    return semantic.grade_points(points, text, reference, fix=fix).score


def run(split: str, repeat: int = 1) -> dict[str, object]:
    questions = load_questions()
    passed: dict[tuple[str, str, str], list[bool]] = defaultdict(list)  # (grader, kind, label)
    times: list[float] = []
    cpu: list[float] = []
    semantic.encoder()  # load the model before timing
    items = []
    for cq in calibration.load():
        if split != "all" and cq.split != split:
            continue
        q = questions.get(cq.question)
        if q is None:
            raise SystemExit(f"calibration answers name '{cq.question}', which is no question")
        explain = isinstance(q, ExplainQuestion)
        points, reference = (q.rubric, q.model_answer) if explain else (q.fix, q.model_fix)
        need = q.points_to_pass if explain else q.fix_pass_mark
        semantic.grade_points(points, "Warm the anchors up.", reference, fix=not explain)  # a warm server
        items += [(q, points, reference, need, not explain, a) for a in cq.answers]
    enc = semantic.encoder()
    warm = dict(enc._cache) if enc is not None else {}  # the anchors' embeddings: what a warm server has
    for q, points, reference, need, fix, answer in items:
        passed[("keyword", q.kind, answer.label)].append(_keyword_score(points, answer.text) >= need)
        best = best_cpu = float("inf")
        for _ in range(repeat):
            if enc is not None:
                enc._cache.clear()
                enc._cache.update(warm)
            start, start_cpu = time.perf_counter(), time.process_time()
            score = _semantic_score(points, answer.text, reference, fix)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        times.append(best)
        cpu.append(best_cpu)
        passed[("semantic", q.kind, answer.label)].append(score >= need)
    return {"passed": passed, "times": times, "cpu": cpu, "answers": len(items)}


def _metrics(passed: dict[tuple[str, str, str], list[bool]], grader: str, kind: str | None) -> dict[str, float]:
    def get(label: str) -> list[bool]:
        return [
            p for (g, k, lab), ps in passed.items() if g == grader and lab == label and kind in (None, k) for p in ps
        ]

    good, bad = get("good"), get("salad") + get("wrong")
    tp, fn = sum(good), len(good) - sum(good)
    fp, tn = sum(bad), len(bad) - sum(bad)
    out = {
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "accuracy": (tp + tn) / (tp + tn + fp + fn) if good or bad else float("nan"),
    }
    for label in calibration.LABELS:
        values = get(label)
        out[f"pass:{label}"] = sum(values) / len(values) if values else float("nan")
        out[f"n:{label}"] = len(values)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["heldout", "tune", "all"], default="heldout")
    parser.add_argument("--repeat", type=int, default=1, help="grade each answer N times, time the fastest")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    result = run(args.split, args.repeat)
    passed = result["passed"]
    print(f"{result['answers']} labelled answers ({args.split}); good should pass, salad and wrong should fail")
    header = f"{'kind':14s} {'grader':9s} {'precision':>9s} {'recall':>7s} {'accuracy':>8s}  " + "  ".join(
        f"{'pass ' + label:>12s}" for label in calibration.LABELS
    )
    print(header)
    for kind in ("explain", "spot-the-bug", None):
        for grader in ("keyword", "semantic"):
            m = _metrics(passed, grader, kind)
            rates = "  ".join(f"{m['pass:' + label]:>6.0%} of {m['n:' + label]:<3d}" for label in calibration.LABELS)
            scores = f"{m['precision']:>9.2f} {m['recall']:>7.2f} {m['accuracy']:>8.2f}"
            print(f"{kind or 'all':14s} {grader:9s} {scores}  {rates}")
    for name in ("times", "cpu"):
        values = sorted(result[name])
        print(
            f"semantic grader, warm, per answer{f' (fastest of {args.repeat})' if args.repeat > 1 else ''}, "
            f"{'wall-clock' if name == 'times' else 'CPU time (all threads)'}: "
            f"median {1000 * statistics.median(values):.0f} ms, 90th percentile "
            f"{1000 * values[int(0.9 * (len(values) - 1))]:.0f} ms, max {1000 * values[-1]:.0f} ms"
        )
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
