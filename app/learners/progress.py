"""What the Progress and Class pages show, computed from attempts, events and cards (plain data).

Answers are counted as the scheduler counts them (`schedule.reviews`: a self-grade replaces the
machine grade it corrects). Days are the server's local days; `today` and `now` are passed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from app.learners.schedule import reviews
from app.learners.store import LESSON_DONE, CardRow

WEEK_S = 7 * 86400


def day_of(t: float) -> date:
    return datetime.fromtimestamp(t).date()


def streak(days: Iterable[date], today: date) -> int:
    """Consecutive days with an answer or a finished lesson, up to today (or yesterday, when
    nothing is done yet today: the streak is not lost before the day is over)."""
    active = set(days)
    day = today if today in active else today - timedelta(days=1)
    count = 0
    while day in active:
        count += 1
        day -= timedelta(days=1)
    return count


@dataclass(frozen=True)
class TopicStats:
    topic: str
    answered: int
    right: int

    @property
    def accuracy(self) -> float:
        return self.right / self.answered if self.answered else 0.0


def by_topic(attempts: Iterable[dict[str, Any]], topic_of: Mapping[str, str]) -> list[TopicStats]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a in reviews(attempts):
        c = counts[topic_of.get(a["question_id"], "")]
        c[0] += 1
        c[1] += bool(a["correct"])
    return [TopicStats(t, n, r) for t, (n, r) in sorted(counts.items())]


def weakest_topics(
    attempts: Iterable[dict[str, Any]], topic_of: Mapping[str, str], min_answers: int = 2, limit: int = 3
) -> list[TopicStats]:
    """Topics with at least `min_answers` answers and some misses, lowest accuracy first."""
    stats = [s for s in by_topic(attempts, topic_of) if s.topic and s.answered >= min_answers and s.right < s.answered]
    return sorted(stats, key=lambda s: (s.accuracy, -s.answered))[:limit]


def accuracy_over_time(attempts: Iterable[dict[str, Any]], topic_of: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per (day, topic) with answers that day: answers that day and accuracy so far (cumulative)."""
    per_day: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for a in reviews(attempts):
        c = per_day[(day_of(a["time"]), topic_of.get(a["question_id"], "") or "other")]
        c[0] += 1
        c[1] += bool(a["correct"])
    rows, running = [], defaultdict(lambda: [0, 0])
    for (day, topic), (n, r) in sorted(per_day.items()):
        total = running[topic]
        total[0] += n
        total[1] += r
        rows.append({"day": day, "topic": topic, "answered": n, "accuracy": total[1] / total[0]})
    return rows


@dataclass(frozen=True)
class Summary:
    learner: str
    answered: int
    right: int
    questions_seen: int
    lessons_done: int
    streak: int
    due_now: int
    due_week: int
    last_active: float | None

    @property
    def accuracy(self) -> float:
        return self.right / self.answered if self.answered else 0.0


def summary(
    learner: str,
    attempts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    cards: list[CardRow],
    now: float,
    today: date | None = None,
) -> Summary:
    counted = reviews(attempts)
    times = [a["time"] for a in attempts] + [e["time"] for e in events]
    return Summary(
        learner=learner,
        answered=len(counted),
        right=sum(bool(a["correct"]) for a in counted),
        questions_seen=len({a["question_id"] for a in attempts}),
        lessons_done=len({e["subject"] for e in events if e["kind"] == LESSON_DONE}),
        streak=streak({day_of(t) for t in times}, today or day_of(now)),
        due_now=sum(c.due <= now for c in cards),
        due_week=sum(c.due <= now + WEEK_S for c in cards),
        last_active=max(times) if times else None,
    )


def end_of_day(now: float) -> float:
    day = datetime.fromtimestamp(now)
    return datetime(day.year, day.month, day.day).timestamp() + 86400


def review_queue(cards: Iterable[CardRow], now: float) -> list[CardRow]:
    """The cards to review now: newest mistakes first, then the rest, most overdue first."""
    due = [c for c in cards if c.due <= now]
    mistakes = sorted((c for c in due if not c.last_correct), key=lambda c: -c.last_review)
    others = sorted((c for c in due if c.last_correct), key=lambda c: c.due)
    return mistakes + others
