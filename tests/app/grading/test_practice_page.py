"""The Practice page and quizzes inside lessons, rendered by Streamlit's AppTest: filter, answer, see the grade."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.content.loader import LESSONS_DIR
from app.grading import predict
from app.grading.bank import load_questions

ROOT = Path(__file__).resolve().parents[3]
MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def practice(question_id: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/practice.py")
    if question_id:
        at.query_params["q"] = question_id
    return at.run()


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [s.value for s in at.success] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts + [c.value for c in at.caption])


def attempts(data_dir: Path) -> list[dict]:
    path = data_dir / "attempts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_practice_lists_every_question_and_filters_by_kind() -> None:
    at = practice()
    assert not at.exception
    assert at.title[0].value == "Practice"
    total = len(load_questions().by_id)
    assert f"{total} questions match." in texts(at)
    kinds = next(p for p in at.get("button_group") if p.label == "Kinds")
    kinds.set_value(["spot-the-bug"]).run()
    spot = len(load_questions().filter(kinds=["spot-the-bug"]))
    assert f"{spot} questions match." in texts(at)
    assert at.code, "a spot-the-bug question shows its snippet"


def test_a_choice_question_is_graded_and_recorded(data_dir: Path) -> None:
    at = practice("markov-property")
    right = "Given the current state and action, the next state and reward do not depend on earlier history"
    at.radio[0].set_value(right)
    button(at, "Check").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Correct."]
    (record,) = attempts(data_dir)
    assert record["question_id"] == "markov-property" and record["correct"] is True


def test_a_wrong_choice_shows_the_answer_and_why(data_dir: Path) -> None:
    at = practice("markov-property")
    at.radio[0].set_value("The next state is a deterministic function of the current state")
    button(at, "Check").click().run()
    assert [e.value for e in at.error] == ["Not this one."]
    assert "**Answer:** Given the current state" in texts(at)
    assert attempts(data_dir)[0]["correct"] is False


def test_a_predict_question_is_graded_against_the_reference() -> None:
    question = load_questions().get("discounted-return-g0")
    expected = predict.instance(question, 0).expected
    at = practice("discounted-return-g0")
    at.text_input(key="practice-discounted-return-g0-answer-0").input(str(expected))
    button(at, "Check").click().run()
    assert [s.value for s in at.success] == [f"Correct: {predict.format_answer(expected)}."]
    button(at, "New numbers").click().run()
    assert not at.success  # a fresh attempt, new numbers, no grade yet


def test_an_order_question_uses_the_click_order() -> None:
    question = load_questions().get("rl-loop-order")
    at = practice("rl-loop-order")
    at.multiselect[-1].set_value(list(question.steps))
    button(at, "Check").click().run()
    assert [s.value for s in at.success] == ["Correct order."]


def test_an_explain_question_lists_hit_missed_and_contradicted_points() -> None:
    at = practice("discount-factor")
    at.text_area[0].input(
        "It keeps the return finite, and a small gamma makes the agent myopic. "
        "With gamma near 1 the agent becomes short-sighted."
    )
    button(at, "Check").click().run()
    shown = texts(at)
    assert "2 of 4 key points made (3 needed). 1 contradicted." in [e.value for e in at.error]
    assert ':material/check_circle:] Keeps the return finite in continuing (never-ending) tasks *(you wrote: "' in shown
    assert (
        ':material/cancel:] **Contradicted:** you wrote "With gamma near 1 the agent becomes short-sighted."; '
        "the opposite holds: Near 1 the agent is far-sighted" in shown
    )
    assert ":material/radio_button_unchecked:] Larger gamma makes learning harder" in shown


def test_an_explain_grade_keeps_the_model_answer_and_a_self_grade_sets_the_review_card(data_dir: Path) -> None:
    from app.learners.schedule import build_card

    q = load_questions().get("discount-factor")
    at = practice(q.id)
    at.text_area[0].input("Gamma does not keep the return finite. A gamma near 0 makes the agent far-sighted.")
    button(at, "Check").click().run()
    assert "contradicted" in at.error[0].value
    (model,) = [e for e in at.expander if e.label == "Model answer"]
    assert q.model_answer.strip()[:40] in "\n".join(m.value for m in model.markdown)
    # The learner disagrees with the grader and ticks every point: the self-grade is recorded and
    # the review card follows it, not the machine's fail.
    for box in at.checkbox[: len(q.rubric)]:
        box.check()
    button(at, "Record my self-grade").click().run()
    rows = attempts(data_dir)
    assert [(r["correct"], bool(r.get("self_graded"))) for r in rows] == [(False, False), (True, True)]
    card = build_card(rows[0]["learner"], q.id, rows)
    assert card is not None and card.last_correct and card.reps == 1


def test_an_implement_question_runs_in_the_sandbox_and_shows_the_first_failure() -> None:
    at = practice("discounted-returns")
    assert at.text_area[0].value.startswith("import numpy as np")
    button(at, "Run").click().run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("0 of 6 cases pass. First failing case")
    assert any("expected: [1]" in c.value for c in at.code)


def test_a_lesson_shows_its_quiz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lessons = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, lessons)
    path = lessons / "returns-and-discounting.yaml"
    path.write_text(
        path.read_text()
        + "\n  - title: Check yourself\n    blocks:\n      - quiz: [effective-horizon, markov-property]\n"
    )
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(lessons))
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/lesson.py")
    at.query_params["lesson"] = "returns-and-discounting"
    at.query_params["section"] = "all"
    at.run()
    assert not at.exception and not at.error
    assert ":material/quiz: 2 questions. Each answer is graded at once" in " ".join(c.value for c in at.caption)
    assert "**:material/quiz: Check yourself**" not in texts(at)  # the section's title says it once
    assert len(at.radio) == 1 and len(at.text_input) >= 1


def test_question_labels_keep_snake_case_names() -> None:
    from app.grading.bank import load_questions
    from app.widgets.quiz import question_label

    questions = load_questions()
    label = question_label(questions.get("ppo-clip-loss"))
    assert "ppo_clip_loss(logp, logp_old, adv, clip_eps)" in label
    assert not any(mark in label for mark in "`$*")
