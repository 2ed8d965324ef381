"""How drills are drawn: the clock of a mock interview, the interviewer's answer key, the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import streamlit as st

from app.content.loader import load_catalogue
from app.content.quiz_models import (
    AnyQuestion,
    ChoiceQuestion,
    ExplainQuestion,
    ImplementQuestion,
    OrderQuestion,
    PredictQuestion,
    SpotTheBugQuestion,
)
from app.grading import predict
from app.grading.bank import Questions, topic_title
from app.learners.drills import Drill, QuestionInfo, Report, Result
from app.widgets.catalogue import lesson_link
from app.widgets.code import render_code
from app.widgets.quiz import KIND_LABELS, question_label


def due_in_words(due: float, now: float) -> str:
    seconds = due - now
    if seconds <= 60:
        return "now"
    if seconds < 3600:
        return f"in {round(seconds / 60)} min"
    if seconds < 86400:
        return f"in {round(seconds / 3600)} h"
    days = round(seconds / 86400)
    return "tomorrow" if days <= 1 else f"in {days} days"


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def clock(drill: Drill, now: Callable[[], float] = time.time) -> None:
    """The time left, redrawn every second; when it runs out, the whole page reruns (and ends the drill)."""
    if drill.ends_at is None or drill.finished_at is not None:
        return

    @st.fragment(run_every=1)
    def _tick() -> None:
        left = drill.remaining_s(now()) or 0.0
        colour = "red" if left < 120 else "gray"
        st.markdown(f"### :{colour}[:material/timer: {clock_text(left)}]", help="Time left in this mock interview")
        if left <= 0:
            st.rerun(scope="app")

    _tick()


def answer_key(q: AnyQuestion, seed: int, *, key: str) -> None:
    """What a good answer has: for the interviewer's eyes only."""
    if isinstance(q, ChoiceQuestion):
        st.markdown("**Answer:** " + "; ".join(q.answers))
    elif isinstance(q, OrderQuestion):
        st.markdown("**Order:**\n\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(q.steps, start=1)))
    elif isinstance(q, PredictQuestion):
        try:
            st.markdown(f"**Answer:** `{predict.format_answer(predict.instance(q, seed).expected)}`")
        except Exception as exc:
            st.error(f"The reference `{q.answer_from.call}` failed: {exc}", icon=":material/error:")
    elif isinstance(q, ExplainQuestion):
        st.markdown(
            f"**Rubric** ({q.points_to_pass} of {len(q.rubric)} to pass):\n"
            + "\n".join(f"- {p.point}" for p in q.rubric)
        )
        st.markdown("**Model answer:**")
        st.markdown(q.model_answer)
    elif isinstance(q, SpotTheBugQuestion):
        st.markdown(
            f"**The bug is on line {q.bug_line}.** The fix must say:\n" + "\n".join(f"- {p.point}" for p in q.fix)
        )
        st.markdown(q.model_fix)
    elif isinstance(q, ImplementQuestion):
        st.markdown(f"**Reference:** `{q.reference}` (graded on seeded random cases in the sandbox)")
        render_code(q.reference, key=f"{key}-reference")
    st.markdown(f"**Why.** {q.explanation}")


def question_prompt(q: AnyQuestion, seed: int) -> str:
    """The prompt as the candidate sees it (a predict question with this seed's numbers)."""
    if isinstance(q, PredictQuestion):
        try:
            return predict.instance(q, seed).prompt
        except Exception:
            return q.prompt
    return q.prompt


def result_line(q: AnyQuestion | None, r: Result) -> str:
    # An icon and a word, never the colour alone (WCAG 1.4.1).
    mark = ":green[:material/check_circle: right]" if r.correct else ":red[:material/cancel: missed]"
    if r.skipped:
        mark = ":gray[:material/skip_next: skipped]"
    label = question_label(q, 70) if q else r.question_id
    took = f" · {round(r.duration_s)} s" if r.duration_s is not None else ""
    return f"{mark} {label} · {round(100 * r.score)}%{took}"


def ending_words(unanswered: int, finished_at: float | None, ends_at: float | None) -> str:
    """How the interview ended, as it happened: the time ran out, or the learner ended it early."""
    questions = f"{unanswered} question{'s' if unanswered != 1 else ''}"
    if finished_at is not None and ends_at is not None and finished_at < ends_at - 1:
        left = round((ends_at - finished_at) / 60)
        early = f"with {left} min still on the clock" if left >= 1 else "just before the time was up"
        return f"You ended the interview {early}; {questions} unanswered." if unanswered else ""
    return f"The time ran out with {questions} unanswered." if unanswered else ""


def render_report(
    report: Report,
    questions: Questions,
    info: Mapping[str, QuestionInfo],
    reveal: bool = True,
    ending: str = "",
) -> None:
    """The end of a mock interview: score by topic, time per question, points missed, lessons to revisit.

    `ending` says how it ended (see `ending_words`)."""
    total = len(report.results) + len(report.unanswered)
    left, middle, right = st.columns(3)
    left.metric("Score", f"{round(100 * report.score)}%")
    middle.metric("Right", f"{report.right} of {total}")
    right.metric("Unanswered", len(report.unanswered))

    if report.by_topic:
        st.subheader("By topic", divider="gray")
        for t in report.by_topic:  # the bar is the count it names (partial credit is in each question's %)
            bar = t.right / t.questions if t.questions else 0.0
            st.progress(bar, text=f"{topic_title(t.topic) or 'Other'}: {t.right} of {t.questions} right")

    st.subheader("Question by question", divider="gray")
    for i, r in enumerate(report.results, start=1):
        q = questions.get(r.question_id)
        with st.expander(f"{i}. {result_line(q, r)}"):
            if q is None:
                st.caption("This question is no longer in the bank.")
                continue
            st.caption(f"{KIND_LABELS[q.kind][0]} · {topic_title(q.topic)} · {q.difficulty}")
            st.markdown(question_prompt(q, r.seed))
            if r.missed_points:
                st.markdown("**Rubric points missed:**\n" + "\n".join(f"- {p}" for p in r.missed_points))
            if reveal:
                answer_key(q, r.seed, key=f"report-{i}")
    if ending:
        st.caption(ending)

    if report.lessons_to_revisit:
        st.subheader("Lessons to revisit", divider="gray")
        catalogue = load_catalogue()
        for lesson_id in report.lessons_to_revisit:
            lesson_link(catalogue, lesson_id, icon=":material/menu_book:")
