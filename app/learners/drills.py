"""Drills: a retrieval drill that repeats what you miss, and a timed mock interview.

A drill is plain data (`Drill.to_dict()`), stored as JSON by `store.save_drill`, so a reload, a
second tab or an interviewer's screen all see the same drill. Time is passed in (`now`), never
read here, so tests drive the clock.

- Retrieval drill: questions one by one; a missed question goes back into the queue a few places
  later with fresh parameters (a new seed) and stays until it is answered right twice in a row
  (a question answered right the first time is done at once).
- Mock interview: 15, 30 or 45 minutes of explain, predict, implement and spot-the-bug questions,
  in the order of an interview loop (foundations, deep RL, RLHF, systems; easier first). It ends
  when the clock runs out or the last question is answered; the report comes at the end.
"""

from __future__ import annotations

import random
import uuid as uuid_lib
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

RETRIEVAL, MOCK = "retrieval", "mock"
RIGHT_TO_CLEAR = 2  # right answers (in a row) a missed question needs before it leaves the drill
REINSERT_GAP = 2  # a missed question comes back after this many other questions (when there are any)
MOCK_MINUTES = (15, 30, 45)
MOCK_KINDS = ("explain", "predict", "implement", "spot-the-bug")
# The stages of an RL / RLHF interview loop, in order, and the topics each draws from.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Foundations", ("foundations", "bandits", "dynamic-programming", "td-learning")),
    ("Deep RL", ("deep-value-based", "policy-gradients", "ppo")),
    ("RLHF", ("rlhf", "dpo-kto")),
    ("Systems", ("systems",)),
)
KIND_MINUTES = {"explain": 4.0, "predict": 3.0, "spot-the-bug": 4.0, "implement": 8.0}
DIFFICULTY_FACTOR = {"easy": 0.75, "medium": 1.0, "hard": 1.5}
DIFFICULTY_RANK = {"easy": 0, "medium": 1, "hard": 2}


@dataclass(frozen=True)
class QuestionInfo:
    """What a drill needs to know of a question (the pages build these from the question bank)."""

    id: str
    kind: str
    topic: str
    difficulty: str = "medium"
    lessons: tuple[str, ...] = ()


def question_info(questions: Iterable[Any]) -> dict[str, QuestionInfo]:
    """QuestionInfo for each question model (app.content.quiz_models), by id."""
    return {
        q.id: QuestionInfo(q.id, q.kind, q.topic.value if q.topic else "", q.difficulty, tuple(q.lessons))
        for q in questions
    }


def stage_of(topic: str) -> int:
    return next((i for i, (_, topics) in enumerate(STAGES) if topic in topics), len(STAGES) - 1)


@dataclass
class Item:
    question_id: str
    seed: int


@dataclass
class Result:
    question_id: str
    seed: int
    correct: bool
    score: float
    duration_s: float | None = None
    missed_points: list[str] = field(default_factory=list)
    self_graded: bool = False
    skipped: bool = False
    attempt_uuid: str | None = None


@dataclass
class Drill:
    id: str
    kind: str
    learner: str
    queue: list[Item]
    started_at: float
    topics: list[str] = field(default_factory=list)
    minutes: int | None = None
    results: list[Result] = field(default_factory=list)
    pending: Result | None = None  # the current question's grade, applied by `advance`
    streak: dict[str, int] = field(default_factory=dict)  # retrieval: right answers in a row
    missed: list[str] = field(default_factory=list)  # retrieval: questions missed at least once
    seeds_drawn: int = 0
    finished_at: float | None = None
    interview: bool = False  # opened by an interviewer: another screen watches the same drill

    # -- the clock -------------------------------------------------------------------------

    @property
    def ends_at(self) -> float | None:
        return None if self.minutes is None else self.started_at + 60 * self.minutes

    def remaining_s(self, now: float) -> float | None:
        return None if self.ends_at is None else max(0.0, self.ends_at - now)

    def is_over(self, now: float) -> bool:
        if self.finished_at is not None or not self.queue:
            return True
        return self.ends_at is not None and now >= self.ends_at

    def finish(self, now: float) -> None:
        """End the drill (the timer ran out, or the learner stopped); an unapplied grade still counts."""
        if self.finished_at is not None:
            return
        if self.pending is not None:
            self.advance(now)
        self.finished_at = min(now, self.ends_at) if self.ends_at is not None else now

    # -- questions -------------------------------------------------------------------------

    def current(self, now: float | None = None) -> Item | None:
        if (now is not None and self.is_over(now)) or self.finished_at is not None or not self.queue:
            return None
        return self.queue[0]

    @property
    def position(self) -> int:
        """How many questions have been asked and moved past: the current question's number, from 0."""
        return len(self.results)

    def grade(self, result: Result) -> None:
        """Record the current question's grade (a later self-grade replaces the machine's). A grade
        for a question no longer current (another tab moved on) is ignored."""
        if (
            self.finished_at is None
            and self.queue
            and (result.question_id, result.seed)
            == (
                self.queue[0].question_id,
                self.queue[0].seed,
            )
        ):
            self.pending = result

    def advance(self, now: float, position: int | None = None) -> None:
        """Apply the current question's grade (none: skipped, which counts as missed) and move on.
        With `position`, only if the drill is still there (two tabs may both click Next)."""
        if not self.queue or self.finished_at is not None or (position is not None and position != self.position):
            return
        item = self.queue.pop(0)
        result = self.pending or Result(item.question_id, item.seed, False, 0.0, skipped=True)
        self.pending = None
        self.results.append(result)
        if self.kind == RETRIEVAL:
            self._requeue(item, result.correct)
        if not self.queue and self.finished_at is None:
            self.finished_at = now

    def _requeue(self, item: Item, correct: bool) -> None:
        qid = item.question_id
        if correct:
            self.streak[qid] = self.streak.get(qid, 0) + 1
            if qid not in self.missed or self.streak[qid] >= RIGHT_TO_CLEAR:
                return
        else:
            self.streak[qid] = 0
            if qid not in self.missed:
                self.missed.append(qid)
        self.queue.insert(min(REINSERT_GAP, len(self.queue)), Item(qid, self._fresh_seed()))

    def _fresh_seed(self) -> int:
        self.seeds_drawn += 1
        return zlib.crc32(f"{self.id}:{self.seeds_drawn}".encode()) % 1_000_000

    # -- storage ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Drill:
        data = dict(data)
        data["queue"] = [Item(**i) for i in data.get("queue", [])]
        data["results"] = [Result(**r) for r in data.get("results", [])]
        data["pending"] = Result(**data["pending"]) if data.get("pending") else None
        return cls(**data)


