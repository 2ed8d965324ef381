"""axe-core finds no serious or critical WCAG 2.2 A/AA violation on any page or lesson, light or dark.

One server for the whole module, on a data folder seeded with a learner's answers (so Progress, Review
and Class draw their charts and tables), a retrieval drill and a mock interview. Each page is loaded
once and checked in both themes: the app follows the reader's colour scheme (streamlit_config.toml
sets [theme.light] and [theme.dark]), and Playwright switches the emulated scheme in place.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from app.content.loader import load_catalogue
from app.grading.bank import load_questions
from app.learners import db, drills, store
from app.learners.store import LESSON_DONE
from app.runs.backends import open_manager
from app.runs.store import ACTIVE, FINISHED
from tests.browser.axe import COLOUR_RULES, audit, axe_source, report
from tests.browser.server import streamlit_server
from tests.lesson_sections import section_with

pytestmark = pytest.mark.browser

LEARNER = "ada"
RETRIEVAL_ID = "a11yretrieval"
MOCK_ID = "a11ymock"
# One question of each kind, opened on the Practice page.
KIND_EXAMPLES = {
    "choice": "markov-property",
    "predict": "discounted-return-g0",
    "order": "rl-loop-order",
    "explain": "discount-factor",
    "spot-the-bug": "ppo-ratio-bug",
    "implement": "discounted-returns",
}
THEMES = ("light", "dark")


def seed_learner(data: Path) -> None:
    """Answers over three days across topics (some wrong), two lessons done, and two drills."""
    saved = {name: os.environ.get(name) for name in ("RLDOJO_DATA_DIR", db.DATABASE_URL_ENV)}
    os.environ["RLDOJO_DATA_DIR"] = str(data)
    os.environ.pop(db.DATABASE_URL_ENV, None)
    try:
        questions = load_questions()
        now = time.time()
        by_topic: dict[str, list] = {}
        for q in questions.by_id.values():
            if q.topic:
                by_topic.setdefault(q.topic.value, []).append(q)
        n = 0
        for topic_questions in list(by_topic.values())[:5]:
            for q in topic_questions[:3]:
                for day in (2, 1, 0):
                    right = (n + day) % 3 != 0
                    at = now - day * 86_400 - 60
                    store.record_attempt(LEARNER, q.id, q.kind, right, 1.0 if right else 0.0, at=at)
                n += 1
        for lesson_id in ("the-rl-loop", "returns-and-discounting"):
            store.record_event(LEARNER, LESSON_DONE, lesson_id, at=now - 3600)
        info = drills.question_info(questions.by_id.values())
        retrieval = drills.new_retrieval(LEARNER, ["markov-property", "epsilon-schedule"], now, drill_id=RETRIEVAL_ID)
        store.save_drill(retrieval.id, LEARNER, retrieval.kind, retrieval.to_dict())
        mock = drills.new_mock(LEARNER, info, 30, now, drill_id=MOCK_ID)
        store.save_drill(mock.id, LEARNER, mock.kind, mock.to_dict())
    finally:
        db.dispose_all()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def a11y_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("a11y-data")
    seed_learner(data)
    return data


@pytest.fixture(scope="module")
def a11y_url(a11y_data: Path) -> Iterator[str]:
    env = {db.DATABASE_URL_ENV: None, "RLDOJO_INSTRUCTORS": LEARNER, "RLDOJO_MAX_RUNS": "1"}
    with streamlit_server(a11y_data, a11y_data / "server.log", **env) as url:
        yield url


@pytest.fixture(scope="module")
def axe_js() -> str:
    return axe_source()


def test_axe_is_skipped_only_where_npm_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.browser import axe

    monkeypatch.setattr(axe, "AXE_JS", tmp_path / "axe.min.js")
    monkeypatch.setattr(axe.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="npm is not installed"):
        axe.axe_source()
    monkeypatch.setattr(axe.shutil, "which", lambda name: f"/usr/bin/{name}")
    with pytest.raises(pytest.fail.Exception, match="make node-deps"):
        axe.axe_source()


def test_the_audit_finds_a_violation_and_excludes_only_the_listed_node(
    page: Page, a11y_url: str, axe_js: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check can fail: two low-contrast paragraphs put into Home are found, in the dark theme
    too, and an exception names exactly one node (the other is still reported)."""
    from tests.browser import axe

    page.goto(a11y_url)
    settled(page)
    page.evaluate(
        """() => { for (const id of ['rld-grey-1', 'rld-grey-2']) {
            const p = document.createElement('p');
            p.id = id; p.textContent = 'Faint text'; p.style.color = '#bbbbbb'; p.style.background = '#ffffff';
            document.querySelector('[data-testid=stMain]').prepend(p); } }"""
    )
    found = [v for v in audit(page, axe_js) if v.rule == "color-contrast"]
    assert found and {"#rld-grey-1", "#rld-grey-2"} <= set(found[0].targets), found
    with pytest.raises(AssertionError, match="rld-grey-1"):
        check_both_themes(page, axe_js, "/ with faint text")
    monkeypatch.setattr(axe, "STREAMLIT_EXCEPTIONS", {"color-contrast": ["#rld-grey-1"]})
    left = [t for v in axe.audit(page, axe_js, rules=COLOUR_RULES) for t in v.targets]
    assert "#rld-grey-2" in left and "#rld-grey-1" not in left, left


