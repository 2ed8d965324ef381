"""Where am I: after every navigation the address bar names what is on screen, so a reload (or the
same address in a new tab) shows the same page, and the back button goes back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.content.loader import load_catalogue
from tests.browser.server import choose_algorithm, wait_idle

pytestmark = pytest.mark.browser
CATALOGUE = load_catalogue()


def title(lesson_id: str) -> str:
    return CATALOGUE.lessons[lesson_id].title


# A server's first lesson reads and checks the whole catalogue: 20 s on a loaded 2-core machine.
FIRST_RENDER_MS = 90_000


def section_title(lesson_id: str, number: int) -> str:
    return CATALOGUE.lessons[lesson_id].lesson.sections[number - 1].title


def last_section(lesson_id: str) -> int:
    return len(CATALOGUE.lessons[lesson_id].lesson.sections)


def shows_lesson(page: Page, lesson_id: str, section: int = 1) -> None:
    """The lesson's section `section` is on screen and the address says so (the first: no `section`)."""
    query = rf"lesson={lesson_id}" + ("" if section == 1 else rf"&section={section}")
    expect(page).to_have_url(re.compile(rf"/lesson\?{query}$"))
    expect(page.get_by_role("heading", name=title(lesson_id), exact=True)).to_be_visible(timeout=FIRST_RENDER_MS)
    heading = page.get_by_role("heading", name=section_title(lesson_id, section), exact=True)
    expect(heading).to_be_visible(timeout=FIRST_RENDER_MS)


def reload_shows_lesson(page: Page, lesson_id: str, section: int = 1) -> None:
    page.reload()
    shows_lesson(page, lesson_id, section)
    fresh = page.context.new_page()  # the same address in a new tab
    fresh.goto(page.url)
    expect(fresh.get_by_role("heading", name=title(lesson_id), exact=True)).to_be_visible(timeout=FIRST_RENDER_MS)
    heading = fresh.get_by_role("heading", name=section_title(lesson_id, section), exact=True)
    expect(heading).to_be_visible(timeout=FIRST_RENDER_MS)
    fresh.close()


def open_section_from_contents(page: Page, lesson_id: str, number: int) -> None:
    page.get_by_role("button", name=re.compile("Contents")).click()
    page.get_by_role("link", name=f"{number}. {section_title(lesson_id, number)}", exact=True).click()
    shows_lesson(page, lesson_id, number)


def test_next_and_the_sidebar_leave_an_address_that_reloads_the_same_lesson(page: Page, app_url: str) -> None:
    start = "returns-and-discounting"
    _, second = CATALOGUE.neighbours(start)
    page.goto(f"{app_url}/lesson?lesson={start}")
    shows_lesson(page, start)

    # a lesson is read one section at a time; the address names the section on screen
    page.get_by_role("link", name=f"Next section: {section_title(start, 2)}").click()
    shows_lesson(page, start, 2)
    reload_shows_lesson(page, start, 2)
    open_section_from_contents(page, start, last_section(start))
    reload_shows_lesson(page, start, last_section(start))
    expect(page.get_by_role("button", name=re.compile("Contents"))).to_be_visible()
    expect(page.get_by_role("link", name=f"1. {section_title(start, 1)}")).to_have_count(0)  # the menu closed

    page.get_by_role("link", name=f"Next: {title(second)}").click()
    shows_lesson(page, second)
    reload_shows_lesson(page, second)

    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Foundations", exact=True)).to_be_visible()  # grouped by track
    cut = sidebar.locator("[data-testid='stPageLink-NavLink'] p").evaluate_all(
        "ps => ps.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent)"
    )
    assert not cut, f"sidebar titles cut off: {cut}"
    sidebar.get_by_role("link", name=title("td-learning"), exact=True).click()
    shows_lesson(page, "td-learning")
    reload_shows_lesson(page, "td-learning")
    open_section_from_contents(page, "td-learning", last_section("td-learning"))

    _, fourth = CATALOGUE.neighbours("td-learning")
    page.get_by_role("link", name=f"Next: {title(fourth)}").click()
    shows_lesson(page, fourth)
    reload_shows_lesson(page, fourth)

    page.go_back()
    shows_lesson(page, "td-learning", last_section("td-learning"))


def test_a_run_and_the_run_list_keep_their_address(page: Page, app_url: str, tmp_path: Path) -> None:
    page.goto(f"{app_url}/runs")
    choose_algorithm(page, "REINFORCE")
    episodes = page.get_by_role("spinbutton", name="total episodes")
    episodes.fill("30")  # done in seconds: the runs test after this one needs the only slot
    episodes.press("Tab")
    wait_idle(page)
    # the previous algorithm's form lingers until the rerun ends (stale elements on a loaded machine)
    expect(page.get_by_role("button", name="Start run")).to_have_count(1, timeout=60_000)
    page.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"/runs\?run=\d{8}-\d{6}-[0-9a-f]{6}$"), timeout=90_000)
    run_url = page.url
    run_id = run_url.rsplit("=", 1)[1]
    expect(page.get_by_text(run_id).first).to_be_visible()

    page.reload()
    expect(page.get_by_text(run_id).first).to_be_visible()

    page.get_by_role("link", name="All runs").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_role("link", name="All runs")).to_have_count(0)
    page.reload()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_text("Start a new run")).to_be_visible()

    page.go_back()
    expect(page).to_have_url(run_url)
    expect(page.get_by_text(run_id).first).to_be_visible()
    # Let it finish: the next browser test needs the server's only run slot and the CPU.
    expect(page.locator("h4").filter(has_text=run_id)).to_contain_text("finished", timeout=180_000)

    # "Open ID" from the list (issue 12: it showed the run while the address stayed /runs, so a
    # reload said "No runs to show"): select the first row, follow its link, reload.
    page.get_by_role("link", name="All runs").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_role("link", name="All runs")).to_have_count(0)  # the run's page is gone
    grid = page.get_by_test_id("stDataFrame")
    expect(grid).to_have_count(1)  # the list of runs, nothing else
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box, under the header
    link = page.get_by_role("link", name=re.compile(r"^Open \d{8}-\d{6}-[0-9a-f]{6}$")).first
    expect(link).to_be_visible()
    found = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", link.inner_text())  # the label also holds the icon's name
    assert found is not None
    opened = found.group()
    link.click()
    expect(page).to_have_url(re.compile(rf"/runs\?run={opened}$"))
    expect(page.get_by_role("link", name="All runs")).to_be_visible()  # a run's page, not the list
    expect(page.get_by_text(opened).first).to_be_visible()
    page.reload()
    expect(page).to_have_url(re.compile(rf"/runs\?run={opened}$"))
    expect(page.get_by_role("link", name="All runs")).to_be_visible()
    expect(page.get_by_text(opened).first).to_be_visible()
    expect(page.get_by_text("No runs to show")).to_have_count(0)
