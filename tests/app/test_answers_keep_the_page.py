"""No answer crashes a page or disappears: a failing block is reported in place and the lesson goes on,
an answer that breaks the grader is still recorded, a predict retry after the key was shown is a miss,
and a mock interview's button says Submit (nothing is checked in front of the learner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.content.models import MarkdownBlock
from app.grading import predict
from app.grading.bank import load_questions
from app.learners.store import read_attempts
from app.widgets import blocks

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
NAIVE_BT = (
    "import torch\n\n\ndef bradley_terry_loss(r_chosen, r_rejected):\n"
    "    return -torch.log(torch.sigmoid(r_chosen - r_rejected)).mean()\n"
)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def lesson(lesson_id: str) -> AppTest:
    """The whole lesson on one page (`section=all`): the blocks after a failing one, to its end."""
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.switch_page("views/lesson.py")
    at.query_params["lesson"] = lesson_id
    at.query_params["section"] = "all"
    return at.run()


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_the_naive_bradley_terry_loss_keeps_the_reward_models_lesson_whole() -> None:
    at = lesson("reward-models")
    (code,) = [t for t in at.text_area if t.key.endswith("-bradley-terry-loss-code")]
    code.set_value(NAIVE_BT)
    run = next(b for b in at.button if b.label == "Run" and "bradley-terry-loss" in (b.key or b.proto.id))
    run.click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "not finite" in errors and "OverflowError" not in errors
    # everything below the drill is still there
    assert "Mark lesson done" in labels(at)
    assert any(t.key.endswith("-bradley-terry-by-hand-answer-0") for t in at.text_input)
    (record,) = read_attempts("bradley-terry-loss")
    assert record["correct"] is False


def test_a_block_that_fails_is_reported_and_the_blocks_after_it_still_render(monkeypatch) -> None:
    def boom(block, key):
        raise RuntimeError("this block is broken")

    monkeypatch.setitem(blocks.RENDERERS, MarkdownBlock, boom)
    at = lesson("returns-and-discounting")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and all("this block is broken" in e for e in errors)
    assert "could not be shown" in errors[0]
    assert at.metric, "the demo after the broken markdown still renders"
    assert "Mark lesson done" in labels(at)


def test_a_predict_retry_after_the_key_was_shown_is_recorded_as_seen_the_answer() -> None:
    qid = "discounted-return-g0"
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.switch_page("views/practice.py")
    at.query_params["q"] = qid
    at.run()
    answer = at.text_input(key=f"practice-{qid}-answer-0")
    answer.set_value("123456789")
    next(b for b in at.button if b.label == "Check").click().run()
    assert "the reference computes" in at.error[0].value
    expected = predict.format_answer(predict.instance(load_questions().by_id[qid], 0).expected)
    at.text_input(key=f"practice-{qid}-answer-0").set_value(expected)
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception
    assert "after the answer was shown" in at.error[0].value
    first, second = read_attempts(qid)
    assert first["correct"] is False and second["correct"] is False
    assert second["details"].get("seen_answer") is True
    from app.learners import store

    (card,) = [c for c in store.cards(learner=first["learner"]) if c.question_id == qid]
    assert card.last_correct is False  # scheduled as a miss, due again soon

    # New numbers: a clean slate, and a right answer counts again.
    next(b for b in at.button if b.label == "New numbers").click().run()
    fresh = predict.format_answer(predict.instance(load_questions().by_id[qid], 1).expected)
    at.text_input(key=f"practice-{qid}-answer-1").set_value(fresh)
    next(b for b in at.button if b.label == "Check").click().run()
    assert at.success and read_attempts(qid)[-1]["correct"] is True


def _mock_interview_question() -> None:
    from app.grading.bank import load_questions
    from app.widgets.quiz import render_question

    render_question(load_questions().by_id["markov-property"], key="mock", show_explanation=False, allow_retry=False)


def test_a_mock_interview_question_is_submitted_not_checked() -> None:
    at = AppTest.from_function(_mock_interview_question, default_timeout=60).run()
    assert "Submit" in labels(at) and "Check" not in labels(at)
    at.radio[0].set_value(at.radio[0].options[0])
    next(b for b in at.button if b.label == "Submit").click().run()
    assert [i.value for i in at.info] == ["Answer recorded."]
    assert not at.success and not at.error
