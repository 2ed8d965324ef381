"""Spaced repetition: each question a learner has answered is an FSRS card (the `fsrs` package).

A card is a pure function of the learner's answers to that question, replayed in time order, so a
card can always be rebuilt: after an import, after a self-grade that replaces a machine grade. The
rating of an answer comes from its grade:

- wrong: Again (the card lapses and comes back within minutes, then a day);
- right with part of the credit (an explain answer that made 3 of 4 key points): Hard;
- right: Good.

An explain answer is first graded by the rubric matcher; when the learner then grades themself
against the rubric, that self-grade replaces the machine's for the same attempt (same seed).
Fuzzing is off so a schedule is repeatable; one learning step of ten minutes keeps a fresh
question from being asked twice in a row.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fsrs import Card, Rating, Scheduler, State

SCHEDULER = Scheduler(
    learning_steps=(timedelta(minutes=10),),
    relearning_steps=(timedelta(minutes=10),),
    enable_fuzzing=False,
)
SELF_GRADE_WINDOW_S = 6 * 3600  # a self-grade later than this is a new answer, not a correction


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def rating_for(correct: bool, score: float) -> Rating:
    if not correct:
        return Rating.Again
    return Rating.Good if score >= 0.999 else Rating.Hard


def reviews(attempts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers that count, oldest first: a self-grade replaces the machine grade it follows."""
    kept: list[dict[str, Any]] = []
    last_auto: dict[tuple[str, str], int] = {}  # (learner, question) -> index in kept of its last machine grade
    for a in sorted(attempts, key=lambda a: (a["time"], a.get("self_graded", False))):
        qid = (a.get("learner", ""), a["question_id"])
        i = last_auto.get(qid)
        if (
            a.get("self_graded")
            and i is not None
            and kept[i].get("seed") == a.get("seed")
            and a["time"] - kept[i]["time"] <= SELF_GRADE_WINDOW_S
        ):
            kept[i] = a
            del last_auto[qid]  # a second self-grade of the same answer is a new answer
            continue
        kept.append(a)
        if not a.get("self_graded"):
            last_auto[qid] = len(kept) - 1
        else:
            last_auto.pop(qid, None)
    return kept


@dataclass(frozen=True)
class ReviewCard:
    """One question's place in a learner's schedule."""

    question_id: str
    card: Card
    reps: int
    lapses: int
    last_correct: bool

    @property
    def due(self) -> float:
        return self.card.due.timestamp()

    @property
    def last_review(self) -> float:
        return self.card.last_review.timestamp() if self.card.last_review else 0.0

    @property
    def interval_days(self) -> float:
        return (self.due - self.last_review) / 86400


def card_id(learner: str, question_id: str) -> int:
    return zlib.crc32(f"{learner}\0{question_id}".encode())


def build_card(learner: str, question_id: str, attempts: Iterable[dict[str, Any]]) -> ReviewCard | None:
    """Replay every counted answer to `question_id`; None if there is none."""
    card = Card(card_id=card_id(learner, question_id))
    reps = lapses = 0
    last_correct = False
    for a in reviews(x for x in attempts if x["question_id"] == question_id):
        rating = rating_for(bool(a["correct"]), float(a["score"]))
        if rating == Rating.Again and card.state == State.Review:
            lapses += 1
        when = max(to_datetime(a["time"]), card.last_review or to_datetime(0))  # clocks of two machines
        card, _ = SCHEDULER.review_card(card, rating, review_datetime=when)
        reps += 1
        last_correct = rating != Rating.Again
    if reps == 0:
        return None
    return ReviewCard(question_id, card, reps, lapses, last_correct)
