"""A run's states and the limits a start form shows, with no database import: a lesson draws its
run form from these before anyone presses Start (app/runs/store.py opens the database)."""

QUEUED, STARTING, RUNNING = "queued", "starting", "running"
FINISHED, FAILED, STOPPED = "finished", "failed", "stopped"
ACTIVE = (QUEUED, STARTING, RUNNING)
DONE = (FINISHED, FAILED, STOPPED)
STATUSES = (*ACTIVE, *DONE)
MAX_SEEDS = 10  # runs one "seeds" start may queue at once
