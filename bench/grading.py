"""Benchmark: grading latency of a learner's submission, cold (a fresh Python per submission) versus warm (the zygote).

Cold is what a naive sandbox does: start a new interpreter for each submission, import numpy and
torch, run the code. Warm is ours: a zygote process that imported them once forks a supervised
child per submission (app/grading/sandbox_runner.py). Both run the same honest solution of a drill
on the drill's cases; the peer runs it without any isolation, so the ratio understates our gain.

    python -m bench.grading [--runs 30] [--question discounted-returns] [--question ppo-clip-loss]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/grading.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.grading import sandbox_runner
from app.grading.bank import load_questions
from app.grading.cases import build
from app.grading.graders import grade_implement
from app.grading.sandbox import Sandbox, bwrap_path
from app.grading.solutions import reference_solution

COLD = """
import json, sys
sys.path.insert(0, {root!r})
from app.grading.sandbox_runner import decode_input, encode_output
request = json.loads(sys.stdin.read())
import numpy, torch
namespace = {{}}
exec(compile(request["code"], "<solution>", "exec"), namespace)
fn = namespace[request["function"]]
print(json.dumps([encode_output(fn(**{{k: decode_input(v) for k, v in c["args"].items()}})) for c in request["cases"]]))
"""


def cold_once(code: str, function: str, cases: list[dict]) -> float:
    request = json.dumps({"code": code, "function": function, "cases": cases})
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", COLD.format(root=str(Path(__file__).resolve().parents[1]))],
        input=request,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    assert run.stdout.strip().startswith("[")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="warm submissions per question and mode")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold submissions per question")
    parser.add_argument("--question", action="append", help="implement question ids (default: two drills)")
    args = parser.parse_args(argv)
    ids = args.question or ["discounted-returns", "ppo-clip-loss"]
    questions = load_questions()
    modes = (["bwrap"] if bwrap_path() else []) + ["rlimits"]
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    results = []
    for mode in modes:
        sandbox = Sandbox(mode)
        start = time.perf_counter()
        sandbox.start()
        zygote_start = time.perf_counter() - start
        print(f"\n[{mode}] zygote start (python, numpy + torch imports, warm-up): {zygote_start:.2f} s")
        for qid in ids:
            q = questions.get(qid)
            code = reference_solution(q)
            cases = [{"args": c.args, "grad": c.grad} for c in build(q.case_generator, 0).cases]
            for _ in range(3):  # first forks touch pages
                sandbox.run(code, q.function, cases)
            warm, back_to_back = [], []
            for _ in range(args.runs):
                time.sleep(0.05)  # a learner's think time: the zygote has forked the next spare
                t0 = time.perf_counter()
                result = sandbox.run(code, q.function, cases)
                warm.append(time.perf_counter() - t0)
                assert result.status == "ok", result
            for _ in range(args.runs):  # no pause: each run also waits for the next spare's fork
                t0 = time.perf_counter()
                assert sandbox.run(code, q.function, cases).status == "ok"
                back_to_back.append(time.perf_counter() - t0)
            graded = []
            for _ in range(max(5, args.runs // 3)):
                time.sleep(0.05)
                t0 = time.perf_counter()
                assert grade_implement(q, code, sandbox=sandbox).correct
                graded.append(time.perf_counter() - t0)
            encoded = [{"args": {k: sandbox_runner.encode_input(v) for k, v in c["args"].items()}} for c in cases]
            cold = [cold_once(code, q.function, encoded) for _ in range(args.cold_runs)] if mode == modes[0] else []
            row = {
                "mode": mode,
                "question": qid,
                "cases": len(cases),
                "warm_median_ms": statistics.median(warm) * 1000,
                "warm_p90_ms": percentile(warm, 0.9) * 1000,
                "back_to_back_median_ms": statistics.median(back_to_back) * 1000,
                "grade_median_ms": statistics.median(graded) * 1000,
                "cold_median_ms": statistics.median(cold) * 1000 if cold else None,
                "zygote_start_s": zygote_start,
            }
            results.append(row)
            line = (
                f"  {qid:20s} {len(cases)} cases: warm run median {row['warm_median_ms']:.0f} ms "
                f"(p90 {row['warm_p90_ms']:.0f} ms), back to back {row['back_to_back_median_ms']:.0f} ms; "
                f"whole grade incl. reference {row['grade_median_ms']:.0f} ms"
            )
            if cold:
                ratio = row["cold_median_ms"] / row["warm_median_ms"]
                line += f"; cold fresh interpreter {row['cold_median_ms']:.0f} ms; ratio cold/warm {ratio:.0f}x"
            print(line)
        sandbox.close()
    print("\n" + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
