"""Where runs train: the backend ``RLDOJO_RUNS_BACKEND`` names, ``local`` (processes on this machine,
the default) or ``ray`` (actors on a Ray cluster). The choice lives here, above both managers, so the
local manager and the Ray one (a subclass of it) never import each other."""

from __future__ import annotations

import os
from pathlib import Path

from app.runs.manager import CapacityError, RunManager, default_capacity
from app.runs.ray_backend import RayRunManager
from app.runs.store import RunStore

BACKEND_ENV = "RLDOJO_RUNS_BACKEND"
BACKENDS = ("local", "ray")


def open_manager(data_dir: Path | str | None = None, capacity: int | None = None, url: str | None = None) -> RunManager:
    """A manager on the data folder's runs (or the database ``url`` / ``DATABASE_URL`` names), for the
    backend ``RLDOJO_RUNS_BACKEND`` names. ``capacity``: runs at once (local only; default
    ``RLDOJO_MAX_RUNS`` or one per two cores); Ray starts each run when the cluster has its resources."""
    backend = os.environ.get(BACKEND_ENV, "local").strip().lower() or "local"
    if backend not in BACKENDS:
        raise CapacityError(f"{BACKEND_ENV} must be local or ray; it is {backend!r}")
    store = RunStore(data_dir, url=url)
    if backend == "ray":
        return RayRunManager(store, capacity or 1)
    return RunManager(store, capacity or default_capacity())
