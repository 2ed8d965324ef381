"""The mock interview report: topic bars that match the counts they name, questions by title, and
how the interview ended (the learner ended it early, or the time ran out)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.widgets.drill import ending_words


def _report() -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.grading.bank import load_questions
    from app.learners.drills import Report, Result, TopicScore
    from app.widgets.drill import render_report

    results = [
        Result("rl-versus-supervised", 0, correct=False, score=0.5),  # partial credit, not right
        Result("markov-property", 0, correct=False, score=0.0),
    ]
    report = Report(2, 0, [], [TopicScore("foundations", 2, 0, 0.25)], results, [])
    render_report(report, load_questions(), {}, reveal=False, ending="")


def test_topic_bars_match_their_counts_and_questions_show_their_titles() -> None:
    at = AppTest.from_function(_report, default_timeout=60).run()
    assert not at.exception, at.exception
    (bar,) = at.get("progress")
    assert bar.proto.value == 0 and "0 of 2 right" in bar.proto.text  # not a partly filled bar
    labels = [e.label for e in at.expander]
    assert any("What is reinforcement learning, and how is it different" in label for label in labels)
    assert not any("An interviewer asks" in label for label in labels)


def test_the_report_says_how_the_interview_ended() -> None:
    assert ending_words(1, finished_at=100.0, ends_at=100.0 + 14 * 60) == (
        "You ended the interview with 14 min still on the clock; 1 question unanswered."
    )
    assert ending_words(2, finished_at=500.0, ends_at=500.0) == "The time ran out with 2 questions unanswered."
    assert ending_words(0, finished_at=100.0, ends_at=900.0) == ""