def settled(page: Page) -> None:
    """Wait until the script has run to the end and its charts are drawn."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning] h1", timeout=90_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))",
        timeout=60_000,
    )
    # and no element is stale (faded while a rerun redraws it: its colours are not the page's)
    page.wait_for_function("() => !document.querySelector('[data-testid=stElementContainer][data-stale=true]')")
    page.wait_for_timeout(300)  # one more frame for late layout (tabs, fonts)


# The app's background, and that of each open expander's header (Streamlit repaints those a moment
# later), is dark in the dark theme and light in the light one; see-through ones are skipped.
THEME_APPLIED = """dark => {
    const sum = el => { const c = getComputedStyle(el).backgroundColor.match(/[0-9.]+/g).map(Number);
        return c.length > 3 && c[3] < 1 ? null : c[0] + c[1] + c[2]; };
    const app = document.querySelector('[data-testid=stApp]');
    const shown = [app, ...document.querySelectorAll('details[open] > summary')];
    return shown.map(sum).filter(v => v !== null).every(v => (v < 200) === dark);
}"""


def open_expanders(page: Page) -> int:
    """Open every expander of the page: axe skips what is hidden, and behind them are charts' tables,
    hints, model answers, whole functions and demo settings."""
    count = page.evaluate(
        """() => { const closed = [...document.querySelectorAll('[data-testid=stMain] details:not([open]) > summary')];
            closed.forEach(s => s.click()); return closed.length; }"""
    )
    page.wait_for_function("() => !document.querySelector('[data-testid=stMain] details:not([open])')")
    if count:  # an expander that tracks its state (Runs' start form) reruns the script: let that begin
        page.wait_for_timeout(300)
    settled(page)
    return count


def check_both_themes(page: Page, axe_js: str, where: str) -> None:
    """Every WCAG A/AA rule in the light theme, then the colour rules again in the dark one."""
    failures = []
    for theme in THEMES:
        page.emulate_media(color_scheme=theme)
        page.wait_for_function(THEME_APPLIED, arg=theme == "dark")
        found = audit(page, axe_js, rules=None if theme == THEMES[0] else COLOUR_RULES)
        if found:
            failures.append(report(f"{where} ({theme})", found))
    assert not failures, "\n".join(failures)


def lesson_ids() -> list[str]:
    """Every lesson in the catalogue (one that fails to load too: its page says why, and is audited)."""
    return list(load_catalogue().lessons)


def test_every_question_kind_is_opened() -> None:
    """A kind added to the bank's schema must get an example here, or its page goes unchecked."""
    from app.content.quiz_models import KINDS

    assert set(KIND_EXAMPLES) == set(KINDS)
    questions = load_questions()
    assert {kind: questions.get(qid).kind for kind, qid in KIND_EXAMPLES.items()} == {k: k for k in KIND_EXAMPLES}


PAGES = [
    ("home", "/"),
    *[(f"practice-{kind}", f"/practice?q={qid}") for kind, qid in KIND_EXAMPLES.items()],
    ("review", f"/review?learner={LEARNER}"),
    ("drill", f"/drill?learner={LEARNER}"),
    ("drill-retrieval", f"/drill?drill={RETRIEVAL_ID}&learner={LEARNER}"),
    ("drill-mock", f"/drill?drill={MOCK_ID}&learner={LEARNER}"),
    ("drill-interviewer", f"/drill?drill={MOCK_ID}&role=interviewer&learner={LEARNER}"),
    ("progress", f"/progress?learner={LEARNER}"),
    ("class", f"/class?learner={LEARNER}"),
    ("runs", "/runs"),
    # each lesson whole (all its sections on one page), and one section alone with its contents menu
    *[(f"lesson-{lesson_id}", f"/lesson?lesson={lesson_id}&section=all") for lesson_id in lesson_ids()],
    ("lesson-one-section", "/lesson?lesson=ppo&section=3"),
]


