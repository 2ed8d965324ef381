"""A learner starts a real training run from the Runs page, watches it learn, and stops it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.server import choose_algorithm, wait_idle

pytestmark = pytest.mark.browser

CURVE = ".js-plotly-plot g.trace.scatter path.js-line"


def curve_length(page) -> int:
    return page.locator(CURVE).first.evaluate("e => (e.getAttribute('d') || '').length")


def test_start_watch_and_stop_a_run(page, app_url: str, tmp_path: Path) -> None:
    page.goto(f"{app_url}/runs")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    choose_algorithm(page, "REINFORCE")
    episodes = page.get_by_role("spinbutton", name="total episodes")
    episodes.fill("20000")  # long enough to still be running when we press Stop
    episodes.press("Tab")
    wait_idle(page)
    # the previous algorithm's form lingers until the rerun ends (stale elements on a loaded machine)
    expect(page.get_by_role("button", name="Start run")).to_have_count(1, timeout=60_000)
    page.get_by_role("button", name="Start run").click()

    expect(page).to_have_url(re.compile(r"/runs\?run=\d{8}-\d{6}-[0-9a-f]{6}"), timeout=90_000)
    expect(page.get_by_text("running", exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("device: cpu")).to_be_visible()
    expect(page.locator(CURVE).first).to_be_attached(timeout=60_000)
    first = curve_length(page)
    page.wait_for_function(
        f"n => (document.querySelector('{CURVE}')?.getAttribute('d') || '').length > n", arg=first, timeout=60_000
    )
    page.screenshot(path=str(tmp_path / "run-live.png"), full_page=True)

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("stopped", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_text("did not stop within")).to_have_count(0)  # it stopped by itself, in time
    page.screenshot(path=str(tmp_path / "run-stopped.png"), full_page=True)
