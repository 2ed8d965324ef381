"""A real Streamlit server of the app on a free loopback port, for the browser tests."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    data_dir: Path, log: Path, *, app: str = "app/main.py", **env_overrides: str | None
) -> Iterator[str]:
    """`python -m app.serve` (or `streamlit run APP`) on a free loopback port over `data_dir`; yields its URL
    once healthy.

    An override of None removes that variable from the server's environment."""
    port = free_port()
    env = {**os.environ, "RLDOJO_DATA_DIR": str(data_dir)}
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    # The app starts as `make run` starts it (warmed, `app/serve.py`); any other script as streamlit runs it.
    command = ["-m", "app.serve"] if app == "app/main.py" else ["-m", "streamlit", "run", app]
    command += ["--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # the full warm-up takes about 12 s on 2 idle cores
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_idle(page, timeout: float = 90_000) -> None:
    """Wait until the app's script has finished its run: on a loaded machine a click sent while a
    rerun is still drawing can land on an element that is about to be replaced."""
    page.wait_for_timeout(300)  # let a rerun that a previous action triggered begin
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout)


def choose_algorithm(page, name: str, attempts: int = 3) -> None:
    """Open the Runs page's start form and pick `name` in its algorithm box, waiting for each step.

    On a loaded machine keystrokes typed while the list is still opening can be lost, and Enter then
    picks nothing: the box is checked afterwards and the choice made again until it shows `name`."""
    wait_idle(page)
    box = page.get_by_test_id("stSelectbox").first
    if not box.is_visible():
        page.get_by_text("Start a new run").click()
    for _ in range(attempts):
        box.locator("input").click()
        page.keyboard.press("Control+A")
        page.keyboard.type(name, delay=30)
        option = page.get_by_role("option", name=re.compile(re.escape(name))).first
        option.wait_for(state="visible", timeout=60_000)
        # the list re-renders while it filters (an option clicked then can be detached): Enter picks the
        # focused, filtered option instead
        page.keyboard.press("Enter")
        wait_idle(page)
        if name in box.locator("input").input_value():
            return
        page.keyboard.press("Escape")
    raise AssertionError(f"the algorithm box never showed {name!r} after {attempts} attempts")