def new_id() -> str:
    return uuid_lib.uuid4().hex[:12]


def updating(step: Callable[[Drill], object]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """`step` as a change of the stored state (for `store.update_drill`)."""

    def change(state: dict[str, Any]) -> dict[str, Any]:
        drill = Drill.from_dict(state)
        step(drill)
        return drill.to_dict()

    return change


# ---------------------------------------------------------------------------------------------
# building drills
# ---------------------------------------------------------------------------------------------


def new_retrieval(
    learner: str,
    question_ids: list[str],
    now: float,
    count: int = 8,
    first: Iterable[str] = (),
    drill_id: str | None = None,
) -> Drill:
    """A retrieval drill over up to `count` questions: those in `first` (due for review) lead, the
    rest are drawn at random."""
    drill_id = drill_id or new_id()
    rng = random.Random(drill_id)
    leading = [q for q in first if q in question_ids]
    rest = [q for q in question_ids if q not in leading]
    rng.shuffle(rest)
    chosen = list(dict.fromkeys(leading + rest))[: max(1, count)] if question_ids else []
    drill = Drill(drill_id, RETRIEVAL, learner, [], now)
    drill.queue = [Item(q, drill._fresh_seed()) for q in chosen]
    return drill


def minutes_for(info: QuestionInfo) -> float:
    return KIND_MINUTES.get(info.kind, 3.0) * DIFFICULTY_FACTOR.get(info.difficulty, 1.0)


def plan_mock(info: Mapping[str, QuestionInfo], minutes: int, seed: int | str = 0) -> list[str]:
    """Question ids for a mock interview of `minutes`: a round through the stages per pass, each
    pick the kind used least so far, harder questions in later passes; ordered stage by stage,
    easier first, as an interview loop runs."""
    rng = random.Random(seed)
    pools: list[list[QuestionInfo]] = []
    for _, topics in STAGES:
        pool = [q for q in info.values() if q.kind in MOCK_KINDS and q.topic in topics]
        rng.shuffle(pool)
        pools.append(pool)
    chosen: list[QuestionInfo] = []
    used_kinds = dict.fromkeys(MOCK_KINDS, 0)
    budget = float(minutes)
    for round_no in range(20):
        added = False
        for pool in pools:
            fitting = [q for q in pool if q not in chosen and minutes_for(q) <= budget]
            if not fitting:
                continue
            pick = min(
                fitting,
                key=lambda q: (used_kinds[q.kind], abs(DIFFICULTY_RANK.get(q.difficulty, 1) - min(round_no, 2))),
            )
            chosen.append(pick)
            used_kinds[pick.kind] += 1
            budget -= minutes_for(pick)
            added = True
        if not added:
            break
    chosen.sort(key=lambda q: (stage_of(q.topic), DIFFICULTY_RANK.get(q.difficulty, 1)))
    return [q.id for q in chosen]


def new_mock(
    learner: str,
    info: Mapping[str, QuestionInfo],
    minutes: int,
    now: float,
    drill_id: str | None = None,
    interview: bool = False,
) -> Drill:
    drill_id = drill_id or new_id()
    drill = Drill(drill_id, MOCK, learner, [], now, minutes=minutes, interview=interview)
    drill.queue = [Item(q, drill._fresh_seed()) for q in plan_mock(info, minutes, seed=drill_id)]
    drill.topics = sorted({info[i.question_id].topic for i in drill.queue})
    return drill


# ---------------------------------------------------------------------------------------------
# the report at the end
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicScore:
    topic: str
    questions: int
    right: int
    score: float  # mean score, 0 to 1


@dataclass(frozen=True)
class Report:
    answered: int
    right: int
    unanswered: list[str]  # questions the clock cut off
    by_topic: list[TopicScore]
    results: list[Result]
    lessons_to_revisit: list[str]

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results) / len(self.results) if self.results else 0.0


def report(drill: Drill, info: Mapping[str, QuestionInfo]) -> Report:
    """Score by topic, time per question, rubric points missed, lessons to revisit."""
    results = list(drill.results)
    topics: dict[str, list[Result]] = {}
    for r in results:
        topics.setdefault(info[r.question_id].topic if r.question_id in info else "", []).append(r)
    by_topic = [
        TopicScore(t, len(rs), sum(r.correct for r in rs), sum(r.score for r in rs) / len(rs))
        for t, rs in sorted(topics.items(), key=lambda kv: sum(r.score for r in kv[1]) / len(kv[1]))
    ]
    lessons: list[str] = []
    for r in results:
        if not r.correct and r.question_id in info:
            lessons += [lesson for lesson in info[r.question_id].lessons if lesson not in lessons]
    return Report(
        answered=sum(not r.skipped for r in results),
        right=sum(r.correct for r in results),
        unanswered=[i.question_id for i in drill.queue],
        by_topic=by_topic,
        results=results,
        lessons_to_revisit=lessons,
    )
