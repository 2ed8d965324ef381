"""Runs and their metrics in an embedded SQLite database (WAL), artifacts as files beside it.

Every call opens its own short-lived connection, so the store is safe to use from the Streamlit
script threads, the waiter threads and the worker processes at once; SQLite's locking keeps two
app processes pointed at the same data directory from corrupting it. The database is created
under a file lock (`runs.sqlite.lock`), so any number of processes may open a fresh data folder
at once; every write transaction starts with `BEGIN IMMEDIATE` and waits (busy_timeout) for the
lock instead of failing on a lock upgrade. A folder that cannot be used (read-only, missing
permissions, a broken database) raises `StoreUnavailable` with a one-line message.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "RLDOJO_DATA_DIR"

QUEUED, STARTING, RUNNING = "queued", "starting", "running"
FINISHED, FAILED, STOPPED = "finished", "failed", "stopped"
ACTIVE = (QUEUED, STARTING, RUNNING)
DONE = (FINISHED, FAILED, STOPPED)
STATUSES = (*ACTIVE, *DONE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    session TEXT,
    label TEXT,
    device TEXT,
    pid INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    heartbeat REAL,
    progress REAL NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    final_metrics TEXT,
    artifacts TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, created_at);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or ROOT / ".rldojo")


@dataclass
class RunRecord:
    id: str
    algorithm: str
    config: dict[str, Any]
    status: str
    session: str | None
    label: str | None
    device: str | None
    pid: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat: float | None
    progress: float
    stop_requested: bool
    error: str | None
    final_metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from progress so far (None until there is some)."""
        elapsed = self.duration
        if self.status != RUNNING or elapsed is None or not 0.01 <= self.progress < 1:
            return None
        return elapsed * (1 - self.progress) / self.progress


def _json_safe(value: Any) -> Any:
    # JSON has no NaN/inf; keep them readable rather than failing the write.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(_json_safe(value), allow_nan=False, default=str)


class StoreUnavailable(RuntimeError):
    """The runs database cannot be used; the message says why and what to do, in one line."""


