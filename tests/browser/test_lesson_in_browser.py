"""A learner opens the app, follows a link to a lesson, reads its math and code, and moves the demo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def bar_heights(page) -> list[str]:
    return page.locator(".js-plotly-plot g.trace.bars path").evaluate_all("els => els.map(e => e.getAttribute('d'))")


def test_a_deep_link_works_as_the_first_request(page, app_url: str) -> None:
    # This file's tests run first on a fresh server: a deep link must not bypass app/main.py.
    page.goto(f"{app_url}/lesson?lesson=bellman-and-dynamic-programming")
    expect(page.get_by_role("heading", name="Bellman equations and dynamic programming", exact=True)).to_be_visible()
    expect(page.get_by_text("ModuleNotFoundError")).to_have_count(0)


def test_home_to_lesson_with_math_code_and_demo(page, app_url: str, tmp_path: Path) -> None:
    page.goto(app_url)
    expect(page.get_by_role("heading", name="RL Dojo")).to_be_visible()
    page.get_by_role("link", name=re.compile("Returns and discounting")).first.click()

    expect(page).to_have_url(re.compile(r"/lesson\?lesson=returns-and-discounting$"))
    expect(page.get_by_role("heading", name="Returns and discounting", exact=True)).to_be_visible()
    expect(page.get_by_text("Section 1 of ")).to_be_visible()  # a lesson opens on its first section
    page.get_by_role("button", name=re.compile("Contents")).click()
    page.get_by_role("link", name="All sections on one page").click()
    expect(page).to_have_url(re.compile(r"/lesson\?lesson=returns-and-discounting&section=all$"))
    expect(page.get_by_text(re.compile(r"^All \d+ sections on one page$"))).to_be_visible()
    # LaTeX is rendered by KaTeX, not left as dollar signs.
    expect(page.locator(".katex").first).to_be_visible()
    assert page.locator(".katex").count() > 10
    # The code block shows the live source with the file's path and its real line numbers.
    code = page.locator(".rld-code").first
    expect(code).to_contain_text("algorithms/returns.py")
    expect(code).to_contain_text("def discounted_returns")
    expect(code).not_to_contain_text("lesson:start")

    metric = page.get_by_test_id("stMetricValue").first
    expect(metric).to_have_text("4.684")
    chart = page.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    expect(page.locator(".js-plotly-plot g.trace.bars path").first).to_be_attached()
    before = bar_heights(page)

    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(40):
        slider.press("ArrowLeft")  # gamma 0.90 -> 0.50
    expect(metric).to_have_text("0.270")  # 0.5^2 * 1 + 0.5^9 * 10
    page.wait_for_function(
        "before => JSON.stringify([...document.querySelectorAll('.js-plotly-plot g.trace.bars path')]"
        ".map(e => e.getAttribute('d'))) !== before",
        arg=__import__("json").dumps(before),
    )
    assert bar_heights(page) != before

    shot = tmp_path / "lesson.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_a_whole_function_panel_draws_its_code_when_opened(page, app_url: str) -> None:
    """The whole function under a listing is sent only when its panel opens (app/widgets/code.py):
    opening it must show the function, and closing and opening it again too."""
    page.goto(f"{app_url}/lesson?lesson=ppo&section=3")  # the clipped surrogate
    expect(page.get_by_role("heading", name="Proximal Policy Optimization", exact=True)).to_be_visible()
    label = re.compile(r"The whole of\s*ppo_clip_loss")  # the backticks are drawn as code
    panel = page.get_by_test_id("stExpander").filter(has_text=label).first
    panel.scroll_into_view_if_needed()
    expect(panel.locator(".rld-code")).to_have_count(0)
    panel.locator("summary").click()
    code = panel.locator(".rld-code")
    expect(code).to_contain_text("def ppo_clip_loss", timeout=30_000)
    expect(code).to_contain_text("algorithms/losses.py")
    panel.locator("summary").click()
    panel.locator("summary").click()
    expect(code).to_contain_text("def ppo_clip_loss", timeout=30_000)


def test_links_to_the_next_section_and_lesson_show_their_whole_title_at_phone_width(page, app_url: str) -> None:
    """Page links are one line with an ellipsis by default: "Next section: GAE, an average of all
    the n-step estin" and "Next: Meta-RL, multi-task RL, and RL among the oth" were cut at 1280 px."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        for section in ("2", "5"):  # a long next-section title; the lesson's end with a long next lesson
            page.goto(f"{app_url}/lesson?lesson=actor-critic-and-gae&section={section}")
            links = page.get_by_test_id("stMain").get_by_test_id("stPageLink-NavLink")
            expect(links.filter(has_text=re.compile(r"(Next section|Next): ")).first).to_be_visible()
            cut = links.locator("p").evaluate_all(
                "ps => ps.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent)"
            )
            assert not cut, f"{width} px, section {section}: link titles cut off: {cut}"
