"""Drills: a missed question returns with new numbers until it is right twice; the clock ends a mock interview."""

from __future__ import annotations

from app.grading.bank import load_questions
from app.learners import drills
from app.learners.drills import MOCK_KINDS, STAGES, Drill, QuestionInfo, Result, stage_of

T0 = 1_700_000_000.0


def answer(drill: Drill, correct: bool, now: float = T0) -> str:
    item = drill.current(now)
    drill.grade(Result(item.question_id, item.seed, correct, float(correct)))
    drill.advance(now)
    return item.question_id


def test_a_missed_question_comes_back_with_a_new_seed_until_right_twice() -> None:
    drill = drills.new_retrieval("ada", ["a", "b", "c", "d"], now=T0, count=4, first=["c"])
    assert drill.current().question_id == "c"  # due for review: first
    missed = drill.current()
    assert answer(drill, False) == "c"
    order = [i.question_id for i in drill.queue]
    assert order.index("c") == drills.REINSERT_GAP  # later, not at once
    comeback = drill.queue[drills.REINSERT_GAP]
    assert comeback.seed != missed.seed  # fresh parameters
    answer(drill, True)
    answer(drill, True)
    assert answer(drill, True) == "c"  # right once after a miss: not yet cleared
    assert "c" in [i.question_id for i in drill.queue]
    while drill.current() is not None:
        answer(drill, True)
    asked = [r.question_id for r in drill.results]
    assert asked.count("c") == 3 and all(asked.count(q) == 1 for q in "abd")
    assert drill.finished_at == T0 and drill.missed == ["c"]


def test_a_miss_after_a_right_answer_resets_the_count() -> None:
    drill = drills.new_retrieval("ada", ["a"], now=T0, count=1)
    outcomes = [False, True, False, True, True]
    for correct in outcomes:
        assert answer(drill, correct) == "a"
    assert drill.current() is None
    assert len({r.seed for r in drill.results}) == len(outcomes)


def test_a_skip_counts_as_a_miss_and_a_stale_click_is_ignored() -> None:
    drill = drills.new_retrieval("ada", ["a", "b"], now=T0, count=2)
    first = drill.current().question_id
    drill.advance(T0, position=0)  # skipped
    assert drill.results[0].skipped and first in drill.missed
    drill.advance(T0, position=0)  # a second tab's click on the same question: nothing happens
    assert drill.position == 1
    stale = Result(first, 12345, True, 1.0)
    drill.grade(stale)  # a grade for a question that is no longer current
    assert drill.pending is None


def test_the_clock_ends_a_mock_interview() -> None:
    info = drills.question_info(load_questions().by_id.values())
    drill = drills.new_mock("ada", info, 15, now=T0)
    assert drill.queue and drill.ends_at == T0 + 15 * 60
    assert drill.remaining_s(T0 + 60) == 14 * 60
    answer(drill, True, now=T0 + 60)
    assert not drill.is_over(T0 + 15 * 60 - 1)
    assert drill.is_over(T0 + 15 * 60)
    assert drill.current(T0 + 15 * 60) is None
    drill.finish(T0 + 20 * 60)  # noticed late: the drill still ended when the time ran out
    assert drill.finished_at == T0 + 15 * 60
    report = drills.report(drill, info)
    assert report.answered == 1 and report.right == 1 and report.unanswered == [i.question_id for i in drill.queue]


def test_a_mock_interview_mixes_kinds_in_interview_order() -> None:
    info = drills.question_info(load_questions().by_id.values())
    for minutes in drills.MOCK_MINUTES:
        plan = drills.plan_mock(info, minutes, seed=minutes)
        assert sum(drills.minutes_for(info[q]) for q in plan) <= minutes
        assert all(info[q].kind in MOCK_KINDS for q in plan)
        stages = [stage_of(info[q].topic) for q in plan]
        assert stages == sorted(stages)
    long = drills.plan_mock(info, 45, seed=1)
    assert {info[q].kind for q in long} == set(MOCK_KINDS)
    assert {stage_of(info[q].topic) for q in long} == set(range(len(STAGES)))
    assert len(long) > len(drills.plan_mock(info, 15, seed=1))


def test_the_report_scores_topics_and_points_to_lessons() -> None:
    info = {
        "q1": QuestionInfo("q1", "explain", "ppo", "medium", ("ppo",)),
        "q2": QuestionInfo("q2", "predict", "foundations", "easy", ("returns-and-discounting",)),
        "q3": QuestionInfo("q3", "predict", "foundations", "easy", ()),
    }
    drill = Drill("d1", drills.MOCK, "ada", [drills.Item(q, 1) for q in info], T0, minutes=15)
    drill.grade(Result("q1", 1, False, 0.5, 90.0, ["The ratio is clipped"]))
    drill.advance(T0)
    drill.grade(Result("q2", 1, True, 1.0, 30.0))
    drill.advance(T0)
    drill.finish(T0 + 100)
    report = drills.report(Drill.from_dict(drill.to_dict()), info)
    assert [(t.topic, t.right, t.questions) for t in report.by_topic] == [("ppo", 0, 1), ("foundations", 1, 1)]
    assert report.lessons_to_revisit == ["ppo"]
    assert report.results[0].missed_points == ["The ratio is clipped"] and report.results[0].duration_s == 90.0
    assert report.unanswered == ["q3"] and report.score == 0.75
