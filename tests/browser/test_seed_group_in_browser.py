"""A learner starts a short tabular run on 2 seeds from the Runs page, watches both finish, sees the
IQM of their returns with its interval, and a reload brings back the same group."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.server import choose_algorithm, wait_idle

pytestmark = pytest.mark.browser

# the chart's title is written above it as page text (app/widgets/charts.py), then the plot itself
IQM_TITLE = re.compile(r"^tabular: IQM of the mean return of the last 100 episodes over 2 seeds, 95% bootstrap")
PLOT = ".js-plotly-plot"


def fill(page, name: str, value: str) -> None:
    box = page.get_by_role("spinbutton", name=name, exact=True)
    box.fill(value)
    box.press("Tab")


def test_start_two_seeds_see_their_iqm_and_reload(page, app_url: str, tmp_path: Path) -> None:
    page.goto(f"{app_url}/runs")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    choose_algorithm(page, "Tabular TD control")
    expect(page.get_by_role("button", name="Start run")).to_have_count(1, timeout=60_000)
    fill(page, "episodes", "100")
    fill(page, "seeds", "2")
    wait_idle(page)
    page.get_by_role("button", name="Start run").click()

    expect(page).to_have_url(re.compile(r"/runs\?group=seeds-\d{8}-\d{6}-[0-9a-f]{6}$"), timeout=90_000)
    group = page.url.split("group=")[1]
    expect(page.get_by_text(re.compile(r"Seed group .*2 seeds"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("seed 0 · ", exact=False)).to_be_visible()
    expect(page.get_by_text("2 finished", exact=True)).to_be_visible(timeout=180_000)
    expect(page.get_by_text(re.compile(r"IQM of the mean return of the last 100 episodes: -?\d"))).to_be_visible()
    expect(page.get_by_text(IQM_TITLE)).to_be_visible(timeout=30_000)
    expect(page.locator(PLOT).first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(tmp_path / "seed-group.png"), full_page=True)

    page.reload()
    expect(page).to_have_url(re.compile(rf"/runs\?group={group}$"))
    expect(page.get_by_text(re.compile(rf"Seed group {group}"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 finished", exact=True)).to_be_visible()
    expect(page.get_by_text(IQM_TITLE)).to_be_visible(timeout=30_000)
    expect(page.locator(PLOT).first).to_be_visible(timeout=30_000)
