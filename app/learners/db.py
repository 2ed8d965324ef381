"""The learner database: its tables, its engine, and write transactions.

SQLite in the data folder (`learners.sqlite` beside `runs.sqlite`) unless `DATABASE_URL` names
another database, e.g. `postgresql+psycopg://user:password@host/rldojo` for a class deployment.
SQLite runs in WAL mode so pages read while another session writes, and every write transaction
starts with `BEGIN IMMEDIATE`: two sessions that both read, then write, would otherwise deadlock
on the lock upgrade and one of them would fail with "database is locked" instead of waiting.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.pool import NullPool, StaticPool

DATABASE_URL_ENV = "DATABASE_URL"
FILE_NAME = "learners.sqlite"

metadata = MetaData()

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),  # the identity that survives export and import
    Column("learner", String(200), nullable=False),
    Column("question_id", String(120), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("score", Double, nullable=False),
    Column("self_graded", Boolean, nullable=False, default=False),
    Column("seed", BigInteger, nullable=True),  # the parameters drawn: the grader redraws them from it
    Column("response", JSON, nullable=True),
    Column("details", JSON, nullable=True),
    Column("duration_s", Double, nullable=True),
    Column("drill_id", String(40), nullable=True),
    Column("created_at", Double, nullable=False),  # unix seconds
    Index("ix_attempts_learner_question", "learner", "question_id", "created_at"),
    Index("ix_attempts_drill", "drill_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("learner", String(200), nullable=False),
    Column("kind", String(40), nullable=False),  # "lesson-done"
    Column("subject", String(200), nullable=False),  # the lesson id
    Column("created_at", Double, nullable=False),
    Index("ix_events_learner", "learner", "kind"),
)

cards = Table(
    "cards",
    metadata,
    Column("learner", String(200), primary_key=True),
    Column("question_id", String(120), primary_key=True),
    Column("card", JSON, nullable=False),  # fsrs.Card.to_dict()
    Column("due", Double, nullable=False),
    Column("state", Integer, nullable=False),
    Column("reps", Integer, nullable=False),
    Column("lapses", Integer, nullable=False),
    Column("last_correct", Boolean, nullable=False),
    Column("last_review", Double, nullable=False),
    Index("ix_cards_learner_due", "learner", "due"),
)

drills = Table(
    "drills",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("learner", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("state", JSON, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def data_dir() -> Path:
    from app.grading.attempts import data_dir as attempts_data_dir  # one data folder, defined there

    return attempts_data_dir()


def database_url() -> str:
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{data_dir() / FILE_NAME}"


def engine() -> Engine:
    """The engine for the current `database_url()`, tables created on first use."""
    url = database_url()
    with _lock:
        found = _engines.get(url)
        if found is None:
            found = _create(url)
            metadata.create_all(found)
            _engines[url] = found
    return found


def _json(value: object) -> str:
    return json.dumps(value, default=str)


def _create(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, json_serializer=_json)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # One short connection per use, as in the runs store: nothing stays open on a data folder.
    eng = create_engine(
        url,
        poolclass=NullPool,
        json_serializer=_json,
        connect_args={"timeout": 30, "check_same_thread": False},
    )

    @event.listens_for(eng, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(eng, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("rldojo_write") else "BEGIN")

    return eng


@contextmanager
def transaction() -> Iterator[Connection]:
    """A write transaction: committed when the block ends, rolled back (all of it) if it raises."""
    with engine().execution_options(rldojo_write=True).begin() as conn:
        yield conn


@contextmanager
def reading() -> Iterator[Connection]:
    """A connection to read with. Reading never creates the database: before the first write, a
    page that only looks (a lesson, an empty Progress page) reads an empty in-memory one."""
    url = database_url()
    missing = url.startswith("sqlite:///") and url not in _engines and not Path(url.split("///", 1)[1]).exists()
    with (_empty() if missing else engine()).connect() as conn:
        yield conn


_empty_engine: list[Engine] = []


def _empty() -> Engine:
    with _lock:
        if not _empty_engine:
            eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
            metadata.create_all(eng)
            _empty_engine.append(eng)
        return _empty_engine[0]


def dispose_all() -> None:
    """Forget every engine (tests that switch data folders, a server that changes DATABASE_URL)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
