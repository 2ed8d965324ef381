"""A local Ray head for the tests that need one: `ray.init` in a process (and process group) of its
own, ended by its group. Importing this module sets Ray's token authentication for this process and
every process it starts (Ray 2.60 reads the mode when it is imported, so import this first)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from app.settings import ROOT

os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))

HEAD = (
    "import ray, sys, time\n"
    "ray.init(num_cpus=2, include_dashboard=False, namespace='rldojo')\n"
    "print(ray.get_runtime_context().gcs_address, flush=True)\n"
    "while True:\n    time.sleep(3600)\n"
)


def require_ray() -> None:
    """Skip the calling test (or fixture) where Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install -r requirements.txt): the Ray backend cannot be tested")


@contextlib.contextmanager
def ray_head() -> Iterator[str]:
    """Start a 2-CPU Ray head; yields its address (for RAY_ADDRESS), and ends it and its processes after."""
    require_ray()
    head = subprocess.Popen(
        [sys.executable, "-c", HEAD], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        yield address
    finally:
        if "ray" in sys.modules:  # this process may have connected too
            with contextlib.suppress(Exception):
                sys.modules["ray"].shutdown()
        os.killpg(head.pid, signal.SIGTERM)  # the head and the Ray processes it started: our group only
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
