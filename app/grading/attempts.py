"""Recording answers: one function, `record_attempt`, so its storage can change behind it.

For now each attempt is one JSON line appended to `attempts.jsonl` in the data directory
(`RLDOJO_DATA_DIR`, default `./.rldojo`). A later issue moves learner progress to SQLite; callers
keep calling `record_attempt` and `read_attempts`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from app.content.coderef import ROOT

DATA_DIR_ENV = "RLDOJO_DATA_DIR"
FILE_NAME = "attempts.jsonl"
_lock = threading.Lock()


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or ROOT / ".rldojo")


def record_attempt(
    question_id: str,
    kind: str,
    correct: bool,
    score: float,
    response: Any = None,
    *,
    seed: int | None = None,
    self_graded: bool = False,
    learner: str = "local",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store one answer to one question and return the stored record."""
    record = {
        "time": time.time(),
        "learner": learner,
        "question_id": question_id,
        "kind": kind,
        "correct": bool(correct),
        "score": round(float(score), 4),
        "self_graded": self_graded,
        "seed": seed,
        "response": response,
        "details": details or {},
    }
    directory = data_dir()
    line = json.dumps(record, default=str)
    with _lock:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / FILE_NAME).open("a", encoding="utf-8") as f:
            f.write(line + "\n")
    return record


def read_attempts(question_id: str | None = None, learner: str | None = None) -> list[dict[str, Any]]:
    path = data_dir() / FILE_NAME
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (question_id is None or record.get("question_id") == question_id) and (
            learner is None or record.get("learner") == learner
        ):
            out.append(record)
    return out