# Text alternatives that axe does not demand: each formula carries KaTeX's MathML (and its drawn twin is
# hidden from screen readers, so it is not read twice); each chart is a figure named by a sentence.
TEXT_ALTERNATIVES = """() => ({
    formulas: document.querySelectorAll('.katex').length,
    withoutMathml: [...document.querySelectorAll('.katex')]
        .filter(k => !(k.querySelector('.katex-mathml math') || {}).textContent
            || (k.querySelector('.katex-html') || {getAttribute: () => 'true'}).getAttribute('aria-hidden') !== 'true')
        .map(k => k.textContent.slice(0, 60)),
    charts: document.querySelectorAll('[data-testid=stPlotlyChart]').length,
    unnamedCharts: [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
        .filter(c => c.getAttribute('role') !== 'figure' || (c.getAttribute('aria-label') || '').trim().length < 20)
        .map(c => c.outerHTML.slice(0, 120)),
})"""


def check_text_alternatives(page: Page, where: str) -> None:
    found = page.evaluate(TEXT_ALTERNATIVES)
    assert not found["withoutMathml"], f"{where}: formulas without MathML: {found['withoutMathml']}"
    assert not found["unnamedCharts"], f"{where}: charts without a description: {found['unnamedCharts']}"


@pytest.mark.parametrize("path", [p for _, p in PAGES], ids=[name for name, _ in PAGES])
def test_page_has_no_serious_violations(page: Page, a11y_url: str, axe_js: str, path: str) -> None:
    page.goto(a11y_url + path)
    settled(page)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    open_expanders(page)
    check_both_themes(page, axe_js, path)
    check_text_alternatives(page, path)


def test_the_contents_menu_opens_and_jumps_from_the_keyboard_and_passes_axe_open(
    page: Page, a11y_url: str, axe_js: str
) -> None:
    """A lesson's Contents menu is drawn when it opens (a rerun): Tab reaches it, Enter opens it, Tab
    reaches a section's link in it and Enter opens that section. Open, it passes the same audit."""
    lesson = load_catalogue().lessons["ppo"].lesson
    page.goto(f"{a11y_url}/lesson?lesson=ppo&section=2")  # text and code: the audit is of the menu
    settled(page)
    keys = Keyboard(page)
    keys.tab_to("el => el.dataset.testid === 'stPopoverButton' && el.innerText.includes('Contents')")
    keys.press("Enter")
    target = f"4. {lesson.sections[3].title}"
    expect(page.get_by_role("link", name=target)).to_be_visible()
    settled(page)
    check_both_themes(page, axe_js, "/lesson?lesson=ppo&section=2 with its Contents menu open")
    keys.tab_to(f"el => el.tagName === 'A' && el.innerText.trim().endsWith({target!r})")
    keys.press("Enter")
    expect(page).to_have_url(re.compile(r"lesson=ppo&section=4$"))
    expect(page.get_by_role("heading", name=lesson.sections[3].title, exact=True)).to_be_visible()


def test_formulas_and_charts_have_text_alternatives(page: Page, a11y_url: str) -> None:
    """The check the page test makes finds what it looks for: a lesson with formulas and a chart."""
    page.goto(f"{a11y_url}/lesson?lesson=returns-and-discounting&section=all")
    expect(page.locator("[data-testid=stPlotlyChart] .main-svg").first).to_be_attached(timeout=60_000)  # drawn late
    settled(page)
    found = page.evaluate(TEXT_ALTERNATIVES)
    assert found["formulas"] > 10 and found["charts"] >= 1, found
    check_text_alternatives(page, "/lesson?lesson=returns-and-discounting")
    name = page.locator("[data-testid=stPlotlyChart]").first.get_attribute("aria-label")
    assert name.startswith("Bar chart: ") and name.endswith("The numbers are in the table below the chart."), name
    expect(page.get_by_text(re.compile(r"^The numbers behind ")).first).to_be_visible()


