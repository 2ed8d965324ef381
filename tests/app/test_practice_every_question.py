"""Every question of every bank opens from /practice?q=ID, takes an answer, and records it under that ID."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.grading.bank import load_questions
from app.learners.store import read_attempts
from app.widgets.quiz import question_labels

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
QUESTIONS = load_questions()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def answer(at: AppTest, qid: str) -> None:
    """Give some answer to question `qid` on the page, whatever its kind, and press its button."""
    q = QUESTIONS.by_id[qid]
    key = f"practice-{qid}"
    if q.kind == "choice":
        if q.multiple:
            widget = at.multiselect(key=f"{key}-pick-0")
            widget.set_value([widget.options[0]])
        else:
            widget = at.radio(key=f"{key}-pick-0")
            widget.set_value(widget.options[0])
    elif q.kind == "order":
        widget = at.multiselect(key=f"{key}-order-0")
        widget.set_value(list(widget.options))
    elif q.kind == "predict":
        at.text_input(key=f"{key}-answer-0").set_value("1")
    elif q.kind == "explain":
        at.text_area(key=f"{key}-text-0").set_value("The agent maximises the expected return.")
    elif q.kind == "spot-the-bug":
        at.number_input(key=f"{key}-line-0").set_value(1)
        at.text_area(key=f"{key}-fix-0").set_value("use the right sign")
    submit = "Run" if q.kind == "implement" else "Check"
    buttons = [b for b in at.button if b.label == submit]
    assert len(buttons) == 1, f"{qid}: {len(buttons)} '{submit}' buttons"
    buttons[0].click()


def test_selector_labels_are_unique_titles_not_lead_ins() -> None:
    labels = question_labels(list(QUESTIONS.by_id.values()))
    assert len(set(labels.values())) == len(labels)
    assert not [label for label in labels.values() if label.startswith("An interviewer asks:")]
    assert labels["rl-versus-supervised"] != labels["why-ppo-clips"]


@pytest.mark.timeout(900)
def test_every_question_opens_answers_and_records_under_its_id() -> None:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.switch_page("views/practice.py")
    problems = []
    for qid in QUESTIONS.by_id:  # one session for all: keys of one question never clash with another's
        at.query_params["q"] = qid
        at.run()
        assert not at.exception, (qid, at.exception)
        if at.selectbox(key="practice-pick-" + qid).value != qid:
            problems.append(f"{qid}: opened {at.selectbox(key='practice-pick-' + qid).value}")
            continue
        answer(at, qid)
        at.run()
        assert not at.exception, (qid, at.exception)
        recorded = read_attempts(qid)
        if len(recorded) != 1:
            problems.append(f"{qid}: {len(recorded)} attempts recorded")
        if at.query_params.get("q") not in (qid, [qid]):
            problems.append(f"{qid}: the address moved to {at.query_params.get('q')}")
        if not (at.success or at.error):
            problems.append(f"{qid}: no grade shown")
    assert not problems, problems


def test_a_quoted_interview_question_is_its_own_title() -> None:
    labels = question_labels(list(QUESTIONS.by_id.values()))
    assert labels["rl-versus-supervised"] == (
        "What is reinforcement learning, and how is it different from supervised learning?"
    )
