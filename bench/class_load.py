"""Load test: a class of N learners doing what the pages do, at once, through the functions the pages call.

Each simulated learner (a thread, as each browser session is a thread of the Streamlit server):
grades and records a choice, a predict and a coding answer (the coding one through the shared
sandbox), reads Review (its cards, the review queue) and Progress (attempts, events, summary), and
starts and watches a short training run (tabular Q-learning on the windy gridworld). It prints
p50/p95/max latency per action, attempts written vs stored, runs started vs finished, and a last
line `lost N`: attempts or runs written but not found afterwards (must be 0).

    python -m bench.class_load [--learners 30] [--runs-every 1] [--data-dir DIR]

Honours DATABASE_URL (SQLite in a temp data folder by default; e.g. a PostgreSQL URL) and
RLDOJO_RUNS_BACKEND (`local`, the default, or `ray` with the cluster at RAY_ADDRESS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/class_load.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.class_load", description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--runs-every", type=int, default=1, help="one learner in K starts a run (1: all)")
    parser.add_argument("--data-dir", help="default: a new temp folder")
    parser.add_argument("--capacity", type=int, help="runs at once (default: RLDOJO_MAX_RUNS or cores/2)")
    args = parser.parse_args(argv)
    backend = os.environ.get("RLDOJO_RUNS_BACKEND", "local") or "local"
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="rldojo-class-load-"))
    os.environ["RLDOJO_DATA_DIR"] = str(data_dir)

    from app.grading import graders
    from app.grading.bank import load_questions
    from app.grading.sandbox import shared_sandbox
    from app.grading.solutions import reference_solution
    from app.learners import store
    from app.learners.progress import review_queue, summary
    from app.runs.backends import open_manager
    from app.runs.store import ACTIVE

    questions = load_questions()
    by_kind: dict[str, list] = defaultdict(list)
    for q in questions.by_id.values():
        by_kind[q.kind].append(q)
    choice, predict, implement = by_kind["choice"][0], by_kind["predict"][0], by_kind["implement"][0]
    code = reference_solution(implement)
    sandbox = shared_sandbox()
    manager = open_manager(data_dir, capacity=args.capacity)
    database = os.environ.get("DATABASE_URL", "").split("@")[-1] or f"SQLite in {data_dir}"
    slots = "Ray's resources" if backend == "ray" else f"{manager.capacity} at once"
    print(f"{args.learners} learners; database: {database}; runs: {backend}, {slots}", flush=True)

    timings: dict[str, list[float]] = defaultdict(list)
    written: list[str] = []
    started: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def timed(action: str, call):
        began = time.perf_counter()
        result = call()
        with lock:
            timings[action].append(time.perf_counter() - began)
        return result

    def learner(index: int) -> None:
        name = f"learner-{index:03d}"
        try:
            for q, response, action in (
                (choice, choice.answers[0], "grade+record choice"),
                (predict, "0", "grade+record predict"),
                (implement, code, "grade+record code"),
            ):

                def answer(q=q, response=response):
                    grade = graders.grade(q, response, seed=index, sandbox=sandbox)
                    return store.record_attempt(
                        name,
                        q.id,
                        q.kind,
                        grade.correct,
                        grade.score,
                        response if q.kind != "implement" else None,
                        seed=index,
                    )

                record = timed(action, answer)
                with lock:
                    written.append(record["uuid"])
            timed("read Review", lambda: review_queue(store.cards(name), time.time()))
            timed(
                "read Progress",
                lambda: summary(name, store.attempts(name), store.events(name), store.cards(name), time.time()),
            )
            if index % max(1, args.runs_every) == 0:
                run_id = timed(
                    "start run",
                    lambda: manager.start(
                        "tabular", {"env": "windy-gridworld", "algo": "q-learning", "episodes": 50}, session=name
                    ),
                )
                with lock:
                    started.append(run_id)
                began = time.perf_counter()
                seen = 0
                while True:  # what the run's page does: poll its status and its new points once a second
                    points = timed(
                        "watch run (one poll)", lambda after=seen: manager.store.metrics(run_id, after_seq=after)
                    )
                    seen = points[-1][0] if points else seen
                    if manager.get(run_id).status not in ACTIVE:
                        break
                    time.sleep(1.0)
                with lock:
                    timings["run: start to end"].append(time.perf_counter() - began)
        except Exception as exc:  # counted and shown: a load test reports failures, it does not stop at one
            with lock:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")

    began = time.perf_counter()
    threads = [threading.Thread(target=learner, args=(i,)) for i in range(args.learners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began

    print(f"\n{'action':<24} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for action, values in timings.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(
            f"{action:<24} {len(values):>5} {statistics.median(values) * 1000:>9.1f} {p95 * 1000:>9.1f} "
            f"{ordered[-1] * 1000:>9.1f}"
        )
    stored = {a["uuid"] for a in store.attempts()}
    runs = {r.id: r for r in manager.store.list()}
    finished = [r for r in started if r in runs and runs[r].status == "finished"]
    lost_attempts = [u for u in written if u not in stored]
    lost_runs = [r for r in started if r not in runs or runs[r].status in ACTIVE]
    print(f"\nwall time {wall:.1f} s; errors {len(errors)}")
    for line in errors[:10]:
        print("  " + line)
    print(f"attempts written {len(written)}, stored {len(stored & set(written))}")
    print(
        f"runs started {len(started)}, finished {len(finished)}, failed {sum(runs[r].status == 'failed' for r in runs)}"
    )
    print(f"lost {len(lost_attempts) + len(lost_runs)}")
    return 0 if not lost_attempts and not lost_runs and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
