"""Where things are: the repository root and the data folder, defined once for the whole app.

The data folder is `RLDOJO_DATA_DIR`, default `.rldojo` in the repository: the learner database
(`learners.sqlite`), the runs database (`runs.sqlite`), run artifacts and the answer journal live
there unless `DATABASE_URL` names a database. This module imports nothing of ours (a test keeps it so):
every other part of the app may import it, and it is the bottom of the layering.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository: `algorithms/`, `lessons/`, `quizzes/` are read from here."""

DATA_DIR_ENV = "RLDOJO_DATA_DIR"
DATABASE_URL_ENV = "DATABASE_URL"


def data_dir() -> Path:
    """The data folder: `RLDOJO_DATA_DIR` when set (read on every call), else `.rldojo` in the repository."""
    return Path(os.environ.get(DATA_DIR_ENV) or ROOT / ".rldojo")


def data_dir_override() -> Path | None:
    """`RLDOJO_DATA_DIR` when it is set, else None (the default folder lies inside the repository)."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None
