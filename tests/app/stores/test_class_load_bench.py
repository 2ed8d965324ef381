"""bench/class_load.py, run small on both engines (local runs): it honours DATABASE_URL, prints
p50/p95/max per action, attempts and runs written against found, and ends with `lost 0`."""

from __future__ import annotations

import os
import subprocess
import sys

from app.settings import ROOT


def test_the_class_load_bench_loses_nothing(database) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RLDOJO_RUNS_BACKEND"}
    env.pop("RLDOJO_PLUGINS", None)  # the bench trains a real algorithm
    if database.url:
        env["DATABASE_URL"] = database.url
    done = subprocess.run(
        [sys.executable, "-m", "bench.class_load", "--learners", "2", "--runs-every", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    expected_database = database.url.rsplit("@", 1)[-1] if database.url else "SQLite in"
    assert expected_database in lines[0] and "runs: local" in lines[0], lines[0]
    assert ["action", "n", "p50", "ms", "p95", "ms", "max", "ms"] in [line.split() for line in lines]
    for action in ("grade+record choice", "grade+record code", "read Review", "start run", "run: start to end"):
        (row,) = [line for line in lines if line.startswith(action)]
        p50, p95, most = (float(x) for x in row.split()[-3:])
        assert 0 <= p50 <= p95 <= most, row
    assert "attempts written 6, stored 6" in lines and "runs started 1, finished 1, failed 0" in lines, lines
    assert lines[-1] == "lost 0"
