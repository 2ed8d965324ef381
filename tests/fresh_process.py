"""Run Python code in a fresh interpreter, as a new server process would, and read one line it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def printed(code: str, tag: str, data_dir: Path) -> str:
    """What `code` printed after `tag` on a line of its own, run from the repository root over `data_dir`."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"RLDOJO_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith(tag)), None)
    assert line is not None, result.stderr[-3000:]
    return line[len(tag) :]
