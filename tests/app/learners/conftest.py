"""Every learner test gets its own empty data folder (and never a DATABASE_URL from the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.learners import db


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(db.DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv("RLDOJO_INSTRUCTORS", raising=False)
    yield tmp_path / "data"
    db.dispose_all()
