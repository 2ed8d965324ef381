"""The first-use race of issue 13, reproduced on purpose: the first use of a data folder's SQLite file
while another connection holds its lock. Before the fix, `PRAGMA journal_mode=WAL` (runs store) and
table creation (learner store) ran without a busy timeout, so whoever came second failed at once with
`sqlite3.OperationalError: database is locked` (2 of 4 processes crashed, 100 of 200 attempts lost).
Now first use waits for the lock and goes on. Deterministic: the lock is held for a known time, then
released; the racing 8-process version is test_both_engines.py::test_eight_processes_on_a_fresh_folder_lose_nothing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from app.learners import db, store
from app.runs import store as runs_store
from app.runs.store import RunStore

HOLD_S = 1.5


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(db.DATABASE_URL_ENV, raising=False)
    db.dispose_all()
    runs_store.dispose_all()
    yield tmp_path
    db.dispose_all()
    runs_store.dispose_all()


def held(path: Path, first_use) -> tuple[float, list[BaseException]]:
    """Run `first_use` in a thread while a foreign connection holds `path` exclusively for HOLD_S
    (as another process in the middle of its own first use would); its seconds and its errors."""
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("CREATE TABLE IF NOT EXISTS other (x)")  # a real file, still in rollback-journal mode
    lock.execute("BEGIN EXCLUSIVE")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            first_use()
        except BaseException as exc:
            errors.append(exc)

    began = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(HOLD_S)
    assert thread.is_alive() or errors, "first use did not meet the lock"
    lock.execute("COMMIT")
    lock.close()
    thread.join(timeout=60)
    return time.monotonic() - began, errors


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_runs_store_first_use_waits_for_a_held_lock(folder: Path) -> None:
    def first_use() -> None:
        runs = RunStore()
        runs.create("r1", "fake-count", {}, "ada", None)
        runs.append_metrics("r1", [{"i": 1}])

    seconds, errors = held(folder / runs_store.FILE_NAME, first_use)
    assert not errors, errors  # before the fix: OperationalError('database is locked') at once
    assert seconds >= HOLD_S
    assert RunStore().metrics("r1") == [(1, {"i": 1})]
    assert journal_mode(folder / runs_store.FILE_NAME) == "wal"


def test_learner_store_first_use_waits_for_a_held_lock(folder: Path) -> None:
    seconds, errors = held(
        folder / db.FILE_NAME, lambda: store.record_attempt("ada", "markov-property", "choice", True, 1.0)
    )
    assert not errors, errors
    assert seconds >= HOLD_S
    assert [a["question_id"] for a in store.attempts("ada")] == ["markov-property"]
    assert journal_mode(folder / db.FILE_NAME) == "wal"
