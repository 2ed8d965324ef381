"""A learner opens the Practice page in a real browser and answers one question of each kind."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from app.grading import predict
from app.grading.bank import load_questions
from app.grading.solutions import reference_solution

pytestmark = pytest.mark.browser


def open_question(page: Page, app_url: str, question_id: str) -> None:
    page.goto(f"{app_url}/practice?q={question_id}")
    expect(page.get_by_role("heading", name="Practice", exact=True)).to_be_visible()
    expect(page.get_by_text(f"`{question_id}`").or_(page.get_by_text(question_id, exact=True)).first).to_be_visible()


def check(page: Page, label: str = "Check") -> None:
    page.get_by_role("button", name=label, exact=True).click()


def pick_option(page: Page, name: str, tries: int = 4) -> None:
    """Pick `name` in the last multiselect on the page.

    Each pick reruns the script; a click on the box while that rerun redraws it can close the
    list instead of opening it, so open it again until the option shows, then wait for the pick
    to leave the list (it becomes a chip)."""
    option = page.get_by_role("option", name=name, exact=True)
    for _ in range(tries):
        if not option.is_visible():
            page.get_by_role("combobox").last.click()
        try:
            option.click(timeout=5_000)
        except PlaywrightTimeoutError:
            continue
        expect(option).to_have_count(0)
        return
    raise AssertionError(f"option {name!r} never showed in the multiselect")


def test_filters_narrow_the_list(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/practice")
    total = len(load_questions().by_id)
    expect(page.get_by_text(f"{total} questions match.")).to_be_visible()
    page.get_by_role("button", name="Spot the bug").click()
    spot = len(load_questions().filter(kinds=["spot-the-bug"]))
    expect(page.get_by_text(f"{spot} questions match.")).to_be_visible()


def test_choice(page: Page, app_url: str) -> None:
    open_question(page, app_url, "markov-property")
    page.get_by_text("Given the current state and action, the next state and reward do not depend").click()
    check(page)
    expect(page.get_by_text("Correct.", exact=True)).to_be_visible()


def test_predict(page: Page, app_url: str) -> None:
    question = load_questions().get("discounted-return-g0")
    expected = predict.instance(question, 0).expected
    open_question(page, app_url, "discounted-return-g0")
    page.get_by_label("Your answer (a number)").fill(str(expected))
    check(page)
    expect(page.get_by_text(re.compile(r"^Correct: "))).to_be_visible()


def test_order(page: Page, app_url: str) -> None:
    question = load_questions().get("rl-loop-order")
    open_question(page, app_url, "rl-loop-order")
    for step in question.steps:
        pick_option(page, step)
    page.keyboard.press("Escape")
    check(page)
    expect(page.get_by_text("Correct order.", exact=True)).to_be_visible()


def test_explain(page: Page, app_url: str) -> None:
    question = load_questions().get("discount-factor")
    open_question(page, app_url, "discount-factor")
    page.get_by_label("Your answer, as you would say it in an interview").fill(question.model_answer)
    check(page)
    expect(page.get_by_text("4 of 4 key points made (3 needed).")).to_be_visible()
    expect(page.get_by_text("Grade yourself", exact=False)).to_be_visible()


def test_spot_the_bug(page: Page, app_url: str) -> None:
    open_question(page, app_url, "ppo-ratio-bug")
    page.get_by_label("Line with the bug").fill("2")
    page.get_by_label("The fix: what should that line do instead?").fill("ratio = torch.exp(logp - logp_old)")
    check(page)
    expect(page.get_by_text("Line 2: right line. The fix is right.")).to_be_visible()


def test_implement_runs_in_the_sandbox(page: Page, app_url: str) -> None:
    question = load_questions().get("discounted-returns")
    open_question(page, app_url, "discounted-returns")
    editor = page.get_by_label("Your code (Python; numpy and torch are available)")
    check(page, "Run")  # the starter first: it must fail, with the first failing case shown
    expect(page.get_by_text(re.compile(r"^0 of 6 cases pass\."))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("First failing case:", exact=False)).to_be_visible()
    editor.fill(reference_solution(question))
    check(page, "Run")
    expect(page.get_by_text("All 6 cases pass.")).to_be_visible(timeout=60_000)
