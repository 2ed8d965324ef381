"""Recording answers: `record_attempt` and `read_attempts`, so their storage can change behind them.

Attempts live in the learner database (`app.learners.store`: SQLite in the data directory,
`RLDOJO_DATA_DIR`, default `./.rldojo`, or the database `DATABASE_URL` names), where each one also
reschedules the learner's review card for that question. Each attempt is also appended as one JSON
line to `attempts.jsonl` in the data directory: a plain journal to grep or back up, never read back.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from app.settings import data_dir

FILE_NAME = "attempts.jsonl"
DEFAULT_LEARNER = "local"
_lock = threading.Lock()


def record_attempt(
    question_id: str,
    kind: str,
    correct: bool,
    score: float,
    response: Any = None,
    *,
    seed: int | None = None,
    self_graded: bool = False,
    learner: str = DEFAULT_LEARNER,
    details: dict[str, Any] | None = None,
    duration_s: float | None = None,
    drill_id: str | None = None,
) -> dict[str, Any]:
    """Store one answer to one question (and reschedule its review card); return the stored record."""
    from app.learners import store  # the store finds its data folder through this module

    record = store.record_attempt(
        learner,
        question_id,
        kind,
        correct,
        score,
        response,
        seed=seed,
        self_graded=self_graded,
        details=details,
        duration_s=duration_s,
        drill_id=drill_id,
    )
    _journal(record)
    return record


def _journal(record: dict[str, Any]) -> None:
    directory = data_dir()
    line = json.dumps(record, default=str)
    with _lock:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / FILE_NAME).open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def read_attempts(question_id: str | None = None, learner: str | None = None) -> list[dict[str, Any]]:
    """Stored attempts, oldest first; each a dict with `time`, `learner`, `question_id`, `kind`,
    `correct`, `score`, `self_graded`, `seed`, `response`, `details`, `duration_s`, `drill_id`, `uuid`.
    None while the learner database is damaged (the sidebar says so): a page that shows a history
    shows none rather than failing."""
    from app.learners import db, store

    try:
        return store.attempts(learner=learner, question_id=question_id)
    except db.DatabaseUnusable:
        return []
