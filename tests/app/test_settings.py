"""One data folder and one repository root for the whole app (app/settings.py)."""

from __future__ import annotations

from pathlib import Path

from app import settings
from app.content import coderef
from app.grading import sandbox
from app.learners import db
from app.runs.store import RunStore


def test_the_data_folder_is_the_environment_variable_read_on_every_call(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "a"))
    assert settings.data_dir() == tmp_path / "a"
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "b"))
    assert settings.data_dir() == tmp_path / "b"
    assert settings.data_dir_override() == tmp_path / "b"


def test_unset_or_empty_means_rldojo_in_the_repository(monkeypatch) -> None:
    for value in (None, ""):
        if value is None:
            monkeypatch.delenv("RLDOJO_DATA_DIR", raising=False)
        else:
            monkeypatch.setenv("RLDOJO_DATA_DIR", value)
        assert settings.data_dir() == settings.ROOT / ".rldojo"
        assert settings.data_dir_override() is None
    assert (settings.ROOT / "algorithms" / "__init__.py").is_file()


def test_every_store_uses_the_same_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert db.database_url() == f"sqlite:///{tmp_path / 'learners.sqlite'}"
    assert RunStore().data_dir == tmp_path  # no folder given: the settings' folder
    assert coderef.ROOT == sandbox.ROOT == settings.ROOT
    assert tmp_path.resolve() in sandbox.private_paths()  # the learners' code never sees the data folder
