"""A run's states, the limits a start form shows and the errors a page catches, with no database
import: a lesson draws its run form from these before anyone presses Start (app/runs/store.py opens
the database; it and app/runs/manager.py raise these errors)."""

QUEUED, STARTING, RUNNING = "queued", "starting", "running"
FINISHED, FAILED, STOPPED = "finished", "failed", "stopped"
ACTIVE = (QUEUED, STARTING, RUNNING)
DONE = (FINISHED, FAILED, STOPPED)
STATUSES = (*ACTIVE, *DONE)
MAX_SEEDS = 10  # runs one "seeds" start may queue at once


class StoreUnavailable(RuntimeError):
    """The runs database cannot be used; the message says why and what to do, in one line."""


class CapacityError(ValueError):
    """RLDOJO_MAX_RUNS is not a whole number of runs."""