def test_animations_stop_for_readers_who_ask_for_reduced_motion(browser, a11y_url: str) -> None:
    """style.py's CSS reaches the page and its media query holds: under `prefers-reduced-motion: reduce`
    transitions and animations take no time and an episode's still frame shows instead of the GIF."""
    probe = """() => {
        const box = document.createElement('div');
        box.innerHTML = '<div id="rld-t" style="transition: opacity 2s; animation: none 3s"></div>'
            + '<div class="st-key-rld-moving-probe">moving</div><div class="st-key-rld-still-probe">still</div>';
        document.querySelector('[data-testid=stMain]').appendChild(box);
        const t = getComputedStyle(document.getElementById('rld-t'));
        const shown = sel => getComputedStyle(document.querySelector(sel)).display !== 'none';
        const seconds = text => parseFloat(text) * (text.endsWith('ms') ? 0.001 : 1);
        return {transition: seconds(t.transitionDuration), animation: seconds(t.animationDuration),
                moving: shown('.st-key-rld-moving-probe'), still: shown('.st-key-rld-still-probe')};
    }"""
    seen = {}
    for motion in ("no-preference", "reduce"):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, reduced_motion=motion)
        page = context.new_page()
        page.goto(a11y_url)
        settled(page)
        page.wait_for_selector("#rldojo-a11y-css", state="attached")
        seen[motion] = page.evaluate(probe)
        context.close()
    assert seen["no-preference"] == {"transition": 2, "animation": 3, "moving": True, "still": False}, seen
    reduced = seen["reduce"]
    assert reduced["transition"] < 0.001 and reduced["animation"] < 0.001, seen
    assert (reduced["moving"], reduced["still"]) == (False, True), seen


def test_drill_tabs_have_no_serious_violations(page: Page, a11y_url: str, axe_js: str) -> None:
    """The Drill page's other two tabs (the first is checked above)."""
    page.goto(f"{a11y_url}/drill?learner={LEARNER}")
    settled(page)
    for tab in ("Mock interview", "Interview a candidate"):
        page.get_by_role("tab", name=tab).click()
        check_both_themes(page, axe_js, f"/drill, tab {tab}")


def test_feedback_after_an_answer_has_no_serious_violations(page: Page, a11y_url: str, axe_js: str) -> None:
    """Right and wrong feedback (alerts, icons) in both themes."""
    question = load_questions().get("markov-property")
    page.goto(f"{a11y_url}/practice?q=markov-property")
    settled(page)
    page.get_by_text(question.distractors[0], exact=True).click()
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.get_by_text("Not this one.", exact=True)).to_be_visible()
    # Not colour alone: the words, and an icon beside them.
    alert = page.get_by_test_id("stAlertContainer").filter(has_text="Not this one.")
    expect(alert.get_by_test_id("stAlertDynamicIcon")).to_have_text("cancel")
    check_both_themes(page, axe_js, "/practice, a wrong answer")


def test_a_coding_answer_graded_has_no_serious_violations(page: Page, a11y_url: str, axe_js: str) -> None:
    """What an implement question shows once the sandbox has graded it: the starter (a failure, with
    its first failing case or error), then the reference (a pass, with the reference code panel)."""
    from app.grading.solutions import reference_solution

    question = load_questions().get(KIND_EXAMPLES["implement"])
    page.goto(f"{a11y_url}/practice?q={question.id}")
    settled(page)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_test_id("stAlertContentError").first).to_be_visible(timeout=90_000)
    settled(page)
    check_both_themes(page, axe_js, f"/practice?q={question.id}, the starter run")

    box = page.get_by_label(re.compile("^Your code"))
    box.fill(reference_solution(question))
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text(re.compile(r"^All \d+ cases pass\."))).to_be_visible(timeout=90_000)
    settled(page)
    check_both_themes(page, axe_js, f"/practice?q={question.id}, a passing run")


def test_a_live_run_has_no_serious_violations(page: Page, a11y_url: str, a11y_data: Path, axe_js: str) -> None:
    manager = open_manager(a11y_data, capacity=1)
    run_id = manager.start("reinforce", {"total_episodes": 20_000}, label="a11y")
    try:
        page.goto(f"{a11y_url}/runs?run={run_id}")
        expect(page.get_by_text("running", exact=True)).to_be_visible(timeout=90_000)
        expect(page.locator("[data-testid=stPlotlyChart] .main-svg").first).to_be_attached(timeout=60_000)
        check_both_themes(page, axe_js, f"/runs?run={run_id} (running)")
    finally:
        manager.stop(run_id)
    page.goto(f"{a11y_url}/runs?run={run_id}")
    expect(page.get_by_text(re.compile("^stopped$"))).to_be_visible(timeout=30_000)
    check_both_themes(page, axe_js, f"/runs?run={run_id} (stopped)")


