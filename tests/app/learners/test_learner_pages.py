"""The Review, Drill, Progress and Class pages and the lesson's "Mark lesson done", under Streamlit's AppTest."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.content.loader import load_catalogue
from app.grading.bank import load_questions
from app.learners import drills, store
from app.learners.drills import Drill, Item

ROOT = Path(__file__).resolve().parents[3]
MAIN = str(ROOT / "app" / "main.py")
MARKOV_RIGHT = "Given the current state and action, the next state and reward do not depend on earlier history"
MARKOV_WRONG = "The next state is a deterministic function of the current state"
DAY = 86400.0


def open_page(page: str, learner: str | None = "ada", **params: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()  # st.navigation registers the pages first, so a page whose url_path is not its file name opens too
    at.switch_page(page)
    if learner:
        at.query_params["learner"] = learner
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [x.value for x in at.info] + [x.value for x in at.success] + [x.value for x in at.error]
    parts += [x.value for x in at.warning] + [x.value for x in at.subheader]
    parts += [e.label for e in at.expander]
    return "\n".join(str(p) for p in parts)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_a_page_asks_for_a_name_first_and_keeps_it_in_the_url() -> None:
    at = open_page("views/review.py", learner=None)
    assert not at.exception
    assert "Who is learning?" in texts(at)
    at.text_input(key="learner-name-input").input("  Ada   Lovelace ")
    button(at, "Start").click().run()
    assert not at.exception
    assert at.query_params["learner"] == "Ada Lovelace"
    assert "No review cards yet" in texts(at)


def test_review_serves_due_cards_newest_mistake_first() -> None:
    old = time.time() - 5 * DAY
    store.record_attempt("ada", "discount-factor", "explain", False, 0.25, "x", at=old)
    store.record_attempt("ada", "markov-property", "choice", False, 0.0, "y", at=old + 60)
    store.record_attempt("ada", "effective-horizon", "predict", True, 1.0, "1", at=old - 2 * DAY)
    store.record_attempt("bob", "rl-loop-order", "order", False, 0.0, at=old)  # not ada's
    at = open_page("views/review.py")
    assert not at.exception
    assert metric(at, "Due now") == "3"
    assert "`markov-property`" in texts(at)  # the newest mistake comes first
    at.radio[0].set_value(MARKOV_RIGHT)
    button(at, "Check").click().run()
    assert [s.value for s in at.success][-1] == "Correct."
    card = next(c for c in store.cards("ada") if c.question_id == "markov-property")
    assert card.reps == 2 and card.due > time.time() + 60  # rescheduled
    button(at, "Next card").click().run()
    assert not at.exception
    assert metric(at, "Due now") == "2"
    assert "`discount-factor`" in texts(at)


def test_review_says_when_nothing_is_due() -> None:
    store.record_attempt("ada", "markov-property", "choice", True, 1.0)
    at = open_page("views/review.py")
    assert not at.exception
    assert metric(at, "Due now") == "0" and metric(at, "Due this week") == "1"
    assert "Nothing is due right now" in texts(at)


def drill_of(questions: list[str], kind: str = drills.RETRIEVAL, **extra) -> str:
    drill = Drill("d" + str(len(questions)), kind, "ada", [Item(q, i) for i, q in enumerate(questions)], time.time())
    for name, value in extra.items():
        setattr(drill, name, value)
    store.save_drill(drill.id, drill.learner, drill.kind, drill.to_dict())
    return drill.id


def test_starting_a_retrieval_drill_puts_it_in_the_url() -> None:
    at = open_page("views/drill.py", topic="foundations")
    assert not at.exception
    assert at.multiselect(key="drill-topics").value == ["foundations"]
    at.slider(key="drill-count").set_value(3)
    button(at, "Start the drill").click().run()
    assert not at.exception
    drill = Drill.from_dict(store.load_drill(at.query_params["drill"])["state"])
    assert len(drill.queue) == 3 and drill.learner == "ada"
    info = drills.question_info(load_questions().by_id.values())
    assert {info[i.question_id].topic for i in drill.queue} == {"foundations"}
    assert at.title[0].value == "Retrieval drill"


def test_a_missed_question_comes_back_in_the_drill_page() -> None:
    drill_id = drill_of(["markov-property", "discount-factor"])
    at = open_page("views/drill.py", drill=drill_id)
    assert "`markov-property`" in texts(at)
    at.radio[0].set_value(MARKOV_WRONG)
    button(at, "Check").click().run()
    assert "Not this one." in texts(at)
    assert button(at, "Check").disabled  # one answer per question in a drill
    button(at, "Next question").click().run()
    assert "`discount-factor`" in texts(at)
    button(at, "Skip").click().run()  # a skip is a miss too
    assert "`markov-property`" in texts(at)  # back, as the only other question was asked in between
    drill = Drill.from_dict(store.load_drill(drill_id)["state"])
    assert drill.missed == ["markov-property", "discount-factor"]
    assert drill.queue[0].seed not in (0, 1)  # fresh parameters
    (attempt,) = store.attempts(drill_id=drill_id)
    assert attempt["learner"] == "ada" and attempt["correct"] is False and attempt["duration_s"] is not None
    button(at, "End the drill").click().run()
    assert not at.exception
    assert "Drill ended with" in texts(at)


def test_a_mock_interview_hides_the_key_until_the_report() -> None:
    drill_id = drill_of(["markov-property", "discount-factor"], kind=drills.MOCK, minutes=15)
    at = open_page("views/drill.py", drill=drill_id)
    assert at.title[0].value == "Mock interview"
    assert "no feedback until the end" in texts(at)
    at.radio[0].set_value(MARKOV_WRONG)
    button(at, "Submit").click().run()  # nothing is checked in front of the candidate
    shown = texts(at)
    assert "Answer recorded." in shown and "Not this one." not in shown and "**Answer:**" not in shown
    button(at, "Next question").click().run()
    button(at, "End the interview").click().run()
    assert not at.exception
    report = texts(at)
    assert "The interview is over" in report and "Question by question" in report
    assert "You ended the interview with 15 min still on the clock; 1 question unanswered." in report
    assert "time ran out" not in report
    assert metric(at, "Right") == "0 of 2"


def test_a_mock_interview_whose_time_ran_out_shows_the_report() -> None:
    drill_id = drill_of(["markov-property"], kind=drills.MOCK, minutes=15, started_at=time.time() - 16 * 60)
    at = open_page("views/drill.py", drill=drill_id)
    assert not at.exception
    assert "The interview is over" in texts(at)
    assert "The time ran out with 1 question unanswered." in texts(at)
    assert Drill.from_dict(store.load_drill(drill_id)["state"]).finished_at is not None


def test_the_interviewer_sees_the_key_and_the_candidate_does_not() -> None:
    question = load_questions().get("discount-factor")
    drill_id = drill_of(["discount-factor"], kind=drills.MOCK, minutes=30, interview=True)
    interviewer = open_page("views/drill.py", learner=None, drill=drill_id, role="interviewer")
    assert not interviewer.exception
    assert interviewer.title[0].value == "Interviewing ada"
    assert question.rubric[0].point in texts(interviewer)
    candidate = open_page("views/drill.py", learner=None, drill=drill_id)
    assert not candidate.exception
    assert question.rubric[0].point not in texts(candidate) and "Answer key" not in texts(candidate)
    candidate.text_area[0].input(question.model_answer)
    button(candidate, "Submit").click().run()
    interviewer.run()  # the interviewer's screen reads the same drill from the store
    assert "Graded **right**" in texts(interviewer)
    button(interviewer, "Next question").click().run()
    assert "The interview is over" in texts(interviewer)


def test_an_unknown_drill_id_says_so() -> None:
    at = open_page("views/drill.py", drill="nope")
    assert not at.exception
    assert "There is no drill with id `nope`" in texts(at)


def test_progress_shows_numbers_chart_and_weakest_topics() -> None:
    empty = open_page("views/progress.py")
    assert not empty.exception and "Nothing here yet" in texts(empty)
    now = time.time()
    midnight = datetime.combine(date.today(), datetime.min.time()).timestamp()
    for i, (qid, ok) in enumerate([("markov-property", False), ("discount-factor", False), ("markov-property", True)]):
        # all three today, in order, whatever the hour (hours apart would cross midnight at 1 a.m.)
        store.record_attempt("ada", qid, "choice", ok, float(ok), at=midnight + (now - midnight) * (i + 1) / 4)
    store.record_event("ada", store.LESSON_DONE, "returns-and-discounting")
    store.record_attempt("bob", "markov-property", "choice", True, 1.0)
    at = open_page("views/progress.py")
    assert not at.exception
    assert metric(at, "Answers") == "3" and metric(at, "Lessons done") == "1" and metric(at, "Accuracy") == "33%"
    assert metric(at, "Streak") == "1 day"
    assert at.get("plotly_chart")
    assert "**Foundations**: 1 of 3 right (33%)" in texts(at)
    assert any(b.label == "Export my progress" for b in at.get("download_button"))


def test_the_class_page_is_for_instructors(monkeypatch: pytest.MonkeyPatch) -> None:
    store.record_attempt("ada", "markov-property", "choice", True, 1.0)
    store.record_attempt("bob", "markov-property", "choice", False, 0.0)
    at = open_page("views/class_page.py", learner="ada")
    assert not at.exception
    assert "This page is for instructors" in texts(at) and not at.dataframe
    monkeypatch.setenv("RLDOJO_INSTRUCTORS", "Teach, someone")
    at = open_page("views/class_page.py", learner="teach")
    assert not at.exception
    assert metric(at, "Learners") == "2"
    assert list(at.dataframe[0].value["learner"]) == ["ada", "bob"]


def test_a_lesson_can_be_marked_done() -> None:
    last = str(len(load_catalogue().lessons["returns-and-discounting"].lesson.sections))
    at = open_page("views/lesson.py", lesson="returns-and-discounting", section=last)  # the lesson's end
    button(at, "Mark lesson done").click().run()
    assert not at.exception
    assert store.lessons_done("ada") == {"returns-and-discounting"}
    assert "You marked this lesson done" in texts(at)
