"""At phone width (390 px) lessons and Practice stay usable: no control lies on top of another."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CONTROLS = (
    "button, input, textarea, [role='slider'], [role='combobox'], a[data-testid='stPageLink-NavLink'], "
    ".js-plotly-plot .updatemenu-button, .js-plotly-plot .slider-container"
)
# Every visible control's box, leaving out a control inside another (a slider's input in its rail).
BOXES = """
(selector) => {
  const els = [...document.querySelectorAll(selector)].filter(e => {
    const r = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && r.right > 0 && style.visibility !== 'hidden' && style.display !== 'none';
  });
  const outer = els.filter(e => !els.some(o => o !== e && o.contains(e)));
  return outer.map(e => {
    const r = e.getBoundingClientRect();
    const name = (e.getAttribute('aria-label') || e.textContent || e.className.baseVal || e.tagName).trim();
    return {name: name.slice(0, 40), x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height};
  });
}
"""


def overlaps(boxes: list[dict]) -> list[tuple[str, str]]:
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > 2 and dy > 2:  # more than a shared border
                found.append((a["name"], b["name"]))
    return found


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.mark.parametrize(
    "path,heading",
    [
        ("lesson?lesson=bellman-and-dynamic-programming", "Bellman equations and dynamic programming"),
        ("lesson?lesson=returns-and-discounting", "Returns and discounting"),
        ("practice?q=discounted-return-g0", "Practice"),
    ],
)
def test_no_control_overlaps_another_at_phone_width(
    phone: Page, app_url: str, path: str, heading: str, tmp_path: Path
) -> None:
    phone.goto(f"{app_url}/{path}")
    expect(phone.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    phone.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    if phone.locator(".js-plotly-plot").count():
        expect(phone.locator(".js-plotly-plot").first).to_be_attached()
        phone.wait_for_timeout(1500)  # plotly lays out its sliders and buttons after the first paint
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width} px wide"
    boxes = phone.evaluate(BOXES, CONTROLS)
    assert boxes, "no controls found"
    phone.screenshot(path=str(tmp_path / "phone.png"))
    assert not overlaps(boxes), overlaps(boxes)
    cut_titles = phone.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {"
        "  const box = plot.getBoundingClientRect();"
        "  return [...plot.querySelectorAll('.gtitle')]"
        "    .filter(t => { const r = t.getBoundingClientRect();"
        "                   return r.right > box.right + 1 || r.left < box.left - 1; })"
        "    .map(t => t.textContent); })"
    )
    assert not cut_titles, f"chart titles cut at the edge: {cut_titles}"