def describe_problem(data_dir: Path, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    text = str(exc).lower()
    if "unable to open" in text:
        reason = "the folder is read-only, not yours, or on a file system that refuses it"
    if isinstance(exc, PermissionError) or any(
        word in text for word in ("readonly", "read-only", "permission", "unable to open")
    ):
        return (
            f"the data folder {data_dir} is not writable ({reason}): make it writable, or point "
            f"{DATA_DIR_ENV} (or --data-dir) at a folder you can write to"
        )
    if "malformed" in text or "not a database" in text:
        return (
            f"the runs database {data_dir / 'runs.sqlite'} is damaged ({reason}): move it aside "
            "(rename it) and RL Dojo starts a new one; nothing was written to it"
        )
    return f"cannot use the runs database in {data_dir}: {reason}"


@contextmanager
def creation_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (a lock file): one process at a time creates a database."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RunStore:
    def __init__(self, data_dir: Path | str | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.path = self.data_dir / "runs.sqlite"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with creation_lock(self.data_dir / "runs.sqlite.lock"):
                db = sqlite3.connect(self.path, timeout=30)
                try:
                    db.execute("PRAGMA busy_timeout=30000")
                    db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
                    db.executescript(_SCHEMA)
                finally:
                    db.close()
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(describe_problem(self.data_dir, exc)) from exc

    @contextmanager
    def connect(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """A transaction: `immediate` for every write (takes the write lock up front, waiting for it)."""
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreUnavailable(describe_problem(self.data_dir, exc)) from exc
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            raise StoreUnavailable(describe_problem(self.data_dir, exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(describe_problem(self.data_dir, exc)) from exc
        finally:
            db.close()

    def run_dir(self, run_id: str) -> Path:
        path = self.data_dir / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "log.txt"

    # --- writing -------------------------------------------------------------------------------
    def create(self, run_id: str, algorithm: str, config: dict[str, Any], session: str | None, label: str | None):
        with self.connect(immediate=True) as db:
            db.execute(
                "INSERT INTO runs (id, algorithm, config, status, session, label, created_at) VALUES (?,?,?,?,?,?,?)",
                (run_id, algorithm, dumps(config), QUEUED, session, label, time.time()),
            )

    def update(self, run_id: str, **values: Any) -> None:
        if not values:
            return
        encoded = {k: dumps(v) if k in ("config", "final_metrics", "artifacts") else v for k, v in values.items()}
        assignments = ", ".join(f"{k} = ?" for k in encoded)
        with self.connect(immediate=True) as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*encoded.values(), run_id))

    def finish_if_active(self, run_id: str, status: str, **values: Any) -> bool:
        """Set a final status unless the run already has one (two parties may race to end it)."""
        encoded = {k: dumps(v) if k in ("final_metrics", "artifacts") else v for k, v in values.items()}
        encoded |= {"status": status, "finished_at": time.time()}
        assignments = ", ".join(f"{k} = ?" for k in encoded)
        with self.connect(immediate=True) as db:
            cursor = db.execute(
                f"UPDATE runs SET {assignments} WHERE id = ? AND status IN (?, ?, ?)",
                (*encoded.values(), run_id, *ACTIVE),
            )
            return cursor.rowcount == 1

    def reassign(self, old_owner: str, new_owner: str) -> int:
        """Give `old_owner`'s runs (an anonymous browser's) to `new_owner`; returns how many."""
        with self.connect(immediate=True) as db:
            return db.execute("UPDATE runs SET session = ? WHERE session = ?", (new_owner, old_owner)).rowcount

    def set_pid_if_unset(self, run_id: str, pid: int) -> None:
        """The spawner's pid, unless the run's own process already recorded its pid."""
        with self.connect(immediate=True) as db:
            db.execute("UPDATE runs SET pid = ? WHERE id = ? AND pid IS NULL", (pid, run_id))

    def append_metrics(self, run_id: str, points: Sequence[dict[str, Any]], progress: float | None = None) -> None:
        """Write a batch of metric points in one transaction (the worker batches: see worker.py)."""
        with self.connect(immediate=True) as db:
            (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()
            db.executemany(
                "INSERT INTO metrics (run_id, seq, data) VALUES (?, ?, ?)",
                [(run_id, last + i + 1, dumps(p)) for i, p in enumerate(points)],
            )
            sets, args = "heartbeat = ?", [time.time()]
            if progress is not None:
                sets += ", progress = ?"
                args.append(progress)
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*args, run_id))

    def claim_next(self, capacity: int) -> RunRecord | None:
        """Atomically move the oldest queued run to 'starting' if fewer than `capacity` are active."""
        with self.connect(immediate=True) as db:
            (busy,) = db.execute("SELECT COUNT(*) FROM runs WHERE status IN (?, ?)", (STARTING, RUNNING)).fetchone()
            if busy >= capacity:
                return None
            row = db.execute(
                "SELECT * FROM runs WHERE status = ? ORDER BY created_at, id LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE runs SET status = ?, started_at = ? WHERE id = ?", (STARTING, time.time(), row["id"]))
            return replace(_record(row), status=STARTING, started_at=time.time())

    # --- reading -------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _record(row) if row else None

    def list(self, session: str | None = None, statuses: Sequence[str] | None = None) -> list[RunRecord]:
        query, args = "SELECT * FROM runs WHERE 1=1", []
        if session is not None:
            query += " AND session = ?"
            args.append(session)
        if statuses:
            query += f" AND status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY created_at DESC, id", args).fetchall()
        return [_record(row) for row in rows]

    def metrics(self, run_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        with self.connect() as db:
            rows = db.execute(
                "SELECT seq, data FROM metrics WHERE run_id = ? AND seq > ? ORDER BY seq", (run_id, after_seq)
            ).fetchall()
        return [(row["seq"], json.loads(row["data"])) for row in rows]

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start, None if the run is not queued."""
        with self.connect() as db:
            queued = [
                r["id"] for r in db.execute("SELECT id FROM runs WHERE status = ? ORDER BY created_at, id", (QUEUED,))
            ]
        return queued.index(run_id) + 1 if run_id in queued else None


def _record(row: sqlite3.Row) -> RunRecord:
    values = dict(row)
    for key in ("config", "final_metrics", "artifacts"):
        values[key] = json.loads(values[key]) if values[key] else {}
    values["stop_requested"] = bool(values["stop_requested"])
    return RunRecord(**values)
