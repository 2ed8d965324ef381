"""Runs and their metrics in a database behind SQLAlchemy Core, logs and artifacts as files.

A run's log and artifacts (checkpoints, episode animations) are files in `runs/<id>/` of the data
folder, or in `<id>/` of the folder `RLDOJO_ARTIFACTS` names: a path every replica and every Ray
node mounts (NFS, a shared volume), so the data folder itself can stay local. (A URL such as
`s3://...` is refused with a message saying so: the pages read artifacts as files.)

The database is `runs.sqlite` in the data folder (SQLite, WAL) unless `DATABASE_URL` names another,
e.g. `postgresql+psycopg://user:password@host/rldojo`: then runs live beside the learners' tables,
one database for both, and any replica of the app (and any machine's workers) sees every run.

Every call runs in its own short transaction, so the store is safe to use from the Streamlit
script threads, the waiter threads and the worker processes at once. First use is safe under any
number of processes (tables created under a file lock, or PostgreSQL's advisory lock); on SQLite
every write starts with `BEGIN IMMEDIATE` and waits (busy_timeout) rather than failing on a lock
upgrade; claiming a slot is serialised (the write lock, or an advisory lock) so capacity is never
exceeded. Workers batch their metric points (worker.py), so a run logging 50 points a second
costs a few statements a second. A database or folder that cannot be used raises
`StoreUnavailable` with a one-line message.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import (
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
    Text,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.learners import db as engines  # the engine plumbing both stores share (SQLite or PostgreSQL)
from app.runs.status import (  # noqa: F401  (the states are also imported from here)
    ACTIVE,
    DONE,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    STARTING,
    STATUSES,
    STOPPED,
    StoreUnavailable,
)
from app.settings import DATA_DIR_ENV, DATABASE_URL_ENV
from app.settings import data_dir as default_data_dir

FILE_NAME = "runs.sqlite"
ARTIFACTS_ENV = "RLDOJO_ARTIFACTS"

_CLAIM_LOCK = 7215002  # PostgreSQL advisory lock: one claim at a time across every process

metadata = MetaData()
runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("algorithm", String(80), nullable=False),
    Column("config", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("session", String(200)),  # the owner: a learner, a browser's anonymous key, or "cli"
    Column("label", String(200)),
    Column("device", String(200)),
    Column("pid", Integer),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("heartbeat", Double),
    Column("progress", Double, nullable=False, default=0.0),
    Column("stop_requested", Boolean, nullable=False, default=False),
    Column("error", Text),
    Column("final_metrics", Text),
    Column("artifacts", Text),
    Column("group_id", String(40)),  # runs started together, one per seed (added to older databases by _migrate)
    Index("runs_status", "status", "created_at"),
    Index("runs_session", "session", "created_at"),
    Index("runs_group", "group_id"),
)
metrics_table = Table(
    "metrics",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),
)
_JSON_COLUMNS = ("config", "final_metrics", "artifacts")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


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
    group_id: str | None = None
    """The seed group the run was started in (the Runs page's "seeds"), or None."""

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


def describe_problem(data_dir: Path, exc: BaseException) -> str:
    if isinstance(exc, engines.DatabaseUnusable):
        return str(exc)
    inner = getattr(exc, "orig", None) or exc
    reason = getattr(inner, "strerror", None) or str(inner).splitlines()[0]
    lowered = str(inner).lower()
    if "unable to open" in lowered:
        reason = "the folder is read-only, not yours, or on a file system that refuses it"
    if isinstance(inner, PermissionError) or any(
        word in lowered for word in ("readonly", "read-only", "permission", "unable to open")
    ):
        return (
            f"the data folder {data_dir} is not writable ({reason}): make it writable, or point "
            f"{DATA_DIR_ENV} (or --data-dir) at a folder you can write to"
        )
    if "malformed" in lowered or "not a database" in lowered:
        return (
            f"the runs database {data_dir / FILE_NAME} is damaged ({reason}): move it aside "
            "(rename it) and RL Dojo starts a new one; nothing was written to it"
        )
    return f"cannot use the runs database ({reason})"


def artifacts_dir(data_dir: Path) -> Path:
    """Where runs' folders are: `RLDOJO_ARTIFACTS` when set (a path, or a file:// URL), else the data
    folder's `runs/`. Any other URL raises StoreUnavailable saying what to give instead."""
    raw = os.environ.get(ARTIFACTS_ENV, "").strip()
    if not raw:
        return data_dir / "runs"
    if raw.startswith("file://"):
        raw = raw.removeprefix("file://")
    elif "://" in raw:
        raise StoreUnavailable(
            f"{ARTIFACTS_ENV}={raw!r}: object-store URLs are not supported; give a folder that every "
            "replica and every Ray node mounts (e.g. /mnt/rldojo-artifacts on NFS)"
        )
    return Path(raw).expanduser()


def _engine(url: str) -> Engine:
    with _lock:
        found = _engines.get(url)
        if found is None:
            found = engines.open_engine(url, metadata)
            try:
                _migrate(found)
            except BaseException:
                found.dispose()
                raise
            _engines[url] = found
        return found


def _migrate(eng: Engine) -> None:
    """Bring a database made by an older RL Dojo up to this schema: the `group_id` column (and its
    index) came later. Safe from many processes at once: PostgreSQL says IF NOT EXISTS; on SQLite
    the check and the ALTER run under the write lock (BEGIN IMMEDIATE)."""
    if "group_id" in {column["name"] for column in inspect(eng).get_columns("runs")}:
        return  # the usual case: nothing to change, and no lock taken
    with eng.execution_options(rldojo_write=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7215001)"))  # the lock table creation takes
            conn.execute(text("ALTER TABLE runs ADD COLUMN IF NOT EXISTS group_id VARCHAR(40)"))
        elif "group_id" not in {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(runs)")}:
            conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN group_id VARCHAR(40)")
        conn.execute(text("CREATE INDEX IF NOT EXISTS runs_group ON runs (group_id)"))


def dispose_all() -> None:
    """Forget every engine (tests that switch databases)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()


class RunStore:
    def __init__(self, data_dir: Path | str | None = None, url: str | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.url = url or os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{self.data_dir / FILE_NAME}"
        self.path = engines.sqlite_path(self.url)
        self.artifacts_dir = artifacts_dir(self.data_dir)
        with self._errors():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine = _engine(self.url)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except StoreUnavailable:
            raise
        except IntegrityError:
            raise
        except OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise
            raise StoreUnavailable(describe_problem(self.data_dir, exc)) from exc
        except (OSError, sqlite3.Error, DBAPIError, engines.DatabaseUnusable) as exc:
            raise StoreUnavailable(describe_problem(self.data_dir, exc)) from exc

    @contextmanager
    def connect(self, immediate: bool = False) -> Iterator[Connection]:
        """A transaction: `immediate` for every write (SQLite takes the write lock up front, waiting for it)."""
        with self._errors():
            eng = self.engine.execution_options(rldojo_write=True) if immediate else self.engine
            with eng.begin() as conn:
                yield conn

    def run_dir(self, run_id: str) -> Path:
        """The run's folder (its log and artifacts), made if missing."""
        path = self.artifacts_dir / run_id
        with self._errors():
            path.mkdir(parents=True, exist_ok=True)
        return path

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "log.txt"

    # --- writing -------------------------------------------------------------------------------
    def create(
        self,
        run_id: str,
        algorithm: str,
        config: dict[str, Any],
        session: str | None,
        label: str | None,
        group: str | None = None,
    ) -> None:
        with self.connect(immediate=True) as conn:
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    algorithm=algorithm,
                    config=dumps(config),
                    status=QUEUED,
                    session=session,
                    label=label,
                    group_id=group,
                    created_at=time.time(),
                    progress=0.0,
                    stop_requested=False,
                )
            )

    def update(self, run_id: str, **values: Any) -> None:
        if not values:
            return
        with self.connect(immediate=True) as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**_encode(values)))

    def mark_running(self, run_id: str, **values: Any) -> bool:
        """Queued or starting -> running, unless the run was ended meanwhile (a learner's Stop
        between its claim and its process starting): an ended run is never brought back."""
        encoded = _encode(values) | {"status": RUNNING}
        with self.connect(immediate=True) as conn:
            result = conn.execute(
                update(runs).where(runs.c.id == run_id, runs.c.status.in_((QUEUED, STARTING))).values(**encoded)
            )
            return result.rowcount == 1

    def finish_if_active(self, run_id: str, status: str, **values: Any) -> bool:
        """Set a final status unless the run already has one (two parties may race to end it)."""
        encoded = _encode(values) | {"status": status, "finished_at": time.time()}
        with self.connect(immediate=True) as conn:
            result = conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status.in_(ACTIVE)).values(**encoded))
            return result.rowcount == 1

    def reassign(self, old_owner: str, new_owner: str) -> int:
        """Give `old_owner`'s runs (an anonymous browser's) to `new_owner`; returns how many."""
        with self.connect(immediate=True) as conn:
            return conn.execute(update(runs).where(runs.c.session == old_owner).values(session=new_owner)).rowcount

    def set_pid_if_unset(self, run_id: str, pid: int) -> None:
        """The spawner's pid, unless the run's own process already recorded its pid."""
        with self.connect(immediate=True) as conn:
            conn.execute(update(runs).where(runs.c.id == run_id, runs.c.pid.is_(None)).values(pid=pid))

    def append_metrics(self, run_id: str, points: Sequence[dict[str, Any]], progress: float | None = None) -> None:
        """Write a batch of metric points in one transaction: one INSERT of many rows, one UPDATE."""
        with self.connect(immediate=True) as conn:
            # The run's row first (locked on PostgreSQL): its points are numbered by one writer at a time.
            conn.execute(select(runs.c.id).where(runs.c.id == run_id).with_for_update())
            last = conn.execute(
                select(func.coalesce(func.max(metrics_table.c.seq), 0)).where(metrics_table.c.run_id == run_id)
            ).scalar_one()
            if points:
                conn.execute(
                    insert(metrics_table),
                    [{"run_id": run_id, "seq": last + i + 1, "data": dumps(p)} for i, p in enumerate(points)],
                )
            values: dict[str, Any] = {"heartbeat": time.time()}
            if progress is not None:
                values["progress"] = progress
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def claim_next(self, capacity: int) -> RunRecord | None:
        """Atomically move the oldest queued run to 'starting' if fewer than `capacity` are active."""
        with self.connect(immediate=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
            busy = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.status.in_((STARTING, RUNNING)))
            ).scalar_one()
            if busy >= capacity:
                return None
            row = conn.execute(
                select(runs).where(runs.c.status == QUEUED).order_by(runs.c.created_at, runs.c.id).limit(1)
            ).first()
            if row is None:
                return None
            now = time.time()
            conn.execute(update(runs).where(runs.c.id == row.id).values(status=STARTING, started_at=now))
            return replace(_record(row), status=STARTING, started_at=now)

    # --- reading -------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        with self.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        return _record(row) if row else None

    def list(
        self, session: str | None = None, statuses: Sequence[str] | None = None, group: str | None = None
    ) -> list[RunRecord]:
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.id)
        if session is not None:
            query = query.where(runs.c.session == session)
        if group is not None:
            query = query.where(runs.c.group_id == group)
        if statuses:
            query = query.where(runs.c.status.in_(list(statuses)))
        with self.connect() as conn:
            rows = conn.execute(query).all()
        return [_record(row) for row in rows]

    def metrics(self, run_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        query = (
            select(metrics_table.c.seq, metrics_table.c.data)
            .where(metrics_table.c.run_id == run_id, metrics_table.c.seq > after_seq)
            .order_by(metrics_table.c.seq)
        )
        with self.connect() as conn:
            rows = conn.execute(query).all()
        return [(row.seq, json.loads(row.data)) for row in rows]

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start, None if the run is not queued."""
        with self.connect() as conn:
            queued = list(
                conn.execute(
                    select(runs.c.id).where(runs.c.status == QUEUED).order_by(runs.c.created_at, runs.c.id)
                ).scalars()
            )
        return queued.index(run_id) + 1 if run_id in queued else None


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: dumps(v) if k in _JSON_COLUMNS else v for k, v in values.items()}
    if "stop_requested" in out:
        out["stop_requested"] = bool(out["stop_requested"])
    return out


def _record(row: Any) -> RunRecord:
    values = dict(row._mapping)
    for key in _JSON_COLUMNS:
        values[key] = json.loads(values[key]) if values[key] else {}
    values["stop_requested"] = bool(values["stop_requested"])
    return RunRecord(**values)
