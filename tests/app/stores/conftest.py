"""The store tests run on both engines: SQLite in a temp data folder, and a real PostgreSQL server
started for the session (tests/postgres_server.py; skipped only where its binaries are absent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.learners import db
from app.runs import store as runs_store
from tests.postgres_server import Server, fresh_database, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    with postgres_server() as server:
        yield server


@dataclass
class Database:
    engine: str  # "sqlite" or "postgresql"
    data_dir: Path
    url: str | None  # None: the data folder's SQLite files


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("RLDOJO_INSTRUCTORS", raising=False)
    monkeypatch.setenv("RLDOJO_PLUGINS", "tests.app.runs.fake_algorithms")
    url = None
    if request.param == "postgresql":
        url = fresh_database(request.getfixturevalue("pg_server"))
        monkeypatch.setenv(db.DATABASE_URL_ENV, url)
    else:
        monkeypatch.delenv(db.DATABASE_URL_ENV, raising=False)
    db.dispose_all()
    runs_store.dispose_all()
    yield Database(request.param, data_dir, url)
    db.dispose_all()
    runs_store.dispose_all()