def test_the_runs_list_and_a_seed_group_have_no_serious_violations(
    page: Page, a11y_url: str, a11y_data: Path, axe_js: str
) -> None:
    """The Runs list with rows and a seed group's link (the page test above sees it empty), and a
    finished seed group's page (/runs?group=ID: its counts, IQM and curves)."""
    manager = open_manager(a11y_data, capacity=1)
    group, run_ids = manager.start_seeds("tabular", {"episodes": 100}, 2)
    deadline = time.monotonic() + 300
    while any(manager.get(r).status in ACTIVE for r in run_ids):  # capacity 1: one seed after the other
        assert time.monotonic() < deadline, [(r, manager.get(r).status) for r in run_ids]
        manager.schedule()
        time.sleep(1)
    for r in run_ids:
        assert manager.get(r).status == FINISHED, manager.log_tail(r)

    page.goto(f"{a11y_url}/runs")
    settled(page)
    # The list shows this session's runs until "All runs" is switched on.
    page.get_by_test_id("stCheckbox").filter(has_text="All runs").click()
    expect(page.get_by_role("link", name=re.compile(r"Seed group: tabular, 2 seeds"))).to_be_visible(timeout=60_000)
    settled(page)
    check_both_themes(page, axe_js, "/runs, all runs")

    page.goto(f"{a11y_url}/runs?group={group}")
    expect(page.get_by_text("2 finished", exact=True)).to_be_visible(timeout=90_000)
    expect(page.locator("[data-testid=stPlotlyChart] .main-svg").first).to_be_attached(timeout=60_000)
    settled(page)
    check_both_themes(page, axe_js, f"/runs?group={group}")
    check_text_alternatives(page, f"/runs?group={group}")


# ---------------------------------------------------------------------------------------------
# keyboard only: no mouse from Home to a finished drill, with focus visible at every stop
# ---------------------------------------------------------------------------------------------

KEYBOARD_LESSON = "td-learning"  # code panels, wide math, a single-answer choice, a live run
KEYBOARD_CHOICE = "mc-versus-td"
KEYBOARD_CODE = "discounted-returns"
KEYBOARD_DRILL = ("markov-property", "epsilon-schedule")  # two single-answer choice questions

