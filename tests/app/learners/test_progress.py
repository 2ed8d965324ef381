"""Progress numbers: streaks, accuracy by topic, the weakest topics, the review queue."""

from __future__ import annotations

from datetime import date, datetime

from app.learners import store
from app.learners.progress import (
    accuracy_over_time,
    by_topic,
    review_queue,
    streak,
    summary,
    weakest_topics,
)


def at(day: int, hour: int = 12) -> float:
    return datetime(2025, 3, day, hour).timestamp()


def test_streak_counts_consecutive_days_up_to_today_or_yesterday() -> None:
    days = {date(2025, 3, d) for d in (1, 3, 4, 5)}
    assert streak(days, date(2025, 3, 5)) == 3
    assert streak(days, date(2025, 3, 6)) == 3  # nothing yet today: the streak still stands
    assert streak(days, date(2025, 3, 7)) == 0
    assert streak(set(), date(2025, 3, 7)) == 0


def test_topics_accuracy_and_weakest() -> None:
    topic_of = {"a": "ppo", "b": "ppo", "c": "rlhf", "d": "systems"}
    attempts = [
        {"learner": "ada", "question_id": q, "time": at(day), "correct": ok, "score": float(ok)}
        for q, day, ok in [
            ("a", 1, False),
            ("b", 1, False),
            ("a", 2, True),
            ("c", 1, True),
            ("c", 2, False),
            ("d", 2, True),
            ("d", 3, True),
        ]
    ]
    stats = {s.topic: (s.answered, s.right) for s in by_topic(attempts, topic_of)}
    assert stats == {"ppo": (3, 1), "rlhf": (2, 1), "systems": (2, 2)}
    assert [s.topic for s in weakest_topics(attempts, topic_of)] == ["ppo", "rlhf"]  # systems has no miss
    rows = [r for r in accuracy_over_time(attempts, topic_of) if r["topic"] == "ppo"]
    assert [(r["answered"], round(r["accuracy"], 2)) for r in rows] == [(2, 0.0), (1, 0.33)]


def test_summary_and_review_queue_newest_mistakes_first() -> None:
    store.record_attempt("ada", "old-miss", "choice", False, 0.0, at=at(1, 9))
    store.record_attempt("ada", "new-miss", "choice", False, 0.0, at=at(1, 10))
    store.record_attempt("ada", "right", "choice", True, 1.0, at=at(1, 8))
    store.record_event("ada", store.LESSON_DONE, "ppo", at=at(2))
    cards = store.cards("ada")
    now = at(20)
    assert [c.question_id for c in review_queue(cards, now)] == ["new-miss", "old-miss", "right"]
    # A second after the last answer only the miss from an hour before is due (a ten-minute step).
    assert [c.question_id for c in review_queue(cards, at(1, 10) + 1)] == ["old-miss"]
    s = summary("ada", store.attempts("ada"), store.events("ada"), cards, now=at(2, 18))
    assert (s.answered, s.right, s.lessons_done, s.streak, s.due_now) == (3, 1, 1, 2, 2)  # "right" is due later
