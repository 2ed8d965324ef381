"""The FSRS schedule of review cards: intervals grow after good answers and reset after a lapse."""

from __future__ import annotations

from itertools import pairwise

from fsrs import Rating, State

from app.learners.schedule import build_card, rating_for, reviews

DAY = 86400.0
T0 = 1_700_000_000.0


def answer(t: float, correct: bool, score: float | None = None, **extra) -> dict:
    return {
        "question_id": "q",
        "learner": "ada",
        "time": t,
        "correct": correct,
        "score": (1.0 if correct else 0.0) if score is None else score,
        **extra,
    }


def review_on_due(outcomes: list[bool]) -> list[float]:
    """Answer each time the card comes due; return the interval (days) after each answer."""
    history: list[dict] = []
    t, intervals = T0, []
    for correct in outcomes:
        history.append(answer(t, correct))
        card = build_card("ada", "q", history)
        intervals.append(card.interval_days)
        t = card.due
    return intervals


def test_ratings_come_from_the_grade() -> None:
    assert rating_for(False, 0.5) == Rating.Again
    assert rating_for(True, 0.75) == Rating.Hard  # right, but with points missed
    assert rating_for(True, 1.0) == Rating.Good


def test_intervals_grow_after_good_answers() -> None:
    intervals = review_on_due([True] * 5)
    assert intervals[0] >= 1  # one learning step: a right answer schedules days, not minutes
    assert all(later > earlier for earlier, later in pairwise(intervals)), intervals
    assert intervals[-1] > 30


def test_a_lapse_resets_the_interval_and_counts() -> None:
    intervals = review_on_due([True, True, True, False])
    assert intervals[2] > 5
    assert intervals[3] < 1 / 24  # back within the hour (a relearning step of ten minutes)
    history = [answer(T0, True), answer(T0 + 3 * DAY, True), answer(T0 + 20 * DAY, False)]
    card = build_card("ada", "q", history)
    assert card.lapses == 1 and card.card.state == State.Relearning and not card.last_correct
    stable = build_card("ada", "q", history[:2])
    assert card.card.stability < stable.card.stability


def test_a_new_mistake_is_due_in_minutes() -> None:
    card = build_card("ada", "q", [answer(T0, False)])
    assert card.card.state == State.Learning and 0 < card.due - T0 <= 600


def test_a_self_grade_replaces_the_machine_grade_of_the_same_answer() -> None:
    machine = answer(T0, False, 0.5, seed=3, kind="explain")
    self_grade = answer(T0 + 30, True, 1.0, seed=3, kind="explain", self_graded=True)
    assert reviews([machine, self_grade]) == [self_grade]
    card = build_card("ada", "q", [machine, self_grade])
    assert card.reps == 1 and card.last_correct and card.interval_days >= 1
    other_seed = answer(T0 + 60, True, 1.0, seed=4, self_graded=True)
    assert len(reviews([machine, other_seed])) == 2
    other_learner = {**self_grade, "learner": "bob"}
    assert len(reviews([machine, other_learner])) == 2


def test_no_answers_no_card() -> None:
    assert build_card("ada", "q", [answer(T0, True) | {"question_id": "other"}]) is None