# What has focus; whether it shows (a 2px-or-wider outline, ours from style.py, or a focus shadow);
# and where it is, from the top of the page's content (which scrolls inside Streamlit's main block).
FOCUS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    // A radio, checkbox, toggle or slider input is hidden in a 1px clip: its label or thumb must show focus.
    const clipped = el.parentElement && el.parentElement.getBoundingClientRect().width <= 1;
    const shown = clipped ? (el.closest('[data-focus-visible="true"]') || el.closest('label') || el.parentElement) : el;
    const cs = getComputedStyle(shown);
    const outlined = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2;
    const shadowed = cs.boxShadow && cs.boxShadow !== 'none';
    const box = shown.getBoundingClientRect();
    return {
        tag: el.tagName, role: el.getAttribute('role') || el.type || '',
        name: (el.getAttribute('aria-label') || el.innerText || el.value || '').trim().slice(0, 80),
        visible: outlined || shadowed, inView: box.bottom > 0 && box.top < innerHeight,
        top: box.top - document.querySelector('[data-testid=stMainBlockContainer]').getBoundingClientRect().top,
    };
}"""


class Keyboard:
    """Tab, Shift+Tab and keys only; every focus stop is checked for a visible focus indicator."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.stops = 0
        self.tops: list[float] = []  # where each focus stop was, from the top of the page

    def tab_to(self, predicate: str, limit: int = 400) -> dict:
        """Press Tab until `predicate` (a JS function of the focused element) holds; return the focus."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            focus = self.page.evaluate(FOCUS)
            if focus is None:
                continue
            self.stops += 1
            self.tops.append(focus["top"])
            if not focus["visible"]:  # a rerun may be redrawing the page this instant: look again
                self.page.wait_for_timeout(1_000)
                focus = self.page.evaluate(FOCUS) or focus
            assert focus["visible"], f"focus is not visible on {focus}"
            assert focus["inView"], f"the focused element is scrolled out of view: {focus}"
            if self.page.evaluate(f"({predicate})(document.activeElement)"):
                return focus
        raise AssertionError(f"{limit} presses of Tab never reached {predicate}")

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)


def named(text: str) -> str:
    """A predicate: a control of the page (not Streamlit's toolbar, whose status widget has a Stop button
    of its own) with a line of text, or a label, that starts with `text`."""
    return (
        "el => !!el.closest('[data-testid=stMain]') && [el.getAttribute('aria-label') || '',"
        f" ...(el.innerText || '').split('\\n')].some(line => line.trim().startsWith({text!r}))"
    )


def radio_option(text: str) -> str:
    """A predicate: a radio button of the group that offers the option `text`."""
    return (
        f"el => el.type === 'radio' && [...el.closest('[role=radiogroup]').querySelectorAll('label')]"
        f".some(l => l.innerText.trim() === {text!r})"
    )


def pick_radio(keys: Keyboard, options: list[str], answer: str) -> None:
    """Focus is on the first radio of an unanswered group: Space checks it, ArrowDown moves and checks."""
    index = options.index(answer)
    keys.press("Space") if index == 0 else keys.press(*["ArrowDown"] * index)


def radio_labels(page: Page, text: str) -> list[str]:
    group = page.get_by_role("radiogroup").filter(has=page.get_by_text(text, exact=True))
    return [s.strip() for s in group.locator("label").all_inner_texts()]


WIDER_THAN_ITS_BOX = "sel => [...document.querySelectorAll(sel)].some(el => el.scrollWidth > el.clientWidth + 1)"


def scrolls_sideways(page: Page, keys: Keyboard, selector: str, what: str) -> None:
    """Tab to the first element matching `selector` that is wider than its box, and scroll it with the arrows."""
    keys.tab_to(f"el => el.matches({selector!r}) && el.scrollWidth > el.clientWidth + 1")
    keys.press("ArrowRight", "ArrowRight", "ArrowRight")
    try:  # keyboard scrolling is smooth: give it a moment
        page.wait_for_function("() => document.activeElement.scrollLeft > 0", timeout=3_000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"the arrow keys did not scroll the {what}") from None


@pytest.fixture(scope="module")
def keyboard_drill(a11y_url: str, a11y_data: Path) -> str:
    """A retrieval drill of its own (two single-answer choice questions) for the keyboard test."""
    saved = os.environ.get("RLDOJO_DATA_DIR")
    os.environ["RLDOJO_DATA_DIR"] = str(a11y_data)
    try:
        drill = drills.new_retrieval(LEARNER, ["markov-property", "epsilon-schedule"], time.time(), drill_id="a11ykeys")
        store.save_drill(drill.id, LEARNER, drill.kind, drill.to_dict())
    finally:
        db.dispose_all()
        if saved is None:
            os.environ.pop("RLDOJO_DATA_DIR", None)
        else:
            os.environ["RLDOJO_DATA_DIR"] = saved
    return f"{a11y_url}/drill?drill=a11ykeys&learner={LEARNER}"


def test_keyboard_only_from_home_to_a_finished_drill(
    browser, a11y_url: str, keyboard_drill: str, axe_js: str, tmp_path: Path
) -> None:
    """No mouse: open a lesson from Home, move through its sections, scroll a code panel and a wide
    formula, answer a choice and a coding question, start and stop a live run, finish a retrieval drill.
    A phone-wide window, so code panels and formulas are wider than the column (and the sidebar folds)."""
    from app.grading.solutions import reference_solution

    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(60_000)
    keys = Keyboard(page)
    questions = load_questions()
    lesson = load_catalogue().lessons[KEYBOARD_LESSON].lesson
    try:
        page.goto(a11y_url)
        settled(page)
        keys.tab_to(f"el => el.tagName === 'A' && el.href.includes('lesson={KEYBOARD_LESSON}')")
        keys.press("Enter")
        expect(page).to_have_url(re.compile(rf"lesson={KEYBOARD_LESSON}"))
        expect(page.get_by_role("heading", name=lesson.title, exact=True)).to_be_visible()
        settled(page)

        # Through the sections, one at a time: Tab reaches each section's "Next section" link and Enter
        # opens that section, down to the last one and its link to the next lesson. On the way, a wide
        # formula and a code panel (wider than this window) scroll sideways with the arrow keys, a live
        # run is started and stopped in its section, and a choice question answered in the quiz's.
        live = int(section_with(KEYBOARD_LESSON, demo="live-run"))
        quiz = int(section_with(KEYBOARD_LESSON, question=KEYBOARD_CHOICE))
        scrolled: set[str] = set()
        for number, section in enumerate(lesson.sections, start=1):
            expect(page.get_by_role("heading", name=section.title, exact=True)).to_be_visible()
            settled(page)
            for selector, what in ((".katex-display", "formula"), (".rld-code pre", "code panel")):
                if what not in scrolled and page.evaluate(WIDER_THAN_ITS_BOX, selector):
                    scrolls_sideways(page, keys, selector, what)
                    scrolled.add(what)
            if number == live:
                keys.tab_to("el => el.getAttribute('aria-label') === 'episodes'")
                keys.press("Control+A")
                page.keyboard.type("20000")
                keys.tab_to(named("Start run"))
                keys.press("Enter")
                expect(page.get_by_text("running", exact=True)).to_be_visible(timeout=90_000)
                keys.tab_to(named("Stop"))
                keys.press("Enter")
                expect(page.get_by_text("stopped", exact=True)).to_be_visible(timeout=30_000)
            if number == quiz:  # a single-answer choice question: arrows pick, Enter on Check submits
                choice = questions.get(KEYBOARD_CHOICE)
                answer = choice.answers[0]
                options = radio_labels(page, answer)
                keys.tab_to(radio_option(answer))
                pick_radio(keys, options, answer)
                keys.tab_to(named("Check"))
                keys.press("Enter")
                expect(page.get_by_text("Correct.", exact=True).first).to_be_visible()
            if number < len(lesson.sections):
                settled(page)
                next_link = named(f"Next section: {lesson.sections[number].title}")
                keys.tab_to(next_link)
                keys.press("Enter")
                # the live run started above rides along (run, run_block) so its section still shows it
                run = r"(&run=[^&]+&run_block=[^&]+)?"
                address = re.compile(rf"lesson={KEYBOARD_LESSON}{run}&section={number + 1}$")
                try:
                    expect(page).to_have_url(address, timeout=15_000)
                except AssertionError:  # on a loaded CI machine one press was lost (cliff demo, once): again
                    settled(page)
                    keys.tab_to(next_link)
                    keys.press("Enter")
                    expect(page).to_have_url(address)
        assert scrolled == {"formula", "code panel"}, f"nothing wider than the window to scroll: {scrolled}"
        keys.tab_to(named("Next: "))

        page.screenshot(path=str(tmp_path / "keyboard-lesson.png"))

        # A coding question, on the Practice page: replace the starter in the editor, run it in the sandbox.
        page.goto(f"{a11y_url}/practice?q={KEYBOARD_CODE}")
        settled(page)
        coding = questions.get(KEYBOARD_CODE)
        keys.tab_to("el => el.tagName === 'TEXTAREA' && el.getAttribute('aria-label').startsWith('Your code')")
        keys.press("Control+A", "Delete")
        page.keyboard.insert_text(reference_solution(coding))
        keys.tab_to(named("Run"))
        keys.press("Enter")
        expect(page.get_by_text(re.compile(r"^All \d+ cases pass\."))).to_be_visible(timeout=90_000)

        # A retrieval drill to the end.
        page.goto(keyboard_drill)
        settled(page)
        drill_questions = [questions.get(q) for q in KEYBOARD_DRILL]
        for position in range(len(drill_questions)):
            expect(page.get_by_text(f"{position} answered ·", exact=False)).to_be_visible()
            answers = [q.answers[0] for q in drill_questions]
            showing = page.get_by_text(answers[0], exact=True).or_(page.get_by_text(answers[1], exact=True))
            expect(showing).to_be_visible()
            answer = next(a for a in answers if page.get_by_text(a, exact=True).count())
            options = radio_labels(page, answer)
            keys.tab_to(radio_option(answer))
            pick_radio(keys, options, answer)
            keys.tab_to(named("Check"))
            keys.press("Enter")
            expect(page.get_by_text("Correct.", exact=True)).to_be_visible()
            next_button = page.get_by_role("button", name="Next question")
            expect(next_button).to_be_visible()
            settled(page)
            keys.tab_to(named("Next question"))
            keys.press("Enter")
            expect(next_button).to_have_count(0)
        expect(page.get_by_text("Drill done: 2 questions", exact=False)).to_be_visible()
        assert keys.stops > 30
        # The drill's report, which no page test reaches, at this phone width.
        settled(page)
        check_both_themes(page, axe_js, "a finished retrieval drill's report (390 px wide)")
    finally:
        page.screenshot(path=str(tmp_path / "keyboard-end.png"), full_page=True)
        (tmp_path / "keyboard-end.txt").write_text(page.inner_text("[data-testid=stMain]"))
        context.close()


def test_code_panels_are_dark_in_the_dark_theme(browser, a11y_url: str, tmp_path: Path) -> None:
    """docs/accessibility.md used to list it as a gap: a lesson's code panel stayed a light box on a
    dark page. Its rendered pixels (filters included) follow the theme, and the text keeps contrast."""
    from PIL import Image, ImageStat

    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, color_scheme=scheme)
        page = context.new_page()
        page.goto(f"{a11y_url}/lesson?lesson=returns-and-discounting&section=all")
        settled(page)
        panel = page.locator(".rld-code pre").first
        panel.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        shot = tmp_path / f"{scheme}.png"
        panel.screenshot(path=str(shot))
        context.close()
        pixels = Image.open(shot).convert("L")
        background = ImageStat.Stat(pixels).median[0]  # most of a code panel is its background
        darkest, lightest = pixels.getextrema()
        text = darkest if scheme == "light" else lightest
        if scheme == "light":
            assert background > 200, f"the light theme's code panel is not light: median grey {background}"
        else:
            assert background < 80, f"the dark theme's code panel is not dark: median grey {background}"
        assert abs(background - text) > 120, f"{scheme}: text {text} on background {background}"


CONTRAST = """([selector, behind]) => {
    // The contrast of the first element `selector` finds, on the background behind it: the nearest
    // backgrounds up from `behind` (a selector; default the element itself), see-through ones laid
    // over the opaque one under them (a selected option's tint is the primary colour at 10%).
    const rgb = text => {  // rgb(0-255 ...), or color(srgb 0-1 ...) from color-mix
        const v = text.match(/[0-9.]+/g).map(Number);
        return text.startsWith('color(') ? [...v.slice(0, 3).map(x => x * 255), ...v.slice(3)] : v;
    };
    const over = ([r, g, b, alpha = 1], under) => [r, g, b].map((v, i) => alpha * v + (1 - alpha) * under[i]);
    const lum = ([r, g, b]) => [r, g, b].map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const element = document.querySelector(selector);
    const layers = [];
    for (let back = behind ? element.closest(behind) : element; back; back = back.parentElement) {
        const colour = rgb(getComputedStyle(back).backgroundColor);
        if (colour[3] === 0) continue;
        layers.push(colour);
        if (colour[3] === undefined || colour[3] === 1) break;
    }
    const bg = layers.reverse().reduce((under, layer) => over(layer, under), [255, 255, 255]);
    const fg = over(rgb(getComputedStyle(element).color), bg);  // Streamlit's grey is the text at 40%
    const [a, b] = [lum(fg), lum(bg)];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def contrasts(browser, url: str, scheme: str, checks: dict[str, tuple[str, str | None]]) -> dict[str, float]:
    """name -> contrast of each (selector, where its background is) on `url`, in the colour `scheme`,
    once the app's stylesheet and theme are applied and each element is on the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(url)
        settled(page)
        page.wait_for_selector("#rldojo-a11y-css", state="attached")
        page.wait_for_function(THEME_APPLIED, arg=scheme == "dark")
        ratios = {}
        for name, (selector, behind) in checks.items():
            page.wait_for_selector(selector)  # the highlighter, for one, arrives late
            ratios[name] = page.evaluate(CONTRAST, [selector, behind])
        return ratios
    finally:
        context.close()


def test_code_line_numbers_keep_contrast_in_both_themes(browser, a11y_url: str) -> None:
    """st.code(line_numbers=True) (a spot-the-bug snippet, the code a learner ran): Streamlit's grey
    numbers had 2.6:1 in the light theme and 3.4:1 in the dark one; style.py gives them 4.5:1."""
    for scheme in THEMES:
        url = f"{a11y_url}/practice?q={KIND_EXAMPLES['spot-the-bug']}"
        ratio = contrasts(browser, url, scheme, {"line numbers": ("[data-testid=stCode] .linenumber", None)})
        assert ratio["line numbers"] >= 4.5, f"{scheme}: line numbers at {ratio['line numbers']:.2f}:1"


def test_slider_values_and_selected_options_keep_contrast_in_both_themes(browser, a11y_url: str) -> None:
    """The value over a slider's thumb and a selected segmented-control option were drawn in the
    primary colour: 3.2:1 and 3.0:1 on the dark background. axe found them only now and then (it
    leaves text it cannot place over one background unreported), so their colour is measured here."""
    checks = {  # what to measure, and where its background is (the value is drawn above the thumb)
        "slider value": ("[data-testid=stSliderThumbValue] p", "[data-testid=stSlider]"),
        "selected option": (".stButtonGroup button[data-selected=true] p", None),
    }
    for scheme in THEMES:
        url = f"{a11y_url}/lesson?lesson=bellman-and-dynamic-programming&section=2"
        ratios = contrasts(browser, url, scheme, checks)
        assert all(r >= 4.5 for r in ratios.values()), f"{scheme}: {ratios}"


def test_the_gridworld_sweeps_are_stepped_from_the_keyboard(page: Page, a11y_url: str) -> None:
    """Plotly's Play button and slider are SVG that Tab never reaches: the Streamlit sweep slider above
    the chart is reached with Tab, and the arrow keys change the sweep the chart draws."""
    page.goto(f"{a11y_url}/lesson?lesson=bellman-and-dynamic-programming&section=all")
    settled(page)
    keys = Keyboard(page)
    keys.tab_to(
        "el => el.getAttribute('role') === 'slider'"
        " && (el.closest('[data-testid=stSlider]') || el).innerText.includes('after sweep')"
        " || /after sweep/.test(el.getAttribute('aria-valuetext') || '')"
    )
    shown = "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] text')].map(t => t.textContent).join(' ')"
    assert "after sweep k = 0" not in page.evaluate(shown)
    keys.press("Home")  # the first sweep
    page.wait_for_function(f"() => ({shown})().includes('after sweep k = 0')", timeout=30_000)
