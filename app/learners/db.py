"""The learner database: its tables, its engine, and write transactions.

SQLite in the data folder (`learners.sqlite` beside `runs.sqlite`) unless `DATABASE_URL` names
another database, e.g. `postgresql+psycopg://user:password@host/rldojo` for a class deployment.
SQLite runs in WAL mode so pages read while another session writes, and every write transaction
starts with `BEGIN IMMEDIATE`: two sessions that both read, then write, would otherwise deadlock
on the lock upgrade and one of them would fail with "database is locked" instead of waiting.

First use is safe under any number of processes: the SQLite file is created (tables, WAL mode)
under an exclusive file lock (`learners.sqlite.lock`), and on PostgreSQL under an advisory lock.
An existing SQLite file is checked when it is first opened (its header, then `PRAGMA
quick_check`); a file that fails (truncated, zeroed, overwritten) raises `DatabaseUnusable`,
whose message says what to do, and is never written to. A file of 0 bytes is damaged too: we
never leave one behind, since creation happens under the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
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
    text,
)
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import NullPool, StaticPool

from app.settings import DATABASE_URL_ENV, data_dir

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

accounts = Table(  # RLDOJO_AUTH=builtin: who may log in, and who is an instructor
    "accounts",
    metadata,
    Column("key", String(200), primary_key=True),  # the name, casefolded: names are unique without case
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=True),  # argon2id; None: invite links only
    Column("instructor", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
)

invites = Table(
    "invites",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the link's token; the token is never stored
    Column("key", String(200), nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("browser", String(64), primary_key=True),  # sha256 of the browser's id
    Column("key", String(200), nullable=False),
    Column("expires_at", Double, nullable=False),
)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def database_url() -> str:
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{data_dir() / FILE_NAME}"


class DatabaseUnusable(RuntimeError):
    """The learner database cannot be used; the message names the file, why, and what to do."""


SQLITE_HEADER = b"SQLite format 3\x00"


def _unusable(path: Path, reason: str) -> DatabaseUnusable:
    if path.name != FILE_NAME:
        return DatabaseUnusable(
            f"The database {path} cannot be read: {reason}. RL Dojo has not written to it. "
            f"Move it aside (rename it, e.g. to {path.name}.broken) to start a new one, or restore it from a backup."
        )
    return DatabaseUnusable(
        f"The learner database {path} cannot be read: {reason}. RL Dojo has not written to it. "
        f"Move it aside (rename it, e.g. to {path.name}.broken) to start a new one, then import your progress "
        "export on the Progress page; or restore the file from a backup. Lessons keep working meanwhile."
    )


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on the lock file `path`, across processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, None for another database or an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return Path(path) if path and path != ":memory:" and "///" in url else None


def _check_file(path: Path) -> None:
    """Raise DatabaseUnusable unless `path` is a sound SQLite database (call under the file lock)."""
    size = path.stat().st_size
    if size == 0:
        raise _unusable(path, "it is empty (0 bytes), so it was truncated or zeroed")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise _unusable(path, "it is not an SQLite database (its first bytes are wrong)")
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            result = [row[0] for row in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if any(word in str(exc).lower() for word in ("unable to open", "readonly", "locked", "permission", "i/o")):
            raise  # the folder or the disk, not the file: said as such by the caller
        raise _unusable(path, f"SQLite says: {exc}") from exc
    if result != ["ok"]:
        raise _unusable(path, f"SQLite's check says: {'; '.join(result[:3])}")


def _prepare_sqlite(path: Path, eng: Engine, tables: MetaData | None = None) -> None:
    """Create the file's tables, or check an existing file, under the file lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock")):
        if path.exists():
            _check_file(path)
        raw = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            raw.execute("PRAGMA busy_timeout=30000")
            raw.execute("PRAGMA journal_mode=WAL")  # persistent: set here, under the lock, never per connection
        finally:
            raw.close()
        (tables or metadata).create_all(eng)


def engine() -> Engine:
    """The engine for the current `database_url()`, tables created on first use."""
    url = database_url()
    with _lock:
        found = _engines.get(url)
        if found is None:
            found = open_engine(url, metadata)
            _engines[url] = found
    return found


def _create_tables_locked(eng: Engine, tables: MetaData | None = None) -> None:
    """CREATE TABLE IF NOT EXISTS from many processes at once: PostgreSQL would let two of them race
    on its catalogue (a duplicate-key error), so they take turns on an advisory lock."""
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7215001)"))
        (tables or metadata).create_all(conn)


def open_engine(url: str, tables: MetaData) -> Engine:
    """A new engine for `url` with `tables` created (SQLite: under the file lock, the file checked
    first; PostgreSQL: under an advisory lock). The runs store opens its database with this too."""
    eng = _create(url)
    path = sqlite_path(url)
    try:
        if path is not None:
            _prepare_sqlite(path, eng, tables)
        else:
            _create_tables_locked(eng, tables)
    except BaseException:
        eng.dispose()
        raise
    return eng


def problem() -> str | None:
    """Why the learner database cannot be used right now, or None (also None before it exists)."""
    url = database_url()
    path = sqlite_path(url)
    if url in _engines or (path is not None and not path.exists()):
        return None
    try:
        engine()
    except DatabaseUnusable as exc:
        return str(exc)
    except (OSError, sqlite3.Error, DatabaseError) as exc:
        return f"The learner database cannot be opened: {exc}"
    return None


def damaged(exc: DatabaseError) -> bool:
    text_ = str(exc.orig if exc.orig is not None else exc).lower()
    return "malformed" in text_ or "not a database" in text_


def _forget(url: str) -> None:
    with _lock:
        eng = _engines.pop(url, None)
    if eng is not None:
        eng.dispose()


def _json(value: object) -> str:
    return json.dumps(value, default=str)


def _create(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, json_serializer=_json)
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
        cursor.execute("PRAGMA busy_timeout=30000")  # first: every later statement waits for locks
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(eng, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("rldojo_write") else "BEGIN")

    return eng


@contextmanager
def transaction() -> Iterator[Connection]:
    """A write transaction: committed when the block ends, rolled back (all of it) if it raises."""
    url = database_url()
    try:
        with engine().execution_options(rldojo_write=True).begin() as conn:
            yield conn
    except DatabaseError as exc:
        if not damaged(exc):
            raise
        _forget(url)
        raise _unusable(sqlite_path(url) or Path(url), f"SQLite says: {exc.orig}") from exc


@contextmanager
def reading() -> Iterator[Connection]:
    """A connection to read with. Reading never creates the database: before the first write, a
    page that only looks (a lesson, an empty Progress page) reads an empty in-memory one."""
    url = database_url()
    path = sqlite_path(url)
    missing = path is not None and url not in _engines and not path.exists()
    try:
        with (_empty() if missing else engine()).connect() as conn:
            yield conn
    except DatabaseError as exc:
        if not damaged(exc):
            raise
        _forget(url)
        raise _unusable(path or Path(url), f"SQLite says: {exc.orig}") from exc


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
